r"""What a smaller storage type costs a shipped checkpoint, in nats and bytes, and the widths it fits.

  python experiments/param_storage_cost.py [--names made_1h_32masks_binarized_mnist,...] [--examples 2000]
      [--out experiments/results/param_storage_cost.json]

For each named shipped checkpoint (default: the two 32-mask MADE rows), the float32 checkpoint and
its exports in every smaller type of ``armodels_jax/param_storage.py`` (``pretrained.export(...,
storage=...)``, read back by ``inference.load`` as every reader reads them) are evaluated on the first
``--examples`` validation images; the cost of a type is its NLL minus float32's. The size of each
``params/`` folder (orbax's compressed arrays) gives the bytes per weight of the type on trained
weights, and from it the widest MADE of one and of two equal hidden layers (784 inputs, direct
connections, 32 masks) whose checkpoint stays under the 20 MiB cap of ``tests/test_pretrained.py``:
``estimated`` (a wider model's trained weights compress as the measured ones do) and ``uncompressed``
(the type's bytes per weight, a bound whatever the weights); ``--check-width`` stores Gaussian
weights of the int8 bound's width and reports their bytes.

Germain et al. 2015 (MADE), Table 6, for the rows; the authors' released MNIST command trains 8,000
hidden units.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import jax
import numpy as np

from armodels_jax import api
from armodels_jax import checkpointing
from armodels_jax import data
from armodels_jax import inference
from armodels_jax import param_storage
from armodels_jax import pretrained
from armodels_jax import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAP = 20 * 1024 * 1024  # tests/test_pretrained.py: MAX_BYTES
DIMS = 784
RAW_BYTES = {"float32": 4, "bfloat16": 2, "int8": 1}


def folder_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def weight_count(model) -> tuple[int, int]:
  """(entries of the weights, entries of the other parameters) of a model, from shapes alone."""
  shapes = jax.eval_shape(lambda: api.init(model, jax.random.PRNGKey(0)))["params"]
  weights = sum(math.prod(s.shape) for s in jax.tree.leaves(shapes) if param_storage.is_weight(s))
  other = sum(math.prod(s.shape) for s in jax.tree.leaves(shapes) if not param_storage.is_weight(s))
  return weights, other


def made_weights(width: int, layers: int) -> int:
  """Weight entries of a MADE on 784 binary dimensions with `layers` hidden layers of `width` and direct
  connections (as the shipped rows)."""
  return DIMS * width + (layers - 1) * width * width + width * DIMS + DIMS * DIMS


def widest(bytes_per_weight: float, fixed: int, layers: int) -> int:
  """The widest MADE whose checkpoint (weights at `bytes_per_weight`, plus `fixed` bytes) is under CAP."""
  lo, hi = 1, 100_000
  while lo < hi:
    mid = (lo + hi + 1) // 2
    if made_weights(mid, layers) * bytes_per_weight + fixed + 4 * (layers * mid + DIMS) < CAP:
      lo = mid
    else:
      hi = mid - 1
  return lo


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--names", default="made_1h_32masks_binarized_mnist,made_2h_32masks_binarized_mnist")
  parser.add_argument("--examples", type=int, default=2000, help="first N validation images (0: all)")
  parser.add_argument("--batch-size", type=int, default=250)
  parser.add_argument("--check-width", action="store_true",
                      help="also store a freshly initialised MADE of each widest int8 width and report its bytes")
  parser.add_argument("--out", default=os.path.join(REPO, "experiments", "results", "param_storage_cost.json"))
  args = parser.parse_args(argv)
  results = {"examples": args.examples, "cap_bytes": CAP, "rows": []}
  with tempfile.TemporaryDirectory() as tmp:
    for name in [n for n in args.names.split(",") if n]:
      source = os.path.join(pretrained.directory(), name)
      if not os.path.isdir(source):
        print(f"param_storage_cost: no shipped checkpoint {source}", file=sys.stderr)
        return 2
      cfg = training.config_from_json(open(os.path.join(source, "config.json")).read())
      ds = data.load(cfg.data.name, **training.data_options(cfg))
      valid = ds.valid if not args.examples else ds.valid[:args.examples]
      row = {"name": name, "types": {}}
      for kind in param_storage.TYPES:
        path = source if kind == "float32" else os.path.join(tmp, f"{name}_{kind}")
        if kind != "float32":
          pretrained.export(source, path, storage=kind)
        model, variables, _ = inference.load(path)
        t0 = time.time()
        nll = training.evaluate(model, variables, valid, batch_size=args.batch_size)["nll_nats"]
        weights, other = weight_count(model)
        params_bytes = folder_bytes(os.path.join(path, checkpointing.PARAMS_DIR))
        row["types"][kind] = {"nll_nats": nll, "params_bytes": params_bytes,
                              "bytes_per_weight": (params_bytes - 4 * other) / weights,
                              "eval_seconds": time.time() - t0}
        row["hidden_sizes"] = list(model.hidden_sizes)
        row["checkpoint_bytes_besides_params"] = folder_bytes(source) - folder_bytes(
            os.path.join(source, checkpointing.PARAMS_DIR))
        print(name, kind, json.dumps(row["types"][kind]), flush=True)
      for kind in param_storage.TYPES:
        row["types"][kind]["cost_nats"] = row["types"][kind]["nll_nats"] - row["types"]["float32"]["nll_nats"]
        layers = len(row["hidden_sizes"])
        # The manifest, config and orbax's metadata, plus a margin of 64 KiB.
        fixed = row["checkpoint_bytes_besides_params"] + 64 * 1024
        # Estimated: weights as compressible as these trained ones; bound: not compressed at all.
        row["types"][kind][f"widest_{layers}h_under_cap_estimated"] = widest(
            row["types"][kind]["bytes_per_weight"], fixed, layers)
        row["types"][kind][f"widest_{layers}h_under_cap_uncompressed"] = widest(RAW_BYTES[kind], fixed, layers)
      if args.check_width:
        width = row["types"]["int8"][f"widest_{layers}h_under_cap_uncompressed"]
        # Gaussian weights of the wider model's shapes (eval_shape: no model, masks or init materialised).
        wide = model.clone(hidden_sizes=(width,) * layers)
        shapes = jax.eval_shape(lambda m=wide: api.init(m, jax.random.PRNGKey(0)))["params"]
        rng = np.random.default_rng(0)
        params = jax.tree.map(lambda s: (rng.normal(size=s.shape) / math.sqrt(s.shape[0])).astype(np.float32),
                              shapes)
        path = os.path.join(tmp, f"{name}_width{width}")
        checkpointing.save_params(path, param_storage.encode(params, "int8"))
        row["check_width"] = {"hidden_sizes": [width] * layers, "int8_params_bytes_gaussian_weights": folder_bytes(path),
                              "with_the_rest_of_the_checkpoint": folder_bytes(path) + fixed - 64 * 1024}
        print(name, json.dumps(row["check_width"]), flush=True)
      results["rows"].append(row)
  with open(args.out, "w") as f:
    json.dump(results, f, indent=1)
  print(json.dumps(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
