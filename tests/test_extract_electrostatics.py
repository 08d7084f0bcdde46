"""Charge density, Poisson integration and field: planes of charge and capacitors."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from scipy.special import erf

from multiscale.extract import ChargeDensityProfile, atomic_charges, solve_poisson_1d
from multiscale.extract.electrostatics import (
    E_PER_A2_TO_C_PER_M2,
    EPS0,
    InterfacePotential,
    solve_poisson_electrodes,
)

AREA_SIDE, LZ = 10.0, 30.0


def test_eps0_in_atomistic_units():
    # e/(V·Å): 1/(4π ε0) = 14.399645 eV·Å/e² (Coulomb constant)
    assert 1 / (4 * np.pi * EPS0) == pytest.approx(14.399645, rel=1e-6)


def plates(n_plus: int, z_plus: float, z_minus: float, n_frames: int = 3) -> list[Atoms]:
    """n_plus Na (+1) in a plane at z_plus and n_plus Cl (−1) at z_minus, in a 10×10 Å cell."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(n_frames):
        xy = rng.random((2 * n_plus, 2)) * AREA_SIDE
        z = np.r_[np.full(n_plus, z_plus), np.full(n_plus, z_minus)]
        frames.append(
            Atoms(
                ["Na"] * n_plus + ["Cl"] * n_plus,
                positions=np.c_[xy, z],
                cell=[AREA_SIDE, AREA_SIDE, LZ],
                pbc=True,
            )
        )
    return frames


@pytest.mark.parametrize("boundary", ["open", "dipole"])
def test_capacitor_gives_exact_field_and_potential_step(boundary):
    n, z1, z2 = 5, 10.05, 17.05  # planes at bin centres of 0.1 Å bins
    sigma = n / AREA_SIDE**2  # e/Å²
    an = ChargeDensityProfile(
        plates(n, z1, z2, n_frames=40), {"Na": 1, "Cl": -1}, boundary=boundary, bin_width=0.1
    ).run()
    r = an.results
    z, e, phi = r.z, r.field, r.potential
    inside = (z > z1 + 0.1) & (z < z2 - 0.1)
    outside = (z < z1 - 0.1) | (z > z2 + 0.1)
    np.testing.assert_allclose(e[inside], sigma / EPS0, rtol=1e-10)
    np.testing.assert_allclose(e[outside], 0.0, atol=1e-10)
    step = phi[-1] - phi[0]
    assert step == pytest.approx(-sigma * (z2 - z1) / EPS0, rel=1e-10)
    # sanity in everyday units: 0.05 e/Å² over 7 Å is ~63 V
    assert step == pytest.approx(-0.05 * 7.0 * 4 * np.pi * 14.399645, rel=1e-6)
    # identical planes in every frame: zero standard error (40 frames allow blocking)
    np.testing.assert_allclose(r.potential_err, 0.0, atol=1e-9)
    np.testing.assert_allclose(r.field_err, 0.0, atol=1e-9)


def test_periodic_capacitor_has_tin_foil_field():
    """Without dipole correction the periodic images set E_in = σ/ε0 (1 − d/L)."""
    n, z1, z2 = 5, 10.05, 17.05
    sigma, d = n / AREA_SIDE**2, z2 - z1
    r = (
        ChargeDensityProfile(
            plates(n, z1, z2), {"Na": 1, "Cl": -1}, boundary="periodic", bin_width=0.1
        )
        .run()
        .results
    )
    inside = (r.z > z1 + 0.1) & (r.z < z2 - 0.1)
    outside = (r.z < z1 - 0.1) | (r.z > z2 + 0.1)
    np.testing.assert_allclose(r.field[inside], sigma / EPS0 * (1 - d / LZ), rtol=1e-10)
    np.testing.assert_allclose(r.field[outside], -sigma * d / (EPS0 * LZ), rtol=1e-10)
    # φ is periodic
    sol = solve_poisson_1d(r.edges, r.charge_density, "periodic")
    assert sol["potential_edges"][-1] == pytest.approx(0.0, abs=1e-9)


