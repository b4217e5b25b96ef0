"""Helpers for running a model's identical blocks as one ``lax.scan`` over their stored parameters.

A model with N identical blocks stores N parameter trees (``block0``, ``block1``, ...); unrolled, XLA
compiles each block separately, and on TPU both its compile time and its generated code grow with N
(BENCHMARKS.md, "TPU plan"). Scanned, the N trees are stacked along a new leading axis at call time and
one step, an unbound copy of the block applied to its slice, runs N times (MaxText's ``scan_layers``).
The stored layout is unchanged, so checkpoints of the unrolled model load as they are, and gradients
flow back to the N trees through the stack.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from armodels_jax.layers import conv_ops


def stack(trees: Sequence[Any]) -> Any:
  """N trees of one structure -> one tree whose leaves have a new leading axis of size N."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def bound(module: nn.Module, params: Any, dropout_key: Optional[jax.Array] = None) -> Callable:
  """``module`` (unbound: built with ``parent=None``) applied with ``params``, as a function of the
  module's call arguments; ``dropout_key`` feeds its ``'dropout'`` rng."""
  rngs = None if dropout_key is None else {"dropout": dropout_key}
  return lambda *args: module.apply({"params": params}, *args, rngs=rngs)


def remat(step: Callable) -> Callable:
  """A scan step whose backward pass recomputes it from its inputs (``jax.checkpoint``, nothing saved):
  the scan then keeps each step's carry and inputs, not its intermediates."""
  return jax.checkpoint(step, prevent_cse=False, policy=jax.checkpoint_policies.nothing_saveable)


def scan(step: Callable, init: Any, xs: Any, remat_steps: bool = False) -> tuple[Any, Any]:
  """``lax.scan(step, init, xs)`` over a model's blocks, its step traced as a loop body for
  :func:`armodels_jax.layers.conv_ops.loop_body` (convolutions in the form XLA's CPU backend runs
  fast inside a loop); ``remat_steps`` wraps the step in :func:`remat`."""
  with conv_ops.loop_body():
    return jax.lax.scan(remat(step) if remat_steps else step, init, xs)
