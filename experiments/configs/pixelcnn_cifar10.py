r"""PixelCNN on CIFAR-10 (15 residual blocks, 256-way softmax per sub-pixel).

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/pixelcnn_cifar10.py --workdir runs/pixelcnn_cifar10
  armodels train --config experiments/configs/pixelcnn_cifar10.py:tiny --workdir /tmp/pixelcnn_cifar10_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["pixelcnn_cifar10"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("pixelcnn_cifar10")
