"""PixelCNN++ (pixelcnn_pp): the rules of docs/design.md section 6 on tiny event spaces,
cached decode through 1-3 resolutions, class conditioning, dropout, sizes and
configuration errors."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax import api
from armodels_jax.models.pixelcnn_pp import PixelCNNPP


import model_checks  # noqa: E402


def _model(shape, levels, seed=0, **overrides):
  model = arm.models.create("pixelcnn_pp", event_shape=shape, num_levels=levels, size="tiny",
                            **overrides)
  return model, _random_variables(model, seed)


def _random_variables(model, seed):
  """Random parameters of the model's tree (LeCun-scaled normals, small random biases).

  The rules hold for any parameters; building them with NumPy from ``eval_shape`` saves
  the seconds that compiling ``model.init``'s random number generation takes per model.
  """
  x = jnp.zeros((1,) + model.event_shape, jnp.int32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
  rng = np.random.default_rng(seed)
  def draw(s):
    scale = 0.1 if len(s.shape) == 1 else 1.0 / np.sqrt(np.prod(s.shape[:-1]))
    return jnp.asarray(rng.normal(size=s.shape) * scale, s.dtype)
  return {"params": jax.tree.map(draw, shapes)}


class _Jitted:
  """The model with a jitted ``apply``, for the checks that call it many times."""

  def __init__(self, model):
    self._model = model
    self.apply = jax.jit(model.apply)

  def __getattr__(self, name):
    return getattr(self._model, name)


def _x(model, num=3, seed=1):
  rng = np.random.default_rng(seed)
  return rng.integers(0, model.num_levels, size=(num,) + model.event_shape).astype(np.int32)


# Rule 1: normalisation over every input, weights x2 so the distribution is far from uniform.
@pytest.mark.parametrize("shape,levels,overrides", [
    ((2, 2, 1), 3, {}),                                  # mixture head, 2 resolutions (2x2, 1x1)
    ((1, 2, 3), 2, {}),                                  # RGB mixture with channel coefficients
    ((2, 1, 3), 2, dict(head_kind="categorical", num_resolutions=1)),
])
def test_normalisation(shape, levels, overrides):
  model, variables = _model(shape, levels, **overrides)
  model_checks.check_normalisation(model, model_checks.scaled(variables, 2.0))


# Rule 2: causality in raster order (H, W, C), through the down- and up-sampling.
@pytest.mark.parametrize("shape,levels,overrides", [
    ((2, 2, 3), 3, {}),
    ((4, 2, 1), 2, dict(num_classes=2)),
])
def test_causality(shape, levels, overrides):
  model, variables = _model(shape, levels, **overrides)
  cond = np.array([1], np.int32) if model.num_classes else None
  model_checks.check_causality(_Jitted(model), model_checks.scaled(variables, 2.0), cond=cond)


def test_causality_and_no_blind_spot_4x4():
  """Two resolutions: no conditional sees the future, and the last sub-pixel of a 4x4
  image depends on every earlier one (the two streams leave no blind spot)."""
  model, variables = _model((4, 4, 1), 3)
  jitted, variables = _Jitted(model), model_checks.scaled(variables, 2.0)
  model_checks.check_causality(jitted, variables)
  seen = model_checks.influence(jitted, variables, _x(model, 1), model.num_dims - 1)
  np.testing.assert_array_equal(seen, np.arange(model.num_dims) < model.num_dims - 1)


# Rule 3: cached-step conditionals equal the full pass, through 1, 2 and 3 resolutions.
@pytest.mark.parametrize("shape,levels,overrides", [
    ((2, 2, 1), 3, dict(num_resolutions=1)),
    ((4, 4, 1), 4, dict(num_resnet=2, num_classes=3)),  # class-conditional
    ((8, 4, 1), 2, dict(num_resolutions=3, head_kind="auto")),
    ((4, 4, 3), 5, {}),                                  # mixture head, channel sub-steps
])
def test_cached_equals_full(shape, levels, overrides):
  model, variables = _model(shape, levels, seed=2, **overrides)
  x = _x(model)
  cond = np.array([0, 2, 1], np.int32) if model.num_classes else None
  model_checks.check_cached_equals_full(model, variables, x, cond)


def test_cached_sampling_equals_naive():
  model, variables = _model((2, 2, 3), 3, seed=3)
  model_checks.check_cached_sampling_equals_naive(model, variables)


# Rule 4: samples follow exp(log_prob).
def test_sample_frequencies():
  model, variables = _model((2, 2, 1), 3, seed=4)
  model_checks.check_sample_frequencies(model, model_checks.scaled(variables, 2.0), num=8000)


def test_class_conditioning():
  model, _ = _model((2, 2, 1), 3, num_classes=3)
  # arm.init asks with cond=None and must still build every class-bias parameter.
  variables = arm.init(model, jax.random.key(0, impl="rbg"))
  assert "cond_proj" in variables["params"]["ul_up_0_0"]
  assert variables["params"]["u_down_1_0"]["cond_proj"]["kernel"].shape == (3, 16)
  x = _x(model, 2)
  a = arm.log_prob(model, variables, x, np.array([0, 0], np.int32))
  b = arm.log_prob(model, variables, x, np.array([2, 2], np.int32))
  assert not np.allclose(a, b)
  with pytest.raises(ValueError, match="labels"):
    arm.log_prob(model, variables, x, np.array([0, 3], np.int32))
  with pytest.raises(ValueError, match="labels"):
    arm.log_prob(model, variables, x, np.array([0.0, 1.0], np.float32))
  with pytest.raises(ValueError, match="cond"):
    arm.log_prob(model, variables, x)
  plain, plain_vars = _model((2, 2, 1), 3)
  with pytest.raises(ValueError, match="unconditional"):
    arm.log_prob(plain, plain_vars, x, np.array([0, 0], np.int32))


def test_dropout_only_in_training():
  model, variables = _model((4, 4, 1), 3, dropout_rate=0.5)
  x = jnp.asarray(_x(model))
  fn = jax.jit(api.log_prob_fn, static_argnames=("model", "train"))
  def run(rng=None):
    return np.asarray(fn(model, variables, x, train=rng is not None, rng=rng))
  evals = run()
  np.testing.assert_array_equal(evals, run())
  np.testing.assert_array_equal(run(jax.random.key(1)), run(jax.random.key(1)))
  assert not np.allclose(run(jax.random.key(1)), run(jax.random.key(2)))
  assert not np.allclose(run(jax.random.key(1)), evals)
  no_dropout = model.clone(dropout_rate=0.0)
  np.testing.assert_allclose(np.asarray(fn(no_dropout, variables, x)), evals, rtol=1e-6)


def test_sizes_and_resolutions():
  make = lambda shape, size, **kw: arm.models.create(
      "pixelcnn_pp", event_shape=shape, num_levels=256, size=size, **kw)
  assert make((2, 2, 1), "tiny").num_resolutions == 2
  assert make((2, 3, 1), "tiny").num_resolutions == 1
  assert make((3, 3, 1), "tiny").num_resolutions == 1
  assert make((28, 28, 1), "small").num_resolutions == 3
  paper = make((32, 32, 3), "paper")
  assert (paper.features, paper.num_resnet, paper.num_resolutions, paper.num_components,
          paper.dropout_rate, paper.head_kind) == (160, 5, 3, 10, 0.5, "logistic_mixture")
  with pytest.raises(ValueError, match="divisible"):
    make((6, 6, 1), "tiny", num_resolutions=3)
  with pytest.raises(ValueError, match="head_kind"):
    make((4, 4, 1), "tiny", head_kind="gaussian")
  with pytest.raises(ValueError, match="dropout_rate"):
    make((4, 4, 1), "tiny", dropout_rate=1.0)
  with pytest.raises(ValueError, match="event_shape"):
    make((16,), "tiny")
  assert isinstance(make((4, 4, 1), "tiny"), PixelCNNPP)


def test_scanned_blocks_equal_unrolled():
  """``scan_blocks`` (one ``lax.scan`` over the N resnets of each resolution and pass) keeps the
  parameter layout, and gives the unrolled pass's log-probabilities and gradients."""
  model, variables = _model((4, 4, 3), 5, seed=5, num_resnet=3, num_classes=2)
  unrolled = model.clone(scan_blocks=False)
  assert model.scan_blocks
  x, cond = jnp.asarray(_x(model, 2)), jnp.array([1, 0], jnp.int32)
  shapes = lambda m: jax.tree.map(lambda s: s.shape, jax.eval_shape(
      m.init, jax.random.key(0), x[:1], cond[:1])["params"])
  assert shapes(model) == shapes(unrolled)
  assert "u_down_1_2" in variables["params"]
  logp = lambda m: jax.jit(lambda v: api.log_prob_fn(m, v, x, cond))
  grad = lambda m: jax.jit(jax.grad(lambda v: api.log_prob_fn(m, v, x, cond).sum()))(variables)
  expected, g_unrolled = logp(unrolled)(variables), grad(unrolled)
  for scanned in (model, model.clone(remat_blocks=True)):
    np.testing.assert_allclose(logp(scanned)(variables), expected, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(grad(scanned)), jax.tree.leaves(g_unrolled)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * float(jnp.abs(b).max()))
  # Dropout: the scanned pass draws its own masks (one key split over the blocks).
  train = jax.jit(lambda v, k: api.log_prob_fn(model, v, x, cond, train=True, rng=k))
  np.testing.assert_array_equal(train(variables, jax.random.key(1)), train(variables, jax.random.key(1)))
  assert not np.allclose(train(variables, jax.random.key(1)), train(variables, jax.random.key(2)))


def test_scanned_program_does_not_grow_with_the_number_of_resnets():
  """The lowered gradient program holds one copy of each resolution's block pair when scanned (as
  many convolutions for N = 2 as for N = 3), N copies when unrolled (what XLA:TPU compiles, and the
  code it generates, grows with them: BENCHMARKS.md, "TPU plan")."""
  # remat_blocks: the backward pass recomputes the blocks' forward convolutions.
  model_checks.check_scanned_program_does_not_grow("pixelcnn_pp", (4, 4, 1), 4, "num_resnet")
