"""``train_and_evaluate(config, workdir)``: the task of a config, run by the one trainer; ``restore``.

``training.trainer.train`` owns every guarantee of a run (integrity files and fallback, preemption, the
lock, warm start, divergence); a task says what is trained. A config chooses its task through
`TASKS`: stage 1 of the VQ-VAE (``model.name='vqvae'``, ``armodels_jax.vqvae.train.Stage1Task``), and the
autoregressive task (``training.autoregressive``) for every registry model. A new kind of run adds one
entry here and a task module; it never adds a loop.

Multi-host (``training.distributed``): the same code runs on every host of a pod after
``jax.distributed.initialize()``. Process 0 alone writes JSON, metrics, TensorBoard events and samples
and holds the workdir lock; every host takes part in each orbax save (written once into the shared
workdir) and restores the latest one. On SIGTERM (preemption) all hosts stop at one agreed step after
saving it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import ml_collections

from armodels_jax import inference
from armodels_jax.training import autoregressive
from armodels_jax.training import config as config_lib
from armodels_jax.training import evaluation
from armodels_jax.training import trainer

__all__ = ["train_and_evaluate", "restore", "evaluate", "create_model", "read_model_info", "task_for",
           "TASKS", "warm_start_source"]

CONFIG_FILE = inference.CONFIG_FILE
MODEL_FILE = inference.MODEL_FILE

# model.name -> "module:Task" of the tasks other than the autoregressive one (imported when used, so that
# training does not import the packages built on top of it).
TASKS = {"vqvae": "armodels_jax.vqvae.train:Stage1Task"}

evaluate = evaluation.evaluate
create_model = autoregressive.create_model
read_model_info = inference.read_model_info
warm_start_source = trainer.warm_start_source
_make_perturb = autoregressive._make_perturb  # pylint: disable=protected-access
_progress = trainer.progress_bar


def task_for(config: ml_collections.ConfigDict) -> trainer.Task:
  """The task that trains `config`: an entry of `TASKS`, else the autoregressive task."""
  spec = TASKS.get(config.model.name)
  if spec is None:
    return autoregressive.AutoregressiveTask()
  module, name = spec.split(":")
  return getattr(importlib.import_module(module), name)()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       stop_at_step: int | None = None) -> dict[str, Any]:
  """Trains a model as `config` says, resuming from the latest checkpoint in `workdir` if there is one.

  Writes ``workdir/config.json``, ``workdir/model.json`` (with the dataset's ``info``),
  ``workdir/checkpoints/``, ``workdir/metrics.jsonl``, TensorBoard events in ``workdir/tb`` and samples:
  image grids ``workdir/samples/step_XXXXXX.png``, the decoded text ``step_XXXXXX.txt`` for text models,
  the raw array ``step_XXXXXX.npy`` for other events (real-valued vectors, audio).

  Args:
    config: a config from `default_config` / `load_config`.
    workdir: the run directory (created if needed).
    stop_at_step: stop as if killed once this many steps are done, without a final checkpoint, eval or
      samples (for testing resumption).

  Returns:
    ``{'step', 'train_loss', 'train_bits_per_dim', 'valid_nll_nats', 'valid_bits_per_dim', 'valid_n'}``
    (``'stopped': True`` and no valid metrics when stopped early or preempted).

  Raises:
    trainer.TrainingDivergedError: a training loss or the parameters became NaN or inf (never
      checkpointed); a FloatingPointError.
    workdir.WorkdirLockedError: another live trainer holds `workdir`.
    ValueError: a bad config value, a field the task cannot honour, or a batch size not divisible by
      the device count.
  """
  return trainer.train(task_for(config), config, workdir, stop_at_step=stop_at_step)


def restore(workdir: str, step: int | None = None) -> tuple[Any, Any, ml_collections.ConfigDict]:
  """Loads the model, its variables and the config of a run (no data loaded, no train state built).

  Args:
    workdir: the run directory written by `train_and_evaluate`, or an exported one
      (``pretrained/<name>/``: ``params/`` instead of ``checkpoints/``).
    step: the checkpoint to load (default: the newest intact one, skipping damaged ones with a warning;
      exported workdirs hold one).

  Returns:
    ``(model, variables, config)``; ``variables = {'params': ...}`` holds the EMA parameters when
    ``config.train.ema_decay > 0``, else the raw parameters (``inference.load``).

  Raises:
    FileNotFoundError: `workdir` has no config or no checkpoint.
    checkpointing.CheckpointError: damaged files (named in the message).
  """
  model, variables, _ = inference.load(workdir, step)
  with open(os.path.join(os.path.abspath(workdir), CONFIG_FILE)) as f:
    return model, variables, config_lib.config_from_json(f.read())
