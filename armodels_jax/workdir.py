"""The workdir layer: a run's files, how they are read back, and who may write them.

Everything that reads or writes a run directory goes through here, below ``training`` (which writes runs)
and beside ``inference`` (which reads them), so a training run, ``armodels eval``, ``pretrained``, the
VQ-VAE and the compressor all see the same rules. Layout (``checkpointing`` holds the checkpoint format)::

  workdir/config.json          the run's config (JSON of the ml_collections config)
  workdir/model.json           what building the model needs without loading data: name, size,
                               event_shape, num_levels, dataset, info (the dataset's facts)
  workdir/checkpoints/<step>/  orbax checkpoints of the train state, each with files.json
  workdir/params/              an exported run: the evaluation parameters alone, with manifest.json
  workdir/lock.json            held by the one trainer writing the run (see `WorkdirLock`)

Reading (`restore`, `load_params`):

* the newest checkpoint whose files match their ``files.json`` is used; newer damaged ones are skipped
  with a warning (and, for a resumed run, moved to ``damaged_checkpoints/``);
* ``model.json`` is checked against the shapes the checkpoint's own metadata records before any parameter
  is read or allocated (`check_stored_shapes`), so an edited or mismatched ``model.json`` is one
  `ModelMismatchError` (a ``ValueError``) naming the first array that differs;
* nothing in a workdir is executed: JSON is parsed, arrays are read by orbax into shapes fixed by the
  model, never unpickled.

Writing: one trainer at a time (`WorkdirLock`); readers take no lock and only ever read finished,
intact checkpoints (a save in progress has no ``files.json`` and no final folder name yet).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import threading
import time
from typing import Any, Callable

import jax

from armodels_jax import checkpointing
from armodels_jax import param_storage

__all__ = ["CONFIG_FILE", "MODEL_FILE", "MANIFEST_FILE", "LOCK_FILE", "ModelMismatchError",
           "WorkdirLockedError", "WorkdirLock", "lock", "read_file", "read_config", "read_model_info",
           "restore", "stored_shapes", "check_stored_shapes", "load_params", "is_exported"]

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
MODEL_FILE = "model.json"
MANIFEST_FILE = "manifest.json"  # An exported workdir's description, with its files' sha256 and sizes.
LOCK_FILE = "lock.json"
STATE_ITEM = "state"  # checkpoints/<step>/state: the train state saved as one item.

ModelMismatchError = checkpointing.ModelMismatchError


# ---------------------------------------------------------------------------------------------------------
# The run's JSON files.


def read_file(workdir: str, name: str) -> Any:
  """The parsed JSON file `name` of `workdir`.

  Raises:
    FileNotFoundError: the file is missing (not a training workdir).
    checkpointing.CheckpointError: the file is not valid JSON.
  """
  path = os.path.join(os.path.abspath(workdir), name)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{os.path.abspath(workdir)} has no {name}: not a training workdir")
  try:
    return checkpointing.read_json(path)
  except (ValueError, UnicodeDecodeError) as e:
    raise checkpointing.CheckpointError(f"damaged checkpoint: {path} is not valid JSON ({e})") from e


def read_config(workdir: str) -> dict[str, Any]:
  """``config.json`` as a plain dict (``armodels_jax.config.config_from_json`` makes it a ConfigDict)."""
  return read_file(workdir, CONFIG_FILE)


def read_model_info(workdir: str) -> dict[str, Any]:
  """The content of a run's ``model.json``: ``name``, ``size``, ``event_shape``, ``num_levels``,
  ``dataset`` and ``info`` (the dataset's facts, e.g. ``{'kind': 'text', 'vocab': [...]}``; ``{}`` for
  images and vectors and for runs written before it existed).

  Raises:
    FileNotFoundError: `workdir` has no model.json.
  """
  spec = dict(read_file(workdir, MODEL_FILE))
  spec.setdefault("info", {})
  return spec


def is_exported(workdir: str) -> bool:
  """Whether `workdir` is an exported one (``params/`` and no ``checkpoints/``)."""
  return (os.path.isdir(os.path.join(workdir, checkpointing.PARAMS_DIR))
          and not os.path.isdir(os.path.join(workdir, checkpointing.CHECKPOINT_DIR)))


# ---------------------------------------------------------------------------------------------------------
# Reading checkpoints: one restore, with the damaged-checkpoint fallback and the shape check.


def restore(workdir: str, load_step: Callable[[int], Any], *, full: bool, step: int | None = None,
            move_damaged: bool = False) -> tuple[int | None, Any]:
  """Loads the newest intact checkpoint of a training workdir with ``load_step(step)``.

  Newer damaged steps are skipped with one warning naming them and why; with `move_damaged` (a resumed
  run, which will save those steps again) they are moved to ``damaged_checkpoints/``.

  Args:
    workdir: a training workdir.
    load_step: reads one step (raising on damage).
    full: compare the files' sha256 before loading, not only their sizes.
    step: load this step only (no fallback).
    move_damaged: move the skipped steps aside.

  Returns:
    ``(step, load_step(step))``, or ``(None, None)`` when the workdir holds no checkpoint.

  Raises:
    checkpointing.CheckpointError: every step (or the requested one) is damaged.
    ModelMismatchError: the checkpoint's arrays do not have the shapes the model expects.
    FileNotFoundError: the requested step was not saved.
  """
  workdir = os.path.abspath(workdir)
  found, restored, skipped = checkpointing.restore_newest_intact(workdir, load_step, full=full, step=step)
  if skipped:
    why = "; ".join(f"step {s} ({reason})" for s, reason in skipped)
    if move_damaged:
      moved = checkpointing.move_aside(workdir, [s for s, _ in skipped])
      log.warning("resuming from step %d: skipped the damaged %s (moved to %s)", found, why,
                  ", ".join(moved))
    else:
      log.warning("%s: using the checkpoint of step %d; skipped the damaged %s", workdir, found, why)
  return found, restored


def stored_shapes(directory: str) -> dict[str, tuple[int, ...]]:
  """``{key path: shape}`` of every array an orbax checkpoint item in `directory` holds, read from its
  metadata alone (no array is read)."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  checkpointer = ocp.PyTreeCheckpointer()
  try:
    meta = checkpointer.metadata(os.path.abspath(directory))
  finally:
    checkpointer.close()
  tree = meta
  for attribute in ("item_metadata", "tree"):  # StepMetadata -> TreeMetadata -> the tree (orbax 0.11+)
    tree = getattr(tree, attribute, None) or tree
  return {jax.tree_util.keystr(k): tuple(v.shape)
          for k, v in jax.tree_util.tree_flatten_with_path(tree)[0] if hasattr(v, "shape")}


