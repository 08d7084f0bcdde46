"""Chapman–Kolmogorov test of the Smoluchowski propagator behind D⊥(z) and F(z).

Hummer's propagator model (:class:`~multiscale.extract.diffusion.PerpendicularDiffusionProfile`)
assumes that the motion between z bins is Markovian at the lag τ of the fit: the transition
matrix at kτ is then the k-th power of the one at τ, T(kτ) = exp(k R τ). This module fits
the rate matrix R at τ (the same maximum-likelihood fit, :func:`fit_propagator`), predicts
T(2τ) and T(4τ) with :func:`scipy.linalg.expm` and compares them with the transition
matrices counted in the trajectory at 2τ and 4τ.

The discrepancy

    Δ(k) = Σ_j π_j · ½ Σ_i abs(T_obs(kτ)_ij − T_pred(kτ)_ij)

is the population-weighted total-variation distance between the observed and the predicted
distribution after kτ of a walker started in bin j (π: the fitted equilibrium populations):
the probability that the model puts the walker in the wrong bin, between 0 and 1.

Statistics. Δ is a sum of absolute values, so it is positive even when the model is exact:
the observed matrix has sampling noise. The test therefore compares Δ with the value expected
from finite sampling alone, not with zero. The matrix of differences m = T_obs − T_pred is
computed on each of the ``n_blocks`` (B) independent trajectory blocks, each with its own fit
at τ (so the noise of the fit is included). The block deviations e_b = m_b − mean(m) are pure
noise whatever the model; random-sign combinations η = √(B/(B−1)) (1/B) Σ_b ±e_b have the
covariance of the noise of the whole-trajectory m (element correlations, e.g. columns summing
to zero, included), and Σ π_j ½ Σ_i abs(η_ij) over the 2^(B−1) sign patterns is the
distribution of Δ for an exact model (a sign-flip null). Its mean is the noise floor Δ₀ and
its standard deviation σ_Δ the error of Δ. The report prints the excess Δ − Δ₀ ± σ_Δ; the
verdict is "consistent" when the excess is at most ``n_sigma`` (default 2) σ_Δ at every
multiple of τ (one-sided: an excess below zero is noise). Calibration, 20 simulated exact
Markov chains (8 bins, 10 walkers, 20 000 steps, 8 blocks): excess/σ_Δ = +0.3 ± 1.0 at 2τ
and +0.1 ± 0.8 at 4τ, 5 % above 2 at 2τ (the ideal one-sided rate is 2.3 %).

What the test sees: memory at τ (velocity correlations, a slow hidden coordinate such as the
orientation of a water molecule or an ion's solvation shell) and also the discretisation of
the Smoluchowski operator on coarse bins (the reason D(τ) depends on τ). The second is a
property of the model, not of the MD: a lag with √(2Dτ) of one bin or more keeps it small.

Units: lag in frames, lag_time in fs, populations and discrepancies dimensionless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import expm

from .base import check_int, is_int, is_real
from .diffusion import PerpendicularDiffusionProfile, fit_propagator

__all__ = [
    "ChapmanKolmogorovResult",
    "chapman_kolmogorov",
    "chapman_kolmogorov_test",
    "smoluchowski_rate_matrix",
]


def smoluchowski_rate_matrix(free_energy: np.ndarray, d_tau: np.ndarray) -> np.ndarray:
    """Rate matrix × τ of the discretised Smoluchowski equation (Hummer 2005).

    R_{i+1,i} = a_i e^{−(F_{i+1} − F_i)/2}, R_{i,i+1} = a_i e^{+(F_{i+1} − F_i)/2} with
    a_i = D_{i+1/2} τ / Δz², diagonal minus the column sums (probability is conserved), the
    same model that :func:`~multiscale.extract.diffusion.fit_propagator` fits. exp(k R) is the
    transition matrix at kτ, ``T[i, j]`` = P(bin i at t + kτ | bin j at t).

    Parameters
    ----------
    free_energy : array_like, shape (n,)
        F per bin (kT).
    d_tau : array_like, shape (n - 1,)
        D τ / Δz² at the interfaces (dimensionless): from the fit, or D⊥ (Å²/fs) × τ (fs)
        / Δz² (Å²).

    Returns
    -------
    ndarray, shape (n, n)
        R τ (dimensionless).
    """
    f = np.asarray(free_energy, dtype=float)
    a = np.asarray(d_tau, dtype=float)
    if f.ndim != 1 or f.size < 2 or a.shape != (f.size - 1,):
        raise ValueError(
            f"free_energy must have n >= 2 values and d_tau n - 1, got shapes {f.shape} and "
            f"{a.shape}"
        )
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(a)) and np.all(a >= 0)):
        raise ValueError("free_energy must be finite and d_tau finite and >= 0")
    delta = np.diff(f)
    r = np.diag(a * np.exp(-delta / 2), -1) + np.diag(a * np.exp(delta / 2), 1)
    r -= np.diag(r.sum(axis=0))
    return r


@dataclass
class ChapmanKolmogorovResult:
    """Result of :func:`chapman_kolmogorov_test`.

    Attributes
    ----------
    lag : int
        τ in frames; ``lag_time``: τ in fs (NaN when no frame interval was given).
    multiples : tuple of int
        k of the predicted lags kτ.
    discrepancy, discrepancy_err : ndarray
        Δ(k) and σ_Δ (dimensionless, see the module docstring).
    noise_floor : ndarray
        Δ₀(k), the discrepancy expected from finite sampling alone (sign-flip null mean).
    excess, excess_err : ndarray
        Δ − Δ₀ and σ_Δ.
    consistent : ndarray of bool
        Per multiple: excess ≤ ``n_sigma`` σ_Δ.
    verdict : str
        "consistent" (every multiple), "inconsistent", or "not testable" (fewer than
        ``min_transitions`` transitions between bins at τ: nothing to predict).
    n_transitions : int
        Transitions between different bins counted at τ (all time origins).
    populations : ndarray
        Fitted equilibrium populations π (weights of Δ).
    observed, predicted : list of ndarray
        T_obs(kτ), T_pred(kτ) of the whole trajectory.
    """

    lag: int
    lag_time: float
    multiples: tuple[int, ...]
    discrepancy: np.ndarray
    discrepancy_err: np.ndarray
    noise_floor: np.ndarray
    excess: np.ndarray
    excess_err: np.ndarray
    consistent: np.ndarray
    verdict: str
    n_transitions: int
    n_sigma: float
    n_blocks: int
    populations: np.ndarray
    observed: list[np.ndarray] = field(repr=False)
    predicted: list[np.ndarray] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (no matrices)."""
        return {
            "lag_frames": self.lag,
            "lag_fs": None if not np.isfinite(self.lag_time) else float(self.lag_time),
            "multiples": list(self.multiples),
            "discrepancy": [float(x) for x in self.discrepancy],
            "discrepancy_err": [float(x) for x in self.discrepancy_err],
            "noise_floor": [float(x) for x in self.noise_floor],
            "excess": [float(x) for x in self.excess],
            "excess_err": [float(x) for x in self.excess_err],
            "consistent": [bool(x) for x in self.consistent],
            "verdict": self.verdict,
            "n_transitions": self.n_transitions,
            "n_sigma": self.n_sigma,
            "n_blocks": self.n_blocks,
            "statistic": "population-weighted total-variation distance between observed and "
            "predicted T(k tau); excess over its sampling-noise floor (sign-flip null of the "
            "trajectory blocks), whose standard deviation is the error",
        }


