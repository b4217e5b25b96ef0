"""Loading a run or a shipped checkpoint for inference: the model and its parameters, nothing more.

A workdir (``armodels_jax.checkpointing`` describes its layout) is read through three files: ``model.json``
(event shape, levels, the dataset's facts), ``config.json``'s ``model`` group (registry name, size, compute
dtype, overrides) and ``train.ema_decay`` (which parameters are the evaluation ones), and the parameters:
``params/`` of an exported workdir, or the ``params`` / ``ema_params`` entries of the newest intact
``checkpoints/<step>/`` of a training run, read alone (orbax partial restore). No optimizer or train state
is built, and nothing from ``armodels_jax.training`` is imported; training's resume
(``training.train_and_evaluate``) restores the whole state on top of the same integrity checks
(``checkpointing.restore_newest_intact``), and ``training.restore`` adds the parsed config to this.

Damaged files: sizes are checked before loading, sha256 when asked (``full_check``) or when loading
fails, so the error (``checkpointing.CheckpointError``, a ``ValueError``) names the damaged file. A
training workdir whose newest checkpoint is damaged loads the newest intact one, with a warning that
names what it skipped.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import jax
import numpy as np

from armodels_jax import config as config_lib
from armodels_jax import workdir as workdir_lib

__all__ = ["load", "create_model", "read_model_info", "model_kwargs", "tuplify", "MODEL_FILE",
           "CONFIG_FILE", "MANIFEST_FILE"]

log = logging.getLogger(__name__)

MODEL_FILE = workdir_lib.MODEL_FILE
CONFIG_FILE = workdir_lib.CONFIG_FILE
MANIFEST_FILE = workdir_lib.MANIFEST_FILE


tuplify = config_lib.tuplify
model_kwargs = config_lib.model_group_kwargs


def _read(workdir: str, name: str) -> Any:
  return workdir_lib.read_file(workdir, name)


read_model_info = workdir_lib.read_model_info


def create_model(workdir: str) -> Any:
  """The model of a workdir (``arm.models.create`` from model.json and the config's model group)."""
  from armodels_jax import models  # pylint: disable=g-import-not-at-top

  workdir = os.path.abspath(workdir)
  group = _read(workdir, CONFIG_FILE)["model"]
  spec = read_model_info(workdir)
  return models.create(group["name"], event_shape=tuple(int(d) for d in spec["event_shape"]),
                       num_levels=spec["num_levels"], **model_kwargs(group))


def _abstract_params(model: Any) -> Any:
  """The parameters' shapes and dtypes, replicated over every device (computes nothing)."""
  from armodels_jax import api  # pylint: disable=g-import-not-at-top

  mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("data",))
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  shapes = jax.eval_shape(lambda: api.init(model, jax.random.PRNGKey(0)))["params"]
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated), shapes)


def load(workdir: str, step: int | None = None, *,
         full_check: bool = False) -> tuple[Any, dict[str, Any], int | None]:
  """Loads a workdir's model and evaluation parameters.

  Args:
    workdir: a training workdir or an exported one (``pretrained/<name>/``).
    step: the checkpoint to load; default the newest intact one (exported workdirs hold one).
    full_check: compare every file's sha256 with the manifest before loading (sizes are always
      compared).

  Returns:
    ``(model, {'params': ...}, step)``: the EMA parameters when the run kept an EMA
    (``train.ema_decay > 0``), else the raw ones; ``step`` is None for an exported workdir.

  Raises:
    FileNotFoundError: `workdir` has no config.json, model.json or checkpoint.
    checkpointing.CheckpointError: damaged files (the message names the first one), or every
      checkpoint damaged.
    workdir.ModelMismatchError: model.json / config.json describe another model than the stored
      arrays (checked from the checkpoint's metadata before any parameter is read).
  """
  workdir = os.path.abspath(workdir)
  cfg = _read(workdir, CONFIG_FILE)
  model = create_model(workdir)
  ema = float(cfg.get("train", {}).get("ema_decay") or 0.0) > 0
  params, found = workdir_lib.load_params(workdir, _abstract_params(model), ema=ema, step=step,
                                          full_check=full_check)
  return model, {"params": params}, found
