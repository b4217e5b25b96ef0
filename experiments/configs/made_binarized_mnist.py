r"""MADE on binarized MNIST (Larochelle & Murray 2011 fixed binarization), the paper's model.

Reproduces: Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for Distribution Estimation",
ICML 2015, Table 6 (binarized MNIST): MADE with one hidden layer of 500 units and mask sampling over 32
masks, 88.04 nats (test negative log-likelihood). Our optimizer settings (Adam, cosine schedule, EMA) are
ours, not the paper's; the stored data have no test split, so the validation split is evaluated.

Launch::

  armodels train --config experiments/configs/made_binarized_mnist.py --workdir runs/made_bmnist
  armodels train --config experiments/configs/made_binarized_mnist.py:tiny --workdir /tmp/made_bmnist_tiny

Data: ``data.path`` defaults to ``../shared/data/binarized_mnist/binarized_mnist.npz`` relative to the
repository root (the project's shared data folder); point it elsewhere with
``--config.data.path=/path/to/binarized_mnist.npz`` (an .npz with uint8 ``train`` (50000, 28, 28) and
``valid`` (10000, 28, 28)).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import os

from armodels_jax import training

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PATH = os.path.normpath(
    os.path.join(_REPO_ROOT, "..", "shared", "data", "binarized_mnist", "binarized_mnist.npz"))


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  cfg = training.default_config()
  cfg.seed = 0
  cfg.model.name = "made"
  cfg.model.size = "paper"  # One hidden layer of 500 units, 32 masks.
  cfg.data.name = "binarized_mnist"
  cfg.data.path = DEFAULT_PATH

  t = cfg.train
  t.batch_size = 100
  t.num_steps = 200_000  # 400 epochs of 500 batches.
  t.optimizer = "adam"
  t.learning_rate = 1e-3
  t.schedule = "cosine"
  t.warmup_steps = 1000
  t.grad_clip_norm = 1.0
  t.ema_decay = 0.9995
  t.log_every = 500
  t.eval_every = 5000
  t.eval_batch_size = 1000
  t.checkpoint_every = 5000
  t.sample_every = 10_000
  t.num_samples = 64

  return training.apply_variant(cfg, arg)
