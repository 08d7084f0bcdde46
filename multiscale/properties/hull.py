"""Formation energies and the lower convex hull of a binary or ternary system.

The formation energy per atom of a structure with N_i atoms of element i and total energy E is
ΔE_f = E/N − Σ_i x_i μ_i, with x_i = N_i/N and μ_i the lowest energy per atom among the pure
element's structures. The stable set is the set of vertices of the lower convex hull of
(x, ΔE_f) (:class:`ase.phasediagram.PhaseDiagram`, which calls scipy's Qhull); the energy above
the hull of every other structure is its energy minus that of the hull's decomposition at its
composition (:meth:`ase.phasediagram.PhaseDiagram.decompose`), per atom.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.formula import Formula

from ._common import new_figure, pick_calculator, relax, save_figure

__all__ = ["HullResult", "compute_hull", "convex_hull", "fcc_candidates"]


def _count(entry: Any, i: int) -> tuple[str, dict[str, int]]:
    if isinstance(entry, Atoms):
        return entry.get_chemical_formula("metal"), dict(
            Formula(entry.get_chemical_formula()).count()
        )
    if isinstance(entry, str):
        from ase.data import chemical_symbols

        try:
            count = dict(Formula(entry).count())
        except ValueError as err:
            raise ValueError(f"entries[{i}]: {entry!r} is not a chemical formula ({err})") from err
        unknown = [s for s in count if s not in chemical_symbols[1:]]
        if unknown or not count:
            raise ValueError(
                f"entries[{i}]: {entry!r} is not a chemical formula (unknown element(s) {unknown})"
            )
        return entry, count
    raise TypeError(
        f"entries[{i}]: expected an ase.Atoms or a formula string, got {type(entry).__name__}"
    )


@dataclass
class HullResult:
    """A convex hull of formation energies.

    Attributes
    ----------
    elements : list of str
        The elements, in the order of the composition columns.
    names : list of str
        Name (formula or given name) of each entry.
    compositions : (n, n_elements) ndarray
        Atomic fractions.
    energies : ndarray
        Total energy per atom, eV.
    formation_energies : ndarray
        ΔE_f per atom, eV.
    e_above_hull : ndarray
        Energy above the hull per atom, eV (0 on the hull).
    stable : ndarray of bool
        Vertices of the lower hull.
    chemical_potentials : dict
        μ_i (eV/atom): the lowest energy per atom of each element's structures.
    simplices : (m, n_elements) ndarray
        Indices of the entries forming each facet of the lower hull.
    """

    elements: list[str]
    names: list[str]
    compositions: np.ndarray
    energies: np.ndarray
    formation_energies: np.ndarray
    e_above_hull: np.ndarray
    stable: np.ndarray
    chemical_potentials: dict[str, float]
    simplices: np.ndarray

    @property
    def stable_names(self) -> list[str]:
        """Names of the stable entries, sorted by composition."""
        idx = [i for i in np.lexsort(self.compositions.T[::-1]) if self.stable[i]]
        return [self.names[i] for i in idx]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per entry: name, composition, energies (eV/atom), stable."""
        return [
            {
                "name": n,
                **{f"x_{e}": float(c[k]) for k, e in enumerate(self.elements)},
                "energy_eV_per_atom": float(en),
                "formation_energy_eV_per_atom": float(f),
                "e_above_hull_eV_per_atom": float(h),
                "stable": bool(s),
            }
            for n, c, en, f, h, s in zip(
                self.names,
                self.compositions,
                self.energies,
                self.formation_energies,
                self.e_above_hull,
                self.stable,
                strict=True,
            )
        ]

    def table(self) -> str:
        """A text table sorted by composition, then energy above the hull."""
        head = (
            " ".join(f"x_{e:<4}" for e in self.elements)
            + f"  {'name':<16}{'dE_f':>10}{'E_hull':>10}  stable  (eV/atom)"
        )
        lines = [head]
        order = np.lexsort((self.e_above_hull, *self.compositions.T[::-1]))
        for i in order:
            comp = " ".join(f"{c:6.3f}" for c in self.compositions[i])
            lines.append(
                f"{comp}  {self.names[i]:<16}{self.formation_energies[i]:10.4f}"
                f"{self.e_above_hull[i]:10.4f}  {'yes' if self.stable[i] else 'no'}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "elements": self.elements,
            "chemical_potentials_eV": self.chemical_potentials,
            "stable": self.stable_names,
            "entries": self.rows(),
            "simplices": self.simplices,
        }

    def plot(self, path: str | Path) -> Path:
        """Formation energy against composition with the hull (binary) or the hull's
        triangulation with the energy above the hull in colour (ternary)."""
        fig, ax = new_figure(figsize=(6.5, 4.8))
        if len(self.elements) == 2:
            x = self.compositions[:, 1]
            ax.scatter(
                x[~self.stable],
                self.formation_energies[~self.stable],
                c="0.5",
                marker="x",
                label="above hull",
            )
            ax.scatter(
                x[self.stable],
                self.formation_energies[self.stable],
                c="C3",
                zorder=3,
                label="stable",
            )
            order = [i for i in np.argsort(x) if self.stable[i]]
            ax.plot(x[order], self.formation_energies[order], "C3-")
            for i in order:
                ax.annotate(
                    self.names[i],
                    (x[i], self.formation_energies[i]),
                    fontsize=8,
                    textcoords="offset points",
                    xytext=(3, -10),
                )
            ax.set_xlabel(f"x({self.elements[1]})")
            ax.set_ylabel("formation energy (eV/atom)")
            ax.legend()
        else:
            c = self.compositions
            px = c[:, 1] + 0.5 * c[:, 2]
            py = np.sqrt(3) / 2 * c[:, 2]
            for s in self.simplices:
                ring = [*list(s), s[0]]
                ax.plot(px[ring], py[ring], "C3-", lw=0.8)
            sc = ax.scatter(px, py, c=self.e_above_hull, cmap="viridis", zorder=3)
            fig.colorbar(sc, ax=ax, label="energy above hull (eV/atom)")
            for i in np.flatnonzero(self.stable):
                ax.annotate(self.names[i], (px[i], py[i]), fontsize=8)
            for (x0, y0), e in zip(
                ((0, 0), (1, 0), (0.5, np.sqrt(3) / 2)), self.elements, strict=True
            ):
                ax.annotate(e, (x0, y0), fontsize=11, weight="bold")
            ax.set_aspect("equal")
            ax.axis("off")
        ax.set_title("lower convex hull: " + ", ".join(self.stable_names))
        return save_figure(fig, path)


