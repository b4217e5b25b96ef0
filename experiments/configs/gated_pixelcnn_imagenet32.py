r"""Gated PixelCNN on ImageNet 32x32 (downsampled).

Launch (a GPU or TPU pod run; see experiments/tpu/ for a pod slice)::

  armodels train --config experiments/configs/gated_pixelcnn_imagenet32.py --workdir runs/gated_pixelcnn_imagenet32
  armodels train --config experiments/configs/gated_pixelcnn_imagenet32.py:tiny --workdir /tmp/gated_pixelcnn_imagenet32_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["gated_pixelcnn_imagenet32"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("gated_pixelcnn_imagenet32")
