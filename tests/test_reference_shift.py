"""Per-element energy shifts: a common zero for QM and ML (coupling.reference)."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.calculator import CalculatorSetupError
from ase.calculators.emt import EMT

from coupling import ReferenceShiftedCalculator, fit_reference_energies


def energy_forces(atoms, calc):
    work = atoms.copy()
    work.calc = calc
    return work.get_potential_energy(), work.get_forces()


def test_shift_adds_constants_and_leaves_forces_and_stress():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 1, 1)
    atoms.numbers[:3] = 79  # Au
    atoms.rattle(0.05, seed=1)
    calc = ReferenceShiftedCalculator(EMT(), {"Cu": -1.5, "Au": 0.25})
    e, f = energy_forces(atoms, calc)
    e0, f0 = energy_forces(atoms, EMT())
    assert e == pytest.approx(e0 + 5 * (-1.5) + 3 * 0.25, abs=1e-12)
    np.testing.assert_array_equal(f, f0)
    work = atoms.copy()
    work.calc = calc
    ref = atoms.copy()
    ref.calc = EMT()
    np.testing.assert_allclose(work.get_stress(), ref.get_stress(), atol=1e-14)
    assert calc.results["reference_shift"] == pytest.approx(-6.75)


def test_fit_recovers_known_shifts():
    """QM = EMT plus known constants per element, ML = EMT: the fit returns minus them."""
    truth = {"Cu": 3.0, "Au": -2.0}
    structures = []
    for n_au in range(4):
        a = bulk("Cu", "fcc", a=3.6, cubic=True)
        a.numbers[:n_au] = 79
        a.rattle(0.03, seed=n_au)
        structures.append(a)
    shifts, rms = fit_reference_energies(ReferenceShiftedCalculator(EMT(), truth), EMT(),
                                         structures)  # fmt: skip
    assert shifts == pytest.approx({"Cu": -3.0, "Au": 2.0}, abs=1e-9)
    assert rms < 1e-9


def test_fit_with_inseparable_elements_fixes_the_combination():
    """Water clusters: O:H is always 1:2, so only s_O + 2 s_H is determined (minimum norm)."""
    truth = {"O": 4.0, "H": -0.5}
    clusters = []
    for n in (1, 2, 3):
        atoms = Atoms()
        for k in range(n):
            w = molecule("H2O")
            w.translate([3.0 * k, 0.0, 0.0])
            atoms += w
        clusters.append(atoms)
    shifts, rms = fit_reference_energies(ReferenceShiftedCalculator(EMT(), truth), EMT(),
                                         clusters)  # fmt: skip
    assert shifts["O"] + 2 * shifts["H"] == pytest.approx(-(4.0 - 1.0), abs=1e-9)
    assert rms < 1e-9


def test_errors():
    with pytest.raises(CalculatorSetupError, match="shifts must be a non-empty mapping"):
        ReferenceShiftedCalculator(EMT(), {})
    with pytest.raises(CalculatorSetupError, match=r"shifts\['Cu'\] must be a number"):
        ReferenceShiftedCalculator(EMT(), {"Cu": "a lot"})
    with pytest.raises(CalculatorSetupError, match="calc must be an ASE calculator"):
        ReferenceShiftedCalculator("emt", {"Cu": 1.0})
    calc = ReferenceShiftedCalculator(EMT(), {"Cu": 1.0})
    with pytest.raises(CalculatorSetupError, match=r"no reference shift for element\(s\) \['Au'\]"):
        energy_forces(bulk("Au"), calc)
    with pytest.raises(ValueError, match=r"at least two ase\.Atoms"):
        fit_reference_energies(EMT(), EMT(), [bulk("Cu")])
    with pytest.raises(ValueError, match=r"must be a list of ase\.Atoms"):
        fit_reference_energies(EMT(), EMT(), bulk("Cu"))
