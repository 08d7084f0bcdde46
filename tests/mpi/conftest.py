"""Tests in this folder run under ``mpiexec -n 2`` (see ``make test``).

Run serially they still pass, but then they compare one rank with itself; the MPI run is the
one that checks parallel consistency.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD
