"""Stateless, step-addressable batching for exact resume, and global batches.

The training data order is a pure function of `(n, global_batch_size, seed,
step)`: epoch `e` visits the examples in the order of
`np.random.default_rng([seed, e]).permutation(n)`, and the batches tile the
concatenation of the epochs (a batch may straddle an epoch boundary). So the
batch of step `s` is the same whether a run was resumed at `s` or not, and
there is no iterator state to checkpoint.

Dimension glossary:
  B: global batch size (over all hosts).
  L: local batch size, B / jax.process_count().
"""

from __future__ import annotations

import functools
import operator

import jax
import numpy as np


def _check_int(value, what: str, minimum: int) -> int:
  try:
    as_int = operator.index(value)
  except TypeError:
    raise ValueError(
        f"{what}: expected an integer >= {minimum}, got {value!r}.") from None
  if as_int < minimum:
    raise ValueError(f"{what}: expected an integer >= {minimum}, got {as_int}.")
  return as_int


@functools.lru_cache(maxsize=4)
def _epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
  perm = np.random.default_rng([seed, epoch]).permutation(n)  # [n]
  perm.flags.writeable = False
  return perm


def batch_indices(n: int, global_batch_size: int, seed: int,
                  step: int) -> np.ndarray:
  """Returns the example indices of the global batch at training step `step`.

  Position `p = step * global_batch_size + i` of the infinite stream is
  example `perm_e[p % n]` with `e = p // n` and
  `perm_e = np.random.default_rng([seed, e]).permutation(n)`.

  Args:
    n: the number of training examples, >= 1.
    global_batch_size: the batch size over all hosts, >= 1 (may exceed `n`).
    seed: a non-negative integer data seed.
    step: the training step, >= 0.

  Returns:
    int64 array `(global_batch_size,)` of indices in `[0, n)`.

  Raises:
    ValueError: if an argument is not an integer in its range.
  """
  n = _check_int(n, "batch_indices n", 1)
  batch = _check_int(global_batch_size, "batch_indices global_batch_size", 1)
  seed = _check_int(seed, "batch_indices seed", 0)
  step = _check_int(step, "batch_indices step", 0)
  positions = step * batch + np.arange(batch, dtype=np.int64)  # [B]
  epochs = positions // n  # [B]
  offsets = positions % n  # [B]
  out = np.empty(batch, dtype=np.int64)  # [B]
  for epoch in np.unique(epochs):
    where = epochs == epoch
    out[where] = _epoch_permutation(n, seed, int(epoch))[offsets[where]]
  return out


def local_slice(global_batch_size: int, process_index: int,
                process_count: int) -> slice:
  """The contiguous part of a global batch that one host loads.

  Args:
    global_batch_size: B, the batch size over all hosts.
    process_index: this host's index in `[0, process_count)`.
    process_count: the number of hosts.

  Returns:
    `slice(process_index * L, (process_index + 1) * L)` with
    `L = B // process_count`.

  Raises:
    ValueError: if B is not divisible by the number of hosts.
  """
  if global_batch_size % process_count:
    raise ValueError(
        f"Expected a global batch size divisible by the number of processes "
        f"({process_count}), got {global_batch_size}.")
  local = global_batch_size // process_count
  return slice(process_index * local, (process_index + 1) * local)


def global_batch(arrays, indices, sharding):
  """Gathers a global batch from host arrays into sharded `jax.Array`s.

  Every host calls this with the same global `indices` (e.g. from
  `batch_indices`); each host gathers only its contiguous slice of them
  (`local_slice`) from its own copy of the data, and
  `jax.make_array_from_process_local_data` assembles the global arrays. On a
  single host this gathers the whole batch and places it with `sharding`
  (e.g. a `NamedSharding` over a `('data',)` mesh, batch axis sharded).

  Args:
    arrays: an array `(N, ...)` or a pytree of them (a tuple such as
      `(images, labels)`; None leaves stay None).
    indices: int array `(B,)` of example indices, the same on every host.
    sharding: a `jax.sharding.Sharding` for the global `(B, ...)` arrays.

  Returns:
    A `jax.Array` `(B, ...)`, or the same pytree structure of them.

  Raises:
    ValueError: if B is not divisible by the number of processes, or an
      index is out of range.
  """
  indices = np.asarray(indices)
  if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
    raise ValueError(
        f"global_batch: expected integer indices of shape (B,), got dtype "
        f"{indices.dtype} and shape {indices.shape}.")
  batch = indices.shape[0]
  local_indices = indices[local_slice(batch, jax.process_index(),
                                      jax.process_count())]  # [L]

  def gather(x):
    x = np.asarray(x)
    if local_indices.size and (local_indices.min() < 0 or
                               local_indices.max() >= x.shape[0]):
      raise ValueError(
          f"global_batch: expected indices in [0, {x.shape[0]}), got values "
          f"in [{local_indices.min()}, {local_indices.max()}].")
    local = x[local_indices]  # [L, ...]
    return jax.make_array_from_process_local_data(
        sharding, local, (batch,) + x.shape[1:])

  return jax.tree.map(gather, arrays)
