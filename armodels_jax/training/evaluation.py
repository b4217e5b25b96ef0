"""Exact log-likelihood of a model over every example of an array, on the device mesh: padded batches
(``armodels_jax.evaluation.padded_batches``), or streams.

``evaluate(model, variables, array)`` is what training's evaluation, ``armodels eval`` and the prior's term
of the VQ-VAE bound report. Batches have one compiled shape: the last partial batch is padded with copies
of example 0 and masked out.

A stateful model (``char_rnn``) is read with ``stream=True``: the rows are consecutive windows of one
text, read as contiguous streams with the model's state carried from window to window (Graves 2013,
section 3; Karpathy's char-rnn), so the result is the per-character NLL of the whole text.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from armodels_jax import api
from armodels_jax import data
from armodels_jax import evaluation
from armodels_jax.training import sharding as shd
from armodels_jax.training import steps

__all__ = ["evaluate"]


def evaluate(model: Any, variables: Any, array, batch_size: int = 256, labels=None, *,
             features=None, mesh=None, stream: bool = False) -> dict[str, Any]:
  """Exact mean negative log-likelihood over every example of `array` (the last partial batch included).

  Args:
    model: a model from ``arm.models.create``.
    variables: ``{'params': ...}``.
    array: int [N, ...] with the model's event shape and values in ``[0, num_levels)``; the same full array
      on every host.
    batch_size: examples per global batch (rounded up to a multiple of the device count); with `stream`,
      the most streams.
    labels: None, or [N] conditioning labels.
    features: None, or float [N, ...] conditioning features; ``cond = data.make_cond(labels, features)``.
    mesh: the device mesh (default: all devices).
    stream: a stateful model only: the rows of `array` are consecutive windows of one sequence (a text),
      read as ``min(batch_size, N)`` (or fewer) contiguous streams with the model's state carried from one
      window to the next, each stream starting from ``model.initial_carry``.

  Returns:
    ``{'nll_nats': float, 'bits_per_dim': float, 'n': int}``, per example, in nats and bits per dimension
    (with `stream`: per window, and bits per character).

  Raises:
    ValueError: `array` does not have shape (N, *model.event_shape) or is empty, `labels` or `features`
      have the wrong length, or `stream` with a model that is not stateful.
  """
  array = np.asarray(array)
  event_shape = tuple(model.event_shape)
  if array.ndim < 1 or array.shape[1:] != event_shape:
    raise ValueError(f"evaluate: expected an array of shape (N, *{event_shape}), got {array.shape}")
  if array.shape[0] == 0:
    raise ValueError("evaluate: expected at least one example, got N = 0")
  if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
    if model.num_levels is not None:
      raise ValueError(f"evaluate: expected an integer array, got dtype {array.dtype}")
  elif model.num_levels is not None:
    array = array.astype(np.int32)
  for name, extra in (("labels", labels), ("features", features)):
    if extra is not None and np.shape(extra)[:1] != array.shape[:1]:
      raise ValueError(f"evaluate: expected {array.shape[0]} {name}, got shape {np.shape(extra)}")
  if stream and not getattr(model, "stateful", False):
    raise ValueError(f"evaluate(stream=True) needs a stateful model (e.g. char_rnn), got "
                     f"{type(model).__name__}")
  mesh = shd.make_mesh() if mesh is None else mesh
  variables = jax.device_put(variables, shd.replicated(mesh))
  if stream:
    sums = _stream_sums(model, variables, array, labels, features, batch_size, mesh)
  else:
    sums = _batch_sums(model, variables, array, labels, features, batch_size, mesh)
  sums = np.asarray(jax.device_get(sums), np.float64)  # [num_batches, 2]
  nll = float(sums[:, 0].sum() / sums[:, 1].sum())
  return {"nll_nats": nll, "bits_per_dim": float(api.bits_per_dim(-nll, event_shape)),
          "n": int(array.shape[0])}


def _batch_sums(model, variables, array, labels, features, batch_size, mesh) -> list:
  """``[(nll_sum, count)]`` per batch of independent examples."""
  sharding = shd.batch_sharding(mesh)
  serial = shd.one_program_at_a_time(mesh)
  sums = []
  for idx, num_valid in evaluation.padded_batches(array.shape[0], batch_size,
                                                  multiple=mesh.devices.size):
    x, lab, feat = data.global_batch((array, labels, features), idx, sharding)
    sums.append(steps.eval_sums(model, variables, x, data.make_cond(lab, feat), np.int32(num_valid)))
    if serial:
      jax.block_until_ready(sums[-1])
  return sums


def _stream_sums(model, variables, array, labels, features, batch_size, mesh) -> list:
  """``[(nll_sum, count)]`` per window position of contiguous streams of a stateful model.

  With ``C = ceil(N / batch_size)`` windows per stream, stream b holds windows ``b * C .. b * C + C - 1``
  (the last stream may be shorter); there are ``S = ceil(N / C)`` streams, padded to a multiple of the
  device count with masked rows. Only the last stream's tail and the padding rows are masked, so no masked
  row's carry ever feeds a counted window.
  """
  n, n_dev = array.shape[0], mesh.devices.size
  per_stream = -(-n // min(int(batch_size), n))  # C
  streams = -(-n // per_stream)  # S
  rows = -(-streams // n_dev) * n_dev
  sharding = shd.batch_sharding(mesh)
  carry = jax.device_put(model.initial_carry(rows), sharding)
  serial = shd.one_program_at_a_time(mesh)
  sums = []
  for k in range(per_stream):
    idx = np.arange(rows) * per_stream + k  # [S'] window of each stream
    valid = (np.arange(rows) < streams) & (idx < n)
    idx = np.where(valid, idx, 0)
    x, lab, feat = data.global_batch((array, labels, features), idx, sharding)
    nll, count, carry = steps.eval_carry_sums(model, variables, x, carry, data.make_cond(lab, feat),
                                              valid)
    sums.append((nll, count))
    if serial:
      jax.block_until_ready(sums[-1])
  return sums
