"""Shared pieces of the VQ-VAE configs (stage 1 ``vqvae_*.py`` and stage 2 ``vqvae_prior_*.py``); not a
config itself (the leading underscore keeps it out of the config list).

Stage 1 trains the VQ-VAE (``model.name='vqvae'``, see ``armodels_jax/vqvae``); ``model.overrides`` holds
its options (``num_codes``, ``embedding_dim``, ``features``, ``res_hidden``, ``num_res_blocks``,
``num_downsamples``, ``head``, ``num_mixtures``, ``beta``, ``codebook_mode``, ``codebook_decay``,
``dead_code_fraction``). Stage 2 trains a registry image model on ``data.name='vqvae_codes'``, the code
maps of the stage-1 workdir ``data.path``.
"""

import _common


def vqvae(data: str, arg=None, *, size: str, overrides: dict, num_steps: int, batch_size: int,
          learning_rate: float, eval_max_examples: int = 0):
  """The locked stage-1 config on ``_common.IMAGE_DATA[data]`` (the tiny variant drops `overrides`)."""
  cfg = _common.model_config("vqvae", arg, size, overrides)
  for field, value in _common.IMAGE_DATA[data].items():
    cfg.data[field] = value
  t = cfg.train
  t.batch_size = batch_size
  t.num_steps = num_steps
  t.learning_rate = learning_rate
  t.schedule = "cosine"
  t.warmup_steps = 100
  t.grad_clip_norm = 1.0
  t.log_every = 100
  t.eval_every = 1000
  t.eval_batch_size = 500
  t.eval_max_examples = eval_max_examples
  t.checkpoint_every = 1000
  t.sample_every = 1000
  t.num_samples = 16
  return _common.apply_variant(cfg, arg)


def prior(model_name: str, arg=None, *, vqvae_workdir: str, size: str, num_steps: int,
          batch_size: int, overrides=None):
  """The locked stage-2 config: `model_name` over the codes of the VQ-VAE in `vqvae_workdir`."""
  cfg = _common.model_config(model_name, arg, size, overrides)
  cfg.data.name = "vqvae_codes"
  cfg.data.path = vqvae_workdir
  t = cfg.train
  t.batch_size = batch_size
  t.num_steps = num_steps
  t.learning_rate = 1e-3
  t.schedule = "cosine"
  t.warmup_steps = 200
  t.grad_clip_norm = 1.0
  t.ema_decay = 0.999
  t.log_every = 100
  t.eval_every = 2000
  t.eval_batch_size = 500
  t.checkpoint_every = 1000
  t.sample_every = 0
  t.num_samples = 16
  return _common.apply_variant(cfg, arg)
