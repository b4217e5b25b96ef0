"""PixelRNN Row LSTM and Diagonal BiLSTM: the rules of docs/design.md section 6 and the
receptive fields of section 3.1-3.2 of van den Oord et al. 2016.

* normalisation over every input of (2, 2, 1) with 3 levels and (2, 1, 3) with 2 levels;
* causality in raster order;
* cached-step conditionals equal the full pass, cached == naive samples;
* sample frequencies (chi-square);
* receptive fields: the Row LSTM sees the paper's triangle above the pixel (computed here
  independently from the layer structure), the Diagonal BiLSTM the whole context.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax.models import pixelrnn  # (registration, until the lead wires it)

import model_checks  # noqa: E402

NAMES = ("row_lstm", "diagonal_bilstm")


class _Jitted:
  """A model whose ``apply`` is jitted (one compile per test instead of eager scans), for
  the checks that call ``model.apply`` many times; other attributes are the model's."""

  def __init__(self, model):
    self._model = model
    self._apply = jax.jit(lambda variables, x: model.apply(variables, x))

  def __getattr__(self, name):
    return getattr(self._model, name)

  def apply(self, variables, x, cond=None):
    assert cond is None
    return self._apply(variables, jnp.asarray(x))


def _model(name, shape, levels, scale=2.0, seed=3, **overrides):
  model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny", **overrides)
  variables = model_checks.scaled(arm.init(model, jax.random.key(seed)), scale)
  return model, variables


@pytest.mark.parametrize("name,shape,levels,overrides", [
    ("row_lstm", (2, 2, 1), 3, {}),
    ("diagonal_bilstm", (2, 2, 1), 3, {}),
    ("row_lstm", (2, 1, 3), 2, dict(num_layers=2)),
    ("diagonal_bilstm", (2, 1, 3), 2, dict(num_layers=2)),
])
def test_normalisation(name, shape, levels, overrides):
  model, variables = _model(name, shape, levels, **overrides)
  probs = model_checks.check_normalisation(model, variables)
  assert probs.max() > 3.0 / len(probs)  # far from uniform: the check bites


@pytest.mark.parametrize("name", NAMES)
def test_causality(name):
  """RGB, two layers (the receptive-field tests below check grey images pixel by pixel)."""
  model, variables = _model(name, (2, 2, 3), 2, num_layers=2)
  model_checks.check_causality(_Jitted(model), variables)


@pytest.mark.parametrize("name,shape,levels,overrides", [
    ("row_lstm", (2, 2, 1), 3, dict(kernel=5, first_kernel=5)),
    ("row_lstm", (3, 4, 1), 2, dict(num_layers=2)),
    ("row_lstm", (2, 3, 3), 4, dict(num_layers=2, head_kind="logistic_mixture")),
    # Three rows of three columns: the right-to-left pass of a whole row above, twice.
    ("diagonal_bilstm", (3, 3, 3), 4, dict(num_layers=2, head_kind="logistic_mixture")),
])
def test_cached_equals_full(name, shape, levels, overrides):
  model, variables = _model(name, shape, levels, **overrides)
  x = np.random.default_rng(1).integers(0, levels, (3,) + shape).astype(np.int32)
  model_checks.check_cached_equals_full(model, variables, x)


@pytest.mark.parametrize("name,shape,levels", [
    ("row_lstm", (2, 3, 1), 3), ("row_lstm", (2, 2, 3), 2), ("diagonal_bilstm", (3, 4, 1), 2)])
def test_cached_sampling_equals_naive(name, shape, levels):
  model, variables = _model(name, shape, levels, num_layers=2)
  model_checks.check_cached_sampling_equals_naive(model, variables)


@pytest.mark.parametrize("name,layer,method,slot", [
    ("row_lstm", pixelrnn.RowLSTMLayer, "_decode", "hidden"),
    ("diagonal_bilstm", pixelrnn.DiagonalLSTM, "_row_above", "states"),
])
def test_exactness_check_rejects_a_forgetful_decoder(monkeypatch, name, layer, method, slot):
  """The check above can fail: a decoder that loses the previous row's hidden states
  after every step (Row LSTM; the Diagonal BiLSTM's right-to-left states of the row above)
  disagrees with the full pass (a configuration no other test uses, so no compiled decoder
  is shared)."""
  shape = (3, 2, 1)
  model, variables = _model(name, shape, 3, output_features=13)
  x = np.random.default_rng(2).integers(0, 3, (2,) + shape).astype(np.int32)
  original = getattr(layer, method)

  def forgetful(self, *args):
    out = original(self, *args)
    self.put_variable("cache", slot, jnp.zeros_like(self.get_variable("cache", slot)))
    return out

  monkeypatch.setattr(layer, method, forgetful)
  with pytest.raises(AssertionError):
    model_checks.check_cached_equals_full(model, variables, x)


@pytest.mark.parametrize("name", NAMES)
def test_sample_frequencies(name):
  model, variables = _model(name, (2, 2, 1), 3)
  model_checks.check_sample_frequencies(model, variables, num=12000)


