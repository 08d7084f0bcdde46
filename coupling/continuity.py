"""Force-continuity checks for force mixing: a dragging test and a per-MD-step monitor.

A force field that is continuous along a path (Lipschitz, with largest force derivative
``K``) changes by at most ``K h`` between points ``h`` apart: halving the step halves the
largest step-to-step jump. A discontinuity (an abrupt switch) produces a jump that does
not shrink with the step. :func:`check_force_continuity` drags atoms along a straight line
with step ``h`` and ``h/2`` and reports both largest jumps and their ratio (≈ 2 for a
continuous force, ≈ 1 for a discontinuous one). :class:`ForceContinuityMonitor` records
per-step diagnostics of an MD run to a file and warns when a force jump on an atom of the
switching shell is larger than ``max_stiffness × step`` explains.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

__all__ = ["ContinuityReport", "ForceContinuityMonitor", "check_force_continuity"]


def _positive(name: str, value, unit: str) -> float:
    """``float(value)`` for a finite number > 0, else a clear error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number ({unit}), got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0 ({unit}), got {value}")
    return float(value)


@dataclass
class ContinuityReport:
    """Result of :func:`check_force_continuity`.

    Attributes
    ----------
    step : float
        Coarse step length h (Å).
    displacements : numpy.ndarray
        Displacements (Å) along the path of the fine (h/2) grid.
    forces : numpy.ndarray
        ``(n_points, n_atoms, 3)`` forces (eV/Å) on the fine grid.
    weights : numpy.ndarray or None
        ``(n_points, n_atoms)`` QM weights on the fine grid when the calculator reports them.
    jumps_coarse, jumps_fine : numpy.ndarray
        Largest force change (eV/Å, over the checked atoms) between consecutive points with
        step h and h/2.
    max_jump, max_jump_half : float
        Largest jump (eV/Å) with step h and with step h/2.
    ratio : float
        ``max_jump / max_jump_half``: ≈ 2 for a continuous force, ≈ 1 at a discontinuity.
    where : float
        Displacement (Å, start of the fine step) of the largest fine-grid jump.
    atom : int
        Index of the atom with the largest fine-grid jump.
    max_jump_all : float
        Largest fine-grid jump (eV/Å) over all atoms, dragged or not (includes jumps of core
        forces when the QM cluster changes composition).
    continuous : bool
        ``ratio >= threshold`` (default 1.5), i.e. the jumps scale with the step.
    """

    step: float
    displacements: np.ndarray
    forces: np.ndarray
    weights: np.ndarray | None
    jumps_coarse: np.ndarray
    jumps_fine: np.ndarray
    max_jump: float
    max_jump_half: float
    ratio: float
    where: float
    atom: int
    max_jump_all: float
    continuous: bool
    checked: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))

    def plot(self, ax=None):
        """Plot the step-to-step jumps (h and h/2) along the path; return the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2))
        x = self.displacements
        ax.plot(x[:-2:2], self.jumps_coarse, "o-", label=f"step h = {self.step:.3g} Å")
        ax.plot(x[:-1], self.jumps_fine, "s-", ms=3, label=f"step h/2 = {self.step / 2:.3g} Å")
        ax.set_xlabel("displacement along the path (Å)")
        ax.set_ylabel("max |ΔF| between steps (eV/Å)")
        ax.set_title(f"ratio of largest jumps h : h/2 = {self.ratio:.2f}")
        ax.legend()
        return ax


def check_force_continuity(
    calc: Calculator,
    atoms: Atoms,
    indices,
    direction,
    distance: float,
    n_steps: int = 10,
    *,
    check: str = "moved",
    threshold: float = 1.5,
) -> ContinuityReport:
    """Drag atoms along a line and test whether the force jumps scale with the step.

    The atoms ``indices`` are moved rigidly by ``t * direction / |direction|`` for ``t`` on a
    grid of ``2 n_steps + 1`` points in ``[0, distance]``; the even points form the coarse grid
    (step ``h = distance / n_steps``), all points the fine one (step ``h/2``).

    Parameters
    ----------
    calc : Calculator
        Any ASE calculator with forces (e.g. :class:`coupling.ForceMixingCalculator`).
    atoms : ase.Atoms
        Starting configuration (Å); not modified.
    indices : sequence of int
        Atoms to drag (e.g. one water molecule).
    direction : array_like
        Direction of the drag (3-vector, any length).
    distance : float
        Length of the path (Å).
    n_steps : int
        Number of coarse steps (``>= 2``).
    check : {"moved", "all"}
        Atoms whose forces are checked: the dragged ones (default) or all.
    threshold : float
        ``ratio`` above which the forces are called continuous (default 1.5; ideal 2).

    Returns
    -------
    ContinuityReport

    Raises
    ------
    TypeError
        ``calc`` is not a calculator, ``atoms`` not an :class:`ase.Atoms`, ``indices`` not
        integers, or a numeric argument not a number.
    ValueError
        Indices out of range or repeated, a ``direction`` that is not a non-zero 3-vector,
        ``distance`` or ``threshold`` not finite and > 0, ``n_steps`` not a whole number >= 2,
        or an unknown ``check``.
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    if isinstance(calc, type) or not hasattr(calc, "get_forces"):
        raise TypeError(f"calc must be an ASE calculator instance with forces, got {calc!r}")
    idx = np.atleast_1d(np.asarray(indices))
    if idx.size and (idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer)):
        raise TypeError(f"indices must be integer atom indices, got {indices!r}")
    if idx.size == 0 or idx.min() < 0 or idx.max() >= len(atoms):
        raise ValueError(f"indices {idx.tolist()} are not atoms of a {len(atoms)}-atom system")
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"indices contains repeated atoms: {idx.tolist()}")
    idx = idx.astype(int)
    try:
        u = np.asarray(direction, dtype=float)
    except (TypeError, ValueError):
        u = np.zeros(0)
    if u.shape != (3,) or not np.all(np.isfinite(u)) or np.linalg.norm(u) == 0:
        raise ValueError(
            f"direction must be a non-zero finite 3-vector (x, y, z), got {direction!r}"
        )
    u = u / np.linalg.norm(u)
    distance = _positive("distance", distance, "Å")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or int(n_steps) < 2:
        raise ValueError(f"n_steps must be a whole number >= 2, got {n_steps!r}")
    threshold = _positive("threshold", threshold, "ratio of jumps h : h/2, e.g. 1.5")
    if check not in ("moved", "all"):
        raise ValueError(f"check must be 'moved' or 'all', got {check!r}")
    n_fine = 2 * int(n_steps)
    t = np.linspace(0.0, float(distance), n_fine + 1)
    forces, weights = [], []
    work = atoms.copy()
    work.calc = calc
    for ti in t:
        work.positions = atoms.positions
        pos = work.positions
        pos[idx] += ti * u
        work.positions = pos
        forces.append(np.array(work.get_forces(), dtype=float))
        w = getattr(calc, "results", {}).get("weights")
        weights.append(None if w is None else np.array(w, dtype=float))
    forces = np.array(forces)
    checked = idx if check == "moved" else np.arange(len(atoms))

    def jumps(f: np.ndarray, sel: np.ndarray) -> np.ndarray:
        return np.linalg.norm(np.diff(f[:, sel], axis=0), axis=2)

    fine = jumps(forces, checked)
    coarse = jumps(forces[::2], checked).max(axis=1)
    k, a = np.unravel_index(np.argmax(fine), fine.shape)
    max_coarse = float(coarse.max())
    max_fine = float(fine.max())
    ratio = max_coarse / max_fine if max_fine > 0 else np.inf
    has_w = all(w is not None for w in weights)
    return ContinuityReport(
        step=float(distance) / int(n_steps),
        displacements=t,
        forces=forces,
        weights=np.array(weights) if has_w else None,
        jumps_coarse=coarse,
        jumps_fine=fine.max(axis=1),
        max_jump=max_coarse,
        max_jump_half=max_fine,
        ratio=float(ratio),
        where=float(t[k]),
        atom=int(checked[a]),
        max_jump_all=float(jumps(forces, np.arange(len(atoms))).max()),
        continuous=bool(ratio >= threshold),
        checked=checked,
    )