def test_dipole_layer_position_sets_field_free_region():
    n, z1, z2 = 5, 10.05, 17.05
    sigma = n / AREA_SIDE**2
    r = (
        ChargeDensityProfile(
            plates(n, z1, z2), {"Na": 1, "Cl": -1}, boundary="dipole", z_dipole=25.0, bin_width=0.1
        )
        .run()
        .results
    )
    np.testing.assert_allclose(r.field[(r.z > 18) & (r.z < 29)], 0.0, atol=1e-10)
    np.testing.assert_allclose(r.field[(r.z > 11) & (r.z < 16)], sigma / EPS0, rtol=1e-10)


def test_poisson_matches_analytic_gaussian_double_layer():
    """ρ = ρ0 [g(z−a) − g(z−b)] with Gaussians: E is a difference of error functions."""
    s, a, b, rho0 = 0.7, 8.0, 12.0, 0.01
    edges = np.linspace(0, 20, 401)

    def cum(z, c):  # ∫_{-∞}^{z} exp(−(z'−c)²/2s²) dz'
        return s * np.sqrt(np.pi / 2) * (1 + erf((z - c) / (np.sqrt(2) * s)))

    # exact bin averages of ρ, so the piecewise-constant integration is exact at the edges
    q = rho0 * (np.diff(cum(edges, a)) - np.diff(cum(edges, b)))
    rho = q / np.diff(edges)
    sol = solve_poisson_1d(edges, rho, "open")
    e_exact = rho0 / EPS0 * ((cum(edges, a) - cum(0, a)) - (cum(edges, b) - cum(0, b)))
    np.testing.assert_allclose(sol["field_edges"], e_exact, atol=1e-12 * np.abs(e_exact).max())
    # potential step across a neutral layer: Δφ = −∫∫ρ/ε0 = +p/ε0 with p = ∫ z ρ dz
    dipole = np.sum(rho * np.diff(edges) * 0.5 * (edges[1:] + edges[:-1]))
    assert sol["potential_edges"][-1] == pytest.approx(dipole / EPS0, rel=1e-9)
    assert dipole == pytest.approx(-rho0 * np.sqrt(2 * np.pi) * s * (b - a), rel=1e-6)


def test_water_model_is_neutral_and_charges_are_checked():
    water = Atoms("OH2", positions=[[0, 0, 5], [0.8, 0.6, 5], [-0.8, 0.6, 5]], cell=[5, 5, 10])
    q = atomic_charges(water, {}, water_model="SPC/E")
    assert q.sum() == pytest.approx(0.0, abs=1e-12)
    assert q[0] == pytest.approx(-0.8476)
    with pytest.raises(ValueError, match=r"no charge given for elements \['H', 'O'\]"):
        atomic_charges(water, {"Na": 1})
    with pytest.raises(ValueError, match="unknown water model"):
        atomic_charges(water, {}, water_model="TIP99")
    with pytest.raises(ValueError, match="shape"):
        atomic_charges(water, [1.0, 2.0])
    with pytest.raises(ValueError, match="attached calculator"):
        atomic_charges(water, "calculator")
    water.calc = SinglePointCalculator(water, charges=[-0.6, 0.3, 0.3])
    np.testing.assert_allclose(atomic_charges(water, "calculator"), [-0.6, 0.3, 0.3])


def test_calculator_charges_and_net_charge_error():
    frames = plates(2, 10.05, 17.05, n_frames=2)
    for f in frames:
        f.calc = SinglePointCalculator(f, charges=[1.0, 1.0, -1.0, -1.0])
    r = ChargeDensityProfile(frames, "calculator", boundary="open", bin_width=0.1).run().results
    assert np.sum(r.charge_density) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="not zero: periodic"):
        ChargeDensityProfile(frames, {"Na": 1, "Cl": 0}, boundary="periodic").run()
    with pytest.raises(ValueError, match="span the whole cell"):
        ChargeDensityProfile(frames, {"Na": 1, "Cl": -1}, z_range=(5, 20))
    with pytest.raises(ValueError, match="boundary must be"):
        ChargeDensityProfile(frames, {"Na": 1, "Cl": -1}, boundary="vacuum")


