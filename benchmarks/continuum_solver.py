"""Nernst–Planck solver performance: DOFs vs solve time, Newton iterations, 1 vs 2 MPI ranks.

Cases (the same as the tests and examples):

* 1D Gouy–Chapman double layer (0.1 M NaCl, φ0 = 4 kT/e, 20 Debye lengths, graded mesh):
  cells vs solve time, Newton iterations and the error against the closed form.
* 2D corrosion pit (PNP with three species, Butler–Volmer + Stern layer at the metal,
  Debye length 8 nm resolved by a graded mesh): cells across the pit vs DOFs, solve time
  and Newton iterations, and the same problems on 1 and 2 MPI ranks, run one after the
  other by this script (each case in a fresh process: ``mpiexec -n 2`` from the venv).

Each timing is the best of ``--repeat`` solves of a freshly built problem in one process
(the forms are compiled once, before timing; mesh creation excluded). Newton uses MUMPS LU.
Results go to ``benchmarks/results/continuum.md``.

Run: ``.venv/bin/python benchmarks/continuum_solver.py [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

# this file's name shadows the ``continuum`` package when run as a script: drop its folder
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

RESULTS = Path(__file__).parent / "results" / "continuum.md"
PIT_SIZES = [8, 16, 32, 48]
GC_SIZES = [100, 200, 400, 800, 1600]


def _pit_problem(comm, n: int):
    from continuum import ButlerVolmer, NernstPlanckProblem, Species, corrosion_pit

    dom = corrosion_pit(
        comm, pit_width=200e-9, pit_depth=200e-9, width=500e-9, height=500e-9,
        cells_across_pit=n, grading=2.0,
    )  # fmt: skip
    bulk = {"Fe2+": 0.1, "Cl-": 1.2, "Na+": 1.0}
    sp = [
        Species("Fe2+", 2, 7.2e-10, 0.1),
        Species("Cl-", -1, 2.03e-9, 1.2),
        Species("Na+", 1, 1.33e-9, 1.0),
    ]
    # α_a + α_c = n = 2 (the Nernstian rule ButlerVolmer enforces)
    kin = ButlerVolmer("Fe2+", 2, 1e-2, -0.44, 1.2, 0.8, 1000.0, stern_capacitance=0.2)

    def build():
        p = NernstPlanckProblem(dom, sp)
        p.add_electrode("metal", kin, -0.3)
        for s, c in bulk.items():
            p.set_concentration(s, "bulk", c)
        p.set_potential("bulk", 0.0)
        return p

    return dom, build


def _gc_problem(comm, n: int):
    from continuum import NernstPlanckProblem, Species, debye_length, interval, thermal_voltage

    c0 = 100.0
    lam = debye_length([c0, c0], [1, -1])
    phi0 = 4 * thermal_voltage(298.15)
    dom = interval(comm, 20 * lam, n, refine="start", grading=2.0)

    def build():
        p = NernstPlanckProblem(
            dom, [Species("Na+", 1, 1.33e-9, c0), Species("Cl-", -1, 2.03e-9, c0)]
        )
        p.set_potential("left", phi0)
        p.set_potential("right", 0.0)
        for s in ("Na+", "Cl-"):
            p.set_concentration(s, "right", c0)
        return p

    return dom, build, phi0, c0


def _timed(build, repeat: int, comm):
    from mpi4py import MPI

    build().solve()  # compile the forms (JIT cache) outside the timing
    best, its, p = float("inf"), 0, None
    for _ in range(repeat):
        comm.barrier()
        t0 = time.perf_counter()
        p = build()
        res = p.solve()
        dt = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        if dt < best:
            best, its = dt, res.iterations
    return best, its, p


def worker(case: str, n: int, repeat: int) -> None:
    """One timing in this process (run under mpiexec for several ranks); prints JSON."""
    import dolfinx_solver  # noqa: F401
    import numpy as np
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if case == "pit":
        dom, build = _pit_problem(comm, n)
        best, its, p = _timed(build, repeat, comm)
        extra = {"current": p.electrode_current("metal")}
    else:
        from continuum import analytic

        dom, build, phi0, c0 = _gc_problem(comm, n)
        best, its, p = _timed(build, repeat, comm)
        s = p.sample_1d()
        phi = analytic.gouy_chapman(s["x"], phi0, c0)[0]
        extra = {"error": float(np.max(np.abs(s["phi"] - phi)) / phi0)}
    cells = comm.allreduce(dom.mesh.topology.index_map(dom.dim).size_local)
    dofs = p.w.function_space.dofmap.index_map.size_global * p.n_fields
    if comm.rank == 0:
        print(json.dumps({"cells": cells, "dofs": dofs, "time": best, "its": its, **extra}))


def _run(case: str, n: int, repeat: int, ranks: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", case, str(n), "--repeat", str(repeat)]
    if ranks > 1:
        cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "N"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.repeat)
        return
    lines = [
        "## Nernst–Planck solver (benchmarks/continuum_solver.py)",
        "",
        f"Best of {args.repeat} steady solves of a freshly built problem (forms compiled "
        "beforehand, mesh excluded), Newton with backtracking line search and MUMPS LU, "
        f"{platform.machine()}, 2 cores shared with other work. DOFs count all fields "
        "(species and potential).",
        "",
        "1D Gouy–Chapman layer, 0.1 M NaCl, φ0 = 4 kT/e, P1, graded mesh over 20 λ_D:",
        "",
        "| cells | DOFs | solve (s) | Newton its | max error of φ / φ0 |",
        "|---|---|---|---|---|",
    ]
    for n in GC_SIZES:
        r = _run("gc", n, args.repeat, 1)
        lines.append(
            f"| {r['cells']} | {r['dofs']} | {r['time']:.3f} | {r['its']} | {r['error']:.1e} |"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        "2D corrosion pit, PNP with Fe²⁺/Cl⁻/Na⁺ + Poisson (4 fields), Butler–Volmer + Stern "
        "layer at the metal (E = −0.3 V), P1; 1 and 2 MPI ranks measured one after the other:",
        "",
        "| cells across pit | cells | DOFs | 1 rank (s) | Newton its | 2 ranks (s) | "
        "speed-up | anodic current (A/m), 1 vs 2 ranks rel. diff. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    pit_currents = []
    for n in PIT_SIZES:
        r1 = _run("pit", n, args.repeat, 1)
        pit_currents.append(r1["current"])
        r2 = _run("pit", n, args.repeat, 2)
        diff = abs(r2["current"] / r1["current"] - 1)
        lines.append(
            f"| {n} | {r1['cells']} | {r1['dofs']} | {r1['time']:.3f} | {r1['its']} | "
            f"{r2['time']:.3f} | {r1['time'] / r2['time']:.2f} | "
            f"{r1['current']:.6e}, {diff:.1e} |"
        )
        print(lines[-1], flush=True)
    change = [abs(a / pit_currents[-1] - 1) for a in pit_currents[:-1]]
    lines += [
        "",
        "Mesh convergence of the pit current, relative to the finest mesh: "
        + ", ".join(f"{c:.1e}" for c in change)
        + f" for {', '.join(str(n) for n in PIT_SIZES[:-1])} cells across the pit.",
    ]
    lines += [
        "",
        "The Newton iteration count does not grow with the mesh (the same nonlinearity, "
        "resolved better); solve time grows with the DOFs as sparse LU does. On this 2-core "
        "machine, shared with other jobs while measuring, 2 ranks are not faster (the "
        "speed-up column, measured, not assumed); what the 2-rank runs show is the same "
        "answer to round-off (last column).",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
