"""End-to-end tests of the `armodels` CLI and the demo on the embedded digits (8x8x1, 17 levels).

The CLI runs in-process through `cli.main([...])`; one test runs the installed console script in a
subprocess. A tiny PixelCNN is trained for two steps once per module (per pytest-xdist worker) and
shared by the eval and sample tests, which only read its workdir.
"""

import json
import math
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from armodels_jax import cli

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG = REPO / "experiments" / "configs" / "pixelcnn_digits.py"
EVENT_SHAPE = (8, 8, 1)
EVENT_SIZE = 64
NUM_LEVELS = 17
DIGITS_TEST_SIZE = 270  # armodels_jax.data.embedded: train / valid / test = 1257 / 270 / 270


def _run(capsys, *argv):
  """Runs the CLI in-process; returns (exit status, stdout, stderr)."""
  capsys.readouterr()
  rc = cli.main([str(a) for a in argv])
  out, err = capsys.readouterr()
  return rc, out, err


def _last_json(stdout):
  return json.loads(stdout.strip().splitlines()[-1])


def _digits_test():
  from armodels_jax import data  # pylint: disable=g-import-not-at-top
  return np.asarray(data.load("digits").test)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  """A workdir holding a tiny PixelCNN trained for 2 steps on the digits."""
  wd = tmp_path_factory.mktemp("pixelcnn_tiny")
  rc = cli.main(["train", "--config", f"{CONFIG}:tiny", "--workdir", str(wd),
                 "--config.train.num_steps=2", "--config.train.eval_every=0",
                 "--config.train.checkpoint_every=0"])
  assert rc == 0
  return wd


# ---------------------------------------------------------------------------------------------------
# train / eval / sample on a trained workdir.


def test_eval_json_default_split(workdir, capsys):
  rc, out, err = _run(capsys, "eval", "--workdir", workdir, "--json")
  assert rc == 0, err
  lines = out.strip().splitlines()
  assert len(lines) >= 2, out  # a human line, then the JSON object last
  m = _last_json(out)
  assert set(m) == {"nll_nats", "bits_per_dim", "n"}
  assert m["n"] == DIGITS_TEST_SIZE
  assert math.isfinite(m["nll_nats"]) and m["nll_nats"] > 0
  # Two steps from init leave the model close to uniform, log(17) nats per dimension: within 5% of
  # 64 log 17 = 181.3 nats (measured 2026-12-07: 184.5, 1.8% above).
  uniform = EVENT_SIZE * math.log(NUM_LEVELS)
  assert abs(m["nll_nats"] - uniform) < 0.05 * uniform, (m["nll_nats"], uniform)
  np.testing.assert_allclose(m["bits_per_dim"], m["nll_nats"] / (EVENT_SIZE * math.log(2)),
                             rtol=1e-5)


def test_eval_valid_split_and_batch_size_agree(workdir, capsys):
  rc, out, _ = _run(capsys, "eval", "--workdir", workdir, "--split", "valid", "--json")
  assert rc == 0
  a = _last_json(out)
  rc, out, _ = _run(capsys, "eval", "--workdir", workdir, "--split", "valid", "--batch-size", "7",
                    "--json")
  assert rc == 0
  b = _last_json(out)
  assert a["n"] == b["n"] == 270
  np.testing.assert_allclose(a["nll_nats"], b["nll_nats"], rtol=1e-5)


def test_eval_npz_any_row_major_shape(workdir, tmp_path, capsys):
  """(N, 8, 8) and (N, 64) arrays are both read as (N, 8, 8, 1), and give the split's NLL."""
  x = _digits_test()[:20]
  path = tmp_path / "digits.npz"
  np.savez(path, square=x.reshape(20, 8, 8).astype(np.uint8), flat=x.reshape(20, 64))
  results = {}
  for key in ("square", "flat"):
    rc, out, err = _run(capsys, "eval", "--workdir", workdir, "--npz", path, "--key", key, "--json")
    assert rc == 0, err
    results[key] = _last_json(out)
    assert results[key]["n"] == 20
  np.testing.assert_allclose(results["square"]["nll_nats"], results["flat"]["nll_nats"], rtol=1e-6)

  # The same numbers as the library's own evaluation of those 20 test digits.
  from armodels_jax import training  # pylint: disable=g-import-not-at-top
  model, variables, _ = training.restore(str(workdir))
  ref = training.evaluate(model, variables, x, batch_size=8)
  np.testing.assert_allclose(results["flat"]["nll_nats"], ref["nll_nats"], rtol=1e-5)


def test_eval_npz_single_array_needs_no_key(workdir, tmp_path, capsys):
  path = tmp_path / "one.npz"
  np.savez(path, images=_digits_test()[:5].reshape(5, 8, 8))
  rc, out, err = _run(capsys, "eval", "--workdir", workdir, "--npz", path, "--json")
  assert rc == 0, err
  assert _last_json(out)["n"] == 5


