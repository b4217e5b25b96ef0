"""The one trainer: every guarantee of a run, for any kind of run (a `Task`).

``train(task, config, workdir)`` owns what every ``armodels train`` promises, whatever it trains:

* the workdir is checked writable before any work, and locked for the run (``workdir.WorkdirLock``: a
  second trainer on it is refused, a stale lock is taken over);
* ``config.json`` and ``model.json`` are written; a resumed run keeps the ``train.init_from`` it began from;
* resuming restores the newest checkpoint whose files match their ``files.json`` (sizes and sha256), moving
  damaged newer ones to ``damaged_checkpoints/``, after checking that the stored parameters have the shapes
  of this run's model (``workdir.check_stored_shapes``: before anything is allocated);
* every finished save gets its ``files.json``; a full or unwritable disk fails at the first save;
* SIGTERM (preemption; on a pod, JAX's preemption notifier) saves the current step and stops;
* the training metrics are fetched in windows (``train.log_every``), and the first non-finite loss, or
  non-finite parameters at a save, stop the run with `TrainingDivergedError` naming the step and the kept
  checkpoint (nothing non-finite is ever saved);
* metrics go to ``metrics.jsonl`` and TensorBoard; a progress bar on process 0.

A task says what is trained: `Task.build` loads the data and the model and returns a `Run` (the state's
constructor and checkpoint form, the step, the evaluator, the sample writer). The autoregressive models
(``training.autoregressive``) and stage 1 of the VQ-VAE (``vqvae.train``) are two tasks; no model name is
tested here. A config field a task cannot honour (`OPTIONAL_FIELDS`) is a ``ValueError`` naming it.

The design is big_vision's: one skeleton, the per-kind parts handed in (``big_vision/trainers`` over
``big_vision/utils.py`` and ``big_vision/evaluators``).
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import logging
import math
import os
import time
from typing import Any, Callable, Protocol

import jax
import ml_collections
import numpy as np

from armodels_jax import checkpointing
from armodels_jax import workdir as workdir_lib
from armodels_jax.training import config as config_lib
from armodels_jax.training import distributed
from armodels_jax.training import metrics as metrics_lib
from armodels_jax.training import sharding as shd
from armodels_jax.training import steps

__all__ = ["Task", "Run", "train", "TrainingDivergedError", "OPTIONAL_FIELDS", "check_fields",
           "warm_start_source", "keep_warm_start_record"]

log = logging.getLogger(__name__)


class TrainingDivergedError(FloatingPointError):
  """A non-finite training loss or non-finite parameters: the run stopped; the message names the step
  and the checkpoint that was kept (nothing non-finite is ever saved)."""

  def __init__(self, message: str, *, step: int, kept_step: int | None):
    super().__init__(message)
    self.step = step
    self.kept_step = kept_step


# Config fields with a default that changes nothing; a task lists in `Task.honours` the ones it implements.
OPTIONAL_FIELDS = {
    "model.conditional": False,
    "train.tbptt": False,
    "train.perturb_rate": 0.0,
    "train.init_from": "",
}


@dataclasses.dataclass
class Run:
  """What a task hands the trainer for one run.

  Attributes:
    model_info: the content of ``model.json`` (name, size, event_shape, num_levels, dataset, info, ...).
    init_state: builds a fresh state in its sharding.
    abstract_state: the checkpoint form (`to_dict`) of the state as ``jax.ShapeDtypeStruct`` leaves with
      shardings; must hold ``params``, ``ema_params`` and ``opt_state``.
    to_dict, from_dict: the state <-> its checkpoint form.
    train_step: ``(state, step) -> (state, metrics)``: one update on the batch of ``step`` (the number of
      steps done before it); ``metrics`` holds at least ``loss``, ``bits_per_dim``, ``grad_norm`` and
      ``learning_rate``.
    evaluate: ``state -> metrics`` on the evaluation split (JSON numbers), or None for no evaluation.
    eval_split: the split `evaluate` reads (``valid`` or ``test``).
    write_samples: ``(state, step) -> None`` writes samples under ``workdir/samples``, or None.
    warm_start: ``(state, source) -> state`` with parameters from another run (``train.init_from``).
    summary_keys: the metrics averaged over a log window (None: all but ``learning_rate``).
    progress_keys: ``{label: (metric, format)}`` shown on the progress bar.
    result_keys: the evaluation metrics copied into the result as ``<split>_<key>``.
  """
  model_info: dict[str, Any]
  init_state: Callable[[], Any]
  abstract_state: dict[str, Any]
  to_dict: Callable[[Any], dict[str, Any]]
  from_dict: Callable[[dict[str, Any]], Any]
  train_step: Callable[[Any, int], tuple[Any, dict[str, Any]]]
  evaluate: Callable[[Any], dict[str, Any]] | None = None
  eval_split: str = "valid"
  write_samples: Callable[[Any, int], None] | None = None
  warm_start: Callable[[Any, str], Any] | None = None
  summary_keys: tuple[str, ...] | None = ("loss", "bits_per_dim", "grad_norm")
  progress_keys: dict[str, tuple[str, str]] = dataclasses.field(
      default_factory=lambda: {"loss": ("loss", ".4g"), "bpd": ("bits_per_dim", ".4f")})
  result_keys: tuple[str, ...] = ("nll_nats", "bits_per_dim", "n")


class Task(Protocol):
  """A kind of run: ``name`` (for messages), ``honours`` (the `OPTIONAL_FIELDS` it implements) and
  ``build(config, workdir, mesh) -> Run`` (loads the data and the model; called once per run, on every
  process, after the config is validated and the workdir locked)."""

  name: str
  honours: frozenset[str]

  def build(self, config: ml_collections.ConfigDict, workdir: str, mesh: Any) -> Run:
    ...


def _field(cfg: ml_collections.ConfigDict, dotted: str) -> Any:
  node = cfg
  for part in dotted.split("."):
    node = node[part]
  return node


def check_fields(task: Task, cfg: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the first `OPTIONAL_FIELDS` entry `cfg` sets that `task` cannot honour."""
  for field, default in OPTIONAL_FIELDS.items():
    value = _field(cfg, field)
    if value != default and value not in (None, "") and field not in task.honours:
      raise ValueError(f"{field}={value!r}: a {task.name} run cannot honour this field; expected "
                       f"{default!r} (model.name={cfg.model.name!r})")


