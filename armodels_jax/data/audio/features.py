"""Log-mel features of a recording: WaveNet's local condition (section 2.5).

References:
  A. van den Oord et al. "WaveNet: A Generative Model for Raw Audio", 2016, arXiv:1609.03499,
  section 2.5 (local conditioning).
  S. Young et al. "The HTK Book": the mel scale `mel(f) = 2595 log10(1 + f / 700)`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from armodels_jax.data.audio._checks import _float_audio, _positive_int


LOG_FLOOR = 1e-5  # log_mel returns log(mel power + LOG_FLOOR).


def _hz_to_mel(f):
  return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _mel_to_hz(m):
  return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, num_mels: int = 40, fmin: float = 0.0,
                   fmax: Optional[float] = None) -> np.ndarray:
  """Triangular HTK mel filters over the bins of a length-`n_fft` real FFT.

  Band `m` rises linearly from 0 at `hz[m]` to 1 at `hz[m + 1]` and falls back to 0 at
  `hz[m + 2]`, where `hz` are `num_mels + 2` points evenly spaced on the HTK mel scale from
  `fmin` to `fmax` (peaks of 1, no area normalisation).

  Args:
    sample_rate: the rate in Hz.
    n_fft: the FFT length.
    num_mels: the number of bands M.
    fmin: the lowest frequency in Hz.
    fmax: the highest frequency in Hz (default: `sample_rate / 2`).

  Returns:
    float64 `[n_fft // 2 + 1, M]`.
  """
  sample_rate = _positive_int(sample_rate, "sample_rate")
  n_fft = _positive_int(n_fft, "n_fft")
  num_mels = _positive_int(num_mels, "num_mels")
  nyquist = sample_rate / 2.0
  fmax = nyquist if fmax is None else float(fmax)
  fmin = float(fmin)
  if not 0.0 <= fmin < fmax <= nyquist:
    raise ValueError(
        f"Expected 0 <= fmin < fmax <= sample_rate / 2 = {nyquist}, got fmin={fmin}, "
        f"fmax={fmax}.")
  hz = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), num_mels + 2))  # [M + 2]
  freqs = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)  # [n_fft // 2 + 1]
  lo, centre, hi = hz[:-2], hz[1:-1], hz[2:]  # [M] each
  rising = (freqs[:, None] - lo) / (centre - lo)  # [bins, M]
  falling = (hi - freqs[:, None]) / (hi - centre)  # [bins, M]
  return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(audio, sample_rate: int, hop: int, num_mels: int = 40, n_fft: Optional[int] = None,
            fmin: float = 0.0, fmax: Optional[float] = None) -> np.ndarray:
  """Log-mel energies, one frame per `hop` samples.

  Frame `k` describes the samples `[k * hop, (k + 1) * hop)`: a periodic Hann window of `n_fft`
  samples centred on the middle of that span (zeros outside the audio), the power spectrum
  `|rfft|^2`, the HTK mel filters (`mel_filterbank`), then `log(mel power + 1e-5)`.

  Args:
    audio: float `[T]` (e.g. in [-1, 1]).
    sample_rate: the rate in Hz.
    hop: samples per frame.
    num_mels: the number of mel bands M.
    n_fft: the window and FFT length, at least `hop` (default: the smallest power of two
      >= `4 * hop`).
    fmin: the lowest frequency of the filters in Hz.
    fmax: the highest (default: `sample_rate / 2`).

  Returns:
    float32 `[T // hop, M]`.

  Raises:
    ValueError: for audio that is not a finite 1-D array, or bad options.
  """
  x = _float_audio(audio, "log_mel").astype(np.float64)  # [T]
  hop = _positive_int(hop, "hop")
  if n_fft is None:
    n_fft = 1 << (4 * hop - 1).bit_length()
  n_fft = _positive_int(n_fft, "n_fft")
  if n_fft < hop:
    raise ValueError(f"log_mel: expected n_fft >= hop = {hop}, got n_fft={n_fft}.")
  filters = mel_filterbank(sample_rate, n_fft, num_mels, fmin, fmax)  # [bins, M]
  num_frames = x.shape[0] // hop
  if num_frames == 0:
    return np.zeros((0, filters.shape[1]), np.float32)
  # Frame k starts at k * hop + hop // 2 - n_fft // 2 in the audio, so at k * hop once the audio
  # is padded on the left with `left` zeros.
  left = n_fft // 2 - hop // 2
  right = max(0, (num_frames - 1) * hop + n_fft - left - x.shape[0])
  padded = np.pad(x, (left, right))
  frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:num_frames]  # [K, n]
  window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann, [n]
  power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # [K, bins]
  return np.log(power @ filters + LOG_FLOOR).astype(np.float32)  # [K, M]
