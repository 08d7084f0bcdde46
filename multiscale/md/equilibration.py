"""Equilibration from the data, and the preparation (relax, heat) that comes before it.

* :func:`detect_equilibration` wraps :func:`pymbar.timeseries.detect_equilibration` (Chodera,
  JCTC 12, 1799 (2016)): the production part starts at the origin t0 that maximises the number
  of effectively independent samples N_eff = (N - t0) / g(t0), g being the statistical
  inefficiency 1 + 2 tau_int of the remaining data.
* :func:`analyse_equilibration` applies it to the potential energy and the temperature of a
  run (``thermo.dat`` of :class:`~multiscale.md.MDRunner`): production starts at the later of
  the two t0. It reports the production mean temperature with its standard error
  sigma sqrt(g / N) (g from :func:`pymbar.timeseries.statistical_inefficiency`), whether it
  lies within ±3 % of the target, and whether E_pot still drifts (least-squares slope over
  the production part, or the second half of the run if that is longer, whose standard error is
  inflated by sqrt(g) of the residuals; flagged above 3 standard errors).
* :func:`prepare_md` removes overlaps of a freshly built structure with FIRE
  (:class:`ase.optimize.FIRE`, molecules rigid) and heats it with the thermostat target ramped
  from ~50 K to the target (:class:`~multiscale.md.MDRunner` with ``heat_from_K``,
  ``heat_steps``), so that production does not start with the temperature spike of an
  unrelaxed geometry. Both phases
  are restart-safe: the relaxed structure is kept in ``relaxed.traj`` (written atomically) and
  the heating run has its own checkpoint.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read, write

from .runner import MDRunner, MDSettings

__all__ = [
    "EquilibrationPoint",
    "EquilibrationReport",
    "PreparationResult",
    "analyse_equilibration",
    "detect_equilibration",
    "prepare_md",
    "statistical_inefficiency",
]


def _timeseries():
    """``pymbar.timeseries``, imported without its import-time banners.

    pymbar logs a JAX-not-found banner and a general timeseries warning (``logging`` warnings
    on its own loggers, which Python prints to stderr when nothing is configured) at import;
    they are held back here, nothing else is changed.
    """
    logger = logging.getLogger("pymbar")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from pymbar import timeseries
    finally:
        logger.setLevel(level)
    return timeseries


def _series(name: str, series: Any, minimum: int = 4) -> np.ndarray:
    try:
        a = np.asarray(series, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a 1D array of numbers: {err}") from err
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if a.size < minimum:
        raise ValueError(f"{name} has {a.size} samples; need at least {minimum}: run longer")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values; check the run's output")
    return a


@dataclass(frozen=True)
class EquilibrationPoint:
    """Result of :func:`detect_equilibration`.

    Attributes
    ----------
    t0 : int
        Index of the first production sample.
    g : float
        Statistical inefficiency of the samples from t0 on (1 + 2 tau_int, in samples).
    n_effective : float
        Effectively independent samples from t0 on, (N - t0) / g.
    n : int
        Length of the series.
    """

    t0: int
    g: float
    n_effective: float
    n: int


def statistical_inefficiency(series: Any) -> float:
    """Statistical inefficiency g = 1 + 2 tau_int of a stationary series, in samples.

    :func:`pymbar.timeseries.statistical_inefficiency` with the full (not the fast)
    estimate of the autocorrelation function. For AR(1) with coefficient phi,
    g = (1 + phi) / (1 - phi).

    Parameters
    ----------
    series : array_like, shape (n,)
        The samples (any unit).

    Returns
    -------
    float
        g >= 1; 1.0 for a constant series.
    """
    a = _series("series", series)
    if np.ptp(a) == 0:
        return 1.0
    return float(_timeseries().statistical_inefficiency(a, fast=False))


def detect_equilibration(
    series: Any, *, nskip: int | None = None, fast: bool = True
) -> EquilibrationPoint:
    """Start of the equilibrated part of a time series (pymbar's N_eff maximisation).

    Parameters
    ----------
    series : array_like, shape (n,)
        Samples at equal time intervals (any unit), e.g. E_pot (eV) or T (K) per step.
    nskip : int or None
        Try every ``nskip``-th origin; None: about 200 origins (``max(1, n // 200)``). The
        cost grows as n^2 / nskip.
    fast : bool
        pymbar's fast estimate of g for each trial origin (the reported ``g`` is recomputed
        with the full estimate at the chosen origin).

    Returns
    -------
    EquilibrationPoint

    Raises
    ------
    ValueError
        Fewer than 4 samples, non-finite values, ``nskip`` < 1.
    """
    a = _series("series", series)
    if nskip is None:
        nskip = max(1, a.size // 200)
    if isinstance(nskip, bool) or not isinstance(nskip, int | np.integer) or nskip < 1:
        raise ValueError(f"nskip must be an integer >= 1, got {nskip!r}")
    if np.ptp(a) == 0:
        return EquilibrationPoint(t0=0, g=1.0, n_effective=float(a.size), n=a.size)
    t0, _g, _neff = _timeseries().detect_equilibration(a, fast=fast, nskip=int(nskip))
    t0 = int(t0)
    g = statistical_inefficiency(a[t0:]) if a.size - t0 >= 4 else float(a.size - t0)
    return EquilibrationPoint(t0=t0, g=g, n_effective=(a.size - t0) / g, n=a.size)


@dataclass
class EquilibrationReport:
    """Result of :func:`analyse_equilibration` (JSON-able with :meth:`as_dict`).

    Attributes
    ----------
    t0_index : int
        First production row of the thermo data.
    t0_step : int
        Its MD step.
    t0_fs : float
        Its time, fs, from the start of the analysed data.
    t0_epot_index, t0_temperature_index : int
        The origins detected on E_pot and T alone.
    n_samples : int
        Production rows.
    g_temperature : float
        Statistical inefficiency of T in production, rows.
    n_effective : float
        Effectively independent temperature samples, n_samples / g_temperature.
    temperature_mean_K, temperature_sem_K : float
        Production mean temperature and its standard error sigma sqrt(g / N), K.
    target_K : float or None
        Thermostat target, K.
    tolerance : float
        Relative tolerance on the mean temperature (0.03: ±3 %).
    temperature_ok : bool or None
        |mean - target| <= tolerance x target (None without a target).
    epot_slope_eV_per_ps, epot_slope_err_eV_per_ps : float
        Least-squares slope of E_pot and its standard error (residuals' g taken into
        account), eV/ps, over the production part or the second half of the run, whichever is
        longer.
    drift_window_fs : float
        Length of that window, fs.
    epot_drifting : bool
        |slope| > ``drift_sigmas`` standard errors.
    notes : list of str
        What has not converged, in words (empty when nothing was found).
    """

    t0_index: int
    t0_step: int
    t0_fs: float
    t0_epot_index: int
    t0_temperature_index: int
    n_samples: int
    g_temperature: float
    n_effective: float
    temperature_mean_K: float
    temperature_sem_K: float
    target_K: float | None
    tolerance: float
    temperature_ok: bool | None
    epot_slope_eV_per_ps: float
    epot_slope_err_eV_per_ps: float
    drift_window_fs: float
    epot_drifting: bool
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain Python numbers (for JSON)."""
        return json.loads(json.dumps(asdict(self), default=float))


def analyse_equilibration(
    thermo: Any,
    target_temperature_K: float | None = None,
    *,
    tolerance: float = 0.03,
    drift_sigmas: float = 3.0,
    min_effective: float = 20.0,
) -> EquilibrationReport:
    """Detect equilibration in E_pot and T and characterise the production part.

    Parameters
    ----------
    thermo : array_like, shape (n, 6), or str or Path
        Rows of ``thermo.dat`` of :class:`~multiscale.md.MDRunner` (step, time fs, E_pot eV,
        E_kin eV, T K, E_tot eV), or the path of that file.
    target_temperature_K : float or None
        Thermostat target, K (None: no temperature verdict).
    tolerance : float
        Relative tolerance of the production mean temperature (0.03 = ±3 %).
    drift_sigmas : float
        E_pot is drifting when its slope exceeds this many standard errors.
    min_effective : float
        Fewer effectively independent temperature samples than this is reported as not
        converged.

    Returns
    -------
    EquilibrationReport

    Raises
    ------
    ValueError
        Too few rows (< 8), wrong shape, non-finite values, bad tolerance.
    """
    if isinstance(thermo, str | os.PathLike):
        path = Path(thermo)
        if not path.is_file():
            raise ValueError(f"thermo: {path} does not exist; give thermo.dat of an MD run")
        thermo = np.loadtxt(path, ndmin=2)
    data = np.asarray(thermo, dtype=float)
    if data.ndim != 2 or data.shape[1] < 5:
        raise ValueError(
            f"thermo must have the columns of thermo.dat (step, time_fs, epot, ekin, T, etot), "
            f"got shape {data.shape}"
        )
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be a fraction in (0, 1), e.g. 0.03, got {tolerance}")
    epot = _series("thermo E_pot column", data[:, 2], minimum=8)
    temp = _series("thermo temperature column", data[:, 4], minimum=8)
    time_fs = data[:, 1]
    pe, pt = detect_equilibration(epot), detect_equilibration(temp)
    t0 = max(pe.t0, pt.t0)
    n = data.shape[0] - t0
    if n < 4:  # nothing usable is left: keep the last few rows so that numbers exist
        t0 = max(0, data.shape[0] - 4)
        n = data.shape[0] - t0
    tp = temp[t0:]
    g_t = statistical_inefficiency(tp)
    mean_t = float(tp.mean())
    sem_t = float(tp.std(ddof=1) * np.sqrt(g_t / n))
    # E_pot drift: OLS slope, its error inflated by the residuals' g, over the production
    # part but at least the second half of the run (a drifting series pushes the detected t0
    # towards its end, where too little is left to see the drift)
    d0 = min(t0, data.shape[0] // 2)
    tt = (time_fs[d0:] - time_fs[d0]) / 1000.0  # ps
    ep = epot[d0:]
    dt = tt - tt.mean()
    sxx = float(np.sum(dt**2))
    slope = float(np.sum(dt * (ep - ep.mean())) / sxx) if sxx > 0 else 0.0
    resid = ep - ep.mean() - slope * dt
    g_r = statistical_inefficiency(resid) if np.ptp(resid) > 0 else 1.0
    var = float(np.sum(resid**2) / max(ep.size - 2, 1))
    slope_err = float(np.sqrt(var / sxx * g_r)) if sxx > 0 else float("inf")
    drifting = bool(abs(slope) > drift_sigmas * slope_err)
    ok = None
    notes: list[str] = []
    if target_temperature_K is not None:
        ok = bool(abs(mean_t - target_temperature_K) <= tolerance * target_temperature_K)
        if not ok:
            notes.append(
                f"production mean temperature {mean_t:.1f} ± {sem_t:.1f} K is outside "
                f"{target_temperature_K:g} K ± {100 * tolerance:g} %"
            )
    if drifting:
        notes.append(
            f"E_pot still drifts over the last {tt[-1]:.3g} ps: {slope:.3g} ± {slope_err:.2g} eV/ps"
        )
    n_eff = n / g_t
    if n_eff < min_effective:
        notes.append(
            f"only {n_eff:.1f} effectively independent temperature samples in production "
            f"(< {min_effective:g}): run longer"
        )
    if t0 > 0.5 * data.shape[0]:
        notes.append(
            f"equilibration took {100 * t0 / data.shape[0]:.0f} % of the run: the production "
            "part is short"
        )
    return EquilibrationReport(
        t0_index=int(t0), t0_step=int(data[t0, 0]), t0_fs=float(time_fs[t0] - time_fs[0]),
        t0_epot_index=pe.t0, t0_temperature_index=pt.t0, n_samples=int(n),
        g_temperature=g_t, n_effective=float(n_eff), temperature_mean_K=mean_t,
        temperature_sem_K=sem_t,
        target_K=None if target_temperature_K is None else float(target_temperature_K),
        tolerance=float(tolerance), temperature_ok=ok, epot_slope_eV_per_ps=slope,
        epot_slope_err_eV_per_ps=slope_err, drift_window_fs=float(1000.0 * tt[-1]),
        epot_drifting=drifting, notes=notes,
    )  # fmt: skip


# ------------------------------------------------------------------------------ prepare
@dataclass
class PreparationResult:
    """Result of :func:`prepare_md`.

    Attributes
    ----------
    relax_steps : int
        FIRE steps done (0 when skipped or reused).
    relax_fmax_eV_per_A : float or None
        Largest force after the relaxation, eV/Å, with the rigid-molecule constraint applied
        when the relaxation was rigid (None: no relaxation).
    relax_converged : bool or None
        FIRE reached ``fmax`` within ``relax_steps``.
    relax_reused : bool
        ``relaxed.traj`` of an earlier (interrupted) run was used.
    heat_steps : int
        Steps of the heating ramp.
    heat_final_temperature_K : float or None
        Instantaneous temperature at the end of heating, K.
    heat_resumed_from : int or None
        Step from which the heating run resumed (None: fresh, or no heating).
    integrity : dict or None
        The heating run's integrity summary.
    wall_s : float
    """

    relax_steps: int = 0
    relax_fmax_eV_per_A: float | None = None
    relax_converged: bool | None = None
    relax_reused: bool = False
    heat_steps: int = 0
    heat_final_temperature_K: float | None = None
    heat_resumed_from: int | None = None
    integrity: dict | None = None
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain Python values (for JSON)."""
        return json.loads(json.dumps(asdict(self), default=float))


def _atomic_write_traj(path: Path, atoms: Atoms) -> None:
    tmp = path.with_name("tmp_" + path.name)
    write(tmp, atoms, format="traj", parallel=False)
    os.replace(tmp, path)


def prepare_md(
    atoms: Atoms,
    output_dir: str | Path,
    settings: MDSettings,
    *,
    relax_fmax: float = 0.5,
    relax_steps: int = 300,
    heat_ps: float = 2.0,
    heat_from_K: float = 50.0,
    integrity="stop",
    progress: bool = True,
    relax_rigid: bool = True,
) -> PreparationResult:
    """Relax (FIRE) and heat ``atoms`` in place before production MD; restart-safe.

    The relaxation runs at most ``relax_steps`` FIRE steps down to ``relax_fmax`` (enough to
    remove the overlaps of a built structure, not a minimisation), by default with rigid
    molecules; the result is kept in
    ``output_dir/relaxed.traj`` and reused by a rerun. The heating is an
    :class:`~multiscale.md.MDRunner` run in ``output_dir/heat`` (its own checkpoints: a killed
    heating resumes, a finished one is not redone) with the production settings except: the
    thermostat target ramps linearly from ``heat_from_K`` to ``settings.temperature_K`` over
    ``heat_ps``; velocities start at ``heat_from_K``; NVE production is heated with Langevin;
    about 100 trajectory frames are kept.
    On return ``atoms`` holds the heated positions and momenta: start production with
    ``initial_temperature_K=None`` to keep them.

    Parameters
    ----------
    atoms : ase.Atoms
        The built system with its calculator; moved in place.
    output_dir : str or Path
        Folder of the preparation (``relaxed.traj``, ``relax.log``, ``heat/``).
    settings : MDSettings
        The production settings (time step, thermostat, target temperature, seed).
    relax_fmax : float
        FIRE stops when every atomic force is below this, eV/Å.
    relax_steps : int
        Most FIRE steps; 0 skips the relaxation.
    heat_ps : float
        Duration of the heating ramp, ps; 0 skips the heating.
    heat_from_K : float
        Start of the ramp, K.
    integrity : {"stop", "flag"}, IntegrityMonitor or None
        Integrity monitor of the heating run (see :class:`~multiscale.md.MDRunner`); a policy
        name builds one whose reference is ``atoms`` before the relaxation, so molecules that
        the relaxation breaks are caught at the first step of the heating.
    progress : bool
        Progress bar of the heating run.
    relax_rigid : bool
        Relax with the molecules rigid (:class:`ase.constraints.FixBondLengths` on the bonds
        between non-metal atoms found by :class:`~multiscale.md.IntegrityMonitor`, and on the
        H-H distance of each water): molecules move apart as a whole, none is broken by the
        relaxation itself.

    Returns
    -------
    PreparationResult

    Raises
    ------
    ValueError
        Negative ``relax_steps``/``heat_ps``, non-positive ``relax_fmax``/``heat_from_K``.
    multiscale.md.MDBlowUpError
        The heating ran away or broke molecules (policy ``"stop"``).
    """
    from ase.constraints import FixBondLengths
    from ase.optimize import FIRE

    if not isinstance(atoms, Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    if not isinstance(settings, MDSettings):
        raise TypeError("settings must be an MDSettings")
    if isinstance(relax_steps, bool) or not isinstance(relax_steps, int) or relax_steps < 0:
        raise ValueError(f"relax_steps must be an integer >= 0, got {relax_steps!r}")
    if not (np.isfinite(relax_fmax) and relax_fmax > 0):
        raise ValueError(f"relax_fmax must be a force > 0 eV/Å, got {relax_fmax}")
    if not (np.isfinite(heat_ps) and heat_ps >= 0):
        raise ValueError(f"heat_ps must be a duration >= 0 ps, got {heat_ps}")
    if not (np.isfinite(heat_from_K) and heat_from_K > 0):
        raise ValueError(f"heat_from_K must be a temperature > 0 K, got {heat_from_K}")
    from .integrity import IntegrityMonitor

    if isinstance(integrity, str):  # the reference is the structure before relaxation
        integrity = IntegrityMonitor(atoms, policy=integrity)
    t_start = time.perf_counter()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = PreparationResult()
    relaxed = out / "relaxed.traj"
    info = out / "relax.json"
    if relax_steps > 0:
        if relaxed.is_file() and info.is_file():
            saved = read(relaxed, parallel=False)
            if not np.array_equal(saved.numbers, atoms.numbers):
                raise ValueError(
                    f"{relaxed} holds another system; remove {out} or use another output_dir"
                )
            atoms.set_positions(saved.positions, apply_constraint=False)
            meta = json.loads(info.read_text())
            res.relax_steps = int(meta["steps"])
            res.relax_fmax_eV_per_A = float(meta["fmax_eV_per_A"])
            res.relax_converged = bool(meta["converged"])
            res.relax_reused = True
        else:
            constraints = atoms.constraints
            # FixCom etc. are for the dynamics, not for removing overlaps; rigid molecules move
            # apart as a whole instead of trading atoms (an MLIP pushed hard by a built
            # structure can move a proton to a neighbouring water)
            rigid = []
            if relax_rigid:
                topo = (
                    integrity if isinstance(integrity, IntegrityMonitor)
                    else IntegrityMonitor(atoms, policy="flag")
                )  # fmt: skip
                pairs = [(int(a), int(b)) for a, b in topo.bonds]
                pairs += [(int(h1), int(h2)) for h1, h2 in topo.waters.values()]  # the H-O-H angle
                if pairs:
                    rigid = [FixBondLengths(pairs)]
            atoms.set_constraint(rigid)
            try:
                with FIRE(atoms, logfile=str(out / "relax.log")) as opt:
                    converged = bool(opt.run(fmax=relax_fmax, steps=relax_steps))
                fmax = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
            finally:
                atoms.set_constraint(constraints)
            res.relax_steps = int(opt.nsteps)
            res.relax_fmax_eV_per_A = fmax
            res.relax_converged = converged
            _atomic_write_traj(relaxed, atoms)
            tmp = info.with_name(info.name + ".tmp")
            meta = {"steps": res.relax_steps, "fmax_eV_per_A": fmax, "converged": converged}
            tmp.write_text(json.dumps({**meta, "target_fmax": relax_fmax}))
            os.replace(tmp, info)
    n_heat = round(heat_ps * 1000.0 / settings.timestep_fs)
    if n_heat > 0:
        ensemble = "langevin" if settings.ensemble == "nve" else settings.ensemble
        heat = replace(
            settings, ensemble=ensemble, initial_temperature_K=heat_from_K,
            heat_from_K=heat_from_K, heat_steps=n_heat,
            traj_interval=max(settings.traj_interval, n_heat // 100),  # ~100 frames suffice
        )  # fmt: skip
        runner = MDRunner(atoms, out / "heat", heat, progress=progress, integrity=integrity)
        hr = runner.run(n_heat)
        res.heat_steps = n_heat
        res.heat_final_temperature_K = float(atoms.get_temperature())
        res.heat_resumed_from = hr.resumed_from
        res.integrity = hr.integrity
    res.wall_s = time.perf_counter() - t_start
    return res
