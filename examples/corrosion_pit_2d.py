# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # A 2D corrosion pit: Poisson–Nernst–Planck with Butler–Volmer dissolution
#
# Iron dissolves at the walls and bottom of a 200 nm pit, Fe → Fe²⁺ + 2e⁻, with
# Butler–Volmer kinetics (i0 = 10 mA/m², α_a = 0.6, α_c = 0.4, E_eq = −0.44 V) and a
# Stern layer (0.2 F/m²) between the metal and the diffuse layer. The solution (dilute
# NaCl with some Fe²⁺; Debye length 8 nm, resolved by a graded mesh) is held at its bulk
# composition and at φ = 0 at the top. The half pit is modelled (symmetry axis x = 0).
#
# For a few metal potentials the steady state is solved (each from the previous one, with
# continuation in the potential when needed) and the anodic current is checked against the
# ionic current leaving the domain (charge conservation). The default mesh (8 cells across
# the half pit) gives the current within 9 % of the mesh-converged value (2 % with
# `--cells 16`, see benchmarks/results/continuum.md).
#
# Run: `python examples/corrosion_pit_2d.py OUTPUT_DIR` (about 4 s; also under
# `mpiexec -n 2`). Writes `polarisation.png`, `pit_fields.png` and `pit.bp` (VTX: c in
# mol/m³ and φ in V, open in ParaView) to OUTPUT_DIR.

# +
import argparse
import time
from pathlib import Path

import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.tri as mtri
import numpy as np
from matplotlib.colors import LogNorm
from mpi4py import MPI

from continuum import ButlerVolmer, NernstPlanckProblem, Species, corrosion_pit

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("output", nargs="?", default="corrosion_pit_output", help="output directory")
parser.add_argument("--cells", type=int, default=8, help="cells across the half pit")
args, _ = parser.parse_known_args()
out = Path(args.output)
comm = MPI.COMM_WORLD
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()
# -

# Geometry (m) and chemistry (SI: mol/m³, m²/s, A/m², V, F/m²).

# +
domain = corrosion_pit(
    comm,
    pit_width=200e-9,
    pit_depth=200e-9,
    width=500e-9,
    height=500e-9,
    cells_across_pit=args.cells,
    grading=2.0,
)
bulk = {"Fe2+": 0.1, "Cl-": 1.2, "Na+": 1.0}  # mol/m^3, electroneutral
species = [
    Species("Fe2+", 2, 7.2e-10, bulk["Fe2+"]),
    Species("Cl-", -1, 2.03e-9, bulk["Cl-"]),
    Species("Na+", 1, 1.33e-9, bulk["Na+"]),
]
iron = ButlerVolmer(
    "Fe2+",
    electrons=2,
    exchange_current_density=1e-2,
    equilibrium_potential=-0.44,
    alpha_anodic=1.2,  # alpha_a + alpha_c = n = 2 (Nernstian at zero current)
    alpha_cathodic=0.8,
    reference_concentration=1000.0,
    stern_capacitance=0.2,
)
potentials = [-0.42, -0.38, -0.34, -0.30]  # V, metal potential vs the bulk solution

problem = NernstPlanckProblem(domain, species)
problem.add_electrode("metal", iron, potentials[0])
for name, c in bulk.items():
    problem.set_concentration(name, "bulk", c)
problem.set_potential("bulk", 0.0)
if comm.rank == 0:
    print(f"Debye length {problem.debye_length * 1e9:.2f} nm")
# -

# Polarisation curve: the anodic current per metre of pit length, and the charge balance.

# +
metal_length = domain.measure("metal")  # m (per metre of depth)
currents = []
for E in potentials:
    problem.update_electrode("metal", E)
    res = problem.solve()
    i_metal = problem.electrode_current("metal")  # A/m
    i_bulk = problem.current("bulk")  # ionic current out of the top, A/m
    currents.append(i_metal)
    if comm.rank == 0:
        print(
            f"E = {E:+.2f} V: Newton {res.iterations:2d} it, i = {i_metal / metal_length:.4e} "
            f"A/m^2, current balance {abs(i_bulk / i_metal - 1):.1e}"
        )
currents = np.array(currents)
# -

# Fields of the last state: gather the P1 triangles of every rank on rank 0 and plot.

# +
fe = problem.concentration("Fe2+")
phi = problem.potential()
V = fe.function_space
n_own = domain.mesh.topology.index_map(2).size_local
cells = V.dofmap.list[:n_own]
xy = V.tabulate_dof_coordinates()[:, :2]
local = (xy[cells], fe.x.array[cells], phi.x.array[cells])
gathered = comm.gather(local, root=0)
if comm.rank == 0:
    tri_xy = np.concatenate([g[0] for g in gathered]) * 1e9  # nm
    tri = mtri.Triangulation(
        tri_xy[:, :, 0].ravel(),
        tri_xy[:, :, 1].ravel(),
        np.arange(tri_xy.shape[0] * 3).reshape(-1, 3),
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, k, label in ((axes[0], 1, "c(Fe²⁺) (mol/m³)"), (axes[1], 2, "φ (mV)")):
        values = np.concatenate([g[k] for g in gathered]).ravel() * (1e3 if k == 2 else 1)
        norm = LogNorm() if k == 1 else None  # the double layer enriches Fe²⁺ ~10⁴-fold
        m = ax.tripcolor(tri, values, shading="gouraud", norm=norm)
        fig.colorbar(m, ax=ax, label=label)
        ax.set(xlabel="x (nm)", ylabel="y (nm)", aspect="equal")
    fig.suptitle(f"E = {potentials[-1]} V")
    fig.tight_layout()
    fig.savefig(out / "pit_fields.png", dpi=110)

    fig2, ax = plt.subplots(figsize=(5, 4))
    ax.semilogy(potentials, currents / metal_length, "o-")
    ax.set(xlabel="E (V)", ylabel="mean anodic current density (A/m²)")
    fig2.tight_layout()
    fig2.savefig(out / "polarisation.png", dpi=110)
problem.write(out / "pit.bp")  # collective
if comm.rank == 0:
    print(f"wrote {out}/polarisation.png, pit_fields.png, pit.bp")
    print(f"run time {time.perf_counter() - t_start:.1f} s")
# -
