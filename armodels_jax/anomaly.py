"""Anomaly (novelty) scores from an exact likelihood: higher means more anomalous.

``arm.anomaly_scores(model, variables, x, method=...)`` scores a batch ``[B, *event_shape]`` with
one of :data:`METHODS`:

* ``"nll"``: the negative log-likelihood ``-log p(x)`` in nats.
* ``"bpd"``: the same in bits per dimension, ``-log2 p(x) / D``.
* ``"complexity"``: Serra et al. 2020, "Input complexity and out-of-distribution detection with
  likelihood-based generative models" (ICLR): ``S(x) = -log2 p(x) - L(x)``, in bits,
  where ``L(x)`` is the length in bits of ``x`` under a generic lossless compressor (the paper
  compares PNG, JPEG2000 and FLIF); here PNG
  (:func:`input_complexity`, through pillow) for images with 1, 3 or 4 channels and at most 256
  levels, and zlib (deflate) on the raw levels for any other event. The PNG file's constant
  header adds the same number to every score, so it changes no ranking. ``compressor="context"``
  is an adaptive context-model code of images (:func:`context_code_bits`), the kind JBIG uses for
  bilevel images: on one-class MNIST it measures complexity far better than PNG (BENCHMARKS.md).
* ``"likelihood_ratio"``: Ren et al. 2019, "Likelihood Ratios for Out-of-Distribution Detection"
  (NeurIPS): ``LLR(x) = log p_theta(x) - log p_theta0(x)`` with ``p_theta0`` a
  background model trained on perturbed inputs (each dimension replaced, with probability ``mu``, by
  a uniformly drawn value -- :func:`perturb` -- plus L2 regularisation). The score is
  ``-LLR(x) = log p_theta0(x) - log p_theta(x)`` in nats; ``reference=(model0, variables0)``.

Dimensions: B batch, D dimensions of an event (``prod(event_shape)``).
"""

from __future__ import annotations

import io
import math
import zlib
from typing import Any, Optional

import numpy as np

METHODS = ("nll", "bpd", "complexity", "likelihood_ratio")
COMPRESSORS = ("png", "zlib", "context")

__all__ = ["METHODS", "COMPRESSORS", "anomaly_scores", "context_code_bits", "input_complexity",
           "perturb"]


def _is_png_image(event_shape: tuple[int, ...], num_levels: Optional[int]) -> bool:
  return (len(event_shape) == 3 and event_shape[-1] in (1, 3, 4) and num_levels is not None
          and num_levels <= 256)


