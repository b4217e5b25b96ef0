r"""PixelRNN Diagonal BiLSTM on binarized MNIST (7 layers, the paper's MNIST model).

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/diagonal_bilstm_binarized_mnist.py --workdir runs/diagonal_bilstm_binarized_mnist
  armodels train --config experiments/configs/diagonal_bilstm_binarized_mnist.py:tiny --workdir /tmp/diagonal_bilstm_binarized_mnist_tiny

What it reproduces, its data and settings: ``IMAGE_ROWS["diagonal_bilstm_binarized_mnist"]`` in ``_common.py``,
beside the other image experiments. ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny
model, batch 8, 2 steps).
"""

import _common

get_config = _common.image_row("diagonal_bilstm_binarized_mnist")
