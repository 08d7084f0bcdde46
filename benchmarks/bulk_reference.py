"""The same model's bulk-box diffusion at a pipeline run's conditions (issue #14, judged item).

The production profile's bulk region (the flat middle of the sandwich) must give D of water and
of the ions within 30 % of the same model in a bulk box. This script runs that bulk box with the
md settings of a pipeline configuration (default: the built-in ``production``): its salt and
concentration, temperature, thermostat, time step, hydrogen mass and calculator, in a cubic
periodic box (``build_electrolyte``), prepared as the pipeline prepares (rigid-water FIRE,
heating), then free MD with the integrity policy of the configuration.

``run``
    Restartable (MDRunner checkpoints; rerun the same command, a larger ``--ps`` extends).
    ``--concentration`` (mol/L of water; 0: pure water), ``--density`` (g/cm³) and
    ``--temperature`` (K) set the box apart from the configuration, e.g. at the concentration a
    run's bulk region holds, or to scan the model's liquid range.
``analyse``
    D of H2O (O), Na⁺, Cl⁻ from the MSD (generalised least squares, ``self_diffusion``):
    D_PBC of this box and the Yeh–Hummer estimate of the infinite box (with water's
    experimental viscosity: the model's own viscosity is not computed, so the correction is
    approximate); errors are the larger of the fit's and the spread over 4 time blocks, and the
    blocks show whether D is stationary. Writes ``OUT/bulk_reference.json`` and a section of
    ``benchmarks/results/bulk_reference.md``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bulk_reference.py run --out runs/bulk_ref --ps 100
    python benchmarks/bulk_reference.py analyse --out runs/bulk_ref
    python benchmarks/bulk_reference.py compare --out runs/bulk_ref --run runs/production

``compare``
    The bulk-region D of a pipeline run (the extract summary: D∥ in the region where the
    species' c(z) is flat) against this box, with the 30 % criterion of issue #14 decided
    within two combined standard errors. The box's value is, where it can be computed, the
    run's own estimator applied to the box (survival-conditioned in-plane MSD in slabs of the
    run's bin width at the run's lags: that estimator reads low in a dynamically
    heterogeneous liquid, in the film as in the box), else the box's in-plane MSD slope at
    the run's lags, else its D_PBC.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "bulk_reference.md"
#: ``run``'s defaults: waters in the box and their density (g/cm³)
N_WATER, DENSITY = 128, 0.997


def _md_section(config: str) -> dict:
    from multiscale.pipeline.config import builtin_config, load_config

    path = Path(config)
    if path.is_file():
        return load_config(path)["md"]
    import tomllib

    return load_config(tomllib.loads(builtin_config(config)))["md"]


def run(args) -> None:
    from multiscale.md.builders import build_electrolyte
    from multiscale.md.equilibration import prepare_md
    from multiscale.md.hmr import repartition_hydrogen_masses
    from multiscale.md.runner import MDRunner, MDSettings
    from multiscale.pipeline.calculators import make_calculator
    from multiscale.pipeline.state import atomic_write_text

    t0 = time.perf_counter()
    md = _md_section(args.config)
    if args.concentration is not None:  # e.g. the concentration a run's bulk region holds
        md["concentration_mol_per_L"] = args.concentration
    if args.temperature is not None:  # e.g. a scan of the model's liquid range
        md["temperature_K"] = args.temperature
    atoms = build_electrolyte(
        md["salt"], concentration=md["concentration_mol_per_L"], n_water=args.n_water,
        density=args.density, seed=args.seed,
    )  # fmt: skip
    if md["hydrogen_mass_u"] > 0:
        repartition_hydrogen_masses(atoms, md["hydrogen_mass_u"])
    atoms.calc = make_calculator(md["calculator"], "md.calculator")[0]
    settings = MDSettings(
        timestep_fs=md["timestep_fs"], ensemble=md["ensemble"],
        temperature_K=md["temperature_K"], friction_per_fs=md["friction_per_fs"],
        seed=args.seed, traj_interval=md["traj_interval"],
        checkpoint_interval=md["checkpoint_interval"], initial_temperature_K=None,
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / "bulk.json"
    if previous.exists():  # resuming: the box must be the one the checkpoints hold
        old = json.loads(previous.read_text())
        new = {"n_water": args.n_water, "n_salt": atoms.info.get("n_salt"),
               "formula": atoms.get_chemical_formula(),
               "temperature_K": md["temperature_K"]}  # fmt: skip
        if any(old.get(k) != v for k, v in new.items()):
            raise SystemExit(
                f"{args.out} holds a different box ({old.get('formula')}, {old.get('n_water')} "
                f"waters); use another --out for {new['formula']}"
            )

    def describe(status: str) -> dict:
        return {
            "config": args.config, "calculator": md["calculator"], "salt": md["salt"],
            "concentration_mol_per_L": md["concentration_mol_per_L"],
            "n_salt": atoms.info.get("n_salt"), "n_water": args.n_water,
            "water_density_g_per_cm3": args.density,
            "temperature_K": md["temperature_K"], "ensemble": md["ensemble"],
            "timestep_fs": md["timestep_fs"], "hydrogen_mass_u": md["hydrogen_mass_u"],
            "frame_fs": md["timestep_fs"] * md["traj_interval"], "n_atoms": len(atoms),
            "formula": atoms.get_chemical_formula(), "cell_A": atoms.cell.lengths().tolist(),
            "ps": args.ps, "status": status, "wall_s_this_call": time.perf_counter() - t0,
        }  # fmt: skip

    # written before the MD too, so that a run stopped part-way can be analysed
    atomic_write_text(args.out / "bulk.json", json.dumps(describe("running"), indent=1))
    prepare_md(atoms, args.out / "prepare", settings, heat_ps=md["heat_ps"], progress=False)
    runner = MDRunner(atoms, args.out / "production", settings, progress=True,
                      integrity=md["integrity"])  # fmt: skip
    runner.run(round(args.ps * 1000 / md["timestep_fs"]))
    info = describe("done")
    atomic_write_text(args.out / "bulk.json", json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))


def analyse(args) -> None:
    from validation_table import bulk_numbers, stationarity_note

    from multiscale.pipeline.state import atomic_write_text

    info = json.loads((args.out / "bulk.json").read_text())
    skip = _skip_frames(info, args.from_ps)
    nums = bulk_numbers(args.out, frame_fs=info["frame_fs"], temperature_K=info["temperature_K"],
                        skip=skip)  # fmt: skip
    if info.get("status") != "done":
        print(f"note: the run in {args.out} has not finished ({info['ps']:g} ps asked for); "
              f"analysing the {nums['ps']:.1f} ps written so far")  # fmt: skip
    result = {"run": info, "numbers": nums, "from_ps": args.from_ps}
    atomic_write_text(args.out / "bulk_reference.json", json.dumps(result, indent=1))
    lines = [
        f"## {info['formula']}, {info['temperature_K']:g} K ({info['config']} md settings "
        f"otherwise), {nums['ps']:.1f} ps analysed"
        + (f" (from {args.from_ps:g} ps on)" if args.from_ps else ""),
        "",
        f"Command: `python benchmarks/bulk_reference.py run --out {args.out} --ps {info['ps']:g}"
        f"{_box_flags(info)}` then `analyse"
        + (f" --from-ps {args.from_ps:g}" if args.from_ps else "")
        + f"`. {info['n_water']} waters and {info['n_salt']} "
        f"{info['salt']} "
        f"({info['concentration_mol_per_L']:g} mol/L of water), cubic box "
        f"{info['cell_A'][0]:.2f} Å, {info['ensemble']} {info['temperature_K']:g} K, "
        f"{info['timestep_fs']:g} fs, H mass {info['hydrogen_mass_u']:g} u, "
        f"model {info['calculator'].get('model')} ({info['calculator'].get('dtype', '')}).",
        "",
        "| species | D_PBC (1e-9 m²/s) | D, Yeh–Hummer (1e-9 m²/s) | D_PBC of 4 time blocks |",
        "|---|---:|---:|---|",
    ]
    for name in ("H2O", "Na+", "Cl-"):
        d = nums.get(f"D_{name}")
        if not isinstance(d, list | tuple):
            lines.append(f"| {name} | {d} | | |")
            continue
        values = nums[f"D_{name}_errors"]["block_values"]
        blocks = ", ".join(f"{b * 1e9:.2f}" for b in values) + stationarity_note(values)
        lines.append(
            f"| {name} | {d[2] * 1e9:.2f} ± {d[1] * 1e9:.2f} | {d[0] * 1e9:.2f} ± "
            f"{d[1] * 1e9:.2f} | {blocks} |"
        )
    r, h = nums.get("goo_r"), nums.get("goo_h")
    if r is not None and h is not None:
        lines += ["", f"g_OO first peak: {r[0]:.2f} ± {r[1]:.2f} Å, height {h[0]:.2f} ± "
                  f"{h[1]:.2f} (experiment 2.80 Å, 2.57: Skinner et al. 2013)"]  # fmt: skip
    lines.append("")
    lines += structure_lines(args.out, info, skip=skip)
    text = "\n".join(lines)
    head = "# Bulk-box diffusion of the interface model (`benchmarks/bulk_reference.py`)\n\n"
    old = RESULTS.read_text() if RESULTS.exists() else head
    RESULTS.write_text(old.rstrip() + "\n\n" + text if old.strip() else head + text)
    print(text)


def _box_flags(info: dict) -> str:
    """The run options that set a box apart from its configuration (as given to ``run``)."""
    flags = ""
    md = _md_section(info["config"])
    if info["concentration_mol_per_L"] != md["concentration_mol_per_L"]:
        flags += f" --concentration {info['concentration_mol_per_L']:g}"
    if info["temperature_K"] != md["temperature_K"]:
        flags += f" --temperature {info['temperature_K']:g}"
    if info.get("water_density_g_per_cm3", DENSITY) != DENSITY:
        flags += f" --density {info['water_density_g_per_cm3']:g}"
    if info["n_water"] != N_WATER:
        flags += f" --n-water {info['n_water']}"
    return flags


def _skip_frames(info: dict, from_ps: float | None) -> int | None:
    """Frames left out at the start for ``analyse --from-ps`` (None: the default 10 %)."""
    if not from_ps:
        return None
    if from_ps < 0:
        raise SystemExit(f"--from-ps must be >= 0 ps, got {from_ps:g}")
    return round(from_ps * 1000.0 / info["frame_fs"])


def _production_frames(out: Path, skip: int | None = None) -> tuple[list, int]:
    """The box's production frames used by the analyses (as ``bulk_numbers``: from frame
    ``skip``, by default the first 10 % left out) and how many were left out."""
    import ase.io

    frames = ase.io.read(out / "production" / "trajectory.traj", index=":")
    n0 = len(frames) // 10 if skip is None else skip
    if n0 >= len(frames) - 10:
        raise SystemExit(
            f"{out}: {len(frames)} frames, {n0} of them left out: too few to analyse; lower "
            "--from-ps"
        )
    return frames[n0:], n0


def structure_lines(
    out: Path, info: dict, n_blocks: int = 4, max_frames: int = 400, skip: int | None = None
) -> list[str]:
    """Markdown lines: E_pot, water's tetrahedral order and ion pairing per time block.

    Tells a D that falls from block to block apart: still relaxing (E_pot falling), water
    ordering (q rising), or ions aggregating (contacts and cluster size rising). The frames
    are those of the D analysis (the first 10 % dropped), at most ``max_frames`` of them.
    """
    import numpy as np

    from multiscale.md.structure import StructureDrift

    frames, n0 = _production_frames(out, skip)
    stride = max(1, len(frames) // max_frames)
    ana = StructureDrift(frames[::stride], n_blocks=n_blocks,
                         timestep=info["frame_fs"] * stride).run()  # fmt: skip
    thermo = np.loadtxt(out / "production" / "thermo.dat", comments="#", ndmin=2)
    t_ps = thermo[:, 1] / 1000.0
    first_ps = n0 * info["frame_fs"] / 1000.0  # stored frame k is at k * frame_fs
    lines = [
        f"Structure per time block ({ana.n_frames} frames of the same span; "
        "`multiscale.md.structure.StructureDrift`): E_pot per water (meV, relative to the "
        "first block), water's mean tetrahedral order q (Errington–Debenedetti; liquid water "
        "≈ 0.6–0.7, ice ≈ 0.9–1) and its ice-like fraction (q > 0.9), Na–Cl contacts "
        "(< 3.5 Å) and the largest Na–Cl cluster (ions).",
        "",
        "| block (ps) | ΔE_pot (meV/H2O) | q mean | q > 0.9 | Na–Cl contacts | largest cluster |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    e_ref = None
    for b in ana.results.blocks:
        lo, hi = first_ps + b["ps"][0], first_ps + b["ps"][1]
        sel = (t_ps >= lo) & (t_ps < hi)
        e = thermo[sel, 2].mean() if sel.any() else float("nan")
        e_ref = e if e_ref is None else e_ref
        de = (e - e_ref) / info["n_water"] * 1000.0
        pairs, cluster = b.get("contacts", float("nan")), b.get("largest_cluster", float("nan"))
        lines.append(
            f"| {lo:.0f}–{hi:.0f} | {de:+.1f} | {b['q_mean']:.3f} | {b['q_high_fraction']:.3f} "
            f"| {pairs:.1f} | {cluster:.1f} |"
        )
    lines.append("")
    return lines


def conditions(box: dict, summary: dict) -> str:
    """One line: the box's salt concentration next to what the run's bulk region holds.

    A like-for-like reference has the bulk region's concentration; a box at the nominal
    concentration is not one when the ions sit elsewhere (adsorbed, or too slow to spread).
    """
    parts = []
    for name, s in summary["species"].items():
        b = s.get("bulk") or {}
        if b.get("found") and b.get("concentration_mol_per_L") is not None:
            parts.append(f"{name} {b['concentration_mol_per_L']:.3g} ± "
                         f"{b.get('concentration_err_mol_per_L') or 0:.2g} mol/L")  # fmt: skip
        else:
            parts.append(f"{name} not found ({b.get('reason', 'no bulk region')})")
    return (
        f"Conditions: the box holds {box.get('n_salt')} {box.get('salt')} in "
        f"{box.get('n_water')} waters ({box.get('concentration_mol_per_L'):g} mol/L of water); "
        f"the run's bulk region: {'; '.join(parts)}. A verdict means something only where "
        "these agree."
    )


#: the judged tolerance of issue #14: bulk-region D within 30 % of the bulk box
TOLERANCE = 0.30


def _analysed_box(out: Path) -> tuple[dict, list]:
    """The box's ``bulk.json`` and the production frames of the window its ``analyse`` used
    (``--from-ps``, stored in ``bulk_reference.json``; else the default 10 % left out)."""
    info = json.loads((out / "bulk.json").read_text())
    ref = out / "bulk_reference.json"
    from_ps = json.loads(ref.read_text()).get("from_ps") if ref.exists() else None
    frames, _ = _production_frames(out, _skip_frames(info, from_ps))
    return info, frames


def _lag_frames(lag_fs: list[float], frame_fs: float):
    """Lag times (fs) as distinct whole numbers of frames, at least 1."""
    import numpy as np

    return np.unique(np.maximum(1, np.round(np.asarray(lag_fs) / frame_fs).astype(int)))


def box_d_at_lags(
    out: Path, lag_fs: list[float], n_blocks: int = 4, box: tuple[dict, list] | None = None
) -> dict[str, tuple]:
    """D of each species of the box from the in-plane MSD slope between the given lag times
    (fs), as the extract stage's D∥ (there conditioned on staying in a bin; in a bulk box every
    particle "stays"): (D, error from ``n_blocks`` time blocks), m²/s.

    The like-for-like reference of a profile's D∥ in a liquid whose MSD is not yet linear at
    the lags: both slopes then come from the same time window. ``box``: ``(bulk.json,
    frames)`` already read by :func:`_analysed_box` (read from ``out`` when None).
    """
    import numpy as np

    info, frames = box if box is not None else _analysed_box(out)
    lags = _lag_frames(lag_fs, info["frame_fs"])
    pos = np.array([a.positions for a in frames])  # unwrapped (the runner never wraps)
    syms = np.array(frames[0].get_chemical_symbols())
    result = {}
    for name, sym in (("H2O", "O"), ("Na+", "Na"), ("Cl-", "Cl")):
        xy = pos[:, syms == sym, :2]
        if xy.shape[1] == 0:
            continue

        def slope(p):
            t = lags * info["frame_fs"]
            m = np.array([np.mean(np.sum((p[lag:] - p[:-lag]) ** 2, axis=-1)) for lag in lags])
            return np.polyfit(t, m, 1)[0] / 4.0 * 1e-5  # Å²/fs -> m²/s

        if len(xy) <= 2 * lags.max() * n_blocks:
            continue
        d = slope(xy)
        blocks = [slope(b) for b in np.array_split(xy, n_blocks)]
        result[name] = (d, float(np.std(blocks, ddof=1) / np.sqrt(n_blocks)))
    return result


def box_d_conditioned(
    out: Path,
    lag_fs: list[float],
    bin_width: float,
    n_blocks: int = 4,
    box: tuple[dict, list] | None = None,
) -> dict[str, tuple]:
    """D∥ of each species of the box by the run's own estimator: the survival-conditioned
    in-plane MSD (:class:`multiscale.extract.ParallelDiffusionProfile`) in slabs of
    ``bin_width`` Å across the box, at the run's lag times (fs), averaged over the slabs:
    (D, error), m²/s.

    In a layered or dynamically heterogeneous liquid the molecules that stay in a slab for a
    whole lag are the slower ones, so the conditioned D∥ is below the whole-box value even in
    the bulk; comparing a film's bulk-region D∥ with the box through the same estimator
    cancels that bias. z is wrapped into the box (a molecule that crosses the periodic
    boundary leaves its slab, as it would cross a plane); x, y stay unwrapped. ``box``: as
    for :func:`box_d_at_lags` (its frames are not changed).
    """
    import numpy as np

    from multiscale.extract import ParallelDiffusionProfile

    info, frames = box if box is not None else _analysed_box(out)
    lz = float(frames[0].cell[2, 2])
    frames = [a.copy() for a in frames]
    for a in frames:
        a.positions[:, 2] %= lz
    lags = _lag_frames(lag_fs, info["frame_fs"])
    syms = np.array(frames[0].get_chemical_symbols())
    result = {}
    for name, sym in (("H2O", "O"), ("Na+", "Na"), ("Cl-", "Cl")):
        if not (syms == sym).any():
            continue
        r = ParallelDiffusionProfile(
            frames, sym, info["frame_fs"], bin_width=bin_width, z_range=(0.0, lz),
            lags=tuple(int(x) for x in lags), n_blocks=n_blocks,
        ).run().results  # fmt: skip
        ok = np.isfinite(r.D) & np.isfinite(r.D_err) & (r.D_err > 0)
        if not ok.any():
            continue
        w = 1.0 / r.D_err[ok] ** 2  # the slabs are equivalent: their inverse-variance mean
        d = float(np.sum(w * r.D[ok]) / np.sum(w))
        # slabs share molecules over time: the error is the larger of the mean's and the
        # slabs' scatter over sqrt(their number)
        err = max(float(np.sqrt(1.0 / np.sum(w))), float(np.std(r.D[ok]) / np.sqrt(ok.sum())))
        result[name] = (d * 1e-5, err * 1e-5)  # Å²/fs -> m²/s
    return result


def _run_bin_width(run: Path) -> float | None:
    """The extract bin width (Å) of a pipeline run (its config), or None."""
    try:
        return float(json.loads((run / "config.json").read_text())["extract"]["bin_width_A"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _run_lag_fs(run: Path) -> list[float] | None:
    """The extract lags of a pipeline run in fs (its config and md summary), or None."""
    try:
        cfg = json.loads((run / "config.json").read_text())
        md = json.loads((run / "md" / "done.json").read_text())["summary"]
    except (OSError, KeyError, ValueError):
        return None
    return [lag * md["frame_interval_fs"] for lag in cfg["extract"]["lags"]]


def compare(args) -> None:
    """The run's bulk-region D (extract summary) against this bulk box, species by species."""
    from validation_table import stationarity_note

    ref = json.loads((args.out / "bulk_reference.json").read_text())["numbers"]
    summary = json.loads((args.run / "extract" / "summary.json").read_text())
    lag_fs = _run_lag_fs(args.run)
    bin_width = _run_bin_width(args.run)
    box_frames = _analysed_box(args.out) if lag_fs else None  # read once for both
    at_lags = box_d_at_lags(args.out, lag_fs, box=box_frames) if lag_fs else {}
    same = (
        box_d_conditioned(args.out, lag_fs, bin_width, box=box_frames)
        if lag_fs and bin_width
        else {}
    )
    lines = [
        f"### {args.run}: bulk region against the bulk box {args.out}",
        "",
        "D in 1e-9 m²/s. Bulk box: D_PBC of the cubic box (finite-size, like the sandwich's;"
        " the Yeh–Hummer value is in the table above). Run: D∥ (in-plane) in the region of "
        "the species' own flat c(z). Within 30 %: |ratio − 1| ≤ 0.3 and two standard errors "
        "of the ratio ≤ 0.3; outside: |ratio − 1| − 2σ > 0.3; otherwise undecided.",
        "",
        conditions(json.loads((args.out / "bulk.json").read_text()), summary),
        "",
        (
            "Like for like: the box's in-plane D from the MSD slope between the run's own lag "
            f"times ({', '.join(f'{t / 1000:.3g}' for t in lag_fs)} ps), the same time "
            "window as the run's D∥; the verdict uses it where the box gives it (a liquid whose "
            "MSD is not yet linear has a D that depends on the window)."
            if lag_fs
            else "The run's lags are unknown (no config.json or md/done.json): the verdict uses "
            "the box's D_PBC."
        ),
        "",
        (
            f"Same estimator: the box's D∥ from the survival-conditioned in-plane MSD in "
            f"{bin_width:g} Å slabs at the run's lags (the run's own estimator, whose "
            "conditioning on staying in a slab selects slower molecules in the box as in the "
            "film); the verdict uses it where the box gives it."
            if same
            else "No same-estimator value (the run's bin width or lags unknown)."
        ),
        "",
        "| species | run D∥ (bulk region) | box D∥, same estimator | box D at the run's lags "
        "| bulk box D_PBC | ratio | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in summary["species"].items():
        b = s.get("bulk") or {}
        box = ref.get(f"D_{name}")
        if not b.get("found") or b.get("D_parallel_1e-9_m2_per_s") is None:
            why = b.get("reason", "no D in the region") if not b.get("found") else "no D∥"
            lines.append(f"| {name} | none ({why}) | | | | | not compared |")
            continue
        if not isinstance(box, list | tuple):
            lines.append(f"| {name} | | | | {box} | | not compared |")
            continue
        d, e = b["D_parallel_1e-9_m2_per_s"], b["D_parallel_err_1e-9_m2_per_s"]
        d_pbc, e_pbc = box[2] * 1e9, box[1] * 1e9
        d_box, e_box = d_pbc, e_pbc
        lagged = conditioned = ""
        if name in at_lags:
            d_box, e_box = at_lags[name][0] * 1e9, at_lags[name][1] * 1e9
            lagged = f"{d_box:.3g} ± {e_box:.2g}"
        if name in same:
            d_box, e_box = same[name][0] * 1e9, same[name][1] * 1e9
            conditioned = f"{d_box:.3g} ± {e_box:.2g}"
        ratio = d / d_box
        r_err = ratio * ((e / d) ** 2 + (e_box / d_box) ** 2) ** 0.5
        blocks = (ref.get(f"D_{name}_errors") or {}).get("block_values", [])
        if not (lagged or conditioned) and len(blocks) > 1 and stationarity_note(blocks):
            # a D that is still falling has no value to compare with (yet)
            verdict = "not compared: the bulk box's D falls from block to block (not stationary)"
        elif abs(ratio - 1) - 2 * r_err > TOLERANCE:
            verdict = "**outside 30 %**"
        elif abs(ratio - 1) <= TOLERANCE and 2 * r_err <= TOLERANCE:
            verdict = "within 30 %"
        else:
            verdict = "undecided: the errors are too large to tell"
        lines.append(
            f"| {name} | {d:.3g} ± {e:.2g} | {conditioned or 'n/a'} | {lagged or 'n/a'} | "
            f"{d_pbc:.3g} ± {e_pbc:.2g} | {ratio:.2f} ± {r_err:.2f} | {verdict} |"
        )
    text = "\n".join(lines) + "\n"
    with RESULTS.open("a") as fh:
        fh.write("\n" + text)
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="stage", required=True)
    r = sub.add_parser("run")
    r.add_argument("--config", default="production", help="pipeline config (file or built-in)")
    r.add_argument("--n-water", type=int, default=N_WATER)
    r.add_argument("--ps", type=float, default=100.0, help="production length, ps")
    r.add_argument("--seed", type=int, default=5)
    for flag, unit, default in (("--concentration", "salt, mol/L of water; 0: pure water", None),
                                ("--density", "water density, g/cm³", DENSITY),
                                ("--temperature", "thermostat target, K", None)):  # fmt: skip
        r.add_argument(flag, type=float, default=default,
                       help=f"{unit} (default: {default or 'the config’s'})")  # fmt: skip
    r.add_argument("--out", type=Path, required=True)
    a = sub.add_parser("analyse")
    a.add_argument("--out", type=Path, required=True)
    a.add_argument(
        "--from-ps", type=float, default=None, help="analyse from this time on, ps (default: 10 %%)"
    )
    c = sub.add_parser("compare", help="a pipeline run's bulk-region D against this box")
    c.add_argument("--out", type=Path, required=True, help="the bulk box folder (analysed)")
    c.add_argument("--run", type=Path, required=True, help="pipeline run directory")
    args = ap.parse_args()
    {"run": run, "analyse": analyse, "compare": compare}[args.stage](args)


if __name__ == "__main__":
    main()
