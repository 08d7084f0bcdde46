"""Uncertainty propagation from profile error bars to continuum outputs (continuum.uncertainty)."""

from __future__ import annotations

import numpy as np
import pytest

from continuum import TransportProfile
from continuum.uncertainty import parameter_groups, propagate_uncertainty, sample_profiles

L = 10e-9  # m
C_LEFT, C_RIGHT = 200.0, 100.0  # mol/m^3


def _profile(d, d_err, n=None):
    d = np.atleast_1d(np.asarray(d, dtype=float))
    n = d.size if n is None else n
    d = np.broadcast_to(d, (n,))
    z = (np.arange(n) + 0.5) * L / n  # bin centres (m)
    return TransportProfile(
        z=z,
        species=["A"],
        charges=[0],
        concentration=np.full((1, n), C_RIGHT),
        diffusion=d[None, :].copy(),
        diffusion_err=np.broadcast_to(np.asarray(d_err, dtype=float), (n,))[None, :].copy(),
    )


def _build_bins(n_cells=50):
    """1 neutral species, D piecewise constant in the profile's bins, c fixed at both ends."""
    from mpi4py import MPI

    from continuum import NernstPlanckProblem, Species, interval

    dom = interval(MPI.COMM_SELF, L, n_cells)

    def build(profile):
        n = profile.z.size
        edges = np.linspace(0.0, L, n + 1)
        dvals = profile.diffusion[0].copy()

        def dfun(x):
            k = np.clip(np.searchsorted(edges, x[0], side="right") - 1, 0, n - 1)
            return dvals[k]

        prob = NernstPlanckProblem(dom, [Species("A", 0, dfun, C_RIGHT)], potential=None)
        prob.set_concentration("A", "left", C_LEFT)
        prob.set_concentration("A", "right", C_RIGHT)
        return prob, {"J": lambda p: p.flux("A", "right")}

    return build


def test_constant_d_relative_error_carries_over_exactly():
    # one D for the whole layer, known to 15 %: a fully correlated covariance over the bins
    d, rel = 1.5e-9, 0.15
    prof = _profile(d, 0.0, n=5)
    cov = {"diffusion[A]": (rel * d) ** 2 * np.ones((5, 5))}
    # a small finite-difference step: the per-bin derivatives of J = dc / sum(h/D_i) have an
    # O(step^2) truncation error (1.4e-4 relative at the default step 0.1, 1e-8 at 1e-3)
    res = propagate_uncertainty(
        prof, _build_bins(), n_samples=64, seed=1, covariance=cov, step=1e-3
    )
    j = res.outputs["J"]
    j_exact = d * (C_LEFT - C_RIGHT) / L
    assert j.value == pytest.approx(j_exact, rel=1e-3)
    # linearised: sigma_J / J = sigma_D / D (J is linear in D)
    assert j.linear_std / j.value == pytest.approx(rel, rel=1e-6)
    # Monte Carlo: std within its sampling error of the analytic one, mean unbiased
    assert abs(j.std - rel * j.value) < 3 * j.std_err
    assert abs(j.mean - j.value) < 3 * j.mean_err
    # its interval (with its own sampling error) covers the analytic log-normal interval
    s2 = np.log1p(rel**2)
    from scipy.stats import norm

    q = np.exp(np.log(j.value) - s2 / 2 + norm.ppf([0.025, 0.975]) * np.sqrt(s2))
    assert j.interval_bounds[0] <= q[0] and q[1] <= j.interval_bounds[1]
    assert j.interval[0] < j.value < j.interval[1]
    assert j.dominant == "diffusion[A]" and j.consistent
    assert res.n_failed == 0 and res.samples.shape == (64, 1)


