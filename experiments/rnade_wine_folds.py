r"""RNADE on UCI red wine: the paper's 10-fold protocol, end to end.

Uria, Murray & Larochelle 2013, "RNADE: The real-valued neural autoregressive density-estimator"
(NIPS), Table 1: red wine, RNADE-MoG -9.36 nats (RNADE-MoL -9.46), the mean test log-likelihood per
datapoint over 10 folds on standardised data (higher is better).

For every fold k the config (``experiments/configs/rnade_wine_red.py`` by default) is trained into
``WORKDIR/fold_k`` with ``data.fold=k`` (an existing run resumes, a finished one is only evaluated);
the checkpoint with the lowest validation NLL (early stopping on the fold's validation part; EMA
weights when the config uses them) is restored and evaluated on the held-out test fold. The script
prints a table and the mean +- standard error over folds, and writes ``WORKDIR/summary.json``.

Usage::

  python experiments/rnade_wine_folds.py --workdir runs/rnade_wine_red
  python experiments/rnade_wine_folds.py --workdir runs/rnade_wine_mol --config.model.overrides.head_kind=laplace
  python experiments/rnade_wine_folds.py --workdir /tmp/folds --folds 0,1 --config.train.num_steps=200
  python experiments/rnade_wine_folds.py --workdir /tmp/folds_embedded \
      --config.data.name=sklearn_wine --config.data.path=
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from armodels_jax import checkpointing
from armodels_jax import data
from armodels_jax import training

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_pretrained import portable_path  # pylint: disable=g-import-not-at-top,wrong-import-position
DEFAULT_CONFIG = os.path.join(HERE, "configs", "rnade_wine_red.py")
PUBLISHED = {"gaussian": -9.36, "laplace": -9.46}  # Table 1, red wine


def best_valid_step(workdir: str) -> tuple[int, float]:
  """The evaluated and checkpointed step with the lowest validation NLL: ``(step, nll_nats)``."""
  saved = set(checkpointing.list_steps(workdir))
  evals = [r for r in training.read_metrics(workdir, "valid") if r["step"] in saved]
  if not evals:
    raise ValueError(f"{workdir}: no validation evaluation at a checkpointed step; set "
                     "train.eval_every to a multiple of train.checkpoint_every and keep_checkpoints=0")
  best = min(evals, key=lambda r: (r["nll_nats"], r["step"]))
  return int(best["step"]), float(best["nll_nats"])


def run_fold(config: str, overrides: list[str], fold: int, workdir: str) -> dict:
  """Trains (or resumes) one fold, selects its best validation checkpoint and evaluates the test fold."""
  cfg = training.load_config(config, overrides + [f"data.fold={fold}"])
  t0 = time.time()
  result = training.train_and_evaluate(cfg, workdir)
  if result.get("stopped"):
    raise RuntimeError(f"fold {fold}: training stopped early at step {result['step']}")
  step, valid_nll = best_valid_step(workdir)
  model, variables, _ = training.restore(workdir, step)
  ds = data.load(cfg.data.name, **training.data_options(cfg))
  test = training.evaluate(model, variables, ds.test, batch_size=cfg.train.eval_batch_size)
  last_valid = [r for r in training.read_metrics(workdir, "valid") if r["step"] == result["step"]]
  return {
      "fold": fold, "best_step": step, "num_steps": int(result["step"]),
      "valid_loglik": -valid_nll, "test_loglik": -test["nll_nats"], "n_test": test["n"],
      "last_valid_loglik": -last_valid[-1]["nll_nats"] if last_valid else None,
      "train_loss": result.get("train_loss"), "seconds": time.time() - t0,
  }


def summarise(rows: list[dict]) -> dict:
  """Mean and standard error (sample std / sqrt(n)) of the test log-likelihood over folds."""
  test = np.array([r["test_loglik"] for r in rows], np.float64)
  sem = float(test.std(ddof=1) / math.sqrt(len(test))) if len(test) > 1 else float("nan")
  return {"mean_test_loglik": float(test.mean()), "stderr": sem, "num_folds": len(rows),
          "mean_valid_loglik": float(np.mean([r["valid_loglik"] for r in rows]))}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True, help="one sub-directory fold_k per fold")
  parser.add_argument("--config", default=DEFAULT_CONFIG, help="config file[:arg]")
  parser.add_argument("--folds", default=None, help="comma-separated folds (default: all)")
  args, unknown = parser.parse_known_args(argv)
  overrides = []
  for item in unknown:
    if not (item.startswith("--config.") and "=" in item):
      parser.error(f"unrecognized argument {item!r} (config overrides are --config.FIELD=VALUE)")
    overrides.append(item[len("--config."):])
  cfg = training.load_config(args.config, overrides)
  num_folds = int(cfg.data.num_folds)
  folds = range(num_folds) if args.folds is None else [int(f) for f in args.folds.split(",")]
  head = dict(cfg.model.overrides).get("head_kind", "gaussian")

  rows = []
  for fold in folds:
    row = run_fold(args.config, overrides, fold, os.path.join(args.workdir, f"fold_{fold}"))
    rows.append(row)
    print(f"fold {fold}: best step {row['best_step']:>5d}  valid {row['valid_loglik']:8.3f}  "
          f"test {row['test_loglik']:8.3f}  ({row['seconds']:.0f} s)", flush=True)
  summary = summarise(rows)

  print()
  print(f"{cfg.model.name} ({head}, size {cfg.model.size}) on {cfg.data.name}: test log-likelihood "
        "per datapoint, nats (higher is better)")
  print(f"{'fold':>4} {'best step':>9} {'valid':>9} {'test':>9} {'n_test':>6}")
  for r in rows:
    print(f"{r['fold']:>4} {r['best_step']:>9} {r['valid_loglik']:>9.3f} {r['test_loglik']:>9.3f} "
          f"{r['n_test']:>6}")
  print(f"mean test log-likelihood over {summary['num_folds']} folds: "
        f"{summary['mean_test_loglik']:.3f} +- {summary['stderr']:.3f} (standard error)")
  published = PUBLISHED.get(head) if cfg.data.name == "wine_quality_red" else None
  if published is not None:
    print(f"published (Uria et al. 2013, Table 1, RNADE-{'MoG' if head == 'gaussian' else 'MoL'}): "
          f"{published:.2f}")
  os.makedirs(args.workdir, exist_ok=True)
  config = portable_path(os.path.abspath(args.config), os.path.dirname(os.path.abspath(args.config)))
  out = {"config": config, "overrides": overrides, "model": cfg.model.name, "head_kind": head,
         "dataset": cfg.data.name, "published_test_loglik": published, "folds": rows, **summary}
  path = os.path.join(args.workdir, "summary.json")
  with open(path, "w") as f:
    json.dump(out, f, indent=2)
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
