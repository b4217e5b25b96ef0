r"""Runs the Colab notebooks at their normal settings and stores them with their outputs.

  python experiments/run_notebooks.py [NAME ...] [--timeout 3600]

Each notebook in ``colab/`` is executed top to bottom in a fresh Jupyter kernel (nbclient), in
``colab/`` as Colab runs it, with whatever it writes (workdirs, WAV files) going to a temporary folder
(``ARMODELS_NOTEBOOK_OUT``) and progress bars off (``TQDM_DISABLE=1``). The executed notebook is
written back in place, its outputs included, and its first cell gets two lines kept up to date: the
"Open in Colab" badge and the machine, date and wall time of the run whose outputs are stored. The test suite executes the notebooks again at tiny settings
(``ARMODELS_TINY=1``) in memory and never writes them back (tests/test_notebooks.py).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLAB = os.path.join(REPO, "colab")
GITHUB = "armodels-jax/armodels_jax"
BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
STORED = "*Stored outputs:*"


def colab_badge(name: str) -> str:
  """The badge line that opens ``colab/<name>.ipynb`` of the main branch in Colab."""
  return f"{BADGE}(https://colab.research.google.com/github/{GITHUB}/blob/main/colab/{name}.ipynb)"


def _machine() -> str:
  import jax  # pylint: disable=g-import-not-at-top
  dev = jax.devices()[0]
  if dev.platform == "cpu":
    return f"CPU ({os.cpu_count()} cores, {platform.machine()}), jax {jax.__version__}"
  return f"{dev.platform.upper()} {dev.device_kind}, jax {jax.__version__}"


def stamp(source: str, name: str, line: str) -> str:
  """The first cell's text with the badge on top and the stored-outputs line after the title."""
  lines = [l for l in source.splitlines() if not l.startswith(BADGE) and not l.startswith(STORED)]
  while lines and not lines[0].strip():
    lines.pop(0)
  title, rest = lines[:1], lines[1:]
  while rest and not rest[0].strip():
    rest.pop(0)
  return "\n".join([colab_badge(name), ""] + title + ["", line, ""] + rest)


def scrub(nb) -> int:
  """Drops the warning tqdm prints where ipywidgets is missing (never in Colab) from the stored
  outputs: it names the running machine's site-packages. Returns how many outputs were dropped."""
  dropped = 0
  for cell in nb.cells:
    if cell.cell_type != "code":
      continue
    kept = []
    for out in cell.outputs:
      if out.get("output_type") == "stream" and out.get("name") == "stderr":
        lines = out.text.splitlines(keepends=True)
        keep, skip_next = [], False
        for line in lines:
          if "TqdmWarning: IProgress not found" in line:
            skip_next = True  # and the source line Python prints after the warning
            continue
          if skip_next and line.strip().startswith("from .autonotebook import"):
            skip_next = False
            continue
          skip_next = False
          keep.append(line)
        if len(keep) != len(lines):
          if not keep:
            dropped += 1
            continue
          out.text = "".join(keep)
      kept.append(out)
    cell.outputs = kept
  return dropped


def run(name: str, timeout: int) -> float:
  """Executes ``colab/<name>.ipynb`` and writes it back with its outputs; returns the wall seconds."""
  import nbformat  # pylint: disable=g-import-not-at-top
  from nbclient import NotebookClient  # pylint: disable=g-import-not-at-top
  path = os.path.join(COLAB, name + ".ipynb")
  nb = nbformat.read(path, as_version=4)
  env_before = dict(os.environ)
  with tempfile.TemporaryDirectory() as out:
    os.environ["ARMODELS_NOTEBOOK_OUT"] = out
    os.environ["TQDM_DISABLE"] = "1"  # progress bars would be stored as hundreds of lines
    for var in ("ARMODELS_TINY", "MPLBACKEND"):  # the kernel's inline backend stores the figures
      os.environ.pop(var, None)
    try:
      start = time.time()
      NotebookClient(nb, timeout=timeout, kernel_name="python3",
                     resources={"metadata": {"path": COLAB}}).execute()
      seconds = time.time() - start
    finally:
      os.environ.clear()
      os.environ.update(env_before)
  minutes = f"{seconds / 60:.1f} min"
  line = (f"{STORED} executed top to bottom at the normal settings on {_machine()}, "
          f"{datetime.date.today().isoformat()}, in {minutes} (`python experiments/run_notebooks.py {name}`).")
  nb.cells[0].source = stamp(nb.cells[0].source, name, line)
  scrub(nb)
  nbformat.write(nb, path)
  return seconds


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("names", nargs="*", help="notebooks (default: every colab/*.ipynb)")
  parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
  args = parser.parse_args(argv)
  names = args.names or sorted(f[:-len(".ipynb")] for f in os.listdir(COLAB) if f.endswith(".ipynb"))
  unknown = [n for n in names if not os.path.exists(os.path.join(COLAB, n + ".ipynb"))]
  if unknown:
    print(f"run_notebooks: no colab/{unknown[0]}.ipynb", file=sys.stderr)
    return 2
  for name in names:
    seconds = run(name, args.timeout)
    print(f"{name}: {seconds / 60:.1f} min", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
