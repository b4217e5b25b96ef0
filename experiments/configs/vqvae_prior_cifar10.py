r"""Stage 2 of VQ-VAE + prior on CIFAR-10: a PixelCNN over the 8x8 maps of K = 512 codes.

van den Oord et al. 2017, section 4.2 (a PixelCNN prior fitted to the code maps after the VQ-VAE) and
Razavi et al. 2019, section 3.2. The prior's size is ours: the Gated PixelCNN's ``paper`` size of van
den Oord et al. 2016 (20 layers, 128 maps), with a 512-way categorical head.

Launch after stage 1 (``vqvae_cifar10.py``)::

  armodels train --config experiments/configs/vqvae_cifar10.py --workdir runs/vqvae_cifar10
  armodels train --config experiments/configs/vqvae_prior_cifar10.py --workdir runs/prior_cifar10
  armodels eval --workdir runs/prior_cifar10
  armodels sample --workdir runs/prior_cifar10 --out cifar_samples.png

``data.path`` defaults to ``runs/vqvae_cifar10``. ``arg``: None (the experiment) or ``'tiny'``.
"""

import _vqvae


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _vqvae.prior("gated_pixelcnn", arg, vqvae_workdir="runs/vqvae_cifar10", size="paper",
                      num_steps=100_000, batch_size=128)
