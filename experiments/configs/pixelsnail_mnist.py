r"""PixelSNAIL on MNIST with all 256 grey levels (discretized logistic mixture).

Model: Chen, Mishra, Rohaninejad & Abbeel, "PixelSNAIL: An Improved Autoregressive Generative Model", ICML 2018. No published MNIST number. The optimizer settings (Adam, cosine schedule, gradient clipping, EMA weights) are ours.

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/pixelsnail_mnist.py --workdir runs/pixelsnail_mnist
  armodels train --config experiments/configs/pixelsnail_mnist.py:tiny --workdir /tmp/pixelsnail_mnist_tiny

Data: ``data.path`` defaults to ``../shared/data/mnist`` (the four IDX ``.gz`` files) relative to the
repository root; the first 50,000 training images train, the last 10,000 validate, t10k tests.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

from armodels_jax import training

_common = training.load_config_module(__file__, "_common.py")


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.image_experiment("pixelsnail", "mnist", arg, size="paper", batch_size=16)
