"""Preprocessing of discrete data: binarization, re-quantization and mu-law.

All functions are pure NumPy and work on arrays of any shape.

References:
  A. van den Oord, S. Dieleman, H. Zen, K. Simonyan, O. Vinyals, A. Graves,
  N. Kalchbrenner, A. Senior, K. Kavukcuoglu. "WaveNet: A Generative Model for
  Raw Audio", 2016, arXiv:1609.03499, section 2.2, equation (2).
"""

from __future__ import annotations

import numpy as np

from armodels_jax.data.dataset import as_level_array


def binarize(x, threshold) -> np.ndarray:
  """Deterministic binarization: 1 where `x >= threshold`, else 0.

  Args:
    x: a numeric array of any shape.
    threshold: the smallest value mapped to 1 (e.g. 128 for 0..255 pixels,
      8 for the 0..16 pixels of scikit-learn's digits).

  Returns:
    An int32 array of the shape of `x` with values in {0, 1}.
  """
  x = np.asarray(x)
  if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
    raise ValueError(f"binarize: expected a numeric array, got dtype {x.dtype}.")
  if np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
    raise ValueError("binarize: expected no NaN values.")
  return (x >= threshold).astype(np.int32)


def stochastic_binarize(x, num_levels: int, seed) -> np.ndarray:
  """Stochastic binarization: 1 with probability `x / (num_levels - 1)`.

  This is the dynamic binarization of Salakhutdinov & Murray (2008) drawn
  once with a fixed seed.

  Args:
    x: integer levels in `[0, num_levels)`, any shape.
    num_levels: the number of levels of `x` (256 for 8-bit pixels).
    seed: a seed for `np.random.default_rng`: a non-negative integer or a
      sequence of them.

  Returns:
    An int32 array of the shape of `x` with values in {0, 1}.
  """
  x = as_level_array(x, "stochastic_binarize input", num_levels)
  p = x.astype(np.float64) / (num_levels - 1)
  u = np.random.default_rng(seed).random(x.shape)
  return (u < p).astype(np.int32)


def quantize(x, from_levels: int, to_levels: int) -> np.ndarray:
  """Maps integer levels in `[0, from_levels)` to `[0, to_levels)`.

  Uses `floor(x * to_levels / from_levels)`: each output level covers an
  equal share of the input levels. For powers of two this is dropping the low
  bits (e.g. 256 -> 32 levels is `x // 8`, as in Glow's `n_bits`), and
  `quantize(quantize(x, a, b), b, a)` returns the lowest input of each bin.

  Args:
    x: integer levels in `[0, from_levels)`, any shape.
    from_levels: the number of input levels, >= 1.
    to_levels: the number of output levels, >= 1.

  Returns:
    An int32 array of the shape of `x` with values in `[0, to_levels)`.
  """
  if int(from_levels) < 1 or int(to_levels) < 1:
    raise ValueError(
        f"quantize: expected from_levels >= 1 and to_levels >= 1, got "
        f"{from_levels} and {to_levels}.")
  x = as_level_array(x, "quantize input", int(from_levels)).astype(np.int64)
  return (x * int(to_levels) // int(from_levels)).astype(np.int32)


def mu_law_encode(audio, levels: int = 256) -> np.ndarray:
  """Mu-law companding and quantization of audio in [-1, 1] (WaveNet eq. 2).

  `f(x) = sign(x) * ln(1 + mu |x|) / ln(1 + mu)` with `mu = levels - 1`,
  then `f` in [-1, 1] is mapped to the nearest of `levels` evenly spaced
  values: `q = floor((f + 1) / 2 * mu + 0.5)`. So -1 -> 0, 0 -> levels // 2
  (for even `levels`), 1 -> levels - 1.

  Args:
    audio: float array of any shape with values in [-1, 1].
    levels: the number of quantization levels (256 in WaveNet), >= 2.

  Returns:
    An int32 array of the shape of `audio` with values in `[0, levels)`.

  Raises:
    ValueError: for NaN or values outside [-1, 1].
  """
  if int(levels) < 2:
    raise ValueError(f"mu_law_encode: expected levels >= 2, got {levels}.")
  x = np.asarray(audio, dtype=np.float64)
  if x.size and not np.all(np.abs(x) <= 1.0):
    if np.isnan(x).any():
      raise ValueError("mu_law_encode: expected audio in [-1, 1], got NaN.")
    raise ValueError(
        "mu_law_encode: expected audio in [-1, 1], got values in "
        f"[{x.min()}, {x.max()}].")
  mu = float(levels - 1)
  f = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)  # in [-1, 1]
  q = np.floor((f + 1.0) / 2.0 * mu + 0.5)
  return np.clip(q, 0, levels - 1).astype(np.int32)


def mu_law_decode(q, levels: int = 256) -> np.ndarray:
  """Inverse of `mu_law_encode`: integer levels back to audio in [-1, 1].

  `y = 2 q / mu - 1`, `x = sign(y) * ((1 + mu)^|y| - 1) / mu`, `mu = levels - 1`.
  `mu_law_encode(mu_law_decode(q)) == q` for every level `q`.

  Args:
    q: integer levels in `[0, levels)`, any shape.
    levels: the number of quantization levels, >= 2.

  Returns:
    A float32 array of the shape of `q` with values in [-1, 1].
  """
  if int(levels) < 2:
    raise ValueError(f"mu_law_decode: expected levels >= 2, got {levels}.")
  q = as_level_array(q, "mu_law_decode input", int(levels)).astype(np.float64)
  mu = float(levels - 1)
  y = 2.0 * q / mu - 1.0
  x = np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu
  return x.astype(np.float32)
