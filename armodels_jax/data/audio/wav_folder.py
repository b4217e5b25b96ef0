"""A folder of WAV files as a windowed `Dataset` (seeded train / valid / test splits).
"""

from __future__ import annotations

import os
import pathlib
from typing import Optional

import numpy as np

from armodels_jax.data.dataset import Dataset
from armodels_jax.data.audio._checks import _choice, _fraction, _positive_int
from armodels_jax.data.audio.levels import _check_quantization
from armodels_jax.data.audio.wav import read_wav
from armodels_jax.data.audio.windows import (
    _Split, _base_info, _check_window_options, _seeded_splits, _windowed_dataset)


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
