r"""Gated PixelCNN on binarized MNIST.

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/gated_pixelcnn_binarized_mnist.py --workdir runs/gated_pixelcnn_binarized_mnist
  armodels train --config experiments/configs/gated_pixelcnn_binarized_mnist.py:tiny --workdir /tmp/gated_pixelcnn_binarized_mnist_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["gated_pixelcnn_binarized_mnist"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("gated_pixelcnn_binarized_mnist")
