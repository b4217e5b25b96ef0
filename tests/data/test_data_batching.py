"""Tests of stateless batching (`batch_indices`) and `global_batch`."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from armodels_jax import data


def _reference_stream(n, seed, num_epochs):
  """The order of the examples, written out epoch by epoch (stateful)."""
  return np.concatenate([np.random.default_rng([seed, e]).permutation(n)
                         for e in range(num_epochs)])


def test_batch_indices_is_deterministic_and_seeded():
  a = data.batch_indices(100, 8, seed=3, step=5)
  np.testing.assert_array_equal(a, data.batch_indices(100, 8, seed=3, step=5))
  assert a.shape == (8,) and np.issubdtype(a.dtype, np.integer)
  assert not np.array_equal(a, data.batch_indices(100, 8, seed=4, step=5))
  assert not np.array_equal(a, data.batch_indices(100, 8, seed=3, step=6))


def test_batch_indices_covers_each_epoch_exactly_once():
  n, batch = 10, 4  # batches straddle epoch boundaries
  stream = np.concatenate([data.batch_indices(n, batch, 0, s) for s in range(10)])
  epochs = stream.reshape(4, n)
  for epoch in epochs:
    np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
  assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch


@pytest.mark.parametrize("n,batch", [(10, 4), (7, 7), (5, 12), (1000, 32)])
def test_batch_indices_is_step_addressable(n, batch):
  seed = 11
  stream = _reference_stream(n, seed, num_epochs=60 * batch // n + 2)
  steps = [37, 0, 59, 3, 37, 1]  # any order: no hidden iterator state
  for step in steps:
    np.testing.assert_array_equal(
        data.batch_indices(n, batch, seed, step),
        stream[step * batch:(step + 1) * batch])


def test_resumed_run_sees_the_same_batches():
  full = [data.batch_indices(50, 16, 2, s) for s in range(12)]
  resumed = [data.batch_indices(50, 16, 2, s) for s in range(7, 12)]
  for a, b in zip(full[7:], resumed):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("args", [(0, 4, 0, 0), (10, 0, 0, 0), (10, 4, -1, 0),
                                  (10, 4, 0, -1), (10, 4.0, 0, 0)])
def test_batch_indices_rejects_bad_arguments(args):
  with pytest.raises(ValueError, match="expected an integer"):
    data.batch_indices(*args)


def _data_sharding():
  mesh = Mesh(np.array(jax.devices()), ("data",))
  return NamedSharding(mesh, P("data"))


def test_global_batch_single_process():
  sharding = _data_sharding()
  batch = 4 * jax.device_count()
  x = np.arange(40 * 6).reshape(40, 2, 3).astype(np.int32)
  y = np.arange(40).astype(np.int32) * 10
  indices = data.batch_indices(40, batch, seed=0, step=3)
  gx, gy, none = data.global_batch((x, y, None), indices, sharding)
  assert none is None
  assert isinstance(gx, jax.Array) and gx.shape == (batch, 2, 3)
  assert gx.sharding == sharding and gy.sharding == sharding
  np.testing.assert_array_equal(np.asarray(gx), x[indices])
  np.testing.assert_array_equal(np.asarray(gy), y[indices])
  single = data.global_batch(x, indices, sharding)
  np.testing.assert_array_equal(np.asarray(single), x[indices])
  with pytest.raises(ValueError, match=r"\[0, 40\)"):
    data.global_batch(x, indices + 40, sharding)


def test_global_batch_takes_this_hosts_contiguous_slice(monkeypatch):
  captured = {}

  def fake_make_array(sharding, local, global_shape=None):
    captured.update(sharding=sharding, local=local, global_shape=global_shape)
    return "global"

  monkeypatch.setattr(jax, "process_count", lambda: 2)
  monkeypatch.setattr(jax, "process_index", lambda: 1)
  monkeypatch.setattr(jax, "make_array_from_process_local_data",
                      fake_make_array)
  x = np.arange(20).reshape(10, 2)
  indices = np.array([9, 3, 5, 1, 0, 7])
  assert data.global_batch(x, indices, "s") == "global"
  np.testing.assert_array_equal(captured["local"], x[[1, 0, 7]])
  assert captured["global_shape"] == (6, 2) and captured["sharding"] == "s"
  with pytest.raises(ValueError, match=r"divisible .* \(2\), got 5"):
    data.global_batch(x, indices[:5], "s")
  monkeypatch.setattr(jax, "process_count", lambda: 4)
  with pytest.raises(ValueError, match="divisible"):
    data.global_batch(x, indices, "s")


def test_local_slice():
  assert data.local_slice(12, 2, 3) == slice(8, 12)
  with pytest.raises(ValueError, match="divisible"):
    data.local_slice(10, 0, 3)


def test_global_batch_on_four_fake_devices():
  script = textwrap.dedent("""
      import jax, numpy as np
      from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
      from armodels_jax import data
      assert jax.device_count() == 4, jax.devices()
      sharding = NamedSharding(Mesh(np.array(jax.devices()), ("data",)), P("data"))
      x = np.arange(30 * 3).reshape(30, 3)
      idx = data.batch_indices(30, 8, seed=1, step=4)
      g = data.global_batch(x, idx, sharding)
      assert g.shape == (8, 3)
      np.testing.assert_array_equal(np.asarray(g), x[idx])
      for shard in g.addressable_shards:
        np.testing.assert_array_equal(np.asarray(shard.data), x[idx][shard.index])
        assert shard.data.shape == (2, 3)
      print("OK", len(g.addressable_shards))
  """)
  flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
  env = dict(os.environ, XLA_FLAGS=flags,
             JAX_PLATFORMS="cpu")
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))
  out = subprocess.run([sys.executable, "-c", script], env=env, cwd=root,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "OK 4"
