"""NADE: the Neural Autoregressive Distribution Estimator.

Larochelle & Murray 2011, "The Neural Autoregressive Distribution Estimator"
(AISTATS), section 3 (eq. 6-7) and Algorithm 1: one hidden layer per
dimension, with weights tied across the dimensions, in a fixed order (here the
raster order of the flattened event):

  a_1 = c,   a_{d+1} = a_d + W[:, d] x_d,   h_d = sigmoid(a_d),
  p(x_d = 1 | x_<d) = sigmoid(b_d + V_d . h_d).

Table 2 of the paper: NADE with 500 hidden units, 88.86 nats (test negative
log-likelihood) on binarized MNIST, against FVSBN's 97.45.

* ``log_prob`` costs O(H D) per example, as in the paper, never D separate
  passes: the pre-activations of all dimensions are one exclusive cumulative
  sum over d of the contributions ``W[:, d] x_d`` (``[B, D, H]``), or, on a
  CPU, the same sum carried through a ``lax.scan`` over d (``prefix_sum``).
* ``num_levels > 2``: a categorical head, ``V [D, H, P]`` and ``b [D, P]``.
  ``input_encoding`` chooses how the value of dimension d enters the hidden
  pre-activations: ``"scaled"`` adds ``W[:, d] * x_d / (L - 1)`` (the paper's
  ``W x`` for binary data); ``"one_hot"`` adds a column per level,
  ``W[:, d, x_d]`` (more expressive for categorical data). ``"auto"`` (the
  default) is ``"scaled"`` for two levels and ``"one_hot"`` otherwise.
* Cached sampling: the ``decode=True`` clone keeps ``a [B, H]`` and adds the
  contribution of the dimension visited at step t - 1 at step t: O(H P) per
  step, the paper's O(H D) per sample.

Parameters: ``W [D, E, H]`` (the paper's ``W [H, D]``, transposed, with E = 1
for the scaled input or E = L for one-hot), ``c [H]``, ``V [D, H, P]``,
``b [D, P]``.

Dimensions: B batch, D = prod(event_shape), H hidden units, E input columns
per dimension, L levels, P raw parameters per dimension (1 for Bernoulli, L
for the softmax).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from armodels_jax.models import registry
from armodels_jax.models.base import ARModel

ACTIVATIONS = {"sigmoid": nn.sigmoid, "tanh": jnp.tanh, "relu": nn.relu}
INPUT_ENCODINGS = ("auto", "scaled", "one_hot")
PREFIX_SUMS = ("auto", "cumsum", "scan")


class NADE(ARModel):
  """NADE over the flattened event, in raster order.

  Attributes:
    hidden_size: H, hidden units (500 in the paper's Table 2).
    activation: hidden nonlinearity, ``"sigmoid"`` (the paper), ``"tanh"``
      or ``"relu"``.
    input_encoding: ``"auto"``, ``"scaled"`` or ``"one_hot"`` (module
      docstring).
    prefix_sum: how ``__call__`` forms the pre-activations, both O(H D):
      ``"cumsum"`` (one exclusive cumulative sum over ``[B, D, H]``, parallel
      over d: for accelerators), ``"scan"`` (a ``lax.scan`` over d carrying
      ``[B, H]``, cache-friendly: several times faster on a CPU) or
      ``"auto"`` (``"scan"`` on the CPU backend, else ``"cumsum"``).
    decode: build the one-dimension-per-call decoder (used by the sampler).
  """

  hidden_size: int = 500
  activation: str = "sigmoid"
  input_encoding: str = "auto"
  prefix_sum: str = "auto"
  decode: bool = False

  has_decode = True

  def check_config(self) -> None:
    if self.hidden_size < 1:
      raise ValueError(f"expected hidden_size >= 1, got {self.hidden_size}")
    if self.activation not in ACTIVATIONS:
      raise ValueError(
          f"expected activation one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
    if self.input_encoding not in INPUT_ENCODINGS:
      raise ValueError(
          f"expected input_encoding one of {list(INPUT_ENCODINGS)}, got {self.input_encoding!r}")
    if self.prefix_sum not in PREFIX_SUMS:
      raise ValueError(
          f"expected prefix_sum one of {list(PREFIX_SUMS)}, got {self.prefix_sum!r}")

  @property
  def encoding(self) -> str:
    """The input encoding in use, ``"scaled"`` or ``"one_hot"``."""
    if self.input_encoding == "auto":
      return "scaled" if self.num_levels == 2 else "one_hot"
    return self.input_encoding

  def setup(self):
    num_dims, hidden = self.num_dims, self.hidden_size
    columns = 1 if self.encoding == "scaled" else self.num_levels
    # Fan-in of a pre-activation: the input columns of all D dimensions.
    w_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal",
                                              in_axis=(0, 1), out_axis=2)
    v_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal",
                                              in_axis=1, out_axis=2, batch_axis=0)
    self.W = self.param("W", w_init, (num_dims, columns, hidden))  # [D, E, H]
    self.c = self.param("c", nn.initializers.zeros, (hidden,))  # [H]
    self.V = self.param("V", v_init, (num_dims, hidden, self.head.num_params))  # [D, H, P]
    self.b = self.param("b", nn.initializers.zeros, (num_dims, self.head.num_params))  # [D, P]

  def _column(self, x_d: jnp.ndarray, w_d: jnp.ndarray) -> jnp.ndarray:
    """``W[:, d] x_d`` of one dimension: ``x_d [B]`` int, ``w_d [E, H]`` -> ``[B, H]``."""
    if self.encoding == "scaled":
      scaled = x_d.astype(jnp.float32) / (self.num_levels - 1)  # [B]
      return scaled[:, None] * w_d[0][None, :]
    return w_d[x_d]  # column x_d

  def _contributions(self, flat: jnp.ndarray) -> jnp.ndarray:
    """``W[:, d] x_d`` of every dimension: ``flat [B, D]`` int -> ``[B, D, H]``."""
    if self.encoding == "scaled":
      scaled = flat.astype(jnp.float32) / (self.num_levels - 1)  # [B, D]
      return scaled[:, :, None] * self.W[None, :, 0, :]
    dims = jnp.arange(self.num_dims)[None, :]  # [1, D]
    return self.W[dims, flat]  # [B, D, H]: column x_d of dimension d

  def _raw_cumsum(self, flat: jnp.ndarray) -> jnp.ndarray:
    """All pre-activations at once: ``flat [B, D]`` -> raw ``[B, D, P]``."""
    contrib = self._contributions(flat)  # [B, D, H]
    # Exclusive cumulative sum over d: a_d - c = sum_{i<d} W[:, i] x_i.
    before = jnp.cumsum(contrib[:, :-1], axis=1)  # [B, D - 1, H]
    before = jnp.concatenate([jnp.zeros_like(contrib[:, :1]), before], axis=1)  # [B, D, H]
    h = ACTIVATIONS[self.activation](before + self.c[None, None, :])  # [B, D, H]
    return jnp.einsum("bdh,dhp->bdp", h, self.V) + self.b[None]  # [B, D, P]

  def _raw_scan(self, flat: jnp.ndarray) -> jnp.ndarray:
    """The paper's Algorithm 1, a ``lax.scan`` over d carrying ``a_d - c [B, H]``:
    ``flat [B, D]`` -> raw ``[B, D, P]``."""
    act = ACTIVATIONS[self.activation]
    w, c, v, b = self.W, self.c, self.V, self.b  # read outside the scan body

    def step(a, inputs):
      x_d, w_d, v_d, b_d = inputs  # [B], [E, H], [H, P], [P]
      h = act(a + c[None, :])  # [B, H]
      return a + self._column(x_d, w_d), h @ v_d + b_d[None, :]

    a0 = jnp.zeros((flat.shape[0], self.hidden_size), jnp.float32)
    _, raw = jax.lax.scan(step, a0, (flat.T, w, v, b))  # [D, B, P]
    return jnp.moveaxis(raw, 0, 1)

  def __call__(self, x: jnp.ndarray, cond: Any = None,
               train: bool = False) -> jnp.ndarray:
    """``x [B, *event_shape]`` int -> raw head parameters ``[B, *event_shape, P]``."""
    del cond, train
    flat = x.reshape(x.shape[0], -1).astype(jnp.int32)  # [B, D]
    impl = self.prefix_sum
    if impl == "auto":
      impl = "scan" if jax.default_backend() == "cpu" else "cumsum"
    raw = self._raw_scan(flat) if impl == "scan" else self._raw_cumsum(flat)
    return raw.reshape(x.shape + (self.head.num_params,))

  @nn.compact
  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray,
                  cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of flat dimension t (raster order).

    Args:
      canvas: ``[B, *event_shape]`` int, every dimension before t final.
      t: scalar int, the step (= the flat dimension to predict).
      cond: unused.
    """
    del cond
    batch = canvas.shape[0]
    # a_t - c: the sum of the contributions of the dimensions before t.
    acc = self.variable("cache", "a", jnp.zeros, (batch, self.hidden_size), jnp.float32)  # [B, H]
    prev = jnp.maximum(t - 1, 0)
    x_prev = jnp.take(canvas.reshape(batch, -1), prev, axis=1).astype(jnp.int32)  # [B]
    contrib = self._column(x_prev, jnp.take(self.W, prev, axis=0))  # [B, H]
    a = jnp.where(t == 0, jnp.zeros_like(acc.value), acc.value + contrib)  # [B, H]
    acc.value = a
    h = ACTIVATIONS[self.activation](a + self.c[None, :])  # [B, H]
    v_t = jnp.take(self.V, t, axis=0)  # [H, P]
    return h @ v_t + jnp.take(self.b, t, axis=0)[None, :]  # [B, P]


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  del event_shape, num_levels
  return {
      "tiny": dict(hidden_size=8),
      "small": dict(hidden_size=100),
      "paper": dict(hidden_size=500),
  }[size]


registry.register("nade", NADE, _sizes)
