r"""MADE on scikit-learn's 8x8 digits (17 grey levels; embedded, no files needed).

A quick, CPU-friendly experiment: a one-hidden-layer MADE with a categorical head per pixel.

Launch::

  armodels train --config experiments/configs/made_digits.py --workdir runs/made_digits
  armodels train --config experiments/configs/made_digits.py:tiny --workdir /tmp/made_digits_tiny

``arg``: None (the experiment, a few minutes on a laptop CPU) or ``'tiny'`` (seconds: tiny model, batch 8,
2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  cfg = _common.default_config()
  cfg.seed = 0
  cfg.model.name = "made"
  cfg.model.size = "small"
  cfg.data.name = "digits"

  t = cfg.train
  t.batch_size = 64
  t.num_steps = 5000
  t.optimizer = "adam"
  t.learning_rate = 1e-3
  t.schedule = "cosine"
  t.warmup_steps = 100
  t.grad_clip_norm = 1.0
  t.ema_decay = 0.999
  t.log_every = 100
  t.eval_every = 1000
  t.eval_batch_size = 270
  t.checkpoint_every = 1000
  t.sample_every = 1000
  t.num_samples = 64

  return _common.apply_variant(cfg, arg)
