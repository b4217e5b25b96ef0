"""char-RNN: a multi-layer LSTM language model over characters.

* Karpathy 2015, "The Unreasonable Effectiveness of Recurrent Neural Networks" and its char-rnn
  code: characters in, a stack of LSTM layers, a softmax over the vocabulary out; dropout between
  the layers and before the softmax (0.5 at 3 x 512); training over windows of 100 characters
  from parallel streams through the text, the state carried from one window to the next
  (truncated backpropagation through time). Reported: a validation loss of about 1.4-1.5 on tiny
  Shakespeare's last 10% with 3 x 512; that loss is Torch's ``ClassNLLCriterion``, i.e. nats per
  character (about 2.0-2.2 bits).
* Graves 2013, "Generating Sequences With Recurrent Neural Networks", section 3: character-level
  prediction with stacked LSTMs, evaluated in bits per character.
* Hochreiter & Schmidhuber 1997, "Long Short-Term Memory": the cell
  (:class:`armodels_jax.layers.lstm.LSTM`).

The input at position t is token ``t - 1`` (a learned start embedding, index ``num_levels``, at
t = 0), embedded by a learned table (a one-hot times a matrix: with ``embed_dim`` at least the
vocabulary size, the same function class as char-rnn's one-hot input), then the LSTM stack and a
dense layer to ``num_levels`` logits (the categorical head). So the logits at t depend on tokens
``< t`` only. The model is length-agnostic: ``model.clone(event_shape=(T2,))`` applies the same
parameters to sequences of length T2.

Stateful use (truncated BPTT, the training loop's ``train.tbptt``): ``initial_carry(B)`` is the
state before a stream (zero states, the start token) and ``log_prob_carry(x, carry)`` returns the
per-character log-probabilities of a window and the carry after it (every layer's ``(h, c)`` and
the window's last token), so threading the carry over consecutive windows equals one pass over
their concatenation.

Cached sampling (``decode=True``, docs/design.md section 5): the ``'cache'`` collection holds every
layer's ``(h, c)``; a step reads token ``t - 1`` from the sampler's canvas and runs one LSTM step
per layer.

Dimensions: B batch, T time, V = num_levels (the vocabulary), E embedding, L layers, H hidden.
"""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from armodels_jax.distributions import make_head
from armodels_jax.layers.lstm import LSTM
from armodels_jax.models import registry
from armodels_jax.models.base import ARModel


class _StateCache(nn.Module):
  """Decode mode: every layer's ``(h, c)``, ``[B, L, H]`` each, in the ``'cache'`` collection.

  Attributes:
    num_layers: L.
    hidden: H.
  """

  num_layers: int
  hidden: int

  @nn.compact
  def __call__(self, batch: int, update=None):
    """Returns the cached ``(h, c)``, after storing ``update = (h, c)`` when given."""
    shape = (batch, self.num_layers, self.hidden)
    h = self.variable("cache", "h", jnp.zeros, shape, jnp.float32)
    c = self.variable("cache", "c", jnp.zeros, shape, jnp.float32)
    if update is not None:
      h.value, c.value = update
    return h.value, c.value


