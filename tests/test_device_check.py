"""The GPU check script (`experiments/device_check.sh`) and its summary (`experiments/device_summary.py`).

Nothing here needs a GPU or a network: ``DRY_RUN=1`` prints the commands instead of running them, and the
summary is fed hand-made stage outputs.
"""

import importlib.util
import json
import os
import shlex
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "experiments", "device_check.sh")
STAGES = ["device", "tests", "train", "sampling", "audio"]


def _dry(*args, **env):
  done = subprocess.run(["bash", SCRIPT, *args], env=dict(os.environ, DRY_RUN="1", **env),
                        capture_output=True, text=True, timeout=60, cwd=REPO)
  assert done.returncode == 0, done.stderr
  lines = done.stdout.splitlines()
  stages = [line.split()[2] for line in lines if line.startswith("# stage ")]
  commands = [shlex.split(line[2:]) for line in lines if line.startswith("+ ")]
  return stages, commands, done.stdout


def _summary_module():
  spec = importlib.util.spec_from_file_location(
      "device_summary", os.path.join(REPO, "experiments", "device_summary.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_shell_syntax():
  subprocess.run(["bash", "-n", SCRIPT], check=True, timeout=30)


def test_dry_run_has_every_stage_with_a_timeout_inside_one_device_command(tmp_path):
  stages, commands, out = _dry(OUT=str(tmp_path))
  assert stages == STAGES
  runs = commands[:len(STAGES)]
  for cmd in runs:
    assert cmd[:3] == ["timeout", "-k", "10"]
  # The default limits fit the default budget (570 s), inside the device tool's 600 s command.
  assert sum(int(cmd[3]) for cmd in runs) <= 570
  assert all("JAX_PLATFORMS=cuda" in cmd for cmd in runs)
  tests, train, sampling, audio = runs[1:]
  assert "pytest" in tests and "tests/models/test_model_rules.py" in tests
  assert "tests/test_mixed_precision.py" in tests
  assert "JAX_DEFAULT_MATMUL_PRECISION=highest" in tests
  assert "experiments/bench_train.py" in train
  assert train[train.index("--cases") + 1] == "pixelcnn_pp_paper_bf16"
  assert "--json" in train
  assert "experiments/bench_sampling.py" in sampling
  for flag, value in (("--models", "pixelcnn_pp"), ("--cases", "rgb"), ("--size", "paper"),
                      ("--batch", "256")):
    assert sampling[sampling.index(flag) + 1] == value
  assert audio[audio.index("--cases") + 1] == "audio"
  assert audio[audio.index("--audio-batches") + 1] == "1"
  assert commands[-1][-2].endswith("device_summary.py")
  assert os.path.join(str(tmp_path), "device_check.json") in out
  assert not os.listdir(tmp_path)  # a dry run writes nothing


def test_stage_selection_and_output_folder(tmp_path):
  stages, commands, out = _dry("--stages", "train,audio", str(tmp_path / "x"))
  assert stages == ["train", "audio"]
  assert os.path.join(str(tmp_path / "x"), "device_check.json") in out


def test_budget_cuts_the_stage_timeouts():
  _, commands, _ = _dry(BUDGET_S="200")
  limits = [int(cmd[3]) for cmd in commands[:len(STAGES)]]
  assert max(limits) <= 190


def test_prepare_downloads_the_missing_wheels_into_the_ignored_folder():
  _, commands, _ = _dry("--prepare")
  wanted = {"tensorflow-datasets", "ml_collections", "soundfile", "soxr", "tensorboardX"}
  fetched = set()
  for cmd in commands:
    assert cmd[1:4] == ["-m", "pip", "download"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert cmd[cmd.index("-d") + 1] == os.path.join(REPO, ".whl")
    fetched.add(cmd[-1].split("==")[0])
  assert wanted <= fetched
  if shutil.which("git") and os.path.isdir(os.path.join(REPO, ".git")):
    ignored = subprocess.run(["git", "check-ignore", "-q", ".whl/x.whl"], cwd=REPO, timeout=30)
    assert ignored.returncode == 0, ".whl/ must be git-ignored (it travels with carry=['.whl'])"


def test_summary_computes_utilisation_speedups_and_real_time(tmp_path):
  (tmp_path / "stages.tsv").write_text("device\t0\t3\t60\ntests\t0\t90\t150\ntrain\t124\t150\t150\n"
                                       "sampling\t0\t100\t170\naudio\tskipped\t0\t0\n")
  (tmp_path / "device.json").write_text(json.dumps(
      {"jax": "0.11.2", "backend": "gpu", "device_kind": "NVIDIA H200", "device_count": 1}))
  (tmp_path / "tests.xml").write_text(
      '<testsuites><testsuite name="pytest" tests="3" failures="1" errors="0" skipped="1" time="9.5">'
      '<testcase classname="tests.a" name="ok"/><testcase classname="tests.a" name="bad">'
      '<failure message="x"/></testcase><testcase classname="tests.a" name="skip"><skipped/></testcase>'
      '</testsuite></testsuites>')
  (tmp_path / "train.json").write_text(json.dumps({"results": [
      {"case": "pixelcnn_pp_paper_bf16", "model": "pixelcnn_pp", "batch": 16, "median_s": 2.0,
       "flops_per_step": 1.0e15, "overrides": {"dtype": "bfloat16"}, "bytes_per_step": 9.6e12,
       "predicted_memory_bytes": 3 * 2 ** 30, "measured_peak_memory_bytes": 4 * 2 ** 30},
      {"case": "pixelcnn_pp_paper", "model": "pixelcnn_pp", "batch": 16, "median_s": 4.0,
       "flops_per_step": 1.0e15, "overrides": {}}]}))
  (tmp_path / "sampling.log").write_text(
      "# cuda\npixelcnn_pp paper ...\n" + json.dumps(
          {"model": "pixelcnn_pp", "size": "paper", "event_shape": [32, 32, 3], "batch": 256,
           "ratio": 91.5, "cached_s_per_batch": 2.0, "naive_s_per_batch": 183.0,
           "identical_on_timed_steps": True, "aot_flops": 4.94e14, "aot_bytes": 9.6e12,
           "aot_memory_bytes": 2 ** 29, "aot_loops": 3, "aot_scan_steps": 1024}) + "\n")
  (tmp_path / "audio.log").write_text(json.dumps(
      {"model": "wavenet", "size": "paper", "batch": 1, "cached_samples_per_s_per_stream": 48000.0,
       "identical_on_timed_steps": True, "aot_flops": 0.0, "aot_bytes": 4.8e10, "cached_length": 16000, "aot_scan_steps": 16000,
       "cached_s_per_sample": 1 / 48000.0}) + "\n")
  summary = _summary_module()
  summary.main([str(tmp_path)])
  result = json.loads((tmp_path / "device_check.json").read_text())
  assert result["peak"]["bfloat16"] == pytest.approx(989e12)
  assert [s["status"] for s in result["stages"]] == ["ok", "ok", "timed out", "ok", "skipped"]
  assert result["tests"]["passed"] == 1 and result["tests"]["failed_tests"] == ["tests.a::bad"]
  bf16, f32 = result["train"]
  assert bf16["compute_dtype"] == "bfloat16" and bf16["tflops_per_s"] == pytest.approx(500.0)
  assert bf16["mfu"] == pytest.approx(500e12 / 989e12)
  assert f32["compute_dtype"] == "float32" and f32["mfu"] == pytest.approx(250e12 / 494e12)
  # The AOT roofline beside the measured step: bytes bound (9.6e12 B / 4.8e12 B/s) over FLOPs (1e15 / 989e12).
  assert bf16["predicted_step_s"] == pytest.approx(2.0)
  assert f32["predicted_step_s"] == pytest.approx(1.0e15 / 494e12)
  assert bf16["predicted_memory_bytes"] == 3 * 2 ** 30
  (pp,) = result["sampling"]
  assert pp["speedup_over_ramachandran"] == pytest.approx(0.5)
  # The sampler's AOT roofline: bytes (9.6e12 / 4.8e12 B/s = 2 s) over FLOPs in float32 (1 s).
  assert pp["predicted_cached_s_per_batch"] == pytest.approx(2.0)
  (wave,) = result["audio"]
  assert wave["predicted_cached_s_per_sample"] == pytest.approx(4.8e10 / 4.8e12 / 16000)
  printed = summary.table(result)
  assert printed.count("AOT prediction beside measured") == 4 and "3 loops" in printed  # 2 train, 2 samplers
  assert wave["realtime_factor_16khz"] == pytest.approx(3.0)
  assert wave["realtime_factor_24khz"] == pytest.approx(2.0)


def test_summary_of_an_empty_folder(tmp_path):
  summary = _summary_module()
  summary.main([str(tmp_path)])
  result = json.loads((tmp_path / "device_check.json").read_text())
  assert result["train"] == [] and result["tests"] is None and result["peak"] is None
