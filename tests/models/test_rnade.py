"""RNADE against the rules of docs/design.md section 6, for real-valued data.

1. normalisation: the density integrates to 1 over a fine 2-D grid;
2. causality in raster order;
3. the decode path equals the full pass; cached == naive samples (also completing a prefix);
4. samples follow the model: their Rosenblatt transform (u_d = CDF of x_d's conditional) is
   uniform on the unit cube, checked by a chi-square on 2-D bins and KS tests, which reject
   samples of a perturbed model;
plus an independent float64 NumPy/SciPy reference of the log-likelihood (D explicit passes of the
paper's equations) and the ValueErrors of bad requests.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import armodels_jax as arm
from armodels_jax.sampling import cached_conditionals

KINDS = ("gaussian", "laplace", "logistic")
SCIPY = {"gaussian": stats.norm, "laplace": stats.laplace, "logistic": stats.logistic}


@functools.lru_cache(maxsize=None)
def _model(num_dims, head_kind="gaussian", seed=0, activation="relu"):
  """A tiny RNADE whose parameters are perturbed so every part of the network matters, with
  moderate scales (raw log-scale biases in [-1, 0.3], small log-scale output weights). Cached:
  tests share models, and so their compiled functions."""
  model = arm.models.create("rnade", (num_dims,), size="tiny", head_kind=head_kind,
                            activation=activation)
  params = dict(arm.init(model, jax.random.key(seed))["params"])
  rng = np.random.default_rng(seed)
  k = model.num_components
  noise = lambda shape, s: rng.normal(0.0, s, shape).astype(np.float32)  # noqa: E731
  params["W"] = params["W"] + noise(params["W"].shape, 1.0)
  params["c"] = params["c"] + noise(params["c"].shape, 0.5)
  params["rho"] = params["rho"] + noise(params["rho"].shape, 0.2)
  # Output weights: strong for the logits and locations, weak for the log-scales.
  v_noise = np.concatenate([noise(params["V"].shape[:2] + (k,), s) for s in (0.3, 0.5, 0.05)], -1)
  params["V"] = params["V"] + v_noise
  b = np.asarray(params["b"]).copy()
  b[:, :k] = noise((num_dims, k), 1.0)
  b[:, k:2 * k] = noise((num_dims, k), 1.5)
  b[:, 2 * k:] = rng.uniform(-1.0, 0.3, (num_dims, k))
  params["b"] = b
  return model, {"params": jax.tree.map(jnp.asarray, params)}


def _grid(lo, hi, step):
  centres = np.arange(lo + step / 2, hi, step, dtype=np.float64)
  xs, ys = np.meshgrid(centres, centres, indexing="ij")
  return np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float32)


def _log_prob_chunks(model, variables, x, chunk=320_000):
  return np.concatenate([np.asarray(arm.log_prob(model, variables, x[i:i + chunk]), np.float64)
                         for i in range(0, len(x), chunk)])


@pytest.mark.parametrize("head_kind", KINDS)
def test_density_integrates_to_one_over_a_2d_grid(head_kind):
  model, variables = _model(2, head_kind, seed=1)
  step, half = 0.025, 20.0
  grid = _grid(-half, half, step)  # [1600 ** 2, 2] midpoints
  # The premise of the quadrature: the conditional scales are moderate, so a 0.025 step resolves
  # them and +-20 holds the mass.
  raw = model.apply(variables, grid[:: 97])  # [N, 2, 3K]
  scales = np.exp(np.asarray(model.head.params(raw)[2]))  # [N, 2, K]
  assert 0.1 < scales.min() and scales.max() < 2.0, (scales.min(), scales.max())
  logp = _log_prob_chunks(model, variables, grid)
  assert np.isfinite(logp).all()
  total = np.exp(logp).sum() * step * step
  np.testing.assert_allclose(total, 1.0, atol=1e-3)
  # The quadrature can fail: a causality leak (x_2's conditional computed from x_2 itself, as a
  # wrong exclusive sum would) does not integrate to 1.
  leaky = jax.jit(lambda x: model.head.log_prob(model.apply(variables, x[:, ::-1]), x).sum(-1))
  leak_total = sum(np.exp(np.asarray(leaky(grid[i:i + 320_000]), np.float64)).sum()
                   for i in range(0, len(grid), 320_000)) * step * step
  assert abs(leak_total - 1.0) > 0.03, leak_total


@pytest.mark.parametrize("head_kind", ["gaussian", "laplace"])
def test_causality(head_kind):
  model, variables = _model(3, head_kind)
  rng = np.random.default_rng(0)
  base = rng.normal(size=(6, 3)).astype(np.float32)
  raw = np.asarray(model.apply(variables, base))
  per_dim = np.asarray(arm.log_prob(model, variables, base, reduce=False))
  np.testing.assert_allclose(per_dim.sum(-1), np.asarray(arm.log_prob(model, variables, base)),
                             rtol=1e-5, atol=1e-4)
  for t in range(3):
    pert = base.copy()
    pert[:, t:] = rng.normal(size=(6, 3 - t))
    raw_p = np.asarray(model.apply(variables, pert))
    np.testing.assert_array_equal(raw_p[:, : t + 1], raw[:, : t + 1])
    per_dim_p = np.asarray(arm.log_prob(model, variables, pert, reduce=False))
    np.testing.assert_array_equal(per_dim_p[:, :t], per_dim[:, :t])
    if t < 2:  # x_t reaches every later conditional
      assert not np.any(np.all(raw_p[:, t + 1:] == raw[:, t + 1:], axis=(0, 2)))


def _np_reference(model, variables, x):
  """Float64 log-likelihood per dimension by D explicit passes: a_d = c + sum_{j<d} W[j] x_j,
  h_d = act(rho_d a_d), the mixture of dimension d from h_d V[d] + b[d]."""
  p = {k: np.asarray(v, np.float64) for k, v in variables["params"].items()}
  x = np.asarray(x, np.float64)
  k = model.num_components
  act = {"relu": lambda a: np.maximum(a, 0.0), "sigmoid": special.expit}[model.activation]
  dist = SCIPY[model.head_kind]
  out = np.zeros_like(x)
  for d in range(x.shape[1]):
    a = p["c"] + x[:, :d] @ p["W"][:d]  # [B, H]
    raw = act(p["rho"][d] * a) @ p["V"][d] + p["b"][d]  # [B, 3K]
    log_w = raw[:, :k] - special.logsumexp(raw[:, :k], axis=-1, keepdims=True)
    scale = np.exp(raw[:, 2 * k:]) + model.head.min_scale
    comp = dist.logpdf(x[:, d:d + 1], raw[:, k:2 * k], scale)
    out[:, d] = special.logsumexp(log_w + comp, axis=-1)
  return out


@pytest.mark.parametrize("head_kind,activation", [("gaussian", "relu"), ("laplace", "relu"),
                                                  ("logistic", "sigmoid")])
def test_matches_float64_reference(head_kind, activation):
  model, variables = _model(3, head_kind, activation=activation)
  x = np.random.default_rng(1).normal(0, 1.5, (16, 3)).astype(np.float32)
  ref = _np_reference(model, variables, x)
  got = np.asarray(arm.log_prob(model, variables, x, reduce=False), np.float64)
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(arm.log_prob(model, variables, x)), ref.sum(-1),
                             rtol=1e-5, atol=1e-4)


def test_cached_conditionals_and_samples_equal_naive():
  model, variables = _model(3, "gaussian")
  x = np.random.default_rng(2).normal(size=(16, 3)).astype(np.float32)
  full = np.asarray(model.apply(variables, x))
  cached = np.asarray(cached_conditionals(model, variables, jnp.asarray(x)))
  np.testing.assert_allclose(cached, full, atol=1e-5, rtol=0)
  key = jax.random.key(11)
  naive = np.asarray(arm.sample(model, variables, key, 6, method="naive"))
  fast = np.asarray(arm.sample(model, variables, key, 6, method="cached"))
  assert naive.dtype == np.float32 and naive.shape == (6, 3)
  np.testing.assert_allclose(fast, naive, rtol=1e-5, atol=1e-5)
  other = np.asarray(arm.sample(model, variables, jax.random.key(12), 6, method="cached"))
  assert not np.allclose(other, fast)  # the key matters
  prefix = np.random.default_rng(3).normal(size=(6, 3)).astype(np.float32)
  n_pre = np.asarray(arm.sample(model, variables, key, 6, method="naive", prefix=prefix, prefix_len=1))
  c_pre = np.asarray(arm.sample(model, variables, key, 6, method="cached", prefix=prefix, prefix_len=1))
  np.testing.assert_allclose(c_pre, n_pre, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(c_pre[:, :1], prefix[:, :1])
  assert not np.allclose(c_pre[:, 1:], fast[:, 1:])  # the prefix conditions the rest


def _rosenblatt(model, variables, samples):
  """u[:, d] = CDF of x_d's conditional at x_d: iid uniform when the samples follow the model."""
  raw = model.apply(variables, jnp.asarray(samples))
  return np.asarray(model.head.cdf(raw, jnp.asarray(samples)), np.float64)


