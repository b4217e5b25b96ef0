"""Data-parallel sharding as in big_vision: a 1-D ``('data',)`` mesh over all devices.

Parameters, optimizer state and everything else in the train state are replicated; batches are sharded
along their leading (batch) axis over ``'data'``. Multi-host runs call ``jax.distributed.initialize()``
before anything here; ``jax.devices()`` then lists the devices of all hosts.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

__all__ = ["make_mesh", "replicated", "batch_sharding", "check_batch_size", "set_cpu_devices",
           "one_program_at_a_time"]

DATA_AXIS = "data"


def set_cpu_devices(count: int) -> None:
  """Splits the host's CPU into `count` JAX devices, so a train step runs data parallel over its cores.

  XLA's CPU backend runs a convolution, and each step of a scan, on one core (FACTS.md); with two CPU
  devices the two halves of a batch run at the same time, and the train step (``jax.shard_map``, see
  ``steps.make_train_step``) exchanges only the gradient. Measured on the 2-core CPU (BENCHMARKS.md,
  "Two CPU devices"): NADE's step, a scan over 784 dimensions, is 1.55x faster on 2 devices, the
  Row LSTM's and Diagonal BiLSTM's about 1.35x and PixelCNN's about 1.1x, while MADE's, two large
  matmuls that already use both cores, is 2x slower; so it is a per-config choice
  (``train.cpu_devices``), off by default. The result equals the one-device run up to the order of the
  gradient's summation (tests/training/test_train_sharding.py). It has no effect on GPU and TPU devices.

  JAX fixes its CPU devices when it first runs anything, so this must come first in a process: the
  ``armodels train`` command calls it (through ``train_and_evaluate``) before any JAX operation.

  Args:
    count: devices to split the CPU into; 0 leaves JAX's default (one).

  Raises:
    ValueError: JAX has already started in this process with another number of CPU devices.
  """
  if count == 0:
    return
  try:
    jax.config.update("jax_num_cpu_devices", int(count))
  except RuntimeError as e:  # JAX has started: fine if it already has this many CPU devices
    have = len(jax.devices("cpu"))
    if have != count:
      raise ValueError(
          f"train.cpu_devices={count} needs to be set before JAX runs anything in this process, but "
          f"JAX has already started with {have} CPU device(s); start a fresh process (the armodels "
          f"command does) or set train.cpu_devices=0") from e


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh with axis ``'data'`` over `devices` (default: all devices of all hosts)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.array(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """The sharding that keeps a full copy on every device of `mesh`."""
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """The sharding that splits the leading (batch) axis over ``'data'``."""
  return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh, what: str = "train.batch_size") -> None:
  """Raises ValueError unless the global `batch_size` divides evenly over the devices of `mesh`."""
  n = mesh.devices.size
  if batch_size % n:
    raise ValueError(f"{what}={batch_size} must be divisible by the number of devices ({n})")


def one_program_at_a_time(mesh: Mesh) -> bool:
  """Whether a loop over `mesh` must wait for each program before it dispatches the next.

  True when the mesh holds more than one CPU device of this process (``train.cpu_devices``). Their
  collectives meet in memory, and with several steps in flight they can deadlock: measured with jax
  0.10.2 on the 2-core CPU, a NADE train step (one all-reduce of the gradient) dispatched 400 times
  without waiting hung at an all-reduce in 1 run in 3 to 8 (XLA aborts after its 40 s rendezvous
  timeout); waiting for each step's metrics, 16 runs in 16 finished. What the wait gives up is the
  overlap of the next batch's assembly with the step; ``bench_train.py`` times every step with it.
  """
  local = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
  return len(local) > 1 and all(d.platform == "cpu" for d in local)
