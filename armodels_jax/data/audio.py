"""Audio data: 16-bit WAV I/O, resampling, log-mel features, mu-law and 16-bit PCM levels, and the
Free Spoken Digit Dataset, folders of WAVs and tfds `spoken_digit` as windowed `Dataset`s.

A recording is float audio in [-1, 1] (16-bit samples `v` are `v / 32768`). It is quantized to
integer levels, either by mu-law companding to 256 levels (WaveNet section 2.2, equation 2) or
exactly as its 16-bit PCM value (`v + 32768`, 65,536 levels), then cut into training windows:
consecutive non-overlapping windows, plus one aligned to the recording's end when a piece is left
over; a recording shorter than a window is left-padded with the level of silence.

Optional per-frame features (WaveNet's local condition, section 2.5) describe `hop` samples each:
log-mel energies, standardised per band by the train split's statistics, or a one-hot track of the
spoken digit. When features are asked, a recording is trimmed at its end to a multiple of `hop`,
so every window starts on a frame boundary.

References:
  A. van den Oord, S. Dieleman, H. Zen, K. Simonyan, O. Vinyals, A. Graves, N. Kalchbrenner,
  A. Senior, K. Kavukcuoglu. "WaveNet: A Generative Model for Raw Audio", 2016, arXiv:1609.03499,
  section 2.2 (mu-law companding to 256 levels) and section 2.5 (local conditioning).
  Z. Jackson et al. "Free Spoken Digit Dataset (FSDD)", v1.0.10,
  https://github.com/Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0): 8 kHz mono 16-bit
  recordings named `{digit}_{speaker}_{index}.wav`; the official test split is index 0-4.
  S. Young et al. "The HTK Book": the mel scale `mel(f) = 2595 log10(1 + f / 700)`.

Dimension glossary:
  T: samples of one recording. R: recordings. N: examples (windows). W: window length.
  K: frames of a recording, `T // hop`. M: mel bands. F: features per frame.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import re
from typing import Optional, Sequence

import numpy as np

from armodels_jax.data import tfds_source
from armodels_jax.data.dataset import Dataset, as_level_array
from armodels_jax.data.preprocess import mu_law_decode, mu_law_encode

__all__ = [
    "Recordings",
    "dequantize_audio",
    "load_fsdd",
    "load_fsdd_recordings",
    "load_tfds_spoken_digit",
    "load_wav_folder",
    "log_mel",
    "mel_filterbank",
    "quantize_audio",
    "read_wav",
    "resample",
    "silence_level",
    "write_wav",
]

QUANTIZATIONS = ("mu_law", "pcm16")
PCM16_LEVELS = 65536
LOG_FLOOR = 1e-5  # log_mel returns log(mel power + LOG_FLOOR).
FSDD_LABELS = ("speaker", "digit", "speaker_digit")
FSDD_FEATURES = ("log_mel", "digit")
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9]+)_(\d+)\.wav$")
_FSDD_NPZ_KEYS = ("audio", "offsets", "digit", "speaker", "speakers", "index")


# ------------------------------------------------------------------------------------------------
# Argument checks.


def _positive_int(value, what: str) -> int:
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or int(value) < 1):
    raise ValueError(f"Expected {what} as a positive integer, got {value!r}.")
  return int(value)


def _fraction(value, what: str) -> float:
  try:
    value = float(value)
  except (TypeError, ValueError):
    raise ValueError(f"Expected {what} in [0, 1), got {value!r}.") from None
  if not 0.0 <= value < 1.0:
    raise ValueError(f"Expected {what} in [0, 1), got {value!r}.")
  return value


def _choice(value, choices: Sequence, what: str):
  if value not in choices:
    raise ValueError(f"Expected {what} in {tuple(choices)}, got {value!r}.")
  return value


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


def _float_audio(audio, what: str, ndims=(1,)) -> np.ndarray:
  """Float32 audio after checking rank and finiteness."""
  x = np.asarray(audio)
  if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
    raise ValueError(f"{what}: expected a numeric audio array, got dtype {x.dtype}.")
  if x.ndim not in ndims:
    shapes = " or ".join({1: "[T]", 2: "[T, C]"}[d] for d in ndims)
    raise ValueError(f"{what}: expected audio of shape {shapes}, got shape {x.shape}.")
  x = x.astype(np.float32)
  if x.size and not np.all(np.isfinite(x)):
    raise ValueError(f"{what}: expected finite audio, got NaN or inf.")
  return x


# ------------------------------------------------------------------------------------------------
# WAV files and resampling.


def read_wav(path, sample_rate: Optional[int] = None) -> tuple[np.ndarray, int]:
  """Reads an audio file (any rate, any channels) as mono float audio.

  Args:
    path: a WAV file (any format libsndfile reads: WAV, FLAC, OGG, ...).
    sample_rate: the rate to return; the audio is resampled with soxr when the file's rate
      differs. None keeps the file's rate.

  Returns:
    `(audio, rate)`: float32 `[T]` in [-1, 1] (channels averaged; 16-bit samples `v` are exactly
    `v / 32768`; resampled audio is clipped to [-1, 1]) and its rate in Hz.

  Raises:
    ValueError: for a missing file, a file that is not audio, or a bad `sample_rate`.
  """
  import soundfile  # pylint: disable=g-import-not-at-top

  if sample_rate is not None:
    sample_rate = _positive_int(sample_rate, "sample_rate")
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise ValueError(f"read_wav: expected an audio file, got {path!r}, which does not exist.")
  try:
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)  # [T, C]
  except (RuntimeError, soundfile.SoundFileError) as e:
    raise ValueError(f"read_wav: expected an audio file, but {path!r} is not one ({e}).") from e
  audio = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]  # [T]
  if sample_rate is not None and sample_rate != rate:
    audio = np.clip(resample(audio, rate, sample_rate), -1.0, 1.0)
    rate = sample_rate
  return np.ascontiguousarray(audio, dtype=np.float32), int(rate)


def _to_int16(audio, what: str) -> np.ndarray:
  """int16 samples from int16 or from float audio in [-1, 1] (clipped), `round(x * 32768)`."""
  x = np.asarray(audio)
  if x.dtype == np.int16:
    return x
  if not np.issubdtype(x.dtype, np.floating):
    raise ValueError(f"{what}: expected float audio in [-1, 1] or int16 samples, got dtype "
                     f"{x.dtype}.")
  if x.size and not np.all(np.isfinite(x)):
    raise ValueError(f"{what}: expected finite audio, got NaN or inf.")
  return np.clip(np.round(x.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def write_wav(path, audio, sample_rate: int) -> None:
  """Writes a 16-bit PCM WAV file.

  Args:
    path: the file to write.
    audio: float `[T]` or `[T, C]` in [-1, 1] (values outside are clipped; `x` becomes the
      sample `round(x * 32768)`, so `read_wav` gives back `v / 32768` exactly), or int16 samples.
    sample_rate: the rate in Hz, a positive integer.

  Raises:
    ValueError: for NaN or inf, a dtype other than float or int16, a rank other than 1 or 2, or
      a bad rate.
  """
  import soundfile  # pylint: disable=g-import-not-at-top

  sample_rate = _positive_int(sample_rate, "sample_rate")
  x = np.asarray(audio)
  if x.ndim not in (1, 2):
    raise ValueError(f"write_wav: expected audio of shape [T] or [T, C], got shape {x.shape}.")
  samples = _to_int16(x, "write_wav")
  soundfile.write(os.fspath(path), samples, sample_rate, subtype="PCM_16", format="WAV")


def resample(audio, from_rate: int, to_rate: int) -> np.ndarray:
  """Resamples audio with soxr (high quality); the identity when the rates are equal.

  Args:
    audio: float `[T]` or `[T, C]`.
    from_rate: the rate of `audio` in Hz.
    to_rate: the rate wanted in Hz.

  Returns:
    float32 `[T']` (or `[T', C]`) with `T'` about `T * to_rate / from_rate`.

  Raises:
    ValueError: for bad rates, a bad rank, or NaN / inf.
  """
  import soxr  # pylint: disable=g-import-not-at-top

  from_rate = _positive_int(from_rate, "from_rate")
  to_rate = _positive_int(to_rate, "to_rate")
  x = _float_audio(audio, "resample", ndims=(1, 2))
  if from_rate == to_rate:
    return x
  if x.shape[0] == 0:
    return x
  return np.asarray(soxr.resample(x, from_rate, to_rate), dtype=np.float32)


# ------------------------------------------------------------------------------------------------
# Log-mel features.


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


# ------------------------------------------------------------------------------------------------
# Quantization.


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


# ------------------------------------------------------------------------------------------------
# From recordings to windows.


@dataclasses.dataclass
class _Split:
  """The recordings of one split: float audio and, per recording, its label and digit."""
  audio: list  # float32 [T_r] each
  labels: Optional[np.ndarray]  # int [R]
  digits: Optional[np.ndarray]  # int [R] (for the 'digit' feature track)


def _count(fraction: float, n: int) -> int:
  """How many of n items a fraction moves: 0 for 0.0, else at least one."""
  if fraction == 0.0 or n == 0:
    return 0
  return max(1, int(round(fraction * n)))


def _take(split: _Split, rows) -> _Split:
  rows = np.asarray(rows, np.int64)
  return _Split(
      audio=[split.audio[i] for i in rows],
      labels=None if split.labels is None else np.asarray(split.labels)[rows],
      digits=None if split.digits is None else np.asarray(split.digits)[rows])


def _recording_features(audio: np.ndarray, digit, features: Optional[str], *, sample_rate: int,
                        hop: int, num_mels: int) -> Optional[np.ndarray]:
  """The unstandardised feature frames of one whole recording: float32 [T // hop, F]."""
  if features is None:
    return None
  frames = audio.shape[0] // hop
  if features == "log_mel":
    return log_mel(audio, sample_rate, hop, num_mels=num_mels)  # [K, M]
  track = np.zeros((frames, 10), np.float32)  # [K, 10]
  track[:, int(digit)] = 1.0
  return track


def _feature_stats(feats: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """Per-band mean and std over every frame of the given recordings (std floored at 1e-6)."""
  frames = np.concatenate([f for f in feats], axis=0).astype(np.float64)  # [sum K, M]
  if frames.shape[0] == 0:
    raise ValueError("Expected at least one feature frame in the train split to standardise "
                     "the features, got none.")
  return frames.mean(axis=0), np.maximum(frames.std(axis=0), 1e-6)


def _check_stats(stats, num_mels: int) -> tuple[np.ndarray, np.ndarray]:
  try:
    mean, std = stats
  except (TypeError, ValueError):
    raise ValueError(f"Expected feature_stats as (mean, std), got {stats!r}.") from None
  mean = np.asarray(mean, np.float64)
  std = np.asarray(std, np.float64)
  if mean.shape != (num_mels,) or std.shape != (num_mels,):
    raise ValueError(f"Expected feature_stats of shapes ({num_mels},) and ({num_mels},), got "
                     f"{mean.shape} and {std.shape}.")
  if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
    raise ValueError("Expected finite feature_stats with a positive std.")
  return mean, std


class _Prepared:
  """Quantized recordings of one split with their (standardised) feature frames."""

  def __init__(self, levels, labels, feats):
    self.levels = levels  # int32 [T_r] each (trimmed to a multiple of hop with features)
    self.labels = labels  # int32 [R] or None
    self.feats = feats  # float32 [T_r // hop, F] each, or None


def _prepare(split: _Split, *, features, quantization, levels, sample_rate, hop, num_mels,
             stats=None, raw_feats=None) -> _Prepared:
  """Quantizes a split's recordings and computes their features.

  With features, each recording is trimmed at its end to `K * hop` samples and recordings with
  no whole frame are dropped; log-mel frames are standardised by `stats`.
  """
  out_levels, out_labels, out_feats = [], [], []
  for r, audio in enumerate(split.audio):
    q = quantize_audio(audio, quantization, levels)  # [T]
    if features is not None:
      f = raw_feats[r] if raw_feats is not None else _recording_features(
          audio, None if split.digits is None else split.digits[r], features,
          sample_rate=sample_rate, hop=hop, num_mels=num_mels)  # [K, F]
      if f.shape[0] == 0:
        continue
      if features == "log_mel":
        f = ((f - stats[0]) / stats[1]).astype(np.float32)
      q = q[:f.shape[0] * hop]
      out_feats.append(f)
    out_levels.append(q)
    if split.labels is not None:
      out_labels.append(int(split.labels[r]))
  labels = None if split.labels is None else np.asarray(out_labels, np.int32)
  return _Prepared(out_levels, labels, out_feats if features is not None else None)


def _window_starts(length: int, window: int) -> list:
  """Consecutive windows, plus one aligned to the end for a leftover piece; [0] when short."""
  if length <= window:
    return [0]
  starts = list(range(0, length - window + 1, window))
  if length % window:
    starts.append(length - window)
  return starts


def _cut(prepared: _Prepared, *, window: int, hop: int, pad_level: int,
         pad_frame: Optional[np.ndarray]):
  """Cuts prepared recordings into windows: (x [N, W], labels [N] or None, feats or None)."""
  xs, ys, fs = [], [], []
  for r, q in enumerate(prepared.levels):
    f = None if prepared.feats is None else prepared.feats[r]  # [K, F]
    if q.shape[0] < window:
      pad = window - q.shape[0]
      q = np.concatenate([np.full((pad,), pad_level, np.int32), q])  # [W]
      if f is not None:
        # A digit track is constant: its padding frames repeat the recording's row.
        row = f[:1] if pad_frame is None else pad_frame[None]
        f = np.concatenate([np.repeat(row, pad // hop, axis=0), f], axis=0)  # [W // hop, F]
    for s in _window_starts(q.shape[0], window):
      xs.append(q[s:s + window])
      if f is not None:
        fs.append(f[s // hop:(s + window) // hop])
      if prepared.labels is not None:
        ys.append(prepared.labels[r])
  if not xs:
    return None, None, None
  x = np.stack(xs).astype(np.int32)  # [N, W]
  y = None if prepared.labels is None else np.asarray(ys, np.int32)  # [N]
  f = None if prepared.feats is None else np.stack(fs).astype(np.float32)  # [N, W // hop, F]
  return x, y, f


def _check_window_options(window, hop, features, num_mels):
  window = _positive_int(window, "window")
  hop = _positive_int(hop, "hop")
  num_mels = _positive_int(num_mels, "num_mels")
  if features is not None and window % hop:
    raise ValueError(f"With features, expected window to be a multiple of hop = {hop}, got "
                     f"window={window}.")
  return window, hop, num_mels


def _windowed_dataset(name: str, splits: dict, *, window: int, hop: int, features: Optional[str],
                      quantization: str, levels: int, sample_rate: int, num_mels: int,
                      info: dict) -> Dataset:
  """Quantizes, featurises, standardises (train statistics) and windows every split."""
  raw = {}
  for split_name, split in splits.items():
    raw[split_name] = None if split is None or features is None else [
        _recording_features(a, None if split.digits is None else split.digits[r], features,
                            sample_rate=sample_rate, hop=hop, num_mels=num_mels)
        for r, a in enumerate(split.audio)]
  stats = pad_frame = None
  if features == "log_mel":
    stats = _feature_stats(raw["train"])
    pad_frame = ((np.full((num_mels,), math.log(LOG_FLOOR)) - stats[0]) / stats[1]).astype(
        np.float32)  # [M]: the standardised frame of silence
  arrays = {}
  for split_name, split in splits.items():
    if split is None or not split.audio:
      arrays[split_name] = (None, None, None)
      continue
    prepared = _prepare(split, features=features, quantization=quantization, levels=levels,
                        sample_rate=sample_rate, hop=hop, num_mels=num_mels, stats=stats,
                        raw_feats=raw[split_name])
    arrays[split_name] = _cut(prepared, window=window, hop=hop,
                              pad_level=silence_level(quantization, levels), pad_frame=pad_frame)
  if arrays["train"][0] is None:
    raise ValueError(f"{name}: the train split has no recordings.")
  info = dict(info)
  info.update(
      feature_mean=None if stats is None else [float(v) for v in stats[0]],
      feature_std=None if stats is None else [float(v) for v in stats[1]])
  return Dataset(
      name=name, train=arrays["train"][0], valid=arrays["valid"][0], test=arrays["test"][0],
      train_labels=arrays["train"][1], valid_labels=arrays["valid"][1],
      test_labels=arrays["test"][1], event_shape=(window,), num_levels=levels,
      train_features=arrays["train"][2], valid_features=arrays["valid"][2],
      test_features=arrays["test"][2], info=info)


def _base_info(*, sample_rate, quantization, levels, hop, window, labels, num_classes, features,
               num_mels) -> dict:
  return {
      "kind": "audio", "sample_rate": int(sample_rate), "quantization": quantization,
      "levels": int(levels), "hop": int(hop), "window": None if window is None else int(window),
      "labels": labels, "num_classes": int(num_classes), "features": features,
      "num_mels": int(num_mels) if features == "log_mel" else None,
  }


# ------------------------------------------------------------------------------------------------
# The Free Spoken Digit Dataset.


@dataclasses.dataclass
class _Fsdd:
  """FSDD recordings in row order (digit, speaker, index)."""
  audio: list  # float32 [T_r] each
  rates: list  # int, per recording
  digit: np.ndarray  # int [R]
  speaker: np.ndarray  # int [R], index into speakers
  index: np.ndarray  # int [R]
  speakers: list  # sorted names
  filenames: list


def _read_fsdd_npz(path: str) -> _Fsdd:
  try:
    with np.load(path, allow_pickle=False) as d:
      missing = [k for k in _FSDD_NPZ_KEYS if k not in d.files]
      if missing:
        raise ValueError(f"fsdd: expected {path!r} to hold the keys {_FSDD_NPZ_KEYS}, it lacks "
                         f"{missing} (has {sorted(d.files)}).")
      arrays = {k: d[k] for k in d.files}
  except (OSError, EOFError) as e:
    raise ValueError(f"fsdd: expected an npz file at {path!r}, could not read it ({e}).") from e
  audio, offsets = arrays["audio"], np.asarray(arrays["offsets"], np.int64)
  if audio.dtype != np.int16 or audio.ndim != 1:
    raise ValueError(f"fsdd: expected 'audio' as 1-D int16, got {audio.dtype} "
                     f"{audio.shape}.")
  n = offsets.shape[0] - 1
  if (offsets.ndim != 1 or n < 0 or offsets[0] != 0 or offsets[-1] != audio.shape[0]
      or np.any(np.diff(offsets) < 0)):
    raise ValueError(f"fsdd: expected 'offsets' [R + 1] rising from 0 to {audio.shape[0]}.")
  speakers = [str(s) for s in arrays["speakers"]]
  for key in ("digit", "speaker", "index"):
    if arrays[key].shape != (n,):
      raise ValueError(f"fsdd: expected {key!r} of shape ({n},), got {arrays[key].shape}.")
  rate = int(arrays["sample_rate"]) if "sample_rate" in arrays else 8000
  filenames = ([str(f) for f in arrays["filenames"]] if "filenames" in arrays else
               [f"{d}_{speakers[s]}_{i}.wav" for d, s, i in
                zip(arrays["digit"], arrays["speaker"], arrays["index"])])
  speaker = arrays["speaker"].astype(np.int64)
  if n and (speaker.min() < 0 or speaker.max() >= len(speakers)):
    raise ValueError(f"fsdd: expected 'speaker' to index 'speakers' ({len(speakers)} names), got "
                     f"values in [{speaker.min()}, {speaker.max()}].")
  order = sorted(range(len(speakers)), key=lambda i: speakers[i])  # Labels follow sorted names.
  speaker = np.argsort(order)[speaker] if speakers else speaker
  speakers = [speakers[i] for i in order]
  wave = [(audio[offsets[r]:offsets[r + 1]].astype(np.float32) / 32768.0) for r in range(n)]
  return _Fsdd(audio=wave, rates=[rate] * n, digit=arrays["digit"].astype(np.int64),
               speaker=speaker,
               index=arrays["index"].astype(np.int64), speakers=speakers, filenames=filenames)


def _read_fsdd_dir(path: str) -> _Fsdd:
  rows = []
  for name in os.listdir(path):
    m = _FSDD_NAME.match(name)
    if m:
      rows.append((int(m.group(1)), m.group(2), int(m.group(3)), name))
  if not rows:
    raise ValueError(f"fsdd: expected WAV files named '{{digit}}_{{speaker}}_{{index}}.wav' in "
                     f"{path!r}, found none.")
  speakers = sorted({r[1] for r in rows})
  rows.sort(key=lambda r: (r[0], r[1], r[2]))
  audio, rates = [], []
  for _, _, _, name in rows:
    wave, rate = read_wav(os.path.join(path, name))
    audio.append(wave)
    rates.append(rate)
  return _Fsdd(audio=audio, rates=rates, digit=np.array([r[0] for r in rows], np.int64),
               speaker=np.array([speakers.index(r[1]) for r in rows], np.int64),
               index=np.array([r[2] for r in rows], np.int64), speakers=speakers,
               filenames=[r[3] for r in rows])


def _read_fsdd(path, sample_rate: Optional[int], speakers) -> tuple[_Fsdd, int]:
  """Reads, filters by speaker and resamples; returns the recordings and their common rate."""
  if path is None:
    raise ValueError("fsdd: expected path to fsdd.npz or to a directory of WAVs, got None.")
  path = os.fspath(path)
  if os.path.isdir(path):
    src = _read_fsdd_dir(path)
  elif os.path.isfile(path):
    src = _read_fsdd_npz(path)
  else:
    raise ValueError(f"fsdd: expected path to fsdd.npz or to a directory of WAVs, got {path!r}, "
                     "which does not exist.")
  if speakers is not None:
    if isinstance(speakers, str):
      speakers = [speakers]
    unknown = sorted(set(speakers) - set(src.speakers))
    if unknown or not speakers:
      raise ValueError(f"fsdd: expected speakers from {src.speakers}, got {list(speakers)}.")
    kept = sorted(set(speakers))
    rows = np.flatnonzero(np.isin(np.asarray(src.speakers)[src.speaker], kept))
    remap = np.array([kept.index(s) if s in kept else -1 for s in src.speakers], np.int64)
    src = _Fsdd(audio=[src.audio[r] for r in rows], rates=[src.rates[r] for r in rows],
                digit=src.digit[rows], speaker=remap[src.speaker[rows]], index=src.index[rows],
                speakers=kept, filenames=[src.filenames[r] for r in rows])
  if sample_rate is None:
    if len(set(src.rates)) > 1:
      raise ValueError(f"fsdd: the recordings have different rates {sorted(set(src.rates))}; "
                       "pass sample_rate to resample them to one.")
    rate = src.rates[0] if src.rates else 8000
  else:
    rate = _positive_int(sample_rate, "sample_rate")
    src.audio = [a if r == rate else np.clip(resample(a, r, rate), -1.0, 1.0)
                 for a, r in zip(src.audio, src.rates)]
    src.rates = [rate] * len(src.audio)
  return src, rate


def _fsdd_labels(src: _Fsdd, labels: Optional[str]) -> tuple[Optional[np.ndarray], int]:
  _choice(labels, FSDD_LABELS + (None,), "labels")
  num_speakers = len(src.speakers)
  if labels is None:
    return None, 0
  if labels == "speaker":
    return src.speaker.copy(), num_speakers
  if labels == "digit":
    return src.digit.copy(), 10
  return src.speaker * 10 + src.digit, num_speakers * 10


def _fsdd_split_rows(src: _Fsdd, valid_fraction: float, seed, max_recordings) -> dict:
  """Row ids of each split: test = index <= 4; a seeded fraction of train moved to valid."""
  test = np.flatnonzero(src.index <= 4)
  train = np.flatnonzero(src.index > 4)
  valid = None
  n_valid = _count(valid_fraction, train.shape[0])
  if n_valid:
    if n_valid >= train.shape[0]:
      raise ValueError(f"fsdd: valid_fraction={valid_fraction} leaves no train recordings.")
    moved = np.random.default_rng(seed).permutation(train.shape[0])[:n_valid]
    valid = np.sort(train[moved])
    train = np.setdiff1d(train, valid)
  rows = {"train": train, "valid": valid, "test": test}
  if max_recordings is not None:
    k = _positive_int(max_recordings, "max_recordings")
    rows = {s: None if r is None else r[:k] for s, r in rows.items()}
  return rows


def _fsdd_split(src: _Fsdd, rows, labels_all) -> Optional[_Split]:
  if rows is None:
    return None
  return _Split(audio=[src.audio[r] for r in rows],
                labels=None if labels_all is None else labels_all[rows],
                digits=src.digit[rows])


def load_fsdd(*, path, window: int = 4000, hop: int = 256, labels: Optional[str] = "speaker",
              features: Optional[str] = None, quantization: str = "mu_law", levels: int = 256,
              sample_rate: Optional[int] = None, num_mels: int = 40,
              speakers: Optional[Sequence[str]] = None, valid_fraction: float = 0.0, seed=0,
              max_recordings: Optional[int] = None) -> Dataset:
  """The Free Spoken Digit Dataset as windows of quantized audio.

  Args:
    path: the packed `fsdd.npz` (int16 `audio` concatenated, `offsets`, `digit`, `speaker`,
      `speakers`, `index`, `sample_rate`) or a directory of the original WAVs named
      `{digit}_{speaker}_{index}.wav` (the repository's `recordings/`).
    window: samples per example.
    hop: samples per feature frame (`window % hop == 0` when features are asked).
    labels: 'speaker' (index into the sorted names of the speakers kept), 'digit',
      'speaker_digit' (`speaker * 10 + digit`) or None.
    features: None, 'log_mel' (`num_mels` log-mel bands per frame, computed on the whole
      recording, standardised per band by the mean and std over every frame of the train
      recordings) or 'digit' (a one-hot digit track `[W // hop, 10]`).
    quantization: 'mu_law' or 'pcm16' (then `levels=65536`).
    levels: the number of levels.
    sample_rate: resample to this rate (default: the data's, 8 kHz).
    num_mels: mel bands for 'log_mel'.
    speakers: names of the speakers to keep (default: all); e.g. tfds' v1.0.9 set is every
      speaker but 'lucas'.
    valid_fraction: the fraction of train recordings (whole recordings, seeded) moved to valid;
      0 gives no valid split.
    seed: the seed of that choice.
    max_recordings: keep the first k recordings of each split (tests, quick runs).

  Returns:
    A `Dataset` named 'fsdd': int32 `[N, window]` examples; test holds the recordings with index
    0-4 (the official split), train the rest. `info` holds 'kind', 'sample_rate',
    'quantization', 'levels', 'hop', 'window', 'labels', 'num_classes', 'speakers' (the names
    kept, sorted: speaker label i is `speakers[i]`), 'speakers_kept' (the `speakers` option),
    'features', 'num_mels', 'feature_mean' and 'feature_std' (lists, for the features of new
    audio; None without log-mel features).

  Raises:
    ValueError: for a missing or malformed path, unknown options, or bad values.
  """
  levels = _check_quantization(quantization, levels)
  _choice(features, FSDD_FEATURES + (None,), "features")
  window, hop, num_mels = _check_window_options(window, hop, features, num_mels)
  valid_fraction = _fraction(valid_fraction, "valid_fraction")
  src, rate = _read_fsdd(path, sample_rate, speakers)
  labels_all, num_classes = _fsdd_labels(src, labels)
  rows = _fsdd_split_rows(src, valid_fraction, seed, max_recordings)
  splits = {s: _fsdd_split(src, r, labels_all) for s, r in rows.items()}
  info = _base_info(sample_rate=rate, quantization=quantization, levels=levels, hop=hop,
                    window=window, labels=labels, num_classes=num_classes, features=features,
                    num_mels=num_mels)
  info.update(speakers=list(src.speakers),
              speakers_kept=None if speakers is None else sorted(set(
                  [speakers] if isinstance(speakers, str) else speakers)))
  return _windowed_dataset("fsdd", splits, window=window, hop=hop, features=features,
                           quantization=quantization, levels=levels, sample_rate=rate,
                           num_mels=num_mels, info=info)


@dataclasses.dataclass
class Recordings:
  """Whole recordings for full-length likelihood evaluation.

  Attributes:
    levels: int32 `[T_r]` per recording (trimmed at the end to a multiple of hop when there are
      features).
    labels: int32 `[R]` or None.
    features: float32 `[T_r // hop, F]` per recording, or None.
    info: as a `Dataset`'s info (window is None), plus 'split' and 'filenames'.
  """
  levels: list
  labels: Optional[np.ndarray]
  features: Optional[list]
  info: dict

  def __len__(self) -> int:
    return len(self.levels)


def load_fsdd_recordings(*, path, split: str = "test", hop: int = 256,
                         labels: Optional[str] = "speaker", features: Optional[str] = None,
                         quantization: str = "mu_law", levels: int = 256,
                         sample_rate: Optional[int] = None, num_mels: int = 40,
                         speakers: Optional[Sequence[str]] = None, feature_stats=None,
                         max_recordings: Optional[int] = None) -> Recordings:
  """Whole FSDD recordings of one split, quantized, for full-length likelihood evaluation.

  Args:
    path, labels, features, quantization, levels, sample_rate, num_mels, speakers: as in
      `load_fsdd`.
    split: 'test' (index 0-4, the official split) or 'train' (the rest).
    hop: samples per feature frame.
    feature_stats: `(mean, std)` of shape `[num_mels]` to standardise log-mel frames (e.g. a
      checkpoint's `info['feature_mean']`, `info['feature_std']`); default: those of the train
      split, computed as `load_fsdd` does (every frame of the first `max_recordings` train
      recordings).
    max_recordings: keep the first k recordings of each split.

  Returns:
    `Recordings`. With features, recordings shorter than one hop are left out.

  Raises:
    ValueError: for bad paths, options or statistics.
  """
  levels = _check_quantization(quantization, levels)
  _choice(split, ("train", "test"), "split (FSDD has no valid split)")
  _choice(features, FSDD_FEATURES + (None,), "features")
  hop = _positive_int(hop, "hop")
  num_mels = _positive_int(num_mels, "num_mels")
  if feature_stats is not None and features != "log_mel":
    raise ValueError(f"feature_stats apply to features='log_mel', got features={features!r}.")
  src, rate = _read_fsdd(path, sample_rate, speakers)
  labels_all, num_classes = _fsdd_labels(src, labels)
  rows = _fsdd_split_rows(src, 0.0, 0, max_recordings)
  stats = None
  if features == "log_mel":
    if feature_stats is None:
      stats = _feature_stats([log_mel(src.audio[r], rate, hop, num_mels=num_mels)
                              for r in rows["train"]])
    else:
      stats = _check_stats(feature_stats, num_mels)
  part = _fsdd_split(src, rows[split], labels_all)
  prepared = _prepare(part, features=features, quantization=quantization, levels=levels,
                      sample_rate=rate, hop=hop, num_mels=num_mels, stats=stats)
  kept = [src.filenames[r] for r, a in zip(rows[split], part.audio)
          if features is None or a.shape[0] >= hop]
  info = _base_info(sample_rate=rate, quantization=quantization, levels=levels, hop=hop,
                    window=None, labels=labels, num_classes=num_classes, features=features,
                    num_mels=num_mels)
  info.update(
      speakers=list(src.speakers),
      speakers_kept=None if speakers is None else sorted(set(
          [speakers] if isinstance(speakers, str) else speakers)),
      feature_mean=None if stats is None else [float(v) for v in stats[0]],
      feature_std=None if stats is None else [float(v) for v in stats[1]],
      split=split, filenames=kept)
  return Recordings(levels=prepared.levels, labels=prepared.labels, features=prepared.feats,
                    info=info)


# ------------------------------------------------------------------------------------------------
# A folder of WAVs.


def _seeded_splits(n: int, valid_fraction: float, test_fraction: float, seed, what: str) -> dict:
  """Row ids (sorted) of train / valid / test for n items split by seeded fractions."""
  if valid_fraction + test_fraction >= 1.0:
    raise ValueError(f"{what}: expected valid_fraction + test_fraction < 1, got "
                     f"{valid_fraction} + {test_fraction}.")
  n_test, n_valid = _count(test_fraction, n), _count(valid_fraction, n)
  if n_test + n_valid >= n:
    raise ValueError(f"{what}: {n} recordings leave none for train with valid_fraction="
                     f"{valid_fraction} and test_fraction={test_fraction}.")
  perm = np.random.default_rng(seed).permutation(n)
  test, valid, train = perm[:n_test], perm[n_test:n_test + n_valid], perm[n_test + n_valid:]
  return {"train": np.sort(train), "valid": np.sort(valid) if n_valid else None,
          "test": np.sort(test) if n_test else None}


def load_wav_folder(*, path, sample_rate: int, window: int = 4000, hop: int = 256,
                    quantization: str = "mu_law", levels: int = 256,
                    labels: Optional[str] = None, features: Optional[str] = None,
                    num_mels: int = 40, valid_fraction: float = 0.1, test_fraction: float = 0.0,
                    seed=0) -> Dataset:
  """Every `*.wav` under a folder (recursively) as windows of quantized audio.

  Args:
    path: the folder.
    sample_rate: every file is resampled to this rate (soxr).
    window: samples per example.
    hop: samples per feature frame.
    quantization: 'mu_law' or 'pcm16' (then `levels=65536`).
    levels: the number of levels.
    labels: None or 'folder': the class of a file is the index of its top-level sub-directory
      among the sorted sub-directories holding WAVs.
    features: None or 'log_mel' (standardised by the train split's frames, as in `load_fsdd`).
    num_mels: mel bands for 'log_mel'.
    valid_fraction: the fraction of files (whole files, seeded) in valid.
    test_fraction: the fraction of files in test.
    seed: the seed of the split.

  Returns:
    A `Dataset` named 'wav_folder'; `info` as in `load_fsdd`, with 'classes' (the folder names)
    instead of 'speakers'.

  Raises:
    ValueError: for a missing folder, no WAVs, files that are not audio, or bad options.
  """
  levels = _check_quantization(quantization, levels)
  _choice(labels, ("folder", None), "labels")
  _choice(features, ("log_mel", None), "features")
  window, hop, num_mels = _check_window_options(window, hop, features, num_mels)
  sample_rate = _positive_int(sample_rate, "sample_rate")
  valid_fraction = _fraction(valid_fraction, "valid_fraction")
  test_fraction = _fraction(test_fraction, "test_fraction")
  if path is None or not os.path.isdir(os.fspath(path)):
    raise ValueError(f"wav_folder: expected path to a folder of WAV files, got {path!r}.")
  root = pathlib.Path(path)
  files = sorted((p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == ".wav"),
                 key=lambda p: p.relative_to(root).as_posix())
  if not files:
    raise ValueError(f"wav_folder: expected .wav files under {os.fspath(path)!r}, found none.")
  classes, y = [], None
  if labels == "folder":
    tops = [p.relative_to(root).parts for p in files]
    loose = [p for p, parts in zip(files, tops) if len(parts) < 2]
    if loose:
      raise ValueError(f"wav_folder: labels='folder' expects every WAV in a sub-directory, got "
                       f"{os.fspath(loose[0])!r} at the top.")
    classes = sorted({parts[0] for parts in tops})
    y = np.array([classes.index(parts[0]) for parts in tops], np.int64)
  audio = [read_wav(p, sample_rate=sample_rate)[0] for p in files]
  rows = _seeded_splits(len(files), valid_fraction, test_fraction, seed, "wav_folder")
  splits = {s: None if r is None else _Split(audio=[audio[i] for i in r],
                                             labels=None if y is None else y[r], digits=None)
            for s, r in rows.items()}
  info = _base_info(sample_rate=sample_rate, quantization=quantization, levels=levels, hop=hop,
                    window=window, labels=labels, num_classes=len(classes), features=features,
                    num_mels=num_mels)
  info["classes"] = classes
  return _windowed_dataset("wav_folder", splits, window=window, hop=hop, features=features,
                           quantization=quantization, levels=levels, sample_rate=sample_rate,
                           num_mels=num_mels, info=info)


# ------------------------------------------------------------------------------------------------
# tfds spoken_digit.


def _spoken_digit_source(data_dir):
  """`tfds.data_source('spoken_digit', split='train')`, never downloading."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  try:
    return tfds.data_source("spoken_digit", split="train", data_dir=data_dir, download=False,
                            try_gcs=False)
  except ImportError as e:
    raise ValueError(
        "tfds:spoken_digit: tensorflow_datasets needs TensorFlow to read its Audio feature "
        f"({e}). Install TensorFlow, or load the same recordings without it: "
        "data.load('fsdd', path=.../fsdd.npz, speakers=[every speaker but 'lucas']).\n"
        + tfds_source._prepare_help("spoken_digit", data_dir)) from e  # pylint: disable=W0212
  except (AssertionError, FileNotFoundError, NotImplementedError, OSError) as e:
    raise ValueError(tfds_source._not_prepared_message(  # pylint: disable=W0212
        tfds, "spoken_digit", "train", data_dir, e)) from e


def load_tfds_spoken_digit(*, data_dir=None, window: int = 4000, hop: int = 256,
                           labels: Optional[str] = "digit", features: Optional[str] = None,
                           quantization: str = "mu_law", levels: int = 256, num_mels: int = 40,
                           valid_fraction: float = 0.1, test_fraction: float = 0.1,
                           seed=0) -> Dataset:
  """tfds `spoken_digit` (FSDD v1.0.9: 8 kHz, 5 speakers) as windows of quantized audio.

  Reads a dataset prepared in the array_record format through `tfds.data_source`; never
  downloads or prepares. When every `audio/filename` parses as `{digit}_{speaker}_{index}.wav`,
  recordings are ordered like FSDD and split by index (test: 0-4, then `valid_fraction` of the
  train recordings to valid, seeded; `test_fraction` is then unused); otherwise by seeded
  fractions of whole recordings.

  Args:
    data_dir: the tfds data directory (default: tfds' own).
    window, hop, features, quantization, levels, num_mels: as in `load_fsdd`.
    labels: 'digit' (the tfds label), 'speaker' (parsed from the filename) or None.
    valid_fraction: the fraction of (train) recordings in valid.
    test_fraction: the fraction of recordings in test when filenames do not parse.
    seed: the seed of the split.

  Returns:
    A `Dataset` named 'tfds:spoken_digit' with `info` as in `load_fsdd`.

  Raises:
    ValueError: when the data are not prepared (the message says how), TensorFlow is missing,
      or options are bad.
  """
  levels = _check_quantization(quantization, levels)
  _choice(labels, ("digit", "speaker", None), "labels")
  _choice(features, FSDD_FEATURES + (None,), "features")
  window, hop, num_mels = _check_window_options(window, hop, features, num_mels)
  valid_fraction = _fraction(valid_fraction, "valid_fraction")
  test_fraction = _fraction(test_fraction, "test_fraction")
  data_dir = None if data_dir is None else os.fspath(data_dir)
  source = _spoken_digit_source(data_dir)
  audio, digits, names = [], [], []
  for i in range(len(source)):
    record = source[i]
    wave = np.asarray(record["audio"])
    if wave.ndim == 2:
      wave = wave.mean(axis=1)
    if wave.size and (wave.min() < -32768 or wave.max() > 32767):
      raise ValueError(f"tfds:spoken_digit: expected 16-bit samples, got values in "
                       f"[{wave.min()}, {wave.max()}] in record {i}.")
    audio.append((wave.astype(np.float64) / 32768.0).astype(np.float32))
    digits.append(int(record["label"]))
    name = record.get("audio/filename", b"")
    names.append(name.decode() if isinstance(name, bytes) else str(name))
  if not audio:
    raise ValueError("tfds:spoken_digit: the train split is empty.")
  parsed = [_FSDD_NAME.match(os.path.basename(n)) for n in names]
  if all(parsed):
    speaker_names = sorted({m.group(2) for m in parsed})
    order = sorted(range(len(audio)), key=lambda r: (
        int(parsed[r].group(1)), parsed[r].group(2), int(parsed[r].group(3))))
    src = _Fsdd(audio=[audio[r] for r in order], rates=[8000] * len(order),
                digit=np.array([digits[r] for r in order], np.int64),
                speaker=np.array([speaker_names.index(parsed[r].group(2)) for r in order],
                                 np.int64),
                index=np.array([int(parsed[r].group(3)) for r in order], np.int64),
                speakers=speaker_names, filenames=[names[r] for r in order])
    labels_all, num_classes = _fsdd_labels(src, labels)
    rows = _fsdd_split_rows(src, valid_fraction, seed, None)
    splits = {s: _fsdd_split(src, r, labels_all) for s, r in rows.items()}
  else:
    if labels == "speaker":
      raise ValueError("tfds:spoken_digit: labels='speaker' needs filenames "
                       f"'{{digit}}_{{speaker}}_{{index}}.wav', got e.g. {names[0]!r}.")
    speaker_names = []
    y = None if labels is None else np.array(digits, np.int64)
    num_classes = 0 if labels is None else 10
    rows = _seeded_splits(len(audio), valid_fraction, test_fraction, seed, "tfds:spoken_digit")
    splits = {s: None if r is None else _Split(
        audio=[audio[i] for i in r], labels=None if y is None else y[r],
        digits=np.array(digits, np.int64)[r]) for s, r in rows.items()}
  info = _base_info(sample_rate=8000, quantization=quantization, levels=levels, hop=hop,
                    window=window, labels=labels, num_classes=num_classes, features=features,
                    num_mels=num_mels)
  info["speakers"] = speaker_names
  return _windowed_dataset("tfds:spoken_digit", splits, window=window, hop=hop,
                           features=features, quantization=quantization, levels=levels,
                           sample_rate=8000, num_mels=num_mels, info=info)
