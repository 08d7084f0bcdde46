"""The four stages. Each takes its config section, the run's seed, its output folder and the
outputs of the stages before it, writes files under its folder and returns a JSON-able summary
of key numbers (also written as ``summary.json``). Serial stages run on one process; the
continuum stage runs on a communicator (see :mod:`.continuum_adapter`).
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from .calculators import describe_calculator, make_calculator
from .continuum_adapter import _plt

__all__ = ["run_continuum", "run_extract", "run_md", "run_qmml"]

log = logging.getLogger("multiscale.pipeline")


# --------------------------------------------------------------------------------- qmml
def run_qmml(cfg: dict, seed: int, out: Path, progress: bool = True) -> dict[str, Any]:
    """QM/ML force-mixing Langevin MD around an ion in a periodic electrolyte box.

    The built box is first equilibrated with the ML model alone (``preequilibrate_fs`` of
    Langevin MD), so that the ion has its solvation shell. The core is the ion and the
    molecules within ``r_core_A`` (the first minimum of the ion–O g(r): the first solvation
    shell); the switching shell beyond it is followed step by step
    (:class:`coupling.boundary.ShellCrossingCounter`: occupancy, crossings) with the boundary
    force mismatch RMS |F_QM − F_ML| on the shell atoms.

    Writes ``trajectory.traj``, ``continuity_monitor.csv`` (per step, see
    :class:`coupling.ForceContinuityMonitor`), ``md_log.csv`` (per step, with shell occupancy
    and mismatch), ``shell_events.csv`` (crossings), ``drag.npz`` and the plots
    ``continuity_drag.png`` and ``qmml_md.png``.
    """
    from ase.io import Trajectory
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.parallel import DummyMPI
    from ase.units import fs
    from tqdm.auto import tqdm

    from coupling import (
        ForceContinuityMonitor,
        ForceMixingCalculator,
        Regions,
        check_force_continuity,
    )
    from coupling.boundary import (
        ShellCrossingCounter,
        boundary_force_mismatch,
        coordination_core,
        molecule_weights,
    )
    from multiscale.md import build_electrolyte

    t0 = time.perf_counter()
    atoms = build_electrolyte(
        salt=cfg["salt"], concentration=cfg["concentration_mol_per_L"], n_water=cfg["n_water"],
        seed=seed,
    )  # fmt: skip
    centre = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == cfg["centre"]]
    if not centre:
        raise ValueError(
            f"qmml.centre: no {cfg['centre']!r} atom in the box (its salt is {cfg['salt']})"
        )
    ion = centre[0]
    ml, ml_spec = make_calculator(cfg["ml"], "qmml.ml")
    qm, qm_spec = make_calculator(cfg["qm"], "qmml.qm")
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    serial = DummyMPI()  # this stage runs on one rank: ASE's world must not be used
    _, lig0 = coordination_core(atoms, ion, cfg["r_core_A"])
    pre: dict[str, Any] = {"fs": cfg.get("preequilibrate_fs", 0.0), "n_ligands_built": len(lig0)}
    if pre["fs"] > 0:  # equilibrate the built box with the ML model alone
        tp = time.perf_counter()
        dt_pre = cfg.get("preequilibrate_timestep_fs", 1.0)
        n_pre = max(1, round(pre["fs"] / dt_pre))
        atoms.calc = ml
        thermalize_momenta(atoms, temperature_K=cfg["temperature_K"], rng=rng, comm=serial)
        Stationary(atoms)
        pre_dyn = Langevin(
            atoms, dt_pre * fs, temperature_K=cfg["temperature_K"], friction=_PRE_FRICTION / fs,
            fixcm=False, rng=rng, comm=serial,
        )  # fmt: skip
        pre_bar = tqdm(total=n_pre, desc="ML pre-equilibration", unit="step",
                       disable=not progress)  # fmt: skip
        pre_dyn.attach(lambda: pre_bar.update(1), interval=1)
        pre_dyn.run(n_pre)
        pre_bar.close()
        atoms.calc = None
        pre.update({
            "steps": n_pre, "timestep_fs": dt_pre, "wall_s": time.perf_counter() - tp,
            "ms_per_step": 1e3 * (time.perf_counter() - tp) / n_pre,
            "temperature_K": float(atoms.get_temperature()),
        })  # fmt: skip
    core_atoms, ligands = coordination_core(atoms, ion, cfg["r_core_A"])
    pre["n_ligands"] = len(ligands)
    d_lig = atoms.get_distances(ion, ligands, mic=True) if ligands else np.zeros(0)
    log.info("qmml: %d O within r_core = %.2f Å of the ion (%d in the built box)",
             len(ligands), cfg["r_core_A"], len(lig0))  # fmt: skip
    regions = Regions([ion], cfg["r_core_A"], cfg["r_switch_A"], cfg["r_buffer_A"])
    calc = ForceMixingCalculator(qm, ml, regions, switching=cfg["switching"])
    atoms.calc = calc
    log.info("qmml: %d atoms, QM %s, ML %s", len(atoms), describe_calculator(qm_spec),
             describe_calculator(ml_spec))  # fmt: skip
    summary: dict[str, Any] = {
        "n_atoms": len(atoms),
        "qm": describe_calculator(qm_spec),
        "ml": describe_calculator(ml_spec),
        "r_core_A": cfg["r_core_A"],
        "r_switch_A": cfg["r_switch_A"],
        "switching": cfg["switching"],
        "preequilibration": pre,
        "core": {
            "n_atoms": len(core_atoms),
            "coordination_number": len(ligands),
            "ion_O_distances_A": [round(float(x), 3) for x in np.sort(d_lig)],
        },
    }
    plt = _plt()

    # continuity drag check: the water whose O is closest to the core radius, pulled outwards
    if cfg["drag_steps"] > 0:
        t1 = time.perf_counter()
        d = atoms.get_distances(ion, range(len(atoms)), mic=True)
        oxy = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "O"]
        o = min(oxy, key=lambda i: abs(d[i] - cfg["r_core_A"] + 0.3))
        hs = [j for j in range(len(atoms)) if atoms[j].symbol == "H"]
        dh = atoms.get_distances(o, hs, mic=True)
        mol = [o, *[hs[k] for k in np.argsort(dh)[:2]]]
        direction = atoms.get_distance(ion, o, mic=True, vector=True)
        rep = check_force_continuity(
            calc, atoms, mol, direction, cfg["drag_distance_A"], n_steps=cfg["drag_steps"]
        )
        np.savez(out / "drag.npz", displacements=rep.displacements, forces=rep.forces,
                 jumps_fine=rep.jumps_fine, jumps_coarse=rep.jumps_coarse)  # fmt: skip
        fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(6, 5.5))
        fo = rep.forces[:, o, :]
        ax1.plot(rep.displacements, np.linalg.norm(fo, axis=1), "o-", label="|F| on the O")
        ax1.set_ylabel("force (eV/Å)")
        if rep.weights is not None:
            axw = ax1.twinx()
            axw.plot(rep.displacements, rep.weights[:, o], "s--", color="gray", label="w (QM)")
            axw.set_ylabel("QM weight w")
        ax1.legend(loc="upper left", fontsize=8)
        ax1.set_title("Continuity drag: a water pulled out across the switching shell")
        xs = rep.displacements[:-1]
        ax2.plot(xs, rep.jumps_fine, "o-", label="jump, step h/2")
        ax2.plot(rep.displacements[:-2:2], rep.jumps_coarse, "s-", label="jump, step h")
        ax2.set_xlabel("displacement (Å)")
        ax2.set_ylabel("max |ΔF| (eV/Å)")
        ax2.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "continuity_drag.png", dpi=110)
        plt.close(fig)
        summary["drag"] = {
            "distance_A": cfg["drag_distance_A"],
            "step_A": rep.step,
            "max_jump_eV_per_A": rep.max_jump,
            "max_jump_half_eV_per_A": rep.max_jump_half,
            "ratio": rep.ratio,
            "continuous": bool(rep.continuous),
            "wall_s": time.perf_counter() - t1,
        }

    # force-mixing Langevin MD
    t2 = time.perf_counter()
    if not pre["fs"]:
        thermalize_momenta(atoms, temperature_K=cfg["temperature_K"], rng=rng, comm=serial)
        Stationary(atoms)
    atoms.calc = calc  # the drag check leaves it in place; pre-equilibration used the ML model
    dyn = Langevin(
        atoms, cfg["timestep_fs"] * fs, temperature_K=cfg["temperature_K"],
        friction=cfg["friction_per_fs"] / fs, fixcm=False, rng=rng, comm=serial,
    )  # fmt: skip
    monitor_path = out / "continuity_monitor.csv"
    monitor_path.unlink(missing_ok=True)
    monitor = ForceContinuityMonitor(atoms, monitor_path)
    traj = Trajectory(out / "trajectory.traj", "w", atoms, master=True)
    rows: list[dict] = []
    bar = tqdm(total=cfg["steps"], desc="QM/ML force mixing", unit="step", disable=not progress)
    counter = ShellCrossingCounter(timestep_fs=cfg["timestep_fs"])

    def record() -> None:
        res = atoms.calc.results
        mol_w = molecule_weights(res["weights"], regions.state.molecule_ids)
        mol_w.pop(int(regions.state.molecule_ids[ion]), None)
        occupancy = counter.update(mol_w)
        mismatch, n_shell = boundary_force_mismatch(
            res["weights"], res["qm_forces"], res["ml_forces"]
        )
        rows.append({
            "step": dyn.nsteps,
            "time_fs": dyn.nsteps * cfg["timestep_fs"],
            "temperature_K": atoms.get_temperature(),
            "cluster_size": res["cluster_size"],
            "n_qm_weighted": int(np.sum(res["weights"] > 0)),
            "n_core_molecules": sum(w >= 1.0 for w in mol_w.values()),
            "shell_molecules": occupancy,
            "shell_atoms": n_shell,
            "shell_rms_dF_eV_per_A": mismatch,
            "qm_s": res["timings"]["qm"],
            "ml_s": res["timings"]["ml"],
        })  # fmt: skip
        traj.write(atoms)
        if dyn.nsteps:
            bar.update(1)

    dyn.attach(monitor, interval=1)
    dyn.attach(record, interval=1)
    dyn.run(cfg["steps"])
    bar.close()
    traj.close()
    with open(out / "md_log.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "shell_events.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "time_fs", "molecule", "event"])
        for step, m, kind in counter.events:
            writer.writerow([step, step * cfg["timestep_fs"], m, kind])
    with open(monitor_path) as fh:
        mon = list(csv.DictReader(fh))

    def col(name: str) -> np.ndarray:
        return np.array([float(r[name]) for r in mon])

    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(6, 5))
    steps = col("step")
    ax1.plot([r["step"] for r in rows], [r["temperature_K"] for r in rows], "o-", ms=3)
    ax1.set_ylabel("T (K)")
    ax1.set_title("QM/ML Langevin MD: temperature and per-step force continuity")
    ax2.plot(steps, col("max_jump_shell"), "o-", ms=3, label="max |ΔF| in shell (eV/Å)")
    ax2.plot(steps, col("stiffness_shell"), "s-", ms=3, label="|ΔF|/|Δr| in shell (eV/Å²)")
    ax2.set_yscale("symlog", linthresh=1e-3)
    ax2.set_xlabel("step")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "qmml_md.png", dpi=110)
    plt.close(fig)
    stiff = col("stiffness_shell")
    stiff = stiff[np.isfinite(stiff)]
    summary.update({
        "steps": cfg["steps"],
        "timestep_fs": cfg["timestep_fs"],
        "mean_cluster_size": float(np.mean([r["cluster_size"] for r in rows])),
        "mean_qm_s_per_step": float(np.mean([r["qm_s"] for r in rows])),
        "max_stiffness_shell_eV_per_A2": float(stiff.max()) if stiff.size else float("nan"),
        "max_abs_net_force_eV_per_A": float(np.abs(col("net_force")).max()),
        "shell": counter.summary(),
        "shell_events": [
            {"step": st, "molecule": m, "event": kind} for st, m, kind in counter.events[:50]
        ],
        "boundary_rms_dF_eV_per_A": _nanmean([r["shell_rms_dF_eV_per_A"] for r in rows]),
        "boundary_rms_dF_max_eV_per_A": _nanmax([r["shell_rms_dF_eV_per_A"] for r in rows]),
        "final_temperature_K": float(rows[-1]["temperature_K"]),
        "md_wall_s": time.perf_counter() - t2,
        "wall_s": time.perf_counter() - t0,
    })  # fmt: skip
    return summary


#: Langevin friction (1/fs) of the ML-only pre-equilibration: strong (a 20 fs time constant)
#: because the built box is far from equilibrium and heats up as it relaxes
_PRE_FRICTION = 0.05


def _nanmean(x: list[float]) -> float:
    a = np.asarray(x, dtype=float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def _nanmax(x: list[float]) -> float:
    a = np.asarray(x, dtype=float)
    return float(np.nanmax(a)) if np.isfinite(a).any() else float("nan")


# ----------------------------------------------------------------------------------- md
def build_md_system(cfg: dict, seed: int):
    """The metal/electrolyte interface of the md stage (deterministic for a given seed)."""
    from multiscale.md import build_interface
    from multiscale.md.builders import build_sandwich, build_wall_interface

    conc = cfg["concentration_mol_per_L"]
    geometry = cfg.get("geometry", "film")
    if geometry == "film":
        return build_interface(
            metal=cfg["metal"], facet=cfg["facet"], size=tuple(cfg["size"]),
            layers=cfg["layers"], water_thickness=cfg["water_thickness_A"],
            salt=cfg["salt"] if conc > 0 else None, concentration=conc, gap=cfg["gap_A"],
            seed=seed,
        )  # fmt: skip
    build = build_sandwich if geometry == "sandwich" else build_wall_interface
    return build(
        metal=cfg["metal"], facet=cfg["facet"], size=tuple(cfg["size"]), layers=cfg["layers"],
        electrolyte_thickness=electrolyte_thickness(cfg),
        salt=cfg["salt"] if conc > 0 else None, concentration=conc, gap=cfg["gap_A"], seed=seed,
    )  # fmt: skip


def electrolyte_thickness(cfg: dict) -> float:
    """Metal surface to facing surface or wall (Å) of a sandwich/wall md geometry."""
    return float(cfg.get("electrolyte_thickness_A") or cfg["water_thickness_A"] + 2 * cfg["gap_A"])


def run_md(cfg: dict, seed: int, out: Path, progress: bool = True) -> dict[str, Any]:
    """ML-MD of the interface with :class:`multiscale.md.MDRunner` (resumes a checkpoint).

    Before production the built structure is relaxed (FIRE) and heated from ``heat_from_K``
    in ``prepare/`` (:func:`multiscale.md.prepare_md`, restart-safe); an integrity monitor
    (:class:`multiscale.md.IntegrityMonitor`, reference: the built structure) watches both;
    equilibration is detected in the production ``thermo.dat``
    (:func:`multiscale.md.analyse_equilibration`).

    Writes ``trajectory.traj`` (unwrapped), ``thermo.dat``, ``checkpoint.npz``, ``thermo.png``,
    ``integrity.csv``, ``integrity_events.csv`` and ``prepare/``.
    """
    from dataclasses import replace

    from multiscale.md import (
        IntegrityMonitor,
        MDRunner,
        MDSettings,
        analyse_equilibration,
        prepare_md,
    )

    t0 = time.perf_counter()
    atoms = build_md_system(cfg, seed)
    calc, spec = make_calculator(cfg["calculator"], "md.calculator")
    geometry = cfg.get("geometry", "film")
    if geometry == "wall":
        from multiscale.md.builders import WallCalculator

        calc = WallCalculator(calc, z_wall=atoms.info["wall_z_A"], k=cfg["wall_k_eV_per_A2"])
    atoms.calc = calc
    settings = MDSettings(
        timestep_fs=cfg["timestep_fs"], ensemble=cfg["ensemble"],
        temperature_K=cfg["temperature_K"], friction_per_fs=cfg["friction_per_fs"], seed=seed,
        initial_temperature_K=cfg["temperature_K"], traj_interval=cfg["traj_interval"],
        checkpoint_interval=cfg["checkpoint_interval"], fix_com=not cfg.get("fix_metal"),
    )  # fmt: skip
    fixed = None
    if cfg.get("fix_metal"):  # a rigid electrode: the slab held where the relaxation leaves it
        from multiscale.md.slab import fix_slab

        fixed = fix_slab(atoms)
        log.info("md: %d slab atoms held fixed (md.fix_metal)", fixed)
    if cfg["hydrogen_mass_u"] > 0:
        # hydrogen mass repartitioning (multiscale.md.hmr): static properties unchanged,
        # dynamics changed (docs/md.md); before the reference copy so checkpoints agree
        from multiscale.md.hmr import repartition_hydrogen_masses

        repartition_hydrogen_masses(atoms, cfg["hydrogen_mass_u"])
    reference = atoms.copy()  # the integrity reference: the built structure

    def monitor():
        if cfg["integrity"] == "off":
            return None
        try:
            return IntegrityMonitor(
                reference, policy=cfg["integrity"], reactive_species=cfg["reactive_species"],
                interval=cfg["integrity_interval"] or None,
            )  # fmt: skip
        except ValueError as err:
            raise ValueError(f"md.integrity / md.reactive_species: {err}") from err

    prep = None
    if cfg["relax_steps"] > 0 or cfg["heat_ps"] > 0:
        prep = prepare_md(
            atoms, out / "prepare", settings, relax_fmax=cfg["relax_fmax_eV_per_A"],
            relax_steps=cfg["relax_steps"], heat_ps=cfg["heat_ps"],
            heat_from_K=cfg["heat_from_K"], integrity=monitor(), progress=progress,
        )  # fmt: skip
        if prep.heat_steps:
            settings = replace(settings, initial_temperature_K=None)  # keep the heated momenta
    slab = atoms.get_tags() == 1
    z_top = float(atoms.positions[slab, 2].max())
    z_lo = z_top + cfg["gap_A"]
    z_hi = z_lo + cfg["water_thickness_A"]
    upper = None  # distance of the facing metal surface (sandwich) from the lower one
    if geometry != "film":
        z_hi = z_top + electrolyte_thickness(cfg) - cfg["gap_A"]
        if geometry == "sandwich":
            upper = electrolyte_thickness(cfg)
    log.info("md: %d atoms (%s), %s", len(atoms), atoms.get_chemical_formula(),
             describe_calculator(spec))  # fmt: skip
    res = MDRunner(atoms, out, settings, progress=progress, integrity=monitor()).run(cfg["steps"])
    if res.resumed_from is not None:
        log.info("md: resumed from the checkpoint at step %d", res.resumed_from)
    res.plot(out / "thermo.png")
    thermo = np.loadtxt(out / "thermo.dat", ndmin=2)
    half = thermo[len(thermo) // 2 :]
    equil = None
    try:
        equil = analyse_equilibration(thermo, cfg["temperature_K"]).as_dict()
        equil["t0_frame"] = -(-equil["t0_step"] // cfg["traj_interval"])  # first frame at/after
    except ValueError as err:  # too short a run to say anything
        log.warning("md: no equilibration analysis: %s", err)
    structure = structure_check(out, (equil or {}).get("t0_frame", 0))
    for note in (structure or {}).get("notes", []):
        log.warning("md: %s", note)
    metal = metal_check(out, cfg["traj_interval"] * cfg["timestep_fs"])
    if metal and metal.get("note"):  # as the report's check: an atom left at any time
        log.warning("md: %s", metal["note"])
    wall = time.perf_counter() - t0
    done = cfg["steps"] - (res.resumed_from or 0)
    return {
        "n_atoms": len(atoms),
        "formula": atoms.get_chemical_formula(),
        "calculator": describe_calculator(spec),
        "steps": cfg["steps"],
        "timestep_fs": cfg["timestep_fs"],
        "hydrogen_mass_u": cfg["hydrogen_mass_u"] or None,
        "fixed_slab_atoms": fixed,
        "temperature_K": cfg["temperature_K"],
        "ensemble": cfg["ensemble"],
        "friction_per_fs": cfg["friction_per_fs"] if cfg["ensemble"] == "langevin" else None,
        "simulated_ps": cfg["steps"] * cfg["timestep_fs"] / 1000,
        "resumed_from": res.resumed_from,
        "mean_temperature_K_second_half": float(half[:, 4].mean()),
        "final_positions_sum_A": float(atoms.positions.sum()),
        "z_metal_top_A": z_top,
        "z_water_A": [z_lo, z_hi],
        "geometry": geometry,
        "upper_surface_A": upper,
        "metal": cfg["metal"],
        "frame_interval_fs": cfg["traj_interval"] * cfg["timestep_fs"],
        "steps_per_s": done / wall if wall > 0 else float("nan"),
        "wall_s": wall,
        "calculator_level": _level_of_theory(spec),
        "calculator_validation": _validation(spec),
        "calculator_round_trip": _validation(spec, "round_trip"),
        "preparation": prep.as_dict() if prep is not None else None,
        "integrity": res.integrity,
        "equilibration": equil,
        "structure": structure,
        "metal_layers": metal,
    }


def metal_check(md_dir: Path, frame_fs: float, max_frames: int = 400) -> dict | None:
    """Do the slab's atoms stay in their layers? The first of at most ``max_frames`` evenly
    spaced frames in which a metal atom (tag 1) has left them
    (:func:`multiscale.md.slab.loose_metal_atoms`: an adatom, or an atom leaving the
    metal) and which atoms, in the last frame. None without slab atoms.

    The integrity monitor checks the slab during the run too (and stops a "stop" run at the
    first such atom); this scan of the written frames also covers runs with the monitor off
    or flagging, and runs made before it watched the slab.
    """
    from ase.io import read
    from ase.io.trajectory import Trajectory

    from multiscale.md.slab import loose_metal_atoms, slab_indices

    path = Path(md_dir) / "trajectory.traj"
    with Trajectory(path) as traj:
        n = len(traj)
        metal = slab_indices(traj[0]) if n else np.array([], int)
    if metal.size == 0:
        return None
    stride = max(1, n // max_frames)
    first = None
    frames = read(path, f"::{stride}", parallel=False)
    for k, a in enumerate(frames):
        if loose_metal_atoms(a, metal):
            first = k * stride
            break
    last = loose_metal_atoms(read(path, -1, parallel=False), metal) if first is not None else []
    out: dict[str, Any] = {
        "n_frames_checked": len(frames),
        "stride": stride,
        "first_frame": first,
        "first_time_ps": None if first is None else first * frame_fs / 1000,
        "loose_atoms": [[i, round(d, 3)] for i, d in last],
    }
    if first is not None:
        out["note"] = (
            f"metal atom(s) {[i for i, _ in last] or '?'} left the slab's layers (first seen at "
            f"{out['first_time_ps']:.3g} ps, up to {max((d for _, d in last), default=0):.2g} Å "
            "out at the end): an adatom or an atom leaving the metal; the electrode is not the "
            "one built"
        )
    return out


def structure_check(md_dir: Path, start: int = 0, max_frames: int = 400) -> dict | None:
    """Water's tetrahedral order and ion pairing over the production frames, and whether
    they change between its halves (:class:`multiscale.md.structure.StructureDrift`).

    A liquid that keeps ordering or aggregating gives D and profiles that depend on the run's
    length; the md summary says so. ``start``: the first equilibrated frame; at most
    ``max_frames`` evenly spaced frames are read. None when the system holds fewer than 5
    oxygens (no water to speak of); ``{"error": ...}`` when the frames are too few.
    """
    from ase.io import read
    from ase.io.trajectory import Trajectory

    from multiscale.md.structure import StructureDrift

    path = Path(md_dir) / "trajectory.traj"
    with Trajectory(path) as traj:
        n = len(traj)
        if n == 0 or np.count_nonzero(traj[0].numbers == 8) < 5:
            return None
    start = min(max(int(start), 0), n - 1)
    stride = max(1, (n - start) // max_frames)
    frames = read(path, f"{start}::{stride}", parallel=False)
    try:
        ana = StructureDrift(frames, n_blocks=4).run()
    except ValueError as err:
        return {"error": str(err)}
    return {
        "first_frame": start,
        "stride": stride,
        "n_frames": len(frames),
        "blocks": ana.results.blocks,
        "halves": ana.results.halves,
        "notes": ana.verdict(),
    }


def _level_of_theory(spec: dict) -> str:
    """What the calculator's energies are (shipped models: their level string)."""
    model = str(spec.get("model", ""))
    if model.startswith("default:"):
        try:
            from multiscale.mlip.default_models import DEFAULT_MODELS

            return DEFAULT_MODELS[model.removeprefix("default:")][1]
        except (ImportError, KeyError):
            return "unknown (shipped model without a level of theory)"
    if model == "chgnet":
        return "CHGNet universal potential (trained on Materials Project PBE/PBE+U)"
    if model == "pyscf":
        return f"PySCF {spec.get('xc', 'pbe')}/{spec.get('basis', 'def2-svp')}"
    if model in ("lj", "emt"):
        return "none: a cheap stand-in potential for checks, not a model of water"
    return f"not known to the pipeline ({model})"


