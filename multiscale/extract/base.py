"""Frame access, selections, unwrapping and an ``AnalysisBase`` over ASE trajectories.

The analyses of :mod:`multiscale.extract` follow MDAnalysis's ``AnalysisBase`` pattern:
``_prepare`` (allocate), ``_single_frame`` (collect per-frame data), ``_conclude``
(reduce to ``results``), driven by ``run(start, stop, step, progress)``. They read ASE
trajectories (a list of :class:`ase.Atoms`, an :class:`ase.io.Trajectory`, or a file
name any ASE reader understands, e.g. ``.traj`` or extxyz) with the surface normal
along z and the cell periodic in x and y.

Units are ASE's: positions in Å, time in fs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

__all__ = [
    "AnalysisBase",
    "Results",
    "as_frames",
    "make_edges",
    "resolve_selection",
    "unwrap_positions",
]

Selection = str | Sequence[str] | Sequence[int] | np.ndarray


class Results(dict):
    """A dictionary whose keys are also attributes (like MDAnalysis ``Results``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no result named {name!r}; have {sorted(self)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def as_frames(trajectory: Any) -> Sequence[Atoms]:
    """Return an indexable sequence of :class:`ase.Atoms` for any supported input.

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        Frames in memory, an open ASE trajectory, or a file name read with
        :func:`ase.io.read` (all frames).

    Raises
    ------
    TypeError
        For a single ``Atoms`` object or an unsupported type.
    ValueError
        For a trajectory without frames.
    """
    if isinstance(trajectory, Atoms):
        raise TypeError("got a single Atoms object: pass a list of frames, e.g. [atoms]")
    if isinstance(trajectory, (str, Path)):
        import ase.io

        path = Path(trajectory)
        if not path.exists():
            raise ValueError(f"trajectory file {path} does not exist")
        frames = ase.io.read(path, index=":")
        trajectory = frames if isinstance(frames, list) else [frames]
    if not hasattr(trajectory, "__len__") or not hasattr(trajectory, "__getitem__"):
        raise TypeError(
            "trajectory must be a list of ase.Atoms, an ase.io.Trajectory or a file name, "
            f"got {type(trajectory).__name__}"
        )
    if len(trajectory) == 0:
        raise ValueError("the trajectory has no frames: give at least one frame")
    if not isinstance(trajectory[0], Atoms):
        raise TypeError(f"frames must be ase.Atoms, got {type(trajectory[0]).__name__}")
    return trajectory


def resolve_selection(atoms: Atoms, selection: Selection) -> np.ndarray:
    """Atom indices for a selection by chemical symbol(s) or by index list.

    Parameters
    ----------
    atoms : ase.Atoms
        A frame (its symbols are used).
    selection : str, list of str, or list/array of int
        ``"Na"``; ``["O", "H"]``; or explicit 0-based atom indices.

    Returns
    -------
    numpy.ndarray of int
        Sorted unique indices.
    """
    n = len(atoms)
    if isinstance(selection, str):
        selection = [selection]
    sel = list(selection) if not isinstance(selection, np.ndarray) else selection.tolist()
    if len(sel) == 0:
        raise ValueError("empty selection: give chemical symbols or atom indices")
    if all(isinstance(s, str) for s in sel):
        symbols = np.array(atoms.get_chemical_symbols())
        idx = np.flatnonzero(np.isin(symbols, sel))
        if idx.size == 0:
            raise ValueError(
                f"no atoms with symbols {sel}; the frame has {sorted(set(symbols.tolist()))}"
            )
        return idx
    if all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sel):
        idx = np.unique(np.asarray(sel, dtype=int))
        if idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"atom indices must lie in [0, {n - 1}], got {idx.min()}..{idx.max()}")
        return idx
    raise TypeError("a selection is a symbol, a list of symbols, or a list of integer indices")


def check_cell_z(atoms: Atoms) -> float:
    """Return the cell length along z (Å) after checking the surface normal is z.

    The c vector must be along z and a, b in the xy plane; x and y must be periodic.
    """
    cell = np.asarray(atoms.cell)
    if not np.all(atoms.pbc[:2]):
        raise ValueError("the cell must be periodic in x and y (atoms.pbc[:2] all True)")
    if np.any(np.abs(cell[:2, 2]) > 1e-8) or np.any(np.abs(cell[2, :2]) > 1e-8):
        raise ValueError(
            "the surface normal must be the z axis: cell vectors a, b in the xy plane and "
            "c along z (rotate the system first)"
        )
    return float(cell[2, 2])


def make_edges(
    atoms: Atoms, bin_width: float | None, z_range: tuple[float, float] | None, bins: Any = None
) -> np.ndarray:
    """Uniform bin edges along z (Å) inside the cell.

    Parameters
    ----------
    atoms : ase.Atoms
        First frame (its cell bounds the range).
    bin_width : float or None
        Target bin width (Å); the range is split into ``round(length / bin_width)`` bins.
    z_range : (float, float) or None
        ``(z_min, z_max)`` in Å; default the whole cell ``(0, L_z)``.
    bins : int or None
        Number of bins (instead of ``bin_width``).
    """
    lz = check_cell_z(atoms)
    if z_range is None:
        if lz <= 0:
            raise ValueError("the cell has no length along z: give z_range=(z_min, z_max) in Å")
        z_range = (0.0, lz)
    z0, z1 = (float(v) for v in z_range)
    if not z1 > z0:
        raise ValueError(f"z_range must be increasing, got {z_range}")
    if lz > 0 and (z0 < -1e-9 or z1 > lz + 1e-9):
        raise ValueError(
            f"z_range {z_range} Å lies outside the cell [0, {lz:.4g}] Å: choose a range inside"
        )
    if bins is None:
        if bin_width is None or not bin_width > 0:
            raise ValueError(f"bin_width must be > 0 Å, got {bin_width}")
        bins = max(1, round((z1 - z0) / bin_width))
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    return np.linspace(z0, z1, int(bins) + 1)


