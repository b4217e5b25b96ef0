"""The public decode interface: what a caller needs to run a model one position at a time.

The cached sampler (:mod:`armodels_jax.sampling.samplers`) and the entropy coder
(:mod:`armodels_jax.compression.coder`) both walk a model through its decode path in the same way;
this module is that way, so the two cannot drift apart:

1. :func:`plan`: the model's sampling plan (``model.sampling_plan``: the order in which each example
   visits its dimensions, and extra call arguments such as EoNADE's ordering) and a canvas holding a
   kept prefix.
2. :func:`init_cache`: zero per-layer caches of a ``decode=True`` clone (Flax's autoregressive-decoding
   convention: the ``'cache'`` collection).
3. :func:`step`: one call of ``decode_step`` at step t, threading the cache with ``mutable=['cache']``;
   it returns the raw head parameters of the dimension visited at step t.

:func:`state_elements` counts, without allocating or compiling anything (``jax.eval_shape``), the
elements a decode loop over a batch holds (caches and canvas), so that a caller can refuse a batch too
large for memory before it starts (the decompressor does: a file's header chooses the batch).

Dimensions: B batch, D = prod(event_shape), P raw head parameters.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["check_decodable", "init_cache", "plan", "state_elements", "step"]


def check_decodable(model: Any) -> None:
  """Raises ValueError unless ``model`` is a registry model with a cached decode path."""
  from armodels_jax.models.base import ARModel  # pylint: disable=g-import-not-at-top

  if not isinstance(model, ARModel):
    raise ValueError(f"expected a model from armodels_jax.models.create, got {type(model).__name__}")
  if not model.has_decode:
    raise ValueError(f"expected a model with a cached decode path (has_decode); "
                     f"{type(model).__name__} has none")


def plan(model, variables, key, flat_prefix, prefix_len, cond):
  """The model's sampling plan and the canvas holding the kept prefix (traceable).

  Args:
    model: the model (float32).
    variables: ``{'params': ...}``.
    key: the plan's key (the samplers fold ``D`` into their key; the coder uses a fixed one).
    flat_prefix: ``[B, D]`` values; the first ``prefix_len`` dimensions of each example's order are
      kept on the canvas.
    prefix_len: int scalar.
    cond: conditioning input or None.

  Returns:
    ``(order [B, D], call_kwargs, canvas [B, D])``: step t visits dimension ``order[:, t]``;
    ``call_kwargs`` are extra arguments of ``decode_step`` (and of the full pass).
  """
  num_samples, num_dims = flat_prefix.shape
  rows = jnp.arange(num_samples)
  order, call_kwargs = model.apply(
      {"params": variables["params"]}, jax.random.fold_in(key, num_dims),
      flat_prefix.reshape((num_samples,) + model.event_shape), prefix_len, cond,
      method=model.sampling_plan)  # order [B, D]
  in_prefix = jnp.arange(num_dims)[None, :] < prefix_len  # [1, D] by step
  kept = jnp.where(in_prefix, jnp.take_along_axis(flat_prefix, order, 1), 0)
  canvas = jnp.zeros_like(flat_prefix).at[rows[:, None], order].set(kept)
  return order, call_kwargs, canvas


def init_cache(decoder, num_samples: int, cond: Any = None, call_kwargs=None):
  """Zero caches of a ``decode=True`` model for a batch of ``num_samples``."""
  canvas = jnp.zeros((num_samples,) + decoder.event_shape, decoder.value_dtype)
  shapes = jax.eval_shape(
      lambda: decoder.init(jax.random.key(0), canvas, jnp.int32(0), cond,
                           method=decoder.decode_step, **(call_kwargs or {})))
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes.get("cache", {}))


def step(decoder, params, cache, canvas, t, cond: Any = None, call_kwargs=None):
  """One decode step (traceable): ``(raw [B, P], updated cache)``.

  Args:
    decoder: a ``decode=True`` clone of the model.
    params: its parameters (``variables['params']``).
    cache: the ``'cache'`` collection from :func:`init_cache` or the previous step.
    canvas: ``[B, *event_shape]`` holding every value visited before step t.
    t: int32 scalar step.
    cond, call_kwargs: as for :func:`plan`.
  """
  raw, updated = decoder.apply({"params": params, "cache": cache}, canvas, t, cond,
                               method=decoder.decode_step, mutable=["cache"], **(call_kwargs or {}))
  return raw, updated["cache"]


def state_elements(model, variables, batch: int, cond: Any = None, key=None) -> int:
  """Elements (of any dtype) a decode loop over ``batch`` examples holds: its caches, its canvas and
  its plan. Computed from shapes alone (``jax.eval_shape``): nothing is allocated or compiled.

  Args:
    model: a model with a decode path.
    variables: ``{'params': ...}`` (arrays or ``jax.ShapeDtypeStruct``).
    batch: B.
    cond: the batch's conditioning input (arrays or shape structs with leading axis B) or None.
    key: the plan's key (default: ``jax.random.key(0)``; only its shape matters).
  """
  key = jax.random.key(0) if key is None else key
  decoder = model.clone(decode=True)

  def build(params, cond):
    prefix = jnp.zeros((batch, model.num_dims), model.value_dtype)
    order, call_kwargs, canvas = plan(model, {"params": params}, key, prefix, jnp.int32(0), cond)
    return order, canvas, init_cache(decoder, batch, cond, call_kwargs)

  shapes = jax.eval_shape(build, variables["params"], cond)
  return sum(math.prod(s.shape) for s in jax.tree_util.tree_leaves(shapes))
