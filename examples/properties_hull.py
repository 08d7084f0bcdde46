# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Formation energies and the convex hull of Cu–Au (optionally Cu–Au–Ag)
#
# Candidate structures are all decorations of the 4-atom cubic fcc cell (they include the
# L1₂ Cu₃Au and L1₀ CuAu orderings); each is relaxed (cell and positions, ASE FIRE) with the
# calculator, and the lower convex hull of the formation energies gives the stable set and
# every structure's energy above the hull. EMT keeps it fast; any ASE calculator works.
#
# Run: `python examples/properties_hull.py OUTPUT_DIR [--ternary]` (about 5 s; with
# `--ternary` also Cu–Au–Ag, 15 candidates, about 20 s). Writes `hull_CuAu.png` (and
# `hull_CuAuAg.png`).

# +
import sys
import time
from pathlib import Path

from ase.calculators.emt import EMT

from multiscale.properties import compute_hull, fcc_candidates

args = [a for a in sys.argv[1:] if not a.startswith("--")]
out = Path(args[0]) if args else Path("hull_output")
out.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter()
# -

binary = compute_hull(fcc_candidates(["Cu", "Au"], a=3.8), EMT(), fmax=0.01)
print(binary.table())
print("stable (binary):", ", ".join(binary.stable_names))
binary.plot(out / "hull_CuAu.png")

if "--ternary" in sys.argv:
    ternary = compute_hull(fcc_candidates(["Cu", "Au", "Ag"], a=3.9), EMT(), fmax=0.01)
    print(ternary.table())
    print("stable (ternary):", ", ".join(ternary.stable_names))
    ternary.plot(out / "hull_CuAuAg.png")
print(f"done in {time.perf_counter() - t0:.1f} s")