# --- the metal as a conductor: charges between grounded plates (held-out-style cases) ---

L_GAP = 12.0
EDGES = np.linspace(0.0, L_GAP, 1201)  # 0.01 Å bins
H_BIN = EDGES[1] - EDGES[0]


def sheet(q: float, z0: float) -> np.ndarray:
    """A thin bin holding q (e/Å²) at the edge z0 (a point-like sheet)."""
    rho = np.zeros(EDGES.size - 1)
    rho[round(z0 / H_BIN)] = q / H_BIN
    return rho


def grounded_sheet_phi(q: float, z0: float, z: np.ndarray) -> np.ndarray:
    """Analytic φ of a sheet q at z0 between grounded plates at 0 and L."""
    return np.where(z < z0, q * z * (L_GAP - z0), q * z0 * (L_GAP - z)) / (EPS0 * L_GAP)


def test_sheet_between_grounded_plates_induces_textbook_charges():
    q, z0 = 0.03, 4.0
    sol = solve_poisson_electrodes(EDGES, sheet(q, z0), 0.0, L_GAP)
    s0 = z0 + H_BIN / 2  # the thin bin's charge sits at its centre
    assert sol["sigma_left"] == pytest.approx(-q * (L_GAP - s0) / L_GAP, rel=1e-10)
    assert sol["sigma_right"] == pytest.approx(-q * s0 / L_GAP, rel=1e-10)
    outside = (EDGES < z0 - 1e-9) | (EDGES > z0 + H_BIN + 1e-9)
    exact = grounded_sheet_phi(q, s0, EDGES)
    np.testing.assert_allclose(sol["potential_edges"][outside], exact[outside], atol=1e-9)
    assert sol["potential_difference"] == pytest.approx(0.0, abs=1e-10)


def test_uniform_slab_between_grounded_plates():
    rho0, a, b = 0.002, 3.0, 7.0
    z = 0.5 * (EDGES[1:] + EDGES[:-1])
    rho = np.where((z > a) & (z < b), rho0, 0.0)
    sol = solve_poisson_electrodes(EDGES, rho, 0.0, L_GAP)
    q = rho0 * (b - a)
    zc = 0.5 * (a + b)  # induced charges depend only on the first moment
    assert sol["sigma_left"] == pytest.approx(-q * (L_GAP - zc) / L_GAP, rel=1e-10)
    assert sol["sigma_right"] == pytest.approx(-q * zc / L_GAP, rel=1e-10)
    # analytic φ: φ'' = −ρ/ε0, φ(0) = φ(L) = 0, E(0+) = σ_L/ε0
    e0 = sol["sigma_left"] / EPS0
    ze = EDGES
    inner = (
        rho0
        / (2 * EPS0)
        * (np.clip(ze - a, 0, b - a) ** 2 + 2 * (b - a) * np.clip(ze - b, 0, None))
    )
    exact = -e0 * ze - inner
    np.testing.assert_allclose(sol["potential_edges"], exact, atol=1e-9)
    assert exact[-1] == pytest.approx(0.0, abs=1e-9)


