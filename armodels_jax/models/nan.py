"""NAN: the neural autoregressive network, one untied hidden layer per conditional.

Bengio & Bengio 2000, "Modeling High-Dimensional Discrete Data with
Multi-Layer Neural Networks" (NIPS 12, pp. 400-406): the joint is factored in
a fixed order into conditionals, each computed by a one-hidden-layer neural
network of the variables before it, so parameters and computation grow as the
square of the number of variables. Here each conditional has its own hidden
layer, untied (no hidden unit shared between conditionals; the paper's
network may also share hidden units between them, its "tied through the hidden
units"):

  h_i = sigmoid(W_i x_<i + b_i),
  p(x_i = 1 | x_<i) = sigmoid(alpha_i . h_i + alpha0_i),

and, for L > 2 levels, a softmax over L outputs (``alpha_i [H, L]``, the
categorical head), with the inputs one-hot coded by default (``input_encoding``).
It is the step between FVSBN (:mod:`armodels_jax.models.fvsbn`: no hidden
layer) and NADE (:mod:`armodels_jax.models.nade`: the hidden weights tied
across the conditionals, O(H D) per example instead of O(H D^2) here). The
paper reports UCI data sets only, no binarized MNIST.

The order is the raster order of the flattened event.

* ``log_prob`` is one exact pass: the hidden pre-activations of every
  conditional are a single product of the input with the per-conditional
  weights ``W [D, H, D E]``, masked strictly lower triangular in (conditional,
  input dimension) by a fixed NumPy mask (an einsum ``bk,ihk->bih``), never D
  separate calls.
* Memory: W holds ``D^2 H E`` numbers, half of them masked out. At 784 binary
  dimensions that is 2.46 MB per hidden unit in float32 (the training state
  holds about five copies: the parameters, two Adam moments, the EMA and the
  gradient), which sets the sizes: ``small`` 8 hidden units per conditional
  (4.9 M parameters at 784 dimensions), ``paper`` 32 (19.7 M; the paper gives
  no image-scale size). BENCHMARKS.md and the config record the measured step
  time and memory.
* Cached sampling: the ``decode=True`` clone computes only conditional t from
  the canvas (row t of W, masked: the canvas's dimensions >= t, which may hold
  a prefix, enter with zero weight), O(H D E) per step, so a sample costs one
  full pass, O(H D^2 E), where the naive sampler runs D full passes. It needs
  no state, so its ``'cache'`` collection holds only the step counter that the
  decode protocol threads.

Parameters: ``W [D, H, D E]`` (used masked), ``b [D, H]``, ``alpha [D, H, P]``,
``alpha0 [D, P]``.

Dimensions: B batch, D = prod(event_shape), H hidden units per conditional, E
input columns per dimension (1 for the scaled input, L for one-hot), K = D E
input columns, L levels, P raw parameters per dimension (1 for Bernoulli, L for
the softmax).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.models import registry
from armodels_jax.models.base import ARModel
from armodels_jax.models.nade import ACTIVATIONS, INPUT_ENCODINGS


@functools.lru_cache(maxsize=32)
def input_mask(num_dims: int, columns: int) -> np.ndarray:
  """``[D, D E]`` float32: conditional i reads input column ``j E + e`` iff ``j < i``."""
  before = np.tril(np.ones((num_dims, num_dims), np.float32), -1)  # [i, j] = j < i
  return np.repeat(before, columns, axis=1)


class NAN(ARModel):
  """One sigmoid hidden layer per conditional, untied, in raster order.

  Attributes:
    hidden_size: H, hidden units of each conditional.
    activation: ``"sigmoid"`` (the paper), ``"tanh"`` or ``"relu"``.
    input_encoding: ``"auto"`` (scaled for two levels, one-hot otherwise, as
      the paper codes discrete variables), ``"scaled"`` (``x / (L - 1)``) or
      ``"one_hot"``.
    decode: build the one-dimension-per-call decoder (used by the sampler).
  """

  hidden_size: int = 8
  activation: str = "sigmoid"
  input_encoding: str = "auto"
  decode: bool = False

  has_decode = True

  def check_config(self) -> None:
    if self.hidden_size < 1:
      raise ValueError(f"NAN expects hidden_size >= 1, got {self.hidden_size}")
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"NAN expects activation one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
    if self.input_encoding not in INPUT_ENCODINGS:
      raise ValueError(
          f"NAN expects input_encoding one of {list(INPUT_ENCODINGS)}, got {self.input_encoding!r}")

  @property
  def columns(self) -> int:
    """E, the input columns per dimension."""
    if self.input_encoding == "scaled" or (self.input_encoding == "auto" and self.num_levels == 2):
      return 1
    return self.num_levels

  def setup(self):
    num_dims, hidden, width = self.num_dims, self.hidden_size, self.num_dims * self.columns
    # Fan-in of conditional i's hidden unit: the K input columns (half of them masked on average).
    w_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal",
                                              in_axis=2, out_axis=1, batch_axis=(0,))
    a_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal",
                                              in_axis=1, out_axis=2, batch_axis=(0,))
    self.W = self.param("W", w_init, (num_dims, hidden, width))  # [D, H, K]
    self.b = self.param("b", nn.initializers.zeros, (num_dims, hidden))  # [D, H]
    self.alpha = self.param("alpha", a_init, (num_dims, hidden, self.head.num_params))  # [D, H, P]
    self.alpha0 = self.param("alpha0", nn.initializers.zeros,
                             (num_dims, self.head.num_params))  # [D, P]

  def _features(self, x: jnp.ndarray) -> jnp.ndarray:
    """``[B, *event_shape]`` int -> the input columns ``[B, K]`` (dimension-major)."""
    if self.columns == 1:
      return self.flat_unit_input(x)
    flat = x.reshape(x.shape[0], -1).astype(jnp.int32)
    return jax.nn.one_hot(flat, self.num_levels, dtype=jnp.float32).reshape(x.shape[0], -1)

  def __call__(self, x: jnp.ndarray, cond: Any = None,
               train: bool = False) -> jnp.ndarray:
    """``x [B, *event_shape]`` int -> raw head parameters ``[B, *event_shape, P]``."""
    del cond, train
    mask = jnp.asarray(input_mask(self.num_dims, self.columns))  # [D, K]
    weights = self.W * mask[:, None, :]  # [D, H, K]
    pre = jnp.einsum("bk,ihk->bih", self._features(x), weights) + self.b[None]  # [B, D, H]
    h = ACTIVATIONS[self.activation](pre)
    raw = jnp.einsum("bih,ihp->bip", h, self.alpha) + self.alpha0[None]  # [B, D, P]
    return raw.reshape(x.shape + (self.head.num_params,))

  @nn.compact
  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray,
                  cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of flat dimension t (raster order).

    Args:
      canvas: ``[B, *event_shape]`` int, every dimension before t final (later
        ones are masked out, whatever they hold).
      t: scalar int, the step (= the flat dimension to predict).
      cond: unused.
    """
    del cond
    # The decode protocol threads a 'cache'; this step needs none beyond the step it ran.
    step = self.variable("cache", "step", lambda: jnp.zeros((), jnp.int32))
    step.value = jnp.asarray(t, jnp.int32)
    mask_t = jnp.take(jnp.asarray(input_mask(self.num_dims, self.columns)), t, axis=0)  # [K]
    w_t = jnp.take(self.W, t, axis=0) * mask_t[None, :]  # [H, K]
    pre = self._features(canvas) @ w_t.T + jnp.take(self.b, t, axis=0)[None, :]  # [B, H]
    h = ACTIVATIONS[self.activation](pre)
    return h @ jnp.take(self.alpha, t, axis=0) + jnp.take(self.alpha0, t, axis=0)[None, :]


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  del event_shape, num_levels
  return {
      "tiny": dict(hidden_size=4),
      "small": dict(hidden_size=8),
      "paper": dict(hidden_size=32),
  }[size]


registry.register("nan", NAN, _sizes)
