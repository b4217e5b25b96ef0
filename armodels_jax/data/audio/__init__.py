"""Audio data: 16-bit WAV I/O, resampling, log-mel features, mu-law and 16-bit PCM levels, and the
Free Spoken Digit Dataset, folders of WAVs and tfds `spoken_digit` as windowed `Dataset`s.

This package is the public facade; each job has its own module:

  wav.py           read_wav, write_wav, resample
  features.py      mel_filterbank, log_mel
  levels.py        quantize_audio, dequantize_audio, silence_level (mu-law, 16-bit PCM)
  windows.py       recordings -> training windows and features, shared by the datasets
  fsdd.py          load_fsdd (windows), load_fsdd_recordings (whole recordings), Recordings
  wav_folder.py    load_wav_folder
  spoken_digit.py  load_tfds_spoken_digit

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

from armodels_jax.data.audio.features import LOG_FLOOR, log_mel, mel_filterbank  # noqa: F401
from armodels_jax.data.audio.fsdd import FSDD_LABELS, Recordings, load_fsdd, load_fsdd_recordings  # noqa: F401
from armodels_jax.data.audio.levels import (  # noqa: F401
    PCM16_LEVELS, QUANTIZATIONS, dequantize_audio, quantize_audio, silence_level)
from armodels_jax.data.audio.spoken_digit import load_tfds_spoken_digit
from armodels_jax.data.audio.wav import read_wav, resample, write_wav
from armodels_jax.data.audio.wav_folder import load_wav_folder
from armodels_jax.data.audio.windows import FSDD_FEATURES  # noqa: F401

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
