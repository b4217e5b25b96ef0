"""Lossless compression (armodels_jax.compression): bit-exact round trips for every registry model
with a cached decode path, code lengths near -log2 p(x), and clear errors for a wrong model, a wrong
cond or a damaged file."""

import functools
import math

import jax
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax import compression

SEQUENCES = ("char_rnn", "wavenet")
VECTORS = ("eonade", "fvsbn", "nade", "nade_k")
# name -> (event_shape, num_levels, overrides) for the round trip; images get (2, 3, 1) with 3 levels.
SPECIAL = {
    "pixelcnn_pp": ((2, 2, 3), 5, {}),                   # logistic mixture with channel autoregression
    "eonade": ((5,), 2, dict(num_orderings=3)),          # an ordering per example from the plan
    "nade_k": ((5,), 2, dict(num_orderings=1)),          # one ordering: log_prob(reduce=False)
    # logistic mixture on a sequence; class-conditional (the cond tests reuse its compiled step)
    "wavenet": ((7,), 6, dict(head_kind="logistic_mixture", num_classes=3)),
}
COND = {"wavenet": np.array([0, 2, 1, 1, 0], np.int32)}


def _spec(name):
  if name in SPECIAL:
    return SPECIAL[name]
  if name in SEQUENCES:
    return (7,), 5, {}
  if name in VECTORS:
    return (5,), 2, {}
  return (2, 3, 1), 3, {}


def _decode_models():
  found = []
  for name in arm.models.names():
    shape, levels, kw = _spec(name)
    if name == "rnade":
      continue
    model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny", **kw)
    if model.has_decode:
      found.append(name)
  return found


CODED = _decode_models()


@functools.lru_cache(maxsize=None)
def _model(name, seed=3):
  """One model and variables per name for the whole module, so tests share compiled steps."""
  shape, levels, kw = _spec(name)
  model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny", **kw)
  # Random normal parameters of the right shapes: arm.init would compile each model's
  # initialisers (half a minute for PixelCNN++ on a CPU). Weights of this scale make the
  # conditionals far from uniform, so a coder that ignored them would show.
  cond = None if name not in COND else COND[name][:1]
  shapes = jax.eval_shape(model.init, jax.random.key(0),
                          np.zeros((1,) + model.event_shape, np.int32), cond)["params"]
  rng = np.random.default_rng(seed)
  params = jax.tree.map(lambda s: (0.5 * rng.standard_normal(s.shape)).astype(s.dtype), shapes)
  return model, {"params": params}


def _data(model):
  return np.random.default_rng(0).integers(
      0, model.num_levels, size=(5,) + model.event_shape).astype(np.int32)


def test_every_decodable_discrete_model_is_covered():
  # The registry's decode-path models (the issue: all of them), at least these.
  assert {"pixelcnn", "pixelcnn_pp", "gated_pixelcnn", "pixelsnail", "row_lstm", "char_rnn",
          "wavenet", "fvsbn", "nade", "eonade", "made"} <= set(CODED)


@pytest.mark.parametrize("name", CODED)
def test_round_trip_is_bit_exact_and_near_the_likelihood(name):
  model, variables = _model(name)
  x, cond = _data(model), COND.get(name)
  data = compression.compress(model, variables, x, cond, batch_size=3)  # 2 chunks, the last padded
  y = compression.decompress(model, variables, data, cond)
  assert y.dtype == np.int32 and y.shape == x.shape
  np.testing.assert_array_equal(y, x)
  payload_bits = 8 * len(compression.read_header(data)["payload"])
  if name != "eonade":  # EoNADE's log_prob averages orderings; the code uses one per example
    bits = -np.asarray(arm.log_prob(model, variables, x, cond, reduce=False),
                       np.float64) / math.log(2)
    # A level keeps at least one count of 2**24, so no symbol costs more than 24 bits.
    ideal = float(np.minimum(bits, compression.PRECISION).sum())
    # The range coder's flush costs at most two 32-bit words; quantisation a fraction of a percent.
    assert 0.99 * ideal - 32 <= payload_bits <= 1.01 * ideal + 64, (payload_bits, ideal)


@pytest.fixture(scope="module")
def coded():
  model, variables = _model("pixelcnn")  # the round trip's model and shapes: its compiled step
  x = _data(model)
  return model, variables, x, compression.compress(model, variables, x, batch_size=3)


def test_header_describes_the_file(coded):
  model, _, x, data = coded
  head = compression.read_header(data)
  assert head["model"] == "pixelcnn" and head["event_shape"] == model.event_shape
  assert head["count"] == len(x) and head["version"] == compression.FORMAT_VERSION
  assert head["scheme"] == compression.SCHEME_DENSE and head["lengths"] is None
  # 3 magic + 1 version + 1 scheme + 1 + 8 name + 8 fingerprint + 4 cond CRC + 7 varints + 8 CRCs.
  assert len(data) - len(head["payload"]) == 41 and head["chunk"] == 3


