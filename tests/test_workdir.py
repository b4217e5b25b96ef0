"""The workdir layer (``armodels_jax.workdir``): one trainer per workdir (the lock, its stale takeover),
and a ``model.json`` that describes more than the checkpoint holds (issue 30)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

import cli_runs
import train_checks

from armodels_jax import cli
from armodels_jax import inference
from armodels_jax import training
from armodels_jax import workdir as workdir_lib

# Holds the lock of argv[1] until stdin closes; prints "held" once it has it.
_HOLDER = ("import sys\nfrom armodels_jax import workdir\n"
           "with workdir.lock(sys.argv[1]):\n  print('held', flush=True)\n  sys.stdin.read()\n")


@pytest.fixture
def holder(tmp_path):
  """A live process on this host holding the lock of tmp_path/run."""
  run = tmp_path / "run"
  run.mkdir()
  proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=cli_runs.env())
  try:
    assert proc.stdout.readline().strip() == "held"
    yield run, proc.pid
  finally:
    proc.stdin.close()
    proc.wait(timeout=60)


def test_second_trainer_is_refused_naming_the_holder(holder):
  run, pid = holder
  with pytest.raises(workdir_lib.WorkdirLockedError,
                     match=rf"in use by another trainer: host {socket.gethostname()}, process {pid}, since"):
    training.train_and_evaluate(train_checks.tiny_config(), str(run))
  assert not os.path.exists(run / "checkpoints")  # nothing written by the refused trainer
  assert issubclass(workdir_lib.WorkdirLockedError, ValueError)


def test_cli_second_trainer_is_one_line_and_status_2(holder, tmp_path, capsys, monkeypatch):
  monkeypatch.setenv("TQDM_DISABLE", "1")
  run, pid = holder
  argv = cli_runs.train_cmd(cli_runs.write_config(tmp_path), run, 2)[3:]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "in use" in err[0] and f"process {pid}" in err[0]


def test_readers_take_no_lock(holder, tmp_path):
  run, _ = holder
  done = tmp_path / "done"
  training.train_and_evaluate(train_checks.tiny_config(), str(done))
  shutil.copy(run / workdir_lib.LOCK_FILE, done / workdir_lib.LOCK_FILE)  # as if a trainer held it
  _, variables, step = inference.load(str(done))
  assert step == 2 and variables["params"]


def _write_lock(run, record, age_seconds=0.0):
  path = run / workdir_lib.LOCK_FILE
  path.write_text(json.dumps(record))
  if age_seconds:
    then = time.time() - age_seconds
    os.utime(path, (then, then))


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  run = tmp_path / "run"
  run.mkdir()
  _write_lock(run, {"host": socket.gethostname(), "pid": dead.pid, "since": "yesterday"})
  with caplog.at_level(logging.WARNING):
    result = training.train_and_evaluate(train_checks.tiny_config(), str(run))
  assert result["step"] == 2
  assert f"taking over the stale lock" in caplog.text and f"process {dead.pid} is gone" in caplog.text
  assert not os.path.exists(run / workdir_lib.LOCK_FILE)


def test_lock_of_another_host_is_stale_only_when_its_heartbeat_is_old(tmp_path, caplog):
  run = tmp_path / "run"
  run.mkdir()
  record = {"host": "another-host.invalid", "pid": 1, "since": "2026-12-07 04:00:00 UTC"}
  _write_lock(run, record, age_seconds=10)
  with pytest.raises(workdir_lib.WorkdirLockedError, match="host another-host.invalid, process 1"):
    workdir_lib.lock(str(run)).acquire()
  _write_lock(run, record, age_seconds=workdir_lib.STALE_SECONDS + 60)
  with caplog.at_level(logging.WARNING):
    with workdir_lib.lock(str(run)) as lock:
      assert json.loads((run / workdir_lib.LOCK_FILE).read_text())["pid"] == os.getpid()
      assert lock.held
  assert "heartbeat is" in caplog.text and "another-host.invalid" in caplog.text
  assert not os.path.exists(run / workdir_lib.LOCK_FILE)


# ---------------------------------------------------------------------------------------------------------
# model.json checked against the stored arrays' shapes before any parameter is read.


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  run = tmp_path_factory.mktemp("lying") / "run"
  training.train_and_evaluate(train_checks.tiny_config(), str(run))
  return run


def test_a_lying_model_json_is_one_clear_error(finished, tmp_path, capsys, monkeypatch):
  run = tmp_path / "run"
  shutil.copytree(finished, run)
  spec = json.loads((run / "model.json").read_text())
  spec["event_shape"] = [4, 4, 1]  # the stored MADE was built for 8x8x1
  (run / "model.json").write_text(json.dumps(spec))
  with pytest.raises(workdir_lib.ModelMismatchError,
                     match=r"does not hold the model .*model.json describes: \[.*\] is stored with shape"):
    inference.load(str(run))
  monkeypatch.setenv("TQDM_DISABLE", "1")
  assert cli.main(["eval", "--workdir", str(run)]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "model.json" in err[0] and "stored with shape" in err[0]


def test_resuming_with_another_model_is_one_clear_error(finished, tmp_path):
  run = tmp_path / "run"
  shutil.copytree(finished, run)
  cfg = train_checks.tiny_config(num_steps=4)
  cfg.model.overrides.hidden_sizes = (24,)
  with pytest.raises(workdir_lib.ModelMismatchError, match="this run's config"):
    training.train_and_evaluate(cfg, str(run))
