"""`armodels sample` for sequence models: WAV files from a conditioned WaveNet, text from a char-RNN
(with a priming text and a chosen length), and the user errors of the new options.

Each workdir is a 2-step tiny training run on synthetic data in the datasets' formats (tests never
read ../shared).
"""

import os

import numpy as np
import pytest
from fake_data import write_fake_fsdd, write_fake_text

from armodels_jax import cli, training
from armodels_jax.data import audio

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(config, data_path, workdir, sample_every=0):
  cfg = training.load_config(os.path.join(REPO, "experiments", "configs", config) + ":tiny",
                             [f"data.path={data_path}", f"train.sample_every={sample_every}"])
  training.train_and_evaluate(cfg, workdir)
  return workdir


@pytest.fixture(scope="module")
def wavenet_workdir(tmp_path_factory):
  root = tmp_path_factory.mktemp("wavenet")
  return _train("wavenet_fsdd.py", write_fake_fsdd(root / "fsdd.npz"), str(root / "run"),
                sample_every=2)


def test_training_writes_wav_samples(wavenet_workdir):
  # The tiny config draws 4 samples at its last step; the loop writes them as 16-bit WAVs.
  for i in range(4):
    wave, rate = audio.read_wav(os.path.join(wavenet_workdir, "samples", f"step_000002_{i:02d}.wav"))
    assert rate == 8000 and wave.shape == (2048,)


@pytest.fixture(scope="module")
def char_rnn_workdir(tmp_path_factory):
  root = tmp_path_factory.mktemp("char_rnn")
  return _train("char_rnn_shakespeare.py", write_fake_text(root / "text.txt"), str(root / "run"))


def _run(capsys, *argv):
  capsys.readouterr()
  rc = cli.main([str(a) for a in argv])
  out, err = capsys.readouterr()
  return rc, out, err


def test_wavenet_writes_one_wav_per_sample(wavenet_workdir, tmp_path, capsys):
  out = tmp_path / "seven.wav"
  rc, stdout, err = _run(capsys, "sample", "--workdir", wavenet_workdir, "--num", 2, "--label", 1,
                         "--digit", 7, "--length", 512, "--out", out)
  assert rc == 0, err
  for i in range(2):
    wave, rate = audio.read_wav(str(tmp_path / f"seven_{i:02d}.wav"))
    assert rate == 8000 and wave.shape == (512,)
    assert np.abs(wave).max() <= 1.0 and np.abs(wave).max() > 0
  assert "seven_00.wav" in stdout


def test_wavenet_same_seed_same_audio_naive_and_cached(wavenet_workdir, tmp_path, capsys):
  waves = []
  for method in ("naive", "cached"):
    out = tmp_path / f"{method}.wav"
    rc, _, err = _run(capsys, "sample", "--workdir", wavenet_workdir, "--num", 1, "--label", 0,
                      "--digit", 2, "--length", 256, "--method", method, "--out", out)
    assert rc == 0, err
    waves.append(audio.read_wav(str(out))[0])
  np.testing.assert_array_equal(waves[0], waves[1])


@pytest.mark.parametrize("argv,message", [
    (["--digit", 3], "--label"),
    (["--label", 1], "--digit"),
    (["--label", 9, "--digit", 3], "--label must be in"),
    (["--label", 1, "--digit", 10], "--digit must be in"),
    (["--label", 1, "--digit", 3, "--length", 100], "multiple"),
    (["--label", 1, "--digit", 3, "--prime", "hi"], "text models"),
    (["--label", 1, "--digit", 3, "--out", "x.png"], ".wav"),
])
def test_wavenet_user_errors(wavenet_workdir, tmp_path, capsys, argv, message):
  args = ["sample", "--workdir", wavenet_workdir, "--out", tmp_path / "x.wav"] + argv
  if "--out" in argv:
    args = ["sample", "--workdir", wavenet_workdir] + [
        tmp_path / a if a == "x.png" else a for a in argv]
  rc, _, err = _run(capsys, *args)
  assert rc == 2 and message in err, err


def test_char_rnn_continues_the_prime(char_rnn_workdir, tmp_path, capsys):
  out = tmp_path / "text.txt"
  rc, stdout, err = _run(capsys, "sample", "--workdir", char_rnn_workdir, "--num", 2, "--length", 60,
                         "--prime", "to be", "--temperature", 0.8, "--out", out)
  assert rc == 0, err
  assert out.read_text(encoding="utf-8").startswith("to be")
  xs, model, info = cli.sample_workdir(char_rnn_workdir, num=2, length=60, prime="to be", seed=3)
  assert model.event_shape == (60,) and xs.shape == (2, 60)
  for x in xs:
    text = "".join(info["vocab"][i] for i in x)
    assert text.startswith("to be") and len(text) == 60
  rc, _, err = _run(capsys, "sample", "--workdir", char_rnn_workdir, "--num", 1, "--prime", "to #")
  assert rc == 2 and "'#'" in err and "vocabulary" in err