class ForceContinuityMonitor:
    """Per-step force-continuity diagnostics of an MD run with a force-mixing calculator.

    Attach it to an ASE dynamics object (``dyn.attach(monitor, interval=1)``). At every call it
    reads the calculator's last ``results`` and appends one row to a CSV file (flushed and
    fsynced, so nothing is lost when the run is killed):

    ``step``, ``n_core``, ``n_shell``, ``n_buffer``, ``cluster_size``, ``n_joined``,
    ``n_left`` (atoms that entered/left the QM cluster since the last call), ``max_dr`` (Å,
    largest displacement), ``max_jump_shell`` (eV/Å, largest force change of an atom with
    0 < w < 1 now or before, or whose weight changed), ``max_jump_all`` (eV/Å),
    ``stiffness_shell`` (eV/Å²,
    ``max_jump_shell / max_dr``), ``rms_qm_ml_shell`` (eV/Å, RMS of ``|F_QM - F_ML|`` over the
    shell atoms), ``net_force`` (eV/Å, norm of the sum of the forces).

    A continuous force changes by at most ``K × |Δr|``, with ``K`` the largest force constant
    of the system; a jump in the shell above ``max_stiffness × max_dr`` is therefore not
    explained by the step and triggers a :class:`RuntimeWarning`.

    Parameters
    ----------
    atoms : ase.Atoms
        The atoms being propagated (their calculator must be a force-mixing calculator).
    logfile : str or path
        CSV file to append to (created with a header if absent). Its folder must exist; an
        existing file must be a log of this monitor (same header).
    max_stiffness : float
        Largest force derivative (eV/Å²) a step may explain (default 100; the O–H stretch
        force constant of water is ≈ 50 eV/Å²).

    Raises
    ------
    TypeError
        ``atoms`` is not an :class:`ase.Atoms`, or ``max_stiffness`` not a number.
    ValueError
        ``max_stiffness`` not finite and > 0, a ``logfile`` in a folder that does not exist,
        a ``logfile`` that is a folder, or an existing file with another header.
    """

    columns = (
        "step",
        "n_core",
        "n_shell",
        "n_buffer",
        "cluster_size",
        "n_joined",
        "n_left",
        "max_dr",
        "max_jump_shell",
        "max_jump_all",
        "stiffness_shell",
        "rms_qm_ml_shell",
        "net_force",
    )

    def __init__(self, atoms: Atoms, logfile: str | os.PathLike, max_stiffness: float = 100.0):
        if not isinstance(atoms, Atoms):
            raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
        if isinstance(max_stiffness, bool) or not isinstance(
            max_stiffness, int | float | np.integer | np.floating
        ):
            raise TypeError(f"max_stiffness must be a number (eV/Å²), got {max_stiffness!r}")
        if not np.isfinite(max_stiffness) or max_stiffness <= 0:
            raise ValueError(f"max_stiffness must be > 0 eV/Å², got {max_stiffness}")
        self.atoms = atoms
        self.path = Path(logfile)
        self.max_stiffness = float(max_stiffness)
        self.n_calls = 0
        self.n_warnings = 0
        self._prev: dict | None = None
        if self.path.is_dir():
            raise ValueError(f"logfile {str(self.path)!r} is a folder; give a CSV file path")
        if not self.path.parent.is_dir():
            raise ValueError(
                f"logfile: folder {str(self.path.parent)!r} does not exist; create it first "
                "(or fix the path)"
            )
        if not self.path.exists() or self.path.stat().st_size == 0:
            with self.path.open("w", newline="") as fh:
                csv.writer(fh).writerow(self.columns)
        else:
            with self.path.open(newline="") as fh:
                header = next(csv.reader(fh), [])
            if tuple(header) != self.columns:
                raise ValueError(
                    f"logfile {str(self.path)!r} exists but is not a ForceContinuityMonitor log "
                    f"(header {header[:4]}...); choose another file or remove it"
                )

    def __call__(self) -> dict:
        """Record the current step; return the row as a dict."""
        calc = self.atoms.calc
        res = getattr(calc, "results", {})
        if "weights" not in res or "forces" not in res:
            raise ValueError(
                "ForceContinuityMonitor needs a ForceMixingCalculator that has computed "
                "forces for the current step (attach it to the dynamics after the first step)"
            )
        forces = np.asarray(res["forces"])
        w = np.asarray(res["weights"])
        labels = np.asarray(res["labels"])
        pos = self.atoms.get_positions()
        cluster = set(np.asarray(res["cluster_indices"]).tolist())
        shell_now = (w > 0) & (w < 1)
        row = {
            "step": self.n_calls,
            "n_core": int(np.count_nonzero(labels == 0)),
            "n_shell": int(np.count_nonzero(shell_now)),
            "n_buffer": int(np.count_nonzero(labels == 2)),
            "cluster_size": int(res.get("cluster_size", 0)),
            "n_joined": 0,
            "n_left": 0,
            "max_dr": 0.0,
            "max_jump_shell": 0.0,
            "max_jump_all": 0.0,
            "stiffness_shell": 0.0,
            "rms_qm_ml_shell": 0.0,
            "net_force": float(np.linalg.norm(forces.sum(axis=0))),
        }
        if shell_now.any():
            d = np.asarray(res["qm_forces"])[shell_now] - np.asarray(res["ml_forces"])[shell_now]
            row["rms_qm_ml_shell"] = float(np.sqrt(np.mean(np.sum(d**2, axis=1))))
        prev = self._prev
        if prev is not None and len(prev["forces"]) == len(forces):
            dr = pos - prev["positions"]
            if self.atoms.pbc.any():
                from ase.geometry import find_mic

                dr, _ = find_mic(dr, self.atoms.cell, self.atoms.pbc)
            max_dr = float(np.linalg.norm(dr, axis=1).max())
            jump = np.linalg.norm(forces - prev["forces"], axis=1)
            # atoms in the shell now or before, and any atom whose weight changed (with an
            # abrupt switch no atom is ever *in* the shell, yet its weight jumps 1 -> 0)
            shell = shell_now | prev["shell"] | (w != prev["weights"])
            row["n_joined"] = len(cluster - prev["cluster"])
            row["n_left"] = len(prev["cluster"] - cluster)
            row["max_dr"] = max_dr
            row["max_jump_all"] = float(jump.max())
            if shell.any():
                row["max_jump_shell"] = float(jump[shell].max())
                if max_dr > 0:
                    row["stiffness_shell"] = row["max_jump_shell"] / max_dr
                if row["max_jump_shell"] > self.max_stiffness * max_dr:
                    self.n_warnings += 1
                    warnings.warn(
                        f"step {self.n_calls}: a force in the switching shell jumped by "
                        f"{row['max_jump_shell']:.3g} eV/Å while atoms moved at most "
                        f"{max_dr:.3g} Å (more than max_stiffness = {self.max_stiffness:g} "
                        "eV/Å² explains): check the switching function and shell width",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        self._prev = {
            "forces": forces.copy(),
            "positions": pos.copy(),
            "shell": shell_now,
            "weights": w.copy(),
            "cluster": cluster,
        }
        with self.path.open("a", newline="") as fh:
            csv.writer(fh).writerow([row[c] for c in self.columns])
            fh.flush()
            os.fsync(fh.fileno())
        self.n_calls += 1
        return row

    def read(self) -> dict[str, np.ndarray]:
        """Return the log as a dict of column arrays."""
        data = np.genfromtxt(self.path, delimiter=",", names=True, ndmin=1)
        return {c: np.asarray(data[c]) for c in self.columns}

    def plot(self, path: str | os.PathLike | None = None):
        """Plot the logged diagnostics (cluster size, jumps, QM–ML discrepancy); return Figure."""
        import matplotlib.pyplot as plt

        d = self.read()
        fig, axes = plt.subplots(3, 1, figsize=(6, 7), sharex=True)
        axes[0].plot(d["step"], d["cluster_size"], label="QM cluster (atoms)")
        axes[0].plot(d["step"], d["n_shell"], label="shell atoms")
        axes[0].legend()
        axes[0].set_ylabel("atoms")
        axes[1].semilogy(d["step"], np.maximum(d["max_jump_shell"], 1e-6), label="shell")
        axes[1].semilogy(d["step"], np.maximum(d["max_jump_all"], 1e-6), label="all atoms")
        axes[1].semilogy(
            d["step"],
            np.maximum(self.max_stiffness * d["max_dr"], 1e-6),
            "k--",
            label="max_stiffness × max |Δr|",
        )
        axes[1].set_ylabel("max |ΔF| per step (eV/Å)")
        axes[1].legend(fontsize=8)
        axes[2].plot(d["step"], d["rms_qm_ml_shell"])
        axes[2].set_ylabel("RMS |F_QM − F_ML|\nin shell (eV/Å)")
        axes[2].set_xlabel("MD step")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig
