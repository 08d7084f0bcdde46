"""Stern layer and Frumkin-corrected Butler–Volmer (issue #17 item 3).

- the charge separation and Stern capacitance measured from a profile (closed forms);
- a blocking metal behind a Stern layer: Gouy–Chapman–Stern, C_S (E − φ_d) = σ_GC(φ_d);
- Frumkin: the rate uses η = E − φ_rp − E_eq and c_rp = c_s exp(−z F φ_d/RT); closed form
  of a 1D diffusion layer;
- manufactured solution with Poisson, ε(x), a Butler–Volmer electrode with a Stern layer on
  one wall and a blocking Stern layer on the other: L2 rates h^(p+1) for P1 and P2.
"""

from __future__ import annotations

import dolfinx_solver  # noqa: F401
import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI
from scipy.optimize import brentq

from continuum import (
    ButlerVolmer,
    NernstPlanckProblem,
    Species,
    TransportProfile,
    analytic,
    charge_separation,
    debye_length,
    interval,
    stern_capacitance,
    stern_capacitance_from_profile,
    thermal_voltage,
)
from continuum.constants import EPSILON_0, FARADAY, GAS_CONSTANT

COMM = MPI.COMM_SELF
T = 298.15
VT = thermal_voltage(T)


# ------------------------------------------------------------------ measured Stern layer
def _layer_profile(d: float, eps=None):
    """Na+/Cl- with an excess Cl- Gaussian sheet at distance d from z = 0 (bulk 100 mM)."""
    z = np.linspace(0.0, 3e-9, 3001)
    sheet = 2000.0 * np.exp(-0.5 * ((z - d) / 0.3e-10) ** 2)
    return TransportProfile(
        z=z,
        species=["Na+", "Cl-"],
        charges=[1, -1],
        concentration=np.vstack([100.0 + 0 * z, 100.0 + sheet]),
        diffusion=np.full((2, z.size), 1e-9),
        permittivity=eps(z) if eps is not None else None,
        temperature=T,
    )


def test_charge_separation_of_a_sheet():
    d = 3.0e-10
    assert charge_separation(_layer_profile(d)) == pytest.approx(d, rel=1e-6)


def test_stern_capacitance_closed_forms():
    d = 3.0e-10
    assert stern_capacitance(d, 6.0) == pytest.approx(EPSILON_0 * 6.0 / d, rel=1e-12)
    prof = _layer_profile(d)
    assert stern_capacitance_from_profile(prof, permittivity=6.0) == pytest.approx(
        EPSILON_0 * 6.0 / d, rel=1e-6
    )
    # ε_r(z): 4 up to 1 Å, 10 beyond: two capacitors in series
    prof = _layer_profile(d, eps=lambda z: np.where(z < 1e-10, 4.0, 10.0))
    expected = 1.0 / (1e-10 / (EPSILON_0 * 4.0) + 2e-10 / (EPSILON_0 * 10.0))
    # the profile's ε is linearly interpolated across one 1 pm grid cell at the step
    assert stern_capacitance_from_profile(prof) == pytest.approx(expected, rel=1e-2)


def test_stern_bad_input():
    z = np.linspace(0, 1e-9, 11)
    neutral = TransportProfile(
        z=z,
        species=["Na+", "Cl-"],
        charges=[1, -1],
        concentration=np.full((2, 11), 100.0),
        diffusion=np.full((2, 11), 1e-9),
    )
    with pytest.raises(ValueError, match="no net ionic charge"):
        charge_separation(neutral)
    with pytest.raises(ValueError, match="separation must be a finite number > 0"):
        stern_capacitance(0.0, 6.0)
    with pytest.raises(ValueError, match="no permittivity data"):
        stern_capacitance_from_profile(_layer_profile(3e-10))


# ------------------------------------------------------------------ Gouy–Chapman–Stern
@pytest.mark.parametrize("E", [0.05, -0.15])
def test_gouy_chapman_stern(E):
    """Blocking metal at E behind C_S, 1:1 electrolyte at c0: the diffuse-layer potential φ_d
    solves C_S (E − φ_d) = sqrt(8 ε RT c0) sinh(φ_d / 2V_T) (Grahame), and the wall charge
    is C_S (E − φ_d)."""
    c0, cs = 100.0, 0.2
    lam = debye_length([c0, c0], [1, -1], temperature=T)
    sp = [Species("Na+", 1, 1.33e-9, c0), Species("Cl-", -1, 2.03e-9, c0)]
    dom = interval(COMM, 20 * lam, 200, refine="start", grading=2.0)
    p = NernstPlanckProblem(dom, sp, temperature=T, degree=2)
    p.set_stern_layer("left", cs, E)
    for s in sp:
        p.set_concentration(s.name, "right", c0)
    p.set_potential("right", 0.0)
    p.solve()
    phi_d = brentq(lambda f: cs * (E - f) - analytic.grahame_charge(f, c0, temperature=T), -1, 1)
    data = p.sample_1d()
    assert data["phi"][0] == pytest.approx(phi_d, abs=1e-5 * abs(E))
    assert p.surface_charge("left") == pytest.approx(cs * (E - phi_d), rel=1e-4)
    # the Stern layer matters: the diffuse layer carries much less than the metal's E
    assert abs(phi_d) < 0.8 * abs(E)


