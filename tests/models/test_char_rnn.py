"""char-RNN: the rules of docs/design.md section 6, the LSTM against an independent NumPy float64
recurrence, and the TBPTT contract (the carry threaded over windows equals one pass over their
concatenation).

* normalisation over every sequence of length 3 and 4 with 3 levels;
* causality;
* cached-step conditionals equal the full pass (1e-5), cached == naive samples (with and without a
  prefix, and at another temperature);
* sample frequencies (chi-square);
* ``log_prob_carry`` over consecutive windows == ``log_prob(concat)``; any length with the same
  parameters; dropout only in training.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax.models import char_rnn  # noqa: F401  (registration, until the lead wires it)
from armodels_jax.models.char_rnn import CharRNN

import model_checks  # noqa: E402


def _model(length, levels, scale=2.0, seed=3, **overrides):
  model = arm.models.create("char_rnn", event_shape=(length,), num_levels=levels, size="tiny",
                            **overrides)
  variables = model_checks.scaled(arm.init(model, jax.random.key(seed)), scale)
  return model, variables


def _sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def _reference_logits(params, x, num_levels, first=None, state=None):
  """The char-RNN in NumPy float64, one token at a time: logits ``[B, T, V]`` and the final state."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  layers = sorted(k for k in p if k.startswith("lstm"))
  batch, length = x.shape
  hidden = p[layers[0]]["recurrent_kernel"].shape[0]
  h = [np.zeros((batch, hidden)) for _ in layers] if state is None else [s[0] for s in state]
  c = [np.zeros((batch, hidden)) for _ in layers] if state is None else [s[1] for s in state]
  prev = np.full(batch, num_levels) if first is None else first
  out = []
  for t in range(length):
    e = p["embed"]["embedding"][prev]  # [B, E]
    for l, name in enumerate(layers):
      q = p[name]
      z = e @ q["input_kernel"] + q["bias"] + h[l] @ q["recurrent_kernel"]
      i, f, g, o = np.split(z, 4, axis=-1)
      c[l] = _sigmoid(f) * c[l] + _sigmoid(i) * np.tanh(g)
      h[l] = _sigmoid(o) * np.tanh(c[l])
      e = h[l]
    out.append(e @ p["out"]["kernel"] + p["out"]["bias"])
    prev = x[:, t]
  return np.stack(out, axis=1), list(zip(h, c))


def test_full_pass_matches_a_float64_reference():
  model, variables = _model(5, 4, num_layers=2)
  x = np.random.default_rng(0).integers(0, 4, (3, 5)).astype(np.int32)
  got = np.asarray(model.apply(variables, x))
  want, _ = _reference_logits(variables["params"], x, 4)
  np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
  # The forget-gate bias starts at 1 (unscaled variables).
  bias = np.asarray(arm.init(model, jax.random.key(0))["params"]["lstm0"]["bias"])
  h = model.hidden
  np.testing.assert_array_equal(bias[h:2 * h], 1.0)
  np.testing.assert_array_equal(np.delete(bias, np.s_[h:2 * h]), 0.0)


@pytest.mark.parametrize("length,overrides", [(3, {}), (4, dict(num_layers=2))])
def test_normalisation(length, overrides):
  model, variables = _model(length, 3, **overrides)
  probs = model_checks.check_normalisation(model, variables)
  assert probs.max() > 3.0 / len(probs)  # far from uniform: the check bites


def test_causality():
  model, variables = _model(6, 3, num_layers=2)
  model_checks.check_causality(model, variables)


@pytest.mark.parametrize("length,levels,overrides", [(5, 3, {}), (7, 4, dict(num_layers=3))])
def test_cached_equals_full(length, levels, overrides):
  model, variables = _model(length, levels, **overrides)
  x = np.random.default_rng(1).integers(0, levels, (3, length)).astype(np.int32)
  model_checks.check_cached_equals_full(model, variables, x)


def test_exactness_check_rejects_a_decoder_that_forgets(monkeypatch):
  """The check above can fail: a decoder whose cached state is never updated disagrees."""
  model, variables = _model(4, 3, hidden=12)
  x = np.random.default_rng(2).integers(0, 3, (2, 4)).astype(np.int32)
  original = char_rnn._StateCache.__call__

  def forgetful(self, batch, update=None):
    return original(self, batch, None)

  monkeypatch.setattr(char_rnn._StateCache, "__call__", forgetful)
  with pytest.raises(AssertionError):
    model_checks.check_cached_equals_full(model, variables, x)


def test_cached_sampling_equals_naive():
  model, variables = _model(6, 4, num_layers=2)
  model_checks.check_cached_sampling_equals_naive(model, variables)
  key = jax.random.key(5)
  prefix = np.tile(np.array([[1, 2, 3, 0, 0, 0]], np.int32), (4, 1))
  for temperature in (0.5, 0.0):
    naive = arm.sample(model, variables, key, 4, method="naive", temperature=temperature,
                       prefix=prefix, prefix_len=3)
    cached = arm.sample(model, variables, key, 4, method="cached", temperature=temperature,
                        prefix=prefix, prefix_len=3)
    np.testing.assert_array_equal(np.asarray(naive), np.asarray(cached))
    np.testing.assert_array_equal(np.asarray(cached)[:, :3], prefix[:, :3])
  # Temperature 0 is the argmax of the conditionals, given the sampled prefix.
  logits = np.asarray(model.apply(variables, cached))
  np.testing.assert_array_equal(np.asarray(cached)[:, 3:], logits[:, 3:].argmax(-1))


