"""The padded-batch evaluator (``armodels_jax.evaluation``): every example once, one batch shape."""

import numpy as np
import pytest

from armodels_jax import evaluation


@pytest.mark.parametrize("n,batch,multiple", [(11, 4, 1), (11, 64, 1), (10, 3, 4), (1, 5, 2)])
def test_padded_batches_cover_every_example_once_in_one_shape(n, batch, multiple):
  got = list(evaluation.padded_batches(n, batch, multiple=multiple))
  shapes = {rows.shape for rows, _ in got}
  assert len(shapes) == 1 and shapes.pop()[0] % multiple == 0
  real = np.concatenate([rows[:valid] for rows, valid in got])
  np.testing.assert_array_equal(real, np.arange(n))
  assert all((rows[valid:] == 0).all() for rows, valid in got)  # padding repeats row 0


def test_unpadded_last_batch_is_shorter():
  got = list(evaluation.padded_batches(5, 2, pad=False))
  assert [len(rows) for rows, _ in got] == [2, 2, 1] and [v for _, v in got] == [2, 2, 1]
  with pytest.raises(ValueError, match="n >= 1"):
    list(evaluation.padded_batches(0, 4))
