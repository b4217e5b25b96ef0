"""A real 2-process training job on localhost equals the single-process run on the same global batch.

Two `armodels train` processes join through `jax.distributed.initialize` with a local coordinator and
CPU collectives (one CPU device each); each loads its half of every global batch. The job is stopped
after 4 steps and relaunched to 6, so every host restores the checkpoint that was written once. Its
per-step training losses, its final parameters and its evaluation equal those of one process that ran
the 6 steps without a stop (up to float reduction order across the two devices).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

import jax
import numpy as np
import pytest

import cli_runs
import train_checks
from cli_runs import TIMEOUT

from armodels_jax import checkpointing
from armodels_jax import training
from armodels_jax.training import metrics as metrics_lib


def _train_cmd(config, workdir, steps):
  return cli_runs.train_cmd(config, workdir, steps, "train.checkpoint_every=2")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _run_two_processes(config, workdir, steps):
  """Runs the 2-process job to `steps`; returns [(returncode, stdout, stderr)] by process id."""
  address = f"localhost:{_free_port()}"
  procs = [subprocess.Popen(
      _train_cmd(config, workdir, steps) + ["--coordinator", address, "--num-processes", "2",
                                            "--process-id", str(i)],
      env=cli_runs.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  outs = []
  try:
    for p in procs:
      out, err = p.communicate(timeout=TIMEOUT)
      outs.append((p.returncode, out, err))
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for i, (rc, out, err) in enumerate(outs):
    assert rc == 0, f"process {i} failed:\n{out}\n{err[-4000:]}"
  return outs


def _losses(workdir):
  rows = metrics_lib.read_metrics(str(workdir), "train")
  return [r["step"] for r in rows], np.array([r["loss"] for r in rows])


def test_two_process_run_equals_single_process_run(tmp_path):
  config = cli_runs.write_config(tmp_path)
  single, multi = tmp_path / "single", tmp_path / "multi"

  ref = subprocess.run(_train_cmd(config, single, 6), env=cli_runs.env(), capture_output=True, text=True,
                       timeout=TIMEOUT)
  assert ref.returncode == 0, ref.stderr[-4000:]

  first = _run_two_processes(config, multi, 4)
  assert checkpointing.latest_step(str(multi)) == 4
  second = _run_two_processes(config, multi, 6)

  # Only process 0 reports (the lines from Gloo's C++ code aside).
  assert "step=6 " in second[0][1] and "step=" not in second[1][1], (second[0][1], second[1][1])
  assert "step=4 " in first[0][1] and "step=" not in first[1][1]

  # Written once: one metrics row per step, one checkpoint folder per saved step.
  steps_multi, loss_multi = _losses(multi)
  steps_single, loss_single = _losses(single)
  assert steps_multi == steps_single == [1, 2, 3, 4, 5, 6]
  np.testing.assert_allclose(loss_multi, loss_single, rtol=1e-5)
  assert sorted(int(d) for d in os.listdir(multi / "checkpoints") if d.isdigit()) == [2, 4, 6]

  cfg = training.load_config(config, list(cli_runs.OVERRIDES))
  a, b = train_checks.load_state(single, cfg, 6), train_checks.load_state(multi, cfg, 6)
  assert int(a["step"]) == int(b["step"]) == 6
  for name in ("params", "ema_params"):
    flat_a, flat_b = jax.tree.leaves(a[name]), jax.tree.leaves(b[name])
    assert len(flat_a) == len(flat_b) > 0
    for x, y in zip(flat_a, flat_b):
      np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
  # The parameters moved: equality is not that of two untouched initialisations.
  init = train_checks.load_state(single, cfg, 2)
  assert any(not np.allclose(x, y) for x, y in zip(jax.tree.leaves(init["params"]),
                                                  jax.tree.leaves(a["params"])))

  valid_single = metrics_lib.read_metrics(str(single), "valid")[-1]
  valid_multi = metrics_lib.read_metrics(str(multi), "valid")[-1]
  assert valid_multi["n"] == valid_single["n"] == 32
  np.testing.assert_allclose(valid_multi["nll_nats"], valid_single["nll_nats"], rtol=1e-5)
  assert json.loads((multi / "model.json").read_text())["name"] == "made"


def test_initialize_rejects_incomplete_or_bad_arguments():
  from armodels_jax.training import distributed  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="all of coordinator, num_processes and process_id"):
    distributed.initialize("localhost:1234", None, None)
  with pytest.raises(ValueError, match="process_id < num_processes"):
    distributed.initialize("localhost:1234", 2, 2)
  with pytest.raises(ValueError, match="host:port"):
    distributed.initialize("localhost", 2, 0)
  assert not distributed.is_initialized()


def test_cli_reports_a_bad_launch_as_a_usage_error(tmp_path):
  config = cli_runs.write_config(tmp_path)
  done = subprocess.run(_train_cmd(config, tmp_path / "w", 1) + ["--coordinator", "localhost:1"],
                        env=cli_runs.env(), capture_output=True, text=True, timeout=TIMEOUT)
  assert done.returncode == 2 and "num_processes" in done.stderr, done.stderr
