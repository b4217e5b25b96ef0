"""Storage types of shipped parameters (``armodels_jax/param_storage.py``): the stored model is the one
every reader evaluates, and the file is smaller."""

import base64
import importlib.util
import math
import os
import shutil

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax import checkpointing
from armodels_jax import inference
from armodels_jax import param_storage
from armodels_jax import pretrained
from armodels_jax import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "experiments", "configs", "made_digits.py")
WIDTH = 512  # Wide enough that the arrays, not orbax's metadata, make most of the file.


def _tree():
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(6, 5)).astype(np.float32)
  kernel[:, 2] = 0.0  # A unit no input reaches: its scale must not divide by zero.
  return {"dense": {"kernel": kernel, "bias": rng.normal(size=5).astype(np.float32)},
          "conv": rng.normal(size=(3, 3, 2, 4)).astype(np.float32)}


def test_bfloat16_is_the_rounded_weights_read_back_exactly():
  params = _tree()
  abstract = {"dense": {"kernel": jnp.zeros((6, 5)), "bias": jnp.zeros(5)}, "conv": jnp.zeros((3, 3, 2, 4))}
  stored = param_storage.encode(params, "bfloat16")
  assert stored["dense"]["kernel"].dtype == ml_dtypes.bfloat16
  assert stored["dense"]["bias"].dtype == np.float32  # vectors stay float32
  back = param_storage.decode(stored, abstract, "bfloat16")
  expected = params["dense"]["kernel"].astype(ml_dtypes.bfloat16).astype(np.float32)
  np.testing.assert_array_equal(np.asarray(back["dense"]["kernel"]), expected)
  np.testing.assert_array_equal(np.asarray(back["dense"]["bias"]), params["dense"]["bias"])
  assert back["conv"].dtype == jnp.float32
  # Round to nearest with 8 significant bits: a relative error of at most 2^-8.
  assert np.all(np.abs(np.asarray(back["conv"]) - params["conv"]) <= 2.0 ** -8 * np.abs(params["conv"]))


def test_int8_per_output_unit_scales():
  params = _tree()
  abstract = {"dense": {"kernel": jnp.zeros((6, 5)), "bias": jnp.zeros(5)}, "conv": jnp.zeros((3, 3, 2, 4))}
  stored = param_storage.encode(params, "int8")
  q, scale = stored["dense"]["kernel"]["int8"], stored["dense"]["kernel"]["scale"]
  assert q.dtype == np.int8 and q.shape == (6, 5) and scale.shape == (5,) and scale.dtype == np.float32
  assert stored["conv"]["scale"].shape == (4,)
  # Each unit's largest weight is stored as +-127; the silent unit as zeros.
  np.testing.assert_array_equal(np.max(np.abs(q[:, [0, 1, 3, 4]]), axis=0), 127)
  np.testing.assert_array_equal(q[:, 2], 0)
  back = param_storage.decode(stored, abstract, "int8")
  kernel = np.asarray(back["dense"]["kernel"])
  np.testing.assert_array_equal(kernel, q.astype(np.float32) * scale[None, :])
  assert np.all(np.abs(kernel - params["dense"]["kernel"]) <= scale[None, :] / 2 * (1 + 1e-6))
  np.testing.assert_array_equal(kernel[:, 2], 0.0)
  np.testing.assert_array_equal(np.asarray(back["dense"]["bias"]), params["dense"]["bias"])
  # Stored again, the read-back weights give the same integers and scales.
  again = param_storage.encode({"dense": {"kernel": kernel, "bias": params["dense"]["bias"]},
                                "conv": np.asarray(back["conv"])}, "int8")
  np.testing.assert_array_equal(again["dense"]["kernel"]["int8"], q)


def test_storage_refuses_bad_input():
  with pytest.raises(ValueError, match=r"storage type among .*got 'int4'"):
    param_storage.encode(_tree(), "int4")
  bad = _tree()
  bad["dense"]["kernel"][0, 0] = np.nan
  with pytest.raises(ValueError, match="finite"):
    param_storage.encode(bad, "int8")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
  """A folder of shipped checkpoints: one tiny MADE run exported as float32, bfloat16 and int8."""
  cfg = training.load_config(CONFIG + ":tiny", ["train.sample_every=0",
                                                f"model.overrides.hidden_sizes=({WIDTH},)"])
  root = tmp_path_factory.mktemp("storage")
  training.train_and_evaluate(cfg, str(root / "run"))
  for kind in param_storage.TYPES:
    pretrained.export(str(root / "run"), str(root / "shipped" / kind), storage=kind)
  return root / "shipped"


