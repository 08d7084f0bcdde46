"""Diffusion: bulk D (Einstein relation, GLS, Yeh–Hummer), D∥(z) and D⊥(z), F(z).

* :class:`MeanSquaredDisplacement` and :func:`einstein_diffusion`: MSD over all time
  origins (FFT algorithm of :func:`tidynamics.msd`) of unwrapped positions, and a
  generalised-least-squares fit of MSD(t) = a + 2 d D t whose covariance between lag
  times is estimated from the particle-to-particle scatter.
* :func:`yeh_hummer_correction`: finite-size correction of a periodic-box D.
* :class:`ParallelDiffusionProfile`: D∥(z) from the in-plane MSD of particles that
  stayed in a slab for the whole lag (Liu, Harder & Berne, J. Phys. Chem. B 108, 6595
  (2004)).
* :class:`PerpendicularDiffusionProfile`: D⊥(z) and F(z) from Hummer's Bayesian
  propagator model (Hummer, New J. Phys. 7, 34 (2005)): a rate matrix between bins
  obeying detailed balance is fitted by maximum likelihood to the observed transition
  counts at several lag times and D is extrapolated in 1/lag.

Units: positions in Å, times in fs, D in Å²/fs (1 Å²/fs = 1e-5 m²/s), F in kT.
Error bars on D∥, D⊥ and F are standard errors from independent trajectory blocks.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# imported at module level so that their BLAS is loaded before threadpool_limits below
from scipy.linalg import eigh_tridiagonal
from scipy.optimize import minimize

from .base import (
    AnalysisBase,
    Selection,
    bin_index,
    check_cell_z,
    check_int,
    is_int,
    is_real,
    make_edges,
    resolve_selection,
    unwrap_positions,
    wrap_z,
)

__all__ = [
    "A2_PER_FS_TO_SI",
    "DiffusionFit",
    "MeanSquaredDisplacement",
    "ParallelDiffusionProfile",
    "PerpendicularDiffusionProfile",
    "UnvisitedBinsError",
    "einstein_diffusion",
    "fit_propagator",
    "yeh_hummer_correction",
]

#: 1 Å²/fs in m²/s
A2_PER_FS_TO_SI = 1e-5


class UnvisitedBinsError(ValueError):
    """The selection never visited some bins of the range: a sampling problem of that
    selection (a longer trajectory, a narrower range or wider bins help), not bad input.

    Attributes
    ----------
    z : ndarray
        Centres of the unvisited bins (Å, on the z axis of the analysis).
    lag : int or None
        The lag (frames) at which they were found.
    """

    def __init__(self, message: str, z: Any = (), lag: int | None = None) -> None:
        super().__init__(message)
        self.z = np.asarray(z, dtype=float)
        self.lag = lag


_DIMS = {"x": [0], "y": [1], "z": [2], "xy": [0, 1], "xz": [0, 2], "yz": [1, 2], "xyz": [0, 1, 2]}


class _PositionCollector(AnalysisBase):
    """Collects the positions of one selection and the cell of every frame."""

    def __init__(self, trajectory: Any, selection: Selection, timestep: float) -> None:
        if timestep is None:
            raise ValueError("timestep (fs between stored frames) is required for diffusion")
        super().__init__(trajectory, timestep)
        first = self._trajectory[0]
        self.indices = resolve_selection(first, selection)
        self._pbc = np.asarray(first.pbc, dtype=bool)

    def _prepare(self) -> None:
        self._pos = np.empty((self.n_frames, self.indices.size, 3))
        self._cells = np.empty((self.n_frames, 3, 3))

    def _single_frame(self) -> None:
        self._pos[self._frame_index] = self._atoms.positions[self.indices]
        self._cells[self._frame_index] = np.asarray(self._atoms.cell)


class MeanSquaredDisplacement(_PositionCollector):
    """Mean squared displacement over all time origins (Einstein MSD).

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        The frames.
    selection : str, list of str or list of int
        Atoms to analyse (symbols or indices).
    timestep : float
        Time between stored frames (fs).
    dims : {"xyz", "xy", "z", ...}
        Cartesian components summed in the MSD.
    unwrap : bool
        Unwrap periodic directions by consecutive-frame minimum-image displacements
        (correct for wrapped and for already unwrapped input).

    Attributes
    ----------
    results.lagtimes : ndarray
        Lag times (fs).
    results.msd : ndarray
        MSD (Å²) averaged over particles.
    results.msd_per_particle : ndarray, shape (n_lags, n_particles)
        MSD of each particle (Å²).
    """

    def __init__(
        self,
        trajectory: Any,
        selection: Selection,
        timestep: float,
        dims: str = "xyz",
        unwrap: bool = True,
    ) -> None:
        super().__init__(trajectory, selection, timestep)
        if not isinstance(dims, str) or dims not in _DIMS:
            raise ValueError(f"dims must be one of {list(_DIMS)}, got {dims!r}")
        if not isinstance(unwrap, bool | np.bool_):
            raise TypeError(f"unwrap must be True or False, got {unwrap!r}")
        self.dims = dims
        self.unwrap = unwrap

    def _conclude(self) -> None:
        import tidynamics

        pos = self._pos
        if self.unwrap:
            pos = unwrap_positions(pos, self._cells, self._pbc)
        pos = pos[:, :, _DIMS[self.dims]]
        per = np.empty((self.n_frames, pos.shape[1]))
        for i in range(pos.shape[1]):
            per[:, i] = tidynamics.msd(pos[:, i, :])
        r = self.results
        r.lagtimes = np.arange(self.n_frames) * self.dt
        r.msd_per_particle = per
        r.msd = per.mean(axis=1)
        r.ndim = len(_DIMS[self.dims])
        r.positions = pos


@dataclass
class DiffusionFit:
    """Result of :func:`einstein_diffusion`.

    Attributes
    ----------
    D, D_err : float
        Diffusion coefficient and its standard error (Å²/fs).
    intercept : float
        Fitted MSD at t = 0 (Å²).
    fit_range : (float, float)
        Lag-time window used (fs).
    method : str
        "gls" (full covariance), "wls" (diagonal only: too few particles for GLS) or
        "ols" (ordinary least squares).
    """

    D: float
    D_err: float
    intercept: float
    fit_range: tuple[float, float]
    method: str

    @property
    def D_si(self) -> float:
        """D in m²/s."""
        return self.D * A2_PER_FS_TO_SI

    @property
    def D_err_si(self) -> float:
        """Standard error of D in m²/s."""
        return self.D_err * A2_PER_FS_TO_SI


def einstein_diffusion(
    msd: MeanSquaredDisplacement,
    fit_start: float,
    fit_stop: float,
    n_points: int = 12,
    method: str = "gls",
) -> DiffusionFit:
    """D from the Einstein relation MSD(t) = a + 2 d D t by generalised least squares.

    The MSD values at different lag times are strongly correlated (they share time
    origins); their covariance is estimated from the scatter between particles
    (covariance of the particle mean = per-particle covariance / N), slightly shrunk
    towards its diagonal for stability, and used in the GLS normal equations
    β = (XᵀC⁻¹X)⁻¹ XᵀC⁻¹ y, Var β = (XᵀC⁻¹X)⁻¹.

    Parameters
    ----------
    msd : MeanSquaredDisplacement
        A finished (``run()``) MSD analysis.
    fit_start, fit_stop : float
        Lag-time window of the linear (diffusive) regime (fs).
    n_points : int
        Number of lag times (evenly spaced in the window) used in the fit.
    method : {"gls", "ols"}
        Generalised least squares (default), or ordinary least squares (what the
        MDAnalysis documentation does) with its error bar from the same covariance,
        Var β = (XᵀX)⁻¹ XᵀCX (XᵀX)⁻¹.
    """
    if method not in ("gls", "ols"):
        raise ValueError(f'method must be "gls" or "ols", got {method!r}')
    if not isinstance(msd, MeanSquaredDisplacement):
        raise TypeError(f"msd must be a MeanSquaredDisplacement, got {type(msd).__name__}")
    r = msd.results
    if "msd" not in r:
        raise ValueError("run the MeanSquaredDisplacement analysis first (msd.run())")
    n_points = check_int("n_points", n_points, 2)
    t = r.lagtimes
    for name, v in (("fit_start", fit_start), ("fit_stop", fit_stop)):
        if not (is_real(v) and np.isfinite(v)):
            raise ValueError(f"{name} must be a finite number of fs, got {v!r}")
    if not 0 <= fit_start < fit_stop <= t[-1]:
        raise ValueError(f"fit window [{fit_start}, {fit_stop}] fs must lie inside [0, {t[-1]}] fs")
    lags = np.unique(np.round(np.linspace(fit_start, fit_stop, n_points) / msd.dt).astype(int))
    if lags.size < 2:
        raise ValueError("the fit window contains fewer than 2 lag times: widen it")
    per = r.msd_per_particle[lags]  # (n_lags, n_particles)
    n_part = per.shape[1]
    y = per.mean(axis=1)
    x = np.column_stack([np.ones(lags.size), 2 * r.ndim * t[lags]])
    cov = np.atleast_2d(np.cov(per)) / n_part if n_part > 1 else np.eye(lags.size)
    cov_raw = cov
    if n_part < 2 * lags.size:
        cov = np.diag(np.diag(cov))
        method = "wls" if method == "gls" else method
    else:
        shrink = min(1.0, lags.size / n_part)
        cov = (1 - shrink) * cov + shrink * np.diag(np.diag(cov))
    cov += np.eye(lags.size) * 1e-12 * max(np.trace(cov), 1e-300)
    if method == "ols":  # sandwich with the unshrunk covariance (no inverse needed)
        xtx_inv = np.linalg.inv(x.T @ x)
        beta = xtx_inv @ x.T @ y
        var = xtx_inv @ x.T @ cov_raw @ x @ xtx_inv
    else:
        ci_x = np.linalg.solve(cov, x)
        a = x.T @ ci_x
        beta = np.linalg.solve(a, ci_x.T @ y)
        var = np.linalg.inv(a)
    return DiffusionFit(
        D=float(beta[1]),
        D_err=float(np.sqrt(var[1, 1])),
        intercept=float(beta[0]),
        fit_range=(float(t[lags[0]]), float(t[lags[-1]])),
        method=method,
    )


def yeh_hummer_correction(
    D_pbc: float, box_length: float, viscosity: float, temperature: float
) -> float:
    """Infinite-system D from a cubic periodic box (Yeh & Hummer, JPC B 108, 15873 (2004)).

    D∞ = D_PBC + ξ k_B T / (6 π η L), ξ = 2.837297.

    Parameters
    ----------
    D_pbc : float
        Diffusion coefficient in the periodic box (m²/s).
    box_length : float
        Cubic box edge L (m).
    viscosity : float
        Shear viscosity η (Pa·s).
    temperature : float
        Temperature T (K).

    Returns
    -------
    float
        D∞ (m²/s).
    """
    from ase.units import _k

    if not (is_real(D_pbc) and np.isfinite(D_pbc)):
        raise ValueError(f"D_pbc must be a finite number (m²/s), got {D_pbc!r}")
    for name, v in (
        ("box_length", box_length),
        ("viscosity", viscosity),
        ("temperature", temperature),
    ):
        if not (is_real(v) and np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be > 0 and finite (SI units), got {v!r}")
    xi = 2.837297
    return float(D_pbc + xi * _k * temperature / (6 * np.pi * viscosity * box_length))


#: parameter entries that the D(z) analyses share, filled into their docstrings by _zbinned_doc
_ZBINNED_PARAMS = {
    "frame_params": """\
