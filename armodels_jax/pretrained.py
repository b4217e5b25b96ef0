"""Shipped checkpoints: ``arm.pretrained.load(name) -> (model, variables)``, from a checkout or downloaded.

A shipped checkpoint is an exported workdir under ``pretrained/<name>/`` in the repository::

  pretrained/<name>/config.json     the training run's config
  pretrained/<name>/model.json      registry name, size, event shape, levels, dataset
  pretrained/<name>/params/         orbax checkpoint of the evaluation parameters (EMA) alone
  pretrained/<name>/manifest.json   what it is and how good: config file, data, steps, wall time,
                                    machine, valid NLL (first 500 and all valid images), the published
                                    number, and the sha256 and size of every file above

``armodels eval --workdir pretrained/<name> ...`` and ``armodels sample --workdir pretrained/<name>`` use
it as it is (``inference.load`` reads exported workdirs). :func:`export` writes one from a training
workdir; ``experiments/make_pretrained.py`` measures and ships the best runs.

Where a name is found, in this order:

1. ``$ARMODELS_PRETRAINED``: a local folder holding ``<name>/`` folders (a copy of ``pretrained/``);
2. ``pretrained/`` beside the package in a checkout of the repository (an editable install, a Colab
   clone), unless a download URL is given;
3. the cache, ``$ARMODELS_CACHE/pretrained/<version>/<name>/`` (default ``$XDG_CACHE_HOME/armodels_jax``
   or ``~/.cache/armodels_jax``), filled on first use from ``<base URL>/<name>/<file>``: the base URL is
   the ``base_url`` argument, else ``$ARMODELS_PRETRAINED_URL``, else the repository's ``pretrained/``
   folder at the installed version (:data:`DEFAULT_BASE_URL`). Any URL ``urllib`` opens works
   (``https://``, ``file://``).

The package carries every shipped manifest (names, sha256 and sizes of the files) in
``armodels_jax/pretrained_index.json`` (:func:`write_index` regenerates it from ``pretrained/``), so an
install from a wheel knows what to fetch and checks every downloaded file against its sha256 before it
enters the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from typing import Any

from armodels_jax import __version__
from armodels_jax import checkpointing
from armodels_jax import inference
from armodels_jax import param_storage

__all__ = ["directory", "names", "manifest", "verify", "load", "export", "index", "write_index",
           "cache_directory", "fetch", "MANIFEST_FILE", "INDEX_FILE", "DEFAULT_BASE_URL"]

MANIFEST_FILE = inference.MANIFEST_FILE
INDEX_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained_index.json")
# The repository's pretrained/ folder at a release tag: {version} is the installed version.
DEFAULT_BASE_URL = "https://raw.githubusercontent.com/armodels-jax/armodels_jax/v{version}/pretrained"
_ENV = "ARMODELS_PRETRAINED"
_URL_ENV = "ARMODELS_PRETRAINED_URL"
_CACHE_ENV = "ARMODELS_CACHE"


def directory() -> str:
  """The local folder of shipped checkpoints: ``$ARMODELS_PRETRAINED``, else a checkout's ``pretrained/``
  (which may not exist in an install from a wheel)."""
  if os.environ.get(_ENV):
    return os.path.abspath(os.environ[_ENV])
  return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")


def _local_names(root: str) -> list[str]:
  if not os.path.isdir(root):
    return []
  return sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, MANIFEST_FILE)))


def index() -> dict[str, dict[str, Any]]:
  """The manifests shipped inside the package, by name (``{}`` when the index is missing)."""
  if not os.path.isfile(INDEX_FILE):
    return {}
  return checkpointing.read_json(INDEX_FILE)


def names() -> list[str]:
  """Names of the shipped checkpoints, sorted: those of ``$ARMODELS_PRETRAINED`` when it is set, else
  the package's index and a checkout's ``pretrained/`` folder."""
  if os.environ.get(_ENV):
    return _local_names(directory())
  return sorted(set(index()) | set(_local_names(directory())))


def _check_name(name: Any) -> None:
  if not isinstance(name, str) or not name:
    raise ValueError(f"expected a pretrained checkpoint name (one of {names()}), got {name!r}")


def _base_url(base_url: str | None) -> str | None:
  return base_url or os.environ.get(_URL_ENV) or None


def _path(name: str, base_url: str | None = None, *, download: bool = True) -> str | None:
  """The local folder of `name` (downloading it into the cache when needed and `download`)."""
  _check_name(name)
  if os.path.isfile(os.path.join(name, MANIFEST_FILE)):
    return os.path.abspath(name)  # A path to an exported workdir.
  local = os.path.join(directory(), name)
  if os.environ.get(_ENV) or (_base_url(base_url) is None and os.path.isfile(
      os.path.join(local, MANIFEST_FILE))):
    if not os.path.isfile(os.path.join(local, MANIFEST_FILE)):
      raise ValueError(f"unknown pretrained checkpoint {name!r} in ${_ENV}={directory()}; expected one "
                       f"of {names()}")
    return local
  if name not in index():
    raise ValueError(f"unknown pretrained checkpoint {name!r}; expected one of {names()}")
  return fetch(name, base_url) if download else None


def manifest(name: str) -> dict[str, Any]:
  """The manifest of a shipped checkpoint (a name from :func:`names`, or a path); for a name not
  downloaded yet, the package's copy."""
  path = _path(name, download=False)
  if path is None:
    return dict(index()[name])
  return checkpointing.read_json(os.path.join(path, MANIFEST_FILE))


