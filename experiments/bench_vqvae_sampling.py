"""Time to sample images through a VQ-VAE prior against a pixel-level PixelCNN's cached sampler.

    python experiments/bench_vqvae_sampling.py --prior runs/prior --num 16
    python experiments/bench_vqvae_sampling.py --prior runs/prior --pixel-model pixelcnn --pixel-size small

The two-stage path samples the prior's ``h x w`` code map with its cached sampler (``arm.sample``) and
decodes it with the VQ-VAE's decoder in one pass; the pixel-level path runs the cached sampler of a
registry model (initialised parameters: the time does not depend on their values) over the full
``H x W x C`` image of the VQ-VAE's data, one position per step. Both are compiled before timing (the
compile times are reported too); the best of ``--repeats`` timed calls is reported.
"""

from __future__ import annotations

import argparse
import json
import time

import jax

import armodels_jax as arm
from armodels_jax.vqvae import pipeline


def _best(fn, repeats: int) -> tuple[float, float]:
  """(first call incl. compilation, best of `repeats` later calls), seconds."""
  start = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - start
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    best = min(best, time.perf_counter() - start)
  return first, best


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--prior", required=True, help="workdir of a prior trained on vqvae_codes")
  parser.add_argument("--num", type=int, default=16)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--pixel-model", default="pixelcnn")
  parser.add_argument("--pixel-size", default="small")
  args = parser.parse_args()

  p = pipeline.load(args.prior)
  two_stage = lambda: pipeline.sample_images(p.prior, p.variables, p.vq_model, p.vq_params,  # noqa: E731
                                             jax.random.key(0), args.num)[0]
  first_2s, best_2s = _best(two_stage, args.repeats)
  codes_only = lambda: arm.sample(p.prior, p.variables, jax.random.key(0), num_samples=args.num)  # noqa: E731
  _, best_codes = _best(codes_only, args.repeats)
  pixel = arm.models.create(args.pixel_model, event_shape=p.vq_model.event_shape,
                            num_levels=p.vq_model.num_levels, size=args.pixel_size)
  variables = arm.init(pixel, jax.random.key(0))
  pixel_fn = lambda: arm.sample(pixel, variables, jax.random.key(0), num_samples=args.num)  # noqa: E731
  first_px, best_px = _best(pixel_fn, args.repeats)
  row = {"num": args.num, "prior": p.prior.__class__.__name__, "code_shape": list(p.prior.event_shape),
         "two_stage_s": round(best_2s, 4), "of_which_prior_codes_s": round(best_codes, 4),
         "two_stage_first_call_s": round(first_2s, 2),
         "pixel_model": f"{args.pixel_model} ({args.pixel_size})",
         "event_shape": list(p.vq_model.event_shape), "pixel_cached_s": round(best_px, 4),
         "pixel_first_call_s": round(first_px, 2), "speedup": round(best_px / best_2s, 1)}
  print(json.dumps(row))


if __name__ == "__main__":
  main()
