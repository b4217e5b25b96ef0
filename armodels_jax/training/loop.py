"""The training loop: ``train_and_evaluate(config, workdir)``, plus ``restore`` and ``evaluate``.

It reads top to bottom as in big_vision: mesh, data, model, state (created in its sharding, or restored
from the latest checkpoint), update step, then the loop with logging, evaluation, checkpoints and samples.

Resuming is exact: the batch of step ``s`` is a pure function of ``(seed, s)``
(``data.batch_indices``), the step's randomness is ``fold_in(state.rng, s)``, and the checkpoint holds the
parameters, their EMA, the optimizer state (the schedule position is ``state.step``) and the RNG, so a run
stopped and resumed ends with the same state, bit for bit, as an uninterrupted one.

Truncated backpropagation through time (``train.tbptt``, a stateful model such as ``char_rnn``; Karpathy's
char-rnn and Graves 2013, section 3): the N train windows are consecutive pieces of one text, read as B
parallel streams. With ``C = N // B``, the batch of step ``s`` is the windows ``b * C + (s % C)`` for
``b < B``; the model's state after a window (``state.carry``) is the start of the next one, reset to
``model.initial_carry(B)`` when ``s % C == 0``. The carry is part of the checkpoint, so resuming stays
exact. Stateful models are evaluated the same way: the eval windows in text order as contiguous streams,
the state carried, the NLL per character over all of them.

Multi-host (``training.distributed``): the same code runs on every host of a pod after
``jax.distributed.initialize()``. ``train.batch_size`` is global; each host gathers its contiguous share
of every global batch (``data.global_batch``); process 0 alone writes JSON, metrics, TensorBoard events
and samples; every host takes part in each orbax save (written once into the shared workdir) and
restores the latest one. On SIGTERM (preemption) all hosts stop at one agreed step after saving it.

Glossary of dimension letters: B global batch, N examples in a split, C windows per stream, S eval
streams, ``...`` the event shape.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from armodels_jax import api
from armodels_jax import checkpointing
from armodels_jax import data
from armodels_jax import inference
from armodels_jax import models
from armodels_jax.training import config as config_lib
from armodels_jax.training import distributed
from armodels_jax.training import images
from armodels_jax.training import metrics as metrics_lib
from armodels_jax.training import optim
from armodels_jax.training import sharding as shd
from armodels_jax.training import state as state_lib
from armodels_jax.training import steps

__all__ = ["train_and_evaluate", "restore", "evaluate", "create_model", "read_model_info"]

log = logging.getLogger(__name__)

CONFIG_FILE = inference.CONFIG_FILE
MODEL_FILE = inference.MODEL_FILE
_SAMPLE_STREAM = 0x5A3E  # Folded into the root key for sample grids, apart from the training stream.


def create_model(cfg: ml_collections.ConfigDict, event_shape, num_levels):
  """``arm.models.create`` from the config's model group for data of `event_shape` and `num_levels`."""
  return models.create(
      cfg.model.name, event_shape=tuple(int(d) for d in event_shape), num_levels=num_levels,
      **config_lib.model_kwargs(cfg))


# ---------------------------------------------------------------------------------------------------------
# Evaluation.