trajectory : list of Atoms, ase.io.Trajectory, str or Path
    Frames with the surface normal along z.
selection : str, list of str or list of int
    Atoms of one species.
timestep : float
    Time between stored frames (fs).""",
    "block_params": """\
bins : int, optional
    Number of bins instead of ``bin_width``.
lags : sequence of int
    Lag times in frames of the run.
n_blocks : int
    Independent trajectory blocks for the standard errors.""",
}


def _zbinned_doc(cls: type) -> type:
    """Fill the shared parameter entries (a line ``{frame_params}``, ``{block_params}``) in."""
    doc = cls.__doc__ or ""
    for name, text in _ZBINNED_PARAMS.items():
        doc = re.sub(
            rf"^( *)\{{{name}\}}$",
            lambda m, text=text: textwrap.indent(text, m.group(1)),
            doc,
            flags=re.MULTILINE,
        )
    cls.__doc__ = doc
    return cls


class _ZBinned(_PositionCollector):
    """Positions of a selection plus their z bins; common to the D(z) analyses."""

    def __init__(
        self,
        trajectory: Any,
        selection: Selection,
        timestep: float,
        bin_width: float,
        z_range: tuple[float, float] | None,
        bins: int | None,
        lags: Sequence[int],
        n_blocks: int,
    ) -> None:
        super().__init__(trajectory, selection, timestep)
        first = self._trajectory[0]
        self.edges = make_edges(first, bin_width, z_range, bins)
        self._lz = check_cell_z(first)
        raw = [lags] if is_int(lags) else lags
        if (
            isinstance(raw, str)
            or not isinstance(raw, Sequence | np.ndarray)
            or len(raw) == 0
            or not all(is_int(v) and v >= 1 for v in raw)
        ):
            raise ValueError(
                f"lags must be a non-empty list of integers >= 1 (frames), got {lags!r}"
            )
        self.lags = np.unique(np.asarray(raw, dtype=int))
        if not is_int(n_blocks) or n_blocks < 2:
            raise ValueError(f"n_blocks must be an integer >= 2 for error bars, got {n_blocks!r}")
        self.n_blocks = int(n_blocks)

    def required_frames(self) -> int:
        """Fewest frames the analysis needs: ``n_blocks`` blocks longer than the longest lag."""
        return self.n_blocks * (int(self.lags.max()) + 1)

    def check_length(self, n_frames: int) -> None:
        """Refuse a trajectory too short for the lags and blocks, before any work is done."""
        need = self.required_frames()
        if n_frames < need:
            raise ValueError(
                f"the trajectory has {n_frames} frames (as analysed), "
                f"{n_frames // self.n_blocks} frames per block in n_blocks={self.n_blocks} "
                f"blocks; lags up to {int(self.lags.max())} frames need more frames per block "
                f"than that, at least {need} frames in all: run longer MD or use smaller lags "
                "(or fewer n_blocks)"
            )

    def _prepare(self) -> None:
        self.check_length(self.n_frames)
        super()._prepare()

    def _binned(self) -> np.ndarray:
        z = wrap_z(self._pos[:, :, 2], self._lz, bool(self._pbc[2]))
        return bin_index(z, self.edges)

    def _blocks(self) -> list[slice]:
        n = self.n_frames // self.n_blocks
        if n <= self.lags.max():
            raise ValueError(
                f"{self.n_frames} frames in {self.n_blocks} blocks leave {n} frames per block, "
                f"not more than the longest lag ({self.lags.max()}): use fewer blocks, shorter "
                "lags or a longer trajectory"
            )
        return [slice(i * n, (i + 1) * n) for i in range(self.n_blocks)]


def _run_lengths(b: np.ndarray) -> np.ndarray:
    """Number of consecutive frames from t on (t included) spent in bin b[t]."""
    run = np.ones(b.shape, dtype=np.int64)
    same = b[1:] == b[:-1]
    for t in range(b.shape[0] - 2, -1, -1):
        run[t] = np.where(same[t], run[t + 1] + 1, 1)
    return run


@_zbinned_doc
class ParallelDiffusionProfile(_ZBinned):
    """D∥(z) by the survival-conditioned in-plane MSD (Liu, Harder & Berne 2004).

    For each bin, the in-plane MSD is averaged over (origin, particle) pairs where the
    particle stayed in the bin for the whole lag; D∥ is a quarter of the slope of that
    MSD against lag time (weighted by the number of survivors; intercept free, so a
    ballistic offset does not bias it). Lags at which the survival probability P(τ) is
    below ``min_survival`` are not used.

    Parameters
    ----------
    {frame_params}
    bin_width : float
        Slab width (Å).
    z_range : (float, float), optional
        Range along z (Å), default the whole cell.
    {block_params}
    min_survival : float
        Smallest survival probability at which a lag is used.

    Attributes
    ----------
    results.z : ndarray
        Bin centres (Å).
    results.D, results.D_err : ndarray
        D∥(z) and its standard error (Å²/fs); NaN where too few particles survived.
    results.survival : ndarray, shape (n_lags, n_bins)
        Survival probability P(τ) per bin.
    results.msd : ndarray, shape (n_lags, n_bins)
        Survival-conditioned in-plane MSD (Å²).
    """

    def __init__(
        self,
        trajectory: Any,
        selection: Selection,
        timestep: float,
        bin_width: float = 1.0,
        z_range: tuple[float, float] | None = None,
        bins: int | None = None,
        lags: Sequence[int] = tuple(range(1, 11)),
        n_blocks: int = 8,
        min_survival: float = 0.05,
    ) -> None:
        super().__init__(trajectory, selection, timestep, bin_width, z_range, bins, lags, n_blocks)
        if not (is_real(min_survival) and 0 <= min_survival < 1):
            raise ValueError(f"min_survival must be a number in [0, 1), got {min_survival!r}")
        self.min_survival = min_survival

    def _estimate(self, xy: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        nb = self.edges.size - 1
        run = _run_lengths(b)
        n_l = self.lags.size
        msd = np.full((n_l, nb), np.nan)
        surv = np.zeros((n_l, nb))
        n_s = np.zeros((n_l, nb))
        for j, lag in enumerate(self.lags):
            b0 = b[:-lag]
            inside = b0 >= 0
            stay = inside & (run[:-lag] > lag)
            d2 = np.sum((xy[lag:] - xy[:-lag]) ** 2, axis=-1)
            n0 = np.bincount(b0[inside], minlength=nb)
            n_s[j] = np.bincount(b0[stay], minlength=nb)
            s2 = np.bincount(b0[stay], weights=d2[stay], minlength=nb)
            with np.errstate(invalid="ignore", divide="ignore"):
                msd[j] = s2 / n_s[j]
                surv[j] = n_s[j] / n0
        t = self.lags * self.dt
        D = np.full(nb, np.nan)
        for k in range(nb):
            ok = (surv[:, k] >= self.min_survival) & (n_s[:, k] >= 10)
            if ok.sum() >= 2:
                w = n_s[ok, k]
                tt, yy = t[ok], msd[ok, k]
                tm, ym = np.average(tt, weights=w), np.average(yy, weights=w)
                slope = np.sum(w * (tt - tm) * (yy - ym)) / np.sum(w * (tt - tm) ** 2)
                D[k] = slope / 4.0
        return D, msd, surv

    def _conclude(self) -> None:
        b = self._binned()
        xy = unwrap_positions(self._pos, self._cells, self._pbc)[:, :, :2]
        D, msd, surv = self._estimate(xy, b)
        per_block = np.array([self._estimate(xy[s], b[s])[0] for s in self._blocks()])
        r = self.results
        r.edges = self.edges
        r.z = 0.5 * (self.edges[1:] + self.edges[:-1])
        r.lagtimes = self.lags * self.dt
        r.D = D
        r.D_err = np.std(per_block, axis=0, ddof=1) / np.sqrt(self.n_blocks)
        r.D_blocks = per_block
        r.msd = msd
        r.survival = surv


# ----------------------------------------------------------------------------- Hummer
def _unpack(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    f = np.concatenate([[0.0], x[: n - 1]])
    return f, np.exp(x[n - 1 :])


def _propagator_nll(x: np.ndarray, counts: np.ndarray, n_total: float) -> tuple[float, np.ndarray]:
    """Negative log-likelihood per transition and its analytic gradient.

    Rate model (Hummer 2005): R_{i±1,i} = D_{i±1/2}/Δz² · exp(−(F_{i±1} − F_i)/2kT).
    With p_i ∝ exp(−F_i/kT), S = p^{-1/2} R p^{1/2} is symmetric tridiagonal with
    off-diagonal D/Δz², so the propagator exp(Rτ) = p^{1/2} V e^{Λτ} Vᵀ p^{-1/2} follows
    from one symmetric tridiagonal eigenproblem. Parameters x: F_1..F_{n-1} (kT, F_0 = 0)
    and ln(D τ/Δz²) at the n−1 interfaces. The gradient uses the Daleckii–Krein formula
    for the derivative of a matrix function.
    """
    n = counts.shape[0]
    f, a = _unpack(x, n)
    delta = np.diff(f)
    u = np.exp(-delta / 2)  # leaving i to the right
    v = np.exp(delta / 2)  # leaving i+1 to the left
    diag = np.zeros(n)
    diag[:-1] -= a * u
    diag[1:] -= a * v
    # the MRRR driver is ~40x faster than the default for n ~ 100 here
    lam, vec = eigh_tridiagonal(diag, a, lapack_driver="stemr")
    lam = np.minimum(lam, 0.0)  # ≤ 0 for a rate matrix; clip round-off
    el = np.exp(lam)
    m = (vec * el) @ vec.T
    m = np.maximum(m, 1e-300)
    nz = counts > 0
    ll = np.sum(counts[nz] * np.log(m[nz])) + 0.5 * np.sum(counts * (f[None, :] - f[:, None]))
    g = np.where(nz, counts / m, 0.0)
    dl = lam[:, None] - lam[None, :]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        gam = np.where(
            np.abs(dl) > 1e-10,
            (el[:, None] - el[None, :]) / np.where(dl == 0, 1, dl),
            np.exp(0.5 * (lam[:, None] + lam[None, :])),
        )
    h = vec @ (gam * (vec.T @ g @ vec)) @ vec.T
    hd = np.diag(h)
    hoff = np.diag(h, 1) + np.diag(h, -1)
    d_lna = a * (hoff - hd[:-1] * u - hd[1:] * v)
    d_delta = 0.5 * a * (hd[:-1] * u - hd[1:] * v)
    d_f = np.zeros(n)
    d_f[1:] += d_delta
    d_f[:-1] -= d_delta
    d_f += 0.5 * (counts.sum(axis=0) - counts.sum(axis=1))
    grad = np.concatenate([d_f[1:], d_lna])
    return -ll / n_total, -grad / n_total


def fit_propagator(
    counts: np.ndarray, x0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood rate model for a matrix of transition counts at one lag.

    Parameters
    ----------
    counts : ndarray, shape (n, n)
        ``counts[i, j]``: number of observed transitions from bin j to bin i over the lag.
    x0 : ndarray, optional
        Starting parameters (as returned in the third output).

    Returns
    -------
    F : ndarray, shape (n,)
        Free energy per bin (kT), F_0 = 0.
    Dt : ndarray, shape (n - 1,)
        D·τ/Δz² at the bin interfaces (dimensionless).
    x : ndarray
        The optimised parameter vector.
    """
    counts = np.asarray(counts, dtype=float)
    n = counts.shape[0]
    occ = counts.sum(axis=0) + counts.sum(axis=1)
    if np.any(occ == 0):
        empty = np.flatnonzero(occ == 0).tolist()
        raise ValueError(
            f"bins {empty} were never visited (no transition counted from or to them): pass "
            "counts of visited bins only"
        )
    if x0 is None:
        f0 = -np.log(occ / occ.sum())
        f0 -= f0[0]
        # uniform D from the mean squared bin displacement, <Δk²> ≈ 2 D τ/Δz²
        k = np.arange(n)
        msd_bins = np.sum(counts * (k[:, None] - k[None, :]) ** 2) / counts.sum()
        x0 = np.concatenate([f0[1:], np.full(n - 1, np.log(max(msd_bins / 2, 1e-3)))])
    bounds = [(-50, 50)] * (n - 1) + [(-25, 8)] * (n - 1)
    res = minimize(
        _propagator_nll,
        x0,
        args=(counts, counts.sum()),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 5000, "ftol": 1e-11, "gtol": 1e-7},
    )
    f, a = _unpack(res.x, n)
    return f, a, res.x


