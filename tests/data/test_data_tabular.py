"""Tests of the real-valued k-fold datasets ('sklearn_wine', 'wine_quality_red') and of real-valued
`Dataset`s. Tests that read the shared UCI file (``../shared/data/wine_quality_red`` beside the
repository) skip wherever it is absent: in a fresh clone and in CI, which do not have that folder."""

import os

import numpy as np
import pytest
from sklearn import datasets as sk_datasets

from armodels_jax import data
from armodels_jax.data import tabular
from armodels_jax.data.dataset import Dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WINE_RED = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "wine_quality_red",
                                         "winequality-red.csv"))
needs_shared = pytest.mark.skipif(not os.path.isfile(WINE_RED), reason="no ../shared wine file")


def _sorted_rows(x):
  x = np.asarray(x, np.float64)
  return x[np.lexsort(x.T[::-1])]


@pytest.mark.parametrize("num_rows,num_folds,valid_fraction", [(178, 10, 0.1), (23, 4, 0.25),
                                                               (1599, 10, 0.0)])
def test_folds_are_disjoint_and_cover_the_rows(num_rows, num_folds, valid_fraction):
  tests = []
  for fold in range(num_folds):
    train, valid, test = tabular.fold_indices(num_rows, fold, num_folds, 0, valid_fraction)
    every = np.concatenate([train, valid, test])
    assert len(every) == num_rows and len(np.unique(every)) == num_rows  # a partition of the rows
    assert abs(len(test) - num_rows / num_folds) < 1
    assert len(valid) == round(valid_fraction * (len(train) + len(valid)))
    tests.append(test)
  # The test folds partition the rows too: every row is tested exactly once.
  np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(num_rows))
  # The seed picks the permutation.
  a = tabular.fold_indices(num_rows, 0, num_folds, 0, valid_fraction)[2]
  b = tabular.fold_indices(num_rows, 0, num_folds, 1, valid_fraction)[2]
  assert not np.array_equal(np.sort(a), np.sort(b))


def test_sklearn_wine_standardised_by_the_train_split():
  bunch = sk_datasets.load_wine()
  for fold in (0, 7):
    ds = data.load("sklearn_wine", fold=fold)
    assert ds.name == "sklearn_wine" and ds.num_levels is None and ds.event_shape == (13,)
    assert ds.train_labels is None
    sizes = [len(ds.train), len(ds.valid), len(ds.test)]
    assert sum(sizes) == 178 and len(ds.test) in (17, 18) and len(ds.valid) == 16
    for split in ("train", "valid", "test"):
      assert ds.split(split).dtype == np.float32
      assert not ds.split(split).flags.writeable
    np.testing.assert_allclose(ds.train.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.train.std(0), 1.0, atol=1e-5)
    assert np.abs(ds.test.mean(0)).max() > 1e-3  # the test split is not standardised by itself
    # Undoing the train split's standardisation gives back the original rows, all of them once.
    train_idx, _, _ = tabular.fold_indices(178, fold, 10, 0, 0.1)
    raw_train = bunch.data[train_idx]
    mean, std = raw_train.mean(0), raw_train.std(0)
    restored = np.concatenate([ds.train, ds.valid, ds.test]).astype(np.float64) * std + mean
    np.testing.assert_allclose(_sorted_rows(restored), _sorted_rows(bunch.data), rtol=1e-5, atol=1e-3)


def test_options_are_checked():
  with pytest.raises(ValueError, match=r"fold in \[0, 10\)"):
    data.load("sklearn_wine", fold=10)
  with pytest.raises(ValueError, match="num_folds >= 2"):
    data.load("sklearn_wine", num_folds=1)
  with pytest.raises(ValueError, match="valid_fraction"):
    data.load("sklearn_wine", valid_fraction=1.0)
  with pytest.raises(ValueError, match="integer fold"):
    data.load("sklearn_wine", fold=1.5)
  with pytest.raises(ValueError, match=r"\['path'\]"):
    data.load("wine_quality_red")
  with pytest.raises(ValueError, match="unknown option"):
    data.load("sklearn_wine", folds=3)
  ds = data.load("sklearn_wine", valid_fraction=0.0)
  assert ds.valid is None and len(ds.train) + len(ds.test) == 178


def test_correlated_columns_drops_one_of_each_pair():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 500))
  x = np.stack([a, b, a * 2.0 + 1e-3 * rng.normal(size=500), -b, rng.normal(size=500)], -1)
  assert tabular.correlated_columns(x) == [2, 3]
  assert tabular.correlated_columns(x[:, [0, 1, 4]]) == []


def test_real_valued_dataset_checks_values():
  x = np.zeros((4, 3), np.float64)
  ds = Dataset(name="t", train=x, valid=None, test=None, train_labels=None, valid_labels=None,
               test_labels=None, event_shape=(3,), num_levels=None)
  assert ds.train.dtype == np.float32 and ds.num_levels is None
  x[1, 1] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    Dataset(name="t", train=x, valid=None, test=None, train_labels=None, valid_labels=None,
            test_labels=None, event_shape=(3,), num_levels=None)
  with pytest.raises(ValueError, match="or None for real-valued"):
    Dataset(name="t", train=np.zeros((4, 3)), valid=None, test=None, train_labels=None,
            valid_labels=None, test_labels=None, event_shape=(3,), num_levels=1)


def test_wine_file_errors(tmp_path):
  with pytest.raises(FileNotFoundError):
    data.load("wine_quality_red", path=str(tmp_path / "missing.csv"))
  bad = tmp_path / "bad.csv"
  bad.write_text("a;b;c\n1;2;3\n")
  with pytest.raises(ValueError, match="UCI header"):
    data.load("wine_quality_red", path=str(bad))


def test_wine_quality_red_from_a_small_file(tmp_path):
  """The loader on a synthetic file in the UCI format: 'quality' dropped, folds, standardisation."""
  rng = np.random.default_rng(1)
  table = np.concatenate([rng.normal(5.0, 2.0, (40, 11)), rng.integers(3, 9, (40, 1))], -1)
  header = ";".join(f'"{c}"' for c in tabular.WINE_RED_COLUMNS)
  path = tmp_path / "winequality-red.csv"
  np.savetxt(path, table, delimiter=";", header=header, comments="", fmt="%.6g")
  ds = data.load("wine_quality_red", path=str(path), fold=2, num_folds=4)
  assert ds.event_shape == (11,) and (len(ds.train), len(ds.valid), len(ds.test)) == (27, 3, 10)
  np.testing.assert_allclose(ds.train.mean(0), 0.0, atol=1e-5)
  train_idx, valid_idx, test_idx = tabular.fold_indices(40, 2, 4, 0, 0.1)
  x = np.loadtxt(path, delimiter=";", skiprows=1)[:, :11]
  mean, std = x[train_idx].mean(0), x[train_idx].std(0)
  np.testing.assert_allclose(ds.test, (x[test_idx] - mean) / std, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(ds.valid, (x[valid_idx] - mean) / std, rtol=1e-5, atol=1e-5)


@needs_shared
def test_wine_quality_red_shared_file():
  ds = data.load("wine_quality_red", path=WINE_RED, fold=0)
  assert ds.event_shape == (11,) and ds.num_levels is None  # 'quality' dropped, nothing correlated
  assert (len(ds.train), len(ds.valid), len(ds.test)) == (1295, 144, 160)
  np.testing.assert_allclose(ds.train.std(0), 1.0, atol=1e-5)
  tests = [data.load("wine_quality_red", path=WINE_RED, fold=f).test for f in range(10)]
  assert sum(len(t) for t in tests) == 1599
