"""Tests in this folder run under ``mpiexec -n 2`` (see ``make test``).

Run serially they still pass, but then they compare one rank with itself; the MPI run is the
one that checks parallel consistency.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# helpers shared with the serial tests (e.g. umbrella_toy.py) live in tests/, not a package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="session")
def comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD
