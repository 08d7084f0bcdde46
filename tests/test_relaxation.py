"""The relaxation round trip (released ions vs the continuum's Smoluchowski prediction).

Synthetic "MD" made here, in numpy, with a known F(z) (an adsorption well and a barrier):

* overdamped Langevin (Brownian) dynamics, for the umbrella windows and for the released
  walkers alike: the Smoluchowski equation is exact, the round trip must come out consistent;
* the same data with D overestimated 2.5x: it must come out inconsistent, the MD slower;
* underdamped Langevin dynamics (inertia, friction 2 /ps): windows and release from the same
  dynamics, the parameters estimated from its windows as from real MD; the round trip must
  fail and name the window's oscillating autocorrelation.

The continuum solve itself is checked against an independent propagator (the discretised
Smoluchowski rate matrix of the Chapman–Kolmogorov module, exponentiated with scipy).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from scipy.linalg import expm

from multiscale.extract import UmbrellaAnalysis
from multiscale.extract.chapman_kolmogorov import smoluchowski_rate_matrix
from multiscale.extract.relaxation import RelaxationRoundTrip, smoluchowski_mean_height

T_K = 300.0
KT = units.kB * T_K
K_SPRING = 2.5  # eV/Å²
DB = 2e-4  # Å²/fs
CENTERS = np.arange(1.5, 5.51, 0.25)
Z0 = 3.25  # release window
WALLS = (1.2, 5.8)
MASS = 23 * units._amu / (units._e * 1e-30 / 1e-20) / KT  # Na in kT fs²/Å²


def f_true(z):  # kT
    return -2.0 * np.exp(-((z - 2.5) ** 2) / (2 * 0.5**2)) + 1.5 * np.exp(
        -((z - 4.0) ** 2) / (2 * 0.4**2)
    )


def df_true(z, h=1e-5):
    return (f_true(z + h) - f_true(z - h)) / (2 * h)


def d_perp(z):
    return DB * (1 - 0.5 * np.exp(-z / 1.5))


def dd_perp(z, h=1e-5):
    return (d_perp(z + h) - d_perp(z - h)) / (2 * h)


def restrained_start(rng, centers, n):
    """Walkers drawn from each window's exact restrained density."""
    bk = K_SPRING / KT
    grid = np.linspace(-0.6, 0.6, 4001)
    out = []
    for c in centers:
        g = c + grid
        cdf = np.cumsum(np.exp(-(f_true(g) + 0.5 * bk * grid**2)))
        out.append(np.interp(rng.random(n), cdf / cdf[-1], g))
    return np.concatenate(out)


def reflect(z):
    lo, hi = WALLS
    return np.where(z > hi, 2 * hi - z, np.where(z < lo, 2 * lo - z, z))


def brownian(z, centers, frames, every, rng, dt=1.0):
    """Itô Euler–Maruyama with the D' drift; restrained when ``centers`` is given."""
    bk = K_SPRING / KT
    out = np.empty((frames, z.size))
    for f in range(frames):
        out[f] = z
        for _ in range(every):
            d = d_perp(z)
            drift = dd_perp(z) - d * (
                df_true(z) + (bk * (z - centers) if centers is not None else 0)
            )
            z = reflect(z + drift * dt + np.sqrt(2 * d * dt) * rng.standard_normal(z.size))
    return out


def underdamped(z, centers, frames, every, rng, gamma=0.002, dt=1.0):
    """BAOAB Langevin with inertia (mass of Na, friction ``gamma`` 1/fs), kT units."""
    bk = K_SPRING / KT
    v = rng.standard_normal(z.size) / np.sqrt(MASS)
    a = np.exp(-gamma * dt)
    s = np.sqrt((1 - a * a) / MASS)

    def force(z):
        return -(df_true(z) + (bk * (z - centers) if centers is not None else 0))

    fz = force(z)
    out = np.empty((frames, z.size))
    for f in range(frames):
        out[f] = z
        for _ in range(every):
            v = v + 0.5 * dt * fz / MASS
            z = z + 0.5 * dt * v
            v = a * v + s * rng.standard_normal(z.size)
            z = z + 0.5 * dt * v
            fz = force(z)
            v = v + 0.5 * dt * fz / MASS
    return out


