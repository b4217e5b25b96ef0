"""Bad input raises ValueError naming what was expected and what came."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm


@pytest.fixture(scope="module")
def pixelcnn():
  model = arm.models.create("pixelcnn", event_shape=(2, 2, 1), num_levels=4, size="tiny")
  return model, arm.init(model, jax.random.key(0))


def test_names_and_options():
  assert {"made", "pixelcnn", "nan", "image_gpt"} <= set(arm.models.names())
  assert "num_masks" in arm.models.options("made")
  assert "event_shape" not in arm.models.options("pixelcnn")


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="pixelcnnn"), r"unknown model name 'pixelcnnn'.*expected one of"),
    (dict(size="huge"), r"unknown size 'huge'"),
    (dict(featurs=8), r"unknown option\(s\) \['featurs'\]"),
    (dict(event_shape=(2, 2)), r"expected event_shape .* got \(2, 2\)"),
    (dict(num_levels=1), r"num_levels >= 2, got 1"),
    (dict(event_shape=(4, 4, 3), features=8), r"multiple of 2 \* channels = 6, got 8"),
])
def test_create_errors(kwargs, match):
  args = dict(name="pixelcnn", event_shape=(4, 4, 1), num_levels=4, size="tiny")
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    arm.models.create(**args)


@pytest.mark.parametrize("x,match", [
    (np.zeros((3, 2, 2), np.int32), r"expected x of shape \(B, 2, 2, 1\), got shape \(3, 2, 2\)"),
    (np.zeros((3, 2, 3, 1), np.int32), r"got shape \(3, 2, 3, 1\)"),
    (np.zeros((3, 2, 2, 1), np.float32), r"integer dtype .* got float32"),
    (np.full((3, 2, 2, 1), np.nan, np.float32), r"got float32 containing NaN"),
    (np.full((3, 2, 2, 1), 4, np.int32), r"values in \[0, 4\), got values in \[4, 4\]"),
    (np.full((3, 2, 2, 1), -1, np.int64), r"got values in \[-1, -1\]"),
    (np.array(["a"] * 4).reshape(1, 2, 2, 1), r"integer dtype"),
])
def test_log_prob_rejects_bad_input(pixelcnn, x, match):
  model, variables = pixelcnn
  with pytest.raises(ValueError, match=match):
    arm.log_prob(model, variables, x)


def test_log_prob_accepts_any_integer_dtype(pixelcnn):
  model, variables = pixelcnn
  x = np.array([[[[0], [3]], [[1], [2]]]])
  a = arm.log_prob(model, variables, x.astype(np.uint8))
  b = arm.log_prob(model, variables, jnp.asarray(x, jnp.int32))
  np.testing.assert_allclose(a, b)
  assert a.shape == (1,) and a.dtype == jnp.float32


@pytest.mark.parametrize("kwargs,match", [
    (dict(method="fast"), r"unknown sampling method 'fast'"),
    (dict(num_samples=0), r"positive int, got 0"),
    (dict(temperature=-1.0), r"temperature >= 0, got -1.0"),
    (dict(temperature=float("nan")), r"finite temperature"),
    (dict(prefix_len=2), r"prefix_len=2 needs a prefix array"),
    (dict(prefix_len=5, prefix=np.zeros((2, 2, 2, 1), np.int32)), r"prefix_len an int in \[0, 4\], got 5"),
    (dict(prefix_len=1, prefix=np.zeros((3, 2, 2, 1), np.int32)), r"num_samples=2 rows, got 3"),
    (dict(prefix_len=1, prefix=np.full((2, 2, 2, 1), 9, np.int32)), r"prefix values in \[0, 4\)"),
    (dict(cond=np.zeros((2, 10))), r"unconditional: expected cond=None"),
])
def test_sample_rejects_bad_arguments(pixelcnn, kwargs, match):
  model, variables = pixelcnn
  args = dict(num_samples=2)
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    arm.sample(model, variables, jax.random.key(0), **args)


def test_bad_model_and_variables(pixelcnn):
  model, variables = pixelcnn
  x = np.zeros((1, 2, 2, 1), np.int32)
  with pytest.raises(ValueError, match="expected a model"):
    arm.log_prob("pixelcnn", variables, x)
  with pytest.raises(ValueError, match=r"'params' entry .* with keys \['weights'\]"):
    arm.log_prob(model, {"weights": 1}, x)
  with pytest.raises(ValueError, match="reduce True or False"):
    arm.log_prob(model, variables, x, reduce="no")


def test_order_agnostic_ensemble_refuses_per_dim_and_prefix():
  model = arm.models.create("made", event_shape=(4,), num_levels=2, size="tiny",
                            num_masks=2, order_agnostic=True)
  variables = arm.init(model, jax.random.key(0))
  x = np.zeros((1, 4), np.int32)
  with pytest.raises(ValueError, match="reduce=False needs one ordering"):
    arm.log_prob(model, variables, x, reduce=False)
  with pytest.raises(ValueError, match="expected prefix_len=0, got 2"):
    arm.sample(model, variables, jax.random.key(0), 1, prefix=x, prefix_len=2)


def test_bits_per_dim():
  logp = jnp.asarray([-64.0 * np.log(2.0)])
  np.testing.assert_allclose(arm.bits_per_dim(logp, (8, 8, 1)), [1.0], rtol=1e-6)
  with pytest.raises(ValueError, match="non-empty event_shape"):
    arm.bits_per_dim(logp, ())


def test_subpackages_are_reachable_from_the_package():
  import armodels_jax as arm_pkg  # pylint: disable=g-import-not-at-top
  for name in ("data", "training", "layers", "distributions", "sampling", "pretrained"):
    assert getattr(arm_pkg, name).__name__ == f"armodels_jax.{name}"
  with pytest.raises(AttributeError, match="no_such_thing"):
    getattr(arm_pkg, "no_such_thing")
