"""ForceContinuityMonitor: per-step diagnostics of force-mixing MD, and its warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.lj import LennardJones
from ase.calculators.tip3p import TIP3P
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from coupling import ForceContinuityMonitor, ForceMixingCalculator, Regions


def mixing(switching: str) -> ForceMixingCalculator:
    regions = Regions([0, 1, 2], r_core=2.2, r_switch=1.5, r_buffer=6.0)
    ml = LennardJones(sigma=1.0, epsilon=0.02, rc=6.0, smooth=True)
    return ForceMixingCalculator(TIP3P(rc=9.0), ml, regions, switching=switching)


def crossing_pair(atoms: Atoms, calc: ForceMixingCalculator) -> tuple[Atoms, Atoms]:
    """Two configurations 0.01 Å apart on either side of w = 1/2 of the dragged water."""
    before = atoms.copy()
    before.calc = calc
    lo, hi = 0.0, 2.5
    for _ in range(40):  # bisection on the drag distance for the weight 1/2
        mid = 0.5 * (lo + hi)
        before.positions = atoms.positions
        before.positions[6:9, 1] += mid
        before.get_forces()
        lo, hi = (mid, hi) if calc.results["weights"][6] > 0.5 else (lo, mid)
    before.positions = atoms.positions
    before.positions[6:9, 1] += lo - 0.005
    return before, 0.01


@pytest.mark.parametrize(("switching", "warns"), [("quintic", False), ("step", True)])
def test_monitor_warns_on_an_abrupt_switch_only(tmp_path, switching, warns, three_waters):
    atoms = three_waters.copy()
    calc = mixing(switching)
    moving, dy = crossing_pair(atoms, calc)
    monitor = ForceContinuityMonitor(moving, tmp_path / "mon.csv", max_stiffness=20.0)
    moving.get_forces()
    monitor()
    moving.positions[6:9, 1] += dy
    moving.get_forces()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        row = monitor()
    assert row["max_dr"] == pytest.approx(dy)
    if warns:
        assert any(issubclass(c.category, RuntimeWarning) for c in caught)
        assert row["max_jump_shell"] > 20.0 * dy  # the weight of the water fell 1 -> 0
    else:
        assert not caught
        assert row["max_jump_shell"] < 20.0 * dy
    assert monitor.n_warnings == int(warns)


def test_monitor_logs_every_md_step_and_survives_reopening(tmp_path, three_waters):
    atoms = three_waters.copy()
    atoms.calc = mixing("quintic")
    rng = np.random.default_rng(1)
    thermalize_momenta(atoms, temperature_K=300, rng=rng)
    Stationary(atoms)
    dyn = Langevin(
        atoms, 0.5 * units.fs, temperature_K=300, friction=0.01 / units.fs, fixcm=False, rng=rng
    )
    path = tmp_path / "monitor.csv"
    monitor = ForceContinuityMonitor(atoms, path)
    dyn.attach(monitor, interval=1)
    dyn.run(6)
    data = monitor.read()
    assert len(data["step"]) == monitor.n_calls == 7  # the initial call and 6 steps
    np.testing.assert_array_equal(data["cluster_size"], 9)
    assert np.all(data["net_force"] < 1e-10)  # momentum correction, isolated system
    assert np.all(data["max_dr"][1:] > 0) and np.all(data["max_dr"] < 0.1)
    # appending to an existing log keeps the header once
    again = ForceContinuityMonitor(atoms, path)
    again()
    assert len(again.read()["step"]) == 8
    fig = again.plot(tmp_path / "monitor.png")
    assert (tmp_path / "monitor.png").stat().st_size > 0
    assert len(fig.axes) == 3


def test_monitor_needs_a_force_mixing_calculator(tmp_path, three_waters):
    atoms = three_waters.copy()
    atoms.calc = TIP3P()
    atoms.get_forces()
    monitor = ForceContinuityMonitor(atoms, tmp_path / "m.csv")
    with pytest.raises(ValueError, match="needs a ForceMixingCalculator"):
        monitor()
    with pytest.raises(ValueError, match="max_stiffness must be > 0"):
        ForceContinuityMonitor(atoms, tmp_path / "n.csv", max_stiffness=0.0)
