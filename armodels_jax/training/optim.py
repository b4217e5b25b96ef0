"""Optimizer and learning-rate schedule from the ``train`` config group, built with optax."""

from __future__ import annotations

import jax
import ml_collections
import optax

__all__ = ["make_schedule", "make_optimizer"]


def make_schedule(train: ml_collections.ConfigDict) -> optax.Schedule:
  """The learning-rate schedule: linear warmup, then constant or cosine decay to 0 at ``num_steps``.

  Args:
    train: the ``train`` config group (``learning_rate``, ``schedule``, ``warmup_steps``, ``num_steps``).

  Returns:
    A function of the (completed) step count giving the learning rate; it depends on the step alone, so a
    resumed run continues the schedule where it stopped.
  """
  lr = float(train.learning_rate)
  warmup = int(train.warmup_steps)
  total = int(train.num_steps)
  if train.schedule == "constant":
    if warmup == 0:
      return optax.constant_schedule(lr)
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup])
  if train.schedule == "cosine":
    warmup = min(warmup, max(total - 1, 0))
    decay_steps = max(total, warmup + 1)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup else lr, peak_value=lr, warmup_steps=warmup,
        decay_steps=decay_steps, end_value=0.0)
  raise ValueError(f"train.schedule must be 'constant' or 'cosine', got {train.schedule!r}")


def make_optimizer(train: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam or AdamW with the schedule of `make_schedule`, after optional global-norm clipping, after an
  optional L2 penalty on the weights (``train.l2``: ``l2 * w`` added to the gradient of every parameter
  of two or more dimensions, so the biases are not pulled to zero).

  Args:
    train: the ``train`` config group (``optimizer``, ``b1``, ``b2``, ``eps``, ``weight_decay``, ``l2``,
      ``grad_clip_norm`` and the schedule fields).

  Returns:
    An ``optax.GradientTransformation``.
  """
  schedule = make_schedule(train)
  if train.optimizer == "adam":
    opt = optax.adam(schedule, b1=float(train.b1), b2=float(train.b2), eps=float(train.eps))
  elif train.optimizer == "adamw":
    opt = optax.adamw(schedule, b1=float(train.b1), b2=float(train.b2), eps=float(train.eps),
                      weight_decay=float(train.weight_decay))
  else:
    raise ValueError(f"train.optimizer must be 'adam' or 'adamw', got {train.optimizer!r}")
  if float(train.grad_clip_norm) > 0:
    opt = optax.chain(optax.clip_by_global_norm(float(train.grad_clip_norm)), opt)
  l2 = float(train.get("l2", 0.0))  # Configs saved before the option existed lack it.
  if l2 > 0:
    weights = lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)  # noqa: E731
    opt = optax.chain(optax.add_decayed_weights(l2, mask=weights), opt)
  return opt
