r"""Stage 1 of VQ-VAE + prior on MNIST with all 256 grey levels: the VQ-VAE.

van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning", section 4.1 (the
encoder/decoder of the CIFAR-10 experiment, scaled down: 28x28 images -> 7x7 maps of K = 64 codes, two
stride-2 stages, 32 hidden maps), beta = 0.25, EMA codebook updates (appendix A.1), dead codes
re-initialised. The pixel likelihood ``p(x | z)`` is a discretized logistic mixture (PixelCNN++'s head),
so the two-stage bound ``-log p(x) <= -log p_prior(z) - log p(x | z)`` is in nats of the 256-level
images, comparable with the exact NLL of ``pixelcnn_mnist.py``.

Launch, then stage 2 (the prior over the code maps, ``vqvae_prior_mnist.py``)::

  armodels train --config experiments/configs/vqvae_mnist.py --workdir runs/vqvae
  armodels train --config experiments/configs/vqvae_prior_mnist.py --workdir runs/prior
  armodels eval --workdir runs/prior          # the bound, in nats and bits/dim
  armodels sample --workdir runs/prior --out x.png

Data: ``data.path`` defaults to ``../shared/data/mnist`` relative to the repository root (the four IDX
``.gz`` files). ``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny network, 2 steps).
"""

import _vqvae


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _vqvae.vqvae(
      "mnist", arg, size="small", num_steps=20_000, batch_size=32, learning_rate=1e-3,
      eval_max_examples=2000,
      overrides={"num_codes": 64, "embedding_dim": 16, "features": 32, "head": "logistic_mixture",
                 "num_mixtures": 5})
