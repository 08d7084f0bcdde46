"""The Nernst–Planck solver against closed-form electrochemistry (SI units throughout).

References: Gouy–Chapman/Grahame (Bard & Faulkner ch. 13), Goldman–Hodgkin–Katz
(Hille, Ion Channels of Excitable Membranes), Planck/Henderson liquid junction
(Bard & Faulkner 2.3), Butler–Volmer with mass transport (Bard & Faulkner 3.4).
"""

from __future__ import annotations

import itertools

import dolfinx_solver  # noqa: F401
import numpy as np
import pytest
from mpi4py import MPI

from continuum import (
    ButlerVolmer,
    NernstPlanckProblem,
    Species,
    TransportProfile,
    analytic,
    debye_length,
    interval,
    thermal_voltage,
)
from continuum.constants import FARADAY, GAS_CONSTANT

COMM = MPI.COMM_SELF
VT = thermal_voltage(298.15)


# ----------------------------------------------------------------- Gouy–Chapman
def gouy_chapman_errors(phi0: float, n: int, c0: float = 100.0) -> tuple[float, ...]:
    lam = debye_length([c0, c0], [1, -1])
    dom = interval(COMM, 20 * lam, n, refine="start", grading=2.0)
    p = NernstPlanckProblem(dom, [Species("Na+", 1, 1.33e-9, c0), Species("Cl-", -1, 2.03e-9, c0)])
    p.set_potential("left", phi0)
    p.set_potential("right", 0.0)
    for s in ("Na+", "Cl-"):
        p.set_concentration(s, "right", c0)
    p.solve()
    s = p.sample_1d()
    phi, cp, cm = analytic.gouy_chapman(s["x"], phi0, c0)
    sigma = analytic.grahame_charge(phi0, c0)
    return (
        np.max(np.abs(s["phi"] - phi)) / abs(phi0),
        np.max(np.abs(s["Na+"] - cp) / cp),
        np.max(np.abs(s["Cl-"] - cm) / cm),
        abs(p.surface_charge("left") / sigma - 1),
    )


@pytest.mark.parametrize("phi0_kt", [-1.0, 0.5, 2.0, 4.0])
def test_gouy_chapman(phi0_kt):
    coarse = gouy_chapman_errors(phi0_kt * VT, 200)
    fine = gouy_chapman_errors(phi0_kt * VT, 400)
    # potential, both concentrations (relative, pointwise) and the Grahame charge
    assert max(fine) < 1e-4, fine
    # converged resolution: second-order convergence of the nodal errors
    for a, b in zip(coarse[:3], fine[:3], strict=True):
        assert 3.0 < a / b < 5.0


# ----------------------------------------------------------------- GHK
def test_ghk_flux_in_constant_field():
    d, volt = 5e-9, 0.06
    ions = {"K+": (1, 1.96e-9, 150.0, 5.0), "Cl-": (-1, 2.03e-9, 10.0, 120.0)}
    dom = interval(COMM, d, 80)
    sp = [Species(k, z, D, 100.0) for k, (z, D, _, _) in ions.items()]
    p = NernstPlanckProblem(dom, sp, potential=lambda x: volt * (1 - x[0] / d))
    for k, (_, _, cl, cr) in ions.items():
        p.set_concentration(k, "left", cl)
        p.set_concentration(k, "right", cr)
    p.solve()
    for k, (z, D, cl, cr) in ions.items():
        ref = analytic.ghk_flux(D, z, cl, cr, volt, d)
        assert p.flux(k, "right") == pytest.approx(ref, rel=1e-4)
        assert -p.flux(k, "left") == pytest.approx(ref, rel=1e-4)  # steady: in = out
    # the current is the GHK current: zero at the GHK reversal potential is not this volt
    i_ref = FARADAY * sum(
        z * analytic.ghk_flux(D, z, cl, cr, volt, d) for z, D, cl, cr in ions.values()
    )
    assert p.current("right") == pytest.approx(i_ref, rel=1e-4)


