"""The ``umbrella`` stage: ions that free MD leaves out, sampled by umbrella windows.

An ion that does not visit every transport bin in the md stage's trajectory is left out of the
extract stage's profile (``dropped_species``), so it never reached the continuum (issue #14
items 2 and 5). This stage samples such ions with umbrella windows on their height above the
top metal layer, and the extract stage puts the result into the profile:

* :func:`run_umbrella` starts from the md stage's last frame, or its frame at
  ``umbrella.start_ps`` (the md calculator through the
  registry, its time step, thermostat and hydrogen mass repartitioning), picks one ion per
  species, places it at each window centre (:func:`multiscale.md.place_at_height`), relaxes it
  under the restraint (FIRE, :class:`multiscale.md.HarmonicZRestraint`), runs the windows
  (:func:`multiscale.md.run_umbrella_windows`: MPI replicas, restartable) and analyses them
  (:class:`multiscale.extract.UmbrellaAnalysis`: F(z) by MBAR, D⊥ and D∥ per window, overlap
  and first-half/second-half checks). Writes ``umbrella_<ion>.json``, ``umbrella_<ion>.png``
  and ``windows/<ion>/`` (the windows' MDRunner folders).
The extract stage puts the result into the profile
(:mod:`multiscale.pipeline.umbrella_profile`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .calculators import describe_calculator, make_calculator
from .state import atomic_write_text

__all__ = [
    "FLAT_OVERLAP_MIN",
    "flat_overlap",
    "run_umbrella",
    "window_centers",
]

log = logging.getLogger("multiscale.pipeline")

#: smallest acceptable MBAR overlap of neighbouring windows (UmbrellaAnalysis' default
#: ``overlap_threshold``); the config refuses windows below it even on a flat F(z)
FLAT_OVERLAP_MIN = 0.03
#: 1 Å²/fs in m²/s
A2_PER_FS = 1e-5
_KB_EV = 8.617333262e-5  # eV/K
#: the window folders of all species
WINDOWS = "windows"


# ------------------------------------------------------------------------------- windows
def window_centers(cfg: Mapping[str, Any]) -> list[float]:
    """Window centres (Å above the top metal layer) of an ``[umbrella]`` section, sorted.

    ``centers_A`` when given, else ``z_min_A``, ``z_min_A + spacing_A``, ... up to
    ``z_max_A`` (included when it falls on the grid).
    """
    if cfg["centers_A"]:
        return sorted(float(c) for c in cfg["centers_A"])
    lo, hi, step = float(cfg["z_min_A"]), float(cfg["z_max_A"]), float(cfg["spacing_A"])
    if hi < lo:
        return [lo]
    n = math.floor((hi - lo) / step + 1e-9) + 1
    return [round(lo + i * step, 9) for i in range(n)]


def flat_overlap(centers: Sequence[float], k: float, temperature_K: float) -> np.ndarray:
    """MBAR overlap of neighbouring windows where F(z) is flat, equal samples per window.

    Window i samples a Gaussian of width σ = sqrt(kT/k) about its centre; the overlap of
    windows i and j is O_ij = ∫ p_i p_j / Σ_l p_l dz (the MBAR overlap matrix for equal
    sample counts). A slope or curvature of F only lowers it further, so this is an upper
    bound of what the analysis will find.

    Parameters
    ----------
    centers : sequence of float
        Window centres (Å), sorted.
    k : float
        Spring constant (eV/Å²).
    temperature_K : float
        Temperature (K).

    Returns
    -------
    ndarray, shape (n - 1,)
        min(O_{i,i+1}, O_{i+1,i}) for each neighbouring pair.
    """
    c = np.asarray(sorted(centers), dtype=float)
    if c.size < 2:
        return np.zeros(0)
    sigma = math.sqrt(_KB_EV * temperature_K / k)
    x = np.linspace(c[0] - 8 * sigma, c[-1] + 8 * sigma, 4001 + 200 * c.size)
    p = np.exp(-0.5 * ((x[None, :] - c[:, None]) / sigma) ** 2) / (sigma * math.sqrt(2 * np.pi))
    total = p.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(total > 0, p[:-1] * p[1:] / total, 0.0)
    return np.trapezoid(ratio, x, axis=1)


def window_steps(cfg: Mapping[str, Any], md_cfg: Mapping[str, Any]) -> int:
    """MD steps per window: ``window_ps`` at the md stage's time step."""
    return max(1, round(cfg["window_ps"] * 1000 / md_cfg["timestep_fs"]))


