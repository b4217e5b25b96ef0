# `make demo` and `make test` work on a fresh machine with only python3:
# they create .venv, install the package with its test extras, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_WORKERS ?= 2
# Huge pages for glibc's allocator: XLA's CPU steps page-fault much less (armodels_jax/runtime_env.py).
export GLIBC_TUNABLES := $(if $(GLIBC_TUNABLES),$(GLIBC_TUNABLES):)glibc.malloc.hugetlb=1

.PHONY: demo test install clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test,tpu]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/armodels demo

# JAX_PLATFORMS=cpu: with libtpu installed (the tpu extra), JAX would otherwise try a TPU backend in
# every test process; the compile-only TPU devices of tests/test_aot.py work without it.
test: $(STAMP)
	JAX_PLATFORMS=$${JAX_PLATFORMS:-cpu} $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=25 tests

clean:
	rm -rf build dist *.egg-info .pytest_cache
