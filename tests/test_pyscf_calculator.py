"""PySCFCalculator: forces against finite differences, energies against PySCF run directly,
the SCF failure path, density extrapolation, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import CalculatorSetupError, SCFError
from ase.calculators.fd import calculate_numerical_forces
from ase.md.verlet import VelocityVerlet
from ase.units import Bohr, Hartree, fs

from coupling import PySCFCalculator, aspc_coefficients
from coupling.extrapolation import DensityHistory

TIGHT = {"conv_tol": 1e-11, "conv_tol_grad": 1e-7}


def test_forces_equal_central_finite_differences(water_dimer):
    calc = PySCFCalculator(xc="pbe", basis="6-31g", **TIGHT)
    water_dimer.calc = calc
    forces = water_dimer.get_forces()
    # donor O, bridging H, acceptor O and one free H: every kind of environment
    atoms_checked = [0, 2, 3, 4]
    numeric = calculate_numerical_forces(water_dimer, eps=1e-3, iatoms=atoms_checked)
    assert np.abs(forces[atoms_checked] - numeric).max() < 1e-4  # eV/Å
    # a non-trivial check: the forces are not all tiny
    assert np.abs(forces).max() > 0.05


def test_smeared_forces_are_the_gradient_of_the_free_energy():
    """Li4 (a metal cluster with near-degenerate frontier orbitals), Fermi smearing 0.8 eV:
    the occupations are fractional, the forces equal central differences of the Mermin free
    energy E - σS and not of E (which differs here by ~0.25 eV/Å), and energy = E - σS/2
    lies between the two."""
    atoms = Atoms("Li4", positions=[[0, 0, 0], [2.7, 0, 0], [1.35, 2.3, 0], [1.35, 0.8, 2.2]])

    def calc():
        return PySCFCalculator(xc="pbe", basis="sto-3g", smearing=0.8, grids_level=3,
                               conv_tol=1e-11, guess="none")  # fmt: skip

    atoms.calc = calc()
    forces = atoms.get_forces()
    occ = atoms.calc.mf.mo_occ
    assert np.sum((occ > 0.05) & (occ < 1.95)) >= 4  # smearing matters here
    free = atoms.get_potential_energy(force_consistent=True)
    assert atoms.calc.mf.e_tot * Hartree > atoms.get_potential_energy() > free
    h = 1e-3  # Å
    for i, c in ((3, 2), (1, 0)):
        e_free, e_tot = [], []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[i, c] += sign * h
            moved.calc = calc()
            e_free.append(moved.get_potential_energy(force_consistent=True))
            e_tot.append(moved.calc.mf.e_tot * Hartree)
        assert forces[i, c] == pytest.approx(-(e_free[0] - e_free[1]) / (2 * h), abs=2e-3)
        if (i, c) == (3, 2):  # the check can fail: E's derivative is another number
            assert abs(forces[i, c] + (e_tot[0] - e_tot[1]) / (2 * h)) > 0.05
    assert np.abs(forces).max() > 0.05


def test_dispersion_forces_equal_finite_differences(water_dimer):
    water_dimer.calc = PySCFCalculator(xc="pbe", basis="sto-3g", dispersion="d3bj", **TIGHT)
    forces = water_dimer.get_forces()
    numeric = calculate_numerical_forces(water_dimer, eps=1e-3, iatoms=[0, 3], icarts=[0, 1])
    assert np.abs(forces[[0, 3]][:, [0, 1]] - numeric).max() < 1e-4
    e_disp = water_dimer.calc.mf.scf_summary["dispersion"] * Hartree
    assert -0.1 < e_disp < 0.0  # D3(BJ) of a water dimer: a few tens of meV, attractive


def test_unrestricted_doublet_forces(rng):
    oh = Atoms("OH", positions=[[0, 0, 0], [0.1, 0.05, 0.98]])
    oh.calc = PySCFCalculator(xc="pbe", basis="6-31g", spin=1, **TIGHT)
    forces = oh.get_forces()
    from pyscf import dft

    assert isinstance(oh.calc.mf, dft.uks.UKS)
    numeric = calculate_numerical_forces(oh, eps=1e-3, iatoms=[1])
    assert np.abs(forces[1] - numeric[0]).max() < 1e-4
    assert np.allclose(forces.sum(axis=0), 0.0, atol=1e-4)  # translational invariance


def test_energy_equals_direct_pyscf_run(water_dimer):
    from pyscf import dft, gto

    calc = PySCFCalculator(xc="b3lyp", basis="def2-svp", grids_level=3, conv_tol=1e-10)
    water_dimer.calc = calc
    energy = water_dimer.get_potential_energy()

    mol = gto.M(
        atom=list(zip(water_dimer.get_chemical_symbols(), water_dimer.positions, strict=True)),
        unit="Angstrom",
        basis="def2-svp",
        verbose=0,
    )
    mf = dft.RKS(mol)
    mf.xc = "b3lyp"
    mf.grids.level = 3
    mf.conv_tol = 1e-10
    reference = mf.kernel() * Hartree
    # PySCF's own Bohr differs from ase.units.Bohr in the 9th digit: sub-µeV effect
    assert energy == pytest.approx(reference, abs=1e-5)
    assert calc.results["converged"] is True
    assert calc.results["scf_cycles"] > 0
    assert set(calc.results["timings"]) == {"scf", "gradient", "total"}


def test_density_fitting_is_close_to_exact_integrals(water_dimer):
    water_dimer.calc = PySCFCalculator(basis="def2-svp")
    exact = water_dimer.get_potential_energy()
    water_dimer.calc = PySCFCalculator(basis="def2-svp", density_fit=True)
    fitted = water_dimer.get_potential_energy()
    assert fitted != exact
    # RI-J errors are ~1e-5 Hartree per atom with the default def2 fitting basis
    assert abs(fitted - exact) < 1e-4 * Hartree * len(water_dimer)


def test_unconverged_scf_raises_scferror(water_dimer):
    water_dimer.calc = PySCFCalculator(basis="6-31g", max_cycle=1, guess="none")
    with pytest.raises(SCFError, match="did not converge in 3 attempts"):
        water_dimer.get_forces()
    assert "forces" not in water_dimer.calc.results


def test_retry_with_stabilisers_recovers_a_failed_scf(water_dimer):
    # 5 DIIS cycles from the atomic guess are not enough for 1e-10; the retries continue
    # from the last density and converge, giving the same energy as a plain SCF
    water_dimer.calc = PySCFCalculator(basis="6-31g", max_cycle=5, conv_tol=1e-10)
    energy = water_dimer.get_potential_energy()
    assert water_dimer.calc.results["scf_attempts"] > 1
    water_dimer.calc = PySCFCalculator(basis="6-31g", conv_tol=1e-10)
    assert energy == pytest.approx(water_dimer.get_potential_energy(), abs=1e-6)


def test_aspc_coefficients_match_kolafa_table():
    # J. Kolafa, J. Comput. Chem. 25, 335 (2004), Table 1
    assert np.allclose(aspc_coefficients(0), [2, -1])
    assert np.allclose(aspc_coefficients(1), [5 / 2, -2, 1 / 2])
    assert np.allclose(aspc_coefficients(2), [14 / 5, -14 / 5, 6 / 5, -1 / 5])
    assert np.allclose(aspc_coefficients(3), [3, -24 / 7, 27 / 14, -4 / 7, 1 / 14])
    with pytest.raises(ValueError, match="ASPC order must be >= 0"):
        aspc_coefficients(-1)


def test_density_history_extrapolates_linear_motion_exactly():
    history = DensityHistory(mode="aspc", order=2)
    key = ("toy",)
    positions = np.zeros((2, 3))
    base, slope = np.eye(3), np.arange(9.0).reshape(3, 3)
    for t in range(5):
        history.push(key, positions + 0.01 * t, base + t * slope)
    guess = history.guess(key, positions + 0.05)
    assert np.allclose(guess, base + 5 * slope)
    # a jump far beyond an MD step, or another problem, clears the history
    assert history.guess(key, positions + 5.0) is None
    history.push(key, positions, base)
    assert history.guess(("other",), positions) is None


def test_extrapolation_saves_scf_cycles_without_changing_results(water_dimer):
    """Five Verlet steps with each guess: same energies, fewer cycles with ASPC."""
    cycles, energies = {}, {}
    for guess in ("none", "aspc"):
        atoms = water_dimer.copy()
        atoms.set_velocities(np.tile([[0.0, 0.0, 0.0], [0.05, 0.0, 0.0]], (3, 1)))
        atoms.calc = PySCFCalculator(basis="6-31g", guess=guess, conv_tol=1e-10)
        record_c, record_e = [], []

        def log(atoms=atoms, rc=record_c, re=record_e):
            rc.append(atoms.calc.results["scf_cycles"])
            re.append(atoms.get_potential_energy())

        dyn = VelocityVerlet(atoms, timestep=0.5 * fs)
        dyn.attach(log, interval=1)
        dyn.run(5)
        cycles[guess], energies[guess] = np.array(record_c), np.array(record_e)
    assert np.allclose(energies["aspc"], energies["none"], atol=1e-6)
    # after the history has filled, extrapolated guesses need clearly fewer cycles
    assert cycles["aspc"][3:].mean() < 0.75 * cycles["none"][3:].mean()


def test_units_are_ase_units(water_dimer):
    calc = PySCFCalculator(basis="sto-3g")
    water_dimer.calc = calc
    forces = water_dimer.get_forces()
    from pyscf import grad as _  # noqa: F401  (registers nuc_grad_method)

    g = calc.mf.nuc_grad_method()
    g.grid_response = True
    assert np.allclose(forces, -g.kernel() * Hartree / Bohr)
    assert water_dimer.get_potential_energy() == pytest.approx(calc.mf.e_tot * Hartree)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"basis": "no-such-basis"}, "unknown basis set 'no-such-basis'"),
        ({"xc": "pbxyz"}, "unknown exchange-correlation functional 'pbxyz'"),
        ({"spin": -1}, r"spin \(2S\) must be >= 0"),
        ({"charge": 0.5}, "charge must be an integer"),
        ({"guess": "psychic"}, "guess must be 'aspc', 'reuse' or 'none'"),
        ({"max_cyle": 10}, r"unknown PySCFCalculator option\(s\) \['max_cyle'\]"),
        ({"smearing": 0.0}, r"smearing must be None or a finite width > 0 \(eV\)"),
    ],
)
def test_bad_parameters_are_refused_at_construction(kwargs, match):
    with pytest.raises(CalculatorSetupError, match=match):
        PySCFCalculator(**kwargs)


def test_odd_electron_count_with_zero_spin_is_refused():
    oh = Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.97]])
    oh.calc = PySCFCalculator(basis="sto-3g")
    with pytest.raises(CalculatorSetupError, match="9 electrons cannot have spin"):
        oh.get_potential_energy()


def test_periodic_cell_is_refused():
    water = molecule("H2O", vacuum=3.0)
    water.pbc = True
    water.calc = PySCFCalculator(basis="sto-3g")
    with pytest.raises(CalculatorSetupError, match=r"finite \(non-periodic\) clusters"):
        water.get_potential_energy()


def test_overlapping_atoms_are_refused():
    atoms = Atoms("HH", positions=[[0, 0, 0], [0, 0, 0.1]])
    atoms.calc = PySCFCalculator(basis="sto-3g")
    with pytest.raises(CalculatorSetupError, match="overlapping atoms"):
        atoms.get_potential_energy()


def test_element_missing_from_basis_is_a_setup_error():
    atoms = Atoms("Au", positions=[[0, 0, 0]])
    atoms.calc = PySCFCalculator(basis="6-31g", spin=1)
    with pytest.raises(CalculatorSetupError, match="could not build the molecule"):
        atoms.get_potential_energy()
