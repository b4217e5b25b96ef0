"""A folder of PNGs through `armodels compress --images` / `decompress --images` and
`armodels_jax.image_folder`: the round trip is exact in pixels and names; bad folders, damaged
containers and existing targets are errors."""

import os

import jax
import numpy as np
import pytest
from PIL import Image

import armodels_jax as arm
from armodels_jax import cli
from armodels_jax import image_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FVSBN = os.path.join(ROOT, "pretrained", "fvsbn_binarized_mnist")


def _run(capsys, *argv):
  rc = cli.main([str(a) for a in argv])
  out, err = capsys.readouterr()
  return rc, out, err


def _digits(count, seed=0):
  rng = np.random.default_rng(seed)
  x = np.zeros((count, 28, 28), np.uint8)
  for i in range(count):
    r, c = rng.integers(4, 12, 2)
    x[i, r:r + 14, c:c + 4] = 1
    x[i, r:r + 3, c:c + 10] = rng.integers(0, 2)
  return x


def _read(path, mode):
  with Image.open(path) as img:
    return np.asarray(img.convert(mode))


def test_cli_round_trip_keeps_names_and_pixels(tmp_path, capsys):
  src, out = tmp_path / "scans", tmp_path / "back"
  src.mkdir()
  x = _digits(3)
  names = ["b 2.png", "a_1.PNG", "z\u00e9.png"]
  Image.fromarray(x[0].astype(bool)).save(src / names[0])  # 1-bit
  Image.fromarray(x[1] * 255, mode="L").save(src / names[1])  # grey, only 0 and 255
  Image.fromarray(x[2].astype(bool)).save(src / names[2])
  (src / "notes.txt").write_text("not an image")  # left out
  arm_file = tmp_path / "scans.arm"
  rc, stdout, err = _run(capsys, "compress", "--workdir", FVSBN, "--images", src, "--out", arm_file)
  assert rc == 0, err
  assert "3 images" in stdout
  assert os.path.getsize(arm_file) < 3 * 28 * 28 / 8 / 2  # under half the packed bits
  rc, stdout, err = _run(capsys, "decompress", "--workdir", FVSBN, "--in", arm_file, "--images", out)
  assert rc == 0, err
  assert sorted(os.listdir(out)) == sorted(names)
  for name, img in zip(names, x):
    np.testing.assert_array_equal(_read(out / name, "L"), img * 255)
    np.testing.assert_array_equal(_read(src / name, "L"), _read(out / name, "L"))

  # Again into the same folder: refused, nothing overwritten; --out and --images together: refused.
  before = (out / names[0]).read_bytes()
  rc, _, err = _run(capsys, "decompress", "--workdir", FVSBN, "--in", arm_file, "--images", out)
  assert rc == 2 and "will not overwrite 3 existing" in err
  assert len(err.strip().splitlines()) == 1
  assert (out / names[0]).read_bytes() == before
  rc, _, err = _run(capsys, "decompress", "--workdir", FVSBN, "--in", arm_file, "--images", out,
                    "--out", tmp_path / "y.npz")
  assert rc == 2 and "exactly one of --out and --images" in err
  # A plain `compress --npz` file is not an image-folder file.
  np.savez(tmp_path / "x.npz", x=x)
  rc, _, err = _run(capsys, "compress", "--workdir", FVSBN, "--npz", tmp_path / "x.npz", "--out",
                    tmp_path / "plain.arm")
  assert rc == 0, err
  rc, _, err = _run(capsys, "decompress", "--workdir", FVSBN, "--in", tmp_path / "plain.arm",
                    "--images", tmp_path / "other")
  assert rc == 2 and "expected an image-folder file" in err


@pytest.mark.parametrize("make,message", [
    (lambda d: Image.fromarray(np.zeros((27, 28), np.uint8), mode="L").save(d / "a.png"),
     "expected 28 x 28 pixels"),
    (lambda d: Image.fromarray(np.full((28, 28), 7, np.uint8), mode="L").save(d / "a.png"),
     "a 2-level model expects a 1-bit PNG"),
    (lambda d: (d / "a.txt").write_text("x"), "expected at least one .png file"),
])
def test_cli_bad_folders(make, message, tmp_path, capsys):
  src = tmp_path / "in"
  src.mkdir()
  make(src)
  rc, _, err = _run(capsys, "compress", "--workdir", FVSBN, "--images", src, "--out",
                    tmp_path / "x.arm")
  assert rc == 2 and message in err, err
  assert not (tmp_path / "x.arm").exists()


@pytest.mark.parametrize("channels,mode", [(1, "L"), (3, "RGB")])
def test_api_round_trip_multilevel(channels, mode, tmp_path):
  levels = 7
  model = arm.models.create("pixelcnn", event_shape=(4, 5, channels), num_levels=levels, size="tiny")
  variables = arm.init(model, jax.random.PRNGKey(0))
  rng = np.random.default_rng(1)
  x = rng.integers(0, levels, (3, 4, 5, channels)).astype(np.uint8)
  src = tmp_path / "in"
  src.mkdir()
  names = ["c.png", "a.png", "b.png"]
  for name, img in zip(names, x):
    Image.fromarray(img[..., 0] if channels == 1 else img, mode=mode).save(src / name)
  blob = image_folder.compress_folder(model, variables, str(src), batch_size=2)
  assert image_folder.unpack(blob)[0] == sorted(names)
  paths = image_folder.decompress_folder(model, variables, blob, str(tmp_path / "out"))
  assert [os.path.basename(p) for p in paths] == sorted(names)
  for name, img in zip(names, x):
    got = _read(tmp_path / "out" / name, mode)
    np.testing.assert_array_equal(got.reshape(img.shape), img)

  # A level the model does not have, and the wrong number of channels: ValueError naming both.
  Image.fromarray(np.full((4, 5, channels), levels, np.uint8).squeeze(), mode=mode).save(src / "d.png")
  with pytest.raises(ValueError, match=f"below the model's {levels} levels, got {levels}"):
    image_folder.read_images(str(src), model)
  os.remove(src / "d.png")
  other = "RGB" if channels == 1 else "L"
  Image.new(other, (5, 4)).save(src / "e.png")
  with pytest.raises(ValueError, match=f"got mode '{other}'"):
    image_folder.read_images(str(src), model)


def test_container_checks():
  blob = image_folder.pack(["a.png", "b.png"], b"PAYLOAD")
  assert image_folder.unpack(blob) == (["a.png", "b.png"], b"PAYLOAD")
  damaged = bytearray(blob)
  damaged[11] ^= 1  # inside the first name
  with pytest.raises(ValueError, match="CRC-32 does not match"):
    image_folder.unpack(bytes(damaged))
  with pytest.raises(ValueError, match="cut short"):
    image_folder.unpack(blob[:12])
  with pytest.raises(ValueError, match="expected an image-folder file"):
    image_folder.unpack(b"ARM\x02rest")
  for bad in ["../a.png", "d/a.png", "a.jpg", ".png"]:
    with pytest.raises(ValueError, match="expected a"):
      image_folder.pack([bad], b"")
  with pytest.raises(ValueError, match="unique"):
    image_folder.pack(["a.png", "a.png"], b"")
