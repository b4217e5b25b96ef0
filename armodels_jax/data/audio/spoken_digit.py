"""tfds `spoken_digit` (the FSDD recordings as a TensorFlow dataset) as a windowed `Dataset`.

References:
  Z. Jackson et al. "Free Spoken Digit Dataset (FSDD)", v1.0.10 (tfds `spoken_digit`).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from armodels_jax.data import tfds_source
from armodels_jax.data.dataset import Dataset
from armodels_jax.data.audio._checks import _choice, _fraction
from armodels_jax.data.audio.fsdd import _FSDD_NAME, _Fsdd, _fsdd_labels, _fsdd_split, _fsdd_split_rows
from armodels_jax.data.audio.levels import _check_quantization
from armodels_jax.data.audio.windows import (
    FSDD_FEATURES, _Split, _base_info, _check_window_options, _seeded_splits, _windowed_dataset)


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
