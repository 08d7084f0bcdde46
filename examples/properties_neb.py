# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # A reaction barrier by climbing-image NEB, checked by a relaxed scan (PySCF)
#
# The umbrella inversion of ammonia at HF/STO-3G. `neb_path` runs ASE's climbing-image NEB
# between the relaxed pyramid and its mirror image. The independent route is
# `relaxed_scan`: at each height h of the N above the plane of the three H atoms, N is held
# fixed and each H is confined to its plane, and everything else relaxes. For this reaction
# the pyramid height is the reaction coordinate, so the scan's maximum (the planar D3h
# structure, h = 0) must equal the NEB barrier. The test suite asks for 0.05 eV.
#
# HF/STO-3G overestimates the inversion barrier: experiment gives about 0.25 eV
# (5.8 kcal/mol). The point here is the agreement of two routes at one level of theory. Any
# ASE calculator works in place of PySCF (for an MLIP, pass a factory of its calculator).
#
# Run: `python examples/properties_neb.py OUTPUT_DIR` (about 15 s on one core). Writes
# `neb.png`.

# +
import sys
import time
from pathlib import Path

import numpy as np
from ase.build import molecule
from ase.constraints import FixAtoms, FixedPlane
from ase.optimize import BFGS

from coupling import PySCFCalculator
from multiscale.properties import neb_path, relaxed_scan

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("neb_output")
out.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter()


def hf_sto3g():
    """A new PySCF calculator per image: PySCF keeps the last density, so never share one."""
    return PySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-10)


def pyramid_height(atoms):
    """Signed height (Å) of N (atom 0) above the plane of H1, H2, H3 (oriented by their order:
    the inversion flips its sign)."""
    n_pos, h = atoms.positions[0], atoms.positions[1:4]
    normal = np.cross(h[1] - h[0], h[2] - h[0])
    return float(np.dot(n_pos - h.mean(axis=0), normal / np.linalg.norm(normal)))


# -

# End points: the relaxed pyramid and its mirror image through a plane perpendicular to z.

# +
reactant = molecule("NH3")
reactant.calc = hf_sto3g()
BFGS(reactant, logfile=None).run(fmax=0.005)
product = reactant.copy()
z_c = reactant.get_center_of_mass()[2]
product.positions[:, 2] = 2 * z_c - product.positions[:, 2]
product.calc = hf_sto3g()
h_eq = abs(pyramid_height(reactant))
print(f"relaxed pyramid height {h_eq:.4f} Å; E(product) - E(reactant) = "
      f"{product.get_potential_energy() - reactant.get_potential_energy():.2e} eV")  # fmt: skip
# -

# The climbing-image NEB (5 moving images).

neb = neb_path(reactant, product, hf_sto3g, n_images=5, fmax=0.02)
print(
    f"NEB: barrier {neb.barrier:.4f} eV, converged {neb.converged} (largest force "
    f"{neb.max_force:.3f} eV/Å), {neb.n_steps} FIRE steps, {neb.n_force_calls} image gradients, "
    f"{neb.wall_time:.1f} s"
)

# The relaxed scan of the pyramid height: N fixed at the origin, each H held in the plane
# z = -h, the rest relaxed.

# +


def at_height(atoms, h):
    atoms.positions -= atoms.positions[0]
    sign = np.sign(atoms.positions[1:, 2].mean()) or -1.0
    atoms.positions[1:, 2] = sign * h
    atoms.set_constraint([FixAtoms([0])] + [FixedPlane(i, [0, 0, 1]) for i in (1, 2, 3)])
    return atoms


heights = np.linspace(0.0, h_eq, 5)
scan = relaxed_scan(reactant, at_height, heights, hf_sto3g, fmax=0.005)
e0 = reactant.get_potential_energy()
e_scan = scan.energies - e0
print(f"scan: {len(heights)} heights, all converged {scan.all_converged}, {scan.wall_time:.1f} s")
for h, e in zip(heights, e_scan, strict=True):
    print(f"  h = {h:.3f} Å: E - E(pyramid) = {e:.4f} eV")
diff = neb.barrier - e_scan.max()
print(f"barrier: NEB {neb.barrier:.4f} eV, scan maximum {e_scan.max():.4f} eV at h = "
      f"{heights[np.argmax(e_scan)]:.3f} Å; difference {diff:+.2e} eV")  # fmt: skip
# -

# Plot: energy against the signed pyramid height, the NEB images and the scan (mirrored to
# negative h by the symmetry of the inversion).

# +
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

h_neb = [pyramid_height(im) for im in neb.images]
fig, ax = plt.subplots(figsize=(5.5, 3.8))
ax.plot(h_neb, neb.energies - neb.energies[0], "o-", label="CI-NEB images")
sign = np.sign(pyramid_height(reactant))
ax.plot(sign * heights, e_scan, "s", mfc="none", ms=9, label="relaxed scan")
ax.plot(-sign * heights, e_scan, "s", mfc="none", ms=9, color="C1")
ax.set_xlabel("signed pyramid height of N above the H₃ plane (Å)")
ax.set_ylabel("E − E(pyramid) (eV)")
ax.set_title(f"NH₃ inversion, HF/STO-3G: NEB {neb.barrier:.3f} eV, scan {e_scan.max():.3f} eV",
             fontsize=9)  # fmt: skip
ax.legend()
fig.tight_layout()
fig.savefig(out / "neb.png", dpi=120)
print(f"wrote {out / 'neb.png'}; total {time.perf_counter() - t0:.1f} s")
# -
