"""The train state: step, parameters, optimizer state, Polyak (EMA) parameters and the root RNG key.

Everything that decides the rest of a run lives here, so a checkpoint of it resumes the run exactly.
"""

from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from armodels_jax import api
from armodels_jax.training import sharding as shd

__all__ = ["TrainState", "create_train_state", "abstract_train_state", "ema_update", "state_to_dict",
           "state_from_dict"]


@flax.struct.dataclass
class TrainState:
  """Train state (a pytree).

  Attributes:
    step: int32 scalar, the number of completed optimizer steps (also the schedule position).
    params: the model parameters (the ``'params'`` collection).
    opt_state: the optax state.
    ema_params: Polyak average of `params` (equal to `params` when ``ema_decay == 0``).
    rng: uint32 [2] root key of the run; step ``s`` uses ``fold_in(rng, s)``.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  ema_params: Any
  rng: jax.Array


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


def _init_fn(model: Any, tx: optax.GradientTransformation, seed: int) -> Callable[[], TrainState]:
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
    )

  return init


def create_train_state(model: Any, tx: optax.GradientTransformation, seed: int, mesh: Mesh) -> TrainState:
  """Initialises the train state directly in its (replicated) sharding on `mesh`.

  Args:
    model: a model from ``arm.models.create``.
    tx: the optimizer.
    seed: the run's root seed; parameters use one half of ``split(PRNGKey(seed))``, the per-step RNG the
      other.
    mesh: the device mesh.

  Returns:
    The initial `TrainState`, every leaf replicated over `mesh`.
  """
  return jax.jit(_init_fn(model, tx, seed), out_shardings=shd.replicated(mesh))()


def abstract_train_state(model: Any, tx: optax.GradientTransformation, mesh: Mesh) -> TrainState:
  """The state's shapes, dtypes and shardings (``jax.ShapeDtypeStruct`` leaves), computing nothing."""
  shapes = jax.eval_shape(_init_fn(model, tx, 0))
  sharding = shd.replicated(mesh)
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)


def state_to_dict(state: TrainState) -> dict[str, Any]:
  """The state as a plain dict (the layout stored in checkpoints)."""
  return {"step": state.step, "params": state.params, "opt_state": state.opt_state,
          "ema_params": state.ema_params, "rng": state.rng}


def state_from_dict(d: dict[str, Any]) -> TrainState:
  """Inverse of `state_to_dict`."""
  return TrainState(step=d["step"], params=d["params"], opt_state=d["opt_state"],
                    ema_params=d["ema_params"], rng=d["rng"])
