"""Point charges of fixed-charge water models and ions, per frame, with TIP4P-type M sites.

A molecular-dynamics trajectory from an MLIP carries no charges. To compute a charge
density, a potential or a polarization from it, each atom (and, for four-site models, each
water's virtual M site) is given the charge of a named, published fixed-charge model:

=============  ========  ========  =========  ==========  ===============================
model          q_O (e)   q_H (e)   q_M (e)    d_OM (Å)    reference
=============  ========  ========  =========  ==========  ===============================
SPC            −0.82     +0.41     –          –           Berendsen et al., in
                                                          *Intermolecular Forces* (1981)
SPC/E          −0.8476   +0.4238   –          –           Berendsen, Grigera & Straatsma,
                                                          J. Phys. Chem. 91, 6269 (1987)
TIP3P          −0.834    +0.417    –          –           Jorgensen et al., J. Chem.
                                                          Phys. 79, 926 (1983)
TIP4P/2005     0         +0.5564   −1.1128    0.1546      Abascal & Vega, J. Chem. Phys.
                                                          123, 234505 (2005)
=============  ========  ========  =========  ==========  ===============================

The M site lies on the H–O–H bisector at d_OM from O (towards the hydrogens). The charges
are applied to the *MLIP's* geometry, which is not the model's rigid geometry: the dipole
of each molecule follows the sampled O–H lengths and angle (a model assumption, stated in
what the analyses report).

Water molecules are identified in every frame: each O takes its two nearest H under the
minimum-image convention, and every H must be claimed exactly once, within ``oh_cutoff``.
Sites of a molecule are returned whole (H and M next to their O, not wrapped apart), so
molecular dipoles are correct across periodic boundaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase.geometry import find_mic, get_distances

from .base import is_real

__all__ = [
    "WATER_MODELS",
    "WATER_MODEL_INFO",
    "BrokenWaterError",
    "ChargeSites",
    "WaterModel",
    "charge_sites",
    "find_water_molecules",
    "m_site_positions",
]


@dataclass(frozen=True)
class WaterModel:
    """A rigid fixed-charge water model.

    Attributes
    ----------
    name : str
        Its usual name, e.g. ``"TIP4P/2005"``.
    q_o, q_h : float
        Charges on O and on each H (e).
    q_m : float
        Charge on the virtual M site (e); 0 for three-site models.
    d_om : float
        O–M distance along the H–O–H bisector (Å); 0 for three-site models.
    reference : str
        The paper that defines the model.
    """

    name: str
    q_o: float
    q_h: float
    q_m: float = 0.0
    d_om: float = 0.0
    reference: str = ""

    @property
    def has_m_site(self) -> bool:
        """True for four-site (TIP4P-type) models."""
        return self.d_om > 0.0


WATER_MODEL_INFO: dict[str, WaterModel] = {
    m.name: m
    for m in (
        WaterModel(
            "SPC/E",
            -0.8476,
            0.4238,
            reference="H. J. C. Berendsen, J. R. Grigera, T. P. Straatsma, J. Phys. Chem. 91, "
            "6269 (1987)",
        ),
        WaterModel(
            "SPC",
            -0.82,
            0.41,
            reference="H. J. C. Berendsen, J. P. M. Postma, W. F. van Gunsteren, J. Hermans, "
            "in Intermolecular Forces, ed. B. Pullman (Reidel, 1981), p. 331",
        ),
        WaterModel(
            "TIP3P",
            -0.834,
            0.417,
            reference="W. L. Jorgensen, J. Chandrasekhar, J. D. Madura, R. W. Impey, "
            "M. L. Klein, J. Chem. Phys. 79, 926 (1983)",
        ),
        WaterModel(
            "TIP4P/2005",
            0.0,
            0.5564,
            q_m=-1.1128,
            d_om=0.1546,
            reference="J. L. F. Abascal, C. Vega, J. Chem. Phys. 123, 234505 (2005)",
        ),
    )
}

#: charges (e) by site name ("O", "H" and, for four-site models, "M") of each water model
WATER_MODELS: dict[str, dict[str, float]] = {
    name: {"O": m.q_o, "H": m.q_h, **({"M": m.q_m} if m.has_m_site else {})}
    for name, m in WATER_MODEL_INFO.items()
}


def get_water_model(name: Any) -> WaterModel:
    """Return the :class:`WaterModel` called ``name``; ValueError naming the known ones."""
    if not isinstance(name, str) or name not in WATER_MODEL_INFO:
        raise ValueError(f"unknown water model: water_model={name!r}; have {list(WATER_MODELS)}")
    return WATER_MODEL_INFO[name]


class BrokenWaterError(ValueError):
    """A frame whose O and H cannot all be assigned to intact water molecules (a dissociated
    water, a shared or transferred proton, or O and H not in a 1:2 ratio): a fixed-charge
    water model cannot describe it. Analyses that may skip such frames catch this type."""


def find_water_molecules(atoms: Any, oh_cutoff: float = 1.3) -> np.ndarray:
    """Indices ``[O, H1, H2]`` of every water molecule in a frame.

    Each O takes its two nearest H under the minimum-image convention.

    Parameters
    ----------
    atoms : ase.Atoms
        The frame; every O and every H must belong to a water molecule.
    oh_cutoff : float
        Largest O–H distance (Å) accepted inside a molecule.

    Returns
    -------
    ndarray of int, shape (n_water, 3)

    Raises
    ------
    BrokenWaterError
        (a ValueError) An O without two H within ``oh_cutoff``, or an H claimed by two O or
        by none
        (the message names the atoms: a dissociated or reactive water, which a
        fixed-charge model cannot describe).
    """
    if not (is_real(oh_cutoff) and np.isfinite(oh_cutoff) and oh_cutoff > 0):
        raise ValueError(f"oh_cutoff must be a finite number > 0 Å, got {oh_cutoff!r}")
    sym = np.asarray(atoms.get_chemical_symbols())
    io, ih = np.flatnonzero(sym == "O"), np.flatnonzero(sym == "H")
    if io.size == 0 and ih.size == 0:
        return np.zeros((0, 3), dtype=int)
    if ih.size != 2 * io.size:
        raise BrokenWaterError(
            f"{io.size} O and {ih.size} H are not water (H2O): a fixed-charge water model "
            "needs every O and H in a water molecule; give other species their charges "
            "per atom instead"
        )
    near, dist = _two_nearest(atoms, io, ih)
    far = np.flatnonzero(dist[:, 1] > oh_cutoff)
    if far.size:
        k = int(far[0])
        raise BrokenWaterError(
            f"O atom {io[k]} has no two H within oh_cutoff={oh_cutoff} Å (nearest at "
            f"{np.round(dist[k], 3).tolist()} Å): the water is dissociated; a fixed-charge "
            "model cannot describe it (analyse frames before it, or raise oh_cutoff)"
        )
    counts = np.bincount(near.ravel(), minlength=ih.size)
    if np.any(counts != 1):
        h = int(np.flatnonzero(counts != 1)[0])
        raise BrokenWaterError(
            f"H atom {ih[h]} belongs to {counts[h]} water molecules (nearest-H assignment "
            "is ambiguous): a proton is being shared or transferred"
        )
    return np.c_[io, ih[near]]


def _two_nearest(atoms: Any, io: np.ndarray, ih: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each O, its two nearest H (indices into ``ih``) and their distances (Å).

    Minimum image by rounding fractional differences, which is exact for distances below
    half the shortest cell height (bonded O–H pairs); done in chunks of O to bound memory.
    """
    pos = atoms.positions
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = np.asarray(atoms.cell)
    if not pbc.any() or io.size == 0:
        _, d = get_distances(pos[io], pos[ih])
        near = np.argsort(d, axis=1)[:, :2]
        return near, np.take_along_axis(d, near, axis=1)
    if np.any(pbc & (np.abs(np.linalg.det(cell)) < 1e-12)):
        raise ValueError("a periodic frame needs a cell with non-zero volume to find molecules")
    if pbc.all() and np.allclose(cell, np.diag(np.diag(cell))) and np.all(np.diag(cell) > 0):
        from scipy.spatial import cKDTree

        box = np.diag(cell).copy()
        tree = cKDTree(np.mod(pos[ih], box) % box, boxsize=box)
        dist, near = tree.query(np.mod(pos[io], box) % box, k=2)
        return near, dist
    inv = np.linalg.inv(cell)
    fo, fh = pos[io] @ inv, pos[ih] @ inv
    near = np.empty((io.size, 2), dtype=int)
    dist = np.empty((io.size, 2))
    chunk = max(1, 2_000_000 // max(ih.size, 1))
    for a in range(0, io.size, chunk):
        df = fh[None, :, :] - fo[a : a + chunk, None, :]
        df[..., pbc] -= np.round(df[..., pbc])
        d2 = np.einsum("ijk,ijk->ij", df @ cell, df @ cell)
        k = np.argpartition(d2, 1, axis=1)[:, :2]
        dk = np.take_along_axis(d2, k, axis=1)
        order = np.argsort(dk, axis=1)
        near[a : a + chunk] = np.take_along_axis(k, order, axis=1)
        dist[a : a + chunk] = np.sqrt(np.take_along_axis(dk, order, axis=1))
    return near, dist


def m_site_positions(o: np.ndarray, h1: np.ndarray, h2: np.ndarray, d_om: float) -> np.ndarray:
    """Positions of TIP4P-type M sites on the H–O–H bisector.

    Parameters
    ----------
    o, h1, h2 : ndarray, shape (n, 3)
        Positions (Å) of O and its two H, already whole (no periodic jump between them).
    d_om : float
        O–M distance (Å), towards the hydrogens.

    Returns
    -------
    ndarray, shape (n, 3)
        M positions (Å).
    """
    b = (h1 - o) + (h2 - o)
    return o + d_om * b / np.linalg.norm(b, axis=-1, keepdims=True)


@dataclass
class ChargeSites:
    """Charge sites of one frame.

    Attributes
    ----------
    positions : ndarray, shape (n_sites, 3)
        Site positions (Å); the sites of a molecule are whole around its first atom.
    charges : ndarray, shape (n_sites,)
        Charges (e).
    molecule : ndarray of int, shape (n_sites,)
        Molecule index of each site (each non-water atom is its own molecule).
    is_water : ndarray of bool, shape (n_sites,)
        True for water sites (O, H, M).
    atom : ndarray of int, shape (n_sites,)
        Index of the atom of each site; −1 for M sites.
    """

    positions: np.ndarray
    charges: np.ndarray
    molecule: np.ndarray
    is_water: np.ndarray
    atom: np.ndarray


def charge_sites(
    atoms: Any,
    ion_charges: Mapping[str, float],
    water_model: str | None = None,
    oh_cutoff: float = 1.3,
) -> ChargeSites:
    """Point charges of one frame: ions from a table, water from a named model.

    Parameters
    ----------
    atoms : ase.Atoms
        The frame.
    ion_charges : mapping of str to float
        Charge (e) of every element that is not water O or H, e.g. ``{"Na": 1, "Cl": -1,
        "Cu": 0}`` (metal atoms carry no fixed charge: their induced charge is placed by the
        conductor model of :mod:`multiscale.extract.electrostatics`).
    water_model : str, optional
        A model of :data:`WATER_MODELS`; without one, O and H must be in ``ion_charges``.
    oh_cutoff : float
        Largest O–H distance (Å) within a molecule.

    Returns
    -------
    ChargeSites
    """
    if not isinstance(ion_charges, Mapping):
        raise TypeError(f"ion_charges must be a mapping symbol -> charge (e), got {ion_charges!r}")
    bad = {k: v for k, v in ion_charges.items() if not (is_real(v) and np.isfinite(v))}
    if bad:
        raise ValueError(f"ion_charges must be finite numbers (e), got {bad}")
    sym = np.asarray(atoms.get_chemical_symbols())
    n = len(atoms)
    model = None if water_model is None else get_water_model(water_model)
    if model is not None:
        twice = sorted({"O", "H"} & set(ion_charges))
        if twice:
            raise ValueError(f"{twice[0]} charge given twice (ion_charges and water_model)")
    table = dict(ion_charges)
    if model is not None:
        table.update(O=model.q_o, H=model.q_h)
    missing = sorted(set(sym.tolist()) - set(table))
    if missing:
        raise ValueError(f"no charge given for elements {missing}: add them (0 for neutral)")
    pos = atoms.positions.copy()
    q = np.array([float(table[s]) for s in sym])
    molecule = np.arange(n)
    is_water = np.zeros(n, dtype=bool)
    if model is None:
        return ChargeSites(pos, q, molecule, is_water, np.arange(n))
    w = find_water_molecules(atoms, oh_cutoff)
    for j in (1, 2):  # make each molecule whole around its O
        vec, _ = find_mic(pos[w[:, j]] - pos[w[:, 0]], atoms.cell, atoms.pbc)
        pos[w[:, j]] = pos[w[:, 0]] + vec
    molecule[w[:, 1]] = w[:, 0]
    molecule[w[:, 2]] = w[:, 0]
    is_water[w.ravel()] = True
    atom = np.arange(n)
    if model.has_m_site:
        m = m_site_positions(pos[w[:, 0]], pos[w[:, 1]], pos[w[:, 2]], model.d_om)
        pos = np.vstack([pos, m])
        q = np.r_[q, np.full(len(w), model.q_m)]
        molecule = np.r_[molecule, w[:, 0]]
        is_water = np.r_[is_water, np.ones(len(w), dtype=bool)]
        atom = np.r_[atom, np.full(len(w), -1)]
    return ChargeSites(pos, q, molecule, is_water, atom)
