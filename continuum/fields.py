"""Coefficient fields of :class:`~continuum.NernstPlanckProblem` on its mesh.

Numbers and functions of x become DOLFINx functions: discontinuous (DG) ones for D and
ε_r (a step at a mesh node is kept on both sides), Lagrange ones for potentials, free
energies and boundary values, and the unit surface normal of the diffusion and
permittivity tensors.
"""

from __future__ import annotations

import numpy as np
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from .validation import is_number as _is_number

__all__ = ["CoefficientFields"]


class CoefficientFields:
    """Mixin of :class:`~continuum.NernstPlanckProblem`: coefficient functions and checks."""

    def _species_index(self, name: str) -> int:
        if not isinstance(name, str):
            raise TypeError(f"species must be given by name (str), got {type(name).__name__}")
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown species {name!r}; this problem has {self.names}") from None

    def _dg_function(self, value, what: str) -> fem.Function:
        """Interpolate ``value`` into DG_k, evaluating just inside each cell.

        Discontinuous coefficients (a step of D or ε_r at a mesh node) are then kept on both
        sides. DOLFINx interpolation would evaluate at the shared node for both cells, so the
        points are moved towards the cell centroid by 1e-9 of the cell size (done by hand).
        """
        f = fem.Function(self._DG, name=what)
        if _is_number(value):
            f.x.array[:] = float(value)
            return f
        if not callable(value):
            raise TypeError(f"{what} must be a number or a function of x")
        dofmap = self._DG.dofmap.list
        xd = self._DG.tabulate_dof_coordinates()
        centroid = xd[dofmap].mean(axis=1, keepdims=True)
        pts = (xd[dofmap] + 1e-9 * (centroid - xd[dofmap])).reshape(-1, 3)
        vals = np.asarray(value(pts.T), dtype=float).reshape(-1)
        if vals.size != pts.shape[0]:
            raise ValueError(f"{what}: the function of x must return one value per point")
        f.x.array[dofmap.reshape(-1)] = vals
        f.x.scatter_forward()
        self._check_finite(f, what)
        return f

    def _normal_field(self, normal):
        """The unit surface normal as a UFL vector (a constant or a DG vector function)."""
        gdim = self.domain.mesh.geometry.dim
        if normal is None:
            normal = [1.0, 0.0, 0.0]
        if callable(normal):
            space = fem.functionspace(self.domain.mesh, ("DG", self.degree, (gdim,)))
            f = fem.Function(space, name="surface_normal")

            def unit(x):
                n = np.asarray(normal(x), dtype=float)
                if n.ndim != 2 or n.shape[0] < gdim or n.shape[1] != x.shape[1]:
                    raise ValueError(
                        "surface_normal(x) must return an array of shape (3, n) of vectors"
                    )
                n = n[:gdim]
                norm = np.linalg.norm(n, axis=0)
                if not np.all(np.isfinite(norm)) or np.any(norm == 0):
                    raise ValueError("surface_normal(x) returned a zero or non-finite vector")
                return n / norm

            f.interpolate(unit)
            return f
        try:
            vec = np.asarray(normal, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise TypeError(
                f"surface_normal must be a vector of {gdim} numbers or a function of x, "
                f"got {normal!r}"
            ) from None
        if vec.size not in (gdim, 3) or np.any(vec[gdim:] != 0):
            raise ValueError(
                f"surface_normal must be a vector of {gdim} (or 3 with trailing zeros) numbers "
                f"or a function of x, got {normal!r}"
            )
        vec = vec[:gdim]
        norm = float(np.linalg.norm(vec))
        if not (np.isfinite(norm) and norm > 0):
            raise ValueError(f"surface_normal must be a finite non-zero vector, got {normal!r}")
        return self._const(vec / norm)

    def _q_function(self, value, what: str) -> fem.Function:
        f = fem.Function(self._Q, name=what)
        if _is_number(value):
            f.x.array[:] = float(value)
        elif callable(value):
            f.interpolate(lambda x: np.asarray(value(x), dtype=float).reshape(-1))
        else:
            raise TypeError(
                f"{what} must be a number or a function of x, got {type(value).__name__}"
            )
        self._check_finite(f, what)
        return f

    def _check_finite(self, f: fem.Function, what: str) -> None:
        bad = int(not np.all(np.isfinite(f.x.array)))
        if self.comm.allreduce(bad, op=MPI.MAX):
            raise ValueError(f"{what} has NaN or infinite values")

    def _check_positive(self, f: fem.Function, what: str) -> None:
        bad = int(np.any(f.x.array <= 0))
        if self.comm.allreduce(bad, op=MPI.MAX):
            raise ValueError(f"{what} must be > 0 everywhere")

    def _const(self, value) -> fem.Constant:
        return fem.Constant(self.domain.mesh, PETSc.ScalarType(value))
