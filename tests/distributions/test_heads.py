"""Heads against an independent float64 NumPy reference (docs/design.md section 6, rule 5)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from armodels_jax.distributions import Bernoulli, Categorical, make_head


def _np_log_softmax(z):
  z = z.astype(np.float64)
  m = z.max(-1, keepdims=True)
  return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def test_bernoulli_matches_float64_reference_with_extreme_logits():
  logits = np.array([-200.0, -30.0, -1.0, 0.0, 2.5, 30.0, 200.0], np.float32)
  for value in (0, 1):
    x = np.full(logits.shape, value)
    got = np.asarray(Bernoulli().log_prob(jnp.asarray(logits)[:, None], jnp.asarray(x)))
    z = logits.astype(np.float64)
    ref = -np.logaddexp(0.0, -z) if value else -np.logaddexp(0.0, z)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
  both = np.asarray(Bernoulli().log_probs(jnp.asarray(logits)[:, None]))
  np.testing.assert_allclose(np.exp(both.astype(np.float64)).sum(-1), 1.0, atol=1e-6)


def test_categorical_matches_float64_reference(np_rng):
  raw = np_rng.normal(size=(4, 5, 256)).astype(np.float32) * 30.0
  raw[0, 0, 0] = 1e4  # one extreme logit: the others underflow, never NaN
  x = np_rng.integers(0, 256, size=(4, 5))
  x[0, 0] = 255  # an edge level whose probability underflows
  got = np.asarray(Categorical(256).log_prob(jnp.asarray(raw), jnp.asarray(x)))
  ref = np.take_along_axis(_np_log_softmax(raw), x[..., None], -1)[..., 0]
  assert not np.isnan(got).any() and not np.isposinf(got).any()
  mask = np.isfinite(ref) & (ref > -1e3)
  np.testing.assert_allclose(got[mask], ref[mask], rtol=1e-5, atol=1e-4)
  grads = jax.grad(lambda r: Categorical(256).log_prob(r, jnp.asarray(x)).sum())(jnp.asarray(raw))
  assert np.isfinite(np.asarray(grads)).all()


@pytest.mark.parametrize("head", [Bernoulli(), Categorical(4)])
def test_sampling_frequencies_follow_probabilities(head):
  raw = jnp.asarray([0.3, -1.2, 2.0, 0.1][: head.num_params], jnp.float32)
  n = 40000
  draws = np.asarray(head.sample(jnp.broadcast_to(raw, (n, head.num_params)), jax.random.key(0)))
  probs = np.exp(np.asarray(head.log_probs(raw), np.float64))
  freq = np.bincount(draws, minlength=head.num_levels) / n
  np.testing.assert_allclose(freq, probs, atol=4 * np.sqrt(probs * (1 - probs) / n).max())


def test_temperature_zero_is_the_mode_and_low_temperature_sharpens():
  raw = jnp.asarray([[0.0, 1.0, 0.5]])
  head = Categorical(3)
  assert int(head.sample(raw, jax.random.key(0), temperature=0.0)[0]) == 1
  draws = head.sample(jnp.broadcast_to(raw, (5000, 3)), jax.random.key(1), temperature=0.05)
  assert float(jnp.mean(draws == 1)) > 0.99


def test_make_head_errors():
  assert isinstance(make_head("auto", 2), Bernoulli)
  assert isinstance(make_head("auto", 3), Categorical)
  with pytest.raises(ValueError, match="num_levels=2"):
    make_head("bernoulli", 5)
  with pytest.raises(ValueError, match="expected head"):
    make_head("gaussian", 5)
