"""Metric logging: JSON lines in ``workdir/metrics.jsonl`` and TensorBoard events in ``workdir/tb``.

Only process 0 writes; on the other hosts the writer does nothing.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Mapping

import jax
import numpy as np

__all__ = ["MetricWriter", "read_metrics"]


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
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
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
  with open(path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return [r for r in records if split is None or r.get("split") == split]
