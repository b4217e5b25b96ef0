r"""FVSBN (logistic autoregressive network) on binarized MNIST.

Reproduces: Frey, "Graphical Models for Machine Learning and Digital Communication", MIT Press 1998 (the
model), as reported by Larochelle & Murray, "The Neural Autoregressive Distribution Estimator", AISTATS
2011, Table 2 (binarized MNIST): FVSBN 97.45 nats (test negative log-likelihood). One logistic regression
per pixel on all earlier pixels in raster order; no hidden layer, so every size is the same model. The
optimizer settings here (Adam, cosine schedule, EMA) are ours, and the stored data have no test split, so
the validation split is reported.

Budget: 20,000 steps (40 epochs) at a peak learning rate of 3e-3 with decoupled weight decay 0.01
(AdamW): 99.04 nats on all 10,000 validation images at every evaluation from 13,000 steps on. The sweep behind
it (2026-12-02, all at batch 100, validation NLL at the end): learning rate 1e-3 for 30,000 steps with
weight decay 0.02 / 0.06 / 0.12: 99.26 (all 10,000) / 100.10 / 102.04; 3e-3 for 20,000 steps with weight
decay 0 / 0.01: 99.11 / 99.04. At 1e-3 the weights are still moving at the end (136 nats after 2,500
steps: Adam moves each weight at most about the learning rate a step), at 3e-3 the curve is flat from
12,000 steps, so what is left is the model: the train NLL is 96.1 at the end, and the validation split is
harder than the test split (the shipped checkpoint of 2026-12-01 measured 99.26 on validation and 98.52
on the test split), so the paper's 97.45 on the test split corresponds to about 98.2 here. A few minutes on
a quiet 2-core CPU (120-230 steps/s at batch 100).

The shipped checkpoint (2026-12-07) is this config with an L2 penalty of 1.7e-4 on the weights in place of
the weight decay (``train.optimizer=adam train.weight_decay=0.0 train.l2=0.00017``, the row of
``experiments/reproduce.py``, which has the sweep): 98.82 nats on all 10,000 validation images at
20,000 steps, train NLL 96.6.

Launch::

  armodels train --config experiments/configs/fvsbn_binarized_mnist.py --workdir runs/fvsbn
  armodels train --config experiments/configs/fvsbn_binarized_mnist.py:tiny --workdir /tmp/fvsbn_tiny

Data: ``data.path`` defaults to ``../shared/data/binarized_mnist/binarized_mnist.npz`` beside the
repository; point it elsewhere with ``--config.data.path=/path/to/binarized_mnist.npz`` (an .npz with
uint8 ``train`` (50000, 28, 28) and ``valid`` (10000, 28, 28)).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common

PUBLISHED_TEST_NLL = 97.45


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  common = _common
  return common.dense_binarized_mnist("fvsbn", arg, size="paper", num_steps=20_000, learning_rate=3e-3,
                                      eval_every=1000, checkpoint_every=2500, weight_decay=0.01)