# ---------------------------------------------------------------------------------------------------------
# Warm start records.


def warm_start_source(workdir: str) -> str:
  """The ``train.init_from`` a run in ``workdir`` began from ('' for a run from scratch)."""
  return str(workdir_lib.read_config(os.path.abspath(workdir)).get("train", {}).get("init_from") or "")


def keep_warm_start_record(cfg: ml_collections.ConfigDict, workdir: str) -> ml_collections.ConfigDict:
  """On a resumed run, the ``train.init_from`` the run began from, as its config.json records it.

  A resumed run restores its parameters from its checkpoint, so ``init_from`` is not read again; a resume
  command without it must not erase the record (``warm_start_source``, the shipped manifest's
  ``warm_start``), and one with another source cannot change where the run began.
  """
  if (not os.path.isfile(os.path.join(workdir, workdir_lib.CONFIG_FILE))
      or checkpointing.latest_step(workdir) is None):
    return cfg
  began_from = warm_start_source(workdir)
  if began_from == str(cfg.train.init_from or ""):
    return cfg
  if cfg.train.init_from:
    log.warning("train.init_from=%s is ignored: resuming the run in %s, which began from %s",
                cfg.train.init_from, workdir, began_from or "scratch")
  cfg = copy.deepcopy(cfg)
  cfg.train.init_from = began_from
  return cfg


# ---------------------------------------------------------------------------------------------------------
# The metric window and the progress bar.


class _Window:
  """Training metrics of the steps since the last log, kept on device until they are checked."""

  def __init__(self, summary_keys: tuple[str, ...] | None, kept: Callable[[], int | None]):
    self.pending: list[tuple[int, dict[str, jax.Array]]] = []
    self.host: list[dict[str, float]] = []
    self.t0 = time.time()
    self.steps = 0
    self.summary_keys = summary_keys
    self.kept = kept

  def add(self, step: int, metrics: dict[str, jax.Array]) -> None:
    self.pending.append((step, metrics))
    self.steps += 1

  def check(self) -> None:
    """Fetches the pending metrics; raises TrainingDivergedError at the first non-finite loss."""
    if not self.pending:
      return
    fetched = jax.device_get([m for _, m in self.pending])
    for (step, _), m in zip(self.pending, fetched):
      if not (math.isfinite(float(m["loss"])) and math.isfinite(float(m["grad_norm"]))):
        self.pending = []
        raise diverged(f"non-finite training loss {float(m['loss'])} (grad norm {float(m['grad_norm'])}) "
                       f"at step {step}", step, self.kept())
      self.host.append({k: float(v) for k, v in m.items()})
    self.pending = []

  def summary(self) -> dict[str, float]:
    """Means over the window (the last learning rate), then resets it."""
    self.check()
    if not self.host:
      return {}
    keys = self.summary_keys or [k for k in self.host[0] if k != "learning_rate"]
    out = {k: float(np.mean([m[k] for m in self.host])) for k in keys}
    out["learning_rate"] = self.host[-1]["learning_rate"]
    out["steps_per_sec"] = self.steps / max(time.time() - self.t0, 1e-9)
    self.host, self.steps, self.t0 = [], 0, time.time()
    return out


