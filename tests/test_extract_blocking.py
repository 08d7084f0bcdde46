"""Flyvbjerg–Petersen blocking against the exact standard error of an AR(1) process."""

from __future__ import annotations

import numpy as np
import pytest

from multiscale.extract import block_average


def ar1(a: float, n: int, m: int, rng) -> np.ndarray:
    """m independent AR(1) series x_t = a x_{t−1} + ε_t, started in equilibrium."""
    e = rng.standard_normal((n, m))
    x = np.empty_like(e)
    x[0] = e[0] / np.sqrt(1 - a * a)
    for t in range(1, n):
        x[t] = a * x[t - 1] + e[t]
    return x


@pytest.mark.parametrize("a", [0.0, 0.8, 0.95])
def test_blocking_recovers_exact_sem_of_ar1(a, rng):
    n, m = 2**15, 40
    x = ar1(a, n, m, rng)
    res = block_average(x)
    g_exact = (1 + a) / (1 - a)  # statistical inefficiency of AR(1)
    sem_exact = np.sqrt(g_exact / ((1 - a * a) * n))
    # averaged over 40 independent series the estimate is unbiased to a few %
    assert res.sem.mean() == pytest.approx(sem_exact, rel=0.06)
    assert np.median(res.statistical_inefficiency) == pytest.approx(g_exact, rel=0.15)
    assert res.converged.mean() > 0.9
    # the naive error underestimates by sqrt(g); blocking must not
    naive = x.std(axis=0, ddof=1).mean() / np.sqrt(n)
    assert res.sem.mean() / naive == pytest.approx(np.sqrt(g_exact), rel=0.1)


def test_blocking_coverage_of_true_mean(rng):
    """About 68% of 1-σ intervals contain the true mean (0)."""
    x = ar1(0.9, 2**13, 400, rng)
    res = block_average(x)
    cover = np.mean(np.abs(res.mean) < res.sem)
    assert 0.58 < cover < 0.78


def test_blocking_input_checks():
    with pytest.raises(ValueError, match="at least 32 samples"):
        block_average(np.zeros(10))
    with pytest.raises(ValueError, match="min_blocks"):
        block_average(np.zeros(100), min_blocks=1)
