"""Image datasets prepared by TensorFlow Datasets, read without TensorFlow.

`tfds.data_source` reads datasets that were prepared in the `array_record`
format; it needs no TensorFlow (pillow decodes the images). Preparing a
dataset does need TensorFlow, so this module never prepares or downloads:
with `download=False`, a dataset that is not prepared is an error that says
how to prepare it.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from armodels_jax.data.dataset import Dataset, as_level_array

_PREPARE_HELP = (
    "armodels_jax never downloads or prepares datasets. Prepare it once in the "
    "array_record format, with TensorFlow installed (pip install "
    "'armodels_jax[tfds-prepare]'):\n"
    "  tfds build {name} --file_format=array_record{data_dir_flag}\n"
    "(offline, put the original files in a folder and add --manual_dir=FOLDER)."
)


def _prepare_help(name: str, data_dir: Optional[str]) -> str:
  flag = f" --data_dir={data_dir}" if data_dir else ""
  return _PREPARE_HELP.format(name=name, data_dir_flag=flag)


def _not_prepared_message(tfds, name, split, data_dir, error) -> str:
  """Explains why `tfds.data_source` failed, and how to prepare the data."""
  try:
    builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    prepared, where = builder.is_prepared(), builder.data_dir
    file_format = builder.info.file_format
  except Exception:  # pylint: disable=broad-except
    prepared, where, file_format = False, data_dir, None
  if prepared:
    reason = (f"it is prepared at {where} in the {file_format} format, which "
              f"tfds.data_source cannot read ({error})")
  else:
    reason = f"it is not prepared under {where or 'the default data_dir'}"
  return (f"tfds:{name}: cannot read split {split!r}: {reason}.\n"
          + _prepare_help(name, data_dir))


def _read_source(source, what: str):
  """Reads `image` (and `label`) of every record of a tfds data source."""
  n = len(source)
  images, labels = [], []
  for i in range(n):
    record = source[i]
    if "image" not in record:
      raise ValueError(
          f"{what}: expected an 'image' feature, got features "
          f"{sorted(record)}.")
    images.append(np.asarray(record["image"]))
    if "label" in record:
      labels.append(np.asarray(record["label"]))
  if n == 0:
    raise ValueError(f"{what}: the split is empty.")
  shapes = {im.shape for im in images}
  if len(shapes) != 1:
    raise ValueError(
        f"{what}: expected images of one shape, got shapes {sorted(shapes)}.")
  x = np.stack(images)  # [N, H, W, C] (or [N, H, W])
  if x.ndim == 3:
    x = x[..., None]  # [N, H, W, 1]
  if x.ndim != 4:
    raise ValueError(
        f"{what}: expected images of shape (H, W, C) or (H, W), got "
        f"{x.shape[1:]}.")
  y = np.stack(labels) if len(labels) == n else None  # [N]
  return x, y


def load_tfds(name: str, *, train_split: str = "train",
              valid_split: Optional[str] = None,
              test_split: Optional[str] = None,
              data_dir: Optional[str | os.PathLike] = None,
              num_levels: Optional[int] = None) -> Dataset:
  """Loads the `image` (and `label`) feature of a prepared tfds dataset.

  Args:
    name: the tfds name, e.g. 'mnist', 'cifar10' or 'mnist:3.0.1'.
    train_split: the tfds split for training, e.g. 'train' or 'train[:50000]'.
    valid_split: the tfds split for validation, e.g. 'train[50000:]', or None.
    test_split: the tfds split for testing, e.g. 'test', or None.
    data_dir: the tfds data directory (default: tfds' own, usually
      ~/tensorflow_datasets or $TFDS_DATA_DIR).
    num_levels: the number of levels; default 256 for uint8 images, else the
      maximum value over all splits plus one (at least 2).

  Returns:
    A `Dataset` named 'tfds:<name>' with `event_shape=(H, W, C)`, and labels
    when the dataset has a `label` feature.

  Raises:
    ValueError: if the dataset is not prepared (the message says how to
      prepare it), or has no `image` feature, or values are out of range.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  data_dir = None if data_dir is None else os.fspath(data_dir)
  full_name = f"tfds:{name}"
  splits = {"train": train_split, "valid": valid_split, "test": test_split}
  if train_split is None:
    raise ValueError(f"{full_name}: expected a train_split, got None.")
  arrays, labels, uint8 = {}, {}, True
  for split, tfds_split in splits.items():
    if tfds_split is None:
      arrays[split] = labels[split] = None
      continue
    try:
      source = tfds.data_source(name, split=tfds_split, data_dir=data_dir,
                                download=False, try_gcs=False)
    except tfds.core.registered.DatasetNotFoundError as e:
      raise ValueError(
          f"{full_name}: tfds has no dataset {name!r}.") from e
    except (AssertionError, FileNotFoundError, NotImplementedError,
            OSError) as e:
      raise ValueError(_not_prepared_message(tfds, name, tfds_split,
                                             data_dir, e)) from e
    what = f"{full_name} split {tfds_split!r}"
    x, y = _read_source(source, what)
    uint8 = uint8 and x.dtype == np.uint8
    arrays[split] = as_level_array(
        x, what, None if num_levels is None else int(num_levels))
    labels[split] = None if y is None else as_level_array(y, what + " labels")
  if num_levels is None:
    num_levels = 256 if uint8 else max(
        2, max(int(x.max()) + 1 for x in arrays.values() if x is not None))
  event_shape = arrays["train"].shape[1:]
  for split, x in arrays.items():
    if x is not None and x.shape[1:] != event_shape:
      raise ValueError(
          f"{full_name}: expected every split to have images of shape "
          f"{event_shape}, got {x.shape[1:]} for {split!r}.")
  return Dataset(
      name=full_name, train=arrays["train"], valid=arrays["valid"],
      test=arrays["test"], train_labels=labels["train"],
      valid_labels=labels["valid"], test_labels=labels["test"],
      event_shape=event_shape, num_levels=int(num_levels))
