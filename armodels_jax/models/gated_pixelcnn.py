"""Gated PixelCNN, unconditional and conditional (class label and/or spatial map).

van den Oord, Kalchbrenner, Espeholt, Vinyals, Graves & Kavukcuoglu 2016,
"Conditional Image Generation with PixelCNN Decoders" (NeurIPS):

* section 2.1, equation 2: gated units ``y = tanh(W_f * x) . sigmoid(W_g * x)``,
  one convolution giving ``2p`` maps split in two
  (:func:`armodels_jax.layers.gated_stacks.gate`);
* section 2.2 and figure 2: two stacks and no blind spot. The vertical stack
  is an ``n x n`` convolution cropped to the ``n // 2 + 1`` rows up to the
  current one; its pre-activation maps, shifted down one row and passed
  through a 1x1 convolution, are added to the horizontal stack's
  pre-activation, so pixel ``(i, j)`` sees through this link every row above
  it and nothing of row ``i``. The horizontal stack is a ``1 x (n // 2 + 1)``
  convolution along the current row; in the first layer it leaves out the
  current pixel (mask A: ``n // 2`` taps, columns ``j - n//2 .. j - 1``), in
  later layers it includes it (mask B), and after the gate a 1x1 convolution
  and a residual connection (not in the first layer, whose input is the image
  itself) give the layer's horizontal output. Shifts, exactly: vertical
  pre-activation at row ``r`` = input rows ``r - n//2 .. r``; used by row
  ``r + 1``.
* section 2.3, equation 4: conditioning. A class label enters as a learned
  bias ``V^T onehot(label)`` of each layer's gate pre-activations, in both
  stacks. A spatial map ``[hh, hw, hc]`` is first mapped to the image size by
  a learned network of transposed convolutions ``s = m(h)``, then each layer
  adds the location-dependent bias ``V * s`` (a 1x1 convolution) in both
  stacks.

Output: ReLU, a 1x1 convolution to ``output_features`` maps, ReLU, then the
shared per-pixel output (:class:`armodels_jax.models.image_output.ChannelOutput`)
with the channel autoregression R -> G -> B: the network's feature at ``(i, j)``
does not see pixel ``(i, j)`` at all, the output layer gives channel c the
values of channels ``< c``. Heads: ``"auto"`` (Bernoulli for binary images,
else an L-way softmax, the paper's 256-way), ``"categorical"``,
``"logistic_mixture"``.

Sizes: ``paper`` has the 20 gated layers of the paper's CIFAR-10 / ImageNet
models (section 3.1); we could not read a clear CIFAR-10 width or kernel size
in the text, so 5x5 kernels and ``features=128`` gate maps (``2p = 256``
pre-activations) are our choice. Published: CIFAR-10 3.03 bits/dim (Table 1).
``small`` (8 layers, 32 maps, 5x5) trains 28x28 binary images at about
0.3-0.6 s per step of batch 16 on a 2-core CPU; ``tiny`` (2 layers, 8 maps,
3x3) is for tests.

Spatial conditioning network ``m``: ``max(1, d)`` 3x3 transposed convolutions
(ReLU between them), where ``d`` is the number of times the map's height
(width) can double without exceeding the image's; those layers have stride 2
on that axis, the others stride 1. What remains of the ratio (under 2, e.g.
``7 -> 28`` needs none, ``5 -> 20 -> 28`` a factor 1.4) is closed by a
bilinear :func:`jax.image.resize` to exactly ``(H, W)`` (which also shrinks a
map larger than the image). The paper leaves ``m`` open ("a deconvolutional
network"); the resize makes any map size fit any image size, so a map from an
encoder need not divide the image exactly.

``cond`` formats: class only -> int ``[B]``; spatial only -> float
``[B, hh, hw, hc]``; both -> ``{'label': int [B], 'spatial': float [B, hh, hw, hc]}``;
an unconditioned configuration takes ``cond=None``.

Cached sampling (docs/design.md section 5), a clone with ``decode=True``, one
sub-pixel ``t = (i, j, c)`` per call, state in the ``'cache'`` collection:

* ``t == 0``: the spatial map ``s`` is computed once and cached ``[B, H, W, F_s]``.
* ``j == 0, c == 0, i > 0``: the vertical stack's row ``i - 1`` (now
  complete) for every layer, from ring buffers of each layer's last
  ``n // 2 + 1`` input rows (the first layer reads the canvas); the row's
  pre-activations (the link's input) are cached ``[B, W, 2p]`` per layer.
  Row 0 reads the zero-initialised cache, as the full pass's down shift does.
* ``c == 0``: the horizontal stack at ``(i, j)`` from ring buffers of each
  layer's current-row input (the first layer reads the canvas), then the
  output feature, cached ``[B, F_out]``.
* every step: only the output layer's channel ``c`` (``ChannelOutput.decode``).

So a step costs O(one pixel), plus O(one row) once per row.

Compilation. The full pass runs layers 1 .. L - 1, which are identical, as one ``lax.scan`` over their
parameters stacked at call time (``scan_blocks``; :mod:`armodels_jax.layers.scanned`); layer 0 runs on
its own. For the paper size on TPU this cuts the generated code about 5 times (CIFAR-10, ``v5e:2x4``,
batch 16: 26 MiB against 136 MiB; BENCHMARKS.md, "TPU plan"). The parameters keep one tree per layer
either way. ``remat_blocks`` recomputes each layer in the backward pass. On a CPU the scan runs
through :func:`armodels_jax.layers.scanned.scan`, which keeps its backward convolutions in the layout
XLA's CPU backend runs fast inside a loop (:func:`armodels_jax.layers.conv_ops.loop_body`; without it
the scanned training step was 24x slower than the unrolled one).

Dimensions: B batch, H height, W width, C image channels, p gate maps
(``features``), n kernel size, L layers, F_s spatial-map features, F_out output
features, P raw parameters per sub-pixel.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.layers import scanned
from armodels_jax.layers.gated_stacks import HorizontalConv, VerticalConv, gate
from armodels_jax.layers.shifted_conv import down_shift
from armodels_jax.models import registry
from armodels_jax.models.image_output import ImageModel


def _doublings(size: int, target: int) -> int:
  """How many times ``size`` can double without exceeding ``target``."""
  count = 0
  while size * 2 ** (count + 1) <= target:
    count += 1
  return count


class SpatialUpsampler(nn.Module):
  """The conditioning network ``m``: a spatial map ``[B, hh, hw, hc]`` -> ``[B, H, W, F_s]``.

  Attributes:
    target: ``(H, W)``, the image size.
    features: F_s.
  """

  target: tuple[int, int]
  features: int

  @nn.compact
  def __call__(self, s: jnp.ndarray) -> jnp.ndarray:
    batch, height, width, _ = s.shape
    ups = (_doublings(height, self.target[0]), _doublings(width, self.target[1]))
    for m in range(max(1, *ups)):
      if m:
        s = nn.relu(s)
      strides = (2 if m < ups[0] else 1, 2 if m < ups[1] else 1)
      s = nn.ConvTranspose(self.features, (3, 3), strides=strides, padding="SAME",
                           name=f"up{m}")(s)
    if s.shape[1:3] != tuple(self.target):
      s = jax.image.resize(s, (batch,) + tuple(self.target) + (self.features,), "linear")
    return s  # [B, H, W, F_s]


class GatedPixelCNN(ImageModel):
  """Gated PixelCNN over ``(H, W, C)`` images (see module docstring).

  Attributes:
    features: p, the maps of each stack (gate pre-activations have 2p).
    num_layers: L gated layers (both stacks).
    kernel_size: odd n >= 3 of the vertical stack's n x n convolution.
    output_features: maps of the 1x1 output layer before the head.
    num_components: mixture components of the ``"logistic_mixture"`` head.
    num_classes: class-conditional with this many labels (0: none).
    spatial_shape: ``(hh, hw, hc)`` of a conditioning spatial map (``()``: none).
    spatial_features: F_s, maps of the spatial conditioning network.
    scan_blocks: the full pass runs layers 1 .. L - 1 (identical; layer 0 reads the image with
      mask A and has no residual) as one ``lax.scan`` over their stacked parameters (see
      `_scan_layers`), so that XLA compiles one layer, not L - 1. The parameters keep the unrolled
      layout (``vertical{l}``, ``horizontal{l}``, ...) either way.
    remat_blocks: with ``scan_blocks``, the backward pass recomputes each scanned layer from its
      input instead of keeping its intermediates (``jax.checkpoint``, nothing saved).
    decode: build the one-sub-pixel-per-call decoder (used by the sampler).
  """

  features: int = 64
  num_layers: int = 10
  kernel_size: int = 5
  output_features: int = 256
  num_components: int = 5
  num_classes: int = 0
  spatial_shape: tuple = ()
  spatial_features: int = 32
  scan_blocks: bool = True
  remat_blocks: bool = False
  decode: bool = False

  has_decode = True
  conditional = True
  mixed_precision = True

  # ---- configuration and requests ------------------------------------------------

  def check_config(self) -> None:
    super().check_config()  # the image event shape and head
    if self.kernel_size < 3 or self.kernel_size % 2 == 0:
      raise ValueError(f"expected an odd kernel_size >= 3, got {self.kernel_size}")
    for field in ("features", "num_layers", "output_features", "num_components",
                  "spatial_features"):
      value = getattr(self, field)
      if not isinstance(value, int) or value < 1:
        raise ValueError(f"expected {field} a positive int, got {value!r}")
    if not isinstance(self.num_classes, int) or self.num_classes < 0 or self.num_classes == 1:
      raise ValueError(f"expected num_classes 0 (unconditional) or >= 2, got {self.num_classes!r}")
    shape = self.spatial_shape
    if not isinstance(shape, tuple) or (shape and (
        len(shape) != 3 or any(not isinstance(s, int) or s < 1 for s in shape))):
      raise ValueError(
          f"expected spatial_shape () or (hh, hw, hc) of positive ints, got {self.spatial_shape!r}")

  def _cond_form(self) -> str:
    if self.num_classes and self.spatial_shape:
      dims = ", ".join(map(str, self.spatial_shape))
      return "{'label': int [B], 'spatial': float [B, %s]}" % dims
    if self.num_classes:
      return f"int labels [B] in [0, {self.num_classes})"
    if self.spatial_shape:
      return "a float spatial map [B, %s]" % ", ".join(map(str, self.spatial_shape))
    return "None"

  def check_request(self, *, reduce: bool = True, prefix_len: int = 0,
                    cond: Any = None) -> None:
    """Validates ``cond`` on the host (see the module docstring for its formats).

    ``cond=None`` passes here even for a conditioned configuration, because
    ``arm.init`` asks with ``cond=None``; ``log_prob`` and ``sample`` of such a
    configuration raise ValueError for it when they trace the model.
    """
    del reduce, prefix_len
    if cond is None:
      return
    if not (self.num_classes or self.spatial_shape):
      raise ValueError(
          f"this GatedPixelCNN is unconditioned (num_classes=0, spatial_shape=()): expected "
          f"cond=None, got {type(cond).__name__}")
    if self.num_classes and self.spatial_shape:
      if not isinstance(cond, dict) or set(cond) != {"label", "spatial"}:
        got = sorted(cond) if isinstance(cond, dict) else type(cond).__name__
        raise ValueError(f"expected cond {self._cond_form()}, got {got}")
      label, spatial = cond["label"], cond["spatial"]
    elif self.num_classes:
      label, spatial = cond, None
    else:
      label, spatial = None, cond
    batch = None
    if label is not None:
      arr = np.asarray(label)
      if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"expected cond labels as int [B] in [0, {self.num_classes}), got dtype {arr.dtype} "
            f"shape {arr.shape}")
      if arr.size and (arr.min() < 0 or arr.max() >= self.num_classes):
        raise ValueError(
            f"expected cond labels in [0, {self.num_classes}), got values in "
            f"[{arr.min()}, {arr.max()}]")
      batch = arr.shape[0]
    if spatial is not None:
      arr = np.asarray(spatial)
      if (arr.ndim != 4 or arr.shape[1:] != tuple(self.spatial_shape)
          or not np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(
            f"expected a float cond spatial map of shape (B, "
            f"{', '.join(map(str, self.spatial_shape))}), got dtype {arr.dtype} shape {arr.shape}")
      if not np.isfinite(arr).all():
        raise ValueError("expected a finite cond spatial map, got NaN or inf")
      if batch is not None and arr.shape[0] != batch:
        raise ValueError(
            f"expected cond label and spatial with the same batch, got {batch} and {arr.shape[0]}")

  def _split_cond(self, cond: Any, batch: int):
    """``cond`` -> ``(label [B] int or None, spatial [B, hh, hw, hc] or None)``.

    At init without cond, zero dummies build every conditioning parameter.
    """
    wants_label, wants_spatial = bool(self.num_classes), bool(self.spatial_shape)
    if cond is None:
      if self.is_initializing():
        label = jnp.zeros((batch,), jnp.int32) if wants_label else None
        spatial = (jnp.zeros((batch,) + tuple(self.spatial_shape), self.compute_dtype)
                   if wants_spatial else None)
        return label, spatial
      if wants_label or wants_spatial:
        raise ValueError(f"this GatedPixelCNN needs cond: expected {self._cond_form()}, got None")
      return None, None
    if wants_label and wants_spatial:
      if not isinstance(cond, dict) or set(cond) != {"label", "spatial"}:
        raise ValueError(f"expected cond {self._cond_form()}, got {type(cond).__name__}")
      label, spatial = cond["label"], cond["spatial"]
    elif wants_label:
      label, spatial = cond, None
    elif wants_spatial:
      label, spatial = None, cond
    else:
      raise ValueError(f"this GatedPixelCNN is unconditioned: expected cond=None, got "
                       f"{type(cond).__name__}")
    if label is not None and tuple(label.shape) != (batch,):
      raise ValueError(f"expected cond labels of shape ({batch},), got {tuple(label.shape)}")
    if spatial is not None and tuple(spatial.shape) != (batch,) + tuple(self.spatial_shape):
      raise ValueError(f"expected a cond spatial map of shape "
                       f"{(batch,) + tuple(self.spatial_shape)}, "
                       f"got {tuple(spatial.shape)}")
    if spatial is not None:
      spatial = spatial.astype(self.compute_dtype)
    return label, spatial

  # ---- modules ----------------------------------------------------------------

  def _layer_parts(self, l: int, bound: bool = True) -> dict[str, nn.Module]:
    """Layer l's modules of the image path, keyed by their names without the layer number (the
    ``spatial_*`` ones only with a spatial map); ``bound=False``: unbound copies (``parent=None``)."""
    p, n = self.features, self.kernel_size
    width_in = self.event_shape[2] if l == 0 else p
    kw = (lambda key: {"name": f"{key}{l}"}) if bound else (lambda key: {"parent": None})
    parts = {
        "vertical": VerticalConv(2 * p, n, width_in, **kw("vertical")),
        "horizontal": HorizontalConv(2 * p, n, width_in, include_current=l > 0, **kw("horizontal")),
        "link": nn.Dense(2 * p, **kw("link")),
        "horizontal_out": nn.Dense(p, **kw("horizontal_out")),
    }
    if self.spatial_shape:
      parts["spatial_vertical"] = nn.Dense(2 * p, use_bias=False, **kw("spatial_vertical"))
      parts["spatial_horizontal"] = nn.Dense(2 * p, use_bias=False, **kw("spatial_horizontal"))
    return parts

  def setup(self):
    height, width, _ = self.event_shape
    p = self.features
    layers = [self._layer_parts(l) for l in range(self.num_layers)]
    self.vconvs = [parts["vertical"] for parts in layers]
    self.hconvs = [parts["horizontal"] for parts in layers]
    self.links = [parts["link"] for parts in layers]
    self.h_outs = [parts["horizontal_out"] for parts in layers]
    if self.num_classes:
      self.class_v = [nn.Dense(2 * p, use_bias=False, name=f"class_vertical{l}")
                      for l in range(self.num_layers)]
      self.class_h = [nn.Dense(2 * p, use_bias=False, name=f"class_horizontal{l}")
                      for l in range(self.num_layers)]
    if self.spatial_shape:
      self.spatial_net = SpatialUpsampler((height, width), self.spatial_features,
                                          name="spatial_net")
      self.spatial_v = [parts["spatial_vertical"] for parts in layers]
      self.spatial_h = [parts["spatial_horizontal"] for parts in layers]
    self.out_hidden = nn.Dense(self.output_features, name="out_hidden")
    self.output = self.channel_output()

  def _class_biases(self, label):
    """Per layer the class biases ``([B, 2p] vertical, [B, 2p] horizontal)``;
    ``(None, None)`` per layer without a label."""
    if label is None:
      return [(None, None)] * self.num_layers
    onehot = jax.nn.one_hot(label, self.num_classes, dtype=self.compute_dtype)  # [B, K]
    return [(self.class_v[l](onehot), self.class_h[l](onehot)) for l in range(self.num_layers)]

  def _features(self, h: jnp.ndarray) -> jnp.ndarray:
    """Horizontal stack output -> the per-pixel output feature ``[..., F_out]``."""
    return nn.relu(self.out_hidden(nn.relu(h)))

  # ---- full pass --------------------------------------------------------------

  def __call__(self, x: jnp.ndarray, cond: Any = None,
               train: bool = False) -> jnp.ndarray:
    """``x [B, H, W, C]`` int -> raw head parameters ``[B, H, W, C, P]``."""
    del train
    batch = x.shape[0]
    label, spatial = self._split_cond(cond, batch)
    classes = self._class_biases(label)
    smap = self.spatial_net(spatial) if spatial is not None else None  # [B, H, W, F_s]
    v = h = self.scale_input(x)  # [B, H, W, C]
    v, h = self._layer(0, self._parts(0), v, h, *classes[0], smap)
    if self.scan_blocks and self.num_layers > 2 and not self.is_initializing():
      v, h = self._scan_layers(v, h, classes[1:], smap)
    else:
      for l in range(1, self.num_layers):
        v, h = self._layer(l, self._parts(l), v, h, *classes[l], smap)
    return self.output(self._features(h), x)

  def _parts(self, l: int) -> dict[str, nn.Module]:
    """Layer l's modules of the image path, keyed as in `_layer_parts`."""
    parts = {"vertical": self.vconvs[l], "horizontal": self.hconvs[l], "link": self.links[l],
             "horizontal_out": self.h_outs[l]}
    if self.spatial_shape:
      parts.update(spatial_vertical=self.spatial_v[l], spatial_horizontal=self.spatial_h[l])
    return parts

  @staticmethod
  def _layer(l, parts, v, h, cv, ch, smap):
    """Gated layer l (only ``l == 0`` matters: no residual) on the stacks' inputs ``v, h``, given its
    modules (or callables with their signatures) keyed as in `_layer_parts`; returns the new v, h."""
    pre_v = parts["vertical"](v)  # [B, H, W, 2p], row r sees rows <= r
    pre_h = parts["horizontal"](h)  # [B, H, W, 2p], (i, j) sees row i, columns <= j (< j if l == 0)
    if cv is not None:
      pre_v = pre_v + cv[:, None, None, :]
      pre_h = pre_h + ch[:, None, None, :]
    if smap is not None:
      pre_v = pre_v + parts["spatial_vertical"](smap)
      pre_h = pre_h + parts["spatial_horizontal"](smap)
    pre_h = pre_h + parts["link"](down_shift(pre_v))  # rows < i only
    out = parts["horizontal_out"](gate(pre_h))  # [B, H, W, p]
    return gate(pre_v), (out if l == 0 else h + out)

  def _scan_layers(self, v, h, classes, smap):
    """Layers 1 .. L - 1 as one ``lax.scan`` (as PixelCNN++'s ``_scan_blocks``): their parameters,
    stored per layer, are stacked on the way in (:mod:`armodels_jax.layers.scanned`), and so are
    their class biases (``classes``: per layer ``(cv, ch)``, each ``[B, 2p]`` or None)."""
    params = self.variables["params"]
    modules = self._layer_parts(1, bound=False)
    stacked = {key: scanned.stack([params[f"{key}{l}"] for l in range(1, self.num_layers)])
               for key in modules}
    biases = None if classes[0][0] is None else scanned.stack(classes)

    def step(carry, xs):
      p, bias = xs
      cv, ch = (None, None) if bias is None else bias
      parts = {key: scanned.bound(module, p[key]) for key, module in modules.items()}
      return self._layer(1, parts, *carry, cv, ch, smap), None

    (v, h), _ = scanned.scan(step, (v, h), (stacked, biases), self.remat_blocks)
    return v, h

  # ---- decode -----------------------------------------------------------------

  def _declare_cache(self, batch: int, dtype) -> None:
    """Creates the zero ``'cache'`` entries (at init; later calls find them)."""
    height, width, _ = self.event_shape
    p, half = self.features, self.kernel_size // 2
    shapes = {}
    for l in range(self.num_layers):
      shapes[f"vertical_row{l}"] = (batch, width, 2 * p)  # link input: row i - 1
      if l:
        shapes[f"vertical_in{l}"] = (batch, half + 1, width + 2 * half, p)  # ring of rows
        shapes[f"horizontal_in{l}"] = (batch, width + half, p)  # current row, left padded
    shapes["feature"] = (batch, self.output_features)
    if self.spatial_shape:
      shapes["spatial"] = (batch, height, width, self.spatial_features)
    for name, shape in shapes.items():
      if not self.has_variable("cache", name):
        self.put_variable("cache", name, jnp.zeros(shape, dtype))

  def _spatial_update(self, spatial):
    """Step 0: caches the conditioning network's map ``[B, H, W, F_s]``."""
    self.put_variable("cache", "spatial", self.spatial_net(spatial))

  def _row_update(self, x, i, label):
    """Start of row i > 0: the vertical stack's row ``r = i - 1`` of every layer.

    Args:
      x: ``[B, H, W, C]`` float canvas, rows < i final.
      i: int scalar.
      label: ``[B]`` int or None.
    """
    batch = x.shape[0]
    width = self.event_shape[1]
    half = self.kernel_size // 2
    rows = half + 1
    r = i - 1
    classes = self._class_biases(label)
    padded = jnp.pad(x, ((0, 0), (half, 0), (half, half), (0, 0)))
    window = jax.lax.dynamic_slice(padded, (0, r, 0, 0),
                                   (batch, rows, width + 2 * half, x.shape[-1]))  # rows r-half..r
    for l in range(self.num_layers):
      pre = self.vconvs[l].row(window)  # [B, W, 2p]
      if classes[l][0] is not None:
        pre = pre + classes[l][0][:, None, :]
      if self.spatial_shape:
        srow = jax.lax.dynamic_index_in_dim(self.get_variable("cache", "spatial"), r, 1,
                                            keepdims=False)  # [B, W, F_s]
        pre = pre + self.spatial_v[l](srow)
      self.put_variable("cache", f"vertical_row{l}", pre)
      if l + 1 < self.num_layers:
        buf = self.get_variable("cache", f"vertical_in{l + 1}")  # [B, R, W + 2 half, p]
        buf = buf.at[:, r % rows, half:half + width].set(gate(pre))
        self.put_variable("cache", f"vertical_in{l + 1}", buf)
        slots = (r - half + jnp.arange(rows)) % rows  # rows r-half..r, in order
        window = jnp.take(buf, slots, axis=1)

  def _pixel_update(self, x, i, j, label):
    """Sub-step 0 of pixel (i, j): the horizontal stack and the output feature.

    Args:
      x: ``[B, H, W, C]`` float canvas, pixels before (i, j) final.
      i, j: int scalars.
      label: ``[B]`` int or None.
    """
    batch = x.shape[0]
    half = self.kernel_size // 2
    p = self.features
    classes = self._class_biases(label)
    padded = jnp.pad(x, ((0, 0), (0, 0), (half, 0), (0, 0)))
    window = jax.lax.dynamic_slice(padded, (0, i, j, 0), (batch, 1, half, x.shape[-1]))[:, 0]
    if self.spatial_shape:
      spix = self.get_variable("cache", "spatial")[:, i, j]  # [B, F_s]
    h = None
    for l in range(self.num_layers):
      above = jax.lax.dynamic_index_in_dim(self.get_variable("cache", f"vertical_row{l}"), j, 1,
                                           keepdims=False)  # [B, 2p], row i - 1
      pre = self.hconvs[l].pixel(window) + self.links[l](above)
      if classes[l][1] is not None:
        pre = pre + classes[l][1]
      if self.spatial_shape:
        pre = pre + self.spatial_h[l](spix)
      out = self.h_outs[l](gate(pre))  # [B, p]
      h = out if l == 0 else h + out
      if l + 1 < self.num_layers:
        buf = self.get_variable("cache", f"horizontal_in{l + 1}")  # [B, W + half, p]
        buf = jax.lax.dynamic_update_slice(buf, h[:, None, :], (0, j + half, 0))
        self.put_variable("cache", f"horizontal_in{l + 1}", buf)
        window = jax.lax.dynamic_slice(buf, (0, j, 0), (batch, half + 1, p))  # columns j-half..j
    self.put_variable("cache", "feature", self._features(h))

  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray,
                  cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of flat dimension t (raster order over H, W, C).

    Args:
      canvas: ``[B, H, W, C]`` int, every dimension before t final.
      t: scalar int, the flat index of the dimension to predict.
      cond: as for ``__call__``.
    """
    _, width, channels = self.event_shape
    i, j, c = t // (width * channels), (t // channels) % width, t % channels
    batch = canvas.shape[0]
    label, spatial = self._split_cond(cond, batch)
    x = self.scale_input(canvas)
    self._declare_cache(batch, x.dtype)
    noop = lambda mdl, *args: None
    if self.is_initializing():  # build every parameter and cache entry
      if spatial is not None:
        self._spatial_update(spatial)
      self._row_update(x, i, label)
      self._pixel_update(x, i, j, label)
    else:
      if spatial is not None:
        nn.cond(t == 0, lambda mdl, s: mdl._spatial_update(s), noop, self, spatial)
      nn.cond((i > 0) & (j == 0) & (c == 0),
              lambda mdl, *a: mdl._row_update(*a), noop, self, x, i, label)
      nn.cond(c == 0, lambda mdl, *a: mdl._pixel_update(*a), noop, self, x, i, j, label)
    feature = self.get_variable("cache", "feature")  # [B, F_out]
    pixel = jax.lax.dynamic_slice(canvas, (0, i, j, 0), (batch, 1, 1, channels))[:, 0, 0]
    return self.output.decode(feature, pixel, c)


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  del event_shape, num_levels
  return {
      "tiny": dict(features=8, num_layers=2, kernel_size=3, output_features=8,
                   num_components=2, spatial_features=8),
      "small": dict(features=32, num_layers=8, kernel_size=5, output_features=64,
                    num_components=5, spatial_features=16),
      "paper": dict(features=128, num_layers=20, kernel_size=5, output_features=512,
                    num_components=10, spatial_features=64),
  }[size]


registry.register("gated_pixelcnn", GatedPixelCNN, _sizes)
