"""NADE: the Neural Autoregressive Distribution Estimator.

Larochelle & Murray 2011, "The Neural Autoregressive Distribution Estimator"
(AISTATS), section 3 (eq. 6-7) and Algorithm 1: one hidden layer per
dimension, with weights tied across the dimensions, in a fixed order (here the
raster order of the flattened event):

  a_1 = c,   a_{d+1} = a_d + W[:, d] x_d,   h_d = sigmoid(a_d),
  p(x_d = 1 | x_<d) = sigmoid(b_d + V_d . h_d).

Table 2 of the paper: NADE with 500 hidden units, 88.86 nats (test negative
log-likelihood) on binarized MNIST, against FVSBN's 97.45.

* ``log_prob`` costs O(H D) per example, as in the paper: the pre-activations
  of all dimensions are one exclusive cumulative sum over d of the
  contributions ``W[:, d] x_d`` (``[B, D, H]``), not D separate passes.
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


class NADE(ARModel):
  """NADE over the flattened event, in raster order.

  Attributes:
    hidden_size: H, hidden units (500 in the paper's Table 2).
    activation: hidden nonlinearity, ``"sigmoid"`` (the paper), ``"tanh"``
      or ``"relu"``.
    input_encoding: ``"auto"``, ``"scaled"`` or ``"one_hot"`` (module
      docstring).
    decode: build the one-dimension-per-call decoder (used by the sampler).
  """

  hidden_size: int = 500
  activation: str = "sigmoid"
  input_encoding: str = "auto"
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

  def _contributions(self, flat: jnp.ndarray) -> jnp.ndarray:
    """``W[:, d] x_d`` of every dimension: ``flat [B, D]`` int -> ``[B, D, H]``."""
    if self.encoding == "scaled":
      scaled = flat.astype(jnp.float32) / (self.num_levels - 1)  # [B, D]
      return scaled[:, :, None] * self.W[None, :, 0, :]
    dims = jnp.arange(self.num_dims)[None, :]  # [1, D]
    return self.W[dims, flat]  # [B, D, H]: column x_d of dimension d

  def __call__(self, x: jnp.ndarray, cond: Any = None,
               train: bool = False) -> jnp.ndarray:
    """``x [B, *event_shape]`` int -> raw head parameters ``[B, *event_shape, P]``."""
    del cond, train
    flat = x.reshape(x.shape[0], -1).astype(jnp.int32)  # [B, D]
    contrib = self._contributions(flat)  # [B, D, H]
    # Exclusive cumulative sum over d: a_d = c + sum_{i<d} W[:, i] x_i.
    before = jnp.cumsum(contrib[:, :-1], axis=1)  # [B, D - 1, H]
    before = jnp.concatenate([jnp.zeros_like(contrib[:, :1]), before], axis=1)  # [B, D, H]
    h = ACTIVATIONS[self.activation](before + self.c[None, None, :])  # [B, D, H]
    raw = jnp.einsum("bdh,dhp->bdp", h, self.V) + self.b[None]  # [B, D, P]
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
    w_prev = jnp.take(self.W, prev, axis=0)  # [E, H]
    if self.encoding == "scaled":
      contrib = (x_prev.astype(jnp.float32) / (self.num_levels - 1))[:, None] * w_prev[0][None, :]
    else:
      contrib = w_prev[x_prev]  # [B, H]
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
