"""Manufactured solutions for the terms the continuum takes from MD (issue #17 item 3):
the diffusion tensor D⊥ n⊗n + D∥ (I − n⊗n) with position-dependent D⊥(x), D∥(x), and a
position-dependent permittivity ε_r(x) in Poisson's equation. The L2 error must fall as
h^(p+1) for P1 and P2, as for the existing terms (tests/test_continuum_mms.py).

Sources and fixed charge come from the SI equations written with UFL independently of the
solver's nondimensional forms: J = −D(∇c + z c F/RT ∇φ), s = ∇·J,
ρ_f = −∇·(ε0 ε_r ∇φ) − F Σ z c.
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
L = 10e-9  # m
C0 = 100.0  # mol/m^3
D = {"A+": 1.33e-9, "B-": 2.03e-9}  # m^2/s (D⊥ scale)
Z = {"A+": 1, "B-": -1}
THETA = np.pi / 6  # surface normal rotated by 30° from x: the tensor has off-diagonal terms


def exact(x, dim, m):
    """c_A, c_B (mol/m³), φ (V); ``m`` is ufl or numpy."""
    s = m.pi * x[0] / L
    y = 1.0 if dim == 1 else m.cos(0.5 * m.pi * x[1] / L)
    c_a = C0 * (1.5 + 0.5 * m.sin(s) * y)
    c_b = C0 * (1.0 + 0.3 * m.cos(s) + 0.2 * x[0] / L)
    phi = 0.04 * m.sin(1.3 * s) * (2.0 - y)
    return {"A+": c_a, "B-": c_b}, phi


def d_perp(x, k, m):
    """D⊥(x) (m²/s): falls towards the wall x = 0, like an MD profile."""
    return D[k] * (0.4 + 0.6 * m.sin(0.5 * m.pi * x[0] / L) ** 2 + 0.1)


def d_par(x, k, m):
    """D∥(x) (m²/s), different from D⊥ and varying along both axes."""
    return D[k] * (1.2 + 0.3 * m.cos(m.pi * x[0] / L) * m.cos(0.5 * m.pi * x[1] / L))


def eps_r(x, m):
    """ε_r(x): 20 at the wall rising to ~78 (a smooth interfacial permittivity profile)."""
    return 20.0 + 58.0 * m.sin(0.5 * m.pi * x[0] / L) ** 2


def mms_domain(n: int, dim: int):
    """The [0, L] interval or [0, L]² square with n cells per side, and its wall names."""
    if dim == 1:
        return interval(MPI.COMM_SELF, L, n), ["left", "right"]
    return rectangle(MPI.COMM_SELF, [L, L], [n, n]), ["left", "right", "bottom", "top"]


def set_exact_walls(p, walls, dim: int) -> None:
    """Dirichlet values of the exact c and φ on every wall."""
    for b in walls:
        for k in Z:
            p.set_concentration(k, b, lambda xx, k=k: exact(xx, dim, np)[0][k])
        p.set_potential(b, lambda xx: exact(xx, dim, np)[1])


def solve_mms(n: int, degree: int, dim: int, *, tensor: bool, variable_eps: bool) -> dict:
    dom, walls = mms_domain(n, dim)
    x = ufl.SpatialCoordinate(dom.mesh)
    c_ex, phi_ex = exact(x, dim, ufl)
    f_over_rt = FARADAY / (GAS_CONSTANT * T)
    eps = EPSILON_0 * (eps_r(x, ufl) if variable_eps else 78.46)
    rho_fixed = -ufl.div(eps * ufl.grad(phi_ex)) - FARADAY * sum(Z[k] * c_ex[k] for k in Z)
    normal = ufl.as_vector([np.cos(THETA), np.sin(THETA)])
    species = []
    for k in Z:
        if tensor:
            species.append(
                Species(
                    k,
                    Z[k],
                    (lambda xx, k=k: d_perp(xx, k, np)),
                    C0,
                    diffusion_parallel=(lambda xx, k=k: d_par(xx, k, np)),
                )
            )
        else:
            species.append(Species(k, Z[k], D[k], C0))
    p = NernstPlanckProblem(
        dom,
        species,
        temperature=T,
        permittivity=(lambda xx: eps_r(xx, np)) if variable_eps else 78.46,
        degree=degree,
        fixed_charge=rho_fixed,
        surface_normal=[np.cos(THETA), np.sin(THETA), 0.0] if tensor else None,
    )
    for k in Z:
        grad_mu = ufl.grad(c_ex[k]) + Z[k] * c_ex[k] * f_over_rt * ufl.grad(phi_ex)
        if tensor:
            nn = ufl.outer(normal, normal)
            dt = d_perp(x, k, ufl) * nn + d_par(x, k, ufl) * (ufl.Identity(2) - nn)
            flux = -ufl.dot(dt, grad_mu)
        else:
            flux = -D[k] * grad_mu
        p.add_source(k, ufl.div(flux))
    set_exact_walls(p, walls, dim)
    p.solve()
    dx = ufl.Measure("dx", domain=dom.mesh, metadata={"quadrature_degree": 2 * degree + 4})
    err = {}
    for k in Z:
        e = fem.assemble_scalar(fem.form((p.concentration(k) - c_ex[k]) ** 2 * dx))
        err[k] = np.sqrt(e) / C0
    e = fem.assemble_scalar(fem.form((p.potential() - phi_ex) ** 2 * dx))
    err["phi"] = np.sqrt(e) / 0.04
    return err


def rates(degree, dim, ns, **kw) -> dict[str, np.ndarray]:
    errs = [solve_mms(n, degree, dim, **kw) for n in ns]
    h = 1.0 / np.asarray(ns, float)
    return {
        k: np.diff(np.log([e[k] for e in errs])) / np.diff(np.log(h)) for k in ("A+", "B-", "phi")
    }


@pytest.mark.parametrize(("degree", "ns"), [(1, [8, 16, 32]), (2, [4, 8, 16])])
def test_mms_tensor_diffusion_2d_rate(degree, ns):
    """Rotated anisotropic D(x) with ε_r(x): all fields converge at h^(p+1)."""
    r = rates(degree, 2, ns, tensor=True, variable_eps=True)
    print(f"tensor D + eps(x), P{degree}: {r}")
    for k, v in r.items():
        assert abs(v[-1] - (degree + 1)) < 0.15, (k, v)


@pytest.mark.parametrize("degree", [1, 2])
def test_mms_variable_permittivity_1d_rate(degree):
    r = rates(degree, 1, [8, 16, 32, 64], tensor=False, variable_eps=True)
    print(f"eps(x) 1D, P{degree}: {r}")
    for k, v in r.items():
        assert abs(v[-1] - (degree + 1)) < 0.1, (k, v)


def test_tensor_is_not_isotropic():
    """The anisotropy matters: solving the tensor-D manufactured problem with the scalar D⊥
    alone (no diffusion_parallel) leaves an error orders of magnitude above the tensor
    solve's, so the test above would fail if D∥ or the normal were ignored."""
    good = solve_mms(16, 2, 2, tensor=True, variable_eps=False)
    # same sources, species without D∥: monkey-patch the species list by rebuilding
    dom = rectangle(MPI.COMM_SELF, [L, L], [16, 16])
    x = ufl.SpatialCoordinate(dom.mesh)
    c_ex, phi_ex = exact(x, 2, ufl)
    f_over_rt = FARADAY / (GAS_CONSTANT * T)
    rho_fixed = -ufl.div(EPSILON_0 * 78.46 * ufl.grad(phi_ex)) - FARADAY * sum(
        Z[k] * c_ex[k] for k in Z
    )
    normal = ufl.as_vector([np.cos(THETA), np.sin(THETA)])
    species = [Species(k, Z[k], (lambda xx, k=k: d_perp(xx, k, np)), C0) for k in Z]
    p = NernstPlanckProblem(dom, species, temperature=T, degree=2, fixed_charge=rho_fixed)
    for k in Z:
        nn = ufl.outer(normal, normal)
        dt = d_perp(x, k, ufl) * nn + d_par(x, k, ufl) * (ufl.Identity(2) - nn)
        grad_mu = ufl.grad(c_ex[k]) + Z[k] * c_ex[k] * f_over_rt * ufl.grad(phi_ex)
        p.add_source(k, ufl.div(-ufl.dot(dt, grad_mu)))
    for b in ["left", "right", "bottom", "top"]:
        for k in Z:
            p.set_concentration(k, b, lambda xx, k=k: exact(xx, 2, np)[0][k])
        p.set_potential(b, lambda xx: exact(xx, 2, np)[1])
    p.solve()
    dx = ufl.Measure("dx", domain=dom.mesh, metadata={"quadrature_degree": 8})
    bad = np.sqrt(fem.assemble_scalar(fem.form((p.concentration("A+") - c_ex["A+"]) ** 2 * dx)))
    assert bad / C0 > 100 * good["A+"]


