"""Ahead-of-time compilation for TPU slices on a host without TPUs: does a run fit, and how fast can it be.

``compile_config(config, "v5e:2x4")`` builds what ``armodels train`` runs on that slice (the model, the
optimizer, the train state and the sharded train step of ``training.steps.make_train_step``; the eval
step ``training.steps.eval_sums``; the cached sampler ``sampling.sample_cached`` at the run's
``train.num_samples``) from abstract inputs (``jax.ShapeDtypeStruct`` with a ``NamedSharding``) on the
compile-only devices of ``jax.experimental.topologies.get_topology_desc``, and compiles each program
with XLA's TPU compiler from libtpu (``pip install 'armodels_jax[tpu]'``). Nothing is allocated and no
data is read: the data shapes come from the config (`data_spec`).

Per program it reports the memory per chip (``compiled.memory_analysis()``: arguments, outputs,
temporaries, generated code; a donated train state counts once), whether that fits the chip's HBM
(`CHIPS`), FLOPs and bytes per chip per step (``compiled.cost_analysis()``), and a roofline lower bound
of the step time, ``max(flops / peak, bytes / bandwidth)`` (Williams, Waterman & Patterson,
"Roofline: an insightful visual performance model for multicore architectures", CACM 2009). A float32
program is bounded with the bfloat16 peak: XLA:TPU runs float32 matrix products at JAX's default
precision as bfloat16 passes on the MXU. When the train step does not fit, the largest per-chip batch
that does is found by compiling (a bisection over the per-chip batch).

Multi-host topologies (``v4:2x2x4``: 16 chips on 4 hosts) give devices of every host, so the mesh and
the program are those of ``armodels train --distributed`` on every host of the slice
(``experiments/tpu/pod.sh``): one ``'data'`` axis over all chips (``training.sharding.make_mesh``).

The convolution method of ``layers.conv_ops`` is chosen for the target platform while tracing
(``conv_ops.compiling_for``), so the TPU program holds XLA convolutions, not the CPU's matmul rewrite.

Glossary: B the global batch, b the per-chip batch (B / chips).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from armodels_jax import hlo_cost
from armodels_jax.layers import conv_ops
from armodels_jax.training import config as config_lib
from armodels_jax.training import optim
from armodels_jax.training import sharding as shd
from armodels_jax.training import state as state_lib
from armodels_jax.training import steps

__all__ = ["Chip", "CHIPS", "TOPOLOGY_ALIASES", "DataSpec", "ProgramReport", "Report", "data_spec",
           "topology_devices", "compile_config", "format_report", "run_compile_command", "WHAT",
           "tpu_available"]

log = logging.getLogger(__name__)

GIB = 2 ** 30
WHAT = ("train", "eval", "sample", "all")


@dataclasses.dataclass(frozen=True)
class Chip:
  """One TPU chip: HBM capacity (bytes), peak dense bfloat16 FLOP/s and HBM bandwidth (bytes/s)."""
  name: str
  hbm_bytes: float
  peak_bf16_flops: float
  hbm_bytes_per_s: float
  source: str


# The chips, per chip, as Google Cloud's TPU documentation gives them (read 2026-12-07). The pages say
# "GiB" for v4 and v5e HBM, "GB" for v5p and v6e; both are taken as GiB here (the figures the pages
# repeat in their tables: 32, 16, 95, 32).
CHIPS = {
    "v4": Chip("v4", 32 * GIB, 275e12, 1200e9,
               "https://cloud.google.com/tpu/docs/v4 (32 GiB HBM2, 275 TFLOP/s bf16, 1,200 GB/s)"),
    "v5e": Chip("v5e", 16 * GIB, 197e12, 819e9,
                "https://cloud.google.com/tpu/docs/v5e (16 GiB HBM2, 197 TFLOP/s bf16, 819 GB/s)"),
    "v5p": Chip("v5p", 95 * GIB, 459e12, 2765e9,
                "https://cloud.google.com/tpu/docs/v5p (95 GB HBM2e, 459 TFLOP/s bf16, 2,765 GB/s)"),
    "v6e": Chip("v6e", 32 * GIB, 918e12, 1640e9,
                "https://cloud.google.com/tpu/docs/v6e (32 GB HBM, 918 TFLOP/s bf16, 1,640 GB/s)"),
}

# Cloud TPU accelerator types (what `gcloud ... --accelerator-type` takes) and their topologies. A v4
# or v5p type counts TensorCores (two per chip), a v5e or v6e type counts chips.
TOPOLOGY_ALIASES = {
    "v4-8": "v4:2x2x1", "v4-16": "v4:2x2x2", "v4-32": "v4:2x2x4", "v4-64": "v4:2x4x4",
    "v5p-8": "v5p:2x2x1", "v5p-16": "v5p:2x2x2", "v5p-32": "v5p:2x2x4",
    "v5e-1": "v5e:1x1", "v5e-4": "v5e:2x2", "v5e-8": "v5e:2x4", "v5e-16": "v5e:4x4",
    "v5e-32": "v5e:4x8", "v5e-64": "v5e:8x8",
    "v6e-1": "v6e:1x1", "v6e-4": "v6e:2x2", "v6e-8": "v6e:2x4", "v6e-16": "v6e:4x4",
}


def tpu_available() -> bool:
  """Whether libtpu is installed (the TPU compiler this module needs)."""
  try:
    import libtpu  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def _parse_topology(topology: str) -> tuple[str, str, int]:
  """``(canonical 'chip:AxB[xC]', chip name, number of chips)``; ValueError for anything else."""
  if not isinstance(topology, str):
    raise ValueError(f"expected a TPU topology such as 'v5e:2x4' or 'v4-32', got {topology!r}")
  name = TOPOLOGY_ALIASES.get(topology.strip().lower(), topology.strip().lower())
  chip, sep, dims = name.partition(":")
  parts = dims.split("x") if sep else []
  if chip not in CHIPS or not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
    raise ValueError(f"expected a TPU topology CHIP:AxB[xC] with CHIP in {sorted(CHIPS)} (e.g. "
                     f"'v5e:2x4', 'v4:2x2x4') or an accelerator type in {sorted(TOPOLOGY_ALIASES)}, "
                     f"got {topology!r}")
  want = 3 if chip in ("v4", "v5p") else 2
  if len(parts) != want:
    raise ValueError(f"expected a {chip} topology with {want} dimensions (e.g. "
                     f"{'v4:2x2x4' if want == 3 else 'v5e:2x4'}), got {topology!r}")
  return name, chip, int(np.prod([int(p) for p in parts]))


def topology_devices(topology: str) -> tuple[list, Chip]:
  """The compile-only devices of a TPU slice (every host's) and its chip.

  Args:
    topology: ``'v5e:2x4'``, ``'v4:2x2x4'``, ... or an accelerator type (``'v5e-8'``, ``'v4-32'``).

  Raises:
    ValueError: an unknown topology or chip, or libtpu missing.
  """
  name, chip, num_chips = _parse_topology(topology)
  if not tpu_available():
    raise ValueError("compiling for TPUs needs libtpu: pip install 'armodels_jax[tpu]' (Linux x86_64)")
  from jax.experimental import topologies  # pylint: disable=g-import-not-at-top

  # Compile-only devices touch no chip, so several processes may load libtpu at once (parallel test
  # workers, a plan beside a test run); without this libtpu takes a lock file and the second one fails.
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")

  # v4 and v5p chips hold two TensorCores that JAX drives as one device ("megacore"), as on a real
  # slice, where a v4-32 lists 16 devices; without it libtpu describes one device per core.
  kwargs = {"chip_config_name": "megacore"} if chip in ("v4", "v5p") else {}
  try:
    devices = list(topologies.get_topology_desc(platform="tpu", topology_name=name, **kwargs).devices)
  except Exception as e:  # pylint: disable=broad-except  (libtpu's errors name no Python type)
    raise ValueError(f"libtpu does not know the topology {topology!r} ({name}): {e}") from e
  if len(devices) != num_chips:
    raise ValueError(f"expected {num_chips} devices for {name}, libtpu gave {len(devices)}")
  return devices, CHIPS[chip]


# ---------------------------------------------------------------------------------------------------------
# Data shapes from the config.


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """What a batch of the config's dataset looks like: event shape, levels (None: real-valued), the
  number of label classes (0: none) and the shape of one example's features (None: none)."""
  event_shape: tuple[int, ...]
  num_levels: int | None
  num_classes: int = 0
  features_shape: tuple[int, ...] | None = None


_IMAGES = {
    "binarized_mnist": DataSpec((28, 28, 1), 2),
    "tfds:binarized_mnist": DataSpec((28, 28, 1), 2),
    "tfds:cifar10": DataSpec((32, 32, 3), 256, 10),
    "tfds:imagenet_resized/32x32": DataSpec((32, 32, 3), 256, 1000),
    "tfds:imagenet_resized/64x64": DataSpec((64, 64, 3), 256, 1000),
}
TINY_SHAKESPEARE_VOCAB = 65  # Distinct characters of Karpathy's tiny-shakespeare input.txt.


def data_spec(cfg: ml_collections.ConfigDict) -> DataSpec:
  """The shapes of the config's data, from the config alone where they are known.

  ``data.event_shape`` and ``data.num_levels``, when set, win. Known without reading anything: the image
  datasets above, ``mnist`` and ``digits``, ``tiny_shakespeare`` and ``text`` windows (``seq_len``; the
  vocabulary of tiny-shakespeare, or ``data.num_levels``), ``fsdd`` windows (``window``, ``levels``,
  ``labels``, ``features``, ``hop``, ``num_mels``). Any other dataset is loaded once to read its
  shapes.
  """
  d = cfg.data
  name = str(d.name)
  conditional = bool(cfg.model.conditional)
  spec = None
  if name in _IMAGES:
    spec = _IMAGES[name]
  elif name == "mnist":
    spec = DataSpec((28, 28, 1), 2 if d.binarize else 256, 10)
  elif name == "digits":
    spec = DataSpec((8, 8, 1), 2 if d.binarize else 17, 10)
  elif name in ("text", "tiny_shakespeare") and d.seq_len:
    levels = d.num_levels or (TINY_SHAKESPEARE_VOCAB if name == "tiny_shakespeare"
                              or "shakespeare" in str(d.path or "") else None)
    if levels:
      spec = DataSpec((int(d.seq_len),), int(levels))
  elif name == "fsdd" and d.window:
    classes = {"speaker": 6, "digit": 10, "speaker_digit": 60, None: 0}[d.labels]
    hop = int(d.hop or 256)
    per_frame = {"digit": 10, "log_mel": int(d.num_mels or 40), None: 0}[d.features]
    spec = DataSpec((int(d.window),), int(d.levels or 256), classes,
                    (int(d.window) // hop, per_frame) if per_frame else None)
  if d.event_shape is not None and d.num_levels is not None:
    shape = tuple(int(v) for v in (d.event_shape if not isinstance(d.event_shape, int)
                                   else (d.event_shape,)))
    spec = DataSpec(shape, int(d.num_levels), spec.num_classes if spec else 0,
                    spec.features_shape if spec else None)
  if spec is None:
    from armodels_jax import data  # pylint: disable=g-import-not-at-top

    log.info("reading dataset %s once for its shapes", name)
    ds = data.load(name, **config_lib.data_options(cfg))
    labels, features = ds.train_labels, ds.train_features
    spec = DataSpec(tuple(ds.event_shape), ds.num_levels,
                    int(np.max(labels)) + 1 if labels is not None else 0,
                    tuple(features.shape[1:]) if features is not None else None)
  if not conditional:
    spec = dataclasses.replace(spec, num_classes=0, features_shape=None)
  return spec


# ---------------------------------------------------------------------------------------------------------
# Reports.


@dataclasses.dataclass
class ProgramReport:
  """One compiled program, per chip: memory (bytes), cost per call and the roofline bound."""
  name: str
  batch: int  # Global batch of the program (samples drawn at once for the sampler).
  argument_bytes: int
  output_bytes: int
  alias_bytes: int
  temp_bytes: int
  code_bytes: int
  flops: float
  bytes_accessed: float
  compile_s: float  # Wall-clock seconds of lowering and compiling.
  compile_cpu_s: float = 0.0  # CPU seconds of the process meanwhile (all threads): steadier when shared.
  hlo: str = dataclasses.field(default="", repr=False)  # The compiled HLO (with keep_hlo).
  lowered: str = dataclasses.field(default="", repr=False)  # The StableHLO before XLA (with keep_hlo).
  refused: str = ""  # XLA's out-of-memory message when it refused to compile the program.
  # While loops in the compiled program (a scan over time, rows or layers). XLA's cost analysis counts a
  # loop's body once, not once per iteration (jax 0.10.2: a 100-step fori_loop of one matmul reports one
  # matmul's FLOPs), so `flops` and `bytes_accessed` above are XLA's figures with each body once, and
  # `loop_flops` / `loop_bytes` the repeated trips' matmul FLOPs and memory traffic read from the HLO by
  # `armodels_jax.hlo_cost` (its trip counts). Loops whose trip count XLA does not know are counted once.
  while_loops: int = 0
  unknown_trip_loops: int = 0
  loops_with_conditionals: int = 0  # costed at the dearest branch every trip: upper bounds
  loop_flops: float = 0.0
  loop_bytes: float = 0.0

  @property
  def step_flops(self) -> float:
    """FLOPs of one run of the program, every loop's trips included."""
    return self.flops + self.loop_flops

  @property
  def step_bytes(self) -> float:
    """Bytes of memory traffic of one run of the program, every loop's trips included."""
    return self.bytes_accessed + self.loop_bytes

  @property
  def total_bytes(self) -> int:
    """What the program needs on a chip: arguments, outputs not aliased to a donated argument,
    temporaries and the generated code."""
    return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes + self.code_bytes

  def roofline_s(self, chip: Chip) -> float:
    return max(self.step_flops / chip.peak_bf16_flops, self.step_bytes / chip.hbm_bytes_per_s)

  def loop_dict(self) -> dict[str, Any]:
    """The JSON fields on loops: ``flops`` and ``bytes`` hold the trips; these say how."""
    return {"while_loops": self.while_loops, "unknown_trip_loops": self.unknown_trip_loops,
            "loops_with_conditionals": self.loops_with_conditionals,
            "xla_flops": self.flops, "xla_bytes": self.bytes_accessed, "loop_flops": self.loop_flops,
            "loop_bytes": self.loop_bytes, "costs_are_lower_bounds": self.unknown_trip_loops > 0,
            "loop_cost_version": hlo_cost.VERSION}

  def as_dict(self, chip: Chip) -> dict[str, Any]:
    return {"batch": self.batch, "hbm_gib": self.total_bytes / GIB,
            "fits": self.total_bytes <= chip.hbm_bytes,
            "argument_gib": self.argument_bytes / GIB, "output_gib": self.output_bytes / GIB,
            "alias_gib": self.alias_bytes / GIB, "temp_gib": self.temp_bytes / GIB,
            "code_mib": self.code_bytes / 2 ** 20, "flops": self.step_flops, "bytes": self.step_bytes,
            "step_s_roofline": self.roofline_s(chip), "compile_s": self.compile_s,
            "compile_cpu_s": self.compile_cpu_s, **self.loop_dict(),
            **({"refused": self.refused} if self.refused else {})}


@dataclasses.dataclass
class Report:
  """`compile_config`'s result."""
  topology: str
  chip: Chip
  chips: int
  hosts: int
  dtype: str
  global_batch: int
  programs: dict[str, ProgramReport]
  max_per_chip_batch: int | None = None  # Set when the train step does not fit.
  search_compiles: int = 0

  @property
  def fits(self) -> bool:
    return all(p.total_bytes <= self.chip.hbm_bytes for p in self.programs.values())

  @property
  def hbm_bytes(self) -> int:
    return max(p.total_bytes for p in self.programs.values())

  @property
  def main(self) -> ProgramReport:
    """The train step when it was compiled, else the first program."""
    return self.programs.get("train") or next(iter(self.programs.values()))

  def as_dict(self) -> dict[str, Any]:
    m = self.main
    step_s = m.roofline_s(self.chip)
    out = {"fits": self.fits, "hbm_gib": self.hbm_bytes / GIB, "hbm_per_chip_gib": self.chip.hbm_bytes / GIB,
           "flops": m.step_flops, "bytes": m.step_bytes, "step_s_roofline": step_s,
           "examples_per_s_roofline": m.batch / step_s if step_s > 0 else None,
           "compile_s": sum(p.compile_s for p in self.programs.values()),
           "compile_cpu_s": sum(p.compile_cpu_s for p in self.programs.values()), "chips": self.chips,
           "hosts": self.hosts, "topology": self.topology, "chip": self.chip.name, "dtype": self.dtype,
           "global_batch": self.global_batch, "per_chip_batch": self.global_batch // self.chips,
           **m.loop_dict(),
           "programs": {k: p.as_dict(self.chip) for k, p in self.programs.items()}}
    if self.max_per_chip_batch is not None:
      out["max_per_chip_batch"] = self.max_per_chip_batch
    return out


def format_report(report: Report) -> str:
  """The human-readable lines `armodels compile` prints."""
  c = report.chip
  lines = [f"{report.topology}: {report.chips} {c.name} chips on {report.hosts} host(s), "
           f"{c.hbm_bytes / GIB:.0f} GiB HBM, {c.peak_bf16_flops / 1e12:.0f} TFLOP/s bf16, "
           f"{c.hbm_bytes_per_s / 1e9:.0f} GB/s per chip; {report.dtype}"]
  for name, p in report.programs.items():
    step_s = p.roofline_s(c)
    fit = "fits" if p.total_bytes <= c.hbm_bytes else "DOES NOT FIT"
    lines.append(
        f"  {name:6s} batch {p.batch} ({max(p.batch // report.chips, 1)}/chip): {fit}, "
        f"{p.total_bytes / GIB:.2f} GiB/chip (arguments {p.argument_bytes / GIB:.2f}, outputs "
        f"{p.output_bytes / GIB:.2f}, aliased {p.alias_bytes / GIB:.2f}, temporaries "
        f"{p.temp_bytes / GIB:.2f}, code {p.code_bytes / 2 ** 20:.1f} MiB); "
        f"{p.step_flops / 1e12:.3f} TFLOP and {p.step_bytes / 1e9:.2f} GB per chip; roofline "
        f"{step_s * 1e3:.2f} ms ({p.batch / step_s if step_s else float('inf'):.0f} examples/s); "
        f"compiled in {p.compile_s:.1f} s ({p.compile_cpu_s:.1f} s of CPU)")
    if p.unknown_trip_loops:
      lines.append(f"         {p.unknown_trip_loops} of {p.while_loops} while loop(s) without a known trip "
                   f"count, counted once: the TFLOP, GB and roofline are lower bounds")
    elif p.while_loops:
      lines.append(f"         {p.while_loops} while loop(s), their trips counted: XLA's cost analysis "
                   f"counts a loop body once and gave {p.flops / 1e12:.3f} TFLOP, {p.bytes_accessed / 1e9:.2f} GB")
    if p.loops_with_conditionals:
      lines.append(f"         {p.loops_with_conditionals} loop(s) with a conditional inside, costed at its dearest "
                   f"branch every trip: the TFLOP, GB and roofline are upper bounds for those loops")
  if not report.fits:
    lines.append(f"does not fit: needs {report.hbm_bytes / GIB:.2f} GiB per chip of "
                 f"{c.hbm_bytes / GIB:.0f}")
    if report.max_per_chip_batch is not None:
      if report.max_per_chip_batch:
        lines.append(f"largest per-chip batch that fits: {report.max_per_chip_batch} (global "
                     f"{report.max_per_chip_batch * report.chips}; found in {report.search_compiles} "
                     f"compiles)")
      else:
        lines.append("not even a per-chip batch of 1 fits")
  return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Building and compiling.


_UNITS = {"": 1, "B": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40, "P": 2 ** 50}


def _oom_bytes(message: str) -> float:
  """The bytes XLA:TPU says a program needs when it refuses to compile it for running out of HBM."""
  m = re.search(r"required for HLO temporaries \(([\d.]+)([KMGTP]?)", message)
  if m is None:
    m = re.search(r"[Uu]sed ([\d.]+)([KMGTP]?)i?B? of", message)
  return float(m.group(1)) * _UNITS[m.group(2)] if m else float("inf")


def _per_chip_bytes(args: Sequence[Any]) -> int:
  """Bytes one chip holds of the abstract arguments (each leaf's shard)."""
  total = 0
  for leaf in jax.tree.leaves(args):
    if isinstance(leaf, jax.ShapeDtypeStruct):
      shape = leaf.sharding.shard_shape(leaf.shape) if leaf.sharding is not None else leaf.shape
      total += int(np.prod(shape, dtype=np.int64)) * jnp.dtype(leaf.dtype).itemsize
  return total


def _compile(name: str, fn: Callable, args: Sequence[Any], batch: int, keep_hlo: bool) -> ProgramReport:
  """Compiles one program. XLA:TPU refuses a program that needs more HBM than the chip has; such a
  program is reported with the temporaries XLA said it needs and no cost figures."""
  t0, c0 = time.perf_counter(), time.process_time()
  lowered = fn.lower(*args)
  # JAX's persistent cache holds executables for this host's backend; TPU ones can neither be read
  # from it nor run here.
  cache = jax.config.jax_enable_compilation_cache
  jax.config.update("jax_enable_compilation_cache", False)
  try:
    compiled = lowered.compile()
  except jax.errors.JaxRuntimeError as e:
    if "RESOURCE_EXHAUSTED" not in str(e):
      raise
    return ProgramReport(name=name, batch=batch, argument_bytes=_per_chip_bytes(args), output_bytes=0,
                         alias_bytes=0, temp_bytes=int(min(_oom_bytes(str(e)), 2 ** 62)), code_bytes=0,
                         flops=float("nan"), bytes_accessed=float("nan"),
                         compile_s=time.perf_counter() - t0, compile_cpu_s=time.process_time() - c0,
                         refused=str(e).splitlines()[0])
  finally:
    jax.config.update("jax_enable_compilation_cache", cache)
  seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
  mem = compiled.memory_analysis()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else (cost or {})
  hlo = compiled.as_text()
  loops = hlo_cost.loop_costs(hlo)
  return ProgramReport(
      name=name, batch=batch, argument_bytes=int(mem.argument_size_in_bytes),
      output_bytes=int(mem.output_size_in_bytes), alias_bytes=int(mem.alias_size_in_bytes),
      temp_bytes=int(mem.temp_size_in_bytes), code_bytes=int(mem.generated_code_size_in_bytes),
      flops=float(cost.get("flops", 0.0)), bytes_accessed=float(cost.get("bytes accessed", 0.0)),
      compile_s=seconds, compile_cpu_s=cpu_seconds, hlo=hlo if keep_hlo else "",
      lowered=lowered.as_text() if keep_hlo else "", while_loops=loops.while_loops,
      unknown_trip_loops=loops.unknown_trip_loops, loops_with_conditionals=loops.loops_with_conditionals,
      loop_flops=loops.missing_flops,
      loop_bytes=loops.missing_bytes)


def count_while_loops(hlo_text: str) -> int:
  """The while instructions of a compiled program's HLO text (``Compiled.as_text()``)."""
  return len(re.findall(r"\swhile\(", hlo_text))


def _sds(shape, dtype, sharding) -> jax.ShapeDtypeStruct:
  return jax.ShapeDtypeStruct(tuple(shape), jnp.dtype(dtype), sharding=sharding)


def _batch_inputs(spec: DataSpec, model: Any, batch: int, sharding) -> tuple[Any, Any]:
  """Abstract ``(x, cond)`` of a global batch, as ``data.global_batch`` and ``data.make_cond`` give."""
  x = _sds((batch,) + spec.event_shape, model.value_dtype, sharding)
  labels = _sds((batch,), jnp.int32, sharding) if spec.num_classes else None
  features = (_sds((batch,) + spec.features_shape, jnp.float32, sharding)
              if spec.features_shape else None)
  if features is None:
    return x, labels
  cond = {"local" if len(spec.features_shape) == 2 else "global": features}
  if labels is not None:
    cond["label"] = labels
  return x, cond


class _Builder:
  """The model, optimizer and abstract state of a config on a mesh, and its programs."""

  def __init__(self, cfg: ml_collections.ConfigDict, mesh, spec: DataSpec):
    from armodels_jax.training import loop  # pylint: disable=g-import-not-at-top

    self.cfg, self.mesh, self.spec = cfg, mesh, spec
    t = cfg.train
    self.vqvae = cfg.model.name == "vqvae"
    self.tx = optim.make_optimizer(t)
    self.schedule = optim.make_schedule(t)
    if self.vqvae:
      from armodels_jax.vqvae import train as vq_train  # pylint: disable=g-import-not-at-top

      self.model = vq_train.create_model(cfg, spec.event_shape, spec.num_levels)
      # The stage-1 state is the VQ-VAE's own (its codebook statistics beside TrainState's fields).
      abstract = vq_train._abstract_state(self.model, self.tx, mesh)  # pylint: disable=protected-access
      self.state = vq_train._from_dict(abstract)  # pylint: disable=protected-access
    else:
      config_lib.validate(cfg)
      self.model = loop.create_model(cfg, spec.event_shape, spec.num_levels)
      self.tbptt = bool(t.tbptt)

  def train(self, batch: int) -> tuple[Callable, list]:
    rep, bsh = shd.replicated(self.mesh), shd.batch_sharding(self.mesh)
    t = self.cfg.train
    if self.vqvae:
      from armodels_jax.vqvae import train as vq_train  # pylint: disable=g-import-not-at-top

      fn = vq_train.make_train_step(self.model, self.tx, self.schedule, float(t.ema_decay))
      x = _sds((batch,) + self.spec.event_shape, jnp.int32, bsh)
      return fn, [self.state, x]
    state = state_lib.abstract_train_state(self.model, self.tx, self.mesh,
                                           carry_batch_size=batch if self.tbptt else 0)
    fn = steps.make_train_step(self.model, self.tx, self.schedule, float(t.ema_decay), self.mesh,
                               tbptt=self.tbptt)
    x, cond = _batch_inputs(self.spec, self.model, batch, bsh)
    args = [state, x, cond]
    if self.tbptt:
      args.append(_sds((), jnp.bool_, rep))
    return fn, args

  def _params(self):
    rep = shd.replicated(self.mesh)
    if self.vqvae:
      return self.state.params
    shapes = state_lib.abstract_train_state(self.model, self.tx, self.mesh).params
    return jax.tree.map(lambda s: _sds(s.shape, s.dtype, rep), shapes)

  def eval(self, batch: int) -> tuple[Callable, list] | None:
    """``steps.eval_sums`` (``eval_carry_sums`` for a stateful model), as ``training.evaluate`` calls it;
    None for the VQ-VAE (its evaluation is its own, ``vqvae.train.evaluate``)."""
    if self.vqvae:
      return None
    rep, bsh = shd.replicated(self.mesh), shd.batch_sharding(self.mesh)
    variables = {"params": self._params()}
    x, cond = _batch_inputs(self.spec, self.model, batch, bsh)
    if getattr(self.model, "stateful", False):
      fn = jax.jit(functools.partial(steps.eval_carry_sums.__wrapped__, self.model))
      carry = jax.eval_shape(lambda: self.model.initial_carry(batch))
      carry = jax.tree.map(lambda s: _sds(s.shape, s.dtype, bsh), carry)
      return fn, [variables, x, carry, cond, _sds((batch,), jnp.bool_, bsh)]
    fn = jax.jit(functools.partial(steps.eval_sums.__wrapped__, self.model))
    return fn, [variables, x, cond, _sds((), jnp.int32, rep)]

  def sample(self, num: int) -> tuple[Callable, list] | None:
    """The sampler ``api.sample`` runs for the loop's sample grids (``train.sample_method``: the cached
    one where the model has a decode path, else the naive one), with replicated parameters; None for
    the VQ-VAE (stage 1 reconstructs, it does not sample)."""
    from armodels_jax.sampling import samplers  # pylint: disable=g-import-not-at-top

    if self.vqvae:
      return None
    cached = self.cfg.train.sample_method == "cached" and getattr(self.model, "has_decode", False)
    sampler = (samplers.sample_cached if cached else samplers.sample_naive).__wrapped__
    rep = shd.replicated(self.mesh)
    _, cond = _batch_inputs(self.spec, self.model, num, rep)
    prefix = _sds((num,) + self.spec.event_shape, self.model.value_dtype, rep)
    key = _sds((2,), jnp.uint32, rep)
    model = self.model

    def run(variables, key, cond, prefix):
      return sampler(model, variables, key, num, cond, 1.0, prefix, jnp.int32(0))

    return jax.jit(run), [{"params": self._params()}, key, cond, prefix]


def _resolve_config(config: Any, overrides: Sequence[str]) -> ml_collections.ConfigDict:
  if isinstance(config, str):
    return config_lib.load_config(config, overrides)
  if overrides:
    config = config_lib.apply_overrides(config, overrides)
  return config


def compile_config(config: Any, topology: str, *, batch: int | None = None, dtype: str | None = None,
                   what: str = "all", overrides: Sequence[str] = (), search: bool = True,
                   keep_hlo: bool = False) -> Report:
  """Compiles a config's programs for a TPU slice without TPUs; see the module docstring.

  Args:
    config: a config (``ConfigDict``) or a spec ``path.py[:arg]`` as ``armodels train --config`` takes.
    topology: ``'v5e:2x4'``, ``'v4:2x2x4'``, ... or an accelerator type (``'v4-32'``).
    batch: the global train batch (default ``train.batch_size``); divisible by the number of chips.
    dtype: ``'float32'`` or ``'bfloat16'`` (``model.dtype``; default the config's).
    what: ``'train'``, ``'eval'``, ``'sample'`` or ``'all'``.
    overrides: ``FIELD=VALUE`` config overrides, as ``--config.FIELD=VALUE``.
    search: when the train step does not fit, find the largest per-chip batch that does.
    keep_hlo: keep each compiled program's HLO text (``ProgramReport.hlo``).

  Returns:
    A `Report`.

  Raises:
    ValueError: an unknown topology, a batch the chips do not divide, a bad dtype or `what`, a bad
      config, or libtpu missing.
  """
  if what not in WHAT:
    raise ValueError(f"expected what in {list(WHAT)}, got {what!r}")
  name, _, num_chips = _parse_topology(topology)
  cfg = _resolve_config(config, overrides)
  if dtype is not None:
    if dtype not in ("float32", "bfloat16"):
      raise ValueError(f"expected dtype 'float32' or 'bfloat16', got {dtype!r}")
    cfg = config_lib.apply_overrides(cfg, [f"model.dtype={dtype}"])
  batch = int(cfg.train.batch_size if batch is None else batch)
  if batch < 1 or batch % num_chips:
    raise ValueError(f"expected a global batch divisible by the {num_chips} chips of {name}, got {batch}")
  devices, chip = topology_devices(name)
  mesh = shd.make_mesh(devices)
  spec = data_spec(cfg)
  hosts = len({d.process_index for d in devices})
  with conv_ops.compiling_for("tpu"):
    builder = _Builder(cfg, mesh, spec)
    programs: dict[str, ProgramReport] = {}
    if what in ("train", "all"):
      fn, args = builder.train(batch)
      programs["train"] = _compile("train", fn, args, batch, keep_hlo)
    if what in ("eval", "all"):
      eval_batch = -(-int(cfg.train.eval_batch_size) // num_chips) * num_chips
      built = builder.eval(eval_batch)
      if built is not None:
        programs["eval"] = _compile("eval", built[0], built[1], eval_batch, keep_hlo)
    if what in ("sample", "all"):
      built = builder.sample(int(cfg.train.num_samples))
      if built is not None:
        programs["sample"] = _compile("sample", built[0], built[1], int(cfg.train.num_samples), keep_hlo)
      elif what == "sample":
        raise ValueError(f"model {cfg.model.name!r} (the VQ-VAE) has no sampler to compile")
    report = Report(topology=name, chip=chip, chips=num_chips, hosts=hosts, dtype=str(cfg.model.dtype),
                    global_batch=batch, programs=programs)
    train = programs.get("train")
    if search and train is not None and train.total_bytes > chip.hbm_bytes:
      report.max_per_chip_batch, report.search_compiles = _largest_fitting(
          builder, chip, batch // num_chips, num_chips)
  return report


def _largest_fitting(builder: _Builder, chip: Chip, per_chip: int, num_chips: int) -> tuple[int, int]:
  """The largest per-chip batch below `per_chip` whose train step fits, by compiling: ``(batch, compiles)``
  (batch 0 when not even 1 fits).

  An interpolation search on the bracket ``[lo fits, hi does not]``: memory grows about linearly with
  the batch, so the line through the bracket's two figures lands next to the answer, and each compile
  narrows the bracket (to a bisection step when the guess would not move).
  """
  def need(b: int) -> int:
    fn, args = builder.train(b * num_chips)
    return _compile("train", fn, args, b * num_chips, False).total_bytes

  cap, n = chip.hbm_bytes, 0
  fn, args = builder.train(per_chip * num_chips)
  hi, m_hi = per_chip, _compile("train", fn, args, per_chip * num_chips, False).total_bytes
  lo, m_lo = 1, need(1)
  n += 2
  if m_lo > cap:
    return 0, n
  while hi - lo > 1 and n < 24:
    guess = lo + int((cap - m_lo) / max(m_hi - m_lo, 1) * (hi - lo))
    guess = min(max(guess, lo + 1), hi - 1)
    m = need(guess)
    n += 1
    if m <= cap:
      lo, m_lo = guess, m
      if guess + 1 < hi:  # The line was right or short: check the next batch before going on.
        m_next = need(guess + 1)
        n += 1
        if m_next > cap:
          return guess, n
        lo, m_lo = guess + 1, m_next
    else:
      hi, m_hi = guess, m
  return lo, n


def _quiet_host_platform() -> None:
  """Runs JAX on the host's CPU in this process (when nothing has started it yet): on a TPU VM,
  planning must not take the chips from a training job."""
  try:
    jax.config.update("jax_platforms", "cpu")
  except Exception:  # pylint: disable=broad-except  (JAX has started; it keeps its platforms)
    pass


def run_compile_command(config: str, topology: str, *, batch: int | None = None, dtype: str | None = None,
                        what: str = "all", as_json: bool = False, overrides: Sequence[str] = ()) -> int:
  """``armodels compile``: `compile_config`, printed; with `as_json` the last line of stdout is one
  JSON object (`Report.as_dict`). Returns 0 whether or not it fits; ValueError for bad arguments."""
  import json  # pylint: disable=g-import-not-at-top

  _parse_topology(topology)  # A bad topology fails before anything is built.
  _quiet_host_platform()
  report = compile_config(config, topology, batch=batch, dtype=dtype, what=what, overrides=overrides)
  print(format_report(report), flush=True)
  if as_json:
    print(json.dumps(report.as_dict()), flush=True)
  return 0
