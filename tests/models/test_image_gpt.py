"""Image GPT: the orderings, the rules of docs/design.md section 6 under each ordering, and its options.

1. normalisation over every input of a tiny event space (each ordering, the softmax and the
   logistic-mixture heads, a sequence);
2. causality in the model's order (perturbing the elements at and after step t of the ordering);
3. decode-path conditionals (teacher-forced along the ordering) equal the full pass, and cached ==
   naive samples, with a prefix kept in the ordering;
4. sample frequencies follow exp(log_prob) (chi-square at a fixed seed).
(5, the heads against float64, is in tests/distributions.)
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax.models.image_gpt import ORDERINGS, ordering

import model_checks  # noqa: E402  (tests/models/conftest.py puts it on sys.path)


@functools.lru_cache(maxsize=None)
def _init(shape, levels, **overrides):
  model = arm.models.create("image_gpt", event_shape=shape, num_levels=levels, size="tiny",
                            **overrides)
  return model, arm.init(model, jax.random.key(0))


def _model(shape, levels, scale=2.0, **overrides):
  """A tiny model and its initial variables times ``scale`` (2: far from uniform)."""
  model, variables = _init(shape, levels, **overrides)
  return model, model_checks.scaled(variables, scale)


def _inputs(model, num=3, seed=1):
  rng = np.random.default_rng(seed)
  return rng.integers(0, model.num_levels, size=(num,) + model.event_shape).astype(np.int32)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 2, 1), (3, 5, 2), (5, 3, 3), (4, 4, 1), (1, 6, 1)])
@pytest.mark.parametrize("name", ORDERINGS)
def test_orderings_are_permutations_with_whole_pixels(name, shape):
  order = ordering(name, shape)
  height, width, channels = shape
  assert order.dtype == np.int32 and sorted(order.tolist()) == list(range(height * width * channels))
  # The channels of a pixel follow each other, R then G then B.
  by_pixel = order.reshape(-1, channels)
  np.testing.assert_array_equal(by_pixel % channels,
                                np.broadcast_to(np.arange(channels), by_pixel.shape))
  assert (by_pixel // channels == by_pixel[:, :1] // channels).all()
  rows, cols = divmod(by_pixel[:, 0] // channels, width)
  if name == "zigzag":  # anti-diagonals in turn, each one walked in the other direction
    diagonal = rows + cols
    assert (np.diff(diagonal) >= 0).all()
    for k in range(height + width - 1):
      along = rows[diagonal == k]
      assert (np.diff(along) == (-1 if k % 2 == 0 else 1)).all()
  if name == "snake":  # row by row, even rows left to right, odd rows right to left
    assert (np.diff(rows) >= 0).all()
    np.testing.assert_array_equal(cols, [c if r % 2 == 0 else width - 1 - c
                                         for r, c in zip(rows, np.tile(np.arange(width), height))])


def test_zigzag_is_the_jpeg_scan():
  # (0,0) (0,1) (1,0) (2,0) (1,1) (0,2) (1,2) (2,1) (2,2), as JPEG scans a 3x3 corner.
  assert ordering("zigzag", (3, 3, 1)).tolist() == [0, 1, 3, 6, 4, 2, 5, 7, 8]
  assert ordering("snake", (2, 2, 2)).tolist() == [0, 1, 2, 3, 6, 7, 4, 5]
  assert ordering("raster", (5,)).tolist() == [0, 1, 2, 3, 4]


# Every ordering on one image shape where the three differ (zigzag: pixels 0 1 2 4 3 5; snake:
# 0 1 3 2 4 5), 3 levels (729 inputs, the softmax head). The channels of a pixel are tested above.
IMAGE = ((3, 2, 1), 3)
SEQUENCE = ((4,), 3)


@pytest.mark.parametrize("shape,levels,overrides", [
    IMAGE + (dict(ordering="raster", num_heads=1),),
    IMAGE + (dict(ordering="zigzag"),),
    IMAGE + (dict(ordering="snake"),),
    SEQUENCE + (dict(head_kind="logistic_mixture"),),  # a sequence, the discretized logistic mixture
])
def test_normalisation_over_every_input(shape, levels, overrides):
  model, variables = _model(shape, levels, **overrides)
  probs = model_checks.check_normalisation(model, variables)
  assert probs.max() > 3.0 / len(probs)  # far from uniform, so the check bites


def _image_model(name, scale=2.0):
  return _model(*IMAGE, scale=scale, **(dict(num_heads=1) if name == "raster" else {}),
                ordering=name)


@pytest.mark.parametrize("name", ORDERINGS)
def test_causality_in_the_ordering(name):
  model, variables = _image_model(name)
  model_checks.check_causality(model, variables, num=3, order=model.order)


def test_causality_check_catches_a_wrong_order():
  """A zigzag model is not causal in raster order: on a 3x2 image its pixel (1, 1) is visited
  after (2, 0), which raster order puts after it, so the raster check fails."""
  model, variables = _image_model("zigzag")
  with pytest.raises(AssertionError):
    model_checks.check_causality(model, variables, num=3)


@pytest.mark.parametrize("name", ORDERINGS)
def test_cached_conditionals_equal_full_pass(name):
  model, variables = _image_model(name, scale=1.0)
  model_checks.check_cached_equals_full(model, variables, _inputs(model), order=model.order)


@pytest.mark.parametrize("name", ORDERINGS)
def test_cached_sampling_equals_naive(name):
  model, variables = _image_model(name)
  model_checks.check_cached_sampling_equals_naive(model, variables, order=model.order)


def test_sample_frequencies_follow_the_model():
  model, variables = _image_model("zigzag")
  model_checks.check_sample_frequencies(model, variables)


def test_sequence_clones_share_parameters():
  """A shorter clone of a sequence model (the CLI's --length) gives the same conditionals."""
  model, variables = _model(*SEQUENCE, head_kind="logistic_mixture")
  x = _inputs(model)
  short = model.clone(event_shape=(3,))
  full = np.asarray(arm.log_prob(model, variables, x, reduce=False))
  np.testing.assert_allclose(np.asarray(arm.log_prob(short, variables, x[:, :3], reduce=False)),
                             full[:, :3], atol=1e-5)
  with pytest.raises(ValueError, match="max_length"):
    arm.log_prob(model.clone(event_shape=(5,)), variables, np.zeros((1, 5), np.int32))


def test_dropout_only_in_training():
  model, variables = _model(*SEQUENCE, head_kind="logistic_mixture")
  x = _inputs(model)
  dropping = model.clone(dropout_rate=0.5)
  apply = jax.jit(lambda m, v, x, key, train: m.apply(v, x, train=train, rngs={"dropout": key}),
                  static_argnums=(0, 4))
  plain = np.asarray(apply(model, variables, x, jax.random.key(1), True))  # no dropout at rate 0
  np.testing.assert_array_equal(np.asarray(apply(dropping, variables, x, jax.random.key(1), False)),
                                plain)
  dropped = np.asarray(apply(dropping, variables, x, jax.random.key(1), True))
  assert np.abs(dropped - plain).max() > 1e-3


@pytest.mark.parametrize("shape,overrides,match", [
    ((4,), dict(ordering="zigzag"), "ordering 'raster' for a sequence"),
    ((2, 2, 1), dict(ordering="spiral"), "ordering in"),
    ((2, 2, 1), dict(width=10, num_heads=3), "divisible by num_heads"),
    ((2, 2, 1), dict(head_kind="gaussian"), "head_kind in"),
    ((2, 2, 1), dict(max_length=8), "max_length 0"),
    ((4,), dict(max_length=3), "max_length 0"),
])
def test_bad_options_raise(shape, overrides, match):
  with pytest.raises(ValueError, match=match):
    arm.models.create("image_gpt", event_shape=shape, num_levels=3, size="tiny", **overrides)
