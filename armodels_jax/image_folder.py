"""A folder of PNG images in, one compressed file out, and back: file names kept.

``armodels compress --workdir DIR --images IN_DIR --out X.arm`` and ``armodels decompress --workdir DIR
--in X.arm --images OUT_DIR`` call :func:`compress_workdir_images` and :func:`decompress_workdir_images`;
:func:`compress_folder` and :func:`decompress_folder` do the same with a model and its variables in hand.
The images are coded by the public ``arm.compress`` (an exact-likelihood range code,
``armodels_jax.compression``); this module only reads and writes the PNGs and keeps their names.

Which PNGs: every file directly in the folder whose name ends in ``.png`` (any case), in sorted order;
other files and subfolders are left out. Each must have the model's height and width, and:

* a model of 2 levels (binarized images): a 1-bit PNG (mode ``'1'``), or a grey PNG (mode ``'L'``) whose
  pixels are all 0 or 255; the levels are 0 and 1. Decompressing writes 1-bit PNGs.
* a model of 3 to 256 levels: a grey PNG (mode ``'L'``) for one channel, an RGB PNG for three; each
  pixel value is its level and must be below the model's number of levels. Decompressing writes the
  same mode.

The round trip is exact in the pixels (as ``PIL.Image.open(f).convert(mode)`` reads them) and the file
names, not in the PNG bytes: a PNG's metadata and its zlib stream are not kept.

The container wraps the bytes of ``arm.compress`` with the names::

  magic b"ARMF" | version (1 byte) | N (uint32, little-endian)
  | N x (name length in bytes, uint16 LE | UTF-8 name) | CRC-32 of everything before it (uint32 LE)
  | the bytes of arm.compress (its own header and checks)

A name is a bare file name ending in ``.png``: no path separator, no NUL, not ``.`` or ``..``; names are
unique. A damaged container raises ``ValueError``; so does a target file that already exists
(decompressing writes nothing then).
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any, Sequence

import numpy as np

__all__ = ["MAGIC", "VERSION", "list_pngs", "read_images", "write_images", "pack", "unpack",
           "compress_folder", "decompress_folder", "compress_workdir_images",
           "decompress_workdir_images"]

MAGIC = b"ARMF"
VERSION = 1
_MAX_NAME_BYTES = 0xFFFF


def _image_model(model) -> tuple[int, int, int, int]:
  """``(H, W, C, L)`` of an image model whose levels fit a PNG (8 bits per channel)."""
  shape = tuple(model.event_shape)
  levels = model.num_levels
  if len(shape) != 3 or shape[-1] not in (1, 3):
    raise ValueError(f"expected an image model with event shape (H, W, 1) or (H, W, 3), got {shape}")
  if levels is None or not 2 <= levels <= 256:
    raise ValueError(f"expected an image model of 2 to 256 levels (PNG, 8 bits), got {levels}")
  return shape[0], shape[1], shape[2], int(levels)


def _check_name(name: Any) -> str:
  if not isinstance(name, str) or not name.lower().endswith(".png") or name in (".png",):
    raise ValueError(f"expected a file name ending in .png, got {name!r}")
  if "/" in name or "\\" in name or "\0" in name or name in (".", "..") or os.sep in name:
    raise ValueError(f"expected a bare file name (no path), got {name!r}")
  if len(name.encode("utf-8")) > _MAX_NAME_BYTES:
    raise ValueError(f"expected a file name of at most {_MAX_NAME_BYTES} bytes, got {name[:40]!r}...")
  return name


def list_pngs(folder: str) -> list[str]:
  """The sorted names of the ``.png`` files directly in ``folder``."""
  if not os.path.isdir(folder):
    raise FileNotFoundError(2, "images folder not found", folder)
  names = sorted(n for n in os.listdir(folder)
                 if n.lower().endswith(".png") and os.path.isfile(os.path.join(folder, n)))
  if not names:
    raise ValueError(f"expected at least one .png file in {folder!r}, found none")
  return names


def read_images(folder: str, model) -> tuple[list[str], np.ndarray]:
  """Reads the folder's PNGs as the model's levels.

  Returns:
    ``(names, x)``: the sorted file names and ``x`` int32 ``[N, H, W, C]`` in ``[0, num_levels)``.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top

  h, w, c, levels = _image_model(model)
  names = list_pngs(folder)
  x = np.zeros((len(names), h, w, c), np.int32)
  for i, name in enumerate(names):
    path = os.path.join(folder, name)
    with Image.open(path) as img:
      if img.format != "PNG":
        raise ValueError(f"{path}: expected a PNG file, got {img.format}")
      mode = img.mode
      pixels = np.asarray(img)
    if pixels.shape[:2] != (h, w):
      raise ValueError(f"{path}: expected {h} x {w} pixels (the model's shape), got "
                       f"{pixels.shape[0]} x {pixels.shape[1]}")
    if levels == 2 and c == 1:
      if mode == "1":
        pixels = pixels.astype(np.int32)
      elif mode == "L" and np.all((pixels == 0) | (pixels == 255)):
        pixels = (pixels == 255).astype(np.int32)
      else:
        raise ValueError(f"{path}: a 2-level model expects a 1-bit PNG or a grey one of only 0 and "
                         f"255, got mode {mode!r}" + (" with other values" if mode == "L" else ""))
    else:
      want = "L" if c == 1 else "RGB"
      if mode != want:
        raise ValueError(f"{path}: expected a {'grey (L)' if c == 1 else 'RGB'} PNG for this "
                         f"{c}-channel model, got mode {mode!r}")
      pixels = pixels.astype(np.int32)
      if pixels.max() >= levels:
        raise ValueError(f"{path}: expected pixel values below the model's {levels} levels, got "
                         f"{int(pixels.max())}")
    x[i] = pixels.reshape(h, w, c)
  return names, x


