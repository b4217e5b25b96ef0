"""Checkpoints of the whole train state with orbax, plus the run's config beside them.

Layout of a workdir::

  workdir/config.json          the run's config (`training.config.config_to_json`)
  workdir/model.json           what `arm.models.create` needs without loading data beside the
                               config (whose model group holds the overrides): name, size,
                               event_shape, num_levels, dataset
  workdir/checkpoints/<step>/  orbax checkpoints: {'state': {step, params, opt_state, ema_params, rng}}

An exported (inference-only) workdir, as shipped under ``pretrained/<name>/``, has ``params/`` (an orbax
checkpoint of the evaluation parameters alone: the EMA ones when the run kept an EMA) instead of
``checkpoints/``, and a ``manifest.json``; ``training.restore`` reads either.

The state is saved in one composite item, so the parameters, their Polyak average, the optimizer state (and
with it the schedule position) and the RNG always come back together. Restoring uses abstract targets with
shardings, so optax states come back as their named tuples and arrays land in their sharding.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import orbax.checkpoint as ocp

__all__ = ["CHECKPOINT_DIR", "PARAMS_DIR", "make_manager", "save_state", "restore_state", "latest_step",
           "save_params", "restore_params", "write_json", "read_json"]

CHECKPOINT_DIR = "checkpoints"
PARAMS_DIR = "params"
_ITEM = "state"


def make_manager(workdir: str, keep: int = 3, *, read_only: bool = False) -> ocp.CheckpointManager:
  """An orbax `CheckpointManager` on ``workdir/checkpoints`` (async saves, keeps the last `keep`).

  Args:
    workdir: the run directory.
    keep: how many checkpoints to keep (0 or None: all).
    read_only: open without creating or deleting anything (for restoring a finished run).
  """
  directory = os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)
  if read_only:
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=0, max_to_keep=None, create=False, read_only=True)
  else:
    options = ocp.CheckpointManagerOptions(max_to_keep=keep or None, create=True)
  return ocp.CheckpointManager(directory, options=options)


def save_state(manager: ocp.CheckpointManager, step: int, state_dict: dict[str, Any], *,
               force: bool = True) -> bool:
  """Starts an (async) save of `state_dict` at `step`; returns whether a save was started.

  Call ``manager.wait_until_finished()`` before the process exits or reads the checkpoint.
  """
  return manager.save(int(step), args=ocp.args.Composite(**{_ITEM: ocp.args.StandardSave(state_dict)}),
                      force=force)


def restore_state(manager: ocp.CheckpointManager, step: int, target: dict[str, Any]) -> dict[str, Any]:
  """Restores the state saved at `step` into the structure, dtypes and shardings of `target`.

  Args:
    manager: the checkpoint manager.
    step: a saved step (e.g. ``manager.latest_step()``).
    target: a state dict of arrays or ``jax.ShapeDtypeStruct`` leaves (with shardings).

  Returns:
    The restored state dict, with `target`'s pytree structure (named tuples included).
  """
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  restored = manager.restore(
      int(step), args=ocp.args.Composite(**{_ITEM: ocp.args.StandardRestore(abstract)}))
  return restored[_ITEM]


def latest_step(workdir: str) -> int | None:
  """The latest checkpointed step in `workdir`, or None when there is none."""
  if not os.path.isdir(os.path.join(workdir, CHECKPOINT_DIR)):
    return None
  manager = make_manager(workdir, read_only=True)
  try:
    return manager.latest_step()
  finally:
    manager.close()


def save_params(directory: str, params: Any) -> None:
  """Writes `params` alone to ``directory`` (which must not exist yet), synchronously."""
  checkpointer = ocp.StandardCheckpointer()
  try:
    checkpointer.save(os.path.abspath(directory), params)
    checkpointer.wait_until_finished()
  finally:
    checkpointer.close()


def restore_params(directory: str, target: Any) -> Any:
  """Reads parameters written by `save_params` into the structure, dtypes and shardings of `target`."""
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  checkpointer = ocp.StandardCheckpointer()
  try:
    return checkpointer.restore(os.path.abspath(directory), abstract)
  finally:
    checkpointer.close()


def write_json(path: str, obj: Any) -> None:
  """Writes `obj` as JSON to `path` atomically (from process 0 only)."""
  if jax.process_index() != 0:
    return
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    if isinstance(obj, str):
      f.write(obj)
    else:
      json.dump(obj, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def read_json(path: str) -> Any:
  """Reads a JSON file written by `write_json`."""
  with open(path) as f:
    return json.load(f)