def test_bins_in_series_linear_equals_analytic_and_mc_covers_brute_force():
    d = np.array([2.0, 0.5, 1.0, 1.5, 0.8]) * 1e-9
    rel = np.array([0.05, 0.2, 0.1, 0.1, 0.3])
    prof = _profile(d, rel * d)
    # 256 samples: the percentile bounds are then exact order statistics (any distribution)
    res = propagate_uncertainty(prof, _build_bins(), n_samples=256, seed=3)
    j = res.outputs["J"]
    h = L / d.size
    resistance = np.sum(h / d)
    dc = C_LEFT - C_RIGHT
    assert j.value == pytest.approx(dc / resistance, rel=2e-3)
    # analytic propagation: dJ/dD_i = J^2 h / (dc D_i^2)
    grad = (dc / resistance) ** 2 * h / (dc * d**2)
    sigma = np.sqrt(np.sum((grad * rel * d) ** 2))
    assert j.linear_std == pytest.approx(sigma, rel=5e-3)
    # the budget: bin 4 (30 % on a low D) dominates; contributions sum to the variance
    contrib = j.bin_contributions["diffusion[A]"]
    assert contrib.sum() == pytest.approx(j.linear_std**2, rel=1e-12)
    assert j.dominant_bin == int(np.argmax((grad * rel * d) ** 2)) == 1
    # brute-force resampling of the analytic J from the same distributions
    rng = np.random.default_rng(12345)
    s2 = np.log1p(rel**2)
    dd = np.exp(np.log(d) - s2 / 2 + rng.standard_normal((40000, d.size)) * np.sqrt(s2))
    jb = dc / np.sum(h / dd, axis=1)
    lo, hi = np.quantile(jb, [0.025, 0.975])
    assert j.interval_bounds[0] <= lo and hi <= j.interval_bounds[1]
    assert abs(j.std - jb.std()) < 3 * j.std_err
    # linear and Monte Carlo agree within the sampling error (std; mean to second order)
    assert abs(j.std_z_score) < 3 and j.consistent
    # but J = 1/sum(h/D_i) is skewed: its mean is 0.26 sigma below J(D_mean), which the
    # second-order mean from the central differences gets, and near_linear says so
    assert j.second_order_mean == pytest.approx(jb.mean(), rel=5e-3)
    assert abs(j.mean - jb.mean()) < 3 * j.mean_err
    assert j.near_linear is False


def test_sampling_is_seeded_positive_and_keeps_mean_and_variance():
    d = np.array([1.0, 2.0, 3.0]) * 1e-9
    prof = _profile(d, 0.5 * d)  # 50 % errors: a normal D would go negative
    a = sample_profiles(prof, 4000, seed=7)
    b = sample_profiles(prof, 4000, seed=7)
    x = np.array([p.diffusion[0] for p in a])
    assert np.array_equal(x, np.array([p.diffusion[0] for p in b]))
    assert np.all(x > 0)
    assert np.allclose(x.mean(axis=0), d, rtol=0.05)
    assert np.allclose(x.std(axis=0), 0.5 * d, rtol=0.1)


def test_spread_over_comm_gives_the_same_numbers():
    from mpi4py import MPI

    prof = _profile(np.array([1.0, 2.0]) * 1e-9, np.array([0.1, 0.3]) * 1e-9)
    build = _build_bins(20)
    a = propagate_uncertainty(prof, build, n_samples=6, seed=2)
    b = propagate_uncertainty(prof, build, n_samples=6, seed=2, comm=MPI.COMM_WORLD)
    assert np.array_equal(a.samples, b.samples)
    assert a.outputs["J"].linear_std == b.outputs["J"].linear_std


