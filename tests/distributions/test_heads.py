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


@pytest.mark.parametrize("head", [Bernoulli(), Categorical(7), None])  # None: a logistic mixture
def test_noise_drawn_ahead_gives_the_draws_of_the_key(head):
  # The cached sampler draws the noise of many steps at once (vmap over fold_in(key, t)), then
  # sample_with_noise: the values must be those of sample(raw, fold_in(key, t)), and those of
  # jax.random's own draw (categorical / uniform), so that samples stay those of the naive sampler.
  from armodels_jax.models.image_output import image_head  # pylint: disable=g-import-not-at-top
  head = head or image_head("logistic_mixture", 9, 1, 3)
  raw = jnp.asarray(np.random.default_rng(0).normal(size=(6, 5, head.num_params)) * 3, jnp.float32)
  key = jax.random.key(4)
  ahead = jax.vmap(lambda t: head.noise(jax.random.fold_in(key, t), (5,)))(jnp.arange(6))
  for temperature in (1.0, 0.7):
    drawn = np.stack([np.asarray(head.sample(raw[t], jax.random.fold_in(key, t), temperature))
                      for t in range(6)])
    given = np.asarray(jax.vmap(lambda r, z: head.sample_with_noise(r, z, temperature))(raw, ahead))
    np.testing.assert_array_equal(given, drawn)
    keys = [jax.random.fold_in(key, t) for t in range(6)]
    if isinstance(head, Bernoulli):
      ref = [jax.random.uniform(k, (5,)) < jax.nn.sigmoid(raw[t, :, 0] / temperature)
             for t, k in enumerate(keys)]
    else:
      logits = raw if isinstance(head, Categorical) else head.log_probs(raw)
      ref = [jax.random.categorical(k, logits[t] / temperature) for t, k in enumerate(keys)]
    np.testing.assert_array_equal(drawn, np.stack([np.asarray(r) for r in ref]).astype(np.int32))
  assert len(np.unique(drawn)) > 1  # the draws are not all one value: the comparison bites
