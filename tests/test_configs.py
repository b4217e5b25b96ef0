"""Every experiment config: loads locked, documents its launch command, and its tiny variant trains.

Configs whose data is a local file that is absent (e.g. a clone without the shared data folder) are
switched to the embedded 'digits' data ('sklearn_wine' for the real-valued wine data), so the test
needs nothing outside the repository.
"""

import glob
import math
import os

import pytest

from armodels_jax import training
from armodels_jax.training import metrics as metrics_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(os.path.join(REPO, "experiments", "configs", "*.py"))
                 if not os.path.basename(p).startswith("_"))
CONFIG_IDS = [os.path.splitext(os.path.basename(p))[0] for p in CONFIGS]
# The embedded stand-in for a local dataset that is absent ('digits' unless listed): real-valued data
# needs real-valued data, with the same fold options.
EMBEDDED_FALLBACK = {"wine_quality_red": "sklearn_wine"}


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
  if cfg.data.name.startswith("tfds:") or (cfg.data.path and not os.path.exists(cfg.data.path)):
    # tfds data cannot be prepared offline (the tfds path is tested with mock data in tests/data).
    embedded = EMBEDDED_FALLBACK.get(cfg.data.name, "digits")
    cfg = training.load_config(path + ":tiny", overrides + [f"data.name={embedded}", "data.path="])
  result = training.train_and_evaluate(cfg, str(tmp_path))
  assert result["step"] == 2
  assert math.isfinite(result["train_loss"]) and result["train_loss"] > 0
  assert math.isfinite(result["valid_nll_nats"]) and result["valid_nll_nats"] > 0
  steps = [r["step"] for r in metrics_lib.read_metrics(str(tmp_path), "train")]
  assert steps == [1, 2]
  assert os.path.isdir(tmp_path / "checkpoints" / "2")
  if cfg.train.sample_every:
    assert (tmp_path / "samples" / "step_000002.png").exists()
