"""Carve a non-periodic cluster of whole molecules/ions around one atom.

Written here because coupling.Regions (which will own cluster carving) did not exist yet; it
should replace this function once it does.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list

#: Bonds: non-metal pairs within this factor times the sum of covalent radii (as the MD
#: integrity monitor's ``bond_factor``).
BOND_FACTOR = 1.2


def molecule_labels(atoms: Atoms) -> np.ndarray:
    """Molecule index of every atom: connected components of the non-metal bond graph.

    Non-metal pairs (:data:`multiscale.md.integrity.NONMETALS`) within :data:`BOND_FACTOR` x
    the sum of ASE's covalent radii are bonded (minimum image under periodic boundaries); metal
    atoms and alkali/alkaline-earth ions are single-atom "molecules".
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from multiscale.md.integrity import NONMETALS

    n = len(atoms)
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=BOND_FACTOR))
    nonmetal = np.isin(atoms.get_chemical_symbols(), list(NONMETALS))
    bonded = nonmetal[i] & nonmetal[j]
    i, j = i[bonded], j[bonded]
    _, mol = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)))
    return mol


def carve_cluster(atoms: Atoms, center: int, radius: float) -> tuple[Atoms, np.ndarray]:
    """Return the whole molecules with any atom within ``radius`` of atom ``center``.

    Molecules are the connected components of the bond graph of
    :class:`multiscale.md.IntegrityMonitor`: non-metal pairs (H, O, Cl, ...) within 1.2 x the
    sum of ASE's covalent radii (O-H up to 1.16 Å, so thermally stretched waters stay whole);
    metals, the slab and alkali ions take part in no bond, so Na⁺ and Cl⁻ stay single atoms
    and a metal surface is carved atom by atom. Under periodic boundary conditions the atoms are
    unwrapped to the minimum image of ``center``, and the cluster is returned non-periodic.

    Parameters
    ----------
    atoms : ase.Atoms
        The configuration (positions in Å).
    center : int
        Index of the central atom.
    radius : float
        Selection radius in Å (minimum-image distance from ``center``).

    Returns
    -------
    cluster : ase.Atoms
        The carved cluster, ``pbc=False``, centred on ``center`` in a zero cell.
    indices : numpy.ndarray
        Indices into ``atoms`` of the cluster atoms, in the cluster's order.
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}.")
    if isinstance(center, bool) or not isinstance(center, (int, np.integer)):
        raise TypeError(f"center must be an integer atom index, got {center!r}.")
    if not 0 <= center < len(atoms):
        raise ValueError(f"center={center} is not an atom index of a {len(atoms)}-atom system.")
    if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)):
        raise TypeError(f"radius must be a number (Å), got {radius!r}.")
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius must be positive and finite (Å), got {radius}.")
    center = int(center)
    n = len(atoms)
    mol = molecule_labels(atoms)
    d = atoms.get_distances(center, range(n), mic=True, vector=True)
    near = np.linalg.norm(d, axis=1) <= radius
    indices = np.flatnonzero(np.isin(mol, np.unique(mol[near])))
    pos = atoms.positions[center] + d[indices]
    # keep molecules whole: unwrap each atom to its minimum image relative to its molecule's
    # atom nearest to the centre
    for m in np.unique(mol[indices]):
        sel = indices[mol[indices] == m]
        anchor = sel[np.argmin(np.linalg.norm(d[sel], axis=1))]
        rel = atoms.get_distances(anchor, sel, mic=True, vector=True)
        pos[np.isin(indices, sel)] = atoms.positions[center] + d[anchor] + rel
    cluster = Atoms(atoms.numbers[indices], positions=pos, pbc=False)
    return cluster, indices
