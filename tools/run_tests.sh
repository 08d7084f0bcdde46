#!/usr/bin/env bash
# The whole test suite: the serial tests, then tests/mpi under `mpiexec -n 2` with the
# venv's MPI. pytest's exit code 5 ("no tests collected") counts as a failure: a suite that
# ran nothing has not passed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
check() {
    local rc=$1 what=$2
    if [ "$rc" -eq 5 ]; then echo "error: $what collected no tests" >&2; exit 1; fi
    if [ "$rc" -ne 0 ]; then echo "error: $what failed (exit $rc)" >&2; exit "$rc"; fi
}
"$PY" -m pytest tests --ignore=tests/mpi "$@"
check $? "the serial test suite"
# timeout: a rank that fails inside a collective must not hang CI forever
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
    timeout 1200 .venv/bin/mpiexec -n 2 "$PY" -m pytest tests/mpi -p no:cacheprovider "$@"
check $? "the MPI test suite (mpiexec -n 2)"
