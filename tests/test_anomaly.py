"""Anomaly scores (`arm.anomaly_scores`), the `armodels score` CLI and the one-class benchmark (`--tiny`).

A tiny MADE is trained for a few hundred steps on the embedded 8x8 digits (17 levels) once per module;
every ordering test asks it to tell digits from inputs it never saw (uniform noise, or digits with
half their pixels replaced by noise), which an untrained or a sign-flipped score fails.
"""

import importlib.util
import itertools
import math
import pathlib
import shutil

import jax
import numpy as np
import optax
import pytest

import armodels_jax as arm
from armodels_jax import anomaly, cli, data, training

REPO = pathlib.Path(__file__).resolve().parents[1]
NUM_LEVELS = 17


def _train(x, steps, seed=0, rate=0.0):
  model = arm.models.create("made", event_shape=x.shape[1:], num_levels=NUM_LEVELS, size="tiny",
                            hidden_sizes=(32,), num_masks=1)
  tx = optax.adam(0.02)
  mesh = training.make_mesh()
  state = training.create_train_state(model, tx, seed, mesh)
  step = training.make_train_step(model, tx, lambda s: 0.02, 0.0, mesh)
  rng = np.random.default_rng(seed)
  for _ in range(steps):
    batch = x[rng.integers(0, len(x), 64)]
    if rate:
      batch = anomaly.perturb(batch, rate, NUM_LEVELS, rng)
    state, _ = step(state, batch, None)
  return model, {"params": state.params}


@pytest.fixture(scope="module")
def digits():
  ds = data.load("digits")
  return np.asarray(ds.train), np.asarray(ds.test)


@pytest.fixture(scope="module")
def trained(digits):
  return _train(digits[0], 300)


def _auroc(normal, anomalous):
  """P(score of an anomaly > score of a normal example) over all pairs."""
  return float((anomalous[:, None] > normal[None, :]).mean())


def _noise(n, seed=1):
  return np.random.default_rng(seed).integers(0, NUM_LEVELS, (n, 8, 8, 1))


# ---------------------------------------------------------------------------------------------------
# Each method: its definition, and its ordering on a case it can get wrong.


def test_nll_and_bpd_are_minus_log_prob_and_rank_noise_higher(trained, digits):
  model, variables = trained
  test = digits[1][:100]
  x = np.concatenate([test, _noise(60)])
  nll = anomaly.anomaly_scores(model, variables, x, "nll", batch_size=7)  # padded last batch
  logp = np.asarray(arm.log_prob(model, variables, x), np.float64)
  assert nll.shape == (160,) and nll.dtype == np.float64
  np.testing.assert_allclose(nll, -logp, rtol=1e-6)
  bpd = arm.anomaly_scores(model, variables, x, method="bpd")
  np.testing.assert_allclose(bpd, nll / (64 * math.log(2)), rtol=1e-6)
  assert _auroc(nll[:100], nll[100:]) > 0.99


def test_input_complexity_orders_constant_below_noise_png_and_zlib():
  const = np.zeros((3, 8, 8, 1), np.int32)
  noise = _noise(3)
  for compressor in (None, "png", "zlib", "context"):
    lc = anomaly.input_complexity(const, NUM_LEVELS, compressor=compressor)
    ln = anomaly.input_complexity(noise, NUM_LEVELS, compressor=compressor)
    assert lc.shape == (3,) and (lc > 0).all() and lc.max() < ln.min()
  # A binary image is written as a 1-bit PNG: shorter than the same levels as 8-bit (17 levels).
  binary = np.random.default_rng(0).integers(0, 2, (1, 32, 32, 1))
  assert anomaly.input_complexity(binary, 2)[0] < anomaly.input_complexity(binary, NUM_LEVELS)[0]
  # Vectors take zlib by default; PNG refuses them.
  vec = np.zeros((2, 40), np.int32)
  assert anomaly.input_complexity(vec, 4).shape == (2,)
  with pytest.raises(ValueError, match="png"):
    anomaly.input_complexity(vec, 4, compressor="png")
  with pytest.raises(ValueError, match="compressor"):
    anomaly.input_complexity(const, NUM_LEVELS, compressor="flif")
  with pytest.raises(ValueError, match="context"):
    anomaly.input_complexity(vec, 4, compressor="context")


