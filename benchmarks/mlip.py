"""MLIP benchmark: ms per energy+force call on periodic water boxes (~200 and ~1000 atoms).

Writes a Markdown section to benchmarks/results/mlip.md. The default MACE model does not
exist yet, so only CHGNet is timed; the held-out MAE and the speed ratio are not measured.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule

from multiscale.mlip.chgnet_adapter import chgnet_calculator


def water_box(n_side: int, spacing: float = 3.104) -> Atoms:
    """Water on a cubic grid at ~1 g/cm^3 (spacing in Å), randomly oriented, periodic."""
    rng = np.random.default_rng(0)
    box = Atoms(cell=[n_side * spacing] * 3, pbc=True)
    for idx in np.ndindex(n_side, n_side, n_side):
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3))
        w.positions += (np.array(idx) + 0.5) * spacing
        box += w
    return box


def ms_per_call(atoms: Atoms, calc, repeats: int) -> float:
    atoms.calc = calc
    atoms.get_forces()  # warm-up
    t = []
    for k in range(repeats):
        atoms.positions[0, 0] += 1e-4 * (k + 1)
        t0 = time.perf_counter()
        atoms.get_potential_energy()
        atoms.get_forces()
        t.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(t))


def main() -> None:
    calc = chgnet_calculator()
    rows = []
    for n_side, reps in ((4, 3), (7, 2)):
        atoms = water_box(n_side)
        rows.append((len(atoms), ms_per_call(atoms, calc, reps)))
        print(rows[-1], flush=True)
    lines = [
        "## MLIP (multiscale.mlip)",
        "",
        "Energy+force call on periodic water boxes, CPU, torch 2 threads, median of 2-3 calls.",
        "The default MACE model is not built yet: its MAE and its speed ratio to CHGNet are "
        "not measured.",
        "",
        "| atoms | CHGNet 0.3.0 ms/call |",
        "|---:|---:|",
        *[f"| {n} | {ms:.0f} |" for n, ms in rows],
        "",
    ]
    out = Path(__file__).parent / "results" / "mlip.md"
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
