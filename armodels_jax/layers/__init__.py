"""Building blocks: pure NumPy masks and the masked layers that use them."""

from armodels_jax.layers import masks
from armodels_jax.layers.masked_conv import MaskedConv2D
from armodels_jax.layers.masked_dense import MaskedDense

__all__ = ["masks", "MaskedConv2D", "MaskedDense"]
