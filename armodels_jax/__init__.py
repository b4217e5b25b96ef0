"""armodels_jax: likelihood-based autoregressive generative models in JAX/Flax.

Public API (see ../shared/DESIGN.md section 3 of the project)::

    import armodels_jax as arm
    model = arm.models.create("pixelcnn", event_shape=(8, 8, 1), num_levels=17, size="tiny")
    variables = arm.init(model, jax.random.key(0))
    logp = arm.log_prob(model, variables, x)
    xs = arm.sample(model, variables, key, num_samples=16, method="cached")
"""

from armodels_jax import models
from armodels_jax.api import bits_per_dim, init, log_prob, sample

__version__ = "0.1.0"

__all__ = ["bits_per_dim", "init", "log_prob", "models", "sample", "__version__"]