def evaluate(model: Any, variables: Any, array, batch_size: int = 256, labels=None, *,
             features=None, mesh=None, stream: bool = False) -> dict[str, Any]:
  """Exact mean negative log-likelihood over every example of `array` (the last partial batch included).

  Args:
    model: a model from ``arm.models.create``.
    variables: ``{'params': ...}``.
    array: int [N, ...] with the model's event shape and values in ``[0, num_levels)``; the same full array
      on every host.
    batch_size: examples per global batch (rounded up to a multiple of the device count); with `stream`,
      the most streams.
    labels: None, or [N] conditioning labels.
    features: None, or float [N, ...] conditioning features; ``cond = data.make_cond(labels, features)``.
    mesh: the device mesh (default: all devices).
    stream: a stateful model only: the rows of `array` are consecutive windows of one sequence (a text),
      read as ``min(batch_size, N)`` (or fewer) contiguous streams with the model's state carried from one
      window to the next, each stream starting from ``model.initial_carry``.

  Returns:
    ``{'nll_nats': float, 'bits_per_dim': float, 'n': int}``, per example, in nats and bits per dimension
    (with `stream`: per window, and bits per character).

  Raises:
    ValueError: `array` does not have shape (N, *model.event_shape) or is empty, `labels` or `features`
      have the wrong length, or `stream` with a model that is not stateful.
  """
  array = np.asarray(array)
  event_shape = tuple(model.event_shape)
  if array.ndim < 1 or array.shape[1:] != event_shape:
    raise ValueError(f"evaluate: expected an array of shape (N, *{event_shape}), got {array.shape}")
  if array.shape[0] == 0:
    raise ValueError("evaluate: expected at least one example, got N = 0")
  if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
    if model.num_levels is not None:
      raise ValueError(f"evaluate: expected an integer array, got dtype {array.dtype}")
  elif model.num_levels is not None:
    array = array.astype(np.int32)
  for name, extra in (("labels", labels), ("features", features)):
    if extra is not None and np.shape(extra)[:1] != array.shape[:1]:
      raise ValueError(f"evaluate: expected {array.shape[0]} {name}, got shape {np.shape(extra)}")
  if stream and not getattr(model, "stateful", False):
    raise ValueError(f"evaluate(stream=True) needs a stateful model (e.g. char_rnn), got "
                     f"{type(model).__name__}")
  mesh = shd.make_mesh() if mesh is None else mesh
  variables = jax.device_put(variables, shd.replicated(mesh))
  if stream:
    sums = _stream_sums(model, variables, array, labels, features, batch_size, mesh)
  else:
    sums = _batch_sums(model, variables, array, labels, features, batch_size, mesh)
  sums = np.asarray(jax.device_get(sums), np.float64)  # [num_batches, 2]
  nll = float(sums[:, 0].sum() / sums[:, 1].sum())
  return {"nll_nats": nll, "bits_per_dim": float(api.bits_per_dim(-nll, event_shape)),
          "n": int(array.shape[0])}


