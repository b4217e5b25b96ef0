"""Tests of the local-file loaders: IDX, MNIST, binarized MNIST, npz, load_array."""

import gzip
import struct

import numpy as np
import pytest

from armodels_jax import data
from armodels_jax.data import idx
from armodels_jax.data import local


def _write_idx(path, array, magic=None, compress=True):
  """Writes `array` (uint8) as an IDX file, the format of the MNIST files."""
  array = np.asarray(array, np.uint8)
  if magic is None:
    magic = 0x0800 | array.ndim
  header = struct.pack(">I", magic) + b"".join(
      struct.pack(">I", d) for d in array.shape)
  opener = gzip.open if compress else open
  with opener(path, "wb") as f:
    f.write(header + array.tobytes())


@pytest.fixture
def mnist_dir(tmp_path, monkeypatch):
  """A tiny MNIST directory: 5 training images (3 train + 2 valid), 4 test."""
  monkeypatch.setattr(local, "MNIST_NUM_TRAIN", 3)
  rng = np.random.default_rng(7)
  arrays = {
      "train_images": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
      "train_labels": rng.integers(0, 10, (5,), dtype=np.uint8),
      "test_images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
      "test_labels": rng.integers(0, 10, (4,), dtype=np.uint8),
  }
  arrays["train_images"][0, 0, :3] = [0, 127, 128]
  arrays["train_images"][0, 1, :2] = [255, 0]
  for name, filename in local.MNIST_FILES.items():
    _write_idx(tmp_path / filename, arrays[name])
  return tmp_path, arrays


def test_read_idx_matches_written_array(tmp_path):
  x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  _write_idx(tmp_path / "a.gz", x)
  _write_idx(tmp_path / "a", x, compress=False)
  for path in (tmp_path / "a.gz", tmp_path / "a"):
    got = data.read_idx(path, expected_magic=0x00000803)
    assert got.shape == (2, 3, 4) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, x)


def test_read_idx_int32_big_endian(tmp_path):
  x = np.array([1, -2, 70000], dtype=">i4")
  with open(tmp_path / "b", "wb") as f:
    f.write(struct.pack(">I", 0x0C01) + struct.pack(">I", 3) + x.tobytes())
  np.testing.assert_array_equal(data.read_idx(tmp_path / "b"), [1, -2, 70000])


def test_read_idx_errors(tmp_path):
  _write_idx(tmp_path / "labels.gz", np.zeros(5, np.uint8))
  with pytest.raises(ValueError, match="0x00000803"):
    data.read_idx(tmp_path / "labels.gz", expected_magic=idx.MNIST_IMAGES_MAGIC)
  with gzip.open(tmp_path / "short.gz", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, 2, 28, 28) + bytes(100))
  with pytest.raises(ValueError, match="bytes"):
    data.read_idx(tmp_path / "short.gz")
  with gzip.open(tmp_path / "junk.gz", "wb") as f:
    f.write(b"PK\x03\x04 not an idx file")
  with pytest.raises(ValueError, match="not an IDX"):
    data.read_idx(tmp_path / "junk.gz")


def test_mnist_standard_split(mnist_dir):
  path, arrays = mnist_dir
  ds = data.load("mnist", path=str(path))
  assert ds.num_levels == 256 and ds.event_shape == (28, 28, 1)
  np.testing.assert_array_equal(ds.train[..., 0], arrays["train_images"][:3])
  np.testing.assert_array_equal(ds.valid[..., 0], arrays["train_images"][3:])
  np.testing.assert_array_equal(ds.test[..., 0], arrays["test_images"])
  np.testing.assert_array_equal(ds.train_labels, arrays["train_labels"][:3])
  np.testing.assert_array_equal(ds.valid_labels, arrays["train_labels"][3:])
  np.testing.assert_array_equal(ds.test_labels, arrays["test_labels"])
  assert ds.train.dtype == np.int32 and ds.train_labels.dtype == np.int32


def test_mnist_binarize_threshold(mnist_dir):
  path, arrays = mnist_dir
  ds = data.load("mnist", path=path, binarize="threshold")
  assert ds.num_levels == 2
  np.testing.assert_array_equal(ds.train[0, 0, :3, 0], [0, 0, 1])
  np.testing.assert_array_equal(ds.test[..., 0], arrays["test_images"] >= 128)


