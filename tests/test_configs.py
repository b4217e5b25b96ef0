"""Every experiment config: loads locked, documents its launch command, and its tiny variant trains.

Configs whose data is a local file that is absent (e.g. a clone without the shared data folder) are
switched to the embedded 'digits' data ('sklearn_wine' for the real-valued wine data), so the test
needs nothing outside the repository. Such a switch is said, not silent: the test's id ends in
``-on-embedded-digits`` (``-on-synthetic-fsdd`` for a small file written in the format) and the test
warns which data it used instead.

Tiny variants that build the same model on the same data (they differ only in the optimizer's
hyperparameters: learning rate, weight decay, EMA decay, clipping, Adam or AdamW) form one group. One
config per group (the one that also draws samples, if any) trains two steps end to end; each of the others
builds its data, model, optimizer and train state and traces its own train step on a real batch with
``jax.eval_shape``, which runs every line of the step (model, loss, gradient, optimizer, EMA) without
compiling it. Compiling and running that program again with other constants would check little the
group's training does not, and optax bakes the hyperparameters into the compiled step, so each such
config paid a whole compilation (with an empty compilation cache this file took 363.7 s of CPU with a
training per config, 275.9 s with a training per group).
"""

import glob
import json
import math
import os
import warnings

import jax
import numpy as np
import pytest
from fake_data import write_fake_fsdd, write_fake_text

from armodels_jax import data
from armodels_jax import training
from armodels_jax.training import config as config_lib
from armodels_jax.training import metrics as metrics_lib
from armodels_jax.training import state as state_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(os.path.join(REPO, "experiments", "configs", "*.py"))
                 if not os.path.basename(p).startswith("_"))
CONFIG_IDS = [os.path.splitext(os.path.basename(p))[0] for p in CONFIGS]
# The embedded stand-in for a local dataset that is absent ('digits' unless listed): real-valued data
# needs real-valued data, with the same fold options.
EMBEDDED_FALLBACK = {"wine_quality_red": "sklearn_wine"}
SYNTHETIC = {"fsdd": write_fake_fsdd, "text": write_fake_text}


def test_there_are_configs():
  expected = {"made_digits", "made_1h_32masks_binarized_mnist", "pixelcnn_digits", "pixelcnn_binarized_mnist",
              "pixelcnn_mnist"}
  assert expected <= set(CONFIG_IDS)


@pytest.mark.parametrize("path", CONFIGS, ids=CONFIG_IDS)
def test_config_is_locked_and_documented(path):
  cfg = training.load_config(path)
  with pytest.raises(AttributeError):
    cfg.train.learnig_rate = 1.0
  with pytest.raises(ValueError, match="learnig_rate"):
    training.load_config(path, ["train.learnig_rate=1.0"])
  module_doc = open(path).read()
  assert "armodels train --config experiments/configs/" + os.path.basename(path) in module_doc
  tiny = training.load_config(path + ":tiny")
  assert tiny.model.size == "tiny"
  assert tiny.train.batch_size == 8 and tiny.train.num_steps == 2
  assert cfg.model.name == tiny.model.name and cfg.data.name == tiny.data.name
  with pytest.raises(ValueError, match=r"unknown config argument 'no_such_variant'; expected one of \["):
    training.load_config(path + ":no_such_variant")


def _stand_in(cfg):
  """What replaces the data of a tiny config in this checkout: ``None`` (its own data), ``'synthetic'``
  (a small file of the same format) or ``'embedded'`` (an embedded dataset)."""
  if cfg.data.name in SYNTHETIC and cfg.data.path and not os.path.exists(cfg.data.path):
    return "synthetic"
  if cfg.data.name.startswith("tfds:") or (cfg.data.path and not os.path.exists(cfg.data.path)):
    return "embedded"
  return None


def _tiny_config(path, data_dir=None):
  """The tiny variant of the config at `path` as the tests run it: no samples unless a *_digits config (the
  digits variants of the same models sample; 28x28 sampling is slower), and absent data replaced.

  Audio and text have no embedded stand-in: a small file of the same format is written into `data_dir`
  (None: the path is left as it is, for `_group_key`). tfds data cannot be prepared offline (the tfds
  path is tested with mock data in tests/data): the embedded stand-in replaces it.
  """
  overrides = [] if path.endswith("_digits.py") else ["train.sample_every=0"]
  cfg = training.load_config(path + ":tiny", overrides)
  stand_in = _stand_in(cfg)
  if stand_in == "synthetic":
    if data_dir is not None:
      suffix = os.path.splitext(cfg.data.path)[1]
      fake = SYNTHETIC[cfg.data.name](os.path.join(str(data_dir), "data" + suffix))
      cfg = training.load_config(path + ":tiny", overrides + [f"data.path={fake}"])
  elif stand_in == "embedded":
    embedded = EMBEDDED_FALLBACK.get(cfg.data.name, "digits")
    cfg = training.load_config(path + ":tiny", overrides + [
        f"data.name={embedded}", "data.path=", "data.train_split=", "data.valid_split=",
        "data.test_split="])
  return cfg


