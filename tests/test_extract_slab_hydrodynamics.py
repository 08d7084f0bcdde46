"""Hydrodynamic finite-size terms of in-plane diffusion in a periodic slit, against independent
routes: a Gaussian-regularised direct lattice sum, completeness of the slit's modes, a
finite-difference eigensolution of momentum diffusion, equipartition of the liquid's centre
of mass, and closed-form Green's functions."""

import numpy as np
import pytest
from ase.units import _k as K_B
from scipy.linalg import eigh_tridiagonal
from slit_toy import synthetic_com

from multiscale.extract.slab_hydrodynamics import (
    fit_slit_viscosity,
    fluid_com_msd,
    k0_green,
    k0_msd_excess,
    lattice_constant_2d,
    slab_finite_size_correction,
    slit_modes,
)

H = 21e-10  # m
A = 10.2e-10 * 13.3e-10  # m²
WATER = dict(viscosity=0.9e-3, density=1050.0, temperature=400.0)


def _gaussian_lattice_sum(a1, a2, eps):
    """Σ_{R≠0} e^{−ε R²}/R − ∫ d²r e^{−ε r²}/(A r): → S as ε → 0, with an error ∝ ε."""
    n = int(7 / np.sqrt(eps))
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    x = i * a1[0] + j * a2[0]
    y = i * a1[1] + j * a2[1]
    r = np.hypot(x, y)
    r = r[r > 0]
    area = abs(a1[0] * a2[1] - a1[1] * a2[0])
    return np.sum(np.exp(-eps * r**2) / r) - np.pi / area * np.sqrt(np.pi / eps)


@pytest.mark.parametrize(
    "a1, a2",
    [((1.0, 0.0), (0.0, 1.0)), ((1.0, 0.0), (0.5, np.sqrt(3) / 2)), ((2.0, 0.0), (0.3, 1.0))],
)
def test_lattice_constant_matches_a_direct_regularised_sum(a1, a2):
    # Richardson extrapolation of the Gaussian-cut direct sum to ε = 0
    s1, s2 = _gaussian_lattice_sum(a1, a2, 4e-4), _gaussian_lattice_sum(a1, a2, 2e-4)
    direct = 2 * s2 - s1
    assert lattice_constant_2d(a1, a2) == pytest.approx(direct, abs=2e-5)


def test_lattice_constant_square_literature_and_scaling():
    # square lattice: 4 ζ(1/2) β(1/2) = −3.9002649 (Glasser & Zucker lattice sums)
    assert lattice_constant_2d((1.0, 0.0), (0.0, 1.0)) == pytest.approx(-3.9002649, abs=1e-6)
    L = 7e-10
    assert lattice_constant_2d((L, 0), (0, L)) * L == pytest.approx(-3.9002649, abs=1e-6)
    # any choice of basis vectors of the same lattice gives the same S
    assert lattice_constant_2d((1.0, 0.0), (1.0, 1.0)) == pytest.approx(-3.9002649, abs=1e-6)


@pytest.mark.parametrize("b", [0.0, 3e-10, 2e-9])
def test_slit_modes_are_orthonormal_satisfy_the_walls_and_are_complete(b):
    q, sym, norm = slit_modes(H, b, 400)
    z = np.linspace(0, H, 20001)

    def phi(zz):
        arg = np.outer(zz - H / 2, q)
        return np.where(sym, np.cos(arg), np.sin(arg)) * norm

    p = phi(z)
    gram = np.trapezoid(p[:, :8, None] * p[:, None, :8], z, axis=0)
    np.testing.assert_allclose(gram, np.eye(8), atol=1e-6)
    # Navier walls: φ = b φ' at 0, φ = −b φ' at H
    dphi = np.where(
        sym, -np.sin(np.outer([-H / 2, H / 2], q)), np.cos(np.outer([-H / 2, H / 2], q))
    )
    dphi *= q * norm
    ends = phi(np.array([0.0, H]))
    np.testing.assert_allclose(ends[0], b * dphi[0], atol=1e-8 * np.abs(norm).max())
    np.testing.assert_allclose(ends[1], -b * dphi[1], atol=1e-8 * np.abs(norm).max())
    # completeness: Σ φ_n(z)²/q_n² is the closed-form Green's function (truncation ~ 1/N)
    zs = np.array([0.2, 0.5, 0.8]) * H
    np.testing.assert_allclose(np.sum(phi(zs) ** 2 / q**2, axis=1), k0_green(zs, H, b), rtol=2e-3)


