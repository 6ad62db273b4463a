# Two entry points on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install        ## simulate 64 GPUs x 7 days, build, serve http://127.0.0.1:8050
	$(BIN)/gpucost --db demo.duckdb demo

test: install        ## the whole suite (what CI runs)
	$(BIN)/python -m pytest -q

bench: install       ## benchmarks in bench/ (slow; see bench/README.md)
	$(BIN)/python bench/build_bench.py

clean:
	rm -rf $(VENV) build *.egg-info demo.duckdb test-artifacts
