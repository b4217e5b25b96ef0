"""Data for autoregressive models: datasets, preprocessing and batching.

```python
from armodels_jax import data
ds = data.load("digits")                      # embedded, no files needed
ds.train.shape, ds.event_shape, ds.num_levels  # (1257, 8, 8, 1), (8, 8, 1), 17
idx = data.batch_indices(len(ds.train), 64, seed=0, step=step)
x = data.global_batch(ds.train, idx, sharding)  # jax.Array (64, 8, 8, 1)
```
"""

from armodels_jax.data import audio, text
from armodels_jax.data.batching import batch_indices
from armodels_jax.data.batching import global_batch
from armodels_jax.data.batching import local_slice
from armodels_jax.data.dataset import Dataset
from armodels_jax.data.dataset import make_cond
from armodels_jax.data.idx import read_idx
from armodels_jax.data.local import load_array
from armodels_jax.data.preprocess import binarize
from armodels_jax.data.preprocess import mu_law_decode
from armodels_jax.data.preprocess import mu_law_encode
from armodels_jax.data.preprocess import quantize
from armodels_jax.data.preprocess import stochastic_binarize
from armodels_jax.data.registry import load
from armodels_jax.data.registry import names

__all__ = [
    "Dataset",
    "audio",
    "batch_indices",
    "binarize",
    "global_batch",
    "load",
    "load_array",
    "make_cond",
    "local_slice",
    "mu_law_decode",
    "mu_law_encode",
    "names",
    "quantize",
    "read_idx",
    "stochastic_binarize",
    "text",
]
