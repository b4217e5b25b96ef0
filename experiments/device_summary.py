"""Gathers the outputs of ``experiments/device_check.sh`` into one JSON and prints a short table.

    python experiments/device_summary.py OUTDIR            # reads OUTDIR/*, writes OUTDIR/device_check.json
    python experiments/device_summary.py --device FILE     # what jax sees, as JSON (the script's first stage)

Inputs (each optional: a stage that failed or was skipped leaves its entry empty):

* ``stages.tsv``: one line per stage, ``name<TAB>exit code<TAB>seconds<TAB>timeout``, from the shell script;
* ``device.json``: jax version, backend, device kind and count, written by the script's first stage;
* ``tests.xml``: pytest's JUnit report (counts of passed / failed / skipped);
* ``train.json``: ``experiments/bench_train.py --json`` (per case ``flops_per_step`` from XLA's cost
  analysis and ``median_s``), turned into a model FLOP utilisation against the chip's dense peak of the
  case's compute dtype (``experiments/device_peaks.json``);
* ``sampling.log`` / ``audio.log``: ``experiments/bench_sampling.py`` output, one JSON object per line:
  PixelCNN++ cached-over-naive speed-up against the "up to 183x" of Ramachandran et al. 2017 (their
  abstract; the speed-up grows with the batch), WaveNet samples per second of one stream against real
  time at 16 and 24 kHz.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PEAKS = os.path.join(HERE, "device_peaks.json")
# Ramachandran et al. 2017, "Fast Generation for Convolutional Autoregressive Models", ICLR workshop,
# abstract: cached over naive generation, up to 183x for PixelCNN++ (and 21x for WaveNet).
RAMACHANDRAN_PIXELCNN_PP_SPEEDUP = 183.0
AUDIO_RATES_HZ = (16000, 24000)


def _read(path: str) -> str | None:
  try:
    with open(path) as f:
      return f.read()
  except OSError:
    return None


def _json(path: str) -> Any:
  text = _read(path)
  if text is None:
    return None
  try:
    return json.loads(text)
  except ValueError:
    return None


def json_lines(text: str | None) -> list[dict[str, Any]]:
  """The JSON objects among the lines of ``text`` (other lines are skipped)."""
  rows = []
  for line in (text or "").splitlines():
    line = line.strip()
    if line.startswith("{") and line.endswith("}"):
      try:
        rows.append(json.loads(line))
      except ValueError:
        pass
  return rows


def stages(text: str | None) -> list[dict[str, Any]]:
  out = []
  for line in (text or "").splitlines():
    parts = line.split("\t")
    if len(parts) == 4:
      name, rc, seconds, timeout = parts
      status = {"0": "ok", "124": "timed out", "137": "killed (timeout)", "skipped": "skipped"}.get(
          rc, "failed")
      out.append({"stage": name, "status": status, "exit_code": None if rc == "skipped" else int(rc),
                  "seconds": float(seconds), "timeout_s": int(timeout)})
  return out


def junit(path: str) -> dict[str, Any] | None:
  """Counts from a pytest JUnit XML report, or None."""
  text = _read(path)
  if not text:
    return None
  try:
    root = ET.fromstring(text)
  except ET.ParseError:
    return None
  suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
  total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
  total["passed"] = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
  total["seconds"] = sum(float(s.get("time", 0.0)) for s in suites)
  failed = []
  for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
      failed.append(f"{case.get('classname')}::{case.get('name')}")
  total["failed_tests"] = failed
  return total


def peak_for(device_kind: str | None, peaks: dict[str, Any]) -> dict[str, Any] | None:
  """The first entry of the peak table whose ``match`` is in ``device_kind`` (case-insensitive)."""
  if not device_kind:
    return None
  for entry in peaks.get("devices", []):
    if entry["match"].lower() in device_kind.lower():
      return entry
  return None


def compute_dtype(row: dict[str, Any]) -> str:
  """``"bfloat16"`` for a bench_train case that trains in bfloat16, else ``"float32"``."""
  overrides = row.get("overrides") or {}
  if row.get("dtype") == "bfloat16" or overrides.get("dtype") == "bfloat16" \
      or str(row.get("case", "")).endswith("_bf16"):
    return "bfloat16"
  return "float32"


def _roofline(row: dict[str, Any], peak: dict[str, Any] | None) -> float | None:
  """The ahead-of-time step time, as `armodels compile` predicts a TPU's (armodels_jax.aot): max of the
  step's FLOPs over the chip's peak (of its compute dtype) and its bytes over the HBM bandwidth."""
  if peak is None:
    return None
  flops_peak = peak.get("bfloat16" if row["compute_dtype"] == "bfloat16" else "tf32") or peak.get("bfloat16")
  bounds = []
  if row.get("flops_per_step") and flops_peak:
    bounds.append(row["flops_per_step"] / flops_peak)
  if row.get("bytes_per_step") and peak.get("hbm_bytes_per_s"):
    bounds.append(row["bytes_per_step"] / peak["hbm_bytes_per_s"])
  return max(bounds) if bounds else None


def train_rows(bench: Any, peak: dict[str, Any] | None) -> list[dict[str, Any]]:
  """bench_train rows with the model FLOP utilisation against the chip's dense peak."""
  rows = []
  for r in (bench or {}).get("results", []):
    row = {k: r.get(k) for k in ("case", "model", "size", "event_shape", "batch", "params", "compile_s",
                                 "median_s", "examples_per_s", "flops_per_step", "has_loop",
                                 "final_loss", "error", "bytes_per_step", "predicted_memory_bytes",
                                 "measured_peak_memory_bytes")}
    row["compute_dtype"] = dtype = compute_dtype(r)
    flops, median = r.get("flops_per_step"), r.get("median_s")
    row["tflops_per_s"] = flops / median / 1e12 if flops and median else None
    if peak is not None and row["tflops_per_s"] is not None:
      keys = ("bfloat16",) if dtype == "bfloat16" else ("tf32", "float32")
      for key in keys:
        if peak.get(key):
          row[f"mfu_vs_{key}_peak"] = row["tflops_per_s"] * 1e12 / peak[key]
      row["mfu"] = row.get(f"mfu_vs_{keys[0]}_peak")
    row["predicted_step_s"] = _roofline(row, peak)
    rows.append(row)
  return rows


