"""Stage 1: training, restoring and evaluating a VQ-VAE with the library's config, data and checkpoints.

`training.train_and_evaluate` hands a config with ``model.name == 'vqvae'`` to `train_and_evaluate` here.
It reads the same locked config (``model.size`` and ``model.overrides`` build the `VQVAE`, the ``data``
and ``train`` groups mean what they mean for every model) and writes the same workdir layout
(``config.json``, ``model.json``, ``checkpoints/``, ``metrics.jsonl``), so resuming, the optimizer, the
schedule and the batching are the library's own. What differs is the state and the step:

* the state adds the codebook statistics (`quantizer.CodebookStats`), checkpointed with the rest;
* the step minimises ``-log p(x | z_q) + beta ||z_e - sg[e]||^2`` (+ ``||sg[z_e] - e||^2`` in the
  ``'loss'`` codebook mode) per image, van den Oord et al. 2017, eq. 3; in the ``'ema'`` mode it then
  sets the codebook from the moving averages (appendix A.1); in both it re-initialises dead codes.

Evaluation reports the reconstruction NLL ``-log p(x | z(x))`` (nats and bits/dim), the codebook
perplexity over the split, and how many codes were used.

Glossary: B batch, N examples, h w code map, D embedding size, K codes.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from armodels_jax import checkpointing
from armodels_jax import data
from armodels_jax.training import config as config_lib
from armodels_jax.training import images
from armodels_jax.training import loop as loop_lib
from armodels_jax.training import metrics as metrics_lib
from armodels_jax.training import optim
from armodels_jax.training import sharding as shd
from armodels_jax.training import state as state_lib
from armodels_jax.training import steps
from armodels_jax.vqvae import model as model_lib
from armodels_jax.vqvae import quantizer

__all__ = ["NAME", "create_model", "VQState", "make_train_step", "encode", "evaluate", "restore",
           "train_and_evaluate"]

log = logging.getLogger(__name__)

NAME = "vqvae"  # model.name of a stage-1 config.
_RESET_STREAM = 0xDEAD  # Folded into the step key for the dead-code draws.


def create_model(cfg: ml_collections.ConfigDict, event_shape, num_levels) -> model_lib.VQVAE:
  """The `VQVAE` of a config (``model.size`` and ``model.overrides``) for images of `event_shape`."""
  if cfg.model.dtype != "float32":
    raise ValueError(f"the VQ-VAE computes in float32; expected model.dtype='float32', got "
                     f"{cfg.model.dtype!r}")
  if num_levels is None:
    raise ValueError("a VQ-VAE models discrete pixels: expected a dataset with num_levels, got None")
  return model_lib.create(event_shape, int(num_levels), cfg.model.size, **config_lib.model_overrides(cfg))


@flax.struct.dataclass
class VQState:
  """The stage-1 train state: `state_lib.TrainState`'s fields plus the codebook statistics."""
  step: jax.Array
  params: Any
  opt_state: Any
  ema_params: Any
  rng: jax.Array
  stats: quantizer.CodebookStats


def _init_fn(model: model_lib.VQVAE, tx: optax.GradientTransformation, seed: int):
  def init() -> VQState:
    params_key, rng = jax.random.split(jax.random.PRNGKey(seed))
    x = jnp.zeros((1,) + model.event_shape, jnp.int32)
    # The initial parameters are drawn with the 'rbg' generator, seeded from the run's key: XLA on the CPU
    # compiles Flax's per-parameter threefry draws about 4x slower (12 s against 3 s for the tiny net).
    init_key = jax.random.key(jax.random.randint(params_key, (), 0, 2 ** 31 - 1), impl="rbg")
    params = model.init(init_key, x)["params"]
    return VQState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                   ema_params=jax.tree.map(jnp.copy, params), rng=rng,
                   stats=quantizer.init_stats(params["codebook"]))
  return init


def _to_dict(state: VQState) -> dict[str, Any]:
  return {"step": state.step, "params": state.params, "opt_state": state.opt_state,
          "ema_params": state.ema_params, "rng": state.rng,
          "stats": {"count": state.stats.count, "total": state.stats.total}}


def _from_dict(d: dict[str, Any]) -> VQState:
  return VQState(step=d["step"], params=d["params"], opt_state=d["opt_state"],
                 ema_params=d["ema_params"], rng=d["rng"],
                 stats=quantizer.CodebookStats(d["stats"]["count"], d["stats"]["total"]))


def _abstract_state(model, tx, mesh) -> dict[str, Any]:
  rep = shd.replicated(mesh)
  shapes = jax.eval_shape(_init_fn(model, tx, 0))
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=rep), _to_dict(shapes))


