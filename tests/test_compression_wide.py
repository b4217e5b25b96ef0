"""Wide alphabets in two stages (compression.SCHEME_BLOCKS): the block masses of the discretized
logistic mixture agree with its per-level probabilities, and a 16-bit WaveNet round trip through
the two-stage coder (with per-example lengths) is bit-exact and near the likelihood."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax import compression
from armodels_jax.distributions import DiscretizedLogisticMixture


def _raw(head, batch, seed):
  """Raw head parameters with a spread of means, scales and weights (some scales near the clip)."""
  rng = np.random.default_rng(seed)
  raw = rng.normal(0.0, 1.0, (batch, head.num_params)).astype(np.float32)
  k, c = head.num_components, head.num_channels
  raw[:, k + k * c:k + 2 * k * c] = rng.uniform(-9.0, -1.0, (batch, k * c))  # log-scales
  if c > 1:  # sub-pixel context: earlier channels' levels, then the one-hot of the channel
    raw[:, head.pixel_params:head.pixel_params + c] = rng.integers(0, head.num_levels, (batch, c))
    raw[:, head.pixel_params + c:] = np.eye(c, dtype=np.float32)[rng.integers(0, c, batch)]
  return jnp.asarray(raw)


def _close(probs, dense):
  assert np.abs(probs - dense).sum(-1).max() < 1e-4
  big = dense > 1e-4
  assert big.sum() >= 8
  np.testing.assert_allclose(probs[big], dense[big], rtol=2e-3)


@pytest.mark.parametrize("levels,channels", [(65536, 1), (5000, 2)])
def test_block_probabilities_multiply_to_the_level_probabilities(levels, channels):
  head = DiscretizedLogisticMixture(levels, 3, channels)
  raw = _raw(head, 4, seed=levels)
  width = math.isqrt(levels - 1) + 1
  blocks = -(-levels // width)  # 5000 levels: 71 blocks of 71, the last one 30 levels
  dense = np.exp(np.asarray(jax.jit(head.log_probs)(raw), np.float64))  # [4, L]
  p_block = np.asarray(jax.jit(head.block_probs, static_argnums=1)(raw, width), np.float64)
  tiled = jnp.broadcast_to(raw[:, None, :], (4, blocks, raw.shape[-1]))
  ids = jnp.broadcast_to(jnp.arange(blocks), (4, blocks))
  inner = np.asarray(jax.jit(head.block_level_probs, static_argnums=2)(tiled, ids, width),
                     np.float64).reshape(4, -1)  # [4, G * W]
  assert (inner[:, levels:] == 0).all() and (p_block >= 0).all() and (inner >= 0).all()
  inner = inner[:, :levels]
  # The per-level values are the dense ones up to float32 rounding of CDF differences: a small
  # total variation, and a small relative error wherever a level is not negligible.
  _close(inner, dense)
  # A block's CDF-difference mass is the sum of its levels' masses.
  padded = np.concatenate([dense, np.zeros((4, blocks * width - levels))], 1)
  summed = padded.reshape(4, blocks, width).sum(-1)
  np.testing.assert_allclose(p_block, summed, rtol=2e-3, atol=1e-7)
  assert abs(p_block.sum(-1) - 1).max() < 1e-5
  # Stage one times stage two (renormalised inside the block) is the level's probability.
  within = np.concatenate([inner, np.zeros((4, blocks * width - levels))], 1).reshape(4, blocks, width)
  within = within / np.maximum(within.sum(-1, keepdims=True), 1e-300)
  _close((p_block[..., None] * within).reshape(4, -1)[:, :levels], dense)


def test_the_scheme_follows_the_alphabet_and_the_head():
  def scheme(levels, head_kind):
    model = arm.models.create("wavenet", event_shape=(8,), num_levels=levels, size="tiny",
                              head_kind=head_kind)
    return compression.coding_scheme(model)

  assert scheme(65536, "logistic_mixture") == (compression.SCHEME_BLOCKS, 256)
  assert scheme(256, "logistic_mixture") == (compression.SCHEME_DENSE, 0)
  assert scheme(65536, "categorical") == (compression.SCHEME_DENSE, 0)  # no block masses


@pytest.fixture(scope="module")
def wavenet16():
  """A tiny speaker- and feature-conditioned WaveNet on 16-bit levels, random parameters, and
  three generated recordings (sines plus noise) of 16, 6 and 11 samples padded to 16."""
  model = arm.models.create("wavenet", event_shape=(16,), num_levels=65536, size="tiny",
                            head_kind="logistic_mixture", num_classes=2, local_dim=3, local_hop=4)
  rng = np.random.default_rng(0)
  cond = {"label": np.array([1, 0, 1], np.int32),
          "local": rng.normal(size=(3, 4, 3)).astype(np.float32)}
  shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 16), np.int32),
                          jax.tree.map(lambda a: a[:1], cond))["params"]
  params = jax.tree.map(lambda s: (0.3 * rng.standard_normal(s.shape)).astype(s.dtype), shapes)
  t = np.arange(16)
  wave = 9000 * np.sin(2 * np.pi * t[None] * np.array([[0.05], [0.11], [0.23]]))
  x = np.clip(np.round(wave + rng.normal(0, 300, (3, 16))) + 32768, 0, 65535).astype(np.int32)
  lengths = np.array([16, 6, 11])
  return model, {"params": params}, x, cond, lengths


def test_16_bit_round_trip_with_lengths_is_exact_and_near_the_likelihood(wavenet16):
  model, variables, x, cond, lengths = wavenet16
  data = compression.compress(model, variables, x, cond, batch_size=2, lengths=lengths)
  head = compression.read_header(data)
  assert head["scheme"] == compression.SCHEME_BLOCKS
  np.testing.assert_array_equal(head["lengths"], lengths)
  y = compression.decompress(model, variables, data, cond)
  valid = np.arange(16)[None] < lengths[:, None]
  np.testing.assert_array_equal(y, np.where(valid, x, 0))
  bits = -np.asarray(arm.log_prob(model, variables, x, cond, reduce=False), np.float64) / math.log(2)
  ideal = float(bits[valid].sum())
  payload_bits = 8 * len(head["payload"])
  assert 0.99 * ideal - 32 <= payload_bits <= 1.01 * ideal + 64, (payload_bits, ideal)
  # Without lengths: every sample of the first two recordings (the same compiled step).
  full = compression.compress(model, variables, x[:2], jax.tree.map(lambda a: a[:2], cond),
                              batch_size=2)
  np.testing.assert_array_equal(
      compression.decompress(model, variables, full, jax.tree.map(lambda a: a[:2], cond)), x[:2])
  ideal = float(bits[:2].sum())
  payload_bits = 8 * len(compression.read_header(full)["payload"])
  assert 0.99 * ideal - 32 <= payload_bits <= 1.01 * ideal + 64, (payload_bits, ideal)
  # A file whose scheme byte names another scheme, or none, is refused.
  for scheme in (compression.SCHEME_DENSE, 7):
    damaged = bytearray(data)
    damaged[4] = scheme
    with pytest.raises(ValueError, match="scheme"):
      compression.decompress(model, variables, bytes(damaged), cond)


def test_bad_lengths_are_refused(wavenet16):
  model, variables, x, cond, _ = wavenet16
  for lengths, match in [(np.array([16, 6]), "shape"), (np.array([16, 0, 3]), r"\[1, 16\]"),
                         (np.array([17, 6, 3]), r"\[1, 16\]"), (np.array([1.0, 2.0, 3.0]), "int")]:
    with pytest.raises(ValueError, match=match):
      compression.compress(model, variables, x, cond, lengths=lengths)
  image = arm.models.create("pixelcnn", event_shape=(2, 2, 1), num_levels=3, size="tiny")
  with pytest.raises(ValueError, match="sequence model"):
    compression.compress(image, variables, np.zeros((1, 2, 2, 1), np.int32), lengths=[2])


def test_lengths_need_a_left_to_right_order():
  model = arm.models.create("eonade", event_shape=(5,), num_levels=2, size="tiny",
                            num_orderings=3)
  shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 5), np.int32))["params"]
  variables = {"params": jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)}
  with pytest.raises(ValueError, match="left to right"):
    compression.compress(model, variables, np.zeros((4, 5), np.int32), lengths=[5, 2, 3, 4])


def test_a_block_the_model_thinks_impossible_still_codes(wavenet16):
  """Levels whose probabilities all underflow to 0 (a block ~1e-38 away from the mixture) get a
  uniform second stage, the same on both sides, instead of a NaN."""
  model = wavenet16[0]
  head = model.head
  k = head.num_components
  raw = np.zeros((2, head.num_params), np.float32)
  raw[:, k:2 * k] = -1.0        # every component at level 0
  raw[:, 2 * k:3 * k] = -7.0    # the narrowest scale
  blocks = np.array([255, 0], np.int32)
  probs = np.asarray(compression.second_stage(model, jnp.asarray(raw), jnp.asarray(blocks), 256))
  np.testing.assert_array_equal(probs[0], np.full(256, 1 / 256, np.float32))
  assert probs[1, 0] > 0.5 and abs(probs[1].sum() - 1) < 1e-5
  counts = compression.quantize(probs)
  assert (counts >= 1).all()