def windows_and_release(dynamics, seed, frames, release_frames, release_every):
    rng = np.random.default_rng(seed)
    w = 32
    z = restrained_start(rng, CENTERS, w)
    h = dynamics(z, np.repeat(CENTERS, w), frames, 5, rng)
    ana = UmbrellaAnalysis([h[:, i * w : (i + 1) * w] for i in range(CENTERS.size)],
                           CENTERS, K_SPRING, T_K, 5.0).run()  # fmt: skip
    released = dynamics(restrained_start(rng, [Z0], 200), None, release_frames, release_every, rng)
    return ana, released


@pytest.fixture(scope="module")
def brownian_case():
    return windows_and_release(brownian, 1, 1600, 301, 10)


@pytest.fixture(scope="module")
def brownian_round_trip(brownian_case):
    ana, released = brownian_case
    return RelaxationRoundTrip(released, 10.0, ana, Z0, K_SPRING, T_K, n_samples=6).run()


# ------------------------------------------------------------------ the continuum solve
def test_continuum_solve_matches_an_independent_propagator():
    """⟨z⟩(t) of the FEniCSx solve = exp(R t) of the discretised Smoluchowski operator."""
    lo, hi, n = 1.5, 5.5, 400
    edges = np.linspace(lo, hi, n + 1)
    zc = 0.5 * (edges[1:] + edges[:-1])
    dz = edges[1] - edges[0]
    f = f_true(zc)
    bk = K_SPRING / KT

    def p0(z):
        return np.exp(-(f_true(z) - f_true(Z0) + 0.5 * bk * (z - Z0) ** 2))

    times = np.array([0.0, 200.0, 800.0, 2500.0])
    zf = np.linspace(lo, hi, 81)
    got = smoluchowski_mean_height(zf, f_true(zf), zf, d_perp(zf), p0, times, n_cells=200)
    # reference: bins, rate matrix with D at the bin interfaces, matrix exponential
    r = smoluchowski_rate_matrix(f, d_perp(edges[1:-1]) / dz**2)
    p = p0(zc)
    p /= p.sum()
    ref = [zc @ (expm(r * t) @ p) for t in times]
    np.testing.assert_allclose(got, ref, atol=5e-3)  # bins of 0.01 Å, ~1e-3 Å of time error
    assert got[-1] < got[0] - 0.3  # it relaxes into the well: the test is not trivial


def test_a_failed_factorisation_shortens_the_step_instead_of_ending_the_solve(monkeypatch):
    """MUMPS failing inside a Newton step (seen on a real F(z) over 5 ps) is a rejected step:
    the solve goes on with a shorter one and gives the undisturbed answer."""
    import dolfinx_solver  # noqa: F401  (provides MPI/PETSc: before dolfinx, as continuum does)
    from dolfinx.fem.petsc import NonlinearProblem
    from petsc4py import PETSc

    def p0(z):
        return np.exp(-(f_true(z) - f_true(Z0) + 0.5 * (K_SPRING / KT) * (z - Z0) ** 2))

    zf = np.linspace(1.5, 5.5, 81)
    times = np.array([0.0, 200.0, 800.0])
    args = (zf, f_true(zf), zf, d_perp(zf), p0, times)
    clean = smoluchowski_mean_height(*args, n_cells=100)
    solve, calls = NonlinearProblem.solve, []

    def failing(self, *a, **k):
        calls.append(1)
        if len(calls) in (3, 4):  # two consecutive factorisation failures
            raise PETSc.Error(76)
        return solve(self, *a, **k)

    monkeypatch.setattr(NonlinearProblem, "solve", failing)
    got = smoluchowski_mean_height(*args, n_cells=100)
    assert len(calls) > 4
    np.testing.assert_allclose(got, clean, atol=2e-3)  # the time-step error of either path


