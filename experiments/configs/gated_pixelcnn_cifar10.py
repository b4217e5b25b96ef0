r"""Gated PixelCNN on CIFAR-10.

Reproduces: van den Oord et al., "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016, Table 1:
Gated PixelCNN, 3.03 bits/dim (test). The optimizer settings (Adam, cosine schedule, gradient clipping, EMA weights) are ours.

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/gated_pixelcnn_cifar10.py --workdir runs/gated_pixelcnn_cifar10
  armodels train --config experiments/configs/gated_pixelcnn_cifar10.py:tiny --workdir /tmp/gated_pixelcnn_cifar10_tiny

Data: CIFAR-10 through TensorFlow Datasets (``tfds:cifar10``, 32x32x3, 256 levels; the last 10% of
the training split validates, the test split tests). armodels_jax never downloads: prepare it once with
``tfds build cifar10 --file_format=array_record`` (see ``armodels_jax.data.tfds_source``).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

from armodels_jax import training

_common = training.load_config_module(__file__, "_common.py")


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.image_experiment("gated_pixelcnn", "cifar10", arg, size="paper", batch_size=16)
