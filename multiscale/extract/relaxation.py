"""A round trip that can fail: does the continuum predict a non-equilibrium MD?

Equilibrium MD (umbrella windows, :class:`~multiscale.extract.umbrella.UmbrellaAnalysis`)
gives an ion's free energy F(z) and its diffusion coefficient across the interface D⊥(z).
If the ion's motion along z is Markovian and diffusive on the time scale of interest, the
Smoluchowski equation

    ∂p/∂t = ∂_z [ D⊥(z) ( ∂_z p + p ∂_z F(z)/kT ) ]

predicts how an ensemble of ions relaxes after it is released from a displaced distribution.
That is a prediction for a *different* MD experiment, made from equilibrium parameters only:

1. **Non-equilibrium MD** (:func:`multiscale.md.release_from_window`): replicas start from
   decorrelated frames of one umbrella window (the ion's heights are then distributed as the
   window's restrained equilibrium, p₀(z) ∝ exp(−F(z)/kT − ½ k (z − z₀)²/kT)), the restraint
   is removed and each replica runs for ``t_max``; the ion's height h(t) is recorded.
2. **The continuum's answer**: the Smoluchowski equation above is a Nernst–Planck problem of
   one uncharged species with the excess chemical potential F(z)
   (:class:`continuum.NernstPlanckProblem`, 1D, implicit Euler, no-flux ends), started from
   p₀(z) on the range where F is known. The observable is the mean height ⟨h⟩(t).
3. **Both error bars**: the MD mean ± its standard error over the independent replicas; the
   prediction ± the standard deviation over ``n_samples`` solves with F and D drawn within
   their error bars (F per bin normal, D per window log-normal, both independent: neighbouring
   MBAR bins are in truth positively correlated, so the drawn profiles are rougher than the
   real uncertainty and the interval is on the wide side).
4. **The verdict**: z_j = (⟨h⟩_MD − ⟨h⟩_pred)/√(σ_MD² + σ_pred²) at the comparison times;
   "consistent" when every abs(z_j) is below the two-sided normal quantile at a family-wise
   false-alarm rate ``alpha`` (Bonferroni over the times; conservative, the times are
   correlated). The half-displacement time t½ (when ⟨h⟩ has moved half as far as the
   prediction moves over the compared span, linear interpolation) summarises both curves
   with errors (MD: bootstrap over replicas; prediction: the drawn profiles).
5. **The explanation** when they disagree. The Smoluchowski equation has no memory and no
   inertia: its D is the long-time limit of the window's position autocorrelation. The
   disagreement is classified by where it starts against the window-crossing time
   t_w = Δz²/(2 D⊥) (Δz the window spacing): *early* (only at t < 3 t_w: inertia and
   non-Markovian memory of the solvent, which the restrained D cannot carry) or *late*
   (beyond: the equilibrium F or D is wrong for this process, e.g. an unconverged window,
   or the relaxation involves a slow coordinate that z alone does not describe, such as the
   ion's solvation shell or other ions). Whether the MD moves faster or slower is stated.

Units: heights in Å, times in fs, D in Å²/fs (1 Å²/fs = 1e-5 m²/s), F in kT, temperature in
K. The continuum solve runs in SI (z in m, D in m²/s, t in s, F in J/mol) and converts back.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy.stats import norm

from .base import Results, check_int, check_positive, is_real

__all__ = ["RelaxationRoundTrip", "smoluchowski_mean_height"]

_ANGSTROM = 1e-10  # m
_FS = 1e-15  # s
_A2_PER_FS = 1e-5  # m²/s per Å²/fs
#: C(t)/C(0) below this in the release window counts as inertia/memory (Brownian: > −0.05)
_ACF_LOBE = -0.1
_TOL = 1e-3  # continuum time-step error control: ~1e-3 Å on ⟨h⟩, far below MD noise


def _grid_inputs(z: Any, f_kt: Any, z_d: Any, d: Any) -> tuple[np.ndarray, ...]:
    """Validated, sorted F(z) (finite bins only) and D(z) (positive values only)."""
    out = []
    for name, a, b in (("free energy", z, f_kt), ("diffusion", z_d, d)):
        a = np.asarray(a, dtype=float).ravel()
        b = np.asarray(b, dtype=float).ravel()
        if a.shape != b.shape:
            raise ValueError(f"{name}: the heights and values must have the same length")
        ok = np.isfinite(a) & np.isfinite(b) & ((b > 0) if name == "diffusion" else True)
        if ok.sum() < 2:
            raise ValueError(f"{name}: need at least two finite values, got {int(ok.sum())}")
        order = np.argsort(a[ok])
        out += [a[ok][order], b[ok][order]]
    return tuple(out)


def smoluchowski_mean_height(
    z: Any,
    free_energy: Any,
    z_diffusion: Any,
    diffusion: Any,
    initial: Any,
    times: Any,
    *,
    temperature_K: float = 300.0,
    n_cells: int = 200,
    comm: Any = None,
    return_density: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean height ⟨z⟩(t) of the Smoluchowski equation, solved by the project's continuum.

    A 1D :class:`continuum.NernstPlanckProblem` of one uncharged species with D(z) and the
    excess chemical potential F(z), no-flux ends at the first and last finite F bin, started
    from ``initial``.

    Parameters
    ----------
    z : array_like
        Heights where F is given (Å), e.g. bin centres; NaN bins are dropped.
    free_energy : array_like
        F(z) (kT).
    z_diffusion : array_like
        Heights where D is given (Å), e.g. window means; linear interpolation between them,
        constant beyond.
    diffusion : array_like
        D⊥ (Å²/fs), > 0 (other values are dropped).
    initial : callable
        Initial density (unnormalised, > 0 where the ion may be): ``initial(z)`` with z in Å.
        Values below 1e-12 of the maximum are raised to that floor (the log-concentration
        unknowns need positive values; the floor holds < 1e-9 of the mass).
    times : array_like
        Increasing output times (fs), >= 0.
    temperature_K : float
        Temperature (K).
    n_cells : int
        Uniform cells of the P2 mesh.
    comm : mpi4py communicator, optional
        Communicator of the mesh (default ``MPI.COMM_SELF``: the solve is small). Under
        ``mpiexec`` with one rank solving, import :mod:`continuum` on every rank first:
        PETSc's initialisation is collective over ``COMM_WORLD`` and a first import on one
        rank alone waits for the others for ever.
    return_density : bool
        Also return the mesh heights (Å) and the normalised density p(z, t) (1/Å), shape
        (len(times), n_nodes).

    Returns
    -------
    ndarray or tuple
        ⟨z⟩ at ``times`` (Å); with ``return_density`` the tuple (mean, z_nodes, p).
    """
    from mpi4py import MPI

    from continuum import NernstPlanckProblem, Species
    from continuum.constants import GAS_CONSTANT
    from continuum.geometry import interval

    zf, f, zd, d = _grid_inputs(z, free_energy, z_diffusion, diffusion)
    if not callable(initial):
        raise TypeError("initial must be a function of the height z (Å)")
    t = np.asarray(times, dtype=float).ravel()
    if t.size == 0 or not np.all(np.isfinite(t)) or t[0] < 0 or np.any(np.diff(t) <= 0):
        raise ValueError("times must be increasing, finite and >= 0 (fs)")
    check_int("n_cells", n_cells, 4)
    check_positive("temperature_K", temperature_K, "K")
    comm = MPI.COMM_SELF if comm is None else comm
    lo, hi = zf[0], zf[-1]
    rt = GAS_CONSTANT * temperature_K

    # coefficients as functions of the SI coordinates x (m)
    def d_of_x(x: np.ndarray) -> np.ndarray:
        return np.interp(x[0] / _ANGSTROM, zd, d) * _A2_PER_FS

    def f_of_x(x: np.ndarray) -> np.ndarray:
        return np.interp(x[0] / _ANGSTROM, zf, f) * rt

    grid = np.linspace(lo, hi, 4001)
    p0 = np.asarray(initial(grid), dtype=float)
    if p0.shape != grid.shape or not np.all(np.isfinite(p0)) or p0.max() <= 0:
        raise ValueError("initial(z) must return finite values, positive somewhere in the range")
    peak = float(p0.max())

    def c0_of_x(x: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(initial(x[0] / _ANGSTROM), dtype=float) / peak, 1e-12)

    domain = interval(comm, (hi - lo) * _ANGSTROM, n_cells, origin=lo * _ANGSTROM)
    species = Species("ion", 0, d_of_x, 1.0, free_energy=f_of_x)
    problem = NernstPlanckProblem(
        domain, [species], temperature=temperature_K, potential=None, degree=2,
        allow_any_temperature=True,
    )  # fmt: skip
    problem.set_initial("ion", c0_of_x)

    def moments() -> tuple[float, np.ndarray, np.ndarray]:
        s = problem.sample_1d()
        zz, c = s["x"] / _ANGSTROM, s["ion"]
        norm_ = np.trapezoid(c, zz)
        return float(np.trapezoid(zz * c, zz) / norm_), zz, c / norm_

    means, dens = [], []
    zz = np.empty(0)
    for tj in t:
        if tj * _FS > problem.time:
            problem.run(tj * _FS, progress=False, tol=_TOL)
        m, zz, p = moments()
        means.append(m)
        dens.append(p)
    if return_density:
        return np.array(means), zz, np.array(dens)
    return np.array(means)


