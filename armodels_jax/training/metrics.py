"""Metric logging: JSON lines in ``workdir/metrics.jsonl`` and TensorBoard events in ``workdir/tb``.

Only process 0 writes; on the other hosts the writer does nothing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Mapping

import jax
import numpy as np

__all__ = ["MetricWriter", "read_metrics"]

log = logging.getLogger(__name__)


def _scalar(value: Any) -> Any:
  if isinstance(value, (np.ndarray, np.generic, jax.Array)):
    value = np.asarray(value).item()
  return value


class MetricWriter:
  """Appends metrics to ``metrics.jsonl`` and writes them as TensorBoard scalars.

  Each record is one JSON object per line: ``{"step": s, "split": "train"|"valid"|..., "time": t,
  <name>: <value>, ...}``; TensorBoard tags are ``<split>/<name>``.

  Args:
    workdir: the run directory.
    enabled: write anything at all (defaults to ``jax.process_index() == 0``).
  """

  def __init__(self, workdir: str, enabled: bool | None = None):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)
      from tensorboardX import SummaryWriter  # Imported here: only process 0 needs it.
      self._tb = SummaryWriter(os.path.join(workdir, "tb"))

  def write(self, step: int, split: str, metrics: Mapping[str, Any]) -> None:
    """Logs `metrics` (scalars) of `split` at `step`."""
    if not self.enabled:
      return
    record = {"step": int(step), "split": split, "time": time.time()}
    record.update({k: _scalar(v) for k, v in metrics.items()})
    line = json.dumps(record) + "\n"
    with open(self.path, "a+b") as f:
      # A run killed (or out of disk) mid-line leaves a partial last line: end it, so this record
      # starts a line of its own and the partial one alone is unreadable (read_metrics skips it).
      if f.tell() > 0:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
          line = "\n" + line
      f.write(line.encode("utf-8"))
    for name, value in record.items():
      if name in ("step", "split", "time") or not isinstance(value, (int, float)):
        continue
      self._tb.add_scalar(f"{split}/{name}", value, int(step))
    self._tb.flush()

  def close(self) -> None:
    """Flushes and closes the TensorBoard writer."""
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def read_metrics(workdir: str, split: str | None = None) -> list[dict[str, Any]]:
  """Reads back the records of ``workdir/metrics.jsonl`` (only those of `split` when given)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  records, damaged = [], 0
  with open(path, encoding="utf-8", errors="replace") as f:
    for line in f:
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except ValueError:
        damaged += 1  # A line cut short by a kill or a full disk: its record is lost, not the others.
        continue
      if isinstance(record, dict):
        records.append(record)
      else:
        damaged += 1
  if damaged:
    log.warning("%s: skipped %d unreadable line(s) (cut short by a killed run or a full disk)", path,
                damaged)
  return [r for r in records if split is None or r.get("split") == split]


def valid_curve(workdir: str) -> list[list]:
  """The run's learning curve: ``[step, valid NLL (nats), images evaluated]`` for every validation
  record of metrics.jsonl, by step (the last record of a step evaluated twice)."""
  by_step = {int(r["step"]): [int(r["step"]), float(r["nll_nats"]), int(r.get("n", 0))]
             for r in read_metrics(workdir, "valid") if "nll_nats" in r}
  return [by_step[k] for k in sorted(by_step)]


def train_wall_seconds(workdir: str) -> float | None:
  """Training wall time estimated from the train records of metrics.jsonl: the time per step over the
  intervals between consecutive records, scaled to all steps (start-up excluded); None with fewer than
  two records.

  A run stopped and resumed leaves intervals that are no training: the step goes back (the resume began
  from an earlier checkpoint), or one interval takes over ``10x`` the median time per step (the hours
  the run was stopped). Those are left out; evaluations between records stay in.
  """
  rows = read_metrics(workdir, "train")
  if len(rows) < 2:
    return None
  intervals = [(b["time"] - a["time"], b["step"] - a["step"]) for a, b in zip(rows, rows[1:])]
  intervals = [(dt, ds) for dt, ds in intervals if ds > 0]
  if not intervals:
    return None
  limit = 10 * float(np.median([dt / ds for dt, ds in intervals]))
  kept = [(dt, ds) for dt, ds in intervals if dt / ds <= limit]
  return sum(dt for dt, _ in kept) / sum(ds for _, ds in kept) * rows[-1]["step"]


def best_step(workdir: str, *, latest_if_unlogged: bool = False) -> int:
  """The kept checkpoint with the lowest validation NLL logged in metrics.jsonl (early stopping after
  the fact).

  Args:
    workdir: a training workdir.
    latest_if_unlogged: return the latest kept checkpoint when no validation record matches one,
      instead of raising.

  Raises:
    ValueError: no checkpoint is kept, or (unless `latest_if_unlogged`) none has a validation record.
  """
  from armodels_jax import checkpointing  # pylint: disable=g-import-not-at-top

  kept = checkpointing.list_steps(workdir)  # newest first
  if not kept:
    raise ValueError(f"no checkpoint in {workdir}")
  rows = [r for r in read_metrics(workdir, "valid") if r["step"] in set(kept)]
  if rows:
    return min(rows, key=lambda r: r["nll_nats"])["step"]
  if latest_if_unlogged:
    return kept[0]
  raise ValueError(f"no validation record at a kept checkpoint in {workdir}")
