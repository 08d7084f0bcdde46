# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # Phonons of Cu with phonopy and any ASE calculator
#
# Force constants from phonopy's finite displacements in a 3×3×3 supercell of the primitive
# cell, the dispersion along the standard fcc path Γ–X–W–K–Γ–L–U–W–L–K|U–X, the density of
# states, and the heat capacity and vibrational free energy against temperature. Imaginary
# modes would be reported as an instability. The supercell convergence is stated by
# comparing with a 2×2×2 supercell, and the slope of the acoustic branches near Γ is checked
# against the sound velocities from the elastic constants, v_L = √(C11/ρ), v_T = √(C44/ρ)
# along [100].
#
# Run: `python examples/properties_phonons.py OUTPUT_DIR` (about 5 s with EMT). Writes
# `phonons.png`.

# +
import sys
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT

from multiscale.properties import elastic_constants, phonons
from multiscale.properties._common import relax

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("phonons_output")
out.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter()
calc = EMT()
cu, _ = relax(bulk("Cu"), calc, cell=True, fmax=1e-6, steps=2000)
# -

ph = phonons(cu, calc, supercell=(3, 3, 3), compare_supercell=(2, 2, 2))
print(f"path {ph.path}; {ph.n_displacements} displaced supercell(s)")
print(
    f"stable: {ph.stable} (lowest frequency {ph.min_frequency:.2e} THz); "
    f"acoustic at Gamma: {np.abs(ph.gamma_acoustic).max():.1e} THz"
)
print(f"highest frequency {ph.band_frequencies.max():.2f} THz")
c = ph.convergence
print(
    f"supercell 2x2x2 vs 3x3x3: max difference {c['max_abs_diff_THz']:.3f} THz "
    f"at q = {c['qpoints'].tolist()} (converged within {c['tolerance_THz']} THz: "
    f"{c['converged']})"
)
i300 = int(np.argmin(np.abs(ph.temperatures - 300)))
print(
    f"300 K: C_V = {ph.heat_capacity[i300]:.3f} k_B/atom, "
    f"F_vib = {ph.free_energy[i300] * 1000:.1f} meV/atom"
)

# Sound velocities: slope of the acoustic branches at |k| = 0.01 1/Å along [100].

el = elastic_constants(cu, calc)
rho = cu.get_masses().sum() * units._amu / (cu.get_volume() * 1e-30)
k = 0.01
f = np.sort(ph.frequencies([np.array([k, 0, 0]) @ np.asarray(cu.cell).T])[0])
for name, v_ph, v_el in (
    ("transverse", f[0] / k * 100, np.sqrt(el.C44 * 1e9 / rho)),
    ("longitudinal", f[2] / k * 100, np.sqrt(el.C11 * 1e9 / rho)),
):
    print(
        f"{name} sound velocity: phonons {v_ph:.0f} m/s, elastic constants {v_el:.0f} m/s "
        f"(relative difference {abs(v_ph / v_el - 1):.3f})"
    )
ph.plot(out / "phonons.png")
print(f"wrote {out / 'phonons.png'} in {time.perf_counter() - t0:.1f} s")
