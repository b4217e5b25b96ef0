"""CausalConv1D against a direct NumPy evaluation of y[t] = b + sum_k W_k x[t - (K-1-k) d], and
its queue step against its full pass (Paine et al. 2016)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from armodels_jax.layers import CausalConv1D


def _reference(x, kernel, bias, dilation):
  batch, length, _ = x.shape
  k_size = kernel.shape[0]
  y = np.zeros((batch, length, kernel.shape[2])) + bias
  for t in range(length):
    for k in range(k_size):
      src = t - (k_size - 1 - k) * dilation
      if src >= 0:
        y[:, t] += x[:, src] @ kernel[k]
  return y


@pytest.mark.parametrize("kernel_size,dilation", [(1, 1), (2, 1), (2, 3), (3, 2), (2, 16)])
def test_full_pass_matches_definition_and_steps(kernel_size, dilation):
  conv = CausalConv1D(3, 4, kernel_size=kernel_size, dilation=dilation)
  x = jax.random.normal(jax.random.key(0), (2, 11, 3))
  variables = conv.init(jax.random.key(1), x)
  params = jax.tree.map(lambda p: p + 0.3, variables["params"])  # a non-zero bias too
  full = np.asarray(conv.apply({"params": params}, x))
  ref = _reference(np.asarray(x, np.float64), np.asarray(params["kernel"], np.float64),
                   np.asarray(params["bias"], np.float64), dilation)
  np.testing.assert_allclose(full, ref, atol=1e-5)

  cache = {}
  if conv.queue_length:
    cache = jax.eval_shape(lambda: conv.init(jax.random.key(0), x[:, 0], jnp.int32(0)))["cache"]
    cache = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), cache)
    assert cache["queue"].shape == (conv.queue_length, 2, 3)
  steps = []
  for t in range(x.shape[1]):
    y, updated = conv.apply({"params": params, "cache": cache}, x[:, t], jnp.int32(t),
                            mutable=["cache"])
    cache = updated.get("cache", cache)
    steps.append(np.asarray(y))
  np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-5)


def test_bad_shapes_raise():
  conv = CausalConv1D(3, 4)
  with pytest.raises(ValueError, match=r"\(B, T, 3\)"):
    conv.init(jax.random.key(0), jnp.zeros((2, 5, 2)))
  with pytest.raises(ValueError, match="one step"):
    conv.init(jax.random.key(0), jnp.zeros((2, 5, 3)), jnp.int32(0))
  with pytest.raises(ValueError, match="dilation >= 1"):
    CausalConv1D(3, 4, dilation=0).init(jax.random.key(0), jnp.zeros((2, 5, 3)))
