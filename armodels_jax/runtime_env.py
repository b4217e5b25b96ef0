"""Process settings that make XLA's CPU backend faster; they must be in place before the process starts.

XLA's CPU runtime allocates the temporary buffers of every execution afresh, and glibc's allocator
serves large blocks with new anonymous mappings, so each train step touches hundreds of megabytes of
new pages: measured on the 2-core CPU of BENCHMARKS.md, about 119,000 page faults and a third of the
CPU time of a PixelCNN step go to the kernel. glibc 2.35 and newer can back its allocations with
transparent huge pages (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``), which cuts the faults about
200-fold and that PixelCNN step from 0.44 to 0.28 s; an allocator setting changes no arithmetic.

glibc reads ``GLIBC_TUNABLES`` once, when a process starts, so the ``armodels`` command re-executes
itself with the setting when it is missing (:func:`reexec_tuned`), and ``make`` exports it for the
demo and the tests. A library user sets it in the shell that starts Python or Jupyter::

    export GLIBC_TUNABLES=glibc.malloc.hugetlb=1

``ARMODELS_NO_MALLOC_TUNING=1`` turns the re-execution off. Nothing here imports JAX.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence

__all__ = ["MALLOC_TUNABLE", "OPT_OUT", "malloc_tuning_active", "tuned_environ", "reexec_tuned"]

MALLOC_TUNABLE = "glibc.malloc.hugetlb=1"
OPT_OUT = "ARMODELS_NO_MALLOC_TUNING"
_THP = "/sys/kernel/mm/transparent_hugepage/enabled"
_GUARD = "ARMODELS_REEXEC"


def _glibc_supports() -> bool:
  """True on Linux with glibc >= 2.35 (the first with ``glibc.malloc.hugetlb``) and THP not disabled."""
  if not sys.platform.startswith("linux"):
    return False
  name, version = platform.libc_ver()
  if name != "glibc":
    return False
  try:
    major, minor = (int(v) for v in version.split(".")[:2])
  except ValueError:
    return False
  if (major, minor) < (2, 35):
    return False
  try:
    with open(_THP) as f:
      return "[never]" not in f.read()
  except OSError:
    return False


def malloc_tuning_active(environ: Mapping[str, str] | None = None) -> bool:
  """Whether ``glibc.malloc.hugetlb`` is set in `environ` (default: this process's environment)."""
  environ = os.environ if environ is None else environ
  return "glibc.malloc.hugetlb" in environ.get("GLIBC_TUNABLES", "")


def tuned_environ(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
  """`environ` with :data:`MALLOC_TUNABLE` added to ``GLIBC_TUNABLES``, or None when nothing is to
  change (already set, opted out with ``ARMODELS_NO_MALLOC_TUNING``, or not a glibc/THP system)."""
  environ = dict(os.environ if environ is None else environ)
  if malloc_tuning_active(environ) or environ.get(OPT_OUT) or environ.get(_GUARD):
    return None
  if not _glibc_supports():
    return None
  current = environ.get("GLIBC_TUNABLES", "")
  environ["GLIBC_TUNABLES"] = f"{current}:{MALLOC_TUNABLE}" if current else MALLOC_TUNABLE
  environ[_GUARD] = "1"  # never loop, whatever glibc does with the setting
  return environ


def reexec_tuned(python_args: Sequence[str]) -> None:
  """Replaces this process by ``python *python_args`` with the tuned environment, when it differs.

  Returns (doing nothing) when :func:`tuned_environ` has nothing to change. Call it first thing in a
  command-line entry point, before any work: ``reexec_tuned(["-m", "armodels_jax.cli", *args])`` or,
  in a script, ``reexec_tuned([__file__, *sys.argv[1:]])``.
  """
  env = tuned_environ()
  if env is None:
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable, *python_args], env)


if __name__ == "__main__":  # prints the setting this process started with (used by the tests)
  print(os.environ.get("GLIBC_TUNABLES", ""))
