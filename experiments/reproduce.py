r"""Regenerates the binarized-MNIST results table: trains or resumes every row, evaluates it, writes the table.

  python experiments/reproduce.py --rows dense|images|all|NAME[,NAME...] [--root runs/reproduce]
      [--device cpu|gpu|tpu] [--test-npz FILE --test-key test] [--tiny] [--eval-only]

For each row of `ROWS` (a config of ``experiments/configs/`` plus training options: the recipe of the
shipped run where a row has been rerun since, else the planned long run), in order:

1. ``armodels train --config experiments/configs/<config>.py --workdir <root>/<row> <options>`` in a
   subprocess. A workdir that already holds a run resumes it from its latest checkpoint, so the same
   command continues after any interruption; a finished run returns at once.
2. The kept checkpoint with the lowest validation NLL logged during training is chosen (early stopping
   after the fact; the papers selected by validation too), and evaluated exactly on the whole validation
   split, with the row's evaluation options (e.g. EoNADE's 128-ordering ensemble). The result is cached
   in ``<root>/<row>/reproduce_eval.json`` by step and options, so the table is cheap to rebuild.
3. With ``--test-npz`` (users who have the standard test split, e.g. from tfds), the same checkpoint is
   also evaluated on it.

Under the table, each unmet row's learning curve (the validation records of its run, or the
``valid_curve`` of its shipped manifest), its seconds per step, and what more steps of the same model
would take (`projection`: a floor), or why more steps would not do ("flat", "overfits").

The table goes to ``--out`` (default ``experiments/results/reproduce``) as ``.md`` and ``.json``;
``experiments/README.md`` shows it. The published numbers are the papers' test NLL (nats); ours are on the
validation split (the stored data withhold the test split), and the target of the rows without a
published MNIST number is the best PixelRNN's 79.20 (issue 14).

``--warm-start`` (a machine that lost the runs of an earlier session): a row without a run under
``--root`` begins from the parameters of its shipped checkpoint instead of from scratch, with the row's
whole schedule (``train.init_from``; the shipped manifest then records the source under ``warm_start``).

``--tiny`` runs every chosen row's ``:tiny`` config variant (2 steps, tiny model) on the embedded
``digits`` data (nothing to download, on any machine): seconds per row, for the tests. ``--device`` sets
``JAX_PLATFORMS`` for the training and the evaluation. On a shared 2-core CPU run one row at a time.

References for the rows: Larochelle & Murray 2011, Table 2 (FVSBN, NADE); Germain et al. 2015, Table 6
(MADE); Uria et al. 2014, Table 2 (EoNADE); Raiko et al. 2014, Table 1 (NADE-k); van den Oord et al.
2016a, Table 4 (PixelCNN, Row LSTM, Diagonal BiLSTM).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "experiments", "configs")
BEST_PIXELRNN = 79.20  # The target of the image rows the paper has no MNIST number for.


@dataclasses.dataclass(frozen=True)
class Row:
  """One row of the table: a config, the options it was trained with, and how it is evaluated."""
  name: str  # Also the shipped checkpoint's name, pretrained/<name>.
  group: str  # 'dense' or 'images'.
  paper: str
  published: float | None  # The paper's test NLL (nats); None where it has no binarized-MNIST row.
  train: tuple[str, ...] = ()  # Overrides of the config, ``field=value``.
  evaluate: tuple[tuple[str, object], ...] = ()  # Model options changed for evaluation only.
  target: float | None = None  # Where there is no published number.
  # The first this many validation images are evaluated (0: all of them), for a row whose evaluation
  # of the whole split is beyond a CPU (NADE-k: 784 x k passes per image and ordering).
  eval_examples: int = 0

  @property
  def config(self) -> str:
    return os.path.join(CONFIGS, self.name + ".py")


_DENSE_LONG = ("train.learning_rate=0.001", "train.eval_every=2500", "train.checkpoint_every=2500")
# Image rows: the small size at batch 16 (CPU-sized), a checkpoint every 1,000 steps (minutes on a CPU),
# the validation NLL of the first 2,000 images every 5,000 steps to pick the best checkpoint by.
_IMAGE = ("model.size=small", "train.batch_size=16", "train.checkpoint_every=1000", "train.eval_every=5000",
          "train.eval_max_examples=2000")
_LM11, _MADE, _PIXELRNN = ("Larochelle & Murray 2011, Table 2", "Germain et al. 2015, Table 6",
                           "van den Oord et al. 2016a, Table 4")


def _steps(n: int) -> tuple[str, ...]:
  return (f"train.num_steps={n}",) + _DENSE_LONG


ROWS = (
    # FVSBN overfits (train 96.6, valid 98.8), and its curve falls to the end, so early stopping picks the
    # last step: the regulariser is what matters. An L2 penalty on the weights (biases free, coupled to
    # the loss: a Gaussian prior), 20,000 steps at 3e-3, validation NLL at the end (all 10,000,
    # 2026-12-07): l2 3e-5 / 5.5e-5 / 1e-4 / 1.7e-4 / 3e-4: 98.91 / 98.86 / 98.83 / 98.82 / 98.86;
    # AdamW's decoupled weight decay (which also pulls the biases) 0 / 0.01 / 0.03 / 0.1: 99.11 / 99.04 /
    # 99.22 / 101.17 (0.3 at 1e-3: 111.96).
    Row("fvsbn_binarized_mnist", "dense", f"{_LM11}: FVSBN", 97.45,
        ("train.optimizer=adam", "train.weight_decay=0.0", "train.l2=0.00017",
         "train.checkpoint_every=1000")),
    Row("nade_binarized_mnist", "dense", f"{_LM11}: NADE", 88.86,
        _steps(100_000)[:2] + ("train.warmup_steps=1000", "train.eval_every=5000",
                               "train.checkpoint_every=2500")),
    Row("made_1h_1mask_binarized_mnist", "dense", f"{_MADE}: MADE 1 hidden, 1 mask", 88.40),
    Row("made_1h_32masks_binarized_mnist", "dense", f"{_MADE}: MADE 1 hidden, 32 masks", 88.04,
        _steps(40_000) + ("train.eval_max_examples=2000",)),
    Row("made_2h_1mask_binarized_mnist", "dense", f"{_MADE}: MADE 2 hidden, 1 mask", 89.59),
    # MADE 2 hidden, 32 masks (2 x 3,700 units, int8 storage): the config's 15,000 steps at 1e-3, then
    # phases of 15,000 steps at 3e-4 warm-started from the one before (--warm-start).
    Row("made_2h_32masks_binarized_mnist", "dense", f"{_MADE}: MADE 2 hidden, 32 masks", 86.64,
        ("train.num_steps=15000", "train.learning_rate=0.0003", "train.warmup_steps=500",
         "train.eval_every=2500", "train.checkpoint_every=1000", "train.eval_max_examples=2000")),
    # EoNADE: 60,000 steps at 1e-3 from scratch, then phases of 25,000 steps at 3e-4, each warm-started
    # from the shipped checkpoint of the phase before (--warm-start).
    Row("eonade_2h_binarized_mnist", "dense", "Uria et al. 2014, Table 2: EoNADE 2 hidden, 128 orderings",
        85.10, ("train.num_steps=25000", "train.learning_rate=0.0003", "train.warmup_steps=500",
                "train.eval_every=5000",
                "train.eval_max_examples=1000", "train.checkpoint_every=2500",
                # Validation during training on a 4-ordering ensemble (seconds, not the 128-ordering
                # ensemble's minutes; the raster ordering alone is a poor proxy, 10 nats worse than a
                # random ordering for an order-agnostic model); the chosen checkpoint is evaluated with
                # all 128.
                "model.overrides.num_orderings=4"),
        evaluate=(("num_orderings", 128),)),
    # NADE-k's evaluation is 784 x 5 passes of the network per image and ordering: the validation during
    # training is the ensemble of 8 orderings on the first 200 images, and the chosen checkpoint is
    # evaluated with the same ensemble on the first 500 (the paper's 128 orderings on all 10,000 are more
    # than a CPU-day). Phases warm-started from the shipped checkpoint of the one before (--warm-start):
    # three of 10,000 steps, then 30,000 (the curve asked for about 72,000 in all, 2026-12-03).
    Row("nade_k_binarized_mnist", "dense", "Raiko et al. 2014, Table 1: NADE-k, k=5, 2 hidden", 84.68,
        _steps(30_000) + ("model.overrides.num_orderings=8", "train.eval_max_examples=200"),
        eval_examples=500),
    # 25,000 steps (8 epochs at batch 16): a cosine schedule that anneals within a CPU session or two.
    Row("pixelcnn_binarized_mnist", "images", f"{_PIXELRNN}: PixelCNN", 81.30,
        _IMAGE + ("train.num_steps=25000",)),
    # 20,000 steps from the shipped 5,000-step checkpoint (--warm-start): a schedule that anneals
    # within a CPU session, on two CPU devices (the row's config).
    Row("row_lstm_binarized_mnist", "images", f"{_PIXELRNN}: Row LSTM", 80.54,
        _IMAGE + ("train.num_steps=20000",)),
    # 14,000 steps a phase, each from the shipped checkpoint of the phase before (--warm-start; the chain:
    # 1,500, then 10,000, then three of 14,000 steps), on two CPU devices.
    Row("diagonal_bilstm_binarized_mnist", "images", f"{_PIXELRNN}: Diagonal BiLSTM", 79.20,
        _IMAGE + ("train.num_steps=14000",)),
    # Gated PixelCNN and PixelSNAIL: phases warm-started from the shipped checkpoint (--warm-start), each a
    # schedule that anneals within an hour or so of a CPU, validated often enough for a learning curve
    # (the chains: Gated PixelCNN 3,000, 2,000, then 10,000-step phases; PixelSNAIL 1,500, 4,000, then 6,000-step phases).
    # Its layers unrolled (scan_blocks=False; the same parameters and numbers): on a CPU the scanned
    # step was 24x slower at this size until 2026-12-08 (XLA left its backward convolutions in a slow
    # layout inside the loop; conv_ops.loop_body), and is 1.2x slower since (BENCHMARKS.md, "Scanned
    # blocks on a CPU"); its phases since 2026-12-07 ran unrolled.
    Row("gated_pixelcnn_binarized_mnist", "images", "Gated PixelCNN (no MNIST row)", None,
        _IMAGE + ("train.num_steps=10000", "train.eval_every=1000", "train.warmup_steps=200",
                  "model.overrides.scan_blocks=False"),
        target=BEST_PIXELRNN),
    # PixelCNN++: the shipped run is a second phase of 10,000 steps at a lower learning rate,
    # warm-started (--warm-start) from the 25,000-step run of the row's config (``_IMAGE`` alone).
    Row("pixelcnn_pp_binarized_mnist", "images", "PixelCNN++ (no MNIST row)", None,
        _IMAGE + ("train.num_steps=10000", "train.learning_rate=0.0002", "train.warmup_steps=500",
                  "train.eval_every=2500"),
        target=BEST_PIXELRNN),
    Row("pixelsnail_binarized_mnist", "images", "PixelSNAIL (no MNIST row)", None,
        _IMAGE + ("train.num_steps=6000", "train.eval_every=1000", "train.warmup_steps=200",
                  "model.overrides.scan_blocks=False"),  # 1.2x faster on a CPU unrolled (as above).
        target=BEST_PIXELRNN),
)


def _portable(path: str, root: str) -> str:
  """A run's path as the table records it (``make_pretrained.portable_path``, the rule of the shipped
  files): relative to the repository when inside it, else ``$RUNS/<path relative to --root>`` (the header
  says what ``$RUNS`` is), so the table reads the same on any machine."""
  import importlib.util  # pylint: disable=g-import-not-at-top

  spec = importlib.util.spec_from_file_location(  # the sibling script (it imports JAX: only when needed)
      "make_pretrained", os.path.join(REPO, "experiments", "make_pretrained.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.portable_path(os.path.abspath(path), os.path.realpath(root))


def select(spec: str) -> list[Row]:
  """The rows named by ``--rows``: a group ('dense', 'images', 'all') or comma-separated row names."""
  if spec == "all":
    return list(ROWS)
  if spec in ("dense", "images"):
    return [r for r in ROWS if r.group == spec]
  by_name = {r.name: r for r in ROWS}
  names = [n.strip() for n in spec.split(",") if n.strip()]
  unknown = [n for n in names if n not in by_name]
  if unknown or not names:
    raise ValueError(f"--rows expects dense, images, all or row names from {sorted(by_name)}, "
                     f"got {spec!r}")
  return [by_name[n] for n in names]


def _environment(device: str | None) -> dict[str, str]:
  env = dict(os.environ)
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  if device:
    env["JAX_PLATFORMS"] = {"gpu": "cuda"}.get(device, device)
  return env


def _train_options(row: Row, tiny: bool) -> tuple[str, list[str]]:
  """The config spec and overrides of a row's run (tiny: the :tiny variant on the embedded digits)."""
  if not tiny:
    return row.config, list(row.train)
  return row.config + ":tiny", ["train.sample_every=0", "data.name=digits", "data.path="]


