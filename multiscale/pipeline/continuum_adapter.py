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


def profile_permittivity(profile) -> dict[str, Any]:
    """The permittivity the continuum takes from a profile: its ε⊥(z), ε∥(z) when it carries
    them (they passed the extract stage's convergence gate), else bulk water.

    Returns
    -------
    dict
        ``argument`` (for ``NernstPlanckProblem.from_profile``: "profile" or a number),
        ``argument_parallel`` ("profile" or None), ``value`` (a number, or "ε⊥ a–b, ε∥ c–d"),
        ``source`` (MD or table, and why not MD).
    """
    if profile is not None and profile.permittivity is not None:
        perp = profile.permittivity
        val = f"ε⊥ {np.min(perp):.3g}–{np.max(perp):.3g}"
        par = None
        if profile.permittivity_parallel is not None:
            par = "profile"
            pp = profile.permittivity_parallel
            val += f", ε∥ {np.min(pp):.3g}–{np.max(pp):.3g}"
        src = "MD: ε⊥(z)" + (", ε∥(z) (tensor ε⊥ n⊗n + ε∥ (I − n⊗n) in 2D/3D)" if par else "")
        return {
            "argument": "profile",
            "argument_parallel": par,
            "value": val,
            "source": src + " of the profile, polarization fluctuations",
        }
    from .electrochem import bulk_water_permittivity

    eps, ref = bulk_water_permittivity(profile.temperature if profile is not None else 298.15)
    if profile is None:
        why = "no profile"
    else:
        why = (profile.provenance.get("permittivity") or {}).get(
            "why", "the profile carries no ε(z) (see the extract stage's summary)"
        )
    return {
        "argument": float(eps),
        "argument_parallel": None,
        "value": float(eps),
        "source": f"table: bulk water ({ref}); not from MD: {why}",
    }


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
    eps = profile_permittivity(profile)
    prob = NernstPlanckProblem.from_profile(
        dom, profile, potential=pot, free_energy=True, permittivity=eps["argument"]
    )
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
    summary = {
        "length_nm": length * 1e9,
        "cells": cfg["cells_1d"],
        "potential": pot or "none",
        # ε enters only a solved Poisson equation; with φ prescribed (or none) it is recorded
        "permittivity": {
            "value": eps["value"],
            "source": eps["source"],
            "enters": False,
            "note": "the 1D problem prescribes the MD φ(z) (or no field): no Poisson solve",
        },
        "newton_iterations": int(res.iterations),
        "solver_strategy": res.strategy,
        "species": out_sp,
        # physical-plausibility checks of the solver (empty = nothing unphysical found)
        "sane": bool(res.sane),
        "warnings": list(res.warnings),
    }
    n_unc = int(cfg.get("uncertainty_samples", 0))
    if n_unc > 0:
        summary["uncertainty"] = profile_1d_uncertainty(profile, dom, pot, n_unc)
    return summary


def profile_1d_uncertainty(profile, dom, pot, n_samples: int, seed: int = 0) -> dict[str, Any]:
    """The profile's error bars propagated to the 1D outputs (:mod:`continuum.uncertainty`).

    Outputs per species i: the contact concentration c_i at the metal of the equilibrium solve
    (mol/m³); the flux J_i through the layer when the contact concentration is held at half its
    equilibrium value (mol m⁻² s⁻¹, positive out of the far end); and the layer's mass-transfer
    coefficient k_i = −J_i / (c_i^bulk / 2) = 1 / ∫ e^{U_i/RT} / D_i dz (m/s), the MD interface's
    transport resistance in series (U_i: F_i and z_i F φ relative to the bulk). The current of
    the equilibrium solve is zero by construction (blocking metal) and is not propagated.
    Monte Carlo (``n_samples``, seeded) and the central-difference linearisation, each solve on
    the mesh's communicator.

    Parameters
    ----------
    profile : continuum.TransportProfile
        The MD profile (SI) with its ``*_err`` arrays.
    dom : continuum.Domain
        The 1D mesh (m), metal at ``"left"``.
    pot : "profile" or None
        The potential used (MD φ(z) or none).
    n_samples : int
        Monte Carlo samples (> 0).
    seed : int
        Seed of the sampling.
    """
    import time

    from continuum import NernstPlanckProblem
    from continuum.uncertainty import parameter_groups, propagate_uncertainty

    # 1D uses D⊥ only; of c(z) only the bulk (far-end) value enters, as a boundary value
    include = ["diffusion", "free_energy", "potential"]
    cov = {}
    if profile.concentration_err is not None:
        include.append("concentration")
        for k, name in enumerate(profile.species):
            var = np.zeros((profile.z.size, profile.z.size))
            var[-1, -1] = float(profile.concentration_err[k, -1]) ** 2
            cov[f"concentration[{name}]"] = var
    for name, u in (profile.provenance.get("umbrella") or {}).items():
        f_cov = u.get("free_energy_cov_J2_per_mol2")
        if f_cov is not None and name in profile.species:  # MBAR's correlated F errors
            cov[f"free_energy[{name}]"] = np.asarray(f_cov, dtype=float)
    if pot is None:
        include.remove("potential")
    if not parameter_groups(profile, include, cov):
        return {"skipped": "the profile carries no error bars for D(z), F(z), phi(z) or c_bulk"}

    def build(prof):
        eq = NernstPlanckProblem.from_profile(dom, prof, potential=pot, free_energy=True)
        for k, name in enumerate(prof.species):
            eq.set_concentration(name, "right", float(prof.concentration[k, -1]))
        eq.solve()
        contact = {name: float(v[0]) for name, v in eq.sample_1d().items() if name != "x"}
        drv = NernstPlanckProblem.from_profile(dom, prof, potential=pot, free_energy=True)
        for k, name in enumerate(prof.species):
            drv.set_concentration(name, "right", float(prof.concentration[k, -1]))
            drv.set_concentration(name, "left", 0.5 * contact[name])
        outputs: dict[str, Any] = {}
        for k, name in enumerate(prof.species):
            half = 0.5 * float(prof.concentration[k, -1])
            outputs[f"c_metal[{name}]"] = contact[name]
            outputs[f"flux_half_depleted[{name}]"] = lambda p, n=name: p.flux(n, "right")
            outputs[f"k_layer[{name}]"] = lambda p, n=name, h=half: -p.flux(n, "right") / h
        return drv, outputs

    t0 = time.perf_counter()
    res = propagate_uncertainty(
        profile, build, n_samples=n_samples, seed=seed, include=include, covariance=cov
    )
    out = res.to_dict()
    out["units"] = {"c_metal": "mol/m^3", "flux_half_depleted": "mol/(m^2 s)", "k_layer": "m/s"}
    out["wall_s"] = time.perf_counter() - t0
    return out


