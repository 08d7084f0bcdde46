"""Umbrella sampling of one atom's height above a surface, windows as MPI replicas.

A window holds one atom (an ion) near a height z₀ above the surface with a harmonic bias

    U_bias = ½ k (h − z₀)²,   h = z_index − z_surface,

where z_surface is a fixed plane or the mean z of a set of surface atoms (e.g. the top metal
layer). The analysis (F(z) by MBAR, D⊥ and D∥ per window) is
:class:`multiscale.extract.umbrella.UmbrellaAnalysis`.

Why a calculator wrapper and not an ASE constraint
--------------------------------------------------
The bias is :class:`HarmonicZRestraint`, an ASE calculator that wraps the physical one and
adds the bias to its energy and forces. An ASE constraint with ``adjust_forces`` /
``adjust_potential_energy`` was the alternative; the wrapper was chosen because

* the bias is part of every energy ASE reports (``get_potential_energy``, the runner's
  ``thermo.dat``), so the energy conservation of an NVE window and the finite-difference test
  of the forces include it, with no dependence on ``apply_constraint`` flags;
* :class:`~multiscale.md.runner.MDRunner` writes the atoms' constraints into every ``.traj``
  frame, and ASE can read back only the constraint classes of :mod:`ase.constraints`: a
  custom constraint would make the window trajectories unreadable or silently lose the bias;
* the runner adds :class:`ase.constraints.FixCom`; with the reaction force of the bias put on
  the surface atoms the bias exerts no net force, so the order in which constraints adjust
  forces does not matter;
* ASE's own :class:`ase.constraints.Hookean` acts only beyond a threshold distance (one-sided),
  not as a harmonic window around z₀.

The unbiased energy and the bias energy stay available separately in ``calc.results``
(``"unbiased_energy"``, ``"restraint_energy"``, ``"restraint_height"``).

Windows
-------
:func:`run_umbrella_windows` runs one window per centre through
:func:`multiscale.md.replicas.run_replicas`: window k is replica k (``output_dir/replica_XXX``,
an ordinary restartable :class:`~multiscale.md.runner.MDRunner` folder with checkpoints), its
seed derived from the base seed and k only, so 1 rank and N ranks give the same windows bit for
bit. ``output_dir/umbrella.json`` records the windows (atom, centres, spring constants,
surface, temperature, frame spacing) for the analysis and is checked on restart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import (
    BaseCalculator,
    Calculator,
    CalculatorSetupError,
    all_changes,
)

from .replicas import ReplicaResult, run_replicas
from .runner import MDSettings

__all__ = [
    "UMBRELLA_SPEC",
    "HarmonicZRestraint",
    "UmbrellaRun",
    "place_at_height",
    "restraint_height",
    "run_umbrella_windows",
]

#: file in the umbrella output folder describing the windows
UMBRELLA_SPEC = "umbrella.json"

SurfaceSpec = float | Sequence[int] | np.ndarray


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _check_surface(surface_z: Any) -> float | np.ndarray:
    """A plane height (float, Å) or a non-empty 1D array of distinct atom indices."""
    if _is_real(surface_z):
        if not np.isfinite(surface_z):
            raise ValueError(f"surface_z must be a finite height (Å), got {surface_z!r}")
        return float(surface_z)
    if isinstance(surface_z, str) or not isinstance(surface_z, Sequence | np.ndarray):
        raise TypeError(
            "surface_z must be a plane height in Å (a number) or a list of surface atom "
            f"indices, got {type(surface_z).__name__}"
        )
    idx = list(surface_z)
    if not idx or not all(_is_int(i) and i >= 0 for i in idx):
        raise ValueError(
            f"surface_z as atom indices must be a non-empty list of integers >= 0, got {idx!r}"
        )
    if len(set(int(i) for i in idx)) != len(idx):
        raise ValueError(f"surface_z lists an atom twice: {idx!r}")
    return np.asarray(idx, dtype=int)


def restraint_height(positions: np.ndarray, index: int, surface_z: SurfaceSpec) -> np.ndarray:
    """Height of atom ``index`` above the surface, h = z_index − z_surface (Å).

    Parameters
    ----------
    positions : ndarray, shape (n_atoms, 3) or (n_frames, n_atoms, 3)
        Cartesian positions (Å), surface normal along z.
    index : int
        The restrained atom.
    surface_z : float or sequence of int
        A fixed plane height (Å) or the indices of the atoms whose mean z is the surface.

    Returns
    -------
    ndarray
        h (Å), one value per frame (a 0-d array for a single frame). The plain difference of
        Cartesian z, no periodic wrapping: keep the restrained atom and the surface in the
        same periodic image (the runner never wraps positions).
    """
    pos = np.asarray(positions, dtype=float)
    surf = _check_surface(surface_z)
    z_ion = pos[..., index, 2]
    if isinstance(surf, float):
        return z_ion - surf
    return z_ion - pos[..., surf, 2].mean(axis=-1)


def place_at_height(atoms: Atoms, index: int, height: float, surface_z: SurfaceSpec) -> int | None:
    """Move atom ``index`` (an ion) to ``height`` above the surface, in place, without overlap.

    The new site is the emptiest point of a 16 x 16 grid over the cell's x-y plane at that
    height (largest distance to every other atom, minimum image). If an atom of another
    molecule is still within 2.0 Å of it, that molecule and the ion swap places: the molecule
    is translated rigidly so that its atom nearest the site goes where the ion was. The
    result still needs a short relaxation (the solvation shells are those of the old sites).

    Parameters
    ----------
    atoms : ase.Atoms
        The system (surface normal along z, periodic or not in x and y).
    index : int
        The atom to move.
    height : float
        Target height above the surface (Å).
    surface_z : float or sequence of int
        The surface (see :class:`HarmonicZRestraint`).

    Returns
    -------
    int or None
        Index of the atom of the swapped molecule nearest to the site, or None (no swap).
    """
    from ase.geometry import find_mic

    from ..mlip.carve import molecule_labels

    if not _is_int(index) or not 0 <= index < len(atoms):
        raise ValueError(f"index must be an atom index in 0..{len(atoms) - 1}, got {index!r}")
    if not (_is_real(height) and np.isfinite(height)):
        raise ValueError(f"height must be a finite number (Å), got {height!r}")
    surf = _check_surface(surface_z)
    pos = atoms.get_positions()
    old = pos[index].copy()
    z_surf = surf if isinstance(surf, float) else float(pos[surf, 2].mean())
    others = np.delete(np.arange(len(atoms)), index)
    g = (np.arange(16) + 0.5) / 16
    frac = np.array([(u, v) for u in g for v in g])
    sites = frac @ atoms.cell.array[:2, :2]
    sites = np.column_stack([sites, np.full(len(sites), z_surf + float(height))])
    best, best_clear = sites[0], -1.0
    for site in sites:
        vec, dist = find_mic(pos[others] - site, atoms.cell, atoms.pbc)
        if dist.min() > best_clear:
            best, best_clear = site, float(dist.min())
    vec, dist = find_mic(pos - best, atoms.cell, atoms.pbc)
    labels = molecule_labels(atoms)
    dist[labels == labels[index]] = np.inf
    nearest = int(np.argmin(dist))
    pos[index] = best
    swapped = None
    if dist[nearest] < 2.0 and atoms.get_tags()[nearest] == 0:
        members = np.nonzero(labels == labels[nearest])[0]
        pos[members] += old - (best + vec[nearest])
        swapped = nearest
    atoms.set_positions(pos)
    return swapped


class HarmonicZRestraint(Calculator):
    """An ASE calculator adding a harmonic bias on one atom's height above a surface.

    E = E_calc + ½ k (h − z₀)², h = z_index − z_surface; the bias force −k (h − z₀) acts on
    the atom along z, and its reaction, shared equally, on the surface atoms (when the surface
    is given by atoms), so the bias exerts no net force.

    Parameters
    ----------
    calc : ase calculator
        The physical calculator (energy and forces); it is called with the same atoms.
    index : int
        The restrained atom (e.g. an ion).
    z0 : float
        Window centre: the height the atom is held at (Å above the surface).
    k : float
        Spring constant (eV/Å²). For the restrained D⊥ estimator choose k large against the
        curvature of the free energy across the window (see
        :class:`multiscale.extract.umbrella.UmbrellaAnalysis`).
    surface_z : float or sequence of int
        The surface: a fixed plane height (Å), or the indices of the surface atoms (e.g. the
        top metal layer) whose mean z is the surface (recommended: the height then follows
        the slab and the bias conserves momentum).

    Notes
    -----
    ``results`` also holds ``"unbiased_energy"`` (eV), ``"restraint_energy"`` (eV) and
    ``"restraint_height"`` (h, Å) of the last calculation. Errors in the setup (atom index
    out of range, restrained atom among the surface atoms) raise
    :class:`ase.calculators.calculator.CalculatorSetupError` at the first calculation.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(
        self, calc: BaseCalculator, index: int, z0: float, k: float, surface_z: SurfaceSpec = 0.0
    ) -> None:
        if not (callable(getattr(calc, "get_potential_energy", None)) and
                callable(getattr(calc, "get_forces", None))):  # fmt: skip
            raise TypeError(
                f"calc must be an ASE calculator (energy and forces), got {type(calc).__name__}"
            )
        if not _is_int(index) or index < 0:
            raise ValueError(f"index must be an atom index (integer >= 0), got {index!r}")
        if not (_is_real(z0) and np.isfinite(z0)):
            raise ValueError(f"z0 must be a finite height above the surface (Å), got {z0!r}")
        if not (_is_real(k) and np.isfinite(k) and k > 0):
            raise ValueError(f"k must be a finite spring constant > 0 (eV/Å²), got {k!r}")
        surf = _check_surface(surface_z)
        if not isinstance(surf, float) and int(index) in surf.tolist():
            raise ValueError(
                f"index {index} is also one of the surface atoms (surface_z): the restrained "
                "atom must not define the surface"
            )
        super().__init__()
        self.calc = calc
        self.index = int(index)
        self.z0 = float(z0)
        self.k = float(k)
        self.surface_z = surf

    def __repr__(self) -> str:
        surf = self.surface_z if isinstance(self.surface_z, float) else self.surface_z.tolist()
        return (
            f"HarmonicZRestraint({type(self.calc).__name__}, index={self.index}, z0={self.z0}, "
            f"k={self.k}, surface_z={surf})"
        )

    def reset(self) -> None:
        """Forget stored results, here and in the wrapped calculator."""
        super().reset()
        if callable(getattr(self.calc, "reset", None)):
            self.calc.reset()

    def bias(self, atoms: Atoms) -> tuple[float, np.ndarray, float]:
        """Bias energy (eV), bias forces (eV/Å, shape (n_atoms, 3)) and height h (Å)."""
        n = len(atoms)
        if self.index >= n:
            raise CalculatorSetupError(
                f"HarmonicZRestraint: index {self.index} is out of range for {n} atoms"
            )
        if not isinstance(self.surface_z, float) and self.surface_z.max() >= n:
            raise CalculatorSetupError(
                f"HarmonicZRestraint: surface atom index {int(self.surface_z.max())} is out of "
                f"range for {n} atoms"
            )
        h = float(restraint_height(atoms.positions, self.index, self.surface_z))
        dev = h - self.z0
        forces = np.zeros((n, 3))
        forces[self.index, 2] = -self.k * dev
        if not isinstance(self.surface_z, float):
            forces[self.surface_z, 2] += self.k * dev / self.surface_z.size
        return 0.5 * self.k * dev**2, forces, h

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy", "forces"),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = atoms if atoms is not None else self.atoms
        e_bias, f_bias, h = self.bias(atoms)
        e0 = float(self.calc.get_potential_energy(atoms))
        f0 = np.asarray(self.calc.get_forces(atoms), dtype=float)
        self.results = {
            "energy": e0 + e_bias,
            "free_energy": e0 + e_bias,
            "forces": f0 + f_bias,
            "unbiased_energy": e0,
            "restraint_energy": e_bias,
            "restraint_height": h,
        }