def verify(name: str) -> None:
  """Checks every file of a shipped checkpoint against the sha256 in its manifest.

  Raises:
    checkpointing.CheckpointError: a file is missing, extra, or differs (a ``ValueError``).
  """
  path = _path(name)
  expected = checkpointing.read_json(os.path.join(path, MANIFEST_FILE))["files"]
  found, _ = checkpointing.describe_files(path, exclude=(MANIFEST_FILE,))
  missing = sorted(set(expected) - set(found))
  extra = sorted(set(found) - set(expected))
  changed = sorted(f for f in set(expected) & set(found) if expected[f] != found[f])
  if missing or extra or changed:
    raise checkpointing.CheckpointError(
        f"pretrained checkpoint {name!r} does not match its manifest: expected the files listed there, "
        f"got missing {missing}, extra {extra}, changed {changed}")


def load(name: str, *, check: bool = True, base_url: str | None = None) -> tuple[Any, dict]:
  """Loads a shipped checkpoint.

  Args:
    name: one of :func:`names` (or the path of an exported workdir).
    check: verify the files' sha256 against the manifest first (else only their sizes; downloaded files
      are always verified as they arrive).
    base_url: download from ``<base_url>/<name>/`` (default ``$ARMODELS_PRETRAINED_URL``, else the
      repository at the installed version) when the checkpoint is not in a local folder.

  Returns:
    ``(model, variables)`` ready for ``arm.log_prob`` / ``arm.sample``.

  Raises:
    ValueError: unknown name, or files that do not match the manifest (naming them).
    FileNotFoundError: a file is missing at the download URL.
    ConnectionError: the download URL cannot be reached (offline).
  """
  path = _path(name, base_url)
  if check:
    verify(path)
  model, variables, _ = inference.load(path)
  return model, variables


# ---------------------------------------------------------------------------------------------------------
# Download and cache.


def cache_directory() -> str:
  """Where downloaded checkpoints are kept: ``<cache>/pretrained/<version>/``."""
  root = os.environ.get(_CACHE_ENV) or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "armodels_jax")
  return os.path.join(os.path.abspath(root), "pretrained", __version__)


def _download(url: str, dest: str, expected_sha256: str, progress) -> None:
  """Downloads `url` to `dest` through ``dest.part``; keeps it only when its sha256 is as expected."""
  part = dest + ".part"
  os.makedirs(os.path.dirname(dest), exist_ok=True)
  try:
    with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as f:
      for block in iter(lambda: response.read(1 << 16), b""):
        f.write(block)
        progress.update(len(block))
  except urllib.error.URLError as e:  # HTTPError is a URLError with a code.
    _remove(part)
    code = getattr(e, "code", None)
    if code == 404 or isinstance(e.reason, FileNotFoundError):
      raise FileNotFoundError(f"{url} not found: the release lacks this file") from e
    reason = f"HTTP {code} {e.reason}" if code else e.reason
    raise ConnectionError(
        f"could not download {url} ({reason}); offline? Set ${_ENV} to a local copy of the "
        f"repository's pretrained/ folder, or ${_URL_ENV} to a reachable mirror") from e
  except OSError:
    _remove(part)
    raise
  got = checkpointing.sha256(part)
  if got != expected_sha256:
    _remove(part)
    raise checkpointing.CheckpointError(
        f"downloaded {url} has sha256 {got}, expected {expected_sha256} (the package's manifest): a "
        f"damaged or tampered file; nothing was cached")
  os.replace(part, dest)


def _remove(path: str) -> None:
  if os.path.exists(path):
    os.remove(path)