def diverged(what: str, step: int, kept: int | None) -> TrainingDivergedError:
  """A `TrainingDivergedError`: ``training diverged: <what>; ...`` naming the checkpoint kept."""
  where = (f"the last checkpoint, step {kept}, is kept" if kept is not None
           else "no checkpoint was saved")
  return TrainingDivergedError(f"training diverged: {what}; nothing after the last finite checkpoint was "
                               f"saved ({where}); lower train.learning_rate or resume from it",
                               step=step, kept_step=kept)


def _every(step: int, period: int, last: bool) -> bool:
  return last or (period > 0 and step % period == 0)


def progress_bar(initial: int, total: int, enabled: bool):
  """The training progress bar; off on other processes than the first, and under ``TQDM_DISABLE=1``
  (as tqdm's own option, which an explicit ``disable=`` would otherwise override)."""
  from tqdm import auto as tqdm  # Imported here so the library imports without it.
  disabled = not enabled or os.environ.get("TQDM_DISABLE", "") not in ("", "0")
  return tqdm.tqdm(initial=initial, total=total, disable=disabled, desc="train", unit="step",
                   dynamic_ncols=True)


# ---------------------------------------------------------------------------------------------------------
# The skeleton.


def train(task: Task, config: ml_collections.ConfigDict, workdir: str, *,
          stop_at_step: int | None = None) -> dict[str, Any]:
  """Trains `task` as `config` says, resuming from the newest intact checkpoint in `workdir`.

  Args:
    task: what is trained (`Task`).
    config: a config from ``training.load_config`` / ``default_config``.
    workdir: the run directory (created if needed).
    stop_at_step: stop as if killed once this many steps are done, without a final checkpoint, eval or
      samples (for testing resumption).

  Returns:
    ``{'step', 'train_loss', 'train_bits_per_dim'}`` plus ``<split>_<key>`` for the task's
    ``result_keys`` of the last evaluation (``'stopped': True`` and no evaluation when stopped early or
    preempted).

  Raises:
    TrainingDivergedError: a non-finite loss or non-finite parameters (a FloatingPointError).
    workdir.WorkdirLockedError: another live trainer holds the workdir (a ValueError).
    workdir.ModelMismatchError: the checkpoint holds another model than the config describes.
    ValueError: a bad config value or a field the task cannot honour.
    checkpointing.CheckpointWriteError: the workdir or a checkpoint cannot be written.
  """
  cfg = config
  config_lib.validate(cfg)
  check_fields(task, cfg)
  t = cfg.train
  shd.set_cpu_devices(int(t.cpu_devices))  # before anything starts JAX
  workdir = os.path.abspath(workdir)
  is_main = jax.process_index() == 0
  checkpointing.check_writable(workdir)  # An unwritable or full workdir fails here, before any work.
  with workdir_lib.lock(workdir):
    cfg = keep_warm_start_record(cfg, workdir)
    checkpointing.write_json(os.path.join(workdir, workdir_lib.CONFIG_FILE), config_lib.config_to_json(cfg))
    mesh = shd.make_mesh()
    shd.check_batch_size(t.batch_size, mesh)
    run = task.build(cfg, workdir, mesh)
    checkpointing.write_json(os.path.join(workdir, workdir_lib.MODEL_FILE), run.model_info)
    return _loop(run, cfg, workdir, mesh, is_main, stop_at_step)


def _restore(run: Run, workdir: str) -> tuple[int | None, Any]:
  """The newest intact checkpoint's state (damaged newer ones moved aside), its shapes checked first."""
  def load_step(s: int) -> Any:
    item = os.path.join(checkpointing.step_dir(workdir, s), workdir_lib.STATE_ITEM)
    workdir_lib.check_stored_shapes(item, run.abstract_state["params"], prefix="['params']",
                                    source="this run's config")
    return checkpointing.restore_step(workdir, s, run.abstract_state)

  return workdir_lib.restore(workdir, load_step, full=True, move_damaged=True)


# OS errors of a disk that cannot take more (a full disk, a quota, a read-only remount).
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)


