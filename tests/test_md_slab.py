"""The slab of an interface: atoms that leave its layers, and a slab held rigid (md.fix_metal)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.build import fcc111
from ase.calculators.emt import EMT
from ase.io import read

from multiscale.md import MDRunner, MDSettings
from multiscale.md.slab import fix_slab, loose_metal_atoms, slab_indices


def cu_slab():
    """Cu(111) 2x2x4 with vacuum; the two bottom layers tagged 1 (the part held fixed)."""
    atoms = fcc111("Cu", (2, 2, 4), vacuum=6.0)
    layer = atoms.get_tags()  # ase.build numbers the layers 1 (top) .. 4 (bottom)
    atoms.set_tags(np.where(layer >= 3, 1, 0))
    atoms.calc = EMT()
    return atoms


def test_fixed_slab_atoms_never_move_and_the_thermostat_counts_the_free_ones(tmp_path):
    atoms = cu_slab()
    fixed = slab_indices(atoms)
    assert fix_slab(atoms) == fixed.size == 8
    assert atoms.get_number_of_degrees_of_freedom() == 3 * (len(atoms) - 8)
    start = atoms.positions.copy()
    s = MDSettings(
        timestep_fs=4.0, ensemble="bussi", temperature_K=600.0, seed=1,
        initial_temperature_K=600.0, traj_interval=5, checkpoint_interval=50, fix_com=False,
    )  # fmt: skip
    MDRunner(atoms, tmp_path, s, progress=False, integrity=None).run(200)
    frames = read(tmp_path / "trajectory.traj", ":")
    assert len(frames) > 30
    for a in frames:  # the fixed atoms sit exactly where they started, the others move
        np.testing.assert_array_equal(a.positions[fixed], start[fixed])
        assert np.all(a.get_momenta()[fixed] == 0.0)
    free = np.setdiff1d(np.arange(len(atoms)), fixed)
    assert np.abs(frames[-1].positions[free] - start[free]).max() > 0.01
    # thermo.dat's temperature is the free atoms' kinetic energy over their own degrees of freedom
    thermo = np.loadtxt(tmp_path / "thermo.dat", ndmin=2)
    last = frames[-1]
    ekin = 0.5 * np.sum(last.get_momenta() ** 2 / last.get_masses()[:, None])
    assert thermo[-1, 4] == pytest.approx(2 * ekin / (3 * free.size * units.kB), rel=1e-6)


def test_fixed_atoms_with_a_centre_of_mass_constraint_are_refused(tmp_path):
    atoms = cu_slab()
    fix_slab(atoms)
    s = MDSettings(timestep_fs=2.0, ensemble="nve", initial_temperature_K=300.0)
    with pytest.raises(ValueError, match=r"FixAtoms.*fix_com is True.*fix_com=False"):
        MDRunner(atoms, tmp_path, s, progress=False, integrity=None)


def test_a_slab_without_tags_cannot_be_fixed():
    atoms = cu_slab()
    atoms.set_tags(0)
    with pytest.raises(ValueError, match=r"no atom is tagged 1: .*multiscale\.md\.builders"):
        fix_slab(atoms)


def test_an_atom_lifted_out_of_the_top_layer_is_loose_at_its_height():
    atoms = cu_slab()
    atoms.set_tags(1)
    metal = slab_indices(atoms)
    assert loose_metal_atoms(atoms, metal) == []
    top = int(np.argmax(atoms.positions[:, 2]))
    atoms.positions[top, 2] += 2.0
    [(i, d)] = loose_metal_atoms(atoms, metal)
    assert i == top and d == pytest.approx(2.0, abs=1e-9)
    assert loose_metal_atoms(atoms, np.array([], int)) == []