def _validation(spec: dict, what: str = "validation") -> str | None:
    """What a shipped model was measured to do (None for other calculators): its validation,
    or (``what="round_trip"``) the MD → continuum → MD round trip run with it."""
    model = str(spec.get("model", ""))
    if not model.startswith("default:"):
        return None
    from multiscale.mlip.default_models import MODEL_ROUND_TRIP, MODEL_VALIDATION

    table = MODEL_ROUND_TRIP if what == "round_trip" else MODEL_VALIDATION
    return table.get(model.removeprefix("default:"))


# ------------------------------------------------------------------------------ extract
def _reference_profile(cfg: dict) -> dict[str, Any] | None:
    """``extract.reference_profile`` read, with a label for the plot (its run's name)."""
    from continuum import TransportProfile
    from multiscale.extract.plotting import on_distance_axis

    from .config import resolve_reference_profile

    path = resolve_reference_profile(cfg["reference_profile"])
    if path is None:
        return None
    prof = TransportProfile.read(path)
    if not on_distance_axis(prof):
        raise ValueError(
            f"extract.reference_profile = {cfg['reference_profile']!r} is on the cell's z axis "
            "(written before profiles were put on the distance from the surface): recompute it "
            "with this version's extract stage"
        )
    from .profile_checks import run_caveats

    builtin = cfg["reference_profile"].startswith("builtin:")
    label = cfg["reference_profile"].removeprefix("builtin:") if builtin else path.parent.name
    return {
        "profile": prof, "label": label, "path": str(path), "not_converged": run_caveats(prof),
    }  # fmt: skip


