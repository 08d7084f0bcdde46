"""Manufactured solutions of the full PNP system (c₊ ≠ c₋, space charge, field) converge at
the theoretical rate of the Lagrange element: L2 error ∝ h^(p+1) for P1 and P2.

The exact fields are smooth functions of position; the sources of each Nernst–Planck
equation and the fixed charge of Poisson's equation that make them exact are derived
symbolically with UFL from the SI equations (J = −D(∇c + z c F/RT ∇φ), s = ∇·J,
ρ_f = −∇·(ε0 εr ∇φ) − F Σ z c), independently of the solver's nondimensional forms.
"""

from __future__ import annotations

import dolfinx_solver  # noqa: F401
import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from continuum import NernstPlanckProblem, Species, interval, rectangle
from continuum.constants import EPSILON_0, FARADAY, GAS_CONSTANT

T = 298.15
EPS_R = 78.46
L = 10e-9  # m, about ten Debye lengths at 0.1 M
C0 = 100.0  # mol/m^3
D = {"A+": 1.33e-9, "B-": 2.03e-9}  # m^2/s
Z = {"A+": 1, "B-": -1}


def exact_ufl(x, dim: int):
    """Exact c_A (mol/m³), c_B (mol/m³), φ (V) as UFL expressions of SI coordinates."""
    s = ufl.pi * x[0] / L
    y = 1.0 if dim == 1 else ufl.cos(0.5 * ufl.pi * x[1] / L)
    c_a = C0 * (1.5 + 0.5 * ufl.sin(s) * y)
    c_b = C0 * (1.0 + 0.3 * ufl.cos(s) + 0.2 * x[0] / L)
    phi = 0.04 * ufl.sin(1.3 * s) * (2.0 - y)
    return {"A+": c_a, "B-": c_b}, phi


def exact_numpy(x, dim: int):
    s = np.pi * x[0] / L
    y = 1.0 if dim == 1 else np.cos(0.5 * np.pi * x[1] / L)
    c_a = C0 * (1.5 + 0.5 * np.sin(s) * y)
    c_b = C0 * (1.0 + 0.3 * np.cos(s) + 0.2 * x[0] / L)
    phi = 0.04 * np.sin(1.3 * s) * (2.0 - y)
    return {"A+": c_a, "B-": c_b}, phi


def solve_mms(n: int, degree: int, dim: int) -> dict[str, float]:
    if dim == 1:
        dom = interval(MPI.COMM_SELF, L, n)
        walls = ["left", "right"]
    else:
        dom = rectangle(MPI.COMM_SELF, [L, L], [n, n])
        walls = ["left", "right", "bottom", "top"]
    x = ufl.SpatialCoordinate(dom.mesh)
    c_ex, phi_ex = exact_ufl(x, dim)
    f_over_rt = FARADAY / (GAS_CONSTANT * T)
    eps = EPSILON_0 * EPS_R
    rho_fixed = -ufl.div(eps * ufl.grad(phi_ex)) - FARADAY * sum(Z[k] * c_ex[k] for k in Z)
    species = [Species(k, Z[k], D[k], C0) for k in Z]
    p = NernstPlanckProblem(
        dom, species, temperature=T, permittivity=EPS_R, degree=degree, fixed_charge=rho_fixed
    )
    for k in Z:
        flux = -D[k] * (ufl.grad(c_ex[k]) + Z[k] * c_ex[k] * f_over_rt * ufl.grad(phi_ex))
        p.add_source(k, ufl.div(flux))
    for b in walls:
        for k in Z:
            p.set_concentration(k, b, lambda xx, k=k: exact_numpy(xx, dim)[0][k])
        p.set_potential(b, lambda xx: exact_numpy(xx, dim)[1])
    p.solve()
    dx = ufl.Measure("dx", domain=dom.mesh, metadata={"quadrature_degree": 2 * degree + 4})
    err = {}
    for k in Z:
        e = fem.assemble_scalar(fem.form((p.concentration(k) - c_ex[k]) ** 2 * dx))
        err[k] = np.sqrt(e) / C0
    e = fem.assemble_scalar(fem.form((p.potential() - phi_ex) ** 2 * dx))
    err["phi"] = np.sqrt(e) / 0.04
    return err


def rates(degree: int, dim: int, ns: list[int]) -> dict[str, np.ndarray]:
    errs = [solve_mms(n, degree, dim) for n in ns]
    h = 1.0 / np.asarray(ns, float)
    return {
        k: np.diff(np.log([e[k] for e in errs])) / np.diff(np.log(h)) for k in ("A+", "B-", "phi")
    }


@pytest.mark.parametrize("degree", [1, 2])
def test_mms_1d_rate(degree):
    r = rates(degree, 1, [8, 16, 32, 64])
    for k, v in r.items():
        # the finest pair is in the asymptotic range: within 0.1 of p + 1
        assert abs(v[-1] - (degree + 1)) < 0.05, (k, v)


@pytest.mark.parametrize(("degree", "ns"), [(1, [8, 16, 32]), (2, [4, 8, 16])])
def test_mms_2d_rate(degree, ns):
    r = rates(degree, 2, ns)
    for k, v in r.items():
        assert abs(v[-1] - (degree + 1)) < 0.1, (k, v)


def test_mms_solution_is_accurate_and_charged():
    """At the finest 1D P2 resolution the error is small and the manufactured state really
    carries space charge (c₊ ≠ c₋), so the Poisson coupling is exercised."""
    err = solve_mms(64, 2, 1)
    assert max(err.values()) < 1e-5
    xs = np.linspace(0, L, 50)[None, :]
    c, _ = exact_numpy(np.vstack([xs, 0 * xs, 0 * xs]), 1)
    assert np.max(np.abs(c["A+"] - c["B-"])) > 0.2 * C0
