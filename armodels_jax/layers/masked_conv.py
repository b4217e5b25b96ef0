"""Masked 2-D convolution (PixelCNN masks A and B) with a one-pixel decode mode.

Full mode (van den Oord et al. 2016, section 3.4): the kernel keeps only the
``k // 2 + 1`` rows at and above the centre, so the image is padded ``k // 2``
rows on top, ``k // 2`` columns on each side, and convolved VALID; the mask of
:func:`armodels_jax.layers.masks.spatial_mask` removes the centre row's right
half and the not-yet-seen channel groups of the centre pixel.

Decode mode (docs/design.md section 5), one output pixel ``(i, j)`` per call:

* ring buffer (``x`` is the new input pixel ``[B, C_in]``): the ``'cache'``
  collection keeps the last ``k // 2 + 1`` rows of the layer's input,
  ``[B, k // 2 + 1, W + 2 (k // 2), C_in]``; row ``r`` lives in slot
  ``r mod (k // 2 + 1)``. The call writes the input at ``(i, j)`` and computes
  output ``(i, j)`` from the window of slots of rows ``i - k//2 .. i``. Slots of
  rows above the image have never been written and are zero, like the padding
  of the full pass; stale entries right of ``j`` in the current row are
  multiplied by zeros of the mask.
* whole input (``x`` is the complete current input ``[B, H, W, C_in]``, as the
  first layer of a model sees the sampler's canvas): the window is sliced
  straight from it, so no copy is kept. The first layer must see the final
  value of every earlier channel, including the last channel of the previous
  pixel, which a buffer written before that channel was sampled would miss.

Dimensions: B batch, H height, W width, C channels, k kernel size,
R = k // 2 + 1 rows kept.
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.layers import conv_ops, masks


class MaskedConv2D(nn.Module):
  """A ``k x k`` masked convolution, stride 1, output the same size as input.

  Attributes:
    features: output feature maps, a multiple of ``num_groups``.
    kernel_size: odd k.
    mask_type: ``"A"`` or ``"B"``.
    num_groups: channel groups of the order within a pixel (image channels).
    decode: one output pixel per call (see module docstring).
    width: image width W, needed by the decode ring buffer.
  """

  features: int
  kernel_size: int
  mask_type: str = "B"
  num_groups: int = 1
  decode: bool = False
  width: Optional[int] = None

  def _kernel(self, in_channels: int) -> tuple[jnp.ndarray, np.ndarray, jnp.ndarray]:
    """The unmasked kernel ``[R, k, C_in, C_out]``, its NumPy mask and the bias."""
    rows = self.kernel_size // 2 + 1
    kernel = self.param(
        "kernel", nn.initializers.lecun_normal(),
        (rows, self.kernel_size, in_channels, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    mask = masks.spatial_mask(self.kernel_size, in_channels, self.features,
                              self.mask_type, self.num_groups)
    return kernel, mask, bias

  @nn.compact
  def __call__(self, x: jnp.ndarray,
               pos: Optional[tuple[jnp.ndarray, jnp.ndarray]] = None
               ) -> jnp.ndarray:
    """Applies the layer.

    Args:
      x: full mode ``[B, H, W, C_in]``; decode mode the new input pixel
        ``[B, C_in]`` or the whole current input ``[B, H, W, C_in]``.
      pos: decode mode only: the output pixel ``(i, j)`` as int scalars.

    Returns:
      ``[B, H, W, features]`` in full mode, ``[B, features]`` in decode mode.
    """
    kernel, mask, bias = self._kernel(x.shape[-1])  # [R, k, C_in, C_out]
    half = self.kernel_size // 2
    if not self.decode:
      padded = jnp.pad(x, ((0, 0), (half, 0), (half, half), (0, 0)))
      y = conv_ops.conv2d(padded, kernel, mask=mask)  # matrix products on a CPU
      return y + bias.reshape(1, 1, 1, -1)
    kernel = kernel * jnp.asarray(mask, kernel.dtype)
    if pos is None:
      raise ValueError("decode mode needs the output position pos=(i, j)")
    i, j = pos
    if x.ndim == 4:  # the whole current input
      padded = jnp.pad(x, ((0, 0), (half, 0), (half, half), (0, 0)))
      window = jax.lax.dynamic_slice(
          padded, (0, i, j, 0),
          (x.shape[0], half + 1, self.kernel_size, x.shape[-1]))
    elif self.kernel_size == 1:  # a 1x1 layer needs no memory
      window = x[:, None, None, :]
    else:
      if self.width is None:
        raise ValueError("a decode-mode MaskedConv2D with a ring buffer needs width")
      num_rows = half + 1
      rows = self.variable(
          "cache", "rows", jnp.zeros,
          (x.shape[0], num_rows, self.width + 2 * half, x.shape[-1]), x.dtype)
      buf = rows.value.at[:, i % num_rows, j + half].set(x)
      rows.value = buf
      slots = (i - half + jnp.arange(num_rows)) % num_rows
      columns = jax.lax.dynamic_slice_in_dim(buf, j, self.kernel_size, axis=2)
      window = jnp.take(columns, slots, axis=1)  # [B, R, k, C_in], rows in order
    y = jnp.einsum("brkc,rkco->bo", window, kernel)  # [B, C_out]
    return y + bias[None]
