"""The package's layers, checked from its source: no import cycle, and no module imports a higher layer.

Every ``import`` of the package is read (module level and inside functions alike, since a deferred import
is still a dependency). ``from armodels_jax.x import y`` counts as an import of the module ``x.y`` when
``y`` is a module, else of ``x``. The layers, lowest first, are `LAYERS`; a module belongs to the layer
of the longest prefix that names it. docs/design.md ("The layers") explains them. The one deliberate
exception is a config choosing a task by name (``training.loop.TASKS``: "module:Task" strings imported
when used), which no static import shows.
"""

from __future__ import annotations

import ast
import os

import pytest

PACKAGE = "armodels_jax"
ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PACKAGE)

LAYERS = [
    # 0. Foundations: no model code.
    ["runtime_env", "config", "distributions", "layers", "hlo_cost"],
    # 1. Models and their likelihood, sampling and decode interface.
    ["models", "sampling", "api"],
    # 2. Applications of a model, and reading / writing a run's files.
    ["checkpointing", "param_storage", "workdir", "inference", "evaluation", "compression", "anomaly"],
    # 3. Data (the VQ-VAE's codes are a dataset, read from a finished stage-1 run) and output writers.
    ["data", "vqvae.model", "vqvae.quantizer", "vqvae.stage1", "vqvae.codes", "outputs"],
    # 4. Training: the one trainer and its tasks.
    ["training", "vqvae.train", "vqvae.pipeline"],
    # 5. Entry points: shipped checkpoints, the demo, the command line, the packages' re-exports.
    ["pretrained", "demo", "workflows", "image_folder", "aot", "cli", "vqvae", ""],
]


def _modules() -> dict[str, str]:
  """``{dotted name relative to the package ('' for the package): path}``."""
  out = {}
  for folder, _, files in os.walk(ROOT):
    for f in files:
      if f.endswith(".py"):
        rel = os.path.relpath(os.path.join(folder, f), ROOT)[:-3].replace(os.sep, ".")
        out[rel[:-len("__init__")].rstrip(".") if rel.endswith("__init__") else rel] = os.path.join(folder, f)
  return out


MODULES = _modules()


def _imports(name: str, path: str) -> set[str]:
  """The package modules that `name` imports."""
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      if node.level:  # relative
        base = package.split(".") if package else []
        base = base[:len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
        module = f"{PACKAGE}.{module}" if module else PACKAGE
      else:
        module = node.module or ""
      targets = [f"{module}.{a.name}" if f"{module}.{a.name}"[len(PACKAGE) + 1:] in MODULES else module
                 for a in node.names]
    else:
      continue
    for target in targets:
      if target == PACKAGE or target.startswith(PACKAGE + "."):
        rel = target[len(PACKAGE) + 1:]
        while rel and rel not in MODULES:
          rel = rel.rpartition(".")[0]
        if rel != name:
          found.add(rel)
  return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(name: str) -> int:
  best, layer = -1, None
  for i, prefixes in enumerate(LAYERS):
    for p in prefixes:
      if (p == "" or name == p or name.startswith(p + ".")) and len(p) > best:
        best, layer = len(p), i
  return layer


def test_every_module_has_a_layer():
  assert all(layer_of(m) is not None for m in MODULES)


def climbs(graph) -> list[str]:
  return sorted(f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
                for m, deps in graph.items() for d in deps
                if layer_of(d) > layer_of(m) and not m.startswith(d + ".") and m != "")


def test_no_module_imports_a_higher_layer():
  found = climbs(GRAPH)
  assert not found, "\n".join(found)


def find_cycle(graph) -> list[str] | None:
  """A cycle of the import graph (package __init__ files importing their own submodules aside)."""
  edges = {m: {d for d in deps if not d.startswith(m + ".") and not (m and not d)}
           for m, deps in graph.items()}
  state: dict[str, int] = {}
  stack: list[str] = []

  def visit(m):
    state[m] = 1
    stack.append(m)
    for d in sorted(edges.get(m, ())):
      if state.get(d) == 1:
        return stack[stack.index(d):] + [d]
      if d not in state:
        found = visit(d)
        if found:
          return found
    stack.pop()
    state[m] = 2
    return None

  for m in sorted(edges):
    if m not in state:
      found = visit(m)
      if found:
        return found
  return None


def test_no_import_cycle():
  cycle = find_cycle(GRAPH)
  assert cycle is None, " -> ".join(cycle)


def test_the_checks_can_fail():
  climb = {m: set(d) for m, d in GRAPH.items()}
  climb["data.registry"] = climb["data.registry"] | {"training.loop"}
  assert climbs(climb) == ["data.registry (layer 3) imports training.loop (layer 4)"]
  cycle = {m: set(d) for m, d in GRAPH.items()}
  cycle["checkpointing"] = cycle["checkpointing"] | {"inference"}  # inference -> workdir -> checkpointing
  assert find_cycle(cycle) is not None and "checkpointing" in find_cycle(cycle)
