"""Naive vs cached sampling speed, one run, one machine.

    python experiments/bench_sampling.py                  # PixelCNN small, 28x28x1 binary, batch 16
    python experiments/bench_sampling.py --batch 256 --naive-steps 8
    python experiments/bench_sampling.py --full-check     # + one full naive run, compared in full

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


def bench(name: str, event_shape, num_levels: int, size: str, batch: int,
          naive_steps: int, repeats: int, full_check: bool = False) -> dict:
  model = arm.models.create(name, event_shape=event_shape, num_levels=num_levels, size=size)
  variables = arm.init(model, jax.random.key(0))
  key = jax.random.key(1)
  num_dims = model.num_dims
  naive = lambda: sample_naive(model, variables, key, batch, None, 1.0, None, 0, stop=naive_steps)
  cached = lambda: sample_cached(model, variables, key, batch, None, 1.0, None, 0)
  t_naive_subset = _time(naive, repeats)
  t_cached = _time(cached, repeats)
  flat_naive = np.asarray(naive()).reshape(batch, -1)[:, :naive_steps]
  flat_cached = np.asarray(cached()).reshape(batch, -1)[:, :naive_steps]
  t_naive = t_naive_subset * num_dims / naive_steps
  extra = {}
  if full_check:  # one untimed naive run over every step, compared in full
    full = np.asarray(sample_naive(model, variables, key, batch, None, 1.0, None, 0))
    extra["identical_all_steps"] = bool((full == np.asarray(cached())).all())
  return dict(**extra,model=name, size=size, event_shape=list(event_shape), num_levels=num_levels,
              batch=batch, naive_steps_timed=naive_steps, naive_s_per_batch=t_naive,
              cached_s_per_batch=t_cached, ratio=t_naive / t_cached,
              identical_on_timed_steps=bool((flat_naive == flat_cached).all()))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--naive-steps", type=int, default=16)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--full-check", action="store_true",
                      help="also run the naive sampler over all steps and compare every value")
  args = parser.parse_args()
  print(f"# {platform.processor() or platform.machine()}, jax {jax.__version__}, "
        f"devices {jax.devices()}")
  rows = [bench("pixelcnn", (28, 28, 1), 2, "small", args.batch, args.naive_steps, args.repeats,
                args.full_check)]
  for row in rows:
    print(f"{row['model']:10s} {row['size']:6s} {tuple(row['event_shape'])} L={row['num_levels']} "
          f"batch {row['batch']}: naive {row['naive_s_per_batch']:.2f} s "
          f"(timed {row['naive_steps_timed']} steps, scaled), cached {row['cached_s_per_batch']:.3f} s, "
          f"ratio {row['ratio']:.0f}x, identical on timed steps {row['identical_on_timed_steps']}"
          + (f", identical on all steps {row['identical_all_steps']}" if "identical_all_steps" in row else ""))
    print(json.dumps(row))


if __name__ == "__main__":
  main()
