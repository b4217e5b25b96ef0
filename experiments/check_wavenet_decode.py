"""The paper-size WaveNet's cached sampler against the full pass and the naive sampler.

    python experiments/check_wavenet_decode.py                 # 3,071 samples, batch 1, key 1
    python experiments/check_wavenet_decode.py --length 2000 --batch 2 --seed 5

The tests check cached == naive on tiny models; this checks the paper configuration (30 layers,
dilations 1..512 three times, 64 residual and 256 skip channels, 256 levels, random initial
weights scaled by ``--scale`` so the conditionals are far from uniform) over a few thousand samples:

* conditionals: the decode step's raw head parameters at every position of a sequence (teacher
  forcing, :func:`armodels_jax.sampling.cached_conditionals`) against the full forward pass; the
  contract is ``atol 1e-5``;
* samples: the cached sampler against the naive one (a full pass per sample) with the same key,
  every value compared. The sequence is one receptive field long by default (3,071 samples), the
  longest stretch over which the naive pass sees everything a sample depends on.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import armodels_jax as arm
from armodels_jax.sampling import cached_conditionals, sample_cached, sample_naive


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--length", type=int, default=0, help="samples (0: the receptive field)")
  parser.add_argument("--batch", type=int, default=1)
  parser.add_argument("--seed", type=int, default=1, help="the sampling key")
  parser.add_argument("--scale", type=float, default=2.0, help="multiplies the initial weights")
  parser.add_argument("--no-naive", action="store_true",
                      help="conditionals only (the naive sampler takes minutes at this size)")
  args = parser.parse_args()
  probe = arm.models.create("wavenet", event_shape=(16,), num_levels=256, size="paper")
  length = args.length or probe.receptive_field
  model = probe.clone(event_shape=(length,))
  variables = arm.init(model, jax.random.key(0))
  variables = {"params": jax.tree.map(lambda w: w * args.scale, variables["params"])}
  key = jax.random.key(args.seed)
  start = time.perf_counter()
  cached = np.asarray(sample_cached(model, variables, key, args.batch))
  naive = cached if args.no_naive else np.asarray(sample_naive(model, variables, key, args.batch))
  same = cached == naive
  full = np.asarray(jax.jit(lambda v, x: model.apply(v, x))(variables, jnp.asarray(cached)))
  steps = np.asarray(cached_conditionals(model, variables, jnp.asarray(cached)))
  diff = float(np.abs(full - steps).max())
  first = int(np.argmin(same.all(axis=0))) if not same.all() else None
  row = dict(length=length, batch=args.batch, seed=args.seed, scale=args.scale,
             samples_identical=int(same.sum()), samples_compared=int(same.size),
             first_differing_position=first, max_abs_conditional_diff=diff,
             within_atol_1e5=diff <= 1e-5, max_abs_conditional=float(np.abs(full).max()),
             naive_compared=not args.no_naive, distinct_values=int(len(np.unique(cached))),
             seconds=time.perf_counter() - start)
  print(f"wavenet paper, {length} samples x batch {args.batch}, key {args.seed}: "
        f"{row['samples_identical']}/{row['samples_compared']} samples identical (cached vs "
        f"{'naive' if not args.no_naive else 'itself: naive not run'}), "
        f"max |cached - full| conditional {diff:.2e} (atol 1e-5: {row['within_atol_1e5']}; "
        f"largest |conditional| {row['max_abs_conditional']:.1f}), "
        f"{row['distinct_values']} distinct values sampled")
  print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
