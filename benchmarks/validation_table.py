"""Validation table of the interface model: student vs teacher vs experiment (issue #13 item 4).

Stages (each restartable; MD resumes from its checkpoint, a rerun with a larger ``--ps``
extends it):

``bulk``
    NaCl(aq) in a cubic periodic box (``--n-water`` waters, 1 mol/L, builder seed 3) with a
    model (a student ``.model`` file, or ``teacher:NAME``), prepared as the pipeline does
    (rigid-water FIRE, 1 ps heating) and run with the Bussi thermostat at 298 K, hydrogen mass
    3 u, 1 fs, frames every 10 fs.
``table``
    From the bulk runs of the student and the teacher and from an interface run of
    ``benchmarks/interface_longrun.py``: g_OO first peak (position, height), self-diffusion of
    water (O), Na⁺ and Cl⁻ with the Yeh–Hummer correction (experimental viscosity of water,
    0.890 mPa s: the model's own viscosity is not computed, which makes the correction
    approximate), water density in the middle of the interface film, height of the first water
    layer above Cu(111), and the student-vs-teacher g(r) block-permutation test
    (:func:`multiscale.md.compare_rdf`). ``--student-same-box`` adds a student run on the
    teacher's box and length (same builder seed, ``--n-water``, ``--ps``), the like-for-like
    partner of the teacher in the g(r) test. Writes ``benchmarks/results/validation_table.md``.

Hydrogen mass repartitioning keeps every molecule's mass, so translational diffusion is
affected only through the slower librations (a few per cent in the literature, e.g. Hopkins et
al., JCTC 11, 1864 (2015)); the table says which masses were used.
Usage::

    OMP_NUM_THREADS=1 python benchmarks/validation_table.py bulk --model m0.model --ps 50 --out A
    OMP_NUM_THREADS=2 python benchmarks/validation_table.py bulk --model teacher:sevennet-0 \\
        --ps 3 --n-water 32 --out B
    OMP_NUM_THREADS=1 python benchmarks/validation_table.py bulk --model m0.model --ps 3 \
        --n-water 32 --out A32
    python benchmarks/validation_table.py table --student A --teacher B --student-same-box A32 \
        --film C
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
T_K = 298.0
#: column of the student run on the teacher's box (same builder seed, waters and length): the
#: like-for-like partner of the teacher in the g(r) test
SAME_BOX = "student, teacher's box"


def _calculator(spec: str):
    if spec.startswith("teacher:"):
        from multiscale.mlip.teachers import teacher_calculator

        return teacher_calculator(spec.split(":", 1)[1], num_threads=2)
    from multiscale.mlip.train import mace_calculator

    return mace_calculator(spec, trust=True, dtype="float32")  # the project's own student


def run_bulk(args) -> None:
    from multiscale.md.builders import build_electrolyte
    from multiscale.md.equilibration import prepare_md
    from multiscale.md.hmr import repartition_hydrogen_masses
    from multiscale.md.runner import MDRunner, MDSettings
    from multiscale.pipeline.state import atomic_write_text

    t0 = time.perf_counter()
    atoms = build_electrolyte("NaCl", concentration=1.0, n_water=args.n_water, seed=3)
    repartition_hydrogen_masses(atoms, 3.0)
    atoms.calc = _calculator(args.model)
    settings = MDSettings(
        timestep_fs=1.0, ensemble="bussi", temperature_K=T_K, seed=3, traj_interval=10,
        checkpoint_interval=500, initial_temperature_K=None,
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    prepare_md(atoms, args.out / "prepare", settings, heat_ps=1.0, progress=False)
    runner = MDRunner(atoms, args.out / "production", settings, progress=True, integrity="stop")
    runner.run(round(args.ps * 1000))
    info = {"model": args.model, "n_atoms": len(atoms), "formula": atoms.get_chemical_formula(),
            "cell_A": atoms.cell.lengths().tolist(), "ps": args.ps,
            "wall_s_this_call": time.perf_counter() - t0}  # fmt: skip
    atomic_write_text(args.out / "bulk.json", json.dumps(info, indent=1))
    print(info)


def stationarity_note(block_values) -> str:
    """ "" or a note that D falls from each time block to the next (not stationary)."""
    if all(np.diff(block_values) < 0):
        return "; it falls from block to block: not stationary, D not converged"
    return ""


def bulk_numbers(
    folder: Path, frame_fs: float = 10.0, temperature_K: float = T_K, skip: int | None = None
) -> dict:
    """g_OO's first peak and D of H2O, Na⁺, Cl⁻ (D_PBC, Yeh–Hummer, block errors) of the bulk
    run in ``folder`` (``production/trajectory.traj``, frames ``frame_fs`` apart), from frame
    ``skip`` on (None: the first 10 % left out)."""
    import ase.io

    from multiscale.md.validation import WATER_VISCOSITY_298K, goo_first_peak, self_diffusion

    frames = ase.io.read(folder / "production" / "trajectory.traj", index=":")
    # the heating is in prepare/; by default drop 10 % more
    frames = frames[len(frames) // 10 if skip is None else skip :]
    out: dict = {"n_frames": len(frames), "ps": (len(frames) - 1) * frame_fs / 1000}
    peak = goo_first_peak(frames)
    out["goo_r"] = (peak.position.value, peak.position.error)
    out["goo_h"] = (peak.height.value, peak.height.error)
    span = (len(frames) - 1) * frame_fs
    n_blocks = 4
    for name, sel in (("H2O", "O"), ("Na+", "Na"), ("Cl-", "Cl")):
        try:
            d = self_diffusion(frames, sel, frame_fs, 0.1 * span, 0.5 * span, temperature_K,
                               WATER_VISCOSITY_298K)  # fmt: skip
        except ValueError as exc:
            out[f"D_{name}"] = str(exc)
            continue
        # The GLS error comes from the scatter between particles, which two ions cannot give
        # (it then falls back to a diagonal covariance and is far too small). An independent
        # error: D of each of n_blocks time blocks (same relative fit window), their standard
        # error; the larger of the two is reported.
        m = len(frames) // n_blocks
        blocks = []
        for b in range(n_blocks):
            part = frames[b * m : (b + 1) * m]
            bspan = (len(part) - 1) * frame_fs
            blocks.append(self_diffusion(part, sel, frame_fs, 0.1 * bspan, 0.5 * bspan).D_pbc.value)
        block_se = float(np.std(blocks, ddof=1) / np.sqrt(n_blocks))
        err = max(d.D_pbc.error, block_se)
        out[f"D_{name}"] = (d.D_corrected, err, d.D_pbc.value)
        out[f"D_{name}_errors"] = {"gls": d.D_pbc.error, "blocks": block_se,
                                   "block_values": blocks}  # fmt: skip
    return out


def _film_numbers(path: Path) -> dict:
    """First water layer height and mid-film water density of an interface trajectory (the
    last 80 % of its frames)."""
    import ase.io

    from multiscale.md.validation import first_layer_height, water_density

    frames = ase.io.read(path, index=":")
    frames = frames[len(frames) // 5 :]
    lh = first_layer_height(frames)
    top = lh.surface_z
    z_o = np.concatenate([f.positions[f.symbols == "O", 2] for f in frames])
    z_hi = float(np.percentile(z_o, 95))
    rho = water_density(frames, z_range=(top + 6.0, z_hi - 4.0))
    return {
        "layer": (lh.height.value, lh.height.error),
        "rho": (rho.value, rho.error, 6.0, z_hi - 4.0 - top),
        "n_frames": len(frames),
        "source": str(path),
    }


def run_table(args) -> None:
    import ase.io

    from multiscale.md.rdf import compare_rdf, compute_rdf
    from multiscale.md.validation import EXPERIMENT_D_298K
    from multiscale.pipeline.state import atomic_write_text

    same = SAME_BOX
    folders = {"student": args.student, same: args.student_same_box, "teacher": args.teacher}
    folders = {who: f for who, f in folders.items() if f is not None}
    rows = {who: bulk_numbers(f) for who, f in folders.items()}
    film = _film_numbers(args.film / "production" / "trajectory.traj") if args.film else {}
    teacher_film = _film_numbers(args.teacher_film) if args.teacher_film else {}
    tests = {}
    if args.teacher:

        def goo(folder: Path):
            frames = ase.io.read(folder / "production" / "trajectory.traj", index=":")
            return compute_rdf(frames[len(frames) // 10 :], [("O", "O")], n_blocks=10)

        rdfs = {who: goo(f) for who, f in folders.items()}
        for who in ("student", same):
            if who in rdfs:
                tests[who] = compare_rdf(rdfs[who], rdfs["teacher"], ("O", "O"))

    def fmt(v, scale=1.0, nd=2):
        if isinstance(v, str) or v is None:
            return "n/a"
        return f"{v[0] * scale:.{nd}f} ± {v[1] * scale:.{nd}f}"

    lines = [
        "# Validation table: student vs teacher vs experiment (`benchmarks/validation_table.py`)",
        "",
        "Bulk: NaCl(aq) 1 mol/L, cubic box, Bussi 298 K, 1 fs, H mass 3 u (HMR); D with the "
        "Yeh–Hummer correction using water's experimental viscosity; ± are block standard "
        "errors (D: the larger of the GLS fit's error of D_PBC and the standard error of D over "
        "4 time blocks; with 2 ions of a kind only the blocks give a usable error).",
        "",
        "| quantity | " + " | ".join(rows) + " | experiment (298 K) |",
        "|---|" + "---:|" * len(rows) + "---:|",
        "| simulated ps (bulk) | " + " | ".join(f"{r['ps']:.0f}" for r in rows.values()) + " | |",
        "| g_OO first peak r (Å) | "
        + " | ".join(fmt(r["goo_r"]) for r in rows.values())
        + " | 2.80 (Skinner 2013) |",
        "| g_OO first peak height | "
        + " | ".join(fmt(r["goo_h"]) for r in rows.values())
        + " | 2.57 (Skinner 2013) |",
    ]
    for name in ("H2O", "Na+", "Cl-"):
        lines.append(
            f"| D {name} (1e-9 m²/s) | "
            + " | ".join(fmt(r[f"D_{name}"], 1e9) for r in rows.values())
            + f" | {EXPERIMENT_D_298K[name] * 1e9:.2f} |"
        )
    for who, r in rows.items():
        for name in ("H2O", "Na+", "Cl-"):
            e = r.get(f"D_{name}_errors")
            if e:
                vals = ", ".join(f"{v * 1e9:.2f}" for v in e["block_values"])
                lines.append(
                    f"\n{who}: D_PBC of {name} in 4 consecutive time blocks: {vals} (1e-9 m²/s)"
                    + stationarity_note(e["block_values"])
                )
    if film or teacher_film:
        lines += [
            "",
            "Film (Cu(111) | NaCl(aq) | vapour): student = the held-out interface run "
            f"({args.film_label}); teacher = SevenNet-0's own MD of the distillation's film "
            f"({args.teacher_film_label}). Different cells and temperatures: a check of the "
            "layering, not a like-for-like comparison.",
            "",
            "| quantity | student | teacher | experiment |",
            "|---|---:|---:|---:|",
            f"| water density, film middle (g/cm³) | {fmt(film.get('rho'), 1.0, 3)} | "
            f"{fmt(teacher_film.get('rho'), 1.0, 3)} | 0.997 (298 K) |",
            f"| first water layer above Cu(111) (Å) | {fmt(film.get('layer'))} | "
            f"{fmt(teacher_film.get('layer'))} | |",
            f"| frames used | {film.get('n_frames', '-')} | {teacher_film.get('n_frames', '-')} "
            "| |",
        ]
    for who, test in tests.items():
        lines += ["", f"g_OO {who} vs teacher (block permutation test): {test.verdict}"]
    import shlex
    import sys

    runs = {
        who: json.loads((folder / "bulk.json").read_text())
        for who, folder in folders.items()
        if (folder / "bulk.json").exists()
    }
    desc = [
        f"{who}: {r['model']}, {r['formula']}, {r['ps']:g} ps, {r['wall_s_this_call'] / 60:.0f} min"
        for who, r in runs.items()
    ]
    command = "python benchmarks/validation_table.py " + shlex.join(sys.argv[1:])
    lines += ["", "Bulk runs: " + "; ".join(desc) + ".", "", f"Command: `{command}`"]
    atomic_write_text(HERE / "results" / "validation_table.md", "\n".join(lines) + "\n")
    atomic_write_text(
        HERE / "results" / "validation_table.json",
        json.dumps(
            {"bulk": rows, "film": film, "teacher_film": teacher_film}, indent=1, default=str
        ),
    )
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="stage", required=True)
    b = sub.add_parser("bulk")
    b.add_argument("--model", required=True, help="student .model file or teacher:NAME")
    b.add_argument("--ps", type=float, default=50.0)
    b.add_argument("--n-water", type=int, default=96)
    b.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("table")
    t.add_argument("--student", type=Path, required=True)
    t.add_argument("--teacher", type=Path)
    t.add_argument(
        "--student-same-box", type=Path, help="student bulk run on the teacher's box and length"
    )
    t.add_argument("--film", type=Path, help="benchmarks/interface_longrun.py output folder")
    t.add_argument("--film-label", default="", help="what --film is (model, T, ps)")
    t.add_argument("--teacher-film", type=Path, help="teacher interface frames (.extxyz/.traj)")
    t.add_argument("--teacher-film-label", default="", help="what --teacher-film is")
    args = ap.parse_args()
    run_bulk(args) if args.stage == "bulk" else run_table(args)


if __name__ == "__main__":
    main()
