r"""What a compiled program's while loops cost, read from its HLO text, to correct XLA's cost analysis.

XLA's cost analysis (``Compiled.cost_analysis()``, jax 0.10.2 with libtpu 0.0.42.1 and the CPU
compiler alike) counts the body of a ``while`` loop once, however many times the loop runs: a 100-step
``fori_loop`` of one matmul reports the FLOPs of one matmul (``tests/test_aot.py``). Every ``lax.scan``
(over time in an RNN, over rows in a Row LSTM, over stacked blocks in a scanned PixelCNN++) is such a
loop, so the FLOPs, bytes and roofline of those programs came out too low, by nearly the trip count for
the work inside the loop.

This module reads the compiled HLO text (``Compiled.as_text()``), where XLA records each loop's
``known_trip_count`` in its backend config, and estimates what each computation costs:

* FLOPs: the matrix products and convolutions (``dot``: 2 x output elements x the contracted size;
  ``convolution``: 2 x output elements x the kernel's elements per output feature), and elementwise
  arithmetic and reductions at one FLOP per element, as XLA counts them (transcendental functions,
  which XLA counts apart, are left out).
* bytes: for every instruction of a computation that touches memory (a fusion counts as one
  instruction, its inside is on-chip), the bytes of its operands and of its result, which is how
  XLA's own ``bytes accessed`` is made up.

Fusions, calls and async wrappers are followed into the computations they call; a loop's body and
condition cost its trip count times; a conditional costs its dearest branch, so a loop with a
conditional inside is costed as if every trip took the dearest branch: an upper bound for that loop
(``loops_with_conditionals``; a cached sampler's decode loop, whose "new row" branch runs once a row). :func:`loop_costs` gives
the part XLA leaves out, the estimate with every loop run its trip count times minus the estimate with
every loop run once, which `armodels_jax.aot` adds to XLA's figures. A loop whose trip count XLA does not
know is counted once and reported in ``unknown_trip_loops``.

The HLO text format read here is XLA's (``HloModule::ToString``): computations ``%name (params) -> shape
{ ... }`` with one instruction a line, ``[ROOT] %name = shape opcode(operands), attribute=value, ...``.
"""

from __future__ import annotations

import dataclasses
import math
import re

# Changes when what the estimate counts changes, so that saved figures can tell they are out of date.
VERSION = 2

_BYTES = {"pred": 1, "s2": 0.25, "u2": 0.25, "s4": 0.5, "u4": 0.5, "s8": 1, "u8": 1, "s16": 2, "u16": 2,
          "f16": 2, "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8,
          "c128": 16, "token": 0, "opaque": 0}
_ARRAY = re.compile(r"\b([a-z]+[0-9a-z]*)\[([^\]]*)\]")
_HEADER = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s*\((.*)\)\s*->\s*(.*)\{\s*$")
_INSTRUCTION = re.compile(r"^\s*(ROOT\s+)?%([\w.\-]+)\s*=\s*(.*)$")
_NAME = re.compile(r"%([\w.\-]+)")
# Elementwise arithmetic: one FLOP per result element, as XLA's own cost analysis counts it (which counts
# transcendental functions apart, not as FLOPs); ``reduce``: one per element reduced.
_ELEMENTWISE = {"add", "subtract", "multiply", "divide", "maximum", "minimum", "negate", "abs", "compare",
                "select", "clamp", "power", "remainder", "sign", "floor", "ceil", "round-nearest-afz",
                "round-nearest-even", "and", "or", "xor", "not", "atan2"}
# Instructions that move no data of their own (views, tuples, control) or whose data is counted where
# their callee is costed.
_NO_TRAFFIC = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "while", "call",
               "conditional", "after-all", "partition-id", "replica-id", "iota", "opt-barrier"}


@dataclasses.dataclass
class Cost:
  """An estimate of what running something once costs."""
  flops: float = 0.0
  bytes: float = 0.0

  def __add__(self, other: "Cost") -> "Cost":
    return Cost(self.flops + other.flops, self.bytes + other.bytes)

  def scaled(self, n: float) -> "Cost":
    return Cost(self.flops * n, self.bytes * n)


