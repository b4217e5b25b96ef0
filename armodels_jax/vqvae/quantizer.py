"""The vector quantiser of a VQ-VAE: nearest codes, straight-through gradient, losses, EMA codebook
updates and the re-initialisation of dead codes.

References:
  van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning" (NeurIPS):
    section 3.1 (eq. 1, nearest-neighbour lookup ``k = argmin_j ||z_e - e_j||``), section 3.2 (the
    straight-through estimator: the decoder's gradient at ``z_q`` is copied to ``z_e``; eq. 3, the loss
    ``log p(x | z_q) + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2`` with beta = 0.25) and appendix A.1
    (the codebook as exponential moving averages of the assigned encoder outputs, decay 0.99).
  Razavi, van den Oord & Vinyals 2019, "Generating Diverse High-Fidelity Images with VQ-VAE-2", section
    3.1 (EMA codebook updates with Laplace smoothing of the counts).
  Dead codes are re-initialised to encoder outputs of the current batch, as in Dhariwal et al. 2020
  ("Jukebox", section 3.1: "random restarts" of codes whose usage falls below a threshold).

Everything here is a pure function of arrays (the codebook is passed in), so it runs inside ``jit`` and
is tested on its own.

Dimensions: N encoder vectors (``B * h * w`` flattened), D the embedding size, K the number of codes,
``...`` leading axes.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["nearest_codes", "quantize", "Quantized", "CodebookStats", "init_stats", "code_counts",
           "perplexity", "ema_update", "reset_dead_codes"]


def nearest_codes(z: jax.Array, codebook: jax.Array) -> jax.Array:
  """``argmin_k ||z - e_k||^2`` (eq. 1).

  Args:
    z: float ``[..., D]`` encoder outputs.
    codebook: float ``[K, D]``.

  Returns:
    int32 ``[...]`` code indices in ``[0, K)``.
  """
  flat = z.reshape(-1, z.shape[-1])  # [N, D]
  d2 = (jnp.sum(flat * flat, axis=-1, keepdims=True) - 2.0 * flat @ codebook.T
        + jnp.sum(codebook * codebook, axis=-1)[None, :])  # [N, K]
  return jnp.argmin(d2, axis=-1).astype(jnp.int32).reshape(z.shape[:-1])


class Quantized(NamedTuple):
  """The result of `quantize`.

  Attributes:
    z_q: ``[..., D]``, the codebook vectors in the forward pass, with the straight-through gradient
      ``d z_q / d z_e = I`` and no gradient to the codebook.
    indices: int32 ``[...]``.
    codebook_loss: ``[B]``, ``sum ||sg[z_e] - e||^2`` over each example's latent positions (eq. 3,
      second term; its gradient moves the codebook only).
    commitment_loss: ``[B]``, ``sum ||z_e - sg[e]||^2`` (eq. 3, third term without beta; its gradient
      moves the encoder only).
  """
  z_q: jax.Array
  indices: jax.Array
  codebook_loss: jax.Array
  commitment_loss: jax.Array


def quantize(z_e: jax.Array, codebook: jax.Array) -> Quantized:
  """Quantises encoder outputs ``[B, ..., D]`` to their nearest codes (see `Quantized`)."""
  indices = nearest_codes(z_e, codebook)  # [B, ...]
  e = jnp.take(codebook, indices, axis=0)  # [B, ..., D]
  axes = tuple(range(1, z_e.ndim))
  codebook_loss = jnp.sum(jnp.square(jax.lax.stop_gradient(z_e) - e), axis=axes)
  commitment_loss = jnp.sum(jnp.square(z_e - jax.lax.stop_gradient(e)), axis=axes)
  z_q = z_e + jax.lax.stop_gradient(e - z_e)  # straight-through (section 3.2)
  return Quantized(z_q, indices, codebook_loss, commitment_loss)


class CodebookStats(NamedTuple):
  """Moving averages of the code assignments (appendix A.1).

  Attributes:
    count: ``[K]``, the EMA of how many encoder vectors each code was assigned per batch; the usage
      that decides dead codes (kept in both codebook modes).
    total: ``[K, D]``, the EMA of the sum of those vectors (``codebook = total / count`` in EMA mode).
  """
  count: jax.Array
  total: jax.Array


def init_stats(codebook: jax.Array) -> CodebookStats:
  """Stats consistent with `codebook`: count 1 and total ``= codebook`` for every code."""
  return CodebookStats(jnp.ones(codebook.shape[:1], jnp.float32), codebook.astype(jnp.float32))


def code_counts(indices: jax.Array, num_codes: int) -> jax.Array:
  """float32 ``[K]``: how many of `indices` (any shape) fall on each code."""
  return jnp.zeros((num_codes,), jnp.float32).at[indices.reshape(-1)].add(1.0)


def perplexity(counts: jax.Array) -> jax.Array:
  """``exp(H(p))`` of the code frequencies ``p = counts / sum(counts)``: K for uniform use, 1 for one
  code."""
  p = counts / jnp.maximum(jnp.sum(counts), 1e-12)
  return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))


def ema_update(stats: CodebookStats, z: jax.Array, indices: jax.Array, decay: float,
               epsilon: float = 1e-5) -> tuple[CodebookStats, jax.Array]:
  """One EMA step of the codebook statistics (appendix A.1, eqs. 6-8).

  ``count <- decay * count + (1 - decay) * n``, ``total <- decay * total + (1 - decay) * sum_{k(z)=i} z``,
  ``e_i = total_i / count~_i`` with the Laplace-smoothed ``count~ = (count + eps) / (sum count + K eps) *
  sum count`` (VQ-VAE-2), so a code with a vanishing count keeps a finite vector.

  Args:
    stats: the statistics so far.
    z: ``[N, D]`` encoder outputs of the batch.
    indices: int ``[N]`` their codes.
    decay: gamma in ``[0, 1)``.
    epsilon: the Laplace smoothing.

  Returns:
    ``(stats, codebook [K, D])``.
  """
  num_codes = stats.count.shape[0]
  onehot = jax.nn.one_hot(indices, num_codes, dtype=jnp.float32)  # [N, K]
  count = decay * stats.count + (1.0 - decay) * jnp.sum(onehot, axis=0)
  total = decay * stats.total + (1.0 - decay) * (onehot.T @ z.astype(jnp.float32))
  n = jnp.sum(count)
  smoothed = (count + epsilon) / (n + num_codes * epsilon) * n  # [K]
  return CodebookStats(count, total), total / smoothed[:, None]


def reset_dead_codes(codebook: jax.Array, stats: CodebookStats, z: jax.Array, key: jax.Array,
                     threshold: float | jax.Array) -> tuple[jax.Array, CodebookStats, jax.Array]:
  """Re-initialises the codes whose usage ``stats.count`` is below `threshold` (random restarts).

  Each dead code becomes one encoder output of the batch drawn uniformly (with replacement); its
  statistics restart at ``count = threshold`` (so it is not dead again at once, but dies again if the
  encoder never picks it) and ``total = threshold * vector``.

  Args:
    codebook: ``[K, D]``.
    stats: the usage statistics.
    z: ``[N, D]`` encoder outputs of the batch.
    key: PRNG key for the draws.
    threshold: a count below which a code is dead (``<= 0`` never resets anything).

  Returns:
    ``(codebook, stats, num_reset)`` with the int32 scalar number of codes re-initialised.
  """
  num_codes = codebook.shape[0]
  dead = stats.count < threshold  # [K]
  picks = jax.random.randint(key, (num_codes,), 0, z.shape[0])
  fresh = jnp.take(z, picks, axis=0).astype(codebook.dtype)  # [K, D]
  codebook = jnp.where(dead[:, None], fresh, codebook)
  restart = jnp.asarray(threshold, jnp.float32)
  count = jnp.where(dead, restart, stats.count)
  total = jnp.where(dead[:, None], restart * fresh.astype(jnp.float32), stats.total)
  return codebook, CodebookStats(count, total), jnp.sum(dead.astype(jnp.int32))
