"""The train-step benchmark (`experiments/bench_train.py`) runs end to end at size tiny and writes its JSON.

The PyTorch peer (`experiments/bench_peer_torch.py`) is not run or imported here: torch is optional.
"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "experiments", "bench_train.py")
CASES = ("made_peer", "fvsbn_small", "pixelcnn_peer")


def test_bench_train_tiny_writes_positive_times(tmp_path):
  out = tmp_path / "bench.json"
  done = subprocess.run([sys.executable, SCRIPT, "--tiny", "--cases", ",".join(CASES), "--json", str(out)],
                        capture_output=True, text=True, timeout=300, cwd=REPO)
  assert done.returncode == 0, done.stderr[-4000:]
  assert "| case |" in done.stdout  # the markdown table
  result = json.loads(out.read_text())
  assert result["peak"]["gflops_per_s"] > 0
  assert result["jax"] and result["platform"] and result["device_kind"] and result["command"]
  assert [r["case"] for r in result["results"]] == list(CASES)
  for row in result["results"]:
    assert "error" not in row, row
    assert row["size"] == "tiny"
    assert len(row["times_s"]) == 2 and all(t > 0 for t in row["times_s"])
    assert 0 < row["min_s"] <= row["median_s"] <= row["max_s"]
    assert row["examples_per_s"] > 0 and row["compile_s"] > 0
    assert row["loss_finite"]
    flops = row["flops_per_step"]
    assert flops is None or flops > 0
    assert row["predicted_memory_bytes"] > 0  # XLA's figure, printed beside the measured by device_check


def test_bench_scan_blocks_refuses_an_unknown_model():
  out = subprocess.run([sys.executable, os.path.join(REPO, "experiments", "bench_scan_blocks.py"),
                        "--models", "gated_pixelcnn,made"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": REPO}, timeout=120)
  assert out.returncode == 2
  assert "expected models among gated_pixelcnn, pixelcnn_pp, pixelsnail, got made" in out.stderr
