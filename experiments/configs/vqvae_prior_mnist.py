r"""Stage 2 of VQ-VAE + prior on MNIST: a Gated PixelCNN over the 7x7 code maps of the stage-1 VQ-VAE.

Razavi, van den Oord & Vinyals 2019, "Generating Diverse High-Fidelity Images with VQ-VAE-2", section
3.2, and van den Oord et al. 2017, section 4.2: after the VQ-VAE is trained, an autoregressive prior is
fitted to the code maps of its encoder. Here the prior is the library's Gated PixelCNN (any registry
image model works: ``--config.model.name=pixelcnn`` or ``pixelsnail``) with a K-way categorical head
over the codes; the data are ``data.name='vqvae_codes'``, the code maps of the VQ-VAE workdir
``data.path``.

Launch after stage 1 (``vqvae_mnist.py``)::

  armodels train --config experiments/configs/vqvae_mnist.py --workdir runs/vqvae
  armodels train --config experiments/configs/vqvae_prior_mnist.py --workdir runs/prior
  armodels eval --workdir runs/prior           # -log p(x) <= -log p_prior(z) - log p(x | z)
  armodels sample --workdir runs/prior --out x.png

``data.path`` defaults to ``runs/vqvae`` (relative to the current directory); point it at another
stage-1 run with ``--config.data.path=DIR``. ``arg``: None (the experiment) or ``'tiny'`` (seconds).
"""

import _vqvae


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _vqvae.prior("gated_pixelcnn", arg, vqvae_workdir="runs/vqvae", size="small",
                      num_steps=20_000, batch_size=64)
