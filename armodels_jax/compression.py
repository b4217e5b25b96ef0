"""Lossless compression with any discrete model that has a cached decode path.

An exact likelihood is a code: with arithmetic (range) coding a sequence ``x``
costs about ``-log2 p(x)`` bits (Shannon 1948; Rissanen & Langdon 1979,
"Arithmetic coding"; Witten, Neal & Cleary 1987, "Arithmetic coding for data
compression"; Martin 1979, "Range encoding"). The autoregressive factorisation
``p(x) = prod_t p(x_t | x_<t)`` gives the coder one conditional per step, which
is how neural models compress (e.g. the bits-back and model-based coders of
Townsend, Bird & Barber 2019, "Practical lossless compression with latent
variables using bits back coding", section 2).

How it works:

* The encoder walks the data in the model's order (``model.sampling_plan`` with
  a fixed key, so the decoder finds the same order) through the decode step of
  the cached sampler (``decode_step`` of a ``decode=True`` clone, one jitted
  step function); at step t it codes the true symbol under the step's
  conditional. The decoder runs the same jitted step on the same canvas and puts
  the decoded symbol where the sampler puts its random draw. Both sides call the
  same compiled function on bit-identical inputs, so their conditionals are
  bit-identical.
* Each conditional (float32 probabilities of all ``L`` levels, from the head's
  ``log_probs``) becomes integer frequencies summing to ``2**24`` by
  :func:`quantize`, a deterministic NumPy function in which every level keeps at
  least one count. The entropy coder is ``constriction``'s range coder
  (Bamler 2022, "Understanding entropy coding with asymmetric numeral systems
  (ANS): a statistician's perspective", and the library's documentation) with a
  categorical model per symbol.
* Wide alphabets (``L >= BLOCK_MIN_LEVELS``, e.g. the 65,536 levels of 16-bit
  audio) with a head that gives the mass of a run of levels from its CDF (the
  discretized logistic mixture: ``block_probs``) are coded in two stages
  (scheme ``SCHEME_BLOCKS``): first the block ``x // W`` of ``W = ceil(sqrt(L))``
  consecutive levels (for 16 bits: the high byte) under
  ``P(g) = CDF(upper edge of block g) - CDF(lower edge)``, then ``x % W`` (the
  low byte) under the W level probabilities of the chosen block, renormalised.
  ``P(g) P(x | g) = P(x)``, so the code length stays ``-log2 P(x)`` up to
  quantisation, while a step costs two W-entry tables instead of one L-entry
  table (and ``ceil(L / W) + W`` mixture evaluations instead of L). Both stages
  are quantised by :func:`quantize` and computed by the same compiled functions
  on both sides. Smaller alphabets use one table of all L levels (``SCHEME_DENSE``).
* Examples are coded in chunks of ``batch_size`` (the last chunk padded to the
  same size, so one compiled step serves all), one range-coder stream for the
  whole file, symbols in the order (chunk, step, stage, example).
* Variable lengths (``lengths``, left-to-right sequence models such as WaveNet
  on recordings of different durations): example i codes only its first
  ``lengths[i]`` samples; examples are sorted by length (stable) before they are
  cut into chunks, and a chunk runs only as many steps as its longest example.
  A causal model's conditionals of the first ``lengths[i]`` samples do not
  depend on the padding after them (DESIGN.md section 6, rule 2).

The file is a small header and the coder's words::

  magic b"ARM" | format version (1 byte) | coding scheme (1 byte)
  | model name (1-byte length + UTF-8)
  | fingerprint of the model's fields and parameters (8 bytes) | CRC-32 of cond
  | chunk size, count N, event rank, event dims, has lengths (0 or 1)
  | [the N lengths] (LEB128 varints) | CRC-32 of x | CRC-32 of the payload
  | payload (little-endian uint32 words)

(46 bytes for ``pixelcnn_pp``, 10,000 images of 28 x 28 x 1 in chunks of 256; lengths add one to
three bytes per example: 600 for the 300 FSDD test recordings.)

A different model (fingerprint), cond, event shape or a damaged file raises
``ValueError``; the decoded data are checked against the stored CRC-32 before
they are returned, so the output is never silently wrong.

Guarantee: a round trip is exact when compress and decompress run on the same
backend (CPU, GPU or TPU, same kind) with the same versions of jax/jaxlib,
flax, numpy and constriction. Across backends or versions the float32
conditionals can differ in the last bits; decoding then fails with
``ValueError`` (checksum) rather than returning wrong data.

Dimensions: N examples, B chunk (batch), D = prod(event_shape), L levels, W block width,
G = ceil(L / W) blocks, P raw head parameters.
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax import api
from armodels_jax.sampling import samplers

MAGIC = b"ARM"
FORMAT_VERSION = 2
# Coding schemes (the header's byte after the version).
SCHEME_DENSE = 0   # one table of all L levels per symbol
SCHEME_BLOCKS = 1  # two stages: the block of W levels, then the level inside it
# Alphabets at least this large use SCHEME_BLOCKS when the head gives block masses.
BLOCK_MIN_LEVELS = 4096
# Bits of precision of the quantised conditionals: constriction's default range coder
# (32-bit words) codes categorical models with 24-bit probabilities.
PRECISION = 24
DEFAULT_BATCH_SIZE = 256
_PLAN_SEED = 0  # The sampling plan's key: fixed, so the decoder finds the encoder's order.


def _constriction():
  try:
    import constriction  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "armodels_jax.compress needs the entropy-coding library constriction: "
        "pip install 'armodels_jax[compress]'") from e
  return constriction


# --------------------------------------------------------------------------------------------------
# Quantisation and fingerprints: deterministic NumPy functions both sides compute alike.
# --------------------------------------------------------------------------------------------------


def quantize(probs: Any, precision: int = PRECISION) -> np.ndarray:
  """Integer frequencies of conditionals, every level at least one count.

  Args:
    probs: ``[B, L]`` non-negative probabilities (float32 from the model).
    precision: the counts of each row sum to ``2**precision``.

  Returns:
    ``[B, L]`` int64 counts ``>= 1`` summing to ``2**precision`` per row:
    ``1 + floor(p * (2**precision - L))``, the remainder added to the most
    probable level (the first one on ties).

  Raises:
    ValueError: NaN, inf or negative probabilities, an all-zero row, or more
      levels than ``2**precision``.
  """
  p = np.asarray(probs, np.float64)
  if p.ndim != 2:
    raise ValueError(f"expected probabilities of shape (B, L), got shape {p.shape}")
  num_levels = p.shape[1]
  total = 1 << precision
  if num_levels > total:
    raise ValueError(f"expected at most 2**{precision} levels, got {num_levels}")
  if not np.isfinite(p).all() or (p < 0).any():
    raise ValueError("expected finite non-negative probabilities from the model, got NaN, inf or a "
                     "negative value")
  norm = p.sum(-1, keepdims=True)
  if (norm <= 0).any():
    raise ValueError("expected probabilities with a positive sum in every row, got an all-zero row")
  counts = 1 + np.floor(p / norm * (total - num_levels)).astype(np.int64)
  deficit = total - counts.sum(-1)  # in [0, L): what the floors dropped
  counts[np.arange(len(p)), np.argmax(p, -1)] += deficit
  return counts


def _crc(arrays) -> int:
  crc = 0
  for a in arrays:
    a = np.ascontiguousarray(a)
    crc = zlib.crc32(f"{a.dtype.str}{a.shape}".encode(), crc)
    crc = zlib.crc32(a.tobytes(), crc)
  return crc


def _cond_crc(cond: Any) -> int:
  if cond is None:
    return 0
  leaves, treedef = jax.tree_util.tree_flatten(cond)
  return zlib.crc32(str(treedef).encode(), _crc(np.asarray(v) for v in leaves))


def model_name(model) -> str:
  """The registry name of ``model``'s class (its class name when unregistered)."""
  from armodels_jax.models import registry  # pylint: disable=g-import-not-at-top

  for name, entry in registry._REGISTRY.items():  # pylint: disable=protected-access
    if type(model) is entry.cls:
      return name
  return type(model).__name__


