"""The continuous mixture heads against float64 SciPy references (docs/design.md section 6, rule 5).

* log densities and CDFs equal scipy.stats norm / laplace / logistic mixtures, for random and extreme
  raw parameters; never NaN or inf, with finite gradients;
* samples follow the mixture (Kolmogorov-Smirnov test against its CDF at a fixed seed), also at a
  temperature, and the same test rejects samples of a different mixture.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from armodels_jax.distributions import (MixtureOfGaussians, MixtureOfLaplace, MixtureOfLogistics,
                                        make_head)

FAMILIES = {
    "gaussian": (MixtureOfGaussians, stats.norm),
    "laplace": (MixtureOfLaplace, stats.laplace),
    "logistic": (MixtureOfLogistics, stats.logistic),
}


def _split(raw, k, min_scale):
  """Float64 weights, locations and scales of raw parameters [..., 3K], computed independently."""
  raw = np.asarray(raw, np.float64)
  log_w = raw[..., :k] - special.logsumexp(raw[..., :k], axis=-1, keepdims=True)
  scale = np.exp(raw[..., 2 * k:]) + min_scale
  return log_w, raw[..., k:2 * k], scale


def _ref_log_prob(dist, raw, x, k, min_scale):
  log_w, loc, scale = _split(raw, k, min_scale)
  return special.logsumexp(log_w + dist.logpdf(np.asarray(x, np.float64)[..., None], loc, scale),
                           axis=-1)


def _ref_cdf(dist, raw, x, k, min_scale):
  log_w, loc, scale = _split(raw, k, min_scale)
  return np.sum(np.exp(log_w) * dist.cdf(np.asarray(x, np.float64)[..., None], loc, scale), axis=-1)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_log_prob_and_cdf_match_scipy(family, np_rng):
  cls, dist = FAMILIES[family]
  k = 4
  head = cls(k)
  raw = np.concatenate([np_rng.normal(0, 3, (50, k)),            # logits
                        np_rng.normal(0, 3, (50, k)),            # locations
                        np_rng.uniform(-4, 2, (50, k))], -1).astype(np.float32)
  x = np_rng.normal(0, 4, 50).astype(np.float32)
  got = np.asarray(head.log_prob(jnp.asarray(raw), jnp.asarray(x)))
  np.testing.assert_allclose(got, _ref_log_prob(dist, raw, x, k, head.min_scale), rtol=1e-5, atol=2e-5)
  cdf = np.asarray(head.cdf(jnp.asarray(raw), jnp.asarray(x)))
  np.testing.assert_allclose(cdf, _ref_cdf(dist, raw, x, k, head.min_scale), atol=2e-6)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_extreme_raw_values_stay_finite_and_accurate(family):
  cls, dist = FAMILIES[family]
  k = 2
  head = cls(k)
  rows = [
      # logits,        locations,        raw log-scales
      [1e4, -1e4,      0.0, 3.0,         0.0, 0.0],     # one component takes all the weight
      [0.0, 0.0,       1e5, -1e5,        0.0, 0.0],     # far-away locations
      [0.0, 1.0,       0.0, 0.5,         -200.0, -50.0],  # scales at the floor
      [0.0, 1.0,       0.0, 0.5,         40.0, 60.0],   # enormous scales
      [3.0, -2.0,      0.0, 0.0,         -200.0, -200.0],  # both at the floor, x far away
  ]
  raw = np.array(rows, np.float32)
  x = np.array([0.5, 0.0, 0.2, 1e3, 30.0], np.float32)
  got = np.asarray(head.log_prob(jnp.asarray(raw), jnp.asarray(x)))
  assert np.isfinite(got).all(), got
  ref = _ref_log_prob(dist, raw, x, k, head.min_scale)
  ok = np.isfinite(ref)  # scipy's Laplace logpdf underflows to -inf far out; ours stays finite
  np.testing.assert_allclose(got[ok], ref[ok], rtol=2e-5)
  assert np.all(got[~ok] < -1e3)
  # The floor bounds the density: at a floored component's centre it is finite and at most 1/min_scale.
  assert got[2] < -np.log(head.min_scale)
  # Beyond float32's comfortable range: no NaN, no inf, finite gradients.
  wild = np.array([[3e38, -3e38, 1e30, -1e30, 1e30, -1e30],
                   [0.0, 0.0, 1e38, -1e38, -1e38, 1e38]], np.float32)
  xw = np.array([-1e30, 3e38], np.float32)
  out = np.asarray(head.log_prob(jnp.asarray(wild), jnp.asarray(xw)))
  assert np.isfinite(out).all(), out
  for r, xx in ((raw, x), (wild, xw)):
    grads = jax.grad(lambda r_, x_=xx: head.log_prob(r_, jnp.asarray(x_)).sum())(jnp.asarray(r))
    assert np.isfinite(np.asarray(grads)).all()
  assert np.isfinite(np.asarray(head.cdf(jnp.asarray(wild), jnp.asarray(xw)))).all()


def _mixture_raw(k=3):
  """A bimodal-ish mixture with unequal weights and scales."""
  return np.array([0.5, -1.0, 1.2,   -2.0, 0.3, 2.5,   np.log(0.4), np.log(1.5), np.log(0.3)][:3 * k],
                  np.float32)


def _ks_pvalue(samples, dist, raw, k, min_scale):
  cdf = lambda v: _ref_cdf(dist, np.broadcast_to(raw, (len(v), 3 * k)), v, k, min_scale)
  return stats.kstest(np.asarray(samples, np.float64), cdf).pvalue


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_samples_follow_the_mixture(family):
  cls, dist = FAMILIES[family]
  k, n = 3, 20000
  head = cls(k)
  raw = _mixture_raw(k)
  samples = np.asarray(head.sample(jnp.broadcast_to(jnp.asarray(raw), (n, 3 * k)), jax.random.key(0)))
  assert samples.shape == (n,) and samples.dtype == np.float32
  assert _ks_pvalue(samples, dist, raw, k, head.min_scale) > 1e-3
  # The test can fail: samples of a mixture with a shifted component are rejected.
  other = raw.copy()
  other[k] += 0.3
  wrong = np.asarray(head.sample(jnp.broadcast_to(jnp.asarray(other), (n, 3 * k)), jax.random.key(0)))
  assert _ks_pvalue(wrong, dist, raw, k, head.min_scale) < 1e-6


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_temperature(family):
  cls, dist = FAMILIES[family]
  k, n, temp = 3, 20000, 0.5
  head = cls(k)
  raw = _mixture_raw(k)
  batch = jnp.broadcast_to(jnp.asarray(raw), (n, 3 * k))
  # T: logits / T and scales * T, i.e. the mixture with raw logits / T and raw log-scales such that
  # exp(u') + min_scale = T * (exp(u) + min_scale).
  _, loc, scale = _split(raw, k, head.min_scale)
  tempered = np.concatenate([raw[:k] / temp, loc, np.log(temp * scale - head.min_scale)])
  samples = np.asarray(head.sample(batch, jax.random.key(1), temperature=temp))
  assert _ks_pvalue(samples, dist, tempered, k, head.min_scale) > 1e-3
  assert _ks_pvalue(samples, dist, raw, k, head.min_scale) < 1e-6
  # T = 0: the location of the most probable component, deterministically.
  mode = np.asarray(head.sample(batch[:3], jax.random.key(2), temperature=0.0))
  np.testing.assert_array_equal(mode, np.full(3, raw[k + int(np.argmax(raw[:k]))], np.float32))


def test_make_head_and_validation():
  assert make_head("auto", None, 3) == MixtureOfGaussians(3)
  assert make_head("laplace", None, 2) == MixtureOfLaplace(2)
  assert make_head("logistic", None, 5).num_params == 15
  with pytest.raises(ValueError, match="num_levels=None"):
    make_head("gaussian", 256, 3)
  with pytest.raises(ValueError, match="real-valued"):
    make_head("categorical", None, 3)
  with pytest.raises(ValueError, match="num_components"):
    make_head("gaussian", None)
  with pytest.raises(ValueError, match="num_components"):
    MixtureOfGaussians(0)
  with pytest.raises(ValueError, match="min_scale"):
    MixtureOfLaplace(2, min_scale=0.0)
  with pytest.raises(ValueError, match=r"\[\.\.\., 6\]"):
    MixtureOfGaussians(2).log_prob(jnp.zeros((4, 5)), jnp.zeros(4))
