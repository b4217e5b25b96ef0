"""Real-valued tabular data with the k-fold protocol of the RNADE paper.

Uria, Murray & Larochelle 2013, "RNADE: The real-valued neural autoregressive
density-estimator" (NIPS), section 4.1, following Tang, Salakhutdinov & Hinton
2012, "Deep mixtures of factor analysers" (ICML): discrete attributes are
dropped, and one attribute of every pair whose Pearson correlation exceeds 0.98;
results are means over 10 folds (each fold the test set once); every dimension
is standardised by the mean and standard deviation of the training part, and
log-likelihoods are reported on the standardised data. The original fold
assignment was never published: ours is a seeded permutation.

* 'wine_quality_red': the UCI red wine file (Cortez et al. 2009), 1599 rows;
  the integer 'quality' score is dropped, leaving 11 dimensions (no pair of them
  correlates above 0.98: the largest |r| is 0.68).
* 'sklearn_wine': scikit-learn's bundled wine recognition data (178 x 13, no
  download), the embedded real-valued default for tests and demos.

The correlation filter is a fixed property of the data set, computed once on
all rows (it keeps the same attributes in every fold).

Splits of fold f (of K): test = fold f of a permutation of the rows drawn from
`seed`; the other K - 1 folds are the training part, whose last
`valid_fraction` (in the permutation's order) is held out as the validation
split for early stopping and model selection. Mean and standard deviation
(ddof = 0) come from the train split alone; all three splits are standardised
with them.

Dimension glossary used in shape comments:
  N: examples in a split (N_all: rows of the file).
  D: attributes kept.
"""

from __future__ import annotations

import operator
import os
import numpy as np

from armodels_jax.data.dataset import Dataset, as_real_array

CORRELATION_THRESHOLD = 0.98
WINE_RED_COLUMNS = ("fixed acidity", "volatile acidity", "citric acid", "residual sugar",
                    "chlorides", "free sulfur dioxide", "total sulfur dioxide", "density", "pH",
                    "sulphates", "alcohol", "quality")
WINE_RED_DISCRETE = ("quality",)


def correlated_columns(x: np.ndarray, threshold: float = CORRELATION_THRESHOLD) -> list[int]:
  """The columns to drop so no remaining pair has ``|Pearson r| > threshold``.

  Pairs are visited in column order; of a correlated pair (i < j) whose column i
  is kept, column j is dropped.

  Args:
    x: ``[N, D]`` real values.
    threshold: the largest |r| allowed between kept columns.

  Returns:
    Sorted column indices to drop.
  """
  x = np.asarray(x, np.float64)
  with np.errstate(invalid="ignore", divide="ignore"):
    r = np.corrcoef(x, rowvar=False)  # [D, D]; NaN for a constant column
  r = np.atleast_2d(r)
  dropped: set[int] = set()
  for i in range(x.shape[1]):
    if i in dropped:
      continue
    for j in range(i + 1, x.shape[1]):
      if j not in dropped and abs(r[i, j]) > threshold:
        dropped.add(j)
  return sorted(dropped)


