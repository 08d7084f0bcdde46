"""2D corrosion pit (PNP + Butler–Volmer + Stern layer), 3D meshes and distances to walls."""

from __future__ import annotations

import dolfinx_solver  # noqa: F401
import numpy as np
import pytest
from mpi4py import MPI

from continuum import (
    ButlerVolmer,
    NernstPlanckProblem,
    Species,
    box,
    corrosion_pit,
    distance_to_boundary,
    thermal_voltage,
)
from continuum.constants import FARADAY

COMM = MPI.COMM_SELF
# α_a + α_c = n = 2 (a Nernstian zero-current potential)
KIN = ButlerVolmer("Fe2+", 2, 1e-2, -0.44, 1.2, 0.8, 1000.0, stern_capacitance=0.2)
BULK = {"Fe2+": 0.1, "Cl-": 1.2, "Na+": 1.0}  # mol/m^3, electroneutral


def pit_domain(n: int = 8):
    return corrosion_pit(
        COMM, pit_width=200e-9, pit_depth=200e-9, width=500e-9, height=500e-9,
        cells_across_pit=n, grading=2.0,
    )  # fmt: skip


def test_corrosion_pit_pnp_conserves_charge():
    """Steady PNP in a pit, Debye length 8 nm resolved near the metal: the anodic
    Butler–Volmer current equals the ionic current leaving through the bulk boundary and
    F Σ z J of the product out of the bulk; blocking walls carry no current; the metal charge
    balances the diffuse-layer charge (Gauss)."""
    dom = pit_domain()
    sp = [
        Species("Fe2+", 2, 7.2e-10, BULK["Fe2+"]),
        Species("Cl-", -1, 2.03e-9, BULK["Cl-"]),
        Species("Na+", 1, 1.33e-9, BULK["Na+"]),
    ]
    p = NernstPlanckProblem(dom, sp)
    p.add_electrode("metal", KIN, -0.3)
    for s, c in BULK.items():
        p.set_concentration(s, "bulk", c)
    p.set_potential("bulk", 0.0)
    res = p.solve()
    assert res.converged and res.reason.startswith("CONVERGED")
    i_e = p.electrode_current("metal")
    assert i_e > 0  # anodic dissolution at E > E_eq
    # balances hold to the residual the Newton stopping test leaves (snes_atol = 1e-10
    # dimensionless, or an update <= 1e-7 in ln c), not to round-off: 1e-6. abs=0: the
    # values (A/m, mol/m/s) are far below pytest.approx's default abs of 1e-12
    assert p.current("bulk") == pytest.approx(i_e, rel=1e-6, abs=0)
    assert 2 * FARADAY * p.flux("Fe2+", "bulk") == pytest.approx(i_e, rel=1e-6, abs=0)
    for wall in ("surface", "axis", "side"):
        assert abs(p.current(wall)) < 1e-10 * i_e
    # Gauss: wall charges (metal, bulk) + ionic charge in the solution = 0
    ionic = FARADAY * sum(z * p.amount(s) for s, z in (("Fe2+", 2), ("Cl-", -1), ("Na+", 1)))
    walls = p.surface_charge("metal") + p.surface_charge("bulk")
    assert abs(walls + ionic) < 1e-6 * abs(p.surface_charge("metal"))
    # the solution potential at the metal lies between the metal's (−0.3 V) and the bulk's
    # (0 V), so η = E − φ_s − E_eq lies in (0.14 V, 0.44 V): the mean Tafel current too
    vt = thermal_voltage(298.15)
    i_mean = i_e / dom.measure("metal")
    assert 1e-2 * np.exp(1.2 * 0.14 / vt) < i_mean < 1e-2 * np.exp(1.2 * 0.44 / vt)


def test_corrosion_pit_diffusion_only_balance():
    """Without a field (supporting-electrolyte limit) the pit still balances mass exactly."""
    kin = ButlerVolmer("Fe2+", 2, 1e-2, -0.44, 1.2, 0.8, 1000.0)
    p = NernstPlanckProblem(pit_domain(), [Species("Fe2+", 2, 7.2e-10, 1.0)], potential=None)
    p.add_electrode("metal", kin, -0.3)
    p.set_concentration("Fe2+", "bulk", 1.0)
    p.solve()
    i_e = p.electrode_current("metal")
    # to the Newton stopping tolerance (see above), not round-off
    assert 2 * FARADAY * p.flux("Fe2+", "bulk") == pytest.approx(i_e, rel=1e-6, abs=0)
    assert -p.current("metal") == pytest.approx(i_e, rel=1e-6, abs=0)


def test_pit_distance_to_metal():
    dom = pit_domain(4)
    dist = distance_to_boundary(dom, "metal")
    # points in the solution: above the pit mouth, beside the pit wall, on the axis
    pts = np.array([[0.0, 0.3e-6, 0], [0.2e-6, 0.05e-6, 0], [0.0, -0.1e-6, 0]]).T
    wall_corner = np.array([0.1e-6, 0.0])
    ref = [
        np.hypot(*(pts[:2, 0] - wall_corner)),  # nearest metal: the pit's top corner
        np.hypot(*(pts[:2, 1] - wall_corner)),
        0.1e-6,  # to the pit wall (x = 0.1 µm) and the bottom (y = −0.2 µm)
    ]
    assert dist(pts) == pytest.approx(ref, rel=1e-12, abs=0)  # geometry: round-off only


def test_3d_box_fick_flux():
    """3D: steady diffusion between two faces gives Fick's flux D Δc A / L."""
    size = (1e-6, 1e-6, 2e-6)
    dom = box(COMM, size, (2, 2, 6))
    D = 1e-9
    p = NernstPlanckProblem(dom, [Species("O2", 0, D, 0.25)], potential=None, degree=2)
    p.set_concentration("O2", "bottom", 0.25)
    p.set_concentration("O2", "top", 0.05)
    p.solve()
    ref = D * 0.2 / size[2] * size[0] * size[1]  # mol/s
    # abs=0: the flux is 1e-16 mol/s, below pytest.approx's default abs of 1e-12
    assert p.flux("O2", "top") == pytest.approx(ref, rel=1e-6, abs=0)
    assert -p.flux("O2", "bottom") == pytest.approx(ref, rel=1e-6, abs=0)


def test_2d_profile_via_distance_matches_series_resistance():
    """A D(z) profile mapped onto a 2D mesh by the distance to the bottom wall gives, per
    metre of width, the 1D series-resistance flux Δc / ∫dz/D."""
    from continuum import TransportProfile, analytic, rectangle

    z = np.linspace(0.0, 10e-9, 11)
    d = np.where(z < 4e-9, 2e-10, 1.5e-9)[None, :]
    prof = TransportProfile(z, ["M+"], [1], np.full((1, z.size), 100.0), d)
    width = 3e-9
    dom = rectangle(COMM, [width, 10e-9], [2, 320])
    p = NernstPlanckProblem.from_profile(
        dom, prof, potential=None, distance=distance_to_boundary(dom, "bottom")
    )
    p.set_concentration("M+", "bottom", 200.0)
    p.set_concentration("M+", "top", 10.0)
    p.solve()
    ref = analytic.series_resistance_flux(z, d[0], 200.0, 10.0)
    assert p.flux("M+", "top") / width == pytest.approx(ref, rel=1e-4)
