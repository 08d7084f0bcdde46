"""Minimum-energy paths by the climbing-image nudged elastic band (ASE) on any ASE calculator.

:func:`neb_path` interpolates a band between two end points (IDPP, Smidstrup et al. 2014),
optimises it with FIRE and a climbing image (Henkelman, Uberuaga and Jónsson 2000) and returns
the barrier, the energies along the path and whether the band converged. A band that did not
reach ``fmax`` is reported with ``converged=False``, never silently.

References
----------
G. Henkelman, B. P. Uberuaga, H. Jónsson, J. Chem. Phys. 113, 9901 (2000).
S. Smidstrup, A. Pedersen, K. Stokbro, H. Jónsson, J. Chem. Phys. 140, 214106 (2014).
E. Bitzek et al., Phys. Rev. Lett. 97, 170201 (2006) (FIRE).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

__all__ = ["NEBResult", "ScanResult", "neb_path", "relaxed_scan"]


@dataclass
class NEBResult:
    """Outcome of :func:`neb_path`.

    Attributes
    ----------
    barrier : float
        Forward barrier, highest image energy minus the initial energy (eV).
    reverse_barrier : float
        Highest image energy minus the final energy (eV).
    reaction_energy : float
        Final minus initial energy (eV).
    energies : numpy.ndarray
        Potential energy of every image, end points included (eV).
    path_length : numpy.ndarray
        Cumulative distance along the band from the initial image (Å).
    images : list of ase.Atoms
        The optimised band (copies, without calculators).
    converged : bool
        True when the largest NEB force fell below ``fmax`` within ``steps``.
    max_force : float
        Largest NEB force on any moving image at the end (eV/Å).
    n_steps : int
        Optimiser steps taken.
    n_force_calls : int
        Energy/force evaluations of the moving images.
    ts_index : int
        Index of the highest image (the climbing image when ``climb=True``).
    wall_time : float
        Wall-clock time of the optimisation (s).
    """

    barrier: float
    reverse_barrier: float
    reaction_energy: float
    energies: np.ndarray
    path_length: np.ndarray
    images: list = field(repr=False)
    converged: bool
    max_force: float
    n_steps: int
    n_force_calls: int
    ts_index: int
    wall_time: float

    def as_dict(self) -> dict:
        """Plain-JSON summary (no structures): energies in eV, lengths in Å, time in s."""
        return {
            "barrier": float(self.barrier),
            "reverse_barrier": float(self.reverse_barrier),
            "reaction_energy": float(self.reaction_energy),
            "energies": [float(e) for e in self.energies],
            "path_length": [float(s) for s in self.path_length],
            "converged": bool(self.converged),
            "max_force": float(self.max_force),
            "n_steps": int(self.n_steps),
            "n_force_calls": int(self.n_force_calls),
            "ts_index": int(self.ts_index),
            "wall_time": float(self.wall_time),
        }


def _check_endpoints(initial: Atoms, final: Atoms) -> None:
    for name, atoms in (("initial", initial), ("final", final)):
        if not isinstance(atoms, Atoms):
            raise TypeError(f"{name} must be an ase.Atoms, got {type(atoms).__name__}.")
        if len(atoms) == 0:
            raise ValueError(f"{name} has no atoms; give the end-point structure.")
        if not np.all(np.isfinite(atoms.positions)):
            raise ValueError(f"{name} has non-finite positions; fix the structure.")
    if len(initial) != len(final) or list(initial.numbers) != list(final.numbers):
        raise ValueError(
            "initial and final must hold the same atoms in the same order "
            f"(got {initial.get_chemical_formula()} with {len(initial)} atoms and "
            f"{final.get_chemical_formula()} with {len(final)} atoms)."
        )
    if not np.allclose(initial.cell[:], final.cell[:]) or list(initial.pbc) != list(final.pbc):
        raise ValueError("initial and final must share the same cell and pbc.")


def _path_length(images: list[Atoms], mic: bool) -> np.ndarray:
    from ase.geometry import find_mic

    s = [0.0]
    for a, b in itertools.pairwise(images):
        d = b.positions - a.positions
        if mic:
            d, _ = find_mic(d, a.cell, a.pbc)
        s.append(s[-1] + float(np.sqrt((d**2).sum())))
    return np.asarray(s)


def neb_path(
    initial: Atoms,
    final: Atoms,
    calc_factory: Callable[[], Calculator],
    n_images: int = 5,
    climb: bool = True,
    fmax: float = 0.05,
    steps: int = 500,
    k: float = 0.1,
    method: str = "improvedtangent",
    interpolation: str = "idpp",
    mic: bool | None = None,
    remove_rotation_and_translation: bool | None = None,
    pre_climb_fmax: float | None = 0.5,
    logfile: str | None = None,
    trajectory: str | None = None,
) -> NEBResult:
    """Climbing-image NEB between two relaxed end points with ASE's NEB and FIRE.

    Parameters
    ----------
    initial, final : ase.Atoms
        Relaxed end points (same atoms, same order, same cell). Their constraints are kept on
        every image (fixed slab layers stay fixed). Positions in Å.
    calc_factory : callable
        Returns a new ASE calculator; called once per image (end points included), so that
        calculators that cache state (PySCF densities) are never shared between images.
    n_images : int
        Number of moving (intermediate) images, ≥ 1.
    climb : bool
        Turn the highest image into a climbing image, so that it converges onto the saddle.
    fmax : float
        Convergence threshold on the largest NEB force of the moving images (eV/Å).
    steps : int
        Largest number of FIRE steps (both stages together).
    k : float
        Spring constant between images (eV/Å²).
    method : str
        ASE NEB tangent method (``"improvedtangent"``, Henkelman and Jónsson 2000;
        ``"aseneb"``; ``"eb"``; ``"spline"``; ``"string"``).
    interpolation : {"idpp", "linear"}
        Initial guess of the band.
    mic : bool or None
        Minimum-image displacements for interpolation; default: True when any pbc is set.
    remove_rotation_and_translation : bool or None
        Remove rigid-body motion between images (molecules in vacuum); default: True when
        there is no pbc and no constraint.
    pre_climb_fmax : float or None
        With ``climb=True``, first relax the plain band to this force (eV/Å) so that the
        climbing image is chosen on a reasonable path; None climbs from the start.
    logfile : str or None
        FIRE log file (None: silent; "-": stdout).
    trajectory : str or None
        ASE trajectory file of the band during the optimisation.

    Returns
    -------
    NEBResult
        Barrier (eV), energies (eV) along the path, the converged flag and costs.

    Raises
    ------
    TypeError
        For end points that are not ``ase.Atoms`` or a ``calc_factory`` that is not callable
        or does not return an ASE calculator.
    ValueError
        For end points that differ in atoms, order or cell, or out-of-range settings.

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> res = neb_path(initial, final, EMT, n_images=5)  # doctest: +SKIP
    >>> res.barrier, res.converged  # doctest: +SKIP
    """
    from ase.mep import NEB
    from ase.optimize import FIRE

    _check_endpoints(initial, final)
    if not callable(calc_factory):
        raise TypeError(
            "calc_factory must be a callable returning an ASE calculator (e.g. EMT or "
            f"lambda: PySCFCalculator(...)), got {type(calc_factory).__name__}."
        )
    if isinstance(n_images, bool) or not isinstance(n_images, Integral) or n_images < 1:
        raise ValueError(f"n_images must be an integer >= 1 (moving images), got {n_images!r}.")
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1 (FIRE steps), got {steps!r}.")
    for name, value in (("fmax", fmax), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}.")
    if pre_climb_fmax is not None and (
        isinstance(pre_climb_fmax, bool)
        or not isinstance(pre_climb_fmax, Real)
        or not pre_climb_fmax > 0
    ):
        raise ValueError(
            f"pre_climb_fmax must be a positive force in eV/Å or None, got {pre_climb_fmax!r}."
        )
    if interpolation not in ("idpp", "linear"):
        raise ValueError(f"interpolation must be 'idpp' or 'linear', got {interpolation!r}.")

    periodic = bool(np.any(initial.pbc))
    if mic is None:
        mic = periodic
    if remove_rotation_and_translation is None:
        remove_rotation_and_translation = not periodic and not initial.constraints

    images = [initial.copy()]
    images += [initial.copy() for _ in range(n_images)]
    images.append(final.copy())
    for image in images:
        calc = calc_factory()
        if not isinstance(calc, Calculator) and not hasattr(calc, "get_potential_energy"):
            raise TypeError(f"calc_factory returned {type(calc).__name__}, not an ASE calculator.")
        image.calc = calc

    neb = NEB(
        images,
        k=float(k),
        climb=False,
        method=method,
        remove_rotation_and_translation=bool(remove_rotation_and_translation),
    )
    neb.interpolate(method="linear", mic=bool(mic), apply_constraint=False)
    if interpolation == "idpp":
        neb.interpolate(method="idpp", mic=bool(mic), apply_constraint=False)

    calls = [0]
    for image in images[1:-1]:
        original = image.calc.calculate

        def counted(*args, _orig=original, **kwargs):
            calls[0] += 1
            return _orig(*args, **kwargs)

        image.calc.calculate = counted

    t0 = time.perf_counter()
    n_steps = 0
    converged = False
    if climb and pre_climb_fmax is not None and pre_climb_fmax > fmax:
        opt = FIRE(neb, logfile=logfile, trajectory=trajectory)
        opt.run(fmax=float(pre_climb_fmax), steps=int(steps))
        n_steps += opt.nsteps
    neb.climb = bool(climb)
    remaining = max(int(steps) - n_steps, 0)
    opt = FIRE(neb, logfile=logfile, trajectory=trajectory)
    if remaining:
        converged = bool(opt.run(fmax=float(fmax), steps=remaining))
        n_steps += opt.nsteps
    wall = time.perf_counter() - t0

    forces = neb.get_forces()
    max_force = float(np.sqrt((forces**2).sum(axis=1)).max()) if len(forces) else 0.0
    converged = converged or max_force < fmax
    energies = np.array([float(image.get_potential_energy()) for image in images])
    ts = int(np.argmax(energies))
    out = []
    for image in images:
        copy = image.copy()
        copy.calc = None
        out.append(copy)
    return NEBResult(
        barrier=float(energies[ts] - energies[0]),
        reverse_barrier=float(energies[ts] - energies[-1]),
        reaction_energy=float(energies[-1] - energies[0]),
        energies=energies,
        path_length=_path_length(out, bool(mic)),
        images=out,
        converged=bool(converged),
        max_force=max_force,
        n_steps=int(n_steps),
        n_force_calls=int(calls[0]),
        ts_index=ts,
        wall_time=float(wall),
    )


@dataclass
class ScanResult:
    """A relaxed scan along a chosen coordinate (see :func:`relaxed_scan`).

    Attributes
    ----------
    values : ndarray
        The coordinate's values, in the caller's unit (e.g. Å).
    energies : ndarray
        Relaxed energy at each value (eV).
    converged : ndarray of bool
        Whether each constrained relaxation reached ``fmax``.
    images : list of ase.Atoms
        The relaxed structures (without calculators).
    wall_time : float
        Seconds for the whole scan.
    """

    values: np.ndarray
    energies: np.ndarray
    converged: np.ndarray
    images: list[Atoms] = field(repr=False)
    wall_time: float

    @property
    def all_converged(self) -> bool:
        """Every point reached ``fmax``."""
        return bool(np.all(self.converged))


def relaxed_scan(
    start: Atoms,
    set_coordinate: Callable[[Atoms, float], Atoms],
    values: Any,
    calc_factory: Callable[[], Calculator],
    fmax: float = 0.01,
    steps: int = 300,
) -> ScanResult:
    """Relaxed scan: at each value the coordinate is set and held, everything else relaxed.

    The independent route to a barrier that a nudged elastic band must reproduce when the
    reaction coordinate is known (the scan's maximum is then the saddle along that coordinate;
    a scan along a poor coordinate overestimates the barrier or hysteresis appears).

    Parameters
    ----------
    start : ase.Atoms
        Structure the scan starts from at every value (copied, never changed).
    set_coordinate : callable
        ``set_coordinate(atoms, value)`` moves the atoms so that the coordinate has ``value``
        and adds the ASE constraints that hold it (e.g. ``FixAtoms``, ``FixedPlane``) to the
        atoms it returns.
    values : sequence of float
        The coordinate's values (the caller's unit).
    calc_factory : callable
        Returns a new ASE calculator; called once per value.
    fmax : float
        Force threshold of each constrained BFGS relaxation (eV/Å), > 0.
    steps : int
        Largest number of BFGS steps per value, ≥ 1.

    Returns
    -------
    ScanResult

    Raises
    ------
    TypeError
        ``start`` is not an ``ase.Atoms``, or ``set_coordinate`` / ``calc_factory`` is not
        callable or returns the wrong type.
    ValueError
        No values, non-finite values, or ``fmax``/``steps`` out of range.
    """
    from ase.optimize import BFGS

    if not isinstance(start, Atoms):
        raise TypeError(f"start must be an ase.Atoms, got {type(start).__name__}")
    for name, fn in (("set_coordinate", set_coordinate), ("calc_factory", calc_factory)):
        if not callable(fn):
            raise TypeError(f"{name} must be a callable, got {type(fn).__name__}")
    try:
        vals = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError) as err:
        raise TypeError(f"values must be a sequence of numbers, got {values!r}") from err
    if vals.ndim != 1 or vals.size == 0 or not np.isfinite(vals).all():
        raise ValueError(f"values must be a non-empty 1-D sequence of finite numbers: {values!r}")
    if not (isinstance(fmax, Real) and fmax > 0):
        raise ValueError(f"fmax must be a positive number (eV/Å), got {fmax!r}")
    if not (isinstance(steps, Integral) and steps >= 1):
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    t0 = time.perf_counter()
    energies, converged, images = [], [], []
    for v in vals:
        atoms = set_coordinate(start.copy(), float(v))
        if not isinstance(atoms, Atoms):
            raise TypeError(
                f"set_coordinate must return the ase.Atoms it was given, got {type(atoms).__name__}"
            )
        calc = calc_factory()
        if not isinstance(calc, Calculator):
            raise TypeError(
                f"calc_factory must return an ASE calculator, got {type(calc).__name__}"
            )
        atoms.calc = calc
        ok = BFGS(atoms, logfile=None).run(fmax=float(fmax), steps=int(steps))
        energies.append(float(atoms.get_potential_energy()))
        converged.append(bool(ok))
        copy = atoms.copy()
        copy.calc = None
        images.append(copy)
    return ScanResult(
        values=vals, energies=np.array(energies), converged=np.array(converged),
        images=images, wall_time=time.perf_counter() - t0,
    )  # fmt: skip
