"""Time step from the stiffest vibration: analytic harmonic frequencies and NVE energy drift."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from multiscale.md import estimate_timestep

# SI constants, independent of ase.units
EV, AMU, C_CM = 1.602176634e-19, 1.66053906660e-27, 2.99792458e10


class HarmonicBonds(Calculator):
    """Sum of springs E = k/2 (d_ij - d0)^2 over the given atom pairs (eV, Å)."""

    implemented_properties = ("energy", "forces")

    def __init__(self, bonds: list[tuple[int, int, float, float]]):
        super().__init__()
        self.bonds = bonds

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pos = self.atoms.positions
        energy, forces = 0.0, np.zeros_like(pos)
        for i, j, k, d0 in self.bonds:
            r = pos[j] - pos[i]
            d = np.linalg.norm(r)
            energy += 0.5 * k * (d - d0) ** 2
            f = -k * (d - d0) * r / d
            forces[j] += f
            forces[i] -= f
        self.results = {"energy": energy, "forces": forces}


def wavenumber_si(k_ev_a2: float, m1: float, m2: float) -> float:
    """Harmonic wavenumber (cm^-1) of a diatomic, in SI units from scratch."""
    mu = m1 * m2 / (m1 + m2) * AMU
    omega = np.sqrt(k_ev_a2 * EV / 1e-20 / mu)
    return omega / (2 * np.pi * C_CM)


def test_diatomic_frequency_and_dt_match_analytic():
    k = 36.0  # eV/Å^2, close to H2's curvature
    atoms = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]])
    atoms.calc = HarmonicBonds([(0, 1, k, 0.74)])
    est = estimate_timestep(atoms, safety=0.5, method="hessian")
    m = atoms.get_masses()
    expected = wavenumber_si(k, m[0], m[1])
    assert est.wavenumber_cm1 == pytest.approx(expected, rel=1e-6)
    assert 4000 < expected < 4500  # sanity of the reference: H2 stretch region
    omega = np.sqrt(k / (m[0] * m[1] / (m[0] + m[1])))  # ASE units
    assert est.dt == pytest.approx(0.5 * 2 / omega, rel=1e-6)
    assert est.dt_fs == pytest.approx(est.dt / units.fs)


def test_lanczos_finds_the_stiffest_of_several_bonds():
    # three separate diatomics (H2, HD, D2-like masses) with different springs
    atoms = Atoms("H2HHOO", positions=np.arange(18).reshape(6, 3) * 3.0)
    atoms.set_masses([1.008, 1.008, 1.008, 2.014, 16.0, 16.0])
    bonds = [(0, 1, 20.0, 3.0), (2, 3, 45.0, 3.0), (4, 5, 60.0, 3.0)]
    atoms.positions[[1, 3, 5]] = atoms.positions[[0, 2, 4]] + [3.0, 0, 0]
    atoms.calc = HarmonicBonds(bonds)
    m = atoms.get_masses()
    expected = max(wavenumber_si(k, m[i], m[j]) for i, j, k, _ in bonds)
    est = estimate_timestep(atoms, method="lanczos")
    assert est.method == "lanczos"
    assert est.wavenumber_cm1 == pytest.approx(expected, rel=1e-4)


def test_lanczos_agrees_with_full_hessian_for_emt_copper():
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    atoms.calc = EMT()
    lan = estimate_timestep(atoms, method="lanczos")
    full = estimate_timestep(atoms, method="hessian")
    assert lan.wavenumber_cm1 == pytest.approx(full.wavenumber_cm1, rel=1e-3)
    assert 200 < full.wavenumber_cm1 < 400  # Cu phonons end near 7-8 THz (~250 cm^-1)


def nve_drift(dt: float, steps: int) -> float:
    """|slope| of total energy per atom (eV/atom/ps) in NVE with EMT copper at 600 K."""
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(0.02, seed=7)
    atoms.calc = EMT()
    thermalize_momenta(atoms, 600.0, rng=np.random.default_rng(1))
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, dt)
    energies = []
    for _ in dyn.irun(steps):
        energies.append(atoms.get_total_energy() / len(atoms))
    t_ps = np.arange(len(energies)) * dt / (1000 * units.fs)
    return abs(np.polyfit(t_ps, energies, 1)[0]), np.ptp(energies)


def test_nve_drift_small_at_recommended_dt_and_sharply_larger_above():
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(0.02, seed=7)
    atoms.calc = EMT()
    dt = estimate_timestep(atoms).dt  # safety 0.2 of the Verlet limit 2/omega_max
    # the same simulated time (300 recommended steps, ~2.4 ps) at 1x, 3x and 4x the step
    drift_1, spread_1 = nve_drift(dt, 300)
    drift_3, _spread_3 = nve_drift(3 * dt, 100)
    _drift_4, spread_4 = nve_drift(4 * dt, 75)
    assert drift_1 < 1e-4  # eV/atom/ps: negligible
    assert spread_1 < 3e-3  # eV/atom: bounded shadow-Hamiltonian fluctuation
    assert drift_3 > 20 * drift_1  # grows much faster than dt^2
    assert spread_4 > 1.0  # eV/atom: past the thermal stability limit the run explodes


def test_bad_input():
    atoms = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]])
    with pytest.raises(ValueError, match="no calculator"):
        estimate_timestep(atoms)
    atoms.calc = HarmonicBonds([(0, 1, 36.0, 0.74)])
    with pytest.raises(ValueError, match=r"safety must be in \(0, 1\]"):
        estimate_timestep(atoms, safety=1.5)
    with pytest.raises(ValueError, match="method must be"):
        estimate_timestep(atoms, method="power")
    flat = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]])
    flat.calc = HarmonicBonds([(0, 1, -5.0, 0.74)])
    with pytest.raises(ValueError, match="not positive"):
        estimate_timestep(flat)
