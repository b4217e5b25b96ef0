"""Tests of the audio data: WAV I/O, resampling, log-mel, quantization and the FSDD, WAV-folder
and tfds spoken_digit loaders, on tiny synthetic recordings written to tmp_path."""

import math

import numpy as np
import pytest
import soundfile

from armodels_jax.data import audio
from armodels_jax.data.preprocess import mu_law_encode

RATE = 8000
SPEAKERS = ("amy", "bob")
INDICES = (1, 4, 6, 9)  # 1 and 4 are test (index <= 4), 6 and 9 train.
BASE_LENGTH = {1: 100, 4: 700, 6: 512, 9: 300}
WINDOW, HOP, MELS = 256, 32, 8


def _fake_recordings():
  """16 recordings (2 digits x 2 speakers x 4 indices) of tones + noise as int16 samples.

  Lengths cover: shorter than a window (index 1), an exact multiple of it (digit 0, amy, 6),
  and pieces left over (the rest).
  """
  rng = np.random.default_rng(1)
  recs = []
  for digit in (0, 1):
    for s, speaker in enumerate(SPEAKERS):
      for index in INDICES:
        length = BASE_LENGTH[index] + 40 * digit + 7 * s
        t = np.arange(length) / RATE
        wave = 0.3 * np.sin(2 * np.pi * (300 + 200 * digit + 100 * s) * t)
        wave += 0.05 * rng.standard_normal(length)
        samples = np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16)
        recs.append(dict(digit=digit, speaker=speaker, s=s, index=index, samples=samples,
                         name=f"{digit}_{speaker}_{index}.wav"))
  return recs


def _write_npz(path, recs):
  lengths = [len(r["samples"]) for r in recs]
  np.savez_compressed(
      path, audio=np.concatenate([r["samples"] for r in recs]),
      offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
      digit=np.array([r["digit"] for r in recs], np.uint8),
      speaker=np.array([r["s"] for r in recs], np.uint8),
      speakers=np.array(SPEAKERS), index=np.array([r["index"] for r in recs], np.uint8),
      is_test=np.array([r["index"] <= 4 for r in recs]),
      filenames=np.array([r["name"] for r in recs]), sample_rate=np.int32(RATE))


@pytest.fixture
def fsdd(tmp_path):
  """(path to a fake fsdd.npz, path to the same recordings as WAVs, the recordings)."""
  recs = _fake_recordings()
  npz = tmp_path / "fsdd.npz"
  _write_npz(npz, recs)
  wav_dir = tmp_path / "recordings"
  wav_dir.mkdir()
  for r in reversed(recs):  # The loader must order them itself.
    soundfile.write(str(wav_dir / r["name"]), r["samples"], RATE, subtype="PCM_16")
  (wav_dir / "README.txt").write_text("not a recording")
  return npz, wav_dir, recs


def _split_recs(recs, split):
  return [r for r in recs if (r["index"] <= 4) == (split == "test")]


def _reference_windows(levels, window, pad):
  """Consecutive windows, the last one aligned to the end; short recordings left-padded."""
  t = len(levels)
  if t < window:
    return [np.concatenate([np.full(window - t, pad), levels])]
  out = [levels[i:i + window] for i in range(0, t - window + 1, window)]
  if t % window:
    out.append(levels[t - window:])
  return out


# ------------------------------------------------------------------------------------------------
# WAV files, resampling, quantization.


def test_wav_round_trip_is_exact(tmp_path):
  v = np.array([-32768, -12345, -1, 0, 1, 2, 32767, 555], np.int16)
  audio.write_wav(tmp_path / "a.wav", v, 8000)
  x, rate = audio.read_wav(tmp_path / "a.wav")
  assert rate == 8000 and x.dtype == np.float32 and x.shape == (8,)
  np.testing.assert_array_equal(np.round(x * 32768).astype(np.int16), v)
  np.testing.assert_array_equal(x, v.astype(np.float32) / 32768)
  # Float input v / 32768 writes the same samples; values outside [-1, 1] are clipped.
  audio.write_wav(tmp_path / "b.wav", np.concatenate([v / 32768.0, [3.0, -2.0]]), 8000)
  raw, _ = soundfile.read(str(tmp_path / "b.wav"), dtype="int16")
  np.testing.assert_array_equal(raw, np.concatenate([v, [32767, -32768]]).astype(np.int16))
  assert soundfile.info(str(tmp_path / "b.wav")).subtype == "PCM_16"


