"""EoNADE (``eonade``) and NADE-k (``nade_k``): the rules of docs/design.md section 6 and the
order-agnostic training estimator.

1. normalisation over every input of a tiny event space, for one ordering and for the
   ensemble (a mixture over K orderings), with the Bernoulli and the categorical head;
2. causality along every ordering of the ensemble (perturbing later dimensions);
3. the decode path's conditionals equal the full pass along the sampling plan's
   per-example orderings, and cached == naive samples for the same key (also with a prefix);
4. sample frequencies follow exp(log_prob) (chi-square at a fixed seed);
5. one ordering's log-likelihood against an independent float64 NumPy reference that runs
   D explicit masked passes of the network from its parameters;
and: the training estimate D / (D - d + 1) * sum_{unobserved} log p is unbiased for the mean
over all D! orderings of the exact log-likelihoods (enumerated on D = 3), and the training
path draws its masks with the right probabilities.
"""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, log_expit, log_softmax, logsumexp, softmax

import armodels_jax as arm
from armodels_jax.api import log_prob_fn
from armodels_jax.sampling import cached_conditionals

import model_checks  # noqa: E402  (tests/models/conftest.py puts it on sys.path)

_all_inputs = model_checks.all_inputs
_chi_square_pvalue = model_checks.chi_square_pvalue

# name, event_shape, num_levels, overrides (on top of size='tiny')
CASES = {
    "eonade_bin": ("eonade", (4,), 2, dict(num_orderings=2)),
    "eonade_cat": ("eonade", (2, 2, 1), 3, dict(num_orderings=3)),
    "nade_k_bin": ("nade_k", (4,), 2, dict(num_orderings=2)),
    "nade_k_cat": ("nade_k", (2, 2, 1), 3, dict(num_orderings=3, use_mask=True, hidden_sizes=(8, 8),
                                                  activation="relu", num_iterations=3)),
}


def _random_variables(model, seed=7):
  """Random parameters of the model's shapes, larger than at initialisation and with non-zero
  biases, so the distribution is far from uniform. (NumPy draws: no compilation.)"""
  x = jnp.zeros((1,) + model.event_shape, jnp.int32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
  rng = np.random.default_rng(seed)
  draw = lambda s: jnp.asarray(rng.normal(size=s.shape) * 2.5 / math.sqrt(s.shape[0]), jnp.float32)
  return {"params": jax.tree.map(draw, shapes)}


@functools.lru_cache(maxsize=None)
def _model(case, **extra):
  name, shape, levels, overrides = CASES[case]
  model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny",
                            **{**overrides, **extra})
  return model, _random_variables(model)


@functools.lru_cache(maxsize=None)
def _apply_fn(model):
  """``model.apply(variables, x, component=c)``, compiled once per model (c traced)."""
  return jax.jit(lambda variables, x, component: model.apply(variables, x, component=component))


@functools.lru_cache(maxsize=None)
def _estimate_fn(model):
  """``model.order_agnostic_estimate(x, mask)``, compiled once per model."""
  return jax.jit(lambda variables, x, mask: model.apply(
      variables, x, mask, method=model.order_agnostic_estimate))


_train_log_prob = jax.jit(log_prob_fn, static_argnames=("model", "reduce", "train"))


def _raw(model, variables, x, component):
  return np.asarray(_apply_fn(model)(variables, jnp.asarray(x), jnp.asarray(component, jnp.int32)))


# ---------------------------------------------------------------------------------------------
# An independent float64 reference: D explicit masked passes of the network per ordering.


