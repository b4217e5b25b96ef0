"""CausalSelfAttention: a float64 NumPy reference, decode == full, causality, no NaN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from armodels_jax.layers.attention import CausalSelfAttention, causal_mask

B, T, FQ, FKV = 2, 5, 3, 4


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  q = rng.normal(size=(B, T, FQ)).astype(np.float32)
  kv = rng.normal(size=(B, T, FKV)).astype(np.float32)
  return q, kv


def _init(layer, q, kv, seed=1):
  variables = layer.init(jax.random.key(seed), q, kv)
  # Larger weights so the softmax is far from uniform and a wrong mask shows.
  return jax.tree.map(lambda p: p * 3.0 + 0.1, variables)


def _reference(params, q, kv, heads, strict):
  """Float64 NumPy attention, one query at a time, straight from the definition."""
  f64 = lambda a: np.asarray(a, np.float64)
  proj = lambda name, x: (np.einsum("btf,fnk->btnk", f64(x), f64(params[name]["kernel"]))
                          + f64(params[name]["bias"]))
  query, key, value = proj("query", q), proj("key", kv), proj("value", kv)
  dk = query.shape[-1]
  out = np.zeros(value.shape, np.float64)  # [B, T, N, V / N]
  for b in range(q.shape[0]):
    for n in range(heads):
      for i in range(q.shape[1]):
        seen = list(range(i)) if strict else list(range(i + 1))
        if not seen:
          continue
        logits = np.array([query[b, i, n] @ key[b, j, n] for j in seen]) / np.sqrt(dk)
        w = np.exp(logits - logits.max())
        w /= w.sum()
        out[b, i, n] = sum(w[a] * value[b, j, n] for a, j in enumerate(seen))
  return out.reshape(q.shape[0], q.shape[1], -1)


@pytest.mark.parametrize("heads,strict", [(1, True), (2, True), (1, False), (2, False)])
def test_full_pass_matches_float64_reference(heads, strict):
  q, kv = _inputs()
  layer = CausalSelfAttention(key_size=4, value_size=6, num_heads=heads, strict=strict)
  variables = _init(layer, q, kv)
  out = np.asarray(layer.apply(variables, q, kv))
  assert out.shape == (B, T, 6)
  ref = _reference(variables["params"], q, kv, heads, strict)
  np.testing.assert_allclose(out, ref, atol=2e-5, rtol=1e-5)
  if strict:
    np.testing.assert_array_equal(out[:, 0], 0.0)  # row 0 attends to nothing


def test_reference_rejects_the_wrong_mask():
  """The comparison above bites: strict and non-strict attention differ."""
  q, kv = _inputs()
  layer = CausalSelfAttention(key_size=4, value_size=6, strict=True)
  variables = _init(layer, q, kv)
  out = np.asarray(layer.apply(variables, q, kv))
  ref = _reference(variables["params"], q, kv, 1, strict=False)
  assert np.abs(out - ref).max() > 1e-2


@pytest.mark.parametrize("strict", [True, False])
def test_causality_by_gradients(strict):
  """d out[i] / d kv[j] is non-zero exactly for the positions i may see; q only at i."""
  q, kv = _inputs()
  layer = CausalSelfAttention(key_size=4, value_size=3, strict=strict)
  variables = _init(layer, q, kv)
  for i in range(T):
    f = lambda q, kv: layer.apply(variables, q, kv)[0, i].sum()
    dq, dkv = jax.grad(f, argnums=(0, 1))(jnp.asarray(q), jnp.asarray(kv))
    seen_kv = np.abs(np.asarray(dkv[0])).sum(-1) > 0  # [T]
    np.testing.assert_array_equal(seen_kv, np.asarray(causal_mask(T, strict)[i]))
    seen_q = np.abs(np.asarray(dq[0])).sum(-1) > 0
    # The query matters only where there are at least two keys to weigh.
    expected_q = np.arange(T) == i if (i >= 2 or not strict and i >= 1) else np.zeros(T, bool)
    np.testing.assert_array_equal(seen_q, expected_q)
    # Other examples of the batch are never seen.
    assert not np.asarray(dkv[1]).any() and not np.asarray(dq[1]).any()


def test_no_nan_in_forward_or_gradient():
  q, kv = _inputs()
  layer = CausalSelfAttention(key_size=4, value_size=4, num_heads=2, strict=True)
  variables = _init(layer, q, kv)
  big = kv * 1e3  # huge logits too

  def loss(params, q, kv):
    return (layer.apply({"params": params}, q, kv) ** 2).sum()

  for inputs in ((q, kv), (q, big)):
    assert np.isfinite(np.asarray(layer.apply(variables, *inputs))).all()
    grads = jax.grad(loss, argnums=(0, 1, 2))(variables["params"], *inputs)
    for g in jax.tree.leaves(grads):
      assert np.isfinite(np.asarray(g)).all()
  # Length 1 under the strict mask: nothing to attend to anywhere.
  out = layer.apply(variables, q[:, :1], kv[:, :1])
  np.testing.assert_array_equal(np.asarray(out), 0.0)


def _decode_all(layer, variables, q, kv, shift):
  """Runs the decode path over every position (a lax.scan), returns ``[B, T, V]``."""
  decoder = layer.clone(decode=True, max_length=T)
  cache = decoder.init(jax.random.key(0), q[:, 0], kv[:, 0], jnp.int32(0))["cache"]
  cache = jax.tree.map(jnp.zeros_like, cache)

  def step(cache, t):
    if shift:  # write position t - 1 at step t (the key of t is not known yet)
      kv_t = jnp.take(kv, jnp.maximum(t - 1, 0), axis=1)
      out, upd = decoder.apply({**variables, "cache": cache}, jnp.take(q, t, axis=1), kv_t, t,
                               jnp.maximum(t - 1, 0), mutable=["cache"])
    else:
      out, upd = decoder.apply({**variables, "cache": cache}, jnp.take(q, t, axis=1),
                               jnp.take(kv, t, axis=1), t, mutable=["cache"])
    return upd["cache"], out

  _, outs = jax.lax.scan(step, cache, jnp.arange(T))
  return np.asarray(jnp.moveaxis(outs, 0, 1))


@pytest.mark.parametrize("heads,strict,shift", [(1, True, False), (2, True, False),
                                                (2, False, False), (1, True, True)])
def test_decode_equals_full_at_every_position(heads, strict, shift):
  q, kv = _inputs(3)
  layer = CausalSelfAttention(key_size=4, value_size=6, num_heads=heads, strict=strict)
  variables = _init(layer, q, kv)
  full = np.asarray(layer.apply(variables, q, kv))
  decoded = _decode_all(layer, variables, jnp.asarray(q), jnp.asarray(kv), shift)
  np.testing.assert_allclose(decoded, full, atol=1e-5, rtol=0)
  assert np.isfinite(decoded).all()


def test_decode_cache_shapes_and_parameters_match_full():
  q, kv = _inputs()
  layer = CausalSelfAttention(key_size=4, value_size=6, num_heads=2)
  full_params = layer.init(jax.random.key(0), q, kv)["params"]
  decoded = layer.clone(decode=True, max_length=T).init(
      jax.random.key(0), q[:, 0], kv[:, 0], jnp.int32(0))
  assert jax.tree.map(np.shape, decoded["params"]) == jax.tree.map(np.shape, full_params)
  assert decoded["cache"]["keys"].shape == (B, T, 2, 2)
  assert decoded["cache"]["values"].shape == (B, T, 2, 3)


@pytest.mark.parametrize("kwargs,args,match", [
    (dict(key_size=3, value_size=4, num_heads=2), "full", "key_size divisible"),
    (dict(key_size=0, value_size=4), "full", "key_size >= 1"),
    (dict(key_size=4, value_size=4, decode=True), "step", "max_length"),
    (dict(key_size=4, value_size=4), "mismatch", "same B and T"),
    (dict(key_size=4, value_size=4, decode=True, max_length=T), "no_t", "position t"),
])
def test_bad_configuration_raises(kwargs, args, match):
  q, kv = _inputs()
  layer = CausalSelfAttention(**kwargs)
  call = {
      "full": lambda: layer.init(jax.random.key(0), q, kv),
      "step": lambda: layer.init(jax.random.key(0), q[:, 0], kv[:, 0], 0),
      "mismatch": lambda: layer.init(jax.random.key(0), q, kv[:, :2]),
      "no_t": lambda: layer.init(jax.random.key(0), q[:, 0], kv[:, 0]),
  }[args]
  with pytest.raises(ValueError, match=match):
    call()
