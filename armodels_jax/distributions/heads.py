"""Likelihood heads: pure functions from raw network outputs to log-probabilities.

A head turns the raw parameters a model emits for one dimension (the last axis,
``P = num_params`` wide) into that dimension's conditional distribution. Heads
are frozen dataclasses, hashable, so a model can hold one as a static field.

* :class:`Bernoulli` -- one logit per binary dimension (FVSBN, NADE, MADE,
  binarized-MNIST PixelCNN).
* :class:`Categorical` -- ``L`` logits per dimension, the 256-way softmax of
  PixelCNN (van den Oord et al. 2016, section 5.1). Channel autoregression
  (R, then G given R, then B given R and G) comes from the model's masks: the
  logits of channel c only ever see channels < c of the same pixel, so the head
  treats every dimension alike.
* Real-valued data (RNADE): the mixtures of
  :mod:`armodels_jax.distributions.mixtures`, built by :func:`make_head` with
  ``num_levels=None``.

Every head offers ``log_prob(raw, x)`` (elementwise over the leading axes),
``log_probs(raw)`` (all ``L`` values, for enumeration and plots; discrete heads
only) and ``sample(raw, key, temperature)``. A temperature ``T`` divides the
logits (``T -> 0`` is the mode, ``T = 1`` the model itself); the mixtures also
scale their components by ``T``.

The discrete heads split ``sample`` in two: ``noise(key, batch_shape)`` draws
its randomness (uniforms, Gumbel noise), which depends on the key alone, and
``sample_with_noise(raw, noise, temperature)`` turns it into values, so that
``sample(raw, key, T) == sample_with_noise(raw, noise(key, raw.shape[:-1]), T)``
by construction. The cached sampler draws the noise of many steps at once,
before it runs them (one vectorised draw instead of one small draw per step).

Dimensions: ``...`` any leading axes, P raw parameters, L levels.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp

from armodels_jax.distributions import mixtures


def _scaled(logits: jnp.ndarray, temperature: float) -> jnp.ndarray:
  return logits if temperature == 1.0 else logits / temperature


def gumbel_noise(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jnp.ndarray:
  """The Gumbel noise of ``jax.random.categorical(key, logits)`` for logits of ``shape``."""
  return jax.random.gumbel(key, shape, dtype)


def gumbel_argmax(logits: jnp.ndarray, noise: jnp.ndarray) -> jnp.ndarray:
  """``argmax(logits + noise)`` over the last axis, int32: with :func:`gumbel_noise` of a key, the
  draw of ``jax.random.categorical(key, logits)``, value for value (the same sum and argmax)."""
  return jnp.argmax(noise + logits, axis=-1).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Bernoulli:
  """A binary dimension with ``p(x = 1) = sigmoid(raw[..., 0])``."""

  num_levels: int = 2

  @property
  def num_params(self) -> int:
    return 1

  def log_probs(self, raw: jnp.ndarray) -> jnp.ndarray:
    """``[..., 1] -> [..., 2]``: log p(x=0), log p(x=1)."""
    logit = raw[..., 0]
    return jnp.stack([jax.nn.log_sigmoid(-logit), jax.nn.log_sigmoid(logit)], -1)

  def log_prob(self, raw: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """``raw [..., 1]``, ``x [...]`` in {0, 1} -> ``[...]`` nats."""
    logit = raw[..., 0]
    sign = 2.0 * x.astype(logit.dtype) - 1.0
    return jax.nn.log_sigmoid(sign * logit)

  def noise(self, key: jax.Array, batch_shape: tuple[int, ...],
            dtype=jnp.float32) -> jnp.ndarray:
    """The draw's randomness for ``raw [*batch_shape, 1]``: uniforms ``[*batch_shape]``."""
    return jax.random.uniform(key, batch_shape, dtype)

  def sample_with_noise(self, raw: jnp.ndarray, noise: jnp.ndarray,
                        temperature: float = 1.0) -> jnp.ndarray:
    """``raw [..., 1]``, :meth:`noise` ``[...]`` -> ``[...]`` int32 in {0, 1}."""
    logit = raw[..., 0]
    if temperature == 0.0:
      return (logit > 0).astype(jnp.int32)
    return (noise < jax.nn.sigmoid(_scaled(logit, temperature))).astype(jnp.int32)

  def sample(self, raw: jnp.ndarray, key: jax.Array,
             temperature: float = 1.0) -> jnp.ndarray:
    """``raw [..., 1] -> [...]`` int32 in {0, 1}."""
    return self.sample_with_noise(raw, self.noise(key, raw.shape[:-1], raw.dtype), temperature)