def convex_hull(
    entries: Sequence[tuple[Any, float]], *, names: Sequence[str] | None = None
) -> HullResult:
    """Formation energies, stable set and energies above the hull from total energies.

    Parameters
    ----------
    entries : sequence of (structure, energy)
        ``structure`` is an ``ase.Atoms`` or a formula string (``"Cu3Au"``); ``energy`` is its
        total energy in eV (for the formula's number of atoms). Every element must appear in at
        least one pure-element entry (its reference); two or three elements.
    names : sequence of str, optional
        Labels of the entries (default: their formulas).

    Returns
    -------
    HullResult
    """
    from ase.phasediagram import PhaseDiagram

    if not isinstance(entries, Sequence) or len(entries) < 2:
        raise ValueError("entries must be a list of at least two (structure, energy in eV) pairs")
    counts, labels, energies = [], [], []
    for i, item in enumerate(entries):
        if not isinstance(item, Sequence) or len(item) != 2:
            raise ValueError(
                f"entries[{i}]: expected a (structure, energy in eV) pair, got {item!r}"
            )
        label, count = _count(item[0], i)
        e = item[1]
        if (
            isinstance(e, bool)
            or not isinstance(e, int | float | np.floating)
            or not np.isfinite(e)
        ):
            raise ValueError(f"entries[{i}]: energy must be a finite number in eV, got {e!r}")
        counts.append(count)
        labels.append(label)
        energies.append(float(e))
    if names is not None:
        if len(names) != len(entries):
            raise ValueError(
                f"names must have one label per entry ({len(entries)}), got {len(names)}"
            )
        labels = [str(n) for n in names]
    elements = sorted({s for c in counts for s in c})
    if not 2 <= len(elements) <= 3:
        raise ValueError(
            f"entries span the elements {elements}; a binary or ternary hull needs two or three"
        )
    natoms = np.array([sum(c.values()) for c in counts], dtype=float)
    comp = np.array(
        [[c.get(e, 0) / n for e in elements] for c, n in zip(counts, natoms, strict=True)]
    )
    per_atom = np.array(energies) / natoms
    mu = {}
    for k, e in enumerate(elements):
        pure = np.flatnonzero(comp[:, k] == 1.0)
        if pure.size == 0:
            raise ValueError(
                f"entries: no pure {e} structure; add one (its energy per atom is "
                f"the reference chemical potential of {e})"
            )
        mu[e] = float(per_atom[pure].min())
    formation = per_atom - comp @ np.array([mu[e] for e in elements])
    pd = PhaseDiagram([(c, e) for c, e in zip(counts, energies, strict=True)], verbose=False)
    above = np.zeros(len(entries))
    for i, c in enumerate(counts):
        e_hull, _, _ = pd.decompose(**c)
        above[i] = (energies[i] - e_hull) / natoms[i]
    above[np.abs(above) < 1e-10] = 0.0
    return HullResult(
        elements=elements,
        names=labels,
        compositions=comp,
        energies=per_atom,
        formation_energies=formation,
        e_above_hull=above,
        stable=np.asarray(pd.hull, dtype=bool),
        chemical_potentials=mu,
        simplices=np.asarray(pd.simplices),
    )


