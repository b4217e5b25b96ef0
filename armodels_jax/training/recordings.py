"""Exact likelihood of whole variable-length sequences (e.g. the FSDD test recordings) with a
length-agnostic model such as WaveNet.

Training sees fixed windows, but a fully convolutional causal model applies to any length with the
same parameters: ``model.clone(event_shape=(T,))``. Recordings are sorted by length and batched;
each batch is padded at the end to a multiple of ``bucket`` samples (few distinct shapes, so few
compilations), and the padded positions are masked out. Padding at the end never changes an
earlier conditional (causality, docs/design.md section 6 rule 2).

The result is the negative log-likelihood per sample, in nats and in bits, over every sample of
every recording: ``sum_r -log p(x_r) / sum_r T_r``.

Dimensions: B recordings per batch, T padded length, F local features per frame.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax import evaluation
from armodels_jax.api import log_prob_fn
from armodels_jax.data.dataset import make_cond

__all__ = ["evaluate_recordings"]


@functools.partial(jax.jit, static_argnames=("model",))
def _masked_nll(model, variables, x, cond, lengths):
  per_dim = log_prob_fn(model, variables, x, cond, reduce=False)  # [B, T]
  valid = jnp.arange(x.shape[1])[None, :] < lengths[:, None]  # [B, T]
  return -jnp.sum(jnp.where(valid, per_dim, 0.0))


def evaluate_recordings(model: Any, variables: Any, recordings: Sequence[np.ndarray], *,
                        labels: Optional[np.ndarray] = None,
                        features: Optional[Sequence[np.ndarray]] = None,
                        batch_size: int = 8, bucket: int = 2048) -> dict[str, float]:
  """Negative log-likelihood per sample of whole recordings.

  Args:
    model: a sequence model (event shape ``(T,)``) whose parameters do not depend on T.
    variables: ``{'params': ...}``.
    recordings: int arrays ``[T_r]`` of levels in ``[0, num_levels)``.
    labels: None or int ``[R]`` (a global class per recording).
    features: None or float arrays ``[T_r // hop, F]`` (a local track per recording; each
      recording's length must be ``frames * hop``).
    batch_size: recordings per batch.
    bucket: padded lengths are multiples of this (and of the model's ``local_hop``).

  Returns:
    ``{'nll_nats_per_sample', 'bits_per_sample', 'num_samples', 'num_recordings'}``.

  Raises:
    ValueError: no recordings, a recording that is not a 1-D integer array of levels, or
      labels/features that do not match the recordings.
  """
  if len(model.event_shape) != 1:
    raise ValueError(f"evaluate_recordings expects a sequence model (event_shape (T,)), got "
                     f"{model.event_shape}")
  if not len(recordings):
    raise ValueError("evaluate_recordings: expected at least one recording, got none")
  recs = []
  for i, r in enumerate(recordings):
    r = np.asarray(r)
    if r.ndim != 1 or not np.issubdtype(r.dtype, np.integer) or r.size == 0:
      raise ValueError(f"recording {i}: expected a non-empty 1-D integer array, got dtype {r.dtype} "
                       f"shape {r.shape}")
    if r.min() < 0 or r.max() >= model.num_levels:
      raise ValueError(f"recording {i}: expected levels in [0, {model.num_levels}), got "
                       f"[{r.min()}, {r.max()}]")
    recs.append(r.astype(np.int32))
  if labels is not None:
    labels = np.asarray(labels, np.int32)
    if labels.shape != (len(recs),):
      raise ValueError(f"expected labels of shape ({len(recs)},), got {labels.shape}")
  hop = int(getattr(model, "local_hop", 0) or 1)
  if features is not None:
    if len(features) != len(recs):
      raise ValueError(f"expected {len(recs)} feature tracks, got {len(features)}")
    for i, (r, f) in enumerate(zip(recs, features)):
      if np.ndim(f) != 2 or np.shape(f)[0] * hop != r.size:
        raise ValueError(f"recording {i}: expected features of shape ({r.size // hop}, F) for "
                         f"{r.size} samples at hop {hop}, got {np.shape(f)}")
  step = bucket * hop // math.gcd(bucket, hop)
  order = np.argsort([r.size for r in recs], kind="stable")
  total = 0.0
  for rows, _ in evaluation.padded_batches(len(order), batch_size, pad=False):
    idx = order[rows]
    lengths = np.array([recs[i].size for i in idx], np.int32)
    padded = int(-(-lengths.max() // step) * step)
    x = np.zeros((len(idx), padded), np.int32)
    for row, i in enumerate(idx):
      x[row, :recs[i].size] = recs[i]
    feats = None
    if features is not None:
      width = np.shape(features[idx[0]])[1]
      feats = np.zeros((len(idx), padded // hop, width), np.float32)
      for row, i in enumerate(idx):
        feats[row, :len(features[i])] = features[i]
    cond = make_cond(None if labels is None else labels[idx], feats)
    sized = model.clone(event_shape=(padded,))
    total += float(_masked_nll(sized, variables, jnp.asarray(x),
                               jax.tree.map(jnp.asarray, cond), jnp.asarray(lengths)))
  num_samples = int(sum(r.size for r in recs))
  nll = total / num_samples
  if not math.isfinite(nll):
    raise FloatingPointError(f"evaluate_recordings: non-finite negative log-likelihood {nll}")
  return {"nll_nats_per_sample": nll, "bits_per_sample": nll / math.log(2.0),
          "num_samples": num_samples, "num_recordings": len(recs)}
