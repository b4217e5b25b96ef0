"""The demo behind ``armodels demo`` / ``make demo``: PixelCNN on the embedded 8x8 digits.

It shows the library end to end in a few minutes on a laptop CPU, with nothing to download:

1. trains a small PixelCNN (masks A/B) on scikit-learn's 1,797 handwritten digits (8x8, 17 levels),
   with the same `training.train_and_evaluate` that the experiment configs use;
2. reports the exact test negative log-likelihood in nats per image and in bits per dimension;
3. draws samples into `samples.png`;
4. completes test digits from their top half (`prefix_len = H * W * C // 2`, raster order) into
   `completions.png`, each original beside its completions;
5. times naive sampling (a full forward pass per pixel) against cached sampling (a `lax.scan` over
   pixels with per-layer caches) for the same batch and key, and checks the two give identical samples.

From a notebook: ``from armodels_jax.demo import run_demo; results = run_demo(steps=200)``.

The configuration is built in code from `training.default_config()` (a pip-installed user has no
`experiments/` folder); it matches `experiments/configs/pixelcnn_digits.py`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Callable

import numpy as np

DEFAULT_WORKDIR = os.path.join("workdirs", "demo")
DEFAULT_STEPS = 2000
DATASET = "digits"


def demo_config(steps: int | None = None):
  """The demo's training config: a small PixelCNN on the embedded digits.

  Args:
    steps: training steps; `DEFAULT_STEPS` when None.

  Returns:
    A locked `ml_collections.ConfigDict` for `training.train_and_evaluate`.
  """
  from armodels_jax import training  # pylint: disable=g-import-not-at-top

  cfg = training.default_config()
  cfg.model.name = "pixelcnn"
  cfg.model.size = "small"
  cfg.data.name = DATASET
  t = cfg.train
  t.num_steps = DEFAULT_STEPS if steps is None else int(steps)
  t.batch_size = 32
  # 1,257 training digits: the small PixelCNN overfits within ~1,000 Adam steps without weight
  # decay (validation NLL 83 nats at step 1,000, 92 at 2,000); decoupled weight decay holds it.
  t.optimizer = "adamw"
  t.weight_decay = 1.0
  t.learning_rate = 1e-3
  t.schedule = "cosine"
  t.warmup_steps = min(100, t.num_steps // 10)
  t.grad_clip_norm = 1.0
  t.ema_decay = 0.995
  t.eval_every = 0          # evaluate once, at the end
  t.eval_batch_size = 270
  t.checkpoint_every = 0    # checkpoint once, at the end
  t.log_every = 50
  return cfg


def _grid_with_originals(originals: np.ndarray, completions: np.ndarray) -> np.ndarray:
  """Interleaves originals and completions so that each grid row is [original, completions...].

  Args:
    originals: `[N, H, W, C]`.
    completions: `[K, N, H, W, C]`, K completions of each original.

  Returns:
    `[N * (K + 1), H, W, C]`, row-major for a grid with K + 1 columns.
  """
  stacked = np.concatenate([originals[None], completions], axis=0)  # [K+1, N, H, W, C]
  return np.swapaxes(stacked, 0, 1).reshape((-1,) + originals.shape[1:])


class _DropReadOnlyWarning(logging.Filter):
  """Drops orbax's warning that a checkpoint directory opened read-only for restoring is read-only."""

  def filter(self, record: logging.LogRecord) -> bool:
    return "Given directory is read only" not in record.getMessage()


def quiet_read_only_warnings() -> None:
  """Silences orbax's 'Given directory is read only' warning on restores (idempotent)."""
  logger = logging.getLogger("absl")
  if not any(isinstance(f, _DropReadOnlyWarning) for f in logger.filters):
    logger.addFilter(_DropReadOnlyWarning())


def _check_workdir(workdir: str, cfg) -> None:
  """Raises ValueError when `workdir` holds a run with another model, data or optimizer."""
  from armodels_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top

  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    saved = config_lib.config_from_json(f.read()).to_dict()
  ours = cfg.to_dict()
  for group in ("model", "data"):
    if saved[group] != ours[group]:
      raise ValueError(f"{workdir} holds another run ({group}: {saved[group]}); "
                       "pass another --workdir or delete it")
  for field in ("batch_size", "optimizer", "learning_rate", "schedule", "weight_decay",
                "ema_decay"):
    if saved["train"][field] != ours["train"][field]:
      raise ValueError(f"{workdir} holds a run with train.{field}={saved['train'][field]!r}, "
                       f"the demo uses {ours['train'][field]!r}; pass another --workdir or delete it")


def _timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
  t0 = time.perf_counter()
  out = np.asarray(fn())
  return out, time.perf_counter() - t0


