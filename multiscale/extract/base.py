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
from ase.data import chemical_symbols

__all__ = [
    "AnalysisBase",
    "FrameList",
    "Results",
    "as_frames",
    "check_frame",
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


def is_int(value: Any) -> bool:
    """True for a Python or NumPy integer (``bool`` excluded)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for a Python or NumPy real number (``bool`` excluded); NaN/inf included."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def check_positive(name: str, value: Any, unit: str) -> float:
    """Return ``value`` as a float after checking it is a finite real number > 0.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    value : Any
        The value to check.
    unit : str
        Its unit, for the message (e.g. "fs", "Å", "K").
    """
    if not (is_real(value) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0 {unit}, got {value!r}")
    return float(value)


def check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as an int after checking it is an integer >= ``minimum``."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class FrameList(list):
    """A list of frames that :func:`as_frames` has checked (see :func:`check_frame`).

    Analyses given a ``FrameList`` do not check its frames again.
    """


def check_frame(atoms: Any, index: int, numbers: np.ndarray) -> None:
    """Refuse a frame that cannot be analysed together with the first frame.

    Parameters
    ----------
    atoms : ase.Atoms
        The frame.
    index : int
        Its 0-based position in the trajectory (for the message).
    numbers : ndarray of int
        Atomic numbers of the first frame.

    Raises
    ------
    TypeError
        The frame is not an :class:`ase.Atoms`.
    ValueError
        Different atoms than the first frame, or non-finite positions or cell (the message
        names the frame and the first bad atom).
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"frame {index} is a {type(atoms).__name__}, not an ase.Atoms")
    if len(atoms) != len(numbers):
        raise ValueError(
            f"frame {index} has {len(atoms)} atoms but the first frame has {len(numbers)}: "
            "all frames must contain the same atoms"
        )
    if not np.array_equal(atoms.numbers, numbers):
        i = int(np.flatnonzero(atoms.numbers != numbers)[0])
        raise ValueError(
            f"frame {index}: atom {i} is {atoms[i].symbol} but was {chemical_symbols[numbers[i]]} "
            "in the first frame: all frames must hold the same atoms in the same order"
        )
    finite = np.isfinite(atoms.positions)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(
            f"frame {index}: atom {bad[0]} ({atoms[int(bad[0])].symbol}) has a non-finite "
            f"position ({bad.size} atom(s) in all); the trajectory is corrupt or the MD blew "
            f"up: analyse only the frames before it, e.g. frames[:{index}]"
        )
    if not np.isfinite(atoms.cell.array).all():
        raise ValueError(
            f"frame {index} has a non-finite cell {atoms.cell.array.tolist()}; the trajectory "
            f"is corrupt: analyse only the frames before it, e.g. frames[:{index}]"
        )


def as_frames(trajectory: Any) -> Sequence[Atoms]:
    """Return an indexable sequence of :class:`ase.Atoms` for any supported input.

    Frames already in memory (a list, or all frames of a file) are checked here with
    :func:`check_frame` and returned as a :class:`FrameList`; frames of an open
    :class:`ase.io.Trajectory` are read lazily and checked by :meth:`AnalysisBase.run`.

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        Frames in memory, an open ASE trajectory, or a file name read with
        :func:`ase.io.read` (all frames).

    Raises
    ------
    TypeError
        For a single ``Atoms`` object, an unsupported type or a frame that is not Atoms.
    ValueError
        For a trajectory without frames, or a frame with other atoms than the first or with
        non-finite positions or cell (the message names the frame and atom).
    """
    if isinstance(trajectory, FrameList):
        return trajectory
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
    if isinstance(trajectory, list | tuple):
        numbers = trajectory[0].numbers
        for f, atoms in enumerate(trajectory):
            check_frame(atoms, f, numbers)
        return FrameList(trajectory)
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
    if isinstance(selection, np.ndarray):
        sel = selection.tolist()
    elif isinstance(selection, Sequence):
        sel = list(selection)
    else:
        raise TypeError(
            "a selection is a symbol, a list of symbols, or a list of integer indices, got "
            f"{type(selection).__name__}"
        )
    if len(sel) == 0:
        raise ValueError("empty selection: give chemical symbols or atom indices")
    if all(isinstance(s, str) for s in sel):
        symbols = np.array(atoms.get_chemical_symbols())
        have = sorted(set(symbols.tolist()))
        idx = np.flatnonzero(np.isin(symbols, sel))
        if idx.size == 0:
            raise ValueError(f"no atoms with symbols {sel}; the frame has {have}")
        absent = [s for s in sel if s not in have]
        if absent:  # a typo would otherwise silently shrink the selection
            raise ValueError(
                f"selection {sel}: no atoms with symbols {absent} (the frame has {have}); "
                "remove them or fix their spelling"
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
        what = f"the cell length along z, {lz:.4g} Å"
    else:
        if (
            isinstance(z_range, str)
            or not isinstance(z_range, Sequence | np.ndarray)
            or len(z_range) != 2
            or not all(is_real(v) and np.isfinite(v) for v in z_range)
        ):
            raise ValueError(
                f"z_range must be two finite numbers (z_min, z_max) in Å, got {z_range!r}"
            )
        lo, hi = (float(v) for v in z_range)
        what = f"z_range=({lo:g}, {hi:g}), {hi - lo:.4g} Å"
    z0, z1 = (float(v) for v in z_range)
    if not z1 > z0:
        raise ValueError(f"z_range must be increasing, got {z_range}")
    if lz > 0 and (z0 < -1e-9 or z1 > lz + 1e-9):
        raise ValueError(
            f"z_range {z_range} Å lies outside the cell [0, {lz:.4g}] Å: choose a range inside"
        )
    if bins is None:
        if not (is_real(bin_width) and np.isfinite(bin_width) and bin_width > 0):
            raise ValueError(f"bin_width must be a finite number > 0 Å, got {bin_width!r}")
        if bin_width > (z1 - z0) * (1 + 1e-9):
            raise ValueError(
                f"bin_width={bin_width} Å is wider than the range binned ({what}): use a "
                f"bin_width of at most {z1 - z0:.4g} Å"
            )
        bins = max(1, round((z1 - z0) / bin_width))
    bins = check_int("bins", bins, 1)
    return np.linspace(z0, z1, bins + 1)


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
    if not np.isfinite(pos).all():
        f, i = np.argwhere(~np.isfinite(pos))[0][:2]
        raise ValueError(
            f"positions are non-finite at frame {f}, atom {i} (first of them): analyse only "
            "the frames before it"
        )
    if not np.isfinite(cells).all():
        raise ValueError("cells contain non-finite values: the trajectory is corrupt")
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
        if timestep is not None:
            timestep = check_positive("timestep", timestep, "fs")
        self.timestep = timestep
        self._numbers = first.numbers.copy()
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

        for name, value in (("start", start), ("stop", stop), ("step", step)):
            if value is not None and not is_int(value):
                raise TypeError(f"{name} must be an integer or None, got {value!r}")
        if step is not None and step < 1:
            raise ValueError(f"step must be >= 1 (frames are analysed forward in time), got {step}")
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
        checked = isinstance(self._trajectory, FrameList)  # as_frames checked every frame
        for i, f in enumerate(tqdm(indices, disable=not progress, desc=type(self).__name__)):
            atoms = self._trajectory[f]
            if not checked:  # read lazily: check each frame once, as it is read
                check_frame(atoms, f, self._numbers)
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
