"""The naive reference sampler and the cached ``lax.scan`` sampler.

Both draw dimension t (the t-th step of the model's order) with the key
``jax.random.fold_in(key, t)`` and the same head function, so for the same key
they return the same samples whenever the cached step computes the same
conditionals as the full pass -- which is what the tests check.

* naive: a full forward pass of the model per step (``D`` passes), the
  reference every model has. Prefix steps are copied, not recomputed.
* cached: a ``decode=True`` clone of the model processes one dimension per step
  inside ``lax.scan``, threading ``{'params', 'cache'}`` with
  ``mutable=['cache']`` (Flax's autoregressive-decoding convention). It visits
  every step, prefix steps included, because they fill the caches. The draws'
  noise (``head.noise`` of ``fold_in(key, t)``, the values the head's
  ``sample`` draws) is drawn for a chunk of steps at once, before they run
  (:func:`_noise_chunk`).

A per-example plan (``model.sampling_plan``) gives each example its order and
extra call arguments (MADE, EoNADE: a mask set or ordering drawn per example,
with the key ``fold_in(key, D)``, a step index no dimension uses). Both
samplers follow it; the cached one passes the call arguments to
``decode_step``. Real-valued models (RNADE) sample on a float32 canvas.

Precision: both samplers and :func:`cached_conditionals` run
``model.as_float32()``, the float32 clone of a mixed-precision
(``dtype="bfloat16"``) model, on its float32 parameters: sampling computes in
float32, so cached and naive sampling agree exactly as for a float32 model.

Dimensions: B batch (num_samples), D = prod(event_shape), P raw parameters.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from armodels_jax.sampling import decode
from armodels_jax.sampling.decode import init_cache  # noqa: F401  (public here too)

_plan = decode.plan  # The plan and the cache come from the public decode interface.


def _flat_prefix(model, prefix, num_samples: int) -> jnp.ndarray:
  if prefix is None:
    return jnp.zeros((num_samples, model.num_dims), model.value_dtype)
  return prefix.reshape(num_samples, model.num_dims).astype(model.value_dtype)


@functools.partial(jax.jit, static_argnames=("model", "num_samples", "temperature", "stop"))
def sample_naive(model, variables, key, num_samples: int, cond: Any = None,
                 temperature: float = 1.0, prefix=None, prefix_len=0,
                 stop: int | None = None) -> jnp.ndarray:
  """Samples with one full forward pass per step.

  Args:
    model: an :class:`~armodels_jax.models.base.ARModel`.
    variables: ``{'params': ...}``.
    key: PRNG key.
    num_samples: B.
    cond: conditioning input or None.
    temperature: divides the logits (0 gives the mode).
    prefix: ``[B, *event_shape]`` int or None; its first ``prefix_len``
      dimensions in the model's order are kept.
    prefix_len: int scalar.
    stop: run only the steps before ``stop`` (benchmarks time a subset);
      later dimensions stay 0.

  Returns:
    ``[B, *event_shape]`` int32 (float32 for real-valued models).
  """
  model = model.as_float32()
  num_dims = model.num_dims
  flat_prefix = _flat_prefix(model, prefix, num_samples)  # [B, D]
  rows = jnp.arange(num_samples)
  order, call_kwargs, canvas = _plan(model, variables, key, flat_prefix, prefix_len, cond)

  def step(t, canvas):
    x = canvas.reshape((num_samples,) + model.event_shape)
    raw = model.apply(variables, x, cond, **call_kwargs)
    raw = raw.reshape(num_samples, num_dims, -1)  # [B, D, P]
    pos = order[:, t]  # [B]
    value = model.head.sample(raw[rows, pos], jax.random.fold_in(key, t), temperature)
    return canvas.at[rows, pos].set(value)

  end = num_dims if stop is None else stop
  canvas = jax.lax.fori_loop(jnp.asarray(prefix_len, jnp.int32), end, step, canvas)
  return canvas.reshape((num_samples,) + model.event_shape)


@functools.partial(jax.jit, static_argnames=("model", "num_samples", "temperature"))
def sample_cached(model, variables, key, num_samples: int, cond: Any = None,
                  temperature: float = 1.0, prefix=None, prefix_len=0) -> jnp.ndarray:
  """Samples with per-layer caches, one dimension per ``lax.scan`` step.

  Same arguments and result as :func:`sample_naive`; the model must have a
  decode path (``model.has_decode``). Step t fills dimension ``order[:, t]``
  of the model's plan (raster order for images).
  """
  model = model.as_float32()
  decoder = model.clone(decode=True)
  num_dims = model.num_dims
  flat_prefix = _flat_prefix(model, prefix, num_samples)  # [B, D]
  rows = jnp.arange(num_samples)
  order, call_kwargs, canvas = _plan(model, variables, key, flat_prefix, prefix_len, cond)
  cache = init_cache(decoder, num_samples, cond, call_kwargs)
  params = variables["params"]

  head = model.head
  chunk = _noise_chunk(head, num_samples, num_dims) if temperature != 0.0 else 0

  def step(carry, t_noise):
    (canvas, cache), (t, noise) = carry, t_noise
    x = canvas.reshape((num_samples,) + model.event_shape)
    raw, cache = decode.step(decoder, params, cache, x, t, cond, call_kwargs)  # raw [B, P]
    pos = order[:, t]  # [B]
    if noise is None:
      value = head.sample(raw, jax.random.fold_in(key, t), temperature)
    else:
      value = head.sample_with_noise(raw, noise, temperature)
    value = jnp.where(t < prefix_len, canvas[rows, pos], value)
    return (canvas.at[rows, pos].set(value), cache), None

  if not chunk:  # the head draws its noise at each step
    (canvas, _), _ = jax.lax.scan(step, (canvas, cache), (jnp.arange(num_dims), None))
    return canvas.reshape((num_samples,) + model.event_shape)

  def run_chunk(carry, ts):  # ts [C]: the noise of C steps in one draw, then the C steps
    noise = jax.vmap(lambda t: head.noise(jax.random.fold_in(key, t), (num_samples,)))(ts)
    return jax.lax.scan(step, carry, (ts, noise))[0], None

  steps = jnp.arange(num_dims).reshape(num_dims // chunk, chunk)
  (canvas, _), _ = jax.lax.scan(run_chunk, (canvas, cache), steps)
  return canvas.reshape((num_samples,) + model.event_shape)


# The noise of the draws of one chunk of steps is at most this many elements (16 MB in float32).
_NOISE_ELEMENTS = 1 << 22


def _noise_chunk(head, num_samples: int, num_dims: int, most: int = 128) -> int:
  """Steps whose draws' noise :func:`sample_cached` draws at once: the largest divisor of
  ``num_dims`` up to ``most`` whose noise fits in ``_NOISE_ELEMENTS``; 0 (a draw per step) for a head
  without ``noise`` or when only a chunk of 1 fits.

  ``head.noise`` depends on the key alone, so the noise of C steps can be drawn before they run: one
  vectorised draw (threefry over C x B x L counters) instead of C small ones, each a rolled loop of
  small operations on a CPU. ``sample_with_noise`` then gives the values ``sample`` would give.
  """
  if not hasattr(head, "noise"):
    return 0
  per_step = math.prod(jax.eval_shape(lambda: head.noise(jax.random.key(0), (num_samples,))).shape)
  fits = max(1, min(most, _NOISE_ELEMENTS // max(per_step, 1)))
  chunk = max(c for c in range(1, fits + 1) if num_dims % c == 0)
  return chunk if chunk > 1 else 0


@functools.partial(jax.jit, static_argnames=("model",))
def cached_conditionals(model, variables, x, cond: Any = None, order=None,
                        call_kwargs=None) -> jnp.ndarray:
  """Raw parameters of every dimension of ``x`` computed by the decode path,
  step by step along ``order`` (teacher forcing): ``[B, *event_shape, P]``.

  Args:
    model, variables: as for the samplers.
    x: ``[B, *event_shape]``.
    cond: conditioning input or None.
    order: ``[B, D]`` visiting order (default: raster order).
    call_kwargs: the plan's extra arguments of ``decode_step`` (e.g. EoNADE's
      ``component``), matching ``order``.

  The exactness tests compare this with the full forward pass.
  """
  model = model.as_float32()
  decoder = model.clone(decode=True)
  call_kwargs = call_kwargs or {}
  batch = x.shape[0]
  cache = init_cache(decoder, batch, cond, call_kwargs)
  params = variables["params"]
  flat_x = x.reshape(batch, -1)
  if order is None:
    order = jnp.broadcast_to(jnp.arange(model.num_dims), flat_x.shape)
  rows = jnp.arange(batch)
  # rank[b, d]: the step at which example b visits dimension d.
  rank = jnp.zeros_like(order).at[rows[:, None], order].set(jnp.arange(model.num_dims)[None, :])
  # The canvas at step t holds x at the dimensions visited before t and zeros elsewhere, as in sampling.
  def step(cache, t):
    canvas = jnp.where(rank < t, flat_x, 0).astype(flat_x.dtype)
    raw, cache = decode.step(decoder, params, cache, canvas.reshape(x.shape), t, cond, call_kwargs)
    return cache, raw

  _, raws = jax.lax.scan(step, cache, jnp.arange(model.num_dims))  # [D, B, P] by step
  raws = jnp.moveaxis(raws, 0, 1)  # [B, D, P] by step
  out = jnp.zeros_like(raws).at[rows[:, None], order].set(raws)  # by dimension
  return out.reshape(x.shape + (raws.shape[-1],))
