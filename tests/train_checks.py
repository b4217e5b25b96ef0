"""Helpers for training tests: reading back the whole train state of a run's checkpoint."""

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
