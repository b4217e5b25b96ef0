"""The training loop on MADE tiny / digits: outputs, restore, exact evaluation, NaN handling."""

import math
import os

import jax
import numpy as np
import pytest
import train_checks

import armodels_jax as arm
from armodels_jax import checkpointing
from armodels_jax import data
from armodels_jax import training
from armodels_jax.training import metrics as metrics_lib


def test_writes_metrics_samples_and_restores(tmp_path):
  workdir = str(tmp_path)
  cfg = train_checks.tiny_config(ema_decay=0.5, sample_every=2)
  result = training.train_and_evaluate(cfg, workdir)

  assert result["step"] == 2
  records = metrics_lib.read_metrics(workdir)
  train = [r for r in records if r["split"] == "train"]
  valid = [r for r in records if r["split"] == "valid"]
  assert [r["step"] for r in train] == [1, 2]
  assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in train)
  # bits/dim is the loss in nats over D ln 2 (D = 64 pixels of an 8x8 digit).
  np.testing.assert_allclose(train[-1]["bits_per_dim"], train[-1]["loss"] / (64 * math.log(2)),
                             rtol=1e-5)
  assert [r["step"] for r in valid] == [2] and valid[0]["n"] == 40
  assert result["train_loss"] == pytest.approx(train[-1]["loss"])
  assert result["valid_nll_nats"] == pytest.approx(valid[0]["nll_nats"])
  png = tmp_path / "samples" / "step_000002.png"
  assert png.exists() and png.stat().st_size > 0
  from PIL import Image
  with Image.open(png) as im:
    assert min(im.size) >= 64  # Upscaled so a grid of 8x8 digits is visible.
  assert any(name.startswith("events") for name in os.listdir(tmp_path / "tb"))
  assert (tmp_path / "config.json").exists()

  # restore: the config back, locked; the EMA parameters (ema_decay > 0) give the logged valid NLL.
  model, variables, cfg_back = training.restore(workdir)
  assert cfg_back.to_dict() == cfg.to_dict()
  assert model.event_shape == (8, 8, 1) and model.num_levels == 17
  ds = data.load("digits")
  again = training.evaluate(model, variables, ds.valid[:40], batch_size=16)
  assert again["n"] == 40
  np.testing.assert_allclose(again["nll_nats"], result["valid_nll_nats"], rtol=1e-6)

  # A finished run resumed does no more steps and evaluates the same state.
  again = training.train_and_evaluate(cfg, workdir)
  assert again["step"] == 2
  np.testing.assert_allclose(again["valid_nll_nats"], result["valid_nll_nats"], rtol=1e-6)


def test_evaluate_is_exact_with_a_partial_last_batch():
  model = arm.models.create("made", event_shape=(8, 8, 1), num_levels=17, size="tiny")
  variables = arm.init(model, jax.random.PRNGKey(3))
  x = data.load("digits").test[:11]
  expected = -np.mean(np.asarray(arm.log_prob(model, variables, x), np.float64))
  for batch_size in (4, 11, 64):
    out = training.evaluate(model, variables, x, batch_size=batch_size)
    assert out["n"] == 11
    np.testing.assert_allclose(out["nll_nats"], expected, rtol=1e-6)
    np.testing.assert_allclose(out["bits_per_dim"], expected / (64 * math.log(2)), rtol=1e-6)
  with pytest.raises(ValueError, match=r"\(N, \*\(8, 8, 1\)\)"):
    training.evaluate(model, variables, x.reshape(11, 64), batch_size=4)
  with pytest.raises(ValueError, match="labels"):
    training.evaluate(model, variables, x, batch_size=4, labels=np.zeros(3, np.int32))


def test_nan_loss_raises_and_is_never_checkpointed(tmp_path):
  # A NaN learning rate makes the parameters NaN after step 1, so the loss of step 2 is NaN.
  cfg = train_checks.tiny_config(learning_rate=float("nan"), num_steps=4, checkpoint_every=100)
  with pytest.raises(FloatingPointError, match="step 2"):
    training.train_and_evaluate(cfg, str(tmp_path / "a"))
  assert checkpointing.latest_step(str(tmp_path / "a")) is None

  # Checkpointing right after step 1 (finite loss, NaN parameters) refuses to save.
  cfg = train_checks.tiny_config(learning_rate=float("nan"), num_steps=4, checkpoint_every=1, log_every=100)
  with pytest.raises(FloatingPointError, match="after step 1"):
    training.train_and_evaluate(cfg, str(tmp_path / "b"))
  assert checkpointing.latest_step(str(tmp_path / "b")) is None


def test_batch_must_divide_over_devices():
  from armodels_jax.training import sharding as shd
  shd.check_batch_size(8, _FakeMesh(4))
  with pytest.raises(ValueError, match="divisible by the number of devices"):
    shd.check_batch_size(6, _FakeMesh(4))


class _FakeMesh:
  """Stands in for a mesh of `n` devices (only `.devices.size` is read)."""

  def __init__(self, n):
    self.devices = np.empty(n, dtype=object)
