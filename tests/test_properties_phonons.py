"""Phonons with phonopy: EMT Cu (acoustic sum rule, stability, sound velocity from the elastic
constants), an unstable crystal reported as such, supercell convergence."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT

from multiscale.properties import elastic_constants, phonons, supercell_convergence
from multiscale.properties._common import relax


@pytest.fixture(scope="module")
def cu():
    atoms, ok = relax(bulk("Cu"), EMT(), cell=True, fmax=1e-6, steps=2000)
    assert ok
    return atoms


@pytest.fixture(scope="module")
def cu_phonons(cu):
    return phonons(
        cu, EMT(), supercell=(3, 3, 3), compare_supercell=(2, 2, 2), npoints=60, mesh=(8, 8, 8)
    )


def test_emt_cu_stable_with_acoustic_zero(cu_phonons):
    r = cu_phonons
    assert r.stable and r.ok and not r.imaginary_qpoints
    assert np.max(np.abs(r.gamma_acoustic)) < 1e-3  # THz: acoustic sum rule
    assert r.path == "GXWKGLUWLK,UX" and r.special_labels[0] == "G"
    assert 7.0 < r.band_frequencies.max() < 9.0  # EMT Cu; experiment ~7.3 THz
    # thermodynamics: Dulong-Petit at high T, C_V -> 0 at 0 K, F decreasing with T above ~100 K
    assert r.heat_capacity[0] == pytest.approx(0, abs=1e-6)
    assert r.heat_capacity[-1] == pytest.approx(3, abs=0.05)  # 2.98: quantum correction
    assert r.free_energy[0] > 0 > r.free_energy[-1]  # zero-point energy, then -TS
    assert np.trapezoid(r.dos, r.dos_frequencies) == pytest.approx(3, rel=0.02)


def test_sound_velocity_matches_elastic_constants(cu, cu_phonons):
    """Slope of the acoustic branches along [100] near Γ = sqrt(C11/ρ), sqrt(C44/ρ)."""
    el = elastic_constants(cu, EMT())
    rho = cu.get_masses().sum() * units._amu / (cu.get_volume() * 1e-30)  # kg/m³
    v_l = np.sqrt(el.C11 * 1e9 / rho)  # m/s
    v_t = np.sqrt(el.C44 * 1e9 / rho)
    k = 0.01  # 1/Å (no 2π), along Cartesian [100]
    q_red = np.array([k, 0, 0]) @ np.asarray(cu.cell).T  # reduced coordinates
    f = np.sort(cu_phonons.frequencies([q_red])[0])  # THz
    v = f / k * 100  # THz·Å = 100 m/s
    assert v[0] == pytest.approx(v_t, rel=0.03)
    assert v[1] == pytest.approx(v_t, rel=0.03)
    assert v[2] == pytest.approx(v_l, rel=0.03)


def test_supercell_convergence_stated(cu, cu_phonons):
    conv = cu_phonons.convergence
    assert conv["supercells"] == [(2, 2, 2), (3, 3, 3)]
    assert 0 < conv["max_abs_diff_THz"] < 0.1 and conv["converged"]
    tight = supercell_convergence(cu, EMT(), tolerance_THz=1e-4)
    assert tight["max_abs_diff_THz"] == pytest.approx(conv["max_abs_diff_THz"], rel=1e-6)
    assert not tight["converged"]


def test_unstable_crystal_reported(tmp_path):
    """bcc Cu is mechanically unstable (C' < 0): imaginary modes are reported, not hidden."""
    r = phonons(bulk("Cu", "bcc", a=2.87), EMT(), supercell=(3, 3, 3), npoints=40, mesh=(6, 6, 6))
    assert not r.stable and not r.ok
    assert r.min_frequency < -0.5 and r.imaginary_qpoints
    assert r.to_dict()["stable"] is False
    assert r.plot(tmp_path / "ph.png").stat().st_size > 10_000


def test_bad_input(cu):
    with pytest.raises(ValueError, match="supercell must be three positive integers"):
        phonons(cu, EMT(), supercell=(2, 2))
    with pytest.raises(ValueError, match="displacement must be a positive number in Å"):
        phonons(cu, EMT(), displacement=-0.01)
    with pytest.raises(ValueError, match="temperatures must be"):
        phonons(cu, EMT(), temperatures=[-5])
    with pytest.raises(ValueError, match="supercells must be two"):
        supercell_convergence(cu, EMT(), supercells=[(2, 2, 2)])
