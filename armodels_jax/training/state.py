"""The train state: step, parameters, optimizer state, Polyak (EMA) parameters, the root RNG key, and
the recurrent carry of a truncated-BPTT run.

Everything that decides the rest of a run lives here, so a checkpoint of it resumes the run exactly.
Every leaf is replicated over the mesh except the carry, which is sharded along its batch axis like the
batches.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from armodels_jax import api
from armodels_jax.training import sharding as shd

__all__ = ["TrainState", "create_train_state", "abstract_train_state", "state_shardings", "ema_update",
           "state_to_dict", "state_from_dict"]


@flax.struct.dataclass
class TrainState:
  """Train state (a pytree).

  Attributes:
    step: int32 scalar, the number of completed optimizer steps (also the schedule position).
    params: the model parameters (the ``'params'`` collection).
    opt_state: the optax state.
    ema_params: Polyak average of `params` (equal to `params` when ``ema_decay == 0``).
    rng: uint32 [2] root key of the run; step ``s`` uses ``fold_in(rng, s)``.
    carry: the model's recurrent state after the last step of a truncated-BPTT run
      (``model.initial_carry(batch_size)``'s structure, every leaf ``[B, ...]``); ``{}`` otherwise.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  ema_params: Any
  rng: jax.Array
  carry: Any = dataclasses.field(default_factory=dict)


def ema_update(ema: Any, params: Any, decay: float, step: Any) -> Any:
  """Polyak averaging, ``d * ema + (1 - d) * params`` leaf by leaf, with a warm-up of the decay.

  ``d = min(decay, (1 + step) / (10 + step))`` (the ``num_updates`` rule of TensorFlow's
  ExponentialMovingAverage): early on the average forgets quickly, so an evaluation at step t does
  not carry a weight of ``decay ** t`` on the random initial parameters (8% at t = 5,000 for a
  decay of 0.9995). ``decay = 0`` copies the parameters.

  Args:
    ema: the average so far.
    params: the parameters after the update of step ``step`` (0-based).
    decay: the target decay in ``[0, 1)``.
    step: the step number, an int scalar (traced or not).
  """
  if decay == 0.0:
    return params
  step = jnp.asarray(step, jnp.float32)
  d = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
  return jax.tree.map(lambda e, p: (d * e + (1.0 - d) * p).astype(e.dtype), ema, params)


def _init_fn(model: Any, tx: optax.GradientTransformation, seed: int,
             carry_batch_size: int = 0) -> Callable[[], TrainState]:
  def init() -> TrainState:
    root = jax.random.PRNGKey(seed)
    params_key, rng = jax.random.split(root)
    params = api.init(model, params_key)["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=tx.init(params),
        ema_params=jax.tree.map(jnp.copy, params),
        rng=rng,
        carry=model.initial_carry(carry_batch_size) if carry_batch_size else {},
    )

  return init


def state_shardings(mesh: Mesh) -> TrainState:
  """The shardings of a `TrainState` as a pytree prefix (for ``jax.jit``'s ``out_shardings``): every
  field replicated, the carry's leaves sharded along their leading (batch) axis."""
  rep = shd.replicated(mesh)
  return TrainState(step=rep, params=rep, opt_state=rep, ema_params=rep, rng=rep,
                    carry=shd.batch_sharding(mesh))


def _check_carry_batch(model: Any, carry_batch_size: int) -> None:
  if carry_batch_size and not getattr(model, "stateful", False):
    raise ValueError(f"a carry needs a stateful model (with initial_carry and log_prob_carry), got "
                     f"{type(model).__name__}")


def create_train_state(model: Any, tx: optax.GradientTransformation, seed: int, mesh: Mesh, *,
                       carry_batch_size: int = 0) -> TrainState:
  """Initialises the train state directly in its sharding on `mesh`.

  Args:
    model: a model from ``arm.models.create``.
    tx: the optimizer.
    seed: the run's root seed; parameters use one half of ``split(PRNGKey(seed))``, the per-step RNG the
      other.
    mesh: the device mesh.
    carry_batch_size: B > 0 for truncated BPTT: the state holds ``model.initial_carry(B)``, sharded
      along the batch; 0 (default): ``carry = {}``.

  Returns:
    The initial `TrainState`, every leaf replicated over `mesh` but the carry's.
  """
  _check_carry_batch(model, carry_batch_size)
  init = _init_fn(model, tx, seed, carry_batch_size)
  return jax.jit(init, out_shardings=state_shardings(mesh))()


def abstract_train_state(model: Any, tx: optax.GradientTransformation, mesh: Mesh, *,
                         carry_batch_size: int = 0) -> TrainState:
  """The state's shapes, dtypes and shardings (``jax.ShapeDtypeStruct`` leaves), computing nothing.

  ``carry_batch_size`` as for `create_train_state`.
  """
  _check_carry_batch(model, carry_batch_size)
  shapes = jax.eval_shape(_init_fn(model, tx, 0, carry_batch_size))
  rep, batch = shd.replicated(mesh), shd.batch_sharding(mesh)

  def abstract(tree, sharding):
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), tree)

  return abstract(shapes.replace(carry={}), rep).replace(carry=abstract(shapes.carry, batch))


def state_to_dict(state: TrainState) -> dict[str, Any]:
  """The state as a plain dict (the layout stored in checkpoints; ``'carry'`` only when there is one, so
  checkpoints of other runs keep the layout they always had)."""
  d = {"step": state.step, "params": state.params, "opt_state": state.opt_state,
       "ema_params": state.ema_params, "rng": state.rng}
  if jax.tree.leaves(state.carry):
    d["carry"] = state.carry
  return d


def state_from_dict(d: dict[str, Any]) -> TrainState:
  """Inverse of `state_to_dict`."""
  return TrainState(step=d["step"], params=d["params"], opt_state=d["opt_state"],
                    ema_params=d["ema_params"], rng=d["rng"], carry=d.get("carry", {}))
