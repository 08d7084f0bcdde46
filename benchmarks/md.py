"""MD steps per second for the electrolyte and the metal–water interface (~200 and ~1000 atoms).

Runs :class:`multiscale.md.MDRunner` (Langevin, 300 K, trajectory every 10 steps, as in
production) on four systems built by :mod:`multiscale.md.builders` and reports wall-clock steps
per second after warm-up steps (model loading, first neighbour lists) are excluded. The
calculator is a command-line choice:

* ``default``: the project's default MLIP, ``multiscale.mlip.load_default_model()``;
* ``chgnet``: the CHGNet universal potential (weights ship inside the chgnet wheel).

Writes ``benchmarks/results/md.md``. Usage: ``python benchmarks/md.py [--calculator chgnet]``.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from multiscale.md import (
    MDRunner,
    MDSettings,
    build_electrolyte,
    build_interface,
    estimate_timestep,
)

HERE = Path(__file__).parent

SYSTEMS = {
    # name: (builder, kwargs)
    "electrolyte ~200": (build_electrolyte, {"salt": "NaCl", "concentration": 1.0, "n_water": 64}),
    "electrolyte ~1000": (
        build_electrolyte,
        {"salt": "NaCl", "concentration": 1.0, "n_water": 330},
    ),
    "Cu(111)/water ~200": (
        build_interface,
        {"metal": "Cu", "facet": "fcc111", "size": (4, 4), "layers": 4, "water_thickness": 15.0},
    ),
    "Cu(111)/water ~1000": (
        build_interface,
        {"metal": "Cu", "facet": "fcc111", "size": (8, 8), "layers": 4, "water_thickness": 21.0},
    ),
}


def make_calculator(name: str):
    """Return (calculator factory, description)."""
    if name == "default":
        try:
            from multiscale.mlip import load_default_model
        except ImportError as err:
            raise SystemExit(
                f"the default MLIP loader is not available ({err}); run with --calculator chgnet"
            ) from err
        return load_default_model, "project default MLIP (multiscale.mlip.load_default_model)"
    if name == "chgnet":
        from chgnet.model.dynamics import CHGNetCalculator

        return (
            lambda: CHGNetCalculator(use_device="cpu", check_cuda_mem=False),
            "CHGNet 0.3.0 universal potential (chgnet wheel weights, CPU)",
        )
    raise SystemExit(f"unknown calculator {name!r}")


def steps_per_second(atoms, calc, warmup: int, steps: int, workdir: Path) -> tuple[float, float]:
    """(steps/s, s/step) of Langevin MD after ``warmup`` steps."""
    atoms.calc = calc
    stamps: list[float] = []
    runner = MDRunner(
        atoms, workdir,
        MDSettings(timestep_fs=0.5, temperature_K=300.0, seed=1, traj_interval=10,
                   checkpoint_interval=1000),
        progress=False, callback=lambda step, a: stamps.append(time.perf_counter()),
    )  # fmt: skip
    runner.run(warmup + steps)
    dt = np.diff(stamps[warmup - 1 :])
    return 1.0 / dt.mean(), dt.mean()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calculator", default="default", choices=["default", "chgnet"])
    parser.add_argument("--steps", type=int, default=5, help="timed MD steps per system")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--only", nargs="*", help="subset of systems (names as in the table)")
    parser.add_argument(
        "--timestep", action="store_true",
        help="also estimate the stable time step (Lanczos, ~50 force calls), ~200-atom systems",
    )  # fmt: skip
    args = parser.parse_args()
    factory, description = make_calculator(args.calculator)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, (builder, kwargs)) in enumerate(SYSTEMS.items()):
            if args.only and name not in args.only:
                continue
            atoms = builder(seed=0, **kwargs)
            sps, sec = steps_per_second(
                atoms, factory(), args.warmup, args.steps, Path(tmp) / str(k)
            )
            # ~50 force calls: affordable here only for the ~200-atom systems
            est = estimate_timestep(atoms) if args.timestep and len(atoms) < 300 else None
            rows.append((name, len(atoms), atoms.get_chemical_formula(), sps, sec, est))
            print(f"{name}: {len(atoms)} atoms, {sps:.3g} steps/s ({sec:.3g} s/step)", flush=True)
            if est is not None:
                print(f"  {est}", flush=True)
    lines = [
        "## MD throughput (benchmarks/md.py)",
        "",
        f"Calculator: **{description}**. Langevin MD at 300 K, 0.5 fs, through",
        "`multiscale.md.MDRunner` (trajectory every 10 steps, checkpoints, blow-up checks);",
        f"{args.steps} timed steps after {args.warmup} warm-up steps, 1 M NaCl (per litre of",
        f"water). Machine: {platform.machine()}, 2 cores shared with other work (indicative).",
        "",
        "| system | atoms | composition | MD steps/s | s/step | ω_max (cm⁻¹) → dt (fs) |",
        "|---|---|---|---|---|---|",
        *[
            f"| {n} | {na} | {f} | {s:.3g} | {t:.3g} | "
            + (
                f"{e.wavenumber_cm1:.0f} → {e.dt_fs:.2f} ({e.force_calls} force calls) |"
                if e
                else "not run |"
            )
            for n, na, f, s, t, e in rows
        ],
        "",
        "ω_max (`--timestep`): Lanczos on the mass-weighted Hessian at the configuration reached",
        "after the timed steps (a freshly built, unequilibrated structure), safety 0.2.",
        "",
    ]
    out = HERE / "results" / "md.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
