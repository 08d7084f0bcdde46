"""MLIP benchmark: accuracy of the shipped MACE models, speed against CHGNet, MD stability.

Measures, on this machine's CPU (torch threads as given below):

1. held-out energy/force errors of the shipped "water-nacl" committee members against the
   PySCF PBE/def2-SVP labels of the test split (``models/water-nacl_split.json``);
2. ms per energy+force call on periodic water boxes (~200 and ~1000 atoms) for the default
   MACE model and CHGNet 0.3.0;
3. the CHGNet-vs-PySCF force discrepancy on the same held-out clusters (what force mixing sees
   at the boundary when CHGNet is the environment);
4. Langevin MD stability of "cu-water-nacl" on the Cu(111)/NaCl(aq) interface: 300 K,
   0.5 fs, 2000 steps (max force, min distance, temperature).

Writes benchmarks/results/mlip.md. Run: ``OMP_NUM_THREADS=1 python benchmarks/mlip.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import torch
from ase import Atoms, units
from ase.build import molecule
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from multiscale.mlip import chgnet_calculator, load_default_model, mace_calculator
from multiscale.mlip.default_models import DEFAULT_MODELS, MODELS_DIR

THREADS = 1


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
    atoms = atoms.copy()
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


def errors(calc, frames, box: bool = False) -> tuple[float, float, float]:
    """Force MAE, force RMSE (meV/Å) and energy MAE (meV/atom) against the stored labels.

    ``box``: put each cluster in a periodic 30 Å cube (CHGNet needs a cell; no image is
    within its cutoff).
    """
    from multiscale.mlip.teachers import force_errors

    e = force_errors(calc, frames, box=box)
    return e.mae, e.rmse, e.energy_mae


def test_frames() -> list[Atoms]:
    data = ase.io.read(MODELS_DIR / "water-nacl_pbe_def2svp.extxyz", index=":")
    split = json.loads((MODELS_DIR / "water-nacl_split.json").read_text())
    return [data[i] for i in split["test"]]


def md_stability(n_steps: int = 2000, dt_fs: float = 0.5) -> dict:
    from multiscale.md.builders import build_interface
    from multiscale.mlip.build_default import INTERFACE_KW

    atoms = build_interface(seed=11, **INTERFACE_KW)
    atoms.calc = load_default_model("cu-water-nacl", num_threads=THREADS)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(1))
    dyn = Langevin(
        atoms,
        dt_fs * units.fs,
        temperature_K=300,
        friction=0.01 / units.fs,
        rng=np.random.default_rng(2),
    )
    log = {"max_force": 0.0, "min_dist": 9.0, "pair": "", "temps": []}
    sym = atoms.get_chemical_symbols()
    ncu = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Cu"]

    def watch():
        f = np.abs(atoms.get_forces()).max()
        d = atoms.get_all_distances(mic=True)
        np.fill_diagonal(d, 9.0)
        log["max_force"] = max(log["max_force"], float(f))
        if d.min() < log["min_dist"]:
            i, j = np.unravel_index(np.argmin(d), d.shape)
            log["min_dist"], log["pair"] = float(d.min()), f"{sym[i]}-{sym[j]}"
        log["temps"].append(float(atoms.get_temperature()))

    dyn.attach(watch, interval=50)
    t0 = time.perf_counter()
    dyn.run(n_steps)
    wall = time.perf_counter() - t0
    temps = np.array(log["temps"][len(log["temps"]) // 2 :])
    return {
        "atoms": len(atoms),
        "n_cu": len(ncu),
        "steps": n_steps,
        "dt_fs": dt_fs,
        "max_force": log["max_force"],
        "min_dist": log["min_dist"],
        "pair": log["pair"],
        "t_mean": float(temps.mean()),
        "t_std": float(temps.std()),
        "ms_per_step": 1e3 * wall / n_steps,
        "finite": bool(np.all(np.isfinite(atoms.positions))),
    }


def main(md_steps: int = 2000) -> None:
    torch.set_num_threads(THREADS)
    frames = test_frames()
    lines = [
        "## MLIP (multiscale.mlip)",
        "",
        f"CPU, torch {THREADS} thread(s), on the shared 2-core machine (timings are noisy).",
        "",
        "### Held-out errors against PySCF PBE/def2-SVP "
        f"({len(frames)} test clusters: water, Na+/Cl-/NaCl with 2-4 waters)",
        "",
        "| model | force MAE meV/Å | force RMSE meV/Å | energy MAE meV/atom |",
        "|---|---:|---:|---:|",
    ]
    members = DEFAULT_MODELS["water-nacl"][0]
    for f in members:
        if (MODELS_DIR / f).exists():
            mae, rmse, emae = errors(mace_calculator(MODELS_DIR / f), frames)
            lines.append(f"| MACE {f} | {mae:.0f} | {rmse:.0f} | {emae:.0f} |")
            print(lines[-1], flush=True)
    try:
        com = load_default_model("water-nacl", committee=True)
        mae, rmse, emae = errors(com, frames)
        lines.append(f"| MACE committee mean | {mae:.0f} | {rmse:.0f} | {emae:.0f} |")
    except Exception as exc:
        lines.append(f"| MACE committee mean | not available: {exc} | | |")
    chg = chgnet_calculator(num_threads=THREADS)
    mae, rmse, _ = errors(chg, frames, box=True)
    lines += [
        f"| CHGNet 0.3.0 (no training on these) | {mae:.0f} | {rmse:.0f} | (different reference) |",
        "",
        "The CHGNet row is the CHGNet-vs-PySCF force discrepancy that force mixing sees at the "
        "QM/ML boundary when CHGNet is the environment.",
        "",
        "### Speed: ms per energy+force call, periodic water boxes",
        "",
        "| atoms | default MACE (water-nacl-0) | CHGNet 0.3.0 | ratio |",
        "|---:|---:|---:|---:|",
    ]
    mace = load_default_model("water-nacl", num_threads=THREADS)
    for n_side, reps in ((4, 3), (7, 2)):
        box = water_box(n_side)
        t_m = ms_per_call(box, mace, reps + 2)
        t_c = ms_per_call(box, chg, reps)
        lines.append(f"| {len(box)} | {t_m:.0f} | {t_c:.0f} | {t_c / t_m:.1f}x |")
        print(lines[-1], flush=True)
    if md_steps > 0:
        r = md_stability(md_steps)
        lines += [
            "",
            "### Langevin MD with cu-water-nacl (distilled from CHGNet)",
            "",
            f"Cu(111)/NaCl(aq), {r['atoms']} atoms ({r['n_cu']} Cu), 300 K, {r['dt_fs']} fs, "
            f"friction 0.01/fs, {r['steps']} steps: finite={r['finite']}, "
            f"max |F| = {r['max_force']:.2f} eV/Å, "
            f"min distance = {r['min_dist']:.2f} Å ({r['pair']}), "
            f"T (second half) = {r['t_mean']:.0f} ± {r['t_std']:.0f} K, "
            f"{r['ms_per_step']:.0f} ms/step.",
        ]
        print(lines[-1], flush=True)
    lines.append("")
    out = Path(__file__).parent / "results" / "mlip.md"
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    if "--md-only" in sys.argv:
        print(md_stability(int(sys.argv[1])))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
