"""The shared image output layer: channel autoregression, decode == full, normalisation."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from armodels_jax.distributions import Bernoulli, Categorical
from armodels_jax.distributions.logistic_mixture import DiscretizedLogisticMixture
from armodels_jax.models.image_output import IMAGE_HEADS, ChannelOutput, image_head

FEATURES = 6

# (head_kind, num_levels, channels, hidden)
CONFIGS = [
    ("auto", 2, 1, 0),
    ("bernoulli", 2, 3, 0),
    ("categorical", 3, 3, 0),
    ("categorical", 3, 3, 5),
    ("logistic_mixture", 4, 3, 0),
    ("logistic_mixture", 3, 3, 4),
    ("logistic_mixture", 4, 1, 0),
]


def _build(kind, levels, channels, hidden, seed=0):
  """The layer, x2-scaled variables (far from uniform), and a jitted full pass."""
  out = ChannelOutput(kind, levels, channels, num_components=3, hidden=hidden, name="output")
  h0 = jnp.zeros((1, 1, 1, FEATURES))
  x0 = jnp.zeros((1, 1, 1, channels), jnp.int32)
  variables = out.init(jax.random.key(seed), h0, x0)
  variables = jax.tree.map(lambda p: 2.0 * p, variables)
  full = jax.jit(lambda v, h, x: out.apply(v, h, x))
  return out, variables, full


def test_image_head_choices():
  assert image_head("auto", 2, 1, 5) == Bernoulli()
  assert image_head("auto", 2, 3, 5) == Categorical(2)
  assert image_head("auto", 256, 1, 5) == Categorical(256)
  assert image_head("bernoulli", 2, 3, 5) == Bernoulli()
  assert image_head("logistic_mixture", 256, 3, 10) == DiscretizedLogisticMixture(256, 10, 3)
  assert set(IMAGE_HEADS) == {"auto", "bernoulli", "categorical", "logistic_mixture"}
  with pytest.raises(ValueError, match="logistic_mixture"):
    image_head("softmax", 4, 1, 5)
  with pytest.raises(ValueError, match="num_levels=2, got 4"):
    image_head("bernoulli", 4, 1, 5)
  with pytest.raises(ValueError, match="num_components >= 1, got 0"):
    image_head("logistic_mixture", 4, 1, 0)
  with pytest.raises(ValueError, match="num_levels >= 2, got 1"):
    image_head("categorical", 1, 1, 5)
  with pytest.raises(ValueError, match="channels >= 1, got 0"):
    image_head("categorical", 4, 0, 5)


def test_bad_shapes_raise():
  out, variables, _ = _build("categorical", 3, 3, 0)
  with pytest.raises(ValueError, match=r"got h \(2, 2, 2, 6\) and x \(2, 2, 2, 1\)"):
    out.apply(variables, jnp.zeros((2, 2, 2, FEATURES)), jnp.zeros((2, 2, 2, 1), jnp.int32))
  with pytest.raises(ValueError, match="rank 2"):
    out.apply(variables, jnp.zeros((2, 2, FEATURES)), jnp.zeros((2, 2, 3), jnp.int32), 0,
              method=out.decode)
  with pytest.raises(ValueError, match="hidden >= 0, got -1"):
    _build("categorical", 3, 3, -1)


@pytest.mark.parametrize("kind,levels,channels,hidden", CONFIGS)
def test_channel_autoregression(np_rng, kind, levels, channels, hidden):
  """Channel c's raw ignores x[..., c:] and (for C > 1) depends on x[..., :c]."""
  out, variables, full = _build(kind, levels, channels, hidden)
  head = image_head(kind, levels, channels, 3)
  h = jnp.asarray(np_rng.normal(size=(2, 2, 3, FEATURES)), jnp.float32)
  x = np_rng.integers(0, levels, size=(2, 2, 3, channels))
  raw = np.asarray(full(variables, h, jnp.asarray(x)))
  assert raw.shape == (2, 2, 3, channels, head.num_params)
  for c in range(channels):
    after = x.copy()
    after[..., c:] = (x[..., c:] + 1) % levels
    np.testing.assert_array_equal(np.asarray(full(variables, h, jnp.asarray(after)))[..., c, :],
                                  raw[..., c, :])
    if c > 0:
      before = x.copy()
      before[..., :c] = (x[..., :c] + 1) % levels
      moved = np.asarray(full(variables, h, jnp.asarray(before)))[..., c, :]
      assert np.abs(moved - raw[..., c, :]).max() > 1e-3
  # pixels do not mix: h at one pixel changes only that pixel's raw
  h2 = h.at[0, 1, 2].add(1.0)
  diff = np.abs(np.asarray(full(variables, h2, jnp.asarray(x))) - raw).max(axis=(-2, -1))
  assert diff[0, 1, 2] > 1e-3
  diff[0, 1, 2] = 0.0
  assert np.all(diff == 0.0)


@pytest.mark.parametrize("kind,levels,channels,hidden", CONFIGS)
def test_decode_equals_full(np_rng, kind, levels, channels, hidden):
  """decode(h_ij, pixel with channels >= c zeroed, c) == the full pass, c traced."""
  out, variables, full = _build(kind, levels, channels, hidden)
  h = jnp.asarray(np_rng.normal(size=(2, 2, 3, FEATURES)), jnp.float32)
  x = np_rng.integers(0, levels, size=(2, 2, 3, channels))
  raw = np.asarray(full(variables, h, jnp.asarray(x)))
  decode = jax.jit(lambda v, h_ij, pixel, c: out.apply(v, h_ij, pixel, c, method=out.decode))
  for i, j, c in itertools.product(range(2), range(3), range(channels)):
    pixel = np.where(np.arange(channels) < c, x[:, i, j], 0)  # the sampler's canvas
    got = np.asarray(decode(variables, h[:, i, j], jnp.asarray(pixel), jnp.int32(c)))
    np.testing.assert_allclose(got, raw[:, i, j, c], atol=1e-6, rtol=1e-6)


def _pixel_totals(head, raw, xs):
  """Sum over every pixel value of prod_c p(x_c | x_<c): raw [N, 1, 1, C, P], xs [N, 1, 1, C]."""
  logp = np.asarray(head.log_prob(raw, xs), np.float64).sum(axis=(1, 2, 3))
  return np.exp(logp).sum()


@pytest.mark.parametrize("kind,levels,channels,hidden", CONFIGS)
def test_pixel_distribution_is_normalised(np_rng, kind, levels, channels, hidden):
  out, variables, full = _build(kind, levels, channels, hidden)
  head = image_head(kind, levels, channels, 3)
  xs = np.array(list(itertools.product(range(levels), repeat=channels)))
  xs = jnp.asarray(xs.reshape(-1, 1, 1, channels))  # every pixel value
  for _ in range(2):
    h = np_rng.normal(size=(1, 1, 1, FEATURES)).astype(np.float32)
    h = jnp.asarray(np.repeat(h, len(xs), axis=0))
    raw = full(variables, h, xs)
    np.testing.assert_allclose(_pixel_totals(head, raw, xs), 1.0, atol=1e-5)
    if kind == "categorical":
      # the check bites: a channel that peeks at its own value breaks the sum
      peek = raw.at[..., 0, :].add(3.0 * jax.nn.one_hot(xs[..., 0], levels))
      assert abs(_pixel_totals(head, peek, xs) - 1.0) > 1e-2
