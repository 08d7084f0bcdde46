"""Is an MD event the model's or its teacher's? Student committee vs teacher along a trajectory.

The shipped interface model ``default:cu-water-nacl`` was distilled from SevenNet-0; where an
MD run does something unexpected (a Cu atom leaving Cu(111), ions aggregating), this script
asks whether the teacher agrees, frame by frame:

* the committee's force spread (3 members; per atom, eV/Å): the student's own uncertainty;
* the force error against the teacher (per atom, eV/Å) and the energy offset E_student −
  E_teacher (eV): a constant offset is harmless (the two references differ), a change of it
  along the run means the student favours one state over another where the teacher does not;
* per frame: metal atoms outside the slab's layers (:func:`multiscale.md.slab
  .loose_metal_atoms`) and Na–Cl contacts (< 3.5 Å).

No DFT here: the teacher is the student's reference level of theory (the question is whether
the student is outside its data); the teacher's own error against DFT is in ``teachers.md``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/student_vs_teacher_along_run.py \\
        --traj RUN/md/trajectory.traj --frames 200 600 3150 3190 3230 --atoms 2 3 \\
        --label "36 Å sandwich" --out benchmarks/results/student_vs_teacher_36A.json

About 13 s per frame of 514 atoms on one core (3 students + the teacher).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def frame_row(atoms, committee, teacher, watch: list[int]) -> dict:
    """The numbers of one frame (see the module text)."""
    from ase.neighborlist import neighbor_list

    from multiscale.md.slab import loose_metal_atoms, slab_indices

    na = np.flatnonzero(atoms.numbers == 11)
    cl = np.flatnonzero(atoms.numbers == 17)
    i, j = neighbor_list("ij", atoms, 3.5)
    contacts = int(np.sum(np.isin(i, na) & np.isin(j, cl)))
    a = atoms.copy()
    a.calc = committee
    e_s = float(a.get_potential_energy())
    f_s = a.get_forces().copy()
    std = committee.results["force_std"].copy()
    b = atoms.copy()
    b.calc = teacher
    e_t = float(b.get_potential_energy())
    f_t = b.get_forces()
    err = np.linalg.norm(f_s - f_t, axis=1)
    by_element = {}
    for z in sorted(set(atoms.numbers)):
        sel = atoms.numbers == z
        by_element[atoms[int(np.flatnonzero(sel)[0])].symbol] = {
            "err_rms": float(np.sqrt(np.mean(err[sel] ** 2))),
            "std_max": float(std[sel].max()),
        }
    return {
        "loose_metal": [[k, round(d, 2)] for k, d in loose_metal_atoms(a, slab_indices(a))],
        "NaCl_contacts": contacts,
        "E_student_minus_teacher_eV": e_s - e_t,
        "max_std_eV_per_A": float(std.max()),
        "err_rms_eV_per_A": float(np.sqrt(np.mean(err**2))),
        "by_element": by_element,
        "atoms": {str(k): _atom(k, std, err, f_s, f_t) for k in watch},
    }


def _atom(k: int, std, err, f_s, f_t) -> dict:
    """Spread, error (eV/Å) and the z force of student and teacher on atom ``k``."""
    return {
        "std": float(std[k]),
        "err": float(err[k]),
        "fz_student": float(f_s[k, 2]),
        "fz_teacher": float(f_t[k, 2]),
    }


def main() -> None:
    from ase.io.trajectory import Trajectory

    from multiscale.mlip.default_models import load_default_model
    from multiscale.mlip.teachers import teacher_calculator
    from multiscale.pipeline.state import atomic_write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traj", type=Path, required=True, help="an md trajectory (.traj)")
    ap.add_argument("--frames", type=int, nargs="*", help="frame indices (default: 11 even)")
    ap.add_argument("--frame-fs", type=float, default=15.0, help="time between frames, fs")
    ap.add_argument("--atoms", type=int, nargs="*", default=[], help="atoms to report by index")
    ap.add_argument("--model", default="cu-water-nacl")
    ap.add_argument("--teacher", default="sevennet-0")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", type=Path, required=True, help="JSON written here")
    args = ap.parse_args()
    committee = load_default_model(args.model, committee=True, num_threads=1, dtype="float32")
    teacher = teacher_calculator(args.teacher, num_threads=1)
    t0 = time.perf_counter()
    with Trajectory(args.traj) as traj:
        n = len(traj)
        frames = args.frames or np.linspace(0, n - 1, 11).astype(int).tolist()
        rows = []
        for k in frames:
            row = {"frame": k, "time_ps": k * args.frame_fs / 1000}
            row.update(frame_row(traj[k], committee, teacher, args.atoms))
            rows.append(row)
            print(json.dumps(row), flush=True)
    offsets = np.array([r["E_student_minus_teacher_eV"] for r in rows])
    out = {
        "label": args.label,
        "trajectory": str(args.traj),
        "model": args.model,
        "teacher": args.teacher,
        "frames": rows,
        "offset_range_eV": [float(offsets.min()), float(offsets.max())],
        "wall_s": time.perf_counter() - t0,
    }
    atomic_write_text(args.out, json.dumps(out, indent=1))
    print(f"wrote {args.out} ({out['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
