r"""Class-conditional Gated PixelCNN on MNIST with all 256 grey levels (the digit label as ``cond``).

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/gated_pixelcnn_mnist.py --workdir runs/gated_pixelcnn_mnist
  armodels train --config experiments/configs/gated_pixelcnn_mnist.py:tiny --workdir /tmp/gated_pixelcnn_mnist_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["gated_pixelcnn_mnist"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("gated_pixelcnn_mnist")
