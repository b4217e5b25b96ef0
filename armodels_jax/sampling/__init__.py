"""Naive and cached samplers (see :mod:`armodels_jax.sampling.samplers`)."""

from armodels_jax.sampling import decode  # noqa: F401  (the public decode interface)
from armodels_jax.sampling.samplers import (
    cached_conditionals, init_cache, sample_cached, sample_naive)

__all__ = ["cached_conditionals", "decode", "init_cache", "sample_cached", "sample_naive"]
