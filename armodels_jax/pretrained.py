"""Shipped checkpoints: ``arm.pretrained.load(name) -> (model, variables)``.

A shipped checkpoint is an exported workdir under ``pretrained/<name>/`` in the repository::

  pretrained/<name>/config.json     the training run's config
  pretrained/<name>/model.json      registry name, size, event shape, levels, dataset
  pretrained/<name>/params/         orbax checkpoint of the evaluation parameters (EMA) alone
  pretrained/<name>/manifest.json   what it is and how good: config file, data, steps, wall time,
                                    machine, valid NLL (first 500 and all valid images), the published
                                    number, and the sha256 of every file above

``armodels eval --workdir pretrained/<name> ...`` and ``armodels sample --workdir pretrained/<name>`` use
it as it is (``training.restore`` reads exported workdirs). :func:`export` writes one from a training
workdir; ``experiments/make_pretrained.py`` measures and ships the best runs.

The folder is found at ``$ARMODELS_PRETRAINED`` when set, else ``pretrained/`` beside the package in a
checkout of the repository (an editable install, or a Colab clone).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from typing import Any

from armodels_jax import checkpointing
from armodels_jax.training import config as config_lib
from armodels_jax.training import loop

__all__ = ["directory", "names", "manifest", "verify", "load", "export", "MANIFEST_FILE"]

MANIFEST_FILE = "manifest.json"
_ENV = "ARMODELS_PRETRAINED"


def directory() -> str:
  """The folder holding the shipped checkpoints."""
  if os.environ.get(_ENV):
    return os.path.abspath(os.environ[_ENV])
  return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")


def names() -> list[str]:
  """Names of the shipped checkpoints (folders with a manifest), sorted."""
  root = directory()
  if not os.path.isdir(root):
    return []
  return sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, MANIFEST_FILE)))


def _path(name: str) -> str:
  if not isinstance(name, str) or not name:
    raise ValueError(f"expected a pretrained checkpoint name (one of {names()}), got {name!r}")
  if os.path.isfile(os.path.join(name, MANIFEST_FILE)):
    return os.path.abspath(name)  # A path to an exported workdir.
  path = os.path.join(directory(), name)
  if not os.path.isfile(os.path.join(path, MANIFEST_FILE)):
    if not os.path.isdir(directory()):
      raise FileNotFoundError(
          f"no pretrained folder at {directory()}: clone the repository (the checkpoints live in its "
          f"pretrained/ folder) or set ${_ENV}")
    raise ValueError(f"unknown pretrained checkpoint {name!r}; expected one of {names()}")
  return path


def manifest(name: str) -> dict[str, Any]:
  """The manifest of a shipped checkpoint (a name from :func:`names`, or a path)."""
  return checkpointing.read_json(os.path.join(_path(name), MANIFEST_FILE))


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _file_hashes(root: str) -> dict[str, str]:
  """sha256 of every file under `root` but the manifest, by path relative to `root` (``/``-separated)."""
  out = {}
  for folder, _, files in os.walk(root):
    for f in files:
      path = os.path.join(folder, f)
      rel = os.path.relpath(path, root).replace(os.sep, "/")
      if rel != MANIFEST_FILE:
        out[rel] = _sha256(path)
  return dict(sorted(out.items()))


def verify(name: str) -> None:
  """Checks every file of a shipped checkpoint against the sha256 in its manifest.

  Raises:
    ValueError: a file is missing, extra, or differs.
  """
  path = _path(name)
  expected = manifest(path)["files"]
  found = _file_hashes(path)
  missing = sorted(set(expected) - set(found))
  extra = sorted(set(found) - set(expected))
  changed = sorted(f for f in set(expected) & set(found) if expected[f] != found[f])
  if missing or extra or changed:
    raise ValueError(f"pretrained checkpoint {name!r} does not match its manifest: expected the files "
                     f"listed there, got missing {missing}, extra {extra}, changed {changed}")


def load(name: str, *, check: bool = True) -> tuple[Any, dict]:
  """Loads a shipped checkpoint.

  Args:
    name: one of :func:`names` (or the path of an exported workdir).
    check: verify the files' sha256 against the manifest first.

  Returns:
    ``(model, variables)`` ready for ``arm.log_prob`` / ``arm.sample``.

  Raises:
    ValueError: unknown name, or files that do not match the manifest.
    FileNotFoundError: no pretrained folder (an install without the repository).
  """
  path = _path(name)
  if check:
    verify(path)
  model, variables, _ = loop.restore(path)
  return model, variables


def export(workdir: str, out: str, *, step: int | None = None,
           model_overrides: dict[str, Any] | None = None, **info: Any) -> dict[str, Any]:
  """Writes the evaluation parameters of a training workdir as a shippable exported workdir.

  Args:
    workdir: a training workdir (EMA parameters are exported when it kept them).
    out: the new folder (must not exist).
    step: the checkpoint to export (default: the latest).
    model_overrides: model options changed in the exported config that leave the parameters as they
      are, e.g. a smaller evaluation ensemble ``{'num_orderings': 16}``; recorded in the manifest.
    **info: JSON-serialisable facts for the manifest (config file, data, steps, valid NLL, ...).

  Returns:
    The manifest written to ``out/manifest.json``.
  """
  out = os.path.abspath(out)
  if os.path.exists(out):
    raise ValueError(f"expected a new output folder, got the existing {out!r}")
  _, variables, cfg = loop.restore(workdir, step)
  os.makedirs(out)
  checkpointing.save_params(os.path.join(out, checkpointing.PARAMS_DIR), variables["params"])
  shutil.copyfile(os.path.join(workdir, loop.MODEL_FILE), os.path.join(out, loop.MODEL_FILE))
  if model_overrides:
    for key, value in model_overrides.items():
      cfg.model.overrides[key] = value
    info["model_overrides_at_export"] = dict(model_overrides)
  checkpointing.write_json(os.path.join(out, loop.CONFIG_FILE), config_lib.config_to_json(cfg))
  loop.restore(out)  # The exported workdir must load (overrides that change parameters fail here).
  spec = checkpointing.read_json(os.path.join(out, loop.MODEL_FILE))
  result = {"name": os.path.basename(out), "model": spec["name"], **info, "files": _file_hashes(out)}
  checkpointing.write_json(os.path.join(out, MANIFEST_FILE), result)
  return result
