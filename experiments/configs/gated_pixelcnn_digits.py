r"""Class-conditional Gated PixelCNN on scikit-learn's 8x8 digits (embedded; minutes on a CPU).

Launch (minutes on a CPU)::

  armodels train --config experiments/configs/gated_pixelcnn_digits.py --workdir runs/gated_pixelcnn_digits
  armodels train --config experiments/configs/gated_pixelcnn_digits.py:tiny --workdir /tmp/gated_pixelcnn_digits_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["gated_pixelcnn_digits"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("gated_pixelcnn_digits")
