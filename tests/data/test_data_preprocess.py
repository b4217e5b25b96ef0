"""Tests of binarize, quantize and mu-law companding."""

import math

import numpy as np
import pytest

from armodels_jax import data


def test_binarize_threshold_is_inclusive():
  x = np.array([[0, 7, 8], [9, 16, 3]])
  np.testing.assert_array_equal(data.binarize(x, 8), [[0, 0, 1], [1, 1, 0]])
  assert data.binarize(x, 8).dtype == np.int32


def test_stochastic_binarize_deterministic_and_exact_at_ends():
  x = np.array([0, 255, 128] * 1000)
  a = data.stochastic_binarize(x, 256, 3)
  np.testing.assert_array_equal(a, data.stochastic_binarize(x, 256, 3))
  assert not np.array_equal(a, data.stochastic_binarize(x, 256, 4))
  assert np.all(a[x == 0] == 0) and np.all(a[x == 255] == 1)
  assert abs(a[x == 128].mean() - 128 / 255) < 0.05


def test_quantize():
  x = np.arange(256)
  np.testing.assert_array_equal(data.quantize(x, 256, 32), x // 8)
  np.testing.assert_array_equal(data.quantize(np.array([0, 1, 2, 16]), 17, 2),
                                [0, 0, 0, 1])
  np.testing.assert_array_equal(data.quantize(np.arange(4), 4, 8), [0, 2, 4, 6])
  with pytest.raises(ValueError, match=r"\[0, 256\)"):
    data.quantize(np.array([256]), 256, 32)


def test_mu_law_known_values():
  # WaveNet eq. 2 with mu = 255, then q = floor((f + 1) / 2 * 255 + 0.5).
  # f(0.5) = ln(128.5) / ln(256) = 0.875705..., (1.875705 / 2) * 255 = 239.15.
  x = np.array([-1.0, 0.0, 0.5, 1.0])
  np.testing.assert_array_equal(data.mu_law_encode(x), [0, 128, 239, 255])
  np.testing.assert_array_equal(data.mu_law_encode(-x), [255, 128, 16, 0])
  # decode(128): y = 1/255, x = (256 ** (1/255) - 1) / 255 = 8.6212e-5.
  np.testing.assert_allclose(data.mu_law_decode(np.array([0, 128, 255])),
                             [-1.0, 8.6212e-5, 1.0], rtol=1e-4)
  # Fewer levels: mu = 15, f(0.5) = ln(8.5) / ln(16) = 0.77185..., q = 13.
  assert data.mu_law_encode(np.array([0.5]), levels=16)[0] == 13


def test_mu_law_round_trips():
  levels = 256
  q = np.arange(levels)
  np.testing.assert_array_equal(data.mu_law_encode(data.mu_law_decode(q)), q)
  x = np.linspace(-1, 1, 20001)
  enc = data.mu_law_encode(x)
  assert enc.dtype == np.int32 and enc.min() == 0 and enc.max() == 255
  assert np.all(np.diff(enc) >= 0)  # monotone
  # The error of decode(encode(x)) is at most half a bin in the companded domain.
  mu = levels - 1
  f = lambda v: np.sign(v) * np.log1p(mu * np.abs(v)) / math.log1p(mu)
  err = np.abs(f(data.mu_law_decode(enc).astype(np.float64)) - f(x))
  assert err.max() <= 1 / mu + 1e-6


def test_mu_law_rejects_out_of_range():
  with pytest.raises(ValueError, match=r"\[-1, 1\]"):
    data.mu_law_encode(np.array([0.0, 1.5]))
  with pytest.raises(ValueError, match=r"\[-1, 1\]"):
    data.mu_law_encode(np.array([np.nan]))
  with pytest.raises(ValueError, match=r"\[0, 256\)"):
    data.mu_law_decode(np.array([256]))
