"""A proton excursion along a short hydrogen bond, replayed with the teacher and the students.

A round-5 student stopped a held-out 300 K film run (``interface_longrun.py``, seed 7) at
4.3 ps: a water H went over to a neighbour O across a 2.41 Å hydrogen bond. This replays the
trajectory frame 90 fs before (``benchmarks/data/proton_excursion_300K.extxyz``: positions,
momenta and the repartitioned masses, H 3 u) in NVE (velocity Verlet, ``--dt`` fs,
``--steps`` steps) with the teacher and with each student, from the same state, and reports
how long the H stays nearer the acceptor O than its own (fs), how far (the largest
d(own O-H) - d(acceptor O-H), Å) and where it ends. Short replays from one state compare the
models' forces along one path; they are not a rate (see the held-out runs for crossings per ps).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/proton_excursion.py --models m0.model m1.model \\
        --label round-5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def replay(start, calc, donor: int, h: int, acceptor: int, dt: float, steps: int) -> np.ndarray:
    """d(donor O-H) and d(acceptor O-H) (Å) at every step of an NVE run from ``start``."""
    from ase import units
    from ase.md.verlet import VelocityVerlet
    from ase.parallel import DummyMPI

    a = start.copy()
    a.set_masses(start.get_masses())
    a.set_momenta(start.get_momenta())
    a.calc = calc
    md = VelocityVerlet(a, dt * units.fs, comm=DummyMPI())
    rows = []
    for _ in range(steps + 1):
        rows.append((a.get_distance(donor, h, mic=True), a.get_distance(acceptor, h, mic=True)))
        md.run(1)
    return np.array(rows)


def main() -> None:
    import ase.io

    from multiscale.mlip.teachers import teacher_calculator
    from multiscale.mlip.train import mace_calculator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", type=Path, required=True, help="student .model files")
    ap.add_argument("--label", required=True, help="name of the model set in the table")
    ap.add_argument("--teacher", default="sevennet-0", help='"none": students only')
    ap.add_argument("--dt", type=float, default=1.5, help="fs")
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    start = ase.io.read(HERE / "data" / "proton_excursion_300K.extxyz")
    ids = (int(start.info["donor_O"]), int(start.info["H"]), int(start.info["acceptor_O"]))
    t0 = time.perf_counter()
    calcs = {}
    if args.teacher != "none":  # "none": students only (the teacher's row is in the table)
        calcs[args.teacher] = lambda: teacher_calculator(args.teacher, 1)
    for k, p in enumerate(args.models):
        calcs[f"{args.label} m{k}"] = lambda p=p: mace_calculator(p, trust=True, dtype="float32")
    lines = [
        f"\n## {args.label} ({time.strftime('%Y-%m-%d')})\n\n"
        "| model | time on the acceptor's side (fs) | largest excursion (Å) | "
        "d(own O-H) at the end (Å) |\n|---|---|---|---|\n"
    ]
    for name, make in calcs.items():
        r = replay(start, make(), *ids, args.dt, args.steps)
        excursion = r[:, 0] - r[:, 1]
        lines.append(
            f"| {name} | {args.dt * int((excursion > 0).sum()):.1f} | {excursion.max():+.2f} | "
            f"{r[-1, 0]:.2f} |\n"
        )
    lines.append(f"\n({args.steps} steps of {args.dt} fs; {time.perf_counter() - t0:.0f} s)\n")
    path = HERE / "results" / "proton_excursion.md"
    if not path.exists():
        path.write_text(
            "# Proton excursion replays (`benchmarks/proton_excursion.py`)\n\n"
            "NVE from one held-out frame (90 fs before the round-5 student's proton transfer "
            "at 4.3 ps of the 300 K film run), same positions, momenta and masses for every "
            "model. Positive excursion: the H is nearer the acceptor O than its own.\n"
        )
    with path.open("a") as fh:
        fh.writelines(lines)
    print("".join(lines))


if __name__ == "__main__":
    main()