def solve_pit(cfg: dict, out: Path, comm=None, profile_path: Path | None = None) -> dict[str, Any]:
    """Steady 2D corrosion pit with Butler–Volmer dissolution at the metal walls.

    The inputs that MD can give come from the profile (:func:`.electrochem.pit_inputs`): the
    product ion follows ``cfg["metal"]`` (md.metal), its D is the tabulated one scaled by the
    MD mobility of the electrolyte species in the profile's bulk region (or the product's own
    MD D), and the Frumkin reaction-plane potential φ_d is the MD φ(first bin) − φ(bulk); the
    summary's ``inputs`` table says where every parameter came from.

    Parameters
    ----------
    cfg : dict
        The validated ``[continuum]`` section (lengths in µm, D in m²/s, potentials in V,
        concentrations in mol/m³, temperature in K).
    out : Path
        Output folder (``pit.bp``, ``pit.png``).
    comm : MPI communicator, optional
        Default ``MPI.COMM_WORLD``.
    profile_path : Path, optional
        The MD :class:`continuum.TransportProfile` (HDF5, SI); without it every input comes
        from the tables and the config.
    """
    import dolfinx_solver  # noqa: F401

    from continuum import (
        ButlerVolmer,
        NernstPlanckProblem,
        Species,
        TransportProfile,
        corrosion_pit,
    )

    from .electrochem import pit_inputs

    comm = comm or world()
    profile = TransportProfile.read(profile_path) if profile_path is not None else None
    inp = pit_inputs(cfg, profile)
    eps = profile_permittivity(profile)
    inp["inputs"].append({
        "parameter": "permittivity ε_r (reported; the pit solves no Poisson)",
        "value": eps["value"], "unit": "", "source": eps["source"],
    })  # fmt: skip
    um = 1e-6
    dom = corrosion_pit(
        comm, pit_width=cfg["pit_width_um"] * um, pit_depth=cfg["pit_depth_um"] * um,
        width=cfg["domain_width_um"] * um, height=cfg["domain_height_um"] * um,
        cells_across_pit=cfg["cells_across_pit"],
    )  # fmt: skip
    name = inp["product"]
    sp = Species(name, inp["charge"], inp["diffusion_m2_per_s"], cfg["product_bulk_mol_per_m3"])
    prob = NernstPlanckProblem(dom, [sp], temperature=cfg["temperature_K"], potential=None)
    bv = ButlerVolmer(
        name, cfg["electrons"], cfg["exchange_current_A_per_m2"], cfg["equilibrium_potential_V"],
        alpha_anodic=cfg["alpha_anodic"], alpha_cathodic=cfg["alpha_cathodic"],
        reference_concentration=cfg["reference_concentration_mol_per_m3"],
    )  # fmt: skip
    prob.add_electrode(
        "metal", bv, cfg["equilibrium_potential_V"] + cfg["overpotential_V"],
        reaction_plane_potential=inp["reaction_plane_potential_V"],
    )  # fmt: skip
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
        "metal": inp["metal"],
        "product": name,
        "product_charge": inp["charge"],
        "product_diffusion_m2_per_s": inp["diffusion_m2_per_s"],
        "reaction_plane_potential_V": inp["reaction_plane_potential_V"],
        "stern": inp["stern"],
        "electrolyte": inp["electrolyte"],
        # where every input came from (MD, a table, or the config)
        "inputs": inp["inputs"],
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
    # the kinetic (no-transport) current density at the bulk concentration: its ratio to the
    # mean says whether transport (and so the D from MD) controls the current at all
    f = 96485.33212 / (8.314462618 * cfg["temperature_K"])
    phi_d = inp["reaction_plane_potential_V"]
    eta = cfg["overpotential_V"] - phi_d
    c_rp = cfg["product_bulk_mol_per_m3"] * np.exp(-inp["charge"] * f * phi_d)
    c_ratio = c_rp / cfg["reference_concentration_mol_per_m3"]
    i_kin = cfg["exchange_current_A_per_m2"] * (
        np.exp(cfg["alpha_anodic"] * f * eta) - c_ratio * np.exp(-cfg["alpha_cathodic"] * f * eta)
    )
    summary["kinetic_current_density_A_per_m2"] = float(i_kin)
    # 0: kinetically controlled (D does not matter); towards 1: transport-controlled
    summary["transport_effect"] = float(1 - summary["mean_current_density_A_per_m2"] / i_kin)
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
