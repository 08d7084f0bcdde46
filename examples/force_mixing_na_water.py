# # QM/ML force mixing: Na+ and its first solvation shell in DFT, the rest by an MLIP
#
# A Na+ ion in a small periodic water box. The ion and the waters of its first solvation
# shell are treated with PySCF DFT (PBE, small basis), the rest of the box with an ML
# potential (the shipped MACE `water-nacl` model). The forces are mixed atom by atom with a
# quintic (C2) switching shell, and the net force is corrected. The regions are recomputed at
# every MD step (a water that diffuses into the shell smoothly becomes QM), and a
# `ForceContinuityMonitor` records per-step diagnostics to CSV and warns if a force jumps by
# more than the step explains. Force mixing has no energy, so the MD is Langevin (thermostatted).
#
# Run: `python examples/force_mixing_na_water.py OUT_DIR [--steps N] [--quick]
# [--check-geometry]`. Defaults: 10 steps of 0.5 fs, PBE/6-31G with density fitting on a
# 28-31-atom QM cluster (Na+ and 9-10 waters, 0.5 Å buffer) in a box of 64 waters. Measured
# run time of the defaults: 15.6 min (935 s) on 2 cores that other jobs shared (load ~3.5):
# 84 s per QM force call (11 calls: the start and 10 steps), 0.16 s per ML call. The time
# scales with the number of force calls, (N + 1) x the QM time for `--steps N`.
# `--quick` (PBE/STO-3G, coarse grid, thin core, no buffer, 3 steps) takes about 20-30 s.
# `--check-geometry` only builds the system and the QM cluster, prints its size and checks
# that it fits in the periodic cell (a few seconds, no DFT). The environment variable
# `FM_EXAMPLE_QUICK=1` has the same effect as `--quick`.

# +
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
from ase import units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from coupling import ForceContinuityMonitor, ForceMixingCalculator, PySCFCalculator, Regions
from multiscale.md import build_electrolyte

DEFAULT_STEPS = 10
parser = argparse.ArgumentParser(description="Na+ in water: QM/ML force-mixing MD")
parser.add_argument("out", nargs="?", default=None, help="output directory")
parser.add_argument("--steps", type=int, default=None, help="MD steps (0.5 fs each)")
parser.add_argument("--quick", action="store_true", help="STO-3G, no buffer, 3 steps")
parser.add_argument(
    "--check-geometry", action="store_true", help="build the QM cluster, check it fits, exit"
)
args = parser.parse_args()
quick = args.quick or os.environ.get("FM_EXAMPLE_QUICK", "") not in ("", "0")
out = Path(args.out) if args.out else Path(tempfile.mkdtemp()) / "force_mixing"
out.mkdir(parents=True, exist_ok=True)
steps = args.steps if args.steps is not None else (3 if quick else DEFAULT_STEPS)
basis = "sto-3g" if quick else "6-31g"
r_buffer = 0.0 if quick else 0.5  # Å
# quick: a thinner core (the first-shell waters' hydrogens fall outside it), a coarse DFT grid
r_core, r_switch = (2.0, 0.5) if quick else (2.6, 0.8)  # Å
qm_options = {"grids_level": 1, "density_fit": True} if quick else {"density_fit": True}
# -

# ## The system
#
# 64 waters and one Na+ (the Cl- of the NaCl builder is removed, so the box carries a net
# charge of +1 e; the MLIP does not care, and the QM cluster gets `charge=+1`). The box is
# 12.5 Å wide: the QM cluster (whole waters with an atom within 3.9 Å of Na+, so atoms up
# to ~4.5-5 Å away) must not meet its own periodic image, so the box must be wider than twice
# that reach; a box of 32 waters (10 Å) is too small for these radii.

atoms = build_electrolyte(salt="NaCl", concentration=0.85, n_water=64, seed=2)
del atoms[[a.index for a in atoms if a.symbol == "Cl"]]
na = next(a.index for a in atoms if a.symbol == "Na")
print(f"{len(atoms)} atoms, box {atoms.cell.lengths()[0]:.2f} Å, Na+ index {na}")