def make_train_step(model: model_lib.VQVAE, tx: optax.GradientTransformation, schedule: optax.Schedule,
                    ema_decay: float):
  """The jitted step ``(state, x) -> (state, metrics)`` on int ``x [B, H, W, C]`` (state donated).

  Metrics: ``loss`` (the minimised objective per image), ``recon_nats`` (``-log p(x | z_q)`` per image),
  ``bits_per_dim`` (of ``recon_nats``), ``commitment``, ``perplexity`` (of the batch's codes),
  ``dead_codes_reset``, ``grad_norm``, ``learning_rate``.
  """
  ema_mode = model.codebook_mode == "ema"

  def train_step(state: VQState, x: jax.Array):
    rng = jax.random.fold_in(state.rng, state.step)

    def loss_fn(params):
      out = model.apply({"params": params}, x)
      recon = -jnp.mean(out["log_px"])
      commitment = jnp.mean(out["commitment_loss"])
      loss = recon + model.beta * commitment
      if not ema_mode:
        loss = loss + jnp.mean(out["codebook_loss"])
      return loss, (out, recon, commitment)

    (loss, (out, recon, commitment)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)

    z = out["z_e"].reshape(-1, model.embedding_dim)  # [N, D]
    indices = out["indices"].reshape(-1)  # [N]
    if ema_mode:
      stats, codebook = quantizer.ema_update(state.stats, z, indices, model.codebook_decay)
    else:  # Only the usage is tracked; the codebook follows its loss.
      counts = quantizer.code_counts(indices, model.num_codes)
      d = model.codebook_decay
      stats = state.stats._replace(count=d * state.stats.count + (1.0 - d) * counts)
      codebook = params["codebook"]
    threshold = model.dead_code_fraction * z.shape[0] / model.num_codes
    codebook, stats, num_reset = quantizer.reset_dead_codes(
        codebook, stats, z, jax.random.fold_in(rng, _RESET_STREAM), threshold)
    params = {**params, "codebook": codebook}
    new_state = state.replace(
        step=state.step + 1, params=params, opt_state=opt_state, stats=stats,
        ema_params=state_lib.ema_update(state.ema_params, params, ema_decay, state.step))
    metrics = {
        "loss": loss,
        "recon_nats": recon,
        "bits_per_dim": recon / (model.num_dims * math.log(2.0)),
        "commitment": commitment,
        "perplexity": quantizer.perplexity(quantizer.code_counts(indices, model.num_codes)),
        "dead_codes_reset": num_reset.astype(jnp.float32),
        "grad_norm": optax.tree.norm(grads),
        "learning_rate": jnp.asarray(schedule(state.step), jnp.float32),
    }
    return new_state, metrics

  return jax.jit(train_step, donate_argnums=(0,))


@functools.partial(jax.jit, static_argnums=0)
def _encode_batch(model, params, x):
  return model.apply({"params": params}, x, method=model.codes)


@functools.partial(jax.jit, static_argnums=0)
def _recon_batch(model, params, x):
  codes = model.apply({"params": params}, x, method=model.codes)
  return codes, -model.apply({"params": params}, x, codes, method=model.log_px_given_codes)


def _batches(array: np.ndarray, batch_size: int):
  """Yields ``(padded batch, n_valid)``; every batch has `batch_size` rows (one compiled shape)."""
  n = array.shape[0]
  for start in range(0, n, batch_size):
    chunk = array[start:start + batch_size]
    valid = chunk.shape[0]
    if valid < batch_size:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - valid, axis=0)])
    yield chunk, valid


def _check_images(model: model_lib.VQVAE, array) -> np.ndarray:
  array = np.asarray(array)
  if array.ndim < 1 or array.shape[1:] != tuple(model.event_shape):
    raise ValueError(f"expected images of shape (N, *{tuple(model.event_shape)}), got {array.shape}")
  if array.shape[0] == 0:
    raise ValueError("expected at least one image, got N = 0")
  return data.dataset.as_level_array(array, "VQ-VAE input", model.num_levels)


def encode(model: model_lib.VQVAE, params: Any, array, batch_size: int = 256) -> np.ndarray:
  """The code maps of images: int ``[N, H, W, C]`` -> int32 ``[N, h, w]`` (nearest codes, eq. 1)."""
  array = _check_images(model, array)
  out = [np.asarray(_encode_batch(model, params, jnp.asarray(chunk)))[:valid]
         for chunk, valid in _batches(array, int(batch_size))]
  return np.concatenate(out).astype(np.int32)


