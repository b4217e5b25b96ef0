"""Datasets from local files: binarized MNIST, original MNIST IDX, any `.npz`.

No function here reaches the network: every path is given by the caller.
"""

from __future__ import annotations

import operator
import os
from typing import Optional, Sequence

import numpy as np

from armodels_jax.data import idx
from armodels_jax.data.dataset import (Dataset, as_level_array,
                                       image_event_shape, reshape_examples)
from armodels_jax.data.preprocess import binarize as binarize_fn
from armodels_jax.data.preprocess import stochastic_binarize

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
MNIST_NUM_TRAIN = 50000  # the first 50000 of the training file; the last 10000 are valid
MNIST_THRESHOLD = 128  # binarize='threshold': pixel >= 128 (intensity > 0.5) -> 1
_BINARIZE_MODES = (None, "threshold", "stochastic")


class _Default(str):
  """A default key, told apart from a key the caller passed explicitly."""


def _open_npz(path) -> dict:
  """Loads every array of an `.npz` file (no pickles) into a dict."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"No such .npz file: {path!r}.")
  loaded = np.load(path, allow_pickle=False)
  if not isinstance(loaded, np.lib.npyio.NpzFile):
    raise ValueError(f"{path}: expected an .npz archive, got a single array.")
  with loaded:
    return {k: loaded[k] for k in loaded.files}


def _missing_key(path, key, arrays) -> ValueError:
  return ValueError(
      f"{path}: expected key {key!r}, got keys {sorted(arrays)}.")


def load_binarized_mnist(*, path: str | os.PathLike) -> Dataset:
  """Loads the fixed binarization of MNIST (Larochelle & Murray, 2011).

  Args:
    path: an `.npz` with uint8 {0, 1} arrays `train` (50000, 28, 28) and
      `valid` (10000, 28, 28), and optionally `test` (10000, 28, 28); each
      row may also be a flat 784-vector.

  Returns:
    A `Dataset` named 'binarized_mnist' with `event_shape=(28, 28, 1)`,
    `num_levels=2`, no labels, and `test=None` when the file has no `test`.
  """
  arrays = _open_npz(path)
  splits = {}
  for split in ("train", "valid", "test"):
    if split not in arrays:
      if split == "test":
        splits[split] = None
        continue
      raise _missing_key(path, split, arrays)
    x = reshape_examples(arrays[split], (28, 28, 1), f"{path}[{split!r}]")
    splits[split] = as_level_array(x, f"{path}[{split!r}]", 2)
  return Dataset(name="binarized_mnist", train_labels=None, valid_labels=None,
                 test_labels=None, event_shape=(28, 28, 1), num_levels=2,
                 **splits)


def load_mnist(*, path: str | os.PathLike, binarize: Optional[str] = None,
               binarize_seed: int = 0) -> Dataset:
  """Loads MNIST from the four original IDX `.gz` files.

  The standard split: train = the first 50000 images of the training file,
  valid = its last 10000, test = the 10000 t10k images; with labels 0..9.

  Args:
    path: a directory with `train-images-idx3-ubyte.gz`,
      `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz` and
      `t10k-labels-idx1-ubyte.gz`.
    binarize: None keeps the 256 gray levels; 'threshold' maps a pixel to 1
      where it is >= 128 (intensity > 0.5); 'stochastic' draws each pixel
      once from Bernoulli(pixel / 255) with `binarize_seed` (the training
      file and the t10k file use the streams `[binarize_seed, 0]` and
      `[binarize_seed, 1]`).
    binarize_seed: the non-negative seed of the stochastic binarization.

  Returns:
    A `Dataset` named 'mnist' with `event_shape=(28, 28, 1)` and
    `num_levels` 256 (2 when binarized).
  """
  if binarize not in _BINARIZE_MODES:
    raise ValueError(
        f"mnist: expected option binarize in {_BINARIZE_MODES}, got "
        f"{binarize!r}.")
  path = os.fspath(path)
  files = {k: os.path.join(path, v) for k, v in MNIST_FILES.items()}
  missing = [f for f in files.values() if not os.path.exists(f)]
  if missing:
    raise FileNotFoundError(f"mnist: missing IDX files {missing}.")
  read = idx.read_idx
  train_images = read(files["train_images"], idx.MNIST_IMAGES_MAGIC)  # [60000, 28, 28]
  train_labels = read(files["train_labels"], idx.MNIST_LABELS_MAGIC)  # [60000]
  test_images = read(files["test_images"], idx.MNIST_IMAGES_MAGIC)  # [10000, 28, 28]
  test_labels = read(files["test_labels"], idx.MNIST_LABELS_MAGIC)  # [10000]
  for images, labels, name in ((train_images, train_labels, "train"),
                               (test_images, test_labels, "t10k")):
    if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
      raise ValueError(
          f"mnist: expected {name} images (N, 28, 28) and labels (N,), got "
          f"{images.shape} and {labels.shape}.")
  if train_images.shape[0] <= MNIST_NUM_TRAIN:
    raise ValueError(
        f"mnist: expected more than {MNIST_NUM_TRAIN} training images, got "
        f"{train_images.shape[0]}.")
  num_levels = 256
  if binarize == "threshold":
    train_images = binarize_fn(train_images, MNIST_THRESHOLD)
    test_images = binarize_fn(test_images, MNIST_THRESHOLD)
    num_levels = 2
  elif binarize == "stochastic":
    try:
      seed = operator.index(binarize_seed)
    except TypeError:
      seed = -1
    if seed < 0:
      raise ValueError(
          "mnist: expected option binarize_seed to be a non-negative integer, "
          f"got {binarize_seed!r}.")
    train_images = stochastic_binarize(train_images, 256, [seed, 0])
    test_images = stochastic_binarize(test_images, 256, [seed, 1])
    num_levels = 2
  train_images = train_images[..., None]  # [60000, 28, 28, 1]
  test_images = test_images[..., None]  # [10000, 28, 28, 1]
  k = MNIST_NUM_TRAIN
  return Dataset(
      name="mnist",
      train=train_images[:k], valid=train_images[k:], test=test_images,
      train_labels=train_labels[:k], valid_labels=train_labels[k:],
      test_labels=test_labels, event_shape=(28, 28, 1), num_levels=num_levels)


def load_npz(*, path: str | os.PathLike, train_key: str = _Default("train"),
             valid_key: Optional[str] = _Default("valid"),
             test_key: Optional[str] = _Default("test"),
             event_shape: Optional[Sequence[int]] = None,
             num_levels: Optional[int] = None) -> Dataset:
  """Loads integer-valued splits from any `.npz` file.

  Args:
    path: the `.npz` file (loaded without pickles).
    train_key: the key of the training array (required to exist).
    valid_key: the key of the validation array. A default key that is
      missing gives `valid=None`; a key passed explicitly must exist; pass
      None to skip the split.
    test_key: as `valid_key`, for the test split.
    event_shape: the shape of one example; each example is reshaped
      row-major to it. Default: the per-example shape of the train array,
      with a trailing channel axis added when it is 2-D (`(N, H, W)` gives
      `(H, W, 1)`).
    num_levels: the number of levels. Default: the maximum value over all
      splits plus one, and at least 2.

  Returns:
    A `Dataset` named 'npz' without labels.

  Raises:
    ValueError: for a missing key, a size that does not match `event_shape`,
      or values that are not integers in `[0, num_levels)`.
  """
  arrays = _open_npz(path)
  keys = {"train": train_key, "valid": valid_key, "test": test_key}
  if train_key is None:
    raise ValueError("npz: expected a train_key, got None.")
  raw = {}
  for split, key in keys.items():
    if key is None:
      raw[split] = None
    elif key in arrays:
      raw[split] = arrays[key]
    elif isinstance(key, _Default) and split != "train":
      raw[split] = None
    else:
      raise _missing_key(path, key, arrays)
  if event_shape is None:
    event_shape = image_event_shape(raw["train"].shape[1:])
  event_shape = tuple(int(d) for d in event_shape)
  splits = {}
  for split, x in raw.items():
    if x is not None:
      what = f"{os.fspath(path)}[{keys[split]!r}]"
      x = reshape_examples(x, event_shape, what)
      x = as_level_array(x, what, None if num_levels is None else int(num_levels))
    splits[split] = x
  if num_levels is None:
    num_levels = max(2, max(int(x.max()) + 1 for x in splits.values()
                            if x is not None and x.size))
  return Dataset(name="npz", train_labels=None, valid_labels=None,
                 test_labels=None, event_shape=event_shape,
                 num_levels=int(num_levels), **splits)


def load_array(path: str | os.PathLike, key: str, event_shape: Sequence[int],
               num_levels: Optional[int]) -> np.ndarray:
  """Loads one array of an `.npz` for a model's event shape (`eval --npz`).

  Any array whose per-example size equals `prod(event_shape)` is accepted
  and reshaped row-major: e.g. `(N, 28, 28)` for a `(28, 28, 1)` or a
  `(784,)` model.

  Args:
    path: the `.npz` file (loaded without pickles).
    key: the key of the array in the file.
    event_shape: the model's event shape.
    num_levels: the model's number of levels; values must be integers in
      `[0, num_levels)`. None (real-valued models such as RNADE) returns
      finite float32 values instead.

  Returns:
    int32 `(N, *event_shape)` (float32 when `num_levels` is None).

  Raises:
    ValueError: if the key is missing (the message lists the keys present),
      the per-example size differs from `prod(event_shape)`, the dtype is
      not integer/bool (or float with integral values), or a value is
      outside `[0, num_levels)`.
  """
  arrays = _open_npz(path)
  if key not in arrays:
    raise _missing_key(path, key, arrays)
  what = f"{os.fspath(path)}[{key!r}]"
  x = reshape_examples(arrays[key], event_shape, what)
  if num_levels is None:
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
      raise ValueError(f"{what}: expected a numeric array, got dtype {x.dtype}.")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
      raise ValueError(f"{what}: expected finite values, got NaN or inf.")
    return x
  if int(num_levels) < 2:
    raise ValueError(f"load_array: expected num_levels >= 2, got {num_levels}.")
  return as_level_array(x, what, int(num_levels))
