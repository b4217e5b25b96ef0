r"""NADE-k on binarized MNIST: k = 5 refinement steps, two hidden layers of 500 tanh units, order-agnostic training, an ensemble of 128 orderings.

Reproduces: Raiko, Li, Cho & Bengio, "Iterative Neural Autoregressive Distribution Estimator (NADE-k)",
NIPS 2014, Table 1 (binarized MNIST): EoNADE-5 2HL (128 orderings) 84.68 nats (test negative
log-likelihood). As in the authors' release: one set of weights for the 5 steps, no mask input, tanh units.
Unlike it: the missing values start from a learned per-pixel value (the authors used the training mean),
and the loss is the last step's order-agnostic estimate throughout (``intermediate_weight=0``); the
authors first trained on the mean of the 5 steps' costs (``intermediate_weight=1``) and then fine-tuned
on the last step. The optimizer settings (Adam, cosine schedule, EMA; the authors' release: adadelta,
an L2 weight penalty of 0.00123) are ours, and the stored data have no test split, so the validation split
is reported.

Launch::

  armodels train --config experiments/configs/nade_k_binarized_mnist.py --workdir runs/nade_k
  armodels train --config experiments/configs/nade_k_binarized_mnist.py:tiny --workdir /tmp/nade_k_tiny

Training: 10,000 steps of batch 100 (20 epochs; measured about 9 steps/s on the 2-core development CPU
while shared, about 20 minutes). Evaluation is very expensive: every ordering needs D = 784 conditionals,
each with k = 5 full passes of the network (the refined values change everywhere at every step, so no
running sum applies), about 8 GFLOP per image and ordering, 1 TFLOP per image for
the 128-ordering ensemble: 10 validation images took 275 s (112 CPU-s) on that CPU, so 100 images take
about 19 CPU-minutes. Evaluation during training therefore runs at the end only, on the first 50
validation images (a standard error of a few nats); evaluate more of the validation split afterwards
(the whole split is more than a CPU-day; an accelerator is the place for it) with::

  armodels eval --workdir runs/nade_k --npz ../shared/data/binarized_mnist/binarized_mnist.npz --key valid --json

Shipped (``pretrained/nade_k_binarized_mnist``): this config's 10,000 steps, then two phases of 10,000,
each warm-started from the one before, with ``model.overrides.num_orderings=8`` and validation on the
first 200 images during training (``experiments/reproduce.py``'s row, ``--warm-start``): 90.67 nats on
the first 500 validation images with the ensemble of 8 orderings (91.21 after the second phase).

Data: ``data.path`` defaults to ``../shared/data/binarized_mnist/binarized_mnist.npz`` beside the
repository; point it elsewhere with ``--config.data.path=/path/to/binarized_mnist.npz`` (an .npz with
uint8 ``train`` (50000, 28, 28) and ``valid`` (10000, 28, 28)).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common

PUBLISHED_TEST_NLL = 84.68


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  common = _common
  return common.dense_binarized_mnist(
      "nade_k", arg, size="paper", num_steps=10_000, eval_every=0, eval_max_examples=50,
      eval_batch_size=50,
      overrides=dict(hidden_sizes=(500, 500), num_iterations=5, num_orderings=128, activation="tanh",
                     use_mask=False, intermediate_weight=0.0))
