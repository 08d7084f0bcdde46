"""ForceMixingCalculator: limits, buffer convergence, continuity, momentum, periodic images.

Stand-ins: PySCF HF/STO-3G is the QM level (cheap, grid-free, so translation invariant to SCF
precision); ASE's TIP3P water model or a Lennard-Jones potential is the "ML" environment.
They are independent, so QM and ML forces differ (by ~1 eV/Å for LJ vs TIP3P, whose rigid
water has no intramolecular force), which is what the mixing and continuity checks need.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import (
    CalculationFailed,
    Calculator,
    CalculatorSetupError,
    PropertyNotImplementedError,
)
from ase.calculators.lj import LennardJones
from ase.calculators.tip3p import TIP3P

from coupling import ForceMixingCalculator, PySCFCalculator, Regions, check_force_continuity
from multiscale.md import build_electrolyte


def hf_sto3g() -> PySCFCalculator:
    return PySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-11)


def lj() -> LennardJones:
    """A smooth, deliberately different 'ML' stand-in (works in any periodic cell)."""
    return LennardJones(sigma=1.0, epsilon=0.02, rc=6.0, smooth=True)


def forces(atoms: Atoms, calc: Calculator) -> np.ndarray:
    work = atoms.copy()
    work.calc = calc
    return np.array(work.get_forces())


# ----------------------------------------------------------------------------- limits
def test_region_covering_everything_reproduces_qm_forces(water_trimer):
    f_qm = forces(water_trimer, hf_sto3g())
    regions = Regions([0, 1, 2], r_core=50.0, r_switch=1.0)
    calc = ForceMixingCalculator(hf_sto3g(), TIP3P(rc=6.0), regions, momentum="none")
    f = forces(water_trimer, calc)
    np.testing.assert_allclose(calc.results["weights"], 1.0)
    np.testing.assert_allclose(f, f_qm, atol=1e-6)
    # with the momentum correction the forces differ from QM only by QM's own tiny net force
    calc_c = ForceMixingCalculator(hf_sto3g(), TIP3P(rc=6.0), regions)
    f_c = forces(water_trimer, calc_c)
    net_qm = np.linalg.norm(f_qm.sum(axis=0))
    m = water_trimer.get_masses()  # no ML atom: all atoms share it by mass
    assert np.abs(f_c - f_qm).max() <= net_qm * m.max() / m.sum() + 1e-6


def test_atoms_beyond_the_shell_get_ml_forces_exactly(three_waters):
    atoms = three_waters.copy()
    f_ml = forces(atoms, lj())
    regions = Regions([0, 1, 2], r_core=0.5, r_switch=0.5, r_buffer=3.0)
    # the weighted correction leaves ML atoms alone (the default "ml" spreads it over them)
    calc = ForceMixingCalculator(TIP3P(rc=7.0), lj(), regions, momentum="weighted")
    f = forces(atoms, calc)
    w = calc.results["weights"]
    out = w == 0
    assert out.sum() == 6 and np.all(w[:3] == 1)
    np.testing.assert_array_equal(f[out], f_ml[out])  # bit for bit: never touched by QM
    np.testing.assert_array_equal(calc.results["ml_forces"], f_ml)


def test_same_model_for_qm_and_ml_gives_ml_forces_when_the_buffer_covers_the_cutoff():
    """With one potential on both sides, only cluster truncation can differ from ML.

    The LJ cutoff is 3 Å: a buffer at least that wide leaves every weighted atom with all its
    neighbours in the cluster, so the mixed forces equal the full-system forces; a narrower
    buffer does not.
    """
    atoms = build_electrolyte(concentration=0.0, n_water=64, seed=2)  # periodic box
    pot = {"sigma": 1.0, "epsilon": 0.02, "rc": 3.0, "smooth": True}
    f_full = forces(atoms, LennardJones(**pot))
    core = [0, 1, 2]
    errors = []
    for r_buffer in (0.0, 3.2):
        regions = Regions(core, r_core=0.5, r_switch=1.0, r_buffer=r_buffer)
        calc = ForceMixingCalculator(LennardJones(**pot), LennardJones(**pot), regions)
        f = forces(atoms, calc)
        errors.append(np.abs(f - f_full).max())
    assert errors[0] > 1e-3
    assert errors[1] < 1e-10


# ----------------------------------------------------------------------- convergence
def test_core_force_error_falls_monotonically_with_the_buffer():
    atoms = build_electrolyte(concentration=0.0, n_water=12, seed=3)
    atoms.pbc = False  # an isolated 12-water cluster: full QM is the reference
    oxygens = np.flatnonzero(atoms.numbers == 8)
    centre = atoms.cell.diagonal() / 2
    i0 = int(oxygens[np.argmin(np.linalg.norm(atoms.positions[oxygens] - centre, axis=1))])
    core = [i0, i0 + 1, i0 + 2]
    f_full = forces(atoms, hf_sto3g())
    errors, sizes = [], []
    for r_buffer in (0.0, 2.0, 4.0):
        regions = Regions(core, r_core=0.5, r_switch=1.0, r_buffer=r_buffer)
        calc = ForceMixingCalculator(hf_sto3g(), TIP3P(rc=6.0), regions, momentum="none")
        f = forces(atoms, calc)
        errors.append(np.abs(f[core] - f_full[core]).max())
        sizes.append(calc.results["cluster_size"])
    assert sizes[0] < sizes[1] < sizes[2]
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] > 0.05  # an unbuffered core water is far from its solvated forces


# ------------------------------------------------------------------------ continuity
@pytest.mark.parametrize("switching", ["quintic", "cubic"])
def test_drag_through_the_shell_jumps_halve_with_the_step(switching, three_waters):
    atoms = three_waters.copy()
    regions = Regions([0, 1, 2], r_core=2.2, r_switch=1.5, r_buffer=6.0)
    calc = ForceMixingCalculator(TIP3P(rc=9.0), lj(), regions, switching=switching)
    report = check_force_continuity(calc, atoms, [6, 7, 8], [0, 1, 0], 2.5, n_steps=16)
    w = report.weights[:, 6]
    assert w[0] == 1.0 and w[-1] == 0.0  # the path crosses the whole shell
    assert np.any((w > 0.2) & (w < 0.8))
    assert 1.8 < report.ratio < 2.2
    assert report.continuous


def test_abrupt_switch_is_detected_as_discontinuous(three_waters):
    atoms = three_waters.copy()
    regions = Regions([0, 1, 2], r_core=2.2, r_switch=1.5, r_buffer=6.0)
    calc = ForceMixingCalculator(TIP3P(rc=9.0), lj(), regions, switching="step")
    report = check_force_continuity(calc, atoms, [6, 7, 8], [0, 1, 0], 2.5, n_steps=16)
    assert report.ratio < 1.2
    assert not report.continuous
    # the jump sits where the weight drops, and is the QM-ML discrepancy there
    assert report.max_jump_half > 0.5


def test_drag_with_pyscf_core_is_continuous(three_waters):
    atoms = three_waters.copy()
    atoms.positions[6:9, 1] += 0.7  # start at the inner edge of the shell
    regions = Regions([0, 1, 2], r_core=2.2, r_switch=1.5, r_buffer=3.0)
    calc = ForceMixingCalculator(hf_sto3g(), TIP3P(rc=9.0), regions)
    report = check_force_continuity(calc, atoms, [6, 7, 8], [0, 1, 0], 1.6, n_steps=6)
    assert np.ptp(report.weights[:, 6]) > 0.9  # most of the shell is crossed
    assert report.ratio > 1.6
    assert report.continuous


# -------------------------------------------------------------------------- momentum
def test_net_force_is_zero_after_the_correction(three_waters):
    atoms = three_waters.copy()
    regions = Regions([0, 1, 2], r_core=2.2, r_switch=1.5, r_buffer=1.0)
    raw = ForceMixingCalculator(TIP3P(rc=9.0), lj(), regions, momentum="none")
    f_raw = forces(atoms, raw)
    assert np.any((raw.results["weights"] > 0) & (raw.results["weights"] < 1))
    assert np.linalg.norm(f_raw.sum(axis=0)) > 1e-2  # mixing breaks Newton's third law
    corrected = ForceMixingCalculator(TIP3P(rc=9.0), lj(), regions, momentum="weighted")
    f = forces(atoms, corrected)
    assert np.linalg.norm(f.sum(axis=0)) < 1e-12
    # the correction goes only to weighted atoms, in proportion to their weights
    w = corrected.results["weights"]
    np.testing.assert_array_equal(f[w == 0], f_raw[w == 0])
    delta = f_raw - f
    np.testing.assert_allclose(delta, np.outer(w / w.sum(), f_raw.sum(axis=0)), atol=1e-12)


def test_default_correction_spares_the_core_and_zeroes_the_net_force():
    """Issue 15: the old weighted correction put the cluster's net force on the QM core.

    Isolated 6-water cluster, HF/STO-3G core water with a 1 Å buffer, TIP3P environment; full
    QM is the reference. Measured: core RMS error 0.50 eV/Å weighted, 0.41 ml (= none); with
    8 waters and a 1.5 Å buffer 0.031 and 0.024.
    """
    atoms = build_electrolyte(concentration=0.0, n_water=6, seed=3)
    atoms.pbc = False
    oxygens = np.flatnonzero(atoms.numbers == 8)
    centre = atoms.positions[oxygens].mean(axis=0)
    i0 = int(oxygens[np.argmin(np.linalg.norm(atoms.positions[oxygens] - centre, axis=1))])
    core = [i0, i0 + 1, i0 + 2]
    f_ref = forces(atoms, PySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-9))
    err, f_by = {}, {}
    for momentum in ("weighted", "ml", "none"):
        regions = Regions(core, r_core=0.5, r_switch=1.0, r_buffer=1.0)
        calc = ForceMixingCalculator(
            PySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-9),
            TIP3P(rc=6.0),
            regions,
            **({} if momentum == "ml" else {"momentum": momentum}),  # "ml" is the default
        )
        f_by[momentum] = forces(atoms, calc)
        d = np.linalg.norm(f_by[momentum][core] - f_ref[core], axis=1)
        err[momentum] = float(np.sqrt(np.mean(d**2)))
    assert np.linalg.norm(f_by["ml"].sum(axis=0)) < 1e-10
    assert np.linalg.norm(f_by["none"].sum(axis=0)) > 1e-2  # there was a net force to remove
    # the core keeps its QM forces: same as no correction, better than the weighted one
    np.testing.assert_allclose(f_by["ml"][core], f_by["none"][core], atol=1e-12)
    assert err["ml"] < 0.9 * err["weighted"]


def test_mass_correction_shares_by_mass(three_waters):
    atoms = three_waters.copy()
    regions = Regions([0, 1, 2], r_core=2.2, r_switch=1.5, r_buffer=1.0)
    raw = forces(atoms, ForceMixingCalculator(TIP3P(rc=9.0), lj(), regions, momentum="none"))
    f = forces(atoms, ForceMixingCalculator(TIP3P(rc=9.0), lj(), regions, momentum="mass"))
    m = atoms.get_masses()
    assert np.linalg.norm(f.sum(axis=0)) < 1e-12
    np.testing.assert_allclose(raw - f, np.outer(m / m.sum(), raw.sum(axis=0)), atol=1e-12)


# -------------------------------------------------------------------- periodic images
@pytest.mark.parametrize("skewed", [False, True])
def test_same_forces_when_the_cluster_straddles_the_cell_boundary(skewed):
    atoms = build_electrolyte(concentration=0.0, n_water=64, seed=1)
    if skewed:  # a non-orthorhombic cell with the same molecules (fractional coordinates kept)
        cell = np.array(atoms.cell)
        cell[1, 0] = 0.3 * cell[1, 1]
        cell[2, 0] = 0.2 * cell[2, 2]
        atoms.set_cell(cell, scale_atoms=True)
    core = [0, 1, 2]

    def mixed(a: Atoms) -> tuple[np.ndarray, dict]:
        regions = Regions(core, r_core=1.0, r_switch=1.5, r_buffer=1.0)
        calc = ForceMixingCalculator(TIP3P(rc=6.0), lj(), regions)
        return forces(a, calc), calc.results

    f0, r0 = mixed(atoms)
    shifted = atoms.copy()
    shifted.translate(0.4 - shifted.positions[0])  # core oxygen 0.4 Å from a cell corner
    shifted.wrap()
    assert shifted.positions[:, 0].max() - shifted.positions[:, 0].min() > 5.0
    f1, r1 = mixed(shifted)
    assert r0["cluster_size"] == r1["cluster_size"] > 9
    np.testing.assert_allclose(r1["weights"], r0["weights"], atol=1e-12)
    np.testing.assert_allclose(f1, f0, atol=1e-9)


def test_translation_invariance_with_pyscf_cluster():
    atoms = build_electrolyte(concentration=0.0, n_water=27, seed=1)
    regions = Regions([0, 1, 2], r_core=0.5, r_switch=1.0, r_buffer=0.0)
    f0 = forces(atoms, ForceMixingCalculator(hf_sto3g(), lj(), regions))
    shifted = atoms.copy()
    shifted.translate(0.3 - shifted.positions[0])
    shifted.wrap()
    regions = Regions([0, 1, 2], r_core=0.5, r_switch=1.0, r_buffer=0.0)
    f1 = forces(shifted, ForceMixingCalculator(hf_sto3g(), lj(), regions))
    np.testing.assert_allclose(f1, f0, atol=1e-6)


# ------------------------------------------------------------------------ results
def test_results_and_no_energy(water_trimer):
    regions = Regions([0, 1, 2], r_core=1.0, r_switch=1.5, r_buffer=2.0)
    calc = ForceMixingCalculator(TIP3P(rc=6.0), lj(), regions, momentum="weighted")
    atoms = water_trimer.copy()
    atoms.calc = calc
    f = atoms.get_forces()
    res = calc.results
    for key in ("weights", "labels", "qm_forces", "ml_forces", "cluster_indices"):
        assert len(res[key]) == len(atoms)
    assert res["cluster_size"] == 9
    assert set(res["timings"]) >= {"regions", "ml", "qm", "mixing", "total"}
    w = res["weights"][:, None]
    expected = (
        w * res["qm_forces"]
        + (1 - w) * res["ml_forces"]
        - (res["weights"] / res["weights"].sum())[:, None] * res["net_force_correction"]
    )
    np.testing.assert_allclose(f, expected, atol=1e-12)
    with pytest.raises(PropertyNotImplementedError, match="relax_mixed_forces"):
        atoms.get_potential_energy()


class _Counting(LennardJones):
    """Lennard-Jones that counts its calculations."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.n_calls = 0

    def calculate(self, *args, **kwargs):
        self.n_calls += 1
        super().calculate(*args, **kwargs)


