"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders").

docs/design.md section 6 on tiny event spaces (normalisation, causality, no blind spot, cached decode
== full pass, cached sampling == naive, sample frequencies) for the unconditional, class-conditional
and spatially conditioned model, plus configuration and ``cond`` validation.

Compiling ``model.init`` (the random initialisers) costs seconds of CPU per model, so most tests
draw their weights with NumPy into the parameter tree of ``jax.eval_shape(model.init)``
(:func:`_variables`), and tests share a few models (:func:`_model` is cached), so the compiled
``log_prob`` and samplers are reused too.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax import api
from armodels_jax.models import gated_pixelcnn


import model_checks  # noqa: E402


def _variables(model, seed=0, scale=2.0):
  """Random weights in the model's parameter tree: weights ``N(0, scale^2 / fan_in)``, biases
  ``N(0, (0.1 scale)^2)`` (nonzero, so every path of the network carries signal)."""
  x = jnp.zeros((1,) + model.event_shape, jnp.int32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
  rng = np.random.default_rng(seed)

  def draw(leaf):
    fan_in = int(np.prod(leaf.shape[:-1])) if len(leaf.shape) > 1 else 0
    std = scale / np.sqrt(fan_in) if fan_in else 0.1 * scale
    return jnp.asarray(rng.normal(0.0, std, leaf.shape).astype(np.float32))

  return {"params": jax.tree.map(draw, shapes)}


@functools.lru_cache(maxsize=None)
def _model(shape, levels, name="gated_pixelcnn", **overrides):
  model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny", **overrides)
  return model, _variables(model)


class _Jitted:
  """The model with a jitted ``apply`` for the checks that call it many times (else the same)."""

  def __init__(self, model):
    self._model = model
    self.apply = jax.jit(model.apply)

  def __getattr__(self, name):
    return getattr(self._model, name)


# The shared models.
GREY = ((2, 2, 1), 3)  # 3-way softmax
RGB = ((1, 2, 3), 2)  # categorical with channel autoregression
MIXTURE = ((2, 1, 3), 3, "gated_pixelcnn", (("head_kind", "logistic_mixture"),))
TALL_RGB = ((3, 2, 3), 3)
BOTH = ((2, 2, 1), 3, "gated_pixelcnn", (("num_classes", 2), ("spatial_shape", (1, 1, 2))))


def _get(spec):
  shape, levels, name, overrides = (tuple(spec) + ("gated_pixelcnn", ()))[:4]
  return _model(shape, levels, name, **dict(overrides))


def _both_cond(label, spatial_seed, batch=1):
  spatial = np.random.default_rng(spatial_seed).normal(size=(1, 1, 1, 2)).astype(np.float32)
  return {"label": np.full((batch,), label, np.int32), "spatial": np.repeat(spatial, batch, 0)}


# ---- configuration ----------------------------------------------------------------------------


def test_sizes_build_and_bad_configs_raise():
  for size in ("tiny", "small", "paper"):
    model = arm.models.create("gated_pixelcnn", event_shape=(2, 2, 1), num_levels=2, size=size)
    assert model.num_layers >= 2
  paper = arm.models.create("gated_pixelcnn", event_shape=(32, 32, 3), num_levels=256, size="paper")
  assert (paper.num_layers, paper.kernel_size) == (20, 5)
  bad = [(dict(kernel_size=4), "expected an odd kernel_size >= 3, got 4"),
         (dict(kernel_size=1), "expected an odd kernel_size >= 3, got 1"),
         (dict(num_classes=1), r"expected num_classes 0 \(unconditional\) or >= 2, got 1"),
         (dict(num_classes=-2), r"expected num_classes 0 \(unconditional\) or >= 2, got -2"),
         (dict(head_kind="gaussian"), r"expects head_kind in \[.*'logistic_mixture'\], got 'gaussian'"),
         (dict(spatial_shape=(2, 2)), r"expected spatial_shape .* of positive ints, got \(2, 2\)"),
         (dict(spatial_shape=(2, 0, 1)), r"expected spatial_shape .* of positive ints, got \(2, 0, 1\)"),
         (dict(features=0), "expected features a positive int, got 0"),
         (dict(num_layers=0), "expected num_layers a positive int, got 0")]
  for overrides, message in bad:
    with pytest.raises(ValueError, match=message):
      arm.models.create("gated_pixelcnn", event_shape=(3, 3, 1), num_levels=3, size="tiny",
                        **overrides)
  with pytest.raises(ValueError, match="num_levels=2"):  # Bernoulli needs binary data
    arm.models.create("gated_pixelcnn", event_shape=(2, 2, 1), num_levels=3, size="tiny",
                      head_kind="bernoulli")
  with pytest.raises(ValueError, match="image event_shape"):
    arm.models.create("gated_pixelcnn", event_shape=(4,), num_levels=2, size="tiny")


# ---- rules 1 and 2 ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [GREY, RGB, MIXTURE], ids=["grey", "rgb", "mixture"])
def test_normalisation_over_every_input(spec):
  model, variables = _get(spec)
  probs = model_checks.check_normalisation(model, variables)
  assert probs.max() > 3.0 / len(probs)  # far from uniform: the check bites


def test_causality():
  model, variables = _get(TALL_RGB)
  model_checks.check_causality(_Jitted(model), variables)


def test_no_blind_spot():
  """Every earlier pixel influences pixels (4, 2) and (2, 2) of a 5x5 image; no later one does."""
  model, variables = _model((5, 5, 1), 2, num_layers=3, output_features=16)
  x = np.random.default_rng(0).integers(0, 2, size=(5, 5, 1))
  for i, j in [(4, 2), (2, 2)]:
    dim = i * 5 + j
    seen = model_checks.influence(_Jitted(model), variables, x, dim)
    np.testing.assert_array_equal(seen[:dim], True, err_msg=f"blind spot at pixel {(i, j)}")
    np.testing.assert_array_equal(seen[dim:], False, err_msg=f"pixel {(i, j)} sees the future")


def test_the_blind_spot_check_finds_pixelcnns_blind_spot():
  """The same check on the plain PixelCNN (masked 3x3 stack) finds pixels it never sees:
  (3, 4), above and two to the right of (4, 2), is one of them whatever the depth."""
  model, variables = _model((5, 5, 1), 2, "pixelcnn", first_kernel=3, num_blocks=3)
  x = np.random.default_rng(0).integers(0, 2, size=(5, 5, 1))
  dim = 4 * 5 + 2
  seen = model_checks.influence(_Jitted(model), variables, x, dim)
  assert not seen[dim:].any()
  assert not seen[:dim].all()
  assert not seen[3 * 5 + 4]


# ---- conditioning (section 2.3) ----------------------------------------------------------------


def test_class_and_spatial_conditioning_change_a_normalised_distribution():
  model, variables = _get(BOTH)
  base = model_checks.check_normalisation(model, variables, cond=_both_cond(0, 0))
  other_label = model_checks.check_normalisation(model, variables, cond=_both_cond(1, 0))
  other_map = model_checks.check_normalisation(model, variables, cond=_both_cond(0, 1))
  assert np.abs(base - other_label).max() > 1e-2
  assert np.abs(base - other_map).max() > 1e-2


def test_conditional_samples_follow_the_conditional():
  model, variables = _get(BOTH)
  model_checks.check_sample_frequencies(model, variables, cond=_both_cond(1, 0), num=8000)


@pytest.mark.parametrize("source,target", [((1, 1), (2, 2)), ((7, 7), (28, 28)), ((5, 3), (28, 5)),
                                           ((8, 8), (4, 4)), ((2, 3), (2, 3))])
def test_spatial_network_maps_any_size_to_the_image(source, target):
  net = gated_pixelcnn.SpatialUpsampler(target, 4)
  s = jnp.ones((2,) + source + (3,), jnp.float32)
  out, variables = jax.eval_shape(lambda: net.init_with_output(jax.random.key(0), s))
  assert out.shape == (2,) + target + (4,)
  doublings = [int(np.floor(np.log2(t / s_))) if t >= s_ else 0 for s_, t in zip(source, target)]
  assert len(variables["params"]) == max(1, *doublings)  # one transposed conv per doubling


def test_class_only_and_spatial_only_models():
  """The two single-conditioning forms of cond, through log_prob and sample; arm.init (which
  asks with cond=None, as training does) builds a class-conditional model."""
  x = np.zeros((2, 2, 2, 1), np.int32)
  for overrides, cond in [(dict(num_classes=3), np.array([0, 2], np.int32)),
                          (dict(spatial_shape=(2, 1, 1)), np.ones((2, 2, 1, 1), np.float32))]:
    model = arm.models.create("gated_pixelcnn", event_shape=(2, 2, 1), num_levels=2, size="tiny",
                              **overrides)
    if model.num_classes:
      variables = arm.init(model, jax.random.key(0))
      assert "class_vertical0" in variables["params"]
    else:
      variables = _variables(model)
    logp = np.asarray(arm.log_prob(model, variables, x, cond=cond))
    assert logp.shape == (2,) and np.isfinite(logp).all()
    assert arm.sample(model, variables, jax.random.key(1), 2, cond=cond).shape == x.shape


def test_cond_is_validated():
  x = np.zeros((1, 2, 2, 1), np.int32)
  plain, plain_vars = _get(GREY)
  with pytest.raises(ValueError, match="cond=None"):
    arm.log_prob(plain, plain_vars, x, cond=np.array([0], np.int32))
  model, variables = _get(BOTH)
  good = _both_cond(0, 0)
  assert np.isfinite(np.asarray(arm.log_prob(model, variables, x, cond=good))).all()
  with pytest.raises(ValueError, match="needs cond"):
    arm.log_prob(model, variables, x)
  with pytest.raises(ValueError, match="needs cond"):
    arm.sample(model, variables, jax.random.key(0), 1)
  bad_conds = [
      good["label"], {"label": good["label"]},
      {**good, "label": np.array([2], np.int32)}, {**good, "label": np.array([-1], np.int32)},
      {**good, "label": np.array([[0]], np.int32)}, {**good, "label": np.array([0.0])},
      {**good, "spatial": np.zeros((1, 2, 1, 1), np.float32)},
      {**good, "spatial": np.zeros((1, 1, 1, 2), np.int32)},
      {**good, "spatial": np.full((1, 1, 1, 2), np.nan, np.float32)},
      {**good, "spatial": np.zeros((2, 1, 1, 2), np.float32)},  # batch 2 against label batch 1
      _both_cond(0, 0, batch=2),  # batch 2 against x batch 1 (caught when traced)
  ]
  for cond in bad_conds:
    with pytest.raises(ValueError, match="cond"):
      arm.log_prob(model, variables, x, cond=cond)


# ---- rule 3: the cached decode ----------------------------------------------------------------

CACHED_CASES = {
    "grey": GREY,
    "ring_buffers": ((3, 4, 1), 2, "gated_pixelcnn", (("kernel_size", 5), ("num_layers", 3))),
    "rgb": TALL_RGB,
    "mixture": MIXTURE,
    "cond": BOTH,
}


@pytest.mark.parametrize("case", sorted(CACHED_CASES))
def test_cached_conditionals_equal_the_full_pass(case):
  model, variables = _get(CACHED_CASES[case])
  x = np.random.default_rng(1).integers(0, model.num_levels, size=(2,) + model.event_shape)
  cond = None
  if case == "cond":
    cond = {"label": np.array([0, 1], np.int32),
            "spatial": np.random.default_rng(2).normal(size=(2, 1, 1, 2)).astype(np.float32)}
  model_checks.check_cached_equals_full(model, variables, x.astype(np.int32), cond=cond)


def test_the_cached_check_catches_a_broken_decode():
  """A decoder that never refreshes the vertical stack's rows fails the same check."""
  model, variables = _get(GREY)

  class StaleRows(gated_pixelcnn.GatedPixelCNN):
    def _row_update(self, x, i, label):
      del x, i, label

  fields = ("event_shape", "num_levels", "head_kind", "features", "num_layers", "kernel_size",
            "output_features", "num_components", "spatial_features")
  stale = StaleRows(**{f: getattr(model, f) for f in fields})
  x = np.random.default_rng(1).integers(0, 3, size=(2, 2, 2, 1)).astype(np.int32)
  with pytest.raises(AssertionError):
    model_checks.check_cached_equals_full(stale, variables, x)


def test_cached_sampling_equals_naive():
  model, variables = _get(TALL_RGB)
  model_checks.check_cached_sampling_equals_naive(model, variables)


def test_cached_sampling_equals_naive_with_cond():
  model, variables = _get(BOTH)
  # num=8000 as in the frequency test above, so the compiled cached sampler is shared.
  model_checks.check_cached_sampling_equals_naive(model, variables, cond=_both_cond(1, 0, 8000),
                                                  num=8000)


# ---- rule 4 -----------------------------------------------------------------------------------


def test_sample_frequencies_follow_the_model():
  model, variables = _get(RGB)
  model_checks.check_sample_frequencies(model, variables, num=8000)


# ---- scanned layers ----------------------------------------------------------------------------


def test_scanned_layers_equal_unrolled():
  """``scan_blocks`` (layers 1 .. L - 1 as one ``lax.scan``) keeps the parameter layout and gives the
  unrolled pass's log-probabilities and gradients, with class and spatial conditioning, with and
  without ``remat_blocks``."""
  model = arm.models.create("gated_pixelcnn", event_shape=(3, 2, 3), num_levels=3, size="tiny",
                            num_layers=4, num_classes=2, spatial_shape=(1, 1, 2))
  unrolled = model.clone(scan_blocks=False)
  assert model.scan_blocks
  variables = _variables(unrolled, seed=3, scale=1.0)
  x = jnp.asarray(np.random.default_rng(4).integers(0, 3, (2, 3, 2, 3)), jnp.int32)
  cond = {"label": jnp.array([1, 0], jnp.int32),
          "spatial": jnp.asarray(np.random.default_rng(5).normal(size=(2, 1, 1, 2)), jnp.float32)}
  shapes = lambda m: jax.tree.map(lambda s: s.shape, jax.eval_shape(
      m.init, jax.random.key(0), x[:1], jax.tree.map(lambda c: c[:1], cond))["params"])
  assert shapes(model) == shapes(unrolled)
  assert {"vertical3", "spatial_horizontal3", "class_vertical3"} <= set(variables["params"])
  logp = lambda m: jax.jit(lambda v: api.log_prob_fn(m, v, x, cond))(variables)
  grad = lambda m: jax.jit(jax.grad(lambda v: api.log_prob_fn(m, v, x, cond).sum()))(variables)
  expected, g_unrolled = logp(unrolled), grad(unrolled)
  largest = max(float(jnp.abs(b).max()) for b in jax.tree.leaves(g_unrolled))
  for scanned in (model, model.clone(remat_blocks=True)):
    np.testing.assert_allclose(logp(scanned), expected, rtol=1e-6)
    g_scan = grad(scanned)
    assert jax.tree.structure(g_scan) == jax.tree.structure(g_unrolled)
    for a, b in zip(jax.tree.leaves(g_scan), jax.tree.leaves(g_unrolled)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * largest)


def test_scanned_program_does_not_grow_with_the_number_of_layers():
  """The lowered gradient program holds layer 0 and one scanned layer (as many convolutions for 3
  layers as for 4), one copy per layer when unrolled (BENCHMARKS.md, "TPU plan")."""
  model_checks.check_scanned_program_does_not_grow("gated_pixelcnn", (2, 2, 1), 2, "num_layers",
                                                   counts=(3, 4), remat=False)
