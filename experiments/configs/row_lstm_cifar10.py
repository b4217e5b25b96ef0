r"""PixelRNN Row LSTM on CIFAR-10 (12 layers).

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/row_lstm_cifar10.py --workdir runs/row_lstm_cifar10
  armodels train --config experiments/configs/row_lstm_cifar10.py:tiny --workdir /tmp/row_lstm_cifar10_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["row_lstm_cifar10"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("row_lstm_cifar10")