def test_reset_resets_the_qm_and_ml_calculators(water_trimer):
    qm = _Counting(sigma=1.0, epsilon=0.01, rc=6.0, smooth=True)
    ml = _Counting(sigma=1.2, epsilon=0.02, rc=6.0, smooth=True)
    regions = Regions([0, 1, 2], r_core=1.0, r_switch=1.5, hysteresis=0.5)
    calc = ForceMixingCalculator(qm, ml, regions)
    atoms = water_trimer.copy()
    atoms.calc = calc
    f0 = atoms.get_forces()
    assert (qm.n_calls, ml.n_calls) == (1, 1)
    calc.reset()
    assert calc.results == {} and qm.results == {} and ml.results == {}
    assert regions.state is None  # the hysteresis memory is gone too
    f1 = atoms.get_forces()  # same positions: everything is computed again
    assert (qm.n_calls, ml.n_calls) == (2, 2)
    np.testing.assert_allclose(f1, f0, atol=1e-12)


# ---------------------------------------------------------------------- bad input
class _EnergyOnly(Calculator):
    implemented_properties = ["energy"]


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="core is empty"):
        Regions([], r_core=1.0, r_switch=1.0)
    with pytest.raises(ValueError, match="r_core must be a finite distance >= 0"):
        Regions([0], r_core=-1.0, r_switch=1.0)
    with pytest.raises(ValueError, match="r_buffer must be a finite distance >= 0"):
        Regions([0], r_core=1.0, r_switch=1.0, r_buffer=-0.5)
    with pytest.raises(CalculatorSetupError, match="cannot give forces"):
        ForceMixingCalculator(_EnergyOnly(), TIP3P(), Regions([0], 1.0, 1.0))
    with pytest.raises(CalculatorSetupError, match="cannot give forces"):
        ForceMixingCalculator(TIP3P(), _EnergyOnly(), Regions([0], 1.0, 1.0))
    with pytest.raises(CalculatorSetupError, match="unknown switching function"):
        ForceMixingCalculator(TIP3P(), TIP3P(), Regions([0], 1.0, 1.0), switching="smooth")
    with pytest.raises(CalculatorSetupError, match=r"regions must be a coupling\.Regions"):
        ForceMixingCalculator(TIP3P(), TIP3P(), {"core": [0]})


def test_runaway_overlap_and_bad_core_fail_the_calculation(three_waters):
    atoms = three_waters.copy()
    small = Regions([0, 1, 2], 1.0, 1.0, 4.0, max_cluster_size=5)
    with pytest.raises(CalculationFailed, match="more than max_cluster_size=5"):
        forces(atoms, ForceMixingCalculator(TIP3P(), lj(), small))
    overlapping = atoms.copy()
    overlapping.positions[4] = overlapping.positions[0] + 0.1
    with pytest.raises(CalculationFailed, match="overlapping atoms"):
        forces(overlapping, ForceMixingCalculator(TIP3P(), lj(), Regions([0, 1, 2], 1.0, 1.0)))
    with pytest.raises(CalculationFailed, match="out of range"):
        forces(atoms, ForceMixingCalculator(TIP3P(), lj(), Regions([0, 1, 20], 1.0, 1.0)))
    with pytest.raises(CalculationFailed, match="core is empty"):
        forces(atoms, ForceMixingCalculator(TIP3P(), lj(), Regions(lambda a: [], 1.0, 1.0)))
