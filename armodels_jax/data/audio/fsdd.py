"""The Free Spoken Digit Dataset: windowed `Dataset`s (`load_fsdd`) and whole recordings
(`load_fsdd_recordings`), from the dataset's npz or its folder of WAVs.

References:
  Z. Jackson et al. "Free Spoken Digit Dataset (FSDD)", v1.0.10,
  https://github.com/Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0): 8 kHz mono 16-bit
  recordings named `{digit}_{speaker}_{index}.wav`; the official test split is index 0-4.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional, Sequence

import numpy as np

from armodels_jax.data.dataset import Dataset
from armodels_jax.data.audio._checks import _choice, _fraction, _positive_int
from armodels_jax.data.audio.features import log_mel
from armodels_jax.data.audio.levels import _check_quantization
from armodels_jax.data.audio.wav import read_wav, resample
from armodels_jax.data.audio.windows import (
    FSDD_FEATURES, _Split, _base_info, _check_stats, _check_window_options, _count, _feature_stats,
    _prepare, _windowed_dataset)

FSDD_LABELS = ("speaker", "digit", "speaker_digit")
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9]+)_(\d+)\.wav$")
_FSDD_NPZ_KEYS = ("audio", "offsets", "digit", "speaker", "speakers", "index")


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
