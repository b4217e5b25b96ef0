"""Loading a run or a shipped checkpoint for inference: the model and its parameters, nothing more.

A workdir (``armodels_jax.checkpointing`` describes its layout) is read through three files: ``model.json``
(event shape, levels, the dataset's facts), ``config.json``'s ``model`` group (registry name, size, compute
dtype, overrides) and ``train.ema_decay`` (which parameters are the evaluation ones), and the parameters:
``params/`` of an exported workdir, or the ``params`` / ``ema_params`` entries of the newest intact
``checkpoints/<step>/`` of a training run, read alone (orbax partial restore). No optimizer or train state
is built, and nothing from ``armodels_jax.training`` is imported; training's resume
(``training.train_and_evaluate``) restores the whole state on top of the same integrity checks
(``checkpointing.restore_newest_intact``), and ``training.restore`` adds the parsed config to this.

Damaged files: sizes are checked before loading, sha256 when asked (``full_check``) or when loading
fails, so the error (``checkpointing.CheckpointError``, a ``ValueError``) names the damaged file. A
training workdir whose newest checkpoint is damaged loads the newest intact one, with a warning that
names what it skipped.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import jax
import numpy as np

from armodels_jax import checkpointing

__all__ = ["load", "create_model", "read_model_info", "model_kwargs", "tuplify", "MODEL_FILE",
           "CONFIG_FILE", "MANIFEST_FILE"]

log = logging.getLogger(__name__)

MODEL_FILE = "model.json"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"  # An exported workdir's description, with its files' sha256 and sizes.


def tuplify(value: Any) -> Any:
  """Lists -> tuples, recursively (flax modules must be hashable; JSON gives lists back)."""
  if isinstance(value, (list, tuple)):
    return tuple(tuplify(v) for v in value)
  if hasattr(value, "items"):
    return {k: tuplify(v) for k, v in value.items()}
  return value


def model_kwargs(model_group: Any) -> dict[str, Any]:
  """Every keyword argument of ``arm.models.create`` after the event, from a config's ``model`` group
  (a ConfigDict or its JSON dict): ``size``, ``dtype`` and ``overrides``.

  Raises:
    ValueError: ``overrides`` sets ``dtype`` (``model.dtype`` is the one place for it).
  """
  overrides = {k: tuplify(v) for k, v in (model_group.get("overrides") or {}).items()}
  if "dtype" in overrides:
    raise ValueError(f"set the compute dtype with model.dtype, not model.overrides.dtype "
                     f"(got {overrides['dtype']!r})")
  return {"size": model_group["size"], "dtype": model_group.get("dtype") or "float32", **overrides}


def _require(workdir: str, name: str) -> str:
  path = os.path.join(workdir, name)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{workdir} has no {name}: not a training workdir")
  return path


def _read(workdir: str, name: str) -> Any:
  path = _require(workdir, name)
  try:
    return checkpointing.read_json(path)
  except (ValueError, UnicodeDecodeError) as e:
    raise checkpointing.CheckpointError(f"damaged checkpoint: {path} is not valid JSON ({e})") from e


def read_model_info(workdir: str) -> dict[str, Any]:
  """The content of a run's ``model.json``: ``name``, ``size``, ``event_shape``, ``num_levels``,
  ``dataset`` and ``info`` (the dataset's facts, e.g. ``{'kind': 'text', 'vocab': [...]}``; ``{}`` for
  images and vectors and for runs written before it existed).

  Raises:
    FileNotFoundError: `workdir` has no model.json.
  """
  spec = dict(_read(os.path.abspath(workdir), MODEL_FILE))
  spec.setdefault("info", {})
  return spec


def create_model(workdir: str) -> Any:
  """The model of a workdir (``arm.models.create`` from model.json and the config's model group)."""
  from armodels_jax import models  # pylint: disable=g-import-not-at-top

  workdir = os.path.abspath(workdir)
  group = _read(workdir, CONFIG_FILE)["model"]
  spec = read_model_info(workdir)
  return models.create(group["name"], event_shape=tuple(int(d) for d in spec["event_shape"]),
                       num_levels=spec["num_levels"], **model_kwargs(group))


def _abstract_params(model: Any) -> Any:
  """The parameters' shapes and dtypes, replicated over every device (computes nothing)."""
  from armodels_jax import api  # pylint: disable=g-import-not-at-top

  mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("data",))
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  shapes = jax.eval_shape(lambda: api.init(model, jax.random.PRNGKey(0)))["params"]
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated), shapes)