def unwrap_positions(positions: np.ndarray, cells: np.ndarray, pbc: Sequence[bool]) -> np.ndarray:
    """Unwrap positions by summing consecutive-frame minimum-image displacements.

    Parameters
    ----------
    positions : ndarray, shape (n_frames, n_atoms, 3)
        Positions (Å), wrapped or not.
    cells : ndarray, shape (n_frames, 3, 3) or (3, 3)
        Cell vectors (Å) per frame (rows a, b, c).
    pbc : sequence of 3 bool
        Which directions are periodic; only those are unwrapped.

    Returns
    -------
    ndarray, shape (n_frames, n_atoms, 3)
        Continuous trajectories starting at the first frame's positions. Correct as
        long as no atom moves more than half a cell length between stored frames.
    """
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise ValueError(f"positions must have shape (n_frames, n_atoms, 3), got {pos.shape}")
    cells = np.asarray(cells, dtype=float)
    if cells.ndim == 2:
        cells = np.broadcast_to(cells, (pos.shape[0], 3, 3))
    periodic = np.asarray(pbc, dtype=bool)
    d = np.diff(pos, axis=0)
    if d.shape[0] and periodic.any():
        inv = np.linalg.inv(cells[1:])  # fractional displacements in the later frame's cell
        s = np.einsum("tnj,tji->tni", d, inv)
        s[..., periodic] -= np.round(s[..., periodic])
        d = np.einsum("tni,tij->tnj", s, cells[1:])
    out = np.empty_like(pos)
    out[0] = pos[0]
    np.cumsum(d, axis=0, out=out[1:])
    out[1:] += pos[0]
    return out


def wrap_z(z: np.ndarray, lz: float, periodic: bool) -> np.ndarray:
    """Wrap z coordinates (Å) into ``[0, lz)`` when z is periodic."""
    return np.mod(z, lz) if periodic and lz > 0 else z


def bin_index(z: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each z (Å) on uniform ``edges``; -1 outside the range."""
    # np.histogram is general but slow; uniform bins allow a direct floor division
    n = edges.size - 1
    k = np.floor((z - edges[0]) * (n / (edges[-1] - edges[0]))).astype(np.intp)
    k[(k < 0) | (k >= n)] = -1
    return k


class AnalysisBase:
    """Base class for analyses over an ASE trajectory (MDAnalysis ``AnalysisBase`` style).

    Subclasses implement ``_prepare``, ``_single_frame`` (the current frame is
    ``self._atoms``, its position in the run ``self._frame_index``) and ``_conclude``,
    and store what they compute in ``self.results``.

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        The frames.
    timestep : float, optional
        Time between consecutive stored frames (fs). Required by time-dependent analyses.
    """

    def __init__(self, trajectory: Any, timestep: float | None = None) -> None:
        self._trajectory = as_frames(trajectory)
        first = self._trajectory[0]
        self.n_atoms = len(first)
        if self.n_atoms == 0:
            raise ValueError("the first frame has no atoms")
        if timestep is not None and not (np.isfinite(timestep) and timestep > 0):
            raise ValueError(f"timestep must be > 0 fs, got {timestep}")
        self.timestep = timestep
        self.results = Results()

    def _prepare(self) -> None:  # pragma: no cover - overridden
        pass

    def _single_frame(self) -> None:
        raise NotImplementedError("subclasses implement _single_frame")

    def _conclude(self) -> None:  # pragma: no cover - overridden
        pass

    def run(
        self,
        start: int | None = None,
        stop: int | None = None,
        step: int | None = None,
        progress: bool = False,
    ) -> AnalysisBase:
        """Analyse frames ``start:stop:step`` and return ``self``.

        Parameters
        ----------
        start, stop, step : int, optional
            Python slice of the stored frames.
        progress : bool
            Show a tqdm progress bar.
        """
        from tqdm.auto import tqdm

        indices = range(len(self._trajectory))[slice(start, stop, step)]
        if len(indices) == 0:
            raise ValueError(
                f"no frames selected by start={start}, stop={stop}, step={step} "
                f"(the trajectory has {len(self._trajectory)})"
            )
        self.frame_indices = np.asarray(indices)
        self.n_frames = len(indices)
        self.dt = None if self.timestep is None else self.timestep * (step or 1)
        self._prepare()
        for i, f in enumerate(tqdm(indices, disable=not progress, desc=type(self).__name__)):
            atoms = self._trajectory[f]
            if len(atoms) != self.n_atoms:
                raise ValueError(
                    f"frame {f} has {len(atoms)} atoms but the first frame has {self.n_atoms}: "
                    "all frames must contain the same atoms"
                )
            self._frame_index = i
            self._atoms = atoms
            self._single_frame()
        self._conclude()
        return self


def species_indices(atoms: Atoms, species: Mapping[str, Selection]) -> dict[str, np.ndarray]:
    """Resolve ``{name: selection}`` to ``{name: indices}``."""
    if isinstance(species, str) or not isinstance(species, Mapping) or len(species) == 0:
        raise TypeError('species must be a non-empty mapping name -> selection, e.g. {"Na+": "Na"}')
    return {str(k): resolve_selection(atoms, v) for k, v in species.items()}
