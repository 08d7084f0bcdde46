"""Anisotropic permittivity ε = ε⊥ n⊗n + ε∥ (I − n⊗n) in Poisson's equation (issue #17
item 3): manufactured solutions (L2 error ~ h^(p+1) for P1 and P2), the isotropic and 1D
limits, the closed-form capacitor from a TransportProfile with ε∥(z), and input errors.

Sources and fixed charge come from the SI equations written with UFL independently of the
solver's nondimensional forms: J = −D(∇c + z c F/RT ∇φ), s = ∇·J,
ρ_f = −∇·(ε0 ε ∇φ) − F Σ z c with the tensor ε.
"""

from __future__ import annotations

import dolfinx_solver  # noqa: F401
import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

# the manufactured solution, D and the tilted normal of the tensor-D MMS test
from test_continuum_mms_terms import C0, THETA, D, L, T, Z, exact, mms_domain, set_exact_walls

from continuum import NernstPlanckProblem, Species, TransportProfile, interval, rectangle
from continuum.constants import EPSILON_0, FARADAY, GAS_CONSTANT


def eps_perp(x, m):
    """ε⊥(x): 20 at the wall rising to 78, like water at an interface."""
    return 20.0 + 58.0 * m.sin(0.5 * m.pi * x[0] / L) ** 2


def eps_par(x, m):
    """ε∥(x): ≠ ε⊥, varying along both axes."""
    return 60.0 + 15.0 * m.cos(m.pi * x[0] / L) * m.cos(0.5 * m.pi * x[1] / L)


def solve_mms(n, degree, dim=2, *, parallel="tensor", eps_model="tensor"):
    """Solve the manufactured problem; return (problem, L2 errors).

    ``eps_model`` is the permittivity of the exact solution (its fixed charge):
    "tensor" (ε⊥, ε∥) or "scalar" (ε⊥). ``parallel`` is what the solver is given as
    ``permittivity_parallel``: "tensor" (the ε∥ function), "same" (ε⊥ again), "number"
    (with ε⊥ = 40 also a number, ε∥ = 40), "other" (ε∥ = 5), or None.
    """
    dom, walls = mms_domain(n, dim)
    x = ufl.SpatialCoordinate(dom.mesh)
    c_ex, phi_ex = exact(x, dim, ufl)
    if parallel == "number":
        eps = 40.0 * ufl.Identity(dim)
    elif eps_model == "tensor":
        normal = ufl.as_vector([np.cos(THETA), np.sin(THETA)])
        nn = ufl.outer(normal, normal)
        eps = eps_perp(x, ufl) * nn + eps_par(x, ufl) * (ufl.Identity(2) - nn)
    else:
        eps = eps_perp(x, ufl) * ufl.Identity(dim)
    rho_fixed = -ufl.div(EPSILON_0 * ufl.dot(eps, ufl.grad(phi_ex))) - FARADAY * sum(
        Z[k] * c_ex[k] for k in Z
    )
    par = {
        "tensor": lambda xx: eps_par(xx, np),
        "same": lambda xx: eps_perp(xx, np),
        "number": 40.0,
        "other": 5.0,
        None: None,
    }[parallel]
    p = NernstPlanckProblem(
        dom,
        [Species(k, Z[k], D[k], C0) for k in Z],
        temperature=T,
        permittivity=40.0 if parallel == "number" else (lambda xx: eps_perp(xx, np)),
        permittivity_parallel=par,
        degree=degree,
        fixed_charge=rho_fixed,
        surface_normal=[np.cos(THETA), np.sin(THETA), 0.0] if dim > 1 else None,
    )
    f_over_rt = FARADAY / (GAS_CONSTANT * T)
    for k in Z:
        flux = -D[k] * (ufl.grad(c_ex[k]) + Z[k] * c_ex[k] * f_over_rt * ufl.grad(phi_ex))
        p.add_source(k, ufl.div(flux))
    set_exact_walls(p, walls, dim)
    p.solve()
    dx = ufl.Measure("dx", domain=dom.mesh, metadata={"quadrature_degree": 2 * degree + 4})
    err = {
        k: np.sqrt(fem.assemble_scalar(fem.form((p.concentration(k) - c_ex[k]) ** 2 * dx))) / C0
        for k in Z
    }
    err["phi"] = np.sqrt(fem.assemble_scalar(fem.form((p.potential() - phi_ex) ** 2 * dx))) / 0.04
    return p, err