@_zbinned_doc
class PerpendicularDiffusionProfile(_ZBinned):
    """D⊥(z) and F(z) from Hummer's Bayesian propagator model.

    Transition counts between z bins are collected at each lag τ (all time origins);
    the rate matrix of a discretised Smoluchowski equation with detailed balance is
    fitted to them by maximum likelihood (the mode of Hummer's posterior with flat
    priors). Because the coarse bins make short-lag estimates lag dependent, D is fitted
    as D(τ) = D∞ + c/τ across the lags and extrapolated to 1/τ → 0 (with one lag, the
    single estimate is returned). F is the average over lags. Standard errors come from
    the same procedure repeated on ``n_blocks`` independent trajectory blocks.

    Parameters
    ----------
    {frame_params}
    bin_width : float
        Bin width (Å); bins must be uniform.
    z_range : (float, float), optional
        Range along z (Å), default the whole cell. Transitions that leave it are not
        counted: choose a range bounded by walls, or expect a bias near its ends.
    {block_params}
    extrapolate : bool
        Extrapolate D in 1/τ (needs at least two lags).
    min_crossings : int
        Fewest observed crossings of an interface (counted at the shortest lag, one count
        per non-overlapping window of that lag) for its D⊥ to be reported. A rate estimated
        from N independent crossing events has a relative error of about 1/√N (22 % for
        N = 20); with the default 8 blocks, 20 crossings leave 2–3 per block, the fewest with
        which a block's fit is not pinned at the optimiser's bound so that the block error
        bar means anything.
    min_time_ratio : float
        Smallest ratio of the trajectory length to the interface's bin-crossing time
        Δz²/(2 D⊥) for its D⊥ to be reported (default 10: a trajectory of a few crossing
        times holds a few correlated events, and lags comparable to it say nothing about
        the 1/τ extrapolation).

    Attributes
    ----------
    results.z : ndarray
        Bin centres (Å). ``results.z_interfaces``: interfaces where D is defined (Å).
    results.D_interfaces, results.D_interfaces_err : ndarray
        D⊥ at the interfaces (Å²/fs); NaN (value and error) where ``D_status`` is
        "unconverged": such an estimate is not reported, not even with an error bar.
    results.D_interfaces_raw, results.D_interfaces_err_raw : ndarray
        The fitted D⊥ and its block error at every interface, converged or not (Å²/fs);
        for diagnostics only.
    results.D_status : ndarray of str
        "ok" or "unconverged" per interface (too few crossings or a trajectory shorter than
        ``min_time_ratio`` bin-crossing times).
    results.n_crossings : ndarray of int
        Observed crossings of each interface (shortest lag, non-overlapping windows).
    results.crossing_time : ndarray
        Bin-crossing time Δz²/(2 D⊥_raw) per interface (fs; inf where D⊥_raw ≤ 0).
    results.trajectory_length : float
        Length of the analysed trajectory (fs).
    results.D, results.D_err : ndarray
        D⊥ interpolated to the bin centres (Å²/fs); NaN in a bin next to an unconverged
        interface. ``results.D_raw``, ``results.D_err_raw``: the same from the raw fit.
    results.D_bin_status : ndarray of str
        "ok" or "unconverged" per bin (unconverged: ``results.D`` is NaN there).
    results.fit_parameters : ndarray, shape (n_lags, 2 n - 2)
        Maximum-likelihood parameters at each lag (see :func:`fit_propagator`);
        ``results.fit_parameters_blocks``: the same per block, shape (n_blocks, n_lags, 2n-2).
    results.free_energy, results.free_energy_err : ndarray
        F(z) in kT, minimum shifted to zero.
    results.D_lags : ndarray, shape (n_lags, n - 1)
        D⊥ at each lag before extrapolation (Å²/fs).
    """

    def __init__(
        self,
        trajectory: Any,
        selection: Selection,
        timestep: float,
        bin_width: float = 0.5,
        z_range: tuple[float, float] | None = None,
        bins: int | None = None,
        lags: Sequence[int] = (2, 4, 8),
        n_blocks: int = 8,
        extrapolate: bool = True,
        min_crossings: int = 20,
        min_time_ratio: float = 10.0,
    ) -> None:
        super().__init__(trajectory, selection, timestep, bin_width, z_range, bins, lags, n_blocks)
        self.min_crossings = check_int("min_crossings", min_crossings, 0)
        if not (is_real(min_time_ratio) and np.isfinite(min_time_ratio) and min_time_ratio >= 0):
            raise ValueError(
                f"min_time_ratio must be a finite number >= 0 (trajectory length / bin-crossing "
                f"time), got {min_time_ratio!r}"
            )
        self.min_time_ratio = float(min_time_ratio)
        if self.edges.size < 3:
            raise ValueError(
                f"D_perp needs at least 2 bins to count transitions between, got 1 (bin_width="
                f"{bin_width} Å over {self.edges[-1] - self.edges[0]:.4g} Å): use a smaller "
                "bin_width or bins >= 2"
            )
        if not isinstance(extrapolate, bool | np.bool_):
            raise TypeError(f"extrapolate must be True or False, got {extrapolate!r}")
        if extrapolate and self.lags.size < 2:
            raise ValueError("extrapolate=True needs at least two lags (or set extrapolate=False)")
        self.extrapolate = extrapolate

    def transition_counts(self, lag: int, frames: slice | None = None) -> np.ndarray:
        """Transition counts between the bins at a lag, over all time origins.

        Parameters
        ----------
        lag : int
            Lag time in frames (any integer >= 1, not only one of ``lags``).
        frames : slice, optional
            Frames (of the analysed run) to count in, e.g. one trajectory block.

        Returns
        -------
        ndarray, shape (n_bins, n_bins)
            ``counts[i, j]``: transitions from bin j to bin i (``fit_propagator``'s layout).
        """
        if "edges" not in self.results:
            raise ValueError("run the analysis first (.run())")
        lag = check_int("lag", lag, 1)
        b = self._binned()
        if frames is not None:
            b = b[frames]
        if lag >= b.shape[0]:
            raise ValueError(f"lag={lag} frames is not shorter than the {b.shape[0]} frames")
        return self._counts(b, lag)

    def block_slices(self) -> list[slice]:
        """The ``n_blocks`` frame ranges of the error bars (after ``.run()``)."""
        return self._blocks()

    def _crossings(self, b: np.ndarray, lag: int) -> np.ndarray:
        """Crossings of each interface between frames ``lag`` apart, windows not overlapping."""
        nb = self.edges.size - 1
        src, dst = b[:-lag:lag].ravel(), b[lag::lag].ravel()
        ok = (src >= 0) & (dst >= 0) & (src != dst)
        lo, hi = np.minimum(src[ok], dst[ok]), np.maximum(src[ok], dst[ok])
        # a jump from bin lo to bin hi crosses the interfaces lo .. hi - 1
        steps = np.bincount(lo, minlength=nb) - np.bincount(hi, minlength=nb)
        return np.cumsum(steps)[: nb - 1].astype(int)

    def _counts(self, b: np.ndarray, lag: int) -> np.ndarray:
        nb = self.edges.size - 1
        src, dst = b[:-lag].ravel(), b[lag:].ravel()
        ok = (src >= 0) & (dst >= 0)
        flat = np.bincount(dst[ok] * nb + src[ok], minlength=nb * nb)
        return flat.reshape(nb, nb).astype(float)

    def _estimate(self, b: np.ndarray, x0s: list | None) -> tuple[np.ndarray, ...]:
        dz = self.edges[1] - self.edges[0]
        nb = self.edges.size - 1
        fs, ds, xs = [], [], []
        for j, lag in enumerate(self.lags):
            x0 = None if x0s is None else x0s[j]
            if x0 is None and xs:  # warm start from the previous lag, D τ/Δz² rescaled
                x0 = xs[-1].copy()
                x0[nb - 1 :] += np.log(lag / self.lags[j - 1])
            counts = self._counts(b, lag)
            occ = counts.sum(axis=0) + counts.sum(axis=1)
            if np.any(occ == 0):
                z = 0.5 * (self.edges[1:] + self.edges[:-1])
                raise UnvisitedBinsError(
                    f"bins at z = {np.round(z[occ == 0], 2).tolist()} Å (lag {lag} frames) were "
                    "never visited: narrow z_range to the region the selection visits, use a "
                    "wider bin_width, or run longer MD",
                    z=z[occ == 0],
                    lag=int(lag),
                )
            f, a, x = fit_propagator(counts, x0)
            fs.append(f - f.min())
            ds.append(a * dz**2 / (lag * self.dt))
            xs.append(x)
        ds = np.array(ds)
        if self.extrapolate:
            inv = 1.0 / (self.lags * self.dt)
            design = np.column_stack([np.ones_like(inv), inv])
            coef = np.linalg.lstsq(design, ds, rcond=None)[0]
            d_final = coef[0]
        else:
            d_final = ds[-1]
        f_mean = np.mean(fs, axis=0)
        return d_final, f_mean - f_mean.min(), ds, xs

    def _conclude(self) -> None:
        widths = np.diff(self.edges)
        if not np.allclose(widths, widths[0]):
            raise ValueError("the propagator model needs uniform bins")
        b = self._binned()
        from threadpoolctl import threadpool_limits  # a dependency of MDAnalysis

        # the fits are thousands of tiny BLAS calls: threading them is ~5-10x slower here
        with threadpool_limits(limits=1, user_api="blas"):
            d, f, ds, xs = self._estimate(b, None)
            blocks = []
            for k, s in enumerate(self._blocks()):
                try:
                    blocks.append(self._estimate(b[s], xs))
                except UnvisitedBinsError as err:  # still the selection's sampling problem
                    raise UnvisitedBinsError(
                        f"trajectory block {k} of {self.n_blocks}: {err}; or use fewer blocks",
                        err.z,
                        err.lag,
                    ) from err
                except ValueError as err:
                    raise ValueError(
                        f"trajectory block {k} of {self.n_blocks}: {err}; or use fewer blocks"
                    ) from err
        d_b = np.array([x[0] for x in blocks])
        f_b = np.array([x[1] for x in blocks])
        sq = np.sqrt(self.n_blocks)
        r = self.results
        r.edges = self.edges
        r.z = 0.5 * (self.edges[1:] + self.edges[:-1])
        r.z_interfaces = self.edges[1:-1]
        r.lagtimes = self.lags * self.dt
        d_err = np.std(d_b, axis=0, ddof=1) / sq
        # convergence per interface: enough crossings, and a trajectory of many crossing times
        dz = float(self.edges[1] - self.edges[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            t_cross = np.where(d > 0, dz**2 / (2 * d), np.inf)
        t_traj = self.n_frames * self.dt
        n_cross = self._crossings(b, int(self.lags[0]))
        ok = (
            (n_cross >= self.min_crossings)
            & (self.min_time_ratio * t_cross <= t_traj)
            & np.isfinite(d)
            & np.isfinite(d_err)
        )
        r.D_status = np.where(ok, "ok", "unconverged")
        r.n_crossings = n_cross
        r.crossing_time = t_cross
        r.trajectory_length = float(t_traj)
        r.D_interfaces_raw = d
        r.D_interfaces_err_raw = d_err
        r.D_interfaces = np.where(ok, d, np.nan)
        r.D_interfaces_err = np.where(ok, d_err, np.nan)
        r.D_raw = np.interp(r.z, r.z_interfaces, d)
        r.D_err_raw = np.interp(r.z, r.z_interfaces, d_err)
        r.D = np.interp(r.z, r.z_interfaces, r.D_interfaces)
        r.D_err = np.interp(r.z, r.z_interfaces, r.D_interfaces_err)
        r.D_bin_status = np.where(np.isfinite(r.D), "ok", "unconverged")
        r.fit_parameters = np.array(xs)
        r.fit_parameters_blocks = np.array([x[3] for x in blocks])
        r.D_lags = ds
        r.D_blocks = d_b
        r.free_energy = f
        r.free_energy_err = np.std(f_b - f_b.mean(axis=1, keepdims=True), axis=0, ddof=1) / sq
