"""The vector quantiser against NumPy references: nearest codes, losses, straight-through gradient, EMA
codebook statistics, dead-code restarts, perplexity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from armodels_jax.vqvae import quantizer


def _data(rng, b=3, h=2, w=2, d=4, k=5):
  z = rng.normal(size=(b, h, w, d)).astype(np.float32)
  codebook = rng.normal(size=(k, d)).astype(np.float32)
  return z, codebook


def _nearest_np(z, codebook):
  d2 = ((z[..., None, :].astype(np.float64) - codebook.astype(np.float64)) ** 2).sum(-1)  # [..., K]
  return d2.argmin(-1)


def test_nearest_codes_and_losses_match_numpy(np_rng):
  z, codebook = _data(np_rng)
  q = quantizer.quantize(jnp.asarray(z), jnp.asarray(codebook))
  idx = _nearest_np(z, codebook)
  np.testing.assert_array_equal(np.asarray(q.indices), idx)
  e = codebook[idx]  # [B, h, w, D]
  np.testing.assert_allclose(np.asarray(q.z_q), e, atol=1e-6)
  expected = ((z - e) ** 2).sum(axis=(1, 2, 3))  # [B]
  np.testing.assert_allclose(np.asarray(q.codebook_loss), expected, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(q.commitment_loss), expected, rtol=1e-5)


def test_straight_through_gradient_and_loss_gradients(np_rng):
  z, codebook = _data(np_rng)
  w = jnp.asarray(np_rng.normal(size=z.shape).astype(np.float32))
  idx = _nearest_np(z, codebook)
  e = codebook[idx]

  def decoder_term(z_e, cb):  # A stand-in decoder loss, f(z_q) = sum(w * z_q^2).
    return jnp.sum(w * quantizer.quantize(z_e, cb).z_q ** 2)

  g_z, g_cb = jax.grad(decoder_term, argnums=(0, 1))(jnp.asarray(z), jnp.asarray(codebook))
  # Straight-through: the encoder receives df/dz_q evaluated at z_q = e; the codebook nothing.
  np.testing.assert_allclose(np.asarray(g_z), 2 * np.asarray(w) * e, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(np.asarray(g_cb), 0.0)

  def loss(name):
    return lambda z_e, cb: jnp.sum(getattr(quantizer.quantize(z_e, cb), name))

  gz, gcb = jax.grad(loss("codebook_loss"), argnums=(0, 1))(jnp.asarray(z), jnp.asarray(codebook))
  np.testing.assert_array_equal(np.asarray(gz), 0.0)  # moves the codebook only
  expected = np.zeros_like(codebook)
  np.add.at(expected, idx.reshape(-1), 2 * (e - z).reshape(-1, z.shape[-1]))
  np.testing.assert_allclose(np.asarray(gcb), expected, rtol=1e-5, atol=1e-5)
  gz, gcb = jax.grad(loss("commitment_loss"), argnums=(0, 1))(jnp.asarray(z), jnp.asarray(codebook))
  np.testing.assert_allclose(np.asarray(gz), 2 * (z - e), rtol=1e-5, atol=1e-6)  # moves the encoder
  np.testing.assert_array_equal(np.asarray(gcb), 0.0)


def test_ema_update_matches_the_formulas(np_rng):
  z, codebook = _data(np_rng)
  flat = z.reshape(-1, z.shape[-1])
  idx = _nearest_np(flat, codebook)
  count0 = np_rng.uniform(0.5, 2.0, size=codebook.shape[0]).astype(np.float32)
  total0 = np_rng.normal(size=codebook.shape).astype(np.float32)
  gamma, eps = 0.9, 1e-5
  stats, cb = quantizer.ema_update(quantizer.CodebookStats(jnp.asarray(count0), jnp.asarray(total0)),
                                   jnp.asarray(flat), jnp.asarray(idx), gamma, eps)
  n_i = np.bincount(idx, minlength=codebook.shape[0])
  sums = np.zeros_like(codebook)
  np.add.at(sums, idx, flat)
  count = gamma * count0 + (1 - gamma) * n_i
  total = gamma * total0 + (1 - gamma) * sums
  smoothed = (count + eps) / (count.sum() + codebook.shape[0] * eps) * count.sum()
  np.testing.assert_allclose(np.asarray(stats.count), count, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(stats.total), total, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(cb), total / smoothed[:, None], rtol=1e-4, atol=1e-6)


def test_dead_codes_are_restarted_from_the_batch(np_rng, key):
  z, codebook = _data(np_rng, k=6)
  flat = jnp.asarray(z.reshape(-1, z.shape[-1]))
  count = jnp.asarray([5.0, 0.01, 3.0, 0.0, 2.0, 0.2])
  stats = quantizer.CodebookStats(count, jnp.asarray(codebook) * count[:, None])
  new_cb, new_stats, num = quantizer.reset_dead_codes(jnp.asarray(codebook), stats, flat, key, 0.5)
  dead = np.asarray(count) < 0.5
  assert int(num) == dead.sum() == 3
  new_cb = np.asarray(new_cb)
  np.testing.assert_array_equal(new_cb[~dead], codebook[~dead])
  for row in new_cb[dead]:  # each dead code is now one of the batch's encoder outputs
    assert np.any(np.all(np.isclose(np.asarray(flat), row), axis=-1))
  np.testing.assert_allclose(np.asarray(new_stats.count)[dead], 0.5)
  np.testing.assert_allclose(np.asarray(new_stats.count)[~dead], np.asarray(count)[~dead])
  np.testing.assert_allclose(np.asarray(new_stats.total)[dead], 0.5 * new_cb[dead], rtol=1e-6)
  _, _, none = quantizer.reset_dead_codes(jnp.asarray(codebook), stats, flat, key, 0.0)
  assert int(none) == 0


_ENTROPY_1_3 = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))  # p = (1/4, 3/4)


@pytest.mark.parametrize("counts, expected", [([4, 4, 4, 4], 4.0), ([0, 9, 0, 0], 1.0),
                                              ([1, 3, 0, 0], float(np.exp(_ENTROPY_1_3)))])
def test_perplexity(counts, expected):
  assert float(quantizer.perplexity(jnp.asarray(counts, jnp.float32))) == pytest.approx(expected, rel=1e-5)
