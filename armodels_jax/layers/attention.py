"""Causal (masked) dot-product self-attention with a key/value cache for decoding.

PixelSNAIL's attention block (Chen, Mishra, Rohaninejad & Abbeel 2018,
"PixelSNAIL: An Improved Autoregressive Generative Model", ICML, section 3 and
figure 4): the input is projected linearly to small keys and queries and to
values, and each position takes a softmax-weighted average of the values of
the positions it may see (scaled dot products as in Vaswani et al. 2017,
"Attention Is All You Need", section 3.2.1; ``num_heads > 1`` is their
multi-head form, section 3.2.2, without an output projection).

Queries and keys/values come from separate inputs over one flattened sequence
(for images, raster order): position i attends to positions j < i
(``strict=True``, for keys that contain the data at their own position, which
position i must not see) or j <= i (``strict=False``). Under the strict mask
position 0 attends to nothing and returns zeros; masked logits are a finite
large negative number and the weights are multiplied by the mask, so there is
no NaN in the forward pass or the gradient.

Decode mode (docs/design.md section 5), ``__call__(q_t [B, F_q], kv [B, F_kv], t,
kv_index=None) -> [B, V]`` (the decode entry point is ``__call__``, as in
:class:`~armodels_jax.layers.masked_conv.MaskedConv2D`, since ``decode`` names
the field): the ``'cache'`` collection keeps the keys ``[B, T, N, K / N]`` and
values ``[B, T, N, V / N]`` of every position written so far; a call writes
the key/value of ``kv`` at position ``kv_index`` (default t) and attends from
the query at t over the cached positions < t (strict) or <= t, O(T) work per
step. A model whose key at position p is only known after step p (PixelSNAIL:
the key includes the image at p) passes the key/value input of position p - 1
with ``kv_index = max(p - 1, 0)`` at step p: step p reads positions < p only,
so the dummy entry written at p = 0 is never read and is overwritten at p = 1.

Dimensions: B batch, T sequence length, F input features, N heads, K key size,
V value size (K and V summed over heads).
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

_MASKED = -1e30  # finite, so a fully masked row gives no NaN


def causal_mask(length: int, strict: bool = True) -> jnp.ndarray:
  """``[T, T]`` bool: entry (i, j) is True where query i may see key j."""
  rows = jnp.arange(length)[:, None]
  cols = jnp.arange(length)[None, :]
  return cols < rows if strict else cols <= rows


def _masked_softmax(logits: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  """Softmax over the last axis restricted to ``mask``; all-masked rows give zeros.

  ``logits`` and ``mask`` have the same shape. The softmax computes in float32
  (bfloat16 logits of a mixed-precision model included); the weights come back
  in the dtype of ``logits``.
  """
  weights = jax.nn.softmax(jnp.where(mask, logits.astype(jnp.float32), _MASKED), axis=-1)
  return (weights * mask.astype(weights.dtype)).astype(logits.dtype)


class CausalSelfAttention(nn.Module):
  """Masked dot-product attention over a flattened sequence.

  Attributes:
    key_size: K, the size of queries and keys summed over heads.
    value_size: V, the size of the values and of the output.
    num_heads: N, divides K and V (1 in PixelSNAIL).
    strict: position i sees positions j < i (True) or j <= i (False).
    decode: one position per call with a key/value cache (module docstring).
    max_length: T, the sequence length the decode cache holds.
  """

  key_size: int
  value_size: int
  num_heads: int = 1
  strict: bool = True
  decode: bool = False
  max_length: Optional[int] = None

  def _check_config(self) -> None:
    for field in ("key_size", "value_size", "num_heads"):
      if getattr(self, field) < 1:
        raise ValueError(f"CausalSelfAttention expects {field} >= 1, got {getattr(self, field)}")
    for field in ("key_size", "value_size"):
      if getattr(self, field) % self.num_heads:
        raise ValueError(
            f"CausalSelfAttention expects {field} divisible by num_heads={self.num_heads}, "
            f"got {getattr(self, field)}")
    if self.decode and (self.max_length is None or self.max_length < 1):
      raise ValueError(
          f"a decode-mode CausalSelfAttention expects max_length >= 1, got {self.max_length}")

  @nn.compact
  def __call__(self, q: jnp.ndarray, kv: jnp.ndarray, t: Optional[jnp.ndarray] = None,
               kv_index: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    """Applies the attention.

    Args:
      q: query input, full mode ``[B, T, F_q]``, decode mode ``[B, F_q]``.
      kv: key/value input, full mode ``[B, T, F_kv]``, decode mode ``[B, F_kv]``.
      t: decode mode only: the query's position, an int scalar.
      kv_index: decode mode only: the position whose key/value ``kv`` is, written
        into the cache before attending (default t; PixelSNAIL passes t - 1).

    Returns:
      ``[B, T, V]`` in full mode, ``[B, V]`` in decode mode.
    """
    self._check_config()
    heads = self.num_heads
    dense = lambda size, name: nn.DenseGeneral((heads, size // heads), name=name)
    to_query = dense(self.key_size, "query")
    to_key = dense(self.key_size, "key")
    to_value = dense(self.value_size, "value")
    scale = (self.key_size // heads) ** -0.5
    if self.decode:
      return self._decode(to_query, to_key, to_value, scale, q, kv, t, kv_index)
    if q.ndim != 3 or kv.ndim != 3 or q.shape[:2] != kv.shape[:2]:
      raise ValueError(
          "CausalSelfAttention expects q [B, T, F_q] and kv [B, T, F_kv] with the same B and T, "
          f"got shapes {q.shape} and {kv.shape}")
    length = q.shape[1]
    query = to_query(q) * scale  # [B, T, N, K / N]
    key = to_key(kv)  # [B, T, N, K / N]
    value = to_value(kv)  # [B, T, N, V / N]
    logits = jnp.einsum("bqnk,bsnk->bnqs", query, key)  # [B, N, T, T]
    mask = jnp.broadcast_to(causal_mask(length, self.strict)[None, None], logits.shape)
    weights = _masked_softmax(logits, mask)  # [B, N, T, T]
    out = jnp.einsum("bnqs,bsnv->bqnv", weights, value)  # [B, T, N, V / N]
    return out.reshape(out.shape[:2] + (self.value_size,))

  def _decode(self, to_query, to_key, to_value, scale, q, kv, t, kv_index):
    """One decode step: write kv at kv_index, attend from q at t. Returns ``[B, V]``."""
    if t is None:
      raise ValueError("a decode-mode CausalSelfAttention expects the position t, got None")
    if q.ndim != 2 or kv.ndim != 2 or q.shape[0] != kv.shape[0]:
      raise ValueError(
          "decode mode expects q [B, F_q] and kv [B, F_kv] with the same B, "
          f"got shapes {q.shape} and {kv.shape}")
    heads, batch = self.num_heads, q.shape[0]
    shape = (batch, self.max_length, heads)
    keys = self.variable("cache", "keys", jnp.zeros, shape + (self.key_size // heads,), q.dtype)
    values = self.variable("cache", "values", jnp.zeros, shape + (self.value_size // heads,),
                           q.dtype)
    index = t if kv_index is None else kv_index
    key = to_key(kv)  # [B, N, K / N]
    value = to_value(kv)  # [B, N, V / N]
    keys.value = jax.lax.dynamic_update_slice_in_dim(keys.value, key[:, None], index, axis=1)
    values.value = jax.lax.dynamic_update_slice_in_dim(values.value, value[:, None], index, axis=1)
    query = to_query(q) * scale  # [B, N, K / N]
    logits = jnp.einsum("bnk,bsnk->bns", query, keys.value)  # [B, N, T]
    positions = jnp.arange(self.max_length)
    visible = positions < t if self.strict else positions <= t  # [T]
    weights = _masked_softmax(logits, jnp.broadcast_to(visible[None, None], logits.shape))
    out = jnp.einsum("bns,bsnv->bnv", weights, values.value)  # [B, N, V / N]
    return out.reshape(batch, self.value_size)