def warm_start_source(row: Row, workdir: str, pretrained_dir: str = os.path.join(REPO, "pretrained")
                      ) -> str | None:
  """For ``--warm-start``: the parameters a row whose workdir holds no checkpoint begins from, a copy of
  its shipped checkpoint (``<workdir>.shipped-<first 8 hex of its manifest's sha256>``, made once per
  shipped checkpoint: shipping the new run over ``pretrained/<name>`` leaves its source in place, and the
  next phase, in an emptied workdir, begins from a copy of what is shipped then, not of an older one);
  None when the row has a run to resume or nothing is shipped."""
  from armodels_jax import checkpointing  # pylint: disable=g-import-not-at-top
  shipped_dir = os.path.join(pretrained_dir, row.name)
  if checkpointing.latest_step(workdir) is not None or not os.path.isdir(shipped_dir):
    return None
  with open(os.path.join(shipped_dir, "manifest.json"), "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()[:8]
  copy = f"{workdir.rstrip(os.sep)}.shipped-{digest}"
  if not os.path.isdir(copy):
    shutil.copytree(shipped_dir, copy + ".partial", dirs_exist_ok=True)
    os.replace(copy + ".partial", copy)
  return copy


def train(row: Row, workdir: str, *, tiny: bool, device: str | None, init_from: str | None = None) -> None:
  """Trains or resumes a row's run in a subprocess (a new run from ``init_from``'s parameters when
  given); raises RuntimeError when it fails."""
  spec, options = _train_options(row, tiny)
  if init_from:
    options.append(f"train.init_from={init_from}")
  command = [sys.executable, "-m", "armodels_jax.cli", "train", "--config", spec, "--workdir", workdir]
  command += ["--config." + o for o in options]
  print("$ " + " ".join(command[1:]), flush=True)
  if subprocess.call(command, cwd=REPO, env=_environment(device)) != 0:
    raise RuntimeError(f"training {row.name} failed (see its output above); rerun to resume")
  # A run stopped by SIGTERM (preemption) saves, reports ``stopped=True`` and exits 0: its row is not
  # trained yet, and evaluating or shipping it would report a partial run as the row's result.
  reached, wanted = trained_steps(workdir)
  if reached < wanted:
    raise RuntimeError(f"training {row.name} stopped at step {reached} of {wanted}; rerun to resume")


def trained_steps(workdir: str) -> tuple[int, int]:
  """(latest checkpointed step, the run's ``train.num_steps``) of a workdir the trainer has written."""
  from armodels_jax import checkpointing, workdir as workdir_files  # pylint: disable=g-import-not-at-top
  wanted = int(workdir_files.read_config(workdir)["train"]["num_steps"])
  return checkpointing.latest_step(workdir) or 0, wanted


def evaluate(row: Row, workdir: str, *, tiny: bool, test: tuple[str, str] | None,
             batch_size: int) -> dict:
  """Evaluates the best checkpoint of a run on the validation split (the first ``row.eval_examples``
  images where set, else all) and on the test array."""
  from armodels_jax import data, training  # pylint: disable=g-import-not-at-top
  step = training.best_step(workdir, latest_if_unlogged=True)
  evaluate_options = dict(row.evaluate)
  cache_path = os.path.join(workdir, "reproduce_eval.json")
  key = json.dumps({"step": step, "evaluate": evaluate_options, "test": test, "tiny": tiny,
                    "examples": row.eval_examples}, sort_keys=True)
  cache = {}
  if os.path.exists(cache_path):
    with open(cache_path) as f:
      cache = json.load(f)
  if key in cache:
    return cache[key]
  model, variables, cfg = training.restore(workdir, step)
  if evaluate_options and not tiny:
    model = model.clone(**evaluate_options)
  ds = data.load(cfg.data.name, **training.data_options(cfg))
  valid = ds.valid if ds.valid is not None else ds.test
  if tiny:
    valid = valid[:16]
  elif row.eval_examples:
    valid = valid[:row.eval_examples]
  t0 = time.time()
  trained = max(int(r["step"]) for r in training.read_metrics(workdir, "train"))
  result = {"step": step, "steps_trained": trained,
            "batch_size": int(cfg.train.batch_size), "valid_examples": int(len(valid)),
            "train_examples": int(len(ds.train)), "evaluate": evaluate_options}
  result["valid_nll_nats"] = training.evaluate(model, variables, valid, batch_size=batch_size)["nll_nats"]
  if test:
    array = data.load_array(test[0], test[1], model.event_shape, model.num_levels)  # any row-major shape
    result["test_examples"] = int(len(array))
    result["test_nll_nats"] = training.evaluate(model, variables, array, batch_size=batch_size)["nll_nats"]
  result["eval_seconds"] = time.time() - t0
  result["train_wall_seconds"] = training.train_wall_seconds(workdir)
  cache[key] = result
  with open(cache_path, "w") as f:
    json.dump(cache, f, indent=1)
  return result


def shipped(row: Row) -> dict | None:
  """The row as its shipped checkpoint's manifest states it (``pretrained/<name>/manifest.json``), or None."""
  path = os.path.join(REPO, "pretrained", row.name, "manifest.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    info = json.load(f)
  full = info.get("valid_nll_nats") is not None
  return {"step": info["steps"], "steps_trained": info.get("steps_trained", info["steps"]),
          "batch_size": info["batch_size"], "train_examples": 50_000,
          "valid_examples": info.get("valid_n", 10_000) if full else 500,
          "valid_nll_nats": info["valid_nll_nats"] if full else info["valid_first500_nll_nats"],
          "train_wall_seconds": info.get("train_wall_seconds"),
          "curve": info.get("valid_curve", []),
          "steps_before": _chain_steps(info.get("warm_start")),
          "source": f"pretrained/{row.name} ({info['date']})"}


def _chain_steps(warm_start: dict | None) -> int:
  """The steps behind a manifest's ``warm_start`` record: its source's steps, and those of the source's
  own warm start in turn (``source_warm_start``), to the first run of the chain."""
  total = 0
  while warm_start:
    total += int(warm_start.get("source_steps", 0))
    warm_start = warm_start.get("source_warm_start")
  return total


def _comparable(points: list[list]) -> list[list]:
  """The records of a curve on the same images as its last one (``[step, nll, images]``)."""
  return [p for p in points if p[2] == points[-1][2]] if points else []


def steps_before(source: str | None) -> int:
  """The steps behind a warm start's source (an exported checkpoint): its own steps and those of the
  chain of warm starts before it, as its manifest records them; 0 for none."""
  from armodels_jax import checkpointing  # pylint: disable=g-import-not-at-top
  path = os.path.join(source, "manifest.json") if source else ""
  if not os.path.exists(path):
    return 0
  info = checkpointing.read_json(path)
  return int(info.get("steps", 0)) + _chain_steps(info.get("warm_start"))


def projection(entry: dict) -> dict | None:
  """What an unmet row would take, extrapolated from its own learning curve: the validation NLL gained
  over the last stretch of the run, per doubling of the total steps (a line in log-steps), continued
  until the target; with the run's seconds per step on its machine, the hours that is. None for a met
  row or a curve too short to extrapolate.

  Optimistic in two ways: the curve's earlier point is mid-schedule (its learning rate not yet
  annealed), which makes the gain per doubling look larger; and the gains of a model of this size
  flatten out, which a line in log-steps does not show. So it is a floor on the steps a model of
  this size needs, and says when more steps are not what is missing ("flat": under 0.1 nats per
  doubling; "overfits": the end of the curve is over 0.05 nats above its best)."""
  points = _comparable(entry.get("curve") or [])
  if entry.get("met") or len(points) < 2:
    return None
  offset = int(entry.get("steps_before", 0))
  points = [p for p in points if p[0] + offset > 0]  # A record before any training has no log-step.
  if len(points) < 2:
    return None
  last = points[-1]
  half = min(points[:-1], key=lambda p: abs((p[0] + offset) - (last[0] + offset) / 2))
  doublings = math.log2((last[0] + offset) / (half[0] + offset))
  gain = (half[1] - last[1]) / doublings
  gap = entry["valid_nll_nats"] - entry["target"]
  result = {"from_step": half[0], "to_step": last[0], "gain_per_doubling": gain, "gap": gap}
  best = min(points, key=lambda p: p[1])
  if last[1] - best[1] > 0.05:  # Worse at the end than at its best by more than evaluation noise.
    result["overfits_after"] = best[0]
  if gain < 0.1:
    result["flat"] = True
    return result
  total = (last[0] + offset) * 2 ** (gap / gain)
  result["total_steps"] = int(total)
  seconds_per_step = entry.get("seconds_per_step")
  if seconds_per_step:
    result["hours_more"] = (total - last[0] - offset) * seconds_per_step / 3600
  return result


def _assess(entry: dict) -> None:
  """Adds to a row's entry whether it meets its target, its seconds per step, and its `projection`."""
  entry["met"] = bool(entry["valid_nll_nats"] <= entry["target"])
  if entry.get("train_wall_seconds") and entry["steps_trained"]:
    entry["seconds_per_step"] = entry["train_wall_seconds"] / entry["steps_trained"]
  entry["projection"] = projection(entry)


def _hours(seconds: float | None) -> str:
  if seconds is None:
    return "-"
  return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _paper(r: dict) -> str:
  return r["paper"] if r["published"] is None else f"{r['paper']}: {r['published']:.2f}"


def markdown(results: list[dict]) -> str:
  """The table as markdown (one line per row)."""
  lines = ["| row | paper (test NLL, nats) | target | ours: valid NLL (nats) | test NLL | best step / trained "
           "(epochs) | train wall | met | from |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for r in results:
    if "error" in r:
      lines.append(f"| `{r['name']}` | {_paper(r)} | {r['target']:.2f} | not run: {r['error']} | | | | | |")
      continue
    epochs = r["step"] * r["batch_size"] / r["train_examples"]
    epochs = f"{epochs:.1f}" if epochs < 10 else f"{epochs:.0f}"
    test = f"{r['test_nll_nats']:.2f}" if "test_nll_nats" in r else "-"
    lines.append(
        f"| `{r['name']}` | {_paper(r)} | {r['target']:.2f} | {r['valid_nll_nats']:.2f} "
        f"({'all ' if r['valid_examples'] == 10_000 else 'first '}{r['valid_examples']:,}) | {test} | "
        f"{r['step']:,} / {r['steps_trained']:,} ({epochs}) | "
        f"{_hours(r['train_wall_seconds'])} | {'yes' if r['met'] else 'no'} | {r['source']} |")
  return "\n".join(lines) + "\n"


def _curve_text(points: list[list]) -> str:
  if not points:
    return "-"
  n = points[-1][2]
  shown = _comparable(points)
  if len(shown) > 8:  # The first, then evenly spaced, then the last.
    shown = [shown[round(i * (len(shown) - 1) / 7)] for i in range(8)]
  return (" / ".join(f"{p[1]:.2f}" for p in shown) + " at " + " / ".join(f"{p[0] / 1000:g}k" for p in shown)
          + f" (first {n:,})")


def curves_markdown(results: list[dict]) -> str:
  """The unmet rows' learning curves and what each would take (see `projection`)."""
  lines = ["| row | learning curve: valid NLL (nats) at steps of the run | steps before (warm start) | "
           "s/step here | to go (nats) | extrapolated from the curve |", "| --- | --- | --- | --- | --- | --- |"]
  for r in results:
    if "error" in r or r.get("met"):
      continue
    p = r.get("projection")
    if p is None:
      what = "no curve recorded (shipped before manifests kept one)" if not r.get("curve") else "-"
    elif "overfits_after" in p:
      what = (f"overfits after step {p['overfits_after']:,} (the curve's best): more steps do not close "
              f"the gap; regularisation or a larger model")
    elif p.get("flat"):
      what = (f"flat: {p['gain_per_doubling']:.2f} nats per doubling of the steps ({p['from_step']:,} to "
              f"{p['to_step']:,}): more steps of this model do not close the gap")
    else:
      more = p.get("hours_more")
      hours = "" if more is None else f", about {more:.1f} more hours here" if more < 10 else \
          f", about {more:,.0f} more hours here"
      what = (f"{p['gain_per_doubling']:.2f} nats per doubling ({p['from_step']:,} to {p['to_step']:,}): "
              f"at least {p['total_steps']:,} steps in all{hours}")
    sps = f"{r['seconds_per_step']:.3f}" if r.get("seconds_per_step") else "-"
    lines.append(f"| `{r['name']}` | {_curve_text(r.get('curve') or [])} | {r.get('steps_before', 0):,} | "
                 f"{sps} | {r['valid_nll_nats'] - r['target']:.2f} | {what} |")
  return "\n".join(lines) + "\n"


def _previous_rows(path: str, tiny: bool, now: set[str]) -> list[dict]:
  """The rows of an earlier table at `path` (of the same kind, tiny or not) that this run did not
  produce, so that running some rows updates the table instead of replacing it."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    previous = json.load(f)
  if bool(previous.get("tiny")) != bool(tiny):
    return []
  names = {row.name for row in ROWS}
  return [r for r in previous.get("rows", []) if r.get("name") in names and r["name"] not in now]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rows", default="all", help="dense, images, all, or row names separated by commas")
  parser.add_argument("--root", default=os.path.join(REPO, "runs", "reproduce"),
                      help="one workdir per row under it (resumed when present)")
  parser.add_argument("--out", default=os.path.join(REPO, "experiments", "results", "reproduce"),
                      help="writes OUT.md and OUT.json")
  parser.add_argument("--device", choices=("cpu", "gpu", "tpu"), default=None)
  parser.add_argument("--test-npz", default=None, help="an .npz holding the standard test split")
  parser.add_argument("--test-key", default="test")
  parser.add_argument("--tiny", action="store_true", help="each row's :tiny variant, seconds each (tests)")
  parser.add_argument("--eval-only", action="store_true", help="no training: tabulate the runs as they are")
  parser.add_argument("--shipped", action="store_true",
                      help="with --eval-only: a row without a workdir under --root is tabulated from its "
                      "shipped checkpoint's manifest (pretrained/<name>)")
  parser.add_argument("--warm-start", action="store_true",
                      help="a row without a run under --root begins from its shipped checkpoint "
                      "(pretrained/<name>, copied to <root>/<name>.shipped-<hash>) with the row's whole "
                      "schedule, instead of from scratch (train.init_from)")
  parser.add_argument("--batch-size", type=int, default=500, help="evaluation batch size")
  args = parser.parse_args(argv)
  try:
    rows = select(args.rows)
  except ValueError as e:
    print(f"reproduce: {e}", file=sys.stderr)
    return 2
  if args.warm_start and args.tiny:
    print("reproduce: --warm-start begins from the full-size shipped checkpoints; expected it without --tiny",
          file=sys.stderr)
    return 2
  if args.test_npz and not os.path.exists(args.test_npz):
    print(f"reproduce: --test-npz {args.test_npz} does not exist", file=sys.stderr)
    return 2
  if args.device:
    os.environ["JAX_PLATFORMS"] = _environment(args.device)["JAX_PLATFORMS"]
  test = (args.test_npz, args.test_key) if args.test_npz else None
  results = []
  for row in rows:
    workdir = os.path.join(os.path.abspath(args.root), row.name)
    entry = {"name": row.name, "paper": row.paper, "published": row.published,
             "target": row.target if row.target is not None else row.published,
             "train_options": list(row.train),
             "config": os.path.relpath(row.config, REPO)}
    try:
      if not args.eval_only:
        source = warm_start_source(row, workdir) if args.warm_start else None
        train(row, workdir, tiny=args.tiny, device=args.device, init_from=source)
      if args.eval_only and args.shipped and not os.path.isdir(workdir):
        if shipped(row) is None:
          raise ValueError("no run under --root and nothing shipped")
        entry.update(shipped(row))
        _assess(entry)
        results.append(entry)
        continue
      entry.update(evaluate(row, workdir, tiny=args.tiny, test=test, batch_size=args.batch_size))
      run = os.path.realpath(workdir)  # where the run is, when <root>/<row> links to it
      entry["source"] = "run " + _portable(run, args.root)
      from armodels_jax import training  # pylint: disable=g-import-not-at-top
      warm = training.warm_start_source(workdir)
      if warm:
        entry["warm_start"] = _portable(warm, args.root)
        entry["source"] += f", warm-started from {entry['warm_start']}"
      entry["curve"] = training.valid_curve(workdir)
      entry["steps_before"] = steps_before(warm)
      _assess(entry)
    except (RuntimeError, ValueError, FileNotFoundError) as e:
      entry["error"] = str(e)
    results.append(entry)
    print(json.dumps({k: entry.get(k) for k in ("name", "valid_nll_nats", "target", "met", "error")}),
          flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  flags = "".join(f" --{f.replace('_', '-')}" for f in ("tiny", "eval_only", "shipped", "warm_start")
                  if getattr(args, f))
  header = (f"Generated {datetime.date.today().isoformat()} by `python experiments/reproduce.py --rows "
            f"{args.rows}{flags}`")
  kept = _previous_rows(args.out + ".json", args.tiny, {r["name"] for r in results})
  if kept:
    header += f"; the rows not run then ({len(kept)}) as the table had them before, each naming its source"
  results = kept + results
  order = {row.name: i for i, row in enumerate(ROWS)}
  results.sort(key=lambda r: order[r["name"]])
  header += (". A source `$RUNS/<run>` is a training run under the `--root` given to this script; "
             "`pretrained/<name>` is a shipped checkpoint of this repository. A shipped row's number is "
             "its checkpoint's default evaluation, ensemble size included: `armodels eval --workdir "
             "pretrained/<name> --npz binarized_mnist.npz --key valid` (on the first 500 images where "
             "the row says so; `experiments/eval_ensembles.py --name <name>` gives the same for the "
             "ensembles), and each manifest's `check` holds four of those images with their NLL, which "
             "`tests/test_pretrained.py` re-evaluates on every machine.\n\n")
  with open(args.out + ".md", "w") as f:
    f.write(header + markdown(results))
    f.write("\nThe unmet rows: each run's learning curve (validation NLL at its evaluations, on the images "
            "named), its speed on the machine it ran on, and what more steps of the same model would take "
            "by a line through the curve's last doubling of steps (a floor: see `projection` in "
            "`experiments/reproduce.py`).\n\n" + curves_markdown(results))
  with open(args.out + ".json", "w") as f:
    json.dump({"rows": results, "tiny": args.tiny}, f, indent=1)
  print(f"wrote {args.out}.md and {args.out}.json")
  return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
  sys.exit(main())
