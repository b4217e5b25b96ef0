"""The EMA with a warmed-up decay, against a float64 recurrence computed here."""

import jax.numpy as jnp
import numpy as np

from armodels_jax.training.state import ema_update


def test_ema_warmup_matches_reference():
  decay = 0.999
  rng = np.random.default_rng(0)
  params_seq = rng.normal(size=(50, 3))
  ema = {"w": jnp.zeros(3, jnp.float32)}
  ref = np.zeros(3)
  for step, p in enumerate(params_seq):
    ema = ema_update(ema, {"w": jnp.asarray(p, jnp.float32)}, decay, step)
    d = min(decay, (1.0 + step) / (10.0 + step))
    ref = d * ref + (1.0 - d) * p
  np.testing.assert_allclose(np.asarray(ema["w"]), ref, rtol=1e-5, atol=1e-6)
  # The initial value has faded: with the plain decay 0.999 it would keep 95% of its weight.
  weight_of_init = np.prod([min(decay, (1.0 + t) / (10.0 + t)) for t in range(50)])
  assert weight_of_init < 1e-3


def test_ema_zero_decay_copies_and_late_decay_is_the_target():
  p = {"w": jnp.ones(2)}
  assert ema_update({"w": jnp.zeros(2)}, p, 0.0, 5) is p
  late = ema_update({"w": jnp.zeros(2)}, p, 0.9, 10_000)
  np.testing.assert_allclose(np.asarray(late["w"]), 0.1, rtol=1e-6)