def check_stored_shapes(directory: str, expected: Any, *, prefix: str = "", source: str = "") -> None:
  """Checks that the arrays of the model's abstract parameters `expected` are stored in `directory`
  with the same shapes, before anything is read.

  Args:
    directory: an orbax item (``checkpoints/<step>/state`` or ``params/``).
    expected: a pytree of ``jax.ShapeDtypeStruct`` (the model's parameters).
    prefix: where `expected` sits in the stored tree (e.g. ``"['params']"``).
    source: what described the model, for the message (e.g. ``W/model.json``).

  Raises:
    ModelMismatchError: an array is missing or has another shape (the first named, the rest counted).
  """
  stored = stored_shapes(directory)
  problems = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(expected)[0]:
    key = prefix + jax.tree_util.keystr(path)
    want = tuple(leaf.shape)
    if key not in stored:
      problems.append(f"{key} {want} is not stored")
    elif stored[key] != want:
      problems.append(f"{key} is stored with shape {stored[key]}, the model expects {want}")
  if problems:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise ModelMismatchError(
        f"the checkpoint in {directory} does not hold the model {source or 'described'} describes: "
        f"{problems[0]}{more}; was model.json or config.json edited, or the checkpoint copied from "
        f"another run?")


def load_params(workdir: str, abstract: Any, *, ema: bool, step: int | None = None,
                full_check: bool = False) -> tuple[Any, int | None]:
  """The evaluation parameters of a workdir, read alone (no optimizer or train state is built).

  Args:
    workdir: a training workdir (``checkpoints/``) or an exported one (``params/``).
    abstract: the parameters' shapes, dtypes and shardings (``jax.ShapeDtypeStruct`` leaves).
    ema: read ``ema_params`` (the run kept an EMA) rather than ``params`` of a training checkpoint.
    step: the checkpoint to read; default the newest intact one.
    full_check: compare every file's sha256 before loading (sizes are always compared).

  Returns:
    ``(params, step)``; ``step`` is None for an exported workdir.

  Raises:
    FileNotFoundError: no checkpoint.
    checkpointing.CheckpointError: damaged files (the message names the first one).
    ModelMismatchError: ``model.json`` / ``config.json`` describe another model than the stored one.
  """
  workdir = os.path.abspath(workdir)
  source = os.path.join(workdir, MODEL_FILE)
  if is_exported(workdir):
    return _load_exported(workdir, abstract, full_check, source), None
  key = "ema_params" if ema else "params"

  def load_step(s: int) -> Any:
    item = os.path.join(checkpointing.step_dir(workdir, s), STATE_ITEM)
    check_stored_shapes(item, abstract, prefix=f"['{key}']", source=source)
    return _read_subtree(item, key, abstract)

  found, params = restore(workdir, load_step, full=full_check, step=step)
  if found is None:
    raise FileNotFoundError(f"no checkpoint in {os.path.join(workdir, checkpointing.CHECKPOINT_DIR)}")
  return params, found


