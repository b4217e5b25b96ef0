"""The config: locked schema, typed overrides, JSON round trip, schedule and optimizer."""

import math
import os

import ml_collections
import numpy as np
import pytest

from armodels_jax import training
from armodels_jax.training import config as config_lib


def test_misspelt_attribute_raises():
  cfg = training.default_config()
  with pytest.raises(AttributeError):
    cfg.train.learnig_rate = 1e-3
  with pytest.raises(AttributeError):
    cfg.modle = ml_collections.ConfigDict()
  with pytest.raises(TypeError):
    cfg.train.batch_size = "sixteen"


def test_misspelt_override_raises_naming_the_field():
  cfg = training.default_config()
  with pytest.raises(ValueError, match="train.learnig_rate"):
    training.apply_overrides(cfg, ["train.learnig_rate=1e-3"])
  with pytest.raises(ValueError, match="trian"):
    training.apply_overrides(cfg, ["trian.batch_size=4"])
  with pytest.raises(ValueError, match="field.path=value"):
    training.apply_overrides(cfg, ["train.batch_size"])
  with pytest.raises(ValueError, match="batch_size"):
    training.apply_overrides(cfg, ["train.batch_size=1.5"])
  with pytest.raises(ValueError, match="ema_decay"):
    training.apply_overrides(cfg, ["train.ema_decay=abc"])


def test_overrides_parse_to_the_field_type(tmp_path):
  path = tmp_path / "cfg.py"
  path.write_text(
      "from armodels_jax import training\n"
      "def get_config(arg=None):\n"
      "  cfg = training.default_config()\n"
      "  cfg.train.num_steps = 7 if arg is None else int(arg)\n"
      "  return cfg\n")
  cfg = training.load_config(str(path), [
      "model.size=small", "train.learning_rate=3e-4", "--config.train.batch_size=32",
      "train.num_steps=1e3", "model.conditional=true", "data.binarize=True", "data.path=/x/y.npz",
      "model.overrides.hidden_sizes=(32, 32)", "model.overrides.order_agnostic=False",
  ])
  assert cfg.model.size == "small"
  assert cfg.train.learning_rate == 3e-4 and isinstance(cfg.train.learning_rate, float)
  assert cfg.train.batch_size == 32 and cfg.train.num_steps == 1000
  assert cfg.model.conditional is True
  assert cfg.data.binarize is True and cfg.data.path == "/x/y.npz"
  assert config_lib.model_overrides(cfg) == {"hidden_sizes": (32, 32), "order_agnostic": False}
  assert config_lib.data_options(cfg) == {"binarize": True, "path": "/x/y.npz"}
  assert training.load_config(f"{path}:5").train.num_steps == 5
  with pytest.raises(AttributeError):  # Still locked after loading.
    cfg.train.numsteps = 3
  with pytest.raises(ValueError, match="does not exist"):
    training.load_config(str(tmp_path / "missing.py"))


def test_validate_rejects_bad_choices():
  cfg = training.default_config()
  cfg.train.optimizer = "sgd"
  with pytest.raises(ValueError, match="train.optimizer"):
    config_lib.validate(cfg)


def test_json_round_trip():
  cfg = training.default_config()
  training.apply_overrides(cfg, ["model.overrides.hidden_sizes=(8,)", "data.binarize=True",
                                 "train.learning_rate=2"])
  back = training.config_from_json(training.config_to_json(cfg))
  assert back.to_dict() == cfg.to_dict()
  assert isinstance(back.train.learning_rate, float)
  with pytest.raises(AttributeError):
    back.train.learnig_rate = 1.0
  back.model.overrides.anything = 1  # The overrides group stays open by design.
  with pytest.raises(ValueError, match="bogus"):
    training.config_from_json('{"train": {"bogus": 1}}')


def test_schedules():
  cfg = training.default_config()
  t = cfg.train
  t.learning_rate, t.num_steps, t.warmup_steps, t.schedule = 1.0, 100, 10, "cosine"
  sched = training.make_schedule(t)
  np.testing.assert_allclose([sched(0), sched(5), sched(10), sched(100)], [0.0, 0.5, 1.0, 0.0],
                             atol=1e-6)
  # Cosine decay from 1 at step 10 to 0 at step 100: halfway is 0.5.
  np.testing.assert_allclose(sched(55), 0.5, atol=1e-6)
  t.schedule = "constant"
  sched = training.make_schedule(t)
  np.testing.assert_allclose([sched(0), sched(5), sched(10), sched(99)], [0.0, 0.5, 1.0, 1.0], atol=1e-6)
  t.warmup_steps = 0
  assert float(training.make_schedule(t)(0)) == 1.0


def test_optimizer_clips_and_decays():
  import jax.numpy as jnp
  cfg = training.default_config()
  t = cfg.train
  t.optimizer, t.learning_rate, t.grad_clip_norm, t.weight_decay = "adamw", 0.0, 1.0, 0.1
  tx = training.make_optimizer(t)
  params = {"w": jnp.ones(3)}
  updates, _ = tx.update({"w": jnp.full(3, 100.0)}, tx.init(params), params)
  np.testing.assert_allclose(updates["w"], 0.0)  # Zero learning rate: no step, no decay.
  t.learning_rate = 0.1
  tx = training.make_optimizer(t)
  updates, _ = tx.update({"w": jnp.zeros(3)}, tx.init(params), params)
  # Zero gradient: only the decoupled decay, -lr * wd * w.
  np.testing.assert_allclose(updates["w"], -0.1 * 0.1 * np.ones(3), rtol=1e-6)
  assert math.isclose(float(training.make_schedule(t)(0)), 0.1, rel_tol=1e-6)


def test_l2_penalises_weights_not_biases():
  import jax.numpy as jnp
  cfg = training.default_config()
  t = cfg.train
  t.optimizer, t.learning_rate, t.schedule, t.l2 = "adam", 0.1, "constant", 0.5
  tx = training.make_optimizer(t)
  params = {"kernel": jnp.full((2, 3), 2.0), "bias": jnp.full(3, 2.0)}
  zero = {"kernel": jnp.zeros((2, 3)), "bias": jnp.zeros(3)}
  updates, _ = tx.update(zero, tx.init(params), params)
  # Zero loss gradient: the kernel's gradient is l2 * w, which Adam's first step turns into -lr * sign;
  # the bias has no penalty and does not move.
  np.testing.assert_allclose(updates["kernel"], -0.1, rtol=1e-5)
  np.testing.assert_allclose(updates["bias"], 0.0)
  t.l2 = float("nan")
  with pytest.raises(ValueError, match="train.l2"):
    config_lib.validate(cfg)
