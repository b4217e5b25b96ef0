"""The data of stage 2: the code maps of a trained VQ-VAE's encoder, as a `Dataset` of K-level images.

``data.load('vqvae_codes', path=W)`` restores the VQ-VAE trained in workdir ``W`` (its latest checkpoint),
loads the image dataset that run was configured with, and encodes every split to its nearest-code maps
(van den Oord et al. 2017, eq. 1). The result is an ordinary image dataset: event shape ``(h, w, 1)``,
``num_levels = K``, the image labels carried along, so any registry image model (PixelCNN, Gated
PixelCNN, PixelSNAIL, ...) trains on it with the unchanged train loop as the prior ``p(z)``
(Razavi et al. 2019, section 3.2). Its ``info`` records the VQ-VAE workdir and checkpoint step, and the
train loop saves ``info`` in the prior's ``model.json``: that is how ``sample`` and ``eval`` on the prior's
workdir find the decoder.

The codes are cached beside the VQ-VAE's checkpoints, in ``W/codes/step_<step>.npz``.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from armodels_jax.data.dataset import SPLITS, Dataset

__all__ = ["load_vqvae_codes", "CODES_DIR"]

CODES_DIR = "codes"


def _encode_splits(workdir: str, load_images):
  """``(codes per split, vq model, vq config, step, image dataset)``, from the cache when it exists."""
  from armodels_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from armodels_jax.vqvae import stage1  # pylint: disable=g-import-not-at-top

  model, params, cfg, step = stage1.restore(workdir)
  images = load_images(cfg.data.name, **config_lib.data_options(cfg))
  cache = os.path.join(workdir, CODES_DIR, f"step_{step:08d}.npz")
  codes = {}
  if os.path.isfile(cache):
    with np.load(cache) as f:
      codes = {s: f[s] for s in f.files}
  present = [s for s in SPLITS if images.split(s) is not None]
  if sorted(codes) != sorted(present) or any(
      codes[s].shape[0] != images.split(s).shape[0] for s in present):
    batch = int(cfg.train.eval_batch_size)
    codes = {s: stage1.encode(model, params, images.split(s), batch) for s in present}
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(cache), exist_ok=True)
      tmp = cache + ".tmp.npz"
      np.savez(tmp, **codes)
      os.replace(tmp, cache)
  return codes, model, step, images


def load_vqvae_codes(*, path: str | os.PathLike | None = None, num_levels: int | None = None,
                     load_images=None) -> Dataset:
  """The code maps of the VQ-VAE trained in workdir `path`.

  Args:
    path: the stage-1 workdir (``armodels train --config experiments/configs/vqvae_*.py --workdir W``).
    num_levels: if given, must equal the VQ-VAE's codebook size K (a check for configs that state it).
    load_images: ``data.load``, which loads the image dataset the VQ-VAE was trained on (handed in by
      the data registry, which calls this loader, so that the two modules do not import each other).

  Returns:
    A `Dataset` named ``'vqvae_codes'``: int32 ``(N, h, w, 1)`` code maps with ``num_levels = K``, the
    image dataset's splits and labels, and ``info = {'vqvae_workdir', 'vqvae_step', 'image_dataset',
    'image_event_shape', 'image_num_levels', 'num_codes'}``.

  Raises:
    ValueError: no `path`, `path` is not a trained VQ-VAE workdir, or `num_levels` differs from K.
  """
  if path is None or str(path) == "":
    raise ValueError("vqvae_codes: expected data.path = the workdir of a trained VQ-VAE (stage 1), "
                     "got none")
  workdir = os.path.abspath(os.fspath(path))
  if load_images is None:
    raise ValueError("vqvae_codes: expected load_images (data.load); load this dataset with "
                     "data.load('vqvae_codes', path=...)")
  codes, model, step, images = _encode_splits(workdir, load_images)
  if num_levels is not None and int(num_levels) != model.num_codes:
    raise ValueError(f"vqvae_codes: data.num_levels={num_levels} but the VQ-VAE in {workdir} has a "
                     f"codebook of K={model.num_codes} codes; expected num_levels={model.num_codes}")
  split = {s: (codes[s][..., None] if s in codes else None) for s in SPLITS}  # [N, h, w, 1]
  return Dataset(
      name="vqvae_codes", train=split["train"], valid=split["valid"], test=split["test"],
      train_labels=images.train_labels, valid_labels=images.valid_labels,
      test_labels=images.test_labels, event_shape=tuple(model.code_shape) + (1,),
      num_levels=model.num_codes,
      info={"vqvae_workdir": workdir, "vqvae_step": step, "image_dataset": images.name,
            "image_event_shape": list(model.event_shape), "image_num_levels": model.num_levels,
            "num_codes": model.num_codes})
