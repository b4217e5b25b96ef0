"""A reader for the IDX format of the original MNIST files (gzip or plain).

IDX (http://yann.lecun.com/exdb/mnist/): a big-endian header of a 4-byte magic
number `0x00 0x00 <type code> <ndim>`, then `ndim` big-endian uint32 sizes,
then the data in row-major order. MNIST images are `0x00000803`
(uint8, 3 dims: N, 28, 28) and labels `0x00000801` (uint8, 1 dim: N).
"""

from __future__ import annotations

import gzip
import math
import os

import numpy as np

# IDX type code -> big-endian dtype.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

MNIST_IMAGES_MAGIC = 0x00000803
MNIST_LABELS_MAGIC = 0x00000801


def read_idx(path: str | os.PathLike, expected_magic: int | None = None
             ) -> np.ndarray:
  """Reads an IDX file (gzip-compressed when its name ends in '.gz').

  Args:
    path: the file to read.
    expected_magic: if given, the 4-byte magic number the file must start
      with (e.g. `MNIST_IMAGES_MAGIC`).

  Returns:
    The array with the shape given in the header, in native byte order.

  Raises:
    ValueError: if the magic number is wrong or unknown, or the file is
      shorter or longer than its header says.
  """
  path = os.fspath(path)
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    raw = f.read()
  if len(raw) < 4:
    raise ValueError(f"{path}: expected an IDX file, got {len(raw)} bytes.")
  magic = int.from_bytes(raw[:4], "big")
  if expected_magic is not None and magic != expected_magic:
    raise ValueError(
        f"{path}: expected IDX magic number 0x{expected_magic:08X}, got "
        f"0x{magic:08X}.")
  zero, type_code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
  if zero != 0 or type_code not in _IDX_DTYPES:
    raise ValueError(f"{path}: not an IDX file (magic number 0x{magic:08X}).")
  header_end = 4 + 4 * ndim
  if len(raw) < header_end:
    raise ValueError(f"{path}: IDX header truncated.")
  shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
                for i in range(ndim))
  dtype = _IDX_DTYPES[type_code]
  expected_bytes = math.prod(shape) * dtype.itemsize
  if len(raw) - header_end != expected_bytes:
    raise ValueError(
        f"{path}: IDX header says shape {shape} ({expected_bytes} bytes of "
        f"data), got {len(raw) - header_end} bytes.")
  data = np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape)
  return data.astype(dtype.newbyteorder("="))
