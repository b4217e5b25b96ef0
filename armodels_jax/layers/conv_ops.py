"""Stride-s VALID 2-D convolutions, computed as XLA convolutions or as matrix products.

Every convolution of the image models goes through :func:`conv2d`. Its result is the same whichever way
it is computed (up to float32 rounding); the way is chosen for speed:

* ``"xla"``: ``lax.conv_general_dilated``. The right choice on GPUs and TPUs (cuDNN, the MXU).
* ``"matmul"``: matrix products wherever they are faster on a CPU. XLA's CPU backend runs a
  convolution on one core and its kernel gradient slowly, while it runs matrix products on every core.
  A 1x1 convolution is one product ``[B H W, C] @ [C, F]``. A kernel with few input values per output
  (taps x channels <= 64, such as a first layer reading 1 or 3 image channels) concatenates the
  shifted views of the input along the channels and multiplies once (im2col). A larger kernel keeps
  XLA's convolution for the forward pass and the input gradient; from 64 input channels on, it
  computes the kernel gradient as one product per tap (``view^T @ dy``). Taps that a mask zeroes
  entirely are skipped, so a PixelCNN mask-B 3x3 kernel costs 5 taps, not 9, and a 7x7 mask-A
  kernel 24, not 49.
* ``"auto"`` (the default): ``"matmul"`` when the program is compiled for a CPU, else ``"xla"``. The
  platform is ``jax.default_backend()``, unless :func:`compiling_for` names another one: a program
  compiled ahead of time for TPU chips on a CPU host (``armodels_jax.aot``) must hold the TPU's
  convolutions, not the host's matrix-product rewrite.

:func:`set_default_method` changes what ``"auto"`` means for the process (for benchmarks, or to force
one way on a given machine).

Dimensions: B batch, H/W input height/width (padded), C input channels, F output features, kh x kw
kernel, s stride, T taps kept.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator, Optional

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["conv2d", "set_default_method", "default_method", "compiling_for", "loop_body", "METHODS"]

METHODS = ("auto", "xla", "matmul")
_DIMS = ("NHWC", "HWIO", "NHWC")
_default = "auto"
_target_platform: Optional[str] = None  # Set by `compiling_for`; None: jax.default_backend().
# Up to this many input values per output (taps x channels), one concatenated product (im2col) beats
# an XLA convolution (measured on the 2-core CPU: PixelCNN first layers, PixelCNN++ small).
_IM2COL_MAX = 64
# From this many input channels, a kernel gradient of one product per tap beats XLA's (measured: Gated
# PixelCNN small, 32 channels and 15 taps, is faster with XLA's; 64 and 128 channels with ours).
_TAP_GRAD_MIN_CHANNELS = 64
_loop_depth = 0  # > 0 while a loop body is traced (`loop_body`).


def set_default_method(method: str) -> None:
  """Sets what ``method="auto"`` resolves to: ``"auto"`` (by backend), ``"xla"`` or ``"matmul"``."""
  global _default
  if method not in METHODS:
    raise ValueError(f"expected a convolution method in {list(METHODS)}, got {method!r}")
  _default = method


def default_method() -> str:
  """The method ``"auto"`` resolves to now (``"xla"`` or ``"matmul"``)."""
  if _default != "auto":
    return _default
  platform = _target_platform or jax.default_backend()
  return "matmul" if platform == "cpu" else "xla"


@contextlib.contextmanager
def compiling_for(platform: str) -> Iterator[None]:
  """Within the block, ``"auto"`` resolves for programs compiled for `platform` (``"cpu"``, ``"tpu"``,
  ``"gpu"``...) instead of for ``jax.default_backend()``.

  The method is read while a function is traced, and JAX reuses traces across calls, so entering and
  leaving the block clears JAX's caches whenever it changes the method: no trace made for one
  platform is reused for the other.
  """
  global _target_platform
  if not isinstance(platform, str) or not platform:
    raise ValueError(f"expected a platform name such as 'tpu', got {platform!r}")
  before, previous = default_method(), _target_platform
  _target_platform = platform.lower()
  changed = default_method() != before
  if changed:
    jax.clear_caches()
  try:
    yield
  finally:
    _target_platform = previous
    if changed:
      jax.clear_caches()


@contextlib.contextmanager
def loop_body() -> Iterator[None]:
  """Marks the convolutions traced within the block as the body of a loop (a ``lax.scan`` over
  blocks: `armodels_jax.layers.scanned.scan` enters it).

  XLA's CPU backend rewrites a convolution into the form its fast (Eigen) kernels take only at the
  top level of a program (its ConvCanonicalization pass), not inside a loop. There a kernel
  gradient, whose layout is never that form, ran 20x slower (the Gated PixelCNN's scanned step,
  BENCHMARKS.md, "Scanned blocks on a CPU"). Within the block ``"matmul"`` therefore computes every
  kernel gradient as its per-tap products, whatever the channel count, and both backward
  convolutions are written in the fast form to begin with (`_conv_tap_grad`).
  """
  global _loop_depth
  _loop_depth += 1
  try:
    yield
  finally:
    _loop_depth -= 1


def _kept_taps(mask: Optional[np.ndarray], kh: int, kw: int) -> list[tuple[int, int, bool]]:
  """``(r, c, partial)`` for every tap the mask keeps; ``partial`` when it keeps only some weights."""
  if mask is None:
    return [(r, c, False) for r in range(kh) for c in range(kw)]
  taps = []
  for r in range(kh):
    for c in range(kw):
      tap = mask[r, c]
      if tap.any():
        taps.append((r, c, not tap.all()))
  return taps


def conv2d(x: jnp.ndarray, kernel: jnp.ndarray, strides: tuple[int, int] = (1, 1),
           mask: Optional[np.ndarray] = None, method: str = "auto") -> jnp.ndarray:
  """VALID convolution (cross-correlation) of an already padded input.

  Args:
    x: ``[B, H, W, C]``.
    kernel: ``[kh, kw, C, F]``.
    strides: ``(s_h, s_w)``.
    mask: None, or a NumPy array broadcastable to the kernel's shape (``[kh, kw, 1, 1]`` or
      ``[kh, kw, C, F]``) of zeros and ones; the convolution uses ``kernel * mask``. Static: the
      taps it zeroes entirely are skipped by ``"matmul"``.
    method: ``"auto"``, ``"xla"`` or ``"matmul"`` (module docstring).

  Returns:
    ``[B, (H - kh) // s_h + 1, (W - kw) // s_w + 1, F]`` in the dtype of ``x`` and ``kernel``.
  """
  if method not in METHODS:
    raise ValueError(f"expected a convolution method in {list(METHODS)}, got {method!r}")
  if method == "auto":
    method = default_method()
  kh, kw, channels, features = kernel.shape
  if mask is not None:
    mask = np.asarray(mask)
  if method == "xla":
    return _xla_conv(x, _masked(kernel, mask), strides)
  batch, height, width, _ = x.shape
  out_h, out_w = (height - kh) // strides[0] + 1, (width - kw) // strides[1] + 1
  if out_h < 1 or out_w < 1:
    raise ValueError(f"conv2d: input {x.shape[1:3]} smaller than kernel {(kh, kw)}")
  taps = _kept_taps(mask, kh, kw)
  full_mask = None if mask is None else np.ascontiguousarray(np.broadcast_to(mask, kernel.shape))

  def weight(r, c, partial):  # [C, F]
    w = kernel[r, c]
    return w * jnp.asarray(full_mask[r, c], w.dtype) if partial else w

  view = lambda r, c: _tap_view(x, r, c, (out_h, out_w), strides)

  if not taps:
    return jnp.zeros((batch, out_h, out_w, features), jnp.result_type(x, kernel))
  if len(taps) == 1:
    r, c, partial = taps[0]
    return view(r, c) @ weight(r, c, partial)
  if len(taps) * channels <= _IM2COL_MAX:
    cols = jnp.concatenate([view(r, c) for r, c, _ in taps], axis=-1)  # [B, h, w, T C]
    w = jnp.concatenate([weight(r, c, p) for r, c, p in taps], axis=0)  # [T C, F]
    return cols @ w
  if channels < _TAP_GRAD_MIN_CHANNELS and not _loop_depth:
    return _xla_conv(x, _masked(kernel, full_mask), strides)
  return _conv_tap_grad(x, kernel, strides, _Static(full_mask), tuple((r, c) for r, c, _ in taps))


def _tap_view(x, r, c, out_hw, strides):
  """``[B, out_h, out_w, C]``: the inputs that kernel tap ``(r, c)`` multiplies."""
  (out_h, out_w), (sh, sw) = out_hw, strides
  batch, _, _, channels = x.shape
  return jax.lax.slice(x, (0, r, c, 0),
                       (batch, r + sh * (out_h - 1) + 1, c + sw * (out_w - 1) + 1, channels),
                       (1, sh, sw, 1))


def _masked(kernel, mask):
  return kernel if mask is None else kernel * jnp.asarray(mask, kernel.dtype)


def _xla_conv(x, kernel, strides):
  return jax.lax.conv_general_dilated(x, kernel, strides, "VALID", dimension_numbers=_DIMS)


class _Static:
  """Hashable wrapper of a NumPy mask for ``nondiff_argnums``."""

  def __init__(self, value):
    self.value = value

  def __hash__(self):
    return 0 if self.value is None else hash(self.value.tobytes()) ^ hash(self.value.shape)

  def __eq__(self, other):
    a, b = self.value, other.value
    return (a is None and b is None) or (a is not None and b is not None and a.shape == b.shape
                                         and bool((a == b).all()))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_tap_grad(x, kernel, strides, mask, taps):
  """An XLA convolution whose kernel gradient is one matrix product per kept tap.

  XLA's CPU kernel gradient of a convolution is its slowest part (FACTS.md); per tap it is
  ``view^T @ dy``, ``[C, B h w] @ [B h w, F]``, a product on every core. The input gradient stays
  XLA's (a transposed convolution, as fast as the forward).

  Args:
    x, kernel, strides: as for :func:`conv2d`.
    mask: `_Static` of None or the kernel's full-shape mask.
    taps: the kept ``(r, c)`` taps; the others get a zero gradient.
  """
  return _xla_conv(x, _masked(kernel, mask.value), strides)

def _ctg_fwd(x, kernel, strides, mask, taps):
  return _conv_tap_grad(x, kernel, strides, mask, taps), (x, kernel)


def _ctg_bwd(strides, mask, taps, res, dy):
  x, kernel = res
  dx = _input_grad(dy, _masked(kernel, mask.value), x.shape, strides)
  _, out_h, out_w, features = dy.shape
  dy2 = dy.reshape(-1, features)
  dk = jnp.zeros_like(kernel)
  for r, c in taps:
    v = _tap_view(x, r, c, (out_h, out_w), strides).reshape(-1, x.shape[-1])
    dk = dk.at[r, c].set(v.T @ dy2)
  return dx, _masked(dk, mask.value)


_conv_tap_grad.defvjp(_ctg_fwd, _ctg_bwd)


def _input_grad(dy, kernel, x_shape, strides):
  """The gradient of a VALID convolution with respect to its input, as one convolution in the
  layout XLA's CPU backend runs fast anywhere in a program (NHWC, HWIO): ``dy`` dilated by the
  strides and padded by ``k - 1`` (and by the input rows and columns the stride never reached),
  against the kernel flipped in space with its channel axes swapped."""
  kh, kw = kernel.shape[:2]
  (_, height, width, _), (_, out_h, out_w, _) = x_shape, dy.shape
  rest_h = height - ((out_h - 1) * strides[0] + kh)
  rest_w = width - ((out_w - 1) * strides[1] + kw)
  flipped = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)  # [kh, kw, F, C]
  return jax.lax.conv_general_dilated(
      dy, flipped, (1, 1), ((kh - 1, kh - 1 + rest_h), (kw - 1, kw - 1 + rest_w)),
      lhs_dilation=strides, dimension_numbers=_DIMS)
