"""WaveNet: the rules of docs/design.md section 6, its receptive field (van den Oord et al. 2016,
section 2.1), and global / local conditioning (section 2.5).

* normalisation over every sequence of length 4 with 3 levels: unconditioned, class-, vector-
  and locally conditioned, and with the discretized logistic mixture head;
* causality; the receptive field is exactly the ``receptive_field`` samples before t
  (computed here from the layer structure, checked by changing inputs);
* local features of frame k influence its own samples and none before k * hop;
* cached (Fast WaveNet queue) conditionals equal the full pass; cached == naive samples;
* sample frequencies (chi-square);
* the paper configuration: dilations 1..512 three times, 64 residual and 256 skip channels;
* bad cond raises ValueError.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax.distributions import make_head
from armodels_jax.sampling import samplers

import model_checks  # noqa: E402

RNG = np.random.default_rng(0)
LOCAL = dict(local_dim=2, local_hop=2)


def _model(shape=(4,), levels=3, scale=2.0, seed=3, **overrides):
  model = arm.models.create("wavenet", event_shape=shape, num_levels=levels, size="tiny",
                            **overrides)
  variables = model_checks.scaled(arm.init(model, jax.random.key(seed)), scale)
  return model, variables


def _cond(model, batch, seed=1):
  """A random cond of the model's configured form (None when unconditioned)."""
  rng = np.random.default_rng(seed)
  parts = {}
  if model.num_classes:
    parts["label"] = rng.integers(0, model.num_classes, batch).astype(np.int32)
  if model.global_dim:
    parts["global"] = rng.normal(size=(batch, model.global_dim)).astype(np.float32)
  if model.local_dim:
    frames = model.event_shape[0] // model.local_hop
    parts["local"] = rng.normal(size=(batch, frames, model.local_dim)).astype(np.float32)
  if not parts:
    return None
  return parts if len(parts) > 1 else next(iter(parts.values()))


CONFIGS = [
    dict(),
    dict(num_classes=3),
    dict(global_dim=2),
    dict(LOCAL),
    dict(num_classes=2, **LOCAL),
    dict(head_kind="logistic_mixture"),
    dict(kernel_size=3, num_layers=2),
]


@pytest.mark.parametrize("overrides", CONFIGS)
def test_normalisation(overrides):
  model, variables = _model(**overrides)
  cond = _cond(model, 1)
  probs = model_checks.check_normalisation(model, variables, cond)
  assert probs.max() > 3.0 / len(probs)  # far from uniform: the check bites


@pytest.mark.parametrize("overrides", [dict(), dict(num_classes=2, **LOCAL)])
def test_causality(overrides):
  model, variables = _model(shape=(6,), **overrides)
  model_checks.check_causality(model, variables, cond=_cond(model, 1))


def test_receptive_field_is_exact():
  # Dilations 1, 2, 4, 1: receptive field 2 + 8 = 10 samples before t.
  model, variables = _model(shape=(16,), levels=3, num_layers=4, dilation_cycle=3)
  assert model.dilations == (1, 2, 4, 1)
  assert model.receptive_field == 2 + sum(model.dilations)
  x = RNG.integers(0, 3, (16,))
  for t in (3, 11, 15):
    seen = np.flatnonzero(model_checks.influence(model, variables, x, t))
    expected = np.arange(max(0, t - model.receptive_field), t)
    np.testing.assert_array_equal(seen, expected)


def test_local_frames_influence_only_their_samples_and_later():
  model, variables = _model(shape=(8,), levels=3, local_dim=2, local_hop=2)
  x = jnp.asarray(RNG.integers(0, 3, (1, 8)))
  local = RNG.normal(size=(1, 4, 2)).astype(np.float32)
  base = np.asarray(model.apply(variables, x, jnp.asarray(local)))
  for k in range(4):
    changed = local.copy()
    changed[:, k] += 1.0
    out = np.asarray(model.apply(variables, x, jnp.asarray(changed)))
    moved = np.abs(out - base).max(axis=(0, 2)) > 1e-6  # [T]
    assert not moved[:2 * k].any(), f"frame {k} reached samples before {2 * k}"
    assert moved[2 * k:2 * k + 2].all(), f"frame {k} did not reach its own samples"



def test_global_conditioning_changes_the_distribution():
  model, variables = _model(shape=(5,), num_classes=3, global_dim=2)
  x = RNG.integers(0, 3, (1, 5)).astype(np.int32)
  g = np.zeros((1, 2), np.float32)
  by_label = [float(arm.log_prob(model, variables, x, {"label": np.array([c]), "global": g})[0])
              for c in range(3)]
  assert len(set(np.round(by_label, 5))) == 3
  other = float(arm.log_prob(model, variables, x, {"label": np.array([0]), "global": g + 1})[0])
  assert abs(other - by_label[0]) > 1e-4


def _check_cached_equals_full(overrides, batch):
  model, variables = _model(shape=(12,), levels=5, **overrides)
  x = RNG.integers(0, 5, (batch, 12)).astype(np.int32)
  cond = _cond(model, batch)
  model_checks.check_cached_equals_full(model, variables, x,
                                        None if cond is None else jax.tree.map(jnp.asarray, cond))


