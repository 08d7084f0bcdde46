"""Charge density, Poisson integration and field: planes of charge and capacitors."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from scipy.special import erf

from multiscale.extract import ChargeDensityProfile, atomic_charges, solve_poisson_1d
from multiscale.extract.electrostatics import EPS0

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