def _column_normalised(counts: np.ndarray) -> np.ndarray:
    tot = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, counts / tot, np.nan)


def _counts(b: np.ndarray, lag: int, n: int) -> np.ndarray:
    src, dst = b[:-lag].ravel(), b[lag:].ravel()
    ok = (src >= 0) & (dst >= 0)
    return np.bincount(dst[ok] * n + src[ok], minlength=n * n).reshape(n, n).astype(float)


def _sign_flip_null(diffs: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Discrepancies of pure sampling noise, from the scatter of the blocks.

    e_b = m_b − mean(m) is block b's noise; η = √(B/(B−1)) (1/B) Σ_b ε_b e_b with random
    signs ε_b = ±1 has the covariance of the noise of the whole-trajectory estimate (the
    covariance of a mean of B blocks), element correlations included. Every sign pattern up
    to a global flip (2^(B−1), at most 4096 drawn) gives one Σ w |η|.
    """
    nb = diffs.shape[0]
    e = diffs - np.nanmean(diffs, axis=0, keepdims=True)
    e = np.where(np.isfinite(e), e, 0.0)
    n_pat = 2 ** (nb - 1)
    if n_pat <= 4096:
        codes = np.arange(n_pat)
        signs = 1 - 2 * ((codes[:, None] >> np.arange(nb)[None, :]) & 1)
    else:
        rng = np.random.default_rng(0)
        signs = rng.choice([-1, 1], size=(4096, nb))
    eta = np.tensordot(signs.astype(float), e, axes=(1, 0)) / nb * np.sqrt(nb / (nb - 1))
    return np.sum(w[None] * np.abs(eta), axis=(2, 3))


def _differences(
    b: np.ndarray, n: int, lag: int, multiples: Sequence[int], x0: np.ndarray | None
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Fit at lag; T_obs − T_pred at each multiple; populations; parameters."""
    f, a, x = fit_propagator(_counts(b, lag, n), x0)
    r = smoluchowski_rate_matrix(f, a)
    p = np.exp(-(f - f.min()))
    p /= p.sum()
    obs = [_column_normalised(_counts(b, k * lag, n)) for k in multiples]
    pred = [expm(k * r) for k in multiples]
    return p, obs, pred, x


def chapman_kolmogorov_test(
    bins: np.ndarray,
    n_bins: int,
    lag: int,
    multiples: Sequence[int] = (2, 4),
    n_blocks: int = 8,
    n_sigma: float = 2.0,
    frame_interval: float | None = None,
    x0: np.ndarray | None = None,
    min_transitions: int = 20,
) -> ChapmanKolmogorovResult:
    """Chapman–Kolmogorov test of the propagator model fitted at one lag.

    Parameters
    ----------
    bins : array_like of int, shape (n_frames, n_particles)
        Bin index of every particle in every frame, −1 outside the range (as the D⊥
        analysis bins them). Transitions from or to −1 are not counted.
    n_bins : int
        Number of bins.
    lag : int
        τ of the fit (frames).
    multiples : sequence of int
        k ≥ 2 of the lags kτ at which the prediction is checked.
    n_blocks : int
        Independent trajectory blocks for the standard errors (each block longer than the
        largest kτ).
    n_sigma : float
        The excess over the noise floor allowed, in standard errors.
    frame_interval : float, optional
        Time between frames (fs), only to report τ in fs.
    x0 : ndarray, optional
        Starting parameters of the fit at τ (e.g. ``results.fit_parameters[0]`` of the D⊥
        analysis).
    min_transitions : int
        Fewest transitions between different bins at τ for a verdict; below it the verdict
        is "not testable" (a model of walkers that never leave their bins predicts nothing).

    Returns
    -------
    ChapmanKolmogorovResult

    Raises
    ------
    ValueError
        Malformed arguments, a block too short for the largest kτ, or a bin that the whole
        trajectory or one block never visits.
    """
    b = np.asarray(bins)
    if b.ndim == 1:
        b = b[:, None]
    if b.ndim != 2 or not np.issubdtype(b.dtype, np.integer):
        raise ValueError(
            f"bins must be an integer array (n_frames, n_particles), got dtype {b.dtype} and "
            f"shape {b.shape}"
        )
    n = check_int("n_bins", n_bins, 2)
    if b.size and (b.max() >= n or b.min() < -1):
        raise ValueError(f"bins must hold indices in [-1, {n - 1}] (n_bins={n})")
    lag = check_int("lag", lag, 1)
    n_blocks = check_int("n_blocks", n_blocks, 2)
    min_transitions = check_int("min_transitions", min_transitions, 0)
    if (
        isinstance(multiples, str)
        or not isinstance(multiples, Sequence | np.ndarray)
        or len(multiples) == 0
        or not all(is_int(k) and k >= 2 for k in multiples)
    ):
        raise ValueError(f"multiples must be a non-empty list of integers >= 2, got {multiples!r}")
    ks = tuple(int(k) for k in multiples)
    if not (is_real(n_sigma) and np.isfinite(n_sigma) and n_sigma > 0):
        raise ValueError(f"n_sigma must be a number > 0 (standard errors), got {n_sigma!r}")
    per_block = b.shape[0] // n_blocks
    if per_block <= max(ks) * lag:
        raise ValueError(
            f"{b.shape[0]} frames in n_blocks={n_blocks} blocks leave {per_block} frames per "
            f"block, not more than the largest checked lag {max(ks)} x {lag} frames: use a "
            "longer trajectory, fewer blocks, a shorter lag or smaller multiples"
        )
    try:
        p, obs, pred, x = _differences(b, n, lag, ks, x0)
    except ValueError as err:
        raise ValueError(f"Chapman-Kolmogorov test at lag {lag} frames: {err}") from err
    diffs = []
    for k in range(n_blocks):
        blk = b[k * per_block : (k + 1) * per_block]
        try:
            _, o_b, p_b, _ = _differences(blk, n, lag, ks, x)
        except ValueError as err:
            raise ValueError(
                f"Chapman-Kolmogorov test, block {k} of {n_blocks}: {err}; or use fewer blocks"
            ) from err
        diffs.append([ob - pb for ob, pb in zip(o_b, p_b, strict=True)])
    diffs = np.array(diffs)  # (n_blocks, n_multiples, n, n); NaN columns: source not visited
    diffs = np.where(np.isfinite(diffs), diffs, np.nan)
    w = 0.5 * p[None, None, :]  # weight of element (i, j): π_j / 2
    m = np.array([ob - pb for ob, pb in zip(obs, pred, strict=True)])
    m = np.where(np.isfinite(m), m, 0.0)  # an unvisited source column carries no weight
    disc = np.sum(w * np.abs(m), axis=(1, 2))
    null = _sign_flip_null(diffs, w)  # (n_patterns, n_multiples)
    floor = null.mean(axis=0)
    err = null.std(axis=0, ddof=1)
    excess = disc - floor
    # 1e-9 absolute: a probability difference below it is round-off of the fit (e.g. rates at
    # the optimiser's lower bound), not a discrepancy
    consistent = excess <= n_sigma * err + 1e-9
    c_tau = _counts(b, lag, n)
    n_trans = int(c_tau.sum() - np.trace(c_tau))
    if n_trans < min_transitions:
        verdict = "not testable"
    else:
        verdict = "consistent" if bool(np.all(consistent)) else "inconsistent"
    return ChapmanKolmogorovResult(
        lag=lag,
        lag_time=float(lag * frame_interval) if frame_interval is not None else float("nan"),
        multiples=ks,
        discrepancy=disc,
        discrepancy_err=err,
        noise_floor=floor,
        excess=excess,
        excess_err=err,
        consistent=consistent,
        verdict=verdict,
        n_transitions=n_trans,
        n_sigma=float(n_sigma),
        n_blocks=n_blocks,
        populations=p,
        observed=obs,
        predicted=pred,
    )


def chapman_kolmogorov(
    profile: PerpendicularDiffusionProfile,
    multiples: Sequence[int] = (2, 4),
    lag: int | None = None,
    n_sigma: float = 2.0,
) -> ChapmanKolmogorovResult:
    """Chapman–Kolmogorov test of a finished D⊥ analysis, at its shortest lag.

    Parameters
    ----------
    profile : PerpendicularDiffusionProfile
        A finished (``.run()``) analysis; its bins, blocks and fit at τ are used.
    multiples : sequence of int
        k of the checked lags kτ.
    lag : int, optional
        τ in frames; default the analysis' shortest lag (its fit is the starting point).
    n_sigma : float
        Excess allowed, in standard errors.

    Returns
    -------
    ChapmanKolmogorovResult
    """
    if not isinstance(profile, PerpendicularDiffusionProfile):
        raise TypeError(
            f"profile must be a PerpendicularDiffusionProfile, got {type(profile).__name__}"
        )
    r = profile.results
    if "fit_parameters" not in r:
        raise ValueError("run the PerpendicularDiffusionProfile first (.run())")
    x0 = None
    if lag is None:
        lag, x0 = int(profile.lags[0]), r.fit_parameters[0]
    return chapman_kolmogorov_test(
        profile._binned(),
        profile.edges.size - 1,
        lag,
        multiples=multiples,
        n_blocks=profile.n_blocks,
        n_sigma=n_sigma,
        frame_interval=profile.dt,
        x0=x0,
    )