def test_draws_whose_solve_fails_are_left_out_and_counted(brownian_case, monkeypatch):
    """A profile drawn within the errors that stalls the solver is left out of the error bar
    with a warning; when most fail, the prediction's error cannot be given and it raises."""
    from continuum.results import ConvergenceError

    ana, released = brownian_case
    real, calls = RelaxationRoundTrip._predict, []

    def flaky(self, f, d, times, fail_every):
        calls.append(1)
        if len(calls) > 1 and len(calls) % fail_every == 0:  # never the central profile
            raise ConvergenceError("time step fell below dt_min", "LINEAR_SOLVER_ERROR", 0)
        return real(self, f, d, times)

    monkeypatch.setattr(RelaxationRoundTrip, "_predict",
                        lambda self, f, d, t: flaky(self, f, d, t, 4))  # fmt: skip
    rt = RelaxationRoundTrip(released, 10.0, ana, Z0, K_SPRING, T_K, n_samples=8).run()
    assert rt.results.failed_draws == 2
    assert any("failed for 2 of 8 profiles" in w for w in rt.results.warnings)
    assert np.all(np.isfinite(rt.results.pred_err))
    calls.clear()
    monkeypatch.setattr(RelaxationRoundTrip, "_predict",
                        lambda self, f, d, t: flaky(self, f, d, t, 1))  # fmt: skip
    with pytest.raises(ConvergenceError, match="cannot be given; converge F"):
        RelaxationRoundTrip(released, 10.0, ana, Z0, K_SPRING, T_K, n_samples=8).run()


def test_continuum_solve_returns_a_normalised_density():
    zf = np.linspace(1.5, 5.5, 41)
    mean, z, p = smoluchowski_mean_height(
        zf, f_true(zf), zf, d_perp(zf), lambda z: np.exp(-((z - 3.0) ** 2) / 0.02),
        [0.0, 500.0], return_density=True,
    )  # fmt: skip
    assert p.shape == (2, z.size)
    np.testing.assert_allclose(np.trapezoid(p, z, axis=1), 1.0, rtol=1e-10)
    np.testing.assert_allclose(mean, np.trapezoid(z * p, z, axis=1), rtol=1e-10)
    assert abs(mean[0] - 3.0) < 0.01


# ------------------------------------------------------------------ the round trip
def test_brownian_dynamics_round_trip_is_consistent(brownian_round_trip):
    r = brownian_round_trip.results
    assert r.consistent, brownian_round_trip.summary()
    assert np.max(np.abs(r.z_score)) < r.threshold
    # the released ions really move (0.5 Å into the well), so consistency means something
    assert r.md_mean[0] - r.md_mean[-1] > 0.4
    assert abs(r.t_half_md - r.t_half_pred) < 3 * np.hypot(r.t_half_md_err, r.t_half_pred_err)
    assert r.acf_min > -0.1  # Brownian: no negative lobe
    assert r.explanation.startswith("consistent")


def test_wrong_diffusion_coefficient_is_caught(brownian_case):
    ana, released = brownian_case
    eq = dict(ana.results)
    eq["D_perp"] = ana.results.D_perp * 2.5
    rt = RelaxationRoundTrip(released, 10.0, eq, Z0, K_SPRING, T_K, n_samples=6).run()
    r = rt.results
    assert not r.consistent
    assert r.explanation.startswith("inconsistent") and "slower than predicted" in r.explanation
    assert "beyond 3 window-crossing times" in r.explanation
    assert r.t_half_md > r.t_half_pred + 3 * np.hypot(r.t_half_md_err, r.t_half_pred_err)


def test_underdamped_dynamics_fails_and_is_explained():
    ana, released = windows_and_release(underdamped, 5, 1600, 61, 5)
    rt = RelaxationRoundTrip(released, 5.0, ana, Z0, K_SPRING, T_K, n_samples=6).run()
    r = rt.results
    assert not r.consistent
    assert r.acf_min < -0.5  # the restrained ion oscillates in its window
    assert "negative lobe" in r.explanation and "faster than predicted" in r.explanation
    assert "t (fs)" in rt.summary()


def test_replicas_leaving_the_modelled_range_cut_the_comparison(brownian_case):
    ana, released = brownian_case
    moved = released.copy()
    moved[150:, :20] = 9.0  # 10 % of the replicas jump out of the range after 1500 fs
    rt = RelaxationRoundTrip(moved, 10.0, ana, Z0, K_SPRING, T_K, n_samples=4).run()
    assert rt.results.times[-1] < 1500.0
    assert any("left the modelled range" in w for w in rt.results.warnings)