def fingerprint(model, variables) -> bytes:
  """8 bytes identifying a model's configuration (every field but the event shape and the
  compute dtype, which do not change the conditionals) and its parameters."""
  h = hashlib.blake2b(digest_size=8)
  h.update(model_name(model).encode())
  for field in sorted(model.__dataclass_fields__):
    if field in ("parent", "name", "event_shape", "dtype", "decode"):
      continue
    h.update(f"{field}={getattr(model, field)!r};".encode())
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables["params"])[0]:
    leaf = np.asarray(leaf)
    h.update(f"{jax.tree_util.keystr(path)}:{leaf.dtype.str}{leaf.shape}".encode())
    h.update(np.ascontiguousarray(leaf).tobytes())
  return h.digest()


# --------------------------------------------------------------------------------------------------
# The header.
# --------------------------------------------------------------------------------------------------

_IDS = struct.Struct("<8sI")     # fingerprint, CRC-32 of cond
_CHECKS = struct.Struct("<II")   # CRC-32 of x, CRC-32 of the payload


def _varint(n: int) -> bytes:
  """LEB128: 7 bits a byte, low bits first, the top bit set on all but the last."""
  out = bytearray()
  while True:
    out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
    n >>= 7
    if not n:
      return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
  n, shift = 0, 0
  while True:
    byte = data[at]  # IndexError when truncated
    n |= (byte & 0x7F) << shift
    at, shift = at + 1, shift + 7
    if not byte & 0x80:
      return n, at
    if shift > 63:
      raise ValueError("a header integer is too long")


