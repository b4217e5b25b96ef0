"""Jit-compiled train and eval steps.

Glossary of dimension letters: B the global batch, D the number of event dimensions
(``prod(event_shape)``), ``...`` the event shape.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, PartitionSpec as P

from armodels_jax.api import bits_per_dim, log_prob_fn
from armodels_jax.training import sharding as shd
from armodels_jax.training import state as state_lib
from armodels_jax.training.state import TrainState, ema_update

__all__ = ["make_train_step", "eval_sums", "eval_carry_sums", "tree_all_finite"]


def _rngs(rng: jax.Array, shard: jax.Array | None = None) -> dict[str, jax.Array]:
  """The per-step streams, as `api.log_prob_fn` derives them from `rng`.

  With `shard` (the index of this device's slice of the batch), the dropout stream is folded with it,
  so the slices draw different dropout noise; the ``masks`` stream (one MADE mask set per step) stays
  the same on every device.
  """
  mask_key, dropout_key = jax.random.split(rng)
  if shard is not None:
    dropout_key = jax.random.fold_in(dropout_key, shard)
  return {"masks": mask_key, "dropout": dropout_key}


def make_train_step(
    model: Any,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    ema_decay: float,
    mesh: Mesh,
    *,
    tbptt: bool = False,
) -> Callable[..., tuple[TrainState, dict[str, jax.Array]]]:
  """Builds the jitted update step ``(state, x, cond) -> (state, metrics)``.

  The step donates `state`, draws its randomness from ``fold_in(state.rng, state.step)``, minimises the
  mean negative log-likelihood in nats, applies the optimizer and updates the EMA.

  On a mesh of more than one device the loss and gradient run under ``jax.shard_map``: each device
  differentiates the mean over its own slice of the batch, and one ``pmean`` over ``'data'`` averages
  the losses and gradients (the global mean, since the slices are equal). Nothing inside the model is
  partitioned by the compiler, which matters for the models whose likelihood is a scan over dimensions
  (NADE, the LSTMs): partitioned automatically, NADE's scan reduced its weight gradient across the
  devices at every one of its 784 steps (0.196 s a step on two CPU devices against 0.022 s on one,
  BENCHMARKS.md). Each device draws its own dropout noise (`_rngs`).

  With ``tbptt`` (a stateful model) the step is ``(state, x, cond, reset) -> (state, metrics)``: the
  window ``x`` continues from ``state.carry`` (from ``model.initial_carry(B)`` instead when the bool
  scalar ``reset`` is true), the gradient flows within the window only (truncated backpropagation through
  time), and the carry after the window is stored in the new state.

  Args:
    model: a model from ``arm.models.create``.
    tx: the optimizer.
    schedule: the learning-rate schedule (reported in the metrics).
    ema_decay: Polyak decay; 0 keeps ``ema_params == params``.
    mesh: the device mesh; the state comes back replicated on it (the carry sharded along the batch).
    tbptt: carry the model's state between steps (see above).

  Returns:
    ``train_step(state, x, cond[, reset])`` with ``x`` int [B, ...] sharded over ``'data'`` and ``cond``
    None or [B, ...]; metrics ``loss`` (nats per example), ``bits_per_dim``, ``grad_norm``,
    ``learning_rate`` (float32 scalars, replicated).
  """
  replicated = shd.replicated(mesh)
  if tbptt and not getattr(model, "stateful", False):
    raise ValueError(f"tbptt needs a stateful model (with initial_carry and log_prob_carry), got "
                     f"{type(model).__name__}")
  parallel = mesh.devices.size > 1

  def loss_and_grads(params, x, cond, rng, carry, reset):
    """``(loss, new_carry, grads)`` of the batch it is given (one device's slice under shard_map)."""
    shard = jax.lax.axis_index(shd.DATA_AXIS) if parallel else None
    rngs = _rngs(rng, shard)
    if tbptt:
      fresh = model.initial_carry(x.shape[0])
      carry = jax.tree.map(lambda a, b: jnp.where(reset, a, b), fresh, carry)

      def loss_fn(params):
        per_dim, new_carry = model.apply({"params": params}, x, carry, True, cond,
                                         method=model.log_prob_carry, rngs=rngs)  # [B, T]
        return -jnp.mean(per_dim.reshape(per_dim.shape[0], -1).sum(-1)), new_carry
    else:
      def loss_fn(params):
        logp = log_prob_fn(model, {"params": params}, x, cond, train=True, rngs=rngs)  # [B]
        return -jnp.mean(logp), carry

    (loss, new_carry), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    if parallel:
      loss, grads = jax.lax.pmean((loss, grads), shd.DATA_AXIS)
    return loss, new_carry, grads

  if parallel:
    batch = P(shd.DATA_AXIS)
    in_specs = (P(), batch, batch, P(), batch, P())  # a spec is a prefix: it covers a pytree (or None)
    # check_vma=False: the gradient of the replicated parameters is each device's own, averaged by the
    # explicit pmean above (the models' scans start from constants, which the typed mode rejects).
    loss_and_grads = jax.shard_map(loss_and_grads, mesh=mesh, in_specs=in_specs,
                                   out_specs=(P(), batch, P()), check_vma=False)

  def train_step(state: TrainState, x: jax.Array, cond: jax.Array | None, reset=None):
    rng = jax.random.fold_in(state.rng, state.step)
    reset = jnp.asarray(False) if reset is None else reset
    loss, carry, grads = loss_and_grads(state.params, x, cond, rng, state.carry, reset)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(
        step=state.step + 1,
        params=params,
        opt_state=opt_state,
        ema_params=ema_update(state.ema_params, params, ema_decay, state.step),
        carry=carry if tbptt else state.carry,
    )
    metrics = {
        "loss": loss,
        "bits_per_dim": bits_per_dim(-loss, model.event_shape),
        "grad_norm": optax.tree.norm(grads),
        "learning_rate": jnp.asarray(schedule(state.step), jnp.float32),
    }
    return new_state, metrics

  return jax.jit(train_step, donate_argnums=(0,),
                 out_shardings=(state_lib.state_shardings(mesh), replicated))


@functools.partial(jax.jit, static_argnames=("model",))
def eval_sums(model: Any, variables: Any, x: jax.Array, cond: jax.Array | None,
              num_valid: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Sum of the negative log-likelihood over the first `num_valid` rows of a (padded) batch.

  Args:
    model: the model (static).
    variables: ``{'params': ...}``.
    x: int [B, ...], rows at and after `num_valid` are padding.
    cond: None or [B, ...].
    num_valid: int32 scalar.

  Returns:
    ``(nll_sum, count)`` float32 scalars, nats.
  """
  logp = log_prob_fn(model, variables, x, cond, train=False)  # [B]
  valid = jnp.arange(x.shape[0]) < num_valid  # [B]
  nll = jnp.where(valid, -logp.astype(jnp.float32), 0.0)
  return jnp.sum(nll), jnp.sum(valid.astype(jnp.float32))


@functools.partial(jax.jit, static_argnames=("model",))
def eval_carry_sums(model: Any, variables: Any, x: jax.Array, carry: Any, cond: Any,
                    valid: jax.Array) -> tuple[jax.Array, jax.Array, Any]:
  """One window of every eval stream of a stateful model: the NLL summed over the valid rows.

  Args:
    model: a stateful model (static).
    variables: ``{'params': ...}``.
    x: int [B, ...], one window per stream; the rows where `valid` is false are padding.
    carry: the streams' carry before the window.
    cond: None or [B, ...].
    valid: bool [B].

  Returns:
    ``(nll_sum, count, new_carry)``: float32 scalars (nats; count of valid rows) and the carry after
    the window.
  """
  per_dim, new_carry = model.apply({"params": variables["params"]}, x, carry, False, cond,
                                   method=model.log_prob_carry)  # [B, ...]
  nll = -per_dim.reshape(per_dim.shape[0], -1).sum(-1).astype(jnp.float32)  # [B]
  nll = jnp.where(valid, nll, 0.0)
  return jnp.sum(nll), jnp.sum(valid.astype(jnp.float32)), new_carry


@jax.jit
def tree_all_finite(tree: Any) -> jax.Array:
  """True when every floating leaf of `tree` is finite (a bool scalar)."""
  leaves = [jnp.all(jnp.isfinite(l)) for l in jax.tree.leaves(tree)
            if jnp.issubdtype(l.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)