def evaluate(model: model_lib.VQVAE, params: Any, array, batch_size: int = 256) -> dict[str, Any]:
  """Reconstruction NLL and codebook use over every image of `array`.

  Returns:
    ``{'nll_nats', 'bits_per_dim'}``: mean ``-log p(x | z(x))`` per image (the deterministic code map
    of the encoder), ``'perplexity'`` of the codes over the whole split, ``'codes_used'`` (distinct
    codes), ``'n'``; plus ``'codes'`` int32 ``[N, h, w]`` and ``'recon_nats'`` float64 ``[N]``.
  """
  array = _check_images(model, array)
  codes, nll = [], []
  for chunk, valid in _batches(array, int(batch_size)):
    c, r = _recon_batch(model, params, jnp.asarray(chunk))
    codes.append(np.asarray(c)[:valid])
    nll.append(np.asarray(r, np.float64)[:valid])
  codes, nll = np.concatenate(codes).astype(np.int32), np.concatenate(nll)
  if not np.all(np.isfinite(nll)):
    raise FloatingPointError("non-finite reconstruction NLL")
  counts = np.bincount(codes.reshape(-1), minlength=model.num_codes)
  mean = float(nll.mean())
  return {"nll_nats": mean, "bits_per_dim": mean / (model.num_dims * math.log(2.0)),
          "perplexity": float(quantizer.perplexity(jnp.asarray(counts, jnp.float32))),
          "codes_used": int(np.count_nonzero(counts)), "n": int(array.shape[0]),
          "codes": codes, "recon_nats": nll}


def is_vqvae_workdir(workdir: str) -> bool:
  """Whether `workdir` holds a stage-1 (VQ-VAE) run."""
  path = os.path.join(workdir, "model.json")
  return os.path.isfile(path) and checkpointing.read_json(path).get("name") == NAME


def restore(workdir: str, step: int | None = None):
  """Restores a VQ-VAE run: ``(model, params, config, step)``.

  ``params`` are the EMA (Polyak) parameters when ``train.ema_decay > 0``, else the raw ones.

  Raises:
    ValueError: `workdir` is not a VQ-VAE workdir or holds no checkpoint.
  """
  workdir = os.path.abspath(workdir)
  if not os.path.isdir(workdir):
    raise ValueError(f"VQ-VAE workdir {workdir!r} does not exist")
  if not is_vqvae_workdir(workdir):
    raise ValueError(f"expected a VQ-VAE workdir (model.json with name {NAME!r}, written by training a "
                     f"config with model.name={NAME!r}), got {workdir!r}")
  with open(os.path.join(workdir, "config.json")) as f:
    cfg = config_lib.config_from_json(f.read())
  spec = checkpointing.read_json(os.path.join(workdir, "model.json"))
  model = create_model(cfg, spec["event_shape"], spec["num_levels"])
  mesh = shd.make_mesh()
  target = _abstract_state(model, optim.make_optimizer(cfg.train), mesh)
  manager = checkpointing.make_manager(workdir, read_only=True) if os.path.isdir(
      os.path.join(workdir, checkpointing.CHECKPOINT_DIR)) else None
  if manager is None:
    raise ValueError(f"VQ-VAE workdir {workdir!r} has no checkpoints/")
  try:
    step = manager.latest_step() if step is None else step
    if step is None:
      raise ValueError(f"VQ-VAE workdir {workdir!r} has no checkpoint")
    state = checkpointing.restore_state(manager, step, target)
  finally:
    manager.close()
  params = state["ema_params"] if cfg.train.ema_decay > 0 else state["params"]
  return model, params, cfg, int(step)


