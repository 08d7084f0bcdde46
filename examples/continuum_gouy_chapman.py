# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
# ---

# # The Gouy–Chapman double layer with the Poisson–Nernst–Planck solver
#
# A flat electrode at potential φ0 in 0.1 M NaCl. The solver's steady state is compared
# with the Gouy–Chapman solution
# φ(x) = 4 V_T artanh[tanh(φ0 / 4V_T) e^{−x/λ_D}], c± = c0 e^{∓φ/V_T},
# and its wall charge with the Grahame equation.
#
# Run: `python examples/continuum_gouy_chapman.py OUTPUT_DIR` (about 3 s, mostly imports;
# also under `mpiexec -n 2`). Writes `gouy_chapman.png` (profiles and errors),
# `gouy_chapman_4kT.bp` (VTX, open in ParaView) and `gouy_chapman_4kT_profiles.png` to
# OUTPUT_DIR.

# +
import argparse
import time
from pathlib import Path

import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from mpi4py import MPI

from continuum import (
    NernstPlanckProblem,
    Species,
    analytic,
    debye_length,
    interval,
    thermal_voltage,
)

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("output", nargs="?", default="gouy_chapman_output", help="output directory")
args, _ = parser.parse_known_args()
out = Path(args.output)
comm = MPI.COMM_WORLD
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()
# -

# Bulk 0.1 mol/L = 100 mol/m³ of a 1:1 salt; the domain is 20 Debye lengths long, with
# cells clustered at the electrode.

# +
c0 = 100.0  # mol/m^3
vt = thermal_voltage(298.15)  # V
lam = debye_length([c0, c0], [1, -1])  # m
if comm.rank == 0:
    print(f"Debye length {lam * 1e9:.3f} nm, thermal voltage {vt * 1e3:.3f} mV")


def solve(phi0: float) -> NernstPlanckProblem:
    dom = interval(comm, 20 * lam, 400, refine="start", grading=2.0)
    species = [Species("Na+", 1, 1.33e-9, c0), Species("Cl-", -1, 2.03e-9, c0)]
    p = NernstPlanckProblem(dom, species)
    p.set_potential("left", phi0)  # electrode (V)
    p.set_potential("right", 0.0)  # bulk
    for s in ("Na+", "Cl-"):
        p.set_concentration(s, "right", c0)
    p.solve()
    return p


# -

# Solve for 1, 2 and 4 kT/e and compare with the closed form.

# +
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
for k in (1, 2, 4):
    phi0 = k * vt
    p = solve(phi0)
    s = p.sample_1d()  # gathered on every rank
    phi, cp, cm = analytic.gouy_chapman(s["x"], phi0, c0)
    err_phi = np.max(np.abs(s["phi"] - phi)) / phi0
    err_c = max(np.max(np.abs(s["Na+"] / cp - 1)), np.max(np.abs(s["Cl-"] / cm - 1)))
    sigma, sigma_ref = p.surface_charge("left"), analytic.grahame_charge(phi0, c0)
    if comm.rank == 0:
        print(
            f"phi0 = {k} kT/e: Newton {p.iterations} it, max |dphi|/phi0 = {err_phi:.1e}, "
            f"max |dc/c| = {err_c:.1e}, sigma = {sigma:.5f} C/m^2 "
            f"(Grahame {sigma_ref:.5f})"
        )
    x_nm = s["x"] * 1e9
    axes[0].plot(x_nm, s["phi"] * 1e3, label=f"FEM {k} kT/e")
    axes[0].plot(x_nm, phi * 1e3, "k:", lw=1)
    axes[1].semilogy(x_nm, s["Cl-"] / 1e3, label=f"Cl⁻ {k} kT/e")
    axes[1].semilogy(x_nm, s["Na+"] / 1e3, "--", label=f"Na⁺ {k} kT/e")
    axes[2].semilogy(x_nm, np.abs(s["phi"] - phi) / phi0 + 1e-16, label=f"{k} kT/e")
axes[0].set(xlabel="x (nm)", ylabel="φ (mV)", title="potential (dotted: Gouy–Chapman)")
axes[1].set(xlabel="x (nm)", ylabel="c (mol/L)", title="concentrations")
axes[2].set_ylim(1e-8, 1e-3)
axes[2].set(xlabel="x (nm)", ylabel="|φ − φ_GC| / φ0", title="error")
for ax in axes:
    ax.legend(fontsize=7)
    ax.set_xlim(0, 5 * lam * 1e9)
fig.tight_layout()
if comm.rank == 0:
    fig.savefig(out / "gouy_chapman.png", dpi=110)
p.write(out / "gouy_chapman_4kT.bp")  # collective: every rank writes its part of one file
p.plot_1d(out / "gouy_chapman_4kT_profiles.png")  # the solver's own 1D plot (collective)
if comm.rank == 0:
    print(f"wrote {out}/gouy_chapman.png, gouy_chapman_4kT_profiles.png, gouy_chapman_4kT.bp")
    print(f"run time {time.perf_counter() - t_start:.1f} s")
# -
