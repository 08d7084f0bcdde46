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
