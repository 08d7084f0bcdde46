"""Cu with a universal MLIP: the property workflows plus independent cross-checks.

Run: ``python benchmarks/properties_cu.py [--model chgnet|sevennet] [OUT]`` (default model
chgnet = CHGNet 0.3.0; sevennet = SevenNet-0, the teacher of the shipped interface model;
default OUT: benchmarks/results/properties_cu_<model>). See docs/properties.md.
Restartable: the workflows of examples/properties_cu_<model>.toml whose JSON in OUT holds the
same settings are not rerun; the cross-checks are written to OUT/crosschecks.json and skipped
when that file exists. Prints the measured run time.

Cross-checks: the bulk modulus from an E(V) equation of state (ase.eos, Birch-Murnaghan)
against (C11 + 2 C12)/3 from the stress fits; C11, C12, C44 from energy second derivatives;
phonon frequencies at X and L with 3x3x3 and 5x5x5 supercells.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.eos import EquationOfState

from multiscale.pipeline.calculators import make_calculator
from multiscale.properties import run_properties, strain_cell, supercell_convergence
from multiscale.properties._common import write_json

ROOT = Path(__file__).resolve().parents[1]


def main(model: str, out: Path) -> None:
    t0 = time.perf_counter()
    summary = run_properties(ROOT / "examples" / f"properties_cu_{model}.toml", out)
    t_workflows = time.perf_counter() - t0
    path = out / "crosschecks.json"
    if path.exists():
        checks = json.loads(path.read_text())
    else:
        calc, _ = make_calculator({"model": model, "num_threads": 1})
        a = summary["material"]["a_A"]
        cu = bulk("Cu", "fcc", a=a)
        v0 = cu.get_volume()
        vols, ens = [], []
        for s in np.linspace(0.97, 1.03, 7):
            x = bulk("Cu", "fcc", a=a * s ** (1 / 3))
            x.calc = calc
            vols.append(x.get_volume())
            ens.append(x.get_potential_energy())
        eos = EquationOfState(vols, ens, eos="birchmurnaghan")
        _, _, b = eos.fit()

        def energy(v):
            x = strain_cell(cu, v)
            x.calc = calc
            return x.get_potential_energy()

        h, e0 = 5e-3, energy(np.zeros(6))

        def d2(v):
            v = np.asarray(v, float)
            return (energy(h * v) - 2 * e0 + energy(-h * v)) / h**2 / v0 / units.GPa

        c11 = d2([1, 0, 0, 0, 0, 0])
        c12 = d2([1, 1, 0, 0, 0, 0]) / 2 - c11
        c44 = d2([0, 0, 0, 1, 0, 0])
        conv = supercell_convergence(
            cu,
            calc,
            supercells=((3, 3, 3), (5, 5, 5)),
            qpoints=((0.5, 0.5, 0.0), (0.5, 0.0, 0.0), (0.25, 0.0, 0.0)),
        )
        checks = {
            "B_eos_GPa": b / units.GPa,
            "energy_route_GPa": {"C11": c11, "C12": c12, "C44": c44},
            "phonon_supercells": conv,
            "time_s": time.perf_counter() - t0,
        }
        write_json(checks, path)
    el = summary["elastic"]
    print(f"workflows: {t_workflows:.0f} s (this call); cross-checks: {checks['time_s']:.0f} s")
    print(f"C11 {el['C11']:.1f}  C12 {el['C12']:.1f}  C44 {el['C44']:.1f} GPa (stress fits)")
    el_full = json.loads((out / "elastic.json").read_text())
    for k, v in el_full["secant_C11_C12_C44_GPa"].items():
        print(f"secant +-{float(k):.4f}: C11 {v[0]:.1f}  C12 {v[1]:.1f}  C44 {v[2]:.1f} GPa")
    e = checks["energy_route_GPa"]
    print(f"C11 {e['C11']:.1f}  C12 {e['C12']:.1f}  C44 {e['C44']:.1f} GPa (energy route)")
    print(
        f"B: (C11+2C12)/3 = {(el['C11'] + 2 * el['C12']) / 3:.1f} GPa, E(V) fit "
        f"{checks['B_eos_GPa']:.1f} GPa"
    )
    c = checks["phonon_supercells"]
    print(
        f"phonons X (0.5,0.5,0), L (0.5,0,0), (0.25,0,0): 3x3x3 {np.round(c['frequencies'][0], 2)}"
        f" THz; 5x5x5 {np.round(c['frequencies'][1], 2)} THz; max diff "
        f"{c['max_abs_diff_THz']:.3f} THz"
    )
    for f, s in summary["surfaces"].items():
        if f != "time_s":
            print(f"gamma({f}) = {s['gamma_J_m2']:.3f} J/m2 (last change {s['change_J_m2']:.1e})")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("chgnet", "sevennet"), default="chgnet")
    parser.add_argument("out", nargs="?", type=Path, help="output folder")
    args = parser.parse_args()
    out = args.out or ROOT / "benchmarks" / "results" / f"properties_cu_{args.model}"
    main(args.model, out)
