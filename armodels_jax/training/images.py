"""Sample grids as PNG images (PIL)."""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["save_image_grid", "image_grid", "as_images"]

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