def _pack_header(name: str, scheme: int, fp: bytes, cond_crc: int, chunk: int, count: int,
                 event_shape: tuple[int, ...], lengths, data_crc: int, payload_crc: int) -> bytes:
  raw_name = name.encode()
  sizes = [chunk, count, len(event_shape), *event_shape, int(lengths is not None)]
  if lengths is not None:
    sizes += [int(n) for n in lengths]
  return b"".join([MAGIC, bytes([FORMAT_VERSION, scheme, len(raw_name)]), raw_name,
                   _IDS.pack(fp, cond_crc), b"".join(_varint(n) for n in sizes),
                   _CHECKS.pack(data_crc, payload_crc)])


def read_header(data: bytes) -> dict:
  """Parses a compressed file's header.

  Returns:
    dict with ``version``, ``scheme`` (``SCHEME_DENSE`` or ``SCHEME_BLOCKS``), ``model``,
    ``fingerprint``, ``cond_crc``, ``chunk``, ``count``, ``event_shape``, ``lengths`` (None, or
    int64 ``[count]``: the samples coded per example), ``data_crc``, ``payload_crc`` and
    ``payload`` (the coder's bytes).

  Raises:
    ValueError: not an armodels file, an unknown format version or coding scheme, or a
      truncated or damaged header.
  """
  if not isinstance(data, (bytes, bytearray, memoryview)):
    raise ValueError(f"expected compressed data as bytes, got {type(data).__name__}")
  data = bytes(data)
  if data[:3] != MAGIC:
    raise ValueError(f"expected an armodels compressed file (starting {MAGIC!r}), got one starting "
                     f"{data[:3]!r}")
  try:
    version, scheme, name_len = data[3], data[4], data[5]
    if version != FORMAT_VERSION:
      raise ValueError(f"expected compressed-file format version {FORMAT_VERSION}, got {version}")
    if scheme not in (SCHEME_DENSE, SCHEME_BLOCKS):
      raise ValueError(f"coding scheme {scheme}")
    at = 6 + name_len
    name = data[6:at].decode()
    fp, cond_crc = _IDS.unpack_from(data, at)
    at += _IDS.size
    chunk, at = _read_varint(data, at)
    count, at = _read_varint(data, at)
    rank, at = _read_varint(data, at)
    if rank not in (1, 3):
      raise ValueError(f"event rank {rank}")
    shape = []
    for _ in range(rank):
      dim, at = _read_varint(data, at)
      shape.append(dim)
    has_lengths, at = _read_varint(data, at)
    lengths = None
    if has_lengths:
      if rank != 1 or count > len(data):
        raise ValueError(f"lengths with event rank {rank} and count {count}")
      lengths = np.zeros(count, np.int64)
      for i in range(count):
        lengths[i], at = _read_varint(data, at)
    data_crc, payload_crc = _CHECKS.unpack_from(data, at)
    at += _CHECKS.size
  except (IndexError, struct.error, UnicodeDecodeError, ValueError) as e:
    if "format version" in str(e):
      raise
    raise ValueError(f"the compressed file's header is truncated or damaged ({e})") from None
  payload = data[at:]
  if chunk < 1 or count < 1 or min(shape) < 1 or has_lengths > 1 or (
      lengths is not None and (lengths.min() < 1 or lengths.max() > shape[0])):
    raise ValueError(f"the compressed file's header is damaged (chunk {chunk}, count {count}, "
                     f"event shape {shape}, lengths flag {has_lengths})")
  return dict(version=version, scheme=scheme, model=name, fingerprint=fp, cond_crc=cond_crc,
              chunk=chunk, count=count, event_shape=tuple(shape), lengths=lengths,
              data_crc=data_crc, payload_crc=payload_crc, payload=payload)