def test_k0_msd_matches_a_finite_difference_solution_of_momentum_diffusion():
    """No-slip slit discretised on 1500 interior nodes: the same MSD from its eigenpairs."""
    n = 1500
    h = H / (n + 1)
    zn = h * np.arange(1, n + 1)
    lam, vec = eigh_tridiagonal(np.full(n, 2 / h**2), np.full(n - 1, -1 / h**2))
    phi2 = vec**2 / h  # normalised so that Σ φ² h = 1
    nu = WATER["viscosity"] / WATER["density"]
    t = np.array([0.05, 0.3, 0.6, 1.2, 2.4, 10.0]) * 1e-12
    i = np.searchsorted(zn, [0.25 * H, 0.5 * H])
    tau = 1 / (nu * lam)
    fd = (
        2
        * 2
        * K_B
        * WATER["temperature"]
        / (WATER["density"] * A)
        * (np.outer(t, tau) - tau**2 * -np.expm1(-np.outer(t, 1 / tau)))
        @ phi2[i].T
    )
    ours = k0_msd_excess(zn[i], t, height=H, area=A, **WATER)
    np.testing.assert_allclose(ours, fd, rtol=3e-3)


@pytest.mark.parametrize("b", [0.0, 5e-10])
def test_k0_msd_long_time_slope_is_the_green_function(b):
    z = np.array([0.1, 0.5, 0.7]) * H
    t = np.array([2e-9, 4e-9])  # far beyond τ₁ ≈ H²/(π² ν) ≈ 0.5 ps
    msd = k0_msd_excess(z, t, height=H, area=A, slip_length=b, **WATER)
    slope = (msd[1] - msd[0]) / (t[1] - t[0]) / 4
    expect = K_B * 400.0 * (z + b) * (H - z + b) / (0.9e-3 * A * (H + 2 * b))
    np.testing.assert_allclose(slope, expect, rtol=1e-9)


@pytest.mark.parametrize("b", [0.0, 5e-10])
def test_fluid_com_equipartition_at_short_times_and_green_slope_at_long(b):
    rho = WATER["density"]
    mass = rho * A * H
    nu = WATER["viscosity"] / rho
    t = np.array([1e-16, 2e-16])
    ballistic = 2 * K_B * 400.0 * t**2 / mass  # x + y, <V²> = kT/M per direction
    # no-slip walls stop the liquid in boundary layers of width ~√(νt): the velocity
    # autocorrelation is 1 − (4/H)√(νs/π), which lowers the MSD by (32/15)√(νt/π)/H
    deficit = 32 / 15 * np.sqrt(nu * t / np.pi) / H
    msd = fluid_com_msd(t, height=H, area=A, slip_length=b, **WATER)
    if b == 0.0:
        np.testing.assert_allclose(msd, ballistic * (1 - deficit), rtol=5e-4)
    else:  # a slipping wall takes less momentum: between the no-slip value and ballistic
        assert np.all(msd > ballistic * (1 - deficit)) and np.all(msd < ballistic)
    t = np.array([2e-9, 4e-9])
    msd = fluid_com_msd(t, height=H, area=A, slip_length=b, **WATER)
    slope = (msd[1] - msd[0]) / (t[1] - t[0]) / 4
    assert slope == pytest.approx(K_B * 400.0 * (H / 12 + b / 2) / (0.9e-3 * A), rel=1e-9)


def test_oseen_tensor_integrated_over_kz_gives_the_lattice_coefficients():
    """(I − K̂K̂)/K² integrated over k_z: in-plane average 3/(8k), normal part 1/(4k)."""
    from scipy.integrate import quad

    k = 1.7
    f_xx = quad(lambda kz: (1 - k**2 / (k**2 + kz**2)) / (k**2 + kz**2), -np.inf, np.inf)[0]
    f_yy = quad(lambda kz: 1 / (k**2 + kz**2), -np.inf, np.inf)[0]
    f_zz = quad(lambda kz: (1 - kz**2 / (k**2 + kz**2)) / (k**2 + kz**2), -np.inf, np.inf)[0]
    par, perp = (f_xx + f_yy) / 2 / (2 * np.pi), f_zz / (2 * np.pi)
    assert par == pytest.approx(3 / (8 * k), rel=1e-8)
    assert perp == pytest.approx(1 / (4 * k), rel=1e-8)
    # Σ_k (2π/k)/A − ∫ d²k/(2π)² 2π/k = S, so the in-plane term is (3/8)/(2π) S kT/η
    z = np.array([0.5]) * H
    c = slab_finite_size_correction(
        z, [1e-12, 2e-12], cell_a=(1e-9, 0), cell_b=(0, 1.2e-9), height=H, **WATER
    )
    S = lattice_constant_2d((1e-9, 0), (0, 1.2e-9))
    kT_eta = K_B * WATER["temperature"] / WATER["viscosity"]
    assert c.lattice == pytest.approx(par * k * S / (2 * np.pi) * kT_eta)
    assert c.lattice_perp == pytest.approx(perp * k * S / (2 * np.pi) * kT_eta)


