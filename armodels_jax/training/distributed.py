"""Multi-host start-up and preemption: the only things a pod run needs beyond a single-host one.

The training code is the same on one CPU, on one host with several accelerators and on a TPU VM pod
slice: `jax.devices()` lists the devices of every host once `jax.distributed.initialize()` has run, the
mesh spans them (`sharding.make_mesh`), each host gathers only its contiguous part of every global
batch from its own copy of the data (`data.global_batch`), orbax writes each checkpoint once (the
primary host writes the replicated arrays and the metadata; every host takes part in the save) and every
host restores it, and only process 0 writes logs, metrics, JSON files and samples.

Launch (the whole difference between the three cases):

  one host:        armodels train --config C --workdir W
  TPU VM pod:      armodels train --config C --workdir W --distributed          (on every host)
  any cluster:     armodels train ... --coordinator HOST:PORT --num-processes N --process-id I

With ``--distributed`` and no address, `jax.distributed.initialize()` detects the cluster (TPU VM pod
slices, SLURM, Open MPI, Kubernetes). The workdir must be one folder that every host sees (NFS,
Filestore, a gcsfuse mount of a bucket).

Preemption: `jax.distributed.initialize()` also starts JAX's preemption notifier, so a SIGTERM to any
host (a TPU maintenance event, a spot VM reclaimed) makes all hosts agree on one step
(`orbax CheckpointManager.reached_preemption`), save there and stop. A single process without
`jax.distributed` gets the same behaviour from `PreemptionFlag` below. Either way the next launch with
the same workdir resumes at that step, bit-exact (`training.loop`).
"""

from __future__ import annotations

import logging
import signal
import threading

import jax

__all__ = ["initialize", "is_initialized", "PreemptionFlag"]

log = logging.getLogger(__name__)


def is_initialized() -> bool:
  """Whether `jax.distributed.initialize` has run in this process."""
  return jax.distributed.is_initialized()


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Joins a multi-process run (`jax.distributed.initialize`) and quiets logging off process 0.

  Call it before anything touches a device. With no arguments JAX detects the cluster (TPU VM pod
  slice, SLURM, Open MPI, Kubernetes); on other machines give all three.

  Args:
    coordinator: ``host:port`` of process 0's coordinator service.
    num_processes: the number of processes (hosts), >= 1.
    process_id: this process's index in ``[0, num_processes)``.

  Raises:
    ValueError: some but not all of the three arguments given, or out of range.
  """
  given = [a is not None for a in (coordinator, num_processes, process_id)]
  if any(given) and not all(given):
    raise ValueError("expected all of coordinator, num_processes and process_id, or none of them "
                     f"(cluster auto-detection); got coordinator={coordinator!r}, "
                     f"num_processes={num_processes!r}, process_id={process_id!r}")
  if all(given):
    if num_processes < 1 or not 0 <= process_id < num_processes:
      raise ValueError(f"expected num_processes >= 1 and 0 <= process_id < num_processes, got "
                       f"num_processes={num_processes}, process_id={process_id}")
    if ":" not in coordinator:
      raise ValueError(f"expected the coordinator as host:port, got {coordinator!r}")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
  else:
    jax.distributed.initialize()
  if jax.process_index() != 0:
    # Process 0 reports; the others only warn (their errors still reach their own stderr).
    logging.getLogger("armodels_jax").setLevel(logging.WARNING)
    logging.getLogger("absl").setLevel(logging.WARNING)
  log.info("process %d of %d; %d local and %d global devices", jax.process_index(),
           jax.process_count(), jax.local_device_count(), jax.device_count())


class PreemptionFlag:
  """Turns SIGTERM into a flag that the training loop checks after each step (one process only).

  A multi-process run leaves SIGTERM to JAX's preemption notifier instead, because the hosts must stop
  at the same step; this class then installs nothing. Use as a context manager: the previous handler is
  put back on exit. Outside the main thread (where Python cannot install handlers) it does nothing.
  """

  def __init__(self) -> None:
    self.requested = False
    self._previous = None
    self._installed = False

  def _handle(self, signum, frame) -> None:  # pylint: disable=unused-argument
    if not self.requested:
      log.warning("SIGTERM: saving a checkpoint after the current step, then stopping")
    self.requested = True

  def __enter__(self) -> "PreemptionFlag":
    if (jax.process_count() == 1 and not is_initialized()
        and threading.current_thread() is threading.main_thread()):
      self._previous = signal.signal(signal.SIGTERM, self._handle)
      self._installed = True
    return self

  def __exit__(self, *exc) -> None:
    if self._installed:
      signal.signal(signal.SIGTERM, self._previous)
      self._installed = False
