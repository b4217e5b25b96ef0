"""Helpers for tests that run `armodels train` in subprocesses (multi-process, preemption)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

TIMEOUT = 300
# An empty config file: every field comes from the overrides below.
BASE_CONFIG = "from armodels_jax import training\n\ndef get_config(arg=None):\n  return training.default_config()\n"
# MADE tiny on the embedded digits (MADE draws a mask set per step from the step's RNG, so the RNG must
# come back on resume), AdamW, clipping, EMA, a constant learning rate (a relaunch changes num_steps, the
# schedule must not depend on it), a log row per step.
OVERRIDES = ("model.name=made", "model.size=tiny", "data.name=digits", "train.batch_size=8",
             "train.optimizer=adamw", "train.weight_decay=0.01", "train.schedule=constant",
             "train.warmup_steps=2", "train.learning_rate=0.01", "train.grad_clip_norm=1.0",
             "train.ema_decay=0.9", "train.log_every=1", "train.eval_every=0",
             "train.eval_batch_size=16", "train.eval_max_examples=32", "train.keep_checkpoints=0",
             "train.sample_every=0")


def write_config(tmp_path) -> str:
  path = tmp_path / "base_config.py"
  path.write_text(BASE_CONFIG)
  return str(path)


def train_cmd(config, workdir, steps, *extra: str) -> list[str]:
  """`python -m armodels_jax.cli train` with the overrides above, `steps` steps and `extra` overrides."""
  return ([sys.executable, "-m", "armodels_jax.cli", "train", "--config", str(config), "--workdir",
           str(workdir), f"--config.train.num_steps={steps}"]
          + [f"--config.{o}" for o in OVERRIDES + extra])


def env() -> dict[str, str]:
  """The subprocess environment: CPU, one device per process (the XLA flags but a device count kept)."""
  out = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
  flags = [f for f in out.pop("XLA_FLAGS", "").split() if "device_count" not in f]
  if flags:
    out["XLA_FLAGS"] = " ".join(flags)
  return out


def sigterm_after_steps(cmd: list[str], workdir, steps: int) -> tuple[int, str, str]:
  """Runs `cmd` (a train command on `workdir`), sends SIGTERM once `steps` train rows are logged, and
  returns ``(exit status, stdout, stderr)``; the process is killed if anything fails on the way."""
  from armodels_jax.training import metrics as metrics_lib  # pylint: disable=g-import-not-at-top

  proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.monotonic() + TIMEOUT
    while len(metrics_lib.read_metrics(str(workdir), "train")) < steps:
      assert proc.poll() is None, proc.communicate()[1][-3000:]
      assert time.monotonic() < deadline, "no training steps logged"
      time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=TIMEOUT)
  finally:
    if proc.poll() is None:
      proc.kill()
  return proc.returncode, out, err
