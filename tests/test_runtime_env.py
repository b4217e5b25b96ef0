"""runtime_env: the allocator setting the `armodels` command re-executes itself with."""

import os
import subprocess
import sys

import pytest

from armodels_jax import runtime_env as rt


def test_tuned_environ_adds_once_and_respects_opt_out(monkeypatch):
  monkeypatch.setattr(rt, "_glibc_supports", lambda: True)
  env = rt.tuned_environ({"PATH": "/bin"})
  assert env["GLIBC_TUNABLES"] == rt.MALLOC_TUNABLE and env["PATH"] == "/bin"
  assert rt.malloc_tuning_active(env)
  assert rt.tuned_environ(env) is None  # already set: no second re-execution
  other = rt.tuned_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
  assert other["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:" + rt.MALLOC_TUNABLE
  assert rt.tuned_environ({rt.OPT_OUT: "1"}) is None
  monkeypatch.setattr(rt, "_glibc_supports", lambda: False)
  assert rt.tuned_environ({}) is None


@pytest.mark.skipif(not rt._glibc_supports(), reason="needs glibc >= 2.35 with transparent huge pages")
def test_command_reexecutes_with_the_setting():
  # `python -c` stands in for the console script: reexec_tuned replaces the process by
  # `python -m armodels_jax.runtime_env`, whose __main__ prints the setting it sees.
  env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "ARMODELS_REEXEC",
                                                         rt.OPT_OUT)}
  code = "from armodels_jax import runtime_env as r; r.reexec_tuned(['-m', 'armodels_jax.runtime_env'])"
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120, check=True).stdout
  assert out.strip() == rt.MALLOC_TUNABLE