@pytest.mark.parametrize(("degree", "ns"), [(1, [8, 16, 32]), (2, [8, 16, 32])])
def test_mms_tensor_permittivity_2d_rate(degree, ns):
    """Tilted normal, ε⊥(x) ≠ ε∥(x): c± and φ converge at h^(p+1) in L2."""
    errs = [solve_mms(n, degree)[1] for n in ns]
    h = 1.0 / np.asarray(ns, float)
    for k in ("A+", "B-", "phi"):
        r = np.diff(np.log([e[k] for e in errs])) / np.diff(np.log(h))
        print(f"tensor eps, P{degree}, {k}: errors {[e[k] for e in errs]}, rates {r}")
        assert abs(r[-1] - (degree + 1)) < 0.15, (k, r)


def test_tensor_permittivity_matters():
    """Dropping ε∥ (isotropic ε⊥) leaves an error far above the tensor solve's, so the rate
    test would fail if ε∥ or the normal were ignored."""
    _, good = solve_mms(16, 2)
    _, bad = solve_mms(16, 2, parallel=None)
    assert bad["phi"] > 100 * good["phi"]


@pytest.mark.parametrize("parallel", ["same", "number"])
def test_equal_parallel_reproduces_the_scalar_case(parallel):
    """ε∥ = ε⊥ gives ε⊥ I: the same state as the scalar permittivity, to round-off (ε⊥, ε∥
    functions of x, or both the number 40)."""
    p_tensor, _ = solve_mms(6, 2, parallel=parallel, eps_model="scalar")
    if parallel == "number":
        p_scalar = _solve_scalar_number(6, 2)
    else:
        p_scalar, _ = solve_mms(6, 2, parallel=None, eps_model="scalar")
    a, b = p_tensor.w.x.array, p_scalar.w.x.array
    assert p_tensor.debye_length == p_scalar.debye_length
    assert np.max(np.abs(a - b)) < 1e-11 * np.max(np.abs(b))


def _solve_scalar_number(n, degree):
    """The "number" case of :func:`solve_mms` with ε_r = 40 given as a scalar."""
    dom = rectangle(MPI.COMM_SELF, [L, L], [n, n])
    x = ufl.SpatialCoordinate(dom.mesh)
    c_ex, phi_ex = exact(x, 2, ufl)
    rho_fixed = -ufl.div(EPSILON_0 * 40.0 * ufl.grad(phi_ex)) - FARADAY * sum(
        Z[k] * c_ex[k] for k in Z
    )
    p = NernstPlanckProblem(
        dom,
        [Species(k, Z[k], D[k], C0) for k in Z],
        temperature=T,
        permittivity=40.0,
        degree=degree,
        fixed_charge=rho_fixed,
    )
    f_over_rt = FARADAY / (GAS_CONSTANT * T)
    for k in Z:
        flux = -D[k] * (ufl.grad(c_ex[k]) + Z[k] * c_ex[k] * f_over_rt * ufl.grad(phi_ex))
        p.add_source(k, ufl.div(flux))
    for b in ["left", "right", "bottom", "top"]:
        for k in Z:
            p.set_concentration(k, b, lambda xx, k=k: exact(xx, 2, np)[0][k])
        p.set_potential(b, lambda xx: exact(xx, 2, np)[1])
    p.solve()
    return p


def test_one_dimension_ignores_parallel():
    """In 1D there is no 'along the surface': ε∥ changes neither the state nor λ_D."""
    p_par, _ = solve_mms(8, 1, dim=1, parallel="other", eps_model="scalar")
    p_iso, _ = solve_mms(8, 1, dim=1, parallel=None, eps_model="scalar")
    np.testing.assert_array_equal(p_par.w.x.array, p_iso.w.x.array)
    assert p_par.debye_length == p_iso.debye_length


# ---------------------------------------------------------------- from a profile
def _capacitor_profile(eps_perp_value=10.0, eps_par_value=60.0, **over):
    z = np.linspace(0, 2e-9, 5)
    one = np.ones((2, z.size))
    kw = {
        "z": z,
        "species": ["Na+", "Cl-"],
        "charges": [1, -1],
        "concentration": 1e-6 * one,  # (almost) no ions: a plain capacitor
        "diffusion": 1e-9 * one,
        "permittivity": eps_perp_value * np.ones(z.size),
        "permittivity_parallel": eps_par_value * np.ones(z.size),
        "temperature": T,
    }
    kw.update(over)
    return TransportProfile(**kw)


