"""A trained VQ-VAE (stage 1), read back: restoring its workdir, encoding images, its reconstruction NLL.

This is what the rest of the package needs of a finished stage-1 run (the stage-2 data
``vqvae.codes``, the two-stage ``vqvae.pipeline``, ``armodels eval``), kept apart from its training
(``vqvae.train``) so that reading a VQ-VAE does not import the trainer: it sits below ``data`` and
``training`` in the package's layers. The checkpoint is read through ``armodels_jax.workdir`` like every
other run (newest intact step, shapes checked against ``model.json`` first).

References: van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning",
eq. 1 (the nearest-code map) and eq. 3 (the reconstruction term).

Glossary: N examples, h w code map, K codes.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from armodels_jax import checkpointing
from armodels_jax import config as config_lib
from armodels_jax import evaluation
from armodels_jax import workdir as workdir_lib
from armodels_jax.data import dataset as dataset_lib
from armodels_jax.vqvae import model as model_lib
from armodels_jax.vqvae import quantizer

__all__ = ["NAME", "create_model", "encode", "evaluate", "restore", "is_vqvae_workdir"]

NAME = "vqvae"  # model.name of a stage-1 config.


def create_model(cfg: ml_collections.ConfigDict, event_shape, num_levels) -> model_lib.VQVAE:
  """The `VQVAE` of a config (``model.size`` and ``model.overrides``) for images of `event_shape`."""
  if cfg.model.dtype != "float32":
    raise ValueError(f"the VQ-VAE computes in float32; expected model.dtype='float32', got "
                     f"{cfg.model.dtype!r}")
  if num_levels is None:
    raise ValueError("a VQ-VAE models discrete pixels: expected a dataset with num_levels, got None")
  return model_lib.create(event_shape, int(num_levels), cfg.model.size, **config_lib.model_overrides(cfg))


@functools.partial(jax.jit, static_argnums=0)
def _encode_batch(model, params, x):
  return model.apply({"params": params}, x, method=model.codes)


@functools.partial(jax.jit, static_argnums=0)
def _recon_batch(model, params, x):
  codes = model.apply({"params": params}, x, method=model.codes)
  return codes, -model.apply({"params": params}, x, codes, method=model.log_px_given_codes)


def _batches(array: np.ndarray, batch_size: int):
  """Yields ``(padded batch, n_valid)``; every batch has the same rows (one compiled shape)."""
  for rows, valid in evaluation.padded_batches(array.shape[0], batch_size):
    yield array[rows], valid


def _check_images(model: model_lib.VQVAE, array) -> np.ndarray:
  array = np.asarray(array)
  if array.ndim < 1 or array.shape[1:] != tuple(model.event_shape):
    raise ValueError(f"expected images of shape (N, *{tuple(model.event_shape)}), got {array.shape}")
  if array.shape[0] == 0:
    raise ValueError("expected at least one image, got N = 0")
  return dataset_lib.as_level_array(array, "VQ-VAE input", model.num_levels)


def encode(model: model_lib.VQVAE, params: Any, array, batch_size: int = 256) -> np.ndarray:
  """The code maps of images: int ``[N, H, W, C]`` -> int32 ``[N, h, w]`` (nearest codes, eq. 1)."""
  array = _check_images(model, array)
  out = [np.asarray(_encode_batch(model, params, jnp.asarray(chunk)))[:valid]
         for chunk, valid in _batches(array, int(batch_size))]
  return np.concatenate(out).astype(np.int32)


def evaluate(model: model_lib.VQVAE, params: Any, array, batch_size: int = 256) -> dict[str, Any]:
  """Reconstruction NLL and codebook use over every image of `array`.

  Returns:
    ``{'nll_nats', 'bits_per_dim'}``: mean ``-log p(x | z(x))`` per image (the deterministic code map
    of the encoder), ``'perplexity'`` of the codes over the whole split, ``'codes_used'`` (distinct
    codes), ``'n'``; plus ``'codes'`` int32 ``[N, h, w]`` and ``'recon_nats'`` float64 ``[N]``.
  """
  array = _check_images(model, array)
  codes, nll = [], []
  for chunk, valid in _batches(array, int(batch_size)):
    c, r = _recon_batch(model, params, jnp.asarray(chunk))
    codes.append(np.asarray(c)[:valid])
    nll.append(np.asarray(r, np.float64)[:valid])
  codes, nll = np.concatenate(codes).astype(np.int32), np.concatenate(nll)
  if not np.all(np.isfinite(nll)):
    raise FloatingPointError("non-finite reconstruction NLL")
  counts = np.bincount(codes.reshape(-1), minlength=model.num_codes)
  mean = float(nll.mean())
  return {"nll_nats": mean, "bits_per_dim": mean / (model.num_dims * math.log(2.0)),
          "perplexity": float(quantizer.perplexity(jnp.asarray(counts, jnp.float32))),
          "codes_used": int(np.count_nonzero(counts)), "n": int(array.shape[0]),
          "codes": codes, "recon_nats": nll}


def is_vqvae_workdir(workdir: str) -> bool:
  """Whether `workdir` holds a stage-1 (VQ-VAE) run."""
  path = os.path.join(workdir, "model.json")
  return os.path.isfile(path) and checkpointing.read_json(path).get("name") == NAME


def restore(workdir: str, step: int | None = None):
  """Restores a VQ-VAE run: ``(model, params, config, step)``.

  ``params`` are the EMA (Polyak) parameters when ``train.ema_decay > 0``, else the raw ones; the newest
  intact checkpoint is read (damaged newer ones are skipped with a warning), after its stored shapes are
  checked against ``model.json``.

  Raises:
    ValueError: `workdir` is not a VQ-VAE workdir or holds no checkpoint; a damaged checkpoint
      (``checkpointing.CheckpointError``) or one that does not hold the model ``model.json`` describes
      (``workdir.ModelMismatchError``).
  """
  workdir = os.path.abspath(workdir)
  if not os.path.isdir(workdir):
    raise ValueError(f"VQ-VAE workdir {workdir!r} does not exist")
  if not is_vqvae_workdir(workdir):
    raise ValueError(f"expected a VQ-VAE workdir (model.json with name {NAME!r}, written by training a "
                     f"config with model.name={NAME!r}), got {workdir!r}")
  if not os.path.isdir(os.path.join(workdir, checkpointing.CHECKPOINT_DIR)):
    raise ValueError(f"VQ-VAE workdir {workdir!r} has no checkpoints/")
  with open(os.path.join(workdir, workdir_lib.CONFIG_FILE)) as f:
    cfg = config_lib.config_from_json(f.read())
  spec = workdir_lib.read_model_info(workdir)
  model = create_model(cfg, spec["event_shape"], spec["num_levels"])
  try:
    params, step = workdir_lib.load_params(workdir, abstract_params(model), ema=cfg.train.ema_decay > 0,
                                           step=step)
  except FileNotFoundError as e:
    raise ValueError(f"VQ-VAE workdir {workdir!r} has no checkpoint") from e
  return model, params, cfg, int(step)


def abstract_params(model: model_lib.VQVAE) -> Any:
  """The VQ-VAE's parameter shapes and dtypes, replicated over every device (computes nothing)."""
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("data",))
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                          jax.ShapeDtypeStruct((1,) + tuple(model.event_shape), jnp.int32))["params"]
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=rep), shapes)
