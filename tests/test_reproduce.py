"""`experiments/reproduce.py`: the rows, their selection, and one tiny row trained, evaluated and tabulated.

The tiny row trains 2 steps of the config's ``:tiny`` variant on the embedded digits (the binarized-MNIST
file is absent in a user's clone), so the test needs nothing outside the repository.
"""

import dataclasses
import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from armodels_jax import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "experiments", "reproduce.py")


def _module():
  spec = importlib.util.spec_from_file_location("reproduce", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  sys.modules["reproduce"] = module  # dataclasses look their module up
  spec.loader.exec_module(module)
  return module


def test_rows_match_their_configs():
  rp = _module()
  assert len({r.name for r in rp.ROWS}) == len(rp.ROWS)
  assert [r.name for r in rp.select("dense")] + [r.name for r in rp.select("images")] == [
      r.name for r in rp.select("all")]
  for row in rp.ROWS:
    cfg = training.load_config(row.config, row.train)  # every override names a real field
    module = training.load_config_module(row.config, os.path.basename(row.config))
    assert getattr(module, "PUBLISHED_TEST_NLL", row.published) == row.published, row.name
    assert (row.published is None) == (row.target is not None), row.name
    assert cfg.data.name == "binarized_mnist"
  with pytest.raises(ValueError, match="expects dense, images, all or row names"):
    rp.select("dense,no_such_row")


def test_tiny_row_trains_evaluates_and_tabulates(tmp_path):
  out = tmp_path / "table"
  test_npz = tmp_path / "test.npz"
  from armodels_jax import data  # pylint: disable=g-import-not-at-top
  test_split = data.load("digits").test[:20]
  np.savez(test_npz, test=test_split.reshape(20, 64))  # any row-major shape of the event size
  command = [sys.executable, SCRIPT, "--rows", "made_1h_1mask_binarized_mnist", "--tiny", "--root",
             str(tmp_path / "runs"), "--out", str(out), "--test-npz", str(test_npz)]
  done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
  assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
  result = json.loads((tmp_path / "table.json").read_text())
  (row,) = result["rows"]
  assert result["tiny"] and row["name"] == "made_1h_1mask_binarized_mnist"
  assert row["step"] == row["steps_trained"] == 2 and row["valid_examples"] == 16
  # --tiny trains 2 steps on the embedded 8x8 digits (17 levels): the model stays close to uniform,
  # 64 log 17 = 181.3 nats; within 5% of it (measured 2026-12-07: valid 182.8, test 182.4).
  uniform = 64 * math.log(17)
  assert abs(row["valid_nll_nats"] - uniform) < 0.05 * uniform, row["valid_nll_nats"]
  assert row["met"] == (row["valid_nll_nats"] <= 88.40)
  assert row["test_examples"] == 20 and abs(row["test_nll_nats"] - uniform) < 0.05 * uniform
  table = (tmp_path / "table.md").read_text()
  assert "| `made_1h_1mask_binarized_mnist` | Germain et al. 2015, Table 6" in table
  assert f"{row['valid_nll_nats']:.2f}" in table and f"{row['test_nll_nats']:.2f}" in table
  # The run exists: --warm-start would resume it, not begin again from the shipped checkpoint.
  rp = _module()
  run = str(tmp_path / "runs" / "made_1h_1mask_binarized_mnist")
  assert os.path.isdir(os.path.join(REPO, "pretrained", "made_1h_1mask_binarized_mnist"))
  assert rp.warm_start_source(rp.select("made_1h_1mask_binarized_mnist")[0], run) is None
  # A row with ``eval_examples`` (NADE-k) is evaluated on the first that many validation images.
  first = rp.evaluate(dataclasses.replace(rp.select("made_1h_1mask_binarized_mnist")[0], eval_examples=7),
                      run, tiny=False, test=None, batch_size=100)
  assert first["valid_examples"] == 7 and first["step"] == 2
  assert abs(first["valid_nll_nats"] - uniform) < 0.05 * uniform, first["valid_nll_nats"]  # 182.7
  assert first["valid_nll_nats"] != row["valid_nll_nats"]  # 7 images, not the tiny mode's 16
  # Rebuilding the table reuses the cached evaluation (same step, same options) and trains nothing.
  again = subprocess.run(command + ["--eval-only"], capture_output=True, text=True, timeout=300, cwd=REPO)
  assert again.returncode == 0, again.stderr[-4000:]
  assert "$ " not in again.stdout
  assert json.loads((tmp_path / "table.json").read_text())["rows"][0]["valid_nll_nats"] == row["valid_nll_nats"]


def test_unknown_row_is_exit_2(tmp_path):
  done = subprocess.run([sys.executable, SCRIPT, "--rows", "nope", "--root", str(tmp_path)],
                        capture_output=True, text=True, timeout=120, cwd=REPO)
  assert done.returncode == 2 and "expects dense, images, all or row names" in done.stderr
  assert len(done.stderr.strip().splitlines()) == 1
  done = subprocess.run([sys.executable, SCRIPT, "--rows", "dense", "--tiny", "--warm-start", "--root",
                         str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=REPO)
  assert done.returncode == 2 and "expected it without --tiny" in done.stderr
  assert len(done.stderr.strip().splitlines()) == 1


def test_shipped_rows_come_from_their_manifests(tmp_path):
  out = tmp_path / "table"
  done = subprocess.run([sys.executable, SCRIPT, "--rows", "nade_binarized_mnist,pixelcnn_binarized_mnist",
                         "--eval-only", "--shipped", "--root", str(tmp_path / "none"), "--out", str(out)],
                        capture_output=True, text=True, timeout=120, cwd=REPO)
  assert done.returncode == 0, done.stderr[-4000:]
  rows = json.loads((tmp_path / "table.json").read_text())["rows"]
  for row in rows:
    with open(os.path.join(REPO, "pretrained", row["name"], "manifest.json")) as f:
      info = json.load(f)
    assert row["valid_nll_nats"] == info["valid_nll_nats"] and row["step"] == info["steps"]
    assert row["source"].startswith(f"pretrained/{row['name']} (")
    assert row["met"] == (info["valid_nll_nats"] <= row["target"])
  assert "--eval-only --shipped" in (tmp_path / "table.md").read_text()
  # Another row into the same table: it is added, in the rows' order, and the earlier two are kept.
  done = subprocess.run([sys.executable, SCRIPT, "--rows", "fvsbn_binarized_mnist", "--eval-only", "--shipped",
                         "--root", str(tmp_path / "none"), "--out", str(out)],
                        capture_output=True, text=True, timeout=120, cwd=REPO)
  assert done.returncode == 0, done.stderr[-4000:]
  updated = json.loads((tmp_path / "table.json").read_text())["rows"]
  assert [r["name"] for r in updated] == ["fvsbn_binarized_mnist"] + [r["name"] for r in rows]
  assert updated[1:] == rows
  table = (tmp_path / "table.md").read_text()
  main_table = table.split("The unmet rows")[0]
  assert main_table.count("| `") == 3 and "the rows not run then (2) as the table had them before" in table


def test_warm_start_copies_the_shipped_checkpoint_once(tmp_path, monkeypatch):
  rp = _module()
  row = rp.select("pixelcnn_binarized_mnist")[0]
  pretrained, workdir = tmp_path / "pretrained", str(tmp_path / "runs" / row.name)
  assert rp.warm_start_source(row, workdir, str(pretrained)) is None  # nothing shipped: from scratch
  (pretrained / row.name).mkdir(parents=True)
  (pretrained / row.name / "manifest.json").write_text('{"steps": 2500}')
  source = rp.warm_start_source(row, workdir, str(pretrained))
  assert source.startswith(workdir + ".shipped-") and os.path.dirname(source) == str(tmp_path / "runs")
  assert json.loads((pathlib.Path(source) / "manifest.json").read_text()) == {"steps": 2500}
  assert rp.warm_start_source(row, workdir, str(pretrained)) == source  # copied once
  # Shipping the new run replaces pretrained/<name>: the copy the run began from stays as it was, and
  # the next phase (an emptied workdir) begins from a copy of the new shipped checkpoint.
  (pretrained / row.name / "manifest.json").write_text('{"steps": 9}')
  following = rp.warm_start_source(row, workdir, str(pretrained))
  assert following != source and json.loads((pathlib.Path(following) / "manifest.json").read_text()) == {
      "steps": 9}
  assert json.loads((pathlib.Path(source) / "manifest.json").read_text()) == {"steps": 2500}
  calls = []
  monkeypatch.setattr(rp.subprocess, "call", lambda command, **_: calls.append(command) or 0)
  monkeypatch.setattr(rp, "trained_steps", lambda _: (20_000, 20_000))  # the run finished
  rp.train(row, workdir, tiny=False, device=None, init_from=source)
  rp.train(row, workdir, tiny=False, device=None)
  assert f"--config.train.init_from={source}" in calls[0]
  assert not any("init_from" in c for c in calls[1])


def test_projection_extrapolates_the_curve_per_doubling_of_steps():
  """An unmet row's "what it would take": the gain of the curve's last doubling of steps, continued to
  the target; flat when more steps gain (almost) nothing; nothing for a met row."""
  rp = _module()
  row = {"curve": [[5000, 90.0, 2000], [10000, 84.0, 2000], [20000, 83.0, 2000]], "met": False,
         "valid_nll_nats": 83.3, "target": 80.3, "seconds_per_step": 0.1}
  p = rp.projection(row)
  assert (p["from_step"], p["to_step"]) == (10000, 20000)
  assert p["gain_per_doubling"] == pytest.approx(1.0) and p["gap"] == pytest.approx(3.0)
  assert p["total_steps"] == 160_000  # 3 more doublings of 20,000 steps
  assert p["hours_more"] == pytest.approx(140_000 * 0.1 / 3600)
  # A warm start's earlier steps count in the doublings: 10,000 before, so 20,000 -> 30,000 in all.
  p = rp.projection({**row, "curve": row["curve"][1:], "steps_before": 10000})
  assert p["gain_per_doubling"] == pytest.approx(1.0 / np.log2(30000 / 20000))
  # Records on other images than the last one's are not compared with it.
  p = rp.projection({**row, "curve": [[10000, 70.0, 500]] + row["curve"][2:]})
  assert p is None
  flat = rp.projection({**row, "curve": [[10000, 83.02, 2000], [20000, 83.0, 2000]]})
  assert flat["flat"] and "total_steps" not in flat and "overfits_after" not in flat
  over = rp.projection({**row, "curve": [[10000, 82.9, 2000], [20000, 83.0, 2000]]})
  assert over["overfits_after"] == 10000 and over["flat"]
  assert "overfits after step 10,000" in rp.curves_markdown([{**row, "name": "x", "projection": over}])
  assert rp.projection({**row, "met": True}) is None
  table = rp.curves_markdown([{**row, "name": "x", "projection": rp.projection(row)}])
  assert "| `x` | 90.00 / 84.00 / 83.00 at 5k / 10k / 20k (first 2,000) |" in table
  assert "at least 160,000 steps in all, about 3.9 more hours here" in table


def test_steps_before_follows_the_chain_of_warm_starts(tmp_path):
  """A warm start's source may itself be warm-started: its steps count, and those of every source before."""
  rp = _module()
  assert rp.steps_before(None) == 0 and rp.steps_before(str(tmp_path / "none")) == 0
  source = tmp_path / "source"
  source.mkdir()
  (source / "manifest.json").write_text(json.dumps({"steps": 14000, "warm_start": {
      "source_steps": 10000, "source_warm_start": {"source_steps": 1500}}}))
  assert rp.steps_before(str(source)) == 25500


def test_a_run_stopped_by_preemption_is_not_evaluated(tmp_path, monkeypatch):
  """SIGTERM makes `armodels train` save and exit 0 before its last step: reproduce must stop there
  (rerun to resume), not evaluate and tabulate the partial run."""
  rp = _module()
  row = rp.select("pixelcnn_binarized_mnist")[0]
  workdir = tmp_path / row.name

  def stopped_early(command, **_):
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({"train": {"num_steps": 10}}))
    return 0

  monkeypatch.setattr(rp.subprocess, "call", stopped_early)
  with pytest.raises(RuntimeError, match="stopped at step 0 of 10; rerun to resume"):
    rp.train(row, str(workdir), tiny=False, device=None)