# --------------------------------------------------------------------------------------------------
# The coding scheme.
# --------------------------------------------------------------------------------------------------


def coding_scheme(model) -> tuple[int, int]:
  """``(scheme, W)``: ``(SCHEME_BLOCKS, ceil(sqrt(L)))`` for ``L >= BLOCK_MIN_LEVELS`` levels and
  a head with ``block_probs`` (the discretized logistic mixture), else ``(SCHEME_DENSE, 0)``."""
  levels = int(model.num_levels)
  if levels >= BLOCK_MIN_LEVELS and hasattr(model.head, "block_probs"):
    return SCHEME_BLOCKS, math.isqrt(levels - 1) + 1
  return SCHEME_DENSE, 0


@functools.partial(jax.jit, static_argnames=("model", "width"))
def first_stage(model, raw, width: int):
  """The first stage's conditional: ``raw [B, P]`` -> float32 ``[B, L]`` probabilities of every
  level (``width=0``, the dense scheme) or ``[B, G]`` of the blocks of ``width`` levels."""
  raw = raw.astype(jnp.float32)
  if not width:
    return jnp.exp(model.head.log_probs(raw))
  return model.head.block_probs(raw, width)


@functools.partial(jax.jit, static_argnames=("model", "width"))
def second_stage(model, raw, block, width: int):
  """The second stage's conditional: ``raw [B, P]``, ``block [B]`` -> float32 ``[B, W]``,
  ``P(level block * W + j | block)`` (zero past level L - 1; uniform over the block's levels
  where every level's probability underflows to 0, a block the first stage gave ~1e-38)."""
  p = model.head.block_level_probs(raw.astype(jnp.float32), block, width)
  total = jnp.sum(p, axis=-1, keepdims=True)
  levels = block[:, None] * width + jnp.arange(width)[None, :]
  valid = (levels < model.num_levels).astype(jnp.float32)
  flat = valid / jnp.sum(valid, axis=-1, keepdims=True)
  return jnp.where(total > 0, p / jnp.where(total > 0, total, 1.0), flat)


# --------------------------------------------------------------------------------------------------
# The coding loop.
# --------------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("model", "width"), donate_argnums=(2, 3))
def _step(model, params, cache, canvas, pos, values, t, cond, call_kwargs, width):
  """Writes the previous step's symbols, then the conditional of step t.

  Args:
    model: the float32 model (not the decode clone).
    params: its parameters.
    cache: the decode clone's ``'cache'`` collection.
    canvas: ``[B, *event_shape]`` int32.
    pos: ``[B]`` flat dimensions of the previous step's symbols (any, at t = 0).
    values: ``[B]`` their values (zeros at t = 0).
    t: int32 scalar step.
    cond, call_kwargs: as for the cached sampler.
    width: the block width of the scheme (0: dense).

  Returns:
    ``(first-stage probs [B, L or G] float32, raw [B, P] float32, cache, canvas)``.
  """
  decoder = model.clone(decode=True)
  batch = canvas.shape[0]
  flat = canvas.reshape(batch, -1).at[jnp.arange(batch), pos].set(values)
  canvas = flat.reshape(canvas.shape)
  raw, updated = decoder.apply({"params": params, "cache": cache}, canvas, t, cond,
                               method=decoder.decode_step, mutable=["cache"], **call_kwargs)
  raw = raw.astype(jnp.float32)
  return first_stage(model, raw, width), raw, updated["cache"], canvas


