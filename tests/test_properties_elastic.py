"""Elastic constants: recovered exactly from a linear-elastic toy, EMT Cu against an
independent energy route, Born stability, Voigt-Reuss-Hill."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from multiscale.properties import elastic_constants, strain_cell, voigt_reuss_hill
from multiscale.properties._common import relax


class LinearElastic(Calculator):
    """stress = C ε (Voigt, engineering shear) relative to a reference cell; C in GPa."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, C_GPa, ref_cell):
        super().__init__()
        self.C = np.asarray(C_GPa) * units.GPa
        self.ref = np.asarray(ref_cell)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        F = np.linalg.solve(self.ref, np.asarray(atoms.cell))  # cell = ref @ F
        eps = (F + F.T) / 2 - np.eye(3)
        e = np.array([eps[0, 0], eps[1, 1], eps[2, 2], 2 * eps[1, 2], 2 * eps[0, 2], 2 * eps[0, 1]])
        V = abs(np.linalg.det(self.ref))
        self.results = {
            "energy": 0.5 * V * e @ self.C @ e,
            "forces": np.zeros((len(atoms), 3)),
            "stress": self.C @ e,
        }


@pytest.fixture(scope="module")
def cu():
    atoms, ok = relax(bulk("Cu"), EMT(), cell=True, fmax=1e-6, steps=2000)
    assert ok
    return atoms


def test_general_matrix_recovered_exactly():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(6, 6))
    C = A @ A.T * 20 + np.eye(6) * 50  # symmetric positive definite, no symmetry pattern
    atoms = bulk("Cu", "fcc", a=3.6)
    res = elastic_constants(atoms, LinearElastic(C, atoms.cell))
    # the toy is linear in the small-strain tensor only up to O(eps^2) from (F+F^T)/2 - I:
    # exact for our symmetric deformations
    assert np.allclose(res.C, C, atol=1e-6)
    assert res.symmetry == "general" and res.born_stable and res.ok
    assert res.residual_GPa < 1e-8


def test_unstable_matrix_is_reported():
    C = np.diag([170.0, 170, 170, -10, -10, -10])
    C[:3, :3] += 120 - np.diag([120.0] * 3)
    atoms = bulk("Cu", "fcc", a=3.6)
    res = elastic_constants(atoms, LinearElastic(C, atoms.cell))
    assert res.symmetry == "cubic"
    assert not res.born_stable and not res.ok
    assert res.born_criteria["C44"] == pytest.approx(-10, abs=1e-6)
    assert res.born_criteria["C11-C12"] > 0


def _energy(atoms, calc, voigt):
    s = strain_cell(atoms, voigt)
    s.calc = calc
    return s.get_potential_energy()


def test_emt_cu_matches_energy_second_derivatives(cu):
    """C11, C12, C44 from stress fits against d²E/dε² (an independent route)."""
    res = elastic_constants(cu, EMT())
    calc, V, h = EMT(), cu.get_volume(), 2e-3
    e0 = _energy(cu, calc, np.zeros(6))

    def d2(v):
        v = np.asarray(v, float)
        return (_energy(cu, calc, h * v) - 2 * e0 + _energy(cu, calc, -h * v)) / h**2 / V

    c11 = d2([1, 0, 0, 0, 0, 0]) / units.GPa
    c11_c12 = d2([1, 1, 0, 0, 0, 0]) / units.GPa / 2  # d2E/dh2 / V = 2 C11 + 2 C12
    c44 = d2([0, 0, 0, 1, 0, 0]) / units.GPa
    assert res.symmetry == "cubic" and res.born_stable and res.ok
    assert res.C11 == pytest.approx(c11, rel=5e-3)
    assert res.C12 == pytest.approx(c11_c12 - c11, rel=1e-2)
    assert res.C44 == pytest.approx(c44, rel=5e-3)
    # EMT Cu is roughly Cu: C11 > C12 > 0, C44 about 90 GPa
    assert 150 < res.C11 < 200 and 100 < res.C12 < 130 and 80 < res.C44 < 100
    assert np.max(np.abs(res.residual_stress_GPa)) < 0.01
    # cubic: K_V = K_R = (C11 + 2 C12) / 3
    assert res.moduli["K_V"] == pytest.approx((res.C11 + 2 * res.C12) / 3, rel=1e-6)
    assert res.moduli["K_R"] == pytest.approx(res.moduli["K_V"], rel=1e-6)
    assert res.moduli["G_R"] < res.moduli["G_H"] < res.moduli["G_V"]


def test_voigt_reuss_hill_isotropic():
    lam, mu = 60.0, 30.0
    C = np.zeros((6, 6))
    C[:3, :3] = lam
    C[np.arange(3), np.arange(3)] = lam + 2 * mu
    C[np.arange(3, 6), np.arange(3, 6)] = mu
    m = voigt_reuss_hill(C)
    assert m["K_V"] == pytest.approx(lam + 2 * mu / 3) and m["K_R"] == pytest.approx(m["K_V"])
    assert m["G_V"] == pytest.approx(mu) and m["G_R"] == pytest.approx(mu)


def test_plot_and_dict(cu, tmp_path):
    res = elastic_constants(cu, EMT(), strains=(-0.005, 0.005))
    assert res.plot(tmp_path / "e.png").stat().st_size > 10_000
    d = res.to_dict()
    assert d["C11"] == res.C11 and d["born_stable"] is True


def test_bad_input():
    cu = bulk("Cu")
    with pytest.raises(ValueError, match="strains must be at least two distinct"):
        elastic_constants(cu, EMT(), strains=(0.01,))
    with pytest.raises(ValueError, match=r"\|strain\| <= 0.05"):
        elastic_constants(cu, EMT(), strains=(-0.2, 0.2))
    with pytest.raises(ValueError, match="no calculator"):
        elastic_constants(cu)
    with pytest.raises(ValueError, match="periodic in all three"):
        elastic_constants(Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.5]]), EMT())
    with pytest.raises(TypeError, match=r"must be an ase\.Atoms"):
        elastic_constants("Cu", EMT())
    with pytest.raises(ValueError, match="voigt must have 6"):
        strain_cell(cu, [0.1, 0.0])


def test_secant_spread_detects_a_wiggly_stress_curve():
    """A stress-strain curve with a wiggle (as CHGNet's has) shows up in the secant spread."""

    class Wiggly(LinearElastic):
        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            F = np.linalg.solve(self.ref, np.asarray(atoms.cell))
            exx = F[0, 0] - 1
            self.results["stress"] = self.results["stress"] + 0.5 * units.GPa * np.sin(
                exx / 0.002
            ) * np.array([1, 0, 0, 0, 0, 0])

    C = np.diag([170.0, 170, 170, 80, 80, 80])
    C[:3, :3] += 120 * (1 - np.eye(3))
    atoms = bulk("Cu", "fcc", a=3.6)
    smooth = elastic_constants(atoms, LinearElastic(C, atoms.cell))
    wiggly = elastic_constants(atoms, Wiggly(C, atoms.cell))
    assert smooth.secant_spread_GPa < 1e-6
    assert set(smooth.secant_GPa) == {0.005, 0.01}
    assert wiggly.secant_spread_GPa > 50
