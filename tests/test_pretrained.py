"""Shipped checkpoints (``pretrained/``) and the export that writes them.

The files, manifests and loading are checked everywhere; the validation NLL that a manifest states is
re-measured on the first 500 validation examples (binarized-MNIST images, or the char-RNN's windows of
tiny Shakespeare) when the project's shared data folder is present (``../shared/data``), and skipped
otherwise (a user's clone has no such folder).
"""

import base64
import importlib.util
import json
import os

import jax
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax import pretrained
from armodels_jax import training
from armodels_jax.cli import eval_workdir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_DIR = os.path.join(REPO, "pretrained")
SHIPPED = sorted(n for n in os.listdir(SHIPPED_DIR)
                 if os.path.isfile(os.path.join(SHIPPED_DIR, n, pretrained.MANIFEST_FILE))
                 ) if os.path.isdir(SHIPPED_DIR) else []
BMNIST = os.path.join(REPO, "..", "shared", "data", "binarized_mnist", "binarized_mnist.npz")
SHAKESPEARE = os.path.join(REPO, "..", "shared", "data", "tiny_shakespeare", "input.txt")
MNIST8 = os.path.join(REPO, "..", "shared", "data", "mnist", "train-images-idx3-ubyte.gz")
TEXT = {"char_rnn_shakespeare"}  # shipped text models
# 8-bit MNIST (256 levels); every other shipped checkpoint is binarized MNIST
GREY = {"pixelcnn_mnist", "pixelcnn_pp_mnist"}
MAX_BYTES = 20 * 1024 * 1024
# The binarized-MNIST rows of the dense-family and image-model tables (issues: ship the best run of each).
EXPECTED = {"fvsbn_binarized_mnist", "nade_binarized_mnist", "made_1h_1mask_binarized_mnist",
            "made_1h_32masks_binarized_mnist", "made_2h_1mask_binarized_mnist",
            "made_2h_32masks_binarized_mnist", "eonade_2h_binarized_mnist", "nade_k_binarized_mnist",
            "pixelcnn_binarized_mnist", "gated_pixelcnn_binarized_mnist", "pixelcnn_pp_binarized_mnist",
            "pixelsnail_binarized_mnist", "row_lstm_binarized_mnist", "diagonal_bilstm_binarized_mnist"}


@pytest.fixture(autouse=True)
def _shipped_folder(monkeypatch):
  monkeypatch.setenv("ARMODELS_PRETRAINED", SHIPPED_DIR)


def test_every_dense_row_is_shipped():
  assert EXPECTED <= set(SHIPPED), f"missing: {sorted(EXPECTED - set(SHIPPED))}"
  assert pretrained.names() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_loads_and_matches_manifest(name):
  path = os.path.join(SHIPPED_DIR, name)
  size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
  assert size < MAX_BYTES
  info = pretrained.manifest(name)
  for key in ("config", "data", "steps", "machine", "valid_first500_nll_nats", "files"):
    assert key in info, key
  assert os.path.isfile(os.path.join(REPO, info["config"]))
  model, variables = arm.pretrained.load(name)  # verifies every sha256 first
  if name in TEXT:
    vocab = training.read_model_info(path)["info"]["vocab"]
    assert len(model.event_shape) == 1 and model.num_levels == len(vocab) and info["data"].startswith("text")
  elif name in GREY:
    assert model.event_shape == (28, 28, 1) and model.num_levels == 256
    assert info["data"].startswith("mnist (valid split)")
  else:
    assert model.event_shape == (28, 28, 1) and model.num_levels == 2
    assert info["data"].startswith("binarized_mnist")
  leaves = jax.tree.leaves(variables["params"])
  assert leaves and all(bool(np.isfinite(np.asarray(l)).all()) for l in leaves)


