"""Every experiment config: loads locked, documents its launch command, and its tiny variant trains.

Configs whose data is a local file that is absent (e.g. a clone without the shared data folder) are
switched to the embedded 'digits' data ('sklearn_wine' for the real-valued wine data), so the test
needs nothing outside the repository.
"""

import glob
import math
import os

import pytest
from fake_data import write_fake_fsdd, write_fake_text

from armodels_jax import training
from armodels_jax.training import metrics as metrics_lib

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
  with pytest.raises(ValueError):
    training.load_config(path + ":no_such_variant")


@pytest.mark.parametrize("path", CONFIGS, ids=CONFIG_IDS)
def test_tiny_variant_trains_two_steps(path, tmp_path):
  overrides = []
  if not path.endswith("_digits.py"):
    # Sampling is exercised by the *_digits variants of the same models; 28x28 sampling is slower.
    overrides.append("train.sample_every=0")
  cfg = training.load_config(path + ":tiny", overrides)
  if cfg.data.name in SYNTHETIC and cfg.data.path and not os.path.exists(cfg.data.path):
    # Audio and text have no embedded stand-in: write a small file of the same format.
    fake = SYNTHETIC[cfg.data.name](tmp_path / ("data" + os.path.splitext(cfg.data.path)[1]))
    cfg = training.load_config(path + ":tiny", overrides + [f"data.path={fake}"])
  elif cfg.data.name.startswith("tfds:") or (cfg.data.path and not os.path.exists(cfg.data.path)):
    # tfds data cannot be prepared offline (the tfds path is tested with mock data in tests/data).
    embedded = EMBEDDED_FALLBACK.get(cfg.data.name, "digits")
    cfg = training.load_config(path + ":tiny", overrides + [
        f"data.name={embedded}", "data.path=", "data.train_split=", "data.valid_split=",
        "data.test_split="])
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
