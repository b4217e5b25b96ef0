"""Shared test setup.

* Rank promotion raises, so an accidental broadcast of (B,) against (B, 1) fails loudly.
* Every test starts from the same NumPy / Python random state, so the suite is deterministic
  and independent of test order and of how pytest-xdist distributes the tests.
* Nothing here sets the number of CPU devices: tests that need several fake devices start a
  subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
* Nothing here reads /work/shared or any other machine-specific path; tests use ``tmp_path``.
* Compiled programs go to JAX's persistent compilation cache, in the user's cache directory
  (``$XDG_CACHE_HOME/armodels_jax/jax-test-cache``, default ``~/.cache``), set through the
  environment so that the xdist workers and the subprocesses the tests start (the CLI, the notebooks,
  several-device runs) share it. A program compiled once in a run is loaded, not compiled, by every
  other process; a second run of the suite on the same machine loads nearly everything (measured on
  tests/models/test_fvsbn_nade.py: 66.6 s of CPU without the cache, 68.5 s with an empty one, 14.7 s
  with a warm one). ``ARMODELS_TEST_JAX_CACHE=0`` turns it off; another path moves it.
* XLA compiles the tests' programs with less optimisation by the backend (LLVM):
  ``--xla_backend_optimization_level=1`` in ``XLA_FLAGS``, inherited by the subprocesses (XLA's HLO
  passes still run). The tests run tiny models, so compiling is most of their cost. A tiny PixelCNN's
  ``init`` compiles in 1.7 s of CPU instead of 7.2 s, and with an empty cache
  tests/models/test_model_rules.py takes 34.5 s of CPU instead of 48.8 s (measured back to back). The
  programs run as fast: the shipped full-size checkpoints' evaluations in tests/test_pretrained.py took
  90.0 s against 93.8 s. Level 0 compiles a little faster still, but its programs ran much slower there.
  ``ARMODELS_TEST_XLA_OPT=1`` compiles as a user's run does; an ``XLA_FLAGS`` that already sets the
  level is kept.
"""

import os
import random
import sys

# Quieter TensorFlow / tfds imports, if they happen; set before anything imports them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_CACHE = os.environ.get("ARMODELS_TEST_JAX_CACHE", os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
    "armodels_jax", "jax-test-cache"))
_XLA_FAST_COMPILE = "--xla_backend_optimization_level=1"
if (os.environ.get("ARMODELS_TEST_XLA_OPT", "") in ("", "0")
    and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", "")):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _XLA_FAST_COMPILE).strip()
if _CACHE != "0":
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
if _CACHE != "0":  # A plugin may have imported jax before the environment above was set.
  jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

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

