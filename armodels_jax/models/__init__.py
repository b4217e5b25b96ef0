"""Model registry: ``create(name, event_shape, num_levels, size, **overrides)``.

Each family lives in its own file and registers itself on import.
"""

from armodels_jax.models import made, pixelcnn  # noqa: F401  (registration)
from armodels_jax.models import deep_nade  # noqa: F401  (registration: eonade, nade_k)
from armodels_jax.models import rnade  # noqa: F401  (registration)
from armodels_jax.models import fvsbn  # noqa: F401  (registration)
from armodels_jax.models import nade  # noqa: F401  (registration)
from armodels_jax.models.base import ARModel
from armodels_jax.models.made import MADE
from armodels_jax.models.pixelcnn import PixelCNN
from armodels_jax.models.rnade import RNADE
from armodels_jax.models.registry import SIZES, create, names, options

__all__ = ["ARModel", "MADE", "PixelCNN", "RNADE", "SIZES", "create", "names", "options"]