def test_stern_potential_update():
    """update_potential changes the metal potential of a Stern wall between solves: in a
    symmetric electrolyte E → −E flips the diffuse-layer potential."""
    c0, cs, E = 100.0, 0.2, 0.05
    lam = debye_length([c0, c0], [1, -1], temperature=T)
    sp = [Species("Na+", 1, 1.33e-9, c0), Species("Cl-", -1, 1.33e-9, c0)]
    p = NernstPlanckProblem(interval(COMM, 20 * lam, 100, refine="start"), sp)
    p.set_stern_layer("left", cs, E)
    for s in sp:
        p.set_concentration(s.name, "right", c0)
    p.set_potential("right", 0.0)
    p.solve()
    up = p.sample_1d()["phi"][0]
    p.update_potential("left", -E)
    p.solve()
    assert up > 0.01
    assert p.sample_1d()["phi"][0] == pytest.approx(-up, rel=1e-6)


# ------------------------------------------------------------------ Frumkin closed form
def _bv_1d(phi_d: float, E: float = 0.02):
    """Product M2+ produced at x=0, bulk c_b at x=Ld, no field: returns the problem."""
    kin = ButlerVolmer("M2+", 2, 1.0, 0.0, reference_concentration=10.0)
    dom = interval(COMM, 1e-6, 40)
    p = NernstPlanckProblem(dom, [Species("M2+", 2, 7e-10, 1.0)], potential=None, temperature=T)
    p.add_electrode("left", kin, E, reaction_plane_potential=phi_d)
    p.set_concentration("M2+", "right", 1.0)
    p.solve()
    return p, kin


def _closed_form(kin, E, phi_d, D=7e-10, cb=1.0, Ld=1e-6):
    eta = (E - phi_d - kin.equilibrium_potential) / VT
    n = kin.electrons
    a = kin.exchange_current_density / (n * FARADAY) * np.exp(kin.alpha_anodic * eta)
    b = (
        kin.exchange_current_density
        / (n * FARADAY)
        * np.exp(-2 * phi_d / VT)
        * np.exp(-kin.alpha_cathodic * eta)
        / kin.reference_concentration
    )
    cs = (a + D * cb / Ld) / (D / Ld + b)
    return n * FARADAY * D * (cs - cb) / Ld, cs


@pytest.mark.parametrize("phi_d", [0.0, 0.03, -0.02])
def test_frumkin_closed_form(phi_d):
    """i = nF D (c_s − c_b)/L with the Frumkin-corrected rate, to solver accuracy; the
    correction changes the current (so the test would fail if φ_d were ignored)."""
    E = 0.02
    p, kin = _bv_1d(phi_d, E)
    i_exact, cs = _closed_form(kin, E, phi_d)
    assert p.electrode_current("left") == pytest.approx(i_exact, rel=1e-6)
    assert p.sample_1d()["M2+"][0] == pytest.approx(cs, rel=1e-6)
    if phi_d != 0:
        assert abs(i_exact / _closed_form(kin, E, 0.0)[0] - 1) > 0.2


def test_frumkin_needs_unresolved_layer():
    dom = interval(COMM, 1e-8, 4)
    kin = ButlerVolmer("M2+", 2, 1.0, 0.0, stern_capacitance=0.2)
    sp = [Species("M2+", 2, 7e-10, 1.0), Species("Cl-", -1, 2e-9, 2.0)]
    p = NernstPlanckProblem(dom, sp, temperature=T)
    with pytest.raises(ValueError, match="reaction_plane_potential must be 0"):
        p.add_electrode("left", kin, 0.1, reaction_plane_potential=0.05)
    with pytest.raises(ValueError, match="Stern capacitance on 'right' must be > 0"):
        p.set_stern_layer("right", 0.0, 0.1)
    q = NernstPlanckProblem(dom, sp, temperature=T, potential=None)
    with pytest.raises(ValueError, match="a Stern layer enters Poisson"):
        q.set_stern_layer("right", 0.2, 0.1)


# ------------------------------------------------------------------ MMS with electrodes
L = 10e-9
C0 = 100.0
D = {"A+": 1.33e-9, "B-": 2.03e-9}
Z = {"A+": 1, "B-": -1}
CS = 0.2  # F/m^2


def exact(x, m):
    s = m.pi * x[0] / L
    c_a = C0 * (1.5 + 0.5 * m.sin(s))
    c_b = C0 * (1.0 + 0.3 * m.cos(s) + 0.2 * x[0] / L)
    phi = 0.04 * m.sin(1.3 * s) + 0.01
    return {"A+": c_a, "B-": c_b}, phi


def eps_r(x, m):
    return 20.0 + 58.0 * m.sin(0.5 * m.pi * x[0] / L + 0.3) ** 2


