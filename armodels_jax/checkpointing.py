"""Checkpoints of the whole train state with orbax, plus the run's config beside them.

Layout of a workdir (``armodels_jax.workdir`` reads and locks it)::

  workdir/config.json          the run's config (`training.config.config_to_json`)
  workdir/model.json           what `arm.models.create` needs without loading data beside the
                               config (whose model group holds the overrides): name, size,
                               event_shape, num_levels, dataset
  workdir/checkpoints/<step>/  orbax checkpoints: {'state': {step, params, opt_state, ema_params, rng}}

An exported (inference-only) workdir, as shipped under ``pretrained/<name>/``, has ``params/`` (an orbax
checkpoint of the evaluation parameters alone: the EMA ones when the run kept an EMA) instead of
``checkpoints/``, and a ``manifest.json``; ``training.restore`` reads either.

Integrity. Every finished save gets ``checkpoints/<step>/files.json``: the size and sha256 of each of the
step's files. A shipped checkpoint's ``manifest.json`` holds the same for its files. Before loading, the
sizes are compared (cheap: this catches truncated, missing and partly copied files); the hashes when asked
(``full=True``: resuming a run, ``arm.pretrained.load``) or when loading fails, so that the error names the
damaged file. :func:`restore_newest_intact` walks the steps newest first and skips damaged ones.

The state is saved in one composite item, so the parameters, their Polyak average, the optimizer state (and
with it the schedule position) and the RNG always come back together. Restoring uses abstract targets with
shardings, so optax states come back as their named tuples and arrays land in their sharding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from typing import Any, Callable

import jax
import orbax.checkpoint as ocp

__all__ = ["CHECKPOINT_DIR", "PARAMS_DIR", "FILES_FILE", "DAMAGED_DIR", "CheckpointError",
           "ModelMismatchError",
           "CheckpointWriteError", "make_manager", "save_state", "finish_saves", "restore_state",
           "restore_step", "latest_step", "save_params", "restore_params", "write_json", "read_json", "sha256",
           "describe_files", "check_files", "list_steps", "step_dir", "check_step", "restore_newest_intact",
           "move_aside", "check_writable"]

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
PARAMS_DIR = "params"
FILES_FILE = "files.json"  # In checkpoints/<step>/: {'files': {path: sha256}, 'sizes': {path: bytes}}.
DAMAGED_DIR = "damaged_checkpoints"  # Where a resumed run moves the damaged steps it skipped.
_ITEM = "state"


class CheckpointError(ValueError):
  """A checkpoint whose files are missing, truncated or changed; the message names the file."""


class ModelMismatchError(ValueError):
  """A checkpoint whose stored arrays do not have the shapes its model.json / config.json describe."""


class CheckpointWriteError(OSError):
  """A checkpoint (or the workdir) could not be written: an unwritable or full disk."""


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
  try:
    return manager.save(int(step), args=ocp.args.Composite(**{_ITEM: ocp.args.StandardSave(state_dict)}),
                        force=force)
  except Exception as e:  # pylint: disable=broad-except  (tensorstore raises ValueErrors for OS errors)
    raise _write_error(os.path.dirname(os.fspath(manager.directory)), e) from e


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


def restore_step(workdir: str, step: int, target: dict[str, Any]) -> dict[str, Any]:
  """`restore_state` without a manager: reads ``checkpoints/<step>`` into `target`'s structure, dtypes and
  shardings (for `restore_newest_intact`, before the manager is opened)."""
  return restore_params(os.path.join(step_dir(workdir, step), _ITEM), target)


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


# ---------------------------------------------------------------------------------------------------------
# Integrity: sizes and sha256 of a checkpoint's files.


def sha256(path: str) -> str:
  """The sha256 of a file, hex."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def describe_files(root: str, exclude: tuple[str, ...] = ()) -> tuple[dict[str, str], dict[str, int]]:
  """``(sha256 by path, size by path)`` of every file under `root` but `exclude`; paths are relative to
  `root` and ``/``-separated, sorted."""
  hashes, sizes = {}, {}
  for folder, _, files in os.walk(root):
    for f in files:
      path = os.path.join(folder, f)
      rel = os.path.relpath(path, root).replace(os.sep, "/")
      if rel not in exclude:
        hashes[rel], sizes[rel] = sha256(path), os.path.getsize(path)
  return dict(sorted(hashes.items())), dict(sorted(sizes.items()))