@pytest.mark.parametrize("where", ["payload", "count", "magic", "truncated"])
def test_damaged_file_is_rejected(coded, where):
  model, variables, _, data = coded
  damaged = bytearray(data)
  if where == "payload":
    damaged[-3] ^= 0x10
  elif where == "count":
    # count 5 -> 2: below the chunk of 3, so the header's limits refuse it before any decoding.
    damaged[len("ARM") + 3 + len("pixelcnn") + 12 + 1] ^= 0x07
  elif where == "magic":
    damaged[0] ^= 0xFF
  else:
    damaged = damaged[:-4]
  with pytest.raises(ValueError, match={  # the check that rejects each damage
      "payload": "CRC-32 does not match the header's", "truncated": "CRC-32 does not match the header's",
      "count": "header is damaged or crafted: chunk size 3 exceeds its count of 2 examples",
      "magic": r"expected an armodels compressed file \(starting b'ARM'\), got one starting b'\\xbeRM'",
  }[where]):
    compression.decompress(model, variables, bytes(damaged))


def test_wrong_model_is_rejected(coded):
  model, variables, _, data = coded
  other = jax.tree.map(lambda p: p + 1e-3, variables)
  with pytest.raises(ValueError, match="fingerprint"):
    compression.decompress(model, other, data)
  other_model, other_variables = _model("gated_pixelcnn")  # same event shape, another model
  with pytest.raises(ValueError, match="expected the model that compressed this file"):
    compression.decompress(other_model, other_variables, data)


def test_wrong_cond_is_rejected():
  model, variables = _model("wavenet")
  x, cond = _data(model), COND["wavenet"]
  data = compression.compress(model, variables, x, cond, batch_size=3)
  with pytest.raises(ValueError, match="cond"):
    compression.decompress(model, variables, data, cond[::-1].copy())
  with pytest.raises(ValueError, match="cond"):
    compression.decompress(model, variables, data, None)


@pytest.mark.parametrize("name,shape,levels", [("rnade", (3,), None), ("made", (4,), 2)])
def test_models_without_discrete_decode_are_refused(name, shape, levels, monkeypatch):
  model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny")
  if levels is not None:  # every discrete registry model decodes: a model class that does not
    monkeypatch.setattr(type(model), "has_decode", False)
  variables = arm.init(model, jax.random.key(0))
  x = np.zeros((1,) + shape, np.float32 if levels is None else np.int32)
  with pytest.raises(ValueError, match="real-valued" if levels is None else "decode path"):
    compression.compress(model, variables, x)


def test_bad_input_is_refused(coded):
  model, variables, _, _ = coded
  with pytest.raises(ValueError, match=r"values in \[0, 3\)"):
    compression.compress(model, variables, np.full((1, 2, 3, 1), 3, np.int32))
  with pytest.raises(ValueError, match="bytes"):
    compression.decompress(model, variables, "not bytes")


def test_quantize_is_deterministic_and_keeps_every_level():
  rng = np.random.default_rng(0)
  probs = rng.dirichlet(np.full(7, 0.1), size=50).astype(np.float32)
  probs[0] = [1, 0, 0, 0, 0, 0, 0]
  counts = compression.quantize(probs)
  assert counts.dtype == np.int64 and (counts >= 1).all()
  np.testing.assert_array_equal(counts.sum(-1), 1 << compression.PRECISION)
  np.testing.assert_array_equal(counts, compression.quantize(probs.copy()))
  # Proportional up to the floors and the one-count minimum.
  q = counts / float(1 << compression.PRECISION)
  np.testing.assert_allclose(q, probs / probs.sum(-1, keepdims=True), atol=1e-6)
  with pytest.raises(ValueError, match="NaN"):
    compression.quantize(np.array([[0.5, np.nan]], np.float32))


def test_public_names():
  assert arm.compress is compression.compress and arm.decompress is compression.decompress


def test_other_conditionals_fail_the_checksum(coded, monkeypatch):
  """A decoder whose conditionals differ from the encoder's (another backend or library version)
  raises ValueError instead of returning wrong data."""
  model, variables, _, data = coded
  exact = compression.quantize

  def shifted(probs, precision=compression.PRECISION):
    counts = exact(probs, precision)
    big = np.argmax(counts, -1)
    rows = np.arange(len(counts))
    moved = counts[rows, big] // 4
    counts[rows, big] -= moved
    counts[rows, (big + 1) % counts.shape[1]] += moved
    return counts

  monkeypatch.setattr(compression.coder, "quantize", shifted)
  with pytest.raises(ValueError, match="checksum"):
    compression.decompress(model, variables, data)
