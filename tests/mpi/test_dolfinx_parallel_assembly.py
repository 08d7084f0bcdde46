"""DOLFINx assembles the same numbers on one rank and on all ranks."""

from __future__ import annotations

import numpy as np
import pytest


def _assemble(comm, n: int = 16) -> tuple[float, float]:
    import dolfinx_solver  # noqa: F401  (must precede dolfinx: provides PETSc/MPI)
    import ufl
    from dolfinx import fem, mesh
    from dolfinx.fem.petsc import assemble_vector
    from petsc4py import PETSc

    domain = mesh.create_unit_square(comm, n, n, mesh.CellType.triangle)
    x = ufl.SpatialCoordinate(domain)
    # ∫_[0,1]^2 sin(πx) sin(πy) dx = 4/π²
    f = ufl.sin(ufl.pi * x[0]) * ufl.sin(ufl.pi * x[1])
    scalar = comm.allreduce(fem.assemble_scalar(fem.form(f * ufl.dx)))

    V = fem.functionspace(domain, ("Lagrange", 1))
    v = ufl.TestFunction(V)
    b = assemble_vector(fem.form(f * v * ufl.dx))
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return scalar, b.norm()


def test_scalar_and_vector_assembly_agree_across_rank_counts(comm):
    from mpi4py import MPI

    serial_scalar, serial_norm = _assemble(MPI.COMM_SELF)
    parallel_scalar, parallel_norm = _assemble(comm)
    assert serial_scalar == pytest.approx(4 / np.pi**2, rel=1e-3)  # quadrature error only
    # no solver involved: only the summation order of 512 cells / 289 nodes differs, a
    # relative round-off of ~sqrt(n) eps = 1e-14, so 1e-12 is safe on any CPU/BLAS
    assert parallel_scalar == pytest.approx(serial_scalar, rel=1e-12)
    assert parallel_norm == pytest.approx(serial_norm, rel=1e-12)