def _png_bits(img: np.ndarray, num_levels: int) -> int:
  """Length in bits of one image ``[H, W, C]`` written as a PNG (1-bit for two levels)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  if img.shape[-1] == 1:
    img = img[..., 0]
    pil = Image.fromarray(img.astype(bool)) if num_levels == 2 else Image.fromarray(
        img.astype(np.uint8), mode="L")
  else:
    pil = Image.fromarray(img.astype(np.uint8), mode="RGB" if img.shape[-1] == 3 else "RGBA")
  buf = io.BytesIO()
  pil.save(buf, format="PNG", compress_level=9)
  return 8 * buf.tell()


# The causal neighbours of the context code: west, north-west, north, north-east.
_CONTEXT_OFFSETS = ((0, -1), (-1, -1), (-1, 0), (-1, 1))


def context_code_bits(x: Any, num_levels: int) -> np.ndarray:
  """Length in bits of an adaptive context-model code of each image, learned from nothing but the image.

  The pixels of each channel are coded in raster order; a pixel's context is which of its four causal
  neighbours (west, north-west, north, north-east; outside the image counts as 0) are in the upper half
  of the levels (``level >= num_levels / 2``), 16 contexts per channel. In each context the code uses
  the Krichevsky-Trofimov estimator (Krichevsky & Trofimov 1981, "The performance of universal
  encoding"), ``p(v) = (n_v + 1/2) / (n + num_levels / 2)`` from the counts of
  the pixels coded before in that context; the counts start at zero for every image. This is a sequential
  probability assignment, so the lengths of all images of a shape satisfy Kraft's equality
  ``sum 2^-L(x) = 1``; an arithmetic coder reaches them within 2 bits. With two levels this is the kind of
  adaptive template code JBIG (ITU-T T.82) uses.

  Args:
    x: integer levels ``[B, H, W, C]`` in ``[0, num_levels)``.
    num_levels: the number of levels.

  Returns:
    float64 ``[B]``, bits.
  """
  arr = np.asarray(x)
  if arr.ndim != 4:
    raise ValueError(f"compressor 'context' needs images (B, H, W, C), got shape {arr.shape}")
  b, h, w, c = arr.shape
  flat = np.moveaxis(arr, 3, 1).reshape(b * c, h, w).astype(np.int64)  # channels code separately
  high = np.pad(flat >= num_levels / 2, ((0, 0), (1, 0), (1, 1))).astype(np.int64)
  ctx = np.zeros((b * c, h, w), np.int64)
  for di, dj in _CONTEXT_OFFSETS:
    ctx = 2 * ctx + high[:, 1 + di:1 + di + h, 1 + dj:1 + dj + w]
  ctx, values = ctx.reshape(b * c, h * w), flat.reshape(b * c, h * w)
  counts = np.zeros((b * c, 2 ** len(_CONTEXT_OFFSETS), num_levels))
  rows = np.arange(b * c)
  nats = np.zeros(b * c)
  for t in range(h * w):
    k, v = ctx[:, t], values[:, t]
    seen = counts[rows, k]  # [B * C, num_levels]
    nats -= np.log((seen[rows, v] + 0.5) / (seen.sum(-1) + num_levels / 2))
    counts[rows, k, v] += 1.0
  return nats.reshape(b, c).sum(-1) / math.log(2.0)


def input_complexity(x: Any, num_levels: int, *, compressor: Optional[str] = None) -> np.ndarray:
  """The complexity ``L(x)`` of Serra et al. 2020: the length in bits of a lossless code of each example.

  Args:
    x: integer levels ``[B, *event_shape]`` in ``[0, num_levels)``.
    num_levels: the number of levels.
    compressor: ``"png"`` (images ``[B, H, W, C]`` with C in 1, 3, 4 and at most 256 levels; a 1-bit
      PNG for two levels), ``"zlib"`` (deflate at level 9 on the levels as bytes, 1 byte per dimension
      up to 256 levels, else 2 or 4), ``"context"`` (images ``[B, H, W, C]``: the adaptive context-model
      code of :func:`context_code_bits`), or None: PNG for such images, zlib otherwise.

  Returns:
    float64 ``[B]``, bits.
  """
  arr = np.asarray(x)
  if arr.ndim < 2:
    raise ValueError(f"expected x of shape (B, *event_shape), got shape {arr.shape}")
  if compressor is None:
    compressor = "png" if _is_png_image(arr.shape[1:], num_levels) else "zlib"
  if compressor not in COMPRESSORS:
    raise ValueError(f"unknown compressor {compressor!r}; expected one of {list(COMPRESSORS)}")
  if compressor == "png":
    if not _is_png_image(arr.shape[1:], num_levels):
      raise ValueError(f"compressor 'png' needs images (B, H, W, C) with C in 1, 3, 4 and at most 256 "
                       f"levels, got shape {arr.shape} with {num_levels} levels; use 'zlib'")
    return np.array([_png_bits(a, num_levels) for a in arr], np.float64)
  if compressor == "context":
    return context_code_bits(arr, num_levels)
  dtype = np.uint8 if num_levels <= 256 else (np.uint16 if num_levels <= 65536 else np.uint32)
  return np.array([8 * len(zlib.compress(a.astype(dtype).tobytes(), 9)) for a in arr], np.float64)


def perturb(x: Any, rate: float, num_levels: int, seed: Any = 0) -> np.ndarray:
  """Ren et al. 2019's input perturbation: each dimension, with probability `rate`, is replaced by a
  level drawn uniformly from ``[0, num_levels)`` (it may draw its own value back).

  Args:
    x: integer levels ``[B, ...]``.
    rate: ``mu`` in ``[0, 1]``; the paper uses 0.1 to 0.3.
    num_levels: the number of levels.
    seed: an int or a ``np.random.Generator``.

  Returns:
    int32, the shape of `x`.
  """
  if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
    raise ValueError(f"expected rate in [0, 1], got {rate!r}")
  arr = np.asarray(x)
  rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
  flip = rng.random(arr.shape) < rate
  noise = rng.integers(0, num_levels, arr.shape)
  return np.where(flip, noise, arr).astype(np.int32)


def _nll(model, variables, x: np.ndarray, cond: Any, batch_size: int) -> np.ndarray:
  """``-log p(x)`` in nats, float64 ``[B]`` (``evaluation.nll_per_example``: padded batches)."""
  from armodels_jax import evaluation  # pylint: disable=g-import-not-at-top

  return evaluation.nll_per_example(model, variables, x, cond, batch_size)


def _check_cond_rows(cond: Any, n: int) -> None:
  import jax  # pylint: disable=g-import-not-at-top

  for leaf in jax.tree.leaves(cond):
    if np.shape(leaf)[:1] != (n,):
      raise ValueError(f"expected cond with {n} rows (one per example of x), got shape {np.shape(leaf)}")


def anomaly_scores(model, variables: dict, x: Any, method: str = "nll", cond: Any = None,
                   reference: Any = None, *, compressor: Optional[str] = None,
                   batch_size: int = 256) -> np.ndarray:
  """Anomaly scores of a batch under a trained model; higher means more anomalous.

  Args:
    model: from ``arm.models.create`` (a discrete model for ``"complexity"``).
    variables: the model's trained variables.
    x: ``[B, *event_shape]`` integer levels (float for a real-valued model).
    method: one of ``"nll"`` (nats), ``"bpd"`` (bits per dimension), ``"complexity"`` (bits: the NLL
      minus the PNG/zlib length, Serra et al. 2020), ``"likelihood_ratio"`` (nats: the NLL minus the
      background model's NLL, Ren et al. 2019).
    cond: the conditioning input of a conditional model (``[B, ...]`` rows), else None. With
      ``"likelihood_ratio"`` it goes to the background model too.
    reference: ``"likelihood_ratio"`` only: the background model as a pair ``(model0, variables0)``
      with the same event shape and levels (trained on inputs perturbed by :func:`perturb`).
    compressor: ``"complexity"`` only: see :func:`input_complexity` (default PNG for images).
    batch_size: examples per forward pass.

  Returns:
    float64 NumPy ``[B]``.

  Raises:
    ValueError: an unknown method, a missing or malformed reference (or one given to another method),
      a reference of another event shape or levels, an `x` the model does not take, `cond` rows that
      do not match `x`, or a non-finite likelihood.
  """
  from armodels_jax import api  # pylint: disable=g-import-not-at-top

  if method not in METHODS:
    raise ValueError(f"unknown anomaly method {method!r}; expected one of {list(METHODS)}")
  if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
    raise ValueError(f"expected batch_size a positive int, got {batch_size!r}")
  if method == "likelihood_ratio":
    if reference is None:
      raise ValueError("method 'likelihood_ratio' needs reference=(background_model, "
                       "background_variables), got None")
    if not isinstance(reference, (tuple, list)) or len(reference) != 2:
      raise ValueError("expected reference as a pair (background_model, background_variables), got "
                       f"{type(reference).__name__}"
                       + (f" of length {len(reference)}" if isinstance(reference, (tuple, list)) else ""))
    ref_model = reference[0]
    api._check_model(ref_model)  # pylint: disable=protected-access
    if (tuple(ref_model.event_shape) != tuple(model.event_shape)
        or ref_model.num_levels != model.num_levels):
      raise ValueError(
          f"expected a reference model of event shape {tuple(model.event_shape)} with "
          f"{model.num_levels} levels, got {tuple(ref_model.event_shape)} with {ref_model.num_levels}")
  elif reference is not None:
    raise ValueError(f"reference is used by method 'likelihood_ratio' only, got it with {method!r}")
  if compressor is not None and method != "complexity":
    raise ValueError(f"compressor is used by method 'complexity' only, got it with {method!r}")
  api._check_model(model)  # pylint: disable=protected-access
  if method == "complexity" and model.num_levels is None:
    raise ValueError("method 'complexity' needs a discrete model (integer levels), got a "
                     "real-valued one")
  x = api.check_input(model, x)
  if cond is not None:
    _check_cond_rows(cond, x.shape[0])

  nll = _nll(model, variables, x, cond, int(batch_size))
  if method == "nll":
    return nll
  if method == "bpd":
    return nll / (math.prod(model.event_shape) * math.log(2.0))
  if method == "complexity":
    return nll / math.log(2.0) - input_complexity(x, model.num_levels, compressor=compressor)
  return nll - _nll(reference[0], reference[1], x, cond, int(batch_size))
