"""The model registry behind ``arm.models.create`` and ``arm.models.names``."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from armodels_jax.models.base import ARModel

SIZES = ("tiny", "small", "paper")
# Fields fixed by create() itself or by the samplers, never by overrides.
_RESERVED = ("event_shape", "num_levels", "decode", "parent", "name")


@dataclasses.dataclass(frozen=True)
class _Entry:
  cls: type
  sizes: Callable[[tuple[int, ...], int, str], dict[str, Any]]


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, cls: type,
             sizes: Callable[[tuple[int, ...], int, str], dict[str, Any]]) -> None:
  """Adds a model class; ``sizes(event_shape, num_levels, size)`` gives the
  keyword arguments of a named size."""
  _REGISTRY[name] = _Entry(cls, sizes)


def names() -> list[str]:
  """Names accepted by :func:`create`, sorted."""
  return sorted(_REGISTRY)


def options(name: str) -> list[str]:
  """Keyword overrides :func:`create` accepts for model ``name``."""
  entry = _lookup(name)
  return sorted(f.name for f in dataclasses.fields(entry.cls)
                if f.name not in _RESERVED)


def _lookup(name: str) -> _Entry:
  if name not in _REGISTRY:
    raise ValueError(f"unknown model name {name!r}; expected one of {names()}")
  return _REGISTRY[name]


def _check_event(event_shape: Any, num_levels: Any, real_valued: bool = False) -> tuple[int, ...]:
  try:
    shape = tuple(int(s) for s in event_shape)
  except TypeError:
    raise ValueError(f"expected event_shape as a tuple of ints, got {event_shape!r}") from None
  if not shape or any(s < 1 for s in shape) or len(shape) not in (1, 3):
    raise ValueError(
        "expected event_shape (D,) for vectors/sequences or (H, W, C) for images, "
        f"with positive sizes, got {event_shape!r}")
  if real_valued:
    if num_levels is not None:
      raise ValueError(f"this model is for real-valued data: expected num_levels=None, got {num_levels!r}")
  elif not isinstance(num_levels, int) or isinstance(num_levels, bool) or num_levels < 2:
    raise ValueError(f"expected an integer num_levels >= 2, got {num_levels!r}")
  return shape


_DEFAULT_LEVELS = object()  # 2 for discrete models, None for real-valued ones.


def create(name: str, event_shape: tuple[int, ...], num_levels: Any = _DEFAULT_LEVELS,
           size: str = "small", **overrides: Any) -> ARModel:
  """Builds a registered model.

  Args:
    name: one of :func:`names`.
    event_shape: ``(H, W, C)`` images or ``(D,)`` vectors.
    num_levels: values per dimension, ``>= 2`` (default 2); None (the default)
      for a real-valued model (RNADE).
    size: ``"tiny"`` (tests), ``"small"`` (minutes on a CPU) or ``"paper"``.
    **overrides: fields of the model class that replace the size's defaults
      (see :func:`options`).

  Returns:
    The (unbound, frozen) flax module.

  Raises:
    ValueError: unknown name, size or option, an event shape / level count
      the model does not support, or a ``dtype`` other than ``"float32"`` and
      (for models with ``mixed_precision``) ``"bfloat16"``.
  """
  entry = _lookup(name)
  real_valued = getattr(entry.cls, "real_valued", False)
  if num_levels is _DEFAULT_LEVELS:
    num_levels = None if real_valued else 2
  shape = _check_event(event_shape, num_levels, real_valued)
  if size not in SIZES:
    raise ValueError(f"unknown size {size!r}; expected one of {list(SIZES)}")
  unknown = sorted(set(overrides) - set(options(name)))
  if unknown:
    raise ValueError(
        f"unknown option(s) {unknown} for model {name!r}; expected some of {options(name)}")
  kwargs = dict(entry.sizes(shape, num_levels, size))
  kwargs.update(overrides)
  model = entry.cls(event_shape=shape, num_levels=num_levels, **kwargs)
  model.check_dtype()
  check = getattr(model, "check_config", None)
  if check is not None:
    check()
  return model
