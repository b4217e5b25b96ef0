"""16-bit WAV files (read: any rate, mono or channels mixed down; write) and resampling.

A recording is float audio in [-1, 1]; a 16-bit sample `v` is `v / 32768`.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
from armodels_jax.data.audio._checks import _float_audio, _positive_int


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