def _check_inputs(check: dict, model) -> np.ndarray:
  """The validation examples a manifest's ``check`` stores (experiments/make_pretrained.check_record)."""
  n = len(check["nll_nats"])
  if "x_bits_b64" in check:
    bits = np.unpackbits(np.frombuffer(base64.b64decode(check["x_bits_b64"]), np.uint8))
    flat = bits[:n * int(np.prod(model.event_shape))]
  elif "x_bytes_b64" in check:
    flat = np.frombuffer(base64.b64decode(check["x_bytes_b64"]), np.uint8)
  else:
    flat = np.asarray(check["x"])
  return flat.reshape((n,) + tuple(model.event_shape)).astype(np.int32)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_default_evaluation_gives_its_manifest_check(name):
  """What `arm.pretrained.load` and `armodels eval` compute by default (the shipped ensemble size
  included) is what the manifest states, on the examples stored in it: runs without the data."""
  check = pretrained.manifest(name)["check"]
  model, variables = arm.pretrained.load(name, check=False)
  x = _check_inputs(check, model)
  nll = -np.asarray(arm.log_prob(model, variables, x), np.float64)
  np.testing.assert_allclose(nll, check["nll_nats"], rtol=1e-4)
  # The check can fail: a different ensemble size (one ordering or one mask set) gives other numbers.
  for field in ("num_orderings", "num_masks"):
    if getattr(model, field, 1) > 1:
      one = -np.asarray(arm.log_prob(model.clone(**{field: 1}), variables, x), np.float64)
      assert np.max(np.abs(one - np.asarray(check["nll_nats"]))) > 0.05


def _strings(tree):
  if isinstance(tree, dict):
    for v in tree.values():
      yield from _strings(v)
  elif isinstance(tree, list):
    for v in tree:
      yield from _strings(v)
  elif isinstance(tree, str):
    yield tree


def test_no_shipped_file_names_a_machine_local_path():
  """Shipped files read the same on any machine: no absolute path (experiments/make_pretrained.portable)."""
  offending = []
  files = [os.path.join(d, f) for d, _, fs in os.walk(SHIPPED_DIR) for f in fs
           if f.endswith(".json") or f == "commit_success.txt"]
  files.append(pretrained.INDEX_FILE)
  assert len(files) > 2 * len(SHIPPED)
  # The results the README and BENCHMARKS.md cite (reproduce's table, the benchmarks' JSON) too.
  results = os.path.join(REPO, "experiments", "results")
  files += [os.path.join(results, f) for f in sorted(os.listdir(results)) if f.endswith(".json")]
  for path in files:
    with open(path) as f:
      text = f.read()
    values = list(_strings(json.loads(text))) if path.endswith(".json") else [text.rsplit(" to ", 1)[-1]]
    offending += [(os.path.relpath(path, REPO), v) for v in values
                  if v.startswith(("/", "~")) or (len(v) > 2 and v[1:3] == ":\\")]
  assert not offending, offending[:5]


@pytest.mark.skipif(not os.path.exists(MNIST8), reason="needs ../shared/data/mnist")
@pytest.mark.parametrize("name", sorted(GREY & set(SHIPPED)))
def test_shipped_grey_checkpoint_valid_nll_is_as_stated(name):
  import gzip  # pylint: disable=g-import-not-at-top

  with gzip.open(MNIST8, "rb") as f:  # IDX: 16-byte header, then 60,000 images; valid = the last 10,000
    raw = f.read()
  model, variables = arm.pretrained.load(name, check=False)
  valid = np.frombuffer(raw, np.uint8, offset=16 + 50_000 * 784, count=500 * 784)
  valid = valid.reshape((500,) + model.event_shape).astype(np.int32)
  nll = -float(np.mean(np.concatenate(
      [np.asarray(arm.log_prob(model, variables, valid[i:i + 100])) for i in range(0, 500, 100)])))
  assert abs(nll - pretrained.manifest(name)["valid_first500_nll_nats"]) < 0.5


@pytest.mark.skipif(not os.path.exists(BMNIST), reason="needs ../shared/data/binarized_mnist")
@pytest.mark.parametrize("name", [n for n in SHIPPED if n not in TEXT | GREY])
def test_shipped_checkpoint_valid_nll_is_as_stated(name):
  model, variables = arm.pretrained.load(name, check=False)
  valid = np.load(BMNIST)["valid"][:500].reshape((500,) + model.event_shape).astype(np.int32)
  nll = -float(np.mean(np.concatenate(
      [np.asarray(arm.log_prob(model, variables, valid[i:i + 100])) for i in range(0, 500, 100)])))
  assert abs(nll - pretrained.manifest(name)["valid_first500_nll_nats"]) < 0.5


