"""Stage 1 of VQ-VAE + prior as a task of the one trainer: the VQ-VAE's state, step and evaluation.

``training.train_and_evaluate`` runs a config with ``model.name == 'vqvae'`` as `Stage1Task` with
``training.trainer.train``, so a VQ-VAE run has every guarantee of ``armodels train``: the workdir lock,
``files.json`` and the damaged-checkpoint fallback, the SIGTERM save, the divergence stop. It reads the same
locked config (``model.size`` and ``model.overrides`` build the `VQVAE`, the ``data`` and ``train``
groups mean what they mean for every model) and writes the same workdir layout. What differs is the state
and the step:

* the state adds the codebook statistics (`quantizer.CodebookStats`), checkpointed with the rest;
* the step minimises ``-log p(x | z_q) + beta ||z_e - sg[e]||^2`` (+ ``||sg[z_e] - e||^2`` in the
  ``'loss'`` codebook mode) per image, van den Oord et al. 2017, eq. 3; in the ``'ema'`` mode it then
  sets the codebook from the moving averages (appendix A.1); in both it re-initialises dead codes.

A VQ-VAE cannot honour ``train.tbptt``, ``train.perturb_rate``, ``train.init_from`` or
``model.conditional``: each is a ValueError naming the field (``trainer.check_fields``).

Evaluation reports the reconstruction NLL ``-log p(x | z(x))`` (nats and bits/dim), the codebook
perplexity over the split, and how many codes were used (``vqvae.stage1.evaluate``).

Glossary: B batch, N examples, h w code map, D embedding size, K codes.
"""

from __future__ import annotations

import math
import os
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from armodels_jax import data
from armodels_jax import outputs
from armodels_jax.training import config as config_lib
from armodels_jax.training import optim
from armodels_jax.training import sharding as shd
from armodels_jax.training import state as state_lib
from armodels_jax.training import trainer
from armodels_jax.vqvae import model as model_lib
from armodels_jax.vqvae import quantizer
from armodels_jax.vqvae import stage1
from armodels_jax.vqvae.stage1 import NAME, create_model, encode, evaluate, is_vqvae_workdir, restore

__all__ = ["NAME", "create_model", "VQState", "make_train_step", "encode", "evaluate", "restore",
           "is_vqvae_workdir", "Stage1Task", "train_and_evaluate"]

_RESET_STREAM = 0xDEAD  # Folded into the step key for the dead-code draws.


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


def _save_reconstructions(path: str, model, params, x: np.ndarray) -> None:
  """A grid of images (odd rows) above their reconstructions (the mode of p(x | z(x)), even rows)."""
  codes = stage1._encode_batch(model, params, jnp.asarray(x))
  recon = model.apply({"params": params}, codes, jax.random.PRNGKey(0), 0.0, method=model.sample_pixels)
  n = x.shape[0]
  cols = min(n, 8)
  rows = []
  for start in range(0, n, cols):
    rows += [x[start:start + cols], np.asarray(recon)[start:start + cols]]
  grid = np.concatenate([r for r in rows if r.shape[0] == cols])
  outputs.save_image_grid(grid, path, model.num_levels, ncols=cols)


class Stage1Task:
  """Stage 1 of VQ-VAE + prior (`trainer.Task`)."""

  name = "VQ-VAE (stage 1)"
  honours = frozenset()

  def build(self, cfg: ml_collections.ConfigDict, workdir: str, mesh: Any) -> trainer.Run:
    t = cfg.train
    batch_sharding = shd.batch_sharding(mesh)
    ds = data.load(cfg.data.name, **config_lib.data_options(cfg))
    if len(ds.event_shape) != 3:
      raise ValueError(f"a VQ-VAE trains on images (H, W, C); dataset {ds.name!r} has events "
                       f"{ds.event_shape}")
    eval_split = "valid" if ds.valid is not None else "test"
    eval_x = ds.split(eval_split)
    if eval_x is not None and t.eval_max_examples:
      eval_x = eval_x[:t.eval_max_examples]
    model = create_model(cfg, ds.event_shape, ds.num_levels)
    model_info = {"name": NAME, "size": cfg.model.size, "event_shape": list(ds.event_shape),
                  "num_levels": ds.num_levels, "num_codes": model.num_codes,
                  "code_shape": list(model.code_shape), "dataset": ds.name, "info": ds.info}
    tx = optim.make_optimizer(t)
    update = make_train_step(model, tx, optim.make_schedule(t), float(t.ema_decay))
    eval_params = lambda s: s.ema_params if t.ema_decay > 0 else s.params  # noqa: E731

    def train_step(state, step: int):
      indices = data.batch_indices(ds.train.shape[0], t.batch_size, cfg.seed, step)
      return update(state, data.global_batch(ds.train, indices, batch_sharding))

    def run_eval(state) -> dict[str, Any]:
      m = evaluate(model, eval_params(state), eval_x, t.eval_batch_size)
      return {k: v for k, v in m.items() if k not in ("codes", "recon_nats")}

    def write_samples(state, step: int) -> None:
      if jax.process_index() == 0:
        _save_reconstructions(os.path.join(workdir, "samples", f"recon_{step:06d}.png"), model,
                              eval_params(state), np.asarray((eval_x if eval_x is not None
                                                              else ds.train)[:t.num_samples]))

    return trainer.Run(
        model_info=model_info,
        init_state=lambda: jax.jit(_init_fn(model, tx, cfg.seed), out_shardings=shd.replicated(mesh))(),
        abstract_state=_abstract_state(model, tx, mesh),
        to_dict=_to_dict,
        from_dict=_from_dict,
        train_step=train_step,
        evaluate=run_eval if eval_x is not None else None,
        eval_split=eval_split,
        write_samples=write_samples,
        summary_keys=None,
        progress_keys={"loss": ("loss", ".4g"), "bpd": ("bits_per_dim", ".4f"),
                       "perplexity": ("perplexity", ".1f")},
        result_keys=("nll_nats", "bits_per_dim", "n", "perplexity", "codes_used"))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       stop_at_step: int | None = None) -> dict[str, Any]:
  """Trains a VQ-VAE as `config` says (``trainer.train(Stage1Task(), ...)``), resuming from the newest
  intact checkpoint in `workdir`.

  Returns the dict of `training.train_and_evaluate` (``step``, ``train_loss``, ``train_bits_per_dim``,
  ``<split>_nll_nats``, ``<split>_bits_per_dim``, ``<split>_n``; the NLL is the reconstruction NLL) plus
  ``<split>_perplexity`` and ``<split>_codes_used``.
  """
  return trainer.train(Stage1Task(), config, workdir, stop_at_step=stop_at_step)
