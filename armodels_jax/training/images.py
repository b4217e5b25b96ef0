"""Sample grids as PNG images: the image part of `armodels_jax.outputs`, under its old name."""

from armodels_jax.outputs import as_images, image_grid, save_image_grid

__all__ = ["save_image_grid", "image_grid", "as_images"]
