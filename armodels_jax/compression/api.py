"""``compress`` and ``decompress``: lossless compression with any discrete model that has a cached
decode path.

The file format is :mod:`armodels_jax.compression.file_format`, the coder (quantised conditionals,
the range coder, the walk through the decode interface the cached sampler shares) is
:mod:`armodels_jax.compression.coder`; this module validates, cuts the examples into chunks and runs
the two.

* Examples are coded in chunks of ``batch_size`` (the last chunk padded to the same size, so one
  compiled step serves all), one range-coder stream for the whole file, symbols in the order
  (chunk, step, stage, example).
* Variable lengths (``lengths``, left-to-right sequence models such as WaveNet on recordings of
  different durations): example i codes only its first ``lengths[i]`` samples; examples are sorted by
  length (stable) before they are cut into chunks, and a chunk runs only as many steps as its longest
  example. A causal model's conditionals of the first ``lengths[i]`` samples do not depend on the
  padding after them (the causality rule every model meets, tested for each).

A different model (fingerprint), cond, event shape or a damaged file raises ``ValueError``; the
decoded data are checked against the stored CRC-32 before they are returned, so the output is never
silently wrong.

Files from others. Decompressing never executes anything from the file (the header is integers, bytes
and a name; the model is the caller's). Every failure is a ``ValueError``. Before anything is allocated
or compiled, the header is checked against limits: at most ``max_elements`` elements decoded (default
``2**28``, 1 GiB of int32), a chunk no larger than the count, the model's event shape, and a decode
state for one chunk of at most ``max_elements`` elements (counted from shapes with ``jax.eval_shape``).
While decoding, the symbols are bounded by the information the payload can carry
(:class:`armodels_jax.compression.coder.Decoder`), and the output grows chunk by chunk, so a file whose
header claims more than its payload holds stops early without allocating for the claim.

Guarantee: a round trip is exact when compress and decompress run on the same backend (CPU, GPU or TPU,
same kind) with the same versions of jax/jaxlib, flax, numpy and constriction. Across backends or
versions the float32 conditionals can differ in the last bits; decoding then fails with ``ValueError``
(checksum) rather than returning wrong data.

Dimensions: N examples, B chunk (batch), D = prod(event_shape).
"""

from __future__ import annotations

import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax import api
from armodels_jax.compression import coder
from armodels_jax.compression import file_format
from armodels_jax.models.base import ARModel
from armodels_jax.sampling import decode

__all__ = ["compress", "decompress", "DEFAULT_BATCH_SIZE"]

DEFAULT_BATCH_SIZE = 256


def _check(model, variables, cond) -> None:
  if not isinstance(model, ARModel):
    raise ValueError(f"expected a model from armodels_jax.models.create, got {type(model).__name__}")
  if not isinstance(variables, dict) or "params" not in variables:
    raise ValueError("expected variables as a dict with a 'params' entry (from arm.init), got "
                     f"{type(variables).__name__}"
                     + (f" with keys {sorted(variables)}" if isinstance(variables, dict) else ""))
  if model.real_valued:
    raise ValueError(f"compression needs a discrete model; {type(model).__name__} is real-valued "
                     "(num_levels=None): its densities are not probabilities of symbols")
  decode.check_decodable(model)
  model.check_request(cond=cond)


def _chunks(count: int, chunk: int, cond, lengths):
  """Yields (rows, padded cond) for each chunk: ``rows`` the examples' indices (consecutive, or by
  length with ``lengths``), the cond's rows taken in that order and padded with zeros to ``chunk``.
  Without lengths, no array of all N indices is made (a header's count is not trusted)."""
  order = None if lengths is None else np.argsort(lengths, kind="stable")
  for start in range(0, count, chunk):
    rows = (np.arange(start, min(start + chunk, count)) if order is None
            else order[start:start + chunk])

    def take(a, rows=rows):
      a = np.asarray(a)
      pad = np.zeros((chunk - len(rows),) + a.shape[1:], a.dtype)
      return jnp.asarray(np.concatenate([a[rows], pad]))

    yield rows, (None if cond is None else jax.tree.map(take, cond))