@dataclass(frozen=True)
class UmbrellaRun:
    """Outcome of :func:`run_umbrella_windows` (the same on every rank).

    Attributes
    ----------
    directory : pathlib.Path
        The umbrella folder (holds ``umbrella.json`` and ``replica_XXX/`` per window).
    spec : dict
        Contents of ``umbrella.json``.
    windows : list of ReplicaResult
        One per window, in the order of ``centers``.
    """

    directory: Path
    spec: dict
    windows: list[ReplicaResult]


def write_or_check_spec(
    path: Path, spec: dict, keys: Sequence[str], what: str, hint: str, comm: Any
) -> None:
    """Rank 0 writes ``spec`` to ``path`` (JSON, atomically) or, if it exists, checks that the
    ``keys`` agree with it; any error is raised on every rank of ``comm``.

    The record that makes a run folder restartable (windows, releases): a rerun must describe
    the same run. ``what`` and ``hint`` finish the message, e.g. ``"other windows"`` and
    ``"use the same windows and settings to resume, or another output_dir"``.
    """
    from ..pipeline.state import atomic_write_text

    error = None
    if comm.Get_rank() == 0:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                old = json.loads(path.read_text())
                diff = [key for key in keys if old.get(key) != spec[key]]
                if diff:
                    raise ValueError(f"{path} describes {what} ({', '.join(diff)} differ): {hint}")
            else:
                atomic_write_text(path, json.dumps(spec, indent=1))
        except (OSError, ValueError) as err:
            error = f"{type(err).__name__}: {err}"
    error = comm.bcast(error, root=0)
    if error is not None:
        raise ValueError(error)


