"""The per-sample step of the cached samplers: its operations, FLOPs, bytes and time.

    python experiments/profile_sampling_step.py                      # WaveNet paper, batch 1, 16, 64
    python experiments/profile_sampling_step.py --cases wavenet --batches 1 --length 16000
    python experiments/profile_sampling_step.py --cases pixelcnn_pp   # PixelCNN++ per-pixel step
    python experiments/profile_sampling_step.py --hlo-out /tmp/body.txt  # also write the loop body
    python experiments/profile_sampling_step.py --cases "" \
        --tpu-config experiments/configs/wavenet_fsdd_paper.py   # the TPU sample program's body

For each case it compiles the cached sampler (:func:`armodels_jax.sampling.sample_cached`), finds
the ``while`` loop of the per-sample ``lax.scan`` in XLA's optimized HLO and counts the operations
of its body: every instruction the runtime dispatches (a fusion counts once, whatever it fuses; the
bookkeeping instructions ``parameter``, ``get-tuple-element``, ``tuple``, ``constant`` and
``bitcast`` emit no work and are counted apart; a nested loop, e.g. the random bits', counts
once). Its FLOPs are those of the body's ``dot`` instructions (XLA's cost analysis does not
multiply a loop body by its trip count); the weights' bytes are the parameters' size. The time
per step is the sampler's wall time over its steps, best of ``--repeats`` after compiling, and its
process CPU time (on a shared machine it counts less of the other jobs' load). ``--parts`` also
times the network alone, the sampling alone (a draw per step with ``fold_in(key, t)``, and the
noise of a chunk of steps drawn at once, as the sampler does), and (WaveNet) the same step with 8
residual and 32 skip channels, which has about the same operations and a 43rd of the bytes
(:func:`parts`): where the step's time goes. The loop body counted is the per-step one; with the
noise drawn ahead the sampler is two nested loops, and the draw of a chunk's noise (once per chunk
of up to 128 steps) is outside the counted body.

The limit printed for each case: at batch B a step reads every weight once (matrix-vector products
at B = 1: 2 FLOPs per 4-byte weight), so it can go no faster than ``weight bytes / cache
bandwidth`` nor ``FLOPs / peak FLOP/s``. ``--bandwidth`` (GB/s) and ``--peak`` (GFLOP/s) default
to figures measured in the same run by :func:`measure_bandwidth` (a sum over a float32 buffer of
the weights' size: one core streaming it from the caches) and :func:`measure_peak` (a 1024 x 1024
matrix product), so the limit is this machine's, under its load of the moment.
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import re
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np

import armodels_jax as arm
from armodels_jax.sampling import decode, init_cache, sample_cached, samplers

FREE = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast"}


def _cpu_name() -> str:
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
      if line.startswith("Model name:"):
        return line.split(":", 1)[1].strip()
  except (OSError, subprocess.CalledProcessError):
    pass
  return platform.processor() or platform.machine()


def _computations(hlo: str) -> dict[str, list[str]]:
  """HLO module text -> ``{computation name: its instruction lines}``."""
  comps, name = {}, None
  for line in hlo.splitlines():
    head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{\s*$", line)
    if head and not line.startswith(" "):
      name = head.group(1)
      comps[name] = []
    elif name is not None and line.startswith("  ") and "=" in line:
      comps[name].append(line.strip())
    elif line.startswith("}"):
      name = None
  return comps


def _opcode(line: str) -> str:
  # "%name = f32[1,64]{1,0} opcode(operands), ..." -> opcode (types may hold spaces in tuples).
  rhs = line.split("=", 1)[1]
  m = re.search(r"\s([a-z][\w\-]*)\(", rhs)
  return m.group(1) if m else "?"


def loop_body(hlo: str) -> tuple[str, list[str]]:
  """The body of the largest ``while`` loop (the per-step scan) of an optimized HLO module."""
  comps = _computations(hlo)
  bodies = []
  for lines in comps.values():
    for line in lines:
      if _opcode(line) == "while":
        m = re.search(r"body=%?([\w.\-]+)", line)
        if m:
          bodies.append(m.group(1))
  if not bodies:
    raise ValueError("expected a while loop in the compiled sampler, found none")
  name = max(bodies, key=lambda b: len(comps[b]))
  return name, comps[name]


def dot_flops(lines: list[str], comps: dict[str, list[str]] | None = None) -> float:
  """FLOPs of the body's products: 2 x output size x contracted size for every ``dot``, those
  inside fusions included."""
  total = 0.0
  for line in lines:
    called = re.search(r"calls=%?([\w.\-]+)", line)
    if comps and _opcode(line) == "fusion" and called and called.group(1) in comps:
      total += dot_flops(comps[called.group(1)], comps)
  shapes = {}
  for line in lines:
    m = re.match(r"(?:ROOT )?%?([\w.\-]+) = \w+\[([\d,]*)\]", line)
    if m:
      shapes[m.group(1)] = [int(d) for d in m.group(2).split(",") if d]
  for line in lines:
    if _opcode(line) != "dot":
      continue
    out = shapes[re.match(r"(?:ROOT )?%?([\w.\-]+) =", line).group(1)]
    lhs = re.search(r" dot\(%?([\w.\-]+)", line).group(1)
    dims = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", line).group(1)
    contracted = int(np.prod([shapes[lhs][int(d)] for d in dims.split(",") if d]))
    total += 2.0 * float(np.prod(out)) * contracted
  return total


def count_ops(lines: list[str]) -> dict:
  by_op = collections.Counter(_opcode(l) for l in lines)
  work = {k: v for k, v in by_op.items() if k not in FREE}
  return dict(ops=sum(work.values()), free_ops=sum(v for k, v in by_op.items() if k in FREE),
              by_opcode=dict(sorted(work.items(), key=lambda kv: -kv[1])))


def _time(fn, repeats: int, cpu: bool = False):
  """Best wall seconds of ``repeats`` calls after a warm-up; with ``cpu``, also the best process
  CPU seconds (on a shared machine the CPU time counts less of the other jobs' load)."""
  jax.block_until_ready(fn())
  best, best_cpu = float("inf"), float("inf")
  for _ in range(repeats):
    start, start_cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    best = min(best, time.perf_counter() - start)
    best_cpu = min(best_cpu, time.process_time() - start_cpu)
  return (best, best_cpu) if cpu else best


def measure_bandwidth(nbytes: int, repeats: int = 20) -> float:
  """GB/s of one reduction over a float32 buffer of ``nbytes`` (cache-resident when it fits)."""
  x = jnp.ones((nbytes // 4,), jnp.float32)
  f = jax.jit(lambda v: jnp.sum(v))
  return nbytes / _time(lambda: f(x), repeats) / 1e9


def measure_peak(n: int = 1024, repeats: int = 5) -> float:
  """GFLOP/s of an ``n x n`` float32 matrix product."""
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda a: a @ a)
  return 2 * n ** 3 / _time(lambda: f(a), repeats) / 1e9


def profile(model, variables, batch: int, repeats: int, hlo_out: str | None,
            cond=None) -> dict:
  key = jax.random.key(1)
  fn = lambda: sample_cached(model, variables, key, batch, cond)
  compiled = sample_cached.lower(model, variables, key, batch, cond).compile()
  hlo = compiled.as_text()
  name, body = loop_body(hlo)
  if hlo_out:
    with open(hlo_out, "w") as f:
      f.write("\n".join(body))
  counts = count_ops(body)
  steps = model.num_dims
  seconds, cpu_seconds = _time(fn, repeats, cpu=True)
  weights = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(variables["params"]))
  return dict(batch=batch, steps=steps, body=name, **counts,
              dot_flops_per_step=dot_flops(body, _computations(hlo)),
              weight_bytes=int(weights), s_per_step=seconds / steps,
              cpu_s_per_step=cpu_seconds / steps,
              steps_per_s=steps / seconds, samples_per_s_total=steps * batch / seconds)


def parts(model, variables, batch: int, repeats: int) -> dict:
  """Where a step's time goes: the network alone (the decode step in a scan, no sampling) and
  the sampling alone (the head's draw with ``fold_in(key, t)`` in a scan, no network; and with
  the step keys folded before the scan, as the cached sampler does)."""
  model = model.as_float32()
  decoder = model.clone(decode=True)
  steps = model.num_dims
  canvas = jnp.zeros((batch,) + model.event_shape, model.value_dtype)
  params = {"params": variables["params"]}

  @jax.jit
  def network(params):
    cache = init_cache(decoder, batch)

    def step(cache, t):
      raw, cache = decode.step(decoder, params["params"], cache, canvas, t)
      return cache, raw[:, 0]

    return jax.lax.scan(step, cache, jnp.arange(steps))[1]

  raw = network(params)[0:1]  # noqa: F841 (compiles)
  head_raw = jnp.zeros((batch, model.head.num_params), jnp.float32)
  key = jax.random.key(1)

  @jax.jit
  def draw(raw, key):
    def step(_, t):
      return None, model.head.sample(raw, jax.random.fold_in(key, t), 1.0)
    return jax.lax.scan(step, None, jnp.arange(steps))[1]

  @jax.jit
  def draw_keys(raw, key):  # the noise of a chunk of steps drawn at once, as sample_cached does
    chunk = samplers._noise_chunk(model.head, batch, steps) or 1  # pylint: disable=protected-access

    def run_chunk(_, ts):
      noise = jax.vmap(lambda t: model.head.noise(jax.random.fold_in(key, t), (batch,)))(ts)
      return None, jax.lax.scan(lambda _, z: (None, model.head.sample_with_noise(raw, z)), None,
                                noise)[1]

    return jax.lax.scan(run_chunk, None, jnp.arange(steps).reshape(-1, chunk))[1]

  t_net, c_net = _time(lambda: network(params), repeats, cpu=True)
  t_keys, c_keys = _time(lambda: draw_keys(head_raw, key), repeats, cpu=True)
  t_draw, c_draw = _time(lambda: draw(head_raw, key), repeats, cpu=True)
  _, body = loop_body(draw.lower(head_raw, key).compile().as_text())
  # The same step with narrow layers (WaveNet: 8 residual, 32 skip channels): about the same
  # operations, a hundredth of the bytes -- its time is what the operations cost by themselves.
  narrow = None
  if model.__class__.__name__ == "WaveNet":
    thin = model.clone(residual_channels=8, skip_channels=32)
    thin_vars = arm.init(thin, jax.random.key(0))
    fn = lambda: sample_cached(thin, thin_vars, key, batch)
    _, thin_body = loop_body(sample_cached.lower(thin, thin_vars, key, batch).compile().as_text())
    t_thin, c_thin = _time(fn, repeats, cpu=True)
    narrow = dict(narrow_ops=count_ops(thin_body)["ops"], narrow_s_per_step=t_thin / steps,
                  narrow_cpu_s_per_step=c_thin / steps)
  return dict(**(narrow or {}), network_s_per_step=t_net / steps, sampling_s_per_step=t_draw / steps,
              sampling_noise_ahead_s_per_step=t_keys / steps,
              sampling_noise_ahead_cpu_s_per_step=c_keys / steps,
              network_cpu_s_per_step=c_net / steps, sampling_cpu_s_per_step=c_draw / steps,
              sampling_ops=count_ops(body)["ops"])


def _limits(row: dict, bandwidth: float, peak: float) -> dict:
  flops = 2.0 * row["weight_bytes"] / 4 * row["batch"]  # one multiply-add per weight and example
  t_bw = row["weight_bytes"] / (bandwidth * 1e9)
  t_fl = flops / (peak * 1e9)
  return dict(model_flops_per_step=flops, bandwidth_gb_s=bandwidth, peak_gflop_s=peak,
              limit_s_per_step=max(t_bw, t_fl), limit_steps_per_s=1.0 / max(t_bw, t_fl),
              bound="cache bandwidth" if t_bw >= t_fl else "FLOPs")


def tpu_sample_ops(config: str, topology: str) -> dict:
  """The operations of the loop body of the sample program ``armodels compile`` builds for a config
  (``aot.compile_config(..., what='sample')``: XLA's TPU compiler from libtpu, no TPU needed)."""
  from armodels_jax import aot  # pylint: disable=g-import-not-at-top

  report = aot.compile_config(config, topology, what="sample", keep_hlo=True, search=False)
  program = report.programs["sample"]
  name, body = loop_body(program.hlo)
  return dict(case="tpu_sample", config=config, topology=topology, batch=program.batch, body=name,
              **count_ops(body))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cases", default="wavenet,pixelcnn_pp")
  parser.add_argument("--batches", default="1,16,64", help="WaveNet batches")
  parser.add_argument("--length", type=int, default=16000, help="WaveNet samples per run")
  parser.add_argument("--pixel-batch", type=int, default=1)
  parser.add_argument("--pixel-size", default="small")
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--bandwidth", type=float, default=0.0, help="GB/s; 0 measures it")
  parser.add_argument("--peak", type=float, default=0.0, help="GFLOP/s; 0 measures it")
  parser.add_argument("--parts", action="store_true",
                      help="also time the network alone and the sampling alone")
  parser.add_argument("--hlo-out", default=None, help="write the loop body's HLO (WaveNet batch 1)")
  parser.add_argument("--tpu-config", default=None,
                      help="also count the loop body of this config's TPU sample program (e.g. "
                           "experiments/configs/wavenet_fsdd_paper.py; needs libtpu)")
  parser.add_argument("--tpu-topology", default="v5e:2x2")
  args = parser.parse_args()
  print(f"# {_cpu_name()}, jax {jax.__version__}, devices {jax.devices()}")
  if args.tpu_config:
    row = tpu_sample_ops(args.tpu_config, args.tpu_topology)
    print(f"TPU sample program ({row['config']}, {row['topology']}, {row['batch']} samples): "
          f"{row['ops']} ops per step ({row['free_ops']} free); ops: "
          + ", ".join(f"{k} {v}" for k, v in row["by_opcode"].items()))
    print(json.dumps(row), flush=True)
  bandwidth, peak = args.bandwidth, args.peak
  for case in [c for c in args.cases.split(",") if c]:
    if case == "wavenet":
      model = arm.models.create("wavenet", event_shape=(args.length,), num_levels=256, size="paper")
      batches = [int(b) for b in args.batches.split(",") if b]
    elif case == "pixelcnn_pp":
      model = arm.models.create("pixelcnn_pp", event_shape=(32, 32, 3), num_levels=256,
                                size=args.pixel_size)
      batches = [args.pixel_batch]
    else:
      raise ValueError(f"unknown case {case!r}; expected wavenet or pixelcnn_pp")
    variables = arm.init(model, jax.random.key(0))
    for batch in batches:
      row = profile(model, variables, batch, args.repeats,
                    args.hlo_out if (case == "wavenet" and batch == batches[0]) else None)
      row["case"] = case
      if args.parts:
        row.update(parts(model, variables, batch, args.repeats))
      bandwidth = bandwidth or measure_bandwidth(row["weight_bytes"])  # of the first case
      peak = peak or measure_peak()
      _print(row, bandwidth, peak)


def _print(row: dict, bandwidth: float, peak: float) -> None:
  row.update(_limits(row, bandwidth, peak))
  print(f"{row['case']} batch {row['batch']}: {row['ops']} ops per step "
        f"({row['free_ops']} free), {row['dot_flops_per_step'] / 1e6:.2f} MFLOP in products, "
        f"{row['s_per_step'] * 1e6:.1f} us/step "
        f"(CPU {row['cpu_s_per_step'] * 1e6:.1f} us) = {row['steps_per_s']:.0f} steps/s "
        f"({row['samples_per_s_total']:.0f} samples/s total); limit "
        f"{row['limit_s_per_step'] * 1e6:.1f} us/step = {row['limit_steps_per_s']:.0f} steps/s "
        f"({row['bound']}: {row['weight_bytes'] / 1e6:.2f} MB weights at {bandwidth:.0f} GB/s, "
        f"{row['model_flops_per_step'] / 1e6:.2f} MFLOP at {peak:.0f} GFLOP/s)")
  if "network_s_per_step" in row:
    print(f"  parts: network alone {row['network_s_per_step'] * 1e6:.1f} us/step (CPU "
          f"{row['network_cpu_s_per_step'] * 1e6:.1f}), sampling alone "
          f"{row['sampling_s_per_step'] * 1e6:.1f} us/step (CPU "
          f"{row['sampling_cpu_s_per_step'] * 1e6:.1f}; {row['sampling_ops']} ops); with the noise "
          f"of a chunk of steps drawn at once (as the sampler does) "
          f"{row['sampling_noise_ahead_s_per_step'] * 1e6:.1f} us/step "
          f"(CPU {row['sampling_noise_ahead_cpu_s_per_step'] * 1e6:.1f})")
  if "narrow_s_per_step" in row:
    print(f"  the same step with 8 residual and 32 skip channels ({row['narrow_ops']} ops, "
          f"1/43 of the weights): {row['narrow_s_per_step'] * 1e6:.1f} us/step (CPU "
          f"{row['narrow_cpu_s_per_step'] * 1e6:.1f}): the operations' own cost")
  print("  ops:", ", ".join(f"{k} {v}" for k, v in row["by_opcode"].items()))
  print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
