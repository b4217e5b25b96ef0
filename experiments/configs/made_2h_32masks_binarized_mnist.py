r"""MADE on binarized MNIST: two hidden layers of 1,400 units, 32 masks (connectivity-agnostic, mixture of the 32 at evaluation).

Reproduces: Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for Distribution Estimation",
ICML 2015, Table 6 (binarized MNIST): 86.64 nats (test negative log-likelihood). The paper trained with
Adagrad and early stopping; the optimizer settings here (Adam, cosine schedule, EMA) are ours, and the
stored data have no test split, so the validation split is reported. Direct input-to-output connections
are on (as in the authors' released MNIST command).

Width: 2 x 1,400 units, the widest pair under the 20 MiB cap on a shipped checkpoint (the authors'
released MNIST command trains 8,000; see made_2h_1mask_binarized_mnist.py). With 500 units the row
reached 96.04 nats.

Budget: 40,000 steps (80 epochs), no weight decay, as the one-hidden-layer 32-mask row. The 2026-12-02
run (``python experiments/reproduce.py --rows made_2h_32masks_binarized_mnist``, 25 minutes on the 2-core
CPU shared with one other run) reached 92.67 nats on all 10,000 validation images at 40,000 steps (first
2,000 images during training: 103.76 / 97.03 / 94.58 / 93.19 / 92.65 / 92.53 at 2.5k / 5k / 10k / 20k /
30k / 40k; train NLL 89.5, so not overfitting: a longer run or a wider model would go further).

Launch::

  armodels train --config experiments/configs/made_2h_32masks_binarized_mnist.py --workdir runs/made_2h_32masks
  armodels train --config experiments/configs/made_2h_32masks_binarized_mnist.py:tiny --workdir /tmp/made_2h_32masks_tiny

Data: ``data.path`` defaults to ``../shared/data/binarized_mnist/binarized_mnist.npz`` beside the
repository; point it elsewhere with ``--config.data.path=/path/to/binarized_mnist.npz`` (an .npz with
uint8 ``train`` (50000, 28, 28) and ``valid`` (10000, 28, 28)).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common

PUBLISHED_TEST_NLL = 86.64


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  common = _common
  return common.dense_binarized_mnist(
      "made", arg, size="paper", num_steps=40_000, eval_every=2500, checkpoint_every=2500,
      overrides=dict(hidden_sizes=(1400, 1400), num_masks=32))
