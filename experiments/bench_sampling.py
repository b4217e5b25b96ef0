"""Naive vs cached sampling speed, one run, one machine.

    python experiments/bench_sampling.py                  # every image model, size small, batch 16
    python experiments/bench_sampling.py --models pixelcnn_pp --cases rgb --batch 256 --naive-steps 4
    python experiments/bench_sampling.py --models pixelcnn --full-check   # + one full naive run
    python experiments/bench_sampling.py --cases audio    # WaveNet paper size, batch 1 and 16

Cases: ``binary`` is 28x28x1 with 2 levels (every image model, ``image_gpt`` included); ``rgb`` is
32x32x3 with 256 levels (PixelCNN++ and PixelSNAIL, the models with a discretized logistic mixture
head). ``audio`` is WaveNet (``--audio-size``, default paper: 30 layers, dilations 1..512 three
times) over 256 mu-law levels at each of ``--audio-batches``:

* naive: one full forward pass over the receptive field (3,071 samples at paper size) per generated
  sample, timed over ``--audio-naive-steps`` samples;
* cached: the Fast WaveNet queues, timed over ``--audio-length`` samples (one call of the sampler);
* the real-time factor: samples per second per stream over the sample rate (8 and 16 kHz), > 1 is
  faster than real time. The first ``--audio-naive-steps`` samples of both must be identical.

The naive sampler runs one full forward pass per dimension (D = 784 passes for a
28x28 binary image); it is timed over its first ``--naive-steps`` steps and
scaled by ``D / naive-steps`` (the steps cost the same: each is the same full
pass). The cached sampler is timed over the whole image. Both are compiled
before timing, and the script checks that the two give identical values for the
steps the naive run covered (same key, same samples).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import numpy as np

import armodels_jax as arm
from armodels_jax.sampling import sample_cached, sample_naive


def _time(fn, repeats: int) -> float:
  jax.block_until_ready(fn())  # compile and warm up
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    best = min(best, time.perf_counter() - start)
  return best


def _compiled_cached(model, variables, key, batch: int, steps: int):
  """The cached sampler compiled ahead of time (timed through this one compile), and XLA's figures of
  it, the ones `armodels compile --what sample` reports for a TPU (armodels_jax.aot): the memory it
  needs (``aot_memory_bytes``: arguments, outputs, temporaries, code) and, per call, ``aot_flops`` and
  ``aot_bytes``. XLA's cost analysis counts the body of a loop once, so the figures of the compiled
  program are multiplied by ``steps``, the length of the sampler's scan (D dimensions, or the samples of
  an audio run); the set-up outside the scan is multiplied too (a small excess), and a loop inside the
  step (``aot_loops`` > 1) is still counted once there, so the prediction is a floor.
  experiments/device_summary.py turns the figures into a roofline time beside the measured one."""
  compiled = sample_cached.lower(model, variables, key, batch, None, 1.0, None, 0).compile()
  aot: dict = {"aot_scan_steps": steps}
  try:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    aot["aot_flops"] = float(cost["flops"]) * steps
    aot["aot_bytes"] = float(cost["bytes accessed"]) * steps
  except Exception:  # pylint: disable=broad-except  (not every backend has a cost analysis)
    pass
  try:
    m = compiled.memory_analysis()
    aot["aot_memory_bytes"] = int(m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
                                  + m.temp_size_in_bytes + m.generated_code_size_in_bytes)
  except Exception:  # pylint: disable=broad-except
    pass
  aot["aot_loops"] = sum(" while(" in line for line in compiled.as_text().splitlines())
  return (lambda: compiled(variables, key, None, None, 0)), aot


def bench(name: str, event_shape, num_levels: int, size: str, batch: int,
          naive_steps: int, repeats: int, full_check: bool = False) -> dict:
  model = arm.models.create(name, event_shape=event_shape, num_levels=num_levels, size=size)
  variables = arm.init(model, jax.random.key(0))
  key = jax.random.key(1)
  num_dims = model.num_dims
  naive = lambda: sample_naive(model, variables, key, batch, None, 1.0, None, 0, stop=naive_steps)
  cached, aot = _compiled_cached(model, variables, key, batch, num_dims)
  t_naive_subset = _time(naive, repeats)
  t_cached = _time(cached, repeats)
  flat_naive = np.asarray(naive()).reshape(batch, -1)[:, :naive_steps]
  flat_cached = np.asarray(cached()).reshape(batch, -1)[:, :naive_steps]
  t_naive = t_naive_subset * num_dims / naive_steps
  extra = {}
  if full_check:  # one untimed naive run over every step, compared in full
    full = np.asarray(sample_naive(model, variables, key, batch, None, 1.0, None, 0))
    extra["identical_all_steps"] = bool((full == np.asarray(cached())).all())
  return dict(**extra, **aot, model=name, size=size, event_shape=list(event_shape), num_levels=num_levels,
              batch=batch, naive_steps_timed=naive_steps, naive_s_per_batch=t_naive,
              cached_s_per_batch=t_cached, ratio=t_naive / t_cached,
              identical_on_timed_steps=bool((flat_naive == flat_cached).all()))


IMAGE_MODELS = ("pixelcnn", "gated_pixelcnn", "pixelcnn_pp", "pixelsnail", "row_lstm", "diagonal_bilstm",
                "image_gpt")
CASES = {"binary": ((28, 28, 1), 2, IMAGE_MODELS), "rgb": ((32, 32, 3), 256, ("pixelcnn_pp", "pixelsnail"))}


def bench_naive_only(name: str, event_shape, num_levels: int, size: str, batch: int,
                     naive_steps: int, repeats: int) -> dict:
  """A model without a cached path (the API samples it naively with either method)."""
  model = arm.models.create(name, event_shape=event_shape, num_levels=num_levels, size=size)
  variables = arm.init(model, jax.random.key(0))
  naive = lambda: sample_naive(model, variables, jax.random.key(1), batch, None, 1.0, None, 0,
                               stop=naive_steps)
  t_naive = _time(naive, repeats) * model.num_dims / naive_steps
  return dict(model=name, size=size, event_shape=list(event_shape), num_levels=num_levels,
              batch=batch, naive_steps_timed=naive_steps, naive_s_per_batch=t_naive,
              cached_s_per_batch=None, ratio=None, identical_on_timed_steps=None)


def bench_audio(size: str, batch: int, length: int, naive_steps: int, repeats: int) -> dict:
  """WaveNet naive (a pass over the receptive field per sample) vs cached (queues) generation."""
  probe = arm.models.create("wavenet", event_shape=(length,), num_levels=256, size=size)
  window = probe.receptive_field  # The naive pass covers exactly what sample t depends on.
  naive_model = probe.clone(event_shape=(window,))
  variables = arm.init(probe, jax.random.key(0))
  key = jax.random.key(1)
  naive = lambda: sample_naive(naive_model, variables, key, batch, None, 1.0, None, 0,
                               stop=naive_steps)
  cached, aot = _compiled_cached(probe, variables, key, batch, length)
  t_naive = _time(naive, repeats) / naive_steps  # s per generated sample (per batch step)
  t_cached = _time(cached, repeats) / length
  same = bool((np.asarray(naive())[:, :naive_steps] == np.asarray(cached())[:, :naive_steps]).all())
  per_stream = 1.0 / t_cached  # samples per second of each of the `batch` streams
  return dict(**aot, model="wavenet", size=size, num_levels=256, batch=batch, receptive_field=window,
              naive_steps_timed=naive_steps, cached_length=length,
              naive_s_per_sample=t_naive, cached_s_per_sample=t_cached, ratio=t_naive / t_cached,
              cached_samples_per_s_per_stream=per_stream,
              cached_samples_per_s_total=per_stream * batch,
              realtime_factor_8khz=per_stream / 8000, realtime_factor_16khz=per_stream / 16000,
              identical_on_timed_steps=same)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--naive-steps", type=int, default=16)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--models", default=",".join(IMAGE_MODELS),
                      help="comma-separated registry names")
  parser.add_argument("--cases", default="binary,rgb", help="comma-separated: binary, rgb, audio")
  parser.add_argument("--audio-size", default="paper")
  parser.add_argument("--audio-batches", default="1,16")
  parser.add_argument("--audio-length", type=int, default=16000,
                      help="samples per cached run (2 s at 8 kHz)")
  parser.add_argument("--audio-naive-steps", type=int, default=200)
  parser.add_argument("--size", default="small")
  parser.add_argument("--full-check", action="store_true",
                      help="also run the naive sampler over all steps and compare every value")
  args = parser.parse_args()
  print(f"# {platform.processor() or platform.machine()}, jax {jax.__version__}, "
        f"devices {jax.devices()}")
  models = [m for m in args.models.split(",") if m]
  for case in [c for c in args.cases.split(",") if c]:
    if case == "audio":
      for batch in [int(b) for b in args.audio_batches.split(",") if b]:
        row = bench_audio(args.audio_size, batch, args.audio_length, args.audio_naive_steps,
                          args.repeats)
        print(f"wavenet {row['size']} batch {batch}: naive {row['naive_s_per_sample'] * 1e3:.1f} ms/sample "
              f"(over the {row['receptive_field']}-sample receptive field), cached "
              f"{row['cached_s_per_sample'] * 1e6:.1f} us/sample, ratio {row['ratio']:.0f}x, "
              f"{row['cached_samples_per_s_per_stream']:.0f} samples/s per stream "
              f"({row['cached_samples_per_s_total']:.0f} total), real-time factor "
              f"{row['realtime_factor_8khz']:.2f} at 8 kHz, {row['realtime_factor_16khz']:.2f} at 16 kHz, "
              f"identical on timed steps {row['identical_on_timed_steps']}")
        print(json.dumps(row), flush=True)
      continue
    if case not in CASES:
      raise ValueError(f"unknown case {case!r}; expected one of {sorted(CASES)}")
    shape, levels, case_models = CASES[case]
    for name in [m for m in models if m in case_models]:
      model = arm.models.create(name, event_shape=shape, num_levels=levels, size=args.size)
      if not model.has_decode:
        row = bench_naive_only(name, shape, levels, args.size, args.batch, args.naive_steps,
                               args.repeats)
        print(f"{name:16s} {args.size:6s} {shape} L={levels} batch {args.batch}: naive "
              f"{row['naive_s_per_batch']:.2f} s (timed {args.naive_steps} steps, scaled); no cached path")
        print(json.dumps(row), flush=True)
        continue
      row = bench(name, shape, levels, args.size, args.batch, args.naive_steps, args.repeats,
                  args.full_check)
      _report(row)


def _report(row: dict) -> None:
  print(f"{row['model']:16s} {row['size']:6s} {tuple(row['event_shape'])} L={row['num_levels']} "
        f"batch {row['batch']}: naive {row['naive_s_per_batch']:.2f} s "
        f"(timed {row['naive_steps_timed']} steps, scaled), cached {row['cached_s_per_batch']:.3f} s, "
        f"ratio {row['ratio']:.0f}x, identical on timed steps {row['identical_on_timed_steps']}"
        + (f", identical on all steps {row['identical_all_steps']}" if "identical_all_steps" in row else ""))
  print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
