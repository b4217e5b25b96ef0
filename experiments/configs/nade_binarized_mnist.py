r"""NADE on binarized MNIST: 500 sigmoid hidden units, tied weights, raster order.

Reproduces: Larochelle & Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011,
Table 2 (binarized MNIST): NADE 88.86 nats (test negative log-likelihood). The paper trained with
stochastic gradient descent and early stopping; the optimizer settings here (Adam, cosine schedule, EMA)
are ours, and the stored data have no test split, so the validation split is reported.

Budget: 1,500 steps (3 epochs) at a peak learning rate of 3e-3. The first runs on a 2-core CPU went at
1.5-2 steps/s (batch 100, the plain ``lax.scan`` form); ``prefix_sum="auto"`` now takes the ``"fused"``
scan with the paper's O(H D) hand-written gradient there, about 6x faster (BENCHMARKS.md, "Training
speed"). 1,500 steps is far from convergence: raise ``--config.train.num_steps`` (and lower the
learning rate) to approach the published number. The step is a scan over the 784 dimensions, so the
run splits the CPU into two JAX devices (``train.cpu_devices=2``), each scanning half of the batch:
0.0155 s a step against 0.0241 s on one device (500 hidden units, batch 64; BENCHMARKS.md).

Launch::

  armodels train --config experiments/configs/nade_binarized_mnist.py --workdir runs/nade
  armodels train --config experiments/configs/nade_binarized_mnist.py:tiny --workdir /tmp/nade_tiny

Data: ``data.path`` defaults to ``../shared/data/binarized_mnist/binarized_mnist.npz`` beside the
repository; point it elsewhere with ``--config.data.path=/path/to/binarized_mnist.npz`` (an .npz with
uint8 ``train`` (50000, 28, 28) and ``valid`` (10000, 28, 28)).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common

PUBLISHED_TEST_NLL = 88.86


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  common = _common
  cfg = common.dense_binarized_mnist(
      "nade", arg, size="paper", num_steps=1_500, learning_rate=3e-3, eval_every=500,
      overrides=dict(hidden_size=500))
  if arg != "tiny":  # The shared 1000-step warmup would take two thirds of this short run.
    cfg.train.warmup_steps = 100
    cfg.train.cpu_devices = 2
  return cfg