def _uniformity_pvalue(u, bins=6):
  """The smallest p-value of KS tests on each u_d and chi-squares on the 2-D histograms of
  consecutive pairs (u_d, u_{d+1})."""
  pvalues = [stats.kstest(u[:, d], "uniform").pvalue for d in range(u.shape[1])]
  for d in range(u.shape[1] - 1):
    counts, _, _ = np.histogram2d(u[:, d], u[:, d + 1], bins=bins, range=[[0, 1], [0, 1]])
    pvalues.append(stats.chisquare(counts.ravel()).pvalue)
  return min(pvalues)


@pytest.mark.parametrize("head_kind", ["gaussian", "laplace"])  # logistic: tests/distributions
def test_samples_follow_the_model(head_kind):
  model, variables = _model(3, head_kind)
  n = 20000
  samples = np.asarray(arm.sample(model, variables, jax.random.key(0), n))
  u = _rosenblatt(model, variables, samples)
  # Six p-values; under the model the smallest falls below 1e-3 with probability < 0.6 %.
  assert _uniformity_pvalue(u) > 1e-3
  # The same test rejects samples of a slightly different model.
  other = {"params": dict(variables["params"], W=variables["params"]["W"] * 1.3)}
  wrong = np.asarray(arm.sample(model, other, jax.random.key(0), n))
  assert _uniformity_pvalue(_rosenblatt(model, variables, wrong)) < 1e-6