def _batch_sums(model, variables, array, labels, features, batch_size, mesh) -> list:
  """``[(nll_sum, count)]`` per batch of independent examples."""
  n, n_dev = array.shape[0], mesh.devices.size
  batch = min(int(batch_size), n)
  batch = -(-batch // n_dev) * n_dev  # Round up to a multiple of the device count.
  sharding = shd.batch_sharding(mesh)
  serial = shd.one_program_at_a_time(mesh)
  sums = []
  for start in range(0, n, batch):
    idx = np.arange(start, start + batch)  # [B]
    num_valid = min(batch, n - start)
    idx = np.where(idx < n, idx, 0)  # Padding rows repeat example 0 and are masked out.
    x, lab, feat = data.global_batch((array, labels, features), idx, sharding)
    sums.append(steps.eval_sums(model, variables, x, data.make_cond(lab, feat), np.int32(num_valid)))
    if serial:
      jax.block_until_ready(sums[-1])
  return sums


def _stream_sums(model, variables, array, labels, features, batch_size, mesh) -> list:
  """``[(nll_sum, count)]`` per window position of contiguous streams of a stateful model.

  With ``C = ceil(N / batch_size)`` windows per stream, stream b holds windows ``b * C .. b * C + C - 1``
  (the last stream may be shorter); there are ``S = ceil(N / C)`` streams, padded to a multiple of the
  device count with masked rows. Only the last stream's tail and the padding rows are masked, so no masked
  row's carry ever feeds a counted window.
  """
  n, n_dev = array.shape[0], mesh.devices.size
  per_stream = -(-n // min(int(batch_size), n))  # C
  streams = -(-n // per_stream)  # S
  rows = -(-streams // n_dev) * n_dev
  sharding = shd.batch_sharding(mesh)
  carry = jax.device_put(model.initial_carry(rows), sharding)
  serial = shd.one_program_at_a_time(mesh)
  sums = []
  for k in range(per_stream):
    idx = np.arange(rows) * per_stream + k  # [S'] window of each stream
    valid = (np.arange(rows) < streams) & (idx < n)
    idx = np.where(valid, idx, 0)
    x, lab, feat = data.global_batch((array, labels, features), idx, sharding)
    nll, count, carry = steps.eval_carry_sums(model, variables, x, carry, data.make_cond(lab, feat),
                                              valid)
    sums.append((nll, count))
    if serial:
      jax.block_until_ready(sums[-1])
  return sums


read_model_info = inference.read_model_info


# ---------------------------------------------------------------------------------------------------------
# Restoring a run.


def _read_config(workdir: str) -> ml_collections.ConfigDict:
  with open(os.path.join(workdir, CONFIG_FILE)) as f:
    return config_lib.config_from_json(f.read())


def _keep_warm_start_record(cfg: ml_collections.ConfigDict, workdir: str) -> ml_collections.ConfigDict:
  """On a resumed run, the ``train.init_from`` the run began from, as its config.json records it.

  A resumed run restores its parameters from its checkpoint, so ``init_from`` is not read again; a resume
  command without it must not erase the record (``warm_start_source``, the shipped manifest's
  ``warm_start``), and one with another source cannot change where the run began.
  """
  if not os.path.isfile(os.path.join(workdir, CONFIG_FILE)) or checkpointing.latest_step(workdir) is None:
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


def warm_start_source(workdir: str) -> str:
  """The ``train.init_from`` a run in ``workdir`` began from ('' for a run from scratch)."""
  return str(_read_config(os.path.abspath(workdir)).train.get("init_from") or "")


def restore(workdir: str, step: int | None = None) -> tuple[Any, Any, ml_collections.ConfigDict]:
  """Loads the model, its variables and the config of a run (no data loaded, no train state built).

  Args:
    workdir: the run directory written by `train_and_evaluate`, or an exported one
      (``pretrained/<name>/``: ``params/`` instead of ``checkpoints/``).
    step: the checkpoint to load (default: the newest intact one, skipping damaged ones with a warning;
      exported workdirs hold one).

  Returns:
    ``(model, variables, config)``; ``variables = {'params': ...}`` holds the EMA parameters when
    ``config.train.ema_decay > 0``, else the raw parameters (``inference.load``).

  Raises:
    FileNotFoundError: `workdir` has no config or no checkpoint.
    checkpointing.CheckpointError: damaged files (named in the message).
  """
  model, variables, _ = inference.load(workdir, step)
  return model, variables, _read_config(os.path.abspath(workdir))


# ---------------------------------------------------------------------------------------------------------
# Training.


def _carry_batch_size(cfg: ml_collections.ConfigDict, model: Any) -> int:
  """B when the run carries a recurrent state (``train.tbptt``), else 0; ValueError for a model that
  cannot."""
  if not cfg.train.tbptt:
    return 0
  if not getattr(model, "stateful", False):
    raise ValueError(f"train.tbptt=True needs a stateful model (one with initial_carry and "
                     f"log_prob_carry, e.g. char_rnn), got model.name={cfg.model.name!r}")
  return int(cfg.train.batch_size)


class _Window:
  """Training metrics of the steps since the last log, kept on device until they are checked."""

  def __init__(self):
    self.pending: list[tuple[int, dict[str, jax.Array]]] = []
    self.host: list[dict[str, float]] = []
    self.t0 = time.time()
    self.steps = 0

  def add(self, step: int, metrics: dict[str, jax.Array]) -> None:
    self.pending.append((step, metrics))
    self.steps += 1

  def check(self) -> None:
    """Fetches the pending metrics; raises FloatingPointError at the first non-finite loss."""
    if not self.pending:
      return
    fetched = jax.device_get([m for _, m in self.pending])
    for (step, _), m in zip(self.pending, fetched):
      if not (math.isfinite(float(m["loss"])) and math.isfinite(float(m["grad_norm"]))):
        raise FloatingPointError(
            f"non-finite training loss {float(m['loss'])} (grad norm {float(m['grad_norm'])}) at step "
            f"{step}; nothing after the last finite checkpoint was saved")
      self.host.append({k: float(v) for k, v in m.items()})
    self.pending = []

  def summary(self) -> dict[str, float]:
    """Means over the window (the last learning rate), then resets it."""
    self.check()
    if not self.host:
      return {}
    out = {k: float(np.mean([m[k] for m in self.host])) for k in ("loss", "bits_per_dim", "grad_norm")}
    out["learning_rate"] = self.host[-1]["learning_rate"]
    out["steps_per_sec"] = self.steps / max(time.time() - self.t0, 1e-9)
    self.host, self.steps, self.t0 = [], 0, time.time()
    return out


def _every(step: int, period: int, last: bool) -> bool:
  return last or (period > 0 and step % period == 0)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       stop_at_step: int | None = None) -> dict[str, Any]:
  """Trains a model as `config` says, resuming from the latest checkpoint in `workdir` if there is one.

  Writes ``workdir/config.json``, ``workdir/model.json`` (with the dataset's ``info``),
  ``workdir/checkpoints/``, ``workdir/metrics.jsonl``, TensorBoard events in ``workdir/tb`` and samples:
  image grids ``workdir/samples/step_XXXXXX.png``, the decoded text ``step_XXXXXX.txt`` for text models,
  the raw array ``step_XXXXXX.npy`` for other events (real-valued vectors, audio).

  Args:
    config: a config from `default_config` / `load_config`.
    workdir: the run directory (created if needed).
    stop_at_step: stop as if killed once this many steps are done, without a final checkpoint, eval or
      samples (for testing resumption).

  Returns:
    ``{'step', 'train_loss', 'train_bits_per_dim', 'valid_nll_nats', 'valid_bits_per_dim', 'valid_n'}``
    (``'stopped': True`` and no valid metrics when stopped early or preempted).

  Raises:
    FloatingPointError: a training loss or the parameters became NaN or inf (never checkpointed).
    ValueError: a bad config value, or a batch size not divisible by the device count.
  """
  cfg = config
  if cfg.model.name == "vqvae":  # Stage 1 of VQ-VAE + prior: its own state and loss (armodels_jax.vqvae).
    from armodels_jax.vqvae import train as vqvae_train  # pylint: disable=g-import-not-at-top

    return vqvae_train.train_and_evaluate(cfg, workdir, stop_at_step=stop_at_step)
  config_lib.validate(cfg)
  t = cfg.train
  shd.set_cpu_devices(int(t.cpu_devices))  # before anything starts JAX
  workdir = os.path.abspath(workdir)
  is_main = jax.process_index() == 0
  checkpointing.check_writable(workdir)  # An unwritable or full workdir fails here, before any work.
  cfg = _keep_warm_start_record(cfg, workdir)
  checkpointing.write_json(os.path.join(workdir, CONFIG_FILE), config_lib.config_to_json(cfg))

  # Mesh: one 'data' axis over all devices.
  mesh = shd.make_mesh()
  shd.check_batch_size(t.batch_size, mesh)
  batch_sharding = shd.batch_sharding(mesh)
  serial = shd.one_program_at_a_time(mesh)

  # Input.
  ds = data.load(cfg.data.name, **config_lib.data_options(cfg))
  conditional = bool(cfg.model.conditional)
  train_x = ds.train  # [N, ...]
  train_labels = ds.train_labels if conditional else None  # [N] or None
  train_features = ds.train_features if conditional else None  # [N, ...] or None
  if conditional and train_labels is None and train_features is None:
    raise ValueError(f"model.conditional=True but dataset {ds.name!r} has no labels and no features")
  eval_split = "valid" if ds.valid is not None else "test"
  eval_x = ds.split(eval_split)
  eval_labels = ds.labels(eval_split) if conditional else None
  eval_features = ds.features(eval_split) if conditional else None
  if eval_x is not None and t.eval_max_examples:
    eval_x = eval_x[:t.eval_max_examples]
    eval_labels = None if eval_labels is None else eval_labels[:t.eval_max_examples]
    eval_features = None if eval_features is None else eval_features[:t.eval_max_examples]

  # Model.
  model = create_model(cfg, ds.event_shape, ds.num_levels)
  carry_batch = _carry_batch_size(cfg, model)  # B with train.tbptt, else 0.
  stateful = bool(getattr(model, "stateful", False))
  if carry_batch and train_x.shape[0] < carry_batch:
    raise ValueError(f"train.tbptt reads train.batch_size={carry_batch} parallel streams: expected at "
                     f"least that many train windows, got {train_x.shape[0]}")
  checkpointing.write_json(os.path.join(workdir, MODEL_FILE), {
      "name": cfg.model.name, "size": cfg.model.size, "event_shape": list(ds.event_shape),
      "num_levels": ds.num_levels, "dataset": ds.name, "info": ds.info})

  # State: created in its sharding, or restored from the latest checkpoint.
  tx = optim.make_optimizer(t)
  schedule = optim.make_schedule(t)
  target = state_lib.state_to_dict(
      state_lib.abstract_train_state(model, tx, mesh, carry_batch_size=carry_batch))
  # The newest checkpoint whose files match their sha256; damaged newer ones are moved aside.
  start, restored, skipped = checkpointing.restore_newest_intact(
      workdir, lambda s: checkpointing.restore_step(workdir, s, target), full=True)
  if skipped:
    moved = checkpointing.move_aside(workdir, [s for s, _ in skipped])
    log.warning("resuming from step %d: skipped the damaged %s (moved to %s)", start,
                "; ".join(f"step {s} ({why})" for s, why in skipped), ", ".join(moved))
  manager = checkpointing.make_manager(workdir, keep=t.keep_checkpoints)
  writer = metrics_lib.MetricWriter(workdir)
  preemption = distributed.PreemptionFlag().__enter__()  # SIGTERM on a single process.
  unrecorded: list[int] = []  # Saved steps whose files.json is not written yet.
  saves_started: list[int] = []
  try:
    if start is None:
      state = state_lib.create_train_state(model, tx, cfg.seed, mesh, carry_batch_size=carry_batch)
      if t.init_from:
        state = _warm_start(state, str(t.init_from), mesh)
    else:
      log.info("resuming from the checkpoint at step %d in %s", start, workdir)
      state = state_lib.state_from_dict(restored)
      if int(state.step) != start:
        raise ValueError(f"checkpoint {start} holds state.step={int(state.step)}")
    del restored
    step = int(state.step)
    saved_step = step if start is not None else None

    train_step = steps.make_train_step(model, tx, schedule, t.ema_decay, mesh, tbptt=bool(carry_batch))
    perturb = _make_perturb(float(t.perturb_rate), ds.num_levels, cfg.seed) if t.perturb_rate else None
    eval_params = lambda s: s.ema_params if t.ema_decay > 0 else s.params  # noqa: E731
    sample_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), _SAMPLE_STREAM)
    sample_cond = _sample_cond(
        t.num_samples, *((eval_labels, eval_features) if eval_x is not None
                         else (train_labels, train_features)))
    windows_per_stream = train_x.shape[0] // carry_batch if carry_batch else 0  # C

    def save(step: int) -> None:
      window.check()
      if not bool(steps.tree_all_finite((state.params, state.ema_params, state.opt_state))):
        raise FloatingPointError(f"non-finite parameters after step {step}; not checkpointing")
      checkpointing.finish_saves(manager, workdir, unrecorded)  # The previous save's error surfaces here.
      unrecorded[:] = [step]
      checkpointing.save_state(manager, step, state_lib.state_to_dict(state))
      if not saves_started:  # A full or unwritable disk fails at the first save, not at the end.
        checkpointing.finish_saves(manager, workdir, unrecorded)
        unrecorded.clear()
      saves_started.append(step)

    def run_eval(step: int) -> dict[str, Any]:
      if eval_x is None:
        return {}
      result = evaluate(model, {"params": eval_params(state)}, eval_x, t.eval_batch_size, eval_labels,
                        features=eval_features, mesh=mesh, stream=stateful)
      writer.write(step, eval_split, result)
      return result

    def save_samples(step: int) -> None:
      xs = api.sample(model, {"params": eval_params(state)}, jax.random.fold_in(sample_key, step),
                      num_samples=t.num_samples, method=t.sample_method, cond=sample_cond)
      xs = np.asarray(jax.device_get(xs))  # [num_samples, ...]
      if is_main:
        _write_samples(os.path.join(workdir, "samples", f"step_{step:06d}"), xs, model, ds)

    window = _Window()
    last_train: dict[str, float] = {}
    last_eval: dict[str, Any] = {}
    stopped = False
    progress = _progress(step, t.num_steps, is_main)
    while step < t.num_steps:
      if stop_at_step is not None and step >= stop_at_step:
        stopped = True
        break
      if carry_batch:  # B parallel streams through the windows, in text order.
        position = step % windows_per_stream
        indices = np.arange(carry_batch) * windows_per_stream + position  # [B]
      else:
        indices = data.batch_indices(train_x.shape[0], t.batch_size, cfg.seed, step)  # [B]
      x, labels, features = data.global_batch((train_x, train_labels, train_features), indices,
                                              batch_sharding)
      if perturb is not None:
        x = perturb(x, np.int32(step))
      cond = data.make_cond(labels, features)
      if carry_batch:
        state, step_metrics = train_step(state, x, cond, np.bool_(position == 0))
      else:
        state, step_metrics = train_step(state, x, cond)
      if serial:  # Several CPU devices of this process: one step in flight (shd.one_program_at_a_time).
        jax.block_until_ready(step_metrics)
      step += 1
      window.add(step, step_metrics)
      progress.update(1)
      last = step == t.num_steps

      if _every(step, t.log_every, last):
        last_train = window.summary()
        writer.write(step, "train", last_train)
        progress.set_postfix(loss=f"{last_train['loss']:.4g}", bpd=f"{last_train['bits_per_dim']:.4f}")
      if _every(step, t.checkpoint_every, last):
        save(step)
        saved_step = step
      if _every(step, t.eval_every, last):
        last_eval = run_eval(step)
      if t.sample_every > 0 and _every(step, t.sample_every, last):
        save_samples(step)
      # Multi-process: JAX's preemption notifier makes every host agree on the step.
      if manager.reached_preemption(step) or preemption.requested:
        log.warning("preemption at step %d: saving and stopping", step)
        if saved_step != step:
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
  finally:
    preemption.__exit__()
    try:
      manager.wait_until_finished()
    except Exception:  # pylint: disable=broad-except  (already raised above, or a failure in flight)
      log.exception("a checkpoint save failed")
    manager.close()
    writer.close()

  result: dict[str, Any] = {
      "step": step,
      "train_loss": last_train.get("loss"),
      "train_bits_per_dim": last_train.get("bits_per_dim"),
  }
  if stopped:
    result["stopped"] = True
  if last_eval:
    result.update({f"{eval_split}_nll_nats": last_eval["nll_nats"],
                   f"{eval_split}_bits_per_dim": last_eval["bits_per_dim"],
                   f"{eval_split}_n": last_eval["n"]})
  return result


def _warm_start(state: Any, source: str, mesh: Any) -> Any:
  """``state`` with its parameters and EMA replaced by those ``inference.load(source)`` reads (the EMA
  parameters where the source kept them); ValueError when ``source`` is no run or export, or its
  parameters differ in structure or shape from the new run's."""
  if not os.path.isdir(source):
    raise ValueError(f"train.init_from: expected a run's workdir or an exported checkpoint directory, "
                     f"got {source!r} (no such directory)")
  try:
    _, variables, _ = inference.load(source, full_check=True)
  except FileNotFoundError as e:
    raise ValueError(f"train.init_from: expected a run's workdir or an exported checkpoint directory "
                     f"in {source!r}: {e}") from e
  params = variables["params"]
  want, got = _leaf_shapes(state.params), _leaf_shapes(params)
  if want != got:
    raise ValueError(f"train.init_from: expected parameters shaped as this run's model "
                     f"({_describe(want)}), got {_describe(got)} from {source!r}")
  # Host arrays, identical on every process, placed replicated as the new state's parameters are.
  params = jax.device_put(jax.device_get(params), shd.replicated(mesh))
  log.info("warm start: parameters from %s", source)
  return state.replace(params=params, ema_params=jax.tree.map(jnp.copy, params))


def _leaf_shapes(tree: Any) -> list[tuple[str, tuple[int, ...], str]]:
  """``(path, shape, dtype)`` of every leaf of ``tree``, in order."""
  return [(jax.tree_util.keystr(k), tuple(v.shape), str(v.dtype))
          for k, v in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _describe(leaves: list[tuple[str, tuple[int, ...], str]]) -> str:
  """The first few of ``_leaf_shapes``, for an error message."""
  text = ", ".join(f"{k} {shape} {dtype}" for k, shape, dtype in leaves[:4])
  return f"{len(leaves)} arrays: " + text + (", ..." if len(leaves) > 4 else "")


def _make_perturb(rate: float, num_levels: Any, seed: int):
  """``perturb(x, step)``: Ren et al. 2019's input perturbation of a training batch (section 4: each
  dimension replaced, with probability `rate`, by a level drawn uniformly, as ``anomaly.perturb`` does
  on the host), jitted on the sharded batch, its randomness a function of ``(seed, step)`` alone so that
  a resumed run perturbs every batch as the uninterrupted run did.

  Raises:
    ValueError: the data are real-valued (no levels to draw from).
  """
  if not num_levels:
    raise ValueError(f"train.perturb_rate={rate} replaces values by uniform levels: expected discrete "
                     f"data, got real-valued data (num_levels={num_levels!r})")
  # A stream of its own, apart from the parameters' and the steps' (both drawn from `seed` directly).
  key = jax.random.fold_in(jax.random.key(seed), 0x7E27)

  @jax.jit
  def perturb(x, step):
    flip_key, level_key = jax.random.split(jax.random.fold_in(key, step))
    flip = jax.random.bernoulli(flip_key, rate, x.shape)
    noise = jax.random.randint(level_key, x.shape, 0, int(num_levels)).astype(x.dtype)
    return jnp.where(flip, noise, x)

  return perturb


def _sample_cond(num_samples: int, labels, features):
  """The ``cond`` of the sample grids: the first `num_samples` rows' labels and features (cycled when there
  are fewer rows), or None for an unconditional run."""
  if labels is None and features is None:
    return None
  n = (labels if labels is not None else features).shape[0]
  rows = np.arange(num_samples) % n  # [num_samples]
  return data.make_cond(None if labels is None else np.asarray(labels)[rows],
                        None if features is None else np.asarray(features)[rows])


def _write_samples(stem: str, xs: np.ndarray, model: Any, ds: data.Dataset) -> None:
  """Writes samples ``[num_samples, ...]``: ``stem.txt`` (decoded text, one sample per paragraph) for text,
  ``stem_00.wav, ...`` (16-bit WAVs) and ``stem.npy`` for audio, ``stem.png`` (a grid) for images,
  ``stem.npy`` (the raw array) for anything else."""
  os.makedirs(os.path.dirname(stem), exist_ok=True)
  kind = ds.info.get("kind")
  if kind == "text":
    from armodels_jax.data import text  # pylint: disable=g-import-not-at-top

    body = "\n\n".join(text.decode(x.reshape(-1), ds.info["vocab"]) for x in xs)
    with open(stem + ".txt", "w", encoding="utf-8") as f:
      f.write(body + "\n")
  elif not model.real_valued and kind is None and images.as_images(xs) is not None:
    images.save_image_grid(xs, stem + ".png", ds.num_levels)
  else:  # Real-valued vectors (RNADE), audio, other sequences: the raw array.
    np.save(stem + ".npy", xs)
    if kind == "audio":
      info = ds.info
      for i, x in enumerate(xs):
        wave = data.audio.dequantize_audio(x.reshape(-1), info["quantization"], int(info["levels"]))
        data.audio.write_wav(f"{stem}_{i:02d}.wav", wave, int(info["sample_rate"]))


def _progress(initial: int, total: int, enabled: bool):
  """The training progress bar; off on other processes than the first, and under ``TQDM_DISABLE=1``
  (as tqdm's own option, which an explicit ``disable=`` would otherwise override)."""
  from tqdm import auto as tqdm  # Imported here so the library imports without it.
  disabled = not enabled or os.environ.get("TQDM_DISABLE", "") not in ("", "0")
  return tqdm.tqdm(initial=initial, total=total, disable=disabled, desc="train", unit="step",
                   dynamic_ncols=True)
