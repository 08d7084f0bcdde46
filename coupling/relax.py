"""Structure relaxation with mixed QM/ML forces, which have no energy.

ASE's optimizers ask the calculator for the energy: the line searches and trust radii of
BFGS, LBFGS or GPMin need it, and even FIRE asks for it, to write its log line
(:meth:`ase.optimize.optimize.Optimizer.log` calls ``get_value()`` at every step whether or
not a log file is open). A :class:`coupling.ForceMixingCalculator` has no energy, so all of
them stop with :class:`~ase.calculators.calculator.PropertyNotImplementedError`.

FIRE itself (Bitzek et al., Phys. Rev. Lett. 97, 170201 (2006)) needs only forces: with
``downhill_check=False`` (ASE's default) :meth:`ase.optimize.FIRE.step` never reads the
energy. :func:`relax_mixed_forces` therefore runs ASE's own FIRE on a view of the atoms whose
``get_value()`` is NaN (there is no energy to report, and NaN cannot be mistaken for one) and
whose log line shows the step and the largest force only. Nothing of FIRE is re-implemented;
convergence is ASE's ``max_i |F_i| < fmax`` on the (constrained) forces.

A relaxation on mixed forces stops where the mixed forces vanish. That is a stationary point
of no energy surface in general, but it is the structure an MD run with these forces would
quench to, and it is what a QM/ML geometry optimisation is meant to give.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.optimize import FIRE
from ase.optimize.optimize import OptimizableAtoms

__all__ = ["RelaxResult", "relax_mixed_forces"]


@dataclass
class RelaxResult:
    """Outcome of :func:`relax_mixed_forces`.

    Attributes
    ----------
    converged : bool
        True if the largest force fell below ``fmax`` within ``steps``.
    steps : int
        Number of FIRE steps taken.
    fmax : float
        Largest force norm (eV/Å) on any atom at the final positions.
    fmax_target : float
        The requested threshold ``fmax`` (eV/Å).
    trajectory : pathlib.Path or None
        The trajectory file written, if any.
    """

    converged: bool
    steps: int
    fmax: float
    fmax_target: float
    trajectory: Path | None = None


class _ForcesOnlyAtoms(OptimizableAtoms):
    """The optimizable view of atoms for ASE's optimizers, without an energy."""

    def get_value(self) -> float:
        # FIRE with downhill_check=False only reads the value to log it; there is none
        return float("nan")


class _ForcesOnly:
    """What ASE's optimizers accept in place of an Atoms object (``__ase_optimizable__``)."""

    def __init__(self, atoms: Atoms) -> None:
        self.atoms = atoms

    def __ase_optimizable__(self) -> _ForcesOnlyAtoms:
        return _ForcesOnlyAtoms(self.atoms)

    def __len__(self) -> int:
        return len(self.atoms)


class _ForcesOnlyFIRE(FIRE):
    """ASE's FIRE with a log line that has no energy column."""

    def log(self, gradient: np.ndarray) -> None:
        if self.logfile is None:
            return
        fmax = self.optimizable.gradient_norm(gradient)
        if self.nsteps == 0:
            self.logfile.write(f"{'':10s}  {'Step':>4s} {'Time':>8s}  {'fmax (eV/Å)':>12s}\n")
        t = time.localtime()
        self.logfile.write(
            f"{'FIRE(mix)':10s}: {self.nsteps:4d} {t[3]:02d}:{t[4]:02d}:{t[5]:02d}  {fmax:12.6f}\n"
        )


def relax_mixed_forces(
    atoms: Atoms,
    fmax: float = 0.05,
    steps: int = 500,
    trajectory: str | os.PathLike | None = None,
    *,
    logfile: str | os.PathLike | None = None,
    maxstep: float = 0.2,
    dt: float = 0.1,
) -> RelaxResult:
    """Relax ``atoms`` with the forces of their calculator alone (FIRE, no energy needed).

    Meant for :class:`coupling.ForceMixingCalculator`, whose mixed forces have no energy
    (so ASE's optimizers refuse to run on it); works with any calculator that gives forces.
    Constraints of ``atoms`` (e.g. :class:`ase.constraints.FixAtoms`) are honoured. The
    positions of ``atoms`` are updated in place.

    Parameters
    ----------
    atoms : ase.Atoms
        The system (Å), with a calculator attached.
    fmax : float
        Convergence threshold (eV/Å) on the largest force norm on any atom (default 0.05).
    steps : int
        Largest number of FIRE steps (default 500; ``0`` only evaluates the forces).
    trajectory : str or path, optional
        ASE trajectory file to write every step to (overwritten). Its folder must exist.
    logfile : str or path, optional
        Log file (``"-"`` for standard output) with one line per step: step, time, fmax.
    maxstep : float
        Largest displacement (Å) of the whole configuration per step (default 0.2).
    dt : float
        Initial FIRE time step (ASE's FIRE units, default 0.1).

    Returns
    -------
    RelaxResult
        ``converged``, ``steps`` taken and the final largest force ``fmax`` (eV/Å).

    Raises
    ------
    TypeError
        ``atoms`` is not an :class:`ase.Atoms`, or a numeric argument is not a number.
    ValueError
        No calculator is attached, a non-positive or non-finite ``fmax``, ``maxstep`` or
        ``dt``, a negative or non-integer ``steps``, or a trajectory in a missing folder.

    Examples
    --------
    >>> atoms.calc = ForceMixingCalculator(qm, ml, regions)  # doctest: +SKIP
    >>> result = relax_mixed_forces(atoms, fmax=0.05, steps=200)  # doctest: +SKIP
    >>> result.converged, result.steps, result.fmax  # doctest: +SKIP
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    if atoms.calc is None:
        raise ValueError(
            "atoms has no calculator: attach one first, e.g. atoms.calc = "
            "ForceMixingCalculator(qm, ml, regions)"
        )
    for name, value, unit in (("fmax", fmax, "eV/Å"), ("maxstep", maxstep, "Å"), ("dt", dt, "")):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise TypeError(f"{name} must be a number{f' ({unit})' if unit else ''}, got {value!r}")
        if not np.isfinite(value) or value <= 0:
            raise ValueError(
                f"{name} must be finite and > 0{f' {unit}' if unit else ''}, got {value}"
            )
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    traj_path = None
    if trajectory is not None:
        traj_path = Path(trajectory)
        if not traj_path.parent.is_dir():
            raise ValueError(
                f"trajectory: folder {str(traj_path.parent)!r} does not exist; create it first"
            )
    opt = _ForcesOnlyFIRE(
        _ForcesOnly(atoms),
        logfile=None if logfile is None else str(logfile),
        trajectory=None if traj_path is None else str(traj_path),
        maxstep=float(maxstep),
        dt=float(dt),
        downhill_check=False,  # the only FIRE mode that needs no energy
    )
    with opt:
        converged = bool(opt.run(fmax=float(fmax), steps=int(steps)))
    forces = atoms.get_forces()
    final = float(np.linalg.norm(forces, axis=1).max()) if len(atoms) else 0.0
    return RelaxResult(
        converged=converged,
        steps=int(opt.nsteps),
        fmax=final,
        fmax_target=float(fmax),
        trajectory=traj_path,
    )