def _derivatives(xv: float):
    """c, dc/dx, φ, dφ/dx, ε_r at a point, by UFL-free numpy (analytic derivatives)."""
    s = np.pi * xv / L
    k = np.pi / L
    c = {"A+": C0 * (1.5 + 0.5 * np.sin(s)), "B-": C0 * (1.0 + 0.3 * np.cos(s) + 0.2 * xv / L)}
    dc = {"A+": C0 * 0.5 * k * np.cos(s), "B-": C0 * (-0.3 * k * np.sin(s) + 0.2 / L)}
    phi = 0.04 * np.sin(1.3 * s) + 0.01
    dphi = 0.04 * 1.3 * k * np.cos(1.3 * s)
    return c, dc, phi, dphi, float(eps_r(np.array([xv]), np))


PHI_D = 0.03  # V, unresolved diffuse-layer potential of the reaction plane ("prescribed")


def solve_mms(n: int, degree: int, mode: str) -> dict[str, float]:
    """``mode="resolved"``: Poisson with ε(x), BV electrode with a Stern layer on the left,
    blocking Stern layer on the right. ``mode="prescribed"``: φ prescribed (the exact one),
    BV electrode with a reaction-plane potential φ_d = PHI_D (Frumkin, unresolved layer)."""
    dom = interval(COMM, L, n)
    x = ufl.SpatialCoordinate(dom.mesh)
    c_ex, phi_ex = exact(x, ufl)
    f = FARADAY / (GAS_CONSTANT * T)
    species = [Species(k, Z[k], D[k], C0) for k in Z]
    if mode == "resolved":
        rho_fixed = -ufl.div(EPSILON_0 * eps_r(x, ufl) * ufl.grad(phi_ex)) - FARADAY * sum(
            Z[k] * c_ex[k] for k in Z
        )
        p = NernstPlanckProblem(
            dom,
            species,
            temperature=T,
            permittivity=lambda xx: eps_r(xx, np),
            degree=degree,
            fixed_charge=rho_fixed,
        )
    else:
        p = NernstPlanckProblem(
            dom, species, temperature=T, degree=degree, potential=lambda xx: exact(xx, np)[1]
        )
    for k in Z:
        flux = -D[k] * (ufl.grad(c_ex[k]) + Z[k] * c_ex[k] * f * ufl.grad(phi_ex))
        p.add_source(k, ufl.div(flux))
    # left wall (outward normal −x): Butler–Volmer electrode for A+
    c, dc, phi, dphi, eps = _derivatives(0.0)
    production = -D["A+"] * (dc["A+"] + c["A+"] * f * dphi)  # J_x(0) = flux into the domain
    eta = 0.02 * np.sign(production)
    if mode == "resolved":
        E_left = phi - EPSILON_0 * eps * dphi / CS  # −ε φ'(0) = C_S (E − φ(0))
        phi_d, stern = 0.0, CS
    else:
        E_left, phi_d, stern = 0.1, PHI_D, None
    kin = ButlerVolmer(
        "A+",
        1,
        FARADAY * production / (np.exp(0.5 * eta / VT) - np.exp(-0.5 * eta / VT)),
        E_left - phi - phi_d - eta,
        # c_rp / c_ref = 1 at the exact solution
        reference_concentration=c["A+"] * np.exp(-Z["A+"] * phi_d / VT),
        stern_capacitance=stern,
    )
    p.add_electrode("left", kin, E_left, reaction_plane_potential=phi_d)
    jb = -D["B-"] * (dc["B-"] - c["B-"] * f * dphi)
    p.set_flux("B-", "left", -jb)  # outward = −J_x
    # right wall (outward normal +x): Dirichlet concentrations; blocking Stern layer
    c, dc, phi, dphi, eps = _derivatives(L)
    if mode == "resolved":
        p.set_stern_layer("right", CS, phi + EPSILON_0 * eps * dphi / CS)
    for k in Z:
        p.set_concentration(k, "right", lambda xx, k=k: exact(xx, np)[0][k])
    p.solve()
    dx = ufl.Measure("dx", domain=dom.mesh, metadata={"quadrature_degree": 2 * degree + 4})
    err = {}
    for k in Z:
        e = fem.assemble_scalar(fem.form((p.concentration(k) - c_ex[k]) ** 2 * dx))
        err[k] = np.sqrt(e) / C0
    if mode == "resolved":
        e = fem.assemble_scalar(fem.form((p.potential() - phi_ex) ** 2 * dx))
        err["phi"] = np.sqrt(e) / 0.04
    return err


@pytest.mark.parametrize("mode", ["resolved", "prescribed"])
@pytest.mark.parametrize("degree", [1, 2])
def test_mms_frumkin_stern_rate(degree, mode):
    ns = [8, 16, 32, 64]
    errs = [solve_mms(n, degree, mode) for n in ns]
    h = 1.0 / np.asarray(ns, float)
    for k in errs[0]:
        r = np.diff(np.log([e[k] for e in errs])) / np.diff(np.log(h))
        print(f"Frumkin/Stern MMS {mode} P{degree} {k}: {r}")
        assert abs(r[-1] - (degree + 1)) < 0.1, (k, r)
    assert errs[-1]["A+"] < 1e-4