def run_umbrella_windows(
    make_atoms: Callable[[int], Atoms],
    index: int,
    centers: Sequence[float],
    k: float | Sequence[float],
    steps: int,
    output_dir: str | Path,
    settings: MDSettings,
    comm: Any,
    surface_z: SurfaceSpec = 0.0,
    progress: bool = False,
    integrity: Any = "stop",
) -> UmbrellaRun:
    """Run one restrained MD window per centre, windows spread over the ranks of ``comm``.

    Parameters
    ----------
    make_atoms : callable
        ``make_atoms(k)`` returns window k's starting Atoms with its own (unbiased) calculator
        attached; the restraint is wrapped around it here. Start the restrained atom near
        ``centers[k]`` (an atom far from its centre feels a large bias force).
    index : int
        The restrained atom.
    centers : sequence of float
        Window centres, heights above the surface (Å).
    k : float or sequence of float
        Spring constant(s) (eV/Å²), one for all windows or one per window.
    steps : int
        Total MD steps per window (a rerun with more steps resumes from the checkpoints).
    output_dir : str or Path
        Umbrella folder: ``umbrella.json`` and ``replica_XXX/`` (window XXX's MDRunner folder).
    settings : MDSettings
        MD settings; ``settings.seed`` is the base seed (window seeds derive from it and the
        window index only).
    comm : mpi4py communicator
        Ranks to spread the windows over (``MPI.COMM_WORLD``, or ``MPI.COMM_SELF`` for serial).
    surface_z : float or sequence of int
        The surface (see :class:`HarmonicZRestraint`).
    progress : bool
        Progress bars (rank 0's windows).
    integrity : {"stop", "flag"}, None or callable
        Each window's molecule-integrity monitor (see :func:`run_replicas`).

    Returns
    -------
    UmbrellaRun

    Raises
    ------
    ValueError
        Bad windows, or ``umbrella.json`` in ``output_dir`` describes other windows.
    RuntimeError
        On every rank, when a window failed (from :func:`run_replicas`).
    """
    if not _is_int(index) or index < 0:
        raise ValueError(f"index must be an atom index (integer >= 0), got {index!r}")
    if isinstance(centers, str) or not isinstance(centers, Sequence | np.ndarray):
        raise TypeError(f"centers must be a list of heights (Å), got {type(centers).__name__}")
    try:
        c = np.asarray(centers, dtype=float).ravel()
    except (TypeError, ValueError) as err:
        raise TypeError(f"centers must be a list of heights (Å), got {centers!r}") from err
    if c.size == 0 or not np.isfinite(c).all():
        raise ValueError(f"centers must be a non-empty list of finite heights (Å), got {centers!r}")
    try:
        k_arr = np.asarray(k, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"k must be a number or a list of numbers (eV/Å²), got {k!r}") from err
    if k_arr.ndim == 0:
        ks = np.full(c.shape, float(k_arr))
    elif k_arr.ndim == 1 and k_arr.size == c.size:
        ks = k_arr
    else:
        raise ValueError(
            f"k must be one spring constant or one per window ({c.size}), got shape {k_arr.shape}"
        )
    if not (np.isfinite(ks).all() and (ks > 0).all()):
        raise ValueError(f"k must be finite and > 0 (eV/Å²), got {k!r}")
    surf = _check_surface(surface_z)
    if not isinstance(settings, MDSettings):
        raise TypeError("settings must be an MDSettings")
    if not isinstance(output_dir, str | Path):
        raise TypeError(f"output_dir must be a str or Path, got {type(output_dir).__name__}")
    if comm is None or not hasattr(comm, "allgather"):
        raise TypeError("comm must be an mpi4py communicator (e.g. MPI.COMM_WORLD)")
    out = Path(output_dir)
    spec = {
        "index": int(index),
        "centers": c.tolist(),
        "k": ks.tolist(),
        "surface_z": surf if isinstance(surf, float) else surf.tolist(),
        "temperature_K": settings.temperature_K,
        "timestep_fs": settings.timestep_fs,
        "traj_interval": settings.traj_interval,
        "frame_interval_fs": settings.timestep_fs * settings.traj_interval,
        "traj_format": settings.traj_format,
        "base_seed": settings.seed,
        "units": {"centers": "Å", "k": "eV/Å²", "surface_z": "Å or atom indices"},
    }
    keys = ("index", "centers", "k", "surface_z", "temperature_K", "timestep_fs",
            "traj_interval", "base_seed")  # fmt: skip
    write_or_check_spec(
        out / UMBRELLA_SPEC, spec, keys, "other windows",
        "use the same windows and settings to resume, or another output_dir", comm,
    )  # fmt: skip

    def biased(i: int) -> Atoms:
        atoms = make_atoms(i)
        if not isinstance(atoms, Atoms) or atoms.calc is None:
            raise TypeError(f"make_atoms({i}) must return ase.Atoms with a calculator attached")
        atoms.calc = HarmonicZRestraint(atoms.calc, index, c[i], float(ks[i]), surface_z=surf)
        return atoms

    windows = run_replicas(
        biased, c.size, steps, out, settings, comm, progress=progress, integrity=integrity
    )
    return UmbrellaRun(directory=out, spec=spec, windows=windows)