def test_completions_follow_the_conditional():
  model, variables = _model(3, "gaussian")
  n = 20000
  prefix = np.broadcast_to(np.float32([0.7, -1.2, 0.0]), (n, 3))
  samples = np.asarray(arm.sample(model, variables, jax.random.key(3), n, prefix=prefix, prefix_len=1))
  np.testing.assert_array_equal(samples[:, 0], prefix[:, 0])
  u = _rosenblatt(model, variables, samples)[:, 1:]  # dimensions 2 and 3 given x_1 = 0.7
  assert _uniformity_pvalue(u) > 1e-3


def test_bad_requests_raise():
  with pytest.raises(ValueError, match="num_levels=None"):
    arm.models.create("rnade", (11,), num_levels=2)
  with pytest.raises(ValueError, match="num_levels=None"):
    arm.models.create("rnade", (11,), num_levels=256)
  with pytest.raises(ValueError, match="'gaussian'"):
    arm.models.create("rnade", (11,), head_kind="categorical")
  with pytest.raises(ValueError, match="activation"):
    arm.models.create("rnade", (11,), activation="tanh")
  with pytest.raises(ValueError, match="num_components"):
    arm.models.create("rnade", (11,), num_components=0)
  with pytest.raises(ValueError, match="min_scale"):
    arm.models.create("rnade", (11,), min_scale=0.0)
  model = arm.models.create("rnade", (3,), size="tiny")
  assert model.num_levels is None and model.real_valued
  variables = arm.init(model, jax.random.key(0))
  x = np.zeros((2, 3), np.float32)
  x[1, 2] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    arm.log_prob(model, variables, x)
  x[1, 2] = np.inf
  with pytest.raises(ValueError, match="inf"):
    arm.log_prob(model, variables, x)
  with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
    arm.log_prob(model, variables, np.zeros((2, 4), np.float32))
  with pytest.raises(ValueError, match="NaN"):
    arm.sample(model, variables, jax.random.key(0), 2, prefix=x * np.nan, prefix_len=1)
  with pytest.raises(ValueError, match="cond=None"):
    arm.log_prob(model, variables, np.zeros((2, 3), np.float32), cond=np.zeros(2))


def test_paper_size_and_init_density():
  model = arm.models.create("rnade", (11,), size="paper")
  assert (model.hidden_size, model.num_components, model.head_kind) == (50, 10, "auto")
  variables = arm.init(model, jax.random.key(0))
  # At initialisation the density of standardised data is finite and broad (about 1.5 nats per
  # dimension for a standard normal, more for a wide mixture).
  x = np.random.default_rng(0).normal(size=(64, 11)).astype(np.float32)
  logp = np.asarray(arm.log_prob(model, variables, x))
  assert np.isfinite(logp).all() and -40.0 < logp.mean() < -11 * 0.9
