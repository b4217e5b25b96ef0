r"""The costed TPU plan: every paper-size experiment's train step compiled for TPU slices on this host.

For each row (a config of experiments/configs at its paper size, at the paper's batch), each slice
(v5e-8, v4-32, v5p-8) and each dtype (float32, bfloat16) it runs ``armodels compile --what train
--json`` in a subprocess (armodels_jax.aot: XLA's TPU compiler from libtpu, compile-only devices,
nothing allocated; only the train step, the largest program of a run), and writes:

  experiments/results/tpu_plan.json   every finished cell
  experiments/results/tpu_plan.md     the rows with their sources, the cells (fits, HBM per chip,
                                      roofline step, projected hours and chip-hours to the paper's
                                      number of steps), the binarized-MNIST rows' cost here beside
                                      their projected cost on a v5e-8, and the commands
  experiments/results/tpu_plan_cache/ one JSON per cell: a rerun resumes where the last one stopped

Usage (one compile at a time; a paper-size conv net takes tens of CPU-minutes to compile)::

  nice -n 5 python experiments/tpu_plan.py                    # the whole grid, cheap cells first
  nice -n 5 python experiments/tpu_plan.py --rows pixelcnn_pp_cifar10 --targets v5e-8 --dtypes float32
  nice -n 5 python experiments/tpu_plan.py --max-cost 1       # only the rows that compile in minutes
  python experiments/tpu_plan.py --list                       # each row's cells: done, stale or missing
  python experiments/tpu_plan.py --report                     # rewrite the table from the cache only
  python experiments/tpu_plan.py --summary                    # the short table of BENCHMARKS.md
  nice -n 5 python experiments/tpu_plan.py --code-tree ../other-checkout   # compile with that tree's
                                                              # armodels_jax (its commit is recorded)

Steps and batch (`Row`): the paper's global batch and its training length, as the paper or the
authors' released code gives them (``source`` says which, and whether it was read for this plan or is
cited from memory); steps = ceil(epochs x examples per epoch / batch) where the length is in epochs.
Where the paper gives no length the plan uses the config's ``train.num_steps`` and says so; where it
gives no batch, the config's ``train.batch_size``. The compiled batch is the row's batch rounded up to a
multiple of the slice's chips (the table shows both). The projection is a lower bound: the roofline
time (max of FLOPs over the peak and bytes over the bandwidth, per chip; armodels_jax.aot) times the
steps, with no input pipeline, evaluation, checkpoints or host overhead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "experiments", "configs")
RESULTS = os.path.join(ROOT, "experiments", "results")
CACHE = os.path.join(RESULTS, "tpu_plan_cache")
REPRODUCE_JSON = os.path.join(RESULTS, "reproduce.json")

TARGETS = {"v5e-8": "v5e:2x4", "v4-32": "v4:2x2x4", "v5p-8": "v5p:2x2x1"}
CHIPS = {"v5e-8": 8, "v4-32": 16, "v5p-8": 4}
DTYPES = ("float32", "bfloat16")
# The order cells are compiled in: every row on v5e-8 in float32, then in bfloat16, then the other slices.
PRIORITY = [("v5e-8", "float32"), ("v5e-8", "bfloat16"), ("v4-32", "float32"), ("v5p-8", "float32"),
            ("v4-32", "bfloat16"), ("v5p-8", "bfloat16")]

# Examples in one epoch of the training split.
CIFAR10_TRAIN = 50_000
IMAGENET_TRAIN = 1_281_167  # ILSVRC-2012 train, as downsampled (imagenet_resized/32x32 and 64x64).
BINARIZED_MNIST_TRAIN = 50_000  # Salakhutdinov & Murray 2008's split: 50,000 / 10,000 / 10,000.
# char-rnn's epoch: floor(1,115,394 characters / (50 x 50)) = 446 batches, 95% of them for training
# (train_frac 0.95) = 423 batches of 50 windows of 50 characters.
CHAR_RNN_EPOCH_WINDOWS = 423 * 50

# Where a row's figures come from: [read] read for this plan (2026-12-07) in the authors' released code or
# README; [memory] the paper as remembered, not re-read for this plan (check it before quoting it).
PIXELRNN = ("PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu, ICML 2016), sec. 5.2: batch 16 for MNIST "
            "and CIFAR-10, 64 for ImageNet 32x32, 32 for ImageNet 64x64; no steps or epochs [memory]")
GATED = ("Gated PixelCNN (van den Oord et al., NeurIPS 2016): neither batch nor length [memory]; the batch "
         "is PixelRNN's for the dataset (sec. 5.2 there)")
PIXELCNN_PP = ("PixelCNN++ (Salimans et al., ICLR 2017): neither batch nor length in the paper [memory]; "
               "authors' code openai/pixel-cnn train.py: 12 per GPU x 8 GPUs = 96, max_epochs 5000 a cap; "
               "README: 8 TITAN X, about 5 days to 2.92 bits/dim [read]")
PIXELSNAIL = ("PixelSNAIL (Chen et al., ICML 2018): neither batch nor length in the paper [memory]; authors' "
              "command (neocxi/pixelsnail-public README): 8 per GPU, GPU count not given [read]; the plan "
              "takes 8 per chip of a v5e-8 = 64")
NO_PAPER_RUN = "no paper run on this data"


@dataclasses.dataclass(frozen=True)
class Row:
  """One experiment of the plan: its config, the paper's batch and training length, and their source.

  ``batch`` None: the paper gives none (the config's is used). ``steps`` or ``epochs`` None: the
  paper gives no length (the config's ``train.num_steps`` is used). ``epoch_examples``: examples per
  epoch (None where an epoch means nothing, as for windows cut at random from audio). ``cost``: how
  long the compile takes here, 0 (seconds of CPU) to 4 (PixelCNN++: about 20 CPU-minutes, BENCHMARKS.md);
  cheap rows go first.
  """
  name: str
  config: str
  cost: int
  source: str
  batch: int | None = None
  epochs: float | None = None
  steps: int | None = None
  epoch_examples: int | None = None
  overrides: tuple[str, ...] = ()
  batch_from: str = "paper"  # Where `batch` comes from when set: "paper", "code" (the authors'), ...
  length_from: str = "paper"  # Where `steps` or `epochs` come from when set.


ROWS = [
    # The dense binarized-MNIST rows (minibatch 100 throughout the NADE literature's code).
    Row("fvsbn_binarized_mnist", "fvsbn_binarized_mnist.py", 0,
        "NADE paper (Larochelle & Murray, AISTATS 2011), Table 2, trained FVSBN there: neither batch nor "
        "length [memory]", epoch_examples=BINARIZED_MNIST_TRAIN),
    Row("nade_binarized_mnist", "nade_binarized_mnist.py", 0,
        "Larochelle & Murray, AISTATS 2011: SGD, early stopping; neither batch nor length [memory]", epoch_examples=BINARIZED_MNIST_TRAIN),
    Row("nan_binarized_mnist", "nan_binarized_mnist.py", 0,
        f"Bengio & Bengio, NIPS 2000: UCI data only, {NO_PAPER_RUN}; size paper (32 units per "
        "conditional)", epoch_examples=BINARIZED_MNIST_TRAIN,
        overrides=("model.size=paper",)),
    Row("eonade_2h_binarized_mnist", "eonade_2h_binarized_mnist.py", 0,
        "Uria, Murray & Larochelle, ICML 2014: batch and length not found for this plan",
        epoch_examples=BINARIZED_MNIST_TRAIN),
    Row("nade_k_binarized_mnist", "nade_k_binarized_mnist.py", 0,
        "NADE-k (Raiko et al., NIPS 2014), authors' code yaoli/nade_k config.py: minibatch 100, 1,000 "
        "epochs then 3,000 of fine-tuning [read]",
        batch=100, epochs=4000, epoch_examples=BINARIZED_MNIST_TRAIN, batch_from="code", length_from="code"),
    Row("made_2h_32masks_binarized_mnist", "made_2h_32masks_binarized_mnist.py", 0,
        "MADE (Germain et al., ICML 2015), authors' MNIST command in mgermain/MADE README: batch 100, "
        "max_epochs -1 (early stopping, look-ahead 30 epochs) [read]: no fixed length",
        batch=100, epoch_examples=BINARIZED_MNIST_TRAIN, batch_from="code"),
    # Recurrent and small models.
    Row("char_rnn_shakespeare_paper", "char_rnn_shakespeare_paper.py", 1,
        "Karpathy 2015 (blog: no batch or length); char-rnn train.lua defaults: batch 50, seq_length "
        "50, max_epochs 50, train_frac 0.95 [read]",
        batch=50, epochs=50, epoch_examples=CHAR_RNN_EPOCH_WINDOWS, overrides=("data.seq_len=50",),
        batch_from="code", length_from="code"),
    Row("row_lstm_binarized_mnist", "row_lstm_binarized_mnist.py", 1,
        PIXELRNN, batch=16, epoch_examples=BINARIZED_MNIST_TRAIN),
    Row("diagonal_bilstm_binarized_mnist", "diagonal_bilstm_binarized_mnist.py", 1,
        PIXELRNN, batch=16, epoch_examples=BINARIZED_MNIST_TRAIN),
    Row("vqvae_prior_cifar10", "vqvae_prior_cifar10.py", 1,
        "VQ-VAE (van den Oord, Vinyals & Kavukcuoglu, NeurIPS 2017), sec. 4.2: no batch or length for the "
        "CIFAR-10 prior [memory]; input 8x8 maps of 512 codes",
        epoch_examples=CIFAR10_TRAIN, overrides=("data.event_shape=(8, 8, 1)", "data.num_levels=512")),
    Row("wavenet_fsdd_paper", "wavenet_fsdd_paper.py", 1,
        "WaveNet (van den Oord et al., 2016): no batch or length for its audio experiments [memory]"),
    # Convolutional and attention nets (minutes to tens of CPU-minutes each).
    Row("image_gpt_binarized_mnist", "image_gpt_binarized_mnist.py", 2,
        f"iGPT (Chen et al., ICML 2020): ImageNet only, {NO_PAPER_RUN}; size paper (iGPT-S, 24 blocks "
        "of width 512)", epoch_examples=BINARIZED_MNIST_TRAIN,
        overrides=("model.size=paper",)),
    Row("pixelcnn_binarized_mnist", "pixelcnn_binarized_mnist.py", 2,
        PIXELRNN, batch=16, epoch_examples=BINARIZED_MNIST_TRAIN),
    Row("gated_pixelcnn_binarized_mnist", "gated_pixelcnn_binarized_mnist.py", 2,
        f"Gated PixelCNN (NeurIPS 2016): {NO_PAPER_RUN}", epoch_examples=BINARIZED_MNIST_TRAIN),
    Row("vqvae_cifar10", "vqvae_cifar10.py", 2,
        "VQ-VAE (NeurIPS 2017), sec. 4.1: Adam 2e-4, batch 128, 250,000 steps [memory; the config's "
        "docstring cites the same]",
        batch=128, steps=250_000, epoch_examples=CIFAR10_TRAIN),
    Row("row_lstm_cifar10", "row_lstm_cifar10.py", 2, PIXELRNN,
        batch=16, epoch_examples=CIFAR10_TRAIN),
    Row("diagonal_bilstm_cifar10", "diagonal_bilstm_cifar10.py", 2, PIXELRNN,
        batch=16, epoch_examples=CIFAR10_TRAIN),
    Row("pixelcnn_cifar10", "pixelcnn_cifar10.py", 3, PIXELRNN,
        batch=16, epoch_examples=CIFAR10_TRAIN),
    Row("gated_pixelcnn_cifar10", "gated_pixelcnn_cifar10.py", 3, GATED, batch=16,
        epoch_examples=CIFAR10_TRAIN, batch_from="PixelRNN's"),
    Row("gated_pixelcnn_imagenet32", "gated_pixelcnn_imagenet32.py", 3, GATED, batch=64,
        epoch_examples=IMAGENET_TRAIN, batch_from="PixelRNN's"),
    Row("gated_pixelcnn_imagenet64", "gated_pixelcnn_imagenet64.py", 3, GATED, batch=32,
        epoch_examples=IMAGENET_TRAIN, batch_from="PixelRNN's"),
    Row("pixelcnn_pp_binarized_mnist", "pixelcnn_pp_binarized_mnist.py", 4,
        f"PixelCNN++ (ICLR 2017): {NO_PAPER_RUN}", epoch_examples=BINARIZED_MNIST_TRAIN),
    Row("pixelsnail_binarized_mnist", "pixelsnail_binarized_mnist.py", 3,
        f"PixelSNAIL (ICML 2018): {NO_PAPER_RUN}", epoch_examples=BINARIZED_MNIST_TRAIN),
    Row("pixelcnn_pp_cifar10", "pixelcnn_pp_cifar10.py", 4, PIXELCNN_PP, batch=96,
        epoch_examples=CIFAR10_TRAIN, batch_from="code"),
    Row("pixelsnail_cifar10", "pixelsnail_cifar10.py", 3, PIXELSNAIL, batch=64,
        epoch_examples=CIFAR10_TRAIN, batch_from="code, 8 chips"),
    Row("pixelsnail_imagenet32", "pixelsnail_imagenet32.py", 3, PIXELSNAIL, batch=64,
        epoch_examples=IMAGENET_TRAIN, batch_from="code, 8 chips"),
]
ROW_BY_NAME = {r.name: r for r in ROWS}


# ---------------------------------------------------------------------------------------------------------
# The arithmetic (pure functions).


def round_batch(batch: int, chips: int) -> int:
  """The smallest multiple of `chips` at or above `batch` (the global batch must divide over the chips)."""
  if batch < 1 or chips < 1:
    raise ValueError(f"expected a positive batch and chip count, got batch={batch}, chips={chips}")
  return -(-batch // chips) * chips


def steps_per_epoch(epoch_examples: int | None, batch: int) -> int | None:
  """Steps in one pass over `epoch_examples` at `batch` (a last partial batch counts as a step)."""
  if epoch_examples is None:
    return None
  return -(-epoch_examples // batch)


def plan_length(row: Row, config_batch: int, config_steps: int) -> dict:
  """The batch and number of steps the plan projects `row` to, and where each comes from.

  Returns ``{"batch", "batch_from", "steps", "steps_from", "epochs"}``: ``batch_from`` is ``"paper"`` or
  ``"config"`` (or the row's ``batch_from``); ``steps_from`` is ``"paper steps"``, ``"paper epochs"``
  (steps = ceil(epochs x examples per epoch / batch); ``"code ..."`` with the row's ``length_from``) or
  ``"config"`` (the paper gives no length: ``train.num_steps``);
  ``epochs`` is the number of passes those steps make (None without an epoch size).
  """
  batch = row.batch if row.batch is not None else config_batch
  if row.steps is not None:
    steps, steps_from = row.steps, f"{row.length_from} steps"
  elif row.epochs is not None:
    if row.epoch_examples is None:
      raise ValueError(f"row {row.name}: a length in epochs needs epoch_examples")
    steps, steps_from = math.ceil(row.epochs * row.epoch_examples / batch), f"{row.length_from} epochs"
  else:
    steps, steps_from = config_steps, "config"
  epochs = steps * batch / row.epoch_examples if row.epoch_examples else None
  return {"batch": batch, "batch_from": row.batch_from if row.batch is not None else "config",
          "steps": int(steps), "steps_from": steps_from, "epochs": epochs}


def project(step_s: float, steps: int, chips: int, epoch_examples: int | None, batch: int) -> dict:
  """Hours and chip-hours of `steps` steps of `step_s` seconds on `chips` chips, and hours per epoch."""
  hours = steps * step_s / 3600
  per_epoch = steps_per_epoch(epoch_examples, batch)
  return {"hours": hours, "chip_hours": hours * chips,
          "hours_per_epoch": per_epoch * step_s / 3600 if per_epoch else None}


def fmt_hours(h: float | None) -> str:
  """Hours as the table prints them: ``'1,234'``, ``'12.3'``, ``'42 min'``, ``'<1 min'``, ``''`` for None."""
  if h is None or h != h:
    return ""
  if h >= 100:
    return f"{h:,.0f}"
  if h >= 1:
    return f"{h:.1f}"
  return f"{h * 60:.0f} min" if h * 60 >= 1 else "<1 min"


# ---------------------------------------------------------------------------------------------------------
# Compiling the cells.


def _config_facts(row: Row) -> dict:
  """The config's batch, steps, model and size (imported here, without JAX starting), and
  ``model_spec``: its whole model section, which a cached cell must match (a config whose model
  changed, say a wider MADE, makes its cells stale)."""
  from armodels_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top

  cfg = config_lib.load_config(os.path.join(CONFIGS, row.config), list(row.overrides))
  return {"batch_size": int(cfg.train.batch_size), "num_steps": int(cfg.train.num_steps),
          "model": str(cfg.model.name), "size": str(cfg.model.size),
          "model_spec": json.dumps(cfg.model.to_dict(), sort_keys=True, default=str)}


def _cell_path(row: str, target: str, dtype: str) -> str:
  return os.path.join(CACHE, f"{row}__{target}__{dtype}.json")


def _tree_commit(tree: str) -> str:
  """``branch@commit`` of the armodels_jax tree that compiles (``+`` when it has uncommitted changes)."""
  def git(*args):
    return subprocess.run(["git", "-C", tree, *args], capture_output=True, text=True).stdout.strip()

  commit = git("rev-parse", "--short", "HEAD") or "unknown"
  dirty = "+" if git("status", "--porcelain", "--untracked-files=no", "--", "armodels_jax") else ""
  return f"{git('rev-parse', '--abbrev-ref', 'HEAD') or '?'}@{commit}{dirty}"


def compile_command(row: Row, target: str, dtype: str, batch: int) -> str:
  """The `armodels compile` command of one cell (what a user reruns)."""
  return (f"armodels compile --config experiments/configs/{row.config} --topology {TARGETS[target]} "
          f"--dtype {dtype} --what train --batch {batch} --json"
          + "".join(f" '--config.{o}'" for o in row.overrides))


def wanted_batch(row: Row, facts: dict, target: str) -> int:
  return round_batch(plan_length(row, facts["batch_size"], facts["num_steps"])["batch"], CHIPS[target])


def is_current(cell: dict, row: Row, batch: int, facts: dict | None = None) -> bool:
  """Whether a cached cell was compiled for this row's present batch, overrides and model (and, when it
  compiled a program with loops, counted their trips: `_loops_stale`)."""
  return same_program(cell, row, batch, facts) and not ("report" in cell and _loops_stale(cell["report"]))


def same_program(cell: dict, row: Row, batch: int, facts: dict | None = None) -> bool:
  """Whether a cached cell compiled this row's present batch and overrides and, given ``facts``
  (`_config_facts`), the config's present model section; its figures belong in the table, marked when
  its loops' trips were not counted. A compiled cell that records no model section is stale (every
  cell compiled before the plan recorded it has it since 2026-12-08, read from the configs at the
  commit that compiled it); a cell that records only an error (a float32-only model asked for
  bfloat16) needs none."""
  needs_spec = "report" in cell or "model_spec" in cell
  if facts and needs_spec and cell.get("model_spec") != facts.get("model_spec"):
    return False
  return cell.get("batch") == batch and tuple(cell.get("overrides", ())) == tuple(row.overrides)


LOOP_COST_VERSION = 2  # armodels_jax.hlo_cost.VERSION of the figures this table takes


def _loops_stale(report: dict) -> bool:
  """A cell compiled before the plan counted loops, or with loops before their trips were counted as
  `armodels_jax.hlo_cost` counts them now (``loop_cost_version``)."""
  return "train_while_loops" not in report or (
      report["train_while_loops"] > 0 and report.get("loop_cost_version") != LOOP_COST_VERSION)


def _too_low(report: dict) -> bool:
  """Whether the cell's FLOPs, bytes and roofline leave out loop trips (stale, or trips unknown)."""
  return _loops_stale(report) or report.get("unknown_trip_loops", 0) > 0


# What the subprocess runs: `armodels compile --what train --json` (aot.run_compile_command) plus a count
# of the while loops in the compiled train step (counted here too so that a --code-tree checkout from
# before the loops were costed still says how many there are). XLA's cost analysis counts a loop's body
# once, not once per iteration; the report's FLOPs and bytes add the loops' trips (armodels_jax.hlo_cost).
_COMPILE = """
import json, sys
from armodels_jax import aot
config, topology, dtype, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
try:
  r = aot.compile_config(config, topology, batch=batch, dtype=dtype, what="train", overrides=sys.argv[5:],
                         keep_hlo=True)
except ValueError as e:
  sys.exit(f"armodels compile: error: {e}")
print(aot.format_report(r), flush=True)
d = r.as_dict()
d["train_while_loops"] = sum(" while(" in line for line in r.programs["train"].hlo.splitlines())
print(json.dumps(d), flush=True)
"""


def run_cell(row: Row, target: str, dtype: str, timeout: int, tree: str) -> dict:
  facts = _config_facts(row)
  batch = wanted_batch(row, facts, target)
  cmd = [sys.executable, "-c", _COMPILE, os.path.join(CONFIGS, row.config), TARGETS[target], dtype, str(batch),
         *row.overrides]
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "PYTHONPATH": tree + os.pathsep + os.environ.get("PYTHONPATH", "")}
  cell = {"row": row.name, "target": target, "dtype": dtype, "batch": batch, "overrides": list(row.overrides),
          "code": _tree_commit(tree), "date": time.strftime("%Y-%m-%d", time.gmtime()), **facts,
          "command": compile_command(row, target, dtype, batch)}
  t0 = time.time()
  try:
    # In the tree's folder: `python -c` puts the working folder first on sys.path.
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=tree)
  except subprocess.TimeoutExpired:
    return {**cell, "wall_s": time.time() - t0, "error": f"compile over {timeout} s"}
  cell["wall_s"] = time.time() - t0
  lines = out.stdout.strip().splitlines()
  if out.returncode != 0 or not lines:
    cell["error"] = (out.stderr.strip().splitlines() or ["?"])[-1]
    return cell
  cell["report"] = json.loads(lines[-1])
  return cell