def run_extract(
    cfg: dict,
    md: dict,
    md_dir: Path,
    out: Path,
    progress: bool = True,
    umbrella: dict | None = None,
    umbrella_dir: Path | None = None,
) -> dict:
    """c(z), D⊥(z), D∥(z), ρ(z) → φ(z) with error bars from the md trajectory.

    The frames before the production start are left out: with ``discard = "auto"`` the start
    detected in the md stage's ``thermo.dat`` (but at least ``discard_frames``), with
    ``discard = "frames"`` exactly ``discard_frames``.

    A species left out of free MD (it did not visit every bin) that the umbrella stage sampled
    (``umbrella``: its summary, ``umbrella_dir``: its folder) enters the profile from its
    umbrella result (:func:`multiscale.pipeline.umbrella_profile.merge_umbrella`).

    Writes ``profile.h5`` (:class:`continuum.TransportProfile`, SI) and ``profile.png``.
    """
    from multiscale.extract import UnvisitedBinsError, plot_transport_profile

    t0 = time.perf_counter()
    setup = extract_setup(cfg, md, md_dir)
    frames, z_range, surface_z = setup["frames"], setup["z_range"], setup["surface_z"]
    discard, how, capped, fine = setup["discard"], setup["how"], setup["capped"], setup["fine"]
    species = {n: (e["selection"], e["charge"]) for n, e in cfg["species"].items()}
    dropped: dict[str, str] = {}

    def drop(n: str, why: str) -> None:
        log.warning("extract: %s left out: %s", n, why)
        dropped[n] = why
        species.pop(n)

    # the umbrella stage has already put each ion alone through this extraction on this
    # trajectory to find the ones free MD leaves out (left_out_species): its verdict is reused
    # instead of extracting them again
    known = (umbrella or {}).get("left_out") or {}
    for n, (sel, _) in list(species.items()):
        if sel in known:
            drop(n, known[sel])

    def extract(sp: dict):
        return _extract_species(setup, cfg, md, sp, progress)

    while True:
        if not species:
            raise ValueError(
                "extract: no species has enough samples in every bin "
                f"({dropped}); run a longer md stage, use wider extract.bin_width_A or a larger "
                "extract.z_margin_A"
            )
        try:
            profile = extract(species)
            break
        except UnvisitedBinsError as err:
            # a species that did not visit every bin is left out (and reported), not fatal;
            # the message names no species, so with several each is tried alone
            if len(species) == 1:
                culprits = {next(iter(species)): err}
            else:
                culprits = {}
                for n in list(species):
                    try:
                        extract({n: species[n]})
                    except UnvisitedBinsError as e:
                        culprits[n] = e
                    except ValueError as e:
                        raise _extract_error(e) from e
                if not culprits:
                    raise
        except ValueError as err:
            raise _extract_error(err) from err
        for n, why in culprits.items():
            drop(n, _left_out_reason(why, surface_z))
    # φ(z), E(z) with the metal as a conductor (its induced charge on the image plane) in place
    # of the open-boundary integration of the electrolyte alone (issue #17 item 1)
    from multiscale.extract.profile_builder import conductor_electrostatics

    profile, electrostatics = conductor_electrostatics(
        profile, frames, cfg["ion_charges"], md_metal(frames[0]), cfg["water_model"]
    )
    if electrostatics["conductor_model"] != "applied":
        # no trustworthy φ(z): the open-boundary point-charge integration without the metal's
        # induced charge is an artefact (tens of volts in a small cell), so the profile carries
        # no potential at all and the continuum runs without one (it says so)
        import dataclasses

        log.warning("extract: %s; phi(z) and E(z) are not reported", electrostatics[
            "conductor_model"])  # fmt: skip
        profile = dataclasses.replace(
            profile, potential=None, field=None, potential_err=None, field_err=None
        )
    # ε⊥(z), ε∥(z) from polarization fluctuations (issue #17 item 3): only when the water is
    # intact (the gate of φ(z) above) and only if converged; otherwise the continuum uses bulk
    # water and the summary says why
    permittivity = _extract_permittivity(profile, frames, cfg, md, electrostatics, surface_z)
    profile = permittivity.pop("profile")
    # all profiles on the distance from the top metal layer (the lower one of a sandwich)
    import dataclasses

    from multiscale.extract.bulk import BulkRegion, detect_bulk, fine_density_profile

    metal = md_metal(frames[0])
    prov = dict(profile.provenance)
    prov.update(
        z_axis="distance from the top metal layer (m; sandwich: from the lower surface)",
        metal=metal, surface_z_cell_A=surface_z, upper_surface_A=md.get("upper_surface_A"),
        geometry=md.get("geometry", "film"),
    )  # fmt: skip
    if setup["fold"] is not None:
        prov["folded"] = {
            **setup["fold"],
            "note": "liquid heights h -> min(h, L - h): both interfaces averaged, the profile "
            "ends at the midplane (bulk); phi(z) from the unfolded frames",
        }
    profile = dataclasses.replace(profile, z=profile.z - surface_z * 1e-10, provenance=prov)
    umbrella_info: dict[str, Any] = {}
    if umbrella and umbrella.get("species"):
        # species left out of free MD, sampled by umbrella windows (issue #14 items 2 and 5)
        from .umbrella_profile import merge_umbrella

        water_md = None
        if cfg["umbrella_d_scaling"] == "water":  # the water's D∥ at the profile's own lags
            from .umbrella_profile import md_water_diffusion

            water_md = md_water_diffusion(
                setup["transport_frames"], np.asarray(cfg["lags"]) * md["frame_interval_fs"],
                md["frame_interval_fs"], cfg["n_blocks"],
            )  # fmt: skip

        profile, umbrella_info = merge_umbrella(
            profile, umbrella, umbrella_dir, dropped, cfg["bin_width_A"],
            max_concentration_mol_per_m3=1000.0 * cfg["max_ion_concentration_mol_per_L"],
            water_md=water_md,
        )  # fmt: skip
    profile.write(out / "profile.h5")
    reference = _reference_profile(cfg)
    fig = plot_transport_profile(
        profile, out / "profile.png",
        reference=None if reference is None else reference["profile"],
        reference_label="" if reference is None else reference["label"],
    )  # fmt: skip
    _plt().close(fig)
    # fine bins for structure (layering), separate from the transport bins
    fine_sel = {n: e["selection"] for n, e in cfg["species"].items()}
    if "O" not in fine_sel.values():
        fine_sel["water O"] = "O"
    z_fine = z_range[1] - surface_z
    if setup["fold"] is not None:  # to the midplane, in whole fine bins
        z_fine = np.floor(setup["fold"]["midplane_from_surface_A"] / fine + 1e-9) * fine
    fd = fine_density_profile(setup["transport_frames"], fine_sel, surface_z, bin_width=fine,
                              z_max=z_fine)  # fmt: skip
    if setup["fold"] is not None:  # both halves in one: each bin counted twice
        for table_ in (fd.number_density, fd.number_density_err, fd.concentration):
            for n in table_:
                table_[n] = 0.5 * table_[n]
    names = list(fd.concentration)
    header = "distance_from_surface_A," + ",".join(f"{n}_mol_per_L" for n in names)
    table = np.column_stack([fd.distance, *(fd.concentration[n] for n in names)])
    np.savetxt(out / "density_fine.csv", table, delimiter=",", header=header)
    o_name = next(n for n in names if fine_sel[n] == "O")
    zt = profile.z * 1e10
    half = 0.5 * float(np.mean(np.diff(zt))) if zt.size > 1 else cfg["bin_width_A"] / 2
    water_c = np.array([
        fd.concentration[o_name][(fd.distance >= a - half) & (fd.distance < a + half)].mean()
        for a in zt
    ])  # fmt: skip
    summary: dict[str, Any] = {
        "geometry": md.get("geometry", "film"),
        "surface_z_A": surface_z,
        "z_range_from_surface_A": [z_range[0] - surface_z, z_range[1] - surface_z],
        "fine_bin_width_A": fine,
        "n_frames": len(frames),
        # sandwich folded about its midplane (both interfaces in every bin), or None
        "fold": setup["fold"],
        "liquid_drift_removed": setup["drift"],
        "discarded_frames": discard,
        "discard": how,
        "discard_capped": capped,
        "z_range_A": list(z_range),
        "n_bins": int(profile.z.size),
        "dropped_species": dropped,
        "umbrella": umbrella_info,
        "reference_profile": (
            None
            if reference is None
            else {k: reference[k] for k in ("path", "label", "not_converged")}
        ),
        "species": {},
        "wall_s": 0.0,
    }
    nz = profile.z.size
    # the film's middle: a folded sandwich's profile ends there (its last third)
    mid = (
        slice(nz // 3, max(nz // 3 + 1, 2 * nz // 3))
        if setup["fold"] is None
        else slice(min(2 * nz // 3, nz - 1), nz)
    )
    for k, name in enumerate(profile.species):
        c = profile.concentration[k]
        dz = profile.diffusion[k]
        de = (
            profile.diffusion_err[k]
            if profile.diffusion_err is not None
            else np.full_like(dz, np.nan)
        )
        summary["species"][name] = {
            "charge": int(profile.charges[k]),
            "mean_c_mol_per_L": float(c.mean() / 1000),
            "max_c_mol_per_L": float(c.max() / 1000),
            "D_middle_1e-9_m2_per_s": float(dz[mid].mean() * 1e9),
            "D_middle_err_1e-9_m2_per_s": float(np.sqrt(np.mean(de[mid] ** 2)) * 1e9),
        }
        err = profile.concentration_err
        c_err = err[k] / 1000 if err is not None else np.full(c.size, np.nan)
        where = "middle" if setup["fold"] is None else "end"
        bulk = (
            detect_bulk(zt, c / 1000, c_err, water=water_c, start=where)
            if c.size >= 3
            else BulkRegion(False, f"{c.size} transport bins: too few to find a bulk region")
        )
        summary["species"][name]["bulk"] = bulk.as_dict()
        if bulk.found:
            summary["species"][name]["bulk"].update(_bulk_region_diffusion(profile, k, bulk))
        # D⊥ bins the trajectory cannot determine (issue #14 item 3) and the Chapman-Kolmogorov
        # test of the propagator model, from the profile's provenance
        summary["species"][name].update(_dperp_diagnostics(profile.provenance, name, mid))
        log.info("extract: %s: %s", name, bulk)
        if umbrella_info.get(name, {}).get("merged"):
            summary["species"][name]["source"] = "umbrella"
            summary["species"][name]["umbrella"] = umbrella_info[name]
            continue  # the free-MD self-checks below do not apply
        if profile.diffusion_parallel is not None:
            # a self-check: in the bulk-like middle of the film D⊥ and D∥ should agree, and
            # Hummer's bin-to-bin rates need a trajectory much longer than the time a molecule
            # takes to diffuse across one bin (bin² / 2D)
            d_par = float(profile.diffusion_parallel[k][mid].mean())
            bin_m = cfg["bin_width_A"] * 1e-10
            summary["species"][name].update(
                {
                    "D_parallel_middle_1e-9_m2_per_s": d_par * 1e9,
                    "bin_crossing_time_ps": bin_m**2 / (2 * d_par) * 1e12 if d_par > 0 else None,
                    "trajectory_ps": len(frames) * md["frame_interval_fs"] / 1000,
                }
            )
            sel = cfg["species"][name]["selection"]
            summary["species"][name]["lag_check"] = lag_check(setup, cfg, md, profile, k, sel)
    for name, ratio in _d_vs_water(profile, o_name).items():
        summary["species"][name]["D_vs_water"] = ratio
    if profile.potential is not None:
        summary["potential_drop_V"] = float(profile.potential[-1] - profile.potential[0])
        summary["potential_range_V"] = float(np.ptp(profile.potential))
    summary["electrostatics"] = electrostatics
    summary["permittivity"] = permittivity
    summary["finite_size"] = _finite_size(frames[0], md["temperature_K"], summary["species"])
    summary["finite_size"]["liquid_drift_removed"] = setup["drift"]
    if summary["geometry"] == "sandwich":
        from .slab_finite_size import slab_finite_size

        lags_fs = [lag * md["frame_interval_fs"] for lag in cfg["lags"]]
        summary["finite_size"]["slab"] = slab_finite_size(
            setup, md, profile, md["temperature_K"], mid, lags_fs
        )
    summary["wall_s"] = time.perf_counter() - t0
    return summary


def _d_vs_water(profile, water: str) -> dict[str, dict[str, Any]]:
    """Per ion, its largest D/D∥(water) over the bins (D⊥ and D∥ each) and the standard error
    of that ratio: a plausibility check (ions other than H3O+/OH- diffuse slower than water:
    at 25 °C Cl- 0.88, Na+ 0.58 of water's 2.30e-9 m²/s). ``water``: the name of the species
    selected by its O (as the fine density's); empty when the profile has no such neutral
    species (e.g. it was dropped) or no D∥."""
    if water not in profile.species or profile.diffusion_parallel is None:
        return {}
    w = profile.species.index(water)
    if profile.charges[w] != 0:
        return {}
    dw = profile.diffusion_parallel[w]
    dwe = profile.diffusion_parallel_err[w] if profile.diffusion_parallel_err is not None else 0
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(profile.species):
        if profile.charges[k] == 0:
            continue
        row: dict[str, Any] = {}
        for kind, d, de in (
            ("parallel", profile.diffusion_parallel[k], profile.diffusion_parallel_err),
            ("perp", profile.diffusion[k], profile.diffusion_err),
        ):
            e = de[k] if de is not None else np.zeros_like(d)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = d / dw
                re = r * np.hypot(e / d, dwe / dw)
            if not np.isfinite(r).any():
                continue
            i = int(np.nanargmax(r))
            row[kind] = {
                "max_ratio": float(r[i]), "max_ratio_err": float(re[i]),
                "z_A": float(profile.z[i] * 1e10),
            }  # fmt: skip
        out[name] = row
    return out


def extract_setup(cfg: dict, md: dict, md_dir: Path) -> dict[str, Any]:
    """The frames and transport z range of the extract stage (see :func:`run_extract`).

    Returns
    -------
    dict
        ``frames`` (after the discarded ones), ``discard`` (frames left out), ``how`` (why
        that many), ``capped`` (md equilibrated only in its second half), ``z_range`` (Å, cell
        z), ``surface_z`` (Å, top metal layer), ``fine`` (fine bin width, Å) and ``charges``
        (e per element, the metal neutral).
    """
    from ase.io import read

    discard, how = cfg["discard_frames"], "discard_frames"
    eq = md.get("equilibration")
    n_total = round(md["steps"] * md["timestep_fs"] / md["frame_interval_fs"]) + 1
    capped = False
    if cfg["discard"] == "auto":
        if eq is not None and eq.get("t0_frame") is not None:
            detected = int(eq["t0_frame"])
            if detected > n_total // 2 and detected > discard:
                # not equilibrated within the first half: use the second half, and say so
                detected, capped = n_total // 2, True
                log.warning(
                    "extract: md equilibrated only at frame %d of %d; using the second half, "
                    "which is not equilibrated either", eq["t0_frame"], n_total,
                )  # fmt: skip
            discard, how = max(discard, detected), "detected production start"
        else:
            log.warning("extract: the md stage has no equilibration analysis; leaving out "
                        "extract.discard_frames = %d frames", discard)  # fmt: skip
    # parallel=False: this runs on rank 0 only (ASE would otherwise broadcast to all ranks)
    frames = read(md_dir / "trajectory.traj", index=f"{discard}:", parallel=False)
    if len(frames) < 2 * max(cfg["lags"]):
        raise ValueError(
            f"extract: {len(frames)} frames after leaving out {discard} ({how}) are too "
            f"few for the lags {cfg['lags']}; run more md.steps, lower extract.lags, or set "
            'extract.discard = "frames" to choose the frames left out yourself'
        )
    z_lo, z_hi = md["z_water_A"]
    z_range = (z_lo + cfg["z_margin_A"], z_hi - cfg["z_margin_A"])
    surface_z = surface_height(frames)
    fine = cfg.get("fine_bin_width_A", 0.1)
    transport, fold, mid = frames, None, None
    if md.get("geometry") == "sandwich" and cfg.get("fold_sandwich", False):
        from multiscale.extract.sandwich import fold_sandwich

        # both interfaces in every bin; the folded liquid ends at the midplane (the bulk)
        folded = fold_sandwich(frames)
        transport, mid = folded.frames, folded.midplane_z
        fold = {
            "surface_separation_A": folded.separation,
            "surface_separation_std_A": folded.separation_std,
            "midplane_from_surface_A": mid - folded.surface_z,
        }
        z_range = (z_range[0], mid)
    drift = None
    if cfg.get("remove_liquid_drift", False):
        transport, drift = remove_liquid_drift(transport)
    if cfg.get("range_start", "film") == "surface":
        # from the surface on: the lowest (highest) liquid heavy atom seen, on the fine grid
        # (folded: up to the midplane, in whole bins)
        lo_seen, hi_seen = liquid_extent(transport)
        lo = surface_z + max(0.0, np.floor((lo_seen - surface_z) / fine) * fine)
        hi = mid if mid is not None else surface_z + np.ceil((hi_seen - surface_z) / fine) * fine
        n_bins = max(1, int(np.floor((hi - lo) / cfg["bin_width_A"] + 1e-9)))
        z_range = (float(lo), float(lo + n_bins * cfg["bin_width_A"]))
    return {
        "frames": frames, "transport_frames": transport, "fold": fold, "drift": drift,
        "discard": discard,
        "how": how, "capped": capped, "z_range": z_range, "surface_z": surface_z,
        "fine": fine, "charges": {**cfg["ion_charges"], md_metal(frames[0]): 0.0},
    }  # fmt: skip


def remove_liquid_drift(frames: list) -> tuple[list, dict[str, Any]]:
    """Copies of ``frames`` with the liquid's in-plane centre-of-mass displacement taken out of
    every liquid atom (the slab, tag 1, untouched), and how far that centre moved.

    The liquid of a periodic cell can slide over the metal as a whole (on this model's rigid
    Cu(111) with no measurable friction over tens of ps); that mode carries every molecule and
    its weight falls as 1/(liquid mass), so it is absent from an infinite film
    (docs/extract.md, slit finite size).
    """
    from multiscale.extract.slab_hydrodynamics import liquid_com_xy
    from multiscale.md.slab import slab_indices

    liquid = np.setdiff1d(np.arange(len(frames[0])), slab_indices(frames[0]))
    pos = np.array([a.positions[liquid] for a in frames])
    cells = np.array([np.asarray(a.cell) for a in frames])
    com = liquid_com_xy(pos, frames[0].get_masses()[liquid], cells)
    shift = com - com[0]
    out = []
    for a, d in zip(frames, shift, strict=True):
        b = a.copy()
        b.positions[liquid, :2] -= d
        out.append(b)
    return out, {
        "liquid_com_net_A": float(np.linalg.norm(shift[-1])),
        "liquid_com_max_A": float(np.linalg.norm(shift, axis=1).max()),
    }


def _extract_species(setup: dict, cfg: dict, md: dict, sp: dict, progress: bool):
    """The extract stage's profile of the species ``sp`` ({name: (selection, charge)})."""
    import dataclasses

    from multiscale.extract import extract_transport_profile

    profile = extract_transport_profile(
        setup["transport_frames"], sp, timestep=md["frame_interval_fs"],
        temperature=md["temperature_K"],
        bin_width=cfg["bin_width_A"], z_range=setup["z_range"], lags=tuple(cfg["lags"]),
        perp_lags=tuple(cfg.get("perp_lags") or ()) or None,
        n_blocks=cfg["n_blocks"], parallel=cfg["parallel"], charges=setup["charges"],
        water_model=cfg["water_model"], boundary="open", progress=progress,
        provenance={"md_calculator": md["calculator"], "md_steps": md["steps"]},
        bulk_diffusion=_bulk_diffusion(cfg["species"]),
    )  # fmt: skip
    if setup["fold"] is None:
        return profile
    # folded: every bin holds the molecules of both interfaces' bins, so the counts per bin
    # volume are twice the concentration (F = -RT ln(c/<c>) and the D's are unchanged)
    half = {
        k: 0.5 * getattr(profile, k)
        for k in ("concentration", "concentration_err")
        if getattr(profile, k) is not None
    }
    return dataclasses.replace(profile, **half)


def left_out_species(cfg: dict, md: dict, md_dir: Path, names: list[str]) -> dict[str, str]:
    """Which of the extract species ``names`` the extract stage leaves out, and why.

    Each is extracted alone from the md trajectory exactly as :func:`run_extract` does; one
    that did not visit every bin (:class:`multiscale.extract.UnvisitedBinsError`) is left out.
    Used by the umbrella stage to find the ions it must sample.
    """
    from multiscale.extract import UnvisitedBinsError

    setup = extract_setup(cfg, md, md_dir)
    out: dict[str, str] = {}
    for n in names:
        e = cfg["species"][n]
        try:
            _extract_species(setup, cfg, md, {n: (e["selection"], e["charge"])}, False)
        except UnvisitedBinsError as err:
            out[n] = _left_out_reason(err, setup["surface_z"])
        except ValueError as err:
            raise _extract_error(err) from err
    return out


def _left_out_reason(err: Exception, surface_z: float) -> str:
    """Why a species is left out, in pipeline keys and on the distance from the surface (the
    library's message names its own arguments, z_range and bin_width, on the cell's z)."""
    z = getattr(err, "z", np.array([]))
    if z.size == 0:
        return str(err)
    lag = f" (lag {err.lag} frames)" if getattr(err, "lag", None) is not None else ""
    return (
        f"bins at {np.round(z - surface_z, 2).tolist()} Å from the surface{lag} were never "
        "visited in free MD: extract.z_margin_A, a wider extract.bin_width_A, a longer md "
        "stage, or umbrella sampling ([umbrella] enabled = true)"
    )


def _extract_permittivity(
    profile, frames, cfg: dict, md: dict, electrostatics: dict, surface_z: float
) -> dict[str, Any]:
    """ε(z) of the extract stage: the summary, with the profile (carrying ε⊥, ε∥ only when
    they pass the gate of :func:`multiscale.extract.profile_builder.dielectric_permittivity`)
    under ``"profile"``."""
    from multiscale.extract.profile_builder import dielectric_permittivity

    from .electrochem import bulk_water_permittivity

    value, ref = bulk_water_permittivity(md["temperature_K"])
    bulk = {"bulk_value": value, "bulk_source": f"water, {ref}"}
    if electrostatics["conductor_model"] != "applied":
        why = (
            "not computed: the fixed-charge water model cannot describe the trajectory (the "
            f"gate that withholds phi(z): {electrostatics['conductor_model']})"
        )
        log.warning("extract: epsilon(z) %s", why)
        return {"status": "withheld", "why": why, **bulk, "profile": _why_no_eps(profile, why)}
    # the water's response only: the continuum's Poisson equation has the ions as its space
    # charge (and an ion's "dipole" q·r depends on the origin in a periodic cell)
    charges = {el: 0.0 for el in [*cfg["ion_charges"], md_metal(frames[0])]}
    new, summary = dielectric_permittivity(
        profile, frames, charges, cfg["water_model"], n_blocks=cfg["n_blocks"],
        max_rel_err=cfg["permittivity_max_rel_err"], bin_width=cfg["bin_width_A"],
    )  # fmt: skip
    if "z_cell_A" in summary:
        summary["z_from_surface_A"] = [z - surface_z for z in summary.pop("z_cell_A")]
    if summary["status"] != "accepted":
        log.warning("extract: epsilon(z) withheld: %s", summary["why"])
        new = _why_no_eps(new, summary["why"])
    return {**summary, **bulk, "profile": new}


def _why_no_eps(profile, why: str):
    """The profile with its provenance saying why it carries no ε(z) (for the continuum)."""
    import dataclasses

    prov = {**profile.provenance, "permittivity": {"status": "withheld", "why": why}}
    return dataclasses.replace(profile, provenance=prov)


def _bulk_diffusion(species: dict) -> dict[str, float]:
    """Tabulated bulk D at 25 °C (m²/s) of the species that have one (water: also a species
    selected as "O"): the last fallback for a D⊥ converged nowhere (no D∥ either)."""
    from .electrochem import DIFFUSION_25C

    out = {}
    for name, e in species.items():
        if name in DIFFUSION_25C:
            out[name] = DIFFUSION_25C[name][0]
        elif e.get("selection") == "O":
            out[name] = DIFFUSION_25C["H2O"][0]
    return out


#: D∥ at LAG_FACTOR x the lags against D∥ at the lags: below this ratio (by two standard
#: errors) the MSD is not yet linear at the lags (sub-diffusive: caged or aging liquid)
LAG_FACTOR = 4
LAG_RATIO_MIN = 0.85


def lag_check(setup: dict, cfg: dict, md: dict, profile, k: int, selection) -> dict[str, Any]:
    """Is D∥ of species ``k`` the long-time D? Its survival-conditioned MSD slope at
    ``LAG_FACTOR`` times the extract lags against the profile's, over the bins where both are
    defined.

    In a liquid whose in-plane MSD is still sub-linear at the lags (the cage or the ballistic
    regime not yet left, or slow aging) D∥ falls with the lag and the profile's D∥ is an upper
    bound of the transport coefficient the continuum needs. Returns the long-lag D∥ per bin
    (1e-9 m²/s), the error-weighted mean ratio long/short ± its error and a verdict:
    "diffusive" (ratio ≥ LAG_RATIO_MIN), "sub-diffusive" (below it by more than two errors)
    or "undetermined" (below it within two errors, or too few frames or survivors at the long
    lags).
    """
    from multiscale.extract import ParallelDiffusionProfile

    long = [int(LAG_FACTOR * lag) for lag in cfg["lags"]]
    out: dict[str, Any] = {"lags_frames": list(cfg["lags"]), "long_lags_frames": long}
    if profile.diffusion_parallel is None or profile.diffusion_parallel_err is None:
        return out | {"verdict": "undetermined", "why": "no D∥ in the profile"}
    try:
        par = ParallelDiffusionProfile(
            setup["transport_frames"], selection, md["frame_interval_fs"],
            bin_width=cfg["bin_width_A"], z_range=setup["z_range"], lags=long,
            n_blocks=cfg["n_blocks"],
        ).run()  # fmt: skip
    except ValueError as err:
        return out | {"verdict": "undetermined", "why": str(err)}
    d_long = par.results.D * 1e-5  # Å²/fs -> m²/s
    e_long = par.results.D_err * 1e-5
    d, e = profile.diffusion_parallel[k], profile.diffusion_parallel_err[k]
    if d_long.size != d.size:
        return out | {"verdict": "undetermined", "why": "the long-lag bins differ"}
    ok = np.isfinite(d_long) & np.isfinite(e_long) & np.isfinite(d) & np.isfinite(e) & (d > 0)
    ok &= (e > 0) & (e_long > 0)
    out["D_parallel_long_1e-9_m2_per_s"] = [None if not np.isfinite(x) else x * 1e9 for x in d_long]
    if not ok.any():
        return out | {"verdict": "undetermined", "why": "too few survivors at the long lags"}
    r = d_long[ok] / d[ok]
    r_err = r * np.sqrt((e_long[ok] / d_long[ok]) ** 2 + (e[ok] / d[ok]) ** 2)
    w = 1.0 / r_err**2
    ratio = float((w * r).sum() / w.sum())
    ratio_err = float((w * r_err).sum() / w.sum())  # not / sqrt(n): one trajectory
    if ratio + 2 * ratio_err < LAG_RATIO_MIN:
        verdict = "sub-diffusive"
    elif ratio >= LAG_RATIO_MIN:
        verdict = "diffusive"
    else:
        verdict = "undetermined"
    return out | {"ratio": ratio, "ratio_err": ratio_err, "bins": int(ok.sum()),
                  "verdict": verdict}  # fmt: skip


def _bulk_region_diffusion(profile, k: int, bulk) -> dict[str, Any]:
    """D∥ and D⊥ of species ``k`` in its bulk region (1e-9 m²/s): inverse-variance means over
    the region's bins, D⊥ over the bins where it is determined only (a fallback value is no
    measurement). The error is the same weighted mean of the bins' errors, not divided by √n:
    neighbouring bins are estimated from one trajectory and are not independent. For
    comparison with the same model's bulk box (issue #14)."""
    lo, hi = bulk.indices
    out: dict[str, Any] = {}
    name = profile.species[k]
    det = profile.provenance.get("diffusion_perp_settings", {}).get(name, {}).get("determined")
    for key, values, errors, use in (
        ("D_parallel", profile.diffusion_parallel, profile.diffusion_parallel_err, None),
        ("D_perp", profile.diffusion, profile.diffusion_err, det),
    ):
        if values is None or errors is None:
            continue
        d, e = values[k][lo:hi], errors[k][lo:hi]
        ok = np.isfinite(d) & np.isfinite(e) & (e > 0)
        if use is not None:
            ok &= np.asarray(use, dtype=bool)[lo:hi]
        out[f"{key}_bins"] = int(ok.sum())
        if not ok.any():
            continue
        w = 1.0 / e[ok] ** 2
        out[f"{key}_1e-9_m2_per_s"] = float((w * d[ok]).sum() / w.sum() * 1e9)
        out[f"{key}_err_1e-9_m2_per_s"] = float((w * e[ok]).sum() / w.sum() * 1e9)
    return out


def _dperp_diagnostics(prov: dict, name: str, mid: slice) -> dict[str, Any]:
    """Summary keys: where D⊥ of ``name`` is not determined (and why), and the
    Chapman-Kolmogorov test, read from the profile's provenance."""
    p = prov.get("diffusion_perp_settings", {}).get(name, {})
    det = p.get("determined")
    if det is None:
        return {}
    det = np.asarray(det, dtype=bool)
    status = np.asarray(p.get("interface_status") or [], dtype=str)
    bad_if = status != "ok"
    n_cross = np.asarray(p.get("n_crossings") or [], dtype=float)
    t_cross = np.array([np.inf if t is None else t for t in p.get("crossing_time_fs") or []])
    out: dict[str, Any] = {
        "D_perp_determined_bins": int(det.sum()),
        "D_perp_bins": int(det.size),
        "D_perp_determined_middle": bool(det[mid].all()),
        "D_perp_fallback": p.get("fallback"),
        "D_perp_min_crossings": p.get("min_crossings"),
        "D_perp_min_time_ratio": p.get("min_time_ratio"),
        "D_perp_trajectory_ps": (p["trajectory_fs"] / 1000) if p.get("trajectory_fs") else None,
        "chapman_kolmogorov": p.get("chapman_kolmogorov"),
    }
    if bad_if.any() and n_cross.size == status.size and t_cross.size == status.size:
        worst = float(np.max(t_cross[bad_if]))
        out.update(
            D_perp_undetermined_min_crossings=int(np.min(n_cross[bad_if])),
            D_perp_undetermined_max_crossing_time_ps=worst / 1000 if np.isfinite(worst) else None,
        )
    return out


def _finite_size(atoms, temperature_K: float, species: dict) -> dict[str, Any]:
    """Yeh-Hummer correction of the isotropic middle D, applied only to a cubic periodic box.

    The interface geometries of the md stage are slabs, for which the 3D correction does not
    hold; the summary then says so (a sandwich's slit correction is estimated separately,
    :mod:`multiscale.pipeline.slab_finite_size`)."""
    from multiscale.md.validation import WATER_VISCOSITY_298K, yeh_hummer_corrected

    cell = atoms.cell.lengths().tolist()
    try:
        yeh_hummer_corrected(0.0, atoms, temperature_K, WATER_VISCOSITY_298K)
    except ValueError as err:
        return {
            "yeh_hummer": "not applied",
            "cell_A": cell,
            "pbc": [bool(x) for x in atoms.pbc],
            "why": str(err),
        }
    out: dict[str, Any] = {
        "yeh_hummer": "applied",
        "cell_A": cell,
        "viscosity_Pa_s": WATER_VISCOSITY_298K,
        "species": {},
    }
    for name, s in species.items():
        d_perp, d_par = s.get("D_middle_1e-9_m2_per_s"), s.get("D_parallel_middle_1e-9_m2_per_s")
        if d_perp is None:
            continue
        d = d_perp if d_par is None else (d_perp + 2 * d_par) / 3
        d_inf, corr, _ = yeh_hummer_corrected(d * 1e-9, atoms, temperature_K, WATER_VISCOSITY_298K)
        out["species"][name] = {
            "D_pbc_1e-9_m2_per_s": d,
            "D_infinite_1e-9_m2_per_s": d_inf * 1e9,
            "correction_1e-9_m2_per_s": corr * 1e9,
        }
    return out


def surface_height(frames) -> float:
    """Mean height (Å, cell z) of the top metal layer (tag 1 atoms within 1 Å of the top)."""
    zs = []
    for a in frames:
        z = a.positions[a.get_tags() == 1, 2]
        if z.size:
            zs.append(z[z > z.max() - 1.0].mean())
    return float(np.mean(zs)) if zs else 0.0


def liquid_extent(frames) -> tuple[float, float]:
    """Lowest and highest z (Å, wrapped into the cell) of liquid heavy atoms (tag 0, not H)."""
    lo, hi = np.inf, -np.inf
    for a in frames:
        keep = (a.get_tags() == 0) & (a.numbers != 1)
        z = a.positions[keep, 2]
        if a.pbc[2]:
            z = np.mod(z, a.cell[2, 2])
        if z.size:
            lo, hi = min(lo, float(z.min())), max(hi, float(z.max()))
    return lo, hi


def _extract_error(err: ValueError) -> ValueError:
    """An extraction error that is the run's problem (too few frames for the lags, bad
    frames), not one species' sampling: said with the pipeline keys to change."""
    return ValueError(
        f"extract: {err} (pipeline keys: extract.lags, extract.n_blocks, "
        "extract.discard / discard_frames, md.steps, md.traj_interval)"
    )


def md_metal(atoms) -> str:
    """Element of the slab atoms (tag 1) of an interface frame."""
    tags = atoms.get_tags()
    syms = [s for s, t in zip(atoms.get_chemical_symbols(), tags, strict=True) if t == 1]
    return syms[0] if syms else "Cu"


# ---------------------------------------------------------------------------- continuum
#: the continuum summary's profile source when no continuum.profile is given
EXTRACT_PROFILE = "the extract stage"


def run_continuum(cfg: dict, profile_path: Path | None, out: Path, comm=None) -> dict:
    """Nernst–Planck solves on ``comm``: the profile-fed 1D problem and the 2D pit (fed by the
    profile where MD gives its inputs), and the diffuse layer against Gouy–Chapman."""
    from .continuum_adapter import solve_pit, solve_profile_1d

    t0 = time.perf_counter()
    summary: dict[str, Any] = {}
    if profile_path is not None:
        summary["profile"] = {
            "path": str(profile_path),
            "source": cfg["profile"] or EXTRACT_PROFILE,  # e.g. "builtin:production"
        }
        if cfg["profile"]:  # another run's profile: what its run flagged comes with it
            from continuum import TransportProfile

            from .profile_checks import run_caveats

            summary["profile"]["not_converged"] = run_caveats(TransportProfile.read(profile_path))
    if cfg["profile_1d"]:
        if profile_path is None:
            raise ValueError(
                "continuum.profile_1d needs a TransportProfile: run the extract stage or set "
                "continuum.profile to an HDF5 file"
            )
        summary["profile_1d"] = solve_profile_1d(cfg, profile_path, out, comm)
    if cfg["pit"]:
        summary["pit"] = solve_pit(cfg, out, comm, profile_path=profile_path)
    if profile_path is not None:
        # the diffuse layer against Gouy–Chapman (report section "Electrochemistry")
        from continuum import TransportProfile

        from .electrochem import double_layer

        summary["double_layer"] = double_layer(TransportProfile.read(profile_path))
    summary["wall_s"] = time.perf_counter() - t0
    return summary
