"""The rules of docs/design.md section 6 for MADE and PixelCNN.

1. normalisation over every input of a tiny event space;
2. causality in the model's order (perturbing later dimensions);
3. cached-step conditionals equal the full pass, cached == naive samples;
4. sample frequencies follow exp(log_prob) (chi-square at a fixed seed), also
   for completions of a prefix;
(5, the heads against float64, is in tests/distributions.)
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax.sampling import cached_conditionals

import model_checks  # noqa: E402  (tests/models/conftest.py puts it on sys.path)

_all_inputs = model_checks.all_inputs
_chi_square_pvalue = model_checks.chi_square_pvalue

# name, event_shape, num_levels, overrides
CASES = {
    "made_bin": ("made", (4,), 2, dict(num_masks=1)),
    "made_ens": ("made", (2, 2, 1), 3, dict(num_masks=3)),
    "made_orderless": ("made", (4,), 2, dict(num_masks=3, order_agnostic=True)),
    "pixelcnn_grey": ("pixelcnn", (2, 2, 1), 4, {}),
    "pixelcnn_rgb": ("pixelcnn", (2, 1, 3), 3, dict(features=12, output_features=6)),
    "pixelcnn_bin": ("pixelcnn", (2, 3, 1), 2, {}),
}


def _model(case, scale=1.0):
  name, shape, levels, overrides = CASES[case]
  model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny", **overrides)
  variables = arm.init(model, jax.random.key(7))
  # Larger weights make the distribution far from uniform, so the tests bite.
  variables = jax.tree.map(lambda p: p * scale, variables)
  return model, variables


@pytest.mark.parametrize("case", sorted(CASES))
def test_normalisation_over_every_input(case):
  model, variables = _model(case, scale=2.0)
  xs = _all_inputs(model)
  logp = np.asarray(arm.log_prob(model, variables, xs), np.float64)
  assert np.isfinite(logp).all()
  total = np.exp(logp).sum()
  np.testing.assert_allclose(total, 1.0, atol=1e-5)
  if not model.order_agnostic if hasattr(model, "order_agnostic") else True:
    per_dim = np.asarray(arm.log_prob(model, variables, xs, reduce=False), np.float64)
    assert per_dim.shape == xs.shape
    np.testing.assert_allclose(per_dim.reshape(len(xs), -1).sum(-1), logp, atol=1e-4)


def _orders(model):
  """Orders in which the model is autoregressive, with call kwargs for each."""
  if model.__class__.__name__ == "MADE":
    orders = model.pool().orders
    return [(orders[k], dict(component=k)) for k in range(model.num_masks)]
  return [(np.arange(model.num_dims), {})]


def _check_causality(model, variables):
  """Rule 2 in every order of the model: perturbing positions >= t leaves the raw parameters of
  positions <= t unchanged, and some later conditional depends on an earlier position."""
  rng = np.random.default_rng(0)
  base = rng.integers(0, model.num_levels, size=(6,) + model.event_shape).astype(np.int32)
  for order, kwargs in _orders(model):
    raw = np.asarray(model.apply(variables, base, **kwargs)).reshape(6, model.num_dims, -1)
    changed_any = False
    for t in range(model.num_dims):
      later = order[t:]
      pert = base.reshape(6, -1).copy()
      pert[:, later] = rng.integers(0, model.num_levels, size=(6, len(later)))
      raw_p = np.asarray(model.apply(variables, pert.reshape(base.shape), **kwargs))
      raw_p = raw_p.reshape(6, model.num_dims, -1)
      # Conditionals of the dimensions at positions <= t depend only on
      # positions < their own: the perturbation starts at t, so dims at
      # positions <= t keep their parameters.
      np.testing.assert_array_equal(raw_p[:, order[: t + 1]], raw[:, order[: t + 1]],
                                    err_msg=f"a conditional at or before step {t} saw step >= {t}")
      changed_any |= not np.array_equal(raw_p[:, order[t + 1:]], raw[:, order[t + 1:]])
    assert changed_any, "later conditionals never depend on earlier dimensions"


@pytest.mark.parametrize("case", sorted(CASES))
def test_causality(case):
  _check_causality(*_model(case, scale=2.0))


def test_causality_check_catches_a_leak(monkeypatch):
  """The causality check above fails for a PixelCNN whose first convolution has mask B instead of
  A (each pixel sees itself). Every family's leaks are in test_causality_leaks.py."""
  from armodels_jax.models import pixelcnn  # pylint: disable=g-import-not-at-top
  model, variables = _model("pixelcnn_grey", scale=2.0)
  conv = pixelcnn.MaskedConv2D
  monkeypatch.setattr(pixelcnn, "MaskedConv2D", lambda f, k, mask_type, **kw: conv(f, k, "B", **kw))
  with pytest.raises(AssertionError, match=r"a conditional at or before step 0 saw step >= 0"):
    _check_causality(model, variables)