# ----------------------------------------------------------------- liquid junction
def test_liquid_junction_potential_hcl():
    """HCl 0.1 M | 0.00345 M: zero-current PNP equals the Planck/Henderson potential."""
    d_h, d_cl = 9.31e-9, 2.03e-9
    cl, cr = 100.0, 3.45
    ref = analytic.henderson_potential([1, -1], [d_h, d_cl], [cl, cl], [cr, cr])
    # Planck, binary 1:1: (t+ - t-) V_T ln(cL/cR), about 55.5 mV
    assert ref == pytest.approx((d_h - d_cl) / (d_h + d_cl) * VT * np.log(cl / cr), rel=1e-12)
    assert 0.054 < ref < 0.057
    length = 8e-6  # >> Debye length (5 nm on the dilute side)
    dom = interval(COMM, length, 400)
    p = NernstPlanckProblem(dom, [Species("H+", 1, d_h, cl), Species("Cl-", -1, d_cl, cl)])
    for s in ("H+", "Cl-"):
        p.set_concentration(s, "left", cl)
        p.set_concentration(s, "right", cr)
        p.set_initial(s, lambda x: cl + (cr - cl) * x[0] / length)
    p.set_potential("left", 0.0)
    p.set_potential("right", 0.0)

    def current(v: float) -> float:
        p.update_potential("right", v)
        p.solve()
        return p.current("right")

    # secant iteration on the applied voltage for zero current (open circuit)
    v0, v1 = 0.0, 0.05
    i0, i1 = current(v0), current(v1)
    for _ in range(20):
        v0, v1, i0 = v1, v1 - i1 * (v1 - v0) / (i1 - i0), i1
        i1 = current(v1)
        if abs(v1 - v0) < 1e-10:
            break
    assert abs(i1) < 1e-6 * abs(current(0.0))
    assert v1 == pytest.approx(ref, rel=1e-3)


# ----------------------------------------------------------------- D(z) and F(z) from a profile
def step_profile(potential: bool) -> TransportProfile:
    z = np.linspace(0.0, 10e-9, 51)
    d = np.where(z < 4e-9, 2.0e-10, 1.5e-9)[None, :]  # a step over one grid interval
    c = np.full((1, z.size), 100.0)
    kw = {}
    if potential:
        rt = GAS_CONSTANT * 298.15
        kw["potential"] = 0.05 * np.sin(np.pi * z / 10e-9)  # V
        kw["free_energy"] = (2.0 * rt * np.exp(-(((z - 6e-9) / 1e-9) ** 2)))[None, :]  # J/mol
    return TransportProfile(z, ["M+"], [1], c, d, **kw)


def profile_mesh(prof: TransportProfile, refine: int):
    zz = prof.z
    pts = np.concatenate([np.linspace(a, b, refine + 1)[:-1] for a, b in itertools.pairwise(zz)])
    return interval(COMM, vertices=np.append(pts, zz[-1]))


def test_profile_diffusion_step_series_resistance():
    prof = step_profile(potential=False)
    dom = profile_mesh(prof, 16)
    p = NernstPlanckProblem.from_profile(dom, prof, potential=None)
    p.set_concentration("M+", "left", 200.0)
    p.set_concentration("M+", "right", 10.0)
    p.solve()
    ref = analytic.series_resistance_flux(prof.z, prof.diffusion[0], 200.0, 10.0)
    # independent check of the formula: resistances of the two layers add
    r = 3.8e-9 / 2.0e-10 + 6.0e-9 / 1.5e-9 + 0.2e-9 * np.log(7.5) / 1.3e-9
    assert ref == pytest.approx(190.0 / r, rel=1e-12)
    assert p.flux("M+", "right") == pytest.approx(ref, rel=1e-4)


@pytest.mark.parametrize("mode", [None, "profile"])
def test_profile_pmf_flux(mode):
    """Total PMF alone (no field) or MD potential + excess PMF: both drive the same flux,
    J = (c_L e^ψ(a) − c_R e^ψ(b)) / ∫ e^ψ/D dz with ψ = F(z)/RT."""
    prof = step_profile(potential=True)
    dom = profile_mesh(prof, 8)
    p = NernstPlanckProblem.from_profile(dom, prof, potential=mode)
    p.set_concentration("M+", "left", 200.0)
    p.set_concentration("M+", "right", 10.0)
    p.solve()
    rt = GAS_CONSTANT * 298.15

    def diffusion(z):
        return np.interp(z, prof.z, prof.diffusion[0])

    def psi(z):
        return np.interp(z, prof.z, prof.free_energy[0]) / rt

    ref = analytic.slotboom_flux(diffusion, psi, 0.0, 10e-9, 200.0, 10.0, breakpoints=prof.z)
    assert p.flux("M+", "right") == pytest.approx(ref, rel=2e-4)