# ---------------------------------------------------------------------------------------------------------
# The report.


def load_cells() -> dict[tuple[str, str, str], dict]:
  cells = {}
  for row in ROWS:
    for target in TARGETS:
      for dtype in DTYPES:
        path = _cell_path(row.name, target, dtype)
        if os.path.exists(path):
          with open(path) as f:
            cells[(row.name, target, dtype)] = json.load(f)
  return cells


def _float32_only(cell: dict) -> bool:
  return "computes in float32 only" in cell.get("error", "")


def roofline_bound(report: dict) -> str:
  """``'FLOPs'`` when the roofline step is the FLOPs over the chip's peak, else ``'bytes'`` (the bytes
  moved over the HBM bandwidth)."""
  from armodels_jax.aot import CHIPS as CHIP_TABLE  # pylint: disable=g-import-not-at-top

  chip = CHIP_TABLE[report["chip"]]
  return ("FLOPs" if report["flops"] / chip.peak_bf16_flops >= report["bytes"] / chip.hbm_bytes_per_s
          else "bytes")


def _loops(report: dict) -> str:
  """The loops column: ``'0'``; ``'2, trips counted'``; ``'**2**: too low'`` (compiled before trips
  were counted, or some trip counts unknown: XLA counted each such loop body once); ``'?'``."""
  loops = report.get("train_while_loops")
  if loops is None:
    return "?"
  if not loops:
    return "0"
  if _loops_stale(report):
    return f"**{loops}**: too low (compiled before trips were counted)"
  unknown = report.get("unknown_trip_loops", 0)
  return f"**{loops}** ({unknown} of unknown length): too low" if unknown else f"{loops}, trips counted"


