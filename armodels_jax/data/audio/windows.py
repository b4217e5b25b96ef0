"""From recordings to training windows, shared by the audio datasets.

Consecutive non-overlapping windows, plus one aligned to the recording's end when a piece is left
over; a recording shorter than a window is left-padded with the level of silence. With features,
a recording is trimmed at its end to a multiple of `hop`, so every window starts on a frame
boundary; log-mel frames are standardised per band by the train split's statistics.

Dimension glossary: T samples of one recording, R recordings, N windows, W window length,
K frames (`T // hop`), M mel bands, F features per frame.

References:
  A. van den Oord et al. "WaveNet: A Generative Model for Raw Audio", 2016, arXiv:1609.03499,
  section 2.5 (local conditioning).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np

from armodels_jax.data.dataset import Dataset
from armodels_jax.data.audio._checks import _positive_int
from armodels_jax.data.audio.features import LOG_FLOOR, log_mel
from armodels_jax.data.audio.levels import quantize_audio, silence_level

FSDD_FEATURES = ("log_mel", "digit")


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
