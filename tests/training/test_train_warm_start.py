"""``train.init_from``: a new run starts from another run's (or an export's) parameters."""

import importlib.util
import json
import os
import pathlib

import jax
import numpy as np
import pytest
import train_checks

from armodels_jax import training


def _config(**train):
  return train_checks.tiny_config(**{"learning_rate": 1e-2, "ema_decay": 0.5, **train})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("source"))
  training.train_and_evaluate(_config(), workdir)
  return workdir


def _leaves(workdir):
  return jax.tree.leaves(jax.device_get(training.restore(workdir)[1]["params"]))


def test_warm_start_begins_from_the_source_parameters(source, tmp_path):
  # With a learning rate of 0 the parameters never move: the new run ends holding what it began with
  # (its EMA, d * p + (1 - d) * p, to a float32 rounding).
  frozen = str(tmp_path / "frozen")
  result = training.train_and_evaluate(_config(learning_rate=0.0, init_from=source), frozen)
  assert result["step"] == 2  # The step count starts afresh.
  for got, want in zip(_leaves(frozen), _leaves(source), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  # A run from the seed's fresh parameters does not hold them.
  cold = str(tmp_path / "cold")
  training.train_and_evaluate(_config(learning_rate=0.0), cold)
  assert any(not np.array_equal(a, b) for a, b in zip(_leaves(cold), _leaves(source), strict=True))


def test_warm_start_rejects_a_missing_source_and_other_shapes(source, tmp_path):
  with pytest.raises(ValueError, match="no such directory"):
    training.train_and_evaluate(_config(init_from=str(tmp_path / "nowhere")), str(tmp_path / "a"))
  os.makedirs(tmp_path / "empty")
  with pytest.raises(ValueError, match="exported checkpoint directory"):
    training.train_and_evaluate(_config(init_from=str(tmp_path / "empty")), str(tmp_path / "b"))
  wider = _config(init_from=source)
  wider.model.overrides.hidden_sizes = (40,)
  with pytest.raises(ValueError, match="expected parameters shaped as this run's model"):
    training.train_and_evaluate(wider, str(tmp_path / "c"))


def _make_pretrained():
  spec = importlib.util.spec_from_file_location(
      "make_pretrained", pathlib.Path(__file__).parents[2] / "experiments" / "make_pretrained.py")
  make_pretrained = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(make_pretrained)
  return make_pretrained


def test_make_pretrained_records_the_warm_start(tmp_path):
  make_pretrained = _make_pretrained()
  shipped, run = tmp_path / "shipped", tmp_path / "run"
  shipped.mkdir()
  run.mkdir()
  (shipped / "manifest.json").write_text(json.dumps({"steps": 25000, "train_wall_seconds": 3.5, "x": 1}))
  (run / "config.json").write_text(json.dumps({"train": {"init_from": ""}}))
  assert make_pretrained._warm_start(str(run)) is None
  (run / "config.json").write_text(json.dumps({"train": {"init_from": str(shipped)}}))
  assert make_pretrained._warm_start(str(run)) == {
      "from": str(shipped), "source_steps": 25000, "source_train_wall_seconds": 3.5}


def test_make_pretrained_records_a_warm_start_from_a_run_and_its_chain(source, tmp_path):
  # A phase begun from another run's workdir (not an export): the record holds the steps of the
  # source's newest checkpoint (what init_from read) and, in turn, the source's own warm start, so the
  # table counts every step of the chain.
  make_pretrained = _make_pretrained()
  first, second = str(tmp_path / "first"), str(tmp_path / "second")
  training.train_and_evaluate(_config(init_from=source, num_steps=3), first)
  training.train_and_evaluate(_config(init_from=first), second)
  record = make_pretrained._warm_start(second)
  assert record["from"] == first
  assert (record["source_steps"], record["source_steps_trained"]) == (3, 3)
  inner = record["source_warm_start"]
  assert inner["from"] == source and inner["source_steps"] == 2
  assert "source_warm_start" not in inner  # The source began from scratch.


def test_a_resumed_run_keeps_the_record_of_where_it_began(source, tmp_path, caplog):
  # A resume command without train.init_from (reproduce.py resumes so) must not erase the record the
  # shipped manifest's warm_start is read from; one naming another source cannot rewrite it.
  run = str(tmp_path / "run")
  training.train_and_evaluate(_config(init_from=source), run)
  assert training.warm_start_source(run) == source
  assert training.train_and_evaluate(_config(num_steps=3), run)["step"] == 3
  assert training.warm_start_source(run) == source
  with caplog.at_level("WARNING"):
    training.train_and_evaluate(_config(num_steps=4, init_from=str(tmp_path / "other")), run)
  assert training.warm_start_source(run) == source
  assert "is ignored: resuming the run" in caplog.text
  # A new run from scratch records none.
  scratch = str(tmp_path / "scratch")
  training.train_and_evaluate(_config(), scratch)
  assert training.warm_start_source(scratch) == ""


def test_make_pretrained_stops_at_a_warm_start_chain_that_loops(monkeypatch, tmp_path):
  # Two runs each naming the other as init_from (hand-edited configs): the record ends at the loop.
  make_pretrained = _make_pretrained()
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  monkeypatch.setattr(make_pretrained.training, "warm_start_source", {a: b, b: a}.get)
  monkeypatch.setattr(make_pretrained.checkpointing, "latest_step", lambda d: 7)
  monkeypatch.setattr(make_pretrained.training, "train_wall_seconds", lambda d: None)
  record = make_pretrained._warm_start(a)
  assert record["from"] == b and record["source_warm_start"]["from"] == a
  assert "source_warm_start" not in record["source_warm_start"]
