r"""PixelCNN on MNIST with all 256 grey levels (a 256-way categorical per pixel).

Reference point: van den Oord et al., "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016,
and "Pixel Recurrent Neural Networks", ICML 2016, report results on binarized MNIST only; this config is
the 256-level variant of ``pixelcnn_binarized_mnist.py`` (standard split: the first 50000 training images
train, the last 10000 validate, t10k tests).

Launch (a GPU or TPU run)::

  armodels train --config experiments/configs/pixelcnn_mnist.py --workdir runs/pixelcnn_mnist
  armodels train --config experiments/configs/pixelcnn_mnist.py:tiny --workdir /tmp/pixelcnn_mnist_tiny

Data: ``data.path`` defaults to ``../shared/data/mnist`` relative to the repository root (the directory of
the four original IDX ``.gz`` files); point it elsewhere with ``--config.data.path=/path/to/mnist``.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import os

import _common

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PATH = os.path.normpath(os.path.join(_REPO_ROOT, "..", "shared", "data", "mnist"))


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  cfg = _common.default_config()
  cfg.seed = 0
  cfg.model.name = "pixelcnn"
  cfg.model.size = "paper"
  cfg.data.name = "mnist"
  cfg.data.path = DEFAULT_PATH

  t = cfg.train
  t.batch_size = 64
  t.num_steps = 100_000
  t.optimizer = "adam"
  t.learning_rate = 1e-3
  t.schedule = "cosine"
  t.warmup_steps = 1000
  t.grad_clip_norm = 1.0
  t.ema_decay = 0.9995
  t.log_every = 200
  t.eval_every = 5000
  t.eval_batch_size = 500
  t.checkpoint_every = 5000
  t.sample_every = 10_000
  t.num_samples = 64

  return _common.apply_variant(cfg, arg)
