"""Model registry: ``create(name, event_shape, num_levels, size, **overrides)``.

Each family lives in its own file and registers itself on import.
"""

from armodels_jax.models import made, pixelcnn  # noqa: F401  (registration)
from armodels_jax.models import deep_nade  # noqa: F401  (registration: eonade, nade_k)
from armodels_jax.models import rnade  # noqa: F401  (registration)
from armodels_jax.models import fvsbn  # noqa: F401  (registration)
from armodels_jax.models import nade  # noqa: F401  (registration)
from armodels_jax.models import nan  # noqa: F401  (registration)
from armodels_jax.models import gated_pixelcnn, pixelcnn_pp, pixelrnn, pixelsnail  # noqa: F401
from armodels_jax.models import char_rnn, wavenet  # noqa: F401  (registration)
from armodels_jax.models import image_gpt  # noqa: F401  (registration)
from armodels_jax.models.base import ARModel
from armodels_jax.models.char_rnn import CharRNN
from armodels_jax.models.gated_pixelcnn import GatedPixelCNN
from armodels_jax.models.made import MADE
from armodels_jax.models.pixelcnn import PixelCNN
from armodels_jax.models.pixelcnn_pp import PixelCNNPP
from armodels_jax.models.pixelrnn import DiagonalBiLSTM, RowLSTM
from armodels_jax.models.pixelsnail import PixelSNAIL
from armodels_jax.models.rnade import RNADE
from armodels_jax.models.wavenet import WaveNet
from armodels_jax.models.registry import SIZES, create, names, options

__all__ = ["ARModel", "CharRNN", "DiagonalBiLSTM", "GatedPixelCNN", "MADE", "PixelCNN", "PixelCNNPP",
           "PixelSNAIL", "RNADE", "RowLSTM", "SIZES", "WaveNet", "create", "names", "options"]