def _fick_profile(d_perp_value: float, d_par_value: float):
    from continuum import TransportProfile

    z = np.linspace(0, 2e-9, 5)
    one = np.ones((1, z.size))
    return TransportProfile(
        z=z,
        species=["X"],
        charges=[0],
        concentration=100.0 * one,
        diffusion=d_perp_value * one,
        diffusion_parallel=d_par_value * one,
        temperature=T,
    )


@pytest.mark.parametrize("across", [True, False])
def test_tensor_from_profile_fick_flux(across):
    """Closed form: a neutral species between two walls at fixed c carries the Fick flux
    D Δc W / H, with D = D⊥ when the gradient is across the surface (along the normal, x)
    and D = D∥ when it runs along it (y). The profile's D∥ reaches the solver."""
    from continuum import rectangle

    d_perp_value, d_par_value = 0.5e-9, 2.0e-9
    prof = _fick_profile(d_perp_value, d_par_value)
    width, height = 4e-9, 2e-9
    dom = rectangle(MPI.COMM_SELF, [width, height], [6, 4])
    p = NernstPlanckProblem.from_profile(dom, prof, potential=None)
    lo, hi = ("left", "right") if across else ("bottom", "top")
    p.set_concentration("X", lo, 100.0)
    p.set_concentration("X", hi, 50.0)
    p.solve()
    span, side = (width, height) if across else (height, width)
    expected = (d_perp_value if across else d_par_value) * 50.0 * side / span
    assert p.flux("X", hi) == pytest.approx(expected, rel=1e-6, abs=0)