@dataclasses.dataclass
class LoopCosts:
  """:func:`loop_costs`' result: what XLA's cost analysis leaves out of a program with loops."""
  while_loops: int  # while instructions in the program
  unknown_trip_loops: int  # of those, the ones without a known trip count (counted once)
  missing_flops: float  # FLOPs of the loops' repeated trips (trip count - 1 times each body)
  missing_bytes: float
  # of the loops, those whose body holds a conditional: each trip is costed at the dearest branch, so
  # for them `scaled` is an upper bound (a cached sampler's "new row" and "same pixel" branches)
  loops_with_conditionals: int
  once: Cost  # this module's estimate of the whole program with every loop run once
  scaled: Cost  # ... and with every loop run its trip count times


@dataclasses.dataclass
class _Instruction:
  name: str
  shape: str
  opcode: str
  operands: list[str]
  args: str  # the text between the opcode's parentheses
  attributes: str
  root: bool


def _elements_and_bytes(shape: str) -> tuple[int, float]:
  """Elements and bytes of a shape (a tuple's: the sum of its arrays')."""
  elements, nbytes = 0, 0.0
  for dtype, dims in _ARRAY.findall(shape):
    if dtype not in _BYTES:
      continue
    n = math.prod(int(d.replace("<=", "")) for d in dims.split(",") if d.strip()) if dims.strip() else 1
    elements += n
    nbytes += n * _BYTES[dtype]
  return elements, nbytes


def _dims(shape: str) -> list[int]:
  """The dimensions of an array shape (the first array of the text)."""
  m = _ARRAY.search(shape)
  if m is None or not m.group(2).strip():
    return []
  return [int(d.replace("<=", "")) for d in m.group(2).split(",")]


def _split_shape(text: str) -> tuple[str, str]:
  """``'f32[2,3]{1,0} dot(...), ...'`` -> (shape, rest); a tuple shape is matched to its parenthesis."""
  if text.startswith("("):
    depth = 0
    for i, ch in enumerate(text):
      depth += ch == "("
      depth -= ch == ")"
      if depth == 0:
        return text[:i + 1], text[i + 1:].lstrip()
  shape, _, rest = text.partition(" ")
  return shape, rest


def _parse_instruction(line: str) -> _Instruction | None:
  m = _INSTRUCTION.match(line)
  if m is None:
    return None
  shape, rest = _split_shape(m.group(3))
  op = re.match(r"([\w\-]+)\(", rest)
  if op is None:
    return None
  depth, start = 0, op.end() - 1
  end = len(rest)
  for i in range(start, len(rest)):
    depth += rest[i] == "("
    depth -= rest[i] == ")"
    if depth == 0:
      end = i
      break
  return _Instruction(name=m.group(2), shape=shape, opcode=op.group(1),
                      operands=_NAME.findall(rest[start + 1:end]), args=rest[start + 1:end],
                      attributes=rest[end + 1:], root=bool(m.group(1)))


def parse(hlo_text: str) -> tuple[dict[str, list[_Instruction]], dict[str, dict[str, str]], str]:
  """``(computations: name -> instructions, shapes: computation -> {value name: shape}, entry name)``."""
  computations: dict[str, list[_Instruction]] = {}
  shapes: dict[str, dict[str, str]] = {}
  entry, current = "", None
  for line in hlo_text.splitlines():
    if current is None:
      m = _HEADER.match(line.strip())
      if m is None:
        continue
      current = m.group(1)
      if line.lstrip().startswith("ENTRY"):
        entry = current
      computations[current], shapes[current] = [], {}
      for param in re.finditer(r"([\w.\-]+):\s*", m.group(2)):  # "name: shape" pairs of the header
        shape, _ = _split_shape(m.group(2)[param.end():])
        shapes[current][param.group(1)] = shape
      continue
    if line.strip() == "}":
      current = None
      continue
    instruction = _parse_instruction(line)
    if instruction is not None:
      computations[current].append(instruction)
      shapes[current][instruction.name] = instruction.shape
  return computations, shapes, entry


def _root(instructions: list[_Instruction]) -> _Instruction | None:
  """A computation's ROOT instruction (the last one if none is marked)."""
  return next((ins for ins in instructions if ins.root), instructions[-1] if instructions else None)


def _known_trip_count(attributes: str) -> int | None:
  """The trip count XLA:CPU writes into a while loop's backend config."""
  m = re.search(r'"known_trip_count"\s*:\s*\{\s*"n"\s*:\s*"?(\d+)', attributes)
  return int(m.group(1)) if m else None


