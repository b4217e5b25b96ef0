"""A dense layer whose kernel is multiplied by a connectivity mask at each call.

The mask is an input, not a parameter: MADE (Germain et al. 2015) switches
between mask sets from step to step, and samples several examples at once with
a different mask set each.

Dimensions: B batch, I input units, O output units.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class MaskedDense(nn.Module):
  """``y = x @ (W * mask) + b``.

  Attributes:
    features: output units O.
    use_bias: add a bias.
  """

  features: int
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """Applies the layer.

    Args:
      x: ``[B, I]``.
      mask: ``[I, O]`` shared by the batch, ``[B, I, O]`` one per example,
        or, with ``x`` of shape ``[G, B, I]``, ``[G, I, O]`` one per group; float 0/1 or bool.

    Returns:
      ``[B, O]`` (or ``[G, B, O]``).
    """
    kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
    if mask.ndim == 2:
      y = x @ (kernel * mask)
    elif x.ndim == 2:
      y = jnp.einsum("bi,bio->bo", x, kernel[None] * mask)
    else:
      y = jnp.einsum("gbi,gio->gbo", x, kernel[None] * mask)
    if not self.use_bias:
      return y
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
