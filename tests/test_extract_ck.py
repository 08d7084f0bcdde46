"""Chapman–Kolmogorov test of the propagator model (multiscale.extract.chapman_kolmogorov).

Synthetic data made here, in numpy: overdamped Langevin (Brownian) dynamics in a known F(z)
with a known D(z) between reflecting walls (Markovian: the test must pass at a lag of a few
bin-crossing times), and underdamped Langevin dynamics whose velocity stays correlated for
much longer than the lag (the z bins alone are not Markovian: the test must fail).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from scipy.linalg import expm

from multiscale.extract import (
    PerpendicularDiffusionProfile,
    chapman_kolmogorov,
    chapman_kolmogorov_test,
    smoluchowski_rate_matrix,
)
from multiscale.extract.diffusion import _propagator_nll

L, DZ = 6.0, 0.5  # Å: walls at 0 and L, 12 bins
N_BINS = 12


def d_true(z):  # Å²/fs
    return 0.01 * (0.75 + 0.25 * np.tanh((z - 3.0) / 1.0))


def dd_true(z):
    return 0.01 * 0.25 / np.cosh((z - 3.0) / 1.0) ** 2


def f_true(z):  # kT: an adsorption well of 1.5 kT
    return -1.5 * np.exp(-((z - 2.0) ** 2) / (2 * 0.7**2))


def df_true(z):
    return 1.5 * (z - 2.0) / 0.7**2 * np.exp(-((z - 2.0) ** 2) / (2 * 0.7**2))


def reflect(z, v=None):
    lo, hi = z < 0, z > L
    z = np.where(lo, -z, np.where(hi, 2 * L - z, z))
    if v is not None:
        v = np.where(lo | hi, -v, v)
    return z, v


def overdamped(n_steps=20000, n=5, dt=1.0, seed=0):
    """Itô Brownian dynamics dz = (D' − D F') dt + √(2 D dt) ξ; z (n_steps, n) in Å."""
    rng = np.random.default_rng(seed)
    z = rng.random(n) * L
    out = np.empty((n_steps, n))
    for t in range(n_steps):
        out[t] = z
        d = d_true(z)
        z = z + (dd_true(z) - d * df_true(z)) * dt + np.sqrt(2 * d * dt) * rng.standard_normal(n)
        z, _ = reflect(z)
    return out


def underdamped(n_steps=20000, n=5, dt=1.0, gamma=0.005, v_th=0.01, seed=0):
    """Free Langevin dynamics with a velocity correlation time 1/γ = 200 fs (Å, fs)."""
    rng = np.random.default_rng(seed)
    z, v = rng.random(n) * L, rng.standard_normal(n) * v_th
    c = np.exp(-gamma * dt)
    out = np.empty((n_steps, n))
    for t in range(n_steps):
        out[t] = z
        v = c * v + np.sqrt(1 - c * c) * v_th * rng.standard_normal(n)
        z, v = reflect(z + v * dt, v)
    return out


def to_bins(z):
    return np.minimum((z / DZ).astype(int), N_BINS - 1)


@pytest.fixture(scope="module")
def brownian():
    return overdamped()


def test_rate_matrix_is_the_fitted_model():
    """exp(R) of smoluchowski_rate_matrix is the propagator whose likelihood the fit uses."""
    f = np.array([0.0, -1.0, -0.4, 0.3, 0.1])
    a = np.array([0.3, 0.5, 0.2, 0.4])
    r = smoluchowski_rate_matrix(f, a)
    np.testing.assert_allclose(r.sum(axis=0), 0.0, atol=1e-14)  # probability conserved
    p = np.exp(-f)
    np.testing.assert_allclose(r * p[None, :], (r * p[None, :]).T, atol=1e-14)  # detailed balance
    t = expm(r)
    x = np.concatenate([f[1:], np.log(a)])
    for i, j in [(0, 0), (1, 0), (3, 2), (0, 4)]:
        counts = np.zeros((5, 5))
        counts[i, j] = 1.0
        nll, _ = _propagator_nll(x, counts, 1.0)
        assert nll == pytest.approx(-np.log(t[i, j]), rel=1e-9)
    with pytest.raises(ValueError, match="d_tau n - 1"):
        smoluchowski_rate_matrix(f, a[:-1])


def test_overdamped_langevin_passes(brownian):
    # τ = 40 fs is 3 bin-crossing times Δz²/2D (12.5 fs in the bulk-like half)
    res = chapman_kolmogorov_test(to_bins(brownian), N_BINS, 40, frame_interval=1.0)
    assert res.verdict == "consistent", res
    assert res.multiples == (2, 4) and res.lag_time == 40.0
    assert np.all(res.excess <= 2 * res.excess_err)
    # the discrepancy itself is the sampling noise: a few per cent of probability mass
    assert np.all(res.discrepancy < 0.06)
    np.testing.assert_allclose(res.populations.sum(), 1.0)
    json.dumps(res.as_dict())


def test_overdamped_langevin_at_a_lag_below_the_bin_crossing_time_fails(brownian):
    """At τ = 5 fs (0.4 crossing times) where a walker sits in its bin still matters: the
    bin-to-bin dynamics is not Markovian and the test says so (the reason D(τ) depends on τ)."""
    res = chapman_kolmogorov_test(to_bins(brownian), N_BINS, 5)
    assert res.verdict == "inconsistent"
    assert np.all(res.excess > 5 * res.excess_err)


def test_velocity_memory_fails():
    z = underdamped()
    res = chapman_kolmogorov_test(to_bins(z), N_BINS, 40)
    assert res.verdict == "inconsistent", res
    assert not np.any(res.consistent)
    # ballistic spreading: far more probability in the wrong bins than the noise allows
    assert np.all(res.excess > 4 * res.excess_err)
    assert np.all(res.discrepancy > 0.08)


def test_on_a_finished_perpendicular_profile(brownian):
    """The wrapper uses the analysis' bins, blocks and its fit at the shortest lag."""
    z = brownian[::10]  # frames every 10 fs: lag 4 frames = 40 fs
    xy = np.full((z.shape[1], 2), 5.0)
    frames = [
        Atoms(
            f"Na{z.shape[1]}",
            positions=np.column_stack([xy, zz]),
            cell=[10.0, 10.0, L],
            pbc=[True, True, False],
        )
        for zz in z
    ]
    an = PerpendicularDiffusionProfile(frames, "Na", 10.0, bin_width=DZ, lags=(4, 8)).run()
    res = chapman_kolmogorov(an)
    assert res.lag == 4 and res.lag_time == 40.0 and res.n_blocks == an.n_blocks
    assert res.verdict == "consistent", res
    counts = an.transition_counts(8)
    np.testing.assert_allclose(res.observed[0], counts / counts.sum(axis=0))
    with pytest.raises(TypeError, match="PerpendicularDiffusionProfile"):
        chapman_kolmogorov(object())


def test_input_errors(brownian):
    b = to_bins(brownian[:2000])
    with pytest.raises(ValueError, match="multiples must be"):
        chapman_kolmogorov_test(b, N_BINS, 10, multiples=(1,))
    with pytest.raises(ValueError, match="frames per block"):
        chapman_kolmogorov_test(b, N_BINS, 100, n_blocks=8)
    with pytest.raises(ValueError, match="integer array"):
        chapman_kolmogorov_test(b.astype(float), N_BINS, 10)
    with pytest.raises(ValueError, match=r"indices in \[-1, 11\]"):
        chapman_kolmogorov_test(b + 5, N_BINS, 10)
    with pytest.raises(ValueError, match="n_sigma"):
        chapman_kolmogorov_test(b, N_BINS, 10, n_sigma=0)


def test_walkers_that_never_leave_their_bins_are_not_testable():
    b = np.repeat(np.arange(4)[None, :], 400, axis=0)  # 4 walkers, one per bin, frozen
    res = chapman_kolmogorov_test(b, 4, 5)
    assert res.n_transitions == 0 and res.verdict == "not testable"
    assert res.as_dict()["verdict"] == "not testable"