def test_dipole_layer_between_plates_and_at_one_plate():
    q, z1, z2 = 0.02, 5.0, 6.0
    rho = sheet(q, z1) + sheet(-q, z2)
    sol = solve_poisson_electrodes(EDGES, rho, 0.0, L_GAP)
    s1, s2 = z1 + H_BIN / 2, z2 + H_BIN / 2
    assert sol["sigma_left"] == pytest.approx(-q * (L_GAP - s1) / L_GAP + q * (L_GAP - s2) / L_GAP)
    exact = grounded_sheet_phi(q, s1, EDGES) + grounded_sheet_phi(-q, s2, EDGES)
    far = np.abs(EDGES - z1) > 2 * H_BIN
    far &= np.abs(EDGES - z2) > 2 * H_BIN
    np.testing.assert_allclose(sol["potential_edges"][far], exact[far], atol=1e-9)
    # one conductor: a neutral layer induces nothing and φ steps by p/ε0 = −q d/ε0
    one = solve_poisson_electrodes(EDGES, rho, 0.0)
    assert one["sigma_left"] == pytest.approx(0.0, abs=1e-14)
    assert one["potential_difference"] == pytest.approx(-q * (z2 - z1) / EPS0, rel=1e-9)
    assert one["field_beyond"] == pytest.approx(0.0, abs=1e-12)


def test_fixed_electrode_charge_and_errors():
    rho = sheet(0.01, 5.0)
    one = solve_poisson_electrodes(EDGES, rho, 1.0, sigma_left=-0.004)
    assert one["field_beyond"] == pytest.approx(0.006 / EPS0, rel=1e-10)
    two = solve_poisson_electrodes(EDGES, rho, 1.0, 11.0, sigma_left=-0.004)
    assert two["sigma_right"] == pytest.approx(-0.006, rel=1e-10)
    with pytest.raises(ValueError, match="lies inside a conductor"):
        solve_poisson_electrodes(EDGES, rho, 6.0)
    with pytest.raises(ValueError, match="z_right must be a number > z_left"):
        solve_poisson_electrodes(EDGES, rho, 6.0, 2.0)


# --- InterfacePotential on frames: a Cu slab, rigid waters of known orientation, ions ---

R_OH, THETA = 0.9572, np.deg2rad(104.52)
CELL = (8.0, 8.0, 40.0)


def cu_slab() -> Atoms:
    xy = [(x, y) for x in (0.0, 4.0) for y in (0.0, 4.0)]
    pos = [(x + dx, y + dx, z) for z, dx in ((2.0, 0.0), (4.0, 1.0)) for x, y in xy]
    return Atoms("Cu8", positions=pos, cell=CELL, pbc=True)


