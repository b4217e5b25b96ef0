"""Audio to integer levels and back: mu-law companding to 256 levels (WaveNet section 2.2,
equation 2) or exactly the 16-bit PCM value (`v + 32768`, 65,536 levels).

References:
  A. van den Oord et al. "WaveNet: A Generative Model for Raw Audio", 2016, arXiv:1609.03499,
  section 2.2 (mu-law companding to 256 levels).
"""

from __future__ import annotations


import numpy as np

from armodels_jax.data.dataset import as_level_array
from armodels_jax.data.preprocess import mu_law_decode, mu_law_encode
from armodels_jax.data.audio._checks import _choice

QUANTIZATIONS = ("mu_law", "pcm16")
PCM16_LEVELS = 65536


def _check_quantization(quantization, levels) -> int:
  _choice(quantization, QUANTIZATIONS, "quantization")
  if (isinstance(levels, bool) or not isinstance(levels, (int, np.integer))
      or int(levels) < 2):
    raise ValueError(f"Expected levels as an integer >= 2, got {levels!r}.")
  if quantization == "pcm16" and int(levels) != PCM16_LEVELS:
    raise ValueError(
        f"quantization 'pcm16' expects levels={PCM16_LEVELS} (one per 16-bit value), got "
        f"{levels}.")
  return int(levels)


def quantize_audio(audio, quantization: str = "mu_law", levels: int = 256) -> np.ndarray:
  """Float audio in [-1, 1] to integer levels.

  Args:
    audio: float audio in [-1, 1], any shape (int16 samples `v` are taken as `v / 32768`).
    quantization: 'mu_law' (`mu_law_encode`, WaveNet eq. 2) or 'pcm16' (the 16-bit sample
      `v = round(x * 32768)`, clipped to int16, becomes level `v + 32768`).
    levels: the number of levels (65536 for 'pcm16').

  Returns:
    int32 levels in `[0, levels)`, of the shape of `audio`.

  Raises:
    ValueError: for an unknown quantization, wrong levels, NaN or values outside [-1, 1].
  """
  levels = _check_quantization(quantization, levels)
  x = np.asarray(audio)
  if x.dtype == np.int16:
    x = x.astype(np.float64) / 32768.0
  elif not np.issubdtype(x.dtype, np.floating):
    raise ValueError(f"quantize_audio: expected float audio in [-1, 1] (or int16), got dtype "
                     f"{x.dtype}.")
  if quantization == "mu_law":
    return mu_law_encode(x, levels)
  if x.size and not np.all(np.abs(x) <= 1.0):
    bad = "NaN" if np.isnan(x).any() else f"values in [{np.min(x)}, {np.max(x)}]"
    raise ValueError(f"quantize_audio: expected audio in [-1, 1], got {bad}.")
  v = np.clip(np.round(x.astype(np.float64) * 32768.0), -32768, 32767)
  return (v + 32768).astype(np.int32)


def dequantize_audio(q, quantization: str = "mu_law", levels: int = 256) -> np.ndarray:
  """Integer levels back to float audio in [-1, 1] (the inverse of `quantize_audio`).

  Args:
    q: integer levels in `[0, levels)`, any shape.
    quantization: 'mu_law' (`mu_law_decode`) or 'pcm16' (`(q - 32768) / 32768`).
    levels: the number of levels (65536 for 'pcm16').

  Returns:
    float32 audio of the shape of `q`.

  Raises:
    ValueError: for an unknown quantization, wrong levels or levels out of range.
  """
  levels = _check_quantization(quantization, levels)
  if quantization == "mu_law":
    return mu_law_decode(q, levels)
  q = as_level_array(q, "dequantize_audio input", levels)
  return ((q.astype(np.float64) - 32768.0) / 32768.0).astype(np.float32)


def silence_level(quantization: str = "mu_law", levels: int = 256) -> int:
  """The level of the audio value 0.0 (128 for 256 mu-law levels, 32768 for 'pcm16')."""
  return int(quantize_audio(np.zeros((), np.float64), quantization, levels))
