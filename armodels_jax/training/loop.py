"""The training loop: ``train_and_evaluate(config, workdir)``, plus ``restore`` and ``evaluate``.

It reads top to bottom as in big_vision: mesh, data, model, state (created in its sharding, or restored
from the latest checkpoint), update step, then the loop with logging, evaluation, checkpoints and samples.

Resuming is exact: the batch of step ``s`` is a pure function of ``(seed, s)``
(``data.batch_indices``), the step's randomness is ``fold_in(state.rng, s)``, and the checkpoint holds the
parameters, their EMA, the optimizer state (the schedule position is ``state.step``) and the RNG, so a run
stopped and resumed ends with the same state, bit for bit, as an uninterrupted one.

Glossary of dimension letters: B global batch, N examples in a split, ``...`` the event shape.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from armodels_jax import api
from armodels_jax import checkpointing
from armodels_jax import data
from armodels_jax import models
from armodels_jax.training import config as config_lib
from armodels_jax.training import images
from armodels_jax.training import metrics as metrics_lib
from armodels_jax.training import optim
from armodels_jax.training import sharding as shd
from armodels_jax.training import state as state_lib
from armodels_jax.training import steps

__all__ = ["train_and_evaluate", "restore", "evaluate", "create_model"]

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
MODEL_FILE = "model.json"
_SAMPLE_STREAM = 0x5A3E  # Folded into the root key for sample grids, apart from the training stream.


def create_model(cfg: ml_collections.ConfigDict, event_shape, num_levels):
  """``arm.models.create`` from the config's model group for data of `event_shape` and `num_levels`."""
  return models.create(
      cfg.model.name, event_shape=tuple(int(d) for d in event_shape), num_levels=num_levels,
      size=cfg.model.size, **config_lib.model_overrides(cfg))


# ---------------------------------------------------------------------------------------------------------
# Evaluation.