def _check_cond_rows(cond, count: int) -> None:
  for leaf in jax.tree_util.tree_leaves(cond):
    shape = np.shape(leaf)
    if not shape or shape[0] != count:
      raise ValueError(f"expected every cond array with a leading axis of the batch size {count}, "
                       f"got shape {shape}")


def _check_lengths(model, lengths, count: int) -> np.ndarray:
  """``lengths`` as int64 ``[count]`` in ``[1, T]`` for a left-to-right sequence model."""
  if len(model.event_shape) != 1:
    raise ValueError(f"lengths need a sequence model (event_shape (T,)), got event shape "
                     f"{model.event_shape}")
  arr = np.asarray(lengths)
  if arr.shape != (count,) or not np.issubdtype(arr.dtype, np.integer):
    raise ValueError(f"expected lengths as integers of shape ({count},), got dtype {arr.dtype} "
                     f"shape {arr.shape}")
  if arr.min() < 1 or arr.max() > model.event_shape[0]:
    raise ValueError(f"expected lengths in [1, {model.event_shape[0]}], got "
                     f"[{arr.min()}, {arr.max()}]")
  return arr.astype(np.int64)


def _masked(flat: np.ndarray, lengths) -> np.ndarray:
  """``[N, D]`` with zeros at and after each example's length (what the file holds)."""
  if lengths is None:
    return flat
  return np.where(np.arange(flat.shape[1])[None, :] < np.asarray(lengths)[:, None], flat, 0)


def _chunk_lengths(model, rows, chunk: int, lengths) -> np.ndarray:
  """Steps coded per row of a chunk: the examples' lengths (all D without lengths), 0 for padding."""
  out = np.zeros(chunk, np.int64)
  out[:len(rows)] = model.num_dims if lengths is None else lengths[rows]
  return out


def compress(model, variables: dict, x: Any, cond: Any = None, *,
             batch_size: int = DEFAULT_BATCH_SIZE, lengths: Any = None) -> bytes:
  """Losslessly compresses a batch of examples with a model's exact conditionals.

  Args:
    model: a discrete model with a cached decode path (``model.has_decode``).
    variables: ``{'params': ...}``.
    x: ``[N, *event_shape]`` integer levels in ``[0, num_levels)``.
    cond: the conditioning input of a conditional model (leading axis N), else None;
      decompression needs the same.
    batch_size: examples coded together (the decode step's batch).
    lengths: None, or int ``[N]`` in ``[1, T]`` for a sequence model ``(T,)`` that reads left to
      right: example i is coded up to ``x[i, lengths[i] - 1]``; what follows is not stored
      (:func:`decompress` returns zeros there). Examples are coded sorted by length, so a batch
      of recordings of different durations costs about the sum of the durations, not N * T.

  Returns:
    bytes: a header and a range code of ``x``, about ``-log2 p(x | cond)`` bits
    plus the header (tens of bytes, and a few per example with ``lengths``) and the coder's
    flush (at most a few words). Files over ``N * D > 2**28`` elements need
    ``decompress(..., max_elements=...)`` raised to read back.
  """
  _check(model, variables, cond)
  x = api.check_input(model, x)
  if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
    raise ValueError(f"expected batch_size a positive int, got {batch_size!r}")
  count = x.shape[0]
  _check_cond_rows(cond, count)
  chunk = int(min(batch_size, count))
  model = model.as_float32()
  params = variables["params"]
  if lengths is not None:
    lengths = _check_lengths(model, lengths, count)
  scheme, width = coder.coding_scheme(model)
  encoder = coder.Encoder()
  flat = _masked(x.reshape(count, -1), lengths)
  for rows, part in _chunks(count, chunk, cond, lengths):
    symbols = flat[rows]

    def encode(stages, pos, symbols=symbols):
      value = symbols[stages.active, pos].astype(np.int32)
      coder.encode_symbols(encoder, stages, value)
      return value

    coder.code_chunk(model, params, part, _chunk_lengths(model, rows, chunk, lengths), width,
                     encode, lengths is not None)
  payload = encoder.payload()
  header = file_format.pack_header(
      file_format.model_name(model), scheme, file_format.fingerprint(model, variables),
      file_format.cond_crc(cond), chunk, count, model.event_shape, lengths,
      file_format.array_crc([flat.reshape(x.shape)]), zlib.crc32(payload))
  return header + payload