def _sampler_prediction(row: dict[str, Any], peak: dict[str, Any] | None) -> float | None:
  """The roofline seconds of one call of the cached sampler from its AOT figures (bench_sampling's
  ``aot_flops`` and ``aot_bytes``: the compiled program's cost x the scan's length; the sampler computes
  in float32)."""
  if row.get("aot_flops") is None:
    return None
  return _roofline({"compute_dtype": "float32", "flops_per_step": row["aot_flops"],
                    "bytes_per_step": row.get("aot_bytes")}, peak)


def sampling_rows(rows: list[dict[str, Any]], peak: dict[str, Any] | None = None) -> list[dict[str, Any]]:
  out = []
  for r in rows:
    if r.get("model") == "wavenet":
      continue
    row = dict(r)
    row["predicted_cached_s_per_batch"] = _sampler_prediction(r, peak)
    if r.get("model") == "pixelcnn_pp" and r.get("ratio"):
      row["ramachandran_speedup"] = RAMACHANDRAN_PIXELCNN_PP_SPEEDUP
      row["speedup_over_ramachandran"] = r["ratio"] / RAMACHANDRAN_PIXELCNN_PP_SPEEDUP
    out.append(row)
  return out


def audio_rows(rows: list[dict[str, Any]], peak: dict[str, Any] | None = None) -> list[dict[str, Any]]:
  out = []
  for r in rows:
    if r.get("model") != "wavenet":
      continue
    row = dict(r)
    call = _sampler_prediction(r, peak)
    row["predicted_cached_s_per_sample"] = call / r["cached_length"] if call and r.get("cached_length") else None
    per_stream = r.get("cached_samples_per_s_per_stream")
    if per_stream:
      for rate in AUDIO_RATES_HZ:
        row[f"realtime_factor_{rate // 1000}khz"] = per_stream / rate
    out.append(row)
  return out


def summarize(outdir: str) -> dict[str, Any]:
  peaks = _json(PEAKS) or {}
  device = _json(os.path.join(outdir, "device.json")) or {}
  peak = peak_for(device.get("device_kind"), peaks)
  result = {
      "device": device,
      "peak": peak,
      "stages": stages(_read(os.path.join(outdir, "stages.tsv"))),
      "tests": junit(os.path.join(outdir, "tests.xml")),
      "train": train_rows(_json(os.path.join(outdir, "train.json")), peak),
      "sampling": sampling_rows(json_lines(_read(os.path.join(outdir, "sampling.log"))), peak),
      "audio": audio_rows(json_lines(_read(os.path.join(outdir, "audio.log"))), peak),
  }
  return result


def _fmt(value: Any, spec: str = ".3g") -> str:
  return "n/a" if value is None else format(value, spec)