def _save_reconstructions(path: str, model, params, x: np.ndarray) -> None:
  """A grid of images (odd rows) above their reconstructions (the mode of p(x | z(x)), even rows)."""
  codes = _encode_batch(model, params, jnp.asarray(x))
  recon = model.apply({"params": params}, codes, jax.random.PRNGKey(0), 0.0, method=model.sample_pixels)
  n = x.shape[0]
  cols = min(n, 8)
  rows = []
  for start in range(0, n, cols):
    rows += [x[start:start + cols], np.asarray(recon)[start:start + cols]]
  grid = np.concatenate([r for r in rows if r.shape[0] == cols])
  images.save_image_grid(grid, path, model.num_levels, ncols=cols)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       stop_at_step: int | None = None) -> dict[str, Any]:
  """Trains a VQ-VAE as `config` says, resuming from the latest checkpoint in `workdir`.

  Returns the dict of `training.train_and_evaluate` (``step``, ``train_loss``, ``train_bits_per_dim``,
  ``<split>_nll_nats``, ``<split>_bits_per_dim``, ``<split>_n``; the NLL is the reconstruction NLL) plus
  ``<split>_perplexity`` and ``<split>_codes_used``.

  Raises:
    FloatingPointError: a non-finite loss or parameters (nothing non-finite is checkpointed).
    ValueError: a bad config value.
  """
  cfg = config
  config_lib.validate(cfg)
  t = cfg.train
  shd.set_cpu_devices(int(t.cpu_devices))
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  checkpointing.write_json(os.path.join(workdir, "config.json"), config_lib.config_to_json(cfg))
  mesh = shd.make_mesh()
  shd.check_batch_size(t.batch_size, mesh)
  batch_sharding = shd.batch_sharding(mesh)
  serial = shd.one_program_at_a_time(mesh)

  ds = data.load(cfg.data.name, **config_lib.data_options(cfg))
  if len(ds.event_shape) != 3:
    raise ValueError(f"a VQ-VAE trains on images (H, W, C); dataset {ds.name!r} has events "
                     f"{ds.event_shape}")
  eval_split = "valid" if ds.valid is not None else "test"
  eval_x = ds.split(eval_split)
  if eval_x is not None and t.eval_max_examples:
    eval_x = eval_x[:t.eval_max_examples]
  model = create_model(cfg, ds.event_shape, ds.num_levels)
  checkpointing.write_json(os.path.join(workdir, "model.json"), {
      "name": NAME, "size": cfg.model.size, "event_shape": list(ds.event_shape),
      "num_levels": ds.num_levels, "num_codes": model.num_codes, "code_shape": list(model.code_shape),
      "dataset": ds.name, "info": ds.info})

  tx = optim.make_optimizer(t)
  schedule = optim.make_schedule(t)
  manager = checkpointing.make_manager(workdir, keep=t.keep_checkpoints)
  writer = metrics_lib.MetricWriter(workdir)
  try:
    start = manager.latest_step()
    if start is None:
      state = jax.jit(_init_fn(model, tx, cfg.seed), out_shardings=shd.replicated(mesh))()
    else:
      log.info("resuming from the checkpoint at step %d in %s", start, workdir)
      state = _from_dict(checkpointing.restore_state(manager, start,
                                                     _abstract_state(model, tx, mesh)))
    step = int(state.step)
    train_step = make_train_step(model, tx, schedule, float(t.ema_decay))
    eval_params = lambda s: s.ema_params if t.ema_decay > 0 else s.params  # noqa: E731
    pending: list[dict[str, jax.Array]] = []
    last_train: dict[str, float] = {}
    last_eval: dict[str, Any] = {}
    stopped = False

    def flush() -> dict[str, float]:
      fetched = jax.device_get(pending)
      pending.clear()
      for m in fetched:
        if not (math.isfinite(float(m["loss"])) and math.isfinite(float(m["grad_norm"]))):
          raise FloatingPointError(f"non-finite VQ-VAE training loss {float(m['loss'])}")
      return {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]} if fetched else {}

    def save(step: int) -> None:
      if not bool(steps.tree_all_finite((state.params, state.ema_params, state.opt_state))):
        raise FloatingPointError(f"non-finite VQ-VAE parameters after step {step}; not checkpointing")
      checkpointing.save_state(manager, step, _to_dict(state))

    progress = loop_lib._progress(step, t.num_steps, jax.process_index() == 0)  # pylint: disable=protected-access
    while step < t.num_steps:
      if stop_at_step is not None and step >= stop_at_step:
        stopped = True
        break
      indices = data.batch_indices(ds.train.shape[0], t.batch_size, cfg.seed, step)
      x = data.global_batch(ds.train, indices, batch_sharding)
      state, metrics = train_step(state, x)
      if serial:  # Several CPU devices of this process: one step in flight (shd.one_program_at_a_time).
        jax.block_until_ready(metrics)
      pending.append(metrics)
      step += 1
      progress.update(1)
      last = step == t.num_steps
      if last or (t.log_every and step % t.log_every == 0):
        last_train = flush()
        writer.write(step, "train", last_train)
        progress.set_postfix(loss=f"{last_train['loss']:.4g}", bpd=f"{last_train['bits_per_dim']:.4f}",
                             perplexity=f"{last_train['perplexity']:.1f}")
      if last or (t.checkpoint_every and step % t.checkpoint_every == 0):
        save(step)
      if eval_x is not None and (last or (t.eval_every and step % t.eval_every == 0)):
        last_eval = evaluate(model, eval_params(state), eval_x, t.eval_batch_size)
        writer.write(step, eval_split, {k: v for k, v in last_eval.items()
                                        if k not in ("codes", "recon_nats")})
      if t.sample_every and (last or step % t.sample_every == 0):
        _save_reconstructions(os.path.join(workdir, "samples", f"recon_{step:06d}.png"), model,
                              eval_params(state), np.asarray((eval_x if eval_x is not None
                                                              else ds.train)[:t.num_samples]))
    progress.close()
    if pending:
      flush()
  finally:
    manager.wait_until_finished()
    manager.close()
    writer.close()

  result: dict[str, Any] = {"step": step, "train_loss": last_train.get("loss"),
                            "train_bits_per_dim": last_train.get("bits_per_dim")}
  if stopped:
    result["stopped"] = True
  if last_eval:
    for k in ("nll_nats", "bits_per_dim", "n", "perplexity", "codes_used"):
      result[f"{eval_split}_{k}"] = last_eval[k]
  return result
