"""Sample grids."""

import numpy as np
import pytest
from PIL import Image

from armodels_jax.training import images


def test_grid_layout_and_levels():
  x = np.zeros((5, 2, 3, 1), np.int32)
  x[1] = 3  # The brightest level of 4 maps to 255.
  grid = images.image_grid(x, num_levels=4, ncols=3, pad=1)
  scale = 64 // 3 + 1  # Each 2x3 image is upscaled so its longer side is at least 64 pixels.
  assert grid.shape == ((2 * 3 + 1) * scale, (3 * 4 + 1) * scale, 1)
  assert grid.dtype == np.uint8
  # Image 1 sits in row 0, column 1: top-left pixel at (1, 1 + 4) before upscaling.
  assert grid[1 * scale, 5 * scale, 0] == 255
  assert grid[1 * scale, 1 * scale, 0] == 0
  assert grid[0, 0, 0] == 128  # Padding.


def test_save_png(tmp_path):
  rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 5, 3))
  path = images.save_image_grid(rgb, str(tmp_path / "a" / "rgb.png"), num_levels=256)
  with Image.open(path) as im:
    assert im.mode == "RGB"
  flat = np.ones((4, 64), np.int32)  # Flattened 8x8 images are shown as images.
  path = images.save_image_grid(flat, str(tmp_path / "flat.png"), num_levels=2, ncols=4)
  with Image.open(path) as im:
    assert im.mode == "L" and im.size[0] > im.size[1]
  with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
    images.save_image_grid(np.zeros((2, 4, 4, 2)), str(tmp_path / "bad.png"), num_levels=2)
