"""Truncated BPTT in the training loop (char_rnn on generated text).

* With a zero learning rate, the loss of step s is the NLL of the windows ``b * C + s % C`` given every
  earlier window of their stream since the last reset: computed here independently by ``arm.log_prob``
  over the concatenated windows of each stream.
* The streamed evaluation equals the same reference over contiguous eval streams.
* A tiny run learns (the loss goes down, bits per character on the valid text too), writes decoded
  text samples and the vocabulary in model.json.
* A run stopped and resumed ends with the same state (carry included), bit for bit.
* Conditioning features reach the model through ``data.make_cond`` (a WaveNet with a global vector).
* On 4 (fake CPU) devices the carry is sharded along the batch and the run equals the 1-device run.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
import train_checks

import armodels_jax as arm
from armodels_jax import checkpointing
from armodels_jax import data
from armodels_jax import training
from armodels_jax.data import registry as data_registry
from armodels_jax.data import text
from armodels_jax.models import char_rnn  # noqa: F401  (registration, until the lead wires it)
from armodels_jax.training import loop
from armodels_jax.training import metrics as metrics_lib
from armodels_jax.training import state as state_lib


_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _text_loader(monkeypatch):
  """``data.load('text', ...)`` -> `text.load_text` (until the lead wires it into the registry)."""
  monkeypatch.setitem(data_registry._LOADERS, "text", text.load_text)


def _write_text(tmp_path, n=1200, seed=0):
  """A learnable text: words from a small lexicon, separated by spaces and newlines."""
  rng = np.random.default_rng(seed)
  words = ["the ", "cat ", "sat ", "on ", "a ", "mat\n"]
  out = "".join(rng.choice(words, size=n // 3))[:n]
  path = tmp_path / "input.txt"
  path.write_text(out, encoding="utf-8")
  return str(path)


def _config(path, **train):
  cfg = training.default_config()
  cfg.model.name = "char_rnn"
  cfg.model.size = "tiny"
  cfg.data.name = "text"
  cfg.data.path = path
  cfg.data.seq_len = 8
  t = cfg.train
  t.tbptt = True
  t.batch_size = 4
  t.num_steps = 5
  t.learning_rate = 1e-2
  t.log_every = 1
  t.eval_every = 0
  t.eval_batch_size = 3
  t.eval_max_examples = 0
  t.checkpoint_every = 0
  t.sample_every = 0
  t.num_samples = 2
  for k, v in train.items():
    t[k] = v
  return cfg


def _stream_reference(model, variables, windows, streams):
  """Per window of each stream: its NLL (nats) given the stream's earlier windows, from
  ``arm.log_prob`` of the concatenation. ``streams``: lists of window indices."""
  length = windows.shape[1]
  out = {}
  for stream in streams:
    joined = windows[stream].reshape(1, -1)  # [1, len(stream) * T]
    whole = model.clone(event_shape=(joined.shape[1],))
    per_dim = np.asarray(arm.log_prob(whole, variables, joined, reduce=False), np.float64)[0]
    for k, w in enumerate(stream):
      out[w] = -per_dim[k * length:(k + 1) * length].sum()
  return out


def test_step_losses_follow_the_parallel_streams(tmp_path):
  path = _write_text(tmp_path)  # 1200 chars: 1080 train -> 135 windows of 8
  ds = text.load_text(path=path, seq_len=8)
  num_windows, batch = ds.train.shape[0], 4
  per_stream = num_windows // batch  # C = 33
  cfg = _config(path, learning_rate=0.0, num_steps=per_stream + 2)  # crosses one reset
  workdir = str(tmp_path / "run")
  result = training.train_and_evaluate(cfg, workdir)

  model, variables, _ = training.restore(workdir)
  streams = [list(range(b * per_stream, (b + 1) * per_stream)) for b in range(batch)]
  ref = _stream_reference(model, variables, ds.train, streams)
  losses = {r["step"]: r["loss"] for r in metrics_lib.read_metrics(workdir, "train")}
  for s in range(cfg.train.num_steps):
    want = np.mean([ref[b * per_stream + s % per_stream] for b in range(batch)])
    np.testing.assert_allclose(losses[s + 1], want, rtol=2e-5, err_msg=f"step {s}")
  # After the reset the first windows are predicted afresh: the loss of step C equals step 0's.
  np.testing.assert_allclose(losses[per_stream + 1], losses[1], rtol=1e-6)
  assert losses[2] != losses[1]

  # Streamed evaluation: 12 valid windows as 3 contiguous streams of 4, the state carried.
  valid = ds.valid
  assert valid.shape[0] == 15  # 120 characters
  ref = _stream_reference(model, variables, valid, [list(range(0, 5)), list(range(5, 10)),
                                                    list(range(10, 15))])
  want = np.mean([ref[w] for w in range(15)])
  np.testing.assert_allclose(result["valid_nll_nats"], want, rtol=1e-5)
  np.testing.assert_allclose(result["valid_bits_per_dim"], want / (8 * math.log(2)), rtol=1e-5)
  # A partial last stream (7 windows, at most 3 streams: 3 + 3 + 1) and 2 streams.
  for count, size, groups in ((7, 3, [[0, 1, 2], [3, 4, 5], [6]]), (15, 2, [list(range(8)),
                                                                          list(range(8, 15))])):
    got = training.evaluate(model, variables, valid[:count], size, stream=True)
    ref = _stream_reference(model, variables, valid[:count], groups)
    assert got["n"] == count
    np.testing.assert_allclose(got["nll_nats"], np.mean([ref[w] for w in range(count)]), rtol=1e-5)
  # Without stream=True every window starts afresh (a different, per-window NLL).
  independent = training.evaluate(model, variables, valid, 3)
  want = -np.mean(np.asarray(arm.log_prob(model, variables, valid), np.float64))
  np.testing.assert_allclose(independent["nll_nats"], want, rtol=1e-5)


def test_tiny_tbptt_run_learns_and_writes_text(tmp_path):
  path = _write_text(tmp_path)
  cfg = _config(path, num_steps=60, sample_every=60, eval_every=60)
  workdir = str(tmp_path / "run")
  result = training.train_and_evaluate(cfg, workdir)

  train = metrics_lib.read_metrics(workdir, "train")
  first = np.mean([r["loss"] for r in train[:5]])
  last = np.mean([r["loss"] for r in train[-5:]])
  assert last < 0.6 * first, (first, last)
  # Bits per character on the valid text: well below a uniform guess over the vocabulary.
  info = loop.read_model_info(workdir)
  vocab = info["info"]["vocab"]
  assert info["info"]["kind"] == "text" and vocab == sorted(set(open(path).read()))
  assert info["num_levels"] == len(vocab) and info["event_shape"] == [8]
  assert result["valid_bits_per_dim"] < 0.7 * math.log2(len(vocab))
  sample = (tmp_path / "run" / "samples" / "step_000060.txt").read_text(encoding="utf-8")
  paragraphs = sample.rstrip("\n").split("\n\n")
  assert len("".join(paragraphs)) >= 2 * 8 - 2 and set(sample) <= set(vocab)



def test_resume_matches_uninterrupted_run(tmp_path):
  path = _write_text(tmp_path, n=500)  # 450 train characters, 50 valid
  cfg = _config(path, num_steps=7, checkpoint_every=2, keep_checkpoints=0, eval_max_examples=6)
  cfg.data.seq_len = 32  # 14 train windows of 32, C = 3: resets at steps 0, 3, 6.
  full_dir, resumed_dir = str(tmp_path / "full"), str(tmp_path / "resumed")

  full = training.train_and_evaluate(cfg, full_dir)
  stopped = training.train_and_evaluate(cfg, resumed_dir, stop_at_step=5)
  assert stopped["stopped"] and checkpointing.latest_step(resumed_dir) == 4
  resumed = training.train_and_evaluate(cfg, resumed_dir)

  losses = lambda d: {r["step"]: r["loss"] for r in metrics_lib.read_metrics(d, "train")}  # noqa: E731
  assert losses(full_dir) == losses(resumed_dir)
  a, b = train_checks.load_state(full_dir, cfg, 7, cfg.train.batch_size), train_checks.load_state(resumed_dir, cfg, 7, cfg.train.batch_size)
  assert set(a) == {"step", "params", "opt_state", "ema_params", "rng", "carry"}
  for name in ("params", "ema_params", "opt_state", "rng", "carry"):
    for x, y in zip(jax.tree.leaves(a[name]), jax.tree.leaves(b[name])):
      np.testing.assert_array_equal(x, y, err_msg=name)
  # The checkpointed carry is a real state: after step 7 (window 0 of each stream after the reset
  # at step 6), the last token is each stream's first window's last character.
  ds = text.load_text(path=path, seq_len=32)
  np.testing.assert_array_equal(a["carry"]["token"], ds.train[np.arange(4) * 3, -1])
  assert np.abs(a["carry"]["h"]).max() > 0
  # The carry checkpointed at step 4 (after the reset at step 3), which the resumed run continued from.
  mid = train_checks.load_state(resumed_dir, cfg, 4, cfg.train.batch_size)
  np.testing.assert_array_equal(mid["carry"]["token"], ds.train[np.arange(4) * 3, -1])
  assert full["valid_nll_nats"] == resumed["valid_nll_nats"]


def test_tbptt_errors(tmp_path):
  cfg = training.default_config()
  cfg.model.name, cfg.data.name = "made", "digits"
  cfg.train.tbptt = True
  cfg.train.num_steps = 1
  with pytest.raises(ValueError, match="stateful"):
    training.train_and_evaluate(cfg, str(tmp_path / "made"))
  path = _write_text(tmp_path, n=400)  # 360 train characters: 11 windows of 32
  cfg = _config(path, batch_size=16)
  cfg.data.seq_len = 32
  with pytest.raises(ValueError, match="at least that many train windows, got 11"):
    training.train_and_evaluate(cfg, str(tmp_path / "few"))
  model = arm.models.create("made", event_shape=(4,), num_levels=2, size="tiny")
  with pytest.raises(ValueError, match="stateful"):
    training.evaluate(model, arm.init(model, jax.random.key(0)), np.zeros((2, 4), np.int32),
                      stream=True)


def test_conditioning_features_reach_the_model(tmp_path, monkeypatch):
  """A dataset with labels and a global feature vector: the loop and `evaluate` pass
  ``make_cond(labels, features)``; samples of non-image sequences are saved as .npy."""
  def load_fake(**unused):
    del unused
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (24, 6)).astype(np.int32)
    labels = (np.arange(24) % 3).astype(np.int32)
    features = rng.normal(size=(24, 2)).astype(np.float32)
    return data.Dataset(name="fake", train=x[:16], valid=x[16:], test=None,
                        train_labels=labels[:16], valid_labels=labels[16:], test_labels=None,
                        event_shape=(6,), num_levels=4, train_features=features[:16],
                        valid_features=features[16:], info={"kind": "sequence"})

  monkeypatch.setitem(data_registry._LOADERS, "fake", load_fake)
  cfg = training.default_config()
  cfg.model.name, cfg.model.size, cfg.model.conditional = "wavenet", "tiny", True
  cfg.model.overrides.num_classes = 3
  cfg.model.overrides.global_dim = 2
  cfg.data.name = "fake"
  t = cfg.train
  t.batch_size, t.num_steps, t.log_every, t.eval_every = 4, 2, 1, 0
  t.checkpoint_every, t.sample_every, t.num_samples, t.eval_batch_size = 0, 2, 3, 8
  result = training.train_and_evaluate(cfg, str(tmp_path / "run"))
  model, variables, _ = training.restore(str(tmp_path / "run"))
  ds = load_fake()
  cond = data.make_cond(ds.valid_labels, ds.valid_features)
  assert set(cond) == {"label", "global"}
  want = -np.mean(np.asarray(arm.log_prob(model, variables, ds.valid, cond), np.float64))
  np.testing.assert_allclose(result["valid_nll_nats"], want, rtol=1e-5)
  got = training.evaluate(model, variables, ds.valid, 3, ds.valid_labels, features=ds.valid_features)
  np.testing.assert_allclose(got["nll_nats"], want, rtol=1e-5)
  other = training.evaluate(model, variables, ds.valid, 3, ds.valid_labels,
                            features=ds.valid_features + 1.0)
  assert abs(other["nll_nats"] - want) > 1e-4  # the features do matter
  samples = np.load(tmp_path / "run" / "samples" / "step_000002.npy")
  assert samples.shape == (3, 6) and samples.dtype == np.int32
  assert loop.read_model_info(str(tmp_path / "run"))["info"] == {"kind": "sequence"}


_SHARDED_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    import numpy as np
    from armodels_jax import checkpointing, training
    from armodels_jax.data import registry, text
    from armodels_jax.models import char_rnn
    from armodels_jax.training import metrics as metrics_lib
    from armodels_jax.training import state as state_lib

    path, workdir, out = sys.argv[1:4]
    registry._LOADERS["text"] = text.load_text
    cfg = training.default_config()
    cfg.model.name, cfg.model.size, cfg.data.name, cfg.data.path = "char_rnn", "tiny", "text", path
    cfg.data.seq_len = 8
    t = cfg.train
    t.tbptt, t.batch_size, t.num_steps, t.learning_rate = True, 4, 4, 1e-2
    t.log_every, t.eval_every, t.eval_batch_size, t.checkpoint_every = 1, 0, 3, 0
    result = training.train_and_evaluate(cfg, workdir)
    model, _, _ = training.restore(workdir)
    target = state_lib.state_to_dict(state_lib.abstract_train_state(
        model, training.make_optimizer(t), training.make_mesh(), carry_batch_size=4))
    manager = checkpointing.make_manager(workdir, read_only=True)
    state = checkpointing.restore_state(manager, 4, target)
    manager.close()
    h = state["carry"]["h"]
    report = {"devices": jax.device_count(),
              "carry_shards": sorted({tuple(s.data.shape) for s in h.addressable_shards}),
              "losses": [r["loss"] for r in metrics_lib.read_metrics(workdir, "train")],
              "valid_nll_nats": result["valid_nll_nats"], "carry_h": np.asarray(h).tolist()}
    with open(out, "w") as f:
        json.dump(report, f)
""")


def test_four_devices_shard_the_carry_and_match_one(tmp_path):
  path = _write_text(tmp_path, n=400)
  procs = []
  for n in (1, 4):
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n}"
    env = dict(os.environ, XLA_FLAGS=flags,
               JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = _REPO + os.pathsep + env.get("PYTHONPATH", "")
    out = str(tmp_path / f"out{n}.json")
    procs.append((subprocess.Popen(
        [sys.executable, "-c", _SHARDED_SCRIPT, path, str(tmp_path / f"run{n}"), out], cwd=_REPO,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), out))
  reports = []
  for proc, out in procs:
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log[-4000:]
    with open(out) as f:
      reports.append(json.load(f))
  one, four = reports
  assert one["devices"] == 1 and four["devices"] == 4
  assert four["carry_shards"] == [[1, 1, 16]]  # [B, L, H] = [4, 1, 16] split 4 ways on the batch
  assert one["carry_shards"] == [[4, 1, 16]]
  np.testing.assert_allclose(four["losses"], one["losses"], rtol=1e-5)
  np.testing.assert_allclose(four["valid_nll_nats"], one["valid_nll_nats"], rtol=1e-5)
  np.testing.assert_allclose(four["carry_h"], one["carry_h"], atol=1e-5)