def table(result: dict[str, Any]) -> str:
  lines = [f"device: {result['device'].get('device_kind', 'unknown')} x{result['device'].get('device_count', '?')}"
           f", jax {result['device'].get('jax', '?')}"]
  for s in result["stages"]:
    lines.append(f"stage {s['stage']:9s} {s['status']:16s} {s['seconds']:7.1f} s (limit {s['timeout_s']} s)")
  t = result["tests"]
  if t:
    lines.append(f"tests: {t['passed']} passed, {t['failures'] + t['errors']} failed, {t['skipped']} skipped"
                 + (f"; failed: {', '.join(t['failed_tests'][:5])}" if t["failed_tests"] else ""))
  for r in result["train"]:
    if r.get("error"):
      lines.append(f"train {r['case']}: FAILED {str(r['error'])[:100]}")
      continue
    lines.append(f"train {r['case']} ({r['compute_dtype']}, batch {r['batch']}): {_fmt(r['median_s'], '.4f')} s/step, "
                 f"{_fmt(r['tflops_per_s'])} TFLOP/s, MFU {_fmt(r.get('mfu'), '.1%')}")
    gib = lambda b: None if b is None else b / 2 ** 30  # noqa: E731
    lines.append(f"  AOT prediction beside measured: step {_fmt(r.get('predicted_step_s'), '.4f')} s (roofline) "
                 f"vs {_fmt(r['median_s'], '.4f')} s; memory {_fmt(gib(r.get('predicted_memory_bytes')), '.2f')} "
                 f"GiB (XLA) vs {_fmt(gib(r.get('measured_peak_memory_bytes')), '.2f')} GiB (peak in use)"
                 + ("; the step has a loop, whose body XLA's cost analysis counts once: the predicted step is "
                    "too low" if r.get("has_loop") else ""))
  for r in result["sampling"]:
    lines.append(f"sampling {r['model']} {r.get('size')} {tuple(r.get('event_shape', ()))} batch {r.get('batch')}: "
                 f"cached {_fmt(r.get('cached_s_per_batch'))} s, naive {_fmt(r.get('naive_s_per_batch'))} s, "
                 f"{_fmt(r.get('ratio'), '.0f')}x (Ramachandran: {RAMACHANDRAN_PIXELCNN_PP_SPEEDUP:.0f}x), "
                 f"identical {r.get('identical_on_timed_steps')}")
    lines.append(_sampler_aot_line(r, r.get("predicted_cached_s_per_batch"), r.get("cached_s_per_batch"), "batch"))
  for r in result["audio"]:
    lines.append(f"audio wavenet {r.get('size')} batch {r.get('batch')}: "
                 f"{_fmt(r.get('cached_samples_per_s_per_stream'), '.0f')} samples/s per stream, real time x"
                 f"{_fmt(r.get('realtime_factor_16khz'), '.2f')} at 16 kHz, x{_fmt(r.get('realtime_factor_24khz'), '.2f')}"
                 f" at 24 kHz, identical {r.get('identical_on_timed_steps')}")
    lines.append(_sampler_aot_line(r, r.get("predicted_cached_s_per_sample"), r.get("cached_s_per_sample"),
                                   "sample"))
  return "\n".join(lines)


def _sampler_aot_line(r: dict[str, Any], predicted: float | None, measured: float | None, unit: str) -> str:
  gib = None if r.get("aot_memory_bytes") is None else r["aot_memory_bytes"] / 2 ** 30
  loops = r.get("aot_loops")
  note = "" if not loops or loops <= 1 else f"; {loops} loops in the program: a floor"
  return (f"  AOT prediction beside measured: cached {_fmt(predicted, '.4g')} s/{unit} (roofline of the "
          f"compiled sampler, its scan body x {r.get('aot_scan_steps', '?')}{note}) vs {_fmt(measured, '.4g')} "
          f"s/{unit}; memory {_fmt(gib, '.3f')} GiB (XLA)")


def device_info() -> dict[str, Any]:
  """jax's version, backend and devices (imports jax: under ``JAX_PLATFORMS=cuda`` a machine without a
  GPU fails here rather than falling back to the CPU)."""
  import jax
  devices = jax.devices()
  return {"jax": jax.__version__, "backend": jax.default_backend(),
          "device_kind": devices[0].device_kind, "device_count": len(devices),
          "devices": [str(d) for d in devices], "python": sys.version.split()[0]}


def main(argv: list[str] | None = None) -> None:
  argv = sys.argv[1:] if argv is None else argv
  if len(argv) == 2 and argv[0] == "--device":
    info = device_info()
    with open(argv[1], "w") as f:
      json.dump(info, f, indent=2)
    print(json.dumps(info))
    return
  if len(argv) != 1:
    raise SystemExit("usage: device_summary.py OUTDIR | device_summary.py --device FILE")
  outdir = argv[0]
  result = summarize(outdir)
  with open(os.path.join(outdir, "device_check.json"), "w") as f:
    json.dump(result, f, indent=2)
  print(table(result))


if __name__ == "__main__":
  main()