def _load_exported(workdir: str, abstract: Any, full_check: bool, source: str) -> Any:
  manifest = os.path.join(workdir, MANIFEST_FILE)
  listed = read_file(workdir, MANIFEST_FILE) if os.path.exists(manifest) else None
  if listed is not None:
    checkpointing.check_files(workdir, listed["files"], listed.get("sizes"), full=full_check)
  params_dir = os.path.join(workdir, checkpointing.PARAMS_DIR)
  # Weights stored in a smaller type (storage.json) are read as stored and decoded: the model the
  # checkpoint's manifest measured.
  kind = param_storage.read_type(workdir)
  stored = param_storage.stored_abstract(abstract, kind)
  try:
    check_stored_shapes(params_dir, stored, source=source)
    return param_storage.decode(checkpointing.restore_params(params_dir, stored), abstract, kind)
  except ModelMismatchError:
    raise
  except Exception as e:  # pylint: disable=broad-except  (tensorstore raises bare Exceptions)
    if listed is not None and not full_check:
      checkpointing.check_files(workdir, listed["files"], listed.get("sizes"), full=True)
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    raise checkpointing.CheckpointError(f"damaged checkpoint {workdir}: {first}") from e


def _read_subtree(item_dir: str, key: str, abstract: Any) -> Any:
  """``key`` (e.g. ``'params'``) of the train state saved in `item_dir`, read alone (partial restore)."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  item = {key: abstract}
  checkpointer = ocp.PyTreeCheckpointer()
  try:
    restored = checkpointer.restore(
        item_dir, args=ocp.args.PyTreeRestore(
            item=item, partial_restore=True,
            restore_args=ocp.checkpoint_utils.construct_restore_args(item)))
  finally:
    checkpointer.close()
  return restored[key]


# ---------------------------------------------------------------------------------------------------------
# One trainer per workdir.


class WorkdirLockedError(ValueError):
  """Another live trainer holds the workdir; the message names it (host, process id, since when)."""


HEARTBEAT_SECONDS = 30.0  # The holder touches lock.json this often.
STALE_SECONDS = 300.0  # A lock from another host whose heartbeat is older than this is stale.


def _now_text() -> str:
  return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _process_alive(pid: int) -> bool:
  """Whether process `pid` runs on this host (a zombie, killed but not yet reaped, counts as gone)."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
  except (OSError, IndexError):
    return True


