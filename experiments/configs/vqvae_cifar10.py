r"""Stage 1 of VQ-VAE + prior on CIFAR-10: the paper's VQ-VAE.

Reproduces the configuration of van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete
Representation Learning", section 4.1 (the encoder: two stride-2 4x4 convolutions and two residual
blocks, 256 hidden units; 32x32x3 -> 8x8x1 codes, K = 512; Adam, learning rate 2e-4, batch 128,
250,000 steps; beta = 0.25); the paper reports 4.67 bits/dim for this VQ-VAE on CIFAR-10 (section
4.1). Our choices: embedding size D = 64, EMA codebook updates (the paper's appendix A.1), a
discretized logistic mixture of 10 components for ``p(x | z)`` (the paper does not state its CIFAR
likelihood head).

Launch (a GPU or TPU run), then stage 2 (``vqvae_prior_cifar10.py``)::

  armodels train --config experiments/configs/vqvae_cifar10.py --workdir runs/vqvae_cifar10
  armodels train --config experiments/configs/vqvae_prior_cifar10.py --workdir runs/prior_cifar10

Data: CIFAR-10 through TensorFlow Datasets (``tfds:cifar10``; prepare it once with ``tfds build cifar10
--file_format=array_record``). ``arg``: None (the experiment) or ``'tiny'`` (seconds).
"""

import _vqvae


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _vqvae.vqvae(
      "cifar10", arg, size="paper", num_steps=250_000, batch_size=128, learning_rate=2e-4,
      overrides={"num_codes": 512, "embedding_dim": 64, "head": "logistic_mixture",
                 "num_mixtures": 10})