def test_input_errors(brownian_case):
    ana, released = brownian_case
    with pytest.raises(ValueError, match="at least 4 replicas"):
        RelaxationRoundTrip(released[:, :3], 10.0, ana, Z0, K_SPRING, T_K)
    with pytest.raises(ValueError, match="beyond the record"):
        RelaxationRoundTrip(released, 10.0, ana, Z0, K_SPRING, T_K, t_max=1e5)
    with pytest.raises(ValueError, match="finished UmbrellaAnalysis"):
        RelaxationRoundTrip(released, 10.0, {"z": [1.0]}, Z0, K_SPRING, T_K)
    with pytest.raises(ValueError, match="alpha"):
        RelaxationRoundTrip(released, 10.0, ana, Z0, K_SPRING, T_K, alpha=0.7)
    with pytest.raises(ValueError, match="outside the range where F is known"):
        RelaxationRoundTrip(released, 10.0, ana, 9.0, K_SPRING, T_K).run()
    with pytest.raises(RuntimeError, match="call run"):
        RelaxationRoundTrip(released, 10.0, ana, Z0, K_SPRING, T_K).summary()
    with pytest.raises(ValueError, match="increasing"):
        smoluchowski_mean_height([1, 2], [0, 0], [1, 2], [1e-4, 1e-4], np.ones_like, [5, 1])
    with pytest.raises(TypeError, match="function of the height"):
        smoluchowski_mean_height([1, 2], [0, 0], [1, 2], [1e-4, 1e-4], 1.0, [0, 1])


# ------------------------------------------------------------------ released MD replicas
def test_release_from_window_runs_unbiased_replicas_from_the_window_frames(tmp_path):
    from ase.calculators.lj import LennardJones
    from ase.io import read
    from mpi4py import MPI
    from test_umbrella import argon_windows

    from multiscale.md import MDSettings, read_release, release_from_window, run_umbrella_windows

    centers = [5.4, 5.8]

    make = argon_windows(centers)

    settings = MDSettings(timestep_fs=5.0, temperature_K=40.0, initial_temperature_K=40.0,
                          seed=2, traj_interval=2, checkpoint_interval=20)  # fmt: skip
    run_umbrella_windows(make, 8, centers, 1.0, 40, tmp_path / "u", settings, MPI.COMM_SELF,
                         surface_z=[0, 1, 2, 3])  # fmt: skip

    def lj():
        return LennardJones(sigma=3.4, epsilon=0.0104, rc=7.0, smooth=True)

    rel = MDSettings(timestep_fs=5.0, temperature_K=40.0, ensemble="bussi", seed=9,
                     traj_interval=1, checkpoint_interval=10)  # fmt: skip
    res = release_from_window(tmp_path / "u", 1, lj, 5, 12, tmp_path / "r", rel, MPI.COMM_SELF,
                              discard=4)  # fmt: skip
    assert [r.index for r in res] == list(range(5)) and all(r.error is None for r in res)
    spec, h = read_release(tmp_path / "r")
    assert h.shape == (13, 5) and spec["center"] == 5.8 and spec["k"] == 1.0
    window = read(tmp_path / "u" / "replica_001" / "trajectory.traj", ":")
    assert spec["frames"][0] == 4 and spec["frames"][-1] == len(window) - 1
    for k, i in enumerate(spec["frames"]):  # each replica starts from its window frame
        first = read(tmp_path / "r" / f"replica_{k:03d}" / "trajectory.traj", 0)
        np.testing.assert_allclose(first.positions, window[i].positions, atol=1e-12)
        np.testing.assert_allclose(first.get_momenta(), window[i].get_momenta(), atol=1e-12)
        ref = window[i].positions[-1, 2] - window[i].positions[:4, 2].mean()
        assert h[0, k] == pytest.approx(ref, abs=1e-12)
    # resume with more steps; another release in the same folder is refused
    res = release_from_window(tmp_path / "u", 1, lj, 5, 16, tmp_path / "r", rel, MPI.COMM_SELF,
                              discard=4)  # fmt: skip
    assert read_release(tmp_path / "r")[1].shape == (17, 5)
    with pytest.raises(ValueError, match="describes another release"):
        release_from_window(tmp_path / "u", 0, lj, 5, 16, tmp_path / "r", rel, MPI.COMM_SELF,
                            discard=4)  # fmt: skip
    with pytest.raises(ValueError, match="too few for 30"):
        release_from_window(tmp_path / "u", 1, lj, 30, 16, tmp_path / "r2", rel, MPI.COMM_SELF)
    with pytest.raises(ValueError, match=r"window must be in 0\.\.1"):
        release_from_window(tmp_path / "u", 2, lj, 5, 16, tmp_path / "r2", rel, MPI.COMM_SELF)


