"""armodels_jax: likelihood-based autoregressive generative models in JAX/Flax.

Public API (see docs/design.md section 3)::

    import armodels_jax as arm
    model = arm.models.create("pixelcnn", event_shape=(8, 8, 1), num_levels=17, size="tiny")
    variables = arm.init(model, jax.random.key(0))
    logp = arm.log_prob(model, variables, x)
    xs = arm.sample(model, variables, key, num_samples=16, method="cached")
    model, variables = arm.pretrained.load("nade_binarized_mnist")   # shipped checkpoints
    data = arm.compress(model, variables, x); x = arm.decompress(model, variables, data)

The subpackages ``arm.data``, ``arm.training``, ``arm.layers``, ``arm.distributions``, ``arm.sampling``
and ``arm.pretrained`` are imported on first use (they pull in orbax, tfds, audio libraries).
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = ("anomaly", "data", "distributions", "layers", "models", "pretrained", "sampling", "training",
         "vqvae")
_API = ("bits_per_dim", "init", "log_prob", "sample")
_ANOMALY = ("anomaly_scores",)
_COMPRESSION = ("compress", "decompress")

__all__ = [*_API, *_ANOMALY, *_COMPRESSION, "__version__", *_LAZY]

if TYPE_CHECKING:  # for readers and type checkers; at run time these load on first use
  from armodels_jax import models  # noqa: F401
  from armodels_jax.anomaly import anomaly_scores  # noqa: F401
  from armodels_jax.api import bits_per_dim, init, log_prob, sample  # noqa: F401
  from armodels_jax.compression import compress, decompress  # noqa: F401


def __getattr__(name):
  # Everything loads on first use, so that `import armodels_jax.cli` (the `armodels` command) starts
  # without JAX and can re-execute itself cheaply (armodels_jax.runtime_env); the subpackages pull in
  # orbax, tfds and audio libraries.
  if name in _LAZY:
    return importlib.import_module(f"armodels_jax.{name}")
  if name in _API:
    return getattr(importlib.import_module("armodels_jax.api"), name)
  if name in _ANOMALY:
    return getattr(importlib.import_module("armodels_jax.anomaly"), name)
  if name in _COMPRESSION:
    return getattr(importlib.import_module("armodels_jax.compression"), name)
  raise AttributeError(f"module 'armodels_jax' has no attribute {name!r}")
