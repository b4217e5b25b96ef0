"""The TPU plan's arithmetic and tables (`experiments/tpu_plan.py`); nothing is compiled here."""

import importlib.util
import math
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def plan():
  spec = importlib.util.spec_from_file_location("tpu_plan", os.path.join(REPO, "experiments", "tpu_plan.py"))
  module = importlib.util.module_from_spec(spec)
  sys.modules["tpu_plan"] = module  # dataclasses look their module up while the file runs.
  spec.loader.exec_module(module)
  return module


def test_batch_rounds_up_to_the_chips(plan):
  assert plan.round_batch(100, 8) == 104
  assert plan.round_batch(16, 16) == 16
  assert plan.round_batch(50, 4) == 52
  with pytest.raises(ValueError, match="positive batch"):
    plan.round_batch(0, 8)


def test_length_from_epochs_steps_or_the_config(plan):
  row = plan.Row("r", "c.py", 0, "s", batch=64, epochs=3, epoch_examples=1000)
  n = plan.plan_length(row, config_batch=16, config_steps=999)
  assert (n["batch"], n["steps"], n["steps_from"], n["batch_from"]) == (64, 47, "paper epochs", "paper")
  assert n["epochs"] == pytest.approx(47 * 64 / 1000)
  row = plan.Row("r", "c.py", 0, "s", batch=128, steps=250_000, epoch_examples=50_000)
  assert plan.plan_length(row, 16, 999)["steps"] == 250_000
  n = plan.plan_length(plan.Row("r", "c.py", 0, "s", epoch_examples=50_000), 16, 999)
  assert (n["batch"], n["steps"], n["steps_from"], n["batch_from"]) == (16, 999, "config", "config")
  with pytest.raises(ValueError, match="epoch_examples"):
    plan.plan_length(plan.Row("r", "c.py", 0, "s", batch=8, epochs=2), 16, 999)


def test_the_cited_lengths(plan):
  rows = plan.ROW_BY_NAME
  # NADE-k: 4,000 epochs of 50,000 images at 100; char-rnn: 50 epochs of 423 batches.
  assert plan.plan_length(rows["nade_k_binarized_mnist"], 100, 1)["steps"] == 2_000_000
  assert plan.plan_length(rows["char_rnn_shakespeare_paper"], 64, 1)["steps"] == 50 * 423
  assert plan.plan_length(rows["vqvae_cifar10"], 128, 1)["steps"] == 250_000


def test_projection(plan):
  p = plan.project(step_s=0.036, steps=100_000, chips=8, epoch_examples=50_000, batch=16)
  assert p["hours"] == pytest.approx(1.0)
  assert p["chip_hours"] == pytest.approx(8.0)
  assert p["hours_per_epoch"] == pytest.approx(math.ceil(50_000 / 16) * 0.036 / 3600)
  assert plan.project(0.1, 10, 4, None, 8)["hours_per_epoch"] is None
  assert [plan.fmt_hours(h) for h in (1234.4, 12.34, 0.7, 0.001, None)] == ["1,234", "12.3", "42 min",
                                                                            "<1 min", ""]


def test_every_row_has_a_config_and_a_source(plan):
  names = [r.name for r in plan.ROWS]
  assert len(names) == len(set(names)) == 26
  for r in plan.ROWS:
    assert os.path.exists(os.path.join(REPO, "experiments", "configs", r.config)), r.config
    assert r.source and 0 <= r.cost <= 4


def test_cells_table_lists_missing_failed_and_done_cells(plan):
  row = plan.ROW_BY_NAME["made_2h_32masks_binarized_mnist"]
  length = plan.plan_length(row, 100, 40_000)
  assert "not compiled yet" in plan.cell_line(row, length, "v5e-8", "float32", None)
  na = plan.cell_line(row, length, "v5e-8", "bfloat16",
                      {"error": "model MADE computes in float32 only: expected dtype='float32'"})
  assert "n/a" in na
  report = {"fits": False, "max_per_chip_batch": 3, "hbm_gib": 20.0, "step_s_roofline": 0.01, "chips": 8,
            "chip": "v5e", "flops": 1e9, "bytes": 8.19e9, "train_while_loops": 2}
  line = plan.cell_line(row, length, "v5e-8", "float32", {"report": report, "code": "plan@abc"})
  cols = [c.strip() for c in line.strip("|").split("|")]
  assert cols[3] == "104" and "no" in cols[4] and "3" in cols[4]
  assert cols[7] == "bytes"  # 8.19 GB / 819 GB/s = 10 ms > 1 GFLOP / 197 TFLOP/s.
  assert "2" in cols[8] and "too low" in cols[8]  # compiled before the trips were counted
  assert not plan.is_current({"batch": 104, "overrides": list(row.overrides), "report": report}, row, 104)
  counted = {**report, "xla_flops": 5e8, "unknown_trip_loops": 0, "loop_cost_version": plan.LOOP_COST_VERSION}
  assert plan.is_current({"batch": 104, "overrides": list(row.overrides), "report": counted}, row, 104)
  # A cell compiled for another model section of the config (a wider MADE) is stale, and so is a
  # compiled one that records none; an error cell needs none.
  facts = {"model_spec": '{"name": "made", "overrides": {"hidden_sizes": [3700, 3700]}}'}
  cell = {"batch": 104, "overrides": list(row.overrides), "report": counted}
  assert plan.is_current({**cell, "model_spec": facts["model_spec"]}, row, 104, facts)
  assert not plan.is_current({**cell, "model_spec": '{"name": "made"}'}, row, 104, facts)
  assert not plan.same_program({**cell, "model_spec": '{"name": "made"}'}, row, 104, facts)
  assert not plan.is_current(cell, row, 104, facts)
  assert plan.same_program({"batch": 104, "overrides": list(row.overrides), "error": "float32 only"},
                           row, 104, facts)
  line = plan.cell_line(row, length, "v5e-8", "float32", {"report": counted, "code": "plan@abc"})
  assert [c.strip() for c in line.strip("|").split("|")][8] == "2, trips counted"
  unknown = plan.cell_line(row, length, "v5e-8", "float32",
                           {"report": {**counted, "unknown_trip_loops": 1}, "code": "plan@abc"})
  assert "too low" in unknown.strip("|").split("|")[8]
  from armodels_jax import hlo_cost  # pylint: disable=g-import-not-at-top
  assert plan.LOOP_COST_VERSION == hlo_cost.VERSION  # the plan takes the figures aot writes now
  assert cols[10] == plan.fmt_hours(40_000 * 0.01 / 3600) and cols[11] == plan.fmt_hours(40_000 * 0.01 * 8 / 3600)
  lengths = {r.name: plan.plan_length(r, 16, 1000) for r in plan.ROWS}
  table = plan.cells_table(lengths, {})
  assert len(table) == 2 + len(plan.ROWS) * len(plan.TARGETS) * len(plan.DTYPES)