def test_place_at_height_swaps_an_overlapping_water():
    from multiscale.md import build_interface, check_min_distance, place_at_height
    from multiscale.mlip.carve import molecule_labels

    atoms = build_interface(size=(3, 4), layers=3, water_thickness=10.0, concentration=2.0,
                            seed=1)  # fmt: skip
    na = int(np.nonzero(atoms.symbols == "Na")[0][0])
    top = np.nonzero(atoms.get_tags() == 1)[0]
    top = top[atoms.positions[top, 2] > atoms.positions[top, 2].max() - 0.5]
    before = molecule_labels(atoms)
    for h in (2.4, 3.0, 5.5, 7.0):
        place_at_height(atoms, na, h, list(top))
        z_surf = atoms.positions[top, 2].mean()
        assert atoms.positions[na, 2] - z_surf == pytest.approx(h, abs=1e-12)
        # nothing within 2 Å of the ion except by a swap that moved it away; molecules intact
        d = atoms.get_distances(na, np.arange(len(atoms)), mic=True)
        d[na] = np.inf
        assert d.min() > 1.9
        np.testing.assert_array_equal(molecule_labels(atoms) == before[na], before == before[na])
    check_min_distance(atoms, 0.9)
    with pytest.raises(ValueError, match="finite number"):
        place_at_height(atoms, na, float("nan"), list(top))


def test_unusable_or_unconverged_equilibrium_is_refused_or_flagged(brownian_case):
    ana, released = brownian_case
    eq = dict(ana.results)
    eq["free_energy"] = np.full_like(eq["free_energy"], np.nan)
    with pytest.raises(ValueError, match="run them longer"):
        RelaxationRoundTrip(released, 10.0, eq, Z0, K_SPRING, T_K).run()
    eq = dict(ana.results, converged=False)
    rt = RelaxationRoundTrip(released[:50], 10.0, eq, Z0, K_SPRING, T_K, n_samples=4).run()
    assert any("convergence checks" in w for w in rt.results.warnings)


def test_bins_far_above_the_free_energy_minimum_are_left_out_of_the_model(brownian_case):
    """F bins more than f_cap_kT above the minimum are dropped from the continuum model and
    listed (a real Na+ F(z) rising 18 kT towards Cu broke the solve); the rest still runs."""
    ana, released = brownian_case
    f = np.asarray(ana.results.free_energy, dtype=float)
    span = float(np.nanmax(f) - np.nanmin(f))
    assert span > 1.0
    full = RelaxationRoundTrip(released, 10.0, ana, Z0, K_SPRING, T_K, n_samples=4).run()
    assert not any("f_cap_kT" in w for w in full.results.warnings)
    cap = 0.8 * span
    rt = RelaxationRoundTrip(released, 10.0, ana, Z0, K_SPRING, T_K, n_samples=4, f_cap_kT=cap)
    rt.run()
    n_out = int(np.sum(f - np.nanmin(f) > cap))
    assert n_out > 0
    assert any(f"{n_out} bin(s) of F more than" in w for w in rt.results.warnings)
    assert np.all(np.isfinite(rt.results.pred_mean))
    with pytest.raises(ValueError, match="f_cap_kT"):
        RelaxationRoundTrip(released, 10.0, ana, Z0, K_SPRING, T_K, f_cap_kT=0.0)