def discard_frames(cfg: Mapping[str, Any], md_cfg: Mapping[str, Any]) -> int:
    """Frames left out at the start of every window: ``discard_ps`` at the md frame spacing."""
    return round(cfg["discard_ps"] * 1000 / (md_cfg["timestep_fs"] * md_cfg["traj_interval"]))


def checkpoints_beyond(out: Path, steps: int) -> bool:
    """Whether a window under ``out/windows/`` has a checkpoint past ``steps`` (a shorter
    ``window_ps`` than before: those windows cannot be resumed)."""
    for ck in Path(out, WINDOWS).glob("*/replica_*/checkpoint.npz"):
        step = _checkpoint_step(ck)
        if step is None or step > steps:
            return True
    return False


def _checkpoint_step(path: Path) -> int | None:
    try:
        with np.load(path) as data:
            return int(data["step"])
    except (OSError, ValueError, KeyError, EOFError):
        return None


# ------------------------------------------------------------------------------- species
def _salt(md_cfg: Mapping[str, Any]):
    from multiscale.md.builders import SALTS

    return SALTS[md_cfg["salt"]]


def species_table(
    symbols: Sequence[str], md_cfg: Mapping[str, Any], extract_cfg: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Per ion symbol: its profile name (the extract species selecting it, else e.g. "Na+"),
    charge number (e) and bulk concentration (mol/m³: md concentration × stoichiometry)."""
    s = _salt(md_cfg)
    out = {}
    for sym in symbols:
        q, nu = (s.charges[0], s.nu_cation) if sym == s.cation else (s.charges[1], s.nu_anion)
        name = f"{sym}{abs(q) if abs(q) > 1 else ''}{'+' if q > 0 else '-'}"
        for n, e in (extract_cfg or {}).get("species", {}).items():
            if e["selection"] == sym:
                name, q = n, int(e["charge"])
                break
        out[sym] = {
            "name": name,
            "charge": int(q),
            "c_bulk_mol_per_m3": 1000.0 * float(md_cfg["concentration_mol_per_L"]) * nu,
        }
    return out


def ions_left_out(
    extract_cfg: Mapping[str, Any], md_cfg: Mapping[str, Any], md: Mapping[str, Any], md_dir: Path
) -> dict[str, str]:
    """The ions (element symbols) of ``extract.species`` that the extract stage leaves out.

    Each ion species is put through the extract stage's own extraction on the md trajectory
    (:func:`multiscale.pipeline.stages.left_out_species`); one that did not visit every
    transport bin is left out, with the reason.
    """
    from .stages import left_out_species

    s = _salt(md_cfg) if md_cfg["concentration_mol_per_L"] > 0 else None
    ions = {s.cation, s.anion} if s is not None else set()
    names = [n for n, e in extract_cfg["species"].items() if e["selection"] in ions]
    if not names:
        return {}
    dropped = left_out_species(extract_cfg, md, md_dir, names)
    return {extract_cfg["species"][n]["selection"]: why for n, why in dropped.items()}


def _top_layer(atoms) -> list[int]:
    """Indices of the top metal layer (tag 1 atoms within 1 Å of the highest; as the extract
    stage's surface height)."""
    slab = np.flatnonzero(atoms.get_tags() == 1)
    if slab.size == 0:
        raise ValueError(
            "umbrella: the md stage's last frame has no metal atoms (tag 1): the windows need "
            "a surface to measure heights from"
        )
    z = atoms.positions[slab, 2]
    return [int(i) for i in slab[z > z.max() - 1.0]]


def _pick_ion(atoms, symbol: str, surface: list[int], centers: Sequence[float]) -> int:
    """The ion of ``symbol`` whose height above the surface is closest to the middle window."""
    idx = [i for i, (s, t) in enumerate(zip(atoms.get_chemical_symbols(), atoms.get_tags(),
                                            strict=True)) if s == symbol and t == 0]  # fmt: skip
    if not idx:
        raise ValueError(
            f"umbrella: no {symbol} ion in the md stage's last frame; list ions of the md "
            "system in umbrella.species"
        )
    z_surf = float(atoms.positions[surface, 2].mean())
    h = atoms.positions[idx, 2] - z_surf
    if atoms.pbc[2]:
        h = np.mod(h, atoms.cell[2, 2])
    return int(idx[int(np.argmin(np.abs(h - float(np.median(centers)))))])


def _without_other_ions(atoms, ion: int, md_cfg: Mapping[str, Any]):
    """A copy of ``atoms`` without the salt's ions other than ``ion``; the ion's new index and
    the removed ions (``"Cl 351"``: symbol and old index).

    One ion in water at infinite dilution: its F(z) is then free of where the other ions
    happen to sit, which a slow model does not average over in a window. The net charge is
    harmless only for a short-ranged potential (an MLIP without long-range electrostatics),
    which is what :func:`make_calculator` provides for MD.
    """
    s = _salt(md_cfg)
    symbols = atoms.get_chemical_symbols()
    drop = [j for j, x in enumerate(symbols) if x in (s.cation, s.anion) and j != ion]
    keep = np.setdiff1d(np.arange(len(atoms)), drop)
    return atoms[keep], int(np.searchsorted(keep, ion)), [f"{symbols[j]} {j}" for j in drop]


def _calculator(md_cfg: Mapping[str, Any], atoms, seed: int):
    """The md stage's calculator (registry, fallback included) and, for a wall geometry, its
    soft wall (as in :func:`multiscale.pipeline.stages.run_md`)."""
    calc, spec = make_calculator(md_cfg["calculator"], "md.calculator")
    if md_cfg.get("geometry", "film") == "wall":
        from multiscale.md.builders import WallCalculator

        z_wall = atoms.info.get("wall_z_A")
        if z_wall is None:  # the builder's value for this seed
            from .stages import build_md_system

            z_wall = build_md_system(md_cfg, seed).info["wall_z_A"]
        calc = WallCalculator(calc, z_wall=z_wall, k=md_cfg["wall_k_eV_per_A2"])
    return calc, spec


# --------------------------------------------------------------------------------- stage
def run_umbrella(
    cfg: dict,
    md: dict,
    md_dir: Path,
    out: Path,
    comm: Any = None,
    progress: bool = True,
    *,
    md_cfg: dict,
    seed: int = 0,
    extract_cfg: dict | None = None,
) -> dict[str, Any]:
    """Umbrella windows for each ion of ``cfg["species"]`` (or each ion free MD leaves out).

    Runs on every rank of ``comm`` (windows are spread over the ranks); the analysis and the
    files are rank 0's, and the summary is the same on every rank.

    Parameters
    ----------
    cfg : dict
        The validated ``[umbrella]`` section (heights in Å, k in eV/Å², times in ps).
    md : dict
        The md stage's summary (temperature in K, time step in fs, ...).
    md_dir : Path
        The md stage's folder (``trajectory.traj``: the windows start from its last frame,
        or from its frame at ``cfg["start_ps"]``).
    out : Path
        The stage folder: ``umbrella_<ion>.json``, ``umbrella_<ion>.png``, ``windows/<ion>/``.
    comm : mpi4py communicator, optional
        Ranks to spread the windows over (default ``MPI.COMM_SELF``: serial).
    progress : bool
        Progress bars (rank 0's windows).
    md_cfg : dict
        The validated ``[md]`` section: calculator, time step (fs), thermostat, hydrogen mass
        (u), frame and checkpoint intervals (steps), salt and concentration (mol/L).
    seed : int
        The run's seed; each species' windows get seeds derived from it and the species' place.
    extract_cfg : dict, optional
        The ``[extract]`` section: names and charges of the species, and (when
        ``cfg["species"]`` is empty) the test that decides which ions free MD leaves out.

    Returns
    -------
    dict
        ``species``: per ion symbol its name, charge, verdict, smallest overlap, F range, cost
        (s) and files; ``left_out``: the ions free MD leaves out and why (when decided here);
        ``start``: the md frame the windows start from (index, time in ps, frames of the md
        trajectory); ``wall_s``.
    """
    from ase.data import atomic_numbers
    from mpi4py import MPI

    comm = comm if comm is not None else MPI.COMM_SELF
    rank = comm.Get_rank()
    t0 = time.perf_counter()
    left_out, error = None, None
    symbols = list(cfg["species"])
    if not symbols and rank == 0:
        try:
            left_out = ions_left_out(extract_cfg or {"species": {}}, md_cfg, md, Path(md_dir))
        except ValueError as err:
            error = f"umbrella: could not decide which ions free MD leaves out: {err}"
    if not symbols:
        left_out, error = comm.bcast((left_out, error), root=0)
        if error is not None:
            raise ValueError(error)
        symbols = sorted(left_out)
        log.info("umbrella: ions left out of free MD: %s", symbols or "none")
    summary: dict[str, Any] = {
        "requested": list(cfg["species"]) or "the ions the extract stage leaves out",
        "left_out": left_out,
        "centers_A": window_centers(cfg),
        "k_eV_per_A2": cfg["k_eV_per_A2"],
        "window_ps": cfg["window_ps"],
        "discard_ps": cfg["discard_ps"],
        "species": {},
    }
    if not symbols:
        summary["note"] = "no ion is left out of free MD: nothing to sample"
        summary["wall_s"] = time.perf_counter() - t0
        return summary
    base, start = _start_frame(Path(md_dir), cfg["start_ps"], md_cfg)
    summary["start"] = start
    base.set_constraint()
    if md_cfg["hydrogen_mass_u"] > 0:  # idempotent: the md frames may carry the masses already
        from multiscale.md.hmr import repartition_hydrogen_masses

        repartition_hydrogen_masses(base, md_cfg["hydrogen_mass_u"])
    table = species_table(symbols, md_cfg, extract_cfg)
    for sym in symbols:
        # the windows' base seed from the run's seed and the ion only (not its place in the
        # list), so that a window folder is resumable whichever other ions are sampled
        z = atomic_numbers[sym]
        summary["species"][sym] = _run_species(
            cfg, md_cfg, base, sym, table[sym], out, comm, progress,
            int(np.random.SeedSequence([seed, 7919, z]).generate_state(1)[0] % 2**31), seed,
        )  # fmt: skip
    summary["wall_s"] = time.perf_counter() - t0
    return summary


def _start_frame(md_dir: Path, start_ps: float, md_cfg: Mapping[str, Any]):
    """The md frame the windows start from and where it lies: the last one for ``start_ps``
    = 0, else the frame nearest ``start_ps`` (ps from the trajectory's first frame)."""
    from ase.io.trajectory import Trajectory

    frame_fs = md_cfg["timestep_fs"] * md_cfg["traj_interval"]
    with Trajectory(md_dir / "trajectory.traj") as traj:
        n = len(traj)
        index = n - 1 if start_ps == 0 else round(start_ps * 1000 / frame_fs)
        if index >= n:
            raise ValueError(
                f"umbrella.start_ps = {start_ps:g} ps: the md trajectory holds {n} frames of "
                f"{frame_fs:g} fs ({(n - 1) * frame_fs / 1000:g} ps); resume the md stage or "
                "lower umbrella.start_ps"
            )
        atoms = traj[index]
    return atoms, {"frame": index, "time_ps": index * frame_fs / 1000, "md_frames": n}


def _run_species(
    cfg: dict,
    md_cfg: dict,
    base,
    sym: str,
    info: dict,
    out: Path,
    comm: Any,
    progress: bool,
    species_seed: int,
    seed: int,
) -> dict[str, Any]:
    """Windows, analysis, JSON and plot of one ion (see :func:`run_umbrella`)."""
    from ase.optimize import FIRE

    from multiscale.md import HarmonicZRestraint, MDSettings, place_at_height, run_umbrella_windows

    rank = comm.Get_rank()
    centers = window_centers(cfg)
    k = float(cfg["k_eV_per_A2"])
    steps = window_steps(cfg, md_cfg)
    surface = _top_layer(base)
    ion = _pick_ion(base, sym, surface, centers)
    removed: list[str] = []
    if cfg["other_ions"] == "remove":
        base, ion, removed = _without_other_ions(base, ion, md_cfg)
        surface = _top_layer(base)
        log.info("umbrella: %s alone, the other ions removed: %s", sym, ", ".join(removed))
    wdir = Path(out) / WINDOWS / sym
    timing: dict[int, dict[str, Any]] = {}
    last: list[Any] = []  # (window, time its MD started) of this rank's window under way
    spec_used: dict[str, Any] = {}

    def close_last() -> None:
        if last:
            w, t_md = last.pop()
            timing[w]["md_s"] = time.perf_counter() - t_md

    def make(i: int):
        close_last()
        t = time.perf_counter()
        atoms = base.copy()
        if md_cfg.get("fix_metal"):  # the md stage's rigid electrode
            from multiscale.md.slab import fix_slab

            fix_slab(atoms)
        calc, spec = _calculator(md_cfg, atoms, seed)
        spec_used.setdefault("spec", spec)
        t_relax = time.perf_counter()
        ck = _checkpoint_step(wdir / f"replica_{i:03d}" / "checkpoint.npz")
        entry: dict[str, Any] = {"setup_s": t_relax - t, "resumed_from": ck, "relax_s": 0.0}
        if ck is None:  # a fresh window: place the ion, relax under the restraint
            place_at_height(atoms, ion, centers[i], surface)
            if cfg["relax_steps"] > 0:
                atoms.calc = HarmonicZRestraint(calc, ion, centers[i], k, surface_z=surface)
                opt = FIRE(atoms, logfile=None)
                opt.run(fmax=md_cfg["relax_fmax_eV_per_A"], steps=cfg["relax_steps"])
                entry["relax_steps_done"] = int(opt.nsteps)
            entry["relax_s"] = time.perf_counter() - t_relax
        atoms.calc = calc
        timing[i] = entry
        last.append((i, time.perf_counter()))
        return atoms

    settings = MDSettings(
        timestep_fs=md_cfg["timestep_fs"], ensemble=md_cfg["ensemble"],
        temperature_K=md_cfg["temperature_K"], friction_per_fs=md_cfg["friction_per_fs"],
        seed=species_seed, initial_temperature_K=md_cfg["temperature_K"],
        traj_interval=md_cfg["traj_interval"], checkpoint_interval=md_cfg["checkpoint_interval"],
        fix_com=not md_cfg.get("fix_metal"),
    )  # fmt: skip
    log.info("umbrella: %s (atom %d), %d windows at %s Å, k = %g eV/Å², %d steps each", sym, ion,
             len(centers), centers, k, steps)  # fmt: skip
    integrity = None
    policy = md_cfg["integrity"] if cfg["integrity"] == "md" else cfg["integrity"]
    if policy != "off":  # the md stage's monitor, its reference each window's start

        def integrity(atoms):
            from multiscale.md import IntegrityMonitor

            return IntegrityMonitor(
                atoms, policy=policy, reactive_species=md_cfg["reactive_species"],
                interval=md_cfg["integrity_interval"] or None,
            )  # fmt: skip

    run = run_umbrella_windows(
        make, ion, centers, k, steps, wdir, settings, comm, surface_z=surface, progress=progress,
        integrity=integrity,
    )  # fmt: skip
    close_last()
    merged: dict[int, dict[str, Any]] = {}
    for part in comm.allgather(timing):
        merged.update(part)
    result, error = None, None
    if rank == 0:
        try:
            result = _analyse(cfg, md_cfg, sym, info, ion, surface, run, merged, steps, out,
                              water=WATER_CENTRE in base.get_chemical_symbols())  # fmt: skip
            result["other_ions"] = {"policy": cfg["other_ions"], "removed": removed}
            if spec_used:
                result["calculator"] = describe_calculator(spec_used["spec"])
            atomic_write_text(out / f"umbrella_{sym}.json", json.dumps(_clean(result), indent=1))
            _plot(result, out / f"umbrella_{sym}.png")
        except ValueError as err:
            error = (
                f"umbrella ({sym}): {err} (pipeline keys: umbrella.window_ps, "
                "umbrella.discard_ps, umbrella.n_blocks, umbrella.bin_width_A)"
            )
    error = comm.bcast(error, root=0)
    if error is not None:
        raise ValueError(error)
    short = None
    if rank == 0:
        short = {
            key: result[key]
            for key in (
                "name", "charge", "atom_index", "converged", "verdict", "min_overlap",
                "poor_overlap", "free_energy_range_kT", "free_energy_max_err_kT", "z_range_A",
                "n_windows",
                "free_energy_max_half_deviation_sigma", "free_energy_half_threshold_sigma",
                "D_perp_converged_windows", "warnings", "cost", "c_bulk_mol_per_m3",
                "other_ions",
            )
        }  # fmt: skip
        short["file"] = f"umbrella_{sym}.json"
        short["plot"] = f"umbrella_{sym}.png"
        short["windows_dir"] = f"{WINDOWS}/{sym}"
        short = _clean(short)
    return comm.bcast(short, root=0)


def _analyse(
    cfg: dict,
    md_cfg: dict,
    sym: str,
    info: dict,
    ion: int,
    surface: list[int],
    run: Any,
    timing: dict[int, dict[str, Any]],
    steps: int,
    out: Path,
    water: bool = True,
) -> dict[str, Any]:
    """UmbrellaAnalysis of one ion's windows, as the JSON record of ``umbrella_<ion>.json``
    (with ``water``, the windows' water D∥ as well)."""
    from multiscale.extract import UmbrellaAnalysis

    discard = discard_frames(cfg, md_cfg)
    # the water (its O) of the windows: D∥ of the medium, to compare with unbiased MD's
    solvent = WATER_CENTRE if water else None
    ana = UmbrellaAnalysis.from_directory(
        run.directory, solvent=solvent, discard=discard, n_blocks=cfg["n_blocks"],
        bin_width=cfg["bin_width_A"], min_bin_samples=cfg["min_bin_samples"],
    ).run()  # fmt: skip
    r = ana.results
    kt = _KB_EV * md_cfg["temperature_K"]
    fin = np.isfinite(r.free_energy)
    cost = []
    for i in range(len(r.centers)):
        t = timing.get(i, {})
        done = steps - (t.get("resumed_from") or 0)
        md_s = t.get("md_s")
        cost.append({
            "window": i, "md_s": md_s, "relax_s": t.get("relax_s"), "setup_s": t.get("setup_s"),
            "steps_this_run": done, "resumed_from": t.get("resumed_from"),
            "ms_per_step": 1000 * md_s / done if md_s is not None and done > 0 else None,
        })  # fmt: skip
    total = sum((c["md_s"] or 0) + (c["relax_s"] or 0) + (c["setup_s"] or 0) for c in cost)
    halves = r.halves
    warnings = list(r.warnings)
    pairing = _counterion_pairing(run.directory, md_cfg, sym, ion, surface, r.centers, discard)
    warnings += pairing.pop("warnings")
    return {
        "species": sym,
        "name": info["name"],
        "charge": info["charge"],
        "c_bulk_mol_per_m3": info["c_bulk_mol_per_m3"],
        "atom_index": ion,
        "surface_atoms": surface,
        "temperature_K": float(md_cfg["temperature_K"]),
        "centers_A": r.centers,
        "k_eV_per_A2": r.k,
        "n_windows": len(r.centers),
        "window_ps": cfg["window_ps"],
        "discard_ps": cfg["discard_ps"],
        "discard_frames": discard,
        "steps_per_window": steps,
        "timestep_fs": md_cfg["timestep_fs"],
        "frame_interval_fs": md_cfg["timestep_fs"] * md_cfg["traj_interval"],
        "n_blocks": cfg["n_blocks"],
        "z_A": r.z,
        "edges_A": r.edges,
        "free_energy_kT": r.free_energy,
        "free_energy_err_kT": r.free_energy_err,
        # MBAR's covariance of F between the grid points (kT²): errors of neighbouring points
        # are strongly correlated, which the continuum's uncertainty propagation needs
        "free_energy_cov_kT2": r.free_energy_cov,
        "free_energy_eV": r.free_energy * kt,
        "free_energy_err_eV": r.free_energy_err * kt,
        "bin_samples": r.bin_samples,
        "free_energy_range_kT": float(np.ptp(r.free_energy[fin])) if fin.any() else None,
        # the largest MBAR error relative to the F minimum (errors grow away from it)
        "free_energy_max_err_kT": (float(np.nanmax(r.free_energy_err[fin])) if fin.any() else None),
        "z_range_A": [float(r.z[fin].min()), float(r.z[fin].max())] if fin.any() else None,
        "windows": {
            "z_mean_A": r.z_mean,
            "z_std_A": r.z_std,
            "statistical_inefficiency": r.statistical_inefficiency,
            "n_samples": r.n_samples,
            "D_perp_m2_per_s": r.D_perp * A2_PER_FS,
            "D_perp_err_m2_per_s": r.D_perp_err * A2_PER_FS,
            "D_perp_converged": r.D_perp_converged,
            "tau_fs": r.tau,
            "D_par_m2_per_s": r.D_par * A2_PER_FS,
            "D_par_err_m2_per_s": r.D_par_err * A2_PER_FS,
            # the water around the ion (every water O, the ion's fit), None without water
            "D_water_par_m2_per_s": r.D_solvent_par * A2_PER_FS if solvent else None,
            "D_water_par_err_m2_per_s": r.D_solvent_par_err * A2_PER_FS if solvent else None,
        },
        "msd_lags_fs": r.msd_lags,
        "D_perp_converged_windows": int(np.sum(r.D_perp_converged)),
        "overlap_matrix": r.overlap,
        "neighbour_overlap": r.neighbour_overlap,
        "min_overlap": float(np.min(r.neighbour_overlap)),
        "poor_overlap": [list(p) for p in r.poor_overlap],
        "free_energy_max_half_deviation_sigma": halves["free_energy_max_deviation_sigma"],
        "free_energy_half_threshold_sigma": halves["free_energy_threshold_sigma"],
        "converged": bool(r.converged),
        "verdict": "converged" if r.converged else "not converged",
        "counterion_pairing": pairing,
        "warnings": warnings,
        "cost": {"total_s": total, "windows": cost},
        "units": {
            "z_A": "Å above the top metal layer (mean z of its atoms)",
            "free_energy_kT": "kT (minimum 0)",
            "D": "m²/s",
            "cost": "s (wall time on the rank that ran the window)",
        },
    }


#: the atom whose in-plane motion stands for a water molecule's
WATER_CENTRE = "O"
#: a window whose ion touches a counter-ion in more than this fraction of its frames samples
#: an ion pair, not a free ion
PAIRED_FRACTION = 0.5
#: cation–anion contact distance, Å (the first minimum of g_+-(r) of Na–Cl in water)
CONTACT_A = 3.5


def _counterion_pairing(
    directory: Path,
    md_cfg: Mapping[str, Any],
    sym: str,
    ion: int,
    surface: list[int],
    centers: Sequence[float],
    discard: int,
    stride: int = 5,
) -> dict[str, Any]:
    """Per window: how often the restrained ion touches a counter-ion, and the heights of the
    other ions when the windows started.

    The other ions are free but, in a slow model, barely move during a window: F(z) is then
    conditioned on where they sit, and in a window where the ion holds a counter-ion in
    contact it is the F(z) of an ion pair. Both are recorded, and such windows are warned
    about (``warnings``).
    """
    from ase.io import read

    from multiscale.md.runner import TRAJ_FORMATS
    from multiscale.md.structure import counterion_contacts

    s = _salt(md_cfg)
    counter = s.anion if sym == s.cation else s.cation
    spec = json.loads((Path(directory) / "umbrella.json").read_text())
    fmt = spec.get("traj_format", "traj")
    windows, paired, others = [], [], None
    for i, c in enumerate(centers):
        path = Path(directory) / f"replica_{i:03d}" / TRAJ_FORMATS[fmt]
        frames = read(path, f"{discard}::{stride}", format=fmt, parallel=False)
        if not frames:
            windows.append({"center_A": float(c), "contact_fraction": None})
            continue
        if others is None:  # every window starts from the same md frame: its other ions
            first = read(path, 0, format=fmt, parallel=False)
            z_s = float(first.positions[surface, 2].mean())
            sym_all = first.get_chemical_symbols()
            others = {
                f"{sym_all[j]} {j}": round(float(first.positions[j, 2] - z_s), 2)
                for j in range(len(first))
                if sym_all[j] in (s.cation, s.anion) and j != ion
            }
        out = counterion_contacts(frames, ion, counter, CONTACT_A)
        windows.append({"center_A": float(c), **out})
        if out["contact_fraction"] is not None and out["contact_fraction"] > PAIRED_FRACTION:
            paired.append(f"{c:g} Å ({counter} {out['partner']}, {out['contact_fraction']:.0%})")
    warnings = []
    if paired:
        warnings.append(
            f"{sym} holds a {counter} in contact (< {CONTACT_A:g} Å) in more than half the "
            f"frames of the windows at {', '.join(paired)}: F(z) there is that of an ion pair, "
            "not of a free ion"
        )
    return {
        "counter_ion": counter,
        "contact_cutoff_A": CONTACT_A,
        "windows": windows,
        "other_ions_height_A": others,
        "warnings": warnings,
    }


def _clean(obj: Any) -> Any:
    """JSON-able: arrays to lists, NaN/inf to None."""
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _plot(result: dict, path: Path) -> None:
    from .continuum_adapter import _plt

    plt = _plt()
    z, f, df = (np.asarray(result[k], dtype=float) for k in ("z_A", "free_energy_kT",
                                                              "free_energy_err_kT"))  # fmt: skip
    ok = np.isfinite(f)
    w = result["windows"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.errorbar(z[ok], f[ok], yerr=np.nan_to_num(df[ok]), fmt=".-", capsize=2)
    for c in result["centers_A"]:
        ax1.axvline(c, color="0.85", lw=0.8, zorder=0)
    ax1.set_xlabel("height above the top metal layer (Å)")
    ax1.set_ylabel(f"F(z) of {result['name']} (kT)")
    ax1.set_title(f"{result['name']}: MBAR, {result['n_windows']} windows ({result['verdict']})")
    zm = np.asarray(w["z_mean_A"], dtype=float)
    for key, lab, fmt, color in (("D_perp", "D⊥ (restrained ACF)", "o", "C0"),
                                 ("D_par", "D∥ (window MSD)", "s", "C1")):  # fmt: skip
        d = np.asarray(w[f"{key}_m2_per_s"], dtype=float) * 1e9
        e = np.asarray(w[f"{key}_err_m2_per_s"], dtype=float) * 1e9
        good = np.isfinite(d)
        sure = good & np.isfinite(e)  # open markers: no error bar (not converged)
        if sure.any():
            ax2.errorbar(zm[sure], d[sure], yerr=e[sure], fmt=fmt, color=color, capsize=2,
                         label=lab)  # fmt: skip
        if (good & ~sure).any():
            ax2.plot(zm[good & ~sure], d[good & ~sure], fmt, mfc="none", color=color,
                     label=f"{lab}, not converged")  # fmt: skip
    ax2.set_xlabel("window mean height (Å)")
    ax2.set_ylabel("D (1e-9 m²/s)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