def test_mnist_binarize_stochastic(mnist_dir):
  path, arrays = mnist_dir
  a = data.load("mnist", path=path, binarize="stochastic", binarize_seed=1)
  b = data.load("mnist", path=path, binarize="stochastic", binarize_seed=1)
  c = data.load("mnist", path=path, binarize="stochastic", binarize_seed=2)
  assert a.num_levels == 2
  np.testing.assert_array_equal(a.train, b.train)
  np.testing.assert_array_equal(a.test, b.test)
  assert not np.array_equal(a.train, c.train)
  np.testing.assert_array_equal(a.train[0, 1, :2, 0], [1, 0])  # p = 1 and p = 0
  x = arrays["train_images"][:3]
  assert np.all(a.train[..., 0][x == 0] == 0)
  assert abs(a.train.mean() - (x / 255).mean()) < 0.03


def test_mnist_errors(mnist_dir, tmp_path_factory):
  path, _ = mnist_dir
  with pytest.raises(ValueError, match="binarize"):
    data.load("mnist", path=path, binarize="dynamic")
  with pytest.raises(FileNotFoundError, match="t10k"):
    data.load("mnist", path=tmp_path_factory.mktemp("empty"))
  # Labels where images should be: the magic number check catches it.
  _write_idx(path / local.MNIST_FILES["train_images"], np.zeros(5, np.uint8))
  with pytest.raises(ValueError, match="magic"):
    data.load("mnist", path=path)


def test_binarized_mnist(tmp_path):
  rng = np.random.default_rng(0)
  train = rng.integers(0, 2, (6, 28, 28), dtype=np.uint8)
  valid = rng.integers(0, 2, (3, 784), dtype=np.uint8)  # flat rows work too
  np.savez(tmp_path / "b.npz", train=train, valid=valid)
  ds = data.load("binarized_mnist", path=tmp_path / "b.npz")
  assert ds.event_shape == (28, 28, 1) and ds.num_levels == 2
  assert ds.test is None and ds.train_labels is None
  np.testing.assert_array_equal(ds.train[..., 0], train)
  np.testing.assert_array_equal(ds.valid, valid.reshape(3, 28, 28, 1))
  np.savez(tmp_path / "c.npz", train=train, valid=valid, test=train[:2])
  assert data.load("binarized_mnist", path=tmp_path / "c.npz").test.shape == (
      2, 28, 28, 1)
  np.savez(tmp_path / "d.npz", train=train * 255, valid=valid)
  with pytest.raises(ValueError, match=r"\[0, 2\)"):
    data.load("binarized_mnist", path=tmp_path / "d.npz")
  np.savez(tmp_path / "e.npz", train=train)
  with pytest.raises(ValueError, match="'valid'.*'train'"):
    data.load("binarized_mnist", path=tmp_path / "e.npz")


