"""Likelihood heads (pure functions of raw model outputs)."""

from armodels_jax.distributions.heads import Bernoulli, Categorical, make_head

__all__ = ["Bernoulli", "Categorical", "make_head"]
