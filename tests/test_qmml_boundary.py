"""coupling.boundary: core by coordination, shell occupancy and crossings, force mismatch."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from coupling.boundary import (
    ShellCrossingCounter,
    boundary_force_mismatch,
    coordination_core,
    molecule_weights,
)


def octahedral_na(distance: float = 2.4, outer: float = 4.6, periodic: bool = False) -> Atoms:
    """Na+ with six waters (O at ``distance``) on the octahedron axes and two outer waters."""
    atoms = Atoms("Na", positions=[[0.0, 0.0, 0.0]])
    axes = np.vstack([np.eye(3), -np.eye(3)])
    for r, dirs in ((distance, axes), (outer, np.array([[1, 1, 1], [-1, -1, 1]]) / 3**0.5)):
        for u in dirs:
            w = molecule("H2O")  # Hs towards -z: rotated to point away from Na+
            w.rotate([0, 0, 1], -np.asarray(u, float), center=(0, 0, 0))
            w.translate(-w.positions[0] + r * np.asarray(u, float))
            atoms += w
    atoms.center(vacuum=6.0)
    atoms.pbc = periodic
    return atoms


@pytest.mark.parametrize("periodic", [False, True])
def test_coordination_core_is_the_ion_and_its_six_first_shell_waters(periodic):
    atoms = octahedral_na(periodic=periodic)
    if periodic:  # the ion 1 Å from a cell face: the shell straddles the boundary
        atoms.translate([1.0 - atoms.positions[0, 0], 0, 0])
        atoms.wrap()
        assert np.ptp(atoms.positions[:19, 0]) > 10.0
    core, ligands = coordination_core(atoms, 0, cutoff=3.1)
    assert len(ligands) == 6
    assert core[0] == 0 and len(core) == 1 + 6 * 3
    assert set(core) == {0, *range(1, 19)}  # the two outer waters (atoms 19-24) are not in it
    # a wider cutoff takes the outer waters too, a narrow one none
    assert len(coordination_core(atoms, 0, cutoff=5.0)[1]) == 8
    assert coordination_core(atoms, 0, cutoff=2.0) == ([0], [])


def test_coordination_core_refuses_bad_input():
    atoms = octahedral_na()
    with pytest.raises(ValueError, match="ion must be an atom index"):
        coordination_core(atoms, 99)
    with pytest.raises(ValueError, match="cutoff must be a positive distance"):
        coordination_core(atoms, 0, cutoff=-1.0)


def test_counter_on_a_synthetic_trajectory():
    """Molecule 1 crosses inwards and out again, 2 sits in the shell, 3 jumps across it."""
    w1 = [0.0, 0.2, 0.6, 1.0, 1.0, 0.7, 0.4, 0.0]
    w2 = [0.3] * 8
    w3 = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    counter = ShellCrossingCounter(timestep_fs=2.0)
    occ = [counter.update({1: a, 2: b, 3: c}) for a, b, c in zip(w1, w2, w3, strict=True)]
    assert occ == [1, 2, 2, 1, 1, 2, 2, 1]
    s = counter.summary()
    # molecule 1: enter (step 1), half (2), leave (3), enter (5), half (6), leave (7)
    # molecule 3: enter + leave + half at step 4
    assert (s["entries"], s["exits"], s["half_crossings"]) == (3, 3, 3)
    assert s["crossings"] == 9
    assert s["duration_ps"] == pytest.approx(0.014)
    assert s["crossings_per_ps"] == pytest.approx(9 / 0.014)
    assert s["mean_occupancy"] == pytest.approx(1.5) and s["min_occupancy"] == 1
    assert next(e for e in counter.events if e[1] == 1) == (1, 1, "enter")
    with pytest.raises(ValueError, match="timestep_fs must be a positive time"):
        ShellCrossingCounter(timestep_fs=0.0)


def test_molecule_weights_and_force_mismatch_on_shell_atoms():
    w = np.array([1.0, 0.5, 0.5, 0.5, 0.0, 0.0])
    assert molecule_weights(w, np.array([0, 1, 1, 1, 2, 2])) == {0: 1.0, 1: 0.5, 2: 0.0}
    qm = np.zeros((6, 3))
    ml = np.zeros((6, 3))
    ml[1:4, 0] = [3.0, 4.0, 0.0]  # shell atoms 1..3
    ml[0, 0] = ml[5, 0] = 100.0  # outside the shell: ignored
    rms, n = boundary_force_mismatch(w, qm, ml)
    assert n == 3 and rms == pytest.approx(np.sqrt(25 / 3))
    assert np.isnan(boundary_force_mismatch(np.zeros(6), qm, ml)[0])
