r"""Image GPT (decoder-only causal transformer, raster order) on binarized MNIST.

Model: Chen, Radford, Child, Wu, Jun, Luan & Sutskever, "Generative Pretraining from Pixels", ICML 2020
(``armodels_jax/models/image_gpt.py``): the 784 pixels as tokens with learned value and position
embeddings, pre-norm blocks of causal self-attention and MLP, a Bernoulli head per pixel. The paper
reports no binarized-MNIST likelihood; compare with PixelCNN's 81.30 nats (van den Oord, Kalchbrenner &
Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016, Table 4). ``size="paper"`` is iGPT-S (24
blocks of width 512), a GPU model; the optimizer settings (Adam, cosine schedule, gradient clipping, EMA
weights) are ours. ``image_gpt_zigzag_binarized_mnist.py`` is the same run in the zigzag ordering.

Launch (``small``: 4 blocks of width 64, seconds per step on a CPU; a GPU for ``paper``)::

  armodels train --config experiments/configs/image_gpt_binarized_mnist.py --workdir runs/image_gpt_binarized_mnist
  armodels train --config experiments/configs/image_gpt_binarized_mnist.py:tiny --workdir /tmp/image_gpt_tiny

Data: ``data.path`` defaults to ``../shared/data/binarized_mnist/binarized_mnist.npz`` relative to the
repository root (the stored data have no test split: the validation split is evaluated); point it
elsewhere with ``--config.data.path=/path/to/binarized_mnist.npz``.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None, ordering="raster"):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.image_experiment("image_gpt", "binarized_mnist", arg, size="small", batch_size=16,
                                  structure=dict(ordering=ordering), learning_rate=1e-3,
                                  warmup_steps=200, eval_max_examples=500)