def test_correction_components_and_scaling_with_the_cell():
    z = np.array([0.5]) * H
    lags = np.array([0.6, 1.2, 2.4]) * 1e-12
    small = slab_finite_size_correction(
        z, lags, cell_a=(10.2e-10, 0), cell_b=(0, 13.3e-10), height=H, **WATER
    )
    big = slab_finite_size_correction(
        z, lags, cell_a=(20.4e-10, 0), cell_b=(0, 13.3e-10), height=H, **WATER
    )
    # the k = 0 term goes as 1/A; at these lags it is still below its long-time value
    assert big.k0[0] == pytest.approx(small.k0[0] / 2, rel=1e-12)
    assert 0.8 * small.k0_long_time[0] < small.k0[0] < small.k0_long_time[0]
    # the lattice term is 3 kT S/(16 π η), negative
    S = lattice_constant_2d((10.2e-10, 0), (0, 13.3e-10))
    assert small.lattice == pytest.approx(3 * K_B * 400.0 * S / (16 * np.pi * 0.9e-3))
    assert small.lattice < 0
    assert small.total[0] == pytest.approx(small.k0[0] + small.lattice)
    # long lags: the fitted slope reaches the Green's function value
    late = slab_finite_size_correction(
        z, [5e-9, 1e-8], cell_a=(10.2e-10, 0), cell_b=(0, 13.3e-10), height=H, **WATER
    )
    assert late.k0[0] == pytest.approx(late.k0_long_time[0], rel=1e-4)


@pytest.mark.parametrize("fit_slip", [False, True])
def test_fit_slit_viscosity_recovers_the_input(fit_slip):
    t = np.linspace(0.1, 6.0, 40) * 1e-12
    b = 4e-10 if fit_slip else 0.0
    kw = dict(height=H, area=A, density=1050.0, temperature=400.0)
    y = fluid_com_msd(t, viscosity=1.3e-3, slip_length=b, **kw)
    exact = fit_slit_viscosity(t, y, fit_slip=fit_slip, sigma=0.01 * y, **kw)
    assert exact["viscosity_Pa_s"] == pytest.approx(1.3e-3, rel=1e-4)
    assert exact["slip_length_m"] == pytest.approx(b, rel=1e-3, abs=1e-15)
    # with 1 % noise the truth lies within the fit's error bars (3 sigma), for 20 seeds
    for seed in range(20):
        noisy = y * (1 + 0.01 * np.random.default_rng(seed).standard_normal(t.size))
        fit = fit_slit_viscosity(t, noisy, fit_slip=fit_slip, sigma=0.01 * y, **kw)
        assert abs(fit["viscosity_Pa_s"] - 1.3e-3) < 3 * fit["viscosity_err_Pa_s"]
        assert fit["chi2"] < 2.5 * t.size
        if fit_slip:
            assert abs(fit["slip_length_m"] - b) < 3 * fit["slip_length_err_m"]


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="height must be a finite number > 0"):
        k0_green(1e-10, -1.0)
    with pytest.raises(ValueError, match="between the walls"):
        k0_green(3e-9, 2e-9)
    with pytest.raises(ValueError, match="parallel"):
        lattice_constant_2d((1.0, 0.0), (2.0, 0.0))
    with pytest.raises(ValueError, match="at least two different lags"):
        slab_finite_size_correction(
            [1e-9], [1e-12], cell_a=(1e-9, 0), cell_b=(0, 1e-9), height=H, **WATER
        )
    with pytest.raises(ValueError, match="slip_length must be a finite number >= 0"):
        slit_modes(H, -1e-10)
    with pytest.raises(ValueError, match="one finite MSD"):
        fit_slit_viscosity([1e-12, 2e-12], [1.0], height=H, area=A, density=1e3, temperature=300)


def test_com_viscosity_recovers_eta_with_honest_block_errors():
    """40 ps trajectories (like a production run's) of a liquid with known η: the block errors
    describe the scatter of the estimates (~40 % per run: the k = 0 mode decorrelates in
    ~0.5 ps, so 40 ps hold few independent samples of it)."""
    from multiscale.extract.slab_hydrodynamics import com_viscosity

    rng = np.random.default_rng(11)
    eta = 1.0e-3
    kw = dict(height=H, area=A, density=1050.0, temperature=400.0)
    est, err = [], []
    for _ in range(10):
        com = synthetic_com(2500, 16.0, 8, eta, rng)
        r = com_viscosity(com, 16e-15, max_lag=2e-12, **kw)["no_slip"]
        est.append(r["viscosity_Pa_s"])
        err.append(r["viscosity_err_Pa_s"])
    est, err = np.array(est), np.array(err)
    # unbiased within the scatter of the mean, and errors of the size of the real scatter
    assert abs(est.mean() - eta) < 3 * est.std(ddof=1) / np.sqrt(est.size)
    assert 0.5 < np.median(err) / est.std(ddof=1) < 2.0
    with pytest.raises(ValueError, match="at least"):
        com_viscosity(com[:100], 16e-15, max_lag=2e-12, **kw)


def test_half_density_offset_finds_the_liquid_edge():
    from multiscale.extract.slab_hydrodynamics import half_density_offset

    rng = np.random.default_rng(0)
    # a liquid filling heights 2.3 Å to the midplane (10 Å) uniformly
    h = rng.uniform(2.3, 10.0, 200000)
    assert half_density_offset(h, 20.0) == pytest.approx(2.3, abs=0.1)
    with pytest.raises(ValueError, match="midplane"):
        half_density_offset(rng.uniform(0, 3, 100), 20.0)
