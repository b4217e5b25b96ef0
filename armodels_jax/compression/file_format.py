"""The compressed file: its header, its checksums and the limits a reader checks before any work.

The file is a small header and the coder's words::

  magic b"ARM" | format version (1 byte) | coding scheme (1 byte)
  | model name (1-byte length + UTF-8)
  | fingerprint of the model's fields and parameters (8 bytes) | CRC-32 of cond
  | chunk size, count N, event rank, event dims, has lengths (0 or 1)
  | [the N lengths] (LEB128 varints) | CRC-32 of x | CRC-32 of the payload
  | payload (little-endian uint32 words)

(46 bytes for ``pixelcnn_pp``, 10,000 images of 28 x 28 x 1 in chunks of 256; lengths add one to
three bytes per example: 600 for the 300 FSDD test recordings.)

Reading a file never executes anything from it: the header is parsed field by field into integers,
bytes and one UTF-8 name (no pickle, no ``eval``, no import by name); the model that decodes it is the
caller's, never one the file names. The CRC-32s catch accidents, not intent: anyone can rewrite a count
and recompute them. So before anything is allocated or compiled, :func:`check_limits` bounds what the
header may ask for (elements to produce, the chunk size, the event shape), and the decoder bounds the
symbols it decodes by the information its payload can carry (:mod:`armodels_jax.compression.coder`).

Dimensions: N examples (count), B chunk, D = prod(event_shape).
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from typing import Any

import jax
import numpy as np

__all__ = ["MAGIC", "FORMAT_VERSION", "SCHEME_DENSE", "SCHEME_BLOCKS", "DEFAULT_MAX_ELEMENTS",
           "pack_header", "read_header", "check_limits", "fingerprint", "model_name", "cond_crc",
           "array_crc"]

MAGIC = b"ARM"
FORMAT_VERSION = 2
# Coding schemes (the header's byte after the version).
SCHEME_DENSE = 0   # one table of all L levels per symbol
SCHEME_BLOCKS = 1  # two stages: the block of W levels, then the level inside it
# The most elements a file may decode to (N * D), and the most a decode loop may hold (its caches,
# canvas and plan for one chunk), unless the caller raises it: 2**28 int32 elements are 1 GiB.
DEFAULT_MAX_ELEMENTS = 1 << 28

_IDS = struct.Struct("<8sI")     # fingerprint, CRC-32 of cond
_CHECKS = struct.Struct("<II")   # CRC-32 of x, CRC-32 of the payload
_MAX_VARINT_BITS = 63


def array_crc(arrays) -> int:
  """CRC-32 of arrays' dtypes, shapes and bytes, in order."""
  crc = 0
  for a in arrays:
    a = np.ascontiguousarray(a)
    crc = zlib.crc32(f"{a.dtype.str}{a.shape}".encode(), crc)
    crc = zlib.crc32(a.tobytes(), crc)
  return crc


def cond_crc(cond: Any) -> int:
  """CRC-32 of a cond pytree (its structure and leaves); 0 for None."""
  if cond is None:
    return 0
  leaves, treedef = jax.tree_util.tree_flatten(cond)
  return zlib.crc32(str(treedef).encode(), array_crc(np.asarray(v) for v in leaves))


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
    if shift > _MAX_VARINT_BITS:
      raise ValueError("a header integer is too long")


def pack_header(name: str, scheme: int, fp: bytes, cond_check: int, chunk: int, count: int,
                event_shape: tuple[int, ...], lengths, data_crc: int, payload_crc: int) -> bytes:
  """The header bytes (see the module docstring); the payload follows them."""
  raw_name = name.encode()
  sizes = [chunk, count, len(event_shape), *event_shape, int(lengths is not None)]
  if lengths is not None:
    sizes += [int(n) for n in lengths]
  return b"".join([MAGIC, bytes([FORMAT_VERSION, scheme, len(raw_name)]), raw_name,
                   _IDS.pack(fp, cond_check), b"".join(_varint(n) for n in sizes),
                   _CHECKS.pack(data_crc, payload_crc)])


def read_header(data: bytes) -> dict:
  """Parses a compressed file's header (no allocation beyond the file's own size).

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
    fp, cond_check = _IDS.unpack_from(data, at)
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
      # At least one byte per length: a count beyond the file's size is damage, not a big file.
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
  return dict(version=version, scheme=scheme, model=name, fingerprint=fp, cond_crc=cond_check,
              chunk=chunk, count=count, event_shape=tuple(shape), lengths=lengths,
              data_crc=data_crc, payload_crc=payload_crc, payload=payload)


def _raise_hint(max_elements: int) -> str:
  return (f"if you trust the file, raise the limit: decompress(..., max_elements=N) or "
          f"armodels decompress --max-elements N (now {max_elements})")


def check_limits(head: dict, max_elements: int = DEFAULT_MAX_ELEMENTS,
                 event_shape: tuple[int, ...] | None = None) -> None:
  """Checks a parsed header against the reader's limits, before anything is allocated.

  Args:
    head: from :func:`read_header`.
    max_elements: the most elements (``N * D``) the file may decode to.
    event_shape: the decoding model's event shape, or None to skip that check.

  Raises:
    ValueError: more elements than ``max_elements`` (naming how to raise it), a chunk larger than
      the count, or an event shape other than the model's.
  """
  if (not isinstance(max_elements, (int, np.integer)) or isinstance(max_elements, bool)
      or max_elements < 1):
    raise ValueError(f"expected max_elements a positive int, got {max_elements!r}")
  count, chunk, shape = head["count"], head["chunk"], tuple(head["event_shape"])
  elements = count * math.prod(shape)
  if elements > max_elements:
    raise ValueError(
        f"this file would decode to {elements:,} elements ({count:,} examples of shape "
        f"{shape}), over the limit of max_elements={max_elements:,}; {_raise_hint(max_elements)}")
  if chunk > count:
    raise ValueError(f"the compressed file's header is damaged or crafted: chunk size {chunk:,} "
                     f"exceeds its count of {count:,} examples")
  if event_shape is not None and shape != tuple(event_shape):
    raise ValueError(f"expected a model with the file's event shape {shape}, got "
                     f"{tuple(event_shape)} (sequence models: model.clone(event_shape=...))")


def check_state_limit(state_elements: int, chunk: int, max_elements: int) -> None:
  """Raises ValueError when one chunk's decode state (caches, canvas, plan) exceeds ``max_elements``."""
  if state_elements > max_elements:
    raise ValueError(
        f"decoding this file {chunk:,} examples at a time needs a decode state of "
        f"{state_elements:,} elements, over the limit of max_elements={max_elements:,}; "
        f"{_raise_hint(max_elements)}")