PIXEL_CASES = [
    ((2, 2, 1), 4, dict(size="tiny")),
    ((5, 6, 3), 5, dict(size="tiny", features=12, output_features=12, num_blocks=2,
                        first_kernel=7, block_kernel=3)),
    ((4, 7, 1), 2, dict(size="tiny", features=8, num_blocks=3, first_kernel=5, block_kernel=5)),
]


@pytest.mark.parametrize("shape,levels,kw", PIXEL_CASES)
def test_cached_conditionals_equal_full_pass(shape, levels, kw):
  model = arm.models.create("pixelcnn", event_shape=shape, num_levels=levels, **kw)
  variables = arm.init(model, jax.random.key(3))
  x = np.random.default_rng(1).integers(0, levels, size=(3,) + shape).astype(np.int32)
  full = np.asarray(model.apply(variables, x))
  cached = np.asarray(cached_conditionals(model, variables, jnp.asarray(x)))
  np.testing.assert_allclose(cached, full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape,levels,kw", PIXEL_CASES)
def test_cached_sampling_equals_naive(shape, levels, kw):
  model = arm.models.create("pixelcnn", event_shape=shape, num_levels=levels, **kw)
  variables = arm.init(model, jax.random.key(4))
  key = jax.random.key(11)
  naive = np.asarray(arm.sample(model, variables, key, 4, method="naive"))
  cached = np.asarray(arm.sample(model, variables, key, 4, method="cached"))
  np.testing.assert_array_equal(naive, cached)
  other = np.asarray(arm.sample(model, variables, jax.random.key(12), 4, method="cached"))
  assert not np.array_equal(other, cached)  # the key matters
  prefix = np.random.default_rng(2).integers(0, levels, size=(4,) + shape).astype(np.int32)
  k = model.num_dims // 2
  n_pre = np.asarray(arm.sample(model, variables, key, 4, method="naive", prefix=prefix, prefix_len=k))
  c_pre = np.asarray(arm.sample(model, variables, key, 4, method="cached", prefix=prefix, prefix_len=k))
  np.testing.assert_array_equal(n_pre, c_pre)
  np.testing.assert_array_equal(c_pre.reshape(4, -1)[:, :k], prefix.reshape(4, -1)[:, :k])


@pytest.mark.parametrize("case", ["made_ens", "made_orderless", "pixelcnn_grey", "pixelcnn_rgb"])
def test_sample_frequencies_follow_the_model(case):
  model, variables = _model(case, scale=2.0)
  probs = np.exp(np.asarray(arm.log_prob(model, variables, _all_inputs(model)), np.float64))
  samples = np.asarray(arm.sample(model, variables, jax.random.key(0), 20000))
  assert _chi_square_pvalue(samples, model, probs) > 1e-3
  # The same test rejects samples from a different model.
  other = jax.tree.map(lambda p: p * 0.3, variables)
  wrong = np.asarray(arm.sample(model, other, jax.random.key(0), 20000))
  assert _chi_square_pvalue(wrong, model, probs) < 1e-6


@pytest.mark.parametrize("case", ["made_ens", "pixelcnn_grey"])
def test_completions_follow_the_conditional(case):
  model, variables = _model(case, scale=2.0)
  xs = _all_inputs(model)
  probs = np.exp(np.asarray(arm.log_prob(model, variables, xs), np.float64))
  k = 2
  prefix_values = xs[int(np.argmax(probs))].reshape(-1)[:k]
  keep = (xs.reshape(len(xs), -1)[:, :k] == prefix_values).all(-1)
  cond_probs = np.where(keep, probs, 0.0) / probs[keep].sum()
  n = 20000
  prefix = np.broadcast_to(xs[int(np.argmax(probs))], (n,) + model.event_shape)
  samples = np.asarray(arm.sample(model, variables, jax.random.key(5), n,
                                  prefix=prefix, prefix_len=k))
  np.testing.assert_array_equal(samples.reshape(n, -1)[:, :k], np.broadcast_to(prefix_values, (n, k)))
  assert _chi_square_pvalue(samples, model, cond_probs) > 1e-3


def test_made_ensemble_is_a_mixture_of_its_mask_sets():
  model, variables = _model("made_orderless", scale=2.0)
  xs = _all_inputs(model)
  per_k = []
  for k in range(model.num_masks):
    raw = model.apply(variables, xs, component=k)
    per_k.append(np.asarray(model.head.log_prob(raw, xs)).sum(-1))
  mixture = np.log(np.mean(np.exp(np.array(per_k, np.float64)), axis=0))
  np.testing.assert_allclose(np.asarray(arm.log_prob(model, variables, xs)), mixture, atol=1e-5)
  # The mask sets really differ (else the test above proves nothing).
  assert np.abs(per_k[0] - per_k[1]).max() > 1e-3


def test_made_training_draws_a_mask_set_per_step():
  from armodels_jax.api import log_prob_fn
  model, variables = _model("made_orderless", scale=2.0)
  xs = jnp.asarray(_all_inputs(model))
  per_k = {round(float(model.head.log_prob(model.apply(variables, xs, component=k), xs).sum()), 4)
           for k in range(model.num_masks)}
  seen = {round(float(log_prob_fn(model, variables, xs, train=True, rng=jax.random.key(s)).sum()), 4)
          for s in range(12)}
  assert seen <= per_k and len(seen) > 1


def test_made_dropout_drops_hidden_units_in_training_only_and_keeps_causality():
  """With ``dropout_rate`` a training pass draws hidden units from the ``'dropout'`` RNG (the same key,
  the same pass; another key, another pass), while evaluation uses every unit and equals the model
  without dropout; under any one dropout draw the outputs still depend only on earlier inputs."""
  model = arm.models.create("made", event_shape=(6,), num_levels=2, size="tiny", num_masks=1,
                            dropout_rate=0.5)
  plain = arm.models.create("made", event_shape=(6,), num_levels=2, size="tiny", num_masks=1)
  variables = jax.tree.map(lambda p: p * 2.0, arm.init(model, jax.random.key(7)))
  xs = jnp.asarray(_all_inputs(model))

  def train_raw(x, seed):
    return np.asarray(model.apply(variables, x, train=True,
                                  rngs={"masks": jax.random.key(0), "dropout": jax.random.key(seed)}))

  np.testing.assert_array_equal(train_raw(xs, 1), train_raw(xs, 1))
  assert np.abs(train_raw(xs, 1) - train_raw(xs, 2)).max() > 1e-3
  evaluated = np.asarray(model.apply(variables, xs))
  assert np.abs(train_raw(xs, 1) - evaluated).max() > 1e-3
  np.testing.assert_array_equal(evaluated, np.asarray(plain.apply(variables, xs)))
  # Causality of one dropout draw: changing dimensions >= t leaves the outputs of dimensions <= t.
  rng = np.random.default_rng(0)
  base = rng.integers(0, 2, size=(8, 6)).astype(np.int32)
  raw = train_raw(base, 3)
  for t in range(6):
    pert = base.copy()
    pert[:, t:] = rng.integers(0, 2, size=(8, 6 - t))
    np.testing.assert_array_equal(train_raw(pert, 3)[:, : t + 1], raw[:, : t + 1])
  with pytest.raises(ValueError, match="dropout_rate"):
    arm.init(arm.models.create("made", event_shape=(6,), size="tiny", dropout_rate=1.0),
             jax.random.key(0))


@pytest.mark.parametrize("num_masks, order_agnostic", [(1, False), (3, True)])
def test_made_export_params_zeroes_only_unread_entries(num_masks, order_agnostic):
  """``export_params`` (what a shipped checkpoint stores) zeroes the kernel entries that no mask set
  reads: the likelihood stays bit for bit the same, and a one-mask MADE loses about half its kernel
  entries; every other model exports its parameters unchanged."""
  model = arm.models.create("made", event_shape=(12,), num_levels=2, size="tiny", num_masks=num_masks,
                            order_agnostic=order_agnostic, hidden_sizes=(40,))
  variables = arm.init(model, jax.random.key(3))
  exported = model.export_params(variables["params"])
  xs = jnp.asarray(np.random.default_rng(0).integers(0, 2, size=(16, 12)), jnp.int32)
  np.testing.assert_array_equal(np.asarray(arm.log_prob(model, {"params": exported}, xs)),
                                np.asarray(arm.log_prob(model, variables, xs)))
  kernels = [np.asarray(exported[name]["kernel"]) for name in ("hidden_0", "out", "direct")]
  zero = sum((k == 0).sum() for k in kernels) / sum(k.size for k in kernels)
  originally_zero = sum((np.asarray(variables["params"][name]["kernel"]) == 0).sum()
                        for name in ("hidden_0", "out", "direct"))
  assert originally_zero == 0
  if num_masks == 1:
    assert 0.35 < zero < 0.65, zero
  else:
    assert zero < 0.35, zero  # The union of three mask sets reads most entries.
  pixelcnn, pixel_vars = _model("pixelcnn_bin")
  assert pixelcnn.export_params(pixel_vars["params"]) is pixel_vars["params"]


def test_made_programs_hold_the_pool_as_degrees_not_stacked_masks():
  """A 32-set MADE's evaluation and training programs carry the pool as its degrees (``[K, units]``),
  not as ``[K, in, out]`` mask constants: those cost K times the kernels at compile time (32 sets of
  a 2,800-unit layer: 2.2 GB), and crashed a test worker. The ensemble still equals its sets' mixture
  (test above); here the program text must stay far below the stacked masks' size."""
  from armodels_jax.api import log_prob_fn
  model = arm.models.create("made", event_shape=(64,), num_levels=2, size="tiny", num_masks=32,
                            order_agnostic=True, hidden_sizes=(256,))
  variables = arm.init(model, jax.random.key(0))
  x = jnp.zeros((4, 64), jnp.int32)
  stacked_mask_bytes = 32 * (64 * 256 + 256 * 64 + 64 * 64) * 4
  for train in (False, True):
    text = jax.jit(lambda v, x, train=train: log_prob_fn(
        model, v, x, train=train, rng=jax.random.key(1))).lower(variables, x).as_text()
    assert len(text) < stacked_mask_bytes / 10, (train, len(text), stacked_mask_bytes)


# MADE's decode path against the full pass: widths that put several units on one degree and leave
# degrees without units, deeper nets (a layer's units join the layer above at their degree), a
# categorical head (P > 1), with and without direct connections, shared and per-set orderings.
MADE_DECODE_CASES = {
    "one_layer": ((5,), 2, dict(hidden_sizes=(7,), num_masks=1)),
    "two_layers_ensemble": ((2, 3, 1), 3, dict(hidden_sizes=(9, 4), num_masks=3)),
    "three_layers_orderless": ((6,), 4, dict(hidden_sizes=(5, 11, 3), num_masks=4,
                                             order_agnostic=True)),
    "no_direct": ((6,), 2, dict(hidden_sizes=(8, 8), num_masks=2, order_agnostic=True,
                                direct_connection=False)),
}


@pytest.mark.parametrize("case", sorted(MADE_DECODE_CASES))
def test_made_cached_conditionals_equal_the_full_pass_in_every_mask_set(case):
  """Step by step along each example's own mask set (a mixed batch), the decode path gives the
  full pass's raw parameters of that set."""
  shape, levels, overrides = MADE_DECODE_CASES[case]
  model = arm.models.create("made", event_shape=shape, num_levels=levels, size="tiny", **overrides)
  variables = jax.tree.map(lambda p: p * 2.0, arm.init(model, jax.random.key(3)))
  num = 2 * model.num_masks
  x = np.random.default_rng(1).integers(0, levels, size=(num,) + shape).astype(np.int32)
  component = jnp.arange(num, dtype=jnp.int32) % model.num_masks
  order = jnp.asarray(model.pool().orders)[component]
  model_checks.check_cached_equals_full(model, variables, x, order=order,
                                        call_kwargs={"component": component})
  # The comparison bites: another example's mask set gives other parameters.
  if model.num_masks > 1:
    full = np.asarray(model.apply(variables, x, component=component))
    other = np.asarray(model.apply(variables, x, component=(component + 1) % model.num_masks))
    assert np.abs(other - full).max() > 1e-3


@pytest.mark.parametrize("case", ["one_layer", "two_layers_ensemble"])
def test_made_cached_sampling_equals_naive(case):
  shape, levels, overrides = MADE_DECODE_CASES[case]
  model = arm.models.create("made", event_shape=shape, num_levels=levels, size="tiny", **overrides)
  variables = jax.tree.map(lambda p: p * 2.0, arm.init(model, jax.random.key(4)))
  model_checks.check_cached_sampling_equals_naive(model, variables, num=6)


def test_made_orderless_cached_sampling_equals_naive():
  """A mask set (and ordering) per example; no prefix (an order-agnostic ensemble has none)."""
  shape, levels, overrides = MADE_DECODE_CASES["three_layers_orderless"]
  model = arm.models.create("made", event_shape=shape, num_levels=levels, size="tiny", **overrides)
  variables = jax.tree.map(lambda p: p * 2.0, arm.init(model, jax.random.key(5)))
  key = jax.random.key(2)
  naive = np.asarray(arm.sample(model, variables, key, 16, method="naive"))
  cached = np.asarray(arm.sample(model, variables, key, 16, method="cached"))
  np.testing.assert_array_equal(naive, cached)
  assert len({tuple(s) for s in cached.reshape(16, -1)}) > 1


def test_made_decode_step_reads_only_the_visited_dimensions():
  """What the canvas holds beyond the visited dimensions changes nothing at step t."""
  from armodels_jax.sampling import decode  # pylint: disable=g-import-not-at-top
  shape, levels, overrides = MADE_DECODE_CASES["three_layers_orderless"]
  model = arm.models.create("made", event_shape=shape, num_levels=levels, size="tiny", **overrides)
  variables = jax.tree.map(lambda p: p * 2.0, arm.init(model, jax.random.key(6)))
  decoder = model.clone(decode=True)
  component = jnp.arange(4, dtype=jnp.int32)
  kwargs = {"component": component}
  order = np.asarray(model.pool().orders)[np.asarray(component)]
  x = np.random.default_rng(3).integers(1, levels, size=(4,) + shape).astype(np.int32)
  t = 3
  visited = np.zeros((4, model.num_dims), bool)
  visited[np.arange(4)[:, None], order[:, :t]] = True
  zeros = np.where(visited, x.reshape(4, -1), 0).reshape(x.shape)
  cache = decode.init_cache(decoder, 4, None, kwargs)
  for s in range(t + 1):  # steps 0..t on the zero-filled canvas, then step t again on x itself
    canvas = np.where(visited & (np.argsort(order, 1) < s), x.reshape(4, -1), 0).reshape(x.shape)
    before = cache
    raw, cache = decode.step(decoder, variables["params"], cache, jnp.asarray(canvas), s, None, kwargs)
  assert not np.array_equal(zeros, x)
  raw_x, _ = decode.step(decoder, variables["params"], before, jnp.asarray(x), t, None, kwargs)
  np.testing.assert_allclose(np.asarray(raw_x), np.asarray(raw), atol=1e-6, rtol=0)
