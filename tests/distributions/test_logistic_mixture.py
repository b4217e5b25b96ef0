"""The discretized logistic mixture against an independent float64 reference (docs/design.md section 6, rule 5).

The reference below follows Salimans et al. 2017 (PixelCNN++), eqs. 2-3, with
plain loops over components and channels and scipy's expit/logsumexp.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from armodels_jax.distributions.logistic_mixture import (DiscretizedLogisticMixture,
                                                         log_bin_mass)


# ---- float64 reference -------------------------------------------------------

def _ref_log_mass(x, mean, log_scale, levels):
  """log P(bin of level x) for one logistic, float64, tails at the edge bins."""
  log_scale = max(float(log_scale), -7.0)
  half = 1.0 / (levels - 1)
  v = 2.0 * x / (levels - 1) - 1.0
  a = (v + half - mean) / np.exp(log_scale)
  b = (v - half - mean) / np.exp(log_scale)
  if x == 0:
    return special.log_expit(a)
  if x == levels - 1:
    return special.log_expit(-b)
  if b > 0:  # right tail: the difference of the mirrored cdf, no cancellation at 1
    a, b = -b, -a
  # log(expit(a) - expit(b)) in log space, so that far tails do not underflow
  la, lb = special.log_expit(a), special.log_expit(b)
  return la + np.log1p(-np.exp(lb - la))


def _ref_params(pixel_raw, k, c):
  """Per-pixel raw vector -> log pi [K], mu [K][C], log-scale [K][C], coef {(c, c'): [K]}."""
  r = np.asarray(pixel_raw, np.float64)
  log_pi = r[:k] - special.logsumexp(r[:k])
  mu = r[k:k + k * c].reshape(k, c)
  s = r[k + k * c:k + 2 * k * c].reshape(k, c)
  coef = {}
  pos = k + 2 * k * c
  pairs = [(ch, prev) for ch in range(c) for prev in range(ch)]
  for comp in range(k):
    for i, pair in enumerate(pairs):
      coef[(comp,) + pair] = np.tanh(r[pos + comp * len(pairs) + i])
  return log_pi, mu, s, coef


def _ref_component_terms(pixel_raw, x, k, c, levels):
  """[K, C] float64 log p_k(x_c | x_<c) of one pixel."""
  _, mu, s, coef = _ref_params(pixel_raw, k, c)
  out = np.zeros((k, c))
  for comp in range(k):
    for ch in range(c):
      m = mu[comp, ch]
      for prev in range(ch):
        m += coef[(comp, ch, prev)] * (2.0 * x[prev] / (levels - 1) - 1.0)
      out[comp, ch] = _ref_log_mass(int(x[ch]), m, s[comp, ch], levels)
  return out


def _ref_conditional(pixel_raw, x, ch, k, c, levels):
  """float64 log p(x_ch | x_<ch) of one pixel."""
  log_pi = _ref_params(pixel_raw, k, c)[0]
  terms = _ref_component_terms(pixel_raw, x, k, c, levels)
  upto = special.logsumexp(log_pi + terms[:, :ch + 1].sum(1))
  before = special.logsumexp(log_pi + terms[:, :ch].sum(1))
  return upto - before


def _random_pixel_raw(rng, head, n, extreme=False):
  """[n, pixel_params] float32; ``extreme`` puts means up to 1e3 and log-scales in [-20, 20]."""
  k, c = head.num_components, head.num_channels
  raw = rng.normal(size=(n, head.pixel_params)) * 1.5
  raw[:, k + k * c:k + 2 * k * c] -= 2.0  # log-scales around -2: peaked bins
  if extreme:
    means = raw[:, k:k + k * c]
    pick = rng.random(means.shape) < 0.3
    means[pick] = rng.uniform(-1e3, 1e3, size=pick.sum())
    raw[:, k + k * c:k + 2 * k * c] = rng.uniform(-20, 20, size=(n, k * c))
    raw[:, :k] *= 10.0
  return raw.astype(np.float32)


def _levels_with_edges(rng, levels, n, c):
  x = rng.integers(0, levels, size=(n, c))
  x[0] = 0
  x[1] = levels - 1
  x[2, 0] = 0
  x[3, -1] = levels - 1
  return x


# ---- tests -------------------------------------------------------------------

def test_layout_and_validation():
  head = DiscretizedLogisticMixture(256, 10, 3)
  assert head.pixel_params == 10 + 60 + 30  # pi, means, scales, 3 coefficients each
  assert head.num_params == 100 + 6
  one = DiscretizedLogisticMixture(4, 5, 1)
  assert one.pixel_params == one.num_params == 15
  assert hash(head) == hash(DiscretizedLogisticMixture(256, 10, 3))
  for bad in [dict(num_levels=1), dict(num_levels=4, num_components=0),
              dict(num_levels=4, num_channels=0), dict(num_levels=2.0)]:
    with pytest.raises(ValueError, match="expects an integer"):
      DiscretizedLogisticMixture(**bad)
  with pytest.raises(ValueError, match="last axis 106"):
    head.log_prob(jnp.zeros((2, 100)), jnp.zeros((2,), jnp.int32))


@pytest.mark.parametrize("levels,channels,extreme",
                         [(2, 1, False), (4, 3, False), (256, 3, False), (256, 1, False),
                          (4, 3, True), (256, 3, True)])
def test_conditionals_match_float64_reference(np_rng, levels, channels, extreme):
  head = DiscretizedLogisticMixture(levels, 3, channels)
  n = 12
  pixel_raw = _random_pixel_raw(np_rng, head, n, extreme)
  x = _levels_with_edges(np_rng, levels, n, channels)
  raw = jax.jit(head.expand)(jnp.asarray(pixel_raw), jnp.asarray(x))  # [n, C, P]
  got = np.asarray(jax.jit(head.log_prob)(raw, jnp.asarray(x)))
  ref = np.array([[_ref_conditional(pixel_raw[i], x[i], ch, 3, channels, levels)
                   for ch in range(channels)] for i in range(n)])
  assert np.all(np.isfinite(got))
  ok = np.isfinite(ref)  # float64 itself underflows only at absurd scales
  assert ok.mean() > 0.8
  np.testing.assert_allclose(got[ok], ref[ok], rtol=2e-5, atol=5e-4 if extreme else 2e-5)
  joint = np.asarray(jax.jit(head.pixel_log_prob)(jnp.asarray(pixel_raw), jnp.asarray(x)))
  np.testing.assert_allclose(joint, got.sum(-1), rtol=1e-5, atol=1e-3 if extreme else 1e-5)


def test_bin_mass_matches_reference_across_widths():
  """Very wide and very narrow bins (log-scale -7 .. 20), both sides of the series switch."""
  levels = 256
  log_scales = np.array([-7.0, -3.0, 0.0, 1.0, 2.0, 4.5, 5.0, 5.5, 8.0, 20.0], np.float32)
  for x in (0, 1, 100, 254, 255):
    for mean in (-1.0, -0.3, 0.0, 0.7, 5.0):
      got = np.asarray(log_bin_mass(jnp.full(log_scales.shape, x), jnp.full(log_scales.shape, mean,
                                                                          jnp.float32),
                                    jnp.asarray(log_scales), levels))
      ref = np.array([_ref_log_mass(x, mean, s, levels) for s in log_scales])
      np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("levels,channels", [(2, 1), (3, 3), (4, 2), (5, 3)])
def test_joint_and_conditionals_are_normalised(np_rng, levels, channels):
  head = DiscretizedLogisticMixture(levels, 4, channels)
  pixel_raw = _random_pixel_raw(np_rng, head, 3)
  xs = jnp.asarray(list(itertools.product(range(levels), repeat=channels)))  # [N = L**C, C]

  @jax.jit
  def parts(raw_i):
    tiled = jnp.broadcast_to(raw_i, (len(xs), head.pixel_params))
    per_dim = head.expand(tiled, xs)  # [N, C, P]
    return head.pixel_log_prob(tiled, xs), head.log_prob(per_dim, xs), head.log_probs(per_dim)

  for raw_i in pixel_raw:
    joint, cond, every = (np.asarray(a, np.float64) for a in parts(jnp.asarray(raw_i)))
    np.testing.assert_allclose(np.exp(joint).sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(cond.sum(-1), joint, atol=1e-5)
    np.testing.assert_allclose(np.exp(every).sum(-1), 1.0, atol=1e-5)  # [N, C, L]
    np.testing.assert_allclose(
        np.take_along_axis(every, np.asarray(xs)[..., None], -1)[..., 0], cond, atol=1e-5)


def test_conditional_ignores_channels_at_and_after_c(np_rng):
  head = DiscretizedLogisticMixture(4, 3, 3)
  pixel_raw = jnp.asarray(_random_pixel_raw(np_rng, head, 6))
  x = jnp.asarray(np_rng.integers(0, 4, size=(6, 3)))
  y = jnp.asarray(np_rng.integers(0, 4, size=(6, 3)))
  probs = jax.jit(lambda z: head.log_probs(head.expand(pixel_raw, z)))  # [6, C, L]
  a = probs(x)
  for ch in range(3):
    mixed = jnp.concatenate([x[:, :ch], y[:, ch:]], axis=1)
    np.testing.assert_array_equal(probs(mixed)[:, ch], a[:, ch])
  # and the context does matter: G's conditional moves with R, B's with G
  for ch in (1, 2):
    changed = x.at[:, ch - 1].set((x[:, ch - 1] + 2) % 4)
    assert float(jnp.abs(probs(changed)[:, ch] - a[:, ch]).max()) > 1e-3


def test_expand_one_matches_expand_under_jit(np_rng):
  head = DiscretizedLogisticMixture(4, 2, 3)
  pixel_raw = jnp.asarray(_random_pixel_raw(np_rng, head, 5))
  x = jnp.asarray(np_rng.integers(0, 4, size=(5, 3)))
  full = head.expand(pixel_raw, x)
  one = jax.jit(head.expand_one)
  for ch in range(3):
    np.testing.assert_array_equal(one(pixel_raw, x, jnp.int32(ch)), full[:, ch])


def test_finite_values_and_gradients_at_extremes():
  levels, k, c = 256, 2, 3
  head = DiscretizedLogisticMixture(levels, k, c)
  rows, xs = [], []
  for mean, log_scale, value in itertools.product(
      [-1e3, -1.0, 0.0, 1.0, 1e3], [-20.0, -7.0, 0.0, 20.0], [0, 1, 127, 254, 255]):
    r = np.zeros(head.pixel_params, np.float32)
    r[:k] = [50.0, -50.0]
    r[k:k + k * c] = mean
    r[k + k * c:k + 2 * k * c] = log_scale
    r[k + 2 * k * c:] = 30.0  # tanh saturates
    rows.append(r)
    xs.append([value] * c)
  pixel_raw, x = jnp.asarray(np.stack(rows)), jnp.asarray(np.array(xs))
  per_dim = head.expand(pixel_raw, x)  # [N, C, P]

  @jax.jit
  def everything(per_dim, pixel_raw):
    logp = head.log_prob(per_dim, x)
    grad = jax.grad(lambda r: head.log_prob(r, x).sum())(per_dim)
    grad_joint = jax.grad(lambda r: head.pixel_log_prob(r, x).sum())(pixel_raw)
    return logp, grad, grad_joint, head.log_probs(per_dim)

  logp, grad, grad_joint, every = map(np.asarray, everything(per_dim, pixel_raw))
  for value in (logp, grad, grad_joint, every):
    assert np.all(np.isfinite(value))
  assert np.all(logp <= 0.0) and np.all(every <= 0.0)


@pytest.mark.parametrize("channels", [1, 3])
def test_sample_frequencies_match_log_probs(np_rng, channels):
  levels, num = 4, 20000
  head = DiscretizedLogisticMixture(levels, 3, channels)
  pixel_raw = jnp.asarray(_random_pixel_raw(np_rng, head, 1))
  x = jnp.asarray(np_rng.integers(0, levels, size=(1, channels)))
  raw = head.expand(pixel_raw, x)[0, -1]  # the last channel's conditional
  probs = np.exp(np.asarray(jax.jit(head.log_probs)(raw), np.float64))
  batch = jnp.broadcast_to(raw, (num, head.num_params))
  sample = jax.jit(head.sample, static_argnums=2)
  draws = np.asarray(sample(batch, jax.random.key(0), 1.0))
  counts = np.bincount(draws, minlength=levels)
  assert stats.chisquare(counts, probs * num / probs.sum()).pvalue > 1e-3
  # the same check rejects the wrong distribution (a cooler temperature)
  cool = np.asarray(sample(batch, jax.random.key(0), 0.5))
  assert stats.chisquare(np.bincount(cool, minlength=levels),
                         probs * num / probs.sum()).pvalue < 1e-6
  tempered = np.exp(np.log(probs) / 0.5)
  tempered /= tempered.sum()
  assert stats.chisquare(np.bincount(cool, minlength=levels), tempered * num).pvalue > 1e-3


def test_temperature_zero_is_the_mode(np_rng):
  head = DiscretizedLogisticMixture(256, 3, 3)
  pixel_raw = jnp.asarray(_random_pixel_raw(np_rng, head, 8))
  x = jnp.asarray(np_rng.integers(0, 256, size=(8, 3)))
  raw = jax.jit(head.expand)(pixel_raw, x)
  mode = np.asarray(jax.jit(head.sample, static_argnums=2)(raw, jax.random.key(1), 0.0))
  np.testing.assert_array_equal(mode, np.argmax(np.asarray(jax.jit(head.log_probs)(raw)), -1))
  assert mode.dtype == np.int32
