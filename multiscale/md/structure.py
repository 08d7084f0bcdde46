"""Local structure of aqueous electrolytes frame by frame, and its drift over a run.

A liquid whose diffusion coefficient falls from block to block is either still equilibrating,
ordering (water becoming more tetrahedral: the model's melting point above the run's
temperature) or aggregating (ions pairing into clusters: the model's salt solubility below the
run's concentration). The two order parameters here tell these apart:

* the **tetrahedral order** of water oxygens (Errington & Debenedetti, Nature 409, 318 (2001)),
  ``q = 1 - 3/8 Σ_{j<k} (cos ψ_jk + 1/3)²`` over the six angles ψ_jk that the four nearest
  oxygens j, k make at oxygen i: 1 for a perfect tetrahedron, 0 on average for an ideal gas;
  liquid water near 300 K has a mean of about 0.6–0.7, hexagonal ice about 0.9–1.
* **ion pairing**: cation–anion pairs closer than a contact distance (the first minimum of
  g_+-(r), about 3.5 Å for Na–Cl in water), and the largest connected cluster of such
  contacts (1 = no aggregate).

:class:`StructureDrift` follows the ``AnalysisBase`` pattern of :mod:`multiscale.extract`
and reports both per frame and per contiguous time block. Written by hand (a few lines on
ASE's neighbour list and SciPy's connected components) because no installed library gives the
tetrahedral order of a periodic ASE frame (MDAnalysis and MAICoS do not compute it).

Units: Å, fs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from multiscale.extract.base import AnalysisBase, check_int, check_positive, resolve_selection

__all__ = [
    "StructureDrift",
    "counterion_contacts",
    "halves_change",
    "ion_pairing",
    "tetrahedral_order",
]

#: the six (j, k) pairs among four neighbours
_PAIRS = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])


def tetrahedral_order(atoms: Atoms, selection: Any = "O", cutoff: float = 4.5) -> np.ndarray:
    """Tetrahedral order parameter q of each selected atom (Errington–Debenedetti).

    Parameters
    ----------
    atoms : Atoms
        One frame (periodic images are taken into account along periodic directions).
    selection : str, sequence of str or of int
        The centres and their neighbours (default: all oxygens).
    cutoff : float
        Radius searched for the four nearest neighbours, Å (4.5 Å holds four oxygens around
        any oxygen of liquid water or ice).

    Returns
    -------
    ndarray
        q of each selected atom, in the order of the selection; NaN where fewer than four
        neighbours lie within ``cutoff``.
    """
    cutoff = check_positive("cutoff", cutoff, "Å")
    idx = resolve_selection(atoms, selection)
    sub = atoms[idx]
    i, d, vec = neighbor_list("idD", sub, cutoff)
    q = np.full(len(sub), np.nan)
    order = np.lexsort((d, i))  # by centre, then by distance
    i, vec = i[order], vec[order]
    starts = np.searchsorted(i, np.arange(len(sub)))
    counts = np.bincount(i, minlength=len(sub))
    has4 = np.flatnonzero(counts >= 4)
    if has4.size == 0:
        return q
    nearest = vec[starts[has4, None] + np.arange(4)]  # (n, 4, 3)
    unit = nearest / np.linalg.norm(nearest, axis=2, keepdims=True)
    cos = np.einsum("nax,nax->na", unit[:, _PAIRS[:, 0]], unit[:, _PAIRS[:, 1]])
    q[has4] = 1.0 - 3.0 / 8.0 * np.sum((cos + 1.0 / 3.0) ** 2, axis=1)
    return q


def ion_pairing(
    atoms: Atoms, cation: Any = "Na", anion: Any = "Cl", cutoff: float = 3.5
) -> dict[str, int]:
    """Cation–anion contacts and the largest contact cluster of one frame.

    Parameters
    ----------
    atoms : Atoms
        One frame.
    cation, anion : str, sequence of str or of int
        Selections of the two ion kinds.
    cutoff : float
        Contact distance, Å (the first minimum of g_+-(r); 3.5 Å for Na–Cl in water).

    Returns
    -------
    dict
        ``contacts`` (cation–anion pairs within ``cutoff``), ``paired_ions`` (ions with at
        least one contact), ``largest_cluster`` (ions in the largest connected set of
        contacts; 1 when no two ions touch), ``n_ions``.
    """
    cutoff = check_positive("cutoff", cutoff, "Å")
    cat, an = resolve_selection(atoms, cation), resolve_selection(atoms, anion)
    if np.intersect1d(cat, an).size:
        raise ValueError("the cation and anion selections overlap: give two distinct kinds")
    ions = np.concatenate([cat, an])
    n = len(ions)
    if n == 0:
        return {"contacts": 0, "paired_ions": 0, "largest_cluster": 0, "n_ions": 0}
    i, j = neighbor_list("ij", atoms[ions], cutoff)
    unlike = (i < len(cat)) != (j < len(cat))
    i, j = i[unlike], j[unlike]
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return {
        "contacts": int(len(i) // 2),  # neighbor_list lists each pair both ways
        "paired_ions": int(np.unique(i).size),
        "largest_cluster": int(np.bincount(labels).max()),
        "n_ions": n,
    }


def counterion_contacts(frames: Any, ion: int, counter: Any, cutoff: float = 3.5) -> dict[str, Any]:
    """How often one ion touches a counter-ion over a run (e.g. an umbrella window).

    Parameters
    ----------
    frames : sequence of Atoms
        The frames (periodic images are taken into account).
    ion : int
        Index of the ion.
    counter : str, sequence of str or of int
        The counter-ions (e.g. ``"Cl"`` for Na⁺); the ion itself is never counted.
    cutoff : float
        Contact distance, Å (the first minimum of g_+-(r)).

    Returns
    -------
    dict
        ``contact_fraction`` (frames with a counter-ion within ``cutoff``),
        ``nearest_distance_A`` (mean over frames of the nearest counter-ion's distance),
        ``partner`` (the counter-ion nearest most often) and ``n_frames``; ``None`` values
        when the frames hold no counter-ion.
    """
    cutoff = check_positive("cutoff", cutoff, "Å")
    frames = list(frames)
    if not frames:
        raise ValueError("no frames: give at least one frame")
    others = _optional(frames[0], counter)
    others = others[others != ion]
    out: dict[str, Any] = {"n_frames": len(frames), "contact_fraction": None,
                           "nearest_distance_A": None, "partner": None}  # fmt: skip
    if others.size == 0:
        return out
    nearest = np.empty(len(frames))
    partner = np.empty(len(frames), dtype=int)
    for k, atoms in enumerate(frames):
        d = atoms.get_distances(ion, others, mic=True)
        j = int(np.argmin(d))
        nearest[k], partner[k] = d[j], others[j]
    out["contact_fraction"] = float(np.mean(nearest < cutoff))
    out["nearest_distance_A"] = float(nearest.mean())
    out["partner"] = int(np.bincount(partner).argmax())
    return out


class StructureDrift(AnalysisBase):
    """Water's tetrahedral order and ion pairing over a run, per frame and per time block.

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        The frames.
    water : str, sequence of str or of int
        Water oxygens (default ``"O"``: every oxygen).
    cation, anion : str, sequence of str or of int
        The ion kinds; an empty selection (e.g. pure water) skips the pairing.
    pair_cutoff : float
        Cation–anion contact distance, Å.
    q_cutoff : float
        Neighbour search radius of the tetrahedral order, Å.
    n_blocks : int
        Contiguous time blocks of the summary (>= 2).
    timestep : float, optional
        Time between stored frames, fs (for the blocks' time ranges).

    Notes
    -----
    ``results`` after :meth:`run`: ``q_mean`` and ``q_high_fraction`` (fraction of oxygens
    with q > 0.9: ice-like order) per frame; ``contacts`` and ``largest_cluster`` per frame
    (when there are ions); ``blocks``: a list of dicts with each block's frame range (and time
    range in ps when ``timestep`` is given) and the block means of these series.
    """

    #: q above which an oxygen counts as ice-like (ice Ih at 250–300 K has q ≈ 0.9–1)
    Q_HIGH = 0.9

    def __init__(
        self,
        trajectory: Any,
        water: Any = "O",
        cation: Any = "Na",
        anion: Any = "Cl",
        pair_cutoff: float = 3.5,
        q_cutoff: float = 4.5,
        n_blocks: int = 4,
        timestep: float | None = None,
    ) -> None:
        super().__init__(trajectory, timestep)
        first = self._trajectory[0]
        self._water = resolve_selection(first, water)
        if self._water.size < 5:
            raise ValueError(
                f"the water selection {water!r} holds {self._water.size} atoms: the "
                "tetrahedral order needs at least 5 oxygens"
            )
        self._cation = _optional(first, cation)
        self._anion = _optional(first, anion)
        self.pair_cutoff = check_positive("pair_cutoff", pair_cutoff, "Å")
        self.q_cutoff = check_positive("q_cutoff", q_cutoff, "Å")
        self.n_blocks = check_int("n_blocks", n_blocks, 2)
        self._ions = self._cation.size > 0 and self._anion.size > 0

    def _prepare(self) -> None:
        if self.n_frames < self.n_blocks:
            raise ValueError(
                f"{self.n_frames} frames cannot make {self.n_blocks} blocks: analyse more "
                "frames or ask for fewer blocks"
            )
        self._series: dict[str, list[float]] = {"q_mean": [], "q_high_fraction": []}
        if self._ions:
            self._series.update(contacts=[], largest_cluster=[])

    def _single_frame(self) -> None:
        q = tetrahedral_order(self._atoms, self._water, self.q_cutoff)
        self._series["q_mean"].append(float(np.nanmean(q)))
        self._series["q_high_fraction"].append(float(np.mean(q[np.isfinite(q)] > self.Q_HIGH)))
        if self._ions:
            pairs = ion_pairing(self._atoms, self._cation, self._anion, self.pair_cutoff)
            self._series["contacts"].append(pairs["contacts"])
            self._series["largest_cluster"].append(pairs["largest_cluster"])

    def _conclude(self) -> None:
        for name, values in self._series.items():
            self.results[name] = np.asarray(values, dtype=float)
        blocks = []
        for part in np.array_split(np.arange(self.n_frames), self.n_blocks):
            block: dict[str, Any] = {
                "frames": [int(self.frame_indices[part[0]]), int(self.frame_indices[part[-1]])]
            }
            if self.dt is not None:
                block["ps"] = [part[0] * self.dt / 1000.0, (part[-1] + 1) * self.dt / 1000.0]
            for name in self._series:
                block[name] = float(self.results[name][part].mean())
            blocks.append(block)
        self.results.blocks = blocks
        self.results.n_ions = int(self._cation.size + self._anion.size) if self._ions else 0
        self.results.halves = {name: halves_change(self.results[name]) for name in self._series}

    def verdict(self, sigmas: float = 3.0) -> list[str]:
        """Notes on what changes between the first and the second half of the frames.

        Parameters
        ----------
        sigmas : float
            A change counts when it exceeds this many standard errors (correlated samples
            accounted for, :func:`halves_change`).

        Returns
        -------
        list of str
            Empty when no series changes; else one note per changing series.
        """
        what = {
            "q_mean": "water's mean tetrahedral order",
            "q_high_fraction": "water's ice-like fraction (q > 0.9)",
            "contacts": "the number of cation–anion contacts",
            "largest_cluster": "the largest ion cluster",
        }
        notes = []
        for name, h in self.results.halves.items():
            if h["sigma"] is not None and abs(h["change"]) > sigmas * h["sigma"]:
                notes.append(
                    f"{what[name]} changes from {h['first']:.3g} to {h['second']:.3g} between "
                    f"the halves of the run ({h['change'] / h['sigma']:+.1f} standard errors)"
                )
        return notes


def halves_change(series: Any) -> dict[str, float | None]:
    """Mean of the first and second half of a time series and the error of their difference.

    Each half's standard error is s sqrt(g / n), g its statistical inefficiency (pymbar,
    :func:`multiscale.md.equilibration.statistical_inefficiency`), so correlated frames do
    not make a change look significant. ``sigma`` is None when a half has fewer than 4
    frames; a constant series has sigma 0.
    """
    from multiscale.md.equilibration import statistical_inefficiency

    a = np.asarray(series, dtype=float)
    first, second = a[: a.size // 2], a[a.size // 2 :]
    out: dict[str, float | None] = {
        "first": float(first.mean()) if first.size else None,
        "second": float(second.mean()) if second.size else None,
        "change": None,
        "sigma": None,
    }
    if first.size < 4:
        return out
    var = 0.0
    for half in (first, second):
        if np.ptp(half) > 0:
            var += half.var(ddof=1) * statistical_inefficiency(half) / half.size
    out["change"] = out["second"] - out["first"]
    out["sigma"] = float(np.sqrt(var))
    return out


def _optional(atoms: Atoms, selection: Any) -> np.ndarray:
    """A selection by chemical symbols that may match nothing (e.g. no ions in pure water);
    any other selection is resolved (and checked) as usual."""
    symbols = [selection] if isinstance(selection, str) else selection
    if (
        isinstance(symbols, list | tuple)
        and symbols
        and all(isinstance(s, str) for s in symbols)
        and not set(symbols) & set(atoms.get_chemical_symbols())
    ):
        return np.zeros(0, dtype=int)
    return resolve_selection(atoms, selection)