def _plate_charge(p, lo, hi, v=0.1):
    p.set_potential(lo, 0.0)
    p.set_potential(hi, v)
    for k in p.names:
        p.set_concentration(k, lo, 1e-6)
        p.set_concentration(k, hi, 1e-6)
    p.solve()
    return p.surface_charge(hi)


@pytest.mark.parametrize(("across", "anisotropic"), [(True, True), (False, True), (False, False)])
def test_capacitor_from_profile(across, anisotropic):
    """Closed form: the plate charge (C/m) of a 2D capacitor W × H at 0.1 V is
    ε0 ε⊥ V H/W across the surface (field along the normal, x) and ε0 ε∥ V W/H along it;
    ``anisotropic=False`` gives ε⊥ in both directions. The profile's ε∥ reaches Poisson."""
    width, height = 4e-9, 2e-9
    dom = rectangle(MPI.COMM_SELF, [width, height], [6, 4])
    p = NernstPlanckProblem.from_profile(
        dom,
        _capacitor_profile(),
        free_energy=False,
        anisotropic=anisotropic,
        length_scale=height,
    )
    lo, hi = ("left", "right") if across else ("bottom", "top")
    eps = 10.0 if across or not anisotropic else 60.0
    span, side = (width, height) if across else (height, width)
    expected = EPSILON_0 * eps * 0.1 * side / span
    assert _plate_charge(p, lo, hi) == pytest.approx(expected, rel=1e-6)


def test_capacitor_from_profile_1d_uses_perp():
    dom = interval(MPI.COMM_SELF, 2e-9, 8)
    p = NernstPlanckProblem.from_profile(
        dom, _capacitor_profile(), free_energy=False, length_scale=2e-9
    )
    expected = EPSILON_0 * 10.0 * 0.1 / 2e-9  # C/m²
    assert _plate_charge(p, "left", "right") == pytest.approx(expected, rel=1e-6)


def test_profile_permittivity_parallel_round_trip(tmp_path):
    import h5py

    prof = _capacitor_profile(eps_par_value=55.0)
    path = prof.write(tmp_path / "profile.h5")
    back = TransportProfile.read(path)
    np.testing.assert_array_equal(back.permittivity_parallel, prof.permittivity_parallel)
    with h5py.File(path) as fh:
        assert fh["permittivity_parallel"].attrs["units"] == "1 (relative)"
    old = _capacitor_profile(permittivity_parallel=None)
    assert TransportProfile.read(old.write(tmp_path / "old.h5")).permittivity_parallel is None


# ---------------------------------------------------------------- input errors
@pytest.mark.parametrize(
    ("value", "exc", "match"),
    [
        (-1.0, ValueError, r"permittivity_parallel must be > 0 and finite"),
        (np.inf, ValueError, r"permittivity_parallel must be > 0 and finite"),
        ("water", TypeError, r"permittivity_parallel must be a number or a function of x"),
        (lambda x: 0.0 * x[0] - 1.0, ValueError, r"permittivity_parallel must be > 0 everywhere"),
    ],
)
def test_bad_permittivity_parallel(value, exc, match):
    dom = rectangle(MPI.COMM_SELF, [L, L], [2, 2])
    sp = [Species("A+", 1, 1e-9, 1.0), Species("B-", -1, 1e-9, 1.0)]
    with pytest.raises(exc, match=match):
        NernstPlanckProblem(dom, sp, permittivity_parallel=value)


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"permittivity_parallel": -np.ones(5)}, r"permittivity_parallel must be > 0"),
        ({"permittivity_parallel": np.ones(3)}, r"permittivity_parallel must have shape \(5,\)"),
        ({"permittivity": None}, r"permittivity_parallel \(in-plane epsilon\) needs permittivity"),
    ],
)
def test_bad_profile_permittivity_parallel(over, match):
    with pytest.raises(ValueError, match=match):
        _capacitor_profile(**over)


def test_from_profile_permittivity_parallel_errors():
    dom = rectangle(MPI.COMM_SELF, [4e-9, 2e-9], [2, 2])
    with pytest.raises(ValueError, match=r"permittivity_parallel must be a number .*'profile'"):
        NernstPlanckProblem.from_profile(dom, _capacitor_profile(), permittivity_parallel="bulk")
    bare = _capacitor_profile(permittivity_parallel=None)
    with pytest.raises(ValueError, match=r"needs a profile with permittivity_parallel"):
        NernstPlanckProblem.from_profile(dom, bare, permittivity_parallel="profile")
