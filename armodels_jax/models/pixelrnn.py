"""PixelRNN: the Row LSTM and the Diagonal BiLSTM.

van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural
Networks" (ICML):

* section 3.1, Row LSTM: the image is processed row by row. Each layer's
  input-to-state part is a masked ``k x 1`` convolution along the row (k = 3)
  computed for the whole map at once; its state-to-state part is an unmasked
  ``k x 1`` convolution of the previous row's hidden states. With the gates
  ``[o, f, i, g] = [sigma, sigma, sigma, tanh](K_ss * h_{i-1} + K_is * x_i)``:
  ``c_i = f . c_{i-1} + i . g`` and ``h_i = o . tanh(c_i)``. Its receptive field
  is a triangle above the pixel (widening by one column on each side per row),
  not the whole context.
* section 3.2, Diagonal BiLSTM: the input map is skewed (row r shifted right by
  r, ``[H, W] -> [H, W + H - 1]``), the input-to-state part is a 1x1 convolution,
  the state-to-state part a ``2 x 1`` column convolution of the previous
  column's states (the pixel above and the pixel to the left, in image
  coordinates), scanned over the skewed columns and unskewed. A second LSTM
  runs right to left (on the mirrored image); its output map is shifted down one
  row before it is added to the left-to-right one, so no pixel of the current
  row right of (i, j) leaks in. Each state then sees the whole context of the
  layer's input positions (see "Receptive field" below for the pixels).
* section 3.3, residual connections: the layers carry a ``2h``-wide stream;
  each LSTM layer turns it into ``h`` features per gate and its output (``h``
  maps) is projected back to ``2h`` by a 1x1 convolution and added to its input.
* section 3.4 and Table 1: a 7x7 mask-A convolution first (here with one channel
  group, so it excludes the whole current pixel: the colour channels of a pixel
  are linked by :class:`~armodels_jax.models.image_output.ChannelOutput`
  instead of channel-group masks), the LSTM layers (their input-to-state
  convolutions are mask B: their inputs are already causal), then ReLU + 1x1
  convolutions and the softmax (here: ReLU, a 1x1 convolution of
  ``output_features`` maps, ReLU, then ``ChannelOutput``'s per-channel linear
  map -- the paper's two ReLU + 1x1 layers).

Published numbers: binarized MNIST test NLL Row LSTM 80.54 nats and Diagonal
BiLSTM 79.20 nats (Table 4; 7 layers, h = 16, output layers of 32 maps);
CIFAR-10 Row LSTM 3.07 and Diagonal BiLSTM 3.00 bits/dim (Table 5; 12 layers,
h = 128, output layers of 1024 maps). The sizes are the paper's (section 3.5,
specifications of the models, and section 5); ``paper`` picks them by image size.

Cached sampling (docs/design.md section 5):

* Row LSTM (``has_decode = True``): a ``decode=True`` clone computes pixel
  (i, j) once, at its first channel. The first layer slices its 7x7 window from
  the sampler's canvas; every LSTM layer keeps in its ``'cache'`` the current
  row of its input (the input-to-state window ``(i, j - k//2 .. j)``), two rows
  of hidden states (the previous row, read at ``j - k//2 .. j + k//2``, is
  complete because row i - 1 is, and the current row being filled) and one row
  of cell states. A step is O(1 pixel) per layer. The later channels of the
  pixel re-run only ``ChannelOutput.decode`` on the cached pixel feature.
* Diagonal BiLSTM: the same decode step, with other layer caches. The
  left-to-right state at (i, j) needs only the input at (i, j) and the states
  at (i, j - 1) (and its cell) and (i - 1, j): a per-pixel step with one row of
  hidden states (column j holds row i - 1 until (i, j) overwrites it with row
  i) and the cell of (i, j - 1). The right-to-left term at (i, j) is that
  LSTM's state at (i - 1, j) (the shift), which depends on row i - 1 from
  column W - 1 down to j: it is known only once row i - 1 is complete. Each
  layer caches the right-to-left input gates of the current row (and, right of
  j, of row i - 1: a column is overwritten when its new pixel arrives) and the
  right-to-left states of row i - 1. At the first pixel of row i (i > 0),
  under ``lax.cond``, the layer runs the right-to-left LSTM over row i - 1
  (W sequential cell updates) from those gates and the cached states of row
  i - 2, which it then replaces. That is O(W) per layer once per row and O(1)
  per pixel otherwise: O(H W) cell updates per image instead of the naive
  sampler's O((H W)^2). The cached gates of row i - 1 are complete at (i, 0):
  every layer's input at row i - 1 was computed when the layer below finished
  that row.

Receptive field (tested): the Row LSTM sees the triangle of section 3.1. The
Diagonal BiLSTM sees every earlier pixel except one: the last pixel of row
i - 1, (i - 1, W - 1), when ``W - 1 > j + first_kernel // 2``. That pixel first
enters the network in the mask-A window of row i (the positions below it), and
of row i the state at (i, j) sees only columns <= j (the right-to-left term
comes from row i - 1), for any number of layers. Section 3.2's "whole context"
is the context of the layers' input positions.

Dimensions: B batch, H height, W width, C image channels, F stream features
(2h), N LSTM state features (h), G = 4N gate pre-activations, S = W + H - 1
skewed width, k kernel, P raw parameters per sub-pixel.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from armodels_jax.layers.masked_conv import MaskedConv2D
from armodels_jax.models import registry
from armodels_jax.models.image_output import ImageModel


def _lstm_update(gates: jnp.ndarray, cell: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """LSTM gates ``[..., 4N]`` (order i, f, o, g) and previous cell ``[..., N]`` -> (h, c)."""
  i, f, o, g = jnp.split(gates, 4, axis=-1)
  cell = jax.nn.sigmoid(f) * cell + jax.nn.sigmoid(i) * jnp.tanh(g)
  return jax.nn.sigmoid(o) * jnp.tanh(cell), cell


def _conv_along_width(x: jnp.ndarray, kernel: jnp.ndarray, left: int, right: int) -> jnp.ndarray:
  """1-D convolution along the second-to-last axis.

  Args:
    x: ``[B, W, F]`` or ``[B, H, W, F]``.
    kernel: ``[T, F, G]``; tap t multiplies column ``w - left + t``.
    left, right: zero padding of the width.

  Returns:
    ``[..., W, G]`` (the same width when ``left + right = T - 1``).
  """
  width = x.shape[-2]
  pad = [(0, 0)] * (x.ndim - 2) + [(left, right), (0, 0)]
  padded = jnp.pad(x, pad)
  taps = jnp.stack([padded[..., t:t + width, :] for t in range(kernel.shape[0])], axis=-2)
  return jnp.einsum("...wtf,tfg->...wg", taps, kernel)  # [..., W, G]


class RowLSTMLayer(nn.Module):
  """One residual Row LSTM layer (section 3.1, 3.3): ``[B, H, W, F] -> [B, H, W, F]``.

  Attributes:
    features: N, the LSTM state size (h in the paper).
    kernel: k (odd) of both row convolutions.
    decode: one pixel per call (see module docstring).
    width: image width W (decode caches).
  """

  features: int
  kernel: int = 3
  decode: bool = False
  width: Optional[int] = None

  def _params(self, in_features: int):
    half = self.kernel // 2
    gates = 4 * self.features
    # Input-to-state: a k x 1 mask-B row convolution; only its causal taps
    # (columns j - k//2 .. j) are stored, the masked ones would be zeros.
    input_kernel = self.param("input_kernel", nn.initializers.lecun_normal(),
                              (half + 1, in_features, gates))  # [k//2+1, F, G]
    input_bias = self.param("input_bias", nn.initializers.zeros, (gates,))
    state_kernel = self.param("state_kernel", nn.initializers.lecun_normal(),
                              (self.kernel, self.features, gates))  # [k, N, G]
    return input_kernel, input_bias, state_kernel

  @nn.compact
  def __call__(self, x: jnp.ndarray, pos=None) -> jnp.ndarray:
    """Full mode ``x [B, H, W, F]``; decode mode the layer input at ``pos = (i, j)``, ``[B, F]``."""
    input_kernel, input_bias, state_kernel = self._params(x.shape[-1])
    out = nn.Dense(x.shape[-1], name="out")
    if self.decode:
      return x + out(self._decode(x, pos, input_kernel, input_bias, state_kernel))
    half = self.kernel // 2
    batch, _, width, _ = x.shape
    gates_in = _conv_along_width(x, input_kernel, half, 0)  # [B, H, W, G]
    gates_in = gates_in + input_bias.reshape(1, 1, 1, -1)

    def row(carry, g_row):  # g_row [B, W, G]
      h_prev, c_prev = carry  # [B, W, N] each
      gates = g_row + _conv_along_width(h_prev, state_kernel, half, half)
      h, c = _lstm_update(gates, c_prev)
      return (h, c), h

    zeros = jnp.zeros((batch, width, self.features), x.dtype)
    _, hs = jax.lax.scan(row, (zeros, zeros), jnp.moveaxis(gates_in, 1, 0))  # [H, B, W, N]
    return x + out(jnp.moveaxis(hs, 0, 1))

  def _decode(self, x, pos, input_kernel, input_bias, state_kernel) -> jnp.ndarray:
    """Hidden state ``[B, N]`` at (i, j) from the caches; updates them."""
    if pos is None or self.width is None:
      raise ValueError("a decode-mode RowLSTMLayer needs pos=(i, j) and width")
    i, j = pos
    half = self.kernel // 2
    batch, n = x.shape[0], self.features
    # The current row of the layer input, left-padded by k//2 (never-written zeros).
    inputs = self.variable("cache", "inputs", jnp.zeros,
                           (batch, self.width + half, x.shape[-1]), x.dtype)
    # Hidden states of two rows (slot r % 2 holds row r), padded k//2 each side.
    hidden = self.variable("cache", "hidden", jnp.zeros,
                           (batch, 2, self.width + 2 * half, n), x.dtype)
    # Cell states: column j holds row i - 1 until (i, j) overwrites it with row i.
    cells = self.variable("cache", "cells", jnp.zeros, (batch, self.width, n), x.dtype)

    buf = inputs.value.at[:, j + half].set(x)
    inputs.value = buf
    window = jax.lax.dynamic_slice_in_dim(buf, j, half + 1, axis=1)  # [B, k//2+1, F]
    gates = jnp.einsum("btf,tfg->bg", window, input_kernel) + input_bias[None]
    prev = jnp.take(hidden.value, (i + 1) % 2, axis=1)  # [B, W + 2 half, N]: row i - 1
    above = jax.lax.dynamic_slice_in_dim(prev, j, self.kernel, axis=1)  # [B, k, N]
    gates = gates + jnp.einsum("btn,tng->bg", above, state_kernel)
    c_prev = jnp.take(cells.value, j, axis=1)  # [B, N]
    h, c = _lstm_update(gates, c_prev)
    cells.value = cells.value.at[:, j].set(c)
    hidden.value = hidden.value.at[:, i % 2, j + half].set(h)
    return h


def _skew(x: jnp.ndarray) -> jnp.ndarray:
  """``[B, H, W, F] -> [B, H, W + H - 1, F]``: row r shifted right by r, zeros elsewhere."""
  _, height, width, _ = x.shape
  rows = jnp.arange(height)[:, None]  # [H, 1]
  cols = jnp.arange(width + height - 1)[None, :] - rows  # [H, S]: source column
  valid = (cols >= 0) & (cols < width)
  index = jnp.clip(cols, 0, width - 1)[None, :, :, None]  # [1, H, S, 1]
  skewed = jnp.take_along_axis(x, index, axis=2, mode="clip")  # [B, H, S, F]
  return jnp.where(valid[None, :, :, None], skewed, jnp.zeros((), x.dtype))


def _unskew(x: jnp.ndarray, width: int) -> jnp.ndarray:
  """``[B, H, S, F] -> [B, H, W, F]``: the inverse of :func:`_skew`."""
  height = x.shape[1]
  index = (jnp.arange(height)[:, None] + jnp.arange(width)[None, :])[None, :, :, None]
  return jnp.take_along_axis(x, index, axis=2, mode="clip")


class DiagonalLSTM(nn.Module):
  """One direction of a Diagonal BiLSTM layer (section 3.2): ``[B, H, W, F] -> [B, H, W, N]``.

  Left to right (``reverse=False``), the state at (r, j) depends on the input at
  (r, j) (1x1, mask B) and on the states at (r, j - 1) and (r - 1, j): a
  diagonal sweep from the top-left. Right to left (``reverse=True``), the same
  LSTM runs on the mirrored image: the state at (r, j) depends on the states at
  (r, j + 1) and (r - 1, j).

  Decode mode (one pixel (i, j) per call, input ``[B, F]``): the left-to-right
  direction returns its state at (i, j); the right-to-left one returns its
  state at (i - 1, j) (zeros in row 0), the term the layer adds after its
  shift by a row (see the module docstring).

  Attributes:
    features: N, the LSTM state size.
    reverse: run right to left.
    decode: one pixel per call.
    width: image width W (decode caches).
  """

  features: int
  reverse: bool = False
  decode: bool = False
  width: Optional[int] = None

  @nn.compact
  def __call__(self, x: jnp.ndarray, pos=None) -> jnp.ndarray:
    """Full mode ``x [B, H, W, F]``; decode mode the layer input at ``pos = (i, j)``, ``[B, F]``."""
    gates_in = nn.Dense(4 * self.features, name="input")(x)  # [B, H, W, G] or [B, G]
    # [2, N, G]: tap 0 reads the row above, tap 1 the same row, of the previous column.
    state_kernel = self.param("state_kernel", nn.initializers.lecun_normal(),
                              (2, self.features, 4 * self.features))
    if self.decode:
      if pos is None or self.width is None:
        raise ValueError("a decode-mode DiagonalLSTM needs pos=(i, j) and width")
      step = self._row_above if self.reverse else self._step
      return step(gates_in, pos, state_kernel)
    if self.reverse:
      return self._sweep(gates_in[:, :, ::-1], state_kernel)[:, :, ::-1]
    return self._sweep(gates_in, state_kernel)

  def _sweep(self, gates_in: jnp.ndarray, state_kernel: jnp.ndarray) -> jnp.ndarray:
    """Input gates ``[B, H, W, G]`` -> states ``[B, H, W, N]``, left to right."""
    batch, height, width, _ = gates_in.shape
    skewed = jnp.moveaxis(_skew(gates_in), 2, 0)  # [S, B, H, G]

    def column(carry, g_col):  # g_col [B, H, G]
      h_prev, c_prev = carry  # [B, H, N]
      above = jnp.pad(h_prev[:, :-1], ((0, 0), (1, 0), (0, 0)))  # [B, H, N]
      gates = (g_col + jnp.einsum("bhn,ng->bhg", above, state_kernel[0])
               + jnp.einsum("bhn,ng->bhg", h_prev, state_kernel[1]))
      h, c = _lstm_update(gates, c_prev)
      return (h, c), h

    # Skew padding left of a row has zero input and zero state, so it stays
    # exactly zero (sigmoid(0) * 0 + sigmoid(0) * tanh(0) = 0); padding right of a
    # row feeds only padding further right. The valid states are exact.
    zeros = jnp.zeros((batch, height, self.features), gates_in.dtype)
    _, hs = jax.lax.scan(column, (zeros, zeros), skewed)  # [S, B, H, N]
    return _unskew(jnp.moveaxis(hs, 0, 2), width)  # [B, H, W, N]

  def _step(self, gates_in, pos, state_kernel) -> jnp.ndarray:
    """Left to right: the state ``[B, N]`` at (i, j) from the caches; updates them."""
    i, j = pos
    del i
    batch, n = gates_in.shape[0], self.features
    # Slot j + 1 holds column j's state: row i - 1 until (i, j) overwrites it with
    # row i. Slot 0 stays zero: the state left of column 0.
    hidden = self.variable("cache", "hidden", jnp.zeros, (batch, self.width + 1, n),
                           gates_in.dtype)
    # The cell state at (i, j - 1) (the only one the next pixel reads).
    cell = self.variable("cache", "cell", jnp.zeros, (batch, n), gates_in.dtype)
    above = jax.lax.dynamic_index_in_dim(hidden.value, j + 1, axis=1, keepdims=False)
    left = jax.lax.dynamic_index_in_dim(hidden.value, j, axis=1, keepdims=False)
    c_left = jnp.where(j == 0, jnp.zeros_like(cell.value), cell.value)
    gates = gates_in + above @ state_kernel[0] + left @ state_kernel[1]
    h, c = _lstm_update(gates, c_left)
    hidden.value = hidden.value.at[:, j + 1].set(h)
    cell.value = c
    return h

  def _row_above(self, gates_in, pos, state_kernel) -> jnp.ndarray:
    """Right to left: the state ``[B, N]`` at (i - 1, j) from the caches; updates them.

    Row i - 1's states need that row's inputs up to column W - 1, so they are
    computed in one right-to-left pass over the row (W cell updates) at the
    first pixel of row i, from the cached input gates of row i - 1 and the
    cached states of row i - 2.
    """
    i, j = pos
    batch, n = gates_in.shape[0], self.features
    # Column j: this direction's input gates at (i, j') for j' < j, at (i - 1, j') for j' >= j.
    gates_row = self.variable("cache", "gates", jnp.zeros, (batch, self.width, 4 * n),
                              gates_in.dtype)
    # Its states of row i - 1 (zeros while i = 0).
    states = self.variable("cache", "states", jnp.zeros, (batch, self.width, n), gates_in.dtype)

    def row_pass(gates_prev, states_prev):  # [B, W, G], [B, W, N] -> [B, W, N]
      def column(carry, inputs):
        h_right, c_right = carry  # [B, N]: the state and cell at (i - 1, j + 1)
        g, above = inputs  # [B, G], [B, N]: (i - 1, j) and (i - 2, j)
        gates = g + above @ state_kernel[0] + h_right @ state_kernel[1]
        h, c = _lstm_update(gates, c_right)
        return (h, c), h

      zeros = jnp.zeros((batch, n), gates_prev.dtype)
      columns = (jnp.moveaxis(gates_prev, 1, 0), jnp.moveaxis(states_prev, 1, 0))
      _, hs = jax.lax.scan(column, (zeros, zeros), columns, reverse=True)  # [W, B, N]
      return jnp.moveaxis(hs, 0, 1)

    states.value = jax.lax.cond((j == 0) & (i > 0), row_pass, lambda g, s: s,
                                gates_row.value, states.value)
    gates_row.value = gates_row.value.at[:, j].set(gates_in)
    return jax.lax.dynamic_index_in_dim(states.value, j, axis=1, keepdims=False)


class DiagonalBiLSTMLayer(nn.Module):
  """One residual Diagonal BiLSTM layer (sections 3.2, 3.3): ``[B, H, W, F] -> [B, H, W, F]``.

  Attributes:
    features: N per direction.
    decode: one pixel per call (``x [B, F]`` at ``pos``).
    width: image width W (decode caches).
  """

  features: int
  decode: bool = False
  width: Optional[int] = None

  @nn.compact
  def __call__(self, x: jnp.ndarray, pos=None) -> jnp.ndarray:
    lstm = lambda reverse, name: DiagonalLSTM(self.features, reverse, self.decode, self.width,
                                              name=name)
    left = lstm(False, "left")(x, pos)  # [B, H, W, N] (decode: [B, N] at (i, j))
    right = lstm(True, "right")(x, pos)  # decode: already the state at (i - 1, j)
    if not self.decode:
      # Right-to-left state (i, j) saw row i right of j: use row i - 1's instead.
      right = jnp.pad(right[:, :-1], ((0, 0), (1, 0), (0, 0), (0, 0)))
    return x + nn.Dense(x.shape[-1], name="out")(left + right)


class _PixelCache(nn.Module):
  """Decode mode: the current pixel's feature ``[B, O]``, kept for its later channels."""

  @nn.compact
  def __call__(self, value: jnp.ndarray, read: bool = False) -> jnp.ndarray:
    """Stores ``value`` and returns it, or (``read``) returns the stored one (``value``
    then gives only the shape)."""
    cache = self.variable("cache", "feature", jnp.zeros, value.shape, value.dtype)
    if read:
      return cache.value
    cache.value = value
    return value