def _group_key(cfg) -> str:
  """What decides the model, the data and the shapes of the train step: everything but the optimizer's
  hyperparameters, the seed and the sampling period."""
  options = {k: v for k, v in config_lib.data_options(cfg).items() if k != "path"}
  return json.dumps({
      "model": cfg.model.name, "model_kwargs": config_lib.model_kwargs(cfg),
      "conditional": bool(cfg.model.conditional), "data": cfg.data.name, "data_options": options,
      "batch_size": int(cfg.train.batch_size), "tbptt": bool(cfg.train.tbptt),
      "cpu_devices": int(cfg.train.cpu_devices)}, sort_keys=True, default=str)


def _groups():
  """``{group key: [config ids]}``, the config that trains first: the one that samples, else the first by
  name."""
  groups = {}
  for path, cid in zip(CONFIGS, CONFIG_IDS):
    cfg = _tiny_config(path)
    groups.setdefault(_group_key(cfg), []).append((not cfg.train.sample_every, cid))
  return {k: [cid for _, cid in sorted(v)] for k, v in groups.items()}


GROUPS = _groups()
TRAINED = {ids[0]: ids[1:] for ids in GROUPS.values()}  # trained id -> its group's others
TRACED = {cid: trained for trained, others in TRAINED.items() for cid in others}  # traced id -> trained id
PATHS = dict(zip(CONFIG_IDS, CONFIGS))


def _data_used(cid):
  """``(the config's data, the data the test uses instead)``, or None when they are the same."""
  own = training.load_config(PATHS[cid] + ":tiny")
  stand_in = _stand_in(own)
  if stand_in is None:
    return None
  used = _tiny_config(PATHS[cid]).data.name
  return own.data.name + (f" ({own.data.path})" if own.data.path else ""), f"{stand_in}-{used}"


DATA_USED = {cid: _data_used(cid) for cid in CONFIG_IDS}


def _ids(cids):
  """Test ids that say when a config runs on stand-in data: ``made_digits``,
  ``pixelcnn_mnist-on-embedded-digits``."""
  return [cid if DATA_USED[cid] is None else f"{cid}-on-{DATA_USED[cid][1]}" for cid in cids]


def _warn_stand_in(cid):
  if DATA_USED[cid] is not None:
    own, used = DATA_USED[cid]
    warnings.warn(f"{cid}: {own} is absent here; the tiny variant runs on {used} instead", UserWarning)


def test_every_config_is_trained_or_traced_beside_one_that_trains():
  assert sorted(list(TRAINED) + list(TRACED)) == sorted(CONFIG_IDS)
  assert TRACED, "no config shares a group"
  for cid, trained in TRACED.items():
    assert _group_key(_tiny_config(PATHS[cid])) == _group_key(_tiny_config(PATHS[trained])), cid
  # The groups differ in what they build: the same model on other data, or other models.
  assert len({_group_key(_tiny_config(PATHS[cid])) for cid in TRAINED}) == len(TRAINED)
  # Configs that only change hyperparameters share one training, e.g. the MADE variants (with the shared
  # data folder present they train on binarized MNIST, else on the digits with made_digits).
  trained_for = {cid: TRACED.get(cid, cid) for cid in CONFIG_IDS}
  assert len({trained_for[cid] for cid in CONFIG_IDS if cid.startswith("made_")}) <= 2
  assert trained_for["made_1h_32masks_binarized_mnist"] == trained_for["made_2h_1mask_binarized_mnist"]
  assert trained_for["pixelsnail_cifar10"] == trained_for["pixelsnail_imagenet32"]


@pytest.mark.parametrize("cid", sorted(TRAINED), ids=_ids(sorted(TRAINED)))
def test_tiny_variant_trains_two_steps(cid, tmp_path):
  _warn_stand_in(cid)
  cfg = _tiny_config(PATHS[cid], tmp_path)
  workdir = str(tmp_path / "run")
  result = training.train_and_evaluate(cfg, workdir)
  assert result["step"] == 2
  assert math.isfinite(result["train_loss"]) and result["train_loss"] > 0
  split = "valid" if "valid_nll_nats" in result else "test"  # FSDD has no validation split.
  assert math.isfinite(result[f"{split}_nll_nats"]) and result[f"{split}_nll_nats"] > 0
  steps = [r["step"] for r in metrics_lib.read_metrics(workdir, "train")]
  assert steps == [1, 2]
  assert os.path.isdir(os.path.join(workdir, "checkpoints", "2"))
  if cfg.train.sample_every:
    assert os.path.exists(os.path.join(workdir, "samples", "step_000002.png"))


