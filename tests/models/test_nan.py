"""NAN (one untied hidden layer per conditional) against the rules of docs/design.md section 6.

1. normalisation over every input of a tiny event space;
2. causality in raster order;
3. decode-path conditionals equal the full pass, cached == naive samples (with a prefix too);
4. sample frequencies follow exp(log_prob) (chi-square at a fixed seed);
5. the conditionals equal an independent float64 NumPy computation, one explicit network per
   conditional (Bengio & Bengio 2000: h_i = sigmoid(W_i x_<i + b_i), p = head(alpha_i . h_i + alpha0_i)).

Parameters are redrawn from a scaled normal so the distributions are far from uniform.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

import armodels_jax as arm

import model_checks  # noqa: E402  (tests/models/conftest.py puts it on sys.path)

# name -> (event_shape, num_levels, overrides)
CASES = {
    "bin": ((4,), 2, {}),
    "cat": ((2, 2, 1), 3, {}),  # one-hot inputs, softmax head
    "cat_scaled_tanh": ((2, 2, 1), 3, dict(input_encoding="scaled", activation="tanh")),
    "rgb": ((3, 2, 2), 4, dict(hidden_size=5)),
    "bin_softmax": ((2, 3, 1), 2, dict(head_kind="categorical", activation="relu")),
}


@functools.lru_cache(maxsize=None)
def _model(case, scale=1.5):
  """The model and parameters drawn from ``scale * N(0, 1)`` (biases included)."""
  shape, levels, overrides = CASES[case]
  model = arm.models.create("nan", event_shape=shape, num_levels=levels, size="tiny", **overrides)
  shapes = jax.eval_shape(lambda: arm.init(model, jax.random.key(0)))
  rng = np.random.default_rng(8)
  variables = jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)
  return model, variables


def _inputs(model, num, seed):
  rng = np.random.default_rng(seed)
  return rng.integers(0, model.num_levels, size=(num,) + model.event_shape).astype(np.int32)


@pytest.mark.parametrize("case", ["bin", "cat", "cat_scaled_tanh"])
def test_normalisation_over_every_input(case):
  probs = model_checks.check_normalisation(*_model(case))
  assert probs.max() > 3.0 / len(probs)  # far from uniform, so the check bites


@pytest.mark.parametrize("case", ["cat", "rgb"])
def test_causality(case):
  model_checks.check_causality(*_model(case))


@pytest.mark.parametrize("case", ["rgb", "bin_softmax", "cat_scaled_tanh"])
def test_cached_conditionals_equal_full_pass(case):
  model, variables = _model(case)
  model_checks.check_cached_equals_full(model, variables, _inputs(model, 5, seed=3))


def test_cached_sampling_equals_naive():
  model_checks.check_cached_sampling_equals_naive(*_model("rgb"))


def test_sample_frequencies_follow_the_model():
  model_checks.check_sample_frequencies(*_model("cat"))


def _reference_raw(model, params, x):
  """float64 raw parameters ``[B, D, P]``: conditional i's own network on ``x[:, :i]``, one by one."""
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  flat = x.reshape(len(x), -1)
  if model.columns == 1:
    cols = flat / (model.num_levels - 1.0)  # [B, D]
  else:
    cols = np.eye(model.num_levels)[flat].reshape(len(x), -1)  # [B, D * L]
  act = {"sigmoid": special.expit, "tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}
  out = []
  for i in range(model.num_dims):
    seen = i * model.columns  # the input columns of dimensions < i
    h = act[model.activation](cols[:, :seen] @ p["W"][i, :, :seen].T + p["b"][i])  # [B, H]
    out.append(h @ p["alpha"][i] + p["alpha0"][i])
  return np.stack(out, axis=1)


@pytest.mark.parametrize("case", ["rgb", "bin_softmax", "cat_scaled_tanh"])
def test_log_prob_equals_a_float64_reference(case):
  model, variables = _model(case)
  x = _inputs(model, 6, seed=4)
  raw = _reference_raw(model, variables["params"], x)  # [B, D, P]
  flat = x.reshape(len(x), -1)
  if raw.shape[-1] == 1:  # Bernoulli
    expected = np.log(special.expit(np.where(flat == 1, 1.0, -1.0) * raw[..., 0]))
  else:
    logp = raw - special.logsumexp(raw, axis=-1, keepdims=True)
    expected = np.take_along_axis(logp, flat[..., None], -1)[..., 0]
  per_dim = np.asarray(arm.log_prob(model, variables, x, reduce=False)).reshape(len(x), -1)
  np.testing.assert_allclose(per_dim, expected, rtol=1e-5, atol=1e-5)
  assert np.abs(expected).max() > 0.5  # not a uniform model


def test_parameter_shapes_and_sizes():
  model, variables = _model("rgb")
  d, h, l = model.num_dims, model.hidden_size, model.num_levels
  shapes = jax.tree.map(np.shape, variables["params"])
  assert shapes == {"W": (d, h, d * l), "b": (d, h), "alpha": (d, h, l), "alpha0": (d, l)}
  hidden = [arm.models.create("nan", event_shape=(784,), num_levels=2, size=s).hidden_size
            for s in ("tiny", "small", "paper")]
  assert hidden == sorted(hidden) and len(set(hidden)) == 3


@pytest.mark.parametrize("overrides,match", [
    (dict(hidden_size=0), "hidden_size >= 1"),
    (dict(activation="softplus"), "activation one of"),
    (dict(input_encoding="binary"), "input_encoding one of"),
])
def test_bad_options_raise(overrides, match):
  with pytest.raises(ValueError, match=match):
    arm.models.create("nan", event_shape=(4,), num_levels=2, size="tiny", **overrides)
