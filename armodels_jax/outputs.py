"""Writing a model's outputs by data kind: PNG grids for images, UTF-8 text, 16-bit WAVs, raw arrays.

A run's ``model.json`` records the dataset's facts (``info``: ``kind`` 'text' with its ``vocab``, 'audio'
with its sample rate and quantization, nothing for images and vectors); `write_samples` reads them to
choose the format, so training's sample grids and ``armodels sample`` write the same files for the same
data. This module sits above ``armodels_jax.data`` (it decodes text and audio levels with it) and below
``training``; ``armodels_jax.training.images`` re-exports the image part.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["save_image_grid", "image_grid", "as_images", "write_samples", "write_text", "write_audio"]

_MIN_CELL = 64  # Small images are upscaled (nearest) so each is at least this many pixels on a side.


def as_images(x: np.ndarray) -> np.ndarray | None:
  """Views samples as images [N, H, W, C]; None when they are not images.

  Accepts [N, H, W, C] (C 1 or 3), [N, H, W], and [N, D] with D a perfect square (a flattened
  grey-scale image, e.g. MADE on 784-dimensional vectors).
  """
  x = np.asarray(x)
  if x.ndim == 4 and x.shape[-1] in (1, 3):
    return x
  if x.ndim == 3:
    return x[..., None]
  if x.ndim == 2:
    side = math.isqrt(x.shape[1])
    if side * side == x.shape[1] and side > 1:
      return x.reshape(x.shape[0], side, side, 1)
  return None


def image_grid(x_int: np.ndarray, num_levels: int, ncols: int | None = None, pad: int = 1) -> np.ndarray:
  """Tiles integer images into one uint8 image.

  Args:
    x_int: int [N, H, W, C] with values in ``[0, num_levels)``, C 1 or 3.
    num_levels: the number of levels; level ``num_levels - 1`` maps to 255.
    ncols: images per row (default: ``ceil(sqrt(N))``).
    pad: pixels between images (before upscaling).

  Returns:
    uint8 [rows * (H + pad) + pad, ncols * (W + pad) + pad, C], upscaled by an integer factor so each image
    is at least 64 pixels on a side.
  """
  x = np.asarray(x_int)
  if x.ndim != 4 or x.shape[-1] not in (1, 3):
    raise ValueError(f"expected images of shape (N, H, W, C) with C in (1, 3), got {x.shape}")
  if num_levels < 2:
    raise ValueError(f"expected num_levels >= 2, got {num_levels}")
  n, h, w, c = x.shape
  ncols = ncols or max(1, math.ceil(math.sqrt(n)))
  nrows = max(1, math.ceil(n / ncols))
  pixels = np.clip(np.rint(x.astype(np.float64) * 255.0 / (num_levels - 1)), 0, 255).astype(np.uint8)
  grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 128, np.uint8)
  for i in range(n):
    r, col = divmod(i, ncols)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    grid[top:top + h, left:left + w] = pixels[i]
  scale = max(1, math.ceil(_MIN_CELL / max(h, w)))
  return grid.repeat(scale, axis=0).repeat(scale, axis=1)


def save_image_grid(x_int: np.ndarray, path: str, num_levels: int, ncols: int | None = None) -> str:
  """Saves integer images [N, H, W, C] (C 1 or 3; also [N, H, W]) as one PNG grid; returns `path`."""
  from PIL import Image  # Imported here: pillow is only needed for writing images.

  images = as_images(x_int)
  if images is None:
    raise ValueError(f"expected images of shape (N, H, W, C) with C in (1, 3), got {np.shape(x_int)}")
  grid = image_grid(images, num_levels, ncols)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)  # Mode L or RGB.
  return path


def write_text(path: str, xs: np.ndarray, vocab, *, separator: str = "\n\n") -> str:
  """Decodes integer sequences ``[N, T]`` with `vocab` and writes them to `path` (UTF-8), one sample
  per paragraph; returns the text written (without the final newline)."""
  from armodels_jax.data import text  # pylint: disable=g-import-not-at-top

  body = separator.join(text.decode(np.asarray(x).reshape(-1), vocab) for x in xs)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(body + "\n")
  return body


def write_audio(xs: np.ndarray, info: dict, out: str, *, numbered: bool = False) -> list[str]:
  """Decodes sampled audio levels ``[N, T]`` with the run's `info` (``quantization``, ``levels``,
  ``sample_rate``) and writes 16-bit WAVs: `out` for one sample, ``<stem>_00.wav, ...`` for several
  (or always, with `numbered`); returns the paths."""
  from armodels_jax.data import audio  # pylint: disable=g-import-not-at-top

  stem = out[:-len(".wav")] if out.endswith(".wav") else out
  paths = [out] if len(xs) == 1 and not numbered else [f"{stem}_{i:02d}.wav" for i in range(len(xs))]
  for x, path in zip(xs, paths):
    wave = audio.dequantize_audio(np.asarray(x).reshape(-1), info["quantization"], int(info["levels"]))
    audio.write_wav(path, wave, int(info["sample_rate"]))
  return paths


def write_samples(stem: str, xs: np.ndarray, *, info: dict, num_levels, real_valued: bool) -> list[str]:
  """Writes samples ``[num_samples, ...]`` by the data's kind (``info['kind']``) and returns the paths:
  ``stem.txt`` (decoded text, one sample per paragraph) for text; ``stem.npy`` and ``stem_00.wav, ...``
  (16-bit WAVs) for audio; ``stem.png`` (a grid) for discrete images; ``stem.npy`` (the raw array) for
  anything else (real-valued vectors, other sequences)."""
  os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
  kind = (info or {}).get("kind")
  if kind == "text":
    write_text(stem + ".txt", xs, info["vocab"])
    return [stem + ".txt"]
  if not real_valued and kind is None and as_images(xs) is not None:
    return [save_image_grid(xs, stem + ".png", num_levels)]
  np.save(stem + ".npy", xs)
  paths = [stem + ".npy"]
  if kind == "audio":
    paths += write_audio(xs, info, stem + ".wav", numbered=True)
  return paths
