"""VQ-VAE + prior as one image model: sampling images and the likelihood bound, from a prior's workdir.

A stage-2 workdir (a registry model trained on ``data.name='vqvae_codes'``) records the stage-1 workdir
in its ``model.json`` (``info['vqvae_workdir']``). From the two checkpoints:

* sampling draws code maps ``z ~ p_prior`` with the prior's own sampler (``arm.sample``: the cached
  ``lax.scan`` decoder or the naive one) and decodes them, ``x ~ p(x | z)`` (the most probable levels at
  pixel temperature 0);
* the bound (van den Oord et al. 2017, section 3.2 and 4.2: with the one-hot posterior ``q(z | x)`` of
  the deterministic encoder the ELBO is ``log p(x | z(x)) + log p(z(x))``) is
  ``-log p(x) <= -log p_prior(z(x)) - log p(x | z(x))``, in nats per image and bits per pixel dimension.
  It is an upper bound on the exact NLL of the images, to be set beside the exact NLL of the pixel-level
  models (``armodels eval`` on their workdirs).

Glossary: B/N images, H W C image, h w code map, K codes.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any, NamedTuple

import jax
import numpy as np

__all__ = ["vqvae_workdir_of", "Pipeline", "load", "check_fit", "evaluate_bound", "sample_images"]


def vqvae_workdir_of(workdir: str) -> str | None:
  """The stage-1 workdir a prior's workdir was trained on, or None when `workdir` is not a prior's."""
  from armodels_jax import checkpointing  # pylint: disable=g-import-not-at-top

  path = os.path.join(workdir, "model.json")
  if not os.path.isfile(path):
    return None
  info = checkpointing.read_json(path).get("info") or {}
  return info.get("vqvae_workdir")


class Pipeline(NamedTuple):
  """Both stages, restored: the prior (a registry model over ``(h, w, 1)`` code maps with K levels) and
  its variables, the VQ-VAE, its parameters and its config."""
  prior: Any
  variables: Any
  vq_model: Any
  vq_params: Any
  vq_config: Any


def load(prior_workdir: str) -> Pipeline:
  """Restores both stages from a prior's workdir.

  Raises:
    ValueError: `prior_workdir` was not trained on VQ-VAE codes, its VQ-VAE workdir is missing, or the
      two do not fit (the prior's levels are not the codebook size K, or its event is not the code map).
  """
  from armodels_jax import inference  # pylint: disable=g-import-not-at-top
  from armodels_jax.vqvae import stage1  # pylint: disable=g-import-not-at-top

  vq_workdir = vqvae_workdir_of(prior_workdir)
  if vq_workdir is None:
    raise ValueError(f"{prior_workdir!r} is not a prior over VQ-VAE codes (its model.json has no "
                     f"info.vqvae_workdir; train one with data.name='vqvae_codes')")
  if not os.path.isdir(vq_workdir):
    raise ValueError(f"the VQ-VAE workdir {vq_workdir!r} that the prior in {prior_workdir!r} was "
                     f"trained on does not exist")
  vq_model, vq_params, vq_config, _ = stage1.restore(vq_workdir)
  prior, variables, _ = inference.load(prior_workdir)
  check_fit(prior, vq_model)
  return Pipeline(prior, variables, vq_model, vq_params, vq_config)


def check_fit(prior: Any, vq_model: Any) -> None:
  """ValueError unless `prior` models the code maps of `vq_model` (K levels, ``(h, w, 1)`` events)."""
  if prior.num_levels != vq_model.num_codes:
    raise ValueError(f"the prior has num_levels={prior.num_levels} but the VQ-VAE codebook has "
                     f"K={vq_model.num_codes} codes; expected num_levels={vq_model.num_codes}")
  expected = tuple(vq_model.code_shape) + (1,)
  if tuple(prior.event_shape) != expected:
    raise ValueError(f"the prior's event_shape {tuple(prior.event_shape)} is not the VQ-VAE's code "
                     f"map; expected {expected}")


def evaluate_bound(prior: Any, variables: Any, vq_model: Any, vq_params: Any, images,
                   batch_size: int = 256) -> dict[str, Any]:
  """The two-stage bound on the NLL of `images`.

  Args:
    prior, variables: the stage-2 model (``K`` levels, ``(h, w, 1)`` events) and its variables.
    vq_model, vq_params: the stage-1 VQ-VAE.
    images: int ``[N, H, W, C]`` in ``[0, L)``.
    batch_size: evaluation batch size.

  Returns:
    ``{'nll_nats': the bound per image, 'bits_per_dim': per pixel dimension, 'prior_nats':
    -log p(z(x)) per image, 'prior_bits_per_code', 'recon_nats': -log p(x | z(x)) per image,
    'recon_bits_per_dim', 'perplexity', 'codes_used', 'n', 'bound': True}``.
  """
  from armodels_jax.training import evaluation  # pylint: disable=g-import-not-at-top
  from armodels_jax.vqvae import stage1  # pylint: disable=g-import-not-at-top

  check_fit(prior, vq_model)
  recon = stage1.evaluate(vq_model, vq_params, images, batch_size)
  codes = recon["codes"][..., None]  # [N, h, w, 1]
  prior_nll = evaluation.evaluate(prior, variables, codes, batch_size=batch_size)["nll_nats"]
  bound = prior_nll + recon["nll_nats"]
  dims, num_codes = vq_model.num_dims, math.prod(codes.shape[1:])
  return {"nll_nats": bound, "bits_per_dim": bound / (dims * math.log(2.0)),
          "prior_nats": prior_nll, "prior_bits_per_code": prior_nll / (num_codes * math.log(2.0)),
          "recon_nats": recon["nll_nats"], "recon_bits_per_dim": recon["bits_per_dim"],
          "perplexity": recon["perplexity"], "codes_used": recon["codes_used"], "n": recon["n"],
          "bound": True}


def sample_images(prior: Any, variables: Any, vq_model: Any, vq_params: Any, key, num: int = 16, *,
                  method: str = "cached", temperature: float = 1.0, pixel_temperature: float = 0.0,
                  cond: Any = None) -> tuple[np.ndarray, np.ndarray]:
  """Draws code maps from the prior and decodes them.

  Args:
    prior, variables, vq_model, vq_params: as for `evaluate_bound`.
    key: PRNG key (the prior's draws use it; the pixels ``fold_in(key, 1)``).
    num: images.
    method: the prior's sampler, ``'cached'`` or ``'naive'``.
    temperature: the prior's temperature.
    pixel_temperature: ``p(x | z)``'s (0: the most probable levels).
    cond: the prior's conditioning input (a class-conditional prior), else None.

  Returns:
    ``(images int32 [num, H, W, C], codes int32 [num, h, w])``.
  """
  from armodels_jax import api  # pylint: disable=g-import-not-at-top

  check_fit(prior, vq_model)
  codes = api.sample(prior, variables, key, num_samples=num, method=method, temperature=temperature,
                     cond=cond)[..., 0]  # [num, h, w]
  x = _decode(vq_model, vq_params, codes, jax.random.fold_in(key, 1), float(pixel_temperature))
  return np.asarray(jax.device_get(x)), np.asarray(jax.device_get(codes))


@functools.partial(jax.jit, static_argnums=(0, 4))
def _decode(vq_model, vq_params, codes, key, pixel_temperature: float):
  return vq_model.apply({"params": vq_params}, codes, key, pixel_temperature,
                        method=vq_model.sample_pixels)