def _reference_log_prob(model, variables, x, order):
  """log p_order(x) in float64 from the raw parameters: ``x [N, *event_shape]`` -> ``[N]``."""
  p = {k: np.asarray(v, np.float64) for k, v in variables["params"].items()}
  act = {"relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh, "sigmoid": expit}[model.activation]
  levels = model.num_levels
  bernoulli = model.head.num_params == 1
  x = x.reshape(len(x), -1)
  xf = x / (levels - 1.0)
  num_dims = x.shape[1]
  nade_k = type(model).__name__ == "NADEk"
  use_mask = model.use_mask if nade_k else True

  def net(v, m):  # [N, D] -> [N, D, P]
    a = v @ p["in_kernel"] + p["in_bias"]
    if use_mask:
      a = a + m @ p["mask_kernel"]
    h = act(a)
    layer = 1
    while f"hidden_{layer}_kernel" in p:
      h = act(h @ p[f"hidden_{layer}_kernel"] + p[f"hidden_{layer}_bias"])
      layer += 1
    return np.einsum("nh,hdp->ndp", h, p["out_kernel"]) + p["out_bias"]

  def expected(raw):
    if bernoulli:
      return expit(raw[..., 0])
    return (softmax(raw, -1) * np.arange(levels) / (levels - 1.0)).sum(-1)

  total = np.zeros(len(x))
  for t in range(num_dims):
    m = np.zeros((len(x), num_dims))
    m[:, order[:t]] = 1.0
    if nade_k:
      v = m * xf + (1 - m) * expit(p["init_logit"])
      for _ in range(model.num_iterations):
        raw = net(v, m)
        v = m * xf + (1 - m) * expected(raw)
    else:
      raw = net(xf * m, m)
    d = order[t]
    if bernoulli:
      total += log_expit((2.0 * x[:, d] - 1.0) * raw[:, d, 0])
    else:
      total += log_softmax(raw[:, d], -1)[np.arange(len(x)), x[:, d]]
  return total


@pytest.mark.parametrize("case", sorted(CASES))
def test_log_prob_matches_float64_reference(case):
  model, variables = _model(case)
  xs = _all_inputs(model)
  per_k = np.stack([_reference_log_prob(model, variables, xs, order) for order in model.orderings()])
  # The ensemble: a mixture of the orderings' probabilities.
  mixture = logsumexp(per_k, axis=0) - math.log(model.num_orderings)
  np.testing.assert_allclose(np.asarray(arm.log_prob(model, variables, xs)), mixture, atol=2e-5)
  # Each ordering, through the full pass with component=k.
  for k in range(model.num_orderings):
    raw = _raw(model, variables, xs, k)
    own = np.asarray(model.head.log_prob(jnp.asarray(raw), jnp.asarray(xs))).reshape(len(xs), -1).sum(-1)
    np.testing.assert_allclose(own, per_k[k], atol=2e-5)
  # The orderings really differ (else the mixture checks prove little).
  assert np.abs(per_k[0] - per_k[1]).max() > 1e-2
  # A single-ordering model is ordering 0, the identity.
  single = model.clone(num_orderings=1)
  np.testing.assert_array_equal(single.orderings(), [np.arange(model.num_dims)])
  np.testing.assert_allclose(np.asarray(arm.log_prob(single, variables, xs)), per_k[0], atol=2e-5)



@pytest.mark.parametrize("shape,levels,orderings,batch,rows", [
    ((4,), 2, 5, 7, 2048),  # one group of orderings
    ((3, 5, 1), 3, 7, 4, 12),  # groups of 3 orderings (the last one padded), categorical head
])
def test_batched_ensemble_equals_per_ordering(monkeypatch, shape, levels, orderings, batch, rows):
  """EoNADE's batched ensemble evaluation (every ordering's first-layer pre-activation updated
  one column per step, orderings batched) equals the per-ordering path (a cumulative sum per
  ordering, ``lax.map`` over orderings) on a tiny model, ordering by ordering."""
  monkeypatch.setattr(arm.models.deep_nade, "_ENSEMBLE_ROWS", rows)
  model = arm.models.create("eonade", event_shape=shape, num_levels=levels, size="tiny",
                            num_orderings=orderings)
  variables = _random_variables(model, seed=3)
  x = jnp.asarray(np.random.default_rng(4).integers(0, levels, (batch,) + shape), jnp.int32)
  members = lambda batched: np.asarray(model.apply(variables, x, batched=batched,
                                                   method=model.member_log_probs))
  batched, per_ordering = members(True), members(False)
  assert batched.shape == (orderings, batch)
  np.testing.assert_allclose(batched, per_ordering, rtol=1e-6, atol=2e-5)
  assert np.abs(per_ordering[0] - per_ordering[1]).max() > 1e-2  # the orderings differ
  mixture = logsumexp(per_ordering.astype(np.float64), axis=0) - math.log(orderings)
  np.testing.assert_allclose(np.asarray(arm.log_prob(model, variables, x)), mixture, atol=2e-5)

def test_reference_catches_a_wrong_ordering():
  """The reference comparison above fails when the model's ordering is not the one used."""
  model, variables = _model("eonade_bin")
  xs = _all_inputs(model)
  wrong = _reference_log_prob(model, variables, xs, model.orderings()[0][::-1])
  assert np.abs(np.asarray(arm.log_prob(model.clone(num_orderings=1), variables, xs)) - wrong).max() > 1e-2


# ---------------------------------------------------------------------------------------------
# Rule 1: normalisation.


@pytest.mark.parametrize("case", sorted(CASES))
def test_normalisation_over_every_input(case):
  model, variables = _model(case)
  xs = _all_inputs(model)
  logp = np.asarray(arm.log_prob(model, variables, xs), np.float64)  # the K-ordering mixture
  assert np.isfinite(logp).all()
  np.testing.assert_allclose(np.exp(logp).sum(), 1.0, atol=1e-5)
  single = model.clone(num_orderings=1)
  logp1 = np.asarray(arm.log_prob(single, variables, xs), np.float64)
  np.testing.assert_allclose(np.exp(logp1).sum(), 1.0, atol=1e-5)
  per_dim = np.asarray(arm.log_prob(single, variables, xs, reduce=False), np.float64)
  assert per_dim.shape == xs.shape
  np.testing.assert_allclose(per_dim.reshape(len(xs), -1).sum(-1), logp1, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Rule 2: causality along each ordering.


@pytest.mark.parametrize("case", sorted(CASES))
def test_causality_along_every_ordering(case):
  model, variables = _model(case)
  rng = np.random.default_rng(0)
  n = 6
  base = rng.integers(0, model.num_levels, size=(n,) + model.event_shape).astype(np.int32)
  for k, order in enumerate(model.orderings()):
    raw = _raw(model, variables, base, k).reshape(n, model.num_dims, -1)
    changed_any = False
    for t in range(model.num_dims):
      pert = base.reshape(n, -1).copy()
      pert[:, order[t:]] = rng.integers(0, model.num_levels, size=(n, model.num_dims - t))
      raw_p = _raw(model, variables, pert.reshape(base.shape), k).reshape(n, model.num_dims, -1)
      # Dimensions at steps <= t see only steps < their own, all unchanged.
      np.testing.assert_array_equal(raw_p[:, order[: t + 1]], raw[:, order[: t + 1]])
      changed_any |= not np.array_equal(raw_p[:, order[t + 1:]], raw[:, order[t + 1:]])
    assert changed_any, "later conditionals never depend on earlier dimensions"
  # reduce=False of the single-ordering model: the conditional of step t is unchanged too.
  single = model.clone(num_orderings=1)
  per_dim = np.asarray(arm.log_prob(single, variables, base, reduce=False)).reshape(n, -1)
  pert = base.reshape(n, -1).copy()
  pert[:, -1] = (pert[:, -1] + 1) % model.num_levels
  per_dim_p = np.asarray(arm.log_prob(single, variables, pert.reshape(base.shape), reduce=False))
  np.testing.assert_array_equal(per_dim_p.reshape(n, -1)[:, :-1], per_dim[:, :-1])


def test_component_per_example_selects_each_examples_ordering():
  model, variables = _model("eonade_cat")
  xs = _all_inputs(model)[:9]
  component = np.arange(9, dtype=np.int32) % model.num_orderings
  mixed = _raw(model, variables, xs, component)
  for k in range(model.num_orderings):
    alone = _raw(model, variables, xs, k)
    np.testing.assert_allclose(mixed[component == k], alone[component == k], atol=1e-6)
  with pytest.raises(ValueError, match="component"):
    model.apply(variables, xs, component=np.zeros((4,), np.int32))


# ---------------------------------------------------------------------------------------------
# Rule 3: the decode path.


@pytest.mark.parametrize("case", sorted(CASES))
def test_cached_conditionals_equal_full_pass(case):
  model, variables = _model(case)
  xs = _all_inputs(model)
  rng = np.random.default_rng(1)
  x = jnp.asarray(xs[rng.choice(len(xs), 12, replace=False)])
  order, kwargs = model.apply(variables, jax.random.key(2), x, jnp.int32(0), method=model.sampling_plan)
  assert len(set(np.asarray(kwargs["component"]).tolist())) > 1  # several orderings in one batch
  np.testing.assert_array_equal(np.asarray(order), model.orderings()[np.asarray(kwargs["component"])])
  full = _raw(model, variables, x, kwargs["component"])
  cached = np.asarray(cached_conditionals(model, variables, x, order=order, call_kwargs=kwargs))
  np.testing.assert_allclose(cached, full, atol=1e-5, rtol=0)
  # The comparison bites: a shifted order gives other conditionals.
  shifted = jnp.roll(order, 1, axis=1)
  wrong = np.asarray(cached_conditionals(model, variables, x, order=shifted, call_kwargs=kwargs))
  assert np.abs(wrong - full).max() > 1e-3


@pytest.mark.parametrize("case", ["eonade_cat", "nade_k_bin", "nade_k_cat"])
def test_cached_sampling_equals_naive(case):
  model, variables = _model(case)
  key = jax.random.key(11)
  naive = np.asarray(arm.sample(model, variables, key, 16, method="naive"))
  cached = np.asarray(arm.sample(model, variables, key, 16, method="cached"))
  np.testing.assert_array_equal(naive, cached)
  other = np.asarray(arm.sample(model, variables, jax.random.key(12), 16, method="cached"))
  assert not np.array_equal(other, cached)  # the key matters
  if case == "nade_k_cat":
    return  # (prefixes: the other two cases, one per model)
  # A prefix, with the single ordering (the identity).
  single = model.clone(num_orderings=1)
  prefix = np.random.default_rng(2).integers(0, model.num_levels, (16,) + model.event_shape).astype(np.int32)
  k = model.num_dims // 2
  n_pre = np.asarray(arm.sample(single, variables, key, 16, method="naive", prefix=prefix, prefix_len=k))
  c_pre = np.asarray(arm.sample(single, variables, key, 16, method="cached", prefix=prefix, prefix_len=k))
  np.testing.assert_array_equal(n_pre, c_pre)
  np.testing.assert_array_equal(c_pre.reshape(16, -1)[:, :k], prefix.reshape(16, -1)[:, :k])


# ---------------------------------------------------------------------------------------------
# Rule 4: samples follow the model.


@pytest.mark.parametrize("case", ["eonade_cat", "nade_k_bin"])
def test_sample_frequencies_follow_the_mixture(case):
  model, variables = _model(case)
  probs = np.exp(np.asarray(arm.log_prob(model, variables, _all_inputs(model)), np.float64))
  samples = np.asarray(arm.sample(model, variables, jax.random.key(0), 20000))
  assert _chi_square_pvalue(samples, model, probs) > 1e-3
  # The same test rejects samples from another model.
  other = jax.tree.map(lambda p: 0.5 * p, variables)
  wrong = np.asarray(arm.sample(model, other, jax.random.key(0), 20000))
  assert _chi_square_pvalue(wrong, model, probs) < 1e-6


# ---------------------------------------------------------------------------------------------
# The order-agnostic training estimator.


def _subsets(num_dims):
  """Every observed set of a training draw, with its probability: d uniform in {1..D}, then
  d - 1 observed dimensions, a uniform subset of that size."""
  for size in range(num_dims):
    for subset in itertools.combinations(range(num_dims), size):
      yield subset, 1.0 / num_dims / math.comb(num_dims, size)


def _estimates(model, variables, x):
  """``[S, N]`` the estimator for every observed set S (and the sets, probabilities)."""
  subsets, probs = zip(*_subsets(model.num_dims))
  masks = np.zeros((len(subsets), len(x), model.num_dims), np.float32)  # [S, N, D]
  for s, subset in enumerate(subsets):
    masks[s][:, list(subset)] = 1.0
  xs = np.broadcast_to(x, (len(subsets),) + x.shape).reshape((-1,) + x.shape[1:])
  values = _estimate_fn(model)(variables, jnp.asarray(xs), jnp.asarray(masks.reshape(len(xs), -1)))
  return subsets, np.array(probs), np.asarray(values, np.float64).reshape(len(subsets), len(x))


@pytest.mark.parametrize("name,levels,extra", [
    ("eonade", 2, {}),
    ("eonade", 3, {}),
    ("nade_k", 2, dict(num_iterations=3)),
    ("nade_k", 3, dict(use_mask=True)),
])
def test_training_estimate_is_unbiased_for_the_mean_over_orderings(name, levels, extra):
  model = arm.models.create(name, event_shape=(3,), num_levels=levels, size="tiny", **extra)
  variables = _random_variables(model, 3)
  xs = _all_inputs(model)
  _, probs, values = _estimates(model, variables, xs)
  np.testing.assert_allclose(probs.sum(), 1.0)
  expectation = probs @ values  # [N]
  exact = np.mean([_reference_log_prob(model, variables, xs, np.array(order))
                   for order in itertools.permutations(range(3))], axis=0)
  np.testing.assert_allclose(expectation, exact, atol=1e-4)
  # Not trivially so: single masks give other values.
  assert np.abs(values - exact).max() > 1e-2


@pytest.mark.parametrize("name", ["eonade", "nade_k"])
def test_training_path_draws_masks_with_the_right_probabilities(name):
  model = arm.models.create(name, event_shape=(3,), num_levels=2, size="tiny")
  variables = _random_variables(model, 3)
  x = np.array([[1, 0, 1]], np.int32)
  _, probs, values = _estimates(model, variables, x)
  values = values[:, 0]  # [S]
  gaps = np.abs(values[:, None] - values[None, :]) + np.eye(len(values)) * 1e9
  assert gaps.min() > 1e-3  # every observed set gives its own value
  n = 6000
  drawn = np.asarray(_train_log_prob(model, variables, jnp.asarray(np.repeat(x, n, 0)), train=True,
                                     rng=jax.random.key(4)), np.float64)  # [n]
  which = np.abs(drawn[:, None] - values[None, :]).argmin(-1)
  np.testing.assert_allclose(drawn, values[which], atol=1e-4)
  counts = np.bincount(which, minlength=len(values))
  assert stats.chisquare(counts, probs * n).pvalue > 1e-3
  # Another key draws other masks; reduce=False keeps the scaled per-dimension terms.
  again = np.asarray(_train_log_prob(model, variables, jnp.asarray(np.repeat(x, n, 0)), train=True,
                                     rng=jax.random.key(5)))
  assert not np.array_equal(again, drawn)
  terms = np.asarray(_train_log_prob(model, variables, jnp.asarray(np.repeat(x, n, 0)), train=True,
                                     rng=jax.random.key(4), reduce=False))
  np.testing.assert_allclose(terms.sum(-1), drawn, atol=1e-4)


def test_nade_k_intermediate_weight_mixes_the_steps():
  """a = 1 averages the k steps' estimates; a = 0.5 sits halfway between that and the last."""
  base = arm.models.create("nade_k", event_shape=(3,), num_levels=2, size="tiny", num_iterations=3)
  variables = _random_variables(base, 3)
  x = jnp.asarray(_all_inputs(base))
  mask = jnp.asarray(np.tile([[1.0, 0.0, 0.0]], (len(x), 1)), jnp.float32)

  def est(model):
    return np.asarray(_estimate_fn(model)(variables, x, mask))

  steps = [est(base.clone(num_iterations=i)) for i in (1, 2, 3)]  # each step's own estimate
  np.testing.assert_allclose(est(base.clone(intermediate_weight=1.0)), np.mean(steps, 0), atol=1e-5)
  np.testing.assert_allclose(est(base.clone(intermediate_weight=0.5)),
                             0.5 * steps[-1] + 0.5 * np.mean(steps, 0), atol=1e-5)
  assert np.abs(steps[0] - steps[-1]).max() > 1e-3


# ---------------------------------------------------------------------------------------------
# Requests and configurations that are refused.


@pytest.mark.parametrize("case", ["eonade_bin", "nade_k_bin"])
def test_ensemble_refuses_reduce_false_and_prefix(case):
  model, variables = _model(case)
  assert model.num_orderings > 1
  x = np.zeros((2, 4), np.int32)
  with pytest.raises(ValueError, match="reduce=False needs one ordering"):
    arm.log_prob(model, variables, x, reduce=False)
  with pytest.raises(ValueError, match="prefix needs one ordering"):
    arm.sample(model, variables, jax.random.key(0), 2, prefix=x, prefix_len=1)
  with pytest.raises(ValueError, match="reduce=False needs one ordering"):
    log_prob_fn(model, variables, jnp.asarray(x), reduce=False)  # the traceable path too


@pytest.mark.parametrize("name,overrides,match", [
    ("eonade", dict(hidden_sizes=()), "hidden_sizes"),
    ("eonade", dict(num_orderings=0), "num_orderings"),
    ("eonade", dict(activation="gelu"), "activation"),
    ("nade_k", dict(num_iterations=0), "num_iterations"),
    ("nade_k", dict(intermediate_weight=1.5), "intermediate_weight"),
])
def test_bad_config_raises(name, overrides, match):
  with pytest.raises(ValueError, match=match):
    arm.models.create(name, event_shape=(4,), num_levels=2, size="tiny", **overrides)


@pytest.mark.parametrize("name", ["eonade", "nade_k"])
@pytest.mark.parametrize("size", ["small", "paper"])
def test_sizes_build(name, size):
  model = arm.models.create(name, event_shape=(28, 28, 1), num_levels=2, size=size)
  shapes = jax.eval_shape(lambda: arm.init(model, jax.random.key(0)))
  assert shapes["params"]["in_kernel"].shape == (784, model.hidden_sizes[0])
  if size == "paper":
    assert model.hidden_sizes == (500, 500) and model.num_orderings == 128
