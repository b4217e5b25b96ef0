"""The embedded default dataset: scikit-learn's bundled handwritten digits.

`sklearn.datasets.load_digits` ships with scikit-learn (no download): 1797
8x8 grayscale images of the digits 0-9 with values 0..16 (the UCI "Optical
Recognition of Handwritten Digits" test set, each pixel a count of on-pixels
in a 4x4 block of a 32x32 bitmap).
"""

from __future__ import annotations

import numpy as np

from armodels_jax.data.dataset import Dataset, as_level_array
from armodels_jax.data.preprocess import binarize as binarize_fn

# The split is a fixed permutation, independent of any training seed.
DIGITS_SPLIT_SEED = 1797
DIGITS_SPLIT_SIZES = (1257, 270, 270)  # train, valid, test: 70 / 15 / 15 %
DIGITS_NUM_LEVELS = 17
DIGITS_BINARIZE_THRESHOLD = 8


def load_digits(*, binarize: bool = False) -> Dataset:
  """Loads scikit-learn's digits as a `Dataset` of 8x8x1 images.

  The 1797 images are split by a fixed permutation
  (`np.random.default_rng(1797)`, independent of any training seed) into
  train = 1257, valid = 270 and test = 270 images (70 / 15 / 15 %), with
  their digit labels 0..9.

  Args:
    binarize: if True, a pixel is 1 where its value is >= 8 (of 0..16) and 0
      otherwise, and `num_levels` is 2; if False, the 17 levels 0..16 are
      kept.

  Returns:
    A `Dataset` named 'digits' with `event_shape=(8, 8, 1)` and
    `num_levels` 17 (or 2 when binarized).
  """
  if not isinstance(binarize, (bool, np.bool_)):
    raise ValueError(
        f"digits: expected option binarize to be True or False, got "
        f"{binarize!r}.")
  from sklearn import datasets as sk_datasets  # pylint: disable=g-import-not-at-top

  bunch = sk_datasets.load_digits()
  images = as_level_array(bunch.images, "digits images", DIGITS_NUM_LEVELS)
  images = images[..., None]  # [1797, 8, 8, 1]
  labels = as_level_array(bunch.target, "digits labels", 10)  # [1797]
  num_levels = DIGITS_NUM_LEVELS
  if binarize:
    images = binarize_fn(images, DIGITS_BINARIZE_THRESHOLD)
    num_levels = 2
  perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(images))
  n_train, n_valid, n_test = DIGITS_SPLIT_SIZES
  assert n_train + n_valid + n_test == len(images), len(images)
  parts = np.split(perm, [n_train, n_train + n_valid])
  return Dataset(
      name="digits",
      train=images[parts[0]], valid=images[parts[1]], test=images[parts[2]],
      train_labels=labels[parts[0]], valid_labels=labels[parts[1]],
      test_labels=labels[parts[2]],
      event_shape=(8, 8, 1), num_levels=num_levels)
