"""Shared test setup.

* Rank promotion raises, so an accidental broadcast of (B,) against (B, 1) fails loudly.
* Every test starts from the same NumPy / Python random state, so the suite is deterministic
  and independent of test order and of how pytest-xdist distributes the tests.
* Nothing here sets the number of CPU devices: tests that need several fake devices start a
  subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
* Nothing here reads /work/shared or any other machine-specific path; tests use ``tmp_path``.
"""

import os
import random
import sys

# Quieter TensorFlow / tfds imports, if they happen; set before anything imports them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

# Test helpers shared across folders (``import fake_data``; ``--import-mode=importlib`` does not put
# the test folders on sys.path).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SEED = 0


@pytest.fixture(autouse=True)
def _deterministic():
  """Reseeds the global NumPy and Python generators before each test."""
  np.random.seed(SEED)
  random.seed(SEED)
  yield


@pytest.fixture
def key():
  """A fixed root JAX PRNG key."""
  return jax.random.key(SEED)


@pytest.fixture
def np_rng():
  """A fixed NumPy generator."""
  return np.random.default_rng(SEED)

