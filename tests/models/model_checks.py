"""Shared checks of docs/design.md section 6 for the model tests (import as ``import model_checks``).

Every function asserts; each takes a model and its variables, and ``cond`` where a
conditional model needs one. The tests of a model family call them on tiny event spaces.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

import armodels_jax as arm
from armodels_jax import api
from armodels_jax.sampling import cached_conditionals


def all_inputs(model) -> np.ndarray:
  """Every input of the event space, ``[L ** D, *event_shape]`` int32 (row-major order)."""
  values = itertools.product(range(model.num_levels), repeat=model.num_dims)
  return np.array(list(values), np.int32).reshape((-1,) + model.event_shape)


def repeat_cond(cond, n: int):
  """A per-example ``cond`` of batch 1 repeated to batch n (None stays None)."""
  if cond is None:
    return None
  return jax.tree.map(lambda c: np.repeat(np.asarray(c), n, axis=0), cond)


def check_normalisation(model, variables, cond=None, atol: float = 1e-5) -> np.ndarray:
  """Sum of exp(log_prob) over every input is 1; the per-dimension conditionals add up.

  ``cond`` is None or batch 1 (repeated over the inputs). Returns the probabilities.
  """
  xs = all_inputs(model)
  c = repeat_cond(cond, len(xs))
  logp = np.asarray(arm.log_prob(model, variables, xs, c), np.float64)
  assert np.isfinite(logp).all()
  np.testing.assert_allclose(np.exp(logp).sum(), 1.0, atol=atol)
  per_dim = np.asarray(arm.log_prob(model, variables, xs, c, reduce=False), np.float64)
  assert per_dim.shape == xs.shape
  np.testing.assert_allclose(per_dim.reshape(len(xs), -1).sum(-1), logp, atol=1e-4)
  return np.exp(logp)


def check_causality(model, variables, cond=None, num: int = 4, seed: int = 0,
                    order=None) -> None:
  """Perturbing the dimensions at and after step t of ``order`` (``[D]`` flat indices; default
  raster order) leaves the raw parameters of the dimensions of steps <= t unchanged, and some later
  conditional does depend on earlier values."""
  order = np.arange(model.num_dims) if order is None else np.asarray(order)
  rng = np.random.default_rng(seed)
  base = rng.integers(0, model.num_levels, size=(num,) + model.event_shape).astype(np.int32)
  c = repeat_cond(cond, num)
  apply = jax.jit(lambda v, x, c: model.apply(v, x, c))  # one compile, not D eager passes
  raw = np.asarray(apply(variables, base, c)).reshape(num, model.num_dims, -1)
  changed_any = False
  for t in range(model.num_dims):
    pert = base.reshape(num, -1).copy()
    pert[:, order[t:]] = rng.integers(0, model.num_levels, size=(num, model.num_dims - t))
    raw_p = np.asarray(apply(variables, pert.reshape(base.shape), c)).reshape(raw.shape)
    np.testing.assert_array_equal(raw_p[:, order[: t + 1]], raw[:, order[: t + 1]],
                                  err_msg=f"a conditional at or before step {t} saw step >= {t}")
    changed_any |= not np.array_equal(raw_p[:, order[t + 1:]], raw[:, order[t + 1:]])
  assert changed_any, "later conditionals never depend on earlier dimensions"


def influence(model, variables, x, dim: int, cond=None) -> np.ndarray:
  """Which flat input dimensions influence the raw parameters of flat dimension ``dim``.

  Each input dimension is changed to every other level in turn; it counts when ``raw[dim]``
  changes (exact, no gradients). For a blind-spot test. Returns ``[D]`` bool.
  """
  x = np.asarray(x, np.int32).reshape((1,) + model.event_shape)
  c = repeat_cond(cond, 1)
  base = np.asarray(model.apply(variables, x, c)).reshape(model.num_dims, -1)[dim]
  seen = np.zeros(model.num_dims, bool)
  for d in range(model.num_dims):
    for v in range(model.num_levels):
      y = x.reshape(-1).copy()
      if y[d] == v:
        continue
      y[d] = v
      out = np.asarray(model.apply(variables, y.reshape(x.shape), c)).reshape(model.num_dims, -1)[dim]
      if not np.array_equal(out, base):
        seen[d] = True
        break
  return seen


def check_cached_equals_full(model, variables, x, cond=None, atol: float = 1e-5,
                             order=None, call_kwargs=None) -> None:
  """Decode-path conditionals (teacher-forced, step by step along ``order``, ``[D]`` or one per
  example ``[B, D]``; default raster order) equal the full pass; ``call_kwargs`` (the sampling
  plan's, e.g. MADE's ``component``) go to both."""
  call_kwargs = call_kwargs or {}
  full = np.asarray(jax.jit(lambda v, x, c: model.apply(v, x, c, **call_kwargs))(
      variables, jnp.asarray(x), cond))
  if order is not None:
    order = jnp.broadcast_to(jnp.asarray(order), (len(x), model.num_dims))
  cached = np.asarray(cached_conditionals(model, variables, jnp.asarray(x), cond, order=order,
                                          call_kwargs=call_kwargs))
  np.testing.assert_allclose(cached, full, atol=atol, rtol=0)


def check_cached_sampling_equals_naive(model, variables, cond=None, num: int = 4,
                                       seed: int = 11, order=None) -> None:
  """Same key -> same samples for both methods, with and without a prefix; the key matters. The
  prefix kept is its first D // 2 dimensions in ``order`` (``[D]``; default raster order)."""
  key = jax.random.key(seed)
  naive = np.asarray(arm.sample(model, variables, key, num, method="naive", cond=cond))
  cached = np.asarray(arm.sample(model, variables, key, num, method="cached", cond=cond))
  np.testing.assert_array_equal(naive, cached)
  other = np.asarray(arm.sample(model, variables, jax.random.key(seed + 1), num, method="cached",
                                cond=cond))
  assert not np.array_equal(other, cached)
  prefix = np.random.default_rng(seed).integers(
      0, model.num_levels, size=(num,) + model.event_shape).astype(np.int32)
  k = model.num_dims // 2
  n_pre = np.asarray(arm.sample(model, variables, key, num, method="naive", cond=cond,
                                prefix=prefix, prefix_len=k))
  c_pre = np.asarray(arm.sample(model, variables, key, num, method="cached", cond=cond,
                                prefix=prefix, prefix_len=k))
  np.testing.assert_array_equal(n_pre, c_pre)
  kept = np.arange(model.num_dims)[:k] if order is None else np.asarray(order)[:k]
  np.testing.assert_array_equal(c_pre.reshape(num, -1)[:, kept], prefix.reshape(num, -1)[:, kept])


