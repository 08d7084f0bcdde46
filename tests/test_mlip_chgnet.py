"""CHGNet adapter: loads offline from the wheel; forces are gradients of its energy."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import CalculatorSetupError

from multiscale.mlip.chgnet_adapter import chgnet_calculator


def test_chgnet_forces_are_energy_gradients():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=1)
    calc = chgnet_calculator()
    atoms.calc = calc
    f = atoms.get_forces()
    assert np.abs(f).max() > 1e-2  # rattled: forces are not zero
    h = 1e-2
    for i, k in [(0, 0), (3, 2)]:
        e = []
        for s in (h, -h):
            b = atoms.copy()
            b.positions[i, k] += s
            b.calc = calc
            e.append(b.get_potential_energy())
        # CHGNet runs in float32: compare to a few meV/Å
        assert f[i, k] == pytest.approx(-(e[0] - e[1]) / (2 * h), abs=5e-3)


def test_chgnet_rejects_unshipped_model():
    with pytest.raises(CalculatorSetupError, match="does not ship"):
        chgnet_calculator("9.9.9")