def run_demo(workdir: str | None = None, steps: int | None = None, out: str | None = None, *,
             seed: int = 0, num_samples: int = 16, num_completions: int = 8,
             completions_per_digit: int = 3, print_fn: Callable[[str], None] = print) -> dict:
  """Trains, evaluates and samples a small PixelCNN on the embedded digits.

  Args:
    workdir: checkpoints and logs; `workdirs/demo` when None. A finished run there is reused.
    steps: training steps; `DEFAULT_STEPS` when None.
    out: the folder for `samples.png` and `completions.png`; `workdir` when None.
    seed: the sampling seed.
    num_samples: images in `samples.png`, and the batch the two samplers are timed on.
    num_completions: test digits to complete.
    completions_per_digit: completions drawn for each test digit.
    print_fn: where the report lines go.

  Returns:
    A dict with `nll_nats`, `bits_per_dim`, `n`, `train_seconds`, `naive_seconds`,
    `cached_seconds`, `naive_equals_cached`, `samples_path`, `completions_path`, `total_seconds`.
  """
  import jax  # pylint: disable=g-import-not-at-top

  import armodels_jax as arm  # pylint: disable=g-import-not-at-top
  from armodels_jax import checkpointing, data, training  # pylint: disable=g-import-not-at-top
  from armodels_jax import outputs as images  # pylint: disable=g-import-not-at-top

  t_start = time.perf_counter()
  workdir = DEFAULT_WORKDIR if workdir is None else workdir
  out = workdir if out is None else out
  os.makedirs(workdir, exist_ok=True)
  os.makedirs(out, exist_ok=True)

  quiet_read_only_warnings()
  cfg = demo_config(steps)
  _check_workdir(workdir, cfg)
  print_fn(f"[demo] PixelCNN ({cfg.model.size}) on the embedded 8x8 digits (17 levels), "
           f"{cfg.train.num_steps} steps, workdir {workdir}")
  start = checkpointing.latest_step(workdir)
  if start is not None:
    print_fn(f"[demo] resuming the run in {workdir} at step {start} (delete it to train from "
             "scratch)")
  t0 = time.perf_counter()
  training.train_and_evaluate(cfg, workdir)
  train_seconds = time.perf_counter() - t0
  print_fn(f"[demo] training took {train_seconds:.1f} s")

  model, variables, cfg = training.restore(workdir)
  ds = data.load(DATASET)
  event_shape = tuple(model.event_shape)
  event_size = math.prod(event_shape)
  metrics = training.evaluate(model, variables, ds.test, batch_size=256)
  nll, bpd, n = float(metrics["nll_nats"]), float(metrics["bits_per_dim"]), int(metrics["n"])
  print_fn(f"[demo] test NLL: {nll:.3f} nats per image = {bpd:.4f} bits/dim (n = {n}, "
           f"{event_size} dims)")

  # Naive and cached sampling of the same batch with the same key. The first call of each
  # includes compilation; the second is the steady-state time.
  key = jax.random.key(seed)
  timings = {}
  results = {}
  for method in ("naive", "cached"):
    def draw(method=method):
      return jax.block_until_ready(
          arm.sample(model, variables, key, num_samples=num_samples, method=method))
    results[method], first = _timed(draw)
    _, second = _timed(draw)
    timings[method] = (first, second)
    print_fn(f"[demo] {method:>6} sampling of {num_samples} images: {second:.3f} s "
             f"({first:.2f} s on the first call, with compilation)")
  identical = bool(np.array_equal(results["naive"], results["cached"]))
  speedup = timings["naive"][1] / max(timings["cached"][1], 1e-9)
  print_fn(f"[demo] cached is {speedup:.1f}x faster; naive and cached samples identical: "
           f"{identical}")

  samples_path = os.path.join(out, "samples.png")
  images.save_image_grid(results["cached"], samples_path, model.num_levels)
  print_fn(f"[demo] wrote {samples_path}")

  # Completions: keep the top half of test digits (raster order), sample the rest.
  prefix_len = event_size // 2
  originals = np.asarray(ds.test[:num_completions])
  prefix = np.repeat(originals, completions_per_digit, axis=0)  # [N*K, H, W, C]
  completed = np.asarray(arm.sample(model, variables, jax.random.fold_in(key, 1),
                                    num_samples=prefix.shape[0], method="cached",
                                    prefix=prefix, prefix_len=prefix_len))
  completed = completed.reshape((num_completions, completions_per_digit) + event_shape)
  kept = completed.reshape((num_completions, completions_per_digit, -1))[..., :prefix_len]
  if not np.array_equal(kept, np.repeat(originals.reshape(num_completions, 1, -1)[..., :prefix_len],
                                        completions_per_digit, axis=1)):
    raise AssertionError("completions changed the given prefix")
  grid = _grid_with_originals(originals, np.swapaxes(completed, 0, 1))
  completions_path = os.path.join(out, "completions.png")
  images.save_image_grid(grid, completions_path, model.num_levels,
                         ncols=completions_per_digit + 1)
  print_fn(f"[demo] wrote {completions_path} (each row: a test digit, then "
           f"{completions_per_digit} completions of its top half)")

  total = time.perf_counter() - t_start
  print_fn(f"[demo] done in {total:.1f} s")
  return {
      "nll_nats": nll, "bits_per_dim": bpd, "n": n,
      "train_seconds": train_seconds,
      "naive_seconds": timings["naive"][1], "cached_seconds": timings["cached"][1],
      "naive_equals_cached": identical,
      "samples_path": samples_path, "completions_path": completions_path,
      "total_seconds": total,
  }
