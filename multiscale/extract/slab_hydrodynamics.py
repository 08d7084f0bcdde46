"""Hydrodynamic finite-size effects on in-plane diffusion in a periodic slit (metal|liquid|metal).

A liquid film between two walls, periodic in the plane with a small cell (area A), diffuses
faster in-plane than the same film of infinite lateral extent: the laterally uniform flow
mode of the periodic cell (lateral wavevector k = 0) carries every molecule at a height z
with it, and its mobility grows with the film thickness H and falls as 1/A. The other
lateral modes (k ≠ 0) give the bulk-like negative correction of a lattice of periodic images
(the slab analogue of Yeh & Hummer's 3D correction). In a 24 Å film on a 10 x 13 Å cell the
k = 0 term alone is of the order of the molecular D itself (Simonnin, Noetinger,
Nieto-Draghi, Marry & Rotenberg, J. Chem. Theory Comput. 13, 2881 (2017)).

This module gives both terms, as an estimator sees them at its lag times:

* :func:`k0_msd_excess`: the in-plane MSD that the k = 0 mode adds to a molecule held at
  height z, from the modes of momentum diffusion across the slit (Navier slip length b at
  both walls): <X²>(t) = 2 kT/(ρA) Σ_n φ_n(z)² [τ_n t − τ_n² (1 − e^{−t/τ_n})] per
  direction, τ_n = ρ/(η q_n²). Its long-time slope is the Green's function of the slit,
  kT (z + b)(H − z + b)/(η A (H + 2b)) per direction.
* :func:`fluid_com_msd`: the same mode seen in the in-plane centre of mass of the whole
  liquid, which a trajectory measures directly (no tracer, no bins): its long-time D is
  kT (H/12 + b/2)/(η A). :func:`fit_slit_viscosity` reads η (and b) from it.
* :func:`lattice_constant_2d`: the regularised lattice sum S of 1/r over a 2D Bravais lattice
  (Ewald summation; S = −3.900265/L for a square lattice); the k ≠ 0 correction of the
  in-plane averaged D is 3 kT S/(16 π η) and that of D⊥ kT S/(8 π η) (the Oseen tensor's
  in-plane and normal parts integrated over k_z), valid where the molecule is farther from
  the walls than the cell's smallest lattice spacing over 2π.
* :func:`slab_finite_size_correction`: the two terms as the survival-conditioned in-plane
  MSD fit of :class:`~multiscale.extract.diffusion.ParallelDiffusionProfile` sees them
  (its weighted slope over the given lags), so that D∥(infinite cell) = D∥(measured) − ΔD.

Written here because no maintained library gives these slit corrections (MAICoS,
MDAnalysis and kinisi have none). Units: SI throughout (m, s, Pa·s, kg/m³, K, m²/s); the
walls' hydrodynamic planes are at z = 0 and z = H.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase.units import _k as K_B
from scipy.optimize import brentq, least_squares
from scipy.special import erfc

from .base import is_real

__all__ = [
    "SlabFiniteSize",
    "com_viscosity",
    "fit_slit_viscosity",
    "fluid_com_msd",
    "half_density_offset",
    "k0_green",
    "k0_msd_excess",
    "lattice_constant_2d",
    "liquid_com_xy",
    "slab_finite_size_correction",
    "slit_modes",
]


def _positive(name: str, v: object, allow_zero: bool = False) -> float:
    ok = is_real(v) and np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound} (SI units), got {v!r}")
    return float(v)


def _heights(z: object, height: float) -> np.ndarray:
    zz = np.atleast_1d(np.asarray(z, dtype=float))
    if zz.ndim != 1 or not np.all(np.isfinite(zz)):
        raise ValueError("z must be a finite number or 1-D sequence of heights (m)")
    if np.any(zz < 0) or np.any(zz > height):
        raise ValueError(
            f"z must lie between the walls' hydrodynamic planes, 0 and height = {height:.4g} m; "
            f"got {zz.min():.4g} to {zz.max():.4g} m"
        )
    return zz


def _bracketed_root(f, lo: float, hi: float) -> float:
    """The root of f in [lo, hi]; an endpoint where f changes sign within round-off of it
    (a slip length so small that the root is the no-slip one to machine precision)."""
    f_lo, f_hi = f(lo), f(hi)
    if f_lo == 0.0:
        return lo
    if f_hi == 0.0 or np.sign(f_lo) == np.sign(f_hi):
        return hi
    return float(brentq(f, lo, hi, xtol=1e-15 * hi, rtol=1e-14))


def slit_modes(height: float, slip_length: float = 0.0, n_modes: int = 200):
    """Eigenmodes of momentum diffusion across a slit, ∂²φ = −q² φ, with Navier slip walls.

    Boundary conditions φ = b φ' at z = 0 and φ = −b φ' at z = H.

    Parameters
    ----------
    height : float
        Distance H between the walls' hydrodynamic planes (m).
    slip_length : float
        Navier slip length b of both walls (m); 0 is no slip.
    n_modes : int
        Number of modes, alternately symmetric and antisymmetric about the midplane.

    Returns
    -------
    q : ndarray
        Wavenumbers q_n (1/m), increasing.
    symmetric : ndarray of bool
        True for modes cos(q (z − H/2)), False for sin(q (z − H/2)).
    norm : ndarray
        Normalisation constants c_n with ∫₀ᴴ φ_n² dz = 1 (1/√m).
    """
    H = _positive("height", height)
    b = _positive("slip_length", slip_length, allow_zero=True)
    if not (isinstance(n_modes, int | np.integer) and n_modes >= 1):
        raise ValueError(f"n_modes must be a positive integer, got {n_modes!r}")
    beta = 2.0 * b / H
    n = np.arange(n_modes)
    m = n // 2
    sym = n % 2 == 0
    # x = qH/2. Symmetric modes: cot x = β x, x in (mπ, (m + ½)π]; antisymmetric: tan x = −β x,
    # x in ((m + ½)π, (m + 1)π]. As fixed points x = mπ + atan(1/(β x)) and
    # x = (m + 1)π − atan(β x), contractions (factor <= 1/(2x)) for every x > ½, iterated
    # on all modes at once; the first symmetric root (x can be small) by bracketing.
    x = np.where(sym, (m + 0.5) * np.pi, (m + 1.0) * np.pi)
    if beta > 0.0:
        for _ in range(200):
            new = np.where(
                sym, m * np.pi + np.arctan2(1.0, beta * x), (m + 1) * np.pi - np.arctan(beta * x)
            )
            done = np.max(np.abs(new - x)) <= 1e-15 * np.max(x)
            x = new
            if done:
                break
        x[0] = _bracketed_root(lambda t: np.cos(t) - beta * t * np.sin(t), 0.0, 0.5 * np.pi)
    q = 2.0 * x / H
    s = np.sin(q * H) / (2.0 * q)
    norm = 1.0 / np.sqrt(np.where(sym, H / 2 + s, H / 2 - s))
    return q, sym, norm


def _mode_values(z: np.ndarray, H: float, q, sym, norm) -> np.ndarray:
    arg = np.outer(z - H / 2, q)
    return np.where(sym, np.cos(arg), np.sin(arg)) * norm


def k0_green(z: object, height: float, slip_length: float = 0.0) -> np.ndarray:
    """G(z, z) of −∂² on the slit with slip walls: (z + b)(H − z + b)/(H + 2b) (m).

    The k = 0 mode's long-time in-plane D at height z is kT G(z, z)/(η A) per direction.

    Parameters
    ----------
    z : float or sequence of float
        Heights above the lower wall's hydrodynamic plane (m).
    height : float
        Distance H between the hydrodynamic planes (m).
    slip_length : float
        Navier slip length b (m).
    """
    H = _positive("height", height)
    b = _positive("slip_length", slip_length, allow_zero=True)
    zz = _heights(z, H)
    return (zz + b) * (H - zz + b) / (H + 2 * b)


def _slit_parameters(*values: object) -> tuple[float, ...]:
    """height, area, viscosity, density, temperature checked > 0 (SI units)."""
    names = ("height", "area", "viscosity", "density", "temperature")
    return tuple(_positive(n, v) for n, v in zip(names, values, strict=True))


def _check_lags(lag_times: object) -> np.ndarray:
    t = np.atleast_1d(np.asarray(lag_times, dtype=float))
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("lag_times must be a 1-D sequence of finite times >= 0 (s)")
    return t


def _relaxation(t: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """τ² (1 − e^{−t/τ}) for every (t, τ) pair, shape (len(t), len(τ))."""
    return tau**2 * -np.expm1(-np.outer(t, 1.0 / tau))


def k0_msd_excess(
    z: object,
    lag_times: object,
    *,
    height: float,
    area: float,
    viscosity: float,
    density: float,
    temperature: float,
    slip_length: float = 0.0,
    n_modes: int = 200,
) -> np.ndarray:
    """In-plane MSD (x + y) that the laterally uniform flow mode adds at height z.

    Parameters
    ----------
    z : float or sequence of float
        Heights above the lower wall's hydrodynamic plane (m).
    lag_times : sequence of float
        Lag times (s).
    height : float
        Distance H between the walls' hydrodynamic planes (m).
    area : float
        Lateral area A of the periodic cell (m²).
    viscosity : float
        Shear viscosity η of the liquid (Pa·s).
    density : float
        Mass density ρ of the liquid (kg/m³).
    temperature : float
        Temperature T (K).
    slip_length : float
        Navier slip length b of both walls (m).
    n_modes : int
        Modes in the relaxation sum (its truncation error falls as 1/n_modes³).

    Returns
    -------
    ndarray, shape (len(lag_times), len(z))
        Excess in-plane MSD (m²); its slope over 4 is the excess in-plane D.
    """
    H, A, eta, rho, T = _slit_parameters(height, area, viscosity, density, temperature)
    zz = _heights(z, H)
    t = _check_lags(lag_times)
    q, sym, norm = slit_modes(H, slip_length, n_modes)
    tau = rho / (eta * q**2)
    phi2 = _mode_values(zz, H, q, sym, norm) ** 2  # (n_z, n_modes)
    # Σ φ_n² τ_n t = (ρ/η) G(z, z) t exactly: only the relaxation term needs the mode sum
    long_time = np.outer(t, k0_green(zz, H, slip_length)) * rho / eta
    relax = _relaxation(t, tau) @ phi2.T
    per_direction = 2.0 * K_B * T / (rho * A) * (long_time - relax)
    return 2.0 * per_direction


def fluid_com_msd(
    lag_times: object,
    *,
    height: float,
    area: float,
    viscosity: float,
    density: float,
    temperature: float,
    slip_length: float = 0.0,
    n_modes: int = 200,
) -> np.ndarray:
    """In-plane MSD (x + y) of the liquid's centre of mass between the walls (m²).

    The liquid is taken as uniform in density between the hydrodynamic planes; its centre
    of mass moves only by the k = 0 mode (the walls are held fixed, so they take the
    momentum the liquid loses). Long-time D = kT (H/12 + b/2)/(η A) per direction.

    Parameters
    ----------
    lag_times : sequence of float
        Lag times (s).
    height, area, viscosity, density, temperature, slip_length, n_modes
        As in :func:`k0_msd_excess` (m, m², Pa·s, kg/m³, K, m).

    Returns
    -------
    ndarray, shape (len(lag_times),)
    """
    H, A, eta, rho, T = _slit_parameters(height, area, viscosity, density, temperature)
    b = _positive("slip_length", slip_length, allow_zero=True)
    t = _check_lags(lag_times)
    q, sym, norm = slit_modes(H, b, n_modes)
    tau = rho / (eta * q**2)
    # ∫₀ᴴ φ_n dz: 2 c_n sin(qH/2)/q for the symmetric modes, 0 for the others
    c = np.where(sym, 2.0 * norm * np.sin(q * H / 2) / q, 0.0)
    total_green = H**3 / 12.0 + b * H**2 / 2.0  # ∫∫ G(z, z') dz dz'
    long_time = t * total_green * rho / eta
    relax = _relaxation(t, tau) @ c**2
    return 2.0 * 2.0 * K_B * T / (rho * A * H**2) * (long_time - relax)


def lattice_constant_2d(a1: Sequence[float], a2: Sequence[float], tol: float = 1e-12) -> float:
    """Regularised lattice sum S = Σ'_R 1/|R| − (background) of a 2D Bravais lattice (1/m).

    The self-potential of a 2D lattice of unit charges interacting by 1/r in 3D with its
    neutralising uniform background, by Ewald summation: S = −3.900265/L for a square
    lattice of spacing L (4 ζ(1/2) β(1/2)/L).

    Parameters
    ----------
    a1, a2 : sequence of float
        In-plane lattice vectors (m), two components each.
    tol : float
        Relative truncation of the real- and reciprocal-space sums.
    """
    A1 = np.asarray(a1, dtype=float).reshape(-1)
    A2 = np.asarray(a2, dtype=float).reshape(-1)
    if A1.size != 2 or A2.size != 2 or not (np.all(np.isfinite(A1)) and np.all(np.isfinite(A2))):
        raise ValueError("a1 and a2 must be finite in-plane vectors of two components (m)")
    lat = np.array([A1, A2])
    area = abs(np.linalg.det(lat))
    if not area > 0:
        raise ValueError("a1 and a2 are parallel: they span no area")
    recip = 2 * np.pi * np.linalg.inv(lat).T
    alpha = np.sqrt(np.pi / area)  # balances the two sums
    cut = np.sqrt(-np.log(tol))  # erfc(x) < tol beyond x ≈ cut
    r_max = 2 * cut / alpha
    k_max = 4 * alpha * cut

    def grid(vectors: np.ndarray, radius: float) -> np.ndarray:
        n = [
            int(np.ceil(radius * np.linalg.norm(np.linalg.inv(vectors), axis=0)[i])) + 1
            for i in (0, 1)
        ]
        i, j = np.meshgrid(np.arange(-n[0], n[0] + 1), np.arange(-n[1], n[1] + 1), indexing="ij")
        pts = i.reshape(-1, 1) * vectors[0] + j.reshape(-1, 1) * vectors[1]
        r = np.linalg.norm(pts, axis=1)
        return r[(r > 0) & (r <= radius)]

    r = grid(lat, r_max)
    k = grid(recip, k_max)
    real = np.sum(erfc(alpha * r) / r)
    reciprocal = np.sum(2 * np.pi * erfc(k / (2 * alpha)) / k) / area
    return float(
        real + reciprocal - 2 * alpha / np.sqrt(np.pi) - 2 * np.sqrt(np.pi) / (alpha * area)
    )


@dataclass(frozen=True)
class SlabFiniteSize:
    """Finite-size excess of the in-plane D in a periodic slit, as an MSD fit sees it.

    Attributes
    ----------
    z : ndarray
        Heights above the lower hydrodynamic plane (m).
    k0 : ndarray
        Excess D∥ from the laterally uniform flow mode at each z (m²/s), > 0.
    lattice : float
        Excess D∥ from the other lateral modes (m²/s), < 0, the same at every z.
    total : ndarray
        k0 + lattice (m²/s): D∥ of the infinite cell = measured D∥ − total.
    k0_long_time : ndarray
        The k0 term's long-time limit, kT G(z, z)/(η A) (m²/s).
    lattice_perp : float
        Excess D⊥ from the lateral images, kT S/(8 π η) (m²/s), < 0: the k = 0 mode has no
        flow along z, so this is D⊥'s whole finite-size term away from the walls.
    """

    z: np.ndarray
    k0: np.ndarray
    lattice: float
    total: np.ndarray
    k0_long_time: np.ndarray
    lattice_perp: float


def slab_finite_size_correction(
    z: object,
    lag_times: object,
    *,
    cell_a: Sequence[float],
    cell_b: Sequence[float],
    height: float,
    viscosity: float,
    density: float,
    temperature: float,
    slip_length: float = 0.0,
    weights: object | None = None,
) -> SlabFiniteSize:
    """Finite-size excess ΔD∥(z) of a periodic slit as a free-intercept MSD slope sees it.

    The k = 0 mode's MSD at the lags is fitted by the same weighted straight line as
    :class:`~multiscale.extract.diffusion.ParallelDiffusionProfile` (slope over 4); the
    k ≠ 0 lattice term, 3 kT S/(16 π η), relaxes within ~0.1 ps on cells of ~1 nm and is
    taken as fully developed at the lags.

    Parameters
    ----------
    z : float or sequence of float
        Heights above the lower wall's hydrodynamic plane (m).
    lag_times : sequence of float
        The estimator's lag times (s), at least two.
    cell_a, cell_b : sequence of float
        The periodic cell's in-plane vectors (m).
    height : float
        Distance H between the walls' hydrodynamic planes (m).
    viscosity : float
        Shear viscosity η (Pa·s).
    density : float
        Mass density ρ of the liquid (kg/m³).
    temperature : float
        Temperature T (K).
    slip_length : float
        Navier slip length b (m).
    weights : sequence of float, optional
        The fit's weight per lag (the estimator's survivor counts); equal by default.

    Returns
    -------
    SlabFiniteSize
    """
    t = _check_lags(lag_times)
    if t.size < 2 or np.ptp(t) <= 0:
        raise ValueError("lag_times needs at least two different lags (s) for a slope")
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != t.shape or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be one finite weight >= 0 per lag, not all zero")
    S = lattice_constant_2d(cell_a, cell_b)
    area = abs(np.linalg.det(np.array([np.ravel(cell_a), np.ravel(cell_b)], dtype=float)))
    kw = dict(
        height=height,
        area=area,
        viscosity=viscosity,
        density=density,
        temperature=temperature,
        slip_length=slip_length,
    )
    msd = k0_msd_excess(z, t, **kw)
    tm = np.average(t, weights=w)
    slope = np.sum(
        w[:, None] * (t - tm)[:, None] * (msd - np.average(msd, axis=0, weights=w)), axis=0
    )
    k0 = slope / np.sum(w * (t - tm) ** 2) / 4.0
    lattice = 3.0 * K_B * temperature * S / (16.0 * np.pi * viscosity)
    zz = _heights(z, height)
    long = K_B * temperature * k0_green(zz, height, slip_length) / (viscosity * area)
    perp = K_B * temperature * S / (8.0 * np.pi * viscosity)
    return SlabFiniteSize(
        z=zz,
        k0=k0,
        lattice=float(lattice),
        total=k0 + lattice,
        k0_long_time=long,
        lattice_perp=float(perp),
    )


def fit_slit_viscosity(
    lag_times: object,
    com_msd: object,
    *,
    height: float,
    area: float,
    density: float,
    temperature: float,
    fit_slip: bool = False,
    sigma: object | None = None,
) -> dict[str, float]:
    """Viscosity (and slip length) from the liquid's measured centre-of-mass MSD.

    Least squares of :func:`fluid_com_msd` against the measurement (log-parametrised, so
    η and b stay positive).

    Parameters
    ----------
    lag_times : sequence of float
        Lag times (s).
    com_msd : sequence of float
        Measured in-plane MSD (x + y) of the liquid's centre of mass (m²).
    height, area, density, temperature
        As in :func:`fluid_com_msd` (m, m², kg/m³, K).
    fit_slip : bool
        Fit the slip length too (else b = 0).
    sigma : sequence of float, optional
        Standard errors of ``com_msd`` (m²); equal weights by default.

    Returns
    -------
    dict
        ``viscosity_Pa_s``, ``slip_length_m`` and their standard errors (``*_err_*``, from
        the fit's Jacobian; with ``sigma`` omitted, scaled by the residual variance),
        ``chi2`` (the weighted residual sum of squares).
    """
    t = _check_lags(lag_times)
    y = np.asarray(com_msd, dtype=float)
    if y.shape != t.shape or not np.all(np.isfinite(y)):
        raise ValueError("com_msd must hold one finite MSD (m²) per lag time")
    # equal weights: residuals in units of the largest MSD, so the solver's tolerances apply
    scale = float(np.max(np.abs(y))) if np.any(y) else 1.0
    s = np.full_like(y, scale) if sigma is None else np.asarray(sigma, dtype=float)
    if s.shape != t.shape or not np.all(s > 0):
        raise ValueError("sigma must hold one standard error > 0 (m²) per lag time")
    kw = dict(height=height, area=area, density=density, temperature=temperature)

    def model(p: np.ndarray) -> np.ndarray:
        b = float(np.exp(p[1])) if fit_slip else 0.0
        return fluid_com_msd(t, viscosity=float(np.exp(p[0])), slip_length=b, **kw)

    def resid(p: np.ndarray) -> np.ndarray:
        return (model(p) - y) / s

    # η in [1e-5, 1] Pa·s, b in [1e-3, 10] H: a trajectory too short to tell η and b apart
    # drives them up together, the bounds keep that finite (and visible as a large error)
    lo = [np.log(1e-5)] + ([np.log(1e-3 * height)] if fit_slip else [])
    hi = [0.0] + ([np.log(10.0 * height)] if fit_slip else [])
    p0 = [np.log(1e-3)] + ([np.log(0.1 * height)] if fit_slip else [])
    sol = least_squares(resid, p0, bounds=(lo, hi))
    # standard errors from the Jacobian (in log parameters: relative errors)
    cov = np.linalg.pinv(sol.jac.T @ sol.jac)
    if sigma is None:  # unit weights: scale by the residual variance
        dof = max(t.size - len(p0), 1)
        cov = cov * float(np.sum(sol.fun**2)) / dof
    eta = float(np.exp(sol.x[0]))
    b = float(np.exp(sol.x[1])) if fit_slip else 0.0
    return {
        "viscosity_Pa_s": eta,
        "viscosity_err_Pa_s": eta * float(np.sqrt(cov[0, 0])),
        "slip_length_m": b,
        "slip_length_err_m": b * float(np.sqrt(cov[1, 1])) if fit_slip else 0.0,
        "chi2": float(np.sum(sol.fun**2)),
    }


def liquid_com_xy(positions: np.ndarray, masses: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """In-plane centre of mass of the liquid per frame, from unwrapped positions (Å).

    Parameters
    ----------
    positions : ndarray, shape (n_frames, n_atoms, 3)
        Positions of the liquid's atoms (Å), wrapped or not (unwrapped here in x, y).
    masses : ndarray, shape (n_atoms,)
        Their masses (any unit).
    cells : ndarray, shape (n_frames, 3, 3) or (3, 3)
        Cell vectors (Å).

    Returns
    -------
    ndarray, shape (n_frames, 2)
    """
    from .base import unwrap_positions

    m = np.asarray(masses, dtype=float)
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 3 or pos.shape[1] != m.size or not np.all(m > 0):
        raise ValueError("positions must be (n_frames, n_atoms, 3) with one mass > 0 per atom")
    xy = unwrap_positions(pos, cells, (True, True, False))[:, :, :2]
    return np.einsum("fai,a->fi", xy, m) / m.sum()


def half_density_offset(heights: np.ndarray, separation: float, bin_width: float = 0.1) -> float:
    """Where a folded density first reaches half its midplane value (Å from the surface).

    The walls' hydrodynamic planes are put there by default: the liquid's edge, a
    Gibbs-like dividing surface (the no-slip plane of water at solids lies within ~1 Å of it).

    Parameters
    ----------
    heights : ndarray
        Folded heights of the liquid's O atoms above the nearer surface, all frames (Å).
    separation : float
        Distance between the two metal surfaces (Å).
    bin_width : float
        Histogram bin (Å).
    """
    h = np.asarray(heights, dtype=float).ravel()
    if h.size == 0 or not np.all(np.isfinite(h)):
        raise ValueError("heights must be a non-empty array of finite folded heights (Å)")
    edges = np.arange(0.0, separation / 2 + bin_width, bin_width)
    hist, _ = np.histogram(h, edges)
    n_mid = max(1, round(2.0 / bin_width))  # the last 2 Å before the midplane
    mid = hist[-n_mid:].mean()
    if mid <= 0:
        raise ValueError("no liquid within 2 Å of the midplane: not a filled sandwich")
    return float(edges[np.argmax(hist >= 0.5 * mid)])


def com_viscosity(
    com_xy: np.ndarray,
    frame_time: float,
    *,
    height: float,
    area: float,
    density: float,
    temperature: float,
    max_lag: float | None = None,
    n_blocks: int = 4,
) -> dict:
    """η with no slip, and η with a slip length, from the liquid's centre-of-mass MSD.

    The whole trajectory gives the values, ``n_blocks`` time blocks their standard errors
    (the MSD at neighbouring lags is correlated, so the fit's own errors would be too small).

    Parameters
    ----------
    com_xy : ndarray, shape (n_frames, 2)
        The liquid's in-plane centre of mass (Å), :func:`liquid_com_xy`.
    frame_time : float
        Time between frames (s).
    height, area, density, temperature
        As in :func:`fluid_com_msd` (m, m², kg/m³, K).
    max_lag : float, optional
        Largest lag fitted (s). Default: 3 ps, or less where each block must hold 4 times it
        (at least 0.5 ps: the k = 0 mode's decay, ~H²/(π²ν), must be inside the fit).
    n_blocks : int
        Time blocks for the errors.

    Returns
    -------
    dict
        ``lags_s``, ``msd_m2`` (whole trajectory), and for ``"no_slip"`` and ``"slip"``:
        ``viscosity_Pa_s``, ``viscosity_err_Pa_s``, ``slip_length_m``, ``slip_length_err_m``
        and the per-block values.
    """
    import tidynamics

    com = np.asarray(com_xy, dtype=float)
    if not (isinstance(n_blocks, int) and n_blocks >= 2):
        raise ValueError(f"n_blocks must be an integer >= 2, got {n_blocks!r}")
    dt = _positive("frame_time", frame_time)
    if max_lag is None:
        max_lag = max(0.5e-12, min(3e-12, len(com) // (4 * n_blocks) * dt))
    n = max(2, round(_positive("max_lag", max_lag) / dt))
    if com.ndim != 2 or com.shape[1] != 2 or len(com) < n_blocks * 4 * n:
        raise ValueError(
            f"com_xy must be (n_frames, 2) with at least {n_blocks * 4 * n} frames "
            f"({n_blocks} blocks of 4 x the largest lag); lower max_lag or n_blocks"
        )
    t = np.arange(1, n + 1) * frame_time
    whole = np.asarray(tidynamics.msd(com))[1 : n + 1] * 1e-20
    blocks = [
        np.asarray(tidynamics.msd(b))[1 : n + 1] * 1e-20 for b in np.array_split(com, n_blocks)
    ]
    kw = dict(height=height, area=area, density=density, temperature=temperature)
    out: dict = {"lags_s": t, "msd_m2": whole}
    for key, slip in (("no_slip", False), ("slip", True)):
        f = fit_slit_viscosity(t, whole, fit_slip=slip, **kw)
        per = [fit_slit_viscosity(t, b, fit_slip=slip, **kw) for b in blocks]
        eta_b = np.array([p["viscosity_Pa_s"] for p in per])
        b_b = np.array([p["slip_length_m"] for p in per])
        out[key] = {
            "viscosity_Pa_s": f["viscosity_Pa_s"],
            "viscosity_err_Pa_s": float(np.std(eta_b, ddof=1) / np.sqrt(n_blocks)),
            "viscosity_blocks_Pa_s": eta_b,
            "slip_length_m": f["slip_length_m"],
            "slip_length_err_m": float(np.std(b_b, ddof=1) / np.sqrt(n_blocks)),
            "slip_length_blocks_m": b_b,
        }
    return out