def test_sample_png_grid(workdir, tmp_path, capsys):
  out_png = tmp_path / "samples.png"
  rc, out, err = _run(capsys, "sample", "--workdir", workdir, "--num", 6, "--out", out_png)
  assert rc == 0, err
  assert str(out_png) in out
  with Image.open(out_png) as im:
    im.load()
    size, mode = im.size, im.mode
  # training.images lays 6 images out in ceil(sqrt(6)) = 3 columns and 2 rows, with 1 pixel of
  # padding around each 8x8 tile, upscaled 8x (to at least 64 pixels per tile).
  cols, rows, pad, scale = 3, 2, 1, 8
  assert size == ((cols * (8 + pad) + pad) * scale, (rows * (8 + pad) + pad) * scale)
  assert mode == "L"


def test_sample_naive_equals_cached_and_seed_matters(workdir, tmp_path, capsys):
  arrays = {}
  for method, seed in (("naive", 3), ("cached", 3), ("cached", 4)):
    path = tmp_path / f"{method}{seed}.npz"
    rc, _, err = _run(capsys, "sample", "--workdir", workdir, "--num", 4, "--out", path,
                      "--method", method, "--seed", seed, "--temperature", 0.9)
    assert rc == 0, err
    with np.load(path) as f:
      arrays[method, seed] = f["samples"]
  x = arrays["cached", 3]
  assert x.shape == (4,) + EVENT_SHAPE
  assert x.min() >= 0 and x.max() < NUM_LEVELS
  np.testing.assert_array_equal(arrays["naive", 3], x)
  assert not np.array_equal(arrays["cached", 4], x)


def test_train_resumes_finished_run(workdir, capsys):
  """Running train again on a finished workdir resumes at the end instead of starting over."""
  rc, out, _ = _run(capsys, "eval", "--workdir", workdir, "--json")
  before = _last_json(out)
  copy = workdir.parent / (workdir.name + "_copy")
  shutil.copytree(workdir, copy)
  rc, _, err = _run(capsys, "train", "--config", f"{CONFIG}:tiny", "--workdir", copy,
                    "--config.train.num_steps=2", "--config.train.eval_every=0",
                    "--config.train.checkpoint_every=0")
  assert rc == 0, err
  rc, out, _ = _run(capsys, "eval", "--workdir", copy, "--json")
  np.testing.assert_allclose(_last_json(out)["nll_nats"], before["nll_nats"], rtol=1e-6)