class _PixelRNN(ImageModel):
  """Shared fields, checks, layers and decode path of the two PixelRNNs.

  Attributes:
    features: N = h of the paper: LSTM state size; the residual stream has 2h.
    num_layers: LSTM layers.
    kernel: k of the Row LSTM's row convolutions (3; unused by the BiLSTM).
    first_kernel: odd size of the mask-A input convolution (7 in the paper).
    output_features: maps of the hidden ReLU + 1x1 output layer.
    num_components: mixture size of the ``"logistic_mixture"`` head.
    decode: build the one-pixel-per-call decoder (used by the sampler).
  """

  features: int = 16
  num_layers: int = 7
  kernel: int = 3
  first_kernel: int = 7
  output_features: int = 32
  num_components: int = 5
  decode: bool = False

  has_decode = True

  def check_config(self) -> None:
    super().check_config()
    name = type(self).__name__
    for field in ("features", "output_features"):
      if getattr(self, field) < 1:
        raise ValueError(f"{name} expects {field} >= 1, got {getattr(self, field)}")
    if self.num_layers < 0:
      raise ValueError(f"{name} expects num_layers >= 0, got {self.num_layers}")
    for field in ("kernel", "first_kernel"):
      value = getattr(self, field)
      if value < 1 or value % 2 == 0:
        raise ValueError(f"{name} expects an odd {field} >= 1, got {value}")
    if self.first_kernel < 3:
      raise ValueError(
          f"{name} expects first_kernel >= 3 (a 1x1 mask-A convolution sees no pixel), "
          f"got {self.first_kernel}")

  def _layer(self, index: int) -> nn.Module:
    """LSTM layer ``index``: ``[B, H, W, F] -> [B, H, W, F]`` (decode: ``[B, F]`` at pos)."""
    raise NotImplementedError

  def setup(self):
    self.first = MaskedConv2D(2 * self.features, self.first_kernel, "A", num_groups=1,
                              decode=self.decode, width=self.event_shape[1], name="first")
    self.layers = [self._layer(l) for l in range(self.num_layers)]
    self.out_hidden = nn.Dense(self.output_features, name="out_hidden")
    self.output = self.channel_output()
    self.pixel_cache = _PixelCache(name="pixel_cache")

  def _features(self, x: jnp.ndarray, pos=None) -> jnp.ndarray:
    """Float image -> pixel features ``[B, H, W, O]`` (decode: ``[B, O]`` at pos)."""
    h = self.first(x, pos)
    for layer in self.layers:
      h = layer(h, pos)
    return nn.relu(self.out_hidden(nn.relu(h)))

  def __call__(self, x: jnp.ndarray, cond: Any = None, train: bool = False) -> jnp.ndarray:
    """``x [B, H, W, C]`` int -> raw head parameters ``[B, H, W, C, P]``."""
    del cond, train
    return self.output(self._features(self.scale_input(x)), x)

  def _pixel_feature(self, canvas, i, j) -> jnp.ndarray:
    """Decode mode: the feature ``[B, O]`` of pixel (i, j); updates the layer caches."""
    return self._features(self.scale_input(canvas), (i, j))

  def _fresh_feature(self, canvas, i, j) -> jnp.ndarray:
    return self.pixel_cache(self._pixel_feature(canvas, i, j))

  def _cached_feature(self, canvas, i, j) -> jnp.ndarray:
    del i, j
    return self.pixel_cache(jnp.zeros((canvas.shape[0], self.output_features)), read=True)

  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray, cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of flat dimension t (raster order over H, W, C).

    Args:
      canvas: ``[B, H, W, C]`` int, every dimension before t final.
      t: scalar int.
      cond: unused.
    """
    del cond
    _, width, channels = self.event_shape
    i, j, c = t // (width * channels), (t // channels) % width, t % channels
    if channels == 1:
      feature = self._pixel_feature(canvas, i, j)
    elif self.is_initializing():
      feature = self._fresh_feature(canvas, i, j)
    else:  # the later channels of a pixel reuse its feature
      feature = nn.cond(c == 0, _PixelRNN._fresh_feature, _PixelRNN._cached_feature,
                        self, canvas, i, j)
    pixel = jax.lax.dynamic_index_in_dim(
        jax.lax.dynamic_index_in_dim(canvas, i, axis=1, keepdims=False), j, axis=1,
        keepdims=False)  # [B, C]
    return self.output.decode(feature, pixel, c)


class RowLSTM(_PixelRNN):
  """PixelRNN Row LSTM over ``(H, W, C)`` images (see module docstring)."""

  def _layer(self, index: int) -> nn.Module:
    return RowLSTMLayer(self.features, self.kernel, decode=self.decode,
                        width=self.event_shape[1], name=f"layer{index}")


class DiagonalBiLSTM(_PixelRNN):
  """PixelRNN Diagonal BiLSTM over ``(H, W, C)`` images (see module docstring)."""

  def _layer(self, index: int) -> nn.Module:
    return DiagonalBiLSTMLayer(self.features, decode=self.decode, width=self.event_shape[1],
                               name=f"layer{index}")


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  """Named sizes.

  ``paper``: MNIST-scale images (up to 28 x 28) get the 7-layer, h = 16 models
  of Table 4 with 32-map output layers; larger ones the 12-layer, h = 128 models
  of Table 5 with 1024-map output layers. ``small`` (3 layers, h = 32) trains a
  28 x 28 binary model at batch 16 in about 0.4 s (Row LSTM) / 0.9 s (Diagonal
  BiLSTM) per step on a loaded 2-core CPU.
  """
  del num_levels
  if size == "tiny":
    return dict(features=8, num_layers=1, first_kernel=3, output_features=16)
  if size == "small":
    return dict(features=32, num_layers=3, first_kernel=7, output_features=64)
  big = len(event_shape) == 3 and max(event_shape[0], event_shape[1]) > 28
  if big:
    return dict(features=128, num_layers=12, first_kernel=7, output_features=1024,
                num_components=10)
  return dict(features=16, num_layers=7, first_kernel=7, output_features=32,
              num_components=10)


registry.register("row_lstm", RowLSTM, _sizes)
registry.register("diagonal_bilstm", DiagonalBiLSTM, _sizes)
