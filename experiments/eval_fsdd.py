"""Exact NLL of a trained WaveNet over whole FSDD recordings, in nats and bits per sample.

    python experiments/eval_fsdd.py --workdir runs/wavenet_fsdd [--split test] [--max-recordings N]

The model, its checkpoint (EMA weights when the run kept them) and the data options (path, hop,
labels, features, quantization, the train split's feature statistics) come from the workdir. Every
recording of the split is scored in full (``armodels_jax.training.recordings``); the last line of
stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax

from armodels_jax import training
from armodels_jax.data import audio


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
  parser.add_argument("--path", default=None, help="the FSDD npz or WAV folder (default: the config's)")
  parser.add_argument("--max-recordings", type=int, default=None)
  parser.add_argument("--batch-size", type=int, default=16)
  args = parser.parse_args()

  model, variables, cfg = training.restore(args.workdir)
  info = training.read_model_info(args.workdir)["info"]
  if info.get("kind") != "audio":
    raise SystemExit(f"{args.workdir} is not an audio run (model.json info: {info})")
  stats = None
  if info.get("feature_mean") is not None:
    stats = (info["feature_mean"], info["feature_std"])
  recs = audio.load_fsdd_recordings(
      path=args.path or cfg.data.path, split=args.split, hop=int(info["hop"]),
      labels=info.get("labels"), features=info.get("features"),
      quantization=info["quantization"], levels=int(info["levels"]),
      num_mels=int(info.get("num_mels") or 40), speakers=info.get("speakers_kept"),
      feature_stats=stats, max_recordings=args.max_recordings)
  start = time.time()
  result = training.evaluate_recordings(model, variables, recs.levels, labels=recs.labels,
                                        features=recs.features, batch_size=args.batch_size)
  result.update(split=args.split, workdir=args.workdir, seconds=round(time.time() - start, 1),
                machine=platform.processor() or platform.machine(),
                devices=str(jax.devices()))
  print(f"{args.split}: {result['nll_nats_per_sample']:.4f} nats/sample, "
        f"{result['bits_per_sample']:.4f} bits/sample over {result['num_recordings']} recordings "
        f"({result['num_samples']} samples)")
  print(json.dumps(result))


if __name__ == "__main__":
  main()
