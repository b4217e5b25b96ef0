"""Train-step speed of the project's own step, one run, one machine.

    python experiments/bench_train.py                          # the matched cases (the PyTorch peer's shapes)
    python experiments/bench_train.py --cases small --steps 5  # every registered model at size small
    python experiments/bench_train.py --cases made_peer,wavenet_paper --json /tmp/bench.json
    python experiments/bench_train.py --tiny --cases made_peer,nade_small   # seconds (the tests)
    python experiments/bench_train.py --conv-method xla --no-malloc-tuning  # without this release's CPU work

The script re-runs itself with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (see
``armodels_jax/runtime_env.py``) unless ``--no-malloc-tuning`` is given; the JSON records both settings.

What is timed is exactly what ``armodels train`` runs per step: ``training.make_train_step`` (loss,
gradient, Adam from the default config's ``train`` group, EMA with decay 0.999), compiled once with
``jit(...).lower(state, x, None).compile()`` and then called ``--warmup`` + ``--steps`` times on one fixed
random batch of integer levels in ``[0, num_levels)`` (floats for RNADE), re-binding the donated state
each step. Printed per case: compile seconds, median / min / max seconds per step over the timed steps,
examples per second, and XLA's own FLOP count of the compiled step (``cost_analysis()['flops']``) turned
into GFLOP/s and a fraction of the peak GFLOP/s of a large float32 matmul measured in the same run.

XLA's cost analysis counts the body of a loop (``lax.scan`` / ``while``) once, not once per trip; the FLOP
count adds the other trips' matrix products, read from the compiled program (``armodels_jax.hlo_cost``), and
a step with a loop of unknown length (marked ``loop`` in the table) has a FLOP figure that is a lower bound.

Cases (``--cases`` takes names and groups, comma-separated):

* ``matched`` (default): the shapes of the PyTorch peer (``bench_peer_torch.py``): ``made_peer`` (784-500-784,
  one mask, no direct connections, batch 64), ``nade_peer`` (500 hidden, batch 64), ``pixelcnn_peer`` (7x7 A to 128 maps, 12
  blocks, head 32, 28x28 batch 16), ``gated_pixelcnn_peer`` (10 layers of 128 maps, 3x3, head 32, batch 16).
* ``small`` / ``paper``: ``<model>_small`` / ``<model>_paper`` for every name in ``arm.models.names()`` on
  its usual data shape (binarized MNIST for the dense and image models, 11 real dimensions for RNADE,
  100 characters of 65 for char_rnn, mu-law audio of 256 levels for WaveNet), with the batch size of its
  config in ``experiments/configs`` (paper-size image models and WaveNet use a smaller batch or window
  so that a CPU step stays in seconds; the table prints what ran).
* ``accelerator``: ``pixelcnn_pp_paper_bf16`` (PixelCNN++ paper size, 32x32x3 at 256 levels, batch 16,
  ``dtype="bfloat16"``) and its float32 twin, for GPUs and TPUs (``experiments/device_check.sh``).
* ``all``: all of the above.

``--tiny`` runs every chosen case at size ``tiny`` (no overrides, batch at most 4, sequences of 32 to 256)
with 1 warm-up and 2 timed steps: a smoke run for the tests.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

if __name__ == "__main__" and "--no-malloc-tuning" not in sys.argv:
  # Re-run this script with glibc's huge-page allocator setting before JAX starts, as the `armodels`
  # command does (armodels_jax/runtime_env.py). A checkout without that module runs as it is.
  try:
    from armodels_jax import runtime_env
  except ImportError:
    runtime_env = None
  if runtime_env is not None:
    runtime_env.reexec_tuned([__file__, *sys.argv[1:]])

import jax
import jax.numpy as jnp
import numpy as np

import armodels_jax as arm
from armodels_jax import hlo_cost
from armodels_jax import training

EMA_DECAY = 0.999
BINARY_VECTOR = ((784,), 2)
BINARY_IMAGE = ((28, 28, 1), 2)

# The PyTorch peer's shapes (experiments/bench_peer_torch.py).
MATCHED = {
    "made_peer": dict(model="made", event_shape=(784,), num_levels=2, size="small",
                      # The peer has no direct input-to-output connections (the project's default).
                      overrides=dict(hidden_sizes=(500,), num_masks=1, direct_connection=False),
                      batch=64),
    "nade_peer": dict(model="nade", event_shape=(784,), num_levels=2, size="paper", overrides={},
                      batch=64),
    "pixelcnn_peer": dict(model="pixelcnn", event_shape=(28, 28, 1), num_levels=2, size="small",
                          overrides=dict(features=128, num_blocks=12, output_features=32), batch=16),
    "gated_pixelcnn_peer": dict(model="gated_pixelcnn", event_shape=(28, 28, 1), num_levels=2,
                                size="small", overrides=dict(features=128, num_layers=10, kernel_size=3,
                                                             output_features=32), batch=16),
}

# Per model: (event_shape, num_levels, {size: batch}); batches from experiments/configs where one exists.
_DENSE = (BINARY_VECTOR[0], BINARY_VECTOR[1], {"small": 100, "paper": 100})   # dense_binarized_mnist
_USUAL = {
    "fvsbn": _DENSE,
    "nade": _DENSE,
    "nan": _DENSE,
    "eonade": _DENSE,
    "nade_k": _DENSE,
    "made": _DENSE,
    "rnade": ((11,), None, {"small": 100, "paper": 100}),              # rnade_wine_red
    "char_rnn": ((100,), 65, {"small": 32, "paper": 64}),              # text_experiment seq_len 100
    "pixelcnn": (BINARY_IMAGE[0], BINARY_IMAGE[1], {"small": 64, "paper": 16}),        # config: 64
    "gated_pixelcnn": (BINARY_IMAGE[0], BINARY_IMAGE[1], {"small": 64, "paper": 16}),  # config: 64
    "pixelcnn_pp": (BINARY_IMAGE[0], BINARY_IMAGE[1], {"small": 16, "paper": 16}),
    "pixelsnail": (BINARY_IMAGE[0], BINARY_IMAGE[1], {"small": 16, "paper": 16}),
    "row_lstm": (BINARY_IMAGE[0], BINARY_IMAGE[1], {"small": 16, "paper": 16}),
    "diagonal_bilstm": (BINARY_IMAGE[0], BINARY_IMAGE[1], {"small": 16, "paper": 16}),
    "wavenet": ((2048,), 256, {"small": 16, "paper": 4}),               # wavenet_fsdd: window 2048, b16
}
# WaveNet paper: the config's window of 8,192 samples at batch 4 (the config uses 16) keeps a CPU step
# at a few seconds.
_EVENT_BY_SIZE = {("wavenet", "paper"): (8192,)}
# Sequence lengths of the --tiny runs.
_TINY_LENGTH = {"char_rnn": 32, "wavenet": 256}


def _usual_cases() -> dict[str, dict[str, Any]]:
  cases = {}
  for size in ("small", "paper"):
    for name in arm.models.names():
      if name not in _USUAL:
        # A model registered after this script was written: binarized MNIST images, batch 16.
        event_shape, num_levels, batches = BINARY_IMAGE[0], BINARY_IMAGE[1], {"small": 16, "paper": 16}
      else:
        event_shape, num_levels, batches = _USUAL[name]
      cases[f"{name}_{size}"] = dict(model=name,
                                     event_shape=_EVENT_BY_SIZE.get((name, size), event_shape),
                                     num_levels=num_levels, size=size, overrides={},
                                     batch=batches[size])
  return cases


# Accelerator cases (experiments/device_check.sh): PixelCNN++ at the paper's size on CIFAR-10's shape,
# computing in bfloat16 (parameters, optimizer state and the likelihood head stay float32).
ACCELERATOR = {
    "pixelcnn_pp_paper_bf16": dict(model="pixelcnn_pp", event_shape=(32, 32, 3), num_levels=256,
                                   size="paper", overrides=dict(dtype="bfloat16"), batch=16),
    "pixelcnn_pp_paper_f32": dict(model="pixelcnn_pp", event_shape=(32, 32, 3), num_levels=256,
                                  size="paper", overrides={}, batch=16),
}


def all_cases() -> dict[str, dict[str, Any]]:
  """Every case by name (matched, then small, then paper, then the accelerator cases)."""
  return {**MATCHED, **_usual_cases(), **ACCELERATOR}


def expand(spec: str) -> list[str]:
  """Case names from a comma-separated list of names and groups, in order, without repeats."""
  cases = all_cases()
  groups = {
      "matched": list(MATCHED),
      "small": [c for c in cases if c.endswith("_small")],
      "paper": [c for c in cases if c.endswith("_paper")],
      "accelerator": list(ACCELERATOR),
      "all": list(cases),
  }
  out: list[str] = []
  for item in (s.strip() for s in spec.split(",")):
    if not item:
      continue
    if item in groups:
      names = groups[item]
    elif item in cases:
      names = [item]
    else:
      raise SystemExit(f"unknown case {item!r}; groups: {sorted(groups)}; cases: {list(cases)}")
    out.extend(n for n in names if n not in out)
  return out


def _tiny(case: dict[str, Any]) -> dict[str, Any]:
  keep = {k: v for k, v in case["overrides"].items() if k == "dtype"}  # the compute dtype stays
  case = dict(case, size="tiny", overrides=keep, batch=min(case["batch"], 4))
  if case["model"] in _TINY_LENGTH:
    case["event_shape"] = (_TINY_LENGTH[case["model"]],)
  return case


def _flops(compiled, loops: hlo_cost.LoopCosts) -> float | None:
  """The FLOP count of a compiled executable from XLA's cost analysis with its loops' other trips
  (``loops``: `_loops`), or None when XLA gives none."""
  try:
    analysis = compiled.cost_analysis()
  except Exception:  # Not implemented on some backends.
    return None
  if analysis is None:
    return None
  if isinstance(analysis, dict):
    analysis = [analysis]
  total = 0.0
  found = False
  for entry in analysis:
    if entry and entry.get("flops") is not None:
      total += float(entry["flops"])
      found = True
  if not found or total <= 0:
    return None
  return total + loops.missing_flops  # XLA counts each loop body once: add the other trips


def _predicted(compiled, loops: hlo_cost.LoopCosts) -> dict[str, Any]:
  """XLA's ahead-of-time figures of the compiled step, the ones `armodels compile` reports for a TPU
  (armodels_jax.aot): bytes accessed per step and the memory it needs per device (arguments, outputs
  not aliased to the donated state, temporaries, code). experiments/device_summary.py prints them beside
  the measured step time and peak memory."""
  out: dict[str, Any] = {}
  try:
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    if analysis and analysis.get("bytes accessed") is not None:
      out["bytes_per_step"] = float(analysis["bytes accessed"]) + loops.missing_bytes
  except Exception:  # Not implemented on some backends.
    pass
  try:
    m = compiled.memory_analysis()
    out["predicted_memory_bytes"] = int(m.argument_size_in_bytes + m.output_size_in_bytes
                                        - m.alias_size_in_bytes + m.temp_size_in_bytes
                                        + m.generated_code_size_in_bytes)
  except Exception:  # Not implemented on some backends.
    pass
  return out


def _peak_memory() -> int | None:
  """The device's peak bytes in use so far (``memory_stats()``; None where the backend has none)."""
  try:
    stats = jax.devices()[0].memory_stats()
  except Exception:
    return None
  return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def _loops(compiled) -> hlo_cost.LoopCosts:
  """The trips of the step's loops that XLA's cost analysis leaves out (`armodels_jax.hlo_cost`)."""
  try:
    text = compiled.as_text() or ""
  except Exception:  # Not implemented on some backends.
    text = ""
  return hlo_cost.loop_costs(text)


