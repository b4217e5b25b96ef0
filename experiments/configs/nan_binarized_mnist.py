r"""NAN (neural autoregressive network, untied hidden layer per conditional) on binarized MNIST.

Model: Bengio & Bengio, "Modeling High-Dimensional Discrete Data with Multi-Layer Neural Networks",
NIPS 12 (2000): one hidden layer per conditional on every earlier pixel in raster order
(``armodels_jax/models/nan.py``). The paper reports UCI data sets only, no binarized MNIST; compare with
FVSBN's 97.45 and NADE's 88.86 nats (Larochelle & Murray, "The Neural Autoregressive Distribution
Estimator", AISTATS 2011, Table 2; ``fvsbn_binarized_mnist.py``, ``nade_binarized_mnist.py``). The
optimizer settings (Adam, cosine schedule, EMA) are ours, and the stored data have no test split, so the
validation split is reported.

Size: ``small``, 8 sigmoid hidden units per conditional: the weights W are [784, 8, 784] (used masked,
strictly lower triangular), 4.93 M parameters of which 2.47 M are used (NADE with 500 hidden units: 0.79
M; FVSBN: 0.31 M used). Measured on a 2-core CPU at batch 100: 0.15 s per Adam step and 0.53 GB peak
memory (``paper``, 32 units: 19.7 M parameters, 0.56 s per step, 0.90 GB; BENCHMARKS.md).

Budget: 4,000 steps (8 epochs), a CPU-budget run (experiments/README.md has the result).

Launch::

  armodels train --config experiments/configs/nan_binarized_mnist.py --workdir runs/nan
  armodels train --config experiments/configs/nan_binarized_mnist.py:tiny --workdir /tmp/nan_tiny

Data: ``data.path`` defaults to ``../shared/data/binarized_mnist/binarized_mnist.npz`` beside the
repository; point it elsewhere with ``--config.data.path=/path/to/binarized_mnist.npz`` (an .npz with
uint8 ``train`` (50000, 28, 28) and ``valid`` (10000, 28, 28)).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  common = _common
  cfg = common.dense_binarized_mnist("nan", arg, size="small", num_steps=4_000, eval_every=1_000,
                                     checkpoint_every=1_000)
  if arg != "tiny":  # The shared 1000-step warmup would take a quarter of this short run.
    cfg.train.warmup_steps = 200
  return cfg