@pytest.mark.parametrize("shape,levels", [((2, 2, 1), 3), ((2, 3, 1), 2), ((1, 2, 2), 3)])
def test_context_code_lengths_satisfy_kraft_equality(shape, levels):
  """A sequential probability assignment: 2^-L(x) sums to 1 over every image of the shape."""
  every = np.array(list(itertools.product(range(levels), repeat=math.prod(shape))))
  bits = anomaly.context_code_bits(every.reshape(-1, *shape), levels)
  np.testing.assert_allclose(np.sum(2.0 ** -bits), 1.0, rtol=1e-9)
  assert (bits > 0).all()


def test_context_code_first_pixels_by_hand():
  """Two levels, a 1x3 image [1, 1, 0]. Pixel 1: no neighbour is 1, a fresh context, KT p(1) = 1/2.
  Pixel 2: its west neighbour is 1, another fresh context, p(1) = 1/2. Pixel 3: the same context as
  pixel 2, which has seen one 1: p(0) = (0 + 1/2) / (1 + 1) = 1/4. In all 1 + 1 + 2 = 4 bits."""
  x = np.array([[1, 1, 0]]).reshape(1, 1, 3, 1)
  np.testing.assert_allclose(anomaly.context_code_bits(x, 2), [4.0])
  # [0, 0, 0]: one context throughout: 1/2, then (1 + 1/2) / 2, then (2 + 1/2) / 3.
  zeros = np.zeros((1, 1, 3, 1), np.int64)
  np.testing.assert_allclose(anomaly.context_code_bits(zeros, 2),
                             [-math.log2(0.5 * 0.75 * (2.5 / 3))])


def test_complexity_is_nll_bits_minus_png_bits_and_flags_simple_inputs(trained, digits):
  """Serra et al.'s correction: a blank image is about as likely as a digit under the digits model (an
  NLL among theirs) but simpler (a short PNG); the complexity score ranks it above the test digits."""
  model, variables = trained
  test = digits[1][:100]
  blank = np.zeros((4, 8, 8, 1), np.int32)
  x = np.concatenate([test, blank])
  nll = anomaly.anomaly_scores(model, variables, x, "nll")
  s = anomaly.anomaly_scores(model, variables, x, "complexity")
  np.testing.assert_allclose(s, nll / math.log(2) - anomaly.input_complexity(x, NUM_LEVELS),
                             rtol=1e-9)
  for compressor in ("zlib", "context"):
    z = anomaly.anomaly_scores(model, variables, x, "complexity", compressor=compressor)
    np.testing.assert_allclose(
        z, nll / math.log(2) - anomaly.input_complexity(x, NUM_LEVELS, compressor=compressor),
        rtol=1e-9)
    assert _auroc(z[:100], z[100:]) > 0.9
  assert _auroc(nll[:100], nll[100:]) < 0.75  # the NLL ranks blank images among the digits
  assert _auroc(s[:100], s[100:]) > 0.9


def test_likelihood_ratio_subtracts_the_background_and_ranks_corrupted_digits_higher(trained, digits):
  model, variables = trained
  background = _train(digits[0], 150, seed=1, rate=0.3)
  test = digits[1][:100]
  corrupted = anomaly.perturb(test[:60], 0.5, NUM_LEVELS, seed=2)
  x = np.concatenate([test, corrupted])
  lr = anomaly.anomaly_scores(model, variables, x, "likelihood_ratio", reference=background)
  nll = anomaly.anomaly_scores(model, variables, x, "nll")
  bg_nll = anomaly.anomaly_scores(*background, x, "nll")
  np.testing.assert_allclose(lr, nll - bg_nll, rtol=1e-9, atol=1e-9)
  assert _auroc(lr[:100], lr[100:]) > 0.9
  # The model against itself: every ratio is 1.
  same = anomaly.anomaly_scores(model, variables, x[:5], "likelihood_ratio",
                                reference=[model, variables])
  np.testing.assert_array_equal(same, np.zeros(5))