def test_npz_defaults(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.integers(0, 5, (7, 4, 3)).astype(np.int64)
  x[0, 0, 0] = 4
  np.savez(tmp_path / "a.npz", train=x, test=x[:2].astype(np.float32))
  ds = data.load("npz", path=tmp_path / "a.npz")
  assert ds.event_shape == (4, 3, 1)  # channel added to 2-D examples
  assert ds.num_levels == 5  # max + 1
  assert ds.valid is None  # default key missing -> no split
  np.testing.assert_array_equal(ds.train[..., 0], x)
  np.testing.assert_array_equal(ds.test[..., 0], x[:2])
  np.savez(tmp_path / "z.npz", train=np.zeros((3, 5), np.uint8))
  zeros = data.load("npz", path=tmp_path / "z.npz")
  assert zeros.num_levels == 2 and zeros.event_shape == (5,)


def test_npz_keys_reshape_and_levels(tmp_path):
  x = np.arange(24).reshape(2, 3, 4) % 10
  np.savez(tmp_path / "a.npz", tr=x, va=x[:1], te=x)
  ds = data.load("npz", path=tmp_path / "a.npz", train_key="tr",
                 valid_key="va", test_key=None, event_shape=(12,),
                 num_levels=16)
  assert ds.event_shape == (12,) and ds.num_levels == 16 and ds.test is None
  np.testing.assert_array_equal(ds.train, x.reshape(2, 12))
  np.testing.assert_array_equal(ds.valid, x[:1].reshape(1, 12))
  with pytest.raises(ValueError, match=r"\[0, 5\)"):
    data.load("npz", path=tmp_path / "a.npz", train_key="tr", num_levels=5)
  with pytest.raises(ValueError, match="size"):
    data.load("npz", path=tmp_path / "a.npz", train_key="tr", event_shape=(5,))
  # An explicit key that is missing is an error listing the keys present.
  with pytest.raises(ValueError, match=r"'valid'.*\['te', 'tr', 'va'\]"):
    data.load("npz", path=tmp_path / "a.npz", train_key="tr", valid_key="valid")
  with pytest.raises(ValueError, match="'train'"):
    data.load("npz", path=tmp_path / "a.npz")


def test_npz_rejects_bad_values(tmp_path):
  np.savez(tmp_path / "neg.npz", train=np.array([[0, -1]]))
  np.savez(tmp_path / "frac.npz", train=np.array([[0.5, 1.0]]))
  np.savez(tmp_path / "str.npz", train=np.array([["a", "b"]]))
  messages = {"neg": r"expected values in \[0, 2147483647\), got values in \[-1, 0\]",
              "frac": "expected integer levels, got float values that are not integral",
              "str": "expected an integer, bool or integral float array, got dtype <U1"}
  for name, message in messages.items():
    with pytest.raises(ValueError, match=message):
      data.load("npz", path=tmp_path / f"{name}.npz")


def test_load_array_reshapes_row_major(tmp_path):
  x = (np.arange(3 * 28 * 28) % 2).reshape(3, 28, 28).astype(np.uint8)
  np.savez(tmp_path / "a.npz", test=x, other=x)
  got = data.load_array(tmp_path / "a.npz", "test", (28, 28, 1), 2)
  assert got.shape == (3, 28, 28, 1) and got.dtype == np.int32
  np.testing.assert_array_equal(got[..., 0], x)
  flat = data.load_array(tmp_path / "a.npz", "test", (784,), 2)
  np.testing.assert_array_equal(flat, x.reshape(3, 784))
  np.savez(tmp_path / "b.npz", test=x.astype(bool), f=x.astype(np.float64))
  np.testing.assert_array_equal(
      data.load_array(tmp_path / "b.npz", "test", (784,), 2), flat)
  np.testing.assert_array_equal(
      data.load_array(tmp_path / "b.npz", "f", (784,), 2), flat)


def test_load_array_errors(tmp_path):
  x = np.ones((2, 28, 28), np.uint8) * 3
  np.savez(tmp_path / "a.npz", test=x, frac=x / 2, s=np.array(["a", "b"]))
  path = tmp_path / "a.npz"
  with pytest.raises(ValueError, match=r"prod\(\(28, 28, 3\)\)"):
    data.load_array(path, "test", (28, 28, 3), 256)
  with pytest.raises(ValueError, match=r"\[0, 2\)"):
    data.load_array(path, "test", (28, 28, 1), 2)
  with pytest.raises(ValueError, match="integral"):
    data.load_array(path, "frac", (28, 28, 1), 256)
  with pytest.raises(ValueError, match="dtype"):
    data.load_array(path, "s", (1,), 256)
  with pytest.raises(ValueError, match=r"'valid'.*\['frac', 's', 'test'\]"):
    data.load_array(path, "valid", (28, 28, 1), 256)


def test_load_array_real_valued(tmp_path):
  x = np.linspace(-1, 1, 12).reshape(3, 4)
  np.savez(tmp_path / "a.npz", x=x, bad=np.array([[np.nan, 0.0]]))
  got = data.load_array(tmp_path / "a.npz", "x", (2, 2), None)
  assert got.dtype == np.float32
  np.testing.assert_allclose(got, x.reshape(3, 2, 2), rtol=1e-6)
  with pytest.raises(ValueError, match="finite"):
    data.load_array(tmp_path / "a.npz", "bad", (2,), None)
