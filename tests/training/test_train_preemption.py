"""SIGTERM (a preempted VM) makes a training run save a checkpoint at the current step and exit cleanly;
relaunching the same command resumes there and ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from armodels_jax import checkpointing
from armodels_jax.training import metrics as metrics_lib

TIMEOUT = 240
# MADE tiny on the embedded digits, a constant learning rate (the relaunch changes num_steps).
OVERRIDES = ["--config.model.name=made", "--config.model.size=tiny", "--config.data.name=digits",
             "--config.train.batch_size=8", "--config.train.schedule=constant",
             "--config.train.warmup_steps=0", "--config.train.learning_rate=0.01",
             "--config.train.log_every=1", "--config.train.eval_every=0",
             "--config.train.eval_max_examples=16", "--config.train.checkpoint_every=0",
             "--config.train.sample_every=0", "--config.train.ema_decay=0.9"]
CONFIG = "from armodels_jax import training\n\ndef get_config(arg=None):\n  return training.default_config()\n"


def _cmd(config, workdir, steps):
  return [sys.executable, "-m", "armodels_jax.cli", "train", "--config", str(config), "--workdir",
          str(workdir), f"--config.train.num_steps={steps}"] + OVERRIDES


def _env():
  return dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")


def _params(workdir, step):
  from armodels_jax import training  # pylint: disable=g-import-not-at-top
  _, variables, _ = training.restore(str(workdir), step=step)
  return jax.tree.leaves(jax.device_get(variables["params"]))


def test_sigterm_saves_and_the_relaunch_resumes_exactly(tmp_path):
  config = tmp_path / "base.py"
  config.write_text(CONFIG)
  run = tmp_path / "preempted"
  proc = subprocess.Popen(_cmd(config, run, 100_000), env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.monotonic() + TIMEOUT
    while len(metrics_lib.read_metrics(str(run), "train")) < 3:  # a few steps done
      assert proc.poll() is None, proc.communicate()[1][-3000:]
      assert time.monotonic() < deadline, "no training steps logged"
      time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=TIMEOUT)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 0, err[-3000:]
  stopped = checkpointing.latest_step(str(run))
  assert stopped is not None and 3 <= stopped < 100_000
  assert "stopped" in out  # the result line marks the run as stopped, not finished

  # Relaunch to stopped + 3 steps, and compare with a run that was never stopped.
  end = stopped + 3
  for workdir in (run, tmp_path / "straight"):
    done = subprocess.run(_cmd(config, workdir, end), env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
  steps = [r["step"] for r in metrics_lib.read_metrics(str(run), "train")]
  assert steps == list(range(1, end + 1))  # nothing lost, nothing repeated
  resumed, straight = _params(run, end), _params(tmp_path / "straight", end)
  assert len(resumed) == len(straight) > 0
  for a, b in zip(resumed, straight):
    np.testing.assert_array_equal(a, b)
