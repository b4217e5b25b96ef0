"""PixelSNAIL: gated residual causal convolutions interleaved with causal self-attention.

Chen, Mishra, Rohaninejad & Abbeel 2018, "PixelSNAIL: An Improved
Autoregressive Generative Model" (ICML), section 3 and figure 4: a stack of
blocks, each made of a residual block (gated residual units of 2x2
down-right-shifted causal convolutions, as in PixelCNN++) followed by an
attention block, a single key/value lookup over every earlier pixel whose
keys and values come from the block's features, the image and a positional
encoding, and whose queries come from the features and the positional
encoding. The attention output enters a final 1x1 gated residual unit of the
block as its auxiliary input. Output: ELU, then a 1x1 layer to the head's
parameters (:class:`~armodels_jax.models.image_output.ChannelOutput`), by
default a discretized logistic mixture (PixelCNN++ section 2.1-2.2).

Published numbers (Table 1): CIFAR-10 2.85 bits/dim (256 filters, 12 blocks
of 4 residual units, keys of size 16, values of size 128), ImageNet 32x32
3.80 bits/dim.

Details chosen here where the paper leaves them open:

* input layer: a 1x1 layer over the four pixels already seen next to (i, j)
  (left, up-left, up, up-right), each with an extra constant-one channel so
  zero padding differs from a black pixel. Feature (i, j) therefore never sees
  pixel (i, j), which :class:`ChannelOutput` then adds channel by channel.
* positional encoding: two channels, ``(i - H / 2) / H`` and ``(j - W / 2) / W``.
* the key/value input at pixel p is ``[features(p), image(p) in [-1, 1],
  position(p)]``, the query input ``[features(p), position(p)]``, where
  features(p) are the block's features after its 2x2 units. The key holds
  the image at p, so the query at p attends to pixels strictly before p (a
  strict mask; pixel 0 gets zeros).
* dropout (``train=True`` only) inside every gated residual unit, as in
  PixelCNN++; the paper's text gives no rate, the ``paper`` size uses 0.5,
  PixelCNN++'s CIFAR-10 rate.

Cached sampling (``decode=True``, docs/design.md section 5): ``decode_step`` does
the work of pixel (i, j) once, at its first channel: the input layer reads its
four neighbours from the canvas, every 2x2 unit updates its ring buffers of
rows i - 1 and i (:mod:`armodels_jax.layers.shifted_conv`) and computes output
(i, j), each 1x1 unit runs on pixel (i, j) alone, and each attention block
writes the key/value of pixel p - 1 (whose image is complete only now; its
features were kept from the previous pixel) and attends from pixel p over
pixels < p: O(H W) per pixel, the cost of the paper's method. Later channels
of the pixel reuse the cached feature and re-run only the output layer.

Compilation. The full pass runs the identical blocks as one ``lax.scan`` over their parameters,
stacked at call time (``scan_blocks``; :mod:`armodels_jax.layers.scanned`), so XLA generates code for
one block: for the paper size on TPU (``v5e:2x4``, batch 16), 96 MiB of code and 109 s of CPU to
compile, against 732 MiB and 283 s unrolled (BENCHMARKS.md, "TPU plan"). The parameters keep one tree
per block either way. ``remat_blocks`` recomputes each block in the backward pass instead of keeping
its intermediates.

Dimensions: B batch, H height, W width, C image channels, F features,
T = H W pixels, K key size, V value size, P raw parameters per sub-pixel.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from armodels_jax.layers import scanned
from armodels_jax.layers.attention import CausalSelfAttention
from armodels_jax.layers.shifted_conv import GatedResnet
from armodels_jax.models import registry
from armodels_jax.models.image_output import ImageModel


def _positions(i: jnp.ndarray, j: jnp.ndarray, height: int, width: int) -> jnp.ndarray:
  """Positional encoding of rows i and columns j (broadcast together) -> ``[..., 2]``."""
  row = (i.astype(jnp.float32) - height / 2) / height
  col = (j.astype(jnp.float32) - width / 2) / width
  row, col = jnp.broadcast_arrays(row, col)
  return jnp.stack([row, col], axis=-1)


def _with_ones(x: jnp.ndarray) -> jnp.ndarray:
  """``[..., C] -> [..., C + 1]``: a constant-one channel marks real pixels."""
  return jnp.concatenate([x, jnp.ones(x.shape[:-1] + (1,), x.dtype)], axis=-1)


def _neighbours(padded: jnp.ndarray) -> jnp.ndarray:
  """The four already-seen neighbours of each pixel.

  Args:
    padded: ``[B, H + 1, W + 2, C']``, the input padded with one zero row on
      top and one zero column on each side.

  Returns:
    ``[B, H, W, 4 C']``: left, up-left, up, up-right.
  """
  height, width = padded.shape[1] - 1, padded.shape[2] - 2
  left = padded[:, 1:height + 1, 0:width]
  up_left = padded[:, 0:height, 0:width]
  up = padded[:, 0:height, 1:width + 1]
  up_right = padded[:, 0:height, 2:width + 2]
  return jnp.concatenate([left, up_left, up, up_right], axis=-1)


class _Slot(nn.Module):
  """A per-example value kept in the ``'cache'`` collection between decode steps."""

  @nn.compact
  def __call__(self, x: jnp.ndarray, write: bool = True) -> jnp.ndarray:
    """Returns the stored value (zeros at first) and stores x if ``write``."""
    slot = self.variable("cache", "value", jnp.zeros, x.shape, x.dtype)
    old = slot.value
    if write:
      slot.value = x
    return old


class PixelSNAIL(ImageModel):
  """PixelSNAIL over ``(H, W, C)`` images.

  Attributes:
    features: F, the width of the residual stream (256 in the paper).
    num_blocks: residual + attention blocks (12).
    num_resnets: 2x2 gated residual units per block (4).
    key_size: K, queries and keys (16).
    value_size: V, attention values (128).
    num_heads: attention heads (1 in the paper), dividing K and V.
    dropout_rate: dropout in the gated residual units, with ``train=True``.
    head_kind: ``"logistic_mixture"`` (the paper), ``"categorical"``,
      ``"bernoulli"`` or ``"auto"``.
    num_components: mixture components (10 in the paper).
    scan_blocks: the full pass runs the blocks as one ``lax.scan`` over their stacked
      parameters (see `_scan_blocks`), so that XLA compiles one block, not num_blocks. The
      parameters keep the unrolled layout (``block{b}_resnet{r}``, ``block{b}_attention``,
      ``block{b}_mix``) either way; only the dropout draw of ``train=True`` differs.
    remat_blocks: with ``scan_blocks``, the backward pass recomputes each scanned block from its
      input instead of keeping its intermediates (``jax.checkpoint``, nothing saved).
    decode: build the one-pixel-per-call decoder (used by the sampler).
  """

  features: int = 256
  num_blocks: int = 12
  num_resnets: int = 4
  key_size: int = 16
  value_size: int = 128
  num_heads: int = 1
  dropout_rate: float = 0.0
  head_kind: str = "logistic_mixture"
  num_components: int = 10
  scan_blocks: bool = True
  remat_blocks: bool = False
  decode: bool = False

  has_decode = True
  mixed_precision = True

  def check_config(self) -> None:
    super().check_config()  # the image event shape and head
    for field in ("features", "num_blocks", "key_size", "value_size", "num_heads",
                  "num_components"):
      if getattr(self, field) < 1:
        raise ValueError(f"PixelSNAIL expects {field} >= 1, got {getattr(self, field)}")
    if self.num_resnets < 0:
      raise ValueError(f"PixelSNAIL expects num_resnets >= 0, got {self.num_resnets}")
    for field in ("key_size", "value_size"):
      if getattr(self, field) % self.num_heads:
        raise ValueError(
            f"PixelSNAIL expects {field} divisible by num_heads={self.num_heads}, "
            f"got {getattr(self, field)}")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"PixelSNAIL expects dropout_rate in [0, 1), got {self.dropout_rate}")

  def _resnet(self, kernel=None, **kwargs) -> GatedResnet:
    """A gated residual unit of a block (``kernel=(1, 1)``: the block's final mixer)."""
    return GatedResnet(self.features, conv="down_right", dropout_rate=self.dropout_rate,
                       kernel=kernel, width=self.event_shape[1], **kwargs)

  def _attention(self, **kwargs) -> CausalSelfAttention:
    height, width, _ = self.event_shape
    return CausalSelfAttention(self.key_size, self.value_size, self.num_heads, strict=True,
                               decode=self.decode, max_length=height * width, **kwargs)

  def setup(self):
    self.input_layer = nn.Dense(self.features, name="input")
    self.resnets = [[self._resnet(name=f"block{b}_resnet{r}") for r in range(self.num_resnets)]
                    for b in range(self.num_blocks)]
    self.attentions = [self._attention(name=f"block{b}_attention") for b in range(self.num_blocks)]
    self.mixers = [self._resnet((1, 1), name=f"block{b}_mix") for b in range(self.num_blocks)]
    self.output = self.channel_output()
    if self.decode:
      self.previous = [_Slot(name=f"block{b}_previous") for b in range(self.num_blocks)]
      self.feature = _Slot(name="feature")

  def _features(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    """``x [B, H, W, C]`` int -> per-pixel features ``[B, H, W, F]`` (pixel p sees pixels < p)."""
    batch = x.shape[0]
    height, width, _ = self.event_shape
    image = self.scale_input(x)  # [B, H, W, C]
    padded = jnp.pad(_with_ones(image), ((0, 0), (1, 0), (1, 1), (0, 0)))
    ul = self.input_layer(_neighbours(padded))  # [B, H, W, F]
    pos = _positions(jnp.arange(height)[:, None], jnp.arange(width)[None, :], height, width)
    pos = jnp.broadcast_to(pos[None], (batch, height, width, 2)).astype(image.dtype)  # [B, H, W, 2]
    if self.scan_blocks and self.num_blocks > 1 and not self.is_initializing():
      ul = self._scan_blocks(ul, image, pos, train)
    else:
      for resnets, attention, mixer in zip(self.resnets, self.attentions, self.mixers):
        ul = self._block(ul, image, pos, train, resnets, attention, mixer)
    return nn.elu(ul)

  def _block(self, ul, image, pos, train, resnets, attention, mixer):
    """One block on ``ul [B, H, W, F]``: its 2x2 units, the attention over their output, the
    1x1 mixer (given the modules, or callables with their signatures)."""
    batch = ul.shape[0]
    height, width, _ = self.event_shape
    flat = lambda a: a.reshape(batch, height * width, a.shape[-1])
    for unit in resnets:
      ul = unit(ul, None, None, train)
    kv = jnp.concatenate([ul, image, pos], axis=-1)  # [B, H, W, F + C + 2]
    q = jnp.concatenate([ul, pos], axis=-1)  # [B, H, W, F + 2]
    a = attention(flat(q), flat(kv)).reshape(batch, height, width, self.value_size)
    return mixer(ul, a, None, train)

  def _scan_blocks(self, ul, image, pos, train):
    """The blocks as one ``lax.scan`` (MaxText's ``scan_layers``; PixelCNN++'s ``_scan_blocks``).

    Block b's parameters, stored as separate trees (``block{b}_resnet{r}``, ``block{b}_attention``,
    ``block{b}_mix``), are stacked along a new leading axis on the way in; their gradients flow back
    to the trees through the stack. Each step applies unbound copies of the units, the attention
    and the mixer (same classes and attributes) to its slice. Dropout keys are split from one
    ``'dropout'`` key per call (the unrolled pass draws one per unit instead).
    """
    params = self.variables["params"]
    parts = [f"resnet{r}" for r in range(self.num_resnets)] + ["attention", "mix"]
    stacked = {part: scanned.stack([params[f"block{b}_{part}"] for b in range(self.num_blocks)])
               for part in parts}
    unit, attention, mixer = (self._resnet(parent=None), self._attention(parent=None),
                              self._resnet((1, 1), parent=None))
    dropout = train and self.dropout_rate > 0
    keys = (jax.random.split(self.make_rng("dropout"), (self.num_blocks, self.num_resnets + 1))
            if dropout else None)

    def step(ul, xs):
      p, key = xs
      key = [None] * (self.num_resnets + 1) if key is None else key
      units = [scanned.bound(unit, p[f"resnet{r}"], key[r]) for r in range(self.num_resnets)]
      return self._block(ul, image, pos, train, units, scanned.bound(attention, p["attention"]),
                         scanned.bound(mixer, p["mix"], key[-1])), None

    ul, _ = scanned.scan(step, ul, (stacked, keys), self.remat_blocks)
    return ul

  def __call__(self, x: jnp.ndarray, cond: Any = None, train: bool = False) -> jnp.ndarray:
    """``x [B, H, W, C]`` int -> raw head parameters ``[B, H, W, C, P]``."""
    del cond
    return self.output(self._features(x, train), x)

  def _canvas_pixel(self, canvas: jnp.ndarray, i: jnp.ndarray, j: jnp.ndarray) -> jnp.ndarray:
    """Pixel (i, j) of the canvas scaled to ``[-1, 1]`` with the constant-one channel,
    zeros outside the image (the full pass's padding): ``[B, C + 1]``."""
    height, width, channels = self.event_shape
    inside = (i >= 0) & (i < height) & (j >= 0) & (j < width)
    start = (0, jnp.clip(i, 0, height - 1), jnp.clip(j, 0, width - 1), 0)
    pixel = jax.lax.dynamic_slice(canvas, start, (canvas.shape[0], 1, 1, channels))[:, 0, 0]
    scaled = _with_ones(self.scale_input(pixel))
    return scaled * inside.astype(scaled.dtype)

  def _pixel_feature(self, canvas: jnp.ndarray, i: jnp.ndarray, j: jnp.ndarray) -> jnp.ndarray:
    """Decode mode: the feature ``[B, F]`` of pixel (i, j), updating every cache.

    Reads only pixels (i, j - 1), (i - 1, j - 1 .. j + 1) and the previous pixel of
    the canvas, so a step does O(1) work per layer besides the attention's O(T).
    """
    batch = canvas.shape[0]
    height, width, channels = self.event_shape
    seen = [self._canvas_pixel(canvas, i + di, j + dj)  # left, up-left, up, up-right
            for di, dj in ((0, -1), (-1, -1), (-1, 0), (-1, 1))]
    ul = self.input_layer(jnp.concatenate(seen, axis=-1))  # [B, F]
    p = i * width + j
    prev = jnp.maximum(p - 1, 0)  # at p = 0 a dummy entry, never read, overwritten at p = 1
    prev_i, prev_j = prev // width, prev % width
    prev_image = self._canvas_pixel(canvas, prev_i, prev_j)[:, :channels]  # [B, C]
    dtype = self.compute_dtype
    prev_pos = jnp.broadcast_to(_positions(prev_i, prev_j, height, width)[None], (batch, 2))
    prev_pos = prev_pos.astype(dtype)
    pos = jnp.broadcast_to(_positions(i, j, height, width)[None], (batch, 2)).astype(dtype)
    for resnets, attention, mixer, previous in zip(
        self.resnets, self.attentions, self.mixers, self.previous):
      for unit in resnets:
        ul = unit.decode_pixel(ul, i, j)
      prev_ul = previous(ul)  # the features of pixel p - 1; keeps pixel p's
      kv = jnp.concatenate([prev_ul, prev_image, prev_pos], axis=-1)  # [B, F + C + 2]
      a = attention(jnp.concatenate([ul, pos], axis=-1), kv, p, prev)  # [B, V]
      # A 1x1 unit needs no ring buffer: its full pass over the 1x1 image of pixel p.
      ul = mixer(ul[:, None, None], a[:, None, None])[:, 0, 0]
    return nn.elu(ul)

  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray, cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of flat dimension t (raster order over H, W, C).

    Args:
      canvas: ``[B, H, W, C]`` int, every dimension before t final.
      t: scalar int, the flat index of the dimension to predict.
      cond: unused.
    """
    del cond
    _, width, channels = self.event_shape
    i, j, c = t // (width * channels), (t // channels) % width, t % channels

    def new_pixel(mdl):
      h = mdl._pixel_feature(canvas, i, j)
      mdl.feature(h)
      return h

    def same_pixel(mdl):  # later channels: the feature computed at channel 0
      return mdl.feature(jnp.zeros((canvas.shape[0], mdl.features), mdl.compute_dtype),
                         write=False)

    if channels == 1:
      h = self._pixel_feature(canvas, i, j)
    elif self.is_initializing():  # create every parameter and cache entry
      h = new_pixel(self)
    else:
      h = nn.cond(c == 0, new_pixel, same_pixel, self)
    pixel = jax.lax.dynamic_slice(canvas, (0, i, j, 0), (canvas.shape[0], 1, 1, channels))
    return self.output.decode(h, pixel[:, 0, 0], c)


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  del event_shape, num_levels
  return {
      "tiny": dict(features=8, num_blocks=1, num_resnets=1, key_size=8, value_size=8,
                   num_components=3, dropout_rate=0.0),
      "small": dict(features=64, num_blocks=2, num_resnets=2, key_size=16, value_size=32,
                    num_components=5, dropout_rate=0.0),
      "paper": dict(features=256, num_blocks=12, num_resnets=4, key_size=16, value_size=128,
                    num_components=10, dropout_rate=0.5),
  }[size]


registry.register("pixelsnail", PixelSNAIL, _sizes)