def check_files(root: str, hashes: dict[str, str], sizes: dict[str, int] | None = None, *,
                full: bool = False) -> None:
  """Checks the files under `root` against a manifest: each must exist with its size, and with `full`
  its sha256. Files the manifest does not list are ignored.

  Raises:
    CheckpointError: naming the first damaged file (and how many more there are).
  """
  problems = []
  for rel in sorted(hashes):
    path = os.path.join(root, *rel.split("/"))
    if not os.path.isfile(path):
      problems.append(f"{path} is missing")
    elif sizes and rel in sizes and os.path.getsize(path) != int(sizes[rel]):
      problems.append(f"{path} has {os.path.getsize(path)} bytes, expected {int(sizes[rel])}")
  if full and not problems:
    problems = [f"{os.path.join(root, *rel.split('/'))} differs from its sha256 in the manifest"
                for rel in sorted(hashes) if sha256(os.path.join(root, *rel.split("/"))) != hashes[rel]]
  if problems:
    more = f" (and {len(problems) - 1} more damaged files)" if len(problems) > 1 else ""
    raise CheckpointError(f"damaged checkpoint: {problems[0]}{more}")


def list_steps(workdir: str) -> list[int]:
  """The steps saved under ``workdir/checkpoints`` (finished saves: integer-named folders), newest first."""
  directory = os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)
  if not os.path.isdir(directory):
    return []
  return sorted((int(n) for n in os.listdir(directory)
                 if n.isdigit() and os.path.isdir(os.path.join(directory, n))), reverse=True)


def step_dir(workdir: str, step: int) -> str:
  return os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR, str(int(step)))


def _write_step_files(workdir: str, step: int) -> None:
  root = step_dir(workdir, step)
  hashes, sizes = describe_files(root, exclude=(FILES_FILE,))
  write_json(os.path.join(root, FILES_FILE), {"files": hashes, "sizes": sizes})


def check_step(workdir: str, step: int, *, full: bool) -> bool:
  """Checks the files of a saved step against its ``files.json`` (sizes; sha256 with `full`).

  Returns:
    Whether the step has a ``files.json`` (checkpoints written before it existed have none and are only
    checked by loading them).

  Raises:
    CheckpointError: a missing, truncated or changed file (or an unreadable ``files.json``).
  """
  path = os.path.join(step_dir(workdir, step), FILES_FILE)
  if not os.path.exists(path):
    return False
  try:
    listed = read_json(path)
  except (OSError, ValueError) as e:
    raise CheckpointError(f"damaged checkpoint: {path} is unreadable ({e})") from e
  check_files(step_dir(workdir, step), listed["files"], listed.get("sizes"), full=full)
  return True


def _first_line(e: BaseException) -> str:
  text = str(e).strip().splitlines()
  return (text[0][:300] if text else type(e).__name__)


def restore_newest_intact(workdir: str, restore: Callable[[int], Any], *, full: bool,
                          step: int | None = None) -> tuple[int | None, Any, list[tuple[int, str]]]:
  """Restores the newest saved step whose files are intact, skipping damaged ones.

  Each step's files are checked against its ``files.json`` (sizes, and sha256 with `full`) before
  ``restore(step)``; when ``restore`` fails, the sha256 are checked to name the damaged file. A step whose
  files are intact but which fails to load is not damage (e.g. a config that does not fit the run): that
  error is raised as it is.

  Args:
    workdir: a training workdir.
    restore: loads one step.
    full: compare sha256 before loading, not only sizes.
    step: load this step only (no fallback).

  Returns:
    ``(step, restore(step), skipped)``, ``skipped`` being ``[(step, why)]`` for the newer damaged steps;
    ``(None, None, [])`` when the workdir holds no checkpoint.

  Raises:
    CheckpointError: every step (or the requested one) is damaged.
    FileNotFoundError: the requested step was not saved.
  """
  if step is not None and not os.path.isdir(step_dir(workdir, step)):
    raise FileNotFoundError(f"no checkpoint of step {int(step)} in {os.path.join(workdir, CHECKPOINT_DIR)} "
                            f"(steps saved: {sorted(list_steps(workdir))})")
  steps = list_steps(workdir) if step is None else [int(step)]
  skipped: list[tuple[int, str]] = []
  for s in steps:
    try:
      listed = check_step(workdir, s, full=full)
      try:
        return s, restore(s), skipped
      except ModelMismatchError:
        # Damaged metadata can look like another model: only intact files make it a real mismatch.
        if listed and not full:
          check_step(workdir, s, full=True)
        raise  # Intact (or unlisted) files: what describes the model (model.json, the config) is wrong.
      except Exception as e:  # pylint: disable=broad-except  (tensorstore raises bare Exceptions)
        if not listed:
          raise CheckpointError(f"damaged checkpoint {step_dir(workdir, s)}: {_first_line(e)}") from e
        if not full:
          check_step(workdir, s, full=True)
        raise
    except CheckpointError as e:
      skipped.append((s, str(e)))
  if not skipped:
    return None, None, []
  if step is not None:
    raise CheckpointError(skipped[0][1])
  raise CheckpointError(
      f"every checkpoint in {os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)} is damaged ("
      + "; ".join(f"step {s}: {why}" for s, why in skipped)
      + "); move them away to start the run from scratch")