class WorkdirLock:
  """The lock a trainer holds on its workdir for the whole run: ``workdir/lock.json``.

  The file is created atomically (``O_CREAT | O_EXCL``) with the holder's host, process id and start
  time, and its modification time is refreshed every `HEARTBEAT_SECONDS` by a daemon thread. A second
  trainer finds it and is refused with `WorkdirLockedError`, unless the lock is stale: its process is gone
  (same host), or its heartbeat is older than `STALE_SECONDS` (another host: a lost machine on a shared
  filesystem). A stale lock is taken over with a warning. In a multi-process run, process 0 holds the
  lock for every host; the others learn whether it was granted.
  """

  def __init__(self, workdir: str, *, stale_seconds: float = STALE_SECONDS,
               heartbeat_seconds: float = HEARTBEAT_SECONDS):
    self.workdir = os.path.abspath(workdir)
    self.path = os.path.join(self.workdir, LOCK_FILE)
    self.stale_seconds = float(stale_seconds)
    self.heartbeat_seconds = float(heartbeat_seconds)
    self.record = {"host": socket.gethostname(), "pid": os.getpid(), "since": _now_text()}
    self._stop = threading.Event()
    self._thread: threading.Thread | None = None
    self.held = False

  def _stale_reason(self, holder: dict[str, Any] | None) -> str | None:
    """Why the lock in place is stale, or None when its holder may still be running."""
    try:
      age = time.time() - os.path.getmtime(self.path)
    except FileNotFoundError:
      return "it was just released"
    if holder is None:  # Unreadable: a holder killed while writing it, or one writing it right now.
      return f"it is unreadable and {age:.0f} s old" if age > self.heartbeat_seconds else None
    if holder.get("host") == self.record["host"]:
      pid = int(holder.get("pid", -1))
      if pid != os.getpid() and not _process_alive(pid):
        return f"process {pid} is gone"
      return None
    if age > self.stale_seconds:
      return f"its heartbeat is {age:.0f} s old (host {holder.get('host')} lost?)"
    return None

  def _read_holder(self) -> dict[str, Any] | None:
    try:
      with open(self.path) as f:
        holder = json.load(f)
      return holder if isinstance(holder, dict) else None
    except (OSError, ValueError):
      return None

  def _try_create(self) -> bool:
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(fd, "w") as f:
      json.dump(self.record, f)
      f.flush()
      os.fsync(f.fileno())
    return True

  def acquire(self) -> "WorkdirLock":
    """Takes the lock (process 0; the other processes wait for its answer).

    Raises:
      WorkdirLockedError: a live trainer holds it.
    """
    error = None
    if jax.process_index() == 0:
      try:
        self._acquire_here()
      except WorkdirLockedError as e:
        error = e
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      import numpy as np  # pylint: disable=g-import-not-at-top

      granted = int(multihost_utils.broadcast_one_to_all(np.int32(error is None)))
      if not granted and error is None:
        error = WorkdirLockedError(f"workdir {self.workdir} is in use by another trainer "
                                   f"(process 0 could not take {self.path})")
    if error is not None:
      raise error
    return self

  def _acquire_here(self) -> None:
    for _ in range(5):
      if self._try_create():
        self.held = True
        self._thread = threading.Thread(target=self._beat, name="workdir-lock-heartbeat", daemon=True)
        self._thread.start()
        return
      holder = self._read_holder()
      why = self._stale_reason(holder)
      if why is None:
        h = holder or {}
        raise WorkdirLockedError(
            f"workdir {self.workdir} is in use by another trainer: host {h.get('host', '?')}, process "
            f"{h.get('pid', '?')}, since {h.get('since', '?')} (if that process is gone for good, "
            f"delete {self.path})")
      log.warning("taking over the stale lock %s (%s; it was held by host %s, process %s, since %s)",
                  self.path, why, (holder or {}).get("host", "?"), (holder or {}).get("pid", "?"),
                  (holder or {}).get("since", "?"))
      with contextlib.suppress(FileNotFoundError):
        os.remove(self.path)
    raise WorkdirLockedError(f"workdir {self.workdir} is in use: could not take {self.path}")

  def _beat(self) -> None:
    while not self._stop.wait(self.heartbeat_seconds):
      with contextlib.suppress(OSError):
        os.utime(self.path)

  def release(self) -> None:
    """Stops the heartbeat and removes the lock file if it is still this process's."""
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout=5)
    if self.held:
      holder = self._read_holder()
      if holder is not None and holder.get("pid") == self.record["pid"] and (
          holder.get("host") == self.record["host"]):
        with contextlib.suppress(FileNotFoundError):
          os.remove(self.path)
      self.held = False

  def __enter__(self) -> "WorkdirLock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()


def lock(workdir: str, **kwargs) -> WorkdirLock:
  """``with workdir.lock(W):`` holds `WorkdirLock` on `W` for the block."""
  return WorkdirLock(workdir, **kwargs)