def evaluate(model: Any, variables: Any, array, batch_size: int = 256, labels=None, *,
             mesh=None) -> dict[str, Any]:
  """Exact mean negative log-likelihood over every example of `array` (the last partial batch included).

  Args:
    model: a model from ``arm.models.create``.
    variables: ``{'params': ...}``.
    array: int [N, ...] with the model's event shape and values in ``[0, num_levels)``; the same full array
      on every host.
    batch_size: examples per global batch (rounded up to a multiple of the device count).
    labels: None, or [N] conditioning labels passed as ``cond``.
    mesh: the device mesh (default: all devices).

  Returns:
    ``{'nll_nats': float, 'bits_per_dim': float, 'n': int}``, per example, in nats and bits per dimension.

  Raises:
    ValueError: `array` does not have shape (N, *model.event_shape) or is empty, or `labels` has the wrong
      length.
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
  if labels is not None:
    labels = np.asarray(labels)
    if labels.shape[0] != array.shape[0]:
      raise ValueError(f"evaluate: expected {array.shape[0]} labels, got shape {labels.shape}")
  mesh = shd.make_mesh() if mesh is None else mesh
  n, n_dev = array.shape[0], mesh.devices.size
  batch = min(int(batch_size), n)
  batch = -(-batch // n_dev) * n_dev  # Round up to a multiple of the device count.
  variables = jax.device_put(variables, shd.replicated(mesh))
  sharding = shd.batch_sharding(mesh)
  sums = []
  for start in range(0, n, batch):
    idx = np.arange(start, start + batch)  # [B]
    num_valid = min(batch, n - start)
    idx = np.where(idx < n, idx, 0)  # Padding rows repeat example 0 and are masked out.
    x, cond = data.global_batch((array, labels), idx, sharding)
    sums.append(steps.eval_sums(model, variables, x, cond, np.int32(num_valid)))
  sums = np.asarray(jax.device_get(sums), np.float64)  # [num_batches, 2]
  nll = float(sums[:, 0].sum() / sums[:, 1].sum())
  return {"nll_nats": nll, "bits_per_dim": float(api.bits_per_dim(-nll, event_shape)), "n": int(n)}


# ---------------------------------------------------------------------------------------------------------
# Restoring a run.


def _read_config(workdir: str) -> ml_collections.ConfigDict:
  with open(os.path.join(workdir, CONFIG_FILE)) as f:
    return config_lib.config_from_json(f.read())


def restore(workdir: str, step: int | None = None) -> tuple[Any, Any, ml_collections.ConfigDict]:
  """Loads the model, its variables and the config of a run (no data loaded).

  Args:
    workdir: the run directory written by `train_and_evaluate`, or an exported one
      (``pretrained/<name>/``: ``params/`` instead of ``checkpoints/``).
    step: the checkpoint to load (default: the latest; exported workdirs hold one).

  Returns:
    ``(model, variables, config)``; ``variables = {'params': ...}`` holds the EMA parameters when
    ``config.train.ema_decay > 0``, else the raw parameters.

  Raises:
    FileNotFoundError: `workdir` has no config or no checkpoint.
  """
  workdir = os.path.abspath(workdir)
  for name in (CONFIG_FILE, MODEL_FILE):
    if not os.path.exists(os.path.join(workdir, name)):
      raise FileNotFoundError(f"{workdir} has no {name}: not a training workdir")
  cfg = _read_config(workdir)
  spec = checkpointing.read_json(os.path.join(workdir, MODEL_FILE))
  model = create_model(cfg, spec["event_shape"], spec["num_levels"])
  mesh = shd.make_mesh()
  target = state_lib.abstract_train_state(model, optim.make_optimizer(cfg.train), mesh)
  params_dir = os.path.join(workdir, checkpointing.PARAMS_DIR)
  if os.path.isdir(params_dir) and not os.path.isdir(os.path.join(workdir, checkpointing.CHECKPOINT_DIR)):
    return model, {"params": checkpointing.restore_params(params_dir, target.params)}, cfg
  manager = checkpointing.make_manager(workdir, read_only=True)
  try:
    step = manager.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {os.path.join(workdir, checkpointing.CHECKPOINT_DIR)}")
    state = checkpointing.restore_state(manager, step, state_lib.state_to_dict(target))
  finally:
    manager.close()
  params = state["ema_params"] if cfg.train.ema_decay > 0 else state["params"]
  return model, {"params": params}, cfg


# ---------------------------------------------------------------------------------------------------------
# Training.


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

  Writes ``workdir/config.json``, ``workdir/model.json``, ``workdir/checkpoints/``, ``workdir/metrics.jsonl``,
  TensorBoard events in ``workdir/tb`` and sample grids ``workdir/samples/step_XXXXXX.png`` (the raw
  samples ``step_XXXXXX.npy`` for real-valued models).

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
  config_lib.validate(cfg)
  t = cfg.train
  workdir = os.path.abspath(workdir)
  is_main = jax.process_index() == 0
  if is_main:
    os.makedirs(workdir, exist_ok=True)
  checkpointing.write_json(os.path.join(workdir, CONFIG_FILE), config_lib.config_to_json(cfg))

  # Mesh: one 'data' axis over all devices.
  mesh = shd.make_mesh()
  shd.check_batch_size(t.batch_size, mesh)
  batch_sharding = shd.batch_sharding(mesh)

  # Input.
  ds = data.load(cfg.data.name, **config_lib.data_options(cfg))
  train_x = ds.train  # [N, ...]
  train_labels = ds.train_labels if cfg.model.conditional else None  # [N] or None
  if cfg.model.conditional and train_labels is None:
    raise ValueError(f"model.conditional=True but dataset {ds.name!r} has no labels")
  if ds.valid is not None:
    eval_x, eval_labels, eval_split = ds.valid, ds.valid_labels, "valid"
  else:
    eval_x, eval_labels, eval_split = ds.test, ds.test_labels, "test"
  if eval_x is not None and t.eval_max_examples:
    eval_x = eval_x[:t.eval_max_examples]
    eval_labels = None if eval_labels is None else eval_labels[:t.eval_max_examples]
  if not cfg.model.conditional:
    eval_labels = None

  # Model.
  model = create_model(cfg, ds.event_shape, ds.num_levels)
  checkpointing.write_json(os.path.join(workdir, MODEL_FILE), {
      "name": cfg.model.name, "size": cfg.model.size, "event_shape": list(ds.event_shape),
      "num_levels": ds.num_levels, "dataset": ds.name})

  # State: created in its sharding, or restored from the latest checkpoint.
  tx = optim.make_optimizer(t)
  schedule = optim.make_schedule(t)
  manager = checkpointing.make_manager(workdir, keep=t.keep_checkpoints)
  writer = metrics_lib.MetricWriter(workdir)
  try:
    start = manager.latest_step()
    if start is None:
      state = state_lib.create_train_state(model, tx, cfg.seed, mesh)
    else:
      log.info("resuming from the checkpoint at step %d in %s", start, workdir)
      target = state_lib.state_to_dict(state_lib.abstract_train_state(model, tx, mesh))
      state = state_lib.state_from_dict(checkpointing.restore_state(manager, start, target))
      if int(state.step) != start:
        raise ValueError(f"checkpoint {start} holds state.step={int(state.step)}")
    step = int(state.step)
    saved_step = step if start is not None else None

    train_step = steps.make_train_step(model, tx, schedule, t.ema_decay, mesh)
    eval_params = lambda s: s.ema_params if t.ema_decay > 0 else s.params  # noqa: E731
    sample_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), _SAMPLE_STREAM)
    num_classes = int(train_labels.max()) + 1 if train_labels is not None else 0

    def save(step: int) -> None:
      window.check()
      if not bool(steps.tree_all_finite((state.params, state.ema_params, state.opt_state))):
        raise FloatingPointError(f"non-finite parameters after step {step}; not checkpointing")
      checkpointing.save_state(manager, step, state_lib.state_to_dict(state))

    def run_eval(step: int) -> dict[str, Any]:
      if eval_x is None:
        return {}
      result = evaluate(model, {"params": eval_params(state)}, eval_x, t.eval_batch_size, eval_labels,
                        mesh=mesh)
      writer.write(step, eval_split, result)
      return result

    def save_samples(step: int) -> None:
      cond = None
      if num_classes:
        cond = np.arange(t.num_samples, dtype=np.int32) % num_classes  # [num_samples]
      xs = api.sample(model, {"params": eval_params(state)}, jax.random.fold_in(sample_key, step),
                         num_samples=t.num_samples, method=t.sample_method, cond=cond)
      xs = np.asarray(jax.device_get(xs))  # [num_samples, ...]
      if is_main and model.real_valued:  # Real vectors (RNADE): the raw array, not an image.
        os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
        np.save(os.path.join(workdir, "samples", f"step_{step:06d}.npy"), xs)
      elif is_main and images.as_images(xs) is not None:
        path = os.path.join(workdir, "samples", f"step_{step:06d}.png")
        images.save_image_grid(xs, path, ds.num_levels)

    window = _Window()
    last_train: dict[str, float] = {}
    last_eval: dict[str, Any] = {}
    stopped = False
    progress = _progress(step, t.num_steps, is_main)
    while step < t.num_steps:
      if stop_at_step is not None and step >= stop_at_step:
        stopped = True
        break
      indices = data.batch_indices(train_x.shape[0], t.batch_size, cfg.seed, step)  # [B]
      x, cond = data.global_batch((train_x, train_labels), indices, batch_sharding)
      state, step_metrics = train_step(state, x, cond)
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
      if manager.reached_preemption(step):
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
  finally:
    manager.wait_until_finished()
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


def _progress(initial: int, total: int, enabled: bool):
  from tqdm import auto as tqdm  # Imported here so the library imports without it.
  return tqdm.tqdm(initial=initial, total=total, disable=not enabled, desc="train", unit="step",
                   dynamic_ncols=True)
