"""Shifted convolutions of PixelCNN++ with row and pixel decode modes.

Salimans, Karpathy, Chen & Kingma 2017, "PixelCNN++" (ICLR), section 2.4 and
figure 2 (down-shifted and down-right-shifted convolutions, strided down- and
up-sampling, shortcut connections), section 2.5 (dropout in the gated
residual block) and van den Oord et al. 2016, "Conditional Image Generation
with PixelCNN Decoders" (the gate ``a * sigmoid(b)``). Causality comes from
padding and shifting, not from masking: a kernel ``(kh, kw)`` is padded with
``kh - 1`` zero rows on top, so no output sees a row below its own.

Receptive fields (output ``(i, j)``, input rows and columns, zeros outside):

* :class:`DownShiftedConv2D` (stride s): rows ``s i - kh + 1 .. s i``, columns
  ``s j - (kw - 1) / 2 .. s j + (kw - 1) / 2`` (kw odd).
* :class:`DownRightShiftedConv2D` (stride s): rows ``s i - kh + 1 .. s i``,
  columns ``s j - kw + 1 .. s j``.
* :class:`DownShiftedDeconv2D` (transposed, stride s, output ``s H x s W``):
  output ``(r, c)`` sums ``x[i, j] K[r - s i, c + (kw - 1) / 2 - s j]`` over
  the taps inside the kernel; with ``kh <= s`` only input row ``r // s``.
* :class:`DownRightShiftedDeconv2D`: the same with column offset 0; with
  ``kh, kw <= s`` output ``(r, c)`` sees only input ``(r // s, c // s)``.

Decode modes (docs/design.md section 5, Ramachandran et al. 2017, "Fast Generation
for Convolutional Autoregressive Models"), state in the ``'cache'``
collection:

* down-shifted convs work a row at a time: ``write_row(x_row, i)`` stores input
  row i in a ring buffer of the last ``kh`` input rows, ``read_row(I)``
  computes output row I from input rows ``s I - kh + 1 .. s I`` (complete once
  input row ``s I`` is written); ``decode_row`` does both (stride 1, or input
  rows ``i % s == 0``).
* down-right-shifted convs work a pixel at a time: ``write_pixel(x_ij, i, j)``
  and ``read_pixel(I, J)`` (complete once input ``(s I, s J)`` is written), ring
  buffer ``[B, kh, width + kw - 1, C_in]``; ``decode_pixel`` does both.
* ``decode_row_from(x, i)`` / ``decode_pixel_from(x, i, j)``: one output row or
  pixel sliced straight from a whole input ``[B, H, W, C_in]`` (the first layer
  of a model reading the sampler's canvas); no state.
* transposed convs keep their last input row: ``write_row(x_row)`` /
  ``read_row(r)``, ``write_pixel(x_ij, j)`` / ``read_pixel(r, c)``.

Slots of rows above the image are never written before they are read, so
they hold the zeros of the full pass's padding.

Dimensions: B batch, H height, W width, C input channels, F output features,
kh x kw kernel, s stride.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from armodels_jax.layers import conv_ops

_DIMS = ("NHWC", "HWIO", "NHWC")
# LeCun scaling with an untruncated normal: the truncated normal's inverse-erf
# makes initialisation compile several times slower on a CPU.
_KERNEL_INIT = nn.initializers.variance_scaling(1.0, "fan_in", "normal")


def down_shift(x: jnp.ndarray) -> jnp.ndarray:
  """``[B, H, W, C]``: rows move down one; the first row is zero."""
  return jnp.pad(x[:, :-1], ((0, 0), (1, 0), (0, 0), (0, 0)))


def right_shift(x: jnp.ndarray) -> jnp.ndarray:
  """``[B, H, W, C]``: columns move right one; the first column is zero."""
  return jnp.pad(x[:, :, :-1], ((0, 0), (0, 0), (1, 0), (0, 0)))


def concat_elu(x: jnp.ndarray) -> jnp.ndarray:
  """``[..., F] -> [..., 2F]``: ``elu([x, -x])`` (PixelCNN++ section 2.4)."""
  return nn.elu(jnp.concatenate([x, -x], axis=-1))


def _check_kernel(name: str, kernel: Any, stride: int, odd_width: bool) -> None:
  if (not isinstance(kernel, tuple) or len(kernel) != 2
      or any(not isinstance(k, int) or k < 1 for k in kernel)):
    raise ValueError(f"{name} expects kernel (kh, kw) of positive ints, got {kernel!r}")
  if odd_width and kernel[1] % 2 != 1:
    raise ValueError(f"{name} expects an odd kernel width, got kernel {kernel}")
  if not isinstance(stride, int) or stride < 1:
    raise ValueError(f"{name} expects a positive int stride, got {stride!r}")


def _gather(x: jnp.ndarray, start, size: int, axis: int) -> jnp.ndarray:
  """``size`` entries of ``x`` from ``start`` along ``axis``; zeros outside ``x``."""
  index = start + jnp.arange(size)
  inside = (index >= 0) & (index < x.shape[axis])
  out = jnp.take(x, jnp.clip(index, 0, x.shape[axis] - 1), axis=axis)
  shape = [1] * x.ndim
  shape[axis] = size
  return jnp.where(inside.reshape(shape), out, jnp.zeros((), out.dtype))


def _no_buffer():
  raise ValueError("decode read before any write: call write_row / write_pixel "
                   "(or decode_row / decode_pixel) first")


class _Shifted(nn.Module):
  """What the shifted convolutions and their transposes share: fields, kernel check, parameters."""

  features: int
  kernel: tuple[int, int] = (2, 3)
  stride: int = 1
  decode: bool = False
  width: Optional[int] = None

  centred = True  # columns centred on s j (down-shifted; kw odd) or ending at s j (down-right)

  def __post_init__(self):
    _check_kernel(type(self).__name__, self.kernel, self.stride, odd_width=self.centred)
    super().__post_init__()

  def _params(self, in_features: int):
    kh, kw = self.kernel
    kernel = self.param("kernel", _KERNEL_INIT,
                        (kh, kw, in_features, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return kernel, bias


class _ShiftedConv(_Shifted):
  """Shared body of the two shifted convolutions (see module docstring)."""

  @property
  def left_pad(self) -> int:
    """Zero columns left of the input: ``(kw - 1) / 2`` centred, else ``kw - 1``."""
    kw = self.kernel[1]
    return (kw - 1) // 2 if self.centred else kw - 1

  def _pad(self, x: jnp.ndarray) -> jnp.ndarray:
    kh = self.kernel[0]
    return self._pad_columns(jnp.pad(x, ((0, 0), (kh - 1, 0), (0, 0), (0, 0))))

  def _pad_columns(self, x: jnp.ndarray) -> jnp.ndarray:
    kw = self.kernel[1]
    return jnp.pad(x, ((0, 0), (0, 0), (self.left_pad, kw - 1 - self.left_pad), (0, 0)))

  def _conv(self, window: jnp.ndarray, kernel, bias, row_stride: int = 0) -> jnp.ndarray:
    s = self.stride
    y = conv_ops.conv2d(window, kernel, strides=(row_stride or s, s))
    return y + bias.reshape(1, 1, 1, -1)

  def _buffer(self, x: Optional[jnp.ndarray], width: Optional[int]):
    kh, kw = self.kernel
    if x is None:
      return self.variable("cache", "rows", _no_buffer)
    return self.variable("cache", "rows", jnp.zeros,
                         (x.shape[0], kh, width + kw - 1, x.shape[-1]), x.dtype)

  def _window(self, buf: jnp.ndarray, top: jnp.ndarray) -> jnp.ndarray:
    """Rows ``top .. top + kh - 1`` of the ring buffer, in order."""
    kh = self.kernel[0]
    slots = (top + jnp.arange(kh)) % kh
    return jnp.take(buf, slots, axis=1)  # [B, kh, W + kw - 1, C]

  @nn.compact
  def _run(self, x, mode: str, i=None, j=None):
    kh, kw = self.kernel
    s = self.stride
    if mode == "full":
      if x.ndim != 4:
        raise ValueError(f"{type(self).__name__} expects x [B, H, W, C], got shape {x.shape}")
      kernel, bias = self._params(x.shape[-1])
      return self._conv(self._pad(x), kernel, bias)
    if mode in ("row_from", "pixel_from"):  # one output from the whole input
      kernel, bias = self._params(x.shape[-1])
      # Gather the kh input rows (zeros above the image) instead of padding all of x.
      rows = _gather(x, s * i - kh + 1, kh, axis=1)  # [B, kh, W, C]
      if mode == "row_from":
        return self._conv(self._pad_columns(rows), kernel, bias, row_stride=1)[:, 0]  # [B, W_out, F]
      window = _gather(rows, s * j - self.left_pad, kw, axis=2)  # [B, kh, kw, C]
      return jnp.einsum("bhwc,hwcf->bf", window, kernel) + bias[None]
    if mode == "write_row":
      rows = self._buffer(x, x.shape[1])
      rows.value = jax.lax.dynamic_update_slice(
          rows.value, x[:, None].astype(rows.value.dtype), (0, i % kh, self.left_pad, 0))
      return None
    if mode == "write_pixel":
      if self.width is None:
        raise ValueError(f"a decoding {type(self).__name__} needs width (its input width), got None")
      rows = self._buffer(x, self.width)
      rows.value = rows.value.at[:, i % kh, j + self.left_pad].set(x.astype(rows.value.dtype))
      return None
    buf = self._buffer(None, None).value
    kernel, bias = self._params(buf.shape[-1])
    window = self._window(buf, s * i - kh + 1)
    if mode == "read_row":
      return self._conv(window, kernel, bias, row_stride=1)[:, 0]  # [B, W_out, F]
    if mode == "read_pixel":
      cols = jax.lax.dynamic_slice_in_dim(window, s * j, kw, axis=2)  # [B, kh, kw, C]
      return jnp.einsum("bhwc,hwcf->bf", cols, kernel) + bias[None]
    raise ValueError(f"unknown mode {mode!r}")


class DownShiftedConv2D(_ShiftedConv):
  """Output ``(i, j)`` sees input rows ``s i - kh + 1 .. s i`` and columns
  ``s j - (kw - 1) / 2 .. s j + (kw - 1) / 2``: everything above (PixelCNN++'s
  ``u`` stream, after a :func:`down_shift`).

  Attributes:
    features: F.
    kernel: ``(kh, kw)``, kw odd; ``(2, 3)`` in the paper.
    stride: s (1, or 2 for down-sampling); H and W divisible by s.
    decode: ``__call__(x_row, i)`` is :meth:`decode_row`.
    width: unused (a row carries its width).
  """

  kernel: tuple[int, int] = (2, 3)
  centred = True

  def __call__(self, x: jnp.ndarray, i=None) -> jnp.ndarray:
    """Full mode ``[B, H, W, C] -> [B, H / s, W / s, F]``; decode mode :meth:`decode_row`."""
    if self.decode:
      return self.decode_row(x, i)
    return self._run(x, "full")

  def write_row(self, x_row: jnp.ndarray, i) -> None:
    """Stores input row i ``[B, W, C]`` in the ring buffer of the last kh rows."""
    self._run(x_row, "write_row", i)

  def read_row(self, i) -> jnp.ndarray:
    """Output row i ``[B, W / s, F]`` from input rows ``s i - kh + 1 .. s i``."""
    return self._run(None, "read_row", i)

  def decode_row(self, x_row: jnp.ndarray, i) -> jnp.ndarray:
    """Writes input row i, returns output row ``i // s`` (complete when i % s == 0)."""
    self.write_row(x_row, i)
    return self.read_row(i // self.stride)

  def decode_row_from(self, x: jnp.ndarray, i) -> jnp.ndarray:
    """Output row i ``[B, W / s, F]`` from the whole input ``[B, H, W, C]``."""
    return self._run(x, "row_from", i)

  def decode_pixel_from(self, x: jnp.ndarray, i, j) -> jnp.ndarray:
    """Output ``(i, j)`` ``[B, F]`` from the whole input ``[B, H, W, C]``."""
    return self._run(x, "pixel_from", i, j)


class DownRightShiftedConv2D(_ShiftedConv):
  """Output ``(i, j)`` sees input rows ``s i - kh + 1 .. s i`` and columns
  ``s j - kw + 1 .. s j``: above and to the left (PixelCNN++'s ``ul`` stream).

  Attributes:
    features: F.
    kernel: ``(kh, kw)``; ``(2, 2)`` in the paper.
    stride: s (1, or 2 for down-sampling).
    decode: ``__call__(x_ij, i, j)`` is :meth:`decode_pixel`.
    width: the input width W, needed by the decode ring buffer.
  """

  kernel: tuple[int, int] = (2, 2)
  centred = False

  def __call__(self, x: jnp.ndarray, i=None, j=None) -> jnp.ndarray:
    """Full mode ``[B, H, W, C] -> [B, H / s, W / s, F]``; decode mode :meth:`decode_pixel`."""
    if self.decode:
      return self.decode_pixel(x, i, j)
    return self._run(x, "full")

  def write_pixel(self, x_ij: jnp.ndarray, i, j) -> None:
    """Stores input ``(i, j)`` ``[B, C]``."""
    self._run(x_ij, "write_pixel", i, j)

  def read_pixel(self, i, j) -> jnp.ndarray:
    """Output ``(i, j)`` ``[B, F]`` (needs inputs up to ``(s i, s j)`` written)."""
    return self._run(None, "read_pixel", i, j)

  def decode_pixel(self, x_ij: jnp.ndarray, i, j) -> jnp.ndarray:
    """Writes input ``(i, j)``, returns output ``(i // s, j // s)`` (complete
    when ``i % s == j % s == 0``)."""
    self.write_pixel(x_ij, i, j)
    return self.read_pixel(i // self.stride, j // self.stride)

  def decode_row_from(self, x: jnp.ndarray, i) -> jnp.ndarray:
    """Output row i ``[B, W / s, F]`` from the whole input ``[B, H, W, C]``."""
    return self._run(x, "row_from", i)

  def decode_pixel_from(self, x: jnp.ndarray, i, j) -> jnp.ndarray:
    """Output ``(i, j)`` ``[B, F]`` from the whole input ``[B, H, W, C]``."""
    return self._run(x, "pixel_from", i, j)


class _ShiftedDeconv(_Shifted):
  """Shared body of the transposed (up-sampling) convolutions."""

  stride: int = 2

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    return self._run(x, "full")

  @property
  def offset(self) -> int:
    return (self.kernel[1] - 1) // 2 if self.centred else 0

  def _deconv(self, x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
    """``[B, H, W, C] -> [B, s H, s W, F]`` (transposed conv, cropped; see module docstring).

    A transposed conv is a conv of the s-dilated input with the flipped kernel;
    the paddings pick output rows ``0 .. s H - 1`` and columns shifted by the offset.
    """
    kh, kw = kernel.shape[:2]
    s = self.stride
    col_lo = kw - 1 - self.offset
    return jax.lax.conv_general_dilated(
        x, kernel[::-1, ::-1], window_strides=(1, 1),
        padding=((kh - 1, s - 1), (col_lo, s - 1 + self.offset)),
        lhs_dilation=(s, s), dimension_numbers=_DIMS)

  def _check_decode(self):
    kh, kw = self.kernel
    limit = kh if self.centred else max(kh, kw)
    if limit > self.stride:
      raise ValueError(
          f"{type(self).__name__} decodes only kernels within one stride: expected "
          f"{'kh' if self.centred else 'kh, kw'} <= stride {self.stride}, got kernel {self.kernel}")

  @nn.compact
  def _run(self, x, mode: str, i=None, j=None):
    s = self.stride
    if mode == "full":
      if x.ndim != 4:
        raise ValueError(f"{type(self).__name__} expects x [B, H, W, C], got shape {x.shape}")
      kernel, bias = self._params(x.shape[-1])
      return self._deconv(x, kernel) + bias.reshape(1, 1, 1, -1)
    self._check_decode()
    if mode == "write_row":
      row = self.variable("cache", "row", jnp.zeros, x.shape, x.dtype)
      row.value = x
      return None
    if mode == "write_pixel":
      if self.width is None:
        raise ValueError(f"a decoding {type(self).__name__} needs width (its input width), got None")
      row = self.variable("cache", "row", jnp.zeros, (x.shape[0], self.width, x.shape[-1]), x.dtype)
      row.value = row.value.at[:, j].set(x)
      return None
    buf = self.variable("cache", "row", _no_buffer).value  # [B, W_in, C]
    kernel, bias = self._params(buf.shape[-1])
    kh, kw = self.kernel
    # Kernel row r % s (zero when the stride skips past the kernel).
    taps = jax.lax.dynamic_index_in_dim(kernel, jnp.minimum(i % s, kh - 1), axis=0, keepdims=True)
    taps = jnp.where(i % s < kh, taps, 0.0)  # [1, kw, C, F]
    if mode == "read_row":
      y = jax.lax.conv_general_dilated(
          buf[:, None], taps[:, ::-1], window_strides=(1, 1),
          padding=((0, 0), (kw - 1 - self.offset, s - 1 + self.offset)),
          lhs_dilation=(1, s), dimension_numbers=_DIMS)
      return y[:, 0] + bias[None, None]  # [B, s W_in, F]
    if mode == "read_pixel":
      tap = jax.lax.dynamic_index_in_dim(taps[0], jnp.minimum(j % s, kw - 1), axis=0, keepdims=False)
      tap = jnp.where(j % s < kw, tap, 0.0)  # [C, F]
      x_in = jax.lax.dynamic_index_in_dim(buf, j // s, axis=1, keepdims=False)  # [B, C]
      return x_in @ tap + bias[None]
    raise ValueError(f"unknown mode {mode!r}")


class DownShiftedDeconv2D(_ShiftedDeconv):
  """Transposed down-shifted conv: ``[B, H, W, C] -> [B, s H, s W, F]``; output
  row r sees input row ``r // s`` (kh <= s), columns ``(c + (kw - 1) / 2 - b) / s``.

  Attributes:
    features: F.
    kernel: ``(kh, kw)``, kw odd; ``(2, 3)`` in the paper.
    stride: s (2 in the paper).
    decode, width: unused by the row decode (a row carries its width).
  """

  kernel: tuple[int, int] = (2, 3)
  stride: int = 2
  centred = True

  def write_row(self, x_row: jnp.ndarray) -> None:
    """Stores the input row ``[B, W, C]`` that the next output rows come from."""
    self._run(x_row, "write_row")

  def read_row(self, r) -> jnp.ndarray:
    """Output row r ``[B, s W, F]`` from the stored input row (which must be row r // s)."""
    return self._run(None, "read_row", r)

  def decode_row(self, x_row: jnp.ndarray, r) -> jnp.ndarray:
    """Output row r from input row ``r // s`` ``[B, W, C]`` (stored for later rows)."""
    self.write_row(x_row)
    return self.read_row(r)


class DownRightShiftedDeconv2D(_ShiftedDeconv):
  """Transposed down-right-shifted conv: ``[B, H, W, C] -> [B, s H, s W, F]``;
  output ``(r, c)`` sees only input ``(r // s, c // s)`` (kh, kw <= s).

  Attributes:
    features: F.
    kernel: ``(kh, kw)``; ``(2, 2)`` in the paper.
    stride: s (2 in the paper).
    decode: unused (the decode methods are explicit).
    width: the input width W, needed by the decode row buffer.
  """

  kernel: tuple[int, int] = (2, 2)
  stride: int = 2
  centred = False

  def write_pixel(self, x_ij: jnp.ndarray, j) -> None:
    """Stores input ``(I, j)`` ``[B, C]`` (its row is the latest one written)."""
    self._run(x_ij, "write_pixel", None, j)

  def read_pixel(self, r, c) -> jnp.ndarray:
    """Output ``(r, c)`` ``[B, F]`` from stored input ``(r // s, c // s)``."""
    return self._run(None, "read_pixel", r, c)


class GatedResnet(nn.Module):
  """Gated residual block of PixelCNN++ (section 2.4, figure 2; dropout section 2.5).

  ``c1 = conv(concat_elu(x)) [+ nin(concat_elu(a))]``, ``c2 = conv(dropout(
  concat_elu(c1)))`` to 2F ``[+ W h]`` (a per-example conditioning vector h, e.g.
  a class one-hot), ``out = x + c2_a * sigmoid(c2_b)``. The convolutions are
  stride-1 shifted convs of the same kind, so the block keeps the causal
  receptive field of its conv.

  Attributes:
    features: F, the width of x and of the output.
    conv: ``"down"`` (:class:`DownShiftedConv2D`, kernel (2, 3)) or
      ``"down_right"`` (:class:`DownRightShiftedConv2D`, kernel (2, 2)).
    dropout_rate: dropout on the hidden layer, active only with ``train=True``
      (rng ``'dropout'``).
    kernel: the conv kernel; None for the paper's (2, 3) / (2, 2).
    decode: ``__call__`` is :meth:`decode_row` (down) / :meth:`decode_pixel`.
    width: the image width at this resolution (for ``"down_right"`` decoding).
  """

  features: int
  conv: str = "down"
  dropout_rate: float = 0.0
  kernel: Optional[tuple[int, int]] = None
  decode: bool = False
  width: Optional[int] = None

  def setup(self):
    if self.conv not in ("down", "down_right"):
      raise ValueError(f"GatedResnet conv must be 'down' or 'down_right', got {self.conv!r}")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"expected dropout_rate in [0, 1), got {self.dropout_rate}")
    cls = DownShiftedConv2D if self.conv == "down" else DownRightShiftedConv2D
    kernel = self.kernel or ((2, 3) if self.conv == "down" else (2, 2))
    self.conv_in = cls(self.features, kernel, width=self.width)
    self.conv_out = cls(2 * self.features, kernel, width=self.width)
    self.nin = nn.Dense(self.features, kernel_init=_KERNEL_INIT)
    self.cond_proj = nn.Dense(2 * self.features, use_bias=False, kernel_init=_KERNEL_INIT)
    self.dropout = nn.Dropout(self.dropout_rate)

  def _gate(self, x, c2, h):
    if h is not None:
      bias = self.cond_proj(h)  # [B, 2F]
      c2 = c2 + bias.reshape(bias.shape[:1] + (1,) * (c2.ndim - 2) + bias.shape[1:])
    a, b = jnp.split(c2, 2, axis=-1)
    return x + a * nn.sigmoid(b)

  def _check(self, x):
    if x.shape[-1] != self.features:
      raise ValueError(f"GatedResnet expects {self.features} input features, got shape {x.shape}")

  def __call__(self, x: jnp.ndarray, a: Optional[jnp.ndarray] = None,
               h: Optional[jnp.ndarray] = None, train: bool = False, i=None, j=None):
    """Full mode.

    Args:
      x: ``[B, H, W, F]``.
      a: auxiliary input ``[B, H, W, F_a]`` or None.
      h: per-example conditioning ``[B, E]`` or None.
      train: enables dropout.
      i, j: decode mode only (see :meth:`decode_row` / :meth:`decode_pixel`).

    Returns:
      ``[B, H, W, F]``.
    """
    if self.decode:
      if self.conv == "down":
        return self.decode_row(x, i, a, h)
      return self.decode_pixel(x, i, j, a, h)
    self._check(x)
    c1 = self.conv_in(concat_elu(x))
    if a is not None:
      c1 = c1 + self.nin(concat_elu(a))
    c1 = self.dropout(concat_elu(c1), deterministic=not train)
    return self._gate(x, self.conv_out(c1), h)

  def decode_row(self, x_row: jnp.ndarray, i, a_row: Optional[jnp.ndarray] = None,
                 h: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    """Row i of a ``"down"`` block: ``x_row [B, W, F]``, ``a_row [B, W, F_a]`` -> ``[B, W, F]``."""
    if self.conv != "down":
      raise ValueError(f"decode_row needs conv='down', got {self.conv!r}")
    self._check(x_row)
    c1 = self.conv_in.decode_row(concat_elu(x_row), i)
    if a_row is not None:
      c1 = c1 + self.nin(concat_elu(a_row))
    return self._gate(x_row, self.conv_out.decode_row(concat_elu(c1), i), h)

  def decode_pixel(self, x_ij: jnp.ndarray, i, j, a_ij: Optional[jnp.ndarray] = None,
                   h: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    """Pixel (i, j) of a ``"down_right"`` block: ``x_ij [B, F]``, ``a_ij [B, F_a]`` -> ``[B, F]``."""
    if self.conv != "down_right":
      raise ValueError(f"decode_pixel needs conv='down_right', got {self.conv!r}")
    self._check(x_ij)
    c1 = self.conv_in.decode_pixel(concat_elu(x_ij), i, j)
    if a_ij is not None:
      c1 = c1 + self.nin(concat_elu(a_ij))
    return self._gate(x_ij, self.conv_out.decode_pixel(concat_elu(c1), i, j), h)
