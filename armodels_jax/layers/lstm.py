"""An LSTM layer with explicit parameters, run over a whole sequence or one step at a time.

Hochreiter & Schmidhuber 1997, "Long Short-Term Memory" (Neural Computation 9(8)), with the forget
gate of Gers, Schmidhuber & Cummins 2000, in the form of Graves 2013, "Generating Sequences With
Recurrent Neural Networks", equations 7-11 (without the peephole weights)::

  [i, f, g, o] = x_t W_x + h_{t-1} W_h + b
  c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
  h_t = sigmoid(o) * tanh(c_t)

The forget-gate bias starts at 1.0 (Jozefowicz, Zaremba & Sutskever 2015, section 2.2), so the cell
keeps its memory early in training.

The full pass computes the input projection ``x W_x + b`` for every time step at once and scans the
recurrence with ``lax.scan``; the one-step path (used by the decoders) applies the same projection
to one time step and the same cell update, with the same parameters, so the two agree to float32
rounding.

Dimensions: B batch, T time, I input features, H state features, G = 4H gate pre-activations.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["LSTM", "lstm_cell"]


def lstm_cell(gates: jnp.ndarray, cell: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """The LSTM state update.

  Args:
    gates: ``[..., 4H]`` pre-activations in the order input, forget, candidate, output.
    cell: ``[..., H]`` the previous cell state.

  Returns:
    ``(h, c)``, each ``[..., H]``.
  """
  i, f, g, o = jnp.split(gates, 4, axis=-1)
  cell = jax.nn.sigmoid(f) * cell + jax.nn.sigmoid(i) * jnp.tanh(g)
  return jax.nn.sigmoid(o) * jnp.tanh(cell), cell


def _recur(kernel: jnp.ndarray, gates_in: jnp.ndarray, carry) -> tuple[jnp.ndarray, jnp.ndarray]:
  """``gates_in [B, G]`` plus the recurrent part ``h [B, H] @ kernel [H, G]``, then the update."""
  h, c = carry
  return lstm_cell(gates_in + h @ kernel, c)


def _gate_bias_init(forget_bias: float):
  def init(key, shape, dtype=jnp.float32):
    del key
    hidden = shape[0] // 4
    return jnp.zeros(shape, dtype).at[hidden:2 * hidden].set(forget_bias)
  return init


class LSTM(nn.Module):
  """One LSTM layer: ``[B, T, I] -> [B, T, H]`` (full pass) or ``[B, I] -> [B, H]`` (`step`).

  Attributes:
    features: H, the state size.
    in_features: I, the input size (the parameters are created from it, not from the first input).
    forget_bias: initial bias of the forget gate.
  """

  features: int
  in_features: int
  forget_bias: float = 1.0

  def setup(self):
    gates = 4 * self.features
    self.input_kernel = self.param("input_kernel", nn.initializers.lecun_normal(),
                                   (self.in_features, gates))  # [I, G]
    self.recurrent_kernel = self.param("recurrent_kernel", nn.initializers.orthogonal(),
                                       (self.features, gates))  # [H, G]
    self.bias = self.param("bias", _gate_bias_init(self.forget_bias), (gates,))  # [G]

  def _check(self, x: jnp.ndarray, carry, rank: int) -> None:
    if x.ndim != rank or x.shape[-1] != self.in_features:
      what = "[B, T, I]" if rank == 3 else "[B, I]"
      raise ValueError(f"LSTM expects inputs {what} with I = {self.in_features}, got shape "
                       f"{tuple(x.shape)}")
    h, c = carry
    expected = (x.shape[0], self.features)
    if tuple(h.shape) != expected or tuple(c.shape) != expected:
      raise ValueError(f"LSTM expects a carry (h, c) of shapes {expected}, got "
                       f"{tuple(h.shape)} and {tuple(c.shape)}")

  def project(self, x: jnp.ndarray) -> jnp.ndarray:
    """The input part of the gates, ``[..., I] -> [..., G]``."""
    return x @ self.input_kernel + self.bias.reshape((1,) * (x.ndim - 1) + (-1,))

  def cell(self, gates_in: jnp.ndarray, carry) -> tuple[jnp.ndarray, jnp.ndarray]:
    """One recurrence step: input gates ``[B, G]`` and ``(h, c)`` -> the new ``(h, c)``."""
    return _recur(self.recurrent_kernel, gates_in, carry)

  def __call__(self, x: jnp.ndarray, carry):
    """The whole sequence.

    Args:
      x: ``[B, T, I]``.
      carry: ``(h, c)``, each ``[B, H]``: the state before the first step.

    Returns:
      ``(hs [B, T, H], (h, c))``: every step's output and the state after the last step.
    """
    self._check(x, carry, 3)
    gates_in = jnp.moveaxis(self.project(x), 1, 0)  # [T, B, G]
    kernel = self.recurrent_kernel

    def step(state, g):
      state = _recur(kernel, g, state)
      return state, state[0]

    carry, hs = jax.lax.scan(step, tuple(carry), gates_in)  # hs [T, B, H]
    return jnp.moveaxis(hs, 0, 1), carry

  def step(self, x: jnp.ndarray, carry):
    """One time step: ``x [B, I]``, ``(h, c)`` -> ``(h [B, H], (h, c))``."""
    self._check(x, carry, 2)
    carry = self.cell(self.project(x), tuple(carry))
    return carry[0], carry
