"""Damaged checkpoints (issue 17, section 1): truncated, deleted and flipped files in a finished tiny run
and in a copy of a shipped checkpoint; an unwritable workdir and a full disk at the first save.

Loading checks sizes first and sha256 when asked or when loading fails, so a flipped byte inside an array
chunk (which orbax reads without complaint) is found by the sha256 check (``full_check``, resuming, and
``arm.pretrained.load``), and every error names the damaged file.
"""

import logging
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import armodels_jax as arm
from armodels_jax import checkpointing
from armodels_jax import inference
from armodels_jax import training
from armodels_jax.training import metrics as metrics_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(REPO, "pretrained", "row_lstm_binarized_mnist")  # the smallest shipped one
OVERRIDES = ["train.sample_every=0", "train.checkpoint_every=2", "train.keep_checkpoints=0",
             "train.log_every=1", "train.eval_every=0", "train.eval_max_examples=16"]


def _config(num_steps):
  return training.load_config(os.path.join(REPO, "experiments", "configs", "made_digits.py") + ":tiny",
                              OVERRIDES + [f"train.num_steps={num_steps}"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A finished tiny run with checkpoints at steps 2 and 4 (never modified: tests damage copies)."""
  workdir = str(tmp_path_factory.mktemp("damage") / "run")
  training.train_and_evaluate(_config(4), workdir)
  assert checkpointing.list_steps(workdir) == [4, 2]
  return workdir


def _copy(src, tmp_path, name="copy"):
  dest = str(tmp_path / name)
  shutil.copytree(src, dest)
  return dest


def _largest(folder):
  """The largest file under `folder`: an array chunk (orbax reads a flipped byte there silently)."""
  files = [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs]
  return max(files, key=os.path.getsize)


def _damage(path, how):
  if how == "truncate":
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)
  elif how == "delete":
    os.remove(path)
  else:  # flip: same size, one byte changed
    with open(path, "r+b") as f:
      f.seek(os.path.getsize(path) // 2)
      byte = f.read(1)
      f.seek(-1, os.SEEK_CUR)
      f.write(bytes([byte[0] ^ 0xFF]))


def _assert_same_params(a, b):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 0
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---------------------------------------------------------------------------------------------------------
# A training workdir: eval / sample / resume use the newest intact checkpoint and say what they skipped.


@pytest.mark.parametrize("how,what", [("truncate", "chunk"), ("delete", "chunk"),
                                      ("flip", "metadata"), ("flip", "chunk")])
def test_inference_uses_the_newest_intact_step(run, tmp_path, caplog, how, what):
  work = _copy(run, tmp_path)
  state = os.path.join(checkpointing.step_dir(work, 4), "state")
  target = _largest(state) if what == "chunk" else os.path.join(state, "_METADATA")
  _damage(target, how)
  # A flipped byte inside an array chunk loads without error: only the sha256 (asked for) finds it.
  full = how == "flip" and what == "chunk"
  with caplog.at_level(logging.WARNING):
    _, variables, step = inference.load(work, full_check=full)
  assert step == 2
  assert "skipped the damaged step 4" in caplog.text and os.path.basename(target) in caplog.text
  _assert_same_params(variables, inference.load(run, step=2)[1])
  # Asking for the damaged step itself is an error naming the file.
  with pytest.raises(checkpointing.CheckpointError, match=os.path.basename(target)):
    inference.load(work, step=4, full_check=True)


def test_train_resumes_from_the_newest_intact_checkpoint(run, tmp_path, caplog):
  work = _copy(run, tmp_path)
  chunk = _largest(os.path.join(checkpointing.step_dir(work, 4), "state"))
  _damage(chunk, "flip")  # Loads without error: resuming checks the sha256.
  with caplog.at_level(logging.WARNING):
    result = training.train_and_evaluate(_config(4), work)  # The same run, relaunched.
  assert result["step"] == 4
  assert "resuming from step 2: skipped the damaged step 4" in caplog.text
  assert os.path.basename(chunk) in caplog.text
  # Steps 3 and 4 were redone from the checkpoint at step 2, not from scratch.
  assert [r["step"] for r in metrics_lib.read_metrics(work, "train")] == [1, 2, 3, 4, 3, 4]
  assert checkpointing.list_steps(work) == [4, 2]
  assert os.path.isdir(os.path.join(work, checkpointing.DAMAGED_DIR, "4"))  # kept for inspection
  # The redone step 4 equals the original one bit for bit, and every new step has its files.json.
  _assert_same_params(inference.load(work, step=4, full_check=True)[1], inference.load(run, step=4)[1])


def test_train_refuses_when_every_checkpoint_is_damaged(run, tmp_path):
  work = _copy(run, tmp_path)
  for step in (2, 4):
    os.remove(os.path.join(checkpointing.step_dir(work, step), "state", "_METADATA"))
  with pytest.raises(checkpointing.CheckpointError, match="every checkpoint .* is damaged.*_METADATA"):
    training.train_and_evaluate(_config(6), work)
  assert checkpointing.list_steps(work) == [4, 2]  # Nothing started from scratch over them.
  assert len(metrics_lib.read_metrics(work, "train")) == 4


def test_unwritable_workdir_fails_before_training(tmp_path):
  (tmp_path / "a_file").write_text("")
  with pytest.raises(checkpointing.CheckpointWriteError, match="cannot write to the workdir"):
    training.train_and_evaluate(_config(2), str(tmp_path / "a_file" / "run"))


def test_full_disk_at_the_first_save_keeps_the_last_checkpoint(run, tmp_path, monkeypatch):
  work = _copy(run, tmp_path)

  def full_disk(self, step, *args, **kwargs):
    # tensorstore's error for ENOSPC, as measured on a full tmpfs (orbax 0.12.8).
    raise ValueError(f'RESOURCE_EXHAUSTED: Error writing "{self.directory}/{step}": Failed to write '
                     "664353 bytes to file 17: No space left on device [os_error_code='28']")

  monkeypatch.setattr(ocp.CheckpointManager, "save", full_disk)
  with pytest.raises(checkpointing.CheckpointWriteError,
                     match="No space left on device; the last complete checkpoint, step 4, is kept"):
    training.train_and_evaluate(_config(8), work)
  # Training stopped at the first save (step 6), and step 4 is intact.
  assert max(r["step"] for r in metrics_lib.read_metrics(work, "train")) == 6
  assert checkpointing.list_steps(work) == [4, 2]
  _assert_same_params(inference.load(work, full_check=True)[1], inference.load(run, step=4)[1])


# ---------------------------------------------------------------------------------------------------------
# A copy of a shipped checkpoint.


@pytest.mark.parametrize("how", ["truncate", "delete", "flip"])
def test_damaged_shipped_copy_names_the_file(tmp_path, how):
  work = _copy(SHIPPED, tmp_path)
  chunk = _largest(os.path.join(work, "params"))
  _damage(chunk, how)
  rel = os.path.relpath(chunk, work)
  with pytest.raises(checkpointing.CheckpointError, match=os.path.basename(rel)):
    arm.pretrained.load(work)  # sha256 of every file
  if how != "flip":  # The size check alone (eval, sample) finds these before orbax reads anything.
    with pytest.raises(checkpointing.CheckpointError, match=os.path.basename(rel)):
      inference.load(work)


def test_cli_eval_of_a_damaged_shipped_copy_is_one_line_and_status_2(tmp_path):
  work = _copy(SHIPPED, tmp_path)
  chunk = _largest(os.path.join(work, "params"))
  _damage(chunk, "truncate")
  np.savez(tmp_path / "x.npz", x=np.zeros((2, 28, 28), np.int32))
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("ARMODELS_DEBUG", None)
  done = subprocess.run([sys.executable, "-m", "armodels_jax.cli", "eval", "--workdir", work, "--npz",
                         str(tmp_path / "x.npz")], capture_output=True, text=True, env=env, cwd=REPO,
                        timeout=300)
  assert done.returncode == 2, done.stderr[-2000:]
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1, done.stderr[-2000:]
  assert lines[0].startswith("armodels eval: error: damaged checkpoint") and chunk in lines[0]