class _Scalars:
  """Symbolic values of the scalars a loop's condition and step are made of, enough to read the trip
  count of a counted loop (``for i = a; i < b; i += s``), the shape of every ``lax.scan`` and
  ``fori_loop``, where the compiler (XLA:TPU) does not record it: a value is ``("const", n)``,
  ``("elem", k)`` (element k of the computation's tuple parameter) or ``("add", k, n)`` (element k
  plus n); anything else is None. Copies, bitcasts, converts and fusions are looked through."""

  def __init__(self, computations):
    self.computations = computations
    self.by_name = {c: {ins.name: ins for ins in body} for c, body in computations.items()}

  def value(self, comp: str, name: str, params: list | None = None, depth: int = 0):
    ins = self.by_name.get(comp, {}).get(name)
    if ins is None or depth > 32:
      return None
    op = ins.opcode
    if op == "constant":
      m = re.fullmatch(r"\s*(-?\d+)\s*", ins.args)
      return ("const", int(m.group(1))) if m else None
    if op in ("copy", "bitcast", "convert", "reshape") and ins.operands:
      return self.value(comp, ins.operands[0], params, depth + 1)
    if op == "parameter":
      index = int(ins.args) if ins.args.strip().isdigit() else -1
      if params is not None:  # a fused computation's parameter: the fusion's operand
        return params[index] if 0 <= index < len(params) else None
      return ("tuple", index)
    if op == "get-tuple-element" and ins.operands:
      inner = self.value(comp, ins.operands[0], params, depth + 1)
      m = re.search(r"index=(\d+)", ins.attributes)
      if inner == ("tuple", 0) and m:
        return ("elem", int(m.group(1)))
      return None
    if op == "add" and len(ins.operands) == 2:
      a, b = (self.value(comp, o, params, depth + 1) for o in ins.operands)
      if a and b and a[0] == "const":
        a, b = b, a
      if a and b and a[0] == "elem" and b[0] == "const":
        return ("add", a[1], b[1])
      if a and b and a[0] == "const" and b[0] == "const":
        return ("const", a[1] + b[1])
      return None
    if op == "fusion":
      callee = _called(ins.attributes, "calls")
      if not callee:
        return None
      args = [self.value(comp, o, params, depth + 1) for o in ins.operands]
      root = self.root(callee[0])
      return None if root is None else self.value(callee[0], root.name, args, depth + 1)
    return None

  def root(self, comp: str):
    return _root(self.computations.get(comp, []))

  def compare(self, comp: str, name: str, params: list | None = None):
    """``(direction, left, right)`` of the comparison a condition ends with, through fusions."""
    ins = self.by_name.get(comp, {}).get(name)
    if ins is None:
      return None
    if ins.opcode == "compare" and len(ins.operands) == 2:
      m = re.search(r"direction=(\w+)", ins.attributes)
      return (m.group(1) if m else "", *(self.value(comp, o, params) for o in ins.operands))
    if ins.opcode == "fusion":
      callee = _called(ins.attributes, "calls")
      root = self.root(callee[0]) if callee else None
      if root is not None:
        return self.compare(callee[0], root.name, [self.value(comp, o, params) for o in ins.operands])
    return None

  def trip_count(self, caller: str, loop: _Instruction) -> int | None:
    """Iterations of a counted while loop, or None."""
    cond, body = _called(loop.attributes, "condition"), _called(loop.attributes, "body")
    if not cond or not body or not loop.operands:
      return None
    croot, broot = self.root(cond[0]), self.root(body[0])
    test = self.compare(cond[0], croot.name) if croot is not None else None
    if test is None:
      return None
    direction, left, right = test
    if left and left[0] == "const":  # b > i  ->  i < b
      left, right = right, left
      direction = {"GT": "LT", "GE": "LE", "LT": "GT", "LE": "GE"}.get(direction, direction)
    if not (left and right and left[0] == "elem" and right[0] == "const"):
      return None
    k, bound = left[1], right[1]
    init_tuple = self.by_name[caller].get(loop.operands[0])
    if broot is None or broot.opcode != "tuple" or init_tuple is None or init_tuple.opcode != "tuple":
      return None
    if k >= len(init_tuple.operands) or k >= len(broot.operands):
      return None
    start = self.value(caller, init_tuple.operands[k])
    step = self.value(body[0], broot.operands[k])
    if not (start and start[0] == "const" and step and step[0] == "add" and step[1] == k and step[2]):
      return None
    a, s = start[1], step[2]
    if direction == "LT" and s > 0:
      return max(0, -(-(bound - a) // s))
    if direction == "LE" and s > 0:
      return max(0, (bound - a) // s + 1)
    if direction == "GT" and s < 0:
      return max(0, -(-(a - bound) // -s))
    if direction == "GE" and s < 0:
      return max(0, (a - bound) // -s + 1)
    if direction == "NE" and s and (bound - a) % s == 0 and (bound - a) // s >= 0:
      return (bound - a) // s
    return None


def _called(attributes: str, key: str) -> list[str]:
  m = re.search(key + r"=\{([^}]*)\}", attributes)
  if m:
    return _NAME.findall(m.group(1))
  m = re.search(key + r"=%([\w.\-]+)", attributes)
  return [m.group(1)] if m else []


def _matmul_flops(ins: _Instruction, shapes: dict[str, str]) -> float:
  out, _ = _elements_and_bytes(ins.shape)
  if ins.opcode == "dot":
    lhs = _dims(shapes.get(ins.operands[0], "")) if ins.operands else []
    m = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", ins.attributes)
    contracted = [lhs[int(d)] for d in m.group(1).split(",") if d] if m and lhs else []
    return 2.0 * out * math.prod(contracted)
  # convolution: each output element takes the kernel's elements of one output feature
  kernel = _dims(shapes.get(ins.operands[1], "")) if len(ins.operands) > 1 else []
  labels = re.search(r"dim_labels=[^_]*_([^-]*)->", ins.attributes)
  if not kernel or labels is None or "o" not in labels.group(1):
    return 0.0
  per_output = math.prod(kernel) / kernel[labels.group(1).index("o")]
  return 2.0 * out * per_output


class _Estimator:
  """Costs of the computations of one module, memoised, with loops run once or their trip count."""

  def __init__(self, computations, shapes, scalars: "_Scalars", scale_loops: bool):
    self.computations, self.shapes, self.scale_loops = computations, shapes, scale_loops
    self.memo: dict[str, Cost] = {}
    self.fusion_memo: dict[str, tuple] = {}
    self.scalars = scalars
    self.loops = self.unknown = self.branchy = 0  # counted on the first (unscaled) pass

  def cost(self, name: str, traffic: bool = True) -> Cost:
    key = f"{name}/{traffic}"
    if key in self.memo:
      return self.memo[key]
    total = Cost()
    shapes = self.shapes.get(name, {})
    for ins in self.computations.get(name, []):
      total = total + self._instruction(name, ins, shapes, traffic)
    self.memo[key] = total
    return total

  def _has_conditional(self, name: str, seen: set) -> bool:
    """Whether a computation, or one it calls, holds a conditional."""
    if name in seen:
      return False
    seen.add(name)
    for ins in self.computations.get(name, []):
      if ins.opcode == "conditional":
        return True
      for key in ("calls", "to_apply", "body", "condition"):
        if any(self._has_conditional(c, seen) for c in _called(ins.attributes, key)):
          return True
    return False

  def _traffic(self, ins: _Instruction, shapes: dict[str, str]) -> float:
    """Bytes an instruction reads and writes. A slice read (``dynamic-slice``) reads its result's bytes
    of the operand, and an in-place update (``dynamic-update-slice``) writes its update's, not the
    whole buffer: how a scan reads one step's slice of its stacked inputs and writes one step's slice
    of its stacked outputs, inside a fusion or not."""
    size = lambda shape: _elements_and_bytes(shape)[1]
    if ins.opcode in ("dynamic-slice", "slice"):
      return 2 * size(ins.shape)
    if ins.opcode == "dynamic-update-slice":
      return 2 * size(shapes.get(ins.operands[1], "")) if len(ins.operands) > 1 else 0.0
    callees = _called(ins.attributes, "calls") if ins.opcode == "fusion" else []
    if not callees or callees[0] not in self.computations:
      return size(ins.shape) + sum(size(shapes.get(o, "")) for o in ins.operands)
    reads, written = self._fusion_access(callees[0])
    total = size(ins.shape) if written is None else written
    for i, operand in enumerate(ins.operands):
      total += size(shapes.get(operand, "")) if reads.get(i) is None else reads[i]
    return total

  def _fusion_access(self, name: str) -> tuple[dict[int, float | None], float | None]:
    """For a fused computation: per parameter index, the bytes read of it when it is only sliced or
    updated in place (None: read whole), and the bytes written when its root is an in-place update
    (None: the whole result)."""
    if name not in self.fusion_memo:
      self.fusion_memo[name] = self._read_fusion_access(name)
    return self.fusion_memo[name]

  def _read_fusion_access(self, name: str) -> tuple[dict[int, float | None], float | None]:
    instructions = self.computations[name]
    shapes = self.shapes[name]
    by_name = self.scalars.by_name[name]
    users: dict[str, list[_Instruction]] = {}
    for ins in instructions:
      for o in ins.operands:
        users.setdefault(o, []).append(ins)

    def through_bitcasts(value: str) -> list[_Instruction]:
      out = []
      for user in users.get(value, []):
        out += through_bitcasts(user.name) if user.opcode == "bitcast" else [user]
      return out

    size = lambda shape: _elements_and_bytes(shape)[1]
    reads: dict[int, float | None] = {}
    for ins in instructions:
      if ins.opcode != "parameter":
        continue
      if not ins.args.strip().isdigit():
        continue
      consumers = through_bitcasts(ins.name)
      partial = 0.0
      for user in consumers:
        if user.opcode in ("dynamic-slice", "slice") and user.operands[:1] and self._is_from(user.operands[0], ins.name, by_name):
          partial += size(user.shape)
        elif (user.opcode == "dynamic-update-slice" and user.operands[:1]
              and self._is_from(user.operands[0], ins.name, by_name)):
          partial += 0.0
        else:
          partial = None
          break
      reads[int(ins.args)] = partial if consumers else None
    root = _root(instructions)
    while root is not None and root.opcode == "bitcast" and root.operands and root.operands[0] in by_name:
      root = by_name[root.operands[0]]
    written = None
    if root is not None and root.opcode == "dynamic-update-slice" and len(root.operands) > 1:
      written = size(shapes.get(root.operands[1], ""))
    return reads, written

  @staticmethod
  def _is_from(value: str, param: str, by_name: dict[str, _Instruction]) -> bool:
    while value != param and value in by_name and by_name[value].opcode == "bitcast":
      value = by_name[value].operands[0]
    return value == param

  def _instruction(self, caller: str, ins: _Instruction, shapes: dict[str, str], traffic: bool) -> Cost:
    c = Cost()
    if ins.opcode in ("dot", "convolution"):
      c.flops = _matmul_flops(ins, shapes)
    elif ins.opcode in _ELEMENTWISE:
      c.flops = _elements_and_bytes(ins.shape)[0]
    elif ins.opcode == "reduce" and ins.operands:
      c.flops = _elements_and_bytes(shapes.get(ins.operands[0], ""))[0]
    if traffic and ins.opcode not in _NO_TRAFFIC and not ins.opcode.endswith("-done"):
      c.bytes = self._traffic(ins, shapes)
    if ins.opcode == "fusion" or ins.opcode.endswith("-start"):
      for callee in _called(ins.attributes, "calls"):  # on-chip inside: FLOPs only
        c.flops += self.cost(callee, traffic=False).flops
    elif ins.opcode == "call":
      for callee in _called(ins.attributes, "to_apply"):
        c = c + self.cost(callee, traffic)
    elif ins.opcode == "conditional":
      branches = (_called(ins.attributes, "branch_computations")
                  or _called(ins.attributes, "true_computation") + _called(ins.attributes, "false_computation"))
      costs = [self.cost(b, traffic) for b in branches]
      if costs:
        c = c + max(costs, key=lambda k: (k.flops, k.bytes))
    elif ins.opcode == "while":
      trips = _known_trip_count(ins.attributes)
      if trips is None:
        trips = self.scalars.trip_count(caller, ins)
      if not self.scale_loops:
        self.loops += 1
        self.unknown += trips is None
        self.branchy += any(self._has_conditional(b, set()) for b in _called(ins.attributes, "body"))
      n = trips if self.scale_loops and trips is not None else 1
      for body in _called(ins.attributes, "body"):
        c = c + self.cost(body, traffic).scaled(n)
      for cond in _called(ins.attributes, "condition"):
        c = c + self.cost(cond, traffic).scaled(n)
    return c


def loop_costs(hlo_text: str) -> LoopCosts:
  """What XLA's cost analysis leaves out of the compiled program ``hlo_text``: see the module doc."""
  computations, shapes, entry = parse(hlo_text)
  scalars = _Scalars(computations)
  once_estimator = _Estimator(computations, shapes, scalars, scale_loops=False)
  once = once_estimator.cost(entry)
  scaled = _Estimator(computations, shapes, scalars, scale_loops=True).cost(entry)
  return LoopCosts(while_loops=once_estimator.loops, unknown_trip_loops=once_estimator.unknown,
                   loops_with_conditionals=once_estimator.branchy,
                   missing_flops=scaled.flops - once.flops, missing_bytes=scaled.bytes - once.bytes,
                   once=once, scaled=scaled)
