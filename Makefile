# The two commands of the README: `make demo` and `make test`. Both set themselves up.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MPIEXEC := $(VENV)/bin/mpiexec
# One rank per core under MPI; no hidden threading oversubscription.
MPI_ENV := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: setup demo test test-serial test-mpi bench docs lint format clean

setup:
	@bash tools/setup_venv.sh

demo: setup
	$(PY) -m multiscale demo

test: setup
	@bash tools/run_tests.sh

test-serial: setup
	$(PY) -m pytest tests --ignore=tests/mpi

test-mpi: setup
	$(MPI_ENV) $(MPIEXEC) -n 2 $(PY) -m pytest tests/mpi

bench: setup
	$(PY) benchmarks/run_all.py

docs: setup
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) demo_output .pytest_cache build *.egg-info
