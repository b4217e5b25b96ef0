"""Likelihood heads (pure functions of raw model outputs)."""

from armodels_jax.distributions.heads import Bernoulli, Categorical, make_head
from armodels_jax.distributions.mixtures import (MixtureOfGaussians, MixtureOfLaplace,
                                                 MixtureOfLogistics)

__all__ = ["Bernoulli", "Categorical", "MixtureOfGaussians", "MixtureOfLaplace",
           "MixtureOfLogistics", "make_head"]
