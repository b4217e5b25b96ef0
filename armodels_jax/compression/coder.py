"""The coder: a model's conditionals, quantised, driving a range coder through the decode interface.

An exact likelihood is a code: with arithmetic (range) coding a sequence ``x`` costs about
``-log2 p(x)`` bits (Shannon 1948; Rissanen & Langdon 1979, "Arithmetic coding"; Witten, Neal & Cleary
1987, "Arithmetic coding for data compression"; Martin 1979, "Range encoding"). The autoregressive
factorisation ``p(x) = prod_t p(x_t | x_<t)`` gives the coder one conditional per step.

* The walk: the model's order (:func:`armodels_jax.sampling.decode.plan` with a fixed key, so the
  decoder finds the encoder's order), one :func:`armodels_jax.sampling.decode.step` per step, the same
  decode interface the cached sampler runs. At step t the encoder codes the true symbol under the
  step's conditional; the decoder puts the decoded symbol where the sampler puts its random draw. Both
  sides call the same compiled function on bit-identical inputs, so their conditionals are
  bit-identical.
* Quantisation: each conditional (float32 probabilities of all ``L`` levels, from the head's
  ``log_probs``) becomes integer frequencies summing to ``2**24`` by :func:`quantize`, in which every
  level keeps at least one count. The entropy coder is ``constriction``'s range coder (Bamler 2022,
  "Understanding entropy coding with asymmetric numeral systems (ANS): a statistician's perspective")
  with a categorical model per symbol.
* Wide alphabets (``L >= BLOCK_MIN_LEVELS``, e.g. the 65,536 levels of 16-bit audio) with a head that
  gives the mass of a run of levels from its CDF (the discretized logistic mixture: ``block_probs``)
  are coded in two stages: the block ``x // W`` of ``W = ceil(sqrt(L))`` levels under
  ``P(g) = CDF(upper edge of block g) - CDF(lower edge)``, then ``x % W`` under the W level
  probabilities of the chosen block, renormalised. ``P(g) P(x | g) = P(x)``, so the code length stays
  ``-log2 P(x)`` up to quantisation, while a step costs two W-entry tables instead of one L-entry table.

The decoder's budget (:class:`Decoder`). ``constriction``'s range decoder never reports the end of its
data: past the last word it goes on decoding as if zeros followed. A crafted header can therefore ask
for far more symbols than the payload holds. The decoder adds up the information of the symbols it
decodes, ``sum(24 - log2(c + 1))`` bits for a symbol of quantised count ``c`` (``constriction``
re-quantises our counts, ``c' <= c + 1``, so this never exceeds the information the coder actually
spent), and stops with ``ValueError`` once that exceeds the payload's bits plus the coder's state
(64 bits): a range coder emits at least ``I - 32`` bits for symbols of information ``I`` (its range
shrinks by each symbol's probability and regains 32 bits per word written). So a crafted file costs at
most what a valid file of its payload size could cost. This bounds the work by the model's confidence,
not by a constant: a symbol the model predicts with probability ``1 - 2**-24`` carries 1e-7 bits, so a
few bytes of payload can stand for millions of near-certain symbols, as they can in a valid file. The
element limit of :func:`armodels_jax.compression.file_format.check_limits` is the guard for those.

Dimensions: B chunk (batch), D = prod(event_shape), L levels, W block width, G = ceil(L / W) blocks,
P raw head parameters.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.compression import file_format
from armodels_jax.sampling import decode

__all__ = ["PRECISION", "BLOCK_MIN_LEVELS", "quantize", "coding_scheme", "first_stage",
           "second_stage", "Encoder", "Decoder", "code_chunk"]

# Alphabets at least this large use SCHEME_BLOCKS when the head gives block masses.
BLOCK_MIN_LEVELS = 4096
# Bits of precision of the quantised conditionals: constriction's default range coder
# (32-bit words) codes categorical models with 24-bit probabilities.
PRECISION = 24
# Bits of the range coder's state that a payload may hold beyond its symbols' information.
STATE_BITS = 64
_PLAN_SEED = 0  # The sampling plan's key: fixed, so the decoder finds the encoder's order.


def _constriction():
  try:
    import constriction  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "armodels_jax.compress needs the entropy-coding library constriction: "
        "pip install 'armodels_jax[compress]'") from e
  return constriction


# --------------------------------------------------------------------------------------------------
# Quantisation: a deterministic NumPy function both sides compute alike.
# --------------------------------------------------------------------------------------------------


def quantize(probs: Any, precision: int = PRECISION) -> np.ndarray:
  """Integer frequencies of conditionals, every level at least one count.

  Args:
    probs: ``[B, L]`` non-negative probabilities (float32 from the model).
    precision: the counts of each row sum to ``2**precision``.

  Returns:
    ``[B, L]`` int64 counts ``>= 1`` summing to ``2**precision`` per row:
    ``1 + floor(p * (2**precision - L))``, the remainder added to the most
    probable level (the first one on ties).

  Raises:
    ValueError: NaN, inf or negative probabilities, an all-zero row, or more
      levels than ``2**precision``.
  """
  p = np.asarray(probs, np.float64)
  if p.ndim != 2:
    raise ValueError(f"expected probabilities of shape (B, L), got shape {p.shape}")
  num_levels = p.shape[1]
  total = 1 << precision
  if num_levels > total:
    raise ValueError(f"expected at most 2**{precision} levels, got {num_levels}")
  if not np.isfinite(p).all() or (p < 0).any():
    raise ValueError("expected finite non-negative probabilities from the model, got NaN, inf or a "
                     "negative value")
  norm = p.sum(-1, keepdims=True)
  if (norm <= 0).any():
    raise ValueError("expected probabilities with a positive sum in every row, got an all-zero row")
  counts = 1 + np.floor(p / norm * (total - num_levels)).astype(np.int64)
  deficit = total - counts.sum(-1)  # in [0, L): what the floors dropped
  counts[np.arange(len(p)), np.argmax(p, -1)] += deficit
  return counts


# --------------------------------------------------------------------------------------------------
# The coding scheme.
# --------------------------------------------------------------------------------------------------


def coding_scheme(model) -> tuple[int, int]:
  """``(scheme, W)``: ``(SCHEME_BLOCKS, ceil(sqrt(L)))`` for ``L >= BLOCK_MIN_LEVELS`` levels and
  a head with ``block_probs`` (the discretized logistic mixture), else ``(SCHEME_DENSE, 0)``."""
  levels = int(model.num_levels)
  if levels >= BLOCK_MIN_LEVELS and hasattr(model.head, "block_probs"):
    return file_format.SCHEME_BLOCKS, math.isqrt(levels - 1) + 1
  return file_format.SCHEME_DENSE, 0


@functools.partial(jax.jit, static_argnames=("model", "width"))
def first_stage(model, raw, width: int):
  """The first stage's conditional: ``raw [B, P]`` -> float32 ``[B, L]`` probabilities of every
  level (``width=0``, the dense scheme) or ``[B, G]`` of the blocks of ``width`` levels."""
  raw = raw.astype(jnp.float32)
  if not width:
    return jnp.exp(model.head.log_probs(raw))
  return model.head.block_probs(raw, width)


@functools.partial(jax.jit, static_argnames=("model", "width"))
def second_stage(model, raw, block, width: int):
  """The second stage's conditional: ``raw [B, P]``, ``block [B]`` -> float32 ``[B, W]``,
  ``P(level block * W + j | block)`` (zero past level L - 1; uniform over the block's levels
  where every level's probability underflows to 0, a block the first stage gave ~1e-38)."""
  p = model.head.block_level_probs(raw.astype(jnp.float32), block, width)
  total = jnp.sum(p, axis=-1, keepdims=True)
  levels = block[:, None] * width + jnp.arange(width)[None, :]
  valid = (levels < model.num_levels).astype(jnp.float32)
  flat = valid / jnp.sum(valid, axis=-1, keepdims=True)
  return jnp.where(total > 0, p / jnp.where(total > 0, total, 1.0), flat)


# --------------------------------------------------------------------------------------------------
# The range coder, both directions.
# --------------------------------------------------------------------------------------------------


class Encoder:
  """``constriction``'s range encoder over quantised tables."""

  def __init__(self):
    constriction = _constriction()
    self._coder = constriction.stream.queue.RangeEncoder()
    self._family = constriction.stream.model.Categorical(perfect=False)

  def encode(self, symbols: np.ndarray, counts: np.ndarray) -> None:
    """Codes ``symbols [n]`` under ``counts [n, L]`` (from :func:`quantize`)."""
    self._coder.encode(np.asarray(symbols, np.int32), self._family, counts.astype(np.float64))

  def payload(self) -> bytes:
    return self._coder.get_compressed().astype("<u4").tobytes()


class Decoder:
  """``constriction``'s range decoder over a payload, with an information budget.

  Every failure is a ``ValueError``: the library's own errors (an ``AssertionError`` for data that
  are invalid under the model) and decoding more information than the payload holds (module
  docstring) both mean a damaged or crafted file.
  """

  def __init__(self, payload: bytes):
    if len(payload) % 4:
      raise ValueError(f"the compressed data are damaged: expected a payload of whole 4-byte words, "
                       f"got {len(payload)} bytes")
    constriction = _constriction()
    words = np.frombuffer(payload, "<u4").astype(np.uint32)
    self._coder = constriction.stream.queue.RangeDecoder(words)
    self._family = constriction.stream.model.Categorical(perfect=False)
    self.budget_bits = 8.0 * len(payload) + STATE_BITS
    self.spent_bits = 0.0

  def decode(self, counts: np.ndarray) -> np.ndarray:
    """Decodes one symbol per row of ``counts [n, L]``; int32 ``[n]``."""
    try:
      symbols = np.asarray(self._coder.decode(self._family, counts.astype(np.float64)), np.int32)
    except Exception as e:  # pylint: disable=broad-except  (constriction raises AssertionError & co)
      raise ValueError(f"the compressed data are damaged: the range decoder stopped "
                       f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''})"
                       ) from None
    if symbols.shape != (len(counts),) or (symbols < 0).any() or (symbols >= counts.shape[1]).any():
      raise ValueError(f"the compressed data are damaged: the range decoder returned symbols outside "
                       f"[0, {counts.shape[1]})")
    chosen = counts[np.arange(len(counts)), symbols].astype(np.float64)
    self.spent_bits += float(np.sum(PRECISION - np.log2(chosen + 1.0)))
    if self.spent_bits > self.budget_bits:
      raise ValueError(
          f"the compressed data end before the symbols the header announces: decoding needed more "
          f"information than the payload's {self.budget_bits - STATE_BITS:.0f} bits hold (a "
          f"truncated, damaged or crafted file)")
    return symbols


