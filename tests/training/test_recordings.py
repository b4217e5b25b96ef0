"""evaluate_recordings: padded, bucketed batches give the exact per-recording log-likelihoods."""

import math

import jax
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax.training.recordings import evaluate_recordings


def _reference(model, variables, recs, labels=None, features=None):
  total = 0.0
  for i, r in enumerate(recs):
    sized = model.clone(event_shape=(r.size,))
    parts = {}
    if labels is not None:
      parts["label"] = labels[i:i + 1]
    if features is not None:
      parts["local"] = features[i][None]
    cond = parts if len(parts) > 1 else (next(iter(parts.values())) if parts else None)
    total -= float(arm.log_prob(sized, variables, r[None], cond)[0])
  return total / sum(r.size for r in recs)


@pytest.mark.parametrize("conditioned", [False, True])
def test_matches_one_recording_at_a_time(conditioned):
  rng = np.random.default_rng(0)
  hop = 2
  overrides = dict(num_classes=3, local_dim=2, local_hop=hop) if conditioned else {}
  model = arm.models.create("wavenet", event_shape=(8,), num_levels=5, size="tiny", **overrides)
  variables = arm.init(model, jax.random.key(0))
  lengths = [6, 10, 4, 14, 8]
  recs = [rng.integers(0, 5, n).astype(np.int32) for n in lengths]
  labels = rng.integers(0, 3, len(recs)).astype(np.int32) if conditioned else None
  features = ([rng.normal(size=(n // hop, 2)).astype(np.float32) for n in lengths]
              if conditioned else None)
  got = evaluate_recordings(model, variables, recs, labels=labels, features=features,
                            batch_size=2, bucket=4)
  want = _reference(model, variables, recs, labels, features)
  assert got["num_samples"] == sum(lengths) and got["num_recordings"] == 5
  np.testing.assert_allclose(got["nll_nats_per_sample"], want, rtol=1e-5)
  np.testing.assert_allclose(got["bits_per_sample"], want / math.log(2), rtol=1e-5)


def test_bad_input_raises():
  model = arm.models.create("wavenet", event_shape=(8,), num_levels=5, size="tiny")
  variables = arm.init(model, jax.random.key(0))
  with pytest.raises(ValueError, match="at least one"):
    evaluate_recordings(model, variables, [])
  with pytest.raises(ValueError, match=r"levels in \[0, 5\)"):
    evaluate_recordings(model, variables, [np.array([0, 7])])
  with pytest.raises(ValueError, match="1-D integer"):
    evaluate_recordings(model, variables, [np.zeros(4, np.float32)])
  with pytest.raises(ValueError, match="labels of shape"):
    evaluate_recordings(model, variables, [np.zeros(4, np.int32)], labels=np.zeros(2, np.int32))
