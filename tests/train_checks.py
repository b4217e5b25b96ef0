"""Helpers for training tests: a tiny run's config, and reading back the whole train state of a run's
checkpoint."""

from __future__ import annotations

import jax

from armodels_jax import checkpointing
from armodels_jax import training
from armodels_jax.training import state as state_lib


def load_state(workdir, cfg, step: int, carry_batch_size: int = 0) -> dict:
  """The train state saved at `step` in `workdir` (a run of config `cfg`), as a dict of host arrays:
  ``{'step', 'params', 'opt_state', 'ema_params', 'rng'[, 'carry']}``."""
  model, _, _ = training.restore(str(workdir))
  target = state_lib.state_to_dict(state_lib.abstract_train_state(
      model, training.make_optimizer(cfg.train), training.make_mesh(),
      carry_batch_size=carry_batch_size))
  manager = checkpointing.make_manager(str(workdir), read_only=True)
  try:
    return jax.device_get(checkpointing.restore_state(manager, step, target))
  finally:
    manager.close()


def tiny_config(**train):
  """MADE tiny on the embedded digits; `train` overrides fields of the train group."""
  cfg = training.default_config()
  cfg.model.name = "made"
  cfg.model.size = "tiny"
  cfg.data.name = "digits"
  t = cfg.train
  t.batch_size = 8
  t.num_steps = 2
  t.log_every = 1
  t.eval_every = 0
  t.eval_batch_size = 16
  t.eval_max_examples = 40
  t.checkpoint_every = 0
  t.sample_every = 0
  t.num_samples = 4
  for k, v in train.items():
    t[k] = v
  return cfg
