"""Tests of the embedded default dataset ('digits') and of `Dataset`."""

import numpy as np
import pytest
from sklearn import datasets as sk_datasets

from armodels_jax import data


def _rows(x, labels):
  """Sorted rows of (flattened image, label), to compare multisets."""
  rows = np.concatenate([x.reshape(len(x), -1), labels[:, None]], axis=1)
  return rows[np.lexsort(rows.T[::-1])]


def test_digits_shapes_levels_and_sizes():
  ds = data.load("digits")
  assert ds.name == "digits"
  assert ds.event_shape == (8, 8, 1)
  assert ds.num_levels == 17
  assert ds.train.shape == (1257, 8, 8, 1)
  assert ds.valid.shape == (270, 8, 8, 1)
  assert ds.test.shape == (270, 8, 8, 1)
  for split in ("train", "valid", "test"):
    x, y = ds.split(split), ds.labels(split)
    assert x.dtype == np.int32 and y.dtype == np.int32
    assert y.shape == (len(x),)
    assert x.min() == 0 and x.max() == 16
    assert set(np.unique(y)) == set(range(10))


def test_digits_splits_partition_the_data():
  ds = data.load("digits")
  bunch = sk_datasets.load_digits()
  x = np.concatenate([ds.train, ds.valid, ds.test])
  y = np.concatenate([ds.train_labels, ds.valid_labels, ds.test_labels])
  np.testing.assert_array_equal(
      _rows(x, y), _rows(bunch.images.astype(np.int32), bunch.target))


def test_digits_split_is_deterministic_and_ignores_global_seed():
  np.random.seed(1)
  a = data.load("digits")
  np.random.seed(2)
  b = data.load("digits")
  for split in ("train", "valid", "test"):
    np.testing.assert_array_equal(a.split(split), b.split(split))
    np.testing.assert_array_equal(a.labels(split), b.labels(split))
  # The split is shuffled, not the original order.
  bunch = sk_datasets.load_digits()
  assert not np.array_equal(a.train_labels, bunch.target[:1257])


def test_digits_binarize_threshold_8():
  ds = data.load("digits")
  db = data.load("digits", binarize=True)
  assert db.num_levels == 2
  for split in ("train", "valid", "test"):
    np.testing.assert_array_equal(db.split(split),
                                  (ds.split(split) >= 8).astype(np.int32))
    np.testing.assert_array_equal(db.labels(split), ds.labels(split))
  assert 0.2 < db.train.mean() < 0.8


def test_digits_bad_binarize_option():
  with pytest.raises(ValueError, match="binarize"):
    data.load("digits", binarize="threshold")


def test_dataset_arrays_are_read_only():
  ds = data.load("digits")
  with pytest.raises(ValueError, match="assignment destination is read-only"):
    ds.train[0, 0, 0, 0] = 1


def test_dataset_validates_levels_and_shapes():
  x = np.zeros((3, 2, 2, 1), np.int32)
  common = dict(name="t", valid=None, test=None, train_labels=None,
                valid_labels=None, test_labels=None, event_shape=(2, 2, 1))
  data.Dataset(train=x + 1, num_levels=2, **common)
  with pytest.raises(ValueError, match=r"\[0, 2\)"):
    data.Dataset(train=x + 2, num_levels=2, **common)
  with pytest.raises(ValueError, match="shape"):
    data.Dataset(train=x[..., 0], num_levels=2, **common)
  with pytest.raises(ValueError, match="num_levels"):
    data.Dataset(train=x, num_levels=1, **common)