def cell_line(row: Row, length: dict, target: str, dtype: str, cell: dict | None) -> str:
  """One line of the cells table; a missing cell is marked 'not compiled yet'."""
  batch = round_batch(length["batch"], CHIPS[target])
  head = f"| {row.name} | {target} | {dtype} | {batch} |"
  code = (cell or {}).get("code", "(not recorded)")
  if cell is None:
    return f"{head} **not compiled yet** | | | | | | | | |"
  if _float32_only(cell):
    return f"{head} n/a: the model computes in float32 only | | | | | | | | {code} |"
  r = cell.get("report")
  if r is None:
    return f"{head} error: {cell.get('error', '?')[:100]} | | | | | | | | {code} |"
  step = r["step_s_roofline"]
  p = project(step, length["steps"], r["chips"], row.epoch_examples, length["batch"])
  fits = "yes" if r["fits"] else f"**no** (largest per-chip batch that fits: {r.get('max_per_chip_batch', '?')})"
  return (f"{head} {fits} | {r['hbm_gib']:.2f} | {step * 1e3:.2f} | {roofline_bound(r)} | {_loops(r)} | "
          f"{fmt_hours(p['hours_per_epoch'])} | {fmt_hours(p['hours'])} | {fmt_hours(p['chip_hours'])} "
          f"| {code} |")


