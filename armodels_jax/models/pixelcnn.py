"""PixelCNN (the original, with masks A and B).

van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural
Networks" (ICML), section 3.5 (architecture), section 3.4 (masks), figure 5
(residual block) and Table 2 (layer list): a 7x7 mask-A convolution, residual
blocks each with one 3x3 mask-B convolution between 1x1 convolutions, then two
ReLU + 1x1 mask-B layers and a softmax per sub-pixel (256-way; Bernoulli for
binary images). Channel autoregression R -> G -> B comes from the masks' channel
groups, so the conditional of channel c sees channels < c of the same pixel.

Published numbers: binarized MNIST test NLL 81.30 nats (Table 4), CIFAR-10
3.14 bits/dim (Table 5).

Cached sampling: a clone with ``decode=True`` computes one output pixel per
call (``decode_step``); the first layer reads its 7x7 window from the sampler's
canvas, every 3x3 layer keeps a ring buffer of its last 2 input rows, and 1x1
layers need no memory (see :mod:`armodels_jax.layers.masked_conv`). A pixel with
C channels takes C sub-steps, each recomputing the pixel with one more known
channel.

Dimensions: B batch, H height, W width, C image channels, F feature maps,
P raw parameters per sub-pixel (L for the softmax, 1 for Bernoulli).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from armodels_jax.layers.masked_conv import MaskedConv2D
from armodels_jax.models import registry
from armodels_jax.models.base import ARModel


class PixelCNN(ARModel):
  """PixelCNN over ``(H, W, C)`` images.

  Attributes:
    features: feature maps of the residual stream (2h in the paper's figure
      5); blocks narrow to ``features // 2``. Multiples of ``2 C``.
    num_blocks: residual blocks (one 3x3 mask-B convolution each).
    first_kernel: kernel of the mask-A input convolution (7 in the paper).
    block_kernel: kernel of the residual blocks' masked convolution (3).
    output_features: feature maps of the hidden 1x1 output layer.
    decode: build the one-pixel-per-call decoder (used by the sampler).
  """

  features: int = 64
  num_blocks: int = 11
  first_kernel: int = 7
  block_kernel: int = 3
  output_features: int = 64
  decode: bool = False

  has_decode = True
  mixed_precision = True

  def check_config(self) -> None:
    if len(self.event_shape) != 3:
      raise ValueError(f"PixelCNN expects an image event_shape (H, W, C), got {self.event_shape}")
    channels = self.event_shape[-1]
    for field in ("features", "output_features"):
      value = getattr(self, field)
      if value < 2 * channels or value % (2 * channels):
        raise ValueError(
            f"PixelCNN {field} must be a positive multiple of 2 * channels = "
            f"{2 * channels}, got {value}")
    if self.num_blocks < 0:
      raise ValueError(f"expected num_blocks >= 0, got {self.num_blocks}")

  def setup(self):
    _, width, channels = self.event_shape
    conv = lambda f, k, t, name: MaskedConv2D(
        f, k, t, num_groups=channels, decode=self.decode, width=width, name=name)
    half = self.features // 2
    self.first = conv(self.features, self.first_kernel, "A", "first")
    self.blocks = [
        (conv(half, 1, "B", f"block{b}_in"),
         conv(half, self.block_kernel, "B", f"block{b}_conv"),
         conv(self.features, 1, "B", f"block{b}_out"))
        for b in range(self.num_blocks)]
    self.out_hidden = conv(self.output_features, 1, "B", "out_hidden")
    self.out = conv(channels * self.head.num_params, 1, "B", "out")

  def _network(self, x: jnp.ndarray, pos=None) -> jnp.ndarray:
    """Float input -> raw outputs ``[B, H, W, C * P]`` (or ``[B, C * P]``)."""
    h = self.first(x, pos)
    for conv_in, conv_mid, conv_out in self.blocks:
      r = conv_in(nn.relu(h), pos)
      r = conv_mid(nn.relu(r), pos)
      h = h + conv_out(nn.relu(r), pos)
    h = self.out_hidden(nn.relu(h), pos)
    return self.out(nn.relu(h), pos)

  def __call__(self, x: jnp.ndarray, cond: Any = None,
               train: bool = False) -> jnp.ndarray:
    """``x [B, H, W, C]`` int -> raw head parameters ``[B, H, W, C, P]``."""
    del cond, train
    raw = self._network(self.scale_input(x))
    return raw.reshape(x.shape + (self.head.num_params,))

  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray,
                  cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of flat dimension t (raster order over H, W, C).

    Args:
      canvas: ``[B, H, W, C]`` int, every dimension before t final.
      t: scalar int, the flat index of the dimension to predict.
      cond: unused.
    """
    del cond
    _, width, channels = self.event_shape
    i, j, c = t // (width * channels), (t // channels) % width, t % channels
    raw = self._network(self.scale_input(canvas), (i, j))  # [B, C * P]
    raw = raw.reshape(raw.shape[0], channels, self.head.num_params)
    return jnp.take(raw, c, axis=1)


def _round_up(value: int, multiple: int) -> int:
  return -(-value // multiple) * multiple


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  del num_levels
  step = 2 * event_shape[-1] if len(event_shape) == 3 else 2
  table = {
      "tiny": dict(features=8, num_blocks=1, first_kernel=3, output_features=8),
      "small": dict(features=64, num_blocks=11, first_kernel=7, output_features=64),
      "paper": dict(features=256, num_blocks=15, first_kernel=7, output_features=1024),
  }[size]
  table["features"] = _round_up(table["features"], step)
  table["output_features"] = _round_up(table["output_features"], step)
  return table


registry.register("pixelcnn", PixelCNN, _sizes)
