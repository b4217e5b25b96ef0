"""Train-step speed of the image models with their blocks scanned (``scan_blocks=True``, the default:
one ``lax.scan`` over stacked layer parameters, a small program for TPU compiles) against unrolled, on
this machine, at size ``small``, binarized 28x28, batch 16 (the binarized-MNIST rows' shape)::

    PYTHONPATH=. python experiments/bench_scan_blocks.py [--steps 3] [--models gated_pixelcnn,pixelcnn_pp]

Both variants hold the same parameters and give the same loss (printed; the models' tests check the
equality); what differs is the compiled program. BENCHMARKS.md, "Scanned blocks on a CPU".
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_train  # pylint: disable=g-import-not-at-top,wrong-import-position

MODELS = ("gated_pixelcnn", "pixelcnn_pp", "pixelsnail")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", default=",".join(MODELS))
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--batch", type=int, default=16)
  args = parser.parse_args(argv)
  models = [m for m in args.models.split(",") if m]
  unknown = sorted(set(models) - set(MODELS))
  if unknown:
    print(f"bench_scan_blocks: expected models among {', '.join(MODELS)}, got {', '.join(unknown)}",
          file=sys.stderr)
    return 2
  peak = 0.0  # No fraction of a peak here: the ratio is the figure.
  print("| model | scanned s/step | unrolled s/step | ratio | loss scanned | loss unrolled |")
  print("| --- | --- | --- | --- | --- | --- |")
  for model in models:
    base = dict(model=model, event_shape=(28, 28, 1), num_levels=2, size="small", batch=args.batch)
    rows = [bench_train.bench_case(f"{model}_{scan}", dict(base, overrides=dict(scan_blocks=scan)),
                                   steps=args.steps, warmup=1, seed=0, peak=peak)
            for scan in (True, False)]
    s, u = rows
    print(f"| {model} | {s['median_s']:.4f} | {u['median_s']:.4f} | {s['median_s'] / u['median_s']:.1f}x "
          f"| {s['final_loss']:.4f} | {u['final_loss']:.4f} |", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
