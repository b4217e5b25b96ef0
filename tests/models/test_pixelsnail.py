"""PixelSNAIL: the rules of docs/design.md section 6 and the model's own properties."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax import api

import model_checks  # noqa: E402
from armodels_jax.models.pixelsnail import PixelSNAIL  # noqa: E402
from armodels_jax.sampling import cached_conditionals  # noqa: E402


# Tiny configurations shared by the tests (each init compiles for seconds on a CPU).
CONFIGS = {
    "grey": ((2, 2, 1), 3, dict(num_heads=2)),  # the default head, the logistic mixture
    "rgb_mix": ((2, 1, 3), 2, {}),
    "rgb_cat": ((2, 1, 3), 2, dict(head_kind="categorical")),
    "rgb_sample": ((2, 2, 3), 3, dict(head_kind="categorical")),
    "wide": ((3, 4, 1), 2, dict(head_kind="categorical")),
    "rgb_wide": ((2, 3, 3), 4, {}),
}


@functools.lru_cache(maxsize=None)
def _init(config):
  shape, levels, overrides = CONFIGS[config]
  model = arm.models.create("pixelsnail", event_shape=shape, num_levels=levels, size="tiny",
                            **overrides)
  return model, arm.init(model, jax.random.key(0))


def _model(config, scale=1.0):
  """The model and its initial variables times ``scale`` (2: far from uniform)."""
  model, variables = _init(config)
  return model, model_checks.scaled(variables, scale)


def _inputs(model, num=3, seed=1):
  rng = np.random.default_rng(seed)
  return rng.integers(0, model.num_levels, size=(num,) + model.event_shape).astype(np.int32)


@pytest.mark.parametrize("config", ["grey", "rgb_mix", "rgb_cat"])
def test_normalisation_over_every_input(config):
  model, variables = _model(config, scale=2.0)
  probs = model_checks.check_normalisation(model, variables)
  assert probs.max() > 3.0 / len(probs)  # far from uniform, so the check bites


@pytest.mark.parametrize("config", ["wide", "rgb_sample"])
def test_causality(config):
  model, variables = _model(config, scale=2.0)
  model_checks.check_causality(model, variables, num=3)


def test_attention_removes_the_blind_spot():
  """Every earlier pixel influences pixel (1, 0), including (0, 2) and (0, 3), which
  the 2x2 down-right convolutions cannot reach; without attention they go unseen."""
  model, variables = _model("wide", scale=2.0)
  x = _inputs(model, num=1)[0]
  dim = 4  # pixel (1, 0)
  seen = model_checks.influence(model, variables, x, dim)
  np.testing.assert_array_equal(seen, np.arange(model.num_dims) < dim)
  no_attention = jax.tree_util.tree_map_with_path(
      lambda path, p: p * 0 if "block0_attention" in jax.tree_util.keystr(path) else p,
      variables)
  blind = model_checks.influence(model, no_attention, x, dim)
  np.testing.assert_array_equal(blind, np.arange(model.num_dims) < 2)  # pixels (0, 0), (0, 1)


@pytest.mark.parametrize("config", ["grey", "wide", "rgb_wide"])
def test_cached_conditionals_equal_full_pass(config):
  model, variables = _model(config)
  model_checks.check_cached_equals_full(model, variables, _inputs(model))


def test_cached_check_catches_a_decode_that_loses_the_previous_pixel():
  """The comparison above bites: a decoder that sees a canvas without pixel p - 1 differs."""
  model, variables = _model("wide")
  x = jnp.asarray(_inputs(model))
  full = np.asarray(model.apply(variables, x))

  class Forgetful(PixelSNAIL):
    def decode_step(self, canvas, t, cond=None):
      flat = canvas.reshape(canvas.shape[0], -1)
      prev = jnp.maximum(t // self.event_shape[2] - 1, 0) * self.event_shape[2]
      flat = jnp.where(jnp.arange(flat.shape[1])[None] == prev, 0, flat)
      return super().decode_step(flat.reshape(canvas.shape), t, cond)

  fields = [f.name for f in dataclasses.fields(PixelSNAIL) if f.name not in ("parent", "name")]
  forgetful = Forgetful(**{f: getattr(model, f) for f in fields})
  cached = np.asarray(cached_conditionals(forgetful, variables, x))
  assert np.abs(cached - full).max() > 1e-3


def test_cached_sampling_equals_naive():
  model, variables = _model("rgb_sample", scale=2.0)
  model_checks.check_cached_sampling_equals_naive(model, variables)


@pytest.mark.parametrize("config", ["grey", "rgb_cat"])
def test_sample_frequencies_follow_the_model(config):
  model, variables = _model(config, scale=2.0)
  model_checks.check_sample_frequencies(model, variables)


def test_dropout_only_in_training():
  model, variables = _model("grey")
  model = model.clone(dropout_rate=0.5)  # the same parameters
  x = _inputs(model)
  apply = jax.jit(model.apply, static_argnames="train")
  a = np.asarray(apply(variables, x))
  np.testing.assert_array_equal(a, np.asarray(apply(variables, x, train=False)))
  t1 = np.asarray(apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)}))
  t2 = np.asarray(apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)}))
  assert np.abs(t1 - a).max() > 1e-4 and np.abs(t1 - t2).max() > 1e-4
  # The training pass is causal too: pixel 0 sees nothing, whatever the image.
  y = (x + 1) % model.num_levels
  t3 = np.asarray(apply(variables, y, train=True, rngs={"dropout": jax.random.key(1)}))
  np.testing.assert_array_equal(t3[:, 0, 0], t1[:, 0, 0])


def test_sizes_and_defaults():
  paper = arm.models.create("pixelsnail", event_shape=(32, 32, 3), num_levels=256, size="paper")
  assert (paper.features, paper.num_blocks, paper.num_resnets) == (256, 12, 4)
  assert (paper.key_size, paper.value_size, paper.num_heads) == (16, 128, 1)
  assert (paper.head_kind, paper.num_components) == ("logistic_mixture", 10)
  small = arm.models.create("pixelsnail", event_shape=(28, 28, 1), num_levels=2, size="small")
  assert (small.features, small.num_blocks, small.key_size, small.value_size) == (64, 2, 16, 32)
  for model in [small] + [
      arm.models.create("pixelsnail", event_shape=shape, num_levels=levels, size="tiny")
      for shape, levels in [((2, 2, 1), 2), ((2, 2, 1), 7), ((3, 2, 3), 256)]]:
    x = jnp.zeros((1,) + model.event_shape, jnp.int32)
    raw, variables = jax.eval_shape(lambda x: model.init_with_output(jax.random.key(0), x), x)
    assert raw.shape == x.shape + (model.head.num_params,)
    blocks = [f"block{b}_{part}" for b in range(model.num_blocks) for part in ("attention", "mix")]
    assert set(variables["params"]) >= {"input", "output", *blocks}


@pytest.mark.parametrize("kw,match", [
    (dict(event_shape=(4,)), "image event_shape"),
    (dict(num_heads=3), "divisible by num_heads"),
    (dict(head_kind="gaussian"), "head_kind"),
    (dict(num_blocks=0), "num_blocks >= 1"),
    (dict(dropout_rate=1.0), "dropout_rate"),
    (dict(num_levels=3, head_kind="bernoulli"), "Bernoulli"),
])
def test_bad_configuration_raises(kw, match):
  args = dict(event_shape=(2, 2, 1), num_levels=2, size="tiny")
  args.update(kw)
  with pytest.raises(ValueError, match=match):
    arm.models.create("pixelsnail", **args)


def test_scanned_blocks_equal_unrolled():
  """``scan_blocks`` (one ``lax.scan`` over the blocks) keeps the parameter layout, and gives the
  unrolled pass's log-probabilities and gradients (dropout off; with dropout it draws its own
  masks, reproducibly)."""
  model = arm.models.create("pixelsnail", event_shape=(2, 3, 3), num_levels=4, size="tiny",
                            num_blocks=3, num_resnets=2, num_heads=2)
  unrolled = model.clone(scan_blocks=False)
  assert model.scan_blocks
  x = jnp.asarray(_inputs(model, num=2))
  shapes = lambda m: jax.tree.map(lambda s: s.shape, jax.eval_shape(
      m.init, jax.random.key(0), x[:1])["params"])
  assert shapes(model) == shapes(unrolled)
  variables = arm.init(unrolled, jax.random.key(3))
  assert {"block2_resnet1", "block2_attention", "block2_mix"} <= set(variables["params"])
  logp = lambda m: jax.jit(lambda v: api.log_prob_fn(m, v, x))
  grad = lambda m: jax.jit(jax.grad(lambda v: api.log_prob_fn(m, v, x).sum()))(variables)
  expected, g_unrolled = logp(unrolled)(variables), grad(unrolled)
  # Relative to the largest gradient: the key biases' gradients are zero up to rounding (a shift of
  # every logit of a query), so their own scale is noise.
  largest = max(float(jnp.abs(b).max()) for b in jax.tree.leaves(g_unrolled))
  for scanned in (model, model.clone(remat_blocks=True)):
    np.testing.assert_allclose(logp(scanned)(variables), expected, rtol=1e-6)
    g_scan = grad(scanned)
    assert jax.tree.structure(g_scan) == jax.tree.structure(g_unrolled)
    for a, b in zip(jax.tree.leaves(g_scan), jax.tree.leaves(g_unrolled)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * largest)
  dropped = model.clone(dropout_rate=0.5)
  train = jax.jit(lambda v, k: api.log_prob_fn(dropped, v, x, train=True, rng=k))
  np.testing.assert_array_equal(train(variables, jax.random.key(1)),
                                train(variables, jax.random.key(1)))
  assert not np.allclose(train(variables, jax.random.key(1)), train(variables, jax.random.key(2)))


def test_scanned_program_does_not_grow_with_the_number_of_blocks():
  """The lowered gradient program holds one block when scanned (as many convolutions and matrix
  products for 2 blocks as for 3), one per block when unrolled (what XLA:TPU compiles, and the code
  it generates, grows with them: BENCHMARKS.md, "TPU plan")."""
  # remat_blocks: the backward pass recomputes the block's forward products.
  model_checks.check_scanned_program_does_not_grow("pixelsnail", (2, 2, 1), 2, "num_blocks")