def _row_lstm_field(height, width, i, j, kernel, first_kernel, num_layers):
  """Pixels the Row LSTM's output at (i, j) depends on, from the paper's equations.

  A layer's state h(r, c) reads its input at (r, c - k//2 .. c) and h(r - 1, c - k//2 ..
  c + k//2); the residual adds its input at (r, c); the mask-A input convolution at (r, c)
  reads the pixels of rows r - f//2 .. r - 1, columns c - f//2 .. c + f//2, and row r left
  of c. Returns ``[H, W]`` bool.
  """
  half, fhalf = kernel // 2, first_kernel // 2

  def lstm_inputs(need):  # need [H, W]: stream positions needed above the layer
    state = need.copy()  # positions whose h is needed
    for r in range(height - 1, 0, -1):  # h(r, c) needs h(r - 1, c - half .. c + half)
      for c in np.flatnonzero(state[r]):
        state[r - 1, max(c - half, 0):c + half + 1] = True
    inputs = need.copy()  # the residual
    for r, c in zip(*np.nonzero(state)):
      inputs[r, max(c - half, 0):c + 1] = True
    return inputs

  need = np.zeros((height, width), bool)
  need[i, j] = True
  for _ in range(num_layers):
    need = lstm_inputs(need)
  pixels = np.zeros_like(need)
  for r, c in zip(*np.nonzero(need)):
    pixels[max(r - fhalf, 0):r, max(c - fhalf, 0):c + fhalf + 1] = True
    pixels[r, max(c - fhalf, 0):c] = True
  return pixels


@pytest.mark.parametrize("num_layers,targets", [(1, [(2, 1), (3, 3)]), (2, [(3, 2)])])
def test_row_lstm_receptive_field_is_the_triangle(num_layers, targets):
  shape = (4, 7, 1)
  model, variables = _model("row_lstm", shape, 2, num_layers=num_layers)
  fast = _Jitted(model)
  x = np.random.default_rng(4).integers(0, 2, shape)
  for i, j in targets:
    dim = i * shape[1] + j
    seen = model_checks.influence(fast, variables, x, dim).reshape(shape[:2])
    expected = _row_lstm_field(*shape[:2], i, j, kernel=3, first_kernel=3,
                               num_layers=num_layers)
    np.testing.assert_array_equal(seen, expected)
    context = (np.arange(model.num_dims) < dim).reshape(shape[:2])
    assert (context & ~seen).any(), "the Row LSTM should not see the whole context"


@pytest.mark.parametrize("first_kernel,targets", [(3, [(1, 0), (2, 5), (3, 6)]), (5, [(2, 1)])])
def test_diagonal_bilstm_sees_the_whole_context_but_one_pixel(first_kernel, targets):
  """Every earlier pixel influences (i, j), except the last pixel of row i - 1 when it lies
  beyond the first layer's reach, ``W - 1 > j + first_kernel // 2``: that pixel enters the
  network only at row i (the mask-A window of the positions below it), and of row i a
  pixel's state sees only the columns up to j (the right-to-left states come from rows
  above). Section 3.2's "whole context" holds for the layer's input positions, and at the
  pixel level up to this one pixel (for any number of layers)."""
  shape = (4, 7, 1)
  model, variables = _model("diagonal_bilstm", shape, 2, first_kernel=first_kernel)
  fast = _Jitted(model)
  x = np.random.default_rng(4).integers(0, 2, shape)
  for i, j in targets:
    dim = i * shape[1] + j
    seen = model_checks.influence(fast, variables, x, dim).reshape(shape[:2])
    expected = (np.arange(model.num_dims) < dim).reshape(shape[:2])
    if i > 0 and shape[1] - 1 > j + first_kernel // 2:
      expected[i - 1, -1] = False
    np.testing.assert_array_equal(seen, expected)


def test_sizes_and_options():
  for name in NAMES:
    assert name in arm.models.names()
    for size in ("tiny", "small", "paper"):
      arm.models.create(name, event_shape=(2, 2, 1), num_levels=2, size=size)
    mnist = arm.models.create(name, event_shape=(28, 28, 1), num_levels=2, size="paper")
    assert (mnist.num_layers, mnist.features) == (7, 16)
    cifar = arm.models.create(name, event_shape=(32, 32, 3), num_levels=256, size="paper")
    assert (cifar.num_layers, cifar.features) == (12, 128)
  for name in NAMES:
    assert arm.models.create(name, event_shape=(2, 2, 1), num_levels=2).has_decode
  assert arm.models.create("row_lstm", event_shape=(2, 2, 1), num_levels=3).head.num_levels == 3
  assert arm.models.create("row_lstm", event_shape=(2, 2, 1), num_levels=2).head.num_params == 1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape,levels,overrides,match", [
    ((4,), 2, {}, "event_shape"),
    ((2, 2, 1), 2, dict(kernel=2), "kernel"),
    ((2, 2, 1), 2, dict(first_kernel=1), "first_kernel"),
    ((2, 2, 1), 2, dict(num_layers=-1), "num_layers"),
    ((2, 2, 1), 2, dict(features=0), "features"),
    ((2, 2, 1), 3, dict(head_kind="bernoulli"), "num_levels=2"),
    ((2, 2, 1), 3, dict(head_kind="gaussian"), "head"),
])
def test_bad_config_raises(name, shape, levels, overrides, match):
  with pytest.raises(ValueError, match=match):
    arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny", **overrides)
