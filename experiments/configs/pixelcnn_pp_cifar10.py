r"""PixelCNN++ on CIFAR-10 (160 filters, 5 resnets per block, 3 resolutions, 10 logistics, dropout 0.5).

Reproduces: Salimans, Karpathy, Chen & Kingma, "PixelCNN++", ICLR 2017, Table 1:
PixelCNN++, 2.92 bits/dim (test). The paper trained with Adam, learning rate 1e-3 decayed by 0.999995
per step, on 8 GPUs; here a cosine schedule.

Launch (a GPU or TPU run; a CPU takes seconds per step of the paper size)::

  armodels train --config experiments/configs/pixelcnn_pp_cifar10.py --workdir runs/pixelcnn_pp_cifar10
  armodels train --config experiments/configs/pixelcnn_pp_cifar10.py:tiny --workdir /tmp/pixelcnn_pp_cifar10_tiny

Data: CIFAR-10 through TensorFlow Datasets (``tfds:cifar10``, 32x32x3, 256 levels; the last 10% of
the training split validates, the test split tests). armodels_jax never downloads: prepare it once with
``tfds build cifar10 --file_format=array_record`` (see ``armodels_jax.data.tfds_source``).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

from armodels_jax import training

_common = training.load_config_module(__file__, "_common.py")


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.image_experiment("pixelcnn_pp", "cifar10", arg, size="paper", batch_size=16, ema_decay=0.9995)
