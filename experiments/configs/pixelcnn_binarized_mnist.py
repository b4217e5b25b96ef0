r"""PixelCNN on binarized MNIST (Larochelle & Murray 2011 fixed binarization), the paper's model.

Reproduces: van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016,
Table 4 (binarized MNIST): PixelCNN, 81.30 nats (test negative log-likelihood). The optimizer settings
(Adam, cosine schedule, EMA) are ours; the stored data have no test split, so the validation split is
evaluated.

The table's row (``python experiments/reproduce.py --rows pixelcnn_binarized_mnist``) trains the
``small`` size (64 maps, 11 residual blocks) at batch 16 for 25,000 steps (8 epochs), a CPU budget. The
2026-12-02 run (63 minutes on the 2-core CPU shared with one other run) reached 86.83 nats on all 10,000
validation images at 25,000 steps (first 2,000 images during training: 89.25 / 87.48 / 86.84 / 86.54 /
86.46 at 5k / 10k / 15k / 20k / 25k). The train NLL was 86.4, the same as validation: the small model
underfits, and the paper's 81.30 needs the larger model or a much longer run.

Launch (the paper size is a GPU or TPU run; on the 2-core CPU the small size at batch 16 took 0.15-0.18 s
a step with another run beside it)::

  armodels train --config experiments/configs/pixelcnn_binarized_mnist.py --workdir runs/pixelcnn_bmnist
  armodels train --config experiments/configs/pixelcnn_binarized_mnist.py:tiny --workdir /tmp/pcnn_tiny

Data: ``data.path`` defaults to ``../shared/data/binarized_mnist/binarized_mnist.npz`` relative to the
repository root (the project's shared data folder); point it elsewhere with
``--config.data.path=/path/to/binarized_mnist.npz``.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import os

import _common

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PATH = os.path.normpath(
    os.path.join(_REPO_ROOT, "..", "shared", "data", "binarized_mnist", "binarized_mnist.npz"))


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  cfg = _common.default_config()
  cfg.seed = 0
  cfg.model.name = "pixelcnn"
  cfg.model.size = "paper"
  cfg.data.name = "binarized_mnist"
  cfg.data.path = DEFAULT_PATH

  t = cfg.train
  t.batch_size = 64
  t.num_steps = 100_000  # 128 epochs of 781 batches.
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