def write_images(folder: str, names: Sequence[str], x: np.ndarray, num_levels: int) -> list[str]:
  """Writes ``x`` ``[N, H, W, C]`` as PNGs ``folder/names[i]`` (1-bit for 2 levels, else grey or RGB);
  creates the folder. Refuses (``ValueError``, nothing written) when a target file exists.

  Returns:
    The paths written.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top

  names = [_check_name(n) for n in names]
  if len(names) != len(x):
    raise ValueError(f"expected one name per image, got {len(names)} names for {len(x)} images")
  paths = [os.path.join(folder, n) for n in names]
  existing = [p for p in paths if os.path.lexists(p)]
  if existing:
    raise ValueError(f"will not overwrite {len(existing)} existing file(s), e.g. {existing[0]!r}")
  os.makedirs(folder, exist_ok=True)
  for path, img in zip(paths, x):
    if num_levels == 2 and img.shape[-1] == 1:
      pil = Image.fromarray(img[..., 0].astype(bool))
    elif img.shape[-1] == 1:
      pil = Image.fromarray(img[..., 0].astype(np.uint8), mode="L")
    else:
      pil = Image.fromarray(img.astype(np.uint8), mode="RGB")
    pil.save(path, format="PNG")
  return paths


def pack(names: Sequence[str], payload: bytes) -> bytes:
  """The container: the names, a CRC-32 over them, then ``payload`` (the bytes of arm.compress)."""
  names = [_check_name(n) for n in names]
  if len(set(names)) != len(names):
    raise ValueError("expected unique file names, got duplicates")
  head = bytearray(MAGIC + bytes([VERSION]) + struct.pack("<I", len(names)))
  for name in names:
    raw = name.encode("utf-8")
    head += struct.pack("<H", len(raw)) + raw
  head += struct.pack("<I", zlib.crc32(bytes(head)))
  return bytes(head) + payload


def unpack(data: bytes) -> tuple[list[str], bytes]:
  """Inverts :func:`pack`: ``(names, payload)``; a damaged or foreign file raises ``ValueError``."""
  data = bytes(data)
  if data[:4] != MAGIC:
    raise ValueError(f"expected an image-folder file (magic {MAGIC!r}), got {data[:4]!r}")
  if len(data) < 9 or data[4] != VERSION:
    raise ValueError(f"expected image-folder format version {VERSION}, got "
                     f"{data[4] if len(data) > 4 else 'none'}")
  (count,) = struct.unpack_from("<I", data, 5)
  at, names = 9, []
  for _ in range(count):
    if at + 2 > len(data):
      raise ValueError("damaged image-folder file: the names are cut short")
    (size,) = struct.unpack_from("<H", data, at)
    if at + 2 + size > len(data):
      raise ValueError("damaged image-folder file: the names are cut short")
    try:
      names.append(data[at + 2:at + 2 + size].decode("utf-8"))
    except UnicodeDecodeError as e:
      raise ValueError("damaged image-folder file: a name is not UTF-8") from e
    at += 2 + size
  if at + 4 > len(data) or struct.unpack_from("<I", data, at)[0] != zlib.crc32(data[:at]):
    raise ValueError("damaged image-folder file: the names' CRC-32 does not match")
  for name in names:
    _check_name(name)
  if len(set(names)) != len(names):
    raise ValueError("damaged image-folder file: duplicate names")
  return names, data[at + 4:]


def compress_folder(model, variables: dict, folder: str, *, batch_size: int = 256) -> bytes:
  """The folder's PNGs (see the module docstring) as one container of their names and
  ``arm.compress`` of their pixels."""
  import armodels_jax as arm  # pylint: disable=g-import-not-at-top

  names, x = read_images(folder, model)
  return pack(names, arm.compress(model, variables, x, batch_size=batch_size))


def decompress_folder(model, variables: dict, data: bytes, folder: str, *,
                      max_elements: int = 1 << 28) -> list[str]:
  """Inverts :func:`compress_folder` into ``folder`` (created); returns the paths written. The
  compressed pixels are held to ``arm.decompress``'s limits (``max_elements``)."""
  import armodels_jax as arm  # pylint: disable=g-import-not-at-top

  _, _, _, levels = _image_model(model)
  names, payload = unpack(data)
  existing = [n for n in names if os.path.lexists(os.path.join(folder, n))]
  if existing:  # Before the (slow) decode.
    raise ValueError(f"will not overwrite {len(existing)} existing file(s) in {folder!r}, e.g. "
                     f"{existing[0]!r}")
  x = arm.decompress(model, variables, payload, max_elements=max_elements)
  if len(x) != len(names):
    raise ValueError(f"damaged image-folder file: {len(names)} names for {len(x)} images")
  return write_images(folder, names, x, levels)


