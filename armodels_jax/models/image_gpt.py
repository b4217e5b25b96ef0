"""Image GPT: a decoder-only causal transformer over the elements of any event.

Chen, Radford, Child, Wu, Jun, Luan & Sutskever 2020, "Generative Pretraining
from Pixels" (ICML; the GPT-2 architecture of Radford et al. 2019,
"Language Models are Unsupervised Multitask Learners", applied to the pixels
of an image read as one sequence): every element of the event is a token, the
input at a step is a learned embedding of a value plus a learned embedding of
a position, a stack of pre-norm blocks

  h = h + proj(attention(LayerNorm(h))),   h = h + MLP(LayerNorm(h))

(multi-head causal self-attention, Vaswani et al. 2017; a GELU MLP of
``mlp_ratio`` times the width), a final LayerNorm and a dense layer to the
head's raw parameters. The paper's smallest model, iGPT-S, has 24 blocks of
width 512 (the ``paper`` size). Here the tokens are the sub-pixels of an image
``(H, W, C)`` (each channel value its own token, R then G then B within a
pixel) or the symbols of a sequence ``(T,)``, so the model is also a
character-level language model.

Tokens and positions. Step s predicts element ``order[s]`` (a flat raster
index into the event). Its input is the value embedding of the element of step
s - 1 (a learned start value, index L, at s = 0) plus the position embedding
of the element it predicts, ``order[s]``: positions belong to the element's
place in the event (for images its (row, column, channel)), not to the step,
so an ordering only permutes the sequence. Attention at step s sees steps
<= s, which hold the values of steps < s only.

Orderings (``ordering``; images only, sequences are read in order). Each is a
permutation of the D = H W C flat raster indices; the C channels of a pixel
always follow each other, R then G then B:

* ``"raster"``: rows top to bottom, each row left to right (the default, the
  order of every other image model).
* ``"snake"`` (boustrophedon): rows top to bottom; even rows (0, 2, ...) left
  to right, odd rows right to left.
* ``"zigzag"`` (as JPEG scans a block): the anti-diagonals ``i + j = k`` for
  k = 0, 1, ..., H + W - 2 in turn; along an even k the row decreases
  (bottom-left to top-right), along an odd k it increases (top-right to
  bottom-left); for a 3x3 image: (0,0) (0,1) (1,0) (2,0) (1,1) (0,2) (1,2)
  (2,1) (2,2).

The ordering is applied everywhere: ``log_prob`` (the model is an exact
autoregressive likelihood in that order), ``sampling_plan`` (the naive
sampler's order), the cached decoder (step t fills ``order[t]``) and a
``prefix`` (its first ``prefix_len`` elements in that order are kept).

Heads. Each token has its own one-dimensional head: ``"auto"`` (Bernoulli for
two levels, else the L-way softmax, as in the paper), ``"categorical"``,
``"bernoulli"``, or ``"logistic_mixture"`` (a discretized logistic mixture per
sub-pixel, PixelCNN++'s head with one channel: the channels of a pixel are
linked through the autoregression instead).

Cached sampling (``decode=True``, docs/design.md section 5): step t embeds the value
of ``order[t - 1]`` from the canvas, and each block's attention writes that
step's key and value into its key/value cache
(:class:`~armodels_jax.layers.attention.CausalSelfAttention`) and attends over
steps <= t: O(D) work per step and layer instead of a full pass.

Sequences: ``max_length`` sets the size of the position table (default: the
event's length), so ``model.clone(event_shape=(T2,))`` with ``T2 <=
max_length`` applies the same parameters to shorter sequences (the CLI's
``sample --length``); a longer one is a ValueError.

Mixed precision (``dtype="bfloat16"``): embeddings, attention and MLP compute
in bfloat16 (softmax and LayerNorm statistics in float32); the raw head
parameters are float32.

Dimensions: B batch, D = prod(event_shape) tokens (steps), E width, N heads,
L levels, P raw parameters per token.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.layers.attention import CausalSelfAttention
from armodels_jax.models import registry
from armodels_jax.models.base import ARModel
from armodels_jax.models.image_output import IMAGE_HEADS, image_head

ORDERINGS = ("raster", "snake", "zigzag")


@functools.lru_cache(maxsize=64)
def ordering(name: str, event_shape: tuple[int, ...]) -> np.ndarray:
  """The visiting order ``[D]`` of flat raster indices (see the module docstring).

  Args:
    name: one of :data:`ORDERINGS`.
    event_shape: ``(H, W, C)``, or ``(T,)`` for ``"raster"``.

  Returns:
    int32 ``[D]``, a permutation of ``range(D)``: element ``order[s]`` is visited at step s.
  """
  if name not in ORDERINGS:
    raise ValueError(f"expected an ordering in {list(ORDERINGS)}, got {name!r}")
  num_dims = int(np.prod(event_shape))
  if name == "raster":
    return np.arange(num_dims, dtype=np.int32)
  if len(event_shape) != 3:
    raise ValueError(f"ordering {name!r} is for images (H, W, C), got event_shape {event_shape}")
  height, width, channels = event_shape
  if name == "snake":
    pixels = [(i, j if i % 2 == 0 else width - 1 - j) for i in range(height) for j in range(width)]
  else:  # zigzag
    pixels = []
    for k in range(height + width - 1):
      rows = range(max(0, k - width + 1), min(k, height - 1) + 1)
      pixels += [(i, k - i) for i in (reversed(rows) if k % 2 == 0 else rows)]
  flat = [(i * width + j) * channels + c for i, j in pixels for c in range(channels)]
  return np.asarray(flat, np.int32)


class _Block(nn.Module):
  """A pre-norm transformer block over ``[B, T, E]`` (full) or ``[B, E]`` (decode, step t)."""

  width: int
  num_heads: int
  mlp_ratio: int
  dropout_rate: float
  decode: bool
  max_length: int

  @nn.compact
  def __call__(self, h: jnp.ndarray, train: bool = False, t: Any = None) -> jnp.ndarray:
    drop = lambda a: nn.Dropout(self.dropout_rate)(a, deterministic=not train)
    a = nn.LayerNorm(name="ln_attention")(h)
    attention = CausalSelfAttention(self.width, self.width, self.num_heads, strict=False,
                                    decode=self.decode, max_length=self.max_length,
                                    name="attention")
    a = attention(a, a, t) if self.decode else attention(a, a)
    h = h + drop(nn.Dense(self.width, name="proj")(a))
    m = nn.LayerNorm(name="ln_mlp")(h)
    m = nn.gelu(nn.Dense(self.mlp_ratio * self.width, name="mlp_in")(m))
    return h + drop(nn.Dense(self.width, name="mlp_out")(m))


class ImageGPT(ARModel):
  """A GPT-2-style causal transformer over the elements of an image or a sequence.

  Attributes:
    width: E, the residual stream (512 for iGPT-S).
    num_layers: transformer blocks (24 for iGPT-S).
    num_heads: N attention heads, dividing E.
    mlp_ratio: the MLP's hidden width over E (4, as in GPT-2).
    dropout_rate: dropout on the embeddings and each block's residual branches (``train=True``).
    head_kind: one of ``"auto"``, ``"bernoulli"``, ``"categorical"``, ``"logistic_mixture"``.
    num_components: mixture components of the ``"logistic_mixture"`` head.
    ordering: ``"raster"``, ``"snake"`` or ``"zigzag"`` (module docstring).
    max_length: sequences only: rows of the position table (0: the event's length).
    decode: build the one-step-per-call decoder (used by the sampler).
  """

  width: int = 512
  num_layers: int = 24
  num_heads: int = 8
  mlp_ratio: int = 4
  dropout_rate: float = 0.0
  head_kind: str = "auto"
  num_components: int = 10
  ordering: str = "raster"
  max_length: int = 0
  decode: bool = False

  has_decode = True
  mixed_precision = True

  @property
  def head(self):
    # One token per sub-pixel (or symbol): the image heads of a single channel.
    return image_head(self.head_kind, self.num_levels, 1, self.num_components)

  @property
  def positions(self) -> int:
    """Rows of the position table."""
    return self.max_length or self.num_dims

  @property
  def order(self) -> np.ndarray:
    """The visiting order ``[D]`` (:func:`ordering`)."""
    return ordering(self.ordering, self.event_shape)

  def check_config(self) -> None:
    for field in ("width", "num_layers", "num_heads", "mlp_ratio", "num_components"):
      if getattr(self, field) < 1:
        raise ValueError(f"ImageGPT expects {field} >= 1, got {getattr(self, field)}")
    if self.width % self.num_heads:
      raise ValueError(f"ImageGPT expects width divisible by num_heads={self.num_heads}, "
                       f"got {self.width}")
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"ImageGPT expects dropout_rate in [0, 1), got {self.dropout_rate}")
    if self.head_kind not in IMAGE_HEADS:
      raise ValueError(f"ImageGPT expects head_kind in {list(IMAGE_HEADS)}, got {self.head_kind!r}")
    self.head  # Raises for a head that does not fit the data (Bernoulli with 3 levels).
    if self.ordering != "raster" and len(self.event_shape) != 3:
      raise ValueError(f"ImageGPT expects ordering 'raster' for a sequence event_shape "
                       f"{self.event_shape}, got {self.ordering!r}")
    ordering(self.ordering, self.event_shape)  # Raises for an unknown ordering.
    if self.max_length and (len(self.event_shape) != 1 or self.max_length < self.num_dims):
      raise ValueError(
          f"ImageGPT expects max_length 0 or, for a sequence, at least its length "
          f"{self.num_dims}, got max_length={self.max_length} for event_shape {self.event_shape}")

  def setup(self):
    self.check_config()  # also for clones (e.g. another sequence length), which create() skips
    embed_init = nn.initializers.normal(0.02)
    # Index L is the start value, the input of step 0.
    self.value_embed = nn.Embed(self.num_levels + 1, self.width, embedding_init=embed_init,
                                name="value_embed")
    self.position_embed = self.param("position_embed", embed_init, (self.positions, self.width))
    self.blocks = [
        _Block(self.width, self.num_heads, self.mlp_ratio, self.dropout_rate, self.decode,
               self.num_dims, name=f"block{l}")
        for l in range(self.num_layers)]
    self.final_norm = nn.LayerNorm(name="final_norm")
    self.out = nn.Dense(self.head.num_params, name="out")
    self.drop = nn.Dropout(self.dropout_rate)

  def _raw(self, h: jnp.ndarray) -> jnp.ndarray:
    return self.out(self.final_norm(h)).astype(jnp.float32)

  def __call__(self, x: jnp.ndarray, cond: Any = None, train: bool = False) -> jnp.ndarray:
    """``x [B, *event_shape]`` int -> raw head parameters ``[B, *event_shape, P]``.

    The parameters of element ``order[s]`` depend on the elements ``order[:s]`` only.
    """
    del cond
    batch, raster = x.shape[0], self.ordering == "raster"
    order = jnp.asarray(self.order)
    flat = x.reshape(batch, -1).astype(jnp.int32)  # [B, D]
    seq = flat if raster else flat[:, order]  # [B, D] values by step
    start = jnp.full((batch, 1), self.num_levels, jnp.int32)
    tokens = jnp.concatenate([start, seq[:, :-1]], axis=1)  # [B, D] the previous step's value
    h = self.value_embed(tokens) + self.position_embed[order][None]  # [B, D, E]
    h = self.drop(h, deterministic=not train)
    for block in self.blocks:
      h = block(h, train)
    raw = self._raw(h)  # [B, D, P] by step
    if not raster:
      raw = raw[:, jnp.asarray(np.argsort(self.order))]  # by flat raster index
    return raw.reshape(x.shape + (self.head.num_params,))

  def sampling_plan(self, key: jax.Array, prefix: jnp.ndarray, prefix_len: jnp.ndarray,
                    cond: Any = None):
    """The model's ordering for every example; no extra call arguments."""
    del key, prefix_len, cond
    return jnp.broadcast_to(jnp.asarray(self.order), (prefix.shape[0], self.num_dims)), {}

  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray, cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of element ``order[t]``.

    Args:
      canvas: ``[B, *event_shape]`` int, the elements of steps < t final.
      t: scalar int, the step.
      cond: unused.
    """
    del cond
    batch = canvas.shape[0]
    order = jnp.asarray(self.order)
    previous = jnp.take(canvas.reshape(batch, -1), order[jnp.maximum(t - 1, 0)], axis=1)  # [B]
    token = jnp.where(t == 0, self.num_levels, previous.astype(jnp.int32))
    h = self.value_embed(token) + self.position_embed[order[t]][None]  # [B, E]
    for block in self.blocks:
      h = block(h, False, t)
    return self._raw(h)


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  """``tiny`` (tests), ``small`` (a CPU trains it on 28x28 images), ``paper`` (iGPT-S)."""
  del num_levels
  sizes = {
      "tiny": dict(width=16, num_layers=1, num_heads=2, mlp_ratio=2, num_components=3),
      "small": dict(width=64, num_layers=4, num_heads=4, mlp_ratio=4, num_components=5),
      "paper": dict(width=512, num_layers=24, num_heads=8, mlp_ratio=4, num_components=10),
  }[size]
  if len(event_shape) == 1:  # Sequences keep their position table for shorter clones.
    sizes["max_length"] = int(event_shape[0])
  return sizes


registry.register("image_gpt", ImageGPT, _sizes)
