"""WaveNet: dilated causal convolutions over raw audio, with global and local conditioning.

van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio" (arXiv:1609.03499):

* Section 2.1, figure 3: a stack of causal convolutions (kernel 2) whose
  dilation doubles per layer, 1, 2, ..., 512, and repeats in blocks
  (``1..512, 1..512, 1..512`` for 30 layers).
* Section 2.2: a 256-way softmax over mu-law companded samples
  (:func:`armodels_jax.data.mu_law_encode`). ``head_kind="logistic_mixture"``
  gives the discretized logistic mixture of Salimans et al. 2017 (PixelCNN++,
  section 2.1) instead, e.g. over 65,536 levels of 16-bit audio (as in
  Parallel WaveNet, van den Oord et al. 2018, section 2.1).
* Section 2.3, equation 2: the gated unit ``z = tanh(W_f * x) . sigmoid(W_g * x)``.
* Section 2.4, figure 4: residual connections (``x + 1x1(z)``) and skip
  connections (the sum of every layer's ``1x1(z)``), then ``ReLU -> 1x1 ->
  ReLU -> 1x1 -> softmax``.
* Section 2.5: conditioning. Global (equation 3): a class (e.g. the speaker)
  or a vector h adds ``V_f h`` and ``V_g h`` inside every layer's tanh and
  sigmoid. Local (equation 4): a second, lower-rate series (one frame per
  ``local_hop`` samples, e.g. log-mel frames) is upsampled by a learned
  transposed convolution (kernel = stride = ``local_hop``) to ``y``, which adds
  ``V_f * y`` and ``V_g * y`` (1x1 convolutions) per layer.

The input at time t is sample ``t - 1`` (a learned start embedding at t = 0),
embedded (a one-hot times a matrix), then an initial causal convolution of
kernel 2; so output t depends on samples ``< t`` only.

Generation (``decode=True``) is Fast WaveNet (Paine et al. 2016, "Fast
Wavenet Generation Algorithm", section 3): the input of every layer at the last
``(K - 1) d`` steps is kept, so a sample costs O(layers), not O(receptive
field). The step (:meth:`WaveNet.decode_step`) keeps them in one queue for all
layers, read by one gather and written in place by one scatter, and computes in
columns at batch 1, rows above; conditioning is computed per step from the frame
``t // local_hop``; the skip connections of all layers go through one matrix
product, in the full pass and the step alike. A step streams every weight once
(5 MB in float32 at paper size, about 2.5 MFLOP), so at batch 1 its speed is
set by the cache bandwidth (``experiments/profile_sampling_step.py`` measures
it); the parameters are the full pass's, unchanged.

``cond`` formats: a class only -> int ``[B]``; a global vector only -> float
``[B, global_dim]``; local features only -> float ``[B, T // local_hop,
local_dim]``; several -> a dict with the keys ``'label'``, ``'global'``,
``'local'`` that are configured. An unconditioned model takes ``cond=None``.

Dimensions: B batch, T time, R residual channels, S skip channels, N layers,
U upsampled local channels, F local features per frame, P raw head parameters.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.layers.causal_conv import CausalConv1D, affine
from armodels_jax.models import registry
from armodels_jax.models.base import ARModel
from armodels_jax.models.image_output import IMAGE_HEADS, image_head

_COND_KEYS = ("label", "global", "local")


class WaveNet(ARModel):
  """WaveNet over sequences ``(T,)`` of ``num_levels`` values (see the module docstring).

  Attributes:
    num_layers: N residual layers.
    dilation_cycle: dilations ``2 ** (l % dilation_cycle)``: 10 gives 1..512.
    residual_channels: R (also the gate and embedding width).
    skip_channels: S.
    kernel_size: of the dilated convolutions (2 in the paper).
    num_classes: global class conditioning (e.g. speakers); 0 for none.
    global_dim: width of a global conditioning vector; 0 for none.
    local_dim: F features per frame of local conditioning; 0 for none.
    local_hop: samples per local frame (the upsampling factor).
    upsample_channels: U, the width of the upsampled local features.
    num_components: mixture components of the ``logistic_mixture`` head.
    decode: one-sample-per-call generation with per-layer queues.
  """

  num_layers: int = 30
  dilation_cycle: int = 10
  residual_channels: int = 64
  skip_channels: int = 256
  kernel_size: int = 2
  num_classes: int = 0
  global_dim: int = 0
  local_dim: int = 0
  local_hop: int = 0
  upsample_channels: int = 32
  num_components: int = 10
  decode: bool = False

  has_decode = True
  mixed_precision = True
  conditional = True  # Validated against the configured conditioning in check_request.

  # ---- configuration --------------------------------------------------------------

  @property
  def head(self):
    return image_head(self.head_kind, self.num_levels, 1, self.num_components)

  @property
  def dilations(self) -> tuple[int, ...]:
    return tuple(2 ** (l % self.dilation_cycle) for l in range(self.num_layers))

  @property
  def receptive_field(self) -> int:
    """Samples before t that output t depends on: 1 (shift) + 1 (input conv) + sum of (K-1) d."""
    return 2 + (self.kernel_size - 1) * sum(self.dilations)

  @property
  def _wanted(self) -> tuple[str, ...]:
    flags = (self.num_classes > 0, self.global_dim > 0, self.local_dim > 0)
    return tuple(k for k, on in zip(_COND_KEYS, flags) if on)

  def _cond_form(self) -> str:
    forms = {"label": f"int [B] in [0, {self.num_classes})",
             "global": f"float [B, {self.global_dim}]",
             "local": f"float [B, T // {self.local_hop}, {self.local_dim}]"}
    wanted = self._wanted
    if not wanted:
      return "None"
    if len(wanted) == 1:
      return forms[wanted[0]]
    return "{" + ", ".join(f"'{k}': {forms[k]}" for k in wanted) + "}"

  def _check_fields(self) -> None:
    if self.head_kind not in IMAGE_HEADS:
      raise ValueError(f"expected head_kind in {list(IMAGE_HEADS)}, got {self.head_kind!r}")
    if len(self.event_shape) != 1:
      raise ValueError(f"WaveNet expects a sequence event_shape (T,), got {self.event_shape}")
    for name in ("num_layers", "dilation_cycle", "residual_channels", "skip_channels",
                 "kernel_size"):
      if getattr(self, name) < 1:
        raise ValueError(f"WaveNet expects {name} >= 1, got {getattr(self, name)}")
    if (self.local_dim > 0) != (self.local_hop > 0):
      raise ValueError(f"WaveNet local conditioning needs both local_dim and local_hop > 0, got "
                       f"{self.local_dim} and {self.local_hop}")
    if self.local_hop and self.event_shape[0] % self.local_hop:
      raise ValueError(f"expected the length {self.event_shape[0]} to be a multiple of "
                       f"local_hop={self.local_hop}")

  def _split(self, cond: Any) -> dict[str, Any]:
    """``cond`` -> ``{key: value}`` over the configured keys (raises for another form)."""
    wanted = self._wanted
    if not wanted:
      raise ValueError(f"this WaveNet is unconditioned: expected cond=None, got "
                       f"{type(cond).__name__}")
    if isinstance(cond, dict):
      if set(cond) != set(wanted):
        raise ValueError(f"expected cond {self._cond_form()}, got a dict with keys {sorted(cond)}")
      return dict(cond)
    if len(wanted) > 1:
      raise ValueError(f"expected cond {self._cond_form()}, got {type(cond).__name__}")
    return {wanted[0]: cond}

  def check_request(self, *, reduce: bool = True, prefix_len: int = 0,
                    cond: Any = None) -> None:
    """Validates ``cond`` on the host (formats in the module docstring).

    ``cond=None`` passes here for a conditioned configuration because ``arm.init`` asks with it;
    ``log_prob`` and ``sample`` then raise ValueError when they trace the model.
    """
    del reduce, prefix_len
    self._check_fields()
    if cond is None:
      return
    parts = self._split(cond)
    batches = set()
    if "label" in parts:
      arr = np.asarray(parts["label"])
      if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"expected cond label as int [B] in [0, {self.num_classes}), got dtype "
                         f"{arr.dtype} shape {arr.shape}")
      if arr.size and (arr.min() < 0 or arr.max() >= self.num_classes):
        raise ValueError(f"expected cond label in [0, {self.num_classes}), got values in "
                         f"[{arr.min()}, {arr.max()}]")
      batches.add(arr.shape[0])
    for key, tail in (("global", (self.global_dim,)),
                      ("local", (self.event_shape[0] // max(self.local_hop, 1), self.local_dim))):
      if key not in parts:
        continue
      arr = np.asarray(parts[key])
      if arr.ndim != 1 + len(tail) or arr.shape[1:] != tail or not np.issubdtype(arr.dtype,
                                                                                np.floating):
        raise ValueError(f"expected cond {key} as float [B, {', '.join(map(str, tail))}], got "
                         f"dtype {arr.dtype} shape {arr.shape}")
      if not np.isfinite(arr).all():
        raise ValueError(f"expected finite cond {key} values, got NaN or inf")
      batches.add(arr.shape[0])
    if len(batches) > 1:
      raise ValueError(f"expected every part of cond to have the same batch, got {sorted(batches)}")

  def _cond_parts(self, cond: Any, batch: int) -> dict[str, jnp.ndarray]:
    """Traced ``cond`` -> its parts; zero dummies at init build every conditioning parameter."""
    if cond is None:
      if not self._wanted:
        return {}
      if not self.is_initializing():
        raise ValueError(f"this WaveNet needs cond: expected {self._cond_form()}, got None")
      frames = self.event_shape[0] // max(self.local_hop, 1)
      dummies = {"label": jnp.zeros((batch,), jnp.int32),
                 "global": jnp.zeros((batch, self.global_dim), self.compute_dtype),
                 "local": jnp.zeros((batch, frames, self.local_dim), self.compute_dtype)}
      return {k: dummies[k] for k in self._wanted}
    parts = self._split(cond)
    for key, value in parts.items():
      if value.shape[0] != batch:
        raise ValueError(f"expected cond {key} with batch {batch}, got shape {tuple(value.shape)}")
    if "local" in parts and parts["local"].shape[1] * self.local_hop != self.event_shape[0]:
      raise ValueError(f"expected cond local with {self.event_shape[0] // self.local_hop} frames "
                       f"(T / local_hop), got shape {tuple(parts['local'].shape)}")
    return {k: (v.astype(jnp.int32) if k == "label" else v.astype(self.compute_dtype))
            for k, v in parts.items()}

  # ---- modules --------------------------------------------------------------------

  def setup(self):
    self._check_fields()
    r, s, n = self.residual_channels, self.skip_channels, self.num_layers
    self.embed = nn.Embed(self.num_levels + 1, r, name="embed")  # Index num_levels: the start.
    self.input_conv = CausalConv1D(r, r, kernel_size=2, dilation=1, name="input_conv")
    self.dilated = [CausalConv1D(r, 2 * r, self.kernel_size, d, name=f"dilated{l}")
                    for l, d in enumerate(self.dilations)]
    # The last layer's residual output would feed nothing: it has none.
    self.residual = [nn.Dense(r, name=f"residual{l}") for l in range(n - 1)]
    self.skip_kernel = self.param("skip_kernel", nn.initializers.lecun_normal(), (n * r, s))
    self.skip_bias = self.param("skip_bias", nn.initializers.zeros, (s,))
    self.out1 = nn.Dense(s, name="out1")
    self.out2 = nn.Dense(self.head.num_params, name="out2")
    gate_init = nn.initializers.normal(0.02)
    if self.num_classes:
      self.label_table = self.param("label_table", gate_init, (self.num_classes, n, 2 * r))
    if self.global_dim:
      self.global_kernel = self.param("global_kernel", nn.initializers.lecun_normal(),
                                      (self.global_dim, n, 2 * r))
    if self.local_dim:
      u = self.upsample_channels
      self.upsample_kernel = self.param("upsample_kernel", nn.initializers.lecun_normal(),
                                        (self.local_hop, self.local_dim, u))
      self.upsample_bias = self.param("upsample_bias", nn.initializers.zeros, (u,))
      self.local_kernel = self.param("local_kernel", nn.initializers.lecun_normal(), (u, n, 2 * r))

  def _global_bias(self, parts) -> Optional[jnp.ndarray]:
    """``[B, N, 2R]`` from the class and the global vector, or None."""
    bias = None
    if "label" in parts:
      bias = self.label_table[parts["label"]]
    if "global" in parts:
      g = jnp.einsum("bg,gnc->bnc", parts["global"], self.global_kernel)
      bias = g if bias is None else bias + g
    return bias

  def _output(self, zs: list[jnp.ndarray]) -> jnp.ndarray:
    skip = affine(jnp.concatenate(zs, axis=-1), self.skip_kernel, self.skip_bias)  # [..., S]
    return self.out2(nn.relu(self.out1(nn.relu(skip))))  # [..., P]

  def _gate(self, g: jnp.ndarray) -> jnp.ndarray:
    r = self.residual_channels
    return jnp.tanh(g[..., :r]) * nn.sigmoid(g[..., r:])

  def __call__(self, x: jnp.ndarray, cond: Any = None, train: bool = False) -> jnp.ndarray:
    """``x [B, T]`` int levels -> raw head parameters ``[B, T, P]``; output t sees ``x[< t]``."""
    del train
    batch, length = x.shape
    parts = self._cond_parts(cond, batch)
    start = jnp.full((batch, 1), self.num_levels, jnp.int32)
    shifted = jnp.concatenate([start, x[:, :-1].astype(jnp.int32)], axis=1)  # [B, T]
    h = self.input_conv(self.embed(shifted))  # [B, T, R]
    global_bias = self._global_bias(parts)  # [B, N, 2R] or None
    upsampled = None
    if "local" in parts:
      frames = parts["local"]  # [B, T / hop, F]
      upsampled = jnp.einsum("bkf,hfu->bkhu", frames, self.upsample_kernel)
      upsampled = upsampled.reshape(batch, length, -1)
      upsampled = upsampled + self.upsample_bias.reshape(1, 1, -1)  # [B, T, U]
    zs = []
    for l, conv in enumerate(self.dilated):
      g = conv(h)  # [B, T, 2R]
      if global_bias is not None:
        g = g + global_bias[:, None, l]
      if upsampled is not None:
        g = g + affine(upsampled, self.local_kernel[:, l])
      z = self._gate(g)  # [B, T, R]
      zs.append(z)
      if l < self.num_layers - 1:
        h = h + self.residual[l](z)
    return self._output(zs)

  def _make_decode_params(self, batch: int) -> None:
    """At init, runs every submodule once on zeros so that all parameters exist."""
    r = self.residual_channels
    self.embed(jnp.zeros((batch,), jnp.int32))
    self.input_conv(jnp.zeros((batch, 1, r)))
    for l, conv in enumerate(self.dilated):
      conv(jnp.zeros((batch, 1, r)))
      if l < self.num_layers - 1:
        self.residual[l](jnp.zeros((batch, r)))
    self.out1(jnp.zeros((batch, self.skip_channels)))
    self.out2(jnp.zeros((batch, self.skip_channels)))

  def _queue_layout(self) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets [N], lengths [N])`` of the layers' segments in the one decode queue."""
    lengths = np.array([(self.kernel_size - 1) * d for d in self.dilations], np.int32)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32), lengths

  @nn.compact
  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray, cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of sample t from the samples before t on the canvas and the queue.

    The same function as the full pass at position t (the same products, summed in the same
    order up to XLA's choice of kernels), with few operations and no copies
    (``experiments/profile_sampling_step.py`` counts them):

    * one queue for every layer (``'cache'`` ``'queue'``, ``[sum (K - 1) d, R]`` at batch 1, ``[..,
      B, R]`` above), each layer a ring-buffer segment of its ``(K - 1) d`` last inputs: ONE gather
      reads every past tap of every layer at the start and ONE scatter writes every layer's input
      at t, in place, at the end (per-layer queues cost a copy of every queue per step);
    * a layer's taps (past and current) go through one product with its ``[K R, 2R]`` kernel, the
      biases and conditioning of all layers are added in the gate's fused operation: five
      operations per layer (taps, product, gate, residual product, residual sum);
    * the skip connections of all layers in one product over the concatenated gated outputs;
    * at batch 1 activations are vectors ``[C]``: no operand is reshaped or copied before a
      product (columns ``[C, 1]`` cost a copy of every gated output); rows ``[B, C]`` above;
    * the input convolution's past tap is the embedding of sample t - 2, read from the canvas.

    Tried and not kept: the past taps of all layers in one batched product at the start (one
    operation fewer per layer, but the sums split in two moved the paper-size conditionals 100x
    further from the full pass: ``experiments/check_wavenet_decode.py``).

    It reads the parameters as they are (the full pass's pytree); at init it builds them by calling
    every submodule once.
    """
    batch = canvas.shape[0]
    parts = self._cond_parts(cond, batch)
    if self.is_initializing():
      self._make_decode_params(batch)
    p = self.variables["params"]
    r, n, k = self.residual_channels, self.num_layers, self.kernel_size
    t = jnp.asarray(t, jnp.int32)
    # The input convolution over the shifted sequence: taps at t - 1 (zero before 0) and t.
    start = self.num_levels

    def shifted(s):  # the token at position s of the shifted sequence (s >= 0)
      prev = jax.lax.dynamic_index_in_dim(canvas, jnp.maximum(s - 1, 0), 1, keepdims=False)
      return jnp.where(s == 0, start, prev.astype(jnp.int32))  # [B]

    # Batch 1: vectors [C] (XLA's matrix-vector product, no reshape); else rows [B, C].
    vec = batch == 1
    axis = 0 if vec else 1

    def mm(x, kernel, bias=None):  # x [I] or [B, I] -> [O] or [B, O]
      if not vec:
        return affine(x, kernel, bias)
      y = jax.lax.dot_general(kernel, x, (((0,), (0,)), ((), ())))
      return y if bias is None else y + bias

    def halves(g):  # [2R] or [B, 2R] -> the tanh and sigmoid halves
      return jax.lax.slice_in_dim(g, 0, r, axis=axis), jax.lax.slice_in_dim(g, r, 2 * r, axis=axis)

    orient = (lambda x: x[0]) if vec else (lambda x: x)  # [B, C] -> this layout
    table = p["embed"]["embedding"]
    now = orient(table[shifted(t)])
    before = jnp.where(t >= 1, orient(table[shifted(jnp.maximum(t - 1, 0))]), 0).astype(now.dtype)
    conv = p["input_conv"]
    h = mm(jnp.concatenate([before, now], axis), conv["kernel"].reshape(2 * r, r), conv["bias"])
    # Past taps of every layer: one gather from the queue.
    offsets, lengths = self._queue_layout()
    queue = self.variable("cache", "queue", jnp.zeros, (int(lengths.sum()),) + h.shape, h.dtype)
    back = (k - 1 - np.arange(k - 1))[None, :] * np.asarray(self.dilations)[:, None]  # [N, K-1]
    past = queue.value[offsets[:, None] + (t - back) % lengths[:, None]]  # [N, K-1, (B,) R]
    bias = self._global_bias(parts)  # [B, N, 2R] or None
    if "local" in parts:
      frame = jax.lax.dynamic_index_in_dim(parts["local"], t // self.local_hop, 1,
                                           keepdims=False)  # [B, F]
      kernel = jax.lax.dynamic_index_in_dim(self.upsample_kernel, t % self.local_hop, 0,
                                            keepdims=False)  # [F, U]
      upsampled = affine(frame, kernel, self.upsample_bias)  # [B, U]
      c = self.local_kernel.shape[2]
      local = affine(upsampled, self.local_kernel.reshape(-1, n * c)).reshape(batch, n, c)
      bias = local if bias is None else bias + local
    if bias is not None:
      bias = bias[0] if vec else jnp.transpose(bias, (1, 0, 2))  # [N, (B,) 2R]
    hs, zs = [], []
    for l in range(n):
      hs.append(h)
      conv = p[f"dilated{l}"]
      taps = jnp.concatenate([past[l, j] for j in range(k - 1)] + [h], axis)  # K R channels
      g = mm(taps, conv["kernel"].reshape(k * r, 2 * r), conv["bias"])  # 2R channels
      if bias is not None:
        g = g + bias[l]
      filt, gate = halves(g)
      z = jnp.tanh(filt) * nn.sigmoid(gate)  # R channels
      zs.append(z)
      if l < n - 1:
        res = p[f"residual{l}"]
        h = h + mm(z, res["kernel"], res["bias"])
    # Every layer's input at t into its segment, one scatter (in place).
    queue.value = queue.value.at[offsets + t % lengths].set(jnp.stack(hs))
    skip = mm(jnp.concatenate(zs, axis), p["skip_kernel"], p["skip_bias"])  # S channels
    hidden = mm(nn.relu(skip), p["out1"]["kernel"], p["out1"]["bias"])
    raw = mm(nn.relu(hidden), p["out2"]["kernel"], p["out2"]["bias"])  # P channels
    return raw[None] if vec else raw


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  del event_shape, num_levels
  return {
      # Dilations 1, 2, 1, 2: works for any length, a whole event space enumerable.
      "tiny": dict(num_layers=4, dilation_cycle=2, residual_channels=8, skip_channels=16,
                   upsample_channels=8, num_components=2),
      # Dilations 1..128 twice: a receptive field of 512 samples (64 ms at 8 kHz).
      "small": dict(num_layers=16, dilation_cycle=8, residual_channels=32, skip_channels=128,
                    upsample_channels=16, num_components=10),
      # The paper: dilations 1..512 three times, 64 residual and 256 skip channels.
      "paper": dict(num_layers=30, dilation_cycle=10, residual_channels=64, skip_channels=256,
                    upsample_channels=64, num_components=10),
  }[size]


registry.register("wavenet", WaveNet, _sizes)
