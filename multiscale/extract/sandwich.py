"""Fold a symmetric metal | electrolyte | metal sandwich about its midplane.

In a sandwich (:func:`multiscale.md.build_sandwich`) the electrolyte sits between the top
surface of the slab and the bottom surface of its periodic image. With the same facet on
both sides and no applied potential the two interfaces are equivalent, so every transport
and density profile is symmetric about the midplane: the profile from one surface to the
bulk is best estimated from both halves. Folding maps each liquid atom's height above the
lower surface, h, to min(h, L − h) (L the frame's surface-to-surface distance), which
doubles the samples of every bin and puts the bulk (the midplane) at the far end of the
profile, where a 1D continuum model holds its bulk boundary condition.

In-plane motion is unchanged. Along z an atom that crosses the midplane is reflected, which
for a symmetric system is the same process as the unfolded one seen from the nearer surface
(a reflecting boundary at the midplane): D⊥(z) and transition counts stay valid. Electrostatics
are *not* symmetric (water's orientation flips sign between the two interfaces), so φ(z) must
be computed from the unfolded frames.

Written by hand: no analysis library folds ASE frames (MAICoS and MDAnalysis bin along a cell
axis only).

Units: Å.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from multiscale.md.slab import loose_metal_atoms

__all__ = ["SandwichFold", "fold_sandwich", "loose_metal_atoms"]


@dataclass
class SandwichFold:
    """The folded frames and the geometry they were folded with.

    Attributes
    ----------
    frames : list of Atoms
        Copies of the frames with every liquid atom's z replaced by
        ``surface_z + min(h, L − h)`` (metal atoms unchanged).
    surface_z : float
        Mean height of the lower surface (top layer of the slab) in the cell, Å.
    separation : float
        Mean distance between the two facing surfaces, L, Å.
    separation_std : float
        Its standard deviation over the frames, Å.
    midplane_z : float
        ``surface_z + separation / 2``, Å (cell z): the far end of folded profiles.
    """

    frames: list[Atoms]
    surface_z: float
    separation: float
    separation_std: float

    @property
    def midplane_z(self) -> float:
        return self.surface_z + 0.5 * self.separation


def _layers(atoms: Atoms, metal: np.ndarray, tol: float = 1.0) -> tuple[float, float]:
    """Mean z of the slab's top layer and of its bottom layer (atoms within ``tol`` Å)."""
    z = atoms.positions[metal, 2]
    return float(z[z > z.max() - tol].mean()), float(z[z < z.min() + tol].mean())


def fold_sandwich(frames: Sequence[Atoms], metal_tag: int = 1) -> SandwichFold:
    """Fold the liquid of sandwich frames about the midplane between the two surfaces.

    Parameters
    ----------
    frames : sequence of Atoms
        Frames of a sandwich: one slab (atoms tagged ``metal_tag``) at the bottom of a cell
        periodic along z, the liquid between its top surface and the bottom surface of its
        periodic image (positions may be unwrapped: heights are taken modulo the cell).
    metal_tag : int
        Tag of the slab atoms (the builders tag them 1).

    Returns
    -------
    SandwichFold

    Raises
    ------
    ValueError
        No frames, no slab atoms, a cell not periodic along z, a metal atom outside the slab's
        layers (:func:`loose_metal_atoms`: the surfaces changed), or a liquid atom inside the
        slab (not a sandwich).
    """
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to fold")
    first = frames[0]
    metal = np.flatnonzero(first.get_tags() == metal_tag)
    if metal.size == 0:
        raise ValueError(
            f"no slab atoms (tag {metal_tag}) in the first frame: folding needs the metal"
        )
    if not first.pbc[2]:
        raise ValueError(
            "the cell is not periodic along z: a sandwich faces its slab's periodic image; "
            "fold only sandwich frames"
        )
    liquid = np.setdiff1d(np.arange(len(first)), metal)
    tops, seps, out = [], [], []
    for k, a in enumerate(frames):
        loose = loose_metal_atoms(a, metal)
        if loose:
            i, dz = max(loose, key=lambda x: x[1])
            d = a.get_distances(i, liquid, mic=True)
            near = (
                f", next to {a[liquid[np.argmin(d)]].symbol} at {d.min():.2f} Å" if d.size else ""
            )
            raise ValueError(
                f"frame {k}: metal atom {i} ({a[i].symbol}) has left the slab's layers "
                f"({dz:.2f} Å from the nearest layer's plane{near}): an adatom or an atom "
                "leaving the metal; the surfaces are no longer those of the sandwich. Analyse "
                "the frames before it (a shorter md run) and look at the trajectory there"
            )
        top, bottom = _layers(a, metal)
        lz = a.cell[2, 2]
        sep = bottom + lz - top
        # heights in (−1, lz − 1] Å: an atom up to 1 Å below a surface's mean plane stays
        # next to that surface (folded heights then lie in (−1, L/2])
        h = np.mod(a.positions[liquid, 2] - top + 1.0, lz) - 1.0
        if np.any(h > sep + 1.0):
            raise ValueError(
                "a liquid atom lies inside the slab (height above the lower surface beyond the "
                f"surface-to-surface distance {sep:.2f} Å): these are not sandwich frames"
            )
        tops.append(top)
        seps.append(sep)
        b = a.copy()
        b.positions[liquid, 2] = top + np.minimum(h, sep - h)
        out.append(b)
    return SandwichFold(out, float(np.mean(tops)), float(np.mean(seps)), float(np.std(seps)))
