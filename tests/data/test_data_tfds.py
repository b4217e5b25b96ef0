"""Tests of the tfds source, on `tfds.testing.mock_data` (no files, no network)."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from armodels_jax import data  # noqa: E402


def _direct(name, split):
  source = tfds.data_source(name, split=split, download=False)
  return (np.stack([np.asarray(source[i]["image"]) for i in range(len(source))]),
          np.array([int(source[i]["label"]) for i in range(len(source))]))


def test_tfds_mnist_from_mock_data():
  with tfds.testing.mock_data(num_examples=6):
    ds = data.load("tfds:mnist", valid_split="test", test_split="test")
    images, labels = _direct("mnist", "train")
    test_images, test_labels = _direct("mnist", "test")
  assert ds.name == "tfds:mnist"
  assert ds.event_shape == (28, 28, 1) and ds.num_levels == 256
  assert ds.train.shape == (6, 28, 28, 1) and ds.train.dtype == np.int32
  assert ds.test.shape == (6, 28, 28, 1)
  np.testing.assert_array_equal(ds.train, images)
  np.testing.assert_array_equal(ds.train_labels, labels)
  np.testing.assert_array_equal(ds.test, test_images)
  np.testing.assert_array_equal(ds.valid_labels, test_labels)
  assert ds.train_labels.dtype == np.int32
  assert 0 <= ds.train_labels.min() and ds.train_labels.max() < 10
  assert 0 <= ds.train.min() and ds.train.max() < 256 and ds.train.std() > 0


def test_tfds_rgb_and_default_splits():
  with tfds.testing.mock_data(num_examples=3):
    ds = data.load("tfds:cifar10")
  assert ds.event_shape == (32, 32, 3)
  assert ds.train.shape == (3, 32, 32, 3)
  assert ds.valid is None and ds.test is None and ds.test_labels is None


def test_tfds_num_levels_option_is_checked():
  with tfds.testing.mock_data(num_examples=3):
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
      data.load("tfds:mnist", num_levels=2)


def test_tfds_not_prepared_says_how_to_prepare(tmp_path):
  # download=False inside: this must fail at once, never try the network.
  with pytest.raises(ValueError, match=r"tfds build mnist.*tfds-prepare|"
                     r"tfds-prepare[\s\S]*tfds build mnist"):
    data.load("tfds:mnist", data_dir=tmp_path)


def test_tfds_unknown_dataset():
  with pytest.raises(ValueError, match="no dataset"):
    data.load("tfds:no_such_dataset_xyz")


def test_cifar10_experiment_config_reads_its_three_splits():
  """The CIFAR-10 configs validate on the last 10% of train and report on test (mock data)."""
  import os  # pylint: disable=g-import-not-at-top
  from armodels_jax import training  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  cfg = training.load_config(os.path.join(repo, "experiments", "configs", "pixelcnn_cifar10.py"))
  with tfds.testing.mock_data(num_examples=20):
    ds = data.load(cfg.data.name, **training.config.data_options(cfg))
  assert ds.event_shape == (32, 32, 3) and ds.num_levels == 256
  # mock_data serves every split (slices included) with num_examples rows; the slicing is tfds's.
  assert ds.valid is not None and ds.test is not None and ds.train.shape[0] == 20
  assert (cfg.data.train_split, cfg.data.valid_split, cfg.data.test_split) == (
      "train[:90%]", "train[90%:]", "test")