# ----------------------------------------------------------------- permittivity
def test_position_dependent_permittivity_series_capacitor():
    """Nearly ion-free dielectric bilayer: D·n continuous, so φ at the interface follows
    the series-capacitor divider V (d2/ε2) / (d1/ε1 + d2/ε2)."""
    d1, d2, e1, e2, volt = 3e-9, 7e-9, 2.0, 80.0, 0.1
    dom = interval(COMM, vertices=np.linspace(0.0, d1 + d2, 101))
    sp = [Species("A+", 1, 1e-9, 1e-9), Species("B-", -1, 1e-9, 1e-9)]
    p = NernstPlanckProblem(dom, sp, permittivity=lambda x: np.where(x[0] < d1, e1, e2))
    p.set_potential("left", volt)
    p.set_potential("right", 0.0)
    p.solve()
    s = p.sample_1d()
    k = np.argmin(np.abs(s["x"] - d1))
    ref = volt * (d2 / e2) / (d1 / e1 + d2 / e2)
    assert s["phi"][k] == pytest.approx(ref, rel=1e-6)


# ----------------------------------------------------------------- Butler–Volmer
@pytest.mark.parametrize("electrode_potential", [-0.7, -0.5, -0.44, -0.35, -0.3])
def test_butler_volmer_with_diffusion_closed_form(electrode_potential):
    """Fe → Fe²⁺ + 2e⁻ through a stagnant layer δ: c_s = c_b + i δ/(nFD) in BV gives
    i = i0 (e^{α_a η/V_T} − c_b/c_ref e^{−α_c η/V_T}) / (1 + i0 e^{−α_c η/V_T} δ/(nFD c_ref)),
    the Butler–Volmer current limited by diffusion (cathodic limit −nFD c_b/δ)."""
    delta, D, cb, cref, i0, phis, eeq = 1e-5, 7.2e-10, 1.0, 1000.0, 1e-2, 0.01, -0.44
    kin = ButlerVolmer("Fe2+", 2, i0, eeq, 1.2, 0.8, cref)  # α_a + α_c = n
    p = NernstPlanckProblem(interval(COMM, delta, 10), [Species("Fe2+", 2, D, cb)], potential=phis)
    p.add_electrode("left", kin, electrode_potential)
    p.set_concentration("Fe2+", "right", cb)
    p.solve()
    eta = (electrode_potential - phis - eeq) / VT
    ea, ec = np.exp(1.2 * eta), np.exp(-0.8 * eta)
    ref = i0 * (ea - cb / cref * ec) / (1 + i0 * ec * delta / (2 * FARADAY * D * cref))
    # P1 is exact for the linear c(x): what is left is the Newton stopping tolerance
    # (snes_atol = 1e-10 dimensionless or an update <= 1e-7 in ln c), not round-off
    assert p.electrode_current("left") == pytest.approx(ref, rel=1e-6, abs=0)
    assert p.current("right") == pytest.approx(ref, rel=1e-6, abs=0)  # charge leaves at bulk
    assert ref > -2 * FARADAY * D * cb / delta  # never beyond the limiting current


# ----------------------------------------------------------------- transient
def test_transient_cottrell():
    """Concentration step at a wall of a (practically) semi-infinite medium: the amount that
    entered follows N = 2 Δc sqrt(D t/π); adaptive implicit Euler with a tight tolerance."""
    D, c_init, c_wall, t_end = 1e-9, 1.0, 11.0, 0.25
    length = 20 * np.sqrt(D * t_end)
    p = NernstPlanckProblem(
        interval(COMM, length, 200, refine="start", grading=2.0),
        [Species("O", 0, D, c_init)],
        potential=None,
    )
    p.set_concentration("O", "left", c_wall)
    p.set_initial("O", lambda x: c_init + (c_wall - c_init) * (x[0] < 1e-12))
    n0 = p.amount("O")
    res = p.run(t_end, dt=1e-6, tol=2e-3, progress=False)
    assert res.converged and res.times[-1] == pytest.approx(t_end)
    assert np.max(res.steps) > 100 * np.min(res.steps)  # the step really adapted
    entered = p.amount("O") - n0
    assert entered == pytest.approx(analytic.cottrell_charge(D, c_wall - c_init, t_end), rel=1e-2)


