"""Continuous heads: mixtures of Gaussians, Laplace or logistic densities per dimension.

The conditionals of RNADE (Uria, Murray & Larochelle 2013, "RNADE: The
real-valued neural autoregressive density-estimator", NIPS, section 2): a mixture
density network per dimension. Table 1 of the paper reports RNADE with mixture of
Gaussians (MoG) and mixture of Laplace (MoL) conditionals; the logistic mixture
is offered as a third family with the same parametrisation.

Raw layout of one dimension, ``P = 3K`` wide:

* ``raw[..., 0:K]``: mixture logits (weights ``softmax``);
* ``raw[..., K:2K]``: component locations (means);
* ``raw[..., 2K:3K]``: log-scales before the floor. The scale is
  ``s = exp(u) + min_scale`` (computed as ``log s = logaddexp(u, log min_scale)``),
  the paper's ``exp`` with a smooth floor, so a density never exceeds
  ``1 / (c * min_scale)`` and stays finite.

Densities are in nats (``log_prob`` is a log density, not a probability). For
extreme raw values the standardised distance is clipped at ``+-1e15`` (its
square still fits float32), so ``log_prob`` is finite -- very negative -- and so
are its gradients.

Temperature ``T`` (``sample``): the mixture logits are divided by ``T`` and the
component scales multiplied by ``T``; ``T = 1`` is the model itself, ``T -> 0``
concentrates on the most probable component and shrinks it to a point, so
``T = 0`` returns the location of the most probable component (argmax of the
logits).

Dimensions: ``...`` any leading axes, K mixture components, P = 3K raw parameters.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Optional

import jax
import jax.numpy as jnp

# Standardised distances beyond this are clipped: (1e15)**2 = 1e30 < float32 max.
_MAX_Z = 1e15
_MAX_DIFF = 1e30


@dataclasses.dataclass(frozen=True)
class _Mixture:
  """A K-component location-scale mixture per real-valued dimension.

  Attributes:
    num_components: K >= 1.
    min_scale: the floor added to every component scale (> 0).
  """

  num_components: int
  min_scale: float = 1e-3

  family: ClassVar[str] = ""
  num_levels: ClassVar[Optional[int]] = None  # Real-valued: no levels.

  def __post_init__(self):
    if (not isinstance(self.num_components, int) or isinstance(self.num_components, bool)
        or self.num_components < 1):
      raise ValueError(f"expected num_components an int >= 1, got {self.num_components!r}")
    if not (isinstance(self.min_scale, (int, float)) and math.isfinite(self.min_scale)
            and self.min_scale > 0):
      raise ValueError(f"expected min_scale a finite float > 0, got {self.min_scale!r}")

  @property
  def num_params(self) -> int:
    return 3 * self.num_components

  def params(self, raw: jnp.ndarray):
    """``raw [..., 3K]`` -> ``(log_weights, locs, log_scales)``, each ``[..., K]``."""
    k = self.num_components
    if raw.shape[-1] != 3 * k:
      raise ValueError(f"expected raw parameters [..., {3 * k}] for {k} components, got {raw.shape}")
    log_weights = jax.nn.log_softmax(raw[..., :k], axis=-1)
    locs = raw[..., k:2 * k]
    log_scales = jnp.logaddexp(raw[..., 2 * k:], math.log(self.min_scale))
    return log_weights, locs, log_scales

  # Standardised families: log density, CDF and a draw at z (unit scale).
  def _std_log_pdf(self, z: jnp.ndarray) -> jnp.ndarray:
    raise NotImplementedError

  def _std_cdf(self, z: jnp.ndarray) -> jnp.ndarray:
    raise NotImplementedError

  def _std_sample(self, key: jax.Array, shape) -> jnp.ndarray:
    raise NotImplementedError

  def _standardise(self, raw: jnp.ndarray, x: jnp.ndarray):
    log_weights, locs, log_scales = self.params(raw)
    x = x.astype(locs.dtype)[..., None]  # [..., 1]
    diff = jnp.clip(x - locs, -_MAX_DIFF, _MAX_DIFF)  # never inf, so never inf * 0
    z = jnp.clip(diff * jnp.exp(-log_scales), -_MAX_Z, _MAX_Z)  # [..., K]
    return log_weights, z, log_scales

  def log_prob(self, raw: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """``raw [..., 3K]``, ``x [...]`` real -> ``[...]`` log density in nats."""
    log_weights, z, log_scales = self._standardise(raw, x)
    return jax.nn.logsumexp(log_weights + self._std_log_pdf(z) - log_scales, axis=-1)

  def cdf(self, raw: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """``raw [..., 3K]``, ``x [...]`` -> ``[...]`` the mixture's CDF at x."""
    log_weights, z, _ = self._standardise(raw, x)
    return jnp.sum(jnp.exp(log_weights) * self._std_cdf(z), axis=-1)

  def mean(self, raw: jnp.ndarray) -> jnp.ndarray:
    """``raw [..., 3K] -> [...]`` the mixture's mean."""
    log_weights, locs, _ = self.params(raw)
    return jnp.sum(jnp.exp(log_weights) * locs, axis=-1)

  def sample(self, raw: jnp.ndarray, key: jax.Array,
             temperature: float = 1.0) -> jnp.ndarray:
    """``raw [..., 3K] -> [...]`` float32 draws.

    Draws a component from ``softmax(logits / T)``, then its location plus
    ``T * scale`` times a standard draw of the family. ``T = 0`` gives the
    location of the most probable component.
    """
    log_weights, locs, log_scales = self.params(raw)
    if temperature == 0.0:
      best = jnp.argmax(log_weights, axis=-1)[..., None]
      return jnp.take_along_axis(locs, best, -1)[..., 0].astype(jnp.float32)
    component_key, noise_key = jax.random.split(key)
    logits = log_weights if temperature == 1.0 else log_weights / temperature
    component = jax.random.categorical(component_key, logits)[..., None]  # [..., 1]
    loc = jnp.take_along_axis(locs, component, -1)[..., 0]
    scale = jnp.exp(jnp.take_along_axis(log_scales, component, -1)[..., 0])
    noise = self._std_sample(noise_key, loc.shape)
    return (loc + temperature * scale * noise).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class MixtureOfGaussians(_Mixture):
  """``p(x) = sum_k w_k N(x; mu_k, s_k^2)`` (RNADE-MoG)."""

  family: ClassVar[str] = "gaussian"

  def _std_log_pdf(self, z):
    return -0.5 * jnp.square(z) - 0.5 * math.log(2.0 * math.pi)

  def _std_cdf(self, z):
    return jax.scipy.special.ndtr(z)

  def _std_sample(self, key, shape):
    return jax.random.normal(key, shape, jnp.float32)