def fetch(name: str, base_url: str | None = None) -> str:
  """Makes sure the cache holds an intact copy of `name` and returns its folder.

  Files already in the cache with the right size and sha256 are kept; the others are downloaded from
  ``<base URL>/<name>/<file>`` with a progress bar, each verified against the sha256 of the package's
  manifest before it is kept.
  """
  from tqdm import auto as tqdm  # pylint: disable=g-import-not-at-top

  entry = index().get(name)
  if entry is None:
    raise ValueError(f"unknown pretrained checkpoint {name!r}; expected one of {sorted(index())}")
  base = _base_url(base_url) or DEFAULT_BASE_URL.format(version=__version__)
  dest = os.path.join(cache_directory(), name)
  files, sizes = entry["files"], entry.get("sizes", {})
  todo = []
  for rel in sorted(files):
    path = os.path.join(dest, *rel.split("/"))
    if not (os.path.isfile(path) and os.path.getsize(path) == sizes.get(rel, os.path.getsize(path))
            and checkpointing.sha256(path) == files[rel]):
      todo.append(rel)
  if todo:
    total = sum(int(sizes.get(rel, 0)) for rel in todo) or None
    with tqdm.tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}",
                   disable=False) as progress:
      for rel in todo:
        _download(f"{base.rstrip('/')}/{name}/{rel}", os.path.join(dest, *rel.split("/")), files[rel],
                  progress)
  checkpointing.write_json(os.path.join(dest, MANIFEST_FILE), entry)
  return dest


# ---------------------------------------------------------------------------------------------------------
# Writing: export a run, regenerate the package's index.


def write_index(root: str | None = None, out: str = INDEX_FILE) -> dict[str, dict[str, Any]]:
  """Writes the package's index of shipped checkpoints: every ``<root>/<name>/manifest.json`` (default
  root: :func:`directory`) by name. Run after shipping a checkpoint (``experiments/make_pretrained.py``
  does)."""
  root = directory() if root is None else root
  result = {n: checkpointing.read_json(os.path.join(root, n, MANIFEST_FILE)) for n in _local_names(root)}
  checkpointing.write_json(out, result)
  return result


def export(workdir: str, out: str, *, step: int | None = None,
           model_overrides: dict[str, Any] | None = None, storage: str = "float32",
           **info: Any) -> dict[str, Any]:
  """Writes the evaluation parameters of a training workdir as a shippable exported workdir.

  Args:
    workdir: a training workdir (EMA parameters are exported when it kept them).
    out: the new folder (must not exist).
    step: the checkpoint to export (default: the latest).
    model_overrides: model options changed in the exported config that leave the parameters as they
      are, e.g. a smaller evaluation ensemble ``{'num_orderings': 16}``; recorded in the manifest.
    storage: the type the weights are stored in (``param_storage.TYPES``: 'float32', or 'bfloat16' /
      'int8' for a smaller file); every reader evaluates the stored values (``storage.json`` says how),
      and the manifest records the type under ``param_storage``.
    **info: JSON-serialisable facts for the manifest (config file, data, steps, valid NLL, ...).

  Returns:
    The manifest written to ``out/manifest.json``.
  """
  from armodels_jax import workdir as workdir_lib  # pylint: disable=g-import-not-at-top

  out = os.path.abspath(out)
  if os.path.exists(out):
    raise ValueError(f"expected a new output folder, got the existing {out!r}")
  # Read as every reader reads a run (the newest intact checkpoint, shapes checked): no training code.
  model, variables, _ = inference.load(workdir, step)
  cfg = workdir_lib.read_config(workdir)
  if model_overrides:
    model = model.clone(**model_overrides)
  params = model.export_params(variables["params"])  # the same function; unread entries may be zeroed
  stored = param_storage.encode(params, storage)  # before anything is written: bad values raise here
  os.makedirs(out)
  checkpointing.save_params(os.path.join(out, checkpointing.PARAMS_DIR), stored)
  param_storage.write_type(out, storage)
  if storage != "float32":
    info["param_storage"] = storage
  shutil.copyfile(os.path.join(workdir, workdir_lib.MODEL_FILE), os.path.join(out, workdir_lib.MODEL_FILE))
  if model_overrides:
    cfg.setdefault("model", {}).setdefault("overrides", {}).update(
        {k: list(v) if isinstance(v, tuple) else v for k, v in model_overrides.items()})
    info["model_overrides_at_export"] = dict(model_overrides)
  checkpointing.write_json(os.path.join(out, workdir_lib.CONFIG_FILE),
                           json.dumps(cfg, indent=2, sort_keys=True))
  inference.load(out)  # The exported workdir must load (overrides that change parameters fail here).
  spec = checkpointing.read_json(os.path.join(out, workdir_lib.MODEL_FILE))
  hashes, sizes = checkpointing.describe_files(out, exclude=(MANIFEST_FILE,))
  result = {"name": os.path.basename(out), "model": spec["name"], **info, "files": hashes,
            "sizes": sizes}
  checkpointing.write_json(os.path.join(out, MANIFEST_FILE), result)
  return result