def test_read_wav_averages_channels_and_resamples(tmp_path):
  left = np.array([1000, -2000, 300, 4], np.int16)
  right = np.array([3000, 0, -300, 8], np.int16)
  audio.write_wav(tmp_path / "s.wav", np.stack([left, right], axis=1), 16000)
  x, rate = audio.read_wav(tmp_path / "s.wav")
  assert rate == 16000
  np.testing.assert_allclose(x, (left / 32768 + right / 32768) / 2, atol=1e-7)
  tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16000)
  audio.write_wav(tmp_path / "t.wav", tone, 16000)
  y, rate = audio.read_wav(tmp_path / "t.wav", sample_rate=8000)
  assert rate == 8000 and abs(y.shape[0] - 800) <= 1 and np.abs(y).max() <= 1.0


def test_wav_bad_inputs(tmp_path):
  with pytest.raises(ValueError, match="does not exist"):
    audio.read_wav(tmp_path / "missing.wav")
  (tmp_path / "text.wav").write_text("hello, not audio")
  with pytest.raises(ValueError, match="not one"):
    audio.read_wav(tmp_path / "text.wav")
  with pytest.raises(ValueError, match="NaN or inf"):
    audio.write_wav(tmp_path / "n.wav", np.array([0.0, np.nan]), 8000)
  with pytest.raises(ValueError, match="sample_rate"):
    audio.write_wav(tmp_path / "r.wav", np.zeros(4), 0)
  with pytest.raises(ValueError, match=r"\[T\] or \[T, C\]"):
    audio.write_wav(tmp_path / "k.wav", np.zeros((2, 2, 2)), 8000)
  with pytest.raises(ValueError, match="int16"):
    audio.write_wav(tmp_path / "i.wav", np.zeros(4, np.int32), 8000)


def _peak_hz(x, rate):
  spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
  return np.argmax(spectrum) * rate / len(x)


@pytest.mark.parametrize("to_rate", [16000, 11025, 4000])
def test_resample_length_and_frequency(to_rate):
  t = np.arange(4000) / 8000
  x = 0.5 * np.sin(2 * np.pi * 440 * t)
  y = audio.resample(x, 8000, to_rate)
  assert y.dtype == np.float32
  assert abs(y.shape[0] - 4000 * to_rate / 8000) <= 1
  assert abs(_peak_hz(y, to_rate) - 440) <= to_rate / y.shape[0] * 1.01
  np.testing.assert_array_equal(audio.resample(x, 8000, 8000), x.astype(np.float32))
  with pytest.raises(ValueError, match="to_rate"):
    audio.resample(x, 8000, -1)


def test_mu_law_and_pcm16_round_trips():
  x = np.linspace(-1, 1, 101)
  q = audio.quantize_audio(x, "mu_law", 256)
  np.testing.assert_array_equal(q, mu_law_encode(x, 256))
  np.testing.assert_array_equal(audio.quantize_audio(audio.dequantize_audio(q), "mu_law", 256), q)
  v = np.array([-32768, -7, 0, 1, 32767], np.int16)
  q16 = audio.quantize_audio(v / 32768.0, "pcm16", 65536)
  np.testing.assert_array_equal(q16, v.astype(np.int64) + 32768)
  np.testing.assert_array_equal(audio.quantize_audio(v, "pcm16", 65536), q16)
  np.testing.assert_array_equal(audio.dequantize_audio(q16, "pcm16", 65536), v / 32768.0)
  assert audio.silence_level("mu_law", 256) == 128
  assert audio.silence_level("pcm16", 65536) == 32768
  with pytest.raises(ValueError, match="65536"):
    audio.quantize_audio(x, "pcm16", 256)
  with pytest.raises(ValueError, match="quantization"):
    audio.quantize_audio(x, "alaw", 256)
  with pytest.raises(ValueError, match=r"\[-1, 1\]"):
    audio.quantize_audio(np.array([0.5, 1.5]), "pcm16", 65536)
  with pytest.raises(ValueError, match=r"\[0, 65536\)"):
    audio.dequantize_audio(np.array([70000]), "pcm16", 65536)


