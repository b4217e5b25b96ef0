"""The discretized logistic mixture head of PixelCNN++.

Salimans, Karpathy, Chen & Kingma 2017, "PixelCNN++: Improving the PixelCNN
with Discretized Logistic Mixture Likelihood and Other Modifications" (ICLR),
section 2.1 (eq. 2: a mixture of K logistics discretized to bins, the edge bins
taking the tails) and section 2.2 (eq. 3: the channels of one pixel share the
mixture indicator; the mean of a later channel is shifted linearly by the
values of the earlier channels).

Values ``x`` in ``[0, L)`` map to ``v = 2 x / (L - 1) - 1`` in ``[-1, 1]``; the
bin of ``x`` is ``[v - h, v + h]`` with half-width ``h = 1 / (L - 1)``, except
that ``x = 0`` takes ``(-inf, v + h]`` and ``x = L - 1`` takes ``[v - h, inf)``.
Component k of channel c is a logistic with mean
``m_{k,c} = mu_{k,c} + sum_{c' < c} tanh(coef_{k,c,c'}) v_{c'}`` and log-scale
``s_{k,c}`` (clipped below at -7, as in the paper's code). The joint over a
pixel is ``p(x) = sum_k pi_k prod_c p_k(x_c | x_<c)``.

Per-pixel raw parameters (``pixel_params`` wide)::

  [logit_pi (K) | mu (K*C, [K, C]) | s (K*C, [K, C]) | coef (K*C*(C-1)/2)]

where ``coef`` lists the strictly lower triangle row-major: (1,0), (2,0), (2,1)
(for RGB: G gets ``alpha R``, B gets ``beta R + gamma G``).

Like every head of the library this one is applied per dimension (sub-pixel):
the raw vector of channel c of a pixel is ``[pixel params | values of the
pixel's channels < c as floats (integer levels; zeros at c and after) (C) |
one-hot of c (C)]`` (no context part when C = 1), and the head returns the
conditional ``log p(x_c | x_<c)`` =
``logsumexp_k[log pi_k + sum_{c' <= c} log p_k(x_c')] -
logsumexp_k[log pi_k + sum_{c' < c} log p_k(x_c')]``, so the per-channel
conditionals sum to the joint. :meth:`DiscretizedLogisticMixture.expand` builds
these vectors from a pixel's raw parameters and values.

For a wide alphabet (65,536 levels of 16-bit audio) an entropy coder takes the
conditional in two stages (:mod:`armodels_jax.compression`): :meth:`block_probs`
gives the mass of each block of W consecutive levels as a difference of the
mixture's CDF at the block's edges (eq. 2 with the bin widened to the block),
and :meth:`block_level_probs` the W level masses inside one block; their
product after renormalising the second is ``exp(log_probs)`` up to rounding.

Dimensions: ``...`` leading axes, K mixture components, C channels, L levels,
P raw parameters per sub-pixel.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.distributions.heads import gumbel_argmax, gumbel_noise

# The paper's code clips log-scales below at -7.
MIN_LOG_SCALE = -7.0
# Below this bin width (in units of the scale) log(1 - exp(-d)) uses its series.
_SMALL_WIDTH = 1e-3


def _log1mexp_neg(d: jnp.ndarray, log_d: jnp.ndarray) -> jnp.ndarray:
  """``log(1 - exp(-d))`` for ``d > 0``, given ``log_d = log(d)``; exact for tiny d."""
  big = d >= _SMALL_WIDTH
  d_big = jnp.where(big, d, 1.0)  # keeps the unused branch's gradient finite
  d_small = jnp.where(big, 0.0, d)
  return jnp.where(big, jnp.log(-jnp.expm1(-d_big)),
                   log_d + jnp.log1p(d_small * (d_small / 6.0 - 0.5)))


def log_bin_mass(x: jnp.ndarray, mean: jnp.ndarray, log_scale: jnp.ndarray,
                 num_levels: int) -> jnp.ndarray:
  """Log-mass of level ``x`` under a discretized logistic (elementwise, same shapes).

  Args:
    x: levels in ``[0, L)`` (any numeric dtype).
    mean: logistic mean on the ``[-1, 1]`` scale.
    log_scale: log of the logistic scale (clipped below at -7 here).
    num_levels: L.

  Returns:
    ``log(sigmoid(a) - sigmoid(b))`` with ``a, b = (v +- h - mean) / scale``,
    the tails for the edge bins; finite for finite inputs.
  """
  half = 1.0 / (num_levels - 1)
  x = x.astype(mean.dtype)
  v = x * (2.0 * half) - 1.0
  s = jnp.maximum(log_scale, MIN_LOG_SCALE)
  inv_s = jnp.exp(-s)
  a = (v + half - mean) * inv_s  # upper edge
  b = (v - half - mean) * inv_s  # lower edge
  upper = jax.nn.log_sigmoid(a)   # log P(X <= v + h): the bin of x = 0
  lower = jax.nn.log_sigmoid(-b)  # log P(X >= v - h): the bin of x = L - 1
  # Bin width in units of the scale, computed directly (a - b would cancel).
  log_d = np.log(2.0 * half) - s
  middle = upper + lower + _log1mexp_neg(jnp.exp(log_d), log_d)
  return jnp.where(x <= 0, upper, jnp.where(x >= num_levels - 1, lower, middle))


@dataclasses.dataclass(frozen=True)
class DiscretizedLogisticMixture:
  """A mixture of K discretized logistics over the C channels of a pixel.

  Attributes:
    num_levels: L >= 2 values per sub-pixel.
    num_components: K >= 1 mixture components.
    num_channels: C >= 1 channels per pixel.
  """

  num_levels: int
  num_components: int = 10
  num_channels: int = 1

  def __post_init__(self):
    for name, low in (("num_levels", 2), ("num_components", 1), ("num_channels", 1)):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(
            f"DiscretizedLogisticMixture expects an integer {name} >= {low}, got {value!r}")

  # ---- layout -------------------------------------------------------------

  @property
  def num_coeffs(self) -> int:
    c = self.num_channels
    return c * (c - 1) // 2

  @property
  def pixel_params(self) -> int:
    """Raw parameters per pixel: ``K + 2 K C + K C (C - 1) / 2``."""
    k, c = self.num_components, self.num_channels
    return k + 2 * k * c + k * self.num_coeffs

  @property
  def num_params(self) -> int:
    """Raw parameters per sub-pixel: the pixel's plus ``2 C`` of context when C > 1."""
    c = self.num_channels
    return self.pixel_params + (2 * c if c > 1 else 0)

  def _split(self, pixel_raw: jnp.ndarray):
    """``[..., pixel_params]`` -> log pi [..., K], mu, s [..., K, C], coef matrix [..., K, C, C]."""
    k, c = self.num_components, self.num_channels
    lead = pixel_raw.shape[:-1]
    logits = pixel_raw[..., :k]
    mu = pixel_raw[..., k:k + k * c].reshape(*lead, k, c)
    s = pixel_raw[..., k + k * c:k + 2 * k * c].reshape(*lead, k, c)
    s = jnp.maximum(s, MIN_LOG_SCALE)
    coef = jnp.tanh(pixel_raw[..., k + 2 * k * c:self.pixel_params].reshape(
        *lead, k, self.num_coeffs))
    rows, cols = np.tril_indices(c, -1)
    matrix = jnp.zeros((*lead, k, c, c), pixel_raw.dtype).at[..., rows, cols].set(coef)
    return jax.nn.log_softmax(logits, axis=-1), mu, s, matrix

  def _scaled(self, x: jnp.ndarray) -> jnp.ndarray:
    return x.astype(jnp.float32) * (2.0 / (self.num_levels - 1)) - 1.0

  def _check_last(self, raw: jnp.ndarray, width: int, what: str) -> None:
    if raw.shape[-1:] != (width,):
      raise ValueError(
          f"DiscretizedLogisticMixture(L={self.num_levels}, K={self.num_components}, "
          f"C={self.num_channels}) expects {what} with last axis {width}, got shape "
          f"{tuple(raw.shape)}")

  def _means(self, mu, matrix, values):
    """Channel means ``[..., K, C]`` given the pixel's values ``[..., C]`` (levels)."""
    v = self._scaled(values)  # [..., C]
    shift = jnp.einsum("...kcd,...d->...kc", matrix, v)
    return mu + shift

  # ---- building per-sub-pixel raw vectors ---------------------------------

  def expand(self, pixel_raw: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """Per-channel raw vectors of whole pixels.

    Args:
      pixel_raw: ``[..., pixel_params]``.
      x: ``[..., C]`` integer values of the pixels (channel c's raw only reads
        channels < c).

    Returns:
      ``[..., C, num_params]``.
    """
    self._check_last(pixel_raw, self.pixel_params, "pixel_raw")
    c = self.num_channels
    if x.shape != pixel_raw.shape[:-1] + (c,):
      raise ValueError(
          f"expand expects x of shape {pixel_raw.shape[:-1] + (c,)}, got {tuple(x.shape)}")
    lead = pixel_raw.shape[:-1]
    tiled = jnp.broadcast_to(pixel_raw[..., None, :], (*lead, c, self.pixel_params))
    if c == 1:
      return tiled
    before = np.tril(np.ones((c, c), bool), -1)  # [c, c'] = c' < c
    values = jnp.broadcast_to(x.astype(pixel_raw.dtype)[..., None, :], (*lead, c, c))
    ctx = jnp.where(jnp.broadcast_to(before, (*lead, c, c)), values, 0.0)  # [..., C, C]
    onehot = jnp.broadcast_to(jnp.eye(c, dtype=pixel_raw.dtype), (*lead, c, c))
    return jnp.concatenate([tiled, ctx, onehot], axis=-1)

  def expand_one(self, pixel_raw: jnp.ndarray, pixel: jnp.ndarray, c) -> jnp.ndarray:
    """The raw vector of channel ``c`` (a traced scalar allowed).

    Args:
      pixel_raw: ``[..., pixel_params]``.
      pixel: ``[..., C]`` integer values; only channels < c are read.
      c: channel index.

    Returns:
      ``[..., num_params]``.
    """
    self._check_last(pixel_raw, self.pixel_params, "pixel_raw")
    nc = self.num_channels
    if nc == 1:
      return pixel_raw
    idx = jnp.arange(nc)
    values = pixel.astype(pixel_raw.dtype)
    ctx = jnp.where(jnp.broadcast_to(idx < c, values.shape), values, 0.0)
    onehot = jnp.broadcast_to((idx == c).astype(pixel_raw.dtype), values.shape)
    return jnp.concatenate([pixel_raw, ctx, onehot], axis=-1)

  # ---- the conditional of one sub-pixel -----------------------------------

  def _parts(self, raw: jnp.ndarray):
    """Shared work: posterior log-weights [..., K], mean and log-scale of channel c [..., K]."""
    self._check_last(raw, self.num_params, "raw")
    c = self.num_channels
    log_pi, mu, s, matrix = self._split(raw[..., :self.pixel_params])
    if c == 1:
      return log_pi, mu[..., 0], s[..., 0]
    ctx = raw[..., self.pixel_params:self.pixel_params + c]  # [..., C] levels
    onehot = raw[..., self.pixel_params + c:]                 # [..., C]
    before = 1.0 - jnp.cumsum(onehot, axis=-1)                # 1 on channels < c
    means = self._means(mu, matrix, ctx)                      # [..., K, C]
    lead = ctx.shape[:-1]
    ctx_k = jnp.broadcast_to(ctx[..., None, :], (*lead, self.num_components, c))
    lp_prev = log_bin_mass(ctx_k, means, s, self.num_levels)  # [..., K, C]
    log_w = log_pi + jnp.sum(lp_prev * before[..., None, :], axis=-1)
    mean_c = jnp.sum(means * onehot[..., None, :], axis=-1)   # [..., K]
    s_c = jnp.sum(s * onehot[..., None, :], axis=-1)
    return log_w, mean_c, s_c

  def log_prob(self, raw: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """``raw [..., P]``, ``x [...]`` int in ``[0, L)`` -> ``log p(x_c | x_<c)`` ``[...]``."""
    log_w, mean_c, s_c = self._parts(raw)
    xk = jnp.broadcast_to(x[..., None], mean_c.shape)
    lp = log_bin_mass(xk, mean_c, s_c, self.num_levels)  # [..., K]
    return (jax.nn.logsumexp(log_w + lp, axis=-1)
            - jax.nn.logsumexp(log_w, axis=-1))

  def log_probs(self, raw: jnp.ndarray) -> jnp.ndarray:
    """``raw [..., P]`` -> ``[..., L]`` normalised conditional log-probabilities."""
    log_w, mean_c, s_c = self._parts(raw)
    lead = mean_c.shape[:-1]
    shape = (*lead, self.num_components, self.num_levels)
    levels = jnp.broadcast_to(jnp.arange(self.num_levels), shape)
    lp = log_bin_mass(levels, jnp.broadcast_to(mean_c[..., None], shape),
                      jnp.broadcast_to(s_c[..., None], shape), self.num_levels)  # [..., K, L]
    log_w = log_w - jax.nn.logsumexp(log_w, axis=-1, keepdims=True)
    return jax.nn.logsumexp(lp + log_w[..., None], axis=-2)

  # ---- wide alphabets in two stages (e.g. 65,536 levels of 16-bit audio) -------

  def _run_probs(self, raw: jnp.ndarray, first: jnp.ndarray, count: int, width: int,
                 first_tail: jnp.ndarray, last_tail: jnp.ndarray) -> jnp.ndarray:
    """Mixture probabilities ``[..., count]`` of the runs of ``width`` levels starting at
    ``first + i * width`` (``first [...]``, i < count).

    A component's run mass is a difference of logistic CDFs at the run's edges, each edge's
    sigmoid shared by its two runs; above the component's mean it is taken from the upper tails,
    ``sigmoid(-b) - sigmoid(-a)``, so that neither side loses its digits. Runs with
    ``first_tail``/``last_tail`` ``[..., count]`` set take the whole lower/upper tail.
    """
    log_w, mean_c, s_c = self._parts(raw)
    w = jax.nn.softmax(log_w, axis=-1)  # [..., K]
    half = 1.0 / (self.num_levels - 1)
    steps = width * jnp.arange(count + 1, dtype=jnp.float32)[(None,) * first.ndim]
    edges = (first[..., None].astype(jnp.float32) + steps) * (2.0 * half) - 1.0 - half
    s = jnp.maximum(s_c, MIN_LOG_SCALE)
    z = (edges[..., None, :] - mean_c[..., None]) * jnp.exp(-s)[..., None]  # [..., K, count + 1]
    e = jnp.exp(-jnp.abs(z))
    big, small = 1.0 / (1.0 + e), e / (1.0 + e)  # sigmoid(|z|), sigmoid(-|z|)
    cdf = jnp.where(z >= 0, big, small)           # P(X <= edge)
    sf = jnp.where(z >= 0, small, big)            # P(X >= edge)
    mass = jnp.where(z[..., :-1] >= 0, sf[..., :-1] - sf[..., 1:], cdf[..., 1:] - cdf[..., :-1])
    mass = jnp.where(first_tail[..., None, :], cdf[..., 1:],
                     jnp.where(last_tail[..., None, :], sf[..., :-1], mass))
    return jnp.einsum("...k,...km->...m", w, jnp.maximum(mass, 0.0))

  def block_probs(self, raw: jnp.ndarray, width: int) -> jnp.ndarray:
    """Probabilities of the blocks of ``width`` consecutive levels (block g: levels
    ``g * width .. g * width + width - 1``; the last block may be shorter).

    A block's mass is the mixture's CDF at its upper edge minus the CDF at its lower edge (the
    tails for the first and last blocks): one sigmoid per edge and component, so
    ``ceil(L / width) + 1`` instead of L. In exact arithmetic it is the sum of
    ``exp(log_probs)`` over the block.

    Args:
      raw: ``[..., P]``.
      width: a static int, ``1 <= width < L``.

    Returns:
      float32 ``[..., ceil(L / width)]``, summing to 1 up to rounding.
    """
    if not 1 <= width < self.num_levels:
      raise ValueError(f"expected a block width in [1, {self.num_levels}), got {width}")
    blocks = -(-self.num_levels // width)
    lead = raw.shape[:-1]
    ids = jnp.arange(blocks)
    return self._run_probs(raw, jnp.zeros(lead, jnp.int32), blocks, width,
                           jnp.broadcast_to(ids == 0, lead + (blocks,)),
                           jnp.broadcast_to(ids == blocks - 1, lead + (blocks,)))

  def block_level_probs(self, raw: jnp.ndarray, block: jnp.ndarray, width: int) -> jnp.ndarray:
    """``p(level)`` (normalised over all L levels) of the ``width`` levels of ``block``.

    Args:
      raw: ``[..., P]``.
      block: ``[...]`` int, block indices in ``[0, ceil(L / width))``.
      width: a static int >= 1.

    Returns:
      float32 ``[..., width]``: entry j is ``exp(log_probs)`` at level ``block * width + j`` up
      to float rounding (0 past level L - 1).
    """
    first = block.astype(jnp.int32) * width  # [...]
    levels = first[..., None] + jnp.arange(width)[(None,) * block.ndim]  # [..., width]
    p = self._run_probs(raw, first, width, 1, levels == 0, levels == self.num_levels - 1)
    return jnp.where(levels < self.num_levels, p, 0.0)

  def noise(self, key: jax.Array, batch_shape: tuple[int, ...],
            dtype=jnp.float32) -> jnp.ndarray:
    """The draw's randomness for ``raw [*batch_shape, P]``: Gumbel noise ``[*batch_shape, L]``."""
    return gumbel_noise(key, batch_shape + (self.num_levels,), dtype)

  def sample_with_noise(self, raw: jnp.ndarray, noise: jnp.ndarray,
                        temperature: float = 1.0) -> jnp.ndarray:
    """``raw [..., P]``, :meth:`noise` ``[..., L]`` -> ``[...]`` int32 (see :meth:`sample`)."""
    logp = self.log_probs(raw)
    if temperature == 0.0:
      return jnp.argmax(logp, axis=-1).astype(jnp.int32)
    if temperature != 1.0:
      logp = logp / temperature
    return gumbel_argmax(logp, noise)

  def sample(self, raw: jnp.ndarray, key: jax.Array,
             temperature: float = 1.0) -> jnp.ndarray:
    """``raw [..., P] -> [...]`` int32: exact draws from :meth:`log_probs` ``/ T``.

    ``temperature == 0`` returns the most probable level.
    """
    return self.sample_with_noise(raw, self.noise(key, raw.shape[:-1], raw.dtype), temperature)

  # ---- the joint of a pixel -----------------------------------------------

  def pixel_log_prob(self, pixel_raw: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """``pixel_raw [..., pixel_params]``, ``x [..., C]`` -> ``log p(x)`` ``[...]`` (eq. 3)."""
    self._check_last(pixel_raw, self.pixel_params, "pixel_raw")
    if x.shape[-1:] != (self.num_channels,):
      raise ValueError(f"pixel_log_prob expects x with last axis {self.num_channels}, "
                       f"got shape {tuple(x.shape)}")
    log_pi, mu, s, matrix = self._split(pixel_raw)
    means = self._means(mu, matrix, x)  # [..., K, C]
    xk = jnp.broadcast_to(x[..., None, :], means.shape)
    lp = log_bin_mass(xk, means, s, self.num_levels)
    return jax.nn.logsumexp(log_pi + lp.sum(-1), axis=-1)