def test_console_script_subprocess(workdir):
  """The installed `armodels` entry point, in a fresh process."""
  exe = shutil.which("armodels", path=os.path.dirname(sys.executable)) or shutil.which("armodels")
  if exe is None:
    pytest.skip("the armodels console script is not installed (pip install -e .)")
  proc = subprocess.run([exe, "eval", "--workdir", str(workdir), "--json"], capture_output=True,
                        text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr
  m = _last_json(proc.stdout)
  assert m["n"] == DIGITS_TEST_SIZE
  np.testing.assert_allclose(m["bits_per_dim"], m["nll_nats"] / (EVENT_SIZE * math.log(2)),
                             rtol=1e-5)


# ---------------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit status 2, no traceback.


def _assert_user_error(rc, out, err, *fragments):
  assert rc == 2, (out, err)
  assert "Traceback" not in err
  lines = err.strip().splitlines()
  assert len(lines) == 1, err
  assert lines[0].startswith("armodels "), err
  for fragment in fragments:
    assert fragment in lines[0], err


def test_error_missing_workdir(tmp_path, capsys):
  missing = tmp_path / "nope"
  for argv in (["eval", "--workdir", missing], ["sample", "--workdir", missing]):
    _assert_user_error(*_run(capsys, *argv), "workdir", "nope")


def test_error_workdir_without_checkpoint(tmp_path, capsys):
  empty = tmp_path / "empty"
  empty.mkdir()
  _assert_user_error(*_run(capsys, "eval", "--workdir", empty))
  _assert_user_error(*_run(capsys, "sample", "--workdir", empty, "--out", tmp_path / "s.png"))


def test_error_bad_npz(workdir, tmp_path, capsys):
  x = _digits_test()[:4]
  path = tmp_path / "bad.npz"
  np.savez(path, small=np.zeros((4, 7, 7), np.int32), high=x + NUM_LEVELS, neg=x - 1,
           nan=np.full((4, 64), np.nan), good=x)
  _assert_user_error(*_run(capsys, "eval", "--workdir", workdir, "--npz", path, "--key", "small"),
                     "49")
  for key in ("high", "neg", "nan"):
    _assert_user_error(*_run(capsys, "eval", "--workdir", workdir, "--npz", path, "--key", key))
  _assert_user_error(*_run(capsys, "eval", "--workdir", workdir, "--npz", path, "--key", "absent"),
                     "absent")
  # Several arrays and no --key.
  _assert_user_error(*_run(capsys, "eval", "--workdir", workdir, "--npz", path), "--key")
  _assert_user_error(*_run(capsys, "eval", "--workdir", workdir, "--npz", tmp_path / "no.npz"),
                     "no.npz")
  garbage = tmp_path / "garbage.npz"
  garbage.write_bytes(b"not an npz file")
  _assert_user_error(*_run(capsys, "eval", "--workdir", workdir, "--npz", garbage, "--key", "x"))
  # Without --key the file is opened to find its only array: a non-NumPy file is named as such.
  _assert_user_error(*_run(capsys, "eval", "--workdir", workdir, "--npz", garbage),
                     "expected an .npz archive")


def test_error_bad_train_config(tmp_path, capsys):
  _assert_user_error(*_run(capsys, "train", "--config", tmp_path / "missing.py", "--workdir",
                           tmp_path / "wd"), "missing.py")
  # A misspelt override is an error, not a new key.
  _assert_user_error(*_run(capsys, "train", "--config", f"{CONFIG}:tiny", "--workdir",
                           tmp_path / "wd", "--config.train.learnig_rate=1e-3"), "learnig_rate")


def test_error_bad_sample_options(workdir, tmp_path, capsys):
  _assert_user_error(*_run(capsys, "sample", "--workdir", workdir, "--num", 0))
  _assert_user_error(*_run(capsys, "sample", "--workdir", workdir, "--temperature", 0))
  _assert_user_error(*_run(capsys, "sample", "--workdir", workdir, "--out",
                           tmp_path / "no" / "dir" / "s.png"), "directory")


@pytest.mark.parametrize("argv", [
    [],
    ["eval"],                                      # --workdir is required
    ["sample", "--workdir", "w", "--method", "fast"],
    ["eval", "--workdir", "w", "--split", "train"],
    ["demo", "--unknown"],
    ["train", "--config", "c.py", "--workdir", "w", "--not-an-override"],
])
def test_usage_errors_exit_2(argv, capsys):
  with pytest.raises(SystemExit) as e:
    cli.main(argv)
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "error" in err and "Traceback" not in err


def test_train_overrides_are_passed_through():
  args = cli._parse(["train", "--config", "c.py:tiny", "--workdir", "w",
                     "--config.train.num_steps=2", "--config.model.size=small"])
  assert args.config == "c.py:tiny"
  assert args.overrides == ["train.num_steps=2", "model.size=small"]


# ---------------------------------------------------------------------------------------------------
# The demo.


def test_demo_config_matches_experiment_config():
  """The demo builds in code the same model and data as experiments/configs/pixelcnn_digits.py."""
  from armodels_jax import demo, training  # pylint: disable=g-import-not-at-top
  ours = demo.demo_config()
  theirs = training.load_config(str(CONFIG))
  assert ours.model.to_dict() == theirs.model.to_dict()
  assert ours.data.to_dict() == theirs.data.to_dict()
  assert ours.train.to_dict() == theirs.train.to_dict() | {"sample_every": 0, "num_samples": 16,
                                                           "eval_every": 0, "checkpoint_every": 0}


def test_demo_refuses_a_workdir_of_another_run(workdir, capsys):
  """The tiny PixelCNN's workdir is not the demo's: exit 2 instead of a checkpoint shape error."""
  _assert_user_error(*_run(capsys, "demo", "--workdir", workdir, "--steps", 2), "another run")


def test_demo_runs_end_to_end(tmp_path):
  from armodels_jax import demo  # pylint: disable=g-import-not-at-top
  lines = []
  out = tmp_path / "out"
  res = demo.run_demo(workdir=str(tmp_path / "wd"), steps=2, out=str(out), num_samples=4,
                      num_completions=2, completions_per_digit=2, print_fn=lines.append)
  text = "\n".join(lines)
  assert "bits/dim" in text and "nats" in text and "identical: True" in text
  assert res["naive_equals_cached"] is True
  assert res["n"] == DIGITS_TEST_SIZE
  np.testing.assert_allclose(res["bits_per_dim"], res["nll_nats"] / (EVENT_SIZE * math.log(2)),
                             rtol=1e-5)
  for name in ("samples.png", "completions.png"):
    with Image.open(out / name) as im:
      im.load()
      assert im.size[0] >= 16 and im.size[1] >= 8
  # Completions: 2 rows of [original, 2 completions] is wider than tall.
  with Image.open(out / "completions.png") as im:
    assert im.size[0] > im.size[1]
