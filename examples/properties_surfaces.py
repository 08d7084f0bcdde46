# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Surface energies of Cu(111), (100) and (110)
#
# Slabs of 5–8 layers with the two outer layers on each side relaxed (ASE FIRE) and the
# middle fixed at bulk positions. Two routes: γ_N = [E_slab(N) − N ε_bulk]/2A with the bulk
# energy per atom, and the Fiorentini–Methfessel fit E_slab(N) = 2Aγ + N ε over the
# thickest slabs. Converged when γ changes by less than 0.01 J/m² between the last two
# thicknesses. EMT keeps it fast; any ASE calculator works.
#
# Run: `python examples/properties_surfaces.py OUTPUT_DIR` (about 10 s). Writes
# `surfaces.png`.

# +
import sys
import time
from pathlib import Path

from ase.calculators.emt import EMT

from multiscale.properties import plot_surface_energies, surface_energies

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("surfaces_output")
out.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter()
# -

results = surface_energies("Cu", EMT(), layers=(5, 6, 7, 8), fmax=0.002)
for facet, r in results.items():
    print(
        f"Cu({facet}): gamma = {r.gamma:.4f} J/m2 (FM), {r.gamma_bulk[-1]:.4f} J/m2 (bulk "
        f"route), unrelaxed {r.gamma_unrelaxed[-1]:.4f} J/m2; last change {r.change:.1e} "
        f"J/m2; converged: {r.converged}"
    )
plot_surface_energies(results, out / "surfaces.png")
print(f"wrote {out / 'surfaces.png'} in {time.perf_counter() - t0:.1f} s")
