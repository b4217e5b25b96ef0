"""The one trainer (``training.trainer``): its guarantees hold for a VQ-VAE run as for an autoregressive
one (files.json, the damaged-checkpoint fallback, the SIGTERM save), a field a task cannot honour is a
ValueError, and divergence is one line with exit status 3 (issues 29 and 30)."""

from __future__ import annotations

import logging
import os
import shutil

import pytest

import cli_runs

from armodels_jax import checkpointing
from armodels_jax import cli
from armodels_jax import training
from armodels_jax.training import metrics as metrics_lib
from armodels_jax.training import trainer

import test_checkpoint_damage as damage  # The damage helpers (_largest, _damage) of the AR runs.

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VQ_CONFIG = os.path.join(REPO, "experiments", "configs", "vqvae_mnist.py") + ":tiny"
VQ_OVERRIDES = ["data.name=digits", "data.path=", "train.sample_every=0", "train.checkpoint_every=2",
                "train.keep_checkpoints=0", "train.log_every=1", "train.eval_every=0",
                "train.eval_max_examples=16"]


def _vq_config(num_steps, *extra):
  return training.load_config(VQ_CONFIG, VQ_OVERRIDES + [f"train.num_steps={num_steps}", *extra])


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory):
  """A finished tiny VQ-VAE run with checkpoints at steps 2 and 4 (tests damage copies)."""
  workdir = str(tmp_path_factory.mktemp("vq") / "run")
  training.train_and_evaluate(_vq_config(4), workdir)
  return workdir


def test_vqvae_run_writes_files_json(vq_run):
  assert checkpointing.list_steps(vq_run) == [4, 2]
  for step in (2, 4):
    listed = checkpointing.read_json(os.path.join(checkpointing.step_dir(vq_run, step), "files.json"))
    assert listed["files"] and set(listed["files"]) == set(listed["sizes"])
    assert checkpointing.check_step(vq_run, step, full=True)
  assert not os.path.exists(os.path.join(vq_run, "lock.json"))  # released at the end


def test_vqvae_run_falls_back_from_a_damaged_checkpoint(vq_run, tmp_path, caplog):
  work = str(tmp_path / "copy")
  shutil.copytree(vq_run, work)
  chunk = damage._largest(os.path.join(checkpointing.step_dir(work, 4), "state"))
  damage._damage(chunk, "flip")
  with caplog.at_level(logging.WARNING):
    result = training.train_and_evaluate(_vq_config(4), work)
  assert result["step"] == 4
  assert "resuming from step 2: skipped the damaged step 4" in caplog.text
  assert [r["step"] for r in metrics_lib.read_metrics(work, "train")] == [1, 2, 3, 4, 3, 4]
  assert os.path.isdir(os.path.join(work, checkpointing.DAMAGED_DIR, "4"))


@pytest.mark.parametrize("field", ["train.tbptt=True", "train.perturb_rate=0.1", "model.conditional=True"])
def test_vqvae_refuses_fields_it_cannot_honour(tmp_path, field):
  name = field.split("=")[0]
  with pytest.raises(ValueError, match=f"{name}=.*VQ-VAE.*cannot honour"):
    training.train_and_evaluate(_vq_config(2, field), str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "config.json")  # refused before any file is written


def test_vqvae_saves_on_sigterm(tmp_path):
  config = cli_runs.write_config(tmp_path)
  run = tmp_path / "preempted"
  cmd = cli_runs.train_cmd(config, run, 100_000, "train.checkpoint_every=0", "model.name=vqvae",
                           "train.ema_decay=0.0")
  returncode, out, err = cli_runs.sigterm_after_steps(cmd, run, 2)
  assert returncode == 0, err[-3000:]
  stopped = checkpointing.latest_step(str(run))
  assert stopped is not None and 2 <= stopped < 100_000
  assert checkpointing.check_step(str(run), stopped, full=True)  # with its files.json
  assert "stopped" in out
  assert checkpointing.read_json(str(run / "model.json"))["name"] == "vqvae"


# ---------------------------------------------------------------------------------------------------------
# Divergence: one error naming the step and the kept checkpoint; on the command line one line, status 3.


def test_divergence_names_the_step_and_the_kept_checkpoint(tmp_path):
  import train_checks  # pylint: disable=g-import-not-at-top

  cfg = train_checks.tiny_config(learning_rate=1e36, num_steps=20, checkpoint_every=1, log_every=1)
  with pytest.raises(trainer.TrainingDivergedError, match=r"training diverged: .* step \d+.*") as info:
    training.train_and_evaluate(cfg, str(tmp_path / "run"))
  kept = checkpointing.latest_step(str(tmp_path / "run"))
  assert info.value.kept_step == kept
  assert (f"step {kept}, is kept" if kept is not None else "no checkpoint was saved") in str(info.value)
  assert info.value.step > (kept or 0)


def test_cli_divergence_is_one_line_and_status_3(tmp_path, capsys, monkeypatch):
  monkeypatch.setenv("TQDM_DISABLE", "1")  # stderr holds the error alone
  config = cli_runs.write_config(tmp_path)
  argv = cli_runs.train_cmd(config, tmp_path / "run", 20, "train.learning_rate=1e36",
                            "train.checkpoint_every=1")[3:]  # after `python -m armodels_jax.cli`
  assert cli.main(argv) == 3
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("armodels train: error: training diverged")
  assert "is kept" in err[0] or "no checkpoint was saved" in err[0]


def test_lock_is_released_after_a_failed_run(tmp_path):
  import train_checks  # pylint: disable=g-import-not-at-top

  cfg = train_checks.tiny_config(learning_rate=float("nan"), num_steps=3, checkpoint_every=100)
  with pytest.raises(FloatingPointError):
    training.train_and_evaluate(cfg, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "lock.json")


# ---------------------------------------------------------------------------------------------------------
# A full disk while the run writes its other files (metrics, samples): one line naming the kept checkpoint.


def test_cli_full_disk_while_logging_is_one_line_naming_the_kept_checkpoint(tmp_path, capsys,
                                                                            monkeypatch):
  import errno  # pylint: disable=g-import-not-at-top

  monkeypatch.setenv("TQDM_DISABLE", "1")
  original = metrics_lib.MetricWriter.write

  def write(self, step, split, metrics):
    if step >= 4:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
    return original(self, step, split, metrics)

  monkeypatch.setattr(metrics_lib.MetricWriter, "write", write)
  config = cli_runs.write_config(tmp_path)
  argv = cli_runs.train_cmd(config, tmp_path / "run", 8, "train.checkpoint_every=2",
                            "train.log_every=1")[3:]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1, err
  assert "metrics.jsonl" in err[0] and "No space left on device" in err[0]
  # Step 4's record is written before step 4's checkpoint: the one kept is step 2's.
  assert "the last complete checkpoint, step 2, is kept" in err[0], err[0]
  assert not os.path.exists(tmp_path / "run" / "lock.json")
