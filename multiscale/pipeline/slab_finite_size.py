"""The extract stage's estimate of the hydrodynamic finite-size effect on D∥ in a sandwich.

A sandwich's lateral cell is small (about 1 nm): the laterally uniform flow mode of the
periodic liquid carries every molecule with it and the images add a negative bulk-like term
(:mod:`multiscale.extract.slab_hydrodynamics`). Both are estimated here from the run itself:
the liquid's viscosity from its own centre-of-mass MSD (the k = 0 mode, no slip), the walls'
hydrodynamic planes where the folded water O density first reaches half its midplane value.
The profile keeps the cell's values (what the MD measured); the summary gives the infinite-film
estimate beside them, with its error (mostly η's: ~40 % from 40 ps).

Only for a folded sandwich whose metal was held fixed (``md.fix_metal``): with a free slab the
liquid's momentum goes into the slab's own motion and the fixed-wall slit theory does not hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.units import _k as K_B

#: Å -> m
_A = 1e-10
#: atomic mass unit, kg
_AMU = 1.66053906660e-27


def _not(why: str) -> dict[str, Any]:
    return {"slit": "not estimated", "why": why}


def slab_finite_size(
    setup: dict, md: dict, profile, temperature_K: float, mid: slice, lags_fs: list[float]
) -> dict[str, Any]:
    """ΔD∥(z) of the run's cell and D∥ of the infinite film in the middle, per species.

    Parameters
    ----------
    setup : dict
        :func:`multiscale.pipeline.stages.extract_setup`'s result (frames, fold, surface).
    md : dict
        The md stage's summary (``frame_interval_fs``).
    profile : continuum.TransportProfile
        The extract stage's profile on the distance from the surface (m).
    temperature_K : float
        MD temperature (K).
    mid : slice
        The profile's middle bins (as the summary's ``D_parallel_middle``).
    lags_fs : list of float
        The lag times of the profile's D∥ (fs).

    Returns
    -------
    dict
        ``slit``: ``"estimated"`` with the numbers, or ``"not estimated"`` with ``why``.
    """
    from multiscale.extract.slab_hydrodynamics import (
        com_viscosity,
        half_density_offset,
        liquid_com_xy,
        slab_finite_size_correction,
    )
    from multiscale.md.slab import slab_indices

    fold = setup.get("fold")
    if fold is None:
        return _not("not a folded sandwich: the slit theory needs two walls")
    if profile.diffusion_parallel is None:
        return _not("the profile has no D∥")
    frames = setup["frames"]
    metal = slab_indices(frames[0])
    pos = np.array([a.positions for a in frames])
    if metal.size == 0 or float(np.ptp(pos[:, metal], axis=0).max()) > 1e-6:
        return _not(
            "the slab moved (md.fix_metal = false): the liquid's momentum goes into the slab's "
            "own motion, which the fixed-wall slit theory leaves out"
        )
    liquid = np.setdiff1d(np.arange(len(frames[0])), metal)
    cells = np.array([np.asarray(a.cell) for a in frames])
    sep = float(fold["surface_separation_A"])
    surface_z = float(setup["surface_z"])
    tf = setup["transport_frames"]
    ox = liquid[frames[0].symbols[liquid] == "O"]
    step = max(1, len(tf) // 400)
    heights = np.concatenate([a.positions[ox, 2] - surface_z for a in tf[::step]])
    delta = half_density_offset(heights, sep)
    height = (sep - 2 * delta) * _A
    area = float(abs(np.linalg.det(cells[0, :2, :2]))) * _A**2
    mass = float(frames[0].get_masses()[liquid].sum()) * _AMU
    rho = mass / (area * height)
    frame_s = md["frame_interval_fs"] * 1e-15
    com = liquid_com_xy(pos[:, liquid], frames[0].get_masses()[liquid], cells)
    try:
        fit = com_viscosity(
            com, frame_s, height=height, area=area, density=rho, temperature=temperature_K
        )
    except ValueError as err:
        return _not(f"the liquid's centre-of-mass MSD gives no viscosity: {err}")
    visc = fit["no_slip"]
    # a liquid sliding over the walls as a whole: its centre of mass still moves ballistically
    # (MSD = 2kT t²/M) at the largest lag, and the no-slip fit reads that as a vanishing η
    t_max = float(fit["lags_s"][-1])
    ballistic = 2 * K_B * temperature_K * t_max**2 / mass
    share = float(fit["msd_m2"][-1]) / ballistic
    if share > 0.5:
        return _not(
            f"the liquid slides over the walls as a whole: its centre-of-mass MSD at "
            f"{t_max * 1e12:.2g} ps is {share:.0%} of the ballistic 2kT t²/M (no measurable "
            "wall friction), so η cannot be read from it; the sliding mode itself, absent "
            "from an infinite film, is taken out of D∥ by extract.remove_liquid_drift"
        )
    eta, eta_err = visc["viscosity_Pa_s"], visc["viscosity_err_Pa_s"]
    lags = np.asarray(lags_fs, dtype=float)
    z = np.clip(profile.z - delta * _A, 0.0, height)
    corr = slab_finite_size_correction(
        z, lags * 1e-15, cell_a=cells[0, 0, :2] * _A, cell_b=cells[0, 1, :2] * _A,
        height=height, viscosity=eta, density=rho, temperature=temperature_K,
    )  # fmt: skip
    rel = eta_err / eta  # the correction scales as 1/η
    species: dict[str, Any] = {}
    dpe = profile.diffusion_parallel_err
    for k, name in enumerate(profile.species):
        d = profile.diffusion_parallel[k]
        de = dpe[k] if dpe is not None else np.zeros_like(d)
        c_mid = float(corr.total[mid].mean())
        d_mid = float(d[mid].mean())
        err = float(np.hypot(np.sqrt(np.mean(de[mid] ** 2)), abs(c_mid) * rel))
        species[name] = {
            "D_parallel_middle_cell_1e-9_m2_per_s": d_mid * 1e9,
            "D_parallel_middle_infinite_1e-9_m2_per_s": (d_mid - c_mid) * 1e9,
            "D_parallel_middle_infinite_err_1e-9_m2_per_s": err * 1e9,
        }
    return {
        "slit": "estimated",
        "viscosity_Pa_s": eta,
        "viscosity_err_Pa_s": eta_err,
        "viscosity_source": "the liquid's centre-of-mass MSD (k = 0 mode), no slip, 4 blocks",
        "hydrodynamic_offset_A": delta,
        "height_A": height / _A,
        "area_A2": area / _A**2,
        "density_kg_m3": rho,
        "lags_fs": lags.tolist(),
        "z_A": (profile.z / _A).tolist(),
        "k0_1e-9_m2_per_s": (corr.k0 * 1e9).tolist(),
        "images_1e-9_m2_per_s": corr.lattice * 1e9,
        "images_perp_1e-9_m2_per_s": corr.lattice_perp * 1e9,
        "correction_1e-9_m2_per_s": (corr.total * 1e9).tolist(),
        "correction_rel_err": rel,
        "middle_correction_1e-9_m2_per_s": float(corr.total[mid].mean()) * 1e9,
        "species": species,
    }
