"""Training: configs, train state, optimizer, sharding, jitted steps, the loop, metrics and images.

Public names::

  default_config, load_config, apply_overrides, config_to_json, config_from_json, data_options
  TrainState, create_train_state
  make_optimizer, make_schedule
  make_mesh, replicated, batch_sharding
  make_train_step
  distributed (initialize, PreemptionFlag: multi-host start-up and preemption)
  train_and_evaluate, restore, evaluate, create_model
  train, Task, Run, TrainingDivergedError (the one trainer and the task it runs: training.trainer)
  MetricWriter, read_metrics
  save_image_grid
"""

from armodels_jax.training import distributed
from armodels_jax.training.config import apply_overrides
from armodels_jax.training.config import apply_variant
from armodels_jax.training.config import config_from_json
from armodels_jax.training.config import config_to_json
from armodels_jax.training.config import data_options
from armodels_jax.training.config import default_config
from armodels_jax.training.config import load_config
from armodels_jax.training.config import load_config_module
from armodels_jax.training.images import save_image_grid
from armodels_jax.training.loop import create_model
from armodels_jax.training.loop import evaluate
from armodels_jax.training.loop import read_model_info
from armodels_jax.training.loop import restore
from armodels_jax.training.loop import train_and_evaluate
from armodels_jax.training.loop import warm_start_source
from armodels_jax.training.metrics import MetricWriter
from armodels_jax.training.metrics import best_step
from armodels_jax.training.metrics import read_metrics
from armodels_jax.training.metrics import valid_curve
from armodels_jax.training.metrics import train_wall_seconds
from armodels_jax.training.optim import make_optimizer
from armodels_jax.training.optim import make_schedule
from armodels_jax.training.recordings import evaluate_recordings
from armodels_jax.training.sharding import batch_sharding
from armodels_jax.training.sharding import make_mesh
from armodels_jax.training.sharding import replicated
from armodels_jax.training.state import TrainState
from armodels_jax.training.state import create_train_state
from armodels_jax.training.steps import make_train_step
from armodels_jax.training.trainer import Run
from armodels_jax.training.trainer import Task
from armodels_jax.training.trainer import TrainingDivergedError
from armodels_jax.training.trainer import train

__all__ = [
    "distributed",
    "evaluate_recordings",
    "read_model_info",
    "apply_overrides",
    "batch_sharding",
    "apply_variant",
    "config_from_json",
    "config_to_json",
    "create_model",
    "create_train_state",
    "data_options",
    "default_config",
    "evaluate",
    "load_config",
    "load_config_module",
    "make_mesh",
    "make_optimizer",
    "make_schedule",
    "make_train_step",
    "MetricWriter",
    "best_step",
    "read_metrics",
    "valid_curve",
    "train_wall_seconds",
    "replicated",
    "restore",
    "save_image_grid",
    "TrainState",
    "train_and_evaluate",
    "warm_start_source",
    "Run",
    "Task",
    "TrainingDivergedError",
    "train",
]
