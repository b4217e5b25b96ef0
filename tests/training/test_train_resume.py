"""A run stopped mid-way and resumed from its checkpoint ends exactly where an uninterrupted run ends."""

import json

import jax
import numpy as np
import pytest
import train_checks

from armodels_jax import checkpointing
from armodels_jax import training
from armodels_jax.training import metrics as metrics_lib
from armodels_jax.training import state as state_lib


def _config():
  cfg = training.default_config()
  cfg.model.name = "made"  # MADE draws a mask set per step from the step's RNG: resume must restore it.
  cfg.model.size = "tiny"
  cfg.data.name = "digits"
  t = cfg.train
  t.batch_size = 8
  t.num_steps = 5
  t.optimizer = "adamw"
  t.weight_decay = 1e-2
  t.schedule = "cosine"  # The learning rate depends on the step: resume must restore the position.
  t.warmup_steps = 2
  t.learning_rate = 1e-2
  t.grad_clip_norm = 1.0
  t.ema_decay = 0.9
  t.perturb_rate = 0.25  # The batches' perturbation depends on the step: resume must redraw it alike.
  t.log_every = 1
  t.eval_every = 0
  t.eval_batch_size = 16
  t.eval_max_examples = 16
  t.checkpoint_every = 2
  t.keep_checkpoints = 0
  t.sample_every = 0
  return cfg


def test_resume_matches_uninterrupted_run(tmp_path):
  cfg = _config()
  full_dir, resumed_dir = str(tmp_path / "full"), str(tmp_path / "resumed")

  full = training.train_and_evaluate(cfg, full_dir)
  # "Killed" after step 3: the last checkpoint is step 2, so step 3 is redone after the resume.
  stopped = training.train_and_evaluate(cfg, resumed_dir, stop_at_step=3)
  assert stopped["stopped"] and stopped["step"] == 3
  assert checkpointing.latest_step(resumed_dir) == 2
  resumed = training.train_and_evaluate(cfg, resumed_dir)

  assert full["step"] == resumed["step"] == 5
  train_steps = [r["step"] for r in metrics_lib.read_metrics(resumed_dir, "train")]
  assert train_steps == [1, 2, 3, 3, 4, 5]  # Resumed from the checkpoint at step 2.
  losses = lambda d: {r["step"]: r["loss"] for r in metrics_lib.read_metrics(d, "train")}  # noqa: E731
  assert losses(full_dir) == losses(resumed_dir)

  a, b = train_checks.load_state(full_dir, cfg, 5), train_checks.load_state(resumed_dir, cfg, 5)
  assert int(a["step"]) == int(b["step"]) == 5
  # The optimizer state comes back with its named tuples, not as lists.
  assert jax.tree.structure(a) == jax.tree.structure(b)
  fresh = state_lib.state_to_dict(state_lib.abstract_train_state(
      training.restore(full_dir)[0], training.make_optimizer(cfg.train), training.make_mesh()))
  assert jax.tree.structure(a["opt_state"]) == jax.tree.structure(fresh["opt_state"])
  for name in ("params", "ema_params", "opt_state", "rng"):
    for x, y in zip(jax.tree.leaves(a[name]), jax.tree.leaves(b[name])):
      np.testing.assert_array_equal(x, y, err_msg=name)
  # The EMA really is an average (not reset on resume, not equal to the parameters).
  assert any(not np.array_equal(p, e) for p, e in zip(jax.tree.leaves(a["params"]),
                                                      jax.tree.leaves(a["ema_params"])))
  assert full["valid_nll_nats"] == resumed["valid_nll_nats"]


def test_train_wall_seconds_leaves_out_the_time_a_run_was_stopped(tmp_path):
  def estimate(records):
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps({"split": "train", "step": s, "time": t}) + "\n" for s, t in records))
    return metrics_lib.train_wall_seconds(str(tmp_path))

  # 1 s a step, logged every 100 steps, one evaluation of 30 s between steps 500 and 600.
  steady = [(s, float(s) + (30.0 if s >= 600 else 0.0)) for s in range(100, 1001, 100)]
  assert estimate(steady) == pytest.approx(930 * 1000 / 900)
  before, after = steady[:5], steady[5:]  # up to step 500; from step 600
  # Stopped after step 500 for 5 hours, resumed from the checkpoint at step 400: the step goes back.
  went_back = before + [(500, 18500.0)] + [(s, t + 18000.0) for s, t in after]
  assert estimate(went_back) == pytest.approx(930 * 1000 / 900)
  # Resumed from the checkpoint at step 500: the interval holding the 5 hours is left out.
  gap = before + [(s, t + 18000.0) for s, t in after]
  assert estimate(gap) == pytest.approx(1000.0)
  assert estimate(steady[:1]) is None