def _lengths(facts_by_row: dict[str, dict]) -> dict[str, dict]:
  return {r.name: plan_length(r, facts_by_row[r.name]["batch_size"], facts_by_row[r.name]["num_steps"])
          for r in ROWS}


def rows_table(lengths: dict[str, dict]) -> list[str]:
  """Every row: config, the batch and steps the plan uses and where they come from."""
  lines = ["| row | config | batch | steps (epochs) | length from | source |", "|---|---|---|---|---|---|"]
  for r in ROWS:
    n = lengths[r.name]
    epochs = f" ({n['epochs']:,.1f})" if n["epochs"] is not None else ""
    over = "".join(f" `{o}`" for o in r.overrides)
    lines.append(f"| {r.name} | `{r.config}`{over} | {n['batch']} ({n['batch_from']}) | {n['steps']:,}{epochs} "
                 f"| {n['steps_from']} | {r.source} |")
  return lines


def cells_table(lengths: dict[str, dict], cells: dict) -> list[str]:
  lines = ["| row | slice | dtype | global batch | fits | HBM GiB/chip | roofline ms/step | bound | loops "
           "| hours/epoch | hours | chip-hours | compiled by |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for target, dtype in PRIORITY:
    for r in ROWS:
      lines.append(cell_line(r, lengths[r.name], target, dtype, cells.get((r.name, target, dtype))))
  return lines


def _cpu_rows() -> dict[str, dict]:
  if not os.path.exists(REPRODUCE_JSON):
    return {}
  with open(REPRODUCE_JSON) as f:
    return {r["name"]: r for r in json.load(f).get("rows", [])}


def mnist_here_vs_v5e(lengths: dict[str, dict], cells: dict, cpu: dict[str, dict],
                      sizes: dict[str, str]) -> list[str]:
  """The binarized-MNIST rows: what they cost on this CPU (experiments/results/reproduce.json) beside
  the v5e-8 float32 projection at the paper's size, batch and steps."""
  lines = ["| row | reached here | here: size, batch, steps | here: CPU hours | v5e-8: hours to the plan's steps "
           "| v5e-8: hours for the steps done here (paper size) |", "|---|---|---|---|---|---|"]
  for r in ROWS:
    if "binarized_mnist" not in r.name:
      continue
    c = cpu.get(r.name)
    cell = cells.get((r.name, "v5e-8", "float32"))
    rep = (cell or {}).get("report")
    if c is None:
      here = ("not run here", "", "")
    else:
      steps = int(c.get("steps_before") or 0) + int(c["steps_trained"])
      size = next((o.split("=")[1] for o in c.get("train_options", []) if o.startswith("model.size=")),
                  sizes.get(r.name, "?"))
      reached = (f"yes ({c['valid_nll_nats']:.2f} / {c['published']})" if c.get("met")
                 else f"no ({c['valid_nll_nats']:.2f} nats, paper {c.get('published') or 'none'})")
      here = (reached, f"{size}, {c['batch_size']}, {steps:,}",
              fmt_hours(c["seconds_per_step"] * steps / 3600) + (" (about)" if c.get("steps_before") else ""))
    if rep is None:
      v5e = ("not compiled yet", "")
    else:
      n = lengths[r.name]
      low = " (loops: too low)" if _too_low(rep) else ""
      v5e = (fmt_hours(project(rep["step_s_roofline"], n["steps"], 8, None, n["batch"])["hours"]) + low,
             fmt_hours(project(rep["step_s_roofline"], steps, 8, None, n["batch"])["hours"]) + low if c else "")
    lines.append(f"| {r.name} | {here[0]} | {here[1]} | {here[2]} | {v5e[0]} | {v5e[1]} |")
  return lines


def summary_table(lengths: dict[str, dict], cells: dict) -> list[str]:
  """The short table (BENCHMARKS.md): each row's v5e-8 float32 cell and how many of its 6 cells exist."""
  lines = ["| row | batch | steps (from) | v5e-8 f32: fits | HBM GiB/chip | roofline ms/step | loops | hours | "
           "chip-hours | cells done |", "|---|---|---|---|---|---|---|---|---|---|"]
  for r in ROWS:
    n = lengths[r.name]
    done = sum((r.name, t, d) in cells for t in TARGETS for d in DTYPES)
    rep = (cells.get((r.name, "v5e-8", "float32")) or {}).get("report")
    head = f"| {r.name} | {n['batch']} | {n['steps']:,} ({n['steps_from']}) |"
    if rep is None:
      lines.append(f"{head} not compiled yet | | | | | | {done}/6 |")
      continue
    p = project(rep["step_s_roofline"], n["steps"], rep["chips"], None, n["batch"])
    lines.append(f"{head} {'yes' if rep['fits'] else 'no'} | {rep['hbm_gib']:.2f} | "
                 f"{rep['step_s_roofline'] * 1e3:.2f} | {_loops(rep)} | {fmt_hours(p['hours'])} | "
                 f"{fmt_hours(p['chip_hours'])} | {done}/6 |")
  return lines


def write_report(cells: dict, facts_by_row: dict[str, dict]) -> str:
  lengths = _lengths(facts_by_row)
  os.makedirs(RESULTS, exist_ok=True)
  with open(os.path.join(RESULTS, "tpu_plan.json"), "w") as f:
    json.dump([cells[k] for k in sorted(cells)], f, indent=1)
  codes = {}
  for c in cells.values():
    codes.setdefault(c.get("code", "(not recorded)"), []).append(c)
  done = sum(1 for c in cells.values() if "report" in c or _float32_only(c))
  lines = [
      "# TPU plan: paper-size train steps compiled for TPU slices (`armodels compile`)", "",
      "Written by `experiments/tpu_plan.py` from its cache (`experiments/results/tpu_plan_cache/`). Compiled "
      "on a shared 2-core CPU with libtpu 0.0.42.1 and jax 0.10.2; no TPU was used. "
      f"{done} of {len(ROWS) * len(TARGETS) * len(DTYPES)} cells are done "
      f"({len(ROWS)} rows x {len(TARGETS)} slices x {len(DTYPES)} dtypes).", "",
      "Which armodels_jax tree compiled which cells (`branch@commit`, `+` with uncommitted changes):", ""]
  for code, cs in sorted(codes.items()):
    dates = sorted({c.get("date", "2026-12-07") for c in cs})
    lines.append(f"- `{code}` ({', '.join(dates)}): {len(cs)} cells")
  lines += [
      "", "What the numbers are:", "",
      "- **global batch**: the row's batch (below) rounded up to a multiple of the slice's chips.",
      "- **fits** / **HBM GiB/chip**: XLA's `memory_analysis()` of the compiled train step per chip (arguments, "
      "outputs not aliased to the donated state, temporaries, generated code) against the chip's HBM (v5e 16 "
      "GiB, v4 32, v5p 95).",
      "- **roofline ms/step**: max(FLOPs / peak bf16 FLOP/s, bytes / HBM bandwidth) per chip, from XLA's "
      "`cost_analysis()`: a lower bound of the real step time (no input pipeline, host work or imperfect "
      "overlap); **bound** says which term sets it.",
      "- **hours** = the row's steps x the roofline step; **chip-hours** = hours x chips (what a slice is "
      "billed by); **hours/epoch** = ceil(examples per epoch / batch) x the roofline step. All are lower bounds.",
      "- **loops**: while loops in the compiled train step (a scan over time, rows, diagonals, dimensions or "
      "layers). XLA's `cost_analysis()` counts a loop's body once, not once per iteration (checked with jax "
      "0.10.2: a 100-step `fori_loop` of a 64x64 matmul reports the FLOPs of one matmul). The FLOPs and bytes "
      "here add the other trips, read from the compiled HLO (`armodels_jax/hlo_cost.py`: each loop's trip "
      "count from its condition and step, the matrix products' FLOPs and the instructions' memory traffic of "
      "its body): *trips counted*. **too low**: a cell compiled before the trips were counted (rerun the plan "
      "to recompile it) or with a loop of unknown length, whose FLOPs, bytes, roofline and hours leave out "
      "trips and are not a projection. `?`: compiled before loops were counted.",
      "", "## Rows: batch, training length and their source", "",
      "`length from`: *paper steps* or *paper epochs* (steps = ceil(epochs x examples per epoch / batch)), "
      "or *config* where the paper (and the authors' code) gives no length: the config's `train.num_steps`, "
      "this project's schedule. A batch marked *config* is the config's `train.batch_size`. Sources marked "
      "[memory] are cited from memory of the paper, not re-read for this plan: check them before quoting; "
      "[read]: the authors' released code or README, read when this plan was written (2026-12-07).", ""]
  lines += rows_table(lengths)
  lines += ["", "## Cells (slice x dtype x row; cheap rows first within each slice and dtype)", ""]
  lines += cells_table(lengths, cells)
  lines += ["", "## Binarized MNIST: the cost here beside a v5e-8", "",
            "*Here*: `experiments/results/reproduce.json` (the shipped checkpoints' runs on this 2-core CPU; "
            "size small for the image models; CPU hours = seconds per step of the last phase x all steps, "
            "*about* where earlier phases are counted at that rate). *v5e-8*: the paper-size float32 train step's "
            "roofline (a lower bound) to the plan's steps, and to the number of steps trained here.", ""]
  lines += mnist_here_vs_v5e(lengths, cells, _cpu_rows(), {k: v["size"] for k, v in facts_by_row.items()})
  lines += ["", "## Commands", "",
            "Compile a cell (any Linux x86_64 machine with `pip install -e '.[tpu]'`; the plan's own runner "
            "resumes: `nice -n 5 python experiments/tpu_plan.py [--rows ...] [--targets ...] [--dtypes ...]`):",
            ""]
  for r in ROWS:
    lines.append(f"    {compile_command(r, 'v5e-8', 'float32', round_batch(lengths[r.name]['batch'], 8))}")
  lines += ["", "Train a row on a v5e-8 (`experiments/tpu/pod.sh`, after `create`, `copy`, `install` and `data` "
            "with the same `ACCELERATOR`, and `RUNTIME` set to the v5e software version of the Cloud TPU "
            "documentation, `v2-alpha-tpuv5-lite` when this was written, not checked here; the plan's batch "
            "and steps as overrides):", ""]
  for r in ROWS:
    n = lengths[r.name]
    lines.append(f"    CONFIG=experiments/configs/{r.config} ACCELERATOR=v5litepod-8 experiments/tpu/pod.sh run "
                 f"--config.train.batch_size={round_batch(n['batch'], 8)} --config.train.num_steps={n['steps']}"
                 + "".join(f" '--config.{o}'" for o in r.overrides))
  text = "\n".join(lines) + "\n"
  with open(os.path.join(RESULTS, "tpu_plan.md"), "w") as f:
    f.write(text)
  return text


def _take_lock(path: str) -> int | None:
  """An exclusive lock file holding this process's id; None while a live process holds it (the lock of a
  process that is gone is taken over)."""
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
      os.write(fd, str(os.getpid()).encode())
      return fd
    except FileExistsError:
      try:
        with open(path) as f:
          os.kill(int(f.read().strip() or 0), 0)
        return None  # Its holder is alive.
      except (ProcessLookupError, ValueError):
        os.remove(path)
      except PermissionError:
        return None
  return None


def _facts_all() -> dict[str, dict]:
  return {r.name: _config_facts(r) for r in ROWS}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rows", nargs="*", default=None, help="row names (default: all)")
  p.add_argument("--targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
  p.add_argument("--dtypes", nargs="*", default=list(DTYPES), choices=list(DTYPES))
  p.add_argument("--max-cost", type=int, default=4, help="only rows of compile cost class up to this (0-4)")
  p.add_argument("--timeout", type=int, default=7200, help="seconds per compile")
  p.add_argument("--code-tree", default=ROOT, help="the checkout whose armodels_jax compiles (default: this one)")
  p.add_argument("--report", action="store_true", help="only rewrite the table from the cache")
  p.add_argument("--list", action="store_true", help="print each row's cells (done, stale, missing)")
  p.add_argument("--summary", action="store_true", help="print the short table for BENCHMARKS.md")
  args = p.parse_args(argv)
  if args.rows is not None:
    unknown = [name for name in args.rows if name not in ROW_BY_NAME]
    if unknown:
      p.error(f"expected rows among {[r.name for r in ROWS]}, got {unknown}")
  rows = [r for r in ROWS if (args.rows is None or r.name in args.rows) and r.cost <= args.max_cost]
  rows.sort(key=lambda r: r.cost)
  tree = os.path.abspath(args.code_tree)
  facts = _facts_all()
  os.makedirs(CACHE, exist_ok=True)
  cells = load_cells()
  if args.list:
    for r in ROWS:
      marks = []
      for t, d in PRIORITY:
        c = cells.get((r.name, t, d))
        state = ("missing" if c is None else "stale" if not is_current(c, r, wanted_batch(r, facts[r.name], t),
                                                                       facts[r.name])
                 else "error" if "report" not in c and not _float32_only(c) else "done")
        marks.append(f"{t}/{d}:{state}")
      print(f"{r.name} (cost {r.cost}): " + " ".join(marks))
    return 0
  if not (args.report or args.summary):
    for target, dtype in [c for c in PRIORITY if c[0] in args.targets and c[1] in args.dtypes]:
      for row in rows:
        path = _cell_path(row.name, target, dtype)
        if os.path.exists(path):  # Read again: another runner may have written it meanwhile.
          with open(path) as f:
            cells[(row.name, target, dtype)] = json.load(f)
        old = cells.get((row.name, target, dtype))
        if old is not None and is_current(old, row, wanted_batch(row, facts[row.name], target),
                                          facts[row.name]) and (
            "report" in old or _float32_only(old)):
          continue
        lock = _take_lock(path + ".lock")  # One runner per cell: runners over one cache share the work.
        if lock is None:
          print(f"{row.name} {target} {dtype}: another runner holds it ({path}.lock)", flush=True)
          continue
        try:
          print(f"{row.name} {target} {dtype} ...", flush=True)
          cell = run_cell(row, target, dtype, args.timeout, tree)
          with open(path, "w") as f:
            json.dump(cell, f, indent=1)
          cells[(row.name, target, dtype)] = cell
        finally:
          os.close(lock)
          os.remove(path + ".lock")
        print(f"  {'error: ' + cell['error'] if 'error' in cell else 'done'} ({cell.get('wall_s', 0):.0f} s)",
              flush=True)
  # Cells compiled for another batch or other overrides stay in the cache but not in the table; cells
  # compiled before their loops' trips were counted stay in the table, marked too low, until recompiled.
  wanted = lambda k: wanted_batch(ROW_BY_NAME[k[0]], facts[k[0]], k[1])
  current = {k: c for k, c in cells.items() if same_program(c, ROW_BY_NAME[k[0]], wanted(k), facts[k[0]])}
  if args.summary:
    print("\n".join(summary_table(_lengths(facts), current)))
    return 0
  write_report(current, facts)
  uncounted = sum(not is_current(c, ROW_BY_NAME[k[0]], wanted(k), facts[k[0]]) for k, c in current.items())
  print(f"{len(current)} of {len(ROWS) * len(TARGETS) * len(DTYPES)} cells in {os.path.join(RESULTS, 'tpu_plan.md')}"
        f" ({uncounted} compiled before their loops' trips were counted: marked too low; rerun to recompile)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
