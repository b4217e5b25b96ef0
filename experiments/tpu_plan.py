r"""The costed TPU plan: every paper-size experiment's train step compiled for TPU slices on this host.

For each row (a config of experiments/configs at its paper size), each slice (v5e-8, v4-32, v5p-8) and
each dtype (float32, bfloat16) it runs ``armodels compile --what train --json`` (armodels_jax.aot: XLA's
TPU compiler from libtpu, compile-only devices, nothing allocated) in a subprocess, and writes:

  experiments/results/tpu_plan.json   every finished cell
  experiments/results/tpu_plan.md     the table (fits, HBM per chip, roofline step time, projected
                                      hours and chip-hours to the row's number of steps)
  experiments/results/tpu_plan_cache/ one JSON per cell: a rerun resumes where the last one stopped

Usage (one compile at a time; a paper-size compile takes minutes of CPU)::

  nice -n 5 python experiments/tpu_plan.py                 # the whole grid, resuming
  nice -n 5 python experiments/tpu_plan.py --rows pixelcnn_pp_cifar10 --targets v5e-8
  python experiments/tpu_plan.py --report                  # rewrite the table from the cache only

The step counts are the configs' ``train.num_steps`` (this project's schedules), and the batch is the
config's ``train.batch_size`` rounded up to a multiple of the slice's chips; both are printed in the
table. The projection is a lower bound: the roofline time (max of FLOPs over the peak and bytes over the
bandwidth, per chip), with no input pipeline, evaluation, checkpoints or host overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "experiments", "configs")
RESULTS = os.path.join(ROOT, "experiments", "results")
CACHE = os.path.join(RESULTS, "tpu_plan_cache")

# (row, config file, config overrides). The VQ-VAE prior reads the code maps of a trained VQ-VAE; its
# shapes are given instead (8x8 maps of 512 codes: vqvae_prior_cifar10.py's docstring).
ROWS = [
    ("pixelcnn_cifar10", "pixelcnn_cifar10.py", ()),
    ("gated_pixelcnn_cifar10", "gated_pixelcnn_cifar10.py", ()),
    ("pixelcnn_pp_cifar10", "pixelcnn_pp_cifar10.py", ()),
    ("pixelsnail_cifar10", "pixelsnail_cifar10.py", ()),
    ("row_lstm_cifar10", "row_lstm_cifar10.py", ()),
    ("diagonal_bilstm_cifar10", "diagonal_bilstm_cifar10.py", ()),
    ("gated_pixelcnn_imagenet32", "gated_pixelcnn_imagenet32.py", ()),
    ("gated_pixelcnn_imagenet64", "gated_pixelcnn_imagenet64.py", ()),
    ("pixelsnail_imagenet32", "pixelsnail_imagenet32.py", ()),
    ("wavenet_fsdd_paper", "wavenet_fsdd_paper.py", ()),
    ("image_gpt_binarized_mnist", "image_gpt_binarized_mnist.py", ()),
    ("vqvae_cifar10", "vqvae_cifar10.py", ()),
    ("vqvae_prior_cifar10", "vqvae_prior_cifar10.py", ("data.event_shape=(8, 8, 1)", "data.num_levels=512")),
    ("char_rnn_shakespeare_paper", "char_rnn_shakespeare_paper.py", ()),
    ("fvsbn_binarized_mnist", "fvsbn_binarized_mnist.py", ()),
    ("nade_binarized_mnist", "nade_binarized_mnist.py", ()),
    ("eonade_2h_binarized_mnist", "eonade_2h_binarized_mnist.py", ()),
    ("nade_k_binarized_mnist", "nade_k_binarized_mnist.py", ()),
    ("nan_binarized_mnist", "nan_binarized_mnist.py", ()),
    ("made_2h_32masks_binarized_mnist", "made_2h_32masks_binarized_mnist.py", ()),
    ("pixelcnn_binarized_mnist", "pixelcnn_binarized_mnist.py", ()),
    ("gated_pixelcnn_binarized_mnist", "gated_pixelcnn_binarized_mnist.py", ()),
    ("pixelcnn_pp_binarized_mnist", "pixelcnn_pp_binarized_mnist.py", ()),
    ("pixelsnail_binarized_mnist", "pixelsnail_binarized_mnist.py", ()),
    ("row_lstm_binarized_mnist", "row_lstm_binarized_mnist.py", ()),
    ("diagonal_bilstm_binarized_mnist", "diagonal_bilstm_binarized_mnist.py", ()),
]
TARGETS = {"v5e-8": "v5e:2x4", "v4-32": "v4:2x2x4", "v5p-8": "v5p:2x2x1"}
CHIPS = {"v5e-8": 8, "v4-32": 16, "v5p-8": 4}
DTYPES = ("float32", "bfloat16")


def _config_facts(config_file: str, overrides) -> dict:
  """The config's batch and steps (imported here, without JAX starting)."""
  from armodels_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top

  cfg = config_lib.load_config(os.path.join(CONFIGS, config_file), list(overrides))
  return {"batch_size": int(cfg.train.batch_size), "num_steps": int(cfg.train.num_steps),
          "model": str(cfg.model.name), "size": str(cfg.model.size)}


def _cell_path(row: str, target: str, dtype: str) -> str:
  return os.path.join(CACHE, f"{row}__{target}__{dtype}.json")


