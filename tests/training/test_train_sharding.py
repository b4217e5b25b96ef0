"""Data parallelism: a run on 4 (fake CPU) devices, and one on the CPU split in 2 by
``train.cpu_devices``, equal the same run on 1 device.

Each run is a subprocess, since the number of CPU devices is fixed when jax is first imported.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import jax
    import numpy as np
    from armodels_jax import training
    from armodels_jax.training import metrics as metrics_lib

    workdir, out = sys.argv[1], sys.argv[2]
    cfg = training.default_config()
    cfg.model.name, cfg.model.size, cfg.data.name = "made", "tiny", "digits"
    t = cfg.train
    t.batch_size, t.num_steps, t.learning_rate, t.ema_decay = 8, 3, 1e-2, 0.5
    t.log_every, t.eval_every, t.eval_batch_size, t.eval_max_examples = 1, 0, 12, 30
    t.checkpoint_every, t.sample_every = 0, 0
    t.cpu_devices = int(os.environ.get("CPU_DEVICES", "0"))
    if t.cpu_devices:  # as `armodels train` does, before JAX starts (train_and_evaluate repeats it)
        training.sharding.set_cpu_devices(t.cpu_devices)
    report = {"devices": jax.device_count()}
    if jax.device_count() > 1:
        bad = training.default_config()
        bad.train.batch_size = jax.device_count() + 1  # never divisible: fails before training
        try:
            training.train_and_evaluate(bad, workdir + "_bad")
        except ValueError as e:
            report["bad_batch_error"] = str(e)
    result = training.train_and_evaluate(cfg, workdir)
    model, variables, _ = training.restore(workdir)
    leaf = jax.tree.leaves(variables)[0]
    report["param_replicated"] = bool(leaf.sharding.is_fully_replicated)
    from armodels_jax import data
    mesh = training.make_mesh()
    x = data.global_batch(data.load("digits").train, np.arange(8), training.batch_sharding(mesh))
    report["batch_shard_shapes"] = sorted({tuple(s.data.shape) for s in x.addressable_shards})
    report["param_devices"] = len(leaf.sharding.device_set)
    report["one_program_at_a_time"] = training.sharding.one_program_at_a_time(mesh)
    report["losses"] = [r["loss"] for r in metrics_lib.read_metrics(workdir, "train")]
    report["valid_nll_nats"] = result["valid_nll_nats"]
    leaves = {jax.tree_util.keystr(p): np.asarray(v)
              for p, v in jax.tree_util.tree_leaves_with_path(variables)}
    np.savez(out + ".npz", **leaves)
    with open(out + ".json", "w") as f:
        json.dump(report, f)
""")


def _start(tmp_path, num_devices, cpu_devices=0):
  env = dict(os.environ)
  if cpu_devices:
    env["CPU_DEVICES"] = str(cpu_devices)
    num_devices = f"cpu{cpu_devices}"
  else:
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={num_devices}"
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  out = str(tmp_path / f"out{num_devices}")
  proc = subprocess.Popen(
      [sys.executable, "-c", _SCRIPT, str(tmp_path / f"run{num_devices}"), out],
      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  return proc, out


def _finish(proc, out):
  log, _ = proc.communicate(timeout=300)
  assert proc.returncode == 0, log[-4000:]
  with open(out + ".json") as f:
    report = json.load(f)
  return report, dict(np.load(out + ".npz"))


def test_four_devices_match_one(tmp_path):
  runs = [_start(tmp_path, 1), _start(tmp_path, 4), _start(tmp_path, 0, cpu_devices=2)]
  (one, params1), (four, params4), (two, params2) = [_finish(*run) for run in runs]

  assert one["devices"] == 1 and four["devices"] == 4
  assert "divisible by the number of devices (4)" in four["bad_batch_error"]
  assert four["param_devices"] == 4 and four["param_replicated"]
  assert four["batch_shard_shapes"] == [[2, 8, 8, 1]]  # A batch of 8 is split 4 ways.
  # Several CPU devices in one process: the loops keep one program in flight (their collectives meet
  # in memory and can deadlock otherwise); one device runs asynchronously.
  assert four["one_program_at_a_time"] and two["one_program_at_a_time"]
  assert not one["one_program_at_a_time"]
  np.testing.assert_allclose(four["losses"], one["losses"], rtol=1e-5)
  np.testing.assert_allclose(four["valid_nll_nats"], one["valid_nll_nats"], rtol=1e-5)
  assert sorted(params1) == sorted(params4) and params1
  for name in params1:
    np.testing.assert_allclose(params4[name], params1[name], rtol=1e-5, atol=1e-5, err_msg=name)
  # train.cpu_devices=2: the same run data parallel over two CPU devices.
  assert two["devices"] == 2 and two["param_devices"] == 2
  assert two["batch_shard_shapes"] == [[4, 8, 8, 1]]
  np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5)
  for name in params1:
    np.testing.assert_allclose(params2[name], params1[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_cpu_devices_after_jax_started_is_an_error():
  import jax  # pylint: disable=g-import-not-at-top
  from armodels_jax.training import sharding  # pylint: disable=g-import-not-at-top
  have = len(jax.devices("cpu"))
  sharding.set_cpu_devices(0)  # no-op
  sharding.set_cpu_devices(have)  # already so: fine
  with pytest.raises(ValueError, match="before JAX runs anything"):
    sharding.set_cpu_devices(have + 1)


def test_each_device_draws_its_own_dropout_and_the_same_masks():
  """Under shard_map every device gets the step's key: the dropout stream is folded with the device's
  index (different noise on each slice of the batch), the MADE mask stream is not (one mask set per
  step), and without an index the streams are the ones `api.log_prob_fn` derives from the key."""
  import jax  # pylint: disable=g-import-not-at-top
  from armodels_jax.training import steps  # pylint: disable=g-import-not-at-top
  key = jax.random.PRNGKey(3)
  mask_key, dropout_key = jax.random.split(key)
  one = steps._rngs(key)
  np.testing.assert_array_equal(jax.random.key_data(one["masks"]), jax.random.key_data(mask_key))
  np.testing.assert_array_equal(jax.random.key_data(one["dropout"]), jax.random.key_data(dropout_key))
  shard0, shard1 = steps._rngs(key, 0), steps._rngs(key, 1)
  np.testing.assert_array_equal(jax.random.key_data(shard0["masks"]), jax.random.key_data(mask_key))
  np.testing.assert_array_equal(jax.random.key_data(shard1["masks"]), jax.random.key_data(mask_key))
  assert not np.array_equal(jax.random.key_data(shard0["dropout"]), jax.random.key_data(shard1["dropout"]))