def _load_exported(workdir: str, abstract: Any, full_check: bool) -> Any:
  listed = _read(workdir, MANIFEST_FILE) if os.path.exists(os.path.join(workdir, MANIFEST_FILE)) else None
  if listed is not None:
    checkpointing.check_files(workdir, listed["files"], listed.get("sizes"), full=full_check)
  try:
    return checkpointing.restore_params(os.path.join(workdir, checkpointing.PARAMS_DIR), abstract)
  except Exception as e:  # pylint: disable=broad-except  (tensorstore raises bare Exceptions)
    if listed is not None and not full_check:
      checkpointing.check_files(workdir, listed["files"], listed.get("sizes"), full=True)
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    raise checkpointing.CheckpointError(f"damaged checkpoint {workdir}: {first}") from e


def _read_step_params(workdir: str, step: int, key: str, abstract: Any) -> Any:
  """``key`` (``'params'`` or ``'ema_params'``) of the train state saved at `step`, read alone."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  item = {key: abstract}
  checkpointer = ocp.PyTreeCheckpointer()
  try:
    restored = checkpointer.restore(
        os.path.join(checkpointing.step_dir(workdir, step), "state"),
        args=ocp.args.PyTreeRestore(item=item, partial_restore=True,
                                    restore_args=ocp.checkpoint_utils.construct_restore_args(item)))
  finally:
    checkpointer.close()
  return restored[key]


def load(workdir: str, step: int | None = None, *,
         full_check: bool = False) -> tuple[Any, dict[str, Any], int | None]:
  """Loads a workdir's model and evaluation parameters.

  Args:
    workdir: a training workdir or an exported one (``pretrained/<name>/``).
    step: the checkpoint to load; default the newest intact one (exported workdirs hold one).
    full_check: compare every file's sha256 with the manifest before loading (sizes are always
      compared).

  Returns:
    ``(model, {'params': ...}, step)``: the EMA parameters when the run kept an EMA
    (``train.ema_decay > 0``), else the raw ones; ``step`` is None for an exported workdir.

  Raises:
    FileNotFoundError: `workdir` has no config.json, model.json or checkpoint.
    checkpointing.CheckpointError: damaged files (the message names the first one), or every
      checkpoint damaged.
  """
  workdir = os.path.abspath(workdir)
  cfg = _read(workdir, CONFIG_FILE)
  model = create_model(workdir)
  abstract = _abstract_params(model)
  params_dir = os.path.join(workdir, checkpointing.PARAMS_DIR)
  if os.path.isdir(params_dir) and not os.path.isdir(os.path.join(workdir, checkpointing.CHECKPOINT_DIR)):
    return model, {"params": _load_exported(workdir, abstract, full_check)}, None
  key = "ema_params" if float(cfg.get("train", {}).get("ema_decay") or 0.0) > 0 else "params"
  found, params, skipped = checkpointing.restore_newest_intact(
      workdir, lambda s: _read_step_params(workdir, s, key, abstract), full=full_check, step=step)
  if found is None:
    raise FileNotFoundError(f"no checkpoint in {os.path.join(workdir, checkpointing.CHECKPOINT_DIR)}")
  if skipped:
    log.warning("%s: using the checkpoint of step %d; skipped the damaged %s", workdir, found,
                "; ".join(f"step {s} ({why})" for s, why in skipped))
  return model, {"params": params}, found
