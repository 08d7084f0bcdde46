"""Diagnostics of a QM/ML boundary: a core chosen by coordination, shell occupancy, crossings.

A QM/ML run only tests its boundary when molecules sit in, and cross, the switching shell.
:func:`coordination_core` picks the core as an ion and its first solvation shell (the waters
whose O lies within the first minimum of the ion–O g(r), about 3.1 Å for Na⁺);
:class:`ShellCrossingCounter` follows the per-molecule QM weights step by step and counts how
many molecules occupy the shell (``0 < w < 1``) and how often one crosses it; and
:func:`boundary_force_mismatch` gives the RMS of ``F_QM - F_ML`` on the shell atoms, which
measures the model error at the boundary when QM and ML share a level of theory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

__all__ = [
    "ShellCrossingCounter",
    "boundary_force_mismatch",
    "coordination_core",
    "molecule_weights",
]


def coordination_core(
    atoms: Atoms, ion: int, cutoff: float = 3.1, ligand: str = "O"
) -> tuple[list[int], list[int]]:
    """The ion and the whole molecules whose ``ligand`` atom lies within ``cutoff`` of it.

    Parameters
    ----------
    atoms : ase.Atoms
        The system (periodic or not; minimum-image distances are used).
    ion : int
        Index of the central ion.
    cutoff : float
        Ion–ligand distance (Å), normally the first minimum of the ion–O g(r) (~3.1 Å for Na⁺,
        ~3.8 Å for Cl⁻).
    ligand : str
        Element of the coordinating atom (default ``"O"``).

    Returns
    -------
    core : list of int
        The ion followed by every atom of the coordinating molecules (sorted).
    ligands : list of int
        The coordinating ligand atoms (their number is the coordination number).

    Raises
    ------
    ValueError
        If ``ion`` is not an atom index or ``cutoff`` is not a positive distance.
    """
    from coupling.regions import Regions

    n = len(atoms)
    if not isinstance(ion, int | np.integer) or not 0 <= int(ion) < n:
        raise ValueError(f"ion must be an atom index in 0..{n - 1}, got {ion!r}")
    if not np.isfinite(cutoff) or cutoff <= 0:
        raise ValueError(f"cutoff must be a positive distance in Å, got {cutoff!r}")
    ion = int(ion)
    others = np.array([i for i in range(n) if i != ion])
    d = atoms.get_distances(ion, others, mic=bool(atoms.pbc.any()))
    is_lig = np.array([atoms[i].symbol == ligand for i in others], dtype=bool)
    ligands = sorted(int(i) for i in others[is_lig & (d < cutoff)])
    mol = Regions([ion], 1.0, 0.1).update(atoms).molecule_ids
    core_mols = {int(mol[i]) for i in ligands}
    core = [ion] + [i for i in range(n) if i != ion and int(mol[i]) in core_mols]
    return core, ligands


def molecule_weights(weights: np.ndarray, molecule_ids: np.ndarray) -> dict[int, float]:
    """The QM weight of every molecule (the largest weight of its atoms; they share one).

    Parameters
    ----------
    weights : numpy.ndarray
        Per-atom QM weights (dimensionless, 0..1).
    molecule_ids : numpy.ndarray
        Molecule index of every atom.
    """
    w = np.asarray(weights, dtype=float)
    mol = np.asarray(molecule_ids)
    return {int(m): float(w[mol == m].max()) for m in np.unique(mol)}


def boundary_force_mismatch(
    weights: np.ndarray, qm_forces: np.ndarray, ml_forces: np.ndarray
) -> tuple[float, int]:
    """RMS of ``|F_QM - F_ML|`` (eV/Å) over the shell atoms (``0 < w < 1``), and their number.

    Parameters
    ----------
    weights : numpy.ndarray
        Per-atom QM weights (0..1).
    qm_forces, ml_forces : numpy.ndarray
        ``(n, 3)`` forces (eV/Å) of the QM cluster (scattered to the system) and of the ML
        model, e.g. ``results["qm_forces"]`` and ``results["ml_forces"]`` of
        :class:`coupling.ForceMixingCalculator`.

    Returns
    -------
    rms : float
        RMS force difference (eV/Å); NaN when the shell is empty.
    n_shell : int
        Number of shell atoms.
    """
    w = np.asarray(weights, dtype=float)
    shell = (w > 0) & (w < 1)
    if not shell.any():
        return float("nan"), 0
    d = np.linalg.norm(np.asarray(qm_forces)[shell] - np.asarray(ml_forces)[shell], axis=1)
    return float(np.sqrt(np.mean(d**2))), int(shell.sum())


@dataclass
class ShellCrossingCounter:
    """Counts molecules in the switching shell and their crossings, one step at a time.

    A molecule is *in the shell* when ``0 < w < 1``. Events, counted between consecutive
    steps: ``"enter"`` (it was at ``w = 0`` or ``w = 1`` and is now in the shell), ``"leave"``
    (the reverse), ``"half"`` (its weight went from ``< 0.5`` to ``>= 0.5`` or back). A
    molecule that jumps from ``w = 1`` to ``w = 0`` in one step counts as ``"enter"``,
    ``"leave"`` and ``"half"``. ``crossings`` is the number of all events.

    Parameters
    ----------
    timestep_fs : float
        Time between two :meth:`update` calls (fs), for the rates.

    Examples
    --------
    >>> c = ShellCrossingCounter(timestep_fs=1.0)
    >>> for w in ([1.0, 0.0], [0.7, 0.0], [0.3, 0.0], [0.0, 0.0]):
    ...     _ = c.update({0: w[0], 1: w[1]})
    >>> c.summary()["crossings"]
    3
    """

    timestep_fs: float
    occupancy: list[int] = field(default_factory=list)
    events: list[tuple[int, int, str]] = field(default_factory=list)
    _last: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not np.isfinite(self.timestep_fs) or self.timestep_fs <= 0:
            raise ValueError(f"timestep_fs must be a positive time in fs, got {self.timestep_fs}")

    def update(self, weights: dict[int, float]) -> int:
        """Record one step (``{molecule: weight}``); return the shell occupancy at that step."""
        step = len(self.occupancy)
        occ = 0
        for m, w in weights.items():
            inside = 0.0 < w < 1.0
            occ += inside
            if m not in self._last:
                continue
            w0 = self._last[m]
            was = 0.0 < w0 < 1.0
            if inside and not was:
                self.events.append((step, m, "enter"))
            elif was and not inside:
                self.events.append((step, m, "leave"))
            elif not inside and not was and w != w0:  # jumped across the whole shell
                self.events += [(step, m, "enter"), (step, m, "leave")]
            if (w0 >= 0.5) != (w >= 0.5):
                self.events.append((step, m, "half"))
        self._last = dict(weights)
        self.occupancy.append(int(occ))
        return int(occ)

    def summary(self) -> dict:
        """Mean/min/max shell occupancy (molecules) and crossing counts and rates (per ps)."""
        occ = np.array(self.occupancy, dtype=float)
        duration_ps = max(len(occ) - 1, 0) * self.timestep_fs / 1000.0
        kinds = [e[2] for e in self.events]
        out = {
            "steps": len(occ),
            "mean_occupancy": float(occ.mean()) if occ.size else float("nan"),
            "min_occupancy": int(occ.min()) if occ.size else 0,
            "max_occupancy": int(occ.max()) if occ.size else 0,
            "crossings": len(self.events),
            "half_crossings": kinds.count("half"),
            "entries": kinds.count("enter"),
            "exits": kinds.count("leave"),
            "duration_ps": duration_ps,
        }
        rate = len(self.events) / duration_ps if duration_ps > 0 else float("nan")
        out["crossings_per_ps"] = rate
        return out
