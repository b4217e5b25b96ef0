"""The `Dataset` container and the value checks every loader shares.

Dimension glossary used in shape comments:
  N: number of examples in a split.
  H, W, C: image height, width and channels (C is always explicit).
  D: size of one example, prod(event_shape).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np

SPLITS = ("train", "valid", "test")


def as_level_array(x, what: str, num_levels: Optional[int] = None) -> np.ndarray:
  """Returns `x` as an int32 array after checking it holds integer levels.

  Args:
    x: array-like of bool, integer or integral float values.
    what: a name for `x` in error messages (e.g. "split 'train'").
    num_levels: if given, every value must lie in `[0, num_levels)`; if None,
      values must only be non-negative and fit in int32.

  Returns:
    An int32 array with the shape of `x`.

  Raises:
    ValueError: if `x` is not numeric, holds NaN/inf or non-integral floats, or
      has values outside `[0, num_levels)`.
  """
  x = np.asarray(x)
  if x.dtype == np.bool_:
    return x.astype(np.int32)
  if np.issubdtype(x.dtype, np.floating):
    if x.size and not np.all(np.isfinite(x)):
      raise ValueError(f"{what}: expected finite integer levels, got NaN or inf.")
    if x.size and not np.all(x == np.round(x)):
      raise ValueError(
          f"{what}: expected integer levels, got float values that are not "
          f"integral (dtype {x.dtype}).")
  elif not np.issubdtype(x.dtype, np.integer):
    raise ValueError(
        f"{what}: expected an integer, bool or integral float array, got dtype "
        f"{x.dtype}.")
  if x.size:
    lo, hi = x.min(), x.max()
    upper = num_levels if num_levels is not None else 2**31 - 1
    if lo < 0 or hi >= upper:
      expected = f"[0, {upper})"
      raise ValueError(
          f"{what}: expected values in {expected}, got values in [{lo}, {hi}].")
  if num_levels is not None and num_levels > np.iinfo(np.int32).max:
    raise ValueError(f"{what}: num_levels {num_levels} does not fit in int32.")
  return x.astype(np.int32)


def as_real_array(x, what: str) -> np.ndarray:
  """Returns `x` as a float32 array after checking it holds finite real numbers.

  Args:
    x: array-like of bool, integer or float values.
    what: a name for `x` in error messages.

  Returns:
    A float32 array with the shape of `x`.

  Raises:
    ValueError: if `x` is not numeric or holds NaN or inf.
  """
  x = np.asarray(x)
  if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
          or x.dtype == np.bool_):
    raise ValueError(f"{what}: expected a real-valued (float) array, got dtype {x.dtype}.")
  x = x.astype(np.float32)
  if x.size and not np.all(np.isfinite(x)):
    bad = "NaN" if np.isnan(x).any() else "inf"
    raise ValueError(f"{what}: expected finite real values, got {bad}.")
  return x


def reshape_examples(x: np.ndarray, event_shape: Sequence[int],
                     what: str) -> np.ndarray:
  """Reshapes `(N, ...)` row-major to `(N, *event_shape)`.

  Args:
    x: an array whose first axis indexes examples.
    event_shape: the shape of one example after reshaping.
    what: a name for `x` in error messages.

  Returns:
    `x` reshaped to `(N, *event_shape)`.

  Raises:
    ValueError: if `x` has no example axis or the per-example size differs
      from `prod(event_shape)`.
  """
  event_shape = tuple(int(d) for d in event_shape)
  if x.ndim < 1:
    raise ValueError(f"{what}: expected an array of shape (N, ...), got a scalar.")
  per_example = math.prod(x.shape[1:])
  if per_example != math.prod(event_shape):
    raise ValueError(
        f"{what}: expected examples of size prod({event_shape}) = "
        f"{math.prod(event_shape)}, got shape {x.shape} (size {per_example} "
        "per example).")
  return x.reshape((x.shape[0],) + event_shape)


def image_event_shape(example_shape: Sequence[int]) -> tuple:
  """Adds the explicit channel axis to a 2-D `(H, W)` example shape."""
  example_shape = tuple(int(d) for d in example_shape)
  if len(example_shape) == 2:
    return example_shape + (1,)
  return example_shape


def _frozen(x: Optional[np.ndarray]) -> Optional[np.ndarray]:
  if x is not None:
    x.flags.writeable = False
  return x


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
  """A dataset of discrete (or real-valued) events, split into train / valid / test.

  The arrays are read-only NumPy arrays: copy one (`np.array(ds.train)`) to
  modify it.

  Attributes:
    name: the name it was loaded by (e.g. 'digits', 'tfds:mnist').
    train: int32 `(N_train, *event_shape)`, values in `[0, num_levels)`; float32
      when `num_levels` is None (real-valued data, e.g. 'wine_quality_red').
    valid: int32 `(N_valid, *event_shape)` or None.
    test: int32 `(N_test, *event_shape)` or None (e.g. a withheld split).
    train_labels: int32 `(N_train,)` class labels, or None.
    valid_labels: int32 `(N_valid,)` or None.
    test_labels: int32 `(N_test,)` or None.
    event_shape: the shape of one example; images are `(H, W, C)`.
    num_levels: the number of discrete values a dimension can take; None for
      real-valued data.
    train_features, valid_features, test_features: float32 `(N, ...)`
      per-example conditioning features, or None: a per-frame track
      `(N, frames, F)` (WaveNet's local condition) or a vector `(N, G)` (a
      global condition). `make_cond` turns them, with the labels, into the
      models' `cond`.
    info: JSON-serialisable facts a user of the trained model needs, saved
      with the checkpoint (in `model.json`): e.g. `{'kind': 'text', 'vocab':
      [...]}` or `{'kind': 'audio', 'sample_rate': 8000, 'quantization':
      'mu_law'}`. Empty for images and vectors.
  """

  name: str
  train: np.ndarray
  valid: Optional[np.ndarray]
  test: Optional[np.ndarray]
  train_labels: Optional[np.ndarray]
  valid_labels: Optional[np.ndarray]
  test_labels: Optional[np.ndarray]
  event_shape: tuple
  num_levels: Optional[int]
  train_features: Optional[np.ndarray] = None
  valid_features: Optional[np.ndarray] = None
  test_features: Optional[np.ndarray] = None
  info: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    event_shape = tuple(int(d) for d in self.event_shape)
    object.__setattr__(self, "event_shape", event_shape)
    real_valued = self.num_levels is None
    if not real_valued:
      if (not isinstance(self.num_levels, (int, np.integer)) or isinstance(self.num_levels, bool)
          or self.num_levels < 2):
        raise ValueError(
            f"Dataset {self.name!r}: expected an integer num_levels >= 2 (or None for "
            f"real-valued data), got {self.num_levels!r}.")
      object.__setattr__(self, "num_levels", int(self.num_levels))
    if self.train is None:
      raise ValueError(f"Dataset {self.name!r}: the train split is required.")
    for split in SPLITS:
      x = getattr(self, split)
      labels = getattr(self, f"{split}_labels")
      if x is None:
        if labels is not None:
          raise ValueError(
              f"Dataset {self.name!r}: {split}_labels given without a {split} "
              "split.")
        continue
      what = f"Dataset {self.name!r}, split {split!r}"
      if not isinstance(x, np.ndarray) or x.shape[1:] != event_shape:
        raise ValueError(
            f"{what}: expected an array of shape (N, *{event_shape}), got "
            f"{getattr(x, 'shape', type(x))}.")
      values = as_real_array(x, what) if real_valued else as_level_array(x, what, self.num_levels)
      object.__setattr__(self, split, _frozen(values))
      if labels is not None:
        labels = as_level_array(labels, f"{what} labels")
        if labels.shape != (x.shape[0],):
          raise ValueError(
              f"{what}: expected labels of shape ({x.shape[0]},), got "
              f"{labels.shape}.")
        object.__setattr__(self, f"{split}_labels", _frozen(labels))
    for split in SPLITS:
      x, features = getattr(self, split), getattr(self, f"{split}_features")
      if features is None:
        continue
      what = f"Dataset {self.name!r}, split {split!r} features"
      if x is None:
        raise ValueError(f"{what}: given without a {split} split.")
      features = as_real_array(features, what)
      if features.ndim < 2 or features.shape[0] != x.shape[0]:
        raise ValueError(
            f"{what}: expected an array of shape ({x.shape[0]}, ...), got {features.shape}.")
      object.__setattr__(self, f"{split}_features", _frozen(features))
    if not isinstance(self.info, dict):
      raise ValueError(f"Dataset {self.name!r}: expected info as a dict, got {type(self.info).__name__}.")

  def split(self, split: str) -> Optional[np.ndarray]:
    """Returns the array of split 'train', 'valid' or 'test' (maybe None)."""
    if split not in SPLITS:
      raise ValueError(f"Expected a split in {SPLITS}, got {split!r}.")
    return getattr(self, split)

  def labels(self, split: str) -> Optional[np.ndarray]:
    """Returns the labels of split 'train', 'valid' or 'test' (maybe None)."""
    if split not in SPLITS:
      raise ValueError(f"Expected a split in {SPLITS}, got {split!r}.")
    return getattr(self, f"{split}_labels")

  def features(self, split: str) -> Optional[np.ndarray]:
    """Returns the conditioning features of a split (maybe None)."""
    if split not in SPLITS:
      raise ValueError(f"Expected a split in {SPLITS}, got {split!r}.")
    return getattr(self, f"{split}_features")

  def __repr__(self) -> str:
    def shape(x):
      return None if x is None else x.shape
    parts = ", ".join(f"{s}={shape(getattr(self, s))}" for s in SPLITS)
    has_labels = self.train_labels is not None
    return (f"Dataset(name={self.name!r}, {parts}, event_shape="
            f"{self.event_shape}, num_levels={self.num_levels}, "
            f"labels={has_labels}, features={self.train_features is not None})")


def make_cond(labels, features):
  """The `cond` a conditional model takes, from a batch's labels and features.

  Args:
    labels: int `[B]` class labels, or None.
    features: float `[B, frames, F]` (a local, per-frame track) or `[B, G]`
      (a global vector), or None.

  Returns:
    None when both are None; `labels` alone; otherwise a dict with the key
    `'label'` (when labels are given) and `'local'` (3-D features) or
    `'global'` (2-D features).
  """
  if features is None:
    return labels
  cond = {"local" if features.ndim == 3 else "global": features}
  if labels is not None:
    cond["label"] = labels
  return cond