# ----------------------------------------------------------------- natural conditions
def test_prescribed_flux_fick():
    """Inflow J through the left wall, c fixed on the right: c(0) = c_R + J L / D."""
    length, D, cr, j_in = 1e-6, 1e-9, 1.0, 2e-3  # m, m^2/s, mol/m^3, mol m^-2 s^-1
    p = NernstPlanckProblem(interval(COMM, length, 10), [Species("O", 0, D, cr)], potential=None)
    p.set_flux("O", "left", -j_in)  # outward flux is negative: inflow
    p.set_concentration("O", "right", cr)
    p.solve()
    s = p.sample_1d()
    assert s["O"][0] == pytest.approx(cr + j_in * length / D, rel=1e-6)
    # the residual flux holds to the Newton stopping tolerance; the prescribed one is a
    # form evaluated exactly (round-off)
    assert p.flux("O", "right") == pytest.approx(j_in, rel=1e-6, abs=0)
    assert p.flux("O", "left") == pytest.approx(-j_in, rel=1e-12, abs=0)


@pytest.mark.parametrize("phi0_kt", [1.0, 3.0])
def test_surface_charge_condition_grahame(phi0_kt):
    """A wall with the Grahame charge σ(φ0) takes the surface potential φ0."""
    c0 = 100.0
    phi0 = phi0_kt * VT
    lam = debye_length([c0, c0], [1, -1])
    dom = interval(COMM, 20 * lam, 400, refine="start", grading=2.0)
    p = NernstPlanckProblem(dom, [Species("Na+", 1, 1.33e-9, c0), Species("Cl-", -1, 2.03e-9, c0)])
    p.set_surface_charge("left", analytic.grahame_charge(phi0, c0))
    p.set_potential("right", 0.0)
    for s in ("Na+", "Cl-"):
        p.set_concentration(s, "right", c0)
    p.solve()
    assert p.sample_1d()["phi"][0] == pytest.approx(phi0, rel=1e-4)


def test_transient_double_layer_charging_closed_cell():
    """A closed cell (blocking walls) charged by a potential step: every species' amount is
    conserved at each step, and the final state is Boltzmann equilibrium, c₊c₋ = const and
    c± ∝ exp(∓φ/V_T)."""
    c0 = 100.0
    lam = debye_length([c0, c0], [1, -1])
    dom = interval(COMM, 20 * lam, 200, refine="both", grading=2.0)
    p = NernstPlanckProblem(dom, [Species("Na+", 1, 1.33e-9, c0), Species("Cl-", -1, 2.03e-9, c0)])
    p.set_potential("left", 2 * VT)
    p.set_potential("right", -2 * VT)
    n0 = {s: p.amount(s) for s in ("Na+", "Cl-")}
    t_end = 200 * (20 * lam) ** 2 / 1.33e-9  # many diffusion times of the cell
    res = p.run(t_end, dt=1e-4 * lam**2 / 2.03e-9, tol=1e-2, progress=False)
    assert res.converged and len(res.steps) > 10
    for s in ("Na+", "Cl-"):
        # each implicit Euler step conserves mass up to the residual its Newton solve
        # leaves (snes_atol = 1e-10 dimensionless); ~70 steps: measured 3e-10. The old
        # rel=1e-10 passed only through pytest.approx's default abs=1e-12 (5e-8 here)
        assert p.amount(s) == pytest.approx(n0[s], rel=1e-7, abs=0)
    d = p.sample_1d()
    product = d["Na+"] * d["Cl-"]
    assert np.ptp(product) < 1e-4 * product.mean()
    ratio = np.log(d["Na+"] / d["Cl-"]) + 2 * d["phi"] / VT  # = const at equilibrium
    assert np.ptp(ratio) < 1e-4
    assert d["Cl-"][0] > 5 * d["Na+"][0]  # anions accumulated at the positive wall
