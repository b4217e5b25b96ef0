"""Causal dilated 1-D convolution with a Fast-WaveNet queue for one-step decoding.

A causal convolution of kernel size K and dilation d computes

    y[t] = b + sum_{k=0}^{K-1} W_k x[t - (K - 1 - k) d]

with ``x[t] = 0`` for ``t < 0`` (van den Oord et al. 2016, "WaveNet: A
Generative Model for Raw Audio", section 2.1, figure 3). The full pass stacks
the K shifted copies of the input on the channel axis and applies one matrix
product with ``W`` reshaped to ``[K * C_in, C_out]``; on a CPU a matrix product
uses every core where XLA runs convolutions on one.

Decoding follows Paine et al. 2016, "Fast Wavenet Generation Algorithm"
(section 3): each layer keeps a queue of its last ``(K - 1) d`` inputs in the
``'cache'`` collection, a ring buffer indexed by ``t mod (K - 1) d``. At step t
the layer reads the inputs it needs, ``x[t - d], ..., x[t - (K - 1) d]``, then
overwrites the oldest slot with ``x[t]``: O(1) work per layer and sample. The
step stacks its taps in the same order as the full pass, so both compute the
same products.

Dimensions: B batch, T time, C channels, K kernel size, d dilation.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def affine(x: jnp.ndarray, kernel: jnp.ndarray, bias: jnp.ndarray | None = None) -> jnp.ndarray:
  """``x [..., I] @ kernel [I, O] (+ bias [O])`` -> ``[..., O]`` with explicit broadcasting."""
  y = jnp.dot(x, kernel)
  return y if bias is None else y + bias.reshape((1,) * (y.ndim - 1) + bias.shape)


class CausalConv1D(nn.Module):
  """A causal (dilated) 1-D convolution: ``conv(x)`` for whole sequences, ``conv(x_t, t)`` for one step.

  Attributes:
    in_features: C_in (a field, so that a decoding step can build the parameters).
    features: C_out.
    kernel_size: K >= 1.
    dilation: d >= 1.
    use_bias: add a bias.
    kernel_init: initializer of the ``[K, C_in, C_out]`` kernel.
  """

  in_features: int
  features: int
  kernel_size: int = 2
  dilation: int = 1
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @property
  def queue_length(self) -> int:
    """(K - 1) d: the past inputs a step needs."""
    return (self.kernel_size - 1) * self.dilation

  @nn.compact
  def __call__(self, x: jnp.ndarray, t: jnp.ndarray | None = None) -> jnp.ndarray:
    """The whole sequence, or one decoding step.

    Args:
      x: ``[B, T, C_in]`` (``t`` None), or ``[B, C_in]``: the input at time ``t``.
      t: None for the full pass; else the step, an int scalar. Steps come in
        order ``t = 0, 1, ...`` from a zero ``'cache'``.

    Returns:
      ``[B, T, C_out]`` (output t sees inputs ``<= t``), or ``[B, C_out]``.
    """
    if self.kernel_size < 1 or self.dilation < 1:
      raise ValueError(f"CausalConv1D expects kernel_size >= 1 and dilation >= 1, got "
                       f"{self.kernel_size} and {self.dilation}")
    k, c_in = self.kernel_size, self.in_features
    kernel = self.param("kernel", self.kernel_init, (k, c_in, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,)) if self.use_bias else None

    def apply(taps):  # [..., K C_in] -> [..., C_out]
      return affine(taps, kernel.reshape(k * c_in, self.features), bias)

    if x.shape[-1] != c_in or x.ndim != (3 if t is None else 2):
      want = f"(B, T, {c_in})" if t is None else f"(B, {c_in}) for one step"
      raise ValueError(f"CausalConv1D expects x of shape {want}, got {x.shape}")
    if t is None:
      length = x.shape[1]
      taps = []
      for j in range(k):
        shift = (k - 1 - j) * self.dilation
        taps.append(x if shift == 0 else jnp.pad(x, ((0, 0), (shift, 0), (0, 0)))[:, :length])
      return apply(jnp.concatenate(taps, axis=-1))
    n = self.queue_length
    if n == 0:
      return apply(x)
    queue = self.variable("cache", "queue", jnp.zeros, (n,) + x.shape, x.dtype)  # [n, B, C_in]
    taps = [jax.lax.dynamic_index_in_dim(queue.value, (t - (k - 1 - j) * self.dilation) % n, 0,
                                         keepdims=False) for j in range(k - 1)]
    y = apply(jnp.concatenate(taps + [x], axis=-1))
    queue.value = jax.lax.dynamic_update_index_in_dim(queue.value, x, t % n, 0)
    return y
