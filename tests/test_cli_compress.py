"""`armodels compress` / `armodels decompress` on a shipped checkpoint (FVSBN: the cheapest to
compile): the round trip through files, the --json line, and one-line errors for a wrong model, a
damaged file and bad arguments."""

import json
import os

import numpy as np
import pytest

from armodels_jax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FVSBN = os.path.join(ROOT, "pretrained", "fvsbn_binarized_mnist")
NADE = os.path.join(ROOT, "pretrained", "nade_binarized_mnist")


def _run(capsys, *argv):
  rc = cli.main([str(a) for a in argv])
  out, err = capsys.readouterr()
  return rc, out, err


@pytest.fixture(scope="module")
def images():
  # Digit-like strokes: a model of MNIST codes them in far fewer than 784 bits each.
  x = np.zeros((3, 28, 28), np.uint8)
  x[:, 6:22, 12:16] = 1
  x[1, 6:10, 8:20] = 1
  return x


def test_round_trip_through_files(images, tmp_path, capsys):
  src, arm_file, out = tmp_path / "x.npz", tmp_path / "x.arm", tmp_path / "y.npz"
  np.savez(src, digits=images)
  rc, stdout, err = _run(capsys, "compress", "--workdir", FVSBN, "--npz", src, "--out", arm_file,
                         "--json")
  assert rc == 0, err
  m = json.loads(stdout.strip().splitlines()[-1])
  assert set(m) == {"bytes", "n", "bits_per_dim"} and m["n"] == 3
  assert m["bytes"] == os.path.getsize(arm_file)
  assert m["bits_per_dim"] == pytest.approx(8 * m["bytes"] / images.size)
  assert m["bytes"] < images.size / 8 / 2  # under half the size of the packed bits
  rc, _, err = _run(capsys, "decompress", "--workdir", FVSBN, "--in", arm_file, "--out", out)
  assert rc == 0, err
  with np.load(out) as f:
    np.testing.assert_array_equal(f["x"], images.reshape(3, 28, 28, 1))

  # Another model, or a damaged file: one line on stderr, exit status 2.
  rc, _, err = _run(capsys, "decompress", "--workdir", NADE, "--in", arm_file, "--out", out)
  assert rc == 2 and "expected the model that compressed this file" in err
  assert len(err.strip().splitlines()) == 1
  blob = bytearray(arm_file.read_bytes())
  blob[-1] ^= 0x40
  bad = tmp_path / "bad.arm"
  bad.write_bytes(bytes(blob))
  rc, _, err = _run(capsys, "decompress", "--workdir", FVSBN, "--in", bad, "--out", out)
  assert rc == 2 and "damaged" in err
  rc, _, err = _run(capsys, "decompress", "--workdir", FVSBN, "--in", arm_file,
                    "--out", tmp_path / "y.png")
  assert rc == 2 and "expected --out ending in .npz" in err


@pytest.mark.parametrize("argv,message", [
    (["--npz", "missing.npz"], "input file not found"),
    (["--text", "a.txt", "--npz", "b.npz"], "exactly one of"),
    (["--text", "TEXTFILE"], "needs a text model"),
])
def test_compress_user_errors(argv, message, tmp_path, capsys):
  text = tmp_path / "a.txt"
  text.write_text("hello")
  argv = [str(text) if a == "TEXTFILE" else a for a in argv]
  rc, _, err = _run(capsys, "compress", "--workdir", FVSBN, *argv, "--out", tmp_path / "x.arm")
  assert rc == 2 and message in err, err
