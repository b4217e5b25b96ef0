"""The Colab notebooks (`colab/*.ipynb`) run top to bottom, and are stored with the outputs of a real run.

The stored outputs come from ``python experiments/run_notebooks.py`` at the normal settings: every code
cell executed once, in order, no error, pictures included, and the first cell names the machine, date and
time of that run under an "Open in Colab" badge.

Each notebook is executed in a fresh Jupyter kernel (nbclient) with ``ARMODELS_TINY=1``, which every
notebook reads in its first cell to shrink training to seconds; any cell that raises fails the test.
The kernel runs in `colab/` (as Colab runs a notebook in its own folder) and finds the package already
installed, so its install cell does nothing here.
"""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

COLAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "colab")
NOTEBOOKS = ("quickstart", "dense_models", "pixelcnn_family", "wavenet", "fast_sampling", "applications",
             "new_models")


def _read(name: str):
  return nbformat.read(os.path.join(COLAB, name + ".ipynb"), as_version=4)


def test_every_notebook_is_listed():
  on_disk = sorted(f[:-len(".ipynb")] for f in os.listdir(COLAB) if f.endswith(".ipynb"))
  assert on_disk == sorted(NOTEBOOKS)


def _text(output) -> str:
  if output.get("output_type") == "stream":
    return output.get("text", "")
  return output.get("data", {}).get("text/plain", "")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_with_outputs_and_starts_with_setup(name):
  nb = _read(name)
  nbformat.validate(nb)
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
      f"{name}.ipynb: stored outputs must come from one top-to-bottom run (experiments/run_notebooks.py)")
  outputs = [o for c in code for o in c.outputs]
  assert not [o for o in outputs if o.get("output_type") == "error"]
  assert sum(bool(c.outputs) for c in code) >= len(code) // 2, "most cells show what they computed"
  assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}.ipynb stores no picture"
  stored = "".join(_text(o) for o in outputs)
  assert "TINY=True" not in stored and "TINY:" not in stored, "stored from a tiny run, not the normal one"
  assert "step/s" not in stored, "progress bars stored line by line (run_notebooks.py turns them off)"
  # Nor a path of the machine that ran it (run_notebooks.scrub drops tqdm's missing-ipywidgets warning).
  local = [m for m in ("site-packages", "/work/", "/home/", "/Users/") if m in stored]  # a temp dir is fine
  assert not local, f"{name}.ipynb's stored outputs name a machine-local path ({local[0]})"
  head = nb.cells[0]
  assert head.cell_type == "markdown"
  badge = f"https://colab.research.google.com/github/armodels-jax/armodels_jax/blob/main/colab/{name}.ipynb"
  assert head.source.startswith("[![Open In Colab]") and badge in head.source.splitlines()[0]
  assert "*Stored outputs:* executed top to bottom at the normal settings on " in head.source
  assert "TINY" in code[0].source and "pip" in code[0].source, "the first code cell installs and reads TINY"
  # No cell reads the project's shared data folder, which a user's clone lacks.
  for c in code:
    assert "../shared" not in c.source and "/work/" not in c.source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, monkeypatch, tmp_path):
  monkeypatch.setenv("ARMODELS_TINY", "1")
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("MPLBACKEND", "agg")
  # Anything a notebook writes (workdirs, WAVs) goes under tmp_path, not into colab/.
  monkeypatch.setenv("ARMODELS_NOTEBOOK_OUT", str(tmp_path))
  nb = _read(name)
  client = NotebookClient(nb, timeout=600, kernel_name="python3",
                          resources={"metadata": {"path": COLAB}})
  client.execute()  # raises CellExecutionError naming the cell on any failure
  errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.get("output_type") == "error"]
  assert not errors


def test_run_notebooks_scrub_drops_the_tqdm_warning_and_keeps_other_stderr():
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(COLAB), "experiments", "run_notebooks.py")
  spec = importlib.util.spec_from_file_location("run_notebooks", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  warning = ("/somewhere/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update "
             "jupyter and ipywidgets.\n  from .autonotebook import tqdm as notebook_tqdm\n")
  nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
      nbformat.v4.new_output("stream", name="stderr", text=warning),
      nbformat.v4.new_output("stream", name="stderr", text=warning + "kept: a real warning\n"),
      nbformat.v4.new_output("stream", name="stdout", text="printed\n")])])
  assert module.scrub(nb) == 1
  assert [o.text for o in nb.cells[0].outputs] == ["kept: a real warning\n", "printed\n"]