def test_bad_input_is_refused_with_a_message():
    prof = _profile(1e-9, 1e-10, n=3)
    build = _build_bins(10)
    with pytest.raises(TypeError, match="build must be a function"):
        propagate_uncertainty(prof, None)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 0"):
        propagate_uncertainty(prof, build, n_samples=-1)
    with pytest.raises(ValueError, match="nothing to do"):
        propagate_uncertainty(prof, build, n_samples=0, linear=False)
    with pytest.raises(ValueError, match="step must be a fraction"):
        propagate_uncertainty(prof, build, step=0.0)
    with pytest.raises(ValueError, match="scheme must be"):
        propagate_uncertainty(prof, build, scheme="backward")
    with pytest.raises(ValueError, match="level must be"):
        propagate_uncertainty(prof, build, level=95)
    with pytest.raises(ValueError, match="no error bars"):
        propagate_uncertainty(_profile(1e-9, 0.0, n=3), build)
    with pytest.raises(ValueError, match="cannot propagate"):
        parameter_groups(prof, include=["field"])
    with pytest.raises(ValueError, match="include: the profile has no 'potential'"):
        parameter_groups(prof, include=["potential"])
    with pytest.raises(ValueError, match="unknown keys"):
        parameter_groups(prof, covariance={"diffusion[B]": np.eye(3)})
    with pytest.raises(ValueError, match="not positive semi-definite"):
        parameter_groups(prof, covariance={"diffusion[A]": -np.eye(3)})
    with pytest.raises(ValueError, match=r"must have shape \(3, 3\)"):
        parameter_groups(prof, covariance={"diffusion[A]": np.eye(2)})
    with pytest.raises(TypeError, match="must return \\(problem, outputs\\)"):
        propagate_uncertainty(prof, lambda p: 1.0, n_samples=2, linear=False)
    with pytest.raises(TypeError, match="output 'x' must be a number"):
        propagate_uncertainty(prof, lambda p: (None, {"x": "a"}), n_samples=2, linear=False)


def test_pipeline_profile_1d_reports_intervals(tmp_path):
    """solve_profile_1d with continuum.uncertainty_samples > 0: intervals in summary and report."""
    from multiscale.pipeline.config import SCHEMA
    from multiscale.pipeline.continuum_adapter import solve_profile_1d
    from multiscale.pipeline.report import _continuum

    assert SCHEMA["continuum"]["uncertainty_samples"].default == 0  # off unless asked for
    n = 4
    z = np.linspace(0.0, 1.5e-9, n)
    fe = np.array([[-2000.0, -500.0, 200.0, 0.0], [1500.0, 300.0, -100.0, 0.0]])
    conc = 500.0 * np.exp(-fe / (8.314462618 * 298.15))
    d = np.array([[0.4, 0.8, 1.1, 1.3], [0.5, 1.0, 1.6, 2.0]]) * 1e-9
    prof = TransportProfile(
        z=z, species=["Na+", "Cl-"], charges=[1, -1], concentration=conc, diffusion=d,
        diffusion_err=0.2 * d, free_energy=fe, free_energy_err=np.full_like(fe, 300.0),
        concentration_err=0.05 * conc,
    )  # fmt: skip
    path = prof.write(tmp_path / "profile.h5")
    cfg = {"cells_1d": 30, "potential_1d": "none", "uncertainty_samples": 6}
    s = solve_profile_1d(cfg, path, tmp_path)
    u = s["uncertainty"]
    assert u["n_samples"] == 6 and u["n_failed"] == 0
    assert u["parameters"] == {
        "diffusion[Na+]": 4, "diffusion[Cl-]": 4, "free_energy[Na+]": 4, "free_energy[Cl-]": 4,
        "concentration[Na+]": 1, "concentration[Cl-]": 1,
    }  # fmt: skip
    k = u["outputs"]["k_layer[Na+]"]
    # k = 1 / integral of e^(F/RT) / D: positive, with a spread from the D and F errors
    assert k["value"] > 0 and k["linear_std"] > 0 and k["std"] > 0
    assert k["interval"][0] < k["value"] < k["interval"][1]
    assert k["dominant"] in u["parameters"]
    text = "\n".join(_continuum({"profile_1d": s}, tmp_path))
    assert "95 % interval (MC)" in text and "| k_layer[Na+] (m/s) |" in text
    assert "dominant" in text


def test_round_off_errors_give_no_spread_and_no_dominant_source():
    # errors at round-off level (as an extract of a tiny run can give): nothing to propagate
    d = np.array([1.0, 2.0]) * 1e-9
    res = propagate_uncertainty(_profile(d, 1e-28), _build_bins(10), n_samples=4, seed=0)
    j = res.outputs["J"]
    assert j.linear_std < 1e-15 * abs(j.value) and j.std < 1e-15 * abs(j.value)
    assert j.dominant == "" and j.dominant_bin == -1