def peak_matmul(n: int, repeats: int = 5) -> dict[str, float]:
  """Best-of-`repeats` GFLOP/s of an n x n by n x n float32 matmul (compiled and warmed up first)."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  matmul = jax.jit(jnp.matmul)
  jax.block_until_ready(matmul(a, b))
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(matmul(a, b))
    best = min(best, time.perf_counter() - start)
  return {"n": n, "seconds": best, "gflops_per_s": 2.0 * n ** 3 / best / 1e9}


def _inputs(case: dict[str, Any], seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  shape = (case["batch"],) + tuple(case["event_shape"])
  if case["num_levels"] is None:
    return rng.standard_normal(shape).astype(np.float32)
  return rng.integers(0, case["num_levels"], size=shape, dtype=np.int32)


def bench_case(name: str, case: dict[str, Any], steps: int, warmup: int, seed: int,
               peak: float) -> dict[str, Any]:
  """Compiles and times one case; returns its row."""
  row: dict[str, Any] = dict(case=name, model=case["model"], size=case["size"],
                             event_shape=list(case["event_shape"]), num_levels=case["num_levels"],
                             batch=case["batch"], overrides={k: list(v) if isinstance(v, tuple) else v
                                                             for k, v in case["overrides"].items()})
  model = arm.models.create(case["model"], tuple(case["event_shape"]), num_levels=case["num_levels"],
                            size=case["size"], **case["overrides"])
  train_cfg = training.default_config().train
  tx = training.make_optimizer(train_cfg)
  schedule = training.make_schedule(train_cfg)
  mesh = training.make_mesh()
  training.sharding.check_batch_size(case["batch"], mesh, "batch")
  state = training.create_train_state(model, tx, seed, mesh)
  row["params"] = int(sum(np.prod(p.shape) for p in jax.tree.leaves(state.params)))
  x = jax.device_put(_inputs(case, seed), training.batch_sharding(mesh))
  step = training.make_train_step(model, tx, schedule, EMA_DECAY, mesh)

  start = time.perf_counter()
  compiled = step.lower(state, x, None).compile()
  row["compile_s"] = time.perf_counter() - start
  loops = _loops(compiled)  # read the HLO once
  flops = _flops(compiled, loops)
  row["flops_per_step"] = flops
  row["has_loop"] = loops.unknown_trip_loops > 0  # a loop of unknown length: its trips are not counted
  row.update(_predicted(compiled, loops))

  times = []
  metrics = None
  for i in range(warmup + steps):
    start = time.perf_counter()
    state, metrics = compiled(state, x, None)  # `state` is donated: always re-bind it.
    jax.block_until_ready((state, metrics))
    if i >= warmup:
      times.append(time.perf_counter() - start)
  loss = float(metrics["loss"])
  median = statistics.median(times)
  row["measured_peak_memory_bytes"] = _peak_memory()
  row.update(times_s=times, median_s=median, min_s=min(times), max_s=max(times),
             examples_per_s=case["batch"] / median, final_loss=loss, loss_finite=bool(np.isfinite(loss)))
  if flops is not None:
    row["gflops_per_s"] = flops / median / 1e9
    row["fraction_of_peak"] = row["gflops_per_s"] / peak if peak > 0 else None
  else:
    row["gflops_per_s"] = None
    row["fraction_of_peak"] = None
  del state, compiled
  return row


def _fmt(value: Any, spec: str) -> str:
  return "n/a" if value is None else format(value, spec)


def markdown(rows: list[dict[str, Any]], peak: dict[str, float]) -> str:
  lines = [
      f"Peak: {peak['n']}x{peak['n']} float32 matmul, best of 5: {peak['gflops_per_s']:.1f} GFLOP/s.",
      "",
      "| case | model | size | shape | batch | params | compile s | median s | min s | max s | ex/s "
      "| GFLOP/step | GFLOP/s | % of peak |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]
  for r in rows:
    shape = "x".join(str(s) for s in r["event_shape"])
    if "error" in r:
      lines.append(f"| {r['case']} | {r['model']} | {r['size']} | {shape} | {r['batch']} "
                   f"| failed: {r['error'][:80]} | | | | | | | | |")
      continue
    gflop = _fmt(None if r["flops_per_step"] is None else r["flops_per_step"] / 1e9, ".3g")
    if r["has_loop"] and r["flops_per_step"] is not None:
      gflop += " (loop)"
    lines.append(
        f"| {r['case']} | {r['model']} | {r['size']} | {shape} | {r['batch']} | {r['params']:,} "
        f"| {r['compile_s']:.1f} | {r['median_s']:.4f} | {r['min_s']:.4f} | {r['max_s']:.4f} "
        f"| {r['examples_per_s']:.1f} | {gflop} | {_fmt(r['gflops_per_s'], '.1f')} "
        f"| {_fmt(None if r['fraction_of_peak'] is None else 100 * r['fraction_of_peak'], '.1f')} |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--cases", default="matched",
                      help="comma-separated case names and groups (matched, small, paper, all)")
  parser.add_argument("--steps", type=int, default=10, help="timed steps per case")
  parser.add_argument("--warmup", type=int, default=3, help="untimed steps per case after compiling")
  parser.add_argument("--batch", type=int, default=0, help="override every case's batch (0: its own)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--peak-size", type=int, default=2048, help="n of the n x n matmul of the peak")
  parser.add_argument("--tiny", action="store_true",
                      help="size tiny, batch <= 4, 1 warm-up + 2 timed steps (a smoke run)")
  parser.add_argument("--json", default="", help="write every result to this file")
  parser.add_argument("--conv-method", default="auto", choices=("auto", "xla", "matmul"),
                      help="how the image models convolve (armodels_jax.layers.conv_ops)")
  parser.add_argument("--cpu-devices", type=int, default=0,
                      help="split the CPU into this many JAX devices, data parallel (train.cpu_devices)")
  parser.add_argument("--no-malloc-tuning", action="store_true",
                      help="run without GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (armodels_jax.runtime_env)")
  args = parser.parse_args(argv)
  if args.cpu_devices:
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)  # before JAX runs anything
  if args.conv_method != "auto":
    from armodels_jax.layers import conv_ops  # pylint: disable=g-import-not-at-top
    conv_ops.set_default_method(args.conv_method)
  if args.steps < 1 or args.warmup < 0:
    raise SystemExit("--steps must be >= 1 and --warmup >= 0")
  if args.tiny:
    args.steps, args.warmup = 2, 1

  names = expand(args.cases)
  cases = all_cases()
  device = jax.devices()[0]
  print(f"jax {jax.__version__}, {device.platform} ({device.device_kind}), {jax.device_count()} device(s), "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
        f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r}, conv method {args.conv_method}, "
        f"load average {os.getloadavg()}", flush=True)
  peak = peak_matmul(min(args.peak_size, 512) if args.tiny else args.peak_size)
  print(f"peak matmul: {peak['gflops_per_s']:.1f} GFLOP/s", flush=True)

  rows = []
  for name in names:
    case = dict(cases[name])
    if args.tiny:
      case = _tiny(case)
    if args.batch:
      case["batch"] = args.batch
    try:
      row = bench_case(name, case, args.steps, args.warmup, args.seed, peak["gflops_per_s"])
      print(f"{name}: {row['median_s']:.4f} s/step (batch {row['batch']}, compile {row['compile_s']:.1f} s)",
            flush=True)
    except Exception as e:  # Keep going: one broken model must not hide the others' numbers.
      row = dict(case=name, model=case["model"], size=case["size"], event_shape=list(case["event_shape"]),
                 batch=case["batch"], error=f"{type(e).__name__}: {e}")
      print(f"{name}: FAILED {row['error']}", file=sys.stderr, flush=True)
    rows.append(row)
    jax.clear_caches()

  print()
  print(markdown(rows, peak))
  if args.json:
    result = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "jax": jax.__version__,
        "jaxlib": _jaxlib_version(),
        "platform": device.platform,
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "conv_method": args.conv_method,
        "cpu_devices": args.cpu_devices,
        "load_average_end": list(os.getloadavg()),
        "steps": args.steps,
        "warmup": args.warmup,
        "tiny": args.tiny,
        "ema_decay": EMA_DECAY,
        "peak": peak,
        "results": rows,
    }
    with open(args.json, "w") as f:
      json.dump(result, f, indent=2)
    print(f"\nwrote {args.json}")
  if any("error" in r for r in rows):
    sys.exit(1)


def _jaxlib_version() -> str | None:
  try:
    import jaxlib
    return jaxlib.__version__
  except Exception:
    return None


if __name__ == "__main__":
  main()
