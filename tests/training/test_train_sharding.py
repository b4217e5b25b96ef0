"""Data parallelism: a run on 4 (fake CPU) devices equals the same run on 1 device.

Each run is a subprocess, since the number of CPU devices is fixed when jax is first imported.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_SCRIPT = textwrap.dedent("""
    import json, sys
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
    report = {"devices": jax.device_count()}
    if jax.device_count() > 1:
        bad = training.default_config()
        bad.train.batch_size = jax.device_count() + 2
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
    report["losses"] = [r["loss"] for r in metrics_lib.read_metrics(workdir, "train")]
    report["valid_nll_nats"] = result["valid_nll_nats"]
    leaves = {jax.tree_util.keystr(p): np.asarray(v)
              for p, v in jax.tree_util.tree_leaves_with_path(variables)}
    np.savez(out + ".npz", **leaves)
    with open(out + ".json", "w") as f:
        json.dump(report, f)
""")


def _start(tmp_path, num_devices):
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={num_devices}"
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
  runs = [_start(tmp_path, 1), _start(tmp_path, 4)]  # The two runs share the 2 cores.
  (one, params1), (four, params4) = [_finish(*run) for run in runs]

  assert one["devices"] == 1 and four["devices"] == 4
  assert "divisible by the number of devices (4)" in four["bad_batch_error"]
  assert four["param_devices"] == 4 and four["param_replicated"]
  assert four["batch_shard_shapes"] == [[2, 8, 8, 1]]  # A batch of 8 is split 4 ways.
  np.testing.assert_allclose(four["losses"], one["losses"], rtol=1e-5)
  np.testing.assert_allclose(four["valid_nll_nats"], one["valid_nll_nats"], rtol=1e-5)
  assert sorted(params1) == sorted(params4) and params1
  for name in params1:
    np.testing.assert_allclose(params4[name], params1[name], rtol=1e-5, atol=1e-5, err_msg=name)