def water_layer(n_frames: int, z0: float, up: bool, seed: int = 1) -> list[Atoms]:
    """4 rigid waters per frame at heights z0 + [0, 1) Å, bisector along ±z, random xy."""
    rng = np.random.default_rng(seed)
    sign = 1.0 if up else -1.0
    c, s = R_OH * np.cos(THETA / 2), R_OH * np.sin(THETA / 2)
    frames = []
    for _ in range(n_frames):
        atoms = cu_slab()
        for i in range(4):
            o = np.r_[2.0 + 4.0 * (i // 2), 2.0 + 4.0 * (i % 2), z0] + rng.random(3) * [0.5, 0.5, 1]
            phi = rng.random() * 2 * np.pi
            p = np.r_[np.cos(phi), np.sin(phi), 0.0]
            h1 = o + sign * c * np.r_[0, 0, 1.0] + s * p
            h2 = o + sign * c * np.r_[0, 0, 1.0] - s * p
            atoms += Atoms("OH2", positions=[o, h1, h2])
        atoms.wrap()
        frames.append(atoms)
    return frames


@pytest.mark.parametrize("model", ["SPC/E", "TIP4P/2005"])
def test_oriented_water_layer_gives_analytic_dipole_step(model):
    frames = water_layer(40, 8.0, up=True)
    an = InterfacePotential(
        frames, {}, "Cu", water_model=model, image_plane=1.0, bulk=(14.0, 20.0), bin_width=0.02
    ).run()
    r = an.results
    qh = {"SPC/E": 0.4238, "TIP4P/2005": 0.5564}[model]
    mu_z = 2 * qh * R_OH * np.cos(THETA / 2)
    if model == "TIP4P/2005":
        mu_z -= 1.1128 * 0.1546
    step = 4 * mu_z / (CELL[0] * CELL[1] * EPS0)  # N μ_z / (A ε0), H up: φ rises
    assert r.potential_drop_water == pytest.approx(step, rel=0.01)
    assert r.potential_drop == pytest.approx(r.potential_drop_water, abs=1e-12)  # no ions
    assert r.sigma_metal == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(r.field[r.z < 1.0], 0.0, atol=1e-12)  # no field in the metal
    np.testing.assert_allclose(r.field[r.z > 12.0], 0.0, atol=1e-9)  # nor in the vapour
    assert r.potential_drop_err < 0.02 * abs(step)  # same orientation in every frame
    flipped = InterfacePotential(
        water_layer(40, 8.0, up=False),
        {},
        "Cu",
        water_model=model,
        bulk=(14.0, 20.0),
        bin_width=0.02,
    ).run()
    assert flipped.results.potential_drop_water == pytest.approx(-step, rel=0.01)


def test_ion_layer_above_metal_induces_its_countercharge():
    frames = []
    for k in range(40):
        atoms = cu_slab() + Atoms("Na2", positions=[(1.0 + 0.1 * k, 1.0, 10.0), (5.0, 5.0, 10.0)])
        frames.append(atoms)
    an = InterfacePotential(frames, {"Na": 1}, "Cu", image_plane=1.0, bulk=(8.0, 12.0))
    r = an.run().results
    area = CELL[0] * CELL[1]
    assert r.sigma_metal == pytest.approx(-2 / area * E_PER_A2_TO_C_PER_M2, rel=1e-12)
    # φ rises across the capacitor metal(−)|Na(+): σ d/ε0, d = 6 − 1 Å (+ half a bin)
    assert r.potential_drop == pytest.approx(2 / area * 5.05 / EPS0, rel=1e-9)
    assert r.potential_drop == pytest.approx(2 / area * 5.0 / EPS0, rel=0.02)
    assert r.field_beyond == pytest.approx(0.0, abs=1e-12)
    # a fixed electrode charge leaves the surplus field in the vapour
    fixed = InterfacePotential(frames, {"Na": 1}, "Cu", electrode_charge=-0.1, bulk=(8.0, 12.0))
    rf = fixed.run().results
    sigma = -0.1 / E_PER_A2_TO_C_PER_M2 + 2 / area
    assert rf.field_beyond == pytest.approx(sigma / EPS0, rel=1e-9)


def test_ion_between_the_two_faces_of_a_periodic_slab():
    """closure="metal": the two faces of one slab are grounded plates (sheet result)."""
    frames = []
    for _ in range(4):
        atoms = cu_slab() + Atoms("Na4", positions=[(x, y, 12.0) for x in (1, 5) for y in (1, 5)])
        frames.append(atoms)
    r = InterfacePotential(frames, {"Na": 1}, "Cu", closure="metal", bin_width=0.05).run().results
    # gap: from 1 Å above the top layer (z = 4) to 1 Å below the periodic bottom layer (z = 42)
    z0, gap = 12.0 - 5.0, 36.0
    q = 4 / (CELL[0] * CELL[1])
    assert r.sigma_metal / E_PER_A2_TO_C_PER_M2 == pytest.approx(-q * (gap - z0) / gap, rel=0.01)
    assert r.sigma_metal_upper / E_PER_A2_TO_C_PER_M2 == pytest.approx(-q * z0 / gap, rel=0.01)
    assert r.plate_potential_difference == pytest.approx(0.0, abs=1e-9)


def test_interface_potential_refuses_bad_setup():
    frames = water_layer(2, 8.0, up=True)
    with pytest.raises(ValueError, match="metal='Pt': no such atoms"):
        InterfacePotential(frames, {}, "Pt")
    with pytest.raises(ValueError, match="gives metal \\['Cu'\\] a charge"):
        InterfacePotential(frames, {"Cu": 1}, "Cu")
    with pytest.raises(ValueError, match='closure must be "vapour" or "metal"'):
        InterfacePotential(frames, {}, "Cu", closure="wall")
    with pytest.raises(ValueError, match="image_plane must be a finite number > 0"):
        InterfacePotential(frames, {}, "Cu", image_plane=-1.0)
    with pytest.raises(ValueError, match="bulk must be"):
        InterfacePotential(frames, {}, "Cu", bulk=(0.0, 3.0))


def test_conductor_electrostatics_replaces_the_profile_potential():
    from continuum import TransportProfile
    from multiscale.extract.profile_builder import conductor_electrostatics

    frames = []
    for _ in range(4):
        atoms = cu_slab() + Atoms("Na4", positions=[(x, y, 12.0) for x in (1, 5) for y in (1, 5)])
        frames.append(atoms)
    z = np.linspace(6.0, 30.0, 25) * 1e-10
    profile = TransportProfile(
        z=z, species=["Na+"], charges=[1], concentration=np.ones((1, 25)),
        diffusion=np.full((1, 25), 1e-9), temperature=300.0,
    )  # fmt: skip
    new, summary = conductor_electrostatics(profile, frames, {"Na": 1}, "Cu", bin_width=0.05)
    ref = InterfacePotential(frames, {"Na": 1}, "Cu", closure="metal", bin_width=0.05).run()
    r = ref.results
    expected = np.interp(z * 1e10, r.z + r.surface_z, r.potential)
    np.testing.assert_allclose(new.potential, expected, rtol=1e-12)
    assert summary["conductor_model"] == "applied"
    assert summary["sigma_metal_C_per_m2"] == pytest.approx(r.sigma_metal)
    assert new.provenance["electrostatics"]["image_plane_A"] == 1.0
    # no frame describable by a fixed-charge water model: the profile is left as it was
    broken = [cu_slab() + Atoms("OH2", positions=[(1, 1, 10), (1, 1, 11), (1, 1, 13)])] * 2
    same, why = conductor_electrostatics(profile, broken, {}, "Cu")
    assert same is profile and why["conductor_model"].startswith("not applied")


def test_broken_frames_are_skipped_and_counted_and_fixed_charge_between_faces():
    good = water_layer(3, 8.0, up=True)
    broken = good[0].copy()
    broken.positions[-1] += [0.0, 0.0, 2.5]  # one H pulled off its water
    frames = [good[0], broken, good[1], good[2]]
    with pytest.raises(ValueError, match=r"frame 1: .*skip_broken_frames=True"):
        InterfacePotential(frames, {}, "Cu", bulk=(14.0, 20.0)).run()
    r = InterfacePotential(frames, {}, "Cu", bulk=(14.0, 20.0), skip_broken_frames=True).run()
    assert r.results.n_frames_used == 3 and r.results.frames_skipped == [1]
    with pytest.raises(ValueError, match=r"no charge given for elements \['Na'\]"):
        InterfacePotential([f + Atoms("Na", [(1, 1, 12)]) for f in good], {}, "Cu")
    # a fixed electrode charge between the two faces: the upper face takes the rest
    ions = [cu_slab() + Atoms("Na", positions=[(1.0, 1.0, 12.0)]) for _ in range(3)]
    r = InterfacePotential(ions, {"Na": 1}, "Cu", closure="metal", electrode_charge=0.05)
    res = r.run().results
    assert res.sigma_metal == pytest.approx(0.05, rel=1e-12)
    q = 1 / (CELL[0] * CELL[1]) * E_PER_A2_TO_C_PER_M2
    assert res.sigma_metal_upper == pytest.approx(-0.05 - q, rel=1e-12)
    assert abs(res.plate_potential_difference) > 0.1  # a charged capacitor
