"""FVSBN and NADE against the rules of docs/design.md section 6.

1. normalisation over every input of a tiny event space;
2. causality in raster order (perturbing dimensions at and after d);
3. decode-path conditionals equal the full pass, cached == naive samples (with
   and without a prefix);
4. sample frequencies follow exp(log_prob) (chi-square at a fixed seed);
5. log_prob equals an independent float64 NumPy computation from the
   parameters, one explicit pass per dimension (Frey 1998 for FVSBN; Larochelle
   & Murray 2011, eq. 6-7, for NADE).

Parameters are redrawn from a scaled normal so the distributions are far from
uniform and every check can fail.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

import armodels_jax as arm
from armodels_jax.sampling import cached_conditionals, init_cache

import model_checks  # noqa: E402  (tests/models/conftest.py puts it on sys.path)

_all_inputs = model_checks.all_inputs
_chi_square_pvalue = model_checks.chi_square_pvalue

# name, event_shape, num_levels, overrides
CASES = {
    "fvsbn_bin": ("fvsbn", (4,), 2, {}),
    "fvsbn_cat": ("fvsbn", (2, 2, 1), 3, {}),
    "nade_bin": ("nade", (4,), 2, {}),
    "nade_cat": ("nade", (2, 2, 1), 3, {}),  # one-hot input columns
    "nade_cat_cumsum_tanh": ("nade", (2, 2, 1), 3, dict(
        prefix_sum="cumsum", input_encoding="scaled", activation="tanh")),
}
# Larger events for the exactness and reference checks (no enumeration).
WIDE_CASES = {
    "fvsbn_rgb": ("fvsbn", (3, 4, 2), 4, {}),
    "fvsbn_bin_softmax": ("fvsbn", (2, 3, 1), 2, dict(head_kind="categorical")),
    "nade_rgb": ("nade", (3, 4, 2), 4, {}),
    "nade_rgb_scaled_cumsum_relu": ("nade", (3, 4, 2), 4, dict(
        input_encoding="scaled", prefix_sum="cumsum", activation="relu")),
    "nade_long": ("nade", (12,), 2, dict(hidden_size=16)),
}
ALL_CASES = {**CASES, **WIDE_CASES}


def _random_variables(model, seed, scale=1.5):
  """Every parameter (biases included) drawn from ``scale * N(0, 1)``, in the
  shapes ``arm.init`` gives (traced, not run: NumPy draws are faster here)."""
  shapes = jax.eval_shape(lambda: arm.init(model, jax.random.key(0)))
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)


def _model(case, scale=1.5):
  name, shape, levels, overrides = ALL_CASES[case]
  model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny", **overrides)
  return model, _random_variables(model, seed=8, scale=scale)


_apply = jax.jit(lambda variables, x, model: model.apply(variables, x), static_argnums=2)


def _random_inputs(model, n, seed):
  rng = np.random.default_rng(seed)
  return rng.integers(0, model.num_levels, size=(n,) + model.event_shape).astype(np.int32)


@pytest.mark.parametrize("case", sorted(CASES))
def test_normalisation_over_every_input(case):
  model, variables = _model(case)
  xs = _all_inputs(model)
  logp = np.asarray(arm.log_prob(model, variables, xs), np.float64)
  assert np.isfinite(logp).all()
  np.testing.assert_allclose(np.exp(logp).sum(), 1.0, atol=1e-5)
  # The distribution is far from uniform, so the sum is not 1 by accident.
  assert np.exp(logp).max() > 3.0 / len(xs)
  per_dim = np.asarray(arm.log_prob(model, variables, xs, reduce=False), np.float64)
  assert per_dim.shape == xs.shape
  np.testing.assert_allclose(per_dim.reshape(len(xs), -1).sum(-1), logp, atol=1e-4)


@pytest.mark.parametrize("case", sorted(CASES) + ["nade_rgb"])
def test_causality(case):
  model, variables = _model(case)
  rng = np.random.default_rng(0)
  n, num_dims = 6, model.num_dims
  base = _random_inputs(model, n, seed=1).reshape(n, num_dims)
  # Row block d: the base inputs with every dimension >= d redrawn.
  pert = np.tile(base, (num_dims, 1, 1))  # [D, n, D]
  for d in range(num_dims):
    pert[d, :, d:] = rng.integers(0, model.num_levels, size=(n, num_dims - d))
  same = np.tile(base, (num_dims, 1, 1))  # [D, n, D]
  # Two calls of one shape, so every row keeps its position in the batch
  # (the rounding of a batched matmul may depend on it).
  raw, cond = [], []
  for batch in (same, pert):
    batch = batch.reshape((-1,) + model.event_shape)
    raw.append(np.asarray(_apply(variables, batch, model)).reshape(num_dims, n, num_dims, -1))
    per_dim = arm.log_prob(model, variables, batch, reduce=False)
    cond.append(np.asarray(per_dim).reshape(num_dims, n, num_dims))
  changed_any = False
  for d in range(num_dims):
    # The conditionals before d see none of the changed dimensions; the
    # parameters of dimension d do not see it either.
    np.testing.assert_array_equal(cond[1][d, :, :d], cond[0][d, :, :d])
    np.testing.assert_array_equal(raw[1][d, :, : d + 1], raw[0][d, :, : d + 1])
    changed_any |= not np.array_equal(raw[1][d, :, d + 1:], raw[0][d, :, d + 1:])
  assert changed_any, "later conditionals never depend on earlier dimensions"


@pytest.mark.parametrize("case", sorted(WIDE_CASES) + ["nade_cat_cumsum_tanh"])
def test_cached_conditionals_equal_full_pass(case):
  model, variables = _model(case)
  x = jnp.asarray(_random_inputs(model, 5, seed=3))
  full = np.asarray(_apply(variables, x, model))
  cached = np.asarray(cached_conditionals(model, variables, x))
  assert cached.shape == full.shape == x.shape + (model.head.num_params,)
  np.testing.assert_allclose(cached, full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", ["fvsbn_rgb", "nade_rgb"])
def test_cached_sampling_equals_naive(case):
  model, variables = _model(case)
  key = jax.random.key(11)
  naive = np.asarray(arm.sample(model, variables, key, 8, method="naive"))
  cached = np.asarray(arm.sample(model, variables, key, 8, method="cached"))
  np.testing.assert_array_equal(naive, cached)
  other = np.asarray(arm.sample(model, variables, jax.random.key(12), 8, method="cached"))
  assert not np.array_equal(other, cached)  # the key matters
  prefix = _random_inputs(model, 8, seed=2)
  k = model.num_dims // 2
  n_pre = np.asarray(arm.sample(model, variables, key, 8, method="naive", prefix=prefix, prefix_len=k))
  c_pre = np.asarray(arm.sample(model, variables, key, 8, method="cached", prefix=prefix, prefix_len=k))
  np.testing.assert_array_equal(n_pre, c_pre)
  np.testing.assert_array_equal(c_pre.reshape(8, -1)[:, :k], prefix.reshape(8, -1)[:, :k])


def test_decode_caches_are_running_sums():
  """FVSBN caches the logits of every dimension, NADE one hidden pre-activation."""
  fvsbn, _ = _model("fvsbn_rgb")
  cache = init_cache(fvsbn.clone(decode=True), 5)
  assert jax.tree.map(jnp.shape, cache) == {"logits": (5, fvsbn.num_dims * fvsbn.num_levels)}
  nade, _ = _model("nade_rgb")
  cache = init_cache(nade.clone(decode=True), 5)
  assert jax.tree.map(jnp.shape, cache) == {"a": (5, nade.hidden_size)}


@pytest.mark.parametrize("case", ["fvsbn_bin", "fvsbn_cat", "nade_bin", "nade_cat"])
def test_sample_frequencies_follow_the_model(case):
  model, variables = _model(case)
  probs = np.exp(np.asarray(arm.log_prob(model, variables, _all_inputs(model)), np.float64))
  samples = np.asarray(arm.sample(model, variables, jax.random.key(0), 20000))
  # A false alarm has probability 1e-4 per case; a wrong model scores < 1e-6.
  assert _chi_square_pvalue(samples, model, probs) > 1e-4
  # The same test rejects samples from a different model.
  other = jax.tree.map(lambda p: p * 0.3, variables)
  wrong = np.asarray(arm.sample(model, other, jax.random.key(0), 20000))
  assert _chi_square_pvalue(wrong, model, probs) < 1e-6


@pytest.mark.parametrize("case", ["fvsbn_cat", "nade_cat"])
def test_completions_follow_the_conditional(case):
  model, variables = _model(case)
  xs = _all_inputs(model)
  probs = np.exp(np.asarray(arm.log_prob(model, variables, xs), np.float64))
  k = 2
  best = xs[int(np.argmax(probs))]
  keep = (xs.reshape(len(xs), -1)[:, :k] == best.reshape(-1)[:k]).all(-1)
  cond_probs = np.where(keep, probs, 0.0) / probs[keep].sum()
  n = 20000
  prefix = np.broadcast_to(best, (n,) + model.event_shape)
  samples = np.asarray(arm.sample(model, variables, jax.random.key(5), n, prefix=prefix, prefix_len=k))
  assert _chi_square_pvalue(samples, model, cond_probs) > 1e-4


# Independent float64 references: one explicit pass per dimension d, summing
# over the dimensions i < d in a Python loop.

def _head_log_prob(logits, value):
  """``logits [P]`` float64, an int level -> log-probability (Bernoulli if P == 1)."""
  if logits.shape[0] == 1:
    sign = 1.0 if value == 1 else -1.0
    return -np.logaddexp(0.0, -sign * logits[0])
  return logits[value] - special.logsumexp(logits)


def _fvsbn_reference(model, params, x):
  kernel = np.asarray(params["kernel"], np.float64)  # [D, D * P]
  bias = np.asarray(params["bias"], np.float64)  # [D * P]
  p = model.head.num_params
  flat = x.reshape(len(x), -1)
  out = np.zeros(flat.shape)
  for n in range(len(flat)):
    for d in range(model.num_dims):
      logits = bias[d * p:(d + 1) * p].copy()
      for i in range(d):
        logits += flat[n, i] / (model.num_levels - 1) * kernel[i, d * p:(d + 1) * p]
      out[n, d] = _head_log_prob(logits, flat[n, d])
  return out


def _nade_reference(model, params, x):
  w = np.asarray(params["W"], np.float64)  # [D, E, H]
  c = np.asarray(params["c"], np.float64)  # [H]
  v = np.asarray(params["V"], np.float64)  # [D, H, P]
  b = np.asarray(params["b"], np.float64)  # [D, P]
  act = {"sigmoid": special.expit, "tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}[model.activation]
  one_hot = model.input_encoding == "one_hot" or (
      model.input_encoding == "auto" and model.num_levels > 2)
  flat = x.reshape(len(x), -1)
  out = np.zeros(flat.shape)
  for n in range(len(flat)):
    for d in range(model.num_dims):
      a = c.copy()
      for i in range(d):
        if one_hot:
          a += w[i, flat[n, i]]
        else:
          a += flat[n, i] / (model.num_levels - 1) * w[i, 0]
      out[n, d] = _head_log_prob(b[d] + act(a) @ v[d], flat[n, d])
  return out


@pytest.mark.parametrize("case", sorted(WIDE_CASES) + ["nade_cat_cumsum_tanh"])
def test_log_prob_matches_float64_reference(case):
  model, variables = _model(case)
  x = _random_inputs(model, 4, seed=9)
  reference = {"fvsbn": _fvsbn_reference, "nade": _nade_reference}[ALL_CASES[case][0]]
  expected = reference(model, variables["params"], x)  # [B, D]
  per_dim = np.asarray(arm.log_prob(model, variables, x, reduce=False)).reshape(len(x), -1)
  np.testing.assert_allclose(per_dim, expected, atol=1e-4, rtol=1e-5)
  assert np.abs(expected).max() > 0.5  # not a near-uniform model


def test_nade_prefix_sums_agree():
  """The cumulative-sum and the scan forms of NADE compute the same conditionals."""
  cumsum_model, variables = _model("nade_rgb")
  scan_model = cumsum_model.clone(prefix_sum="scan")
  cumsum_model = cumsum_model.clone(prefix_sum="cumsum")
  x = _random_inputs(cumsum_model, 5, seed=4)
  np.testing.assert_allclose(np.asarray(_apply(variables, x, cumsum_model)),
                             np.asarray(_apply(variables, x, scan_model)), atol=1e-5, rtol=0)


def test_sizes_and_parameters():
  fields = lambda m: {f: getattr(m, f) for f in arm.models.options("fvsbn")}
  fvsbn = [arm.models.create("fvsbn", (28, 28, 1), 2, size=s) for s in ("tiny", "small", "paper")]
  assert fields(fvsbn[0]) == fields(fvsbn[1]) == fields(fvsbn[2])
  hidden = [arm.models.create("nade", (28, 28, 1), 2, size=s).hidden_size for s in ("tiny", "small", "paper")]
  assert hidden == [8, 100, 500]
  shapes = lambda m: jax.tree.map(np.shape, arm.init(m, jax.random.key(0))["params"])
  assert shapes(arm.models.create("fvsbn", (2, 2, 1), 3, size="tiny")) == {"kernel": (4, 12), "bias": (12,)}
  nade = arm.models.create("nade", (2, 2, 1), 3, size="tiny")
  assert shapes(nade) == {"W": (4, 3, 8), "c": (8,), "V": (4, 8, 3), "b": (4, 3)}
  assert shapes(nade.clone(input_encoding="scaled"))["W"] == (4, 1, 8)


@pytest.mark.parametrize("option,value,match", [
    ("hidden_size", 0, "hidden_size >= 1, got 0"),
    ("activation", "softplus", "activation one of .*got 'softplus'"),
    ("input_encoding", "embedding", "input_encoding one of .*got 'embedding'"),
    ("prefix_sum", "loop", "prefix_sum one of .*got 'loop'"),
])
def test_nade_bad_options_raise(option, value, match):
  with pytest.raises(ValueError, match=match):
    arm.models.create("nade", (4,), 2, size="tiny", **{option: value})


def test_fvsbn_has_no_hidden_layer_option():
  with pytest.raises(ValueError, match="hidden_size"):
    arm.models.create("fvsbn", (4,), 2, size="tiny", hidden_size=8)


# event shape, levels, overrides: binary data with the scaled input and the Bernoulli head; one-hot
# columns with the softmax head; a length that is not a multiple of the fused scan's checkpoint
# interval (16), with the scaled input of 3 levels and rectified units.
FUSED_CASES = {
    "binary_scaled_784": ((784,), 2, dict(hidden_size=24)),
    "one_hot_categorical_784": ((28, 28, 1), 4, dict(hidden_size=24)),
    "scaled_relu_37": ((37,), 3, dict(hidden_size=24, input_encoding="scaled", activation="relu")),
}


@pytest.mark.parametrize("case", sorted(FUSED_CASES))
def test_nade_fused_equals_scan_in_value_and_gradient(case):
  """``prefix_sum="fused"`` (hand-written gradient) against ``"scan"`` (JAX's gradient of the
  paper's Algorithm 1): log-likelihoods, and the parameter gradients of (a) the mean
  log-likelihood (a uniform cotangent: the gradient accumulated in the forward scan), (b) a
  weighted sum of the conditionals (the reverse scan), (c) a function of the raw outputs."""
  shape, levels, overrides = FUSED_CASES[case]
  base = arm.models.create("nade", event_shape=shape, num_levels=levels, size="tiny", **overrides)
  variables = _random_variables(base, seed=5, scale=0.5)
  scan, fused = base.clone(prefix_sum="scan"), base.clone(prefix_sum="fused")
  assert base.prefix_sum_in_use == ("fused" if jax.default_backend() == "cpu" else "cumsum")
  x = jnp.asarray(_random_inputs(base, 6, seed=6))
  weights = jnp.asarray(np.random.default_rng(7).uniform(size=x.shape), jnp.float32)
  losses = {
      "mean": lambda m, p: m.apply({"params": p}, x, method=m.log_prob).mean(),
      "weighted": lambda m, p: (m.apply({"params": p}, x, reduce=False, method=m.log_prob)
                                * weights).sum(),
      "raw": lambda m, p: jnp.tanh(m.apply({"params": p}, x)).sum(),
  }
  logp = {m: np.asarray(jax.jit(lambda p, m=m: m.apply({"params": p}, x, method=m.log_prob))(
      variables["params"])) for m in (scan, fused)}
  np.testing.assert_allclose(logp[fused], logp[scan], rtol=1e-5, atol=1e-4)
  assert np.abs(logp[scan]).min() > 0.5 * base.num_dims  # far from a degenerate model
  for name, loss in losses.items():
    grads = {m: jax.jit(jax.grad(lambda p, m=m: loss(m, p)))(variables["params"])
             for m in (scan, fused)}
    for key in grads[scan]:
      want, got = np.asarray(grads[scan][key]), np.asarray(grads[fused][key])
      scale = np.abs(want).max()
      assert scale > 0, (name, key)
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale, err_msg=f"{name} {key}")
