"""A decode cache that accumulates: the dense models' pre-activations of the visited prefix.

NADE-style decoders (EoNADE, NADE-k, MADE, RNADE) keep a layer's pre-activations ``[B, H]`` in the
``'cache'`` collection and, at each step, add what the newly visited input (or newly final units)
contribute.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class RunningSum(nn.Module):
  """``base`` at the first step, else the cached value plus ``delta``; stored (``'cache'``, ``'pre'``)
  and returned."""

  @nn.compact
  def __call__(self, base: jnp.ndarray, delta: jnp.ndarray, first: jnp.ndarray) -> jnp.ndarray:
    pre = self.variable("cache", "pre", jnp.zeros, delta.shape, delta.dtype)
    value = jnp.where(first, base, pre.value + delta)
    pre.value = value
    return value
