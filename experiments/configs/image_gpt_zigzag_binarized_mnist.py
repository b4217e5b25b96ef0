r"""Image GPT on binarized MNIST in the zigzag ordering (the anti-diagonals, alternating direction).

The same model and training as ``image_gpt_binarized_mnist.py`` (Chen et al., "Generative Pretraining
from Pixels", ICML 2020), with ``ordering="zigzag"``: the image is read along its anti-diagonals
``i + j = k``, alternating direction from one to the next, as JPEG scans a block
(``armodels_jax/models/image_gpt.py`` documents it exactly). Position embeddings stay those of the
pixel's (row, column), so the ordering only permutes the sequence; experiments/README.md compares the
two orderings' validation NLL after equal training budgets.

Launch::

  armodels train --config experiments/configs/image_gpt_zigzag_binarized_mnist.py --workdir runs/image_gpt_zigzag_binarized_mnist
  armodels train --config experiments/configs/image_gpt_zigzag_binarized_mnist.py:tiny --workdir /tmp/image_gpt_zigzag_tiny

Data: as ``image_gpt_binarized_mnist.py``.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""


import image_gpt_binarized_mnist as _raster


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _raster.get_config(arg, ordering="zigzag")