def fold_indices(num_rows: int, fold: int, num_folds: int, seed: int,
                 valid_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Row indices of the train, valid and test splits of one fold.

  Args:
    num_rows: N_all.
    fold: the test fold, ``0 <= fold < num_folds``.
    num_folds: K >= 2; fold sizes differ by at most one row.
    seed: seed of the permutation (``np.random.default_rng(seed)``).
    valid_fraction: share of the training part held out as the validation split,
      in ``[0, 1)`` (rounded to whole rows).

  Returns:
    ``(train, valid, test)`` int64 index arrays: disjoint, covering ``range(num_rows)``.

  Raises:
    ValueError: an option out of range, or too few rows for the folds.
  """
  num_folds = _int_option("num_folds", num_folds)
  fold = _int_option("fold", fold)
  seed = _int_option("seed", seed)
  if num_folds < 2:
    raise ValueError(f"expected num_folds >= 2, got {num_folds}.")
  if not 0 <= fold < num_folds:
    raise ValueError(f"expected fold in [0, {num_folds}), got {fold}.")
  if seed < 0:
    raise ValueError(f"expected a non-negative seed, got {seed}.")
  if (isinstance(valid_fraction, bool) or not isinstance(valid_fraction, (int, float))
      or not 0.0 <= valid_fraction < 1.0):
    raise ValueError(f"expected valid_fraction in [0, 1), got {valid_fraction!r}.")
  if num_rows < 2 * num_folds:
    raise ValueError(f"expected at least {2 * num_folds} rows for {num_folds} folds, got {num_rows}.")
  perm = np.random.default_rng(seed).permutation(num_rows)
  folds = np.array_split(perm, num_folds)
  test = folds[fold]
  rest = np.concatenate([f for k, f in enumerate(folds) if k != fold])
  num_valid = int(round(valid_fraction * len(rest)))
  num_valid = min(num_valid, len(rest) - 1)
  return rest[:len(rest) - num_valid], rest[len(rest) - num_valid:], test


def _int_option(name: str, value) -> int:
  try:
    return operator.index(value)
  except TypeError:
    raise ValueError(f"expected an integer {name}, got {value!r}.") from None


def k_fold_dataset(name: str, x: np.ndarray, *, fold: int, num_folds: int, seed: int,
                   valid_fraction: float, standardize: bool = True) -> Dataset:
  """Splits ``[N_all, D]`` real data into one fold's standardised train / valid / test.

  Args:
    name: the dataset's name.
    x: ``[N_all, D]`` real values (attributes already selected).
    fold, num_folds, seed, valid_fraction: see :func:`fold_indices`.
    standardize: subtract the train split's mean and divide by its standard
      deviation (a constant column is only centred).

  Returns:
    A real-valued `Dataset` (``num_levels=None``), ``event_shape=(D,)``; ``valid``
    is None when ``valid_fraction`` holds out no row.
  """
  x = as_real_array(x, f"{name} data").astype(np.float64)
  if x.ndim != 2:
    raise ValueError(f"{name}: expected a table [N, D], got shape {x.shape}.")
  train_idx, valid_idx, test_idx = fold_indices(len(x), fold, num_folds, seed, valid_fraction)
  train = x[train_idx]  # [N, D]
  if standardize:
    mean = train.mean(0)  # [D]
    std = train.std(0)  # [D]
    std = np.where(std > 0, std, 1.0)
  else:
    mean, std = np.zeros(x.shape[1]), np.ones(x.shape[1])
  scale = lambda idx: ((x[idx] - mean) / std).astype(np.float32)  # noqa: E731
  return Dataset(
      name=name, train=scale(train_idx), valid=scale(valid_idx) if len(valid_idx) else None,
      test=scale(test_idx), train_labels=None, valid_labels=None, test_labels=None,
      event_shape=(x.shape[1],), num_levels=None)


def read_wine_quality(path: str | os.PathLike) -> np.ndarray:
  """Reads a UCI Wine Quality CSV (`;`-separated, quoted header) as float64 ``[N_all, 12]``.

  Raises:
    FileNotFoundError: no such file.
    ValueError: a header or row that is not the UCI format.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"No such wine quality file: {path!r}.")
  with open(path) as f:
    header = [h.strip().strip('"') for h in f.readline().strip().split(";")]
  if tuple(header) != WINE_RED_COLUMNS:
    raise ValueError(f"{path}: expected the UCI header {list(WINE_RED_COLUMNS)}, got {header}.")
  try:
    table = np.loadtxt(path, delimiter=";", skiprows=1, dtype=np.float64, ndmin=2)
  except ValueError as e:
    raise ValueError(f"{path}: expected {len(WINE_RED_COLUMNS)} numbers per row: {e}") from None
  if table.shape[1] != len(WINE_RED_COLUMNS):
    raise ValueError(f"{path}: expected {len(WINE_RED_COLUMNS)} columns, got {table.shape[1]}.")
  return table


def _kept_attributes(table: np.ndarray, columns: tuple[str, ...], discrete: tuple[str, ...]):
  continuous = [i for i, c in enumerate(columns) if c not in discrete]
  x = table[:, continuous]
  drop = set(correlated_columns(x))
  keep = [k for k in range(x.shape[1]) if k not in drop]
  return x[:, keep], tuple(columns[continuous[k]] for k in keep)


def load_wine_quality_red(*, path: str | os.PathLike, fold: int = 0, num_folds: int = 10,
                          seed: int = 0, valid_fraction: float = 0.1) -> Dataset:
  """The UCI red wine data (1599 x 11 after dropping 'quality'), one fold of K.

  Args:
    path: ``winequality-red.csv``, the original UCI file (e.g.
      ``../shared/data/wine_quality_red/winequality-red.csv`` beside the repository).
    fold: the test fold, ``0 <= fold < num_folds``.
    num_folds: K (10 in the paper).
    seed: seed of the fold permutation.
    valid_fraction: share of the training folds held out for validation.

  Returns:
    A real-valued `Dataset` named 'wine_quality_red', ``event_shape=(11,)``, standardised by the
    train split's statistics; no labels.
  """
  table = read_wine_quality(path)
  x, _ = _kept_attributes(table, WINE_RED_COLUMNS, WINE_RED_DISCRETE)
  return k_fold_dataset("wine_quality_red", x, fold=fold, num_folds=num_folds, seed=seed,
                        valid_fraction=valid_fraction)


def load_sklearn_wine(*, fold: int = 0, num_folds: int = 10, seed: int = 0,
                      valid_fraction: float = 0.1) -> Dataset:
  """scikit-learn's bundled wine recognition data (178 x 13, embedded), one fold of K.

  The 13 chemical measurements are all kept as real values (the cultivar class
  is not used, and no pair correlates above 0.98).

  Args:
    fold, num_folds, seed, valid_fraction: as :func:`load_wine_quality_red`.

  Returns:
    A real-valued `Dataset` named 'sklearn_wine', ``event_shape=(13,)``.
  """
  from sklearn import datasets as sk_datasets  # pylint: disable=g-import-not-at-top

  x = np.asarray(sk_datasets.load_wine().data, np.float64)  # [178, 13]
  drop = set(correlated_columns(x))
  x = x[:, [k for k in range(x.shape[1]) if k not in drop]]
  return k_fold_dataset("sklearn_wine", x, fold=fold, num_folds=num_folds, seed=seed,
                        valid_fraction=valid_fraction)

