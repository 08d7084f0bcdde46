"""The metal slab of an interface: its layers, atoms that leave them, and holding it rigid.

Builders (:mod:`.builders`) tag every slab atom 1. An MLIP can let a slab atom leave its layer
(an adatom, or dissolution: a Cu atom carried off by an adsorbed Cl⁻) where the chemistry it was
trained on would not; :func:`loose_metal_atoms` finds such an atom from the layer structure
alone, and :func:`fix_slab` holds the slab rigid (a fixed electrode, the usual choice when the
metal's own chemistry is not the subject, e.g. for transport in the electrolyte).

Written by hand: ASE has no test for atoms that left a slab's layers.

Units: Å.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

__all__ = ["LAYER_GAP_A", "SLAB_TAG", "fix_slab", "loose_metal_atoms", "slab_indices"]

#: tag of slab atoms (set by every builder of :mod:`.builders`)
SLAB_TAG = 1
#: a gap in the slab's z values wider than this (Å) separates two groups of metal atoms: layers
#: of an fcc(111) or bcc(110) slab are ~2 Å apart, their atoms within ~0.5 Å of each other
LAYER_GAP_A = 1.0


def slab_indices(atoms: Atoms, tag: int = SLAB_TAG) -> np.ndarray:
    """Indices of the atoms tagged ``tag`` (the builders' slab)."""
    return np.flatnonzero(atoms.get_tags() == tag)


def loose_metal_atoms(atoms: Atoms, metal: np.ndarray) -> list[tuple[int, float]]:
    """Metal atoms outside the slab's layers: (index, distance in Å from the nearest full
    layer's mean plane) of each atom in a group (atoms closer than :data:`LAYER_GAP_A` in z)
    holding fewer than half a layer's atoms (the largest group's): an adatom, or an atom
    leaving the metal (dissolution).

    Not for a slab with half-filled or stepped layers: every group there counts as a layer
    only with at least half the atoms of the fullest one.
    """
    metal = np.asarray(metal, dtype=int)
    if metal.size == 0:
        return []
    z = atoms.positions[metal, 2]
    order = np.argsort(z)
    groups = np.split(order, np.flatnonzero(np.diff(z[order]) > LAYER_GAP_A) + 1)
    full = max(len(g) for g in groups)
    planes = np.array([float(z[g].mean()) for g in groups if 2 * len(g) >= full])
    lz = atoms.cell[2, 2] if atoms.pbc[2] else np.inf

    def dist(zi: float) -> float:  # to the nearest layer plane, periodic images included
        d = zi - planes
        if np.isfinite(lz):
            d = (d + 0.5 * lz) % lz - 0.5 * lz
        return float(np.min(np.abs(d)))

    return [(int(metal[i]), dist(z[i])) for g in groups if 2 * len(g) < full for i in g]


def fix_slab(atoms: Atoms, tag: int = SLAB_TAG) -> int:
    """Hold every slab atom (tag ``tag``) at its current position: add an
    :class:`ase.constraints.FixAtoms` to the atoms' constraints (a rigid electrode).

    ASE's thermostats and ``Atoms.get_temperature`` count the degrees of freedom left; do not
    combine it with :class:`ase.constraints.FixCom` (the fixed slab already holds the system:
    ``MDSettings(fix_com=False)``).

    Returns
    -------
    int
        The number of atoms fixed.

    Raises
    ------
    ValueError
        No atom carries the tag (build the interface with :mod:`multiscale.md.builders`, or
        tag the slab yourself).
    """
    idx = slab_indices(atoms, tag)
    if idx.size == 0:
        raise ValueError(
            f"no atom is tagged {tag}: the slab to hold fixed is unknown; build the interface "
            "with multiscale.md.builders (which tag the slab 1) or set the slab's tags"
        )
    atoms.set_constraint([*atoms.constraints, FixAtoms(indices=idx)])
    return int(idx.size)