def run_cell(row: str, config_file: str, overrides, target: str, dtype: str, timeout: int) -> dict:
  facts = _config_facts(config_file, overrides)
  chips = CHIPS[target]
  batch = -(-facts["batch_size"] // chips) * chips
  cmd = [sys.executable, "-m", "armodels_jax.cli", "compile", "--config", os.path.join(CONFIGS, config_file),
         "--topology", TARGETS[target], "--dtype", dtype, "--what", "train", "--batch", str(batch), "--json",
         *[f"--config.{o}" for o in overrides]]
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
  t0 = time.time()
  try:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
  except subprocess.TimeoutExpired:
    return {"row": row, "target": target, "dtype": dtype, "error": f"compile over {timeout} s", **facts}
  cell = {"row": row, "target": target, "dtype": dtype, "batch": batch, "wall_s": time.time() - t0, **facts,
          "command": "armodels compile --config experiments/configs/" + config_file + " --topology "
                     + TARGETS[target] + f" --dtype {dtype} --what train --batch {batch} --json"
                     + "".join(f" '--config.{o}'" for o in overrides)}
  lines = out.stdout.strip().splitlines()
  if out.returncode != 0 or not lines:
    err = (out.stderr.strip().splitlines() or ["?"])[-1]
    cell["error"] = err
    return cell
  cell["report"] = json.loads(lines[-1])
  return cell


def _fmt_hours(h: float) -> str:
  return f"{h:.1f}" if h >= 1 else (f"{h * 60:.0f} min" if h * 60 >= 1 else "<1 min")


def write_report(cells: list[dict]) -> None:
  os.makedirs(RESULTS, exist_ok=True)
  with open(os.path.join(RESULTS, "tpu_plan.json"), "w") as f:
    json.dump(cells, f, indent=1)
  lines = ["# TPU plan: paper-size train steps compiled for TPU slices (armodels compile)", "",
           "Written by `experiments/tpu_plan.py` (compiled on a shared 2-core CPU with libtpu 0.0.42.1, "
           "jax 0.10.2; no TPU used). Roofline step = max(FLOPs / peak bf16, bytes / HBM bandwidth) per "
           "chip, a lower bound; hours = steps x roofline step; chip-hours = hours x chips. Steps and batch "
           "are the configs' (train.num_steps, train.batch_size rounded up to the chips).", "",
           "| row | slice | dtype | batch | fits | HBM GiB/chip | TFLOP/chip/step | roofline step ms "
           "| steps | hours | chip-hours |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for c in cells:
    r = c.get("report")
    if r is None and "computes in float32 only" in c.get("error", ""):
      lines.append(f"| {c['row']} | {c['target']} | {c['dtype']} | {c.get('batch', '')} | n/a: the model "
                   f"computes in float32 only | | | | {c['num_steps']} | | |")
      continue
    if r is None:
      lines.append(f"| {c['row']} | {c['target']} | {c['dtype']} | {c.get('batch', '')} | error: "
                   f"{c.get('error', '?')[:120]} | | | | {c['num_steps']} | | |")
      continue
    step = r["step_s_roofline"]
    hours = c["num_steps"] * step / 3600 if step == step else float("nan")
    fits = "yes" if r["fits"] else f"no (max {r.get('max_per_chip_batch', '?')}/chip)"
    lines.append(f"| {c['row']} | {c['target']} | {c['dtype']} | {c['batch']} | {fits} | {r['hbm_gib']:.2f} "
                 f"| {r['flops'] / 1e12:.3f} | {step * 1e3:.2f} | {c['num_steps']} | {_fmt_hours(hours)} "
                 f"| {_fmt_hours(hours * r['chips'])} |")
  lines += ["", "Reproduce a row (and, on a slice, run it: `experiments/tpu/pod.sh` with `CONFIG=` the row's "
            "config):", ""]
  lines += [f"    {c['command']}" for c in cells if "command" in c]
  with open(os.path.join(RESULTS, "tpu_plan.md"), "w") as f:
    f.write("\n".join(lines) + "\n")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rows", nargs="*", default=None, help="row names (default: all)")
  p.add_argument("--targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
  p.add_argument("--dtypes", nargs="*", default=list(DTYPES), choices=list(DTYPES))
  p.add_argument("--timeout", type=int, default=3600, help="seconds per compile")
  p.add_argument("--report", action="store_true", help="only rewrite the table from the cache")
  args = p.parse_args(argv)
  rows = [r for r in ROWS if args.rows is None or r[0] in args.rows]
  if args.rows and len(rows) != len(args.rows):
    p.error(f"expected rows among {[r[0] for r in ROWS]}, got {args.rows}")
  os.makedirs(CACHE, exist_ok=True)
  # Every row on one slice and dtype before the next slice or dtype: a grid stopped early covers the rows.
  for target, dtype in [(t, d) for t in args.targets for d in sorted(args.dtypes, reverse=True)]:
    for row, config_file, overrides in rows:
      path = _cell_path(row, target, dtype)
      if args.report or os.path.exists(path):
        continue
      print(f"{row} {target} {dtype} ...", flush=True)
      cell = run_cell(row, config_file, overrides, target, dtype, args.timeout)
      with open(path, "w") as f:
        json.dump(cell, f, indent=1)
      print(f"  {'error: ' + cell['error'] if 'error' in cell else 'done'} ({cell.get('wall_s', 0):.0f} s)",
            flush=True)
  cells = []
  for row, _, _ in ROWS:
    for target in TARGETS:
      for dtype in DTYPES:
        path = _cell_path(row, target, dtype)
        if os.path.exists(path):
          with open(path) as f:
            cells.append(json.load(f))
  write_report(cells)
  print(f"{len(cells)} of {len(ROWS) * len(TARGETS) * len(DTYPES)} cells in "
        f"{os.path.join(RESULTS, 'tpu_plan.md')}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
