r"""PixelCNN++ on MNIST with all 256 grey levels (discretized logistic mixture).

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/pixelcnn_pp_mnist.py --workdir runs/pixelcnn_pp_mnist
  armodels train --config experiments/configs/pixelcnn_pp_mnist.py:tiny --workdir /tmp/pixelcnn_pp_mnist_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["pixelcnn_pp_mnist"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("pixelcnn_pp_mnist")