def chi_square_pvalue(samples, model, probs) -> float:
  """Pearson chi-square of sample counts against probabilities over all inputs."""
  flat = np.asarray(samples).reshape(len(samples), -1)
  index = np.ravel_multi_index(flat.T, (model.num_levels,) * model.num_dims)
  counts = np.bincount(index, minlength=len(probs)).astype(np.float64)
  expected = probs * len(samples)
  rare = expected < 5  # pool the rare cells so every expected count is at least 5
  obs = np.append(counts[~rare], counts[rare].sum())
  exp = np.append(expected[~rare], expected[rare].sum())
  if exp[-1] == 0:
    obs, exp = obs[:-1], exp[:-1]
  return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def check_sample_frequencies(model, variables, cond=None, num: int = 20000,
                             method: str = "cached") -> None:
  """Samples follow exp(log_prob) (chi-square at a fixed seed), and the same test rejects
  samples from a perturbed model. ``cond`` is None or batch 1."""
  xs = all_inputs(model)
  probs = np.exp(np.asarray(arm.log_prob(model, variables, xs, repeat_cond(cond, len(xs))),
                            np.float64))
  c = repeat_cond(cond, num)
  samples = np.asarray(arm.sample(model, variables, jax.random.key(0), num, method=method, cond=c))
  assert chi_square_pvalue(samples, model, probs) > 1e-3
  other = jax.tree.map(lambda p: p * 0.3, variables)
  wrong = np.asarray(arm.sample(model, other, jax.random.key(0), num, method=method, cond=c))
  assert chi_square_pvalue(wrong, model, probs) < 1e-6


def scaled(variables, scale: float):
  """Variables times a scale: larger weights make the distribution far from uniform."""
  return jax.tree.map(lambda p: p * scale, variables)


def gradient_products(name: str, shape: tuple[int, ...], levels: int, **overrides) -> int:
  """Convolutions and matrix products in the lowered gradient of the log-likelihood of the ``tiny``
  model ``name`` (with ``overrides``) over a batch of 2 (XLA compiles each of them separately)."""
  model = arm.models.create(name, event_shape=shape, num_levels=levels, size="tiny", **overrides)
  x = jnp.zeros((2,) + tuple(shape), jnp.int32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)
  grad = jax.grad(lambda v: api.log_prob_fn(model, v, x).sum())
  text = jax.jit(grad).lower(shapes).as_text()
  return text.count("stablehlo.convolution") + text.count("stablehlo.dot_general")


def check_scanned_program_does_not_grow(name: str, shape: tuple[int, ...], levels: int, depth: str,
                                        counts: tuple[int, int] = (2, 3), remat: bool = True) -> None:
  """The lowered gradient of a model with ``scan_blocks`` holds the same products at either depth
  ``counts`` of field ``depth``; unrolled, it holds more at the larger depth and more than the
  scanned one; with ``remat``, ``remat_blocks`` adds the backward pass's recomputed products."""
  small, large = counts

  def products(n, scan, **extra):
    return gradient_products(name, shape, levels, **{depth: n}, scan_blocks=scan, **extra)

  assert products(small, True) == products(large, True)
  assert products(large, False) > products(small, False) > products(small, True)
  if remat:
    assert products(large, True, remat_blocks=True) > products(large, True)
