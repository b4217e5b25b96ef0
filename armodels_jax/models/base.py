"""The contract every autoregressive model module meets.

A model is a frozen ``flax.linen`` module (hashable, so it can be a static
argument of ``jax.jit``) with the fields ``event_shape`` and ``num_levels``.

* ``__call__(x, cond=None, train=False, **kw)`` -> raw head parameters
  ``[B, *event_shape, P]``: the parameters of dimension d depend only on the
  dimensions before d in the model's order (and on ``cond``).
* ``log_prob(x, cond=None, train=False, reduce=True)`` -> ``[B]`` nats, or the
  conditionals ``[B, *event_shape]``. The default applies the head to
  ``__call__``; an ensemble (MADE) overrides it.
* ``sampling_plan(key, prefix, prefix_len, cond)`` -> ``(order [B, D],
  call_kwargs)``: the order in which the naive sampler visits the flat
  dimensions of each example, and extra keyword arguments for ``__call__``.
* Models with ``has_decode = True`` also implement ``decode_step(canvas, t,
  cond, **call_kwargs)`` for a clone with ``decode=True``: it returns the raw
  parameters ``[B, P]`` of the dimension visited at step t (flat dimension t of
  the raster order, or ``order[:, t]`` of the sampling plan for a model with
  its own orderings), given the sampler's current canvas, and keeps its state
  in the ``'cache'`` collection. ``call_kwargs`` are the plan's.
* Real-valued models (``real_valued = True``, RNADE) take float inputs and
  ``num_levels=None``; their heads return densities.
* Mixed precision (``dtype="bfloat16"``, models with ``mixed_precision =
  True``): the parameters stay float32 and the callers (``api.log_prob_fn``)
  cast them to :meth:`ARModel.compute_params`; ``scale_input`` gives the
  network's input in the compute dtype, so the network computes in bfloat16;
  the raw head parameters are cast to float32 before the head
  (``ARModel.log_prob``, ``ChannelOutput``), so the likelihood is float32.
  ``arm.init`` and the samplers run the float32 clone (:meth:`ARModel.as_float32`).

Dimensions: B batch, D = prod(event_shape), P raw parameters per dimension.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from armodels_jax.distributions import make_head


# The compute dtypes a model's ``dtype`` field accepts.
COMPUTE_DTYPES = ("float32", "bfloat16")


def cast_floating(tree: Any, dtype: Any) -> Any:
  """Casts the floating-point leaves of ``tree`` to ``dtype`` (others unchanged).

  Differentiable: the gradient with respect to a float32 leaf comes back float32.
  """
  dtype = jnp.dtype(dtype)

  def cast(leaf):
    if jnp.issubdtype(jnp.result_type(leaf), jnp.floating) and jnp.result_type(leaf) != dtype:
      return jnp.asarray(leaf).astype(dtype)
    return leaf

  return jax.tree.map(cast, tree)


def _subclasses(cls: type) -> set[type]:
  found = set(cls.__subclasses__())
  for sub in list(found):
    found |= _subclasses(sub)
  return found


class ARModel(nn.Module):
  """Base class of the autoregressive models (see module docstring).

  Attributes:
    event_shape: shape of one example, ``(H, W, C)`` or ``(D,)``.
    num_levels: values per dimension.
    head_kind: ``"auto"``, ``"bernoulli"`` or ``"categorical"``.
    dtype: the network's compute dtype, ``"float32"`` or (models with
      ``mixed_precision = True``) ``"bfloat16"``; parameters and the
      likelihood stay float32 either way.
  """

  event_shape: tuple[int, ...]
  num_levels: Optional[int]
  head_kind: str = "auto"
  dtype: str = "float32"

  has_decode: ClassVar[bool] = False
  conditional: ClassVar[bool] = False
  # Real-valued models (RNADE) take float inputs and ``num_levels=None``.
  real_valued: ClassVar[bool] = False
  # The network computes in bfloat16 with ``dtype="bfloat16"`` (see the module docstring).
  mixed_precision: ClassVar[bool] = False

  @property
  def num_dims(self) -> int:
    return math.prod(self.event_shape)

  @property
  def value_dtype(self):
    """dtype of an input or sample: float32 for real-valued models, else int32."""
    return jnp.float32 if self.real_valued else jnp.int32

  @property
  def head(self):
    return make_head(self.head_kind, self.num_levels)

  @property
  def compute_dtype(self) -> jnp.dtype:
    """The network's compute dtype (``jnp.float32`` or ``jnp.bfloat16``)."""
    return jnp.dtype(self.dtype)

  def check_dtype(self) -> None:
    """Raises ValueError for a ``dtype`` this model does not support (called by ``create``)."""
    if not isinstance(self.dtype, str) or self.dtype not in COMPUTE_DTYPES:
      raise ValueError(f"expected dtype in {list(COMPUTE_DTYPES)}, got {self.dtype!r}")
    if self.dtype != "float32" and not self.mixed_precision:
      able = sorted(c.__name__ for c in _subclasses(ARModel) if c.mixed_precision)
      raise ValueError(
          f"model {type(self).__name__} computes in float32 only: expected dtype='float32', got "
          f"{self.dtype!r} (models that compute in bfloat16: {', '.join(able)})")

  def compute_params(self, params: Any) -> Any:
    """The parameters as the network computes with them: floating leaves cast to
    :attr:`compute_dtype` (unchanged for float32)."""
    if self.dtype == "float32":
      return params
    return cast_floating(params, self.compute_dtype)

  def as_float32(self) -> "ARModel":
    """The float32 clone (this model itself when it is float32): the same parameters, computed
    in float32. ``arm.init`` builds the parameters with it (float32 whatever ``dtype``), and the
    samplers and the decode path run it, so cached and naive sampling compute the same
    conditionals exactly as a float32 model does."""
    return self if self.dtype == "float32" else self.clone(dtype="float32")

  def export_params(self, params: Any) -> Any:
    """The parameters as a checkpoint ships them (``pretrained.export``): the same function, where
    a model may set to zero the entries that no computation reads, so that the stored file
    compresses. The identity here."""
    return params

  def flat_unit_input(self, x: jnp.ndarray) -> jnp.ndarray:
    """``[B, *event_shape]`` integer levels -> ``[B, D]`` floats in ``[0, 1]`` (the dense models' input)."""
    return x.reshape(x.shape[0], -1).astype(jnp.float32) / (self.num_levels - 1)

  def scale_input(self, x: jnp.ndarray) -> jnp.ndarray:
    """Integer levels to floats in ``[-1, 1]``, in the compute dtype."""
    scaled = x.astype(jnp.float32) * (2.0 / (self.num_levels - 1)) - 1.0
    return scaled.astype(self.compute_dtype)

  def log_prob(self, x: jnp.ndarray, cond: Any = None, train: bool = False,
               reduce: bool = True) -> jnp.ndarray:
    """Exact log-likelihood in nats: ``[B]``, or ``[B, *event_shape]``; the head computes
    in float32 whatever the network's compute dtype."""
    raw = self(x, cond, train=train).astype(jnp.float32)
    per_dim = self.head.log_prob(raw, x)
    if not reduce:
      return per_dim
    return per_dim.reshape(per_dim.shape[0], -1).sum(-1)

  def sampling_plan(self, key: jax.Array, prefix: jnp.ndarray,
                    prefix_len: jnp.ndarray, cond: Any = None):
    """Raster order for every example; no extra call arguments."""
    del key, prefix_len, cond
    order = jnp.broadcast_to(jnp.arange(self.num_dims), (prefix.shape[0], self.num_dims))
    return order, {}

  def check_request(self, *, reduce: bool = True, prefix_len: int = 0,
                    cond: Any = None) -> None:
    """Raises ValueError for requests this model cannot answer exactly."""
    del reduce, prefix_len
    if cond is not None and not self.conditional:
      raise ValueError(
          f"model {type(self).__name__} is unconditional: expected cond=None, "
          f"got {type(cond).__name__}")
