"""The TPU pod launcher (`experiments/tpu/pod.sh`) builds the right gcloud commands (DRY_RUN=1 prints
them instead of running them; nothing here needs gcloud or a network)."""

import os
import shlex
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "experiments", "tpu", "pod.sh")
ENV = {"TPU": "pod1", "ZONE": "zone-a", "ACCELERATOR": "v4-16", "BUCKET": "bkt",
       "CONFIG": "experiments/configs/pixelcnn_cifar10.py", "DRY_RUN": "1"}


def _dry(*args, **env):
  done = subprocess.run(["bash", SCRIPT, *args], env=dict(os.environ, **ENV, **env), capture_output=True,
                        text=True, timeout=60, cwd=REPO)
  return done.returncode, [shlex.split(line[2:]) for line in done.stdout.splitlines()
                           if line.startswith("+ ")], done.stderr


def test_run_starts_the_same_distributed_training_on_every_host():
  rc, cmds, err = _dry("run", "--config.train.batch_size=64")
  assert rc == 0, err
  (cmd,) = cmds
  assert cmd[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "pod1"]
  assert "--worker=all" in cmd and "--zone=zone-a" in cmd
  remote = shlex.split(next(a for a in cmd if a.startswith("--command=")).split("=", 1)[1])
  i = remote.index("train")
  assert remote[i - 1].endswith("armodels")
  assert remote[remote.index("--config") + 1] == "experiments/configs/pixelcnn_cifar10.py"
  assert remote[remote.index("--workdir") + 1] == "/gcs/runs/pixelcnn_cifar10"  # shared by all hosts
  assert "--distributed" in remote and "--config.train.batch_size=64" in remote


@pytest.mark.parametrize("spot", ["0", "1"])
def test_create(spot):
  rc, cmds, err = _dry("create", SPOT=spot)
  assert rc == 0, err
  (cmd,) = cmds
  assert cmd[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "create", "pod1"]
  assert "--accelerator-type=v4-16" in cmd
  assert ("--spot" in cmd) == (spot == "1")


def test_copy_and_install_reach_every_host():
  for step in ("copy", "install"):
    rc, cmds, err = _dry(step)
    assert rc == 0, err
    remote = [c for c in cmds if c[:4] == ["gcloud", "compute", "tpus", "tpu-vm"]]
    assert remote and all("--worker=all" in c for c in remote), cmds
  _, cmds, _ = _dry("install")
  assert "gcsfuse --implicit-dirs bkt /gcs" in cmds[0][-1]


def test_data_needs_a_source_and_unknown_steps_fail():
  rc, _, err = _dry("data")
  assert rc == 2 and "DATA=" in err
  rc, _, _ = _dry("launch-everything")
  assert rc == 2
