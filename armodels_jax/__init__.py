"""armodels_jax: likelihood-based autoregressive generative models in JAX/Flax.

Public API (see ../shared/DESIGN.md section 3 of the project)::

    import armodels_jax as arm
    model = arm.models.create("pixelcnn", event_shape=(8, 8, 1), num_levels=17, size="tiny")
    variables = arm.init(model, jax.random.key(0))
    logp = arm.log_prob(model, variables, x)
    xs = arm.sample(model, variables, key, num_samples=16, method="cached")
    model, variables = arm.pretrained.load("nade_binarized_mnist")   # shipped checkpoints
"""

import importlib

from armodels_jax import models
from armodels_jax.api import bits_per_dim, init, log_prob, sample

__version__ = "0.1.0"

__all__ = ["bits_per_dim", "init", "log_prob", "models", "pretrained", "sample", "__version__"]


def __getattr__(name):
  # `arm.pretrained` pulls in training and orbax: imported on first use, not with the package.
  if name == "pretrained":
    return importlib.import_module("armodels_jax.pretrained")
  raise AttributeError(f"module 'armodels_jax' has no attribute {name!r}")
