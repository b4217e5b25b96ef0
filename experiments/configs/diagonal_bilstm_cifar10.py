r"""PixelRNN Diagonal BiLSTM on CIFAR-10 (12 layers).

Reproduces: van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016, Table 5:
Diagonal BiLSTM, 3.00 bits/dim (test). The optimizer settings (Adam, cosine schedule, gradient clipping, EMA weights) are ours.

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/diagonal_bilstm_cifar10.py --workdir runs/diagonal_bilstm_cifar10
  armodels train --config experiments/configs/diagonal_bilstm_cifar10.py:tiny --workdir /tmp/diagonal_bilstm_cifar10_tiny

Data: CIFAR-10 through TensorFlow Datasets (``tfds:cifar10``, 32x32x3, 256 levels; the last 10% of
the training split validates, the test split tests). armodels_jax never downloads: prepare it once with
``tfds build cifar10 --file_format=array_record`` (see ``armodels_jax.data.tfds_source``).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

from armodels_jax import training

_common = training.load_config_module(__file__, "_common.py")


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.image_experiment("diagonal_bilstm", "cifar10", arg, size="paper", batch_size=16)
