"""The public functional API: ``init``, ``log_prob``, ``sample``, ``bits_per_dim``.

Every public function validates its inputs on the host and raises ``ValueError``
naming what was expected and what came, before anything is traced. The
traceable :func:`log_prob_fn` skips the checks; training uses it inside ``jit``.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.models.base import ARModel
from armodels_jax.sampling import samplers

SAMPLE_METHODS = ("naive", "cached")


def _check_model(model: Any) -> None:
  if not isinstance(model, ARModel):
    raise ValueError(
        f"expected a model from armodels_jax.models.create, got {type(model).__name__}")


def _check_variables(variables: Any) -> None:
  if not isinstance(variables, dict) or "params" not in variables:
    raise ValueError(
        "expected variables as a dict with a 'params' entry (from arm.init), got "
        f"{type(variables).__name__}"
        + (f" with keys {sorted(variables)}" if isinstance(variables, dict) else ""))


def check_input(model: ARModel, x: Any, name: str = "x") -> np.ndarray:
  """Validates a batch ``[B, *event_shape]`` on the host.

  Discrete models take integer levels in ``[0, num_levels)``; real-valued
  models (``model.real_valued``, RNADE) take finite real numbers.

  Returns:
    the batch as an int32 (float32 for real-valued models) NumPy array.

  Raises:
    ValueError: wrong rank or shape, a float or other non-integer dtype, NaN,
      or a value outside ``[0, num_levels)``; for real-valued models a
      non-numeric dtype, NaN or inf.
  """
  arr = np.asarray(x)
  expected = "(B, " + ", ".join(str(s) for s in model.event_shape) + ")"
  if arr.ndim != len(model.event_shape) + 1 or arr.shape[1:] != model.event_shape:
    raise ValueError(f"expected {name} of shape {expected}, got shape {arr.shape}")
  if arr.shape[0] == 0:
    raise ValueError(f"expected a non-empty batch {name} of shape {expected}, got shape {arr.shape}")
  if model.real_valued:
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
      raise ValueError(f"expected {name} with a real (float) dtype, got {arr.dtype}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
      bad = "NaN" if np.isnan(arr).any() else "inf"
      raise ValueError(f"expected finite real values in {name}, got {bad}")
    return arr
  if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating):
    nan = " containing NaN" if np.isnan(arr).any() else ""
    raise ValueError(
        f"expected {name} with an integer dtype (levels 0..{model.num_levels - 1}), "
        f"got {arr.dtype}{nan}; cast with x.astype(np.int32) if the values are levels")
  if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
    raise ValueError(f"expected {name} with an integer dtype, got {arr.dtype}")
  low, high = int(arr.min()), int(arr.max())
  if low < 0 or high >= model.num_levels:
    raise ValueError(
        f"expected {name} values in [0, {model.num_levels}), got values in [{low}, {high}]")
  return arr.astype(np.int32)


def init(model: ARModel, key: jax.Array, cond: Any = None) -> dict:
  """Initial variables ``{'params': ...}``; pure, needs no data."""
  _check_model(model)
  model.check_request(cond=cond)
  x = jnp.zeros((1,) + model.event_shape, model.value_dtype)
  # Float32 parameters whatever the compute dtype (the float32 clone has the same parameters).
  variables = jax.jit(model.as_float32().init)(key, x, cond)
  return {"params": variables["params"]}


def log_prob_fn(model: ARModel, variables: dict, x: jnp.ndarray, cond: Any = None, *,
                reduce: bool = True, train: bool = False,
                rng: Optional[jax.Array] = None,
                rngs: Optional[dict] = None) -> jnp.ndarray:
  """Traceable log-likelihood in nats (no validation; for use inside ``jit``).

  Args:
    model: the model.
    variables: ``{'params': ...}``.
    x: ``[B, *event_shape]`` int.
    cond: conditioning input or None.
    reduce: sum over dimensions (``[B]``) or keep them (``[B, *event_shape]``).
    train: training-time behaviour (a MADE draws one mask set from ``rng``).
    rng: PRNG key, required when ``train`` (unless `rngs` is given).
    rngs: the streams themselves (``{"masks": key, "dropout": key}``) instead of `rng`, which
      derives them by one split.

  With ``model.dtype="bfloat16"`` the network computes in bfloat16 on the
  float32 parameters cast (differentiably) to bfloat16; the result is float32.
  """
  if rngs is None and rng is not None:
    mask_key, dropout_key = jax.random.split(rng)
    rngs = {"masks": mask_key, "dropout": dropout_key}
  if rngs is None:
    if train:
      raise ValueError("log_prob_fn(train=True) needs rng")
    rngs = {}
  # Mixed precision: the network computes with parameters cast to the model's compute dtype;
  # the gradient flows back through the cast to the float32 parameters.
  params = model.compute_params(variables["params"])
  return model.apply({"params": params}, x, cond, train, reduce,
                     method=model.log_prob, rngs=rngs)


_log_prob_jit = jax.jit(log_prob_fn, static_argnames=("model", "reduce", "train"))


def log_prob(model: ARModel, variables: dict, x: Any, cond: Any = None, *,
             reduce: bool = True) -> jnp.ndarray:
  """Exact log-likelihood of a batch, in nats.

  Args:
    model: from :func:`armodels_jax.models.create`.
    variables: from :func:`init` (or a checkpoint).
    x: ``[B, *event_shape]`` integer levels in ``[0, num_levels)``.
    cond: conditioning input of a conditional model, else None.
    reduce: ``True`` gives ``[B]``; ``False`` the conditional log-probability of
      every dimension, ``[B, *event_shape]`` (they sum to the total).

  Returns:
    float32 ``[B]`` or ``[B, *event_shape]``.
  """
  _check_model(model)
  _check_variables(variables)
  if not isinstance(reduce, bool):
    raise ValueError(f"expected reduce True or False, got {reduce!r}")
  model.check_request(reduce=reduce, cond=cond)
  x = check_input(model, x)
  return _log_prob_jit(model, variables, jnp.asarray(x), cond, reduce=reduce)


def bits_per_dim(logp: Any, event_shape: tuple[int, ...]) -> Any:
  """Negative log-likelihood in bits per dimension: ``-logp / (D ln 2)``."""
  num_dims = math.prod(event_shape)
  if len(event_shape) == 0 or num_dims < 1:
    raise ValueError(f"expected a non-empty event_shape, got {event_shape}")
  return -jnp.asarray(logp) / (num_dims * math.log(2.0))


def sample(model: ARModel, variables: dict, key: jax.Array, num_samples: int = 16, *,
           method: str = "cached", cond: Any = None, temperature: float = 1.0,
           prefix: Any = None, prefix_len: int = 0) -> jnp.ndarray:
  """Draws samples, or completes a prefix.

  Args:
    model, variables: as for :func:`log_prob`.
    key: PRNG key; the same key gives the same samples with either method.
    num_samples: B.
    method: ``"cached"`` (per-layer caches, a ``lax.scan`` over positions) or
      ``"naive"`` (a full forward pass per position). A model without a decode
      path runs the naive sampler for both (every registry model has one).
    cond: conditioning input of a conditional model.
    temperature: ``> 0`` divides the logits; ``0`` takes the most likely value.
    prefix: ``[B, *event_shape]`` integer levels; its first ``prefix_len``
      dimensions in the model's sampling order (raster order for images) are
      kept and the rest sampled.
    prefix_len: ``0 <= prefix_len <= D``.

  Returns:
    int32 ``[B, *event_shape]`` (float32 for real-valued models).
  """
  _check_model(model)
  _check_variables(variables)
  if method not in SAMPLE_METHODS:
    raise ValueError(f"unknown sampling method {method!r}; expected one of {list(SAMPLE_METHODS)}")
  if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) or num_samples < 1:
    raise ValueError(f"expected num_samples as a positive int, got {num_samples!r}")
  if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature < 0:
    raise ValueError(f"expected a finite temperature >= 0, got {temperature!r}")
  if (not isinstance(prefix_len, (int, np.integer)) or isinstance(prefix_len, bool)
      or not 0 <= prefix_len <= model.num_dims):
    raise ValueError(f"expected prefix_len an int in [0, {model.num_dims}], got {prefix_len!r}")
  if prefix_len and prefix is None:
    raise ValueError(f"prefix_len={prefix_len} needs a prefix array, got prefix=None")
  if prefix is not None:
    prefix = check_input(model, prefix, name="prefix")
    if prefix.shape[0] != num_samples:
      raise ValueError(
          f"expected prefix with num_samples={num_samples} rows, got {prefix.shape[0]}")
  else:  # one compiled sampler serves calls with and without a prefix
    prefix = np.zeros((num_samples,) + model.event_shape, model.value_dtype)
  prefix = jnp.asarray(prefix)
  model.check_request(prefix_len=int(prefix_len), cond=cond)
  fn = samplers.sample_cached if method == "cached" and model.has_decode else samplers.sample_naive
  return fn(model, variables, key, int(num_samples), cond, float(temperature),
            prefix, jnp.int32(prefix_len))
