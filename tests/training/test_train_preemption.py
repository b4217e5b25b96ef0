"""SIGTERM (a preempted VM) makes a training run save a checkpoint at the current step and exit cleanly;
relaunching the same command resumes there and ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import subprocess

import jax
import numpy as np

import cli_runs
import train_checks
from cli_runs import TIMEOUT

from armodels_jax import checkpointing
from armodels_jax import training
from armodels_jax.training import metrics as metrics_lib


def _cmd(config, workdir, steps):
  return cli_runs.train_cmd(config, workdir, steps, "train.checkpoint_every=0")


def test_sigterm_saves_and_the_relaunch_resumes_exactly(tmp_path):
  config = cli_runs.write_config(tmp_path)
  run = tmp_path / "preempted"
  returncode, out, err = cli_runs.sigterm_after_steps(_cmd(config, run, 100_000), run, 3)  # a few steps
  assert returncode == 0, err[-3000:]
  stopped = checkpointing.latest_step(str(run))
  assert stopped is not None and 3 <= stopped < 100_000
  assert "stopped" in out  # the result line marks the run as stopped, not finished

  # Relaunch to stopped + 3 steps, and compare with a run that was never stopped.
  end = stopped + 3
  for workdir in (run, tmp_path / "straight"):
    done = subprocess.run(_cmd(config, workdir, end), env=cli_runs.env(), capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
  steps = [r["step"] for r in metrics_lib.read_metrics(str(run), "train")]
  assert steps == list(range(1, end + 1))  # nothing lost, nothing repeated
  cfg = training.load_config(config, list(cli_runs.OVERRIDES))
  resumed = jax.tree.leaves(train_checks.load_state(run, cfg, end))
  straight = jax.tree.leaves(train_checks.load_state(tmp_path / "straight", cfg, end))
  assert len(resumed) == len(straight) > 0
  for a, b in zip(resumed, straight):  # params, EMA, optimizer state, RNG: bit for bit
    np.testing.assert_array_equal(a, b)