def test_sample_frequencies():
  model, variables = _model(3, 3)
  model_checks.check_sample_frequencies(model, variables, num=12000)


def test_carry_over_windows_equals_the_concatenation():
  model, variables = _model(9, 5, num_layers=2)
  x = np.random.default_rng(4).integers(0, 5, (3, 9)).astype(np.int32)
  whole = np.asarray(arm.log_prob(model, variables, x, reduce=False))  # [B, 9]
  carry = CharRNN.initial_carry(model, 3)  # callable on the unbound module
  assert carry["h"].shape == (3, 2, model.hidden) and carry["c"].shape == (3, 2, model.hidden)
  np.testing.assert_array_equal(carry["token"], 5)  # the start token
  pieces = []
  for start, stop in ((0, 4), (4, 5), (5, 9)):
    window = model.clone(event_shape=(stop - start,))
    per_dim, carry = window.apply(variables, x[:, start:stop], carry, False,
                                  method=window.log_prob_carry)
    assert per_dim.shape == (3, stop - start) and per_dim.dtype == jnp.float32
    pieces.append(np.asarray(per_dim))
  np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-5, rtol=0)
  np.testing.assert_array_equal(carry["token"], x[:, -1])
  # The final state equals the float64 reference's.
  _, state = _reference_logits(variables["params"], x, 5)
  np.testing.assert_allclose(np.asarray(carry["h"]), np.stack([s[0] for s in state], 1), atol=1e-4)
  np.testing.assert_allclose(np.asarray(carry["c"]), np.stack([s[1] for s in state], 1), atol=1e-4)
  # Without the carry, the second window starts afresh: a different answer.
  window = model.clone(event_shape=(5,))
  fresh, _ = window.apply(variables, x[:, 4:], window.initial_carry(3), method=window.log_prob_carry)
  assert not np.allclose(np.asarray(fresh), whole[:, 4:], atol=1e-3)


def test_any_length_with_the_same_parameters():
  model, variables = _model(4, 3)
  long = model.clone(event_shape=(11,))
  x = np.random.default_rng(5).integers(0, 3, (2, 11)).astype(np.int32)
  logp = np.asarray(arm.log_prob(long, variables, x, reduce=False))
  np.testing.assert_allclose(logp[:, :4], np.asarray(arm.log_prob(model, variables, x[:, :4],
                                                                   reduce=False)), atol=1e-6)
  one = model.clone(event_shape=(1,))
  model_checks.check_normalisation(one, variables)


def test_dropout_only_in_training():
  model, variables = _model(6, 4, num_layers=2, dropout=0.5)
  x = np.random.default_rng(6).integers(0, 4, (2, 6)).astype(np.int32)
  a = model.apply(variables, x, None, True, rngs={"dropout": jax.random.key(0)})
  b = model.apply(variables, x, None, True, rngs={"dropout": jax.random.key(1)})
  assert not np.allclose(np.asarray(a), np.asarray(b))
  np.testing.assert_array_equal(np.asarray(model.apply(variables, x)),
                                np.asarray(model.apply(variables, x, None, False)))
  model_checks.check_normalisation(model.clone(event_shape=(3,)), variables)


def test_sizes_and_options():
  assert "char_rnn" in arm.models.names()
  sizes = {s: arm.models.create("char_rnn", event_shape=(100,), num_levels=65, size=s)
           for s in ("tiny", "small", "paper")}
  assert (sizes["tiny"].num_layers, sizes["tiny"].hidden) == (1, 16)
  assert (sizes["small"].num_layers, sizes["small"].hidden) == (2, 256)
  paper = sizes["paper"]
  assert (paper.num_layers, paper.hidden, paper.dropout) == (3, 512, 0.5)
  assert paper.has_decode and paper.stateful and not paper.conditional
  assert paper.head.num_params == 65
  # Two levels still get a softmax over the vocabulary.
  assert arm.models.create("char_rnn", event_shape=(4,), num_levels=2, size="tiny").head.num_params == 2
  assert set(arm.models.options("char_rnn")) >= {"num_layers", "hidden", "embed_dim", "dropout"}


@pytest.mark.parametrize("shape,overrides,match", [
    ((2, 2, 1), {}, "event_shape"),
    ((4,), dict(num_layers=0), "num_layers"),
    ((4,), dict(hidden=0), "hidden"),
    ((4,), dict(embed_dim=0), "embed_dim"),
    ((4,), dict(dropout=1.0), "dropout"),
    ((4,), dict(head_kind="bernoulli"), "categorical"),
])
def test_bad_config_raises(shape, overrides, match):
  with pytest.raises(ValueError, match=match):
    arm.models.create("char_rnn", event_shape=shape, num_levels=3, size="tiny", **overrides)


def test_bad_requests_raise():
  model, variables = _model(4, 3)
  with pytest.raises(ValueError, match="unconditional"):
    arm.log_prob(model, variables, np.zeros((1, 4), np.int32), cond=np.zeros(1, np.int32))
  with pytest.raises(ValueError, match="carry"):
    model.apply(variables, np.zeros((2, 4), np.int32), model.initial_carry(3),
                method=model.log_prob_carry)
