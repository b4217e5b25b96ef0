r"""One-class MNIST novelty detection with ``arm.anomaly_scores``: the AUROC of each method per digit.

Protocol (Ruff et al. 2018, "Deep One-Class Classification", ICML, section 4.1): for each digit c, a
model is trained on the MNIST training images of class c alone (all 60,000 training-file images are
filtered by label, so about 6,000 per class), every one of the 10,000 t10k test images is scored, and the
AUROC is computed with class c as normal and the nine other digits as anomalies. Published means over
the ten classes (AUROC %): see BENCHMARKS.md ("One-class MNIST").

Here the model is a MADE (Germain et al. 2015) on MNIST thresholded at 128 (two levels), and the
background model of the likelihood ratio (Ren et al. 2019, section 3.2) is the same MADE trained on the
same images with every pixel replaced by a uniform random level with probability ``--bg-rate``, with an
L2 penalty on the weights. Methods: ``arm.anomaly.METHODS`` (nll, bpd, complexity with a 1-bit PNG,
likelihood_ratio) and ``complexity_context``: the complexity score with ``compressor="context"`` (an
adaptive context-model code, ``arm.anomaly.context_code_bits``), computed from the cached NLL as
``anomaly_scores`` defines it (``nll / ln 2 - L(x)``) so that the code lengths of the test images are
computed once for all classes.

Run (resumes: each finished class is cached as ``class_<c>.npz`` in the workdir)::

  nice -n 10 python experiments/novelty_mnist.py --workdir /tmp/novelty --classes 0,1,2
  python experiments/novelty_mnist.py --tiny --workdir /tmp/novelty_tiny     # seconds, embedded digits

``--tiny`` runs the whole pipeline on the embedded 8x8 digits (scikit-learn's, 17 levels kept) with a
tiny MADE and a few steps; the results mean nothing, the run checks the code.

Outputs in the workdir: ``results.json`` (AUROC per class and method, and means), ``results.md`` (the
table) and ``roc.png`` (the ROC curves, one panel per method).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "mnist"))


def load_one_class_data(tiny: bool, data_dir: str):
  """(train_images, train_labels, test_images, test_labels, num_levels) as int arrays [N, H, W, 1]."""
  from armodels_jax import data  # pylint: disable=g-import-not-at-top

  if tiny:
    ds = data.load("digits")
    train = np.concatenate([ds.train, ds.valid])
    train_labels = np.concatenate([ds.train_labels, ds.valid_labels])
    return train, train_labels, ds.test, ds.test_labels, ds.num_levels
  ds = data.load("mnist", path=data_dir, binarize="threshold")
  train = np.concatenate([ds.train, ds.valid])  # the whole training file
  train_labels = np.concatenate([ds.train_labels, ds.valid_labels])
  return train, train_labels, ds.test, ds.test_labels, ds.num_levels


def train_made(images: np.ndarray, num_levels: int, *, hidden: int, steps: int, batch_size: int,
               seed: int, perturb_rate: float = 0.0, l2: float = 0.0, lr: float = 1e-3,
               log=print):
  """Trains a MADE on `images` (perturbed afresh each step when `perturb_rate` > 0); returns
  (model, EMA variables)."""
  import optax  # pylint: disable=g-import-not-at-top

  import armodels_jax as arm  # pylint: disable=g-import-not-at-top
  from armodels_jax import training  # pylint: disable=g-import-not-at-top

  model = arm.models.create("made", event_shape=images.shape[1:], num_levels=num_levels,
                            size="small", hidden_sizes=(hidden,), num_masks=1)
  schedule = optax.warmup_cosine_decay_schedule(0.0, lr, min(200, steps // 10 + 1), steps)
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.add_decayed_weights(l2),
                   optax.adam(schedule))
  mesh = training.make_mesh()
  state = training.create_train_state(model, tx, seed, mesh)
  step_fn = training.make_train_step(model, tx, schedule, 0.999, mesh)
  rng = np.random.default_rng(seed)
  t0 = time.time()
  for step in range(steps):
    x = images[rng.integers(0, len(images), batch_size)]
    if perturb_rate:
      x = arm.anomaly.perturb(x, perturb_rate, num_levels, rng)
    state, metrics = step_fn(state, x, None)
    if (step + 1) % max(1, steps // 4) == 0:
      log(f"  step {step + 1}/{steps}: loss {float(metrics['loss']):.2f} nats "
          f"({time.time() - t0:.0f} s)")
  return model, {"params": state.ema_params}


def run_class(c: int, args, arrays, log=print) -> dict:
  """Trains the class-c model and its background model; returns the scores of every test image."""
  import armodels_jax as arm  # pylint: disable=g-import-not-at-top

  train, train_labels, test, test_labels, num_levels = arrays
  normal = train[train_labels == c]
  log(f"class {c}: {len(normal)} training images")
  model, variables = train_made(normal, num_levels, hidden=args.hidden, steps=args.steps,
                                batch_size=args.batch_size, seed=c, l2=args.l2, log=log)
  log(f"class {c}: background model (perturbation rate {args.bg_rate}, L2 {args.bg_l2})")
  bg = train_made(normal, num_levels, hidden=args.hidden, steps=args.steps,
                  batch_size=args.batch_size, seed=100 + c, perturb_rate=args.bg_rate, l2=args.bg_l2,
                  log=log)
  out = {"labels": test_labels, "normal": np.int64(c)}
  for method in arm.anomaly.METHODS:
    ref = bg if method == "likelihood_ratio" else None
    out[method] = arm.anomaly_scores(model, variables, test, method=method, reference=ref,
                                     batch_size=1000)
  return out


def summarise(results: dict[int, dict], methods, workdir: str) -> dict:
  """AUROC (%) per class and method, their means, results.md and roc.png."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from sklearn import metrics as skm  # pylint: disable=g-import-not-at-top

  classes = sorted(results)
  auroc = {m: {} for m in methods}
  fig, axes = plt.subplots(1, len(methods), figsize=(4 * len(methods), 4), squeeze=False)
  for ax, m in zip(axes[0], methods):
    for c in classes:
      r = results[c]
      anomalous = (r["labels"] != c).astype(int)
      auroc[m][c] = 100.0 * skm.roc_auc_score(anomalous, r[m])
      fpr, tpr, _ = skm.roc_curve(anomalous, r[m])
      ax.plot(fpr, tpr, lw=1, label=f"{c}: {auroc[m][c]:.1f}")
    ax.plot([0, 1], [0, 1], "k:", lw=0.5)
    ax.set_title(f"{m} (mean {np.mean(list(auroc[m].values())):.1f})")
    ax.set_xlabel("false positive rate")
    ax.legend(fontsize=6, loc="lower right")
  axes[0][0].set_ylabel("true positive rate")
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "roc.png"), dpi=100)
  plt.close(fig)
  means = {m: float(np.mean(list(auroc[m].values()))) for m in methods}
  lines = ["| method | " + " | ".join(str(c) for c in classes) + " | mean |",
           "| --- |" + " --- |" * (len(classes) + 1)]
  for m in methods:
    lines.append(f"| {m} | " + " | ".join(f"{auroc[m][c]:.1f}" for c in classes)
                 + f" | {means[m]:.1f} |")
  table = "\n".join(lines)
  with open(os.path.join(workdir, "results.md"), "w", encoding="utf-8") as f:
    f.write(table + "\n")
  summary = {"classes": classes, "auroc": {m: {str(c): v for c, v in auroc[m].items()}
                                           for m in methods}, "mean": means}
  with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
  return summary | {"table": table}


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  p.add_argument("--workdir", required=True, help="per-class caches and the results (resumes)")
  p.add_argument("--data", default=DEFAULT_DATA, help="the directory of the four MNIST IDX .gz files")
  p.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated digits")
  p.add_argument("--tiny", action="store_true", help="embedded 8x8 digits, tiny model, seconds")
  p.add_argument("--steps", type=int, default=None, help="Adam steps per model (default 2000)")
  p.add_argument("--hidden", type=int, default=None, help="MADE hidden units (default 500)")
  p.add_argument("--batch-size", type=int, default=100)
  p.add_argument("--l2", type=float, default=0.0, help="L2 penalty of the class model")
  p.add_argument("--bg-rate", type=float, default=0.2, help="background perturbation rate mu")
  p.add_argument("--bg-l2", type=float, default=1e-4, help="L2 penalty of the background model")
  args = p.parse_args(argv)
  try:
    classes = sorted({int(c) for c in args.classes.split(",")})
  except ValueError:
    p.error(f"--classes: expected comma-separated digits, got {args.classes!r}")
  if any(not 0 <= c <= 9 for c in classes):
    p.error(f"--classes: expected digits in 0..9, got {classes}")
  if args.steps is None:
    args.steps = 20 if args.tiny else 2000
  if args.hidden is None:
    args.hidden = 16 if args.tiny else 500
  os.makedirs(args.workdir, exist_ok=True)
  log_path = os.path.join(args.workdir, "log.txt")

  def log(msg):
    print(msg, flush=True)
    with open(log_path, "a", encoding="utf-8") as f:
      f.write(msg + "\n")

  import armodels_jax as arm  # pylint: disable=g-import-not-at-top

  settings = {k: v for k, v in vars(args).items() if k not in ("workdir", "classes")}
  arrays = None
  results = {}
  for c in classes:
    cache = os.path.join(args.workdir, f"class_{c}.npz")
    if os.path.exists(cache):
      with np.load(cache, allow_pickle=False) as z:
        if json.loads(str(z["settings"])) == settings:
          results[c] = {k: z[k] for k in z.files if k != "settings"}
          log(f"class {c}: cached")
          continue
        log(f"class {c}: cache made with other settings, recomputing")
    if arrays is None:
      arrays = load_one_class_data(args.tiny, args.data)
    t0 = time.time()
    results[c] = run_class(c, args, arrays, log=log)
    np.savez(cache, settings=json.dumps(settings), **results[c])
    log(f"class {c}: done in {time.time() - t0:.0f} s")
  if results:
    if arrays is None:
      arrays = load_one_class_data(args.tiny, args.data)
    context_bits = arm.anomaly.input_complexity(arrays[2], arrays[4], compressor="context")
    for r in results.values():
      r["complexity_context"] = r["nll"] / np.log(2.0) - context_bits
  methods = ("nll", "bpd", "complexity", "complexity_context", "likelihood_ratio")
  summary = summarise(results, methods, args.workdir)
  log(summary["table"])
  return summary


if __name__ == "__main__":
  main()
  sys.exit(0)
