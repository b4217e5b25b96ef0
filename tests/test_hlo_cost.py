"""`armodels_jax.hlo_cost`: the trips of a compiled program's while loops, which XLA's cost analysis
counts once, read from the HLO text, on the host's compiler and on XLA:TPU (which records no trip
count, so it is read from the loop's condition and step)."""

import os

import jax
import jax.numpy as jnp
import pytest

from armodels_jax import aot
from armodels_jax import hlo_cost


def _xla_flops(compiled) -> float:
  cost = compiled.cost_analysis()
  return (cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"]


def _scanned(w, x):
  def layer(c, wi):
    return jnp.tanh(c @ wi), None
  return jax.lax.scan(layer, x, w)[0].sum()


def _unrolled(w, x):
  c = x
  for i in range(w.shape[0]):
    c = jnp.tanh(c @ w[i])
  return c.sum()


def test_scanned_gradient_costs_what_the_unrolled_one_costs_on_the_host():
  w, x = jnp.ones((7, 64, 64)), jnp.ones((8, 64))
  scanned = jax.jit(jax.grad(_scanned)).lower(w, x).compile()
  unrolled = jax.jit(jax.grad(_unrolled)).lower(w, x).compile()
  loops = hlo_cost.loop_costs(scanned.as_text())
  assert (loops.while_loops, loops.unknown_trip_loops) == (2, 0)  # forward and backward scans
  # XLA alone: the seven layers' products counted as one
  assert _xla_flops(scanned) < 0.3 * _xla_flops(unrolled)
  corrected = _xla_flops(scanned) + loops.missing_flops
  assert corrected == pytest.approx(_xla_flops(unrolled), rel=0.1)
  assert loops.missing_bytes > 0
  none = hlo_cost.loop_costs(unrolled.as_text())
  assert (none.while_loops, none.missing_flops, none.missing_bytes) == (0, 0.0, 0.0)
  # Where both count the same program, this estimate is XLA's (products, elementwise work, traffic).
  assert none.once.flops == pytest.approx(_xla_flops(unrolled), rel=0.05)
  assert loops.once.flops == pytest.approx(_xla_flops(scanned), rel=0.05)


# A counted loop as XLA:TPU writes it (no known_trip_count): i from 2 while i < 11, i += 3 -> 3 trips,
# each one 8x16 @ 16x16 product; the comparison fused, as on TPU.
_TEXT = """HloModule m

%cmp (p0: s32[], p1: s32[]) -> pred[] {
  %p0 = s32[] parameter(0)
  %p1 = s32[] parameter(1)
  ROOT %lt = pred[] compare(%p0, %p1), direction=LT
}

%cond (arg: (s32[], f32[8,16], f32[16,16])) -> pred[] {
  %arg = (s32[], f32[8,16]{1,0}, f32[16,16]{1,0}) parameter(0)
  %i = s32[] get-tuple-element(%arg), index=0
  %bound = s32[] constant(BOUND)
  ROOT %test = pred[] fusion(%i, %bound), kind=kLoop, calls=%cmp
}

%body (arg.1: (s32[], f32[8,16], f32[16,16])) -> (s32[], f32[8,16], f32[16,16]) {
  %arg.1 = (s32[], f32[8,16]{1,0}, f32[16,16]{1,0}) parameter(0)
  %i.1 = s32[] get-tuple-element(%arg.1), index=0
  %step = s32[] constant(3)
  %next = s32[] add(%i.1, %step)
  %h = f32[8,16]{1,0} get-tuple-element(%arg.1), index=1
  %w = f32[16,16]{1,0} get-tuple-element(%arg.1), index=2
  %y = f32[8,16]{1,0} dot(%h, %w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT %out = (s32[], f32[8,16]{1,0}, f32[16,16]{1,0}) tuple(%next, %y, %w)
}

ENTRY %main (x: f32[8,16], w.1: f32[16,16]) -> f32[8,16] {
  %x = f32[8,16]{1,0} parameter(0)
  %w.1 = f32[16,16]{1,0} parameter(1)
  %start = s32[] constant(2)
  %init = (s32[], f32[8,16]{1,0}, f32[16,16]{1,0}) tuple(%start, %x, %w.1)
  %loop = (s32[], f32[8,16]{1,0}, f32[16,16]{1,0}) while(%init), condition=%cond, body=%body
  ROOT %r = f32[8,16]{1,0} get-tuple-element(%loop), index=1
}
"""
_PRODUCT = 2 * 8 * 16 * 16
_TRIP = _PRODUCT + 2  # the product, the counter's add and the condition's compare


@pytest.mark.parametrize("bound,trips", [("11", 3), ("12", 4), ("2", 0), ("3", 1)])
def test_trip_count_read_from_the_condition_and_step(bound, trips):
  loops = hlo_cost.loop_costs(_TEXT.replace("BOUND", bound))
  assert (loops.while_loops, loops.unknown_trip_loops) == (1, 0)
  assert loops.once.flops == _TRIP
  assert loops.scaled.flops == trips * _TRIP
  assert loops.missing_flops == (trips - 1) * _TRIP


def test_a_loop_of_unknown_length_is_counted_once_and_reported():
  # The bound read from the loop's state (a while loop over data), not a constant.
  text = _TEXT.replace("%bound = s32[] constant(BOUND)", "%bound = s32[] get-tuple-element(%arg), index=0")
  loops = hlo_cost.loop_costs(text)
  assert (loops.while_loops, loops.unknown_trip_loops) == (1, 1)
  assert loops.missing_flops == 0 and loops.scaled.flops == _TRIP


def test_a_loop_with_a_conditional_is_costed_at_its_dearest_branch_and_flagged():
  # The body's product moved into one branch of a conditional; the other branch does nothing.
  text = _TEXT.replace("BOUND", "11").replace(
      "  %y = f32[8,16]{1,0} dot(%h, %w), lhs_contracting_dims={1}, rhs_contracting_dims={0}\n",
      "  %p = pred[] constant(true)\n"
      "  %y = f32[8,16]{1,0} conditional(%p, %h, %h), true_computation=%mul, false_computation=%skip\n")
  text = text.replace("ENTRY", """%mul (a: f32[8,16]) -> f32[8,16] {
  %a = f32[8,16]{1,0} parameter(0)
  %c = f32[16,16]{1,0} constant({...})
  ROOT %m = f32[8,16]{1,0} dot(%a, %c), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

%skip (b: f32[8,16]) -> f32[8,16] {
  ROOT %b = f32[8,16]{1,0} parameter(0)
}

ENTRY""")
  loops = hlo_cost.loop_costs(text)
  assert (loops.while_loops, loops.loops_with_conditionals) == (1, 1)
  assert loops.scaled.flops == 3 * _TRIP  # every trip charged the product
  assert hlo_cost.loop_costs(_TEXT.replace("BOUND", "11")).loops_with_conditionals == 0


def test_trip_count_written_by_the_compiler_is_used():
  text = _TEXT.replace("BOUND", "11").replace(
      "condition=%cond, body=%body", 'condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"5"}}')
  assert hlo_cost.loop_costs(text).scaled.flops == 5 * _TRIP


needs_tpu = pytest.mark.skipif(
    not aot.tpu_available() and os.environ.get("ARMODELS_REQUIRE_TPU_COMPILE") != "1",
    reason="libtpu is not installed (pip install -e '.[tpu]')")


@needs_tpu
def test_tpu_program_loops_are_counted_and_the_report_adds_them():
  """XLA:TPU records no trip count; the trips are read from the loop. The report's FLOPs (and the
  roofline) are XLA's plus the loops', and match the unrolled program's."""
  from jax.sharding import Mesh, NamedSharding, PartitionSpec  # pylint: disable=g-import-not-at-top

  devices, chip = aot.topology_devices("v5e:2x2")
  replicated = NamedSharding(Mesh(devices, ("data",)), PartitionSpec())
  w = jax.ShapeDtypeStruct((12, 256, 256), jnp.float32, sharding=replicated)
  x = jax.ShapeDtypeStruct((64, 256), jnp.float32, sharding=replicated)
  scanned = aot._compile("train", jax.jit(jax.grad(_scanned)), [w, x], 64, keep_hlo=False)  # pylint: disable=protected-access
  unrolled = aot._compile("train", jax.jit(jax.grad(_unrolled)), [w, x], 64, keep_hlo=False)  # pylint: disable=protected-access
  assert scanned.while_loops >= 1 and scanned.unknown_trip_loops == 0
  assert scanned.flops < 0.3 * unrolled.flops  # XLA's count: one layer of twelve
  assert scanned.step_flops == pytest.approx(unrolled.step_flops, rel=0.1)
  assert unrolled.loop_flops == 0 and unrolled.step_flops == unrolled.flops
  d = scanned.as_dict(chip)
  assert d["flops"] == scanned.flops + scanned.loop_flops and d["xla_flops"] == scanned.flops
  assert d["costs_are_lower_bounds"] is False
  assert scanned.roofline_s(chip) >= scanned.step_flops / chip.peak_bf16_flops
