"""Like-ion repulsion of the students against the teacher, on a held-out frame.

The round-4 students let two Na⁺ of a held-out 350 K film (``interface_longrun.py``, seed 7,
never trained on) approach to 2.29 Å. This scan takes the last frame before that failure
(``benchmarks/data/na_na_contact_350K.extxyz``, Na 81 and 109 at 2.42 Å), moves the two ions
symmetrically along their axis to distances ``d`` and reports, for the teacher and each student,
the pair's repulsion along the axis, f = (F_j - F_i)·u / 2 (eV/Å, positive pushes them apart)
and the energy relative to the largest distance.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/like_ion_contact.py --models m0.model m1.model m2.model \\
        --label round-5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
DISTANCES_A = (2.2, 2.4, 2.6, 2.8, 3.0, 3.2, 3.6)


def scan(frame, i: int, j: int, calc) -> tuple[np.ndarray, np.ndarray]:
    """Repulsion along the i-j axis (eV/Å) and energy (eV) at each of ``DISTANCES_A``."""
    vec = frame.get_distance(i, j, mic=True, vector=True)
    u = vec / np.linalg.norm(vec)
    mid = frame.positions[i] + vec / 2
    rep, energy = [], []
    for d in DISTANCES_A:
        a = frame.copy()
        a.positions[i] = mid - u * d / 2
        a.positions[j] = mid + u * d / 2
        a.calc = calc
        f = a.get_forces()
        rep.append(float((f[j] - f[i]) @ u / 2))
        energy.append(float(a.get_potential_energy()))
    energy = np.array(energy)
    return np.array(rep), energy - energy[-1]


def main() -> None:
    import ase.io

    from multiscale.mlip.teachers import teacher_calculator
    from multiscale.mlip.train import mace_calculator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", type=Path, required=True, help="student .model files")
    ap.add_argument("--label", required=True, help="name of the model set in the table")
    ap.add_argument("--teacher", default="sevennet-0")
    ap.add_argument("--frame", type=Path, default=HERE / "data" / "na_na_contact_350K.extxyz",
                    help="structure to scan (default: the held-out frame)")  # fmt: skip
    ap.add_argument("--pair", type=int, nargs=2, default=None,
                    help="the two like ions (default: the frame's info['pair'])")  # fmt: skip
    args = ap.parse_args()
    frame = ase.io.read(args.frame, index=-1)
    pair = args.pair if args.pair is not None else frame.info["pair"]
    i, j = (int(k) for k in np.atleast_1d(pair))  # extxyz reads "81 109" as ints
    t0 = time.perf_counter()
    rows = {args.teacher: scan(frame, i, j, teacher_calculator(args.teacher, 1))}
    for k, p in enumerate(args.models):
        rows[f"{args.label} m{k}"] = scan(frame, i, j, mace_calculator(p, trust=True))
    path = HERE / "results" / "like_ion_contact.md"
    if not path.exists():
        path.write_text(
            "# Like-ion repulsion, teacher vs students (`benchmarks/like_ion_contact.py`)\n\n"
            "Repulsion f (eV/Å, along the axis, positive apart) and energy ΔE (eV, relative to "
            f"{DISTANCES_A[-1]} Å) when the two like ions named are moved symmetrically to "
            "distance d; all other atoms fixed. Default frame: the held-out 350 K film before "
            "the round-4 failure (never trained on).\n\n"
        )
    head = " | ".join(f"{d} Å" for d in DISTANCES_A)
    where = f"{args.frame.name}, atoms {i} {frame[i].symbol} and {j} {frame[j].symbol}"
    lines = [
        f"\n## {args.label} ({where}; {time.strftime('%Y-%m-%d')}, "
        f"{time.perf_counter() - t0:.0f} s)\n",
        f"\n| model | quantity | {head} |\n|---|---|" + "---|" * len(DISTANCES_A) + "\n",
    ]
    for name, (rep, e) in rows.items():
        lines.append(f"| {name} | f | " + " | ".join(f"{x:.2f}" for x in rep) + " |\n")
        lines.append(f"| {name} | ΔE | " + " | ".join(f"{x:.2f}" for x in e) + " |\n")
    with path.open("a") as fh:
        fh.writelines(lines)
    print("".join(lines))


if __name__ == "__main__":
    main()