def _loop(run: Run, cfg: ml_collections.ConfigDict, workdir: str, mesh: Any, is_main: bool,
          stop_at_step: int | None) -> dict[str, Any]:
  t = cfg.train
  serial = shd.one_program_at_a_time(mesh)
  start, restored = _restore(run, workdir)
  manager = checkpointing.make_manager(workdir, keep=t.keep_checkpoints)
  writer = metrics_lib.MetricWriter(workdir)
  preemption = distributed.PreemptionFlag().__enter__()  # SIGTERM on a single process.
  unrecorded: list[int] = []  # Saved steps whose files.json is not written yet.
  saves_started: list[int] = []
  saved = {"step": start}
  try:
    if start is None:
      state = run.init_state()
      if t.init_from:
        state = run.warm_start(state, str(t.init_from))
    else:
      log.info("resuming from the checkpoint at step %d in %s", start, workdir)
      state = run.from_dict(restored)
      if int(state.step) != start:
        raise ValueError(f"checkpoint {start} holds state.step={int(state.step)}")
    del restored
    step = int(state.step)
    window = _Window(run.summary_keys, lambda: saved["step"])

    def save(step: int) -> None:
      window.check()
      d = run.to_dict(state)
      if not bool(steps.tree_all_finite((d["params"], d["ema_params"], d["opt_state"]))):
        raise diverged(f"non-finite parameters after step {step}; not checkpointing", step, saved["step"])
      checkpointing.finish_saves(manager, workdir, unrecorded)  # The previous save's error surfaces here.
      unrecorded[:] = [step]
      checkpointing.save_state(manager, step, d)
      if not saves_started:  # A full or unwritable disk fails at the first save, not at the end.
        checkpointing.finish_saves(manager, workdir, unrecorded)
        unrecorded.clear()
      saves_started.append(step)
      saved["step"] = step

    def run_eval(step: int) -> dict[str, Any]:
      if run.evaluate is None:
        return {}
      result = run.evaluate(state)
      writer.write(step, run.eval_split, result)
      return result

    last_train: dict[str, float] = {}
    last_eval: dict[str, Any] = {}
    stopped = False
    progress = progress_bar(step, t.num_steps, is_main)
    while step < t.num_steps:
      if stop_at_step is not None and step >= stop_at_step:
        stopped = True
        break
      state, step_metrics = run.train_step(state, step)
      if serial:  # Several CPU devices of this process: one step in flight (shd.one_program_at_a_time).
        jax.block_until_ready(step_metrics)
      step += 1
      window.add(step, step_metrics)
      progress.update(1)
      last = step == t.num_steps

      if _every(step, t.log_every, last):
        last_train = window.summary()
        writer.write(step, "train", last_train)
        progress.set_postfix(**{label: format(last_train[key], fmt)
                                for label, (key, fmt) in run.progress_keys.items() if key in last_train})
      if _every(step, t.checkpoint_every, last):
        save(step)
      if _every(step, t.eval_every, last):
        last_eval = run_eval(step)
      if run.write_samples is not None and t.sample_every > 0 and _every(step, t.sample_every, last):
        run.write_samples(state, step)
      # Multi-process: JAX's preemption notifier makes every host agree on the step.
      if manager.reached_preemption(step) or preemption.requested:
        log.warning("preemption at step %d: saving and stopping", step)
        if saved["step"] != step:
          save(step)
        stopped = True
        break
    progress.close()
    window.check()

    if not stopped and not last_eval:
      last_eval = run_eval(step)  # A finished run resumed: evaluate what it holds.
    if not last_train:
      previous = metrics_lib.read_metrics(workdir, "train")
      last_train = previous[-1] if previous else {}
    checkpointing.finish_saves(manager, workdir, unrecorded)
  except OSError as e:  # A full disk while writing metrics or samples: one line, the kept checkpoint.
    if isinstance(e, checkpointing.CheckpointWriteError) or e.errno not in _DISK_ERRORS:
      raise
    raise checkpointing.run_write_error(workdir, e) from e
  finally:
    preemption.__exit__()
    try:
      manager.wait_until_finished()
    except Exception:  # pylint: disable=broad-except  (already raised above, or a failure in flight)
      log.exception("a checkpoint save failed")
    manager.close()
    try:
      writer.close()
    except OSError as e:  # TensorBoard's last flush on a full disk: the error above says what happened.
      log.warning("closing the metric writer: %s", e)

  result: dict[str, Any] = {
      "step": step,
      "train_loss": last_train.get("loss"),
      "train_bits_per_dim": last_train.get("bits_per_dim"),
  }
  if stopped:
    result["stopped"] = True
  if last_eval:
    result.update({f"{run.eval_split}_{k}": last_eval[k] for k in run.result_keys if k in last_eval})
  return result