@functools.partial(jax.jit, static_argnames=("model", "batch"))
def _plan(model, params, batch: int, cond):
  prefix = jnp.zeros((batch, model.num_dims), model.value_dtype)
  order, call_kwargs, _ = samplers._plan(  # pylint: disable=protected-access
      model, {"params": params}, jax.random.key(_PLAN_SEED), prefix, jnp.int32(0), cond)
  return order, call_kwargs


class _Stages:
  """The conditionals of one step for the rows being coded, in the scheme's stages."""

  def __init__(self, model, width: int, first, raw, active):
    self.model, self.width, self._raw, self.active = model, width, raw, active
    self.first = quantize(np.asarray(first)[active]).astype(np.float64)

  def second(self, blocks: np.ndarray) -> np.ndarray:
    """Quantised ``P(level | block)`` of the active rows, given their blocks."""
    full = np.zeros(self._raw.shape[0], np.int32)
    full[self.active] = blocks
    probs = second_stage(self.model, self._raw, full, self.width)
    return quantize(np.asarray(probs)[self.active]).astype(np.float64)


def _code_chunk(model, params, cond, lengths: np.ndarray, width: int, code,
                prefixes: bool) -> np.ndarray:
  """Runs the decode loop over one chunk of ``B = len(lengths)`` rows; row i is coded at its
  first ``lengths[i]`` steps (0 for a padded row), and ``code(stages, pos)`` codes the symbols of
  the active rows at one step (a :class:`_Stages`; ``pos`` their flat dimensions) and returns them.
  ``prefixes``: the lengths cut examples short, so the model's order must be left to right.

  Returns:
    ``[B, D]`` int32 symbols by flat dimension (zeros where not coded).
  """
  batch = len(lengths)
  order, call_kwargs = _plan(model, params, batch, cond)
  order = np.asarray(order)  # [B, D]
  if prefixes and (order != np.arange(model.num_dims)).any():
    raise ValueError(f"lengths need a model that codes left to right; {type(model).__name__}'s "
                     "sampling plan has another order")
  decoder = model.clone(decode=True)
  cache = samplers.init_cache(decoder, batch, cond, call_kwargs)
  canvas = jnp.zeros((batch,) + model.event_shape, jnp.int32)
  values = np.zeros((batch,), np.int32)
  pos = order[:, 0]
  out = np.zeros((batch, model.num_dims), np.int32)
  for t in range(int(lengths.max())):
    first, raw, cache, canvas = _step(model, params, cache, canvas, pos, values, np.int32(t),
                                      cond, call_kwargs, width)
    pos = order[:, t]
    active = np.flatnonzero(lengths > t)
    values = np.zeros((batch,), np.int32)
    values[active] = code(_Stages(model, width, first, raw, active), pos[active])
    out[np.arange(batch), pos] = values
  return out


def _check(model, variables, cond) -> None:
  api._check_model(model)  # pylint: disable=protected-access
  api._check_variables(variables)  # pylint: disable=protected-access
  if model.real_valued:
    raise ValueError(f"compression needs a discrete model; {type(model).__name__} is real-valued "
                     "(num_levels=None): its densities are not probabilities of symbols")
  if not model.has_decode:
    raise ValueError(f"compression needs a model with a cached decode path (has_decode); "
                     f"{type(model).__name__} has none")
  model.check_request(cond=cond)


def _chunks(rows_order: np.ndarray, chunk: int, cond):
  """Yields (rows, padded cond) for each chunk: ``rows`` the examples' indices (in
  ``rows_order``), the cond's rows taken in that order and padded with zeros to ``chunk``."""
  for start in range(0, len(rows_order), chunk):
    rows = rows_order[start:start + chunk]

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


