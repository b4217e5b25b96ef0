"""The two convolution stacks of Gated PixelCNN, with one-row and one-pixel decode methods.

van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders"
(NeurIPS), section 2.2 and figure 2. With an odd kernel size ``n`` and
``half = n // 2``:

* :class:`VerticalConv` -- the ``n x n`` convolution of the vertical stack,
  cropped to its upper ``half + 1`` rows: output row ``r`` sees input rows
  ``r - half .. r`` and columns ``j - half .. j + half``. The current row is
  included; the model shifts the vertical features down one row
  (:func:`down_shift`) before they reach the horizontal stack, so through this
  link a pixel only ever sees the rows above it.
* :class:`HorizontalConv` -- the ``1 x (half + 1)`` convolution of the
  horizontal stack: output ``(i, j)`` sees row ``i``, columns ``j - half .. j``
  (``include_current=True``, mask B), or ``j - half .. j - 1``
  (``include_current=False``, mask A of the first layer, where the current
  pixel is not yet known). Mask A is realised by leaving the masked tap out of
  the kernel (``half`` taps), not by a zeroed weight.
* :func:`gate` -- the gated activation ``tanh(a) * sigmoid(b)`` of the paper's
  equation 2, the pre-activation's ``2p`` maps split into halves ``a, b``.

Both convolutions are stride 1 with zero padding, so outputs are the size of
the input. Their decode methods compute the same outputs from a window of the
input (the model keeps the ring buffers): ``VerticalConv.row`` one whole output
row from the ``half + 1`` input rows it needs, ``HorizontalConv.pixel`` one
output pixel from the ``half (+ 1)`` input pixels of its row.

Dimensions: B batch, H height, W width, F_in/F_out feature maps, n kernel
size, R = n // 2 + 1 rows (vertical) or taps (horizontal, mask B).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from armodels_jax.layers import conv_ops


def gate(pre: jnp.ndarray) -> jnp.ndarray:
  """``[..., 2p] -> [..., p]``: ``tanh(pre[..., :p]) * sigmoid(pre[..., p:])``."""
  if pre.shape[-1] % 2:
    raise ValueError(f"gate expects an even number of maps, got {pre.shape[-1]}")
  a, b = jnp.split(pre, 2, axis=-1)
  return jnp.tanh(a) * jax.nn.sigmoid(b)


def _check_kernel(kernel_size: int) -> None:
  if kernel_size < 3 or kernel_size % 2 == 0:
    raise ValueError(f"expected an odd kernel_size >= 3, got {kernel_size}")


class VerticalConv(nn.Module):
  """The vertical stack's convolution: ``half + 1`` rows up to the current one, ``n`` columns.

  Attributes:
    features: output maps F_out.
    kernel_size: odd n >= 3.
    in_features: input maps F_in (fixed, so :meth:`row` and :meth:`__call__`
      share the parameters whichever is called first).
  """

  features: int
  kernel_size: int
  in_features: int

  def setup(self):
    _check_kernel(self.kernel_size)
    rows = self.kernel_size // 2 + 1
    self.kernel = self.param("kernel", nn.initializers.lecun_normal(),
                             (rows, self.kernel_size, self.in_features, self.features))
    self.bias = self.param("bias", nn.initializers.zeros, (self.features,))

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """``x [B, H, W, F_in] -> [B, H, W, F_out]``; output row r sees input rows <= r."""
    half = self.kernel_size // 2
    padded = jnp.pad(x, ((0, 0), (half, 0), (half, half), (0, 0)))
    y = conv_ops.conv2d(padded, self.kernel)
    return y + self.bias.reshape(1, 1, 1, -1)

  def row(self, window: jnp.ndarray) -> jnp.ndarray:
    """One output row from its input rows.

    Args:
      window: ``[B, R, W + 2 half, F_in]``, input rows ``r - half .. r`` in
        order, padded with ``half`` zero columns on each side (zero rows above
        the image).

    Returns:
      ``[B, W, F_out]``, output row r.
    """
    y = conv_ops.conv2d(window, self.kernel)  # [B, 1, W, F_out]
    return y[:, 0] + self.bias.reshape(1, 1, -1)


class HorizontalConv(nn.Module):
  """The horizontal stack's ``1 x (half + 1)`` convolution along the current row.

  Attributes:
    features: output maps F_out.
    kernel_size: odd n >= 3 (the vertical stack's n).
    in_features: input maps F_in.
    include_current: mask B (sees column j) or mask A (columns < j only).
  """

  features: int
  kernel_size: int
  in_features: int
  include_current: bool = True

  @property
  def taps(self) -> int:
    return self.kernel_size // 2 + int(self.include_current)

  def setup(self):
    _check_kernel(self.kernel_size)
    self.kernel = self.param("kernel", nn.initializers.lecun_normal(),
                             (1, self.taps, self.in_features, self.features))
    self.bias = self.param("bias", nn.initializers.zeros, (self.features,))

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """``x [B, H, W, F_in] -> [B, H, W, F_out]``; output (i, j) sees row i, columns
    ``j - half .. j`` (mask B) or ``j - half .. j - 1`` (mask A)."""
    half = self.kernel_size // 2
    width = x.shape[2]
    padded = jnp.pad(x, ((0, 0), (0, 0), (half, 0), (0, 0)))  # column j at j + half
    # Output j reads padded columns j .. j + taps - 1, i.e. input j - half .. j - half + taps - 1.
    y = conv_ops.conv2d(padded, self.kernel)  # [B, H, W + half + 1 - taps, F_out]
    return y[:, :, :width] + self.bias.reshape(1, 1, 1, -1)

  def pixel(self, window: jnp.ndarray) -> jnp.ndarray:
    """One output pixel: ``window [B, taps, F_in]`` (input columns ``j - half ..``,
    zeros left of the image) -> ``[B, F_out]``."""
    return jnp.einsum("bkf,kfo->bo", window, self.kernel[0]) + self.bias[None]