def _params_bytes(path) -> int:
  folder = os.path.join(path, checkpointing.PARAMS_DIR)
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


@pytest.mark.parametrize("kind, most", [("bfloat16", 0.6), ("int8", 0.35)])
def test_exported_in_a_smaller_type_loads_as_stored(shipped, monkeypatch, kind, most):
  monkeypatch.setenv("ARMODELS_PRETRAINED", str(shipped))
  full, small = pretrained.manifest("float32"), pretrained.manifest(kind)
  assert "param_storage" not in full and small["param_storage"] == kind
  assert "storage.json" in small["files"] and "storage.json" not in full["files"]
  assert _params_bytes(shipped / kind) < most * _params_bytes(shipped / "float32")

  model, variables = pretrained.load(kind)  # sha256 of every file checked, storage.json included
  ref_model, ref_vars = pretrained.load("float32")
  assert model == ref_model
  # The parameters read are the float32 ones stored and read back, bit for bit, and not the float32.
  expected = {"params": param_storage.decode(param_storage.encode(ref_vars["params"], kind),
                                             ref_vars["params"], kind)}
  got, want, full_precision = (np.concatenate([np.ravel(a) for a in jax.tree.leaves(v)])
                               for v in (variables, expected, ref_vars))
  assert got.dtype == np.float32
  np.testing.assert_array_equal(got, want)
  assert not np.array_equal(got, full_precision)
  x = np.random.default_rng(1).integers(0, 2, (8,) + model.event_shape)
  np.testing.assert_array_equal(np.asarray(arm.log_prob(model, variables, x)),
                                np.asarray(arm.log_prob(ref_model, expected, x)))


def test_int8_checkpoint_without_its_storage_record_is_refused(shipped, tmp_path):
  copy = tmp_path / "int8"
  shutil.copytree(shipped / "int8", copy)
  os.remove(copy / "storage.json")
  with pytest.raises(ValueError, match="storage.json is missing"):
    inference.load(str(copy))
  os.remove(copy / "manifest.json")  # nothing lists the files: the arrays no longer match the model
  with pytest.raises(ValueError, match=r"\['kernel'\] .* is not stored"):
    inference.load(str(copy))


def test_make_pretrained_measures_the_stored_model(shipped, tmp_path, monkeypatch):
  """``make_pretrained.py --storage int8``: the manifest's NLL and check record are the stored model's
  (as ``arm.pretrained.load`` gives it), and the float32 cost is recorded beside them."""
  spec = importlib.util.spec_from_file_location(
      "make_pretrained", os.path.join(REPO, "experiments", "make_pretrained.py"))
  make_pretrained = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(make_pretrained)
  monkeypatch.setenv("ARMODELS_PRETRAINED", str(tmp_path))
  index = pretrained.write_index
  monkeypatch.setattr(pretrained, "write_index", lambda root=None: index(root, str(tmp_path / "index.json")))
  run = str(shipped.parent / "run")
  assert make_pretrained.main(["--workdir", run, "--name", "small", "--config", CONFIG, "--storage", "int8",
                               "--runs-root", str(shipped.parent)]) == 0
  info = pretrained.manifest("small")
  assert info["param_storage"] == "int8"
  model, variables = pretrained.load("small")
  check = info["check"]
  if "x_bits_b64" in check:  # binary data, bit-packed
    x = np.unpackbits(np.frombuffer(base64.b64decode(check["x_bits_b64"]), np.uint8))
  else:  # a byte per element
    x = np.frombuffer(base64.b64decode(check["x_bytes_b64"]), np.uint8)
  x = x[:len(check["nll_nats"]) * math.prod(model.event_shape)].reshape((-1,) + model.event_shape)
  np.testing.assert_allclose(-np.asarray(arm.log_prob(model, variables, x.astype(np.int32))),
                             check["nll_nats"], rtol=1e-6)
  first = info["valid_first500_nll_nats"] if "valid_first500_nll_nats" in info else info["test_first500_nll_nats"]
  reference = info.get("valid_first500_nll_nats_float32", info.get("test_first500_nll_nats_float32"))
  assert info["param_storage_cost_nats"] == pytest.approx(first - reference, abs=1e-9)
