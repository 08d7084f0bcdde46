"""Standard error of a time average from correlated samples: Flyvbjerg–Petersen blocking.

Successive halving of the series by averaging neighbouring pairs leaves the mean unchanged;
the naive standard error of the blocked series grows with the block size until blocks are
longer than the correlation time, then stays on a plateau (Flyvbjerg & Petersen,
J. Chem. Phys. 91, 461 (1989)). The plateau value is the standard error of the mean and
its ratio to the naive error gives the statistical inefficiency, so the correlation time
is estimated from the data rather than assumed.

Written by hand (vectorised over many series at once, e.g. one per histogram bin):
no installed library provides a vectorised blocking analysis with plateau detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BlockingResult", "block_average"]


@dataclass
class BlockingResult:
    """Outcome of :func:`block_average` (arrays have the shape of one sample).

    Attributes
    ----------
    mean : ndarray
        Sample mean (units of the data).
    sem : ndarray
        Standard error of the mean at the detected plateau (units of the data).
    statistical_inefficiency : ndarray
        g = n·sem²/var; 1 for uncorrelated data, ≈ 2τ_int for correlated data (samples).
    correlation_time : ndarray
        Integrated autocorrelation time τ_int = g/2 (in samples; multiply by the sample
        spacing for a time).
    level : ndarray of int
        Blocking level (block size 2**level samples) where the plateau was taken.
    converged : ndarray of bool
        False where no plateau was reached before too few blocks were left (the error is
        then a lower bound: run longer).
    levels_sem : ndarray, shape (n_levels, ...)
        Naive standard error at each blocking level.
    levels_sem_err : ndarray, shape (n_levels, ...)
        Its own standard error, sem / sqrt(2 (n_blocks - 1)).
    """

    mean: np.ndarray
    sem: np.ndarray
    statistical_inefficiency: np.ndarray
    correlation_time: np.ndarray
    level: np.ndarray
    converged: np.ndarray
    levels_sem: np.ndarray
    levels_sem_err: np.ndarray


def block_average(samples: np.ndarray, min_blocks: int = 16) -> BlockingResult:
    """Mean and standard error of a correlated time series by Flyvbjerg–Petersen blocking.

    Parameters
    ----------
    samples : array_like, shape (n_samples, ...)
        Time series along axis 0 (any units); trailing axes are independent series
        analysed in one pass (e.g. one per z bin).
    min_blocks : int
        Blocking levels with fewer blocks than this are not used to locate the plateau
        (their error estimates are too noisy).

    Returns
    -------
    BlockingResult

    Notes
    -----
    The plateau is the smallest level k whose error is not significantly exceeded by
    any later level j (σ_k ≥ σ_j − δσ_j for all usable j > k), which is robust to the
    noise of the large-block estimates.
    """
    if isinstance(min_blocks, bool) or not isinstance(min_blocks, int | np.integer):
        raise TypeError(f"min_blocks must be an integer, got {min_blocks!r}")
    x = np.asarray(samples, dtype=float)
    if not np.isfinite(x).all():
        first = np.argwhere(~np.isfinite(x))[0].tolist()
        raise ValueError(
            f"samples contain NaN or inf (first at index {first}): block averaging needs "
            "finite data"
        )
    if x.ndim == 0 or x.shape[0] < 2 * min_blocks:
        raise ValueError(
            f"block averaging needs at least {2 * min_blocks} samples along axis 0, got "
            f"{x.shape[0] if x.ndim else 0}: analyse more frames"
        )
    if min_blocks < 2:
        raise ValueError(f"min_blocks must be >= 2, got {min_blocks}")
    n0 = x.shape[0]
    mean = x.mean(axis=0)
    var0 = x.var(axis=0, ddof=1)
    sems, errs = [], []
    while x.shape[0] >= min_blocks:
        n = x.shape[0]
        s = np.sqrt(x.var(axis=0, ddof=1) / n)
        sems.append(s)
        errs.append(s / np.sqrt(2.0 * (n - 1)))
        m = n // 2
        x = 0.5 * (x[0 : 2 * m : 2] + x[1 : 2 * m : 2])
    sem_l = np.array(sems)
    err_l = np.array(errs)
    n_lev = sem_l.shape[0]
    # reverse running max of (σ_j − δσ_j) over j > k
    lower = sem_l - err_l
    later_max = np.full_like(sem_l, -np.inf)
    for k in range(n_lev - 2, -1, -1):
        later_max[k] = np.maximum(later_max[k + 1], lower[k + 1])
    ok = sem_l >= later_max
    level = np.argmax(ok, axis=0)  # first True (the last level is always True)
    sem = np.take_along_axis(sem_l, level[None], axis=0)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(var0 > 0, n0 * sem**2 / var0, 1.0)
    g = np.maximum(g, 1.0)
    converged = level < n_lev - 1
    return BlockingResult(
        mean=mean,
        sem=sem,
        statistical_inefficiency=g,
        correlation_time=g / 2.0,
        level=level,
        converged=converged,
        levels_sem=sem_l,
        levels_sem_err=err_l,
    )
