"""The evaluator of exact log-likelihoods: padded batches of examples, one compiled shape.

Every likelihood the package reports over many examples walks them with `padded_batches`: batches of a
fixed size, the last one filled with copies of a real row and those rows masked out, so one compiled
function serves every batch and no padding row is ever counted. On top of it:

* `nll_per_example`: ``-log p(x)`` of every example, float64 (the anomaly scores, ``arm.anomaly``);
* ``training.evaluation.evaluate``: the mean NLL of a split on the device mesh, also over streams of a
  stateful model (training, ``armodels eval``, the VQ-VAE prior's term of the two-stage bound);
* ``vqvae.stage1.evaluate``: the VQ-VAE's reconstruction term;
* ``training.recordings.evaluate_recordings``: whole recordings of different lengths (the rows batched
  here, the time axis padded to a few bucket lengths and masked there).

A non-finite log-likelihood is an error, never a number in a result.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

__all__ = ["padded_batches", "nll_per_example"]


def padded_batches(n: int, batch_size: int, *, multiple: int = 1,
                   pad: bool = True) -> Iterator[tuple[np.ndarray, int]]:
  """Yields ``(rows, num_valid)`` covering ``range(n)`` in order.

  Args:
    n: the number of examples (>= 1).
    batch_size: rows per batch; at most `n` are used, rounded up to a multiple of `multiple`.
    multiple: e.g. the device count, so a batch splits evenly over devices.
    pad: fill the last batch up to the batch size with copies of row 0 (one compiled shape); without it
      the last batch is shorter.

  Yields:
    ``rows``: int64 ``[B]`` indices (padding rows repeat row 0); ``num_valid``: how many leading rows are
    real examples.
  """
  if n < 1 or batch_size < 1:
    raise ValueError(f"padded_batches: expected n >= 1 and batch_size >= 1, got {n}, {batch_size}")
  batch = min(int(batch_size), int(n))
  batch = -(-batch // multiple) * multiple
  for start in range(0, n, batch):
    num_valid = min(batch, n - start)
    rows = np.arange(start, start + (batch if pad else num_valid))
    yield np.where(rows < n, rows, 0), num_valid


def nll_per_example(model: Any, variables: Any, x: np.ndarray, cond: Any = None,
                    batch_size: int = 256) -> np.ndarray:
  """``-log p(x)`` in nats of every example, float64 ``[N]``, in padded batches of `batch_size`.

  Raises:
    ValueError: a non-finite log-likelihood (NaN parameters?).
  """
  import jax  # pylint: disable=g-import-not-at-top

  from armodels_jax import api  # pylint: disable=g-import-not-at-top

  n = x.shape[0]
  out = []
  for rows, valid in padded_batches(n, batch_size):
    c = None if cond is None else jax.tree.map(lambda a, i=rows: np.asarray(a)[i], cond)
    logp = np.asarray(api.log_prob(model, variables, x[rows], c), np.float64)
    out.append(-logp[:valid])
  nll = np.concatenate(out)
  if not np.isfinite(nll).all():
    bad = int((~np.isfinite(nll)).sum())
    raise ValueError(f"the model gave a non-finite log-likelihood for {bad} of {n} examples "
                     "(NaN parameters?)")
  return nll