def decompress(model, variables: dict, data: bytes, cond: Any = None, *,
               max_elements: int = file_format.DEFAULT_MAX_ELEMENTS) -> np.ndarray:
  """Inverts :func:`compress`. Safe on files from others: it executes nothing from the file, checks
  the header against limits before it allocates or compiles anything, and fails only with
  ``ValueError``.

  Args:
    model, variables: the model that compressed ``data`` (same fields and parameters; the same
      event shape as the file's).
    data: the bytes :func:`compress` returned.
    cond: the conditioning input given to :func:`compress`.
    max_elements: the most elements the file may decode to (``N * D``), and the most one chunk's
      decode state (caches, canvas, plan) may hold; default ``2**28``.

  Returns:
    ``[N, *event_shape]`` int32, equal to the compressed ``x`` (zeros after each example's length
    when it was compressed with ``lengths``; :func:`read_header` gives them).

  Raises:
    ValueError: a header over the limits (the message names the limit and how to raise it), a
      different model, event shape or cond, a damaged, truncated or crafted file, or decoded data
      that fail the file's checksum (conditionals that differ from the encoder's: another backend
      or library version).
  """
  _check(model, variables, cond)
  head = file_format.read_header(data)
  file_format.check_limits(head, max_elements)
  name = file_format.model_name(model)
  fp = file_format.fingerprint(model, variables)
  if head["model"] != name or head["fingerprint"] != fp:
    raise ValueError(
        f"expected the model that compressed this file ({head['model']!r}, fingerprint "
        f"{head['fingerprint'].hex()}), got {name!r} with fingerprint {fp.hex()}: a different "
        f"configuration or parameters")
  file_format.check_limits(head, max_elements, model.event_shape)
  if head["cond_crc"] != file_format.cond_crc(cond):
    raise ValueError("expected the cond given to compress (its CRC-32 differs)" if cond is not None
                     else "this file was compressed with a cond: expected it, got cond=None")
  scheme, width = coder.coding_scheme(model)
  if head["scheme"] != scheme:
    raise ValueError(f"expected coding scheme {scheme} for this model, got {head['scheme']}")
  payload = head["payload"]
  if len(payload) % 4 or zlib.crc32(payload) != head["payload_crc"]:
    raise ValueError("the compressed data are damaged: their CRC-32 does not match the header's")
  count, chunk, lengths = head["count"], head["chunk"], head["lengths"]
  _check_cond_rows(cond, count)
  model = model.as_float32()
  params = variables["params"]
  first_rows = next(_chunks(count, chunk, cond, lengths))[1]
  file_format.check_state_limit(coder.state_elements(model, params, chunk, first_rows), chunk,
                                max_elements)
  decoder = coder.Decoder(payload)
  parts, rows_seen = [], []
  try:
    for rows, part in _chunks(count, chunk, cond, lengths):
      coded = coder.code_chunk(model, params, part, _chunk_lengths(model, rows, chunk, lengths),
                               width, lambda stages, pos: coder.decode_symbols(decoder, stages),
                               lengths is not None)
      parts.append(coded[:len(rows)])
      rows_seen.append(rows)
  except (MemoryError, jax.errors.JaxRuntimeError) as e:
    if not isinstance(e, MemoryError) and "RESOURCE_EXHAUSTED" not in str(e):
      raise
    raise ValueError(f"out of memory decoding {count:,} examples of shape {head['event_shape']}, "
                     f"{chunk} at a time; lower max_elements to refuse such files before they "
                     f"start") from None
  flat = np.concatenate(parts)
  if lengths is not None:  # chunks in length order: back to the file's order
    flat[np.concatenate(rows_seen)] = flat.copy()
  x = flat.reshape((count,) + model.event_shape)
  if file_format.array_crc([x]) != head["data_crc"]:
    raise ValueError("the decoded data fail the file's checksum: the model computed other "
                     "conditionals than the encoder's (another backend or library version?) or "
                     "the file is damaged")
  return x