def move_aside(workdir: str, steps: list[int]) -> list[str]:
  """Moves damaged steps out of ``checkpoints/`` into ``workdir/damaged_checkpoints/`` (process 0), so
  that the run can save those steps again; returns the new paths."""
  moved = []
  for s in steps:
    dest = os.path.join(os.path.abspath(workdir), DAMAGED_DIR, str(int(s)))
    suffix = 1
    while os.path.exists(dest):
      dest = os.path.join(os.path.abspath(workdir), DAMAGED_DIR, f"{int(s)}.{suffix}")
      suffix += 1
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(dest), exist_ok=True)
      shutil.move(step_dir(workdir, s), dest)
    moved.append(dest)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices("armodels_move_aside")
  return moved


# ---------------------------------------------------------------------------------------------------------
# Writing: a clear error for an unwritable or full workdir.


def check_writable(workdir: str) -> None:
  """Creates `workdir` if needed and writes (then removes) a small file in it.

  Raises:
    CheckpointWriteError: the folder cannot be created or written (permissions, a full disk, a file
      in the way).
  """
  if jax.process_index() != 0:
    return
  probe = os.path.join(workdir, ".write_test")
  try:
    os.makedirs(workdir, exist_ok=True)
    with open(probe, "wb") as f:
      f.write(b"\0" * 4096)
      f.flush()
      os.fsync(f.fileno())
    os.remove(probe)
  except OSError as e:
    raise CheckpointWriteError(
        f"cannot write to the workdir {workdir}: {e.strerror or e}"
        + (f" ({e.filename})" if e.filename else "")) from e


def _save_failure_reason(e: BaseException) -> str:
  """The OS reason in an orbax/tensorstore write error (``os_error_code='28'``), else its first line."""
  if isinstance(e, OSError) and e.errno:
    return os.strerror(e.errno)
  found = re.search(r"os_error_code='(\d+)'", str(e))
  if found:
    return os.strerror(int(found.group(1)))
  return _first_line(e)


def _write_error(workdir: str, e: BaseException, what: str | None = None) -> CheckpointWriteError:
  kept = list_steps(workdir)
  last = f"the last complete checkpoint, step {kept[0]}, is kept" if kept else "no checkpoint was saved"
  what = what or f"a checkpoint in {os.path.join(workdir, CHECKPOINT_DIR)}"
  return CheckpointWriteError(f"could not write {what}: {_save_failure_reason(e)}; {last}")


def run_write_error(workdir: str, e: OSError) -> CheckpointWriteError:
  """A run's failure to write one of its other files (metrics, samples, TensorBoard events; e.g. a
  full disk) as the one-line error of a failed checkpoint write: the OS reason and the checkpoint kept."""
  where = getattr(e, "filename", None)
  return _write_error(workdir, e, f"{where}" if where else f"a file of the run in {workdir}")


def finish_saves(manager: ocp.CheckpointManager, workdir: str, steps: list[int]) -> None:
  """Waits for the pending (async) save, then records the sizes and sha256 of the files of `steps` (the
  steps this process saved) in their ``files.json``.

  Raises:
    CheckpointWriteError: the save failed (e.g. no space left on the device); the message says which
      checkpoint is the last complete one, which stays as it was.
  """
  try:
    manager.wait_until_finished()
  except Exception as e:  # pylint: disable=broad-except  (orbax re-raises the writer thread's error)
    raise _write_error(workdir, e) from e
  if jax.process_index() != 0:
    return
  for s in steps:
    if os.path.isdir(step_dir(workdir, s)):
      _write_step_files(workdir, s)
