r"""Gated PixelCNN on ImageNet 32x32 (downsampled).

Reproduces: van den Oord et al., "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016, Table 2:
Gated PixelCNN, 3.83 bits/dim (on the ImageNet validation split). Model: the registry's ``paper`` size (the
CIFAR-10 one; the paper's ImageNet model was larger); optimizer settings ours.

Launch (a GPU or TPU pod run; see experiments/tpu/ for a pod slice)::

  armodels train --config experiments/configs/gated_pixelcnn_imagenet32.py --workdir runs/gated_pixelcnn_imagenet32
  armodels train --config experiments/configs/gated_pixelcnn_imagenet32.py:tiny --workdir /tmp/gated_pixelcnn_imagenet32_tiny

Data: tfds ``imagenet_resized/32x32``, prepared once (``IMAGE_DATA`` in ``_common.py`` gives the splits
and how it differs from the papers' files).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

from armodels_jax import training

_common = training.load_config_module(__file__, "_common.py")


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.image_experiment("gated_pixelcnn", "imagenet32", arg, size="paper", batch_size=16)
