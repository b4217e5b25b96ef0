"""experiments/soak.py with N = 3: a kill -9 during a checkpoint write, a deleted newest checkpoint and a
SIGTERM, each followed by a relaunch of the same `armodels train` command; the final state must equal an
uninterrupted run's bit for bit (the full soak, N = 50 with every fault kind, is run by hand)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_soak_three_faults_end_bit_equal(tmp_path):
  env = dict(os.environ, PYTHONPATH=ROOT)
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "experiments", "soak.py"), "--n", "3", "--seed", "1",
       "--kinds", "kill9_in_save,delete,sigterm", "--cycle", "--checkpoint-every", "4",
       "--dir", str(tmp_path / "soak"), "--timeout", "240", "--json"],
      capture_output=True, text=True, env=env, timeout=900, check=False)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  assert report["faults"] == 3 and report["resumes"] == 3
  assert report["by_kind"] == {"kill9_in_save": 1, "delete": 1, "sigterm": 1}
  assert report["final_equal"] and report["survived"] and not report["problems"]
  assert "bit for bit: yes" in proc.stdout
  sigterm = [f for f in report["fault_log"] if f["kind"] == "sigterm"][0]
  assert sigterm["exit_status"] == 0 and sigterm["steps_lost"] == 0  # it saved where it stopped
  # Nothing is lost beyond the checkpoints: a kill loses at most the steps since the last complete
  # checkpoint (two periods: the one being written may be cut), a deleted newest one a period more.
  assert report["max_steps_lost"] <= 3 * 4
