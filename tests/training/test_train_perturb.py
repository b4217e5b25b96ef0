"""`train.perturb_rate`: Ren et al. 2019's background model, trained on perturbed inputs from the CLI.

The resumed-run test (test_train_resume.py) trains with a perturbation rate, so resuming redraws it alike.
"""

import jax
import numpy as np
import pytest

from armodels_jax import training
from armodels_jax.training import loop


def test_perturbation_replaces_the_expected_share_with_uniform_levels():
  x = jax.numpy.zeros((64, 8, 8, 1), jax.numpy.uint8)
  perturb = loop._make_perturb(0.3, 256, seed=0)
  a, b = np.asarray(perturb(x, np.int32(7))), np.asarray(perturb(x, np.int32(8)))
  assert a.dtype == np.uint8 and a.shape == x.shape
  np.testing.assert_array_equal(a, np.asarray(perturb(x, np.int32(7))))  # a function of (seed, step)
  assert not np.array_equal(a, b)  # a fresh draw every step
  assert not np.array_equal(a, np.asarray(loop._make_perturb(0.3, 256, seed=1)(x, np.int32(7))))
  # A replaced value is uniform over 256 levels, so it stays 0 with probability 1/256.
  changed = (a != 0).mean()
  assert abs(changed - 0.3 * 255 / 256) < 0.02, changed
  assert a.max() > 200  # the whole range of levels is drawn, not a narrow one
  assert (np.asarray(loop._make_perturb(0.0, 256, seed=0)(x, np.int32(7))) == 0).all()
  assert (np.asarray(loop._make_perturb(1.0, 2, seed=0)(x, np.int32(7))) <= 1).all()


def test_real_valued_data_and_bad_rates_are_rejected(tmp_path):
  with pytest.raises(ValueError, match="expected discrete data"):
    loop._make_perturb(0.1, None, seed=0)
  cfg = training.default_config()
  for bad in (-0.1, 1.5):
    cfg.train.perturb_rate = bad
    with pytest.raises(ValueError, match=r"train.perturb_rate must be in \[0, 1\]"):
      training.train_and_evaluate(cfg, str(tmp_path / "bad"))


def test_training_sees_the_perturbed_batches(tmp_path):
  """The same seed and steps, with and without the perturbation: the first step's loss differs (the
  model at initialisation scores noisier digits), and both stay finite."""
  losses = {}
  for rate in (0.0, 0.5):
    cfg = training.default_config()
    cfg.model.size = "tiny"
    t = cfg.train
    t.batch_size, t.num_steps, t.log_every, t.eval_every = 8, 1, 1, 0
    t.eval_max_examples, t.checkpoint_every, t.perturb_rate = 8, 0, rate
    losses[rate] = training.train_and_evaluate(cfg, str(tmp_path / str(rate)))["train_loss"]
  assert np.isfinite(losses[0.0]) and np.isfinite(losses[0.5])
  assert losses[0.5] != pytest.approx(losses[0.0], rel=1e-3)