def fcc_candidates(elements: Sequence[str], a: float, *, cell: str = "cubic") -> list[Atoms]:
    """All decorations of a small fcc cell with the given elements (candidate structures).

    Parameters
    ----------
    elements : two or three element symbols
    a : float
        Cubic lattice constant, Å (e.g. the mean of the elements').
    cell : {"cubic", "primitive2"}
        ``"cubic"``: the 4-atom conventional cell (contains L1_2 A3B and L1_0 AB);
        ``"primitive2"``: a 2-atom cell along [001] (L1_0 only).

    Returns
    -------
    list of ase.Atoms
        One structure per distinct decoration (the cubic cell's symmetry-equivalent ones merged
        by sorted symbol multiset and pair pattern is not attempted: all 2^4 / 3^4 are kept).
    """
    from ase.build import bulk

    if not 2 <= len(elements) <= 3 or len(set(elements)) != len(elements):
        raise ValueError(f"elements must be two or three different symbols, got {elements!r}")
    if cell == "cubic":
        base = bulk("Cu", "fcc", a=a, cubic=True)
    elif cell == "primitive2":
        base = bulk("Cu", "fcc", a=a, cubic=True).repeat((1, 1, 1))[:2]
        base.set_cell([a / np.sqrt(2), a / np.sqrt(2), a], scale_atoms=False)
        base.positions[:] = [[0, 0, 0], [a / (2 * np.sqrt(2)), a / (2 * np.sqrt(2)), a / 2]]
    else:
        raise ValueError(f"cell must be 'cubic' or 'primitive2', got {cell!r}")
    out, seen = [], set()
    for combo in itertools.product(elements, repeat=len(base)):
        key = tuple(combo) if cell != "cubic" else tuple(sorted(combo))
        # in the 4-atom cubic cell every decoration with the same multiset is equivalent
        if key in seen:
            continue
        seen.add(key)
        atoms = base.copy()
        atoms.set_chemical_symbols(list(combo))
        out.append(atoms)
    return out


def compute_hull(
    structures: Sequence[Atoms],
    calc: Any = None,
    *,
    relax_structures: bool = True,
    fmax: float = 0.01,
    steps: int = 300,
    names: Sequence[str] | None = None,
) -> HullResult:
    """Relax candidate structures (cell and positions, ASE FIRE) and build their hull.

    Parameters
    ----------
    structures : sequence of ase.Atoms
        Candidate structures (two or three elements; every pure element present).
    calc : ase calculator
        Any ASE calculator with energies (and forces/stress when relaxing).
    relax_structures : bool
        Relax the cell and positions before taking the energy.
    fmax : float
        Force threshold of the relaxation, eV/Å.
    steps : int
        Maximum FIRE steps per structure.
    names : sequence of str, optional
        Labels (default: formulas).

    Returns
    -------
    HullResult
        With ``relaxed`` (list of bool, per structure) added to the returned object's
        ``extra`` attribute.
    """
    if not isinstance(structures, Sequence) or not structures:
        raise ValueError("structures must be a non-empty list of ase.Atoms")
    entries = []
    for i, atoms in enumerate(structures):
        if not isinstance(atoms, Atoms):
            raise TypeError(f"structures[{i}] must be an ase.Atoms, got {type(atoms).__name__}")
        c = pick_calculator(atoms, calc)
        if relax_structures:
            atoms, _ = relax(atoms, c, fmax=fmax, cell=True, steps=steps)
        else:
            atoms = atoms.copy()
        atoms.calc = c
        entries.append((atoms, float(atoms.get_potential_energy())))
    return convex_hull(entries, names=names)
