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


def perturbed_momenta(start, seed: int, temperature_K: float = 300.0, scale: float = 0.3):
    """The frame's momenta plus ``scale`` x thermal noise (seeded), rescaled to the same
    kinetic energy: a neighbour of the recorded path, for an ensemble of replays."""
    from ase import units

    m = start.get_masses()
    p = start.get_momenta()
    rng = np.random.default_rng(seed)
    p2 = p + scale * rng.normal(size=p.shape) * np.sqrt(m * units.kB * temperature_K)[:, None]
    return p2 * np.sqrt((p**2 / m[:, None]).sum() / (p2**2 / m[:, None]).sum())


def replay(
    start, calc, donor: int, h: int, acceptor: int, dt: float, steps: int, momenta=None
) -> np.ndarray:
    """d(donor O-H) and d(acceptor O-H) (Å) at every step of an NVE run from ``start``
    (with ``momenta`` instead of the frame's own if given)."""
    from ase import units
    from ase.md.verlet import VelocityVerlet
    from ase.parallel import DummyMPI

    a = start.copy()
    a.set_masses(start.get_masses())
    a.set_momenta(start.get_momenta() if momenta is None else momenta)
    a.calc = calc
    md = VelocityVerlet(a, dt * units.fs, comm=DummyMPI())
    rows = []
    for _ in range(steps + 1):
        rows.append((a.get_distance(donor, h, mic=True), a.get_distance(acceptor, h, mic=True)))
        md.run(1)
    return np.array(rows)


def axis_forces(frames, calc) -> dict[float, np.ndarray]:
    """Teacher (the frames' labels) and model force on the scanned H along its O···O axis.

    ``frames``: labelled ``proton_transfer_scans`` frames (``info["proton_fraction"]``). The
    scanned H is the one farthest from its nearest O; the axis points from its nearer O to the
    next. Returns, per fraction, an array of (teacher, model) axis forces (eV/Å; positive:
    towards the acceptor).
    """
    out: dict[float, list] = {}
    for a in frames:
        sym = np.array(a.get_chemical_symbols())
        o, hs = np.flatnonzero(sym == "O"), np.flatnonzero(sym == "H")
        d = a.get_all_distances(mic=True)[np.ix_(hs, o)]
        row = int(np.argmax(d.min(axis=1)))
        donor, acceptor = (int(k) for k in o[np.argsort(d[row])[:2]])
        u = a.get_distance(donor, acceptor, mic=True, vector=True)
        u /= np.linalg.norm(u)
        b = a.copy()
        b.calc = calc
        h = int(hs[row])
        pair = (float(a.get_forces()[h] @ u), float(b.get_forces()[h] @ u))
        out.setdefault(float(a.info["proton_fraction"]), []).append(pair)
    return {k: np.array(v) for k, v in sorted(out.items())}


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
    ap.add_argument("--ensemble", type=int, default=0,
                    help="also N replays from perturbed momenta (seeds 0..N-1)")  # fmt: skip
    ap.add_argument("--scans", type=Path, default=None,
                    help="labelled proton-transfer scans (a distillation's protons.extxyz): "
                    "also compare the force on the H along its O···O axis")  # fmt: skip
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
    ensemble = []
    for name, make in calcs.items():
        calc = make()
        r = replay(start, calc, *ids, args.dt, args.steps)
        excursion = r[:, 0] - r[:, 1]
        lines.append(
            f"| {name} | {args.dt * int((excursion > 0).sum()):.1f} | {excursion.max():+.2f} | "
            f"{r[-1, 0]:.2f} |\n"
        )
        runs = []
        for seed in range(args.ensemble):
            r = replay(start, calc, *ids, args.dt, args.steps, perturbed_momenta(start, seed))
            x = r[:, 0] - r[:, 1]
            runs.append((args.dt * int((x > 0).sum()), x.max(), x[-1] > 0))
        if runs:
            t = np.array([q[0] for q in runs])
            ensemble.append(
                f"| {name} | {len(runs)} | {t.mean():.1f} ± {t.std(ddof=1) / np.sqrt(len(t)):.1f}"
                f" | {max(q[1] for q in runs):+.2f} | {sum(q[2] for q in runs)} |\n"
            )
    if ensemble:
        lines.append(
            "\nPerturbed momenta (30 % thermal noise at 300 K, same kinetic energy, seeds 0..N-1):"
            "\n\n| model | replays | mean time on the acceptor's side (fs, ± s.e.) | largest "
            "excursion (Å) | ended transferred |\n|---|---|---|---|---|\n"
        )
        lines += ensemble
    lines.append(f"\n({args.steps} steps of {args.dt} fs; {time.perf_counter() - t0:.0f} s)\n")
    if args.scans is not None:
        scans = ase.io.read(args.scans, index=":")
        lines.append(
            f"\nForce on the scanned H along its O···O axis (eV/Å, + towards the acceptor; "
            f"mean over the {len(scans)} frames of `{args.scans.name}`, teacher labels):\n\n"
            "| model | fraction of O···O | teacher | model | MAE |\n|---|---|---|---|---|\n"
        )
        for k, p in enumerate(args.models):
            calc = mace_calculator(p, trust=True, dtype="float32")
            for frac, v in axis_forces(scans, calc).items():
                lines.append(
                    f"| {args.label} m{k} | {frac:.2f} | {v[:, 0].mean():+.2f} | "
                    f"{v[:, 1].mean():+.2f} | {np.abs(v[:, 0] - v[:, 1]).mean():.2f} |\n"
                )
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