def test_perturb_replaces_about_rate_of_the_values():
  x = np.zeros((200, 8, 8, 1), np.int32)
  assert (anomaly.perturb(x, 0.0, NUM_LEVELS, seed=0) == x).all()
  y = anomaly.perturb(x, 0.3, NUM_LEVELS, seed=0)
  assert y.dtype == np.int32 and y.min() >= 0 and y.max() < NUM_LEVELS
  # A replaced value is drawn uniformly, so it differs from the original with probability 16/17.
  np.testing.assert_allclose((y != 0).mean(), 0.3 * 16 / 17, atol=0.01)
  with pytest.raises(ValueError, match="rate"):
    anomaly.perturb(x, 1.5, NUM_LEVELS)


# ---------------------------------------------------------------------------------------------------
# Argument errors.


def test_api_argument_errors(trained, digits):
  model, variables = trained
  x = digits[1][:4]
  other = arm.models.create("made", event_shape=(4, 4, 1), num_levels=NUM_LEVELS, size="tiny")
  cases = [
      (dict(method="entropy"), "unknown anomaly method"),
      (dict(method="likelihood_ratio"), "needs reference"),
      (dict(method="likelihood_ratio", reference=(model,)), "pair"),
      (dict(method="likelihood_ratio", reference=(other, variables)), "event shape"),
      (dict(method="nll", reference=(model, variables)), "'likelihood_ratio' only"),
      (dict(method="nll", compressor="png"), "'complexity' only"),
      (dict(method="nll", batch_size=0), "batch_size"),
      (dict(method="nll", cond=np.zeros(3)), "4 rows"),
  ]
  for kwargs, match in cases:
    with pytest.raises(ValueError, match=match):
      anomaly.anomaly_scores(model, variables, x, **kwargs)
  with pytest.raises(ValueError, match="shape"):
    anomaly.anomaly_scores(model, variables, x[:, :4], "nll")
  with pytest.raises(ValueError, match="values in"):
    anomaly.anomaly_scores(model, variables, x + NUM_LEVELS, "nll")
  nan_vars = jax.tree.map(lambda p: p * np.nan, variables)
  with pytest.raises(ValueError, match="non-finite"):
    anomaly.anomaly_scores(model, nan_vars, x, "nll")


# ---------------------------------------------------------------------------------------------------
# The CLI.


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  """A workdir of a tiny MADE trained 2 steps on the digits, and a copy of it (the reference)."""
  root = tmp_path_factory.mktemp("score")
  config = root / "config.py"
  config.write_text("from armodels_jax import training\n\ndef get_config(arg=None):\n"
                    "  return training.default_config()\n")
  wd = root / "made"
  rc = cli.main(["train", "--config", str(config), "--workdir", str(wd), "--config.model.name=made",
                 "--config.model.size=tiny", "--config.data.name=digits",
                 "--config.train.batch_size=8", "--config.train.num_steps=2",
                 "--config.train.eval_every=0", "--config.train.sample_every=0"])
  assert rc == 0
  shutil.copytree(wd, root / "copy")
  return wd, root / "copy"


def _run(capsys, *argv):
  capsys.readouterr()
  rc = cli.main([str(a) for a in argv])
  out, err = capsys.readouterr()
  return rc, out, err


def test_cli_score_writes_the_api_scores(workdirs, digits, tmp_path, capsys):
  x = digits[1][:10]
  npz = tmp_path / "x.npz"
  np.savez(npz, x=x.reshape(10, 64))  # any row-major shape of the event size
  model, variables, _ = training.restore(str(workdirs[0]))
  for method, compressor in (("nll", None), ("complexity", None), ("complexity", "context")):
    out = tmp_path / f"{method}_{compressor}.npy"
    extra = ("--compressor", compressor) if compressor else ()
    rc, stdout, err = _run(capsys, "score", "--workdir", workdirs[0], "--npz", npz, "--method", method,
                           *extra, "--out", out)
    assert rc == 0, err
    assert f"wrote 10 {method} scores" in stdout
    expected = anomaly.anomaly_scores(model, variables, x, method, compressor=compressor)
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-6)
  # Against a copy of itself the likelihood ratio is 1 everywhere (the reference is read: an empty
  # reference workdir is an error, see test_cli_score_errors).
  out = tmp_path / "lr.npy"
  rc, _, err = _run(capsys, "score", "--workdir", workdirs[0], "--npz", npz, "--method",
                    "likelihood_ratio", "--reference", workdirs[1], "--out", out)
  assert rc == 0, err
  np.testing.assert_array_equal(np.load(out), np.zeros(10))
  options = cli.build_parser()._subparsers._group_actions[0].choices["score"]._option_string_actions
  assert options["--method"].choices == anomaly.METHODS
  assert options["--compressor"].choices == anomaly.COMPRESSORS