class RelaxationRoundTrip:
    """Released-ion relaxation from MD against the Smoluchowski prediction from equilibrium MD.

    Parameters
    ----------
    heights : ndarray, shape (n_times, n_replicas)
        The ion's height above the surface (Å) in each released replica, sampled every
        ``timestep`` fs from the release (row 0 = the moment of release).
    timestep : float
        Time between rows of ``heights`` (fs).
    equilibrium : UmbrellaAnalysis or Mapping
        The equilibrium parameters: a finished :class:`UmbrellaAnalysis` (its ``results``) or
        a mapping with ``z``, ``free_energy``, ``free_energy_err`` (kT), ``z_mean``,
        ``D_perp``, ``D_perp_err`` (Å²/fs) and ``centers`` (Å, the window centres).
    release_center : float
        Centre z₀ of the window the replicas were released from (Å).
    release_k : float
        Its spring constant (eV/Å²).
    temperature_K : float
        Temperature (K).
    n_times : int
        Number of comparison times, evenly spaced over (0, t_max].
    t_max : float, optional
        Last compared time (fs); default the whole record. Cut further where more than 2 %
        of the replicas have left the range where F is known.
    n_samples : int
        Prediction solves with F and D drawn within their errors (>= 4).
    alpha : float
        Family-wise false-alarm probability of the verdict, in (0, 0.5).
    seed : int
        Seed of the drawn profiles and of the bootstrap.
    n_cells : int
        Cells of the continuum mesh.
    f_cap_kT : float
        Bins of F more than this (kT) above its minimum are left out of the model (the ion does
        not reach them; their steep drift breaks the continuum solve); listed in the warnings.

    Attributes
    ----------
    results : Results
        After :meth:`run`: ``times`` (fs), ``md_mean``, ``md_err`` (Å), ``pred_mean``,
        ``pred_err`` (Å), ``z_score``, ``threshold`` (the critical abs(z)), ``consistent``
        (bool), ``first_disagreement_fs`` (or None), ``t_half_md``, ``t_half_md_err``,
        ``t_half_pred``, ``t_half_pred_err`` (fs), ``window_crossing_fs``,
        ``outside_fraction`` (per compared time), ``acf_min`` (the release window's
        smallest C(t)/C(0) up to 10 correlation times, NaN without an UmbrellaAnalysis),
        ``explanation`` (str), ``warnings``, ``failed_draws`` (profiles drawn within the
        errors whose solve did not converge; left out of ``pred_err``, with a warning; fewer
        than half of ``n_samples`` or than 4 succeeding raises
        :class:`continuum.results.ConvergenceError`), ``wall_s``.
    """

    def __init__(
        self,
        heights: Any,
        timestep: float,
        equilibrium: Any,
        release_center: float,
        release_k: float,
        temperature_K: float,
        *,
        n_times: int = 12,
        t_max: float | None = None,
        n_samples: int = 16,
        alpha: float = 0.01,
        seed: int = 0,
        n_cells: int = 200,
        f_cap_kT: float = 10.0,
    ) -> None:
        h = np.asarray(heights, dtype=float)
        if h.ndim != 2 or h.shape[0] < 3 or h.shape[1] < 4:
            raise ValueError(
                "heights must have shape (n_times >= 3, n_replicas >= 4) (Å), got "
                f"{h.shape}: release at least 4 replicas"
            )
        if not np.all(np.isfinite(h)):
            raise ValueError("heights must be finite (Å)")
        self.heights = h
        self.timestep = check_positive("timestep", timestep, "fs")
        eq = getattr(equilibrium, "results", equilibrium)
        need = ("z", "free_energy", "free_energy_err", "z_mean", "D_perp", "D_perp_err",
                "centers")  # fmt: skip
        missing = [k for k in need if k not in eq]
        if missing:
            raise ValueError(
                f"equilibrium lacks {missing}: pass a finished UmbrellaAnalysis (call run())"
            )
        self.eq = {k: np.asarray(eq[k], dtype=float) for k in need}
        self._analysis = equilibrium if hasattr(equilibrium, "position_autocorrelation") else None
        self._tau = np.asarray(eq["tau"], dtype=float) if "tau" in eq else None
        self._eq_converged = eq.get("converged")
        if not is_real(release_center) or not np.isfinite(release_center):
            raise ValueError(f"release_center must be a finite height (Å), got {release_center}")
        self.release_center = float(release_center)
        self.release_k = check_positive("release_k", release_k, "eV/Å²")
        self.temperature_K = check_positive("temperature_K", temperature_K, "K")
        self.n_times = check_int("n_times", n_times, 2)
        self.n_samples = check_int("n_samples", n_samples, 4)
        self.n_cells = check_int("n_cells", n_cells, 4)
        self.f_cap_kT = check_positive("f_cap_kT", f_cap_kT, "kT")
        if not (is_real(alpha) and 0 < alpha < 0.5):
            raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
        self.alpha = float(alpha)
        self.seed = check_int("seed", seed, 0)
        record = (h.shape[0] - 1) * self.timestep
        if t_max is None:
            t_max = record
        t_max = check_positive("t_max", t_max, "fs")
        if t_max > record * (1 + 1e-9):
            raise ValueError(f"t_max = {t_max} fs is beyond the record ({record} fs)")
        self.t_max = float(t_max)
        self.results = Results()

    @classmethod
    def from_directory(cls, directory: Any, equilibrium: Any, **kwargs: Any) -> RelaxationRoundTrip:
        """Round trip of the replicas written by :func:`multiscale.md.release_from_window`.

        Parameters
        ----------
        directory : str or Path
            The release folder (``release.json`` and ``replica_XXX/``).
        equilibrium : UmbrellaAnalysis or Mapping
            As in the constructor.
        """
        from ..md.release import read_release

        spec, heights = read_release(directory)
        return cls(
            heights, spec["frame_interval_fs"], equilibrium, spec["center"], spec["k"],
            spec["temperature_K"], **kwargs,
        )  # fmt: skip

    # ------------------------------------------------------------------ pieces
    def _initial(self, z_grid: np.ndarray, f: np.ndarray):
        """p₀(z) ∝ exp(−F(z)/kT − ½ k (z − z₀)²/kT) of the release window (max 1)."""
        from ase import units

        beta_k = self.release_k / (units.kB * self.temperature_K)  # 1/Å²
        ok = np.isfinite(z_grid) & np.isfinite(f)
        zf, ff = z_grid[ok], f[ok]

        def u(z: np.ndarray) -> np.ndarray:
            z = np.asarray(z, dtype=float)
            return np.interp(z, zf, ff) + 0.5 * beta_k * (z - self.release_center) ** 2

        u_min = float(np.min(u(np.linspace(zf[0], zf[-1], 4001))))
        return lambda z: np.exp(-(u(z) - u_min))

    def _predict(self, f: np.ndarray, d: np.ndarray, times: np.ndarray) -> np.ndarray:
        eq = self.eq
        return smoluchowski_mean_height(
            eq["z"], f, eq["z_mean"], d, self._initial(eq["z"], f), times,
            temperature_K=self.temperature_K, n_cells=self.n_cells,
        )  # fmt: skip

    @staticmethod
    def _t_half(times: np.ndarray, mean: np.ndarray, half: float) -> float:
        """First time where abs(mean − mean[0]) reaches ``half`` (fs; NaN if never)."""
        x = np.abs(mean - mean[0])
        above = np.nonzero(x >= half)[0]
        if half <= 0 or above.size == 0:
            return float("nan")
        j = int(above[0])
        if j == 0:
            return float(times[0])
        return float(np.interp(half, [x[j - 1], x[j]], [times[j - 1], times[j]]))

    def run(self) -> RelaxationRoundTrip:
        """Compute the comparison; returns ``self``."""
        t0 = time.perf_counter()
        eq, r, warn = self.eq, self.results, []
        # bins more than f_cap_kT above the minimum of F are left out of the model: the ion
        # (Boltzmann weight < e^-f_cap) does not go there, and their steep drift breaks the
        # continuum's Newton solve (a real Na+ F(z) rising 18 kT towards Cu did)
        f_all = eq["free_energy"]
        finite = np.isfinite(f_all)
        capped = finite & (f_all - (np.min(f_all[finite]) if finite.any() else 0.0) > self.f_cap_kT)
        f_model = np.where(capped, np.nan, f_all)
        if capped.any():
            warn.append(
                f"{int(capped.sum())} bin(s) of F more than {self.f_cap_kT:g} kT above its minimum "
                f"(z = {eq['z'][capped].min():.2f}-{eq['z'][capped].max():.2f} Å) left out of the "
                "model (f_cap_kT)"
            )
        ok = np.isfinite(eq["z"]) & np.isfinite(f_model)
        if ok.sum() < 2 or np.count_nonzero(np.isfinite(eq["D_perp"]) & (eq["D_perp"] > 0)) < 2:
            raise ValueError(
                "the equilibrium F(z) or D_perp has fewer than two finite values: the windows "
                "are too short for this analysis; run them longer"
            )
        if self._eq_converged is False:
            warn.append(
                "the equilibrium parameters did not pass their own convergence checks "
                "(UmbrellaAnalysis.results.warnings): the prediction inherits that"
            )
        lo, hi = float(eq["z"][ok].min()), float(eq["z"][ok].max())
        if not lo < self.release_center < hi:
            raise ValueError(
                f"release_center {self.release_center} Å is outside the range where F is known "
                f"({lo:.2f}-{hi:.2f} Å)"
            )
        # comparison times; stop where the replicas leave the modelled range
        n_rows = round(self.t_max / self.timestep) + 1
        h = self.heights[:n_rows]
        outside = np.mean((h < lo) | (h > hi), axis=1)
        bad = np.nonzero(outside > 0.02)[0]
        if bad.size:
            n_rows = max(int(bad[0]), 2)
            warn.append(
                f"more than 2 % of the replicas left the modelled range {lo:.2f}-{hi:.2f} Å "
                f"after {bad[0] * self.timestep:.0f} fs: compared up to there only"
            )
        rows = np.unique(np.linspace(0, n_rows - 1, self.n_times + 1).round().astype(int))
        times = rows * self.timestep
        hs = h[rows]
        n_rep = hs.shape[1]
        md_mean = hs.mean(axis=1)
        md_err = hs.std(axis=1, ddof=1) / np.sqrt(n_rep)

        # prediction: central profile and profiles drawn within the errors
        rng = np.random.default_rng(self.seed)
        f0 = f_model
        ferr = np.nan_to_num(eq["free_energy_err"], nan=0.0)
        d0 = eq["D_perp"]
        rel = np.nan_to_num(eq["D_perp_err"] / d0, nan=0.0)
        from continuum.results import ConvergenceError

        central = self._predict(f0, d0, times)
        draws, failed = [], []
        for i in range(self.n_samples):
            fs = f0 + ferr * rng.standard_normal(f0.shape)
            ds = d0 * np.exp(rel * rng.standard_normal(d0.shape) - 0.5 * rel**2)
            try:
                draws.append(self._predict(fs, ds, times))
            except ConvergenceError as err:  # a draw rough enough to stall the solver
                failed.append(f"draw {i}: {err}")
        if len(draws) < max(4, self.n_samples // 2):
            raise ConvergenceError(
                f"the continuum solve failed for {len(failed)} of {self.n_samples} profiles "
                f"drawn within the errors ({failed[0]}): the error bars of the prediction "
                "cannot be given; converge F(z) further (longer windows) or raise its bin width",
                "draws",
                0,
            )
        if failed:
            warn.append(
                f"the continuum solve failed for {len(failed)} of {self.n_samples} profiles "
                f"drawn within the errors (bin-to-bin noise of F); the prediction's error bar "
                f"comes from the other {len(draws)} ({failed[0]})"
            )
        r.failed_draws = len(failed)
        draws = np.array(draws)
        pred_err = draws.std(axis=0, ddof=1)
        # the starting distribution is the same for MD and model: its mean carries no signal
        zs = np.zeros_like(md_mean)
        sig = np.sqrt(md_err**2 + pred_err**2)
        live = sig > 0
        zs[live] = (md_mean[live] - central[live]) / sig[live]
        m = max(int(np.count_nonzero(times > 0)), 1)
        thr = float(norm.ppf(1 - self.alpha / (2 * m)))
        out = np.abs(zs) > thr
        out[times == 0] = False
        consistent = not bool(out.any())
        first = float(times[np.argmax(out)]) if out.any() else None

        # half-displacement times (the prediction's displacement over the span sets "half")
        half = 0.5 * abs(central[-1] - central[0])
        t_pred = self._t_half(times, central, half)
        t_pred_err = float(np.nanstd([self._t_half(times, dr, half) for dr in draws], ddof=1))
        t_md = self._t_half(times, md_mean, half)
        boot = [
            self._t_half(times, hs[:, rng.integers(0, n_rep, n_rep)].mean(axis=1), half)
            for _ in range(200)
        ]
        t_md_err = float(np.nanstd(boot, ddof=1))

        # window-crossing time: spacing² / (2 D) at the release window
        centers = np.sort(eq["centers"])
        spacing = float(np.median(np.diff(centers))) if centers.size > 1 else float("nan")
        d_rel = float(np.interp(self.release_center, eq["z_mean"], d0))
        t_w = spacing**2 / (2 * d_rel)

        # memory diagnostic: a negative lobe of the release window's position autocorrelation
        acf_min = float("nan")
        if self._analysis is not None and self._tau is not None:
            iw = int(np.argmin(np.abs(np.sort(eq["centers"]) - self.release_center)))
            tau_w = self._tau[iw]
            if np.isfinite(tau_w) and tau_w > 0:
                lag = int(10 * tau_w / self._analysis.timestep) + 2
                acf_min = float(np.min(self._analysis.position_autocorrelation(iw, lag)))

        if abs(md_mean[0] - central[0]) > 3 * max(md_err[0], 1e-12):
            warn.append(
                f"the replicas start at ⟨h⟩ = {md_mean[0]:.3f} ± {md_err[0]:.3f} Å but the "
                f"window's restrained equilibrium has {central[0]:.3f} Å: were they drawn "
                "from this window, decorrelated?"
            )
        r.update(
            times=times, md_mean=md_mean, md_err=md_err, pred_mean=central, pred_err=pred_err,
            z_score=zs, threshold=thr, consistent=consistent, first_disagreement_fs=first,
            t_half_md=t_md, t_half_md_err=t_md_err, t_half_pred=t_pred,
            t_half_pred_err=t_pred_err, window_crossing_fs=t_w, outside_fraction=np.mean(
                (hs < lo) | (hs > hi), axis=1
            ), n_replicas=n_rep, acf_min=acf_min, warnings=warn,
        )  # fmt: skip
        r.explanation = self._explain()
        r.wall_s = time.perf_counter() - t0
        return self

    def _explain(self) -> str:
        r = self.results
        span = (
            f"half-displacement time: MD {r.t_half_md:.0f} ± {r.t_half_md_err:.0f} fs, "
            f"continuum {r.t_half_pred:.0f} ± {r.t_half_pred_err:.0f} fs"
        )
        if r.consistent:
            return (
                f"consistent: the continuum predicts the released ions' mean height within the "
                f"combined error bars at all {len(r.times) - 1} compared times up to "
                f"{r.times[-1]:.0f} fs ({span})"
            )
        bad = np.abs(r.z_score) > r.threshold
        disp_md = r.md_mean - r.md_mean[0]
        disp_pred = r.pred_mean - r.pred_mean[0]
        faster = np.mean(np.abs(disp_md[bad])) > np.mean(np.abs(disp_pred[bad]))
        speed = "faster" if faster else "slower"
        late = r.times[bad] > 3 * r.window_crossing_fs
        if np.isfinite(r.acf_min) and r.acf_min < _ACF_LOBE:
            why = (
                f"the release window's position autocorrelation has a negative lobe (min "
                f"C/C0 = {r.acf_min:.2f} < {_ACF_LOBE}): the ion's motion along z is "
                "underdamped or has memory, which the (overdamped, Markovian) Smoluchowski "
                "equation cannot describe; its D from that window is not a diffusion "
                "coefficient"
            )
        elif not late.any():
            why = (
                f"only at times below 3 window-crossing times (3 × {r.window_crossing_fs:.0f} "
                "fs): inertia and non-Markovian memory of the solvent; the Smoluchowski "
                "equation has no memory and its D is the long-time limit, so it is not "
                "meant to hold there"
            )
        else:
            why = (
                f"also beyond 3 window-crossing times (3 × {r.window_crossing_fs:.0f} fs): "
                "the equilibrium F or D does not describe this relaxation (an unconverged "
                "window, or a slow coordinate other than z: the ion's solvation shell, "
                "other ions, collective water relaxation)"
            )
        return (
            f"inconsistent: from {r.first_disagreement_fs:.0f} fs the MD relaxes {speed} than "
            f"predicted (max abs z = {np.max(np.abs(r.z_score)):.1f} > {r.threshold:.2f}), "
            f"{why}; {span}"
        )

    def summary(self) -> str:
        """Plain-text table of the comparison (after :meth:`run`)."""
        r = self.results
        if "times" not in r:
            raise RuntimeError("call run() first")
        lines = [
            f"Released-ion round trip ({r.n_replicas} replicas, release window z0 = "
            f"{self.release_center:.2f} Å, k = {self.release_k:g} eV/Å², "
            f"{self.temperature_K:.0f} K)",
            f"{'t (fs)':>8} {'<h> MD (Å)':>16} {'<h> continuum (Å)':>20} {'z':>6}",
        ]
        for t, a, ea, b, eb, z in zip(
            r.times, r.md_mean, r.md_err, r.pred_mean, r.pred_err, r.z_score, strict=True
        ):
            lines.append(f"{t:8.0f} {a:9.3f} ± {ea:5.3f} {b:12.3f} ± {eb:5.3f} {z:6.1f}")
        lines.append(r.explanation)
        lines += [f"warning: {w}" for w in r.warnings]
        return "\n".join(lines)
