"""armodels_jax: likelihood-based autoregressive generative models in JAX/Flax.

Public API (see ../shared/DESIGN.md section 3 of the project)::

    import armodels_jax as arm
    model = arm.models.create("pixelcnn", event_shape=(8, 8, 1), num_levels=17, size="tiny")
    variables = arm.init(model, jax.random.key(0))
    logp = arm.log_prob(model, variables, x)
    xs = arm.sample(model, variables, key, num_samples=16, method="cached")
    model, variables = arm.pretrained.load("nade_binarized_mnist")   # shipped checkpoints

The subpackages ``arm.data``, ``arm.training``, ``arm.layers``, ``arm.distributions``, ``arm.sampling``
and ``arm.pretrained`` are imported on first use (they pull in orbax, tfds, audio libraries).
"""

import importlib

from armodels_jax import models
from armodels_jax.api import bits_per_dim, init, log_prob, sample

__version__ = "0.1.0"

_LAZY = ("data", "distributions", "layers", "pretrained", "sampling", "training")

__all__ = ["bits_per_dim", "init", "log_prob", "models", "sample", "__version__", *_LAZY]


def __getattr__(name):
  # Subpackages with heavy imports (orbax, tfds, soundfile): imported on first use.
  if name in _LAZY:
    return importlib.import_module(f"armodels_jax.{name}")
  raise AttributeError(f"module 'armodels_jax' has no attribute {name!r}")