# ## Regions
#
# Core: the Na+ ion. Whole waters are kept together; a water's distance is that of its atom
# closest to Na+. Waters with an atom within 2.6 Å (the first shell, Na-O ≈ 2.4 Å) get weight
# 1, the weight falls to 0 over the next 0.8 Å (quintic; 2.0 and 0.5 Å with `--quick`), and a
# buffer of `r_buffer` Å of further waters is included in the QM cluster with its forces
# discarded. `carve` builds the QM cluster once here, so a cluster that would not fit in the
# box fails now, with a message, not at the first MD step.

regions = Regions([na], r_core=r_core, r_switch=r_switch, r_buffer=r_buffer, max_cluster_size=80)
state = regions.update(atoms)
cluster = regions.carve(atoms, state.cluster)
anchor = list(cluster.indices).index(na)
reach = float(
    np.linalg.norm(cluster.atoms.positions - cluster.atoms.positions[anchor], axis=1).max()
)
half_box = float(atoms.cell.lengths().min() / 2)
print(
    f"QM cluster: {len(cluster.atoms)} atoms ({state.n_core} core, {state.n_shell} shell, "
    f"{state.n_buffer} buffer); reaches {reach:.2f} Å from Na+, half the box is {half_box:.2f} Å"
)
regions.reset()
if args.check_geometry:
    sys.exit(0)

# ## Calculators
#
# The ML calculator is one line: the shipped MACE model trained on PBE/def2-SVP labels.
# Alternatives: `multiscale.mlip.chgnet_calculator(num_threads=1)` (universal, slower), or
# any ASE calculator with forces.

from multiscale.mlip import load_default_model  # noqa: E402 (not needed by --check-geometry)

ml = load_default_model("water-nacl", num_threads=1)
qm = PySCFCalculator(xc="pbe", basis=basis, charge=1, **qm_options)
calc = ForceMixingCalculator(qm, ml, regions, switching="quintic", momentum="conserve")
atoms.calc = calc

# ## MD with the continuity monitor

# +
rng = np.random.default_rng(7)
MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=rng)
Stationary(atoms)
dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=300, friction=0.02 / units.fs, rng=rng)
log = out / "force_mixing_monitor.csv"
if log.exists():
    log.unlink()
monitor = ForceContinuityMonitor(atoms, log, max_stiffness=100.0)
dyn.attach(monitor, interval=1)
per_step = []


def timing():
    per_step.append(dict(calc.results["timings"]))


dyn.attach(timing, interval=1)
t0 = time.perf_counter()
dyn.run(steps)
wall = time.perf_counter() - t0
# -

# ## Diagnostics

# +
d = monitor.read()
monitor.plot(out / "force_mixing_diagnostics.png")
t_qm = np.mean([t["qm"] for t in per_step])
t_ml = np.mean([t["ml"] for t in per_step])
print(f"QM: PBE/{basis}, buffer {r_buffer} Å; {steps} steps in {wall:.1f} s")
print(f"time per force call: QM {t_qm:.2f} s, ML {t_ml:.3f} s")
print(
    f"QM cluster: {d['cluster_size'].min():.0f}-{d['cluster_size'].max():.0f} atoms, "
    f"core {d['n_core'].min():.0f}-{d['n_core'].max():.0f}, "
    f"shell {d['n_shell'].min():.0f}-{d['n_shell'].max():.0f} atoms"
)
print(f"largest |ΔF| per step in the shell: {d['max_jump_shell'].max():.3g} eV/Å")
print(f"largest stiffness_shell: {d['stiffness_shell'].max():.3g} eV/Å^2 (limit 100)")
print(f"largest net force: {d['net_force'].max():.2e} eV/Å")
print(f"RMS |F_QM - F_ML| in the shell: {np.mean(d['rms_qm_ml_shell']):.3f} eV/Å")
print(f"continuity warnings: {monitor.n_warnings}")
print(f"wrote {log} and {out / 'force_mixing_diagnostics.png'}")
sys.stdout.flush()
# -
