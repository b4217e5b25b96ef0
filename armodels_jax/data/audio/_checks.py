"""Argument checks shared by the audio modules (``ValueError`` naming what was expected).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _positive_int(value, what: str) -> int:
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or int(value) < 1):
    raise ValueError(f"Expected {what} as a positive integer, got {value!r}.")
  return int(value)


def _fraction(value, what: str) -> float:
  try:
    value = float(value)
  except (TypeError, ValueError):
    raise ValueError(f"Expected {what} in [0, 1), got {value!r}.") from None
  if not 0.0 <= value < 1.0:
    raise ValueError(f"Expected {what} in [0, 1), got {value!r}.")
  return value


def _choice(value, choices: Sequence, what: str):
  if value not in choices:
    raise ValueError(f"Expected {what} in {tuple(choices)}, got {value!r}.")
  return value


def _float_audio(audio, what: str, ndims=(1,)) -> np.ndarray:
  """Float32 audio after checking rank and finiteness."""
  x = np.asarray(audio)
  if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
    raise ValueError(f"{what}: expected a numeric audio array, got dtype {x.dtype}.")
  if x.ndim not in ndims:
    shapes = " or ".join({1: "[T]", 2: "[T, C]"}[d] for d in ndims)
    raise ValueError(f"{what}: expected audio of shape {shapes}, got shape {x.shape}.")
  x = x.astype(np.float32)
  if x.size and not np.all(np.isfinite(x)):
    raise ValueError(f"{what}: expected finite audio, got NaN or inf.")
  return x