def _load(workdir: str):
  if not os.path.isdir(workdir):
    raise FileNotFoundError(2, "workdir not found", workdir)
  from armodels_jax import inference  # pylint: disable=g-import-not-at-top

  model, variables, _ = inference.load(workdir)
  return model, variables


def compress_workdir_images(workdir: str, folder: str, out: str, *, batch_size: int = 256) -> dict:
  """``armodels compress --images``: the folder's PNGs with the checkpoint of ``workdir`` (a training
  workdir or a shipped ``pretrained/<name>/``), written to ``out``.

  Returns:
    ``{'bytes', 'n', 'bits_per_dim'}`` (bits/dim over the images' pixels, names and header included).
  """
  out_dir = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(out_dir):
    raise FileNotFoundError(2, "output directory not found", out_dir)
  list_pngs(folder)  # Fails before the checkpoint is loaded.
  model, variables = _load(workdir)
  names, x = read_images(folder, model)
  import armodels_jax as arm  # pylint: disable=g-import-not-at-top

  blob = pack(names, arm.compress(model, variables, x, batch_size=batch_size))
  with open(out, "wb") as f:
    f.write(blob)
  return {"bytes": len(blob), "n": len(names), "bits_per_dim": 8 * len(blob) / x.size}


def decompress_workdir_images(workdir: str, path_in: str, folder: str, *,
                              max_elements: int = 1 << 28) -> list[str]:
  """``armodels decompress --images``: writes the PNGs of ``path_in`` into ``folder`` under their
  original names; returns the paths. A header over the limits (``max_elements``) is refused before the
  checkpoint is loaded."""
  from armodels_jax import compression  # pylint: disable=g-import-not-at-top

  with open(path_in, "rb") as f:
    data = f.read()
  _, payload = unpack(data)  # A foreign or damaged file fails before the checkpoint is loaded,
  compression.check_limits(compression.read_header(payload), max_elements)  # as does a bomb.
  model, variables = _load(workdir)
  return decompress_folder(model, variables, data, folder, max_elements=max_elements)