def _rows_order(lengths, count: int) -> np.ndarray:
  return np.arange(count) if lengths is None else np.argsort(lengths, kind="stable")


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
    flush (at most a few words).
  """
  _check(model, variables, cond)
  x = api.check_input(model, x)
  if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
    raise ValueError(f"expected batch_size a positive int, got {batch_size!r}")
  count = x.shape[0]
  _check_cond_rows(cond, count)
  chunk = int(min(batch_size, count))
  constriction = _constriction()
  model = model.as_float32()
  params = variables["params"]
  if lengths is not None:
    lengths = _check_lengths(model, lengths, count)
  scheme, width = coding_scheme(model)
  encoder = constriction.stream.queue.RangeEncoder()
  family = constriction.stream.model.Categorical(perfect=False)
  flat = _masked(x.reshape(count, -1), lengths)
  for rows, part in _chunks(_rows_order(lengths, count), chunk, cond):
    symbols = flat[rows]

    def encode(stages, pos, symbols=symbols):
      value = symbols[stages.active, pos].astype(np.int32)
      if not width:
        encoder.encode(value, family, stages.first)
        return value
      encoder.encode(value // width, family, stages.first)
      encoder.encode(value % width, family, stages.second(value // width))
      return value

    _code_chunk(model, params, part, _chunk_lengths(model, rows, chunk, lengths), width, encode,
                lengths is not None)
  payload = encoder.get_compressed().astype("<u4").tobytes()
  header = _pack_header(model_name(model), scheme, fingerprint(model, variables), _cond_crc(cond),
                        chunk, count, model.event_shape, lengths,
                        _crc([flat.reshape(x.shape)]), zlib.crc32(payload))
  return header + payload


def decompress(model, variables: dict, data: bytes, cond: Any = None) -> np.ndarray:
  """Inverts :func:`compress`.

  Args:
    model, variables: the model that compressed ``data`` (same fields and parameters; the same
      event shape as the file's).
    data: the bytes :func:`compress` returned.
    cond: the conditioning input given to :func:`compress`.

  Returns:
    ``[N, *event_shape]`` int32, equal to the compressed ``x`` (zeros after each example's length
    when it was compressed with ``lengths``; :func:`read_header` gives them).

  Raises:
    ValueError: a different model, event shape or cond, a damaged file, or decoded data that
      fail the file's checksum (conditionals that differ from the encoder's: another backend or
      library version).
  """
  _check(model, variables, cond)
  head = read_header(data)
  name = model_name(model)
  if head["model"] != name or head["fingerprint"] != fingerprint(model, variables):
    raise ValueError(
        f"expected the model that compressed this file ({head['model']!r}, fingerprint "
        f"{head['fingerprint'].hex()}), got {name!r} with fingerprint "
        f"{fingerprint(model, variables).hex()}: a different configuration or parameters")
  if head["event_shape"] != tuple(model.event_shape):
    raise ValueError(f"expected a model with the file's event shape {head['event_shape']}, got "
                     f"{tuple(model.event_shape)} (sequence models: model.clone(event_shape=...))")
  if head["cond_crc"] != _cond_crc(cond):
    raise ValueError("expected the cond given to compress (its CRC-32 differs)" if cond is not None
                     else "this file was compressed with a cond: expected it, got cond=None")
  scheme, width = coding_scheme(model)
  if head["scheme"] != scheme:
    raise ValueError(f"expected coding scheme {scheme} for this model, got {head['scheme']}")
  payload = head["payload"]
  if len(payload) % 4 or zlib.crc32(payload) != head["payload_crc"]:
    raise ValueError("the compressed data are damaged: their CRC-32 does not match the header's")
  count, chunk, lengths = head["count"], head["chunk"], head["lengths"]
  _check_cond_rows(cond, count)
  constriction = _constriction()
  model = model.as_float32()
  params = variables["params"]
  decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, "<u4").astype(np.uint32))
  family = constriction.stream.model.Categorical(perfect=False)
  out = np.zeros((count, model.num_dims), np.int32)

  def decode(stages, pos):
    del pos
    first = np.asarray(decoder.decode(family, stages.first), np.int32)
    if not width:
      return first
    return first * width + np.asarray(decoder.decode(family, stages.second(first)), np.int32)

  for rows, part in _chunks(_rows_order(lengths, count), chunk, cond):
    out[rows] = _code_chunk(model, params, part, _chunk_lengths(model, rows, chunk, lengths),
                            width, decode, lengths is not None)[:len(rows)]
  x = out.reshape((count,) + model.event_shape)
  if _crc([x]) != head["data_crc"]:
    raise ValueError("the decoded data fail the file's checksum: the model computed other "
                     "conditionals than the encoder's (another backend or library version?) or "
                     "the file is damaged")
  return x
