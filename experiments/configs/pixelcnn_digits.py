r"""PixelCNN on scikit-learn's 8x8 digits (17 grey levels; embedded, no files needed).

A CPU-friendly PixelCNN experiment: masked convolutions (mask A then B), a categorical head per pixel.

Launch::

  armodels train --config experiments/configs/pixelcnn_digits.py --workdir runs/pixelcnn_digits
  armodels train --config experiments/configs/pixelcnn_digits.py:tiny --workdir /tmp/pixelcnn_digits_tiny

``arg``: None (the experiment, minutes on a CPU) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  cfg = _common.default_config()
  cfg.seed = 0
  cfg.model.name = "pixelcnn"
  cfg.model.size = "small"
  cfg.data.name = "digits"

  t = cfg.train
  t.batch_size = 32
  t.num_steps = 2000
  # 1,257 training digits: with plain Adam the small PixelCNN overfits after ~1,000 steps
  # (valid NLL 82.7 nats at step 1,000, 91.5 at 2,000); decoupled weight decay holds it at
  # 82.3 test nats after 2,000 steps (the settings of `armodels demo`).
  t.optimizer = "adamw"
  t.weight_decay = 1.0
  t.learning_rate = 1e-3
  t.schedule = "cosine"
  t.warmup_steps = 100
  t.grad_clip_norm = 1.0
  t.ema_decay = 0.995
  t.log_every = 50
  t.eval_every = 500
  t.eval_batch_size = 270
  t.checkpoint_every = 500
  t.sample_every = 1000
  t.num_samples = 64

  return _common.apply_variant(cfg, arg)