@dataclasses.dataclass(frozen=True)
class MixtureOfLaplace(_Mixture):
  """``p(x) = sum_k w_k exp(-|x - mu_k| / s_k) / (2 s_k)`` (RNADE-MoL)."""

  family: ClassVar[str] = "laplace"

  def _std_log_pdf(self, z):
    return -jnp.abs(z) - math.log(2.0)

  def _std_cdf(self, z):
    # 0.5 exp(z) for z < 0, 1 - 0.5 exp(-z) for z >= 0; exp of a non-positive number only.
    half_tail = 0.5 * jnp.exp(-jnp.abs(z))
    return jnp.where(z < 0, half_tail, 1.0 - half_tail)

  def _std_sample(self, key, shape):
    return jax.random.laplace(key, shape, jnp.float32)


@dataclasses.dataclass(frozen=True)
class MixtureOfLogistics(_Mixture):
  """``p(x) = sum_k w_k sigmoid'((x - mu_k) / s_k) / s_k``, continuous (not discretized)."""

  family: ClassVar[str] = "logistic"

  def _std_log_pdf(self, z):
    # log sigmoid(z) + log sigmoid(-z), written with |z| so nothing overflows.
    a = jnp.abs(z)
    return -a - 2.0 * jnp.log1p(jnp.exp(-a))

  def _std_cdf(self, z):
    return jax.nn.sigmoid(z)

  def _std_sample(self, key, shape):
    return jax.random.logistic(key, shape, jnp.float32)


MIXTURES = {cls.family: cls for cls in (MixtureOfGaussians, MixtureOfLaplace, MixtureOfLogistics)}