# --------------------------------------------------------------------------------------------------
# The coding loop over the decode interface.
# --------------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("model", "width"), donate_argnums=(2, 3))
def _step(model, params, cache, canvas, pos, values, t, cond, call_kwargs, width):
  """Writes the previous step's symbols, then the conditional of step t.

  Args:
    model: the float32 model (not the decode clone).
    params: its parameters.
    cache: the decode clone's ``'cache'`` collection.
    canvas: ``[B, *event_shape]`` int32.
    pos: ``[B]`` flat dimensions of the previous step's symbols (any, at t = 0).
    values: ``[B]`` their values (zeros at t = 0).
    t: int32 scalar step.
    cond, call_kwargs: as for the cached sampler.
    width: the block width of the scheme (0: dense).

  Returns:
    ``(first-stage probs [B, L or G] float32, raw [B, P] float32, cache, canvas)``.
  """
  decoder = model.clone(decode=True)
  batch = canvas.shape[0]
  flat = canvas.reshape(batch, -1).at[jnp.arange(batch), pos].set(values)
  canvas = flat.reshape(canvas.shape)
  raw, cache = decode.step(decoder, params, cache, canvas, t, cond, call_kwargs)
  raw = raw.astype(jnp.float32)
  return first_stage(model, raw, width), raw, cache, canvas


