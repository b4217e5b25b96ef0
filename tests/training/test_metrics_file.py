"""metrics.jsonl survives a run killed mid-line (a kill -9 or a full disk while a record is written)."""

import json
import logging

from armodels_jax.training import metrics


def test_a_line_cut_short_loses_its_record_only(tmp_path, caplog):
  writer = metrics.MetricWriter(str(tmp_path), enabled=True)
  writer.write(1, "train", {"loss": 2.0})
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write('{"step": 2, "split": "train", "lo')  # The killed run's last, partial write.
  writer.write(3, "valid", {"nll_nats": 1.5})  # The resumed run's next record.
  writer.close()
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert len(lines) == 3 and json.loads(lines[2])["step"] == 3  # The new record got a line of its own.
  with caplog.at_level(logging.WARNING):
    records = metrics.read_metrics(str(tmp_path))
  assert [(r["step"], r["split"]) for r in records] == [(1, "train"), (3, "valid")]
  assert "skipped 1 unreadable line" in caplog.text
  assert metrics.valid_curve(str(tmp_path)) == [[3, 1.5, 0]]


def test_an_intact_file_reads_without_a_warning(tmp_path, caplog):
  writer = metrics.MetricWriter(str(tmp_path), enabled=True)
  for step in (1, 2):
    writer.write(step, "train", {"loss": float(step)})
  writer.close()
  with caplog.at_level(logging.WARNING):
    assert [r["loss"] for r in metrics.read_metrics(str(tmp_path), "train")] == [1.0, 2.0]
  assert "unreadable" not in caplog.text
  assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 2
