"""The Colab notebooks (`colab/*.ipynb`) run top to bottom, and are stored without outputs.

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
NOTEBOOKS = ("quickstart", "dense_models", "pixelcnn_family", "wavenet", "fast_sampling")


def _read(name: str):
  return nbformat.read(os.path.join(COLAB, name + ".ipynb"), as_version=4)


def test_every_notebook_is_listed():
  on_disk = sorted(f[:-len(".ipynb")] for f in os.listdir(COLAB) if f.endswith(".ipynb"))
  assert on_disk == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stripped_and_starts_with_setup(name):
  nb = _read(name)
  nbformat.validate(nb)
  for i, cell in enumerate(nb.cells):
    if cell.cell_type == "code":
      assert cell.outputs == [], f"{name}.ipynb cell {i} has stored outputs"
      assert cell.execution_count is None, f"{name}.ipynb cell {i} has an execution count"
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert nb.cells[0].cell_type == "markdown"
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