def test_export_round_trip_and_tamper_check(tmp_path, monkeypatch):
  cfg = training.load_config(os.path.join(REPO, "experiments", "configs", "made_digits.py") + ":tiny",
                             ["train.sample_every=0"])
  run = str(tmp_path / "run")
  training.train_and_evaluate(cfg, run)
  monkeypatch.setenv("ARMODELS_PRETRAINED", str(tmp_path / "shipped"))
  info = pretrained.export(run, str(tmp_path / "shipped" / "made_tiny"), steps=2, note="test")
  assert info["steps"] == 2 and info["model"] == "made" and "params/_METADATA" in info["files"]
  assert pretrained.names() == ["made_tiny"]

  model, variables = pretrained.load("made_tiny")
  ref_model, ref_vars, _ = training.restore(run)
  assert model == ref_model
  x = np.random.default_rng(0).integers(0, model.num_levels, (4,) + model.event_shape)
  np.testing.assert_array_equal(arm.log_prob(model, variables, x), arm.log_prob(ref_model, ref_vars, x))
  # Shipped as `export_params` gives them: the entries no mask set reads are zero, the rest as trained.
  out_kernel, ref_kernel = (np.asarray(v["params"]["out"]["kernel"]) for v in (variables, ref_vars))
  assert (out_kernel == 0).any() and not (ref_kernel == 0).any()
  np.testing.assert_array_equal(out_kernel[out_kernel != 0], ref_kernel[out_kernel != 0])
  # The CLI evaluates an exported workdir as it is.
  np.savez(tmp_path / "x.npz", x=x)
  metrics = eval_workdir(str(tmp_path / "shipped" / "made_tiny"), npz=str(tmp_path / "x.npz"))
  assert metrics["n"] == 4
  np.testing.assert_allclose(metrics["nll_nats"], -np.mean(arm.log_prob(model, variables, x)),
                             rtol=1e-5)

  with pytest.raises(ValueError, match="existing"):
    pretrained.export(run, str(tmp_path / "shipped" / "made_tiny"))
  with pytest.raises(ValueError, match="unknown pretrained checkpoint 'nope'"):
    pretrained.load("nope")
  with open(tmp_path / "shipped" / "made_tiny" / "config.json", "a") as f:
    f.write(" ")
  with pytest.raises(ValueError, match=r"changed \['config.json'\]"):
    pretrained.load("made_tiny")


@pytest.mark.skipif(not os.path.exists(SHAKESPEARE), reason="needs ../shared/data/tiny_shakespeare")
@pytest.mark.parametrize("name", sorted(TEXT & set(SHIPPED)))
def test_shipped_text_model_valid_nll_is_as_stated(name):
  """The first 500 validation windows read as one stream, as make_pretrained.py measured them."""
  from armodels_jax import data  # pylint: disable=g-import-not-at-top

  model, variables = arm.pretrained.load(name, check=False)
  ds = data.load("text", path=SHAKESPEARE, seq_len=model.event_shape[0])
  assert ds.info["vocab"] == training.read_model_info(os.path.join(SHIPPED_DIR, name))["info"]["vocab"]
  nll = training.evaluate(model, variables, ds.valid[:500], batch_size=1, stream=True)["nll_nats"]
  assert abs(nll - pretrained.manifest(name)["valid_first500_nll_nats"]) < 0.5


def test_portable_path_of_the_data_beside_the_repository_through_a_link(tmp_path, monkeypatch):
  """``../shared`` that is a link (a worktree's) still gives ``../shared/...``, not ``$RUNS/...``."""
  spec = importlib.util.spec_from_file_location(
      "make_pretrained", os.path.join(REPO, "experiments", "make_pretrained.py"))
  make_pretrained = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(make_pretrained)
  real = tmp_path / "elsewhere" / "shared"
  (real / "data" / "mnist").mkdir(parents=True)
  repo = tmp_path / "wt" / "repo"
  repo.mkdir(parents=True)
  os.symlink(real, tmp_path / "wt" / "shared")
  monkeypatch.setattr(make_pretrained, "REPO", str(repo))
  runs = str(tmp_path / "runs")
  assert make_pretrained.portable_path(str(real / "data" / "mnist"), runs) == "../shared/data/mnist"
  assert make_pretrained.portable_path(str(tmp_path / "wt" / "shared" / "data" / "mnist"),
                                       runs) == "../shared/data/mnist"
  assert make_pretrained.portable_path(os.path.join(runs, "a", "b"), runs) == "$RUNS/a/b"
