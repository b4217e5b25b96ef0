"""Lossless compression with any discrete model that has a cached decode path.

Three parts: :mod:`~armodels_jax.compression.file_format` (the header, checksums and the limits a
reader checks first), :mod:`~armodels_jax.compression.coder` (quantised conditionals and the range
coder, walking the model through the decode interface the cached sampler shares,
:mod:`armodels_jax.sampling.decode`) and :mod:`~armodels_jax.compression.api` (``compress`` and
``decompress``). Decompressing a file never executes code from it.
"""

from armodels_jax.compression.api import DEFAULT_BATCH_SIZE, compress, decompress
from armodels_jax.compression.coder import (
    BLOCK_MIN_LEVELS, PRECISION, coding_scheme, first_stage, quantize, second_stage)
from armodels_jax.compression.file_format import (
    DEFAULT_MAX_ELEMENTS, FORMAT_VERSION, MAGIC, SCHEME_BLOCKS, SCHEME_DENSE, check_limits,
    fingerprint, model_name, read_header)

__all__ = ["compress", "decompress", "read_header", "check_limits", "quantize", "coding_scheme",
           "first_stage", "second_stage", "fingerprint", "model_name", "DEFAULT_BATCH_SIZE",
           "DEFAULT_MAX_ELEMENTS", "FORMAT_VERSION", "MAGIC", "SCHEME_BLOCKS", "SCHEME_DENSE",
           "BLOCK_MIN_LEVELS", "PRECISION"]