def test_one_dimension_uses_d_perp_only():
    """In 1D there is no 'along the surface': D∥ must not change the answer."""
    prof = _fick_profile(0.5e-9, 2.0e-9)
    dom = interval(MPI.COMM_SELF, 2e-9, 8)
    p = NernstPlanckProblem.from_profile(dom, prof, potential=None)
    p.set_concentration("X", "left", 100.0)
    p.set_concentration("X", "right", 50.0)
    p.solve()
    assert p.flux("X", "right") == pytest.approx(0.5e-9 * 50.0 / 2e-9, rel=1e-6, abs=0)


@pytest.mark.parametrize(
    ("normal", "match"),
    [([0.0, 0.0, 0.0], "finite non-zero"), ([1.0, 0.0, 1.0], "vector of 2"), ("x", "vector")],
)
def test_bad_surface_normal(normal, match):
    dom = rectangle(MPI.COMM_SELF, [L, L], [2, 2])
    sp = [Species("X", 0, 1e-9, 1.0, diffusion_parallel=2e-9)]
    with pytest.raises((ValueError, TypeError), match=match):
        NernstPlanckProblem(dom, sp, potential=None, surface_normal=normal)


def test_bad_diffusion_parallel():
    with pytest.raises(ValueError, match=r"diffusion_parallel of X must be > 0"):
        Species("X", 0, 1e-9, 1.0, diffusion_parallel=-1e-9)
    dom = rectangle(MPI.COMM_SELF, [L, L], [2, 2])
    sp = [Species("X", 0, 1e-9, 1.0, diffusion_parallel=lambda x: -1e-9 + 0 * x[0])]
    with pytest.raises(ValueError, match=r"diffusion_parallel of X must be > 0 everywhere"):
        NernstPlanckProblem(dom, sp, potential=None)


def test_normal_from_distance_of_a_pit_wall():
    """The normal of a circular wall points radially."""
    from continuum.coefficients import normal_from_distance

    def distance(x):
        return np.hypot(x[0], x[1]) - 1e-9

    n = normal_from_distance(distance, 1e-13)(np.array([[2e-9, 0.0], [2e-9, 3e-9], [0.0, 0.0]]))
    r = np.array([[2.0, 0.0], [2.0, 3.0], [0.0, 0.0]])
    np.testing.assert_allclose(n, r / np.linalg.norm(r, axis=0), atol=1e-6)
    with pytest.raises(ValueError, match="step must be a number > 0"):
        normal_from_distance(distance, 0.0)
