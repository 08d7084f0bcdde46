"""A stable MD time step from the stiffest vibration of the potential.

Velocity Verlet is linearly stable for a harmonic mode of angular frequency ω only if
ω·dt < 2. The largest ω of a configuration is the square root of the largest eigenvalue of
the mass-weighted Hessian ``M^{-1/2} H M^{-1/2}``. We find it with ARPACK's implicitly
restarted Lanczos (:func:`scipy.sparse.linalg.eigsh`) on Hessian–vector products obtained by
central finite differences of the forces, so no 3N×3N matrix is ever built (two force calls
per product), or, for small systems, from the full finite-difference Hessian
(``method="hessian"``). The recommended step is ``dt = safety · 2/ω_max``; the default
``safety = 0.2`` puts ≈ 16 steps in the fastest period, the usual accuracy rule for
energy-conserving MD (stability alone would allow safety → 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from scipy.sparse.linalg import LinearOperator, eigsh

__all__ = ["TimestepEstimate", "estimate_timestep", "omega_to_wavenumber"]

SPEED_OF_LIGHT_CM_S = 2.99792458e10


def omega_to_wavenumber(omega: float) -> float:
    """Angular frequency in ASE units (1/ASE-time) to wavenumber in cm^-1."""
    return omega * units.s / (2 * np.pi * SPEED_OF_LIGHT_CM_S)


@dataclass(frozen=True)
class TimestepEstimate:
    """Result of :func:`estimate_timestep`.

    Attributes
    ----------
    dt : float
        Recommended time step, ASE time units (multiply by 1/ase.units.fs for fs).
    dt_fs : float
        The same in fs.
    omega_max : float
        Largest angular frequency, 1/ASE-time.
    wavenumber_cm1 : float
        ω_max as a wavenumber, cm^-1.
    safety : float
        Fraction of the Verlet stability limit 2/ω_max used.
    method : str
        "lanczos" or "hessian".
    force_calls : int
        Force evaluations used.
    """

    dt: float
    dt_fs: float
    omega_max: float
    wavenumber_cm1: float
    safety: float
    method: str
    force_calls: int

    def __str__(self) -> str:
        return (
            f"omega_max = {self.wavenumber_cm1:.1f} cm^-1 -> dt = {self.dt_fs:.3f} fs "
            f"(safety {self.safety} x 2/omega_max, {self.method}, {self.force_calls} force calls)"
        )


def estimate_timestep(
    atoms: Atoms,
    safety: float = 0.2,
    method: str = "lanczos",
    delta: float = 1e-3,
    tol: float = 1e-4,
) -> TimestepEstimate:
    """Recommended velocity-Verlet time step from the largest vibrational frequency.

    Parameters
    ----------
    atoms : ase.Atoms
        Configuration with a calculator attached (any ASE calculator giving forces in eV/Å).
        Estimate at a typical (e.g. equilibrated) configuration; it is not changed.
    safety : float
        dt = safety · 2/ω_max, with 0 < safety ≤ 1 (1 is the bare stability limit).
    method : str
        "lanczos" (Hessian-vector products, 2 force calls each) or "hessian" (full
        finite-difference Hessian, 6N force calls; for small systems).
    delta : float
        Finite-difference step, Å: no atom moves by more than ``delta`` along any Cartesian
        axis (the displacement is a mass-weighted vector scaled so the lightest atom's
        largest possible move is ``delta``).
    tol : float
        Relative tolerance of the Lanczos eigenvalue.

    Returns
    -------
    TimestepEstimate

    Raises
    ------
    ValueError
        Bad ``safety``/``method``/``delta``, no calculator, or no positive curvature found.
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    for name, value, unit in (("safety", safety, ""), ("delta", delta, " Å"), ("tol", tol, "")):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise TypeError(f"{name} must be a number{unit}, got {value!r}")
    if not 0 < safety <= 1:
        raise ValueError(f"safety must be in (0, 1], got {safety}")
    if not isinstance(method, str) or method not in ("lanczos", "hessian"):
        raise ValueError(f"method must be 'lanczos' or 'hessian', got {method!r}")
    if not (np.isfinite(delta) and 0 < delta <= 0.1):
        raise ValueError(
            f"delta must be a finite number in (0, 0.1] Å (a finite-difference step), got {delta}"
        )
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0 (0: machine precision), got {tol}")
    if len(atoms) == 0:
        raise ValueError("atoms is empty: give a structure with atoms")
    bad = ~np.isfinite(atoms.positions).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"atom {i} ({atoms[i].symbol}) has a non-finite position: fix the structure"
        )
    if atoms.calc is None:
        raise ValueError("atoms has no calculator; attach one (atoms.calc = ...) first")
    work = atoms.copy()
    work.calc = atoms.calc
    x0 = work.get_positions()
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(work.get_masses()), 3)
    n = 3 * len(work)
    calls = 0

    def forces_at(dx: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        work.set_positions(x0 + dx.reshape(-1, 3))
        return work.get_forces().ravel()

    # displacements in mass-weighted space are scaled so the largest Cartesian step is delta
    h = delta / inv_sqrt_m.max()

    def hvp(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float).ravel()
        norm = np.linalg.norm(v)
        if norm == 0:
            return np.zeros(n)
        dx = h * inv_sqrt_m * v / norm
        df = forces_at(dx) - forces_at(-dx)
        return -(inv_sqrt_m * df) / (2 * h) * norm

    try:
        if method == "hessian" or n <= 6:
            hess = np.column_stack([hvp(e) for e in np.eye(n)])
            lam = float(np.linalg.eigvalsh(0.5 * (hess + hess.T))[-1])
            method = "hessian"
        else:
            op = LinearOperator((n, n), matvec=hvp, dtype=float)
            rng = np.random.default_rng(0)  # deterministic start vector
            lam = float(eigsh(op, k=1, which="LA", tol=tol, v0=rng.standard_normal(n))[0][0])
    finally:
        work.set_positions(x0)
    if not lam > 0 or omega_to_wavenumber(np.sqrt(lam)) < 1.0:
        raise ValueError(
            f"largest mass-weighted Hessian eigenvalue is {lam:.3e} eV/(Å² amu), not positive "
            "(below 1 cm^-1); the configuration has no vibrations to resolve (check the "
            "calculator and that the atoms interact)"
        )
    omega = float(np.sqrt(lam))
    dt = safety * 2.0 / omega
    return TimestepEstimate(
        dt=dt,
        dt_fs=dt / units.fs,
        omega_max=omega,
        wavenumber_cm1=omega_to_wavenumber(omega),
        safety=safety,
        method=method,
        force_calls=calls,
    )
