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

__all__ = ["make_mesh", "replicated", "batch_sharding", "check_batch_size"]

DATA_AXIS = "data"


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
