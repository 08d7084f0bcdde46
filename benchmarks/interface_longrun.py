"""Held-out long interface run of a student model: integrity, temperature, committee deviation.

Issue #13's acceptance run: a Cu(111)/NaCl(aq) film of another size and seed than any the
students were trained on (default 3x6x4 Cu, 14 Å of 2 M NaCl(aq), builder seed 7), prepared as
the pipeline does (rigid-water FIRE, 1 ps heating ramp), then production MD with the first
student alone (float32, hydrogen mass 3 u, Bussi thermostat, integrity policy "stop") for
``--ps`` picoseconds at ``--temperature``. After the run the committee's force deviation is
evaluated on every ``--sigma-every``-th trajectory frame.

Restartable: the MD resumes from its checkpoint (:class:`multiscale.md.MDRunner`); rerun the
same command with a larger ``--ps`` to extend. Writes ``OUT/summary.json`` and a row in
``benchmarks/results/interface_longrun.md``.
Usage::

    OMP_NUM_THREADS=1 python benchmarks/interface_longrun.py --models m0.model m1.model m2.model \\
        --temperature 300 --ps 100 --out runs/longrun_300K
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def main() -> None:
    import ase.io

    from multiscale.md.builders import build_interface
    from multiscale.md.equilibration import analyse_equilibration, prepare_md
    from multiscale.md.hmr import repartition_hydrogen_masses
    from multiscale.md.integrity import IntegrityMonitor, MDIntegrityError
    from multiscale.md.runner import MDRunner, MDSettings
    from multiscale.mlip.committee import CommitteeCalculator
    from multiscale.mlip.train import mace_calculator
    from multiscale.pipeline.state import atomic_write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", type=Path, required=True, help="student .model files")
    ap.add_argument("--temperature", type=float, default=300.0, help="K")
    ap.add_argument("--ps", type=float, default=100.0, help="production length, ps")
    ap.add_argument("--dt", type=float, default=1.0, help="time step, fs")
    ap.add_argument("--size", type=int, nargs=2, default=[3, 6], help="nx ny (ny even)")
    ap.add_argument("--water", type=float, default=14.0, help="electrolyte thickness, Å")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sigma-every", type=int, default=20, help="trajectory frames")
    ap.add_argument("--check-every", type=int, default=10, help="MD steps between integrity checks")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--label", default=None, help="models' name in the table (default: their folder's parent)"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    atoms = build_interface(
        size=tuple(args.size), layers=4, water_thickness=args.water, concentration=2.0,
        seed=args.seed,
    )  # fmt: skip
    repartition_hydrogen_masses(atoms, 3.0)
    atoms.calc = mace_calculator(args.models[0], trust=True, dtype="float32")  # our own file
    settings = MDSettings(
        timestep_fs=args.dt, ensemble="bussi", temperature_K=args.temperature,
        seed=args.seed, traj_interval=50, checkpoint_interval=1000,
        initial_temperature_K=None,
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    prep = prepare_md(atoms, args.out / "prepare", settings, heat_ps=1.0, progress=False)
    # checked every --check-every steps (the explorations' interval), not every trajectory frame
    monitor = IntegrityMonitor(atoms, policy="stop", interval=args.check_every)
    runner = MDRunner(atoms, args.out / "production", settings, progress=True, integrity=monitor)
    n_steps = round(args.ps * 1000 / args.dt)
    error = None
    try:
        runner.run(n_steps)
    except MDIntegrityError as exc:
        error = str(exc)
    integ = runner.integrity.summary() if runner.integrity is not None else {}
    eq = analyse_equilibration(args.out / "production" / "thermo.dat", args.temperature)
    frames = ase.io.read(args.out / "production" / "trajectory.traj", index=":")
    committee = CommitteeCalculator(
        [mace_calculator(p, trust=True, dtype="float32") for p in args.models]
    )
    sig = []
    for f in frames[:: args.sigma_every]:
        f.calc = committee
        f.get_forces()
        sig.append(float(committee.results["max_force_std"]))
    summary = {
        "models": [str(p) for p in args.models],
        "n_atoms": len(atoms),
        "formula": atoms.get_chemical_formula(),
        "temperature_K": args.temperature,
        "dt_fs": args.dt,
        "integrity_check_every_steps": args.check_every,
        "steps_done": int(np.loadtxt(args.out / "production" / "thermo.dat", ndmin=2)[-1, 0]),
        "ps_target": args.ps,
        "integrity_error": error,
        "integrity": integ,
        "equilibration": eq.as_dict(),
        "committee_max_force_std_eV_A": {
            "n_frames": len(sig),
            "max": max(sig) if sig else None,
            "mean": float(np.mean(sig)) if sig else None,
        },
        "preparation": prep.as_dict(),
        "wall_s_this_call": time.perf_counter() - t0,
    }
    atomic_write_text(args.out / "summary.json", json.dumps(summary, indent=1, default=str))
    _append_row(summary, args)
    print(json.dumps(summary, indent=1, default=str)[:3000])


def _append_row(summary: dict, args: argparse.Namespace) -> None:
    """One line per call in ``benchmarks/results/interface_longrun.md`` (header if new)."""
    path = HERE / "results" / "interface_longrun.md"
    if not path.exists():
        path.write_text(
            "# Held-out interface runs (`benchmarks/interface_longrun.py`)\n\n"
            "One row per call (a resumed run adds a row). Film: Cu(111) 4 layers, 2 M NaCl(aq); "
            "first student drives (float32, H mass 3 u, Bussi), integrity policy stop; "
            "T over the production part detected by pymbar (mean ± s.e.); committee σ_F = "
            "largest atomic force deviation of the committee on every `--sigma-every`-th "
            "frame.\n\n"
            "| date | models | size, seed, atoms | T target | dt | ps done / target | integrity "
            "| crossings | T production | committee σ_F max | wall s |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n"
        )
    eq, integ = summary["equilibration"], summary["integrity"]
    done_ps = summary["steps_done"] * args.dt / 1000.0
    verdict = "intact" if summary["integrity_error"] is None else summary["integrity_error"]
    verdict = verdict.split(". The last frame")[0].replace("|", "/")
    models = args.label or ", ".join(
        sorted({Path(p).parent.parent.name for p in summary["models"]})
    )
    sig = summary["committee_max_force_std_eV_A"]["max"]
    row = (
        f"| {time.strftime('%Y-%m-%d')} | {models} | {args.size[0]}x{args.size[1]}, seed "
        f"{args.seed}, {summary['n_atoms']} | {args.temperature:.0f} K | {args.dt} fs | "
        f"{done_ps:.1f} / {args.ps:.0f} | {verdict} | {integ.get('n_proton_crossings', '-')} | "
        f"{eq['temperature_mean_K']:.1f} ± {eq['temperature_sem_K']:.1f} K | "
        f"{'-' if sig is None else f'{sig:.3f} eV/Å'} | {summary['wall_s_this_call']:.0f} |\n"
    )
    with path.open("a") as fh:
        fh.write(row)


if __name__ == "__main__":
    main()
