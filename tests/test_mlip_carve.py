"""Cluster carving keeps whole molecules and respects the minimum image."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from multiscale.mlip.carve import carve_cluster


def _box():
    atoms = Atoms(cell=[10, 10, 10], pbc=True)
    for shift in ([1.0, 5, 5], [9.3, 5, 5], [5, 5, 5]):
        w = molecule("H2O")
        w.positions += shift
        atoms += w
    atoms += Atoms("Na", positions=[[1.0, 2.2, 5]])
    atoms.wrap()
    return atoms


def test_whole_molecules_across_boundary():
    atoms = _box()
    cluster, idx = carve_cluster(atoms, center=0, radius=3.0)
    # water 0, the water across the x boundary (1.7 Å away) and the Na ion; not the middle one
    assert sorted(idx.tolist()) == [0, 1, 2, 3, 4, 5, 9]
    assert not cluster.pbc.any()
    # O-H bonds intact after unwrapping (no 10 Å jumps)
    for o in (0, 3):
        k = list(idx).index(o)
        for h in (k + 1, k + 2):
            assert np.linalg.norm(cluster.positions[h] - cluster.positions[k]) < 1.1


def test_carve_errors():
    with pytest.raises(ValueError, match="radius must be positive"):
        carve_cluster(_box(), 0, -1.0)
    with pytest.raises(ValueError, match="not an atom index"):
        carve_cluster(_box(), 99, 3.0)


def test_stretched_water_stays_whole_and_ions_stay_single():
    """A thermally stretched O-H (1.10 Å > the 0.97 Å sum of covalent radii) keeps its H; a Na⁺
    2.2 Å from a water O (< the 2.32 Å sum of radii) and a Cu surface atom are no bond partners,
    so carving around another water brings neither the ion's shell nor a metal slab along."""
    from multiscale.mlip.carve import molecule_labels

    w = molecule("H2O")
    oh = w.positions[1] - w.positions[0]
    w.positions[1] = w.positions[0] + 1.10 * oh / np.linalg.norm(oh)
    atoms = w.copy()
    atoms += Atoms("Na", positions=[w.positions[0] + [0.0, 0.0, 2.2]])
    far = molecule("H2O")
    far.positions += [6.0, 0.0, 0.0]
    atoms += far
    atoms += Atoms("Cu2", positions=[[6.0, 0.0, -2.2], [8.5, 0.0, -2.2]])
    mol = molecule_labels(atoms)
    assert mol[0] == mol[1] == mol[2]  # the stretched water is one molecule
    assert len({mol[3], mol[0]}) == 2  # Na is its own "molecule"
    assert len({mol[7], mol[8], mol[4]}) == 3  # each Cu atom alone
    _, idx = carve_cluster(atoms, center=4, radius=2.5)  # O of the far water + one Cu
    assert sorted(idx.tolist()) == [4, 5, 6, 7]
