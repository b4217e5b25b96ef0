r"""PixelRNN Diagonal BiLSTM on binarized MNIST (7 layers, the paper's MNIST model).

Reproduces: van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016, Table 4:
Diagonal BiLSTM, 79.20 nats (test NLL). The optimizer settings (Adam, cosine schedule, gradient clipping, EMA weights) are ours.

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/diagonal_bilstm_binarized_mnist.py --workdir runs/diagonal_bilstm_binarized_mnist
  armodels train --config experiments/configs/diagonal_bilstm_binarized_mnist.py:tiny --workdir /tmp/diagonal_bilstm_binarized_mnist_tiny

Data: ``data.path`` defaults to ``../shared/data/binarized_mnist/binarized_mnist.npz`` relative to the
repository root (the stored data have no test split: the validation split is evaluated); point it
elsewhere with ``--config.data.path=/path/to/binarized_mnist.npz``.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

from armodels_jax import training

_common = training.load_config_module(__file__, "_common.py")


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.image_experiment("diagonal_bilstm", "binarized_mnist", arg, size="paper", batch_size=16, eval_every=5000)