def _abstract_step(cfg):
  """The config's train state and the outputs of its train step on the first train batch, as shapes
  (``jax.eval_shape``: traced, not compiled), built as `training.train_and_evaluate` builds them."""
  config_lib.validate(cfg)
  t = cfg.train
  ds = data.load(cfg.data.name, **config_lib.data_options(cfg))
  tx, schedule = training.make_optimizer(t), training.make_schedule(t)
  mesh = training.make_mesh()
  batch = np.arange(int(t.batch_size))
  x = ds.train[batch]
  if cfg.model.name == "vqvae":  # Stage 1 has its own state and step (armodels_jax.vqvae.train).
    from armodels_jax.vqvae import train as vqvae_train  # pylint: disable=g-import-not-at-top

    model = vqvae_train.create_model(cfg, ds.event_shape, ds.num_levels)
    # pylint: disable-next=protected-access
    state = vqvae_train._from_dict(vqvae_train._abstract_state(model, tx, mesh))
    step = vqvae_train.make_train_step(model, tx, schedule, float(t.ema_decay))
    return state, jax.eval_shape(step, state, x)
  model = training.create_model(cfg, ds.event_shape, ds.num_levels)
  carry = int(t.batch_size) if t.tbptt else 0
  state = state_lib.abstract_train_state(model, tx, mesh, carry_batch_size=carry)
  cond = None
  if cfg.model.conditional:
    cond = data.make_cond(None if ds.train_labels is None else ds.train_labels[batch],
                          None if ds.train_features is None else ds.train_features[batch])
  step = training.make_train_step(model, tx, schedule, float(t.ema_decay), mesh, tbptt=bool(carry))
  args = (state, x, cond) + ((np.bool_(True),) if carry else ())
  return state, jax.eval_shape(step, *args)


@pytest.mark.parametrize("cid", sorted(TRACED), ids=_ids(sorted(TRACED)))
def test_tiny_variant_builds_and_traces_its_train_step(cid, tmp_path):
  """A config that differs from a trained one (`TRACED[cid]`) only in the optimizer's hyperparameters."""
  _warn_stand_in(cid)
  cfg = _tiny_config(PATHS[cid], tmp_path)
  t = cfg.train
  for field in ("learning_rate", "grad_clip_norm", "b1", "b2", "eps"):
    assert math.isfinite(float(t[field])) and float(t[field]) >= 0, field
  assert float(t.learning_rate) > 0
  state, (new_state, step_metrics) = _abstract_step(cfg)
  shapes = lambda tree: jax.tree.map(lambda a: (a.shape, a.dtype), tree)  # noqa: E731
  # The step maps the state to a state of the same structure, shapes and dtypes (it is donated).
  assert jax.tree.structure(new_state) == jax.tree.structure(state)
  assert shapes(new_state) == shapes(state)
  assert int(new_state.step.size) == 1
  assert {"loss", "bits_per_dim", "grad_norm", "learning_rate"} <= set(step_metrics)
  for name, value in step_metrics.items():
    assert value.shape == () and value.dtype == np.float32, name


_READ_ONLY = """
import glob, json, sys
from armodels_jax import config
names = sorted(glob.glob(sys.argv[1] + '/[!_]*.py'))
for path in names:
  config.load_config(path)
  config.load_config(path + ':tiny')
heavy = ('jax', 'flax', 'optax', 'orbax.checkpoint', 'numpy', 'armodels_jax.training', 'armodels_jax.models')
print(json.dumps({'configs': len(names), 'heavy': [m for m in heavy if m in sys.modules]}))
"""


def test_reading_every_config_loads_no_model_code():
  """Configs import only ml_collections and their shared helpers (issue 29): reading all of them, in
  a fresh process, imports neither JAX nor NumPy nor any of the package's model or training code."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top

  done = subprocess.run([sys.executable, "-c", _READ_ONLY, os.path.join(REPO, "experiments", "configs")],
                        capture_output=True, text=True, timeout=300, check=True)
  out = json.loads(done.stdout.strip().splitlines()[-1])
  assert out == {"configs": len(CONFIGS), "heavy": []}, done.stderr[-2000:]