class CharRNN(ARModel):
  """A stack of LSTMs over sequences ``(T,)`` of ``num_levels`` tokens (see the module docstring).

  Attributes:
    num_layers: L, LSTM layers.
    hidden: H, the state size of every layer.
    embed_dim: E, the width of the token embedding.
    dropout: rate between layers and before the output layer (training only; rng ``'dropout'``).
    decode: one token per call, the states in the ``'cache'`` collection.
  """

  num_layers: int = 2
  hidden: int = 256
  embed_dim: int = 64
  dropout: float = 0.0
  decode: bool = False

  has_decode: ClassVar[bool] = True
  stateful: ClassVar[bool] = True

  @property
  def head(self):
    return make_head("categorical", self.num_levels)

  def check_config(self) -> None:
    """Raises ValueError for a configuration the model does not support."""
    if len(self.event_shape) != 1:
      raise ValueError(f"CharRNN expects a sequence event_shape (T,), got {self.event_shape}")
    if self.head_kind not in ("auto", "categorical"):
      raise ValueError(f"CharRNN expects head_kind 'auto' or 'categorical' (a softmax over the "
                       f"vocabulary), got {self.head_kind!r}")
    for field in ("num_layers", "hidden", "embed_dim"):
      if getattr(self, field) < 1:
        raise ValueError(f"CharRNN expects {field} >= 1, got {getattr(self, field)}")
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f"CharRNN expects dropout in [0, 1), got {self.dropout}")

  def setup(self):
    self.check_config()
    self.embed = nn.Embed(self.num_levels + 1, self.embed_dim, name="embed")  # Index V: start.
    self.lstms = [LSTM(self.hidden, self.embed_dim if l == 0 else self.hidden, name=f"lstm{l}")
                  for l in range(self.num_layers)]
    self.drop = nn.Dropout(self.dropout)
    self.out = nn.Dense(self.num_levels, name="out")
    self.state_cache = _StateCache(self.num_layers, self.hidden, name="state_cache")

  @nn.nowrap
  def initial_carry(self, batch_size: int) -> dict[str, jnp.ndarray]:
    """The carry before a stream: ``{'h', 'c'}`` zeros ``[B, L, H]`` and ``'token'`` ``[B]`` = V
    (the start token). Every leaf has the batch first (the loop shards it like the batch)."""
    shape = (int(batch_size), self.num_layers, self.hidden)
    return {"h": jnp.zeros(shape, jnp.float32), "c": jnp.zeros(shape, jnp.float32),
            "token": jnp.full((int(batch_size),), self.num_levels, jnp.int32)}

  def _check_carry(self, carry, batch: int) -> None:
    shape = (batch, self.num_layers, self.hidden)
    if (not isinstance(carry, dict) or set(carry) != {"h", "c", "token"}
        or tuple(carry["h"].shape) != shape or tuple(carry["c"].shape) != shape
        or tuple(carry["token"].shape) != (batch,)):
      got = ({k: tuple(getattr(v, "shape", ())) for k, v in carry.items()}
             if isinstance(carry, dict) else type(carry).__name__)
      raise ValueError(f"CharRNN expects a carry {{'h': {shape}, 'c': {shape}, 'token': "
                       f"({batch},)}} (from initial_carry), got {got}")

  def _run(self, tokens: jnp.ndarray, carry, train: bool):
    """Input tokens ``[B, T]`` (already shifted) from a carry -> logits ``[B, T, V]``, ``(h, c)``."""
    e = self.embed(tokens)  # [B, T, E]
    hs, cs = [], []
    for l, lstm in enumerate(self.lstms):
      if l > 0:
        e = self.drop(e, deterministic=not train)
      e, (h, c) = lstm(e, (carry["h"][:, l], carry["c"][:, l]))  # e [B, T, H]
      hs.append(h)
      cs.append(c)
    e = self.drop(e, deterministic=not train)
    return self.out(e), (jnp.stack(hs, axis=1), jnp.stack(cs, axis=1))

  def _check_x(self, x: jnp.ndarray) -> None:
    if x.ndim != 2:
      raise ValueError(f"CharRNN expects x of shape (B, T), got {tuple(x.shape)}")

  def __call__(self, x: jnp.ndarray, cond: Any = None, train: bool = False) -> jnp.ndarray:
    """``x [B, T]`` int tokens -> logits ``[B, T, V]``; position t sees ``x[:, :t]`` only."""
    del cond
    self._check_x(x)
    carry = self.initial_carry(x.shape[0])
    logits, _ = self._run(self._shift(x, carry["token"]), carry, train)
    return logits

  @staticmethod
  def _shift(x: jnp.ndarray, first: jnp.ndarray) -> jnp.ndarray:
    """``[B, T]`` -> the inputs ``[B, T]``: ``first`` then ``x[:, :-1]``."""
    return jnp.concatenate([first[:, None].astype(jnp.int32), x[:, :-1].astype(jnp.int32)], axis=1)

  def log_prob_carry(self, x: jnp.ndarray, carry, train: bool = False, cond: Any = None):
    """A window of a stream, continuing from `carry`.

    Args:
      x: ``[B, T]`` int tokens of the window.
      carry: from `initial_carry` or the previous window's call.
      train: training behaviour (dropout).
      cond: must be None (the model is unconditional).

    Returns:
      ``(per_dim [B, T] float32 nats, new_carry)``: the conditional log-probability of every token
      given everything before it in the stream, and the carry after the window.
    """
    if cond is not None:
      raise ValueError(f"CharRNN is unconditional: expected cond=None, got {type(cond).__name__}")
    self._check_x(x)
    self._check_carry(carry, x.shape[0])
    logits, (h, c) = self._run(self._shift(x, carry["token"]), carry, train)
    per_dim = self.head.log_prob(logits, x)  # [B, T]
    return per_dim, {"h": h, "c": c, "token": x[:, -1].astype(jnp.int32)}

  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray, cond: Any = None) -> jnp.ndarray:
    """Logits ``[B, V]`` of token t from token ``t - 1`` on the canvas and the cached states.

    Args:
      canvas: ``[B, T]`` int, tokens before t final.
      t: scalar int.
      cond: unused (None).
    """
    del cond
    h_all, c_all = self.state_cache(canvas.shape[0])  # [B, L, H] each
    previous = jax.lax.dynamic_index_in_dim(canvas, jnp.maximum(t - 1, 0), 1, keepdims=False)
    token = jnp.where(t == 0, self.num_levels, previous.astype(jnp.int32))  # [B]
    e = self.embed(token)  # [B, E]
    hs, cs = [], []
    for l, lstm in enumerate(self.lstms):
      e, (h, c) = lstm.step(e, (h_all[:, l], c_all[:, l]))  # [B, H]
      hs.append(h)
      cs.append(c)
    self.state_cache(canvas.shape[0], (jnp.stack(hs, axis=1), jnp.stack(cs, axis=1)))
    return self.out(e)


def _sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  """Named sizes: ``tiny`` (tests, any T >= 1), ``small`` (2 x 256, trains on a CPU), ``paper``
  (Karpathy's 3 x 512 with dropout 0.5; the 128-wide embedding covers tiny Shakespeare's 65
  characters, as char-rnn's one-hot input does)."""
  del event_shape, num_levels
  return {
      "tiny": dict(num_layers=1, hidden=16, embed_dim=8, dropout=0.0),
      "small": dict(num_layers=2, hidden=256, embed_dim=64, dropout=0.0),
      "paper": dict(num_layers=3, hidden=512, embed_dim=128, dropout=0.5),
  }[size]


registry.register("char_rnn", CharRNN, _sizes)
