"""The one place where the pipeline calls the continuum solver (so API changes touch only this).

Two problems:

* ``solve_profile_1d``: the MD :class:`continuum.TransportProfile` on a 1D mesh across the
  interfacial layer, D_i(z), F_i(z) and (optionally) φ(z) from MD, bulk concentrations held at the
  far end, a blocking metal. At steady state the flux vanishes, so the solution must give back
  the MD concentration profile: the largest relative deviation is a consistency check of the
  hand-off (units, interpolation, sign conventions).
* ``solve_pit``: a 2D corrosion pit (half domain), the dissolved metal ion produced at the pit
  walls by Butler–Volmer kinetics and leaving by diffusion to the bulk; an excess supporting
  electrolyte is assumed, so migration of the trace product is neglected (no field).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["solve_pit", "solve_profile_1d", "world"]

log = logging.getLogger("multiscale.pipeline")


def world():
    """MPI.COMM_WORLD (imports mpi4py)."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def solve_profile_1d(cfg: dict, profile_path: Path, out: Path, comm=None) -> dict[str, Any]:
    """Steady 1D Nernst–Planck with the MD coefficients; compare c(z) with MD."""
    import dolfinx_solver  # noqa: F401  (must precede dolfinx)

    from continuum import NernstPlanckProblem, TransportProfile, interval

    comm = comm or world()
    profile = TransportProfile.read(profile_path)
    z = profile.z
    length = float(z[-1] - z[0])
    dom = interval(comm, length, cfg["cells_1d"])
    pot = "profile" if cfg["potential_1d"] == "profile" and profile.potential is not None else None
    prob = NernstPlanckProblem.from_profile(dom, profile, potential=pot, free_energy=True)
    for k, name in enumerate(profile.species):
        prob.set_concentration(name, "right", float(profile.concentration[k, -1]))
    res = prob.solve()
    data = prob.sample_1d()
    out_sp: dict[str, Any] = {}
    x = data["x"]
    zz = z - z[0]
    for k, name in enumerate(profile.species):
        c_md = profile.concentration[k]
        c_np = np.interp(zz, x, data[name])
        dev = np.abs(c_np - c_md) / c_md
        out_sp[name] = {
            "max_rel_deviation_from_md": float(dev.max()),
            "c_far_mol_per_L": float(c_md[-1] / 1000),
        }
    if comm.rank == 0:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(6, 4))
        for k, name in enumerate(profile.species):
            err = profile.concentration_err[k] if profile.concentration_err is not None else None
            ax.errorbar(zz * 1e9, profile.concentration[k] / 1000, yerr=None if err is None
                        else err / 1000, fmt="o", ms=4, capsize=2, label=f"{name}, MD")  # fmt: skip
            ax.plot(x * 1e9, data[name] / 1000, "-", label=f"{name}, Nernst–Planck")
        ax.set_xlabel("distance from the first bin (nm)")
        ax.set_ylabel("c (mol/L)")
        ax.set_title("1D Nernst–Planck with MD D(z), F(z)" + (", φ(z)" if pot else ""))
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "np_1d.png", dpi=110)
        plt.close(fig)
    return {
        "length_nm": length * 1e9,
        "cells": cfg["cells_1d"],
        "potential": pot or "none",
        "newton_iterations": int(res.iterations),
        "solver_strategy": res.strategy,
        "species": out_sp,
        # physical-plausibility checks of the solver (empty = nothing unphysical found)
        "sane": bool(res.sane),
        "warnings": list(res.warnings),
    }


def solve_pit(cfg: dict, out: Path, comm=None) -> dict[str, Any]:
    """Steady 2D corrosion pit with Butler–Volmer dissolution at the metal walls."""
    import dolfinx_solver  # noqa: F401

    from continuum import ButlerVolmer, NernstPlanckProblem, Species, corrosion_pit

    comm = comm or world()
    um = 1e-6
    dom = corrosion_pit(
        comm, pit_width=cfg["pit_width_um"] * um, pit_depth=cfg["pit_depth_um"] * um,
        width=cfg["domain_width_um"] * um, height=cfg["domain_height_um"] * um,
        cells_across_pit=cfg["cells_across_pit"],
    )  # fmt: skip
    name = cfg["product"]
    sp = Species(name, cfg["product_charge"], cfg["product_diffusion_m2_per_s"],
                 cfg["product_bulk_mol_per_m3"])  # fmt: skip
    prob = NernstPlanckProblem(dom, [sp], temperature=cfg["temperature_K"], potential=None)
    bv = ButlerVolmer(
        name, cfg["electrons"], cfg["exchange_current_A_per_m2"], cfg["equilibrium_potential_V"],
        alpha_anodic=cfg["alpha_anodic"], alpha_cathodic=cfg["alpha_cathodic"],
        reference_concentration=cfg["reference_concentration_mol_per_m3"],
    )  # fmt: skip
    prob.add_electrode("metal", bv, cfg["equilibrium_potential_V"] + cfg["overpotential_V"])
    prob.set_concentration(name, "bulk", cfg["product_bulk_mol_per_m3"])
    res = prob.solve()
    prob.write(out / "pit.bp")
    current = prob.electrode_current("metal")  # A per metre of pit length
    metal_len = dom.measure("metal")
    out_flux = prob.flux(name, "bulk")
    c = prob.concentration(name)
    n_own = c.function_space.dofmap.index_map.size_local
    xy = c.function_space.tabulate_dof_coordinates()[:n_own, :2]
    vals = c.x.array[:n_own]
    allxy = comm.gather(xy, root=0)
    allv = comm.gather(vals, root=0)
    summary = {
        "newton_iterations": int(res.iterations),
        "solver_strategy": res.strategy,
        # physical-plausibility checks (concentrations <= 1e5 mol/m^3, current within the
        # diffusion limit): a summary with sane = False must not be reported as a result
        "sane": bool(res.sane),
        "warnings": list(res.warnings),
        "electrode_current_A_per_m": float(current),
        "mean_current_density_A_per_m2": float(current / metal_len),
        "product_outflux_mol_per_m_s": float(out_flux),
        "faraday_balance": float(out_flux * cfg["electrons"] * 96485.33212 / current)
        if current
        else float("nan"),
        "n_vertices": int(comm.allreduce(n_own)),
    }
    if comm.rank == 0:
        pts = np.concatenate(allxy)
        v = np.concatenate(allv)
        summary["max_product_mol_per_m3"] = float(v.max())
        import matplotlib.tri as mtri

        plt = _plt()
        tri = mtri.Triangulation(pts[:, 0] / um, pts[:, 1] / um)
        cx = pts[tri.triangles, 0].mean(axis=1) / um
        cy = pts[tri.triangles, 1].mean(axis=1) / um
        tri.set_mask((cx > cfg["pit_width_um"] / 2) & (cy < 0))
        fig, ax = plt.subplots(figsize=(6, 5))
        m = ax.tricontourf(tri, v, levels=30, cmap="viridis")
        fig.colorbar(m, ax=ax, label=f"c({name}) (mol/m³)")
        ax.set_aspect("equal")
        ax.set_xlabel("x (µm, pit axis at 0)")
        ax.set_ylabel("y (µm, metal surface at 0)")
        ax.set_title(f"Corrosion pit, Butler–Volmer, η = {cfg['overpotential_V']:.3g} V")
        fig.tight_layout()
        fig.savefig(out / "pit.png", dpi=110)
        plt.close(fig)
    summary["max_product_mol_per_m3"] = comm.bcast(summary.get("max_product_mol_per_m3"), root=0)
    return summary
