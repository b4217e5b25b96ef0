r"""PixelSNAIL on MNIST with all 256 grey levels (discretized logistic mixture).

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/pixelsnail_mnist.py --workdir runs/pixelsnail_mnist
  armodels train --config experiments/configs/pixelsnail_mnist.py:tiny --workdir /tmp/pixelsnail_mnist_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["pixelsnail_mnist"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("pixelsnail_mnist")