@dataclasses.dataclass(frozen=True)
class Categorical:
  """An ``L``-way softmax per dimension."""

  num_levels: int

  @property
  def num_params(self) -> int:
    return self.num_levels

  def log_probs(self, raw: jnp.ndarray) -> jnp.ndarray:
    """``[..., L] -> [..., L]`` normalised log-probabilities."""
    return jax.nn.log_softmax(raw, axis=-1)

  def log_prob(self, raw: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """``raw [..., L]``, ``x [...]`` int in ``[0, L)`` -> ``[...]`` nats."""
    logp = jax.nn.log_softmax(raw, axis=-1)
    return jnp.take_along_axis(logp, x[..., None].astype(jnp.int32), -1)[..., 0]

  def noise(self, key: jax.Array, batch_shape: tuple[int, ...],
            dtype=jnp.float32) -> jnp.ndarray:
    """The draw's randomness for ``raw [*batch_shape, L]``: Gumbel noise ``[*batch_shape, L]``."""
    return gumbel_noise(key, batch_shape + (self.num_levels,), dtype)

  def sample_with_noise(self, raw: jnp.ndarray, noise: jnp.ndarray,
                        temperature: float = 1.0) -> jnp.ndarray:
    """``raw [..., L]``, :meth:`noise` ``[..., L]`` -> ``[...]`` int32 in ``[0, L)``."""
    if temperature == 0.0:
      return jnp.argmax(raw, axis=-1).astype(jnp.int32)
    return gumbel_argmax(_scaled(raw, temperature), noise)

  def sample(self, raw: jnp.ndarray, key: jax.Array,
             temperature: float = 1.0) -> jnp.ndarray:
    """``raw [..., L] -> [...]`` int32 in ``[0, L)``."""
    return self.sample_with_noise(raw, self.noise(key, raw.shape[:-1], raw.dtype), temperature)


REAL_VALUED_KINDS = ("gaussian", "laplace", "logistic")


def make_head(kind: str, num_levels: Optional[int], num_components: Optional[int] = None,
              min_scale: Optional[float] = None):
  """A head by name.

  Discrete data (``num_levels >= 2``): ``"auto"`` (Bernoulli for 2 levels, else
  categorical), ``"bernoulli"`` or ``"categorical"``. Real-valued data
  (``num_levels=None``): ``"auto"`` (a mixture of Gaussians), ``"gaussian"``,
  ``"laplace"`` or ``"logistic"``, a mixture of ``num_components`` densities
  (:mod:`armodels_jax.distributions.mixtures`) whose scales are floored at
  ``min_scale`` (default: the mixture's own).
  """
  if num_levels is None:
    if kind == "auto":
      kind = "gaussian"
    if kind not in REAL_VALUED_KINDS:
      raise ValueError(
          f"real-valued data (num_levels=None) expects head 'auto' or one of "
          f"{list(REAL_VALUED_KINDS)}, got {kind!r}")
    if num_components is None:
      raise ValueError(f"the {kind} mixture head expects num_components, got None")
    if min_scale is None:
      return mixtures.MIXTURES[kind](num_components)
    return mixtures.MIXTURES[kind](num_components, min_scale)
  if kind in REAL_VALUED_KINDS:
    raise ValueError(
        f"expected head 'auto', 'bernoulli' or 'categorical' for discrete data "
        f"(num_levels={num_levels}), got {kind!r}: the mixture heads are for real-valued "
        f"data (num_levels=None)")
  if kind == "auto":
    kind = "bernoulli" if num_levels == 2 else "categorical"
  if kind == "bernoulli":
    if num_levels != 2:
      raise ValueError(f"the Bernoulli head expects num_levels=2, got {num_levels}")
    return Bernoulli()
  if kind == "categorical":
    return Categorical(num_levels)
  raise ValueError(
      f"expected head 'auto', 'bernoulli' or 'categorical', got {kind!r}")