# ------------------------------------------------------------------------------------------------
# Log-mel.


def _htk_mel(f):
  return 2595.0 * math.log10(1.0 + f / 700.0)


def _htk_hz(m):
  return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def _reference_log_mel_frame(x, rate, hop, k, n_fft, num_mels):
  """One frame by the definition: a direct DFT of a Hann-windowed span, loops for the filters."""
  from scipy.signal import get_window  # pylint: disable=g-import-not-at-top

  start = k * hop + hop // 2 - n_fft // 2
  seg = np.array([x[i] if 0 <= i < len(x) else 0.0 for i in range(start, start + n_fft)])
  seg = seg * get_window("hann", n_fft)  # periodic Hann
  bins = np.arange(n_fft // 2 + 1)
  dft = np.exp(-2j * np.pi * np.outer(bins, np.arange(n_fft)) / n_fft) @ seg
  power = np.abs(dft) ** 2
  top = _htk_mel(rate / 2)
  edges = [_htk_hz(top * i / (num_mels + 1)) for i in range(num_mels + 2)]
  out = []
  for m in range(num_mels):
    lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
    total = 0.0
    for b in bins:
      f = b * rate / n_fft
      if lo < f <= c:
        total += power[b] * (f - lo) / (c - lo)
      elif c < f < hi:
        total += power[b] * (hi - f) / (hi - c)
    out.append(math.log(total + 1e-5))
  return np.array(out)


def test_log_mel_matches_the_definition():
  rng = np.random.default_rng(0)
  x = 0.3 * rng.standard_normal(1000)
  mel = audio.log_mel(x, RATE, 64, num_mels=10)
  assert mel.shape == (1000 // 64, 10) and mel.dtype == np.float32
  for k in (0, 1, 7, 14):  # Both edges (zero padding) and the middle.
    np.testing.assert_allclose(mel[k], _reference_log_mel_frame(x, RATE, 64, k, 256, 10),
                               rtol=1e-4, atol=1e-4)
  # An explicit n_fft; an odd-length tail adds no frame.
  mel = audio.log_mel(x[:999], RATE, 64, num_mels=10, n_fft=128)
  assert mel.shape == (15, 10)
  np.testing.assert_allclose(mel[3], _reference_log_mel_frame(x[:999], RATE, 64, 3, 128, 10),
                             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("tone_hz", [1000.0, 2500.0])
def test_log_mel_tone_lands_in_its_band(tone_hz):
  num_mels, hop = 16, 64
  x = 0.5 * np.sin(2 * np.pi * tone_hz * np.arange(2000) / RATE)
  mel = audio.log_mel(x, RATE, hop, num_mels=num_mels)
  assert mel.shape == (2000 // hop, num_mels)
  top = _htk_mel(RATE / 2)
  centres = [_htk_hz(top * (m + 1) / (num_mels + 1)) for m in range(num_mels)]
  expected = int(np.argmin([abs(c - tone_hz) for c in centres]))
  middle = mel[5:-5]
  assert np.all(np.argmax(middle, axis=1) == expected)
  # Far bands see little: a band two away is much weaker than the tone's band.
  assert np.all(middle[:, expected] > middle[:, (expected + 4) % num_mels] + 3.0)


def test_log_mel_bad_inputs():
  with pytest.raises(ValueError, match=r"\[T\]"):
    audio.log_mel(np.zeros((10, 2)), RATE, 4)
  with pytest.raises(ValueError, match="n_fft >= hop"):
    audio.log_mel(np.zeros(100), RATE, 64, n_fft=32)
  with pytest.raises(ValueError, match="fmax"):
    audio.log_mel(np.zeros(100), RATE, 16, fmax=5000.0)
  with pytest.raises(ValueError, match="NaN"):
    audio.log_mel(np.full(100, np.nan), RATE, 16)
  assert audio.log_mel(np.zeros(10), RATE, 16).shape == (0, 40)


# ------------------------------------------------------------------------------------------------
# FSDD.


def test_fsdd_splits_and_windows(fsdd):
  npz, _, recs = fsdd
  ds = audio.load_fsdd(path=npz, window=WINDOW, labels=None)
  assert ds.name == "fsdd" and ds.event_shape == (WINDOW,) and ds.num_levels == 256
  assert ds.valid is None and ds.train_labels is None and ds.train_features is None
  for split in ("train", "test"):
    part = _split_recs(recs, split)
    expected = []
    for r in part:
      levels = mu_law_encode(r["samples"] / 32768.0)
      windows = _reference_windows(levels, WINDOW, 128)
      t = len(levels)
      assert len(windows) == (1 if t < WINDOW else math.ceil(t / WINDOW))
      expected += windows
    np.testing.assert_array_equal(ds.split(split), np.stack(expected))
  # Split rule: the test split holds exactly the recordings with index <= 4.
  assert len(_split_recs(recs, "test")) == 8
  # Left padding with the silence level, then the recording's first samples.
  short = recs[0]  # digit 0, amy, index 1: 100 samples.
  assert len(short["samples"]) == 100
  np.testing.assert_array_equal(ds.test[0, :WINDOW - 100], 128)
  np.testing.assert_array_equal(ds.test[0, WINDOW - 100:], mu_law_encode(short["samples"] / 32768))
  # End-aligned last window: digit 0, amy, index 4 has 700 samples -> windows at 0, 256, 444.
  long = mu_law_encode(recs[1]["samples"] / 32768)
  assert len(long) == 700
  np.testing.assert_array_equal(ds.test[1:4], np.stack([long[:256], long[256:512], long[444:]]))


def test_fsdd_directory_equals_npz(fsdd):
  npz, wav_dir, _ = fsdd
  kwargs = dict(window=WINDOW, hop=HOP, labels="speaker_digit", features="log_mel",
                num_mels=MELS)
  a = audio.load_fsdd(path=npz, **kwargs)
  b = audio.load_fsdd(path=wav_dir, **kwargs)
  for split in ("train", "test"):
    np.testing.assert_array_equal(a.split(split), b.split(split))
    np.testing.assert_array_equal(a.labels(split), b.labels(split))
    np.testing.assert_allclose(a.features(split), b.features(split), atol=1e-5)
  assert a.info["speakers"] == b.info["speakers"] == list(SPEAKERS)


def test_fsdd_speaker_labels_follow_sorted_names(fsdd, tmp_path):
  npz, _, _ = fsdd
  with np.load(npz) as d:
    arrays = dict(d)
  arrays["speakers"] = np.array(SPEAKERS[::-1])  # ['bob', 'amy']: not sorted.
  arrays["speaker"] = 1 - arrays["speaker"]
  np.savez(tmp_path / "unsorted.npz", **arrays)
  a = audio.load_fsdd(path=npz, window=WINDOW, labels="speaker")
  b = audio.load_fsdd(path=tmp_path / "unsorted.npz", window=WINDOW, labels="speaker")
  assert b.info["speakers"] == ["amy", "bob"]
  np.testing.assert_array_equal(a.train_labels, b.train_labels)
  np.testing.assert_array_equal(a.train, b.train)


@pytest.mark.parametrize("labels, num_classes", [
    ("speaker", 2), ("digit", 10), ("speaker_digit", 20), (None, 0)])
def test_fsdd_label_modes(fsdd, labels, num_classes):
  npz, _, recs = fsdd
  ds = audio.load_fsdd(path=npz, window=WINDOW, labels=labels)
  assert ds.info["num_classes"] == num_classes and ds.info["labels"] == labels
  if labels is None:
    assert ds.train_labels is None and ds.test_labels is None
    return
  expected = []
  for r in _split_recs(recs, "train"):
    value = {"speaker": r["s"], "digit": r["digit"], "speaker_digit": r["s"] * 10 + r["digit"]}
    count = len(_reference_windows(np.zeros(len(r["samples"])), WINDOW, 0))
    expected += [value[labels]] * count
  np.testing.assert_array_equal(ds.train_labels, expected)
  assert ds.train_labels.dtype == np.int32


def test_fsdd_speakers_valid_fraction_and_max_recordings(fsdd):
  npz, _, recs = fsdd
  full = audio.load_fsdd(path=npz, window=WINDOW)
  only_bob = audio.load_fsdd(path=npz, window=WINDOW, speakers=["bob"])
  assert only_bob.info["speakers"] == ["bob"] and only_bob.info["num_classes"] == 1
  np.testing.assert_array_equal(only_bob.train_labels, 0)
  assert only_bob.train.shape[0] == np.sum(full.train_labels == 1)
  with pytest.raises(ValueError, match="speakers"):
    audio.load_fsdd(path=npz, window=WINDOW, speakers=["carol"])

  split = audio.load_fsdd(path=npz, window=WINDOW, valid_fraction=0.25, seed=3)
  again = audio.load_fsdd(path=npz, window=WINDOW, valid_fraction=0.25, seed=3)
  np.testing.assert_array_equal(split.valid, again.valid)
  np.testing.assert_array_equal(split.test, full.test)
  # Whole recordings move: train + valid windows are the full train windows, none shared.
  rows = lambda x: sorted(map(bytes, x.astype(np.int32)))
  assert rows(np.concatenate([split.train, split.valid])) == rows(full.train)
  assert not set(rows(split.train)) & set(rows(split.valid))

  few = audio.load_fsdd(path=npz, window=WINDOW, max_recordings=2)
  first_train = _split_recs(recs, "train")[:2]
  count = sum(len(_reference_windows(np.zeros(len(r["samples"])), WINDOW, 0)) for r in first_train)
  np.testing.assert_array_equal(few.train, full.train[:count])
  np.testing.assert_array_equal(few.test, full.test[:1 + 3])  # 100 samples: 1; 700: 3.


def test_fsdd_digit_features(fsdd):
  npz, _, _ = fsdd
  ds = audio.load_fsdd(path=npz, window=WINDOW, hop=HOP, labels="digit", features="digit")
  assert ds.train_features.shape == (ds.train.shape[0], WINDOW // HOP, 10)
  np.testing.assert_array_equal(ds.train_features,
                                np.eye(10)[ds.train_labels][:, None, :].repeat(WINDOW // HOP, 1))
  assert ds.info["features"] == "digit" and ds.info["feature_mean"] is None


def test_fsdd_log_mel_features_are_standardised_by_train(fsdd):
  npz, _, recs = fsdd
  ds = audio.load_fsdd(path=npz, window=WINDOW, hop=HOP, labels=None, features="log_mel",
                       num_mels=MELS)
  frames = WINDOW // HOP
  assert ds.train_features.shape == (ds.train.shape[0], frames, MELS)
  assert ds.test_features.shape == (ds.test.shape[0], frames, MELS)
  train_mels = [audio.log_mel(r["samples"] / 32768.0, RATE, HOP, num_mels=MELS)
                for r in _split_recs(recs, "train")]
  allf = np.concatenate(train_mels).astype(np.float64)
  mean, std = allf.mean(0), allf.std(0)
  np.testing.assert_allclose(ds.info["feature_mean"], mean, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(ds.info["feature_std"], std, rtol=1e-5, atol=1e-5)
  assert ds.info["num_mels"] == MELS and ds.info["hop"] == HOP
  # Test split, first recording: 100 samples -> 3 frames (96 samples), 160 samples of padding
  # (5 silent frames) on the left.
  short = recs[0]["samples"] / 32768.0
  silence = (math.log(1e-5) - mean) / std
  np.testing.assert_allclose(ds.test_features[0, :5], np.tile(silence, (5, 1)), atol=1e-4)
  want = (audio.log_mel(short, RATE, HOP, num_mels=MELS) - mean) / std
  np.testing.assert_allclose(ds.test_features[0, 5:], want, atol=1e-4)
  np.testing.assert_array_equal(ds.test[0, :160], 128)
  np.testing.assert_array_equal(ds.test[0, 160:], mu_law_encode(short[:96]))
  # 700 samples: trimmed to 672 (21 frames); windows at 0, 256 and 416 (end-aligned).
  long = recs[1]["samples"] / 32768.0
  mel = (audio.log_mel(long, RATE, HOP, num_mels=MELS) - mean) / std
  assert mel.shape[0] == 21
  for w, start in zip((1, 2, 3), (0, 256, 416)):
    np.testing.assert_array_equal(ds.test[w], mu_law_encode(long[start:start + WINDOW]))
    np.testing.assert_allclose(ds.test_features[w], mel[start // HOP:start // HOP + frames],
                               atol=1e-4)
  # Windows are cut from the trimmed recordings.
  assert ds.test.shape[0] == sum(
      len(_reference_windows(np.zeros(len(r["samples"]) // HOP * HOP), WINDOW, 0))
      for r in _split_recs(recs, "test"))
  with pytest.raises(ValueError, match="multiple of hop"):
    audio.load_fsdd(path=npz, window=250, hop=HOP, features="log_mel")


def test_fsdd_pcm16(fsdd):
  npz, _, recs = fsdd
  ds = audio.load_fsdd(path=npz, window=WINDOW, quantization="pcm16", levels=65536, labels=None)
  assert ds.num_levels == 65536
  np.testing.assert_array_equal(ds.test[0, :WINDOW - 100], 32768)
  np.testing.assert_array_equal(ds.test[0, WINDOW - 100:], recs[0]["samples"].astype(int) + 32768)
  with pytest.raises(ValueError, match="65536"):
    audio.load_fsdd(path=npz, window=WINDOW, quantization="pcm16")


def test_fsdd_bad_options(fsdd, tmp_path):
  npz, _, _ = fsdd
  with pytest.raises(ValueError, match="does not exist"):
    audio.load_fsdd(path=tmp_path / "nope.npz")
  with pytest.raises(ValueError, match="labels"):
    audio.load_fsdd(path=npz, labels="gender")
  with pytest.raises(ValueError, match="features"):
    audio.load_fsdd(path=npz, features="mfcc")
  with pytest.raises(ValueError, match="valid_fraction"):
    audio.load_fsdd(path=npz, valid_fraction=1.5)
  np.savez(tmp_path / "other.npz", x=np.zeros(3))
  with pytest.raises(ValueError, match="keys"):
    audio.load_fsdd(path=tmp_path / "other.npz")
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="found none"):
    audio.load_fsdd(path=tmp_path / "empty")


def test_fsdd_recordings(fsdd):
  npz, _, recs = fsdd
  test_recs = _split_recs(recs, "test")
  plain = audio.load_fsdd_recordings(path=npz, labels="digit")
  assert len(plain) == len(test_recs) and plain.features is None
  for got, r in zip(plain.levels, test_recs):
    np.testing.assert_array_equal(got, mu_law_encode(r["samples"] / 32768.0))
    assert got.dtype == np.int32
  np.testing.assert_array_equal(plain.labels, [r["digit"] for r in test_recs])
  assert plain.info["filenames"] == [r["name"] for r in test_recs]

  ds = audio.load_fsdd(path=npz, window=WINDOW, hop=HOP, features="log_mel", num_mels=MELS,
                       max_recordings=3)
  mel = audio.load_fsdd_recordings(path=npz, hop=HOP, features="log_mel", num_mels=MELS,
                                   max_recordings=3)
  np.testing.assert_allclose(mel.info["feature_mean"], ds.info["feature_mean"], atol=1e-6)
  np.testing.assert_allclose(mel.info["feature_std"], ds.info["feature_std"], atol=1e-6)
  assert len(mel) == 3
  for q, f, r in zip(mel.levels, mel.features, test_recs):
    frames = len(r["samples"]) // HOP
    assert q.shape == (frames * HOP,) and f.shape == (frames, MELS)
  # Given statistics are used as they are.
  stats = (np.zeros(MELS), np.full(MELS, 2.0))
  raw = audio.load_fsdd_recordings(path=npz, hop=HOP, features="log_mel", num_mels=MELS,
                                   feature_stats=stats, max_recordings=1)
  want = audio.log_mel(test_recs[0]["samples"] / 32768.0, RATE, HOP, num_mels=MELS) / 2.0
  np.testing.assert_allclose(raw.features[0], want, atol=1e-5)
  with pytest.raises(ValueError, match="split"):
    audio.load_fsdd_recordings(path=npz, split="valid")
  with pytest.raises(ValueError, match="feature_stats"):
    audio.load_fsdd_recordings(path=npz, features="log_mel", num_mels=MELS,
                               feature_stats=(np.zeros(3), np.ones(3)))


# ------------------------------------------------------------------------------------------------
# A folder of WAVs.


def test_wav_folder(tmp_path):
  rng = np.random.default_rng(2)
  lengths = {}
  for c, (folder, rate) in enumerate([("dog", 16000), ("cat", 8000)]):
    (tmp_path / folder / "deep").mkdir(parents=True)
    for i in range(3):
      n = 400 + 100 * i
      x = (0.2 * rng.standard_normal(n * rate // 8000)).clip(-1, 1)
      sub = "deep" if i == 2 else ""
      soundfile.write(str(tmp_path / folder / sub / f"{i}.wav"), x, rate, subtype="PCM_16")
      lengths[(folder, i)] = n
  ds = audio.load_wav_folder(path=tmp_path, sample_rate=8000, window=WINDOW, hop=HOP,
                             labels="folder", valid_fraction=0.2, test_fraction=0.2, seed=0)
  assert ds.info["classes"] == ["cat", "dog"] and ds.info["num_classes"] == 2
  assert ds.info["sample_rate"] == 8000 and ds.event_shape == (WINDOW,)
  # 6 files: 1 test, 1 valid, 4 train; each file gives ceil(T / 256) windows (T = 400..600).
  total = sum(math.ceil(n / WINDOW) for n in lengths.values())
  sizes = [x.shape[0] for x in (ds.train, ds.valid, ds.test)]
  assert sum(sizes) == total and all(s >= 2 for s in sizes)
  assert set(np.unique(np.concatenate([ds.train_labels, ds.valid_labels, ds.test_labels]))) == {
      0, 1}
  mel = audio.load_wav_folder(path=tmp_path, sample_rate=8000, window=WINDOW, hop=HOP,
                              features="log_mel", num_mels=MELS, valid_fraction=0.0)
  assert mel.valid is None and mel.test is None and mel.train_labels is None
  assert mel.train_features.shape == (mel.train.shape[0], WINDOW // HOP, MELS)
  np.testing.assert_allclose(mel.train_features.mean(), 0.0, atol=0.3)

  soundfile.write(str(tmp_path / "loose.wav"), np.zeros(300), 8000, subtype="PCM_16")
  with pytest.raises(ValueError, match="sub-directory"):
    audio.load_wav_folder(path=tmp_path, sample_rate=8000, labels="folder")
  (tmp_path / "none").mkdir()
  with pytest.raises(ValueError, match="found none"):
    audio.load_wav_folder(path=tmp_path / "none", sample_rate=8000)


# ------------------------------------------------------------------------------------------------
# tfds spoken_digit.


def _fake_source(records):
  def data_source(name, *, split, data_dir=None, download=True, try_gcs=True, **kwargs):
    del data_dir, kwargs
    assert name == "spoken_digit" and split == "train"
    assert download is False and try_gcs is False  # Never the network.
    return records
  return data_source


def test_tfds_spoken_digit_from_a_fake_source(fsdd, monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")
  _, _, recs = fsdd
  records = [{"audio": r["samples"].astype(np.int64), "label": np.int64(r["digit"]),
              "audio/filename": r["name"].encode()} for r in reversed(recs)]
  monkeypatch.setattr(tfds, "data_source", _fake_source(records))
  ds = audio.load_tfds_spoken_digit(window=WINDOW, labels="speaker", valid_fraction=0.0)
  ref = audio.load_fsdd(path=fsdd[0], window=WINDOW, labels="speaker")
  assert ds.name == "tfds:spoken_digit" and ds.valid is None
  np.testing.assert_array_equal(ds.train, ref.train)
  np.testing.assert_array_equal(ds.test, ref.test)
  np.testing.assert_array_equal(ds.train_labels, ref.train_labels)
  assert ds.info["speakers"] == list(SPEAKERS) and ds.info["sample_rate"] == 8000
  digits = audio.load_tfds_spoken_digit(window=WINDOW, hop=HOP, features="digit")
  assert digits.valid is not None and digits.info["num_classes"] == 10
  np.testing.assert_array_equal(digits.train_features[:, 0, :], np.eye(10)[digits.train_labels])

  # Filenames that do not parse: seeded fractions of whole recordings.
  for i, rec in enumerate(records):
    rec["audio/filename"] = f"clip{i}.wav".encode()
  mixed = audio.load_tfds_spoken_digit(window=WINDOW, valid_fraction=0.25, test_fraction=0.25)
  total = sum(len(_reference_windows(np.zeros(len(r["samples"])), WINDOW, 0)) for r in recs)
  assert mixed.train.shape[0] + mixed.valid.shape[0] + mixed.test.shape[0] == total
  with pytest.raises(ValueError, match="speaker"):
    audio.load_tfds_spoken_digit(window=WINDOW, labels="speaker")


def _tensor_audio(*, file_format=None, sample_rate=None, **unused):
  """A stand-in for ``tfds.features.Audio``: the same int64 samples of any length, as a plain
  ``Tensor`` feature. tfds' Audio feature calls TensorFlow when it is built (``tf.dtypes.as_dtype``
  in ``_AudioDecoder.__init__``, tensorflow-datasets 4.9.10), so the spoken_digit builder cannot even
  describe itself without TensorFlow; everything else of ``tfds.data_source`` runs without it."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  del file_format, sample_rate, unused
  return tfds.features.Tensor(shape=(None,), dtype=np.int64)


def test_tfds_spoken_digit_mock_data(monkeypatch):
  """``load_tfds_spoken_digit`` through tfds itself (builder, ``data_source``, the array_record reader
  mocked by ``tfds.testing.mock_data``), without TensorFlow: every window of every mock recording
  comes back once, quantized as the FSDD path does, in the seeded split of whole recordings (the
  mock filenames do not parse as FSDD names)."""
  tfds = pytest.importorskip("tensorflow_datasets")
  monkeypatch.setattr(tfds.features, "Audio", _tensor_audio)
  window = 8
  with tfds.testing.mock_data(num_examples=7):
    source = tfds.data_source("spoken_digit", split="train", download=False, try_gcs=False)
    records = [source[i] for i in range(len(source))]
    ds = audio.load_tfds_spoken_digit(window=window, valid_fraction=0.2, test_fraction=0.2)
  assert len(records) == 7 and ds.name == "tfds:spoken_digit" and ds.event_shape == (window,)
  assert ds.valid is not None and ds.test is not None and len(ds.train) and len(ds.valid)
  expected, digits = [], []
  for record in records:
    levels = mu_law_encode(np.asarray(record["audio"]) / 32768.0)
    windows = _reference_windows(levels, window, 128)
    expected += windows
    digits += [int(record["label"])] * len(windows)
  got = np.concatenate([ds.train, ds.valid, ds.test])
  labels = np.concatenate([ds.train_labels, ds.valid_labels, ds.test_labels])
  key = lambda rows, lab: sorted(map(tuple, np.column_stack([rows, lab]).tolist()))
  assert key(got, labels) == key(np.array(expected), np.array(digits))


def test_tfds_spoken_digit_not_available_says_how(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  # download=False inside: this fails at once (no TensorFlow, or nothing prepared in tmp_path).
  with pytest.raises(ValueError, match="tfds build spoken_digit"):
    audio.load_tfds_spoken_digit(data_dir=tmp_path)
