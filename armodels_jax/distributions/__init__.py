"""Likelihood heads (pure functions of raw model outputs)."""

from armodels_jax.distributions.heads import Bernoulli, Categorical, make_head
from armodels_jax.distributions.logistic_mixture import DiscretizedLogisticMixture, log_bin_mass
from armodels_jax.distributions.mixtures import (MixtureOfGaussians, MixtureOfLaplace,
                                                 MixtureOfLogistics)

__all__ = ["Bernoulli", "Categorical", "DiscretizedLogisticMixture", "MixtureOfGaussians", "MixtureOfLaplace",
           "MixtureOfLogistics", "log_bin_mass", "make_head"]
