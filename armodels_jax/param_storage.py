"""Storage types for shipped parameters: the weights of an exported checkpoint in fewer bytes.

A shipped checkpoint (``pretrained/<name>/``) may store its weights (the floating-point parameters of
two or more dimensions; biases and other vectors stay float32) in a smaller type than the float32 it
was trained in, so that a wider model fits the repository's cap on a shipped file:

* ``bfloat16``: each weight rounded to bfloat16 (half the bytes); read back by an exact upcast.
* ``int8``: symmetric 8-bit integers with one float32 scale per output unit (a quarter of the bytes):
  for a kernel ``w [..., N]``, ``scale[n] = max |w[..., n]| / 127`` and ``q = round(w / scale)`` in
  ``[-127, 127]``; read back as ``float32(q) * scale``, broadcast over the last axis (per-channel
  quantization, e.g. Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
  Integer-Arithmetic-Only Inference", CVPR, section 2.1, here with the zero point fixed at 0).

The model a checkpoint stored so *is* the model its reader evaluates: :func:`decode` is what every
loader applies (``workdir.load_params``), and ``experiments/make_pretrained.py`` measures the
checkpoint after reading it back, so the manifest's numbers are those of the stored values. The type
is recorded in the checkpoint's ``storage.json`` (:data:`STORAGE_FILE`); without it the parameters are
stored as they are (float32).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["TYPES", "STORAGE_FILE", "is_weight", "encode", "decode", "stored_abstract", "read_type",
           "write_type"]

TYPES = ("float32", "bfloat16", "int8")
STORAGE_FILE = "storage.json"
_INT8_MAX = 127


def _check_type(kind: Any) -> None:
  if kind not in TYPES:
    raise ValueError(f"expected a parameter storage type among {TYPES}, got {kind!r}")


def is_weight(leaf: Any) -> bool:
  """Whether a parameter is stored in the smaller type: floating point with two or more dimensions."""
  return len(leaf.shape) >= 2 and jnp.issubdtype(leaf.dtype, jnp.floating)


def _int8(w: np.ndarray) -> dict[str, np.ndarray]:
  """``{'int8': q, 'scale': s}`` of a float weight ``w [..., N]``: ``s [N]`` float32, ``q`` like ``w``."""
  w = np.asarray(w, np.float32)
  if not np.all(np.isfinite(w)):
    raise ValueError(f"expected finite weights to store as int8, got {int(np.sum(~np.isfinite(w)))} "
                     f"non-finite entries in an array of shape {w.shape}")
  peak = np.max(np.abs(w.reshape(-1, w.shape[-1])), axis=0)  # [N]
  scale = np.where(peak > 0, peak / _INT8_MAX, 1.0).astype(np.float32)
  q = np.clip(np.rint(w / scale), -_INT8_MAX, _INT8_MAX).astype(np.int8)
  return {"int8": q, "scale": scale}


def encode(params: Any, kind: str) -> Any:
  """The tree to store for `params` in type `kind`: float32 leaves as they are, weights converted
  (``bfloat16`` arrays, or ``{'int8', 'scale'}`` pairs for ``int8``)."""
  _check_type(kind)
  if kind == "float32":
    return params

  def one(leaf):
    if not is_weight(leaf):
      return leaf
    if kind == "bfloat16":
      return np.asarray(jnp.asarray(leaf, jnp.float32).astype(jnp.bfloat16))
    return _int8(np.asarray(leaf))

  return jax.tree.map(one, params)


def decode(stored: Any, abstract: Any, kind: str) -> Any:
  """The parameters a stored tree holds, in the dtypes of `abstract` (the model's parameters): the
  exact upcast of bfloat16, ``float32(q) * scale`` of int8 (then cast to the model's dtype)."""
  _check_type(kind)
  if kind == "float32":
    return stored

  def one(spec, value):
    if not is_weight(spec):
      return value
    if kind == "bfloat16":
      return jnp.asarray(value).astype(spec.dtype)
    q = jnp.asarray(value["int8"]).astype(jnp.float32)
    scale = jnp.asarray(value["scale"], jnp.float32).reshape((1,) * (q.ndim - 1) + (-1,))
    values = q * scale  # [..., N] * [1, ..., N]
    return values.astype(spec.dtype)

  # `stored` has `abstract`'s structure with an {'int8', 'scale'} subtree at each int8 weight.
  return jax.tree.map(one, abstract, stored)


def stored_abstract(abstract: Any, kind: str) -> Any:
  """The shapes and dtypes of the stored tree of parameters shaped as `abstract`
  (``jax.ShapeDtypeStruct`` leaves, their shardings kept)."""
  _check_type(kind)
  if kind == "float32":
    return abstract

  def one(spec):
    if not is_weight(spec):
      return spec
    sharding = getattr(spec, "sharding", None)
    if kind == "bfloat16":
      return jax.ShapeDtypeStruct(spec.shape, jnp.bfloat16, sharding=sharding)
    return {"int8": jax.ShapeDtypeStruct(spec.shape, jnp.int8, sharding=sharding),
            "scale": jax.ShapeDtypeStruct(spec.shape[-1:], jnp.float32, sharding=sharding)}

  return jax.tree.map(one, abstract)


def read_type(workdir: str) -> str:
  """The storage type of an exported checkpoint (``storage.json``; 'float32' without one)."""
  from armodels_jax import checkpointing  # pylint: disable=g-import-not-at-top

  path = os.path.join(workdir, STORAGE_FILE)
  if not os.path.isfile(path):
    return "float32"
  kind = checkpointing.read_json(path).get("type")
  if kind not in TYPES:
    raise ValueError(f"{path}: expected a parameter storage type among {TYPES}, got {kind!r}")
  return kind


def write_type(workdir: str, kind: str) -> None:
  """Records the storage type of an exported checkpoint (nothing for float32, the default)."""
  from armodels_jax import checkpointing  # pylint: disable=g-import-not-at-top

  _check_type(kind)
  if kind == "float32":
    return
  scheme = ("bfloat16 weights, read back by an exact upcast" if kind == "bfloat16" else
            "int8 weights q with a float32 scale per output unit (last axis): w = float32(q) * scale")
  checkpointing.write_json(os.path.join(workdir, STORAGE_FILE), {"type": kind, "weights": scheme,
                                                                 "other parameters": "float32"})
