r"""PixelSNAIL on CIFAR-10 (the paper's CIFAR model, discretized logistic mixture).

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/pixelsnail_cifar10.py --workdir runs/pixelsnail_cifar10
  armodels train --config experiments/configs/pixelsnail_cifar10.py:tiny --workdir /tmp/pixelsnail_cifar10_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["pixelsnail_cifar10"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("pixelsnail_cifar10")
