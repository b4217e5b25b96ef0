"""PixelCNN++ with cached (fast) sampling.

Salimans, Karpathy, Chen & Kingma 2017, "PixelCNN++: Improving the PixelCNN
with discretized logistic mixture likelihood and other modifications" (ICLR):

* section 2.1-2.2: the discretized logistic mixture likelihood with linear
  dependence between the channels of a pixel (the head of
  :mod:`armodels_jax.models.image_output`);
* section 2.3: conditioning on whole pixels (the network never sees any
  channel of pixel (i, j) when predicting it; the channels are linked by the
  head);
* section 2.4 and figure 2: down-sampling by stride-2 convolutions instead of
  dilation, shortcut connections from the down pass into every block of the up
  pass, two streams -- ``u`` (down-shifted 2x3 convolutions: everything above)
  and ``ul`` (down-right-shifted 2x2 convolutions: above and to the left, with
  ``u`` as an auxiliary input) -- and concat-ELU gated residual blocks
  (:class:`armodels_jax.layers.shifted_conv.GatedResnet`);
* section 2.5: dropout on the blocks' hidden layer (0.5);
* class conditioning: a class-dependent bias in every gated resnet.

Published number: CIFAR-10 2.92 bits/dim (Table 1) with 160 filters, 5 resnets
per resolution, 3 resolutions (32, 16, 8), 10 mixture components (the
``paper`` size).

Causality. The input layer is ``u = down_shift(conv2x3(x))`` (rows above),
``ul = down_shift(conv1x3(x)) + right_shift(conv2x1(x))`` (the row above and
the pixels left of (i, j) in row i), so ``ul`` at (i, j) sees only pixels
before (i, j) in raster order. A stride-2 layer's output (I, J) sees its
input at rows ``2I - 1 .. 2I`` (columns ``2J - 1 .. 2J`` for ``ul``), i.e. only
pixels before (2I, 2J); the transposed convs map low-res (I, J) to
``(2I + a, 2J + b)``, so every feature at (i, j) stays strictly before (i, j).

Cached sampling (Ramachandran et al. 2017, "Fast Generation for Convolutional
Autoregressive Models", ICLR workshop). A ``decode=True`` clone visits the
sub-pixels in raster order. At full-resolution pixel (i, j), channel c = 0:

* if j == 0 (a new row): for each resolution r with ``i % 2^r == 0`` the ``u``
  rows of resolution r at row ``I = i / 2^r`` (down pass, then up pass); the
  down pass row I of resolution r needs input rows ``2I - 1, 2I`` of r - 1,
  which are complete exactly then. Every ``u`` row is cached for the ``ul``
  blocks of the rest of the row.
* always: the ``ul`` pixel of each resolution r with ``i % 2^r == 0`` and
  ``j % 2^r == 0`` at ``(i / 2^r, j / 2^r)``: its stride-2 input
  ``(2I - 1 .. 2I, 2J - 1 .. 2J)`` is complete exactly then; the up pass of
  resolution r reads the low-res ``ul`` output at ``(I // 2, J // 2)`` from the
  transposed conv's row buffer.
* the output layer gives h at (i, j), cached; channels c > 0 only re-run the
  output layer on the cached h.

Each of these is a ``flax.linen.cond``, so skipped work is skipped: a step costs
O(1) pixel of each resolution, plus one row at row starts.

Compilation. The full pass scans over the N identical resnets of each resolution and pass
(``scan_blocks``; MaxText's ``scan_layers``), so XLA generates code for each block once: for the paper
size on TPU, 136 MiB of code and about 4 times less compile time than the unrolled pass
(BENCHMARKS.md, "TPU plan"). The parameters keep one tree per block either way. The scan keeps
every block's intermediates for the backward pass (7.91 GiB of temporaries per chip at batch 64 on
``v5e:2x2``, against 2.96 unrolled); ``remat_blocks`` recomputes them instead (2.05 GiB, but a compile
3.8 times longer), so it is off by default.

Dimensions: B batch, H height, W width, C image channels, F filters, R
resolutions, N resnets per resolution, P raw parameters per sub-pixel,
E classes.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.layers import scanned
from armodels_jax.layers.shifted_conv import (
    _KERNEL_INIT, DownRightShiftedConv2D, DownRightShiftedDeconv2D, DownShiftedConv2D,
    DownShiftedDeconv2D, GatedResnet, down_shift, right_shift)
from armodels_jax.models import registry
from armodels_jax.models.image_output import ImageModel


class _Store(nn.Module):
  """A cached array in the ``'cache'`` collection: ``write(value)``, ``read()``,
  ``read_at(j)`` (entry j of axis 1)."""

  @nn.compact
  def __call__(self, value=None):
    if value is None:
      return self.variable("cache", "value", _missing).value
    var = self.variable("cache", "value", jnp.zeros, value.shape, value.dtype)
    var.value = value
    return value

  def write(self, value):
    return self(value)

  def read(self):
    return self()

  def read_at(self, j):
    return jax.lax.dynamic_index_in_dim(self(), j, axis=1, keepdims=False)


def _missing():
  raise ValueError("decode cache read before it was written")


def _noop(module, *args):
  del module, args


def max_resolutions(height: int, width: int) -> int:
  """The most resolutions an ``H x W`` image allows (H, W divisible by ``2^(R-1)``)."""
  r = 1
  while height % 2 ** r == 0 and width % 2 ** r == 0:
    r += 1
  return r


class PixelCNNPP(ImageModel):
  """PixelCNN++ over ``(H, W, C)`` images (see module docstring).

  Attributes:
    head_kind: ``"logistic_mixture"`` (the paper), ``"categorical"``,
      ``"bernoulli"`` or ``"auto"``.
    features: F, filters of every layer (160 in the paper).
    num_resnet: N gated resnets per resolution in each pass (5).
    num_resolutions: R (3); H and W must be divisible by ``2^(R-1)``.
    num_components: logistic mixture components (10).
    dropout_rate: dropout in the gated resnets, active with ``train=True`` (0.5).
    num_classes: E > 0 for a class-conditional model (cond: int labels [B]).
    scan_blocks: the full pass runs the N resnets of each resolution and pass as one
      ``lax.scan`` over their stacked parameters (see `_scan_blocks`), so that XLA compiles
      each block once per resolution, not N times. The parameters keep the unrolled layout
      (``u_down_{r}_{k}``, ...) either way; only the dropout draw of ``train=True`` differs.
    remat_blocks: with ``scan_blocks``, the backward pass recomputes each scanned block pair
      from its input instead of keeping its intermediates (``jax.checkpoint``, nothing saved).
    decode: build the one-sub-pixel-per-call decoder (used by the sampler).
  """

  head_kind: str = "logistic_mixture"
  features: int = 160
  num_resnet: int = 5
  num_resolutions: int = 3
  num_components: int = 10
  dropout_rate: float = 0.5
  num_classes: int = 0
  scan_blocks: bool = True
  remat_blocks: bool = False
  decode: bool = False

  has_decode = True
  conditional = True
  mixed_precision = True

  display_name = "PixelCNN++"

  def check_config(self) -> None:
    super().check_config()  # the image event shape and head
    for field in ("features", "num_resnet", "num_resolutions"):
      value = getattr(self, field)
      if not isinstance(value, int) or value < 1:
        raise ValueError(f"PixelCNN++ expects an integer {field} >= 1, got {value!r}")
    if not isinstance(self.num_classes, int) or self.num_classes < 0:
      raise ValueError(f"PixelCNN++ expects an integer num_classes >= 0, got {self.num_classes!r}")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"PixelCNN++ expects dropout_rate in [0, 1), got {self.dropout_rate}")
    height, width, _ = self.event_shape
    most = max_resolutions(height, width)
    if self.num_resolutions > most:
      raise ValueError(
          f"PixelCNN++ with num_resolutions={self.num_resolutions} needs H and W divisible by "
          f"{2 ** (self.num_resolutions - 1)}; event_shape {self.event_shape} allows at most {most}")

  def check_request(self, *, reduce: bool = True, prefix_len: int = 0, cond: Any = None) -> None:
    """Validates ``cond`` on the host: None, or int labels ``[B]`` in ``[0, E)``."""
    del reduce, prefix_len
    if self.num_classes == 0:
      if cond is not None:
        raise ValueError(
            f"this PixelCNN++ is unconditional (num_classes=0): expected cond=None, got "
            f"{type(cond).__name__}")
      return
    if cond is None:
      # ``arm.init`` asks with cond=None; log_prob and sample of a conditional
      # configuration raise ValueError for it when they trace the model.
      return
    labels = np.asarray(cond)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
      raise ValueError(
          f"expected cond as int class labels of shape [B], got dtype {labels.dtype} shape "
          f"{labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
      raise ValueError(
          f"expected class labels in [0, {self.num_classes}), got values in "
          f"[{labels.min()}, {labels.max()}]")

  def setup(self):
    _, width, _ = self.event_shape
    f, n, num_res = self.features, self.num_resnet, self.num_resolutions
    widths = [width // 2 ** r for r in range(num_res)]

    def resnet(conv, r, name):
      return GatedResnet(f, conv, self.dropout_rate, width=widths[r], name=name)

    self.u_in = DownShiftedConv2D(f, (2, 3), name="u_in")
    self.ul_above = DownShiftedConv2D(f, (1, 3), name="ul_above")
    self.ul_left = DownRightShiftedConv2D(f, (2, 1), width=width, name="ul_left")
    self.u_down = [[resnet("down", r, f"u_down_{r}_{k}") for k in range(n)] for r in range(num_res)]
    self.ul_down = [[resnet("down_right", r, f"ul_down_{r}_{k}") for k in range(n)]
                    for r in range(num_res)]
    self.u_up = [[resnet("down", r, f"u_up_{r}_{k}") for k in range(n)] for r in range(num_res)]
    self.ul_up = [[resnet("down_right", r, f"ul_up_{r}_{k}") for k in range(n)]
                  for r in range(num_res)]
    # Down-sampling into resolution r (index r - 1 for r = 1 .. R - 1).
    self.u_down_sample = [DownShiftedConv2D(f, (2, 3), 2, name=f"u_down_sample_{r}")
                          for r in range(1, num_res)]
    self.ul_down_sample = [
        DownRightShiftedConv2D(f, (2, 2), 2, width=widths[r - 1], name=f"ul_down_sample_{r}")
        for r in range(1, num_res)]
    # Up-sampling from resolution r + 1 into r (index r = 0 .. R - 2).
    self.u_up_sample = [DownShiftedDeconv2D(f, (2, 3), 2, name=f"u_up_sample_{r}")
                        for r in range(num_res - 1)]
    self.ul_up_sample = [
        DownRightShiftedDeconv2D(f, (2, 2), 2, width=widths[r + 1], name=f"ul_up_sample_{r}")
        for r in range(num_res - 1)]
    self.out_nin = nn.Dense(f, kernel_init=_KERNEL_INIT, name="out_nin")
    self.output = self.channel_output()
    # Decode caches: the u rows of every block (auxiliary inputs of the ul
    # blocks), the ul input's row-above part, and h of the current pixel.
    self.u_down_rows = [[_Store(name=f"u_down_rows_{r}_{k}") for k in range(n)]
                        for r in range(num_res)]
    self.u_up_rows = [[_Store(name=f"u_up_rows_{r}_{k}") for k in range(n)]
                      for r in range(num_res)]
    self.ul_above_row = _Store(name="ul_above_row")
    self.h_cache = _Store(name="h")

  # --- shared pieces --------------------------------------------------------

  def _input(self, x: jnp.ndarray) -> jnp.ndarray:
    """Int ``[B, H, W, C]`` -> ``[B, H, W, C + 1]``: levels in [-1, 1] and a channel
    of ones (so the zero padding of the shifted convs differs from the image)."""
    scaled = self.scale_input(x)
    return jnp.concatenate([scaled, jnp.ones(scaled.shape[:-1] + (1,), scaled.dtype)], -1)

  def _cond_vector(self, cond: Any, batch: int):
    """Class one-hot ``[B, E]``, or None for an unconditional model."""
    if self.num_classes == 0:
      return None
    if cond is None:
      if self.is_initializing():  # build the conditioning parameters
        return jnp.zeros((batch, self.num_classes), self.compute_dtype)
      raise ValueError(f"this PixelCNN++ needs cond: int labels [B] in [0, {self.num_classes})")
    labels = jnp.asarray(cond)
    if labels.shape != (batch,):
      raise ValueError(f"expected cond labels of shape ({batch},), got {labels.shape}")
    return jax.nn.one_hot(labels, self.num_classes, dtype=self.compute_dtype)

  # --- full pass ------------------------------------------------------------

  def features_map(self, x: jnp.ndarray, cond: Any = None, train: bool = False) -> jnp.ndarray:
    """h ``[B, H, W, F]``: h at (i, j) sees only pixels before (i, j) (and cond)."""
    hc = self._cond_vector(cond, x.shape[0])
    xin = self._input(x)  # [B, H, W, C + 1]
    u = down_shift(self.u_in(xin))  # [B, H, W, F]
    ul = down_shift(self.ul_above(xin)) + right_shift(self.ul_left(xin))
    # Per resolution r, the outputs of the down pass's N resnets (the up pass's skips): a list, or
    # one [N, B, H/2^r, W/2^r, F] array when scanned.
    scan = self.scan_blocks and self.num_resnet > 1 and not self.is_initializing()
    run = self._scan_blocks if scan else self._unrolled_blocks
    u_skips, ul_skips = [], []
    for r in range(self.num_resolutions):
      if r:
        u, ul = self.u_down_sample[r - 1](u), self.ul_down_sample[r - 1](ul)  # [B, H/2^r, W/2^r, F]
      u, ul, u_skip, ul_skip = run("down", r, u, ul, None, None, hc, train)
      u_skips.append(u_skip)
      ul_skips.append(ul_skip)
    for r in reversed(range(self.num_resolutions)):
      if r < self.num_resolutions - 1:
        u, ul = self.u_up_sample[r](u), self.ul_up_sample[r](ul)
      # Up block k reads the skip of down block N - 1 - k.
      u, ul, _, _ = run("up", r, u, ul, u_skips[r][::-1], ul_skips[r][::-1], hc, train)
    return self.out_nin(nn.elu(ul))

  @staticmethod
  def _pair(direction: str, u, ul, u_skip, ul_skip, hc, train, u_block, ul_block):
    """One step of a pass: the u block, then the ul block (auxiliary input: the new u; in the up
    pass also the skips)."""
    if direction == "down":
      u = u_block(u, None, hc, train)
      return u, ul_block(ul, u, hc, train)
    u = u_block(u, u_skip, hc, train)
    return u, ul_block(ul, jnp.concatenate([u, ul_skip], -1), hc, train)

  def _unrolled_blocks(self, direction, r, u, ul, u_skips, ul_skips, hc, train):
    """The N resnet pairs of resolution r in one pass (direction ``"down"`` or ``"up"``; the up pass
    reads skips ``u_skips[k]``, ``ul_skips[k]``), one module call each: ``(u, ul, the N u outputs,
    the N ul outputs)``."""
    us, uls = [], []
    u_blocks = self.u_down[r] if direction == "down" else self.u_up[r]
    ul_blocks = self.ul_down[r] if direction == "down" else self.ul_up[r]
    for k in range(self.num_resnet):
      skips = (None, None) if u_skips is None else (u_skips[k], ul_skips[k])
      u, ul = self._pair(direction, u, ul, *skips, hc, train, u_blocks[k], ul_blocks[k])
      us.append(u)
      uls.append(ul)
    return u, ul, us, uls

  def _scan_blocks(self, direction, r, u, ul, u_skips, ul_skips, hc, train):
    """`_unrolled_blocks` as one ``lax.scan`` over the N pairs (MaxText's ``scan_layers``).

    The outputs are stacked, ``[N, B, H/2^r, W/2^r, F]``, and so are the skips the up pass takes.
    The pairs' parameters, stored as N separate trees (``u_down_{r}_{k}``, ...), are stacked along a
    new leading axis on the way in; their gradients flow back to the N trees through the stack. Each
    step applies an unbound copy of the block (same class and attributes) to its slice. Dropout keys
    are split from one ``'dropout'`` key per call (the unrolled pass draws one per block instead).
    """
    _, width, _ = self.event_shape
    f = self.features
    params = self.variables["params"]

    def stacked(kind):
      return scanned.stack([params[f"{kind}_{direction}_{r}_{k}"] for k in range(self.num_resnet)])

    make = lambda conv: GatedResnet(f, conv, self.dropout_rate, width=width // 2 ** r, parent=None)
    u_block, ul_block = make("down"), make("down_right")
    dropout = train and self.dropout_rate > 0
    keys = jax.random.split(self.make_rng("dropout"), (self.num_resnet, 2)) if dropout else None

    def step(carry, xs):
      u, ul = carry
      pu, pul, key, u_skip, ul_skip = xs
      u, ul = self._pair(direction, u, ul, u_skip, ul_skip, hc, train,
                         scanned.bound(u_block, pu, None if key is None else key[0]),
                         scanned.bound(ul_block, pul, None if key is None else key[1]))
      return (u, ul), ((u, ul) if direction == "down" else None)

    xs = (stacked("u"), stacked("ul"), keys, u_skips, ul_skips)
    (u, ul), outputs = scanned.scan(step, (u, ul), xs, self.remat_blocks)
    return (u, ul) + (outputs or (None, None))

  def __call__(self, x: jnp.ndarray, cond: Any = None, train: bool = False) -> jnp.ndarray:
    """``x [B, H, W, C]`` int -> raw head parameters ``[B, H, W, C, P]``."""
    if x.ndim != 4 or x.shape[1:] != tuple(self.event_shape):
      raise ValueError(f"expected x of shape [B, {', '.join(map(str, self.event_shape))}], got {x.shape}")
    return self.output(self.features_map(x, cond, train), x)

  # --- cached decode --------------------------------------------------------

  def _cond(self, pred, true_fun, *operands):
    """``nn.cond`` with a no-op false branch; at init both paths' variables are built."""
    if self.is_initializing():
      return true_fun(self, *operands)
    return nn.cond(pred, true_fun, _noop, self, *operands)

  def _u_rows(self, r: int, i, u_row, hc):
    """Row i of resolution r's u blocks: down pass (input ``u_row [B, W_r, F]``),
    the coarser resolutions when their row is due, then the up pass. Caches the
    rows for the ul blocks and feeds the next finer transposed conv."""
    skips = []
    for k in range(self.num_resnet):
      u_row = self.u_down[r][k].decode_row(u_row, i, None, hc)
      self.u_down_rows[r][k].write(u_row)
      skips.append(u_row)
    if r + 1 < self.num_resolutions:
      self.u_down_sample[r].write_row(u_row, i)

      def coarser(m, i, hc):
        m._u_rows(r + 1, i // 2, m.u_down_sample[r].read_row(i // 2), hc)

      self._cond(i % 2 == 0, coarser, i, hc)
      u_row = self.u_up_sample[r].read_row(i)  # from the stored coarser row i // 2
    for k in range(self.num_resnet):
      u_row = self.u_up[r][k].decode_row(u_row, i, skips.pop(), hc)
      self.u_up_rows[r][k].write(u_row)
    if r > 0:
      self.u_up_sample[r - 1].write_row(u_row)

  def _ul_pixel(self, r: int, i, j, ul, hc):
    """Pixel (i, j) of resolution r's ul blocks (input ``ul [B, F]``), with the
    coarser resolutions when their pixel is due; returns the up pass's output."""
    skips = []
    for k in range(self.num_resnet):
      ul = self.ul_down[r][k].decode_pixel(ul, i, j, self.u_down_rows[r][k].read_at(j), hc)
      skips.append(ul)
    if r + 1 < self.num_resolutions:
      self.ul_down_sample[r].write_pixel(ul, i, j)

      def coarser(m, i, j, hc):
        m._ul_pixel(r + 1, i // 2, j // 2, m.ul_down_sample[r].read_pixel(i // 2, j // 2), hc)

      self._cond((i % 2 == 0) & (j % 2 == 0), coarser, i, j, hc)
      ul = self.ul_up_sample[r].read_pixel(i, j)  # from stored coarser (i // 2, j // 2)
    for k in range(self.num_resnet):
      aux = jnp.concatenate([self.u_up_rows[r][k].read_at(j), skips.pop()], -1)
      ul = self.ul_up[r][k].decode_pixel(ul, i, j, aux, hc)
    if r > 0:
      self.ul_up_sample[r - 1].write_pixel(ul, j)
    return ul

  def _decode_pixel(self, canvas: jnp.ndarray, i, j, hc) -> None:
    """Computes and caches h at (i, j) (every pixel before (i, j) is final)."""
    xin = self._input(canvas)  # [B, H, W, C + 1]

    def new_row(m, xin, i, hc):
      # Input rows of row i: the input convs' output row i - 1 (down_shift), zero at i = 0.
      above = i > 0
      u_row = jnp.where(above, m.u_in.decode_row_from(xin, jnp.maximum(i - 1, 0)), 0.0)
      m.ul_above_row.write(
          jnp.where(above, m.ul_above.decode_row_from(xin, jnp.maximum(i - 1, 0)), 0.0))
      m._u_rows(0, i, u_row, hc)

    self._cond(j == 0, new_row, xin, i, hc)
    left = jnp.where(j > 0, self.ul_left.decode_pixel_from(xin, i, jnp.maximum(j - 1, 0)), 0.0)
    ul = self.ul_above_row.read_at(j) + left  # [B, F]
    ul = self._ul_pixel(0, i, j, ul, hc)
    self.h_cache.write(self.out_nin(nn.elu(ul)))

  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray, cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of flat dimension t (raster order over H, W, C).

    Args:
      canvas: ``[B, H, W, C]`` int, every dimension before t final.
      t: scalar int.
      cond: int labels ``[B]`` for a class-conditional model.
    """
    _, width, channels = self.event_shape
    i, j, c = t // (width * channels), (t // channels) % width, t % channels
    hc = self._cond_vector(cond, canvas.shape[0])
    self._cond(c == 0, lambda m, canvas, i, j, hc: m._decode_pixel(canvas, i, j, hc),
               canvas, i, j, hc)
    pixel = jax.lax.dynamic_index_in_dim(
        jax.lax.dynamic_index_in_dim(canvas, i, axis=1, keepdims=False), j, axis=1,
        keepdims=False)  # [B, C]
    return self.output.decode(self.h_cache.read(), pixel, c)


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  del num_levels
  table = {
      "tiny": dict(features=8, num_resnet=1, num_resolutions=2, num_components=3,
                   dropout_rate=0.5),
      "small": dict(features=32, num_resnet=1, num_resolutions=3, num_components=5,
                    dropout_rate=0.1),
      "paper": dict(features=160, num_resnet=5, num_resolutions=3, num_components=10,
                    dropout_rate=0.5),
  }[size]
  if len(event_shape) == 3:
    table["num_resolutions"] = min(table["num_resolutions"],
                                   max_resolutions(event_shape[0], event_shape[1]))
  return table


registry.register("pixelcnn_pp", PixelCNNPP, _sizes)
