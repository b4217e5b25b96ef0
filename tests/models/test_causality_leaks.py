"""The causality check of docs/design.md section 6, rule 2 (``model_checks.check_causality``) can fail.

For every model family of ``arm.models.names()``, on a tiny event space with weights far from their
initial scale, the check passes on the model as it is and raises on deliberately leaking variants:

* ``shift``: the network reads its input moved one step earlier in the model's order, so the
  conditional of step t reads x_t itself (the effect of a mask shifted by one: mask B where mask A
  belongs), and the leak goes through the family's own layers;
* ``ahead``: the first conditional gets a small multiple (0.01) of the last dimension added, as a cache
  that reads ahead would: a leak from the far future into the first step;

and on in-network leaks built by patching one piece of a family's own code for the test (the first
PixelCNN convolution with mask B instead of A; no down shift of the rows above in Gated PixelCNN and
PixelCNN++; char-RNN fed the current token instead of the previous one; FVSBN's mask with its diagonal).
The other families build their causality inline, with no piece a test can swap; the two wrappers above
cover them.

The check is used as it is, through an adapter: integer inputs of ``num_levels`` levels; RNADE
(real-valued) reads the check's integer draws as points of a grid of real values. MADE, EoNADE and
NADE-k evaluate mask set / ordering 0, the raster order the check assumes by default.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armodels_jax as arm

import model_checks  # noqa: E402  (tests/models/conftest.py puts it on sys.path)

LEAK_MESSAGE = r"a conditional at or before step \d+ saw step >= \d+"

# name -> (event_shape, num_levels, overrides): tiny, every family of arm.models.names().
FAMILIES = {
    "fvsbn": ((4,), 2, {}),
    "nan": ((4,), 2, {}),
    "nade": ((4,), 2, {}),
    "eonade": ((4,), 2, dict(num_orderings=2)),
    "nade_k": ((4,), 2, dict(num_orderings=2)),
    "rnade": ((3,), None, {}),
    "made": ((4,), 2, dict(num_masks=1)),
    "char_rnn": ((4,), 3, {}),
    "row_lstm": ((2, 2, 1), 3, {}),
    "diagonal_bilstm": ((2, 2, 1), 3, {}),
    "pixelcnn": ((2, 2, 1), 3, {}),
    "gated_pixelcnn": ((2, 2, 1), 3, {}),
    "pixelcnn_pp": ((2, 2, 1), 3, {}),
    "pixelsnail": ((2, 2, 1), 3, {}),
    "image_gpt": ((2, 2, 1), 3, {}),
    "wavenet": ((4,), 3, {}),
}
RNADE_LEVELS = 5  # RNADE's inputs: the check's integer draws 0..4 read as -1.0, -0.5, ..., 1.0


class _Adapted:
  """A model as ``check_causality`` calls it (``apply(variables, x, cond)``, integer ``x`` of
  ``num_levels`` levels); other attributes are the model's.

  The leaks are switched by ``variables["leak"]`` (``[2]``: shift, ahead; 0 or 1), an input of the one
  compiled program rather than a constant of three: with both 0 it computes ``model.apply`` of ``x``
  exactly (``where`` picks ``x``, and adding 0.0 changes no float).
  """

  def __init__(self, model):
    self._model = model
    self.num_levels = RNADE_LEVELS if model.num_levels is None else model.num_levels

  def __getattr__(self, name):
    return getattr(self._model, name)

  def apply(self, variables, x, cond=None):
    model = self._model
    assert cond is None
    shift, ahead = variables["leak"][0], variables["leak"][1]
    x = jnp.asarray(x)
    if model.num_levels is None:  # RNADE: a grid of real values
      x = x.astype(jnp.float32) / (RNADE_LEVELS - 1) * 2.0 - 1.0
    flat = x.reshape(x.shape[0], -1)  # [B, D], raster order (every family here uses it)
    # shift: step t reads x_{t+1} where it should read x_t, so conditional t sees x_t.
    moved = jnp.concatenate([flat[:, 1:], jnp.zeros_like(flat[:, :1])], axis=1)
    flat = jnp.where(shift > 0, moved, flat)
    raw = model.apply({"params": variables["params"]}, flat.reshape(x.shape))
    # ahead: the first conditional reads the last dimension.
    raw = raw.reshape(x.shape[0], model.num_dims, -1)
    return raw.at[:, 0].add(ahead * 1e-2 * flat[:, -1:].astype(raw.dtype))


LEAKS = {"none": (0.0, 0.0), "shift": (1.0, 0.0), "ahead": (0.0, 1.0)}


def _with_leak(variables, leak):
  return {"params": variables["params"], "leak": jnp.asarray(LEAKS[leak], jnp.float32)}


@functools.lru_cache(maxsize=None)
def _family(name, scale=2.0):
  shape, levels, overrides = FAMILIES[name]
  model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny", **overrides)
  variables = model_checks.scaled(arm.init(model, jax.random.key(5)), scale)
  return model, variables


def test_every_family_is_covered():
  assert set(FAMILIES) == set(arm.models.names())


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_check_passes_the_model_and_rejects_leaks(name):
  model, variables = _family(name)
  adapted = _Adapted(model)
  model_checks.check_causality(adapted, _with_leak(variables, "none"), num=3)
  for leak in ("shift", "ahead"):
    with pytest.raises(AssertionError, match=LEAK_MESSAGE):
      model_checks.check_causality(adapted, _with_leak(variables, leak), num=3)


def _pixelcnn_first_mask_b(monkeypatch):
  from armodels_jax.models import pixelcnn  # pylint: disable=g-import-not-at-top
  conv = pixelcnn.MaskedConv2D
  monkeypatch.setattr(pixelcnn, "MaskedConv2D", lambda f, k, mask_type, **kw: conv(f, k, "B", **kw))


def _no_down_shift(module_name):
  def patch(monkeypatch):
    monkeypatch.setattr(f"armodels_jax.models.{module_name}.down_shift", lambda h: h)
  return patch


def _char_rnn_reads_its_own_token(monkeypatch):
  from armodels_jax.models.char_rnn import CharRNN  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(CharRNN, "_shift", staticmethod(lambda x, first: x))


def _fvsbn_mask_with_diagonal(monkeypatch):
  def mask(num_dims, params_per_dim):  # input i feeds dimension d iff i <= d (the diagonal leaks)
    out = np.repeat(np.arange(num_dims), params_per_dim)
    return (np.arange(num_dims)[:, None] <= out[None, :]).astype(np.float32)
  monkeypatch.setattr("armodels_jax.models.fvsbn._kernel_mask", mask)


# family -> a patch of its own code that breaks its causality by one step.
IN_NETWORK_LEAKS = {
    "pixelcnn": _pixelcnn_first_mask_b,
    "gated_pixelcnn": _no_down_shift("gated_pixelcnn"),
    "pixelcnn_pp": _no_down_shift("pixelcnn_pp"),
    "char_rnn": _char_rnn_reads_its_own_token,
    "fvsbn": _fvsbn_mask_with_diagonal,
}


@pytest.mark.parametrize("name", sorted(IN_NETWORK_LEAKS))
def test_check_rejects_a_leak_inside_the_network(name, monkeypatch):
  model, variables = _family(name)
  IN_NETWORK_LEAKS[name](monkeypatch)
  with pytest.raises(AssertionError, match=LEAK_MESSAGE):
    model_checks.check_causality(_Adapted(model), _with_leak(variables, "none"), num=3)
