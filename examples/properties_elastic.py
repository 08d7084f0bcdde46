# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Elastic constants of Cu from stress–strain fits
#
# The cell of relaxed fcc Cu is strained by ±0.5 % and ±1 % in each of the six Voigt
# components; the stresses are fitted with straight lines, σ_i = C_ij ε_j + σ_i⁰. The
# result is checked against an independent route, the energy's second derivative
# E(ε)/V = ½ C11 ε² for a uniaxial strain, and the Born stability criteria and
# Voigt–Reuss–Hill moduli are printed. Any ASE calculator works; EMT is used so that the
# example runs in seconds (replace it by `multiscale.mlip.chgnet_calculator()` for CHGNet).
#
# Run: `python examples/properties_elastic.py OUTPUT_DIR` (about 3 s). Writes `elastic.png`.

# +
import sys
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT

from multiscale.properties import elastic_constants, strain_cell
from multiscale.properties._common import relax

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("elastic_output")
out.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter()
calc = EMT()
# -

# Relax the cell first: a residual stress would add pre-stress terms to C.

cu, converged = relax(bulk("Cu"), calc, cell=True, fmax=1e-6, steps=2000)
print(f"a = {np.sqrt(2) * cu.cell.lengths()[0]:.4f} Å (relaxed: {converged})")

res = elastic_constants(cu, calc)
print(
    f"C11 = {res.C11:.2f} GPa, C12 = {res.C12:.2f} GPa, C44 = {res.C44:.2f} GPa "
    f"({res.symmetry}; fit rms residual {res.residual_GPa:.2g} GPa)"
)
print(f"Born stable: {res.born_stable}  {res.born_criteria}")
m = res.moduli
print(
    f"K_V = {m['K_V']:.1f}, K_R = {m['K_R']:.1f}, G_V = {m['G_V']:.1f}, G_R = {m['G_R']:.1f}, "
    f"G_H = {m['G_H']:.1f} GPa"
)

# The independent route: C11 = (1/V) d²E/dε² by central differences.

h, V = 2e-3, cu.get_volume()
e = []
for eps in (-h, 0.0, h):
    x = strain_cell(cu, [eps, 0, 0, 0, 0, 0])
    x.calc = calc
    e.append(x.get_potential_energy())
c11_energy = (e[0] - 2 * e[1] + e[2]) / h**2 / V / units.GPa
print(
    f"C11 from the energy route = {c11_energy:.2f} GPa "
    f"(relative difference {abs(c11_energy / res.C11 - 1):.1e})"
)
res.plot(out / "elastic.png")
print(f"wrote {out / 'elastic.png'} in {time.perf_counter() - t0:.1f} s")