@pytest.mark.parametrize("overrides", CONFIGS[:5] + [dict(kernel_size=3)])
def test_cached_equals_full(overrides):
  _check_cached_equals_full(overrides, 3)


@pytest.mark.parametrize("overrides", [dict(), dict(num_classes=2, global_dim=2, **LOCAL),
                                       dict(kernel_size=3, num_layers=5)])
def test_cached_equals_full_at_batch_1(overrides):
  # At batch 1 the decode step computes in columns (rows above): compare every value.
  _check_cached_equals_full(overrides, 1)


def test_decode_builds_the_same_parameters():
  # The decode step reads the full pass's parameters: a checkpoint of either loads in the other.
  model, _ = _model(shape=(8,), num_classes=2, global_dim=2, **LOCAL)
  decoder = model.clone(decode=True)
  cond = _cond(model, 2)
  full = jax.eval_shape(lambda: arm.init(model, jax.random.key(0)))["params"]
  step = jax.eval_shape(lambda: decoder.init(jax.random.key(0), jnp.zeros((2, 8), jnp.int32),
                                             jnp.int32(0), cond, method=decoder.decode_step))
  shapes = lambda tree: {jax.tree_util.keystr(path): leaf.shape
                         for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}
  assert shapes(step["params"]) == shapes(full)
  assert "dilated3" in step["params"] and "residual3" not in step["params"]
  # One queue for every layer: sum over layers of (K - 1) d past inputs, rows [B, R] at batch 2.
  assert step["cache"]["queue"].shape == (sum(model.dilations), 2, model.residual_channels)


def test_the_cached_sampler_draws_its_noise_ahead_in_chunks():
  # The categorical head's noise of a chunk of steps is drawn at once (a divisor of D up to 128);
  # a head without noise (real-valued) or a D with no divisor but 1 draws per step.
  head = arm.models.create("wavenet", event_shape=(10,), num_levels=4, size="tiny").head
  assert samplers._noise_chunk(head, 4, 10) == 10
  assert samplers._noise_chunk(head, 1, 16000) == 128
  assert samplers._noise_chunk(head, 1, 131) == 0
  assert samplers._noise_chunk(head, 1 << 14, 16000) == 64  # 64 x 16384 x 4 = 1 << 22 elements
  assert samplers._noise_chunk(head, 1 << 20, 16000) == 0  # one step's noise fills the budget
  assert samplers._noise_chunk(make_head("gaussian", None, 2), 1, 16) == 0


@pytest.mark.parametrize("overrides", [dict(), dict(num_classes=2, **LOCAL),
                                       dict(head_kind="logistic_mixture")])
def test_cached_sampling_equals_naive(overrides):
  model, variables = _model(shape=(10,), levels=4, **overrides)
  model_checks.check_cached_sampling_equals_naive(model, variables, cond=_cond(model, 4))


def test_sample_frequencies():
  model, variables = _model(shape=(3,), levels=3, scale=1.5)
  model_checks.check_sample_frequencies(model, variables)


def test_paper_configuration():
  model = arm.models.create("wavenet", event_shape=(4096,), num_levels=256, size="paper")
  assert model.dilations == tuple(2 ** i for i in range(10)) * 3
  assert model.receptive_field == 2 + 3 * 1023
  shapes = jax.eval_shape(lambda: arm.init(model, jax.random.key(0)))["params"]
  assert shapes["dilated29"]["kernel"].shape == (2, 64, 128)
  assert shapes["skip_kernel"].shape == (30 * 64, 256)
  assert shapes["out2"]["kernel"].shape == (256, 256)
  assert "residual29" not in shapes and "residual28" in shapes


def test_bad_cond_raises():
  model, variables = _model(shape=(4,), num_classes=2, **LOCAL)
  x = np.zeros((1, 4), np.int32)
  good = {"label": np.array([1]), "local": np.zeros((1, 2, 2), np.float32)}
  with pytest.raises(ValueError, match="needs cond"):
    arm.log_prob(model, variables, x)
  with pytest.raises(ValueError, match="keys"):
    arm.log_prob(model, variables, x, {"label": np.array([1])})
  with pytest.raises(ValueError, match=r"in \[0, 2\)"):
    arm.log_prob(model, variables, x, {**good, "label": np.array([2])})
  with pytest.raises(ValueError, match="local"):
    arm.log_prob(model, variables, x, {**good, "local": np.zeros((1, 3, 2), np.float32)})
  with pytest.raises(ValueError, match="finite"):
    arm.log_prob(model, variables, x, {**good, "local": np.full((1, 2, 2), np.nan, np.float32)})
  plain, plain_vars = _model(shape=(4,))
  with pytest.raises(ValueError, match="unconditioned"):
    arm.log_prob(plain, plain_vars, x, np.array([0]))
  with pytest.raises(ValueError, match="multiple of local_hop"):
    arm.init(arm.models.create("wavenet", event_shape=(5,), num_levels=3, size="tiny", **LOCAL),
             jax.random.key(0))
