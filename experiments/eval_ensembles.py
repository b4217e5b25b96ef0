"""Exact NLL of a shipped ensemble model (MADE masks, EoNADE or NADE-k orderings) on binarized MNIST.

    python experiments/eval_ensembles.py --name eonade_2h_binarized_mnist --ensemble 128
    python experiments/eval_ensembles.py --name made_1h_32masks_binarized_mnist --limit 1000
    python experiments/eval_ensembles.py --name nade_k_binarized_mnist --ensemble 1 --limit 500

The ensemble is a uniform mixture, ``log p(x) = logsumexp_k log p_k(x) - log K``, over the mask sets of
a MADE (Germain et al. 2015, section 4.2) or the orderings of an order-agnostic deep NADE (Uria, Murray &
Larochelle 2014) or NADE-k (Raiko et al. 2014). ``--ensemble K`` overrides the checkpoint's ensemble
size (the model field ``num_masks`` or ``num_orderings``); the first K members are the same for any K
(ordering 0 is the identity). Evaluation is exact: each member's D conditionals.

Prints the NLL in nats (and bits per dimension), images per second and wall time (compilation
included, and apart); the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import time
from typing import Any, Optional

import jax
import numpy as np

import armodels_jax as arm

# The stored data beside the repository: ../shared/data/binarized_mnist/binarized_mnist.npz.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_NPZ = os.path.normpath(
    os.path.join(_REPO, "..", "shared", "data", "binarized_mnist", "binarized_mnist.npz"))
# The model field that holds the ensemble size, by registry model class.
_ENSEMBLE_FIELDS = ("num_masks", "num_orderings")


def ensemble_field(model: Any) -> str:
  """The name of the model's ensemble-size field (``num_masks`` or ``num_orderings``)."""
  fields = {f.name for f in dataclasses.fields(model)}
  for name in _ENSEMBLE_FIELDS:
    if name in fields:
      return name
  raise ValueError(f"{type(model).__name__} has no ensemble field: expected one of {_ENSEMBLE_FIELDS}")


def evaluate(model: Any, variables: dict, x: np.ndarray, *, batch_size: int = 100,
             log_every: float = 60.0) -> dict[str, Any]:
  """Exact log-likelihood of every example of ``x [N, *event_shape]``.

  Every batch has ``batch_size`` rows (the last one is padded with copies of its first row and the
  padding dropped), so the model compiles once.

  Returns:
    ``nll_nats`` (mean), ``bits_per_dim``, ``n``, ``seconds`` (wall, all batches),
    ``cpu_seconds`` (the process's CPU time, all threads: on a shared machine, the work done),
    ``compile_seconds`` (the first batch's wall time minus a later batch's, an estimate),
    ``images_per_second`` and ``logp`` (``[N]`` float64).
  """
  n = len(x)
  logps, times = [], []
  cpu_start = time.process_time()
  start = last_log = time.perf_counter()
  for lo in range(0, n, batch_size):
    batch = x[lo:lo + batch_size]
    real = len(batch)
    if real < batch_size:
      batch = np.concatenate([batch, np.repeat(batch[:1], batch_size - real, 0)], 0)
    t0 = time.perf_counter()
    logp = np.asarray(arm.log_prob(model, variables, batch), np.float64)[:real]
    times.append(time.perf_counter() - t0)
    logps.append(logp)
    done = lo + real
    if time.perf_counter() - last_log > log_every and done < n:
      last_log = time.perf_counter()
      rate = done / (last_log - start)
      print(f"  {done}/{n} images, running NLL {-np.concatenate(logps).mean():.3f} nats, "
            f"{rate:.2f} images/s, about {(n - done) / rate / 60:.1f} min left", flush=True)
  seconds = time.perf_counter() - start
  cpu_seconds = time.process_time() - cpu_start
  logp = np.concatenate(logps)
  compile_s = max(0.0, times[0] - float(np.median(times[1:]))) if len(times) > 1 else float("nan")
  nll = float(-logp.mean())
  return dict(nll_nats=nll, bits_per_dim=nll / (math.prod(model.event_shape) * math.log(2.0)),
              n=n, seconds=seconds, cpu_seconds=cpu_seconds, compile_seconds=compile_s,
              images_per_second=n / seconds, logp=logp)


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--name", required=True, help=f"a shipped checkpoint, one of {arm.pretrained.names()}")
  parser.add_argument("--ensemble", type=int, default=None,
                      help="ensemble size K (default: the checkpoint's num_masks / num_orderings)")
  parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
  parser.add_argument("--batch-size", type=int, default=100)
  parser.add_argument("--npz", default=DEFAULT_NPZ, help="binarized MNIST .npz (train, valid)")
  parser.add_argument("--split", default="valid", choices=("train", "valid"))
  args = parser.parse_args(argv)

  model, variables = arm.pretrained.load(args.name)
  field = ensemble_field(model)
  if args.ensemble is not None:
    if args.ensemble < 1:
      parser.error(f"expected --ensemble >= 1, got {args.ensemble}")
    model = model.clone(**{field: args.ensemble})
  data = arm.data.load("binarized_mnist", path=args.npz)
  x = getattr(data, args.split)
  if args.limit is not None:
    if args.limit < 1:
      parser.error(f"expected --limit >= 1, got {args.limit}")
    x = x[:args.limit]
  x = x.reshape((len(x),) + tuple(model.event_shape))
  size = getattr(model, field)
  print(f"{args.name}: {type(model).__name__} with {field}={size}, {len(x)} {args.split} images, "
        f"batch {args.batch_size}", flush=True)
  result = evaluate(model, variables, x, batch_size=args.batch_size)
  result.pop("logp")
  result.update(name=args.name, ensemble_field=field, ensemble=size, split=args.split,
                batch_size=args.batch_size, machine=platform.processor() or platform.machine(),
                cpus=os.cpu_count(), devices=str(jax.devices()))
  print(f"NLL {result['nll_nats']:.3f} nats ({result['bits_per_dim']:.4f} bits/dim) over {result['n']} "
        f"images; {result['images_per_second']:.2f} images/s; wall {result['seconds']:.1f} s "
        f"(compilation about {result['compile_seconds']:.1f} s), CPU {result['cpu_seconds']:.1f} s")
  print(json.dumps(result))
  return result


if __name__ == "__main__":
  main()