def plan_key():
  """The fixed key of the coder's sampling plan (both sides use it)."""
  return jax.random.key(_PLAN_SEED)


@functools.partial(jax.jit, static_argnames=("model", "batch"))
def _plan(model, params, batch: int, cond):
  prefix = jnp.zeros((batch, model.num_dims), model.value_dtype)
  order, call_kwargs, _ = decode.plan(model, {"params": params}, plan_key(), prefix, jnp.int32(0),
                                      cond)
  return order, call_kwargs


class Stages:
  """The quantised conditionals of one step for the rows being coded, in the scheme's stages."""

  def __init__(self, model, width: int, first, raw, active):
    self.model, self.width, self._raw, self.active = model, width, raw, active
    self.first = quantize(np.asarray(first)[active])

  def second(self, blocks: np.ndarray) -> np.ndarray:
    """Quantised ``P(level | block)`` of the active rows, given their blocks."""
    full = np.zeros(self._raw.shape[0], np.int32)
    full[self.active] = blocks
    probs = second_stage(self.model, self._raw, full, self.width)
    return quantize(np.asarray(probs)[self.active])


def encode_symbols(encoder: Encoder, stages: Stages, value: np.ndarray) -> None:
  """Codes the active rows' symbols ``value`` in the scheme's stages."""
  if not stages.width:
    encoder.encode(value, stages.first)
    return
  encoder.encode(value // stages.width, stages.first)
  encoder.encode(value % stages.width, stages.second(value // stages.width))


def decode_symbols(decoder: Decoder, stages: Stages) -> np.ndarray:
  """Decodes the active rows' symbols in the scheme's stages."""
  first = decoder.decode(stages.first)
  if not stages.width:
    return first
  return first * stages.width + decoder.decode(stages.second(first))


def code_chunk(model, params, cond, lengths: np.ndarray, width: int, code,
               prefixes: bool) -> np.ndarray:
  """Runs the decode loop over one chunk of ``B = len(lengths)`` rows; row i is coded at its
  first ``lengths[i]`` steps (0 for a padded row), and ``code(stages, pos)`` codes the symbols of
  the active rows at one step (a :class:`Stages`; ``pos`` their flat dimensions) and returns them.
  ``prefixes``: the lengths cut examples short, so the model's order must be left to right.

  Returns:
    ``[B, D]`` int32 symbols by flat dimension (zeros where not coded).
  """
  batch = len(lengths)
  order, call_kwargs = _plan(model, params, batch, cond)
  order = np.asarray(order)  # [B, D]
  if prefixes and (order != np.arange(model.num_dims)).any():
    raise ValueError(f"lengths need a model that codes left to right; {type(model).__name__}'s "
                     "sampling plan has another order")
  decoder = model.clone(decode=True)
  cache = decode.init_cache(decoder, batch, cond, call_kwargs)
  canvas = jnp.zeros((batch,) + model.event_shape, jnp.int32)
  values = np.zeros((batch,), np.int32)
  pos = order[:, 0]
  out = np.zeros((batch, model.num_dims), np.int32)
  for t in range(int(lengths.max())):
    first, raw, cache, canvas = _step(model, params, cache, canvas, pos, values, np.int32(t),
                                      cond, call_kwargs, width)
    pos = order[:, t]
    active = np.flatnonzero(lengths > t)
    values = np.zeros((batch,), np.int32)
    values[active] = code(Stages(model, width, first, raw, active), pos[active])
    out[np.arange(batch), pos] = values
  return out


def state_elements(model, params, chunk: int, cond) -> int:
  """Elements one chunk's decode loop holds (its caches, canvas and plan), from shapes alone."""
  return decode.state_elements(model, {"params": params}, chunk, cond, key=plan_key())
