r"""PixelCNN++ on CIFAR-10 (160 filters, 5 resnets per block, 3 resolutions, 10 logistics, dropout 0.5).

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/pixelcnn_pp_cifar10.py --workdir runs/pixelcnn_pp_cifar10
  armodels train --config experiments/configs/pixelcnn_pp_cifar10.py:tiny --workdir /tmp/pixelcnn_pp_cifar10_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["pixelcnn_pp_cifar10"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("pixelcnn_pp_cifar10")