def test_cli_score_errors(workdirs, digits, tmp_path, capsys):
  npz = tmp_path / "x.npz"
  np.savez(npz, x=digits[1][:3], y=digits[1][:3])
  base = ("score", "--workdir", workdirs[0], "--npz", npz, "--key", "x")
  empty = tmp_path / "empty"
  empty.mkdir()
  cases = [
      ((*base, "--method", "likelihood_ratio", "--out", tmp_path / "s.npy"), "--reference"),
      ((*base, "--reference", workdirs[1], "--out", tmp_path / "s.npy"), "likelihood_ratio only"),
      ((*base, "--out", tmp_path / "s.txt"), ".npy"),
      ((*base, "--compressor", "zlib", "--out", tmp_path / "s.npy"), "'complexity' only"),
      ((*base, "--out", tmp_path / "no" / "s.npy"), "directory"),
      (("score", "--workdir", workdirs[0], "--npz", npz, "--out", tmp_path / "s.npy"), "--key"),
      (("score", "--workdir", workdirs[0], "--npz", tmp_path / "no.npz", "--out", tmp_path / "s.npy"),
       "no.npz"),
      (("score", "--workdir", tmp_path / "nope", "--npz", npz, "--key", "x", "--out",
        tmp_path / "s.npy"), "nope"),
      ((*base, "--method", "likelihood_ratio", "--reference", empty, "--out", tmp_path / "s.npy"),
       "no checkpoint"),
  ]
  for argv, fragment in cases:
    rc, _, err = _run(capsys, *argv)
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("armodels score: error") and fragment in err, err
  with pytest.raises(SystemExit) as e:
    cli.main([str(a) for a in (*base, "--method", "entropy", "--out", tmp_path / "s.npy")])
  assert e.value.code == 2
  assert not (tmp_path / "s.npy").exists()


# ---------------------------------------------------------------------------------------------------
# The benchmark script, --tiny.


def test_novelty_benchmark_tiny_runs_and_resumes(tmp_path):
  spec = importlib.util.spec_from_file_location("novelty_mnist", REPO / "experiments" / "novelty_mnist.py")
  bench = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(bench)
  argv = ["--tiny", "--workdir", str(tmp_path), "--classes", "3", "--steps", "5"]
  first = bench.main(argv)
  assert first["classes"] == [3]
  assert set(first["mean"]) == set(anomaly.METHODS) | {"complexity_context"}
  # Each AUROC is the AUROC of the scores the run cached for class 3, recomputed here over every
  # (anomaly, normal) pair, ties counted half (one class: the mean is that class's AUROC).
  with np.load(tmp_path / "class_3.npz") as cached:
    scores = {k: cached[k] for k in cached.files if k != "settings"}
  arrays = bench.load_one_class_data(True, None)
  scores["complexity_context"] = (scores["nll"] / np.log(2.0)
                                  - anomaly.input_complexity(arrays[2], arrays[4], compressor="context"))
  anomalous = scores["labels"] != 3
  assert 0 < anomalous.sum() < len(anomalous)
  for method, value in first["mean"].items():
    a, n = scores[method][anomalous], scores[method][~anomalous]
    pairs = (a[:, None] > n[None, :]).mean() + 0.5 * (a[:, None] == n[None, :]).mean()
    assert value == pytest.approx(100.0 * pairs, abs=1e-9), method
  assert (tmp_path / "roc.png").stat().st_size > 0 and (tmp_path / "results.md").exists()
  again = bench.main(argv)  # from the cache
  assert again["mean"] == first["mean"]
  assert "class 3: cached" in (tmp_path / "log.txt").read_text()
