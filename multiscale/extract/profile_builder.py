"""Assemble extraction results into a :class:`continuum.TransportProfile` (SI units).

Conversions: z Å → m (1e-10); number density 1/Å³ → mol/m³ (1e30/N_A); D Å²/fs → m²/s
(1e-5); φ V → V; E V/Å → V/m (1e10); F kT → J/mol (R T).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ase.units import _k, _Nav

from continuum import TransportProfile

from .base import as_frames, check_positive, is_int
from .density import DensityProfile
from .diffusion import (
    A2_PER_FS_TO_SI,
    ParallelDiffusionProfile,
    PerpendicularDiffusionProfile,
)
from .electrostatics import WATER_MODELS, ChargeDensityProfile, InterfacePotential

__all__ = [
    "build_transport_profile",
    "conductor_electrostatics",
    "dielectric_permittivity",
    "extract_transport_profile",
]

ANGSTROM = 1e-10  # m


def _finished(analysis: Any, name: str) -> None:
    if not getattr(analysis, "results", None):
        raise ValueError(f"{name} has no results: call .run() on it first")


def _on_grid(z: np.ndarray, z_src: np.ndarray, y: np.ndarray, what: str) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(
            f"{what} is undefined at z = {np.round(z_src[bad], 3).tolist()} Å (too few samples): "
            "use wider bins, a narrower z_range or a longer trajectory"
        )
    if z_src.shape == z.shape and np.allclose(z_src, z):
        return y
    return np.interp(z, z_src, y)  # constant beyond the ends


#: relative error given to a fallback D⊥ (see build_transport_profile's Notes)
FALLBACK_REL_ERR = 0.5


def _num(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _perp_with_fallback(
    an: PerpendicularDiffusionProfile,
    z: np.ndarray,
    name: str,
    d_par: np.ndarray | None,
    bulk: float | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """D⊥ and its error on the grid (Å²/fs) with unconverged bins replaced, and provenance."""
    r = an.results
    same = r.z.shape == z.shape and np.allclose(r.z, z)
    dv = np.asarray(r.D, dtype=float) if same else np.interp(z, r.z, r.D)
    ev = np.asarray(r.D_err, dtype=float) if same else np.interp(z, r.z, r.D_err)
    bad = ~(np.isfinite(dv) & np.isfinite(ev))
    status = r.get("D_status")
    prov: dict[str, Any] = {
        "lags_fs": r.lagtimes.tolist(),
        "bin_width_A": float(r.edges[1] - r.edges[0]),
        "n_blocks": an.n_blocks,
        "extrapolated": an.extrapolate,
        "min_crossings": getattr(an, "min_crossings", None),
        "min_time_ratio": getattr(an, "min_time_ratio", None),
        "trajectory_fs": _num(r.get("trajectory_length", np.nan)),
        "interfaces_z_A": r.z_interfaces.tolist(),
        "interface_status": status.tolist() if status is not None else None,
        "n_crossings": r.n_crossings.tolist() if "n_crossings" in r else None,
        "crossing_time_fs": [_num(t) for t in r.crossing_time] if "crossing_time" in r else None,
        "determined": (~bad).tolist(),
        "fallback": None,
    }
    if not bad.any():
        return dv, ev, prov
    if d_par is not None:
        fb = np.asarray(d_par, dtype=float)
        how = (
            "D_parallel of the same species at the same height (an upper estimate of D_perp "
            f"next to a wall), error {FALLBACK_REL_ERR:.0%} of the value"
        )
    elif (~bad).any():
        fb = np.full_like(dv, float(np.median(dv[~bad])))
        how = (
            "median of the converged D_perp bins of the species (bulk-like value), error "
            f"{FALLBACK_REL_ERR:.0%} of the value"
        )
    elif bulk is not None:
        fb = np.full_like(dv, bulk / A2_PER_FS_TO_SI)
        how = (
            f"the bulk value given for the species ({bulk:.4g} m²/s, bulk_diffusion), error "
            f"{FALLBACK_REL_ERR:.0%} of the value"
        )
    else:
        raise ValueError(
            f"D_perp of {name} is not converged in any bin (crossings per interface "
            f"{prov['n_crossings']}, need >= {prov['min_crossings']}; trajectory "
            f"{prov['trajectory_fs']} fs, need >= {prov['min_time_ratio']} bin-crossing "
            "times): run longer MD or use wider bins, or pass diffusion_parallel or "
            "bulk_diffusion for a fallback"
        )
    dv = np.where(bad, fb, dv)
    ev = np.where(bad, FALLBACK_REL_ERR * fb, ev)
    prov["fallback"] = how
    prov["fallback_bins"] = np.flatnonzero(bad).tolist()
    prov["fallback_z_A"] = [float(x) for x in z[bad]]
    return dv, ev, prov


def _ck_summary(an: PerpendicularDiffusionProfile) -> dict[str, Any]:
    """The Chapman-Kolmogorov test of one species as a JSON-able dict (or why not)."""
    from .chapman_kolmogorov import chapman_kolmogorov

    try:
        return chapman_kolmogorov(an).as_dict()
    except ValueError as err:
        return {"verdict": "not computed", "why": str(err)}


def build_transport_profile(
    density: DensityProfile,
    diffusion: Mapping[str, PerpendicularDiffusionProfile],
    charges: Mapping[str, int],
    temperature: float,
    diffusion_parallel: Mapping[str, ParallelDiffusionProfile] | None = None,
    electrostatics: ChargeDensityProfile | None = None,
    provenance: Mapping[str, Any] | None = None,
    chapman_kolmogorov: bool = True,
    bulk_diffusion: Mapping[str, float] | None = None,
) -> TransportProfile:
    """Combine finished analyses into a :class:`continuum.TransportProfile`.

    The grid is the density profile's bin centres; D profiles computed on other bins are
    interpolated onto it (held constant beyond their ends). The free energy is
    F_i(z) = −RT ln(c_i(z)/⟨c_i⟩), with ⟨c_i⟩ the grid average, and its error RT δc/c.

    Parameters
    ----------
    density : DensityProfile
        Finished concentration analysis; its species names define the profile's species.
    diffusion : mapping of str to PerpendicularDiffusionProfile
        D⊥ analysis per species (the D of a 1D Nernst–Planck model across the interface).
    charges : mapping of str to int
        Charge number per species (e).
    temperature : float
        Temperature (K).
    diffusion_parallel : mapping of str to ParallelDiffusionProfile, optional
        D∥ analysis per species.
    electrostatics : ChargeDensityProfile, optional
        Source of φ(z) and E(z).
    provenance : mapping, optional
        Extra JSON-serialisable provenance merged into the profile's.
    chapman_kolmogorov : bool
        Run the Chapman–Kolmogorov test of each species' propagator model
        (:func:`~multiscale.extract.chapman_kolmogorov.chapman_kolmogorov`) and record it in
        ``provenance["diffusion_perp_settings"][species]["chapman_kolmogorov"]``.
    bulk_diffusion : mapping of str to float, optional
        Bulk D per species (m²/s, e.g. a tabulated value): the last fallback for a species
        whose D⊥ is converged nowhere and that has no D∥ (see Notes).

    Notes
    -----
    D⊥ where the analysis marks it "unconverged" (``results.D_bin_status``) is not handed to
    the continuum (it needs a finite D everywhere) as if it were measured. It is replaced by
    D∥ of the same species at the same height when ``diffusion_parallel`` is given: D∥ is
    measured locally, equals D⊥ where the liquid is isotropic, and is an upper estimate of D⊥
    next to a wall (a wall slows the normal motion at least as much as the in-plane motion:
    Brenner's and Faxén's hydrodynamic corrections, 9/8 against 9/16 of a/h to first order).
    Without D∥ the median of the species' converged D⊥ bins is used, and without any converged
    bin the ``bulk_diffusion`` value. Either way the error is set to 50 % of the value (D⊥ is
    only known to lie between about half of it and it), and the provenance lists the bins,
    the fallback, the crossings counted and the crossing times. A species with none of these
    raises ``ValueError``.
    """
    _finished(density, "density")
    temperature = check_positive("temperature", temperature, "K")
    names = list(density.species)
    for what, table in (("diffusion", diffusion), ("charges", charges)):
        if not isinstance(table, Mapping):
            raise TypeError(f"{what} must be a mapping species name -> value, got {table!r}")
        missing = [n for n in names if n not in table]
        if missing:
            raise ValueError(f"{what} is missing species {missing} (density has {names})")
    if bulk_diffusion is not None:
        if not isinstance(bulk_diffusion, Mapping) or not all(
            isinstance(v, int | float) and np.isfinite(v) and v > 0 for v in bulk_diffusion.values()
        ):
            raise ValueError(
                "bulk_diffusion must be a mapping species name -> D > 0 (m²/s), got "
                f"{bulk_diffusion!r}"
            )
    bad = {n: charges[n] for n in names if not is_int(charges[n])}
    if bad:
        raise ValueError(f"charges must be integer charge numbers (e), got {bad}")
    rd = density.results
    z = rd.z
    conc = np.array([rd.concentration[n] for n in names])
    conc_err = np.array([rd.concentration_err[n] for n in names])
    if np.any(conc <= 0):
        bad = [n for n, c in zip(names, conc, strict=True) if np.any(c <= 0)]
        raise ValueError(
            f"species {bad} have empty bins, so D and F are undefined there: restrict z_range "
            "to the region the species visits"
        )
    d_par_grid: dict[str, np.ndarray] = {}
    if diffusion_parallel is not None:
        for n in names:
            if n not in diffusion_parallel:
                raise ValueError(f"diffusion_parallel is missing species {n!r}")
            _finished(diffusion_parallel[n], f"diffusion_parallel[{n!r}]")
            r = diffusion_parallel[n].results
            d_par_grid[n] = _on_grid(z, r.z, r.D, f"D_parallel of {n}")
    d, d_err, prov_d = [], [], {}
    for n in names:
        _finished(diffusion[n], f"diffusion[{n!r}]")
        dn, en, prov_d[n] = _perp_with_fallback(
            diffusion[n], z, n, d_par_grid.get(n), (bulk_diffusion or {}).get(n)
        )
        d.append(dn * A2_PER_FS_TO_SI)
        d_err.append(en * A2_PER_FS_TO_SI)
        if chapman_kolmogorov:
            prov_d[n]["chapman_kolmogorov"] = _ck_summary(diffusion[n])
    rt = _k * _Nav * temperature  # J/mol
    with np.errstate(divide="ignore"):
        free = -rt * np.log(conc / conc.mean(axis=1, keepdims=True))
    kw: dict[str, Any] = {
        "z": z * ANGSTROM,
        "species": names,
        "charges": [int(charges[n]) for n in names],
        "concentration": conc,
        "diffusion": np.array(d),
        "temperature": float(temperature),
        "concentration_err": conc_err if np.all(np.isfinite(conc_err)) else None,
        "diffusion_err": np.array(d_err),
        "free_energy": free,
        "free_energy_err": rt * conc_err / conc if np.all(np.isfinite(conc_err)) else None,
    }
    if diffusion_parallel is not None:
        dp, dp_err = [], []
        for n in names:
            r = diffusion_parallel[n].results
            dp.append(d_par_grid[n] * A2_PER_FS_TO_SI)
            dp_err.append(_on_grid(z, r.z, r.D_err, f"D_parallel error of {n}") * A2_PER_FS_TO_SI)
        kw["diffusion_parallel"] = np.array(dp)
        kw["diffusion_parallel_err"] = np.array(dp_err)
    prov_e = None
    if electrostatics is not None:
        _finished(electrostatics, "electrostatics")
        r = electrostatics.results
        kw["potential"] = _on_grid(z, r.z, r.potential, "potential")
        kw["field"] = _on_grid(z, r.z, r.field, "field") * 1e10
        if np.all(np.isfinite(r.potential_err)):
            kw["potential_err"] = _on_grid(z, r.z, r.potential_err, "potential error")
            kw["field_err"] = _on_grid(z, r.z, r.field_err, "field error") * 1e10
        prov_e = {"boundary": r.boundary, "bin_width_A": float(r.edges[1] - r.edges[0])}
    from multiscale import __version__

    prov: dict[str, Any] = {
        "code": f"multiscale.extract {__version__}",
        "n_frames": int(density.n_frames),
        "timestep_fs": density.dt,
        "density_bin_width_A": float(rd.edges[1] - rd.edges[0]),
        "diffusion_perp": "Hummer Bayesian propagator (maximum likelihood), blocks for errors; "
        "bins whose D_perp is not converged (too few interface crossings, or a trajectory "
        "shorter than min_time_ratio bin-crossing times) carry a fallback value, see "
        "diffusion_perp_settings[species]['fallback']",
        "diffusion_perp_settings": prov_d,
        "free_energy": "-RT ln(c/<c>) from the concentration profile",
        "errors": "one standard error: blocking (c, phi, E), independent blocks (D)",
    }
    if diffusion_parallel is not None:
        prov["diffusion_parallel"] = "Liu-Harder-Berne survival-conditioned in-plane MSD"
    if prov_e is not None:
        prov["electrostatics"] = prov_e
    prov.update(dict(provenance or {}))
    kw["provenance"] = prov
    return TransportProfile(**kw)


def extract_transport_profile(
    trajectory: Any,
    species: Mapping[str, tuple[Any, int]],
    timestep: float,
    temperature: float,
    bin_width: float = 0.5,
    z_range: tuple[float, float] | None = None,
    lags: tuple[int, ...] = (4, 8, 16),
    n_blocks: int = 8,
    parallel: bool = True,
    charges: Any = None,
    water_model: str | None = None,
    boundary: str = "dipole",
    progress: bool = False,
    provenance: Mapping[str, Any] | None = None,
    min_crossings: int = 20,
    chapman_kolmogorov: bool = True,
    bulk_diffusion: Mapping[str, float] | None = None,
    perp_lags: tuple[int, ...] | None = None,
) -> TransportProfile:
    """Run every analysis on a trajectory and return the :class:`TransportProfile`.

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        Frames with the surface normal along z, periodic in x and y.
    species : mapping of str to (selection, int)
        ``{name: (selection, charge number)}``, e.g. ``{"Na+": ("Na", 1)}``.
    timestep : float
        Time between stored frames (fs).
    temperature : float
        Temperature (K).
    bin_width : float
        Bin width (Å) for every profile.
    z_range : (float, float), optional
        Range along z (Å) that every species visits; default the whole cell.
    lags : tuple of int
        Lag times (frames) for the propagator and the survival MSD.
    n_blocks : int
        Independent blocks for the D error bars.
    parallel : bool
        Also compute D∥(z).
    charges : mapping, array or str, optional
        Charges for ρ(z) (see :func:`~multiscale.extract.electrostatics.atomic_charges`);
        without them φ and E are not computed.
    water_model : str, optional
        Water charge model added to a symbol mapping, e.g. ``"SPC/E"``.
    boundary : {"dipole", "periodic", "open"}
        Poisson boundary condition (``"open"`` when ``z_range`` is a sub-range).
    progress : bool
        Show progress bars.
    provenance : mapping, optional
        Extra provenance (e.g. level of theory of the MD).
    min_crossings : int
        Fewest interface crossings for a D⊥ to count as converged (see
        :class:`~multiscale.extract.diffusion.PerpendicularDiffusionProfile`); unconverged
        bins get the fallback of :func:`build_transport_profile`.
    chapman_kolmogorov : bool
        Record the Chapman–Kolmogorov test of each species in the provenance.
    bulk_diffusion : mapping of str to float, optional
        Bulk D per species (m²/s): last fallback of :func:`build_transport_profile`.
    perp_lags : tuple of int, optional
        Lag times (frames) of the propagator (D⊥, F from transitions, and the
        Chapman–Kolmogorov test at the shortest) when they must differ from ``lags``: the
        motion between coarse bins becomes Markovian only after a few ps in a liquid with
        memory, where the survival MSD of D∥ has no survivors left. None: ``lags``.

    Raises
    ------
    TypeError, ValueError
        Checked before any analysis runs: a malformed argument (the message names it), a
        frame with other atoms than the first or with non-finite positions or cell (the
        message names the frame and atom), or a trajectory with fewer frames than the lags
        and blocks need. While the analyses run: a bin that a species never visits.
    """
    # check every argument (and build every analysis) before the first, slow, run
    if isinstance(species, str) or not isinstance(species, Mapping) or not species:
        raise TypeError(
            "species must be a non-empty mapping name -> (selection, charge number), e.g. "
            f'{{"Na+": ("Na", 1)}}, got {species!r}'
        )
    for n, spec in species.items():
        if (
            isinstance(spec, str)
            or not isinstance(spec, Sequence)
            or len(spec) != 2
            or not is_int(spec[1])
        ):
            raise ValueError(
                f"species[{n!r}] must be (selection, integer charge number), e.g. ('Na', 1); "
                f"got {spec!r}"
            )
    if timestep is None:
        raise ValueError("timestep (fs between stored frames) is required")
    check_positive("timestep", timestep, "fs")
    check_positive("temperature", temperature, "K")
    for name, flag in (("parallel", parallel), ("progress", progress)):
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if water_model is not None:
        if not isinstance(water_model, str) or water_model not in WATER_MODELS:
            raise ValueError(
                f"unknown water model: water_model={water_model!r}; have {list(WATER_MODELS)}"
            )
        if charges is None:
            raise ValueError(
                f"water_model={water_model!r} is only used for the charge density: also pass "
                "charges (e.g. {'Na': 1, 'Cl': -1}), or leave water_model unset"
            )
    if boundary not in ("open", "periodic", "dipole"):
        raise ValueError(f'boundary must be "open", "periodic" or "dipole", got {boundary!r}')
    frames = as_frames(trajectory)  # a file is read (and every frame checked) once
    sel = {n: s for n, (s, _q) in species.items()}
    charge_numbers = {n: int(q) for n, (_s, q) in species.items()}
    density = DensityProfile(frames, sel, bin_width=bin_width, z_range=z_range, timestep=timestep)
    perp = {
        n: PerpendicularDiffusionProfile(
            frames,
            s,
            timestep,
            bin_width=bin_width,
            z_range=z_range,
            lags=lags if perp_lags is None else perp_lags,
            n_blocks=n_blocks,
            min_crossings=min_crossings,
        )
        for n, s in sel.items()
    }
    next(iter(perp.values())).check_length(len(frames))
    par = None
    if parallel:
        par = {
            n: ParallelDiffusionProfile(
                frames,
                s,
                timestep,
                bin_width=bin_width,
                z_range=z_range,
                lags=lags,
                n_blocks=n_blocks,
            )
            for n, s in sel.items()
        }
    elec = None
    if charges is not None:
        elec = ChargeDensityProfile(
            frames,
            charges,
            water_model=water_model,
            boundary=boundary,
            bin_width=bin_width,
            z_range=z_range,
        )
    density.run(progress=progress)
    for analysis in [*perp.values(), *(par or {}).values(), *([elec] if elec else [])]:
        analysis.run(progress=progress)
    return build_transport_profile(
        density, perp, charge_numbers, temperature, par, elec, provenance=provenance,
        chapman_kolmogorov=chapman_kolmogorov, bulk_diffusion=bulk_diffusion,
    )  # fmt: skip


def conductor_electrostatics(
    profile: TransportProfile,
    frames: Any,
    ion_charges: Mapping[str, float],
    metal: str,
    water_model: str = "SPC/E",
    image_plane: float = 1.0,
    closure: str = "metal",
    bin_width: float = 0.1,
) -> tuple[TransportProfile, dict[str, Any]]:
    """Replace a profile's φ(z), E(z) by those with the metal as an ideal conductor.

    Runs :class:`~multiscale.extract.electrostatics.InterfacePotential` (frames with a
    dissociated water are left out and counted) and interpolates φ and E onto the profile's
    grid (cell coordinates). When no frame can be described by the fixed-charge water model
    the profile is returned unchanged and the summary says why.

    Parameters
    ----------
    profile : continuum.TransportProfile
        The profile (SI) whose potential is replaced.
    frames : sequence of ase.Atoms
        The frames the profile was extracted from.
    ion_charges : mapping of str to float
        Charges (e) of the non-water, non-metal elements.
    metal : str
        Element of the metal slab.
    water_model : str
        Water charge model.
    image_plane : float
        Image-plane distance above the top metal layer (Å).
    closure : {"metal", "vapour"}
        What bounds the electrolyte on the far side (see ``InterfacePotential``).
    bin_width : float
        Bin width (Å) of the Poisson integration.

    Returns
    -------
    (TransportProfile, dict)
        The profile and a JSON-serialisable summary (V, C/m², counts).
    """
    import dataclasses

    an = InterfacePotential(
        frames, ion_charges, metal, water_model=water_model, image_plane=image_plane,
        closure=closure, skip_broken_frames=True, bin_width=bin_width,
    )  # fmt: skip
    try:
        r = an.run().results
    except ValueError as err:
        if "fixed-charge water model cannot describe" not in str(err):
            raise
        return profile, {"conductor_model": f"not applied: {err}"}
    z_cell = (r.z + r.surface_z) * ANGSTROM
    zp = np.asarray(profile.z)
    phi = np.interp(zp, z_cell, r.potential)
    field = np.interp(zp, z_cell, r.field) * 1e10
    errs_ok = np.all(np.isfinite(r.potential_err)) and np.all(np.isfinite(r.field_err))
    prov = dict(profile.provenance)
    prov["electrostatics"] = {
        "model": "metal as an ideal conductor (induced charge on its image plane)",
        "water_model": r.water_model,
        "image_plane_A": r.image_plane,
        "closure": r.closure,
        "potential_zero": "the metal",
        # whether the interfacial drop has a converged error bar (consumers such as the
        # pit's Frumkin term use φ only then)
        "potential_drop_converged": bool(r.get("potential_drop_converged", False)),
    }
    new = dataclasses.replace(
        profile,
        potential=phi,
        field=field,
        potential_err=np.interp(zp, z_cell, r.potential_err) if errs_ok else None,
        field_err=np.interp(zp, z_cell, r.field_err) * 1e10 if errs_ok else None,
        provenance=prov,
    )

    def num(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    summary = {
        "conductor_model": "applied",
        "water_model": r.water_model,
        "image_plane_A": r.image_plane,
        "closure": r.closure,
        "bulk_range_A_from_surface": list(r.bulk_range),
        "potential_drop_V": num(r.potential_drop),
        "potential_drop_err_V": num(r.potential_drop_err),
        "potential_drop_converged": bool(r.get("potential_drop_converged", False)),
        "water_orientation_drop_V": num(r.potential_drop_water),
        "water_orientation_drop_err_V": num(r.potential_drop_water_err),
        "sigma_metal_C_per_m2": num(r.sigma_metal),
        "sigma_metal_err_C_per_m2": num(r.sigma_metal_err),
        "n_frames_used": r.n_frames_used,
        "n_frames_skipped_broken_water": len(r.frames_skipped),
        "n_sites_clamped_to_image_plane": r.n_sites_clamped,
    }
    return new, summary


#: default of :func:`dielectric_permittivity`'s ``max_rel_err``: the largest relative standard
#: error of ε⊥ or ε∥ in any transport bin for the profile to carry ε(z)
PERMITTIVITY_MAX_REL_ERR = 0.2


def _intact_frames(frames: Sequence[Any], charges: Mapping[str, float], water_model: str):
    """Frames a fixed-charge water model can describe, and the indices of the others.

    The test of ``InterfacePotential(skip_broken_frames=True)``: a frame whose waters cannot be
    assigned (dissociated, or a proton shared by two O) is left out."""
    from .charges import BrokenWaterError, charge_sites

    kept, skipped, straddle = [], [], []
    for i, atoms in enumerate(frames):
        try:
            cs = charge_sites(atoms, charges, water_model)
        except BrokenWaterError:
            skipped.append(i)
            continue
        kept.append(atoms)
        lz = float(np.asarray(atoms.cell)[2, 2])
        z = np.mod(cs.positions[cs.is_water, 2], lz)
        mol = cs.molecule[cs.is_water]
        if z.size:
            _, inv = np.unique(mol, return_inverse=True)
            span = np.zeros(inv.max() + 1)
            np.maximum.at(span, inv, z)
            low = np.full(inv.max() + 1, np.inf)
            np.minimum.at(low, inv, z)
            if np.any(span - low > 0.5 * lz):
                straddle.append(i)
    return kept, skipped, straddle


def dielectric_permittivity(
    profile: TransportProfile,
    frames: Sequence[Any],
    charges: Mapping[str, float],
    water_model: str = "SPC/E",
    n_blocks: int = 8,
    max_rel_err: float = PERMITTIVITY_MAX_REL_ERR,
    boundary: str = "tinfoil",
    bin_width: float | None = None,
) -> tuple[TransportProfile, dict[str, Any]]:
    """ε⊥(z), ε∥(z) on the profile's bins from polarization fluctuations, if converged.

    Runs :class:`~multiscale.extract.dielectric.DielectricProfile` on the frames whose waters
    are intact (frames with a dissociated or shared water are left out and counted, as for
    φ(z) in :func:`conductor_electrostatics`), on bins whose edges coincide with the edges of
    the profile's bins (the dielectric bins cover the whole cell, as its perpendicular
    polarization is integrated from z = 0). The profile gets ``permittivity`` (ε⊥) and
    ``permittivity_parallel`` (ε∥) only when every bin passes the convergence gate:

    * ε∥ ≥ 1 and 0 < ε⊥⁻¹ ≤ 1 (ε⊥ ≥ 1, finite and positive);
    * relative standard error (independent blocks) at most ``max_rel_err`` for ε∥ and for
      ε⊥ (δε⊥/ε⊥ = δε⊥⁻¹/ε⊥⁻¹).

    Nothing is computed (the summary says why) when fewer than ``2 n_blocks`` frames are
    intact, or when a water molecule crosses the cell boundary along z: ε⊥ integrates the
    charge density from z = 0, which must lie in the metal or in vacuum.

    Otherwise the profile is returned unchanged and the summary says why. ε⊥ of a bin is the
    estimator's value at the bin's upper edge (the MAICoS convention).

    Parameters
    ----------
    profile : continuum.TransportProfile
        The profile (SI), z in cell coordinates (m) on uniform bins.
    frames : sequence of ase.Atoms
        The frames the profile was extracted from.
    charges : mapping of str to float
        Charges (e) of every non-water element, the metal's 0.
    water_model : str
        Water charge model.
    n_blocks : int
        Independent blocks of frames for the error bars.
    max_rel_err : float
        Largest relative standard error of ε⊥ or ε∥ in any bin (dimensionless, > 0).
    boundary : {"tinfoil", "slab"}
        Electrostatic boundary of the MD (see ``DielectricProfile``): ``"tinfoil"`` for a
        field-free boundary, which is also what an MD without long-range electrostatics (a
        short-range MLIP) samples.
    bin_width : float, optional
        Bin width (Å) of the profile; default from its z spacing (or its provenance's
        ``density_bin_width_A`` for a single bin).

    Returns
    -------
    (TransportProfile, dict)
        The profile (with ε(z) or unchanged) and a JSON-serialisable summary: ``status``
        ("accepted" or "withheld"), ``why``, the values and errors per bin, the largest
        relative errors and where they are.
    """
    import dataclasses

    from .dielectric import DielectricProfile

    max_rel_err = check_positive("max_rel_err", max_rel_err, "(relative)")
    zc = np.asarray(profile.z, dtype=float) / ANGSTROM
    if bin_width is None:
        if zc.size > 1:
            bin_width = float(zc[1] - zc[0])
        else:
            bin_width = profile.provenance.get("density_bin_width_A")
    h = check_positive("bin_width", bin_width, "Å")
    if not np.allclose(np.diff(zc), h, rtol=1e-6, atol=1e-9):
        raise ValueError(
            "profile.z must be uniform bins of width bin_width (Å) to put ε(z) on them"
        )
    summary: dict[str, Any] = {
        "status": "withheld",
        "boundary": boundary,
        "water_model": water_model,
        "max_rel_err_allowed": max_rel_err,
        "n_blocks": int(n_blocks),
    }
    kept, skipped, straddle = _intact_frames(frames, charges, water_model)
    summary.update(n_frames_used=len(kept), n_frames_skipped_broken_water=len(skipped))
    if straddle:
        # m⊥(z) is integrated from z = 0: a molecule cut by the cell boundary biases it
        summary["why"] = (
            f"a water molecule crosses the cell boundary along z in {len(straddle)} frames "
            f"(first: {straddle[0]}); ε⊥(z) needs a charge-free region at z = 0 (metal or "
            "vacuum)"
        )
        return profile, summary
    if len(kept) < 2 * n_blocks:
        summary["why"] = (
            f"{len(kept)} frames with intact water ({len(skipped)} left out: dissociated or "
            f"shared water) are too few for {n_blocks} blocks"
        )
        return profile, summary
    # uniform bins whose edges include the profile's, covering the cell from below 0 to L_z
    lz = float(np.asarray(kept[0].cell)[2, 2])
    lo = zc[0] - 0.5 * h
    start = lo - np.ceil(lo / h - 1e-9) * h
    n_bins = int(np.ceil((lz - start) / h - 1e-9))
    edges = start + h * np.arange(n_bins + 1)
    try:
        r = DielectricProfile(
            kept, charges, profile.temperature, water_model=water_model, boundary=boundary,
            n_blocks=n_blocks, edges=edges,  # aligned with the transport bins
        ).run().results  # fmt: skip
    except ValueError as err:
        summary["why"] = f"not computed: {err}"
        return profile, summary
    idx = np.rint((zc - r.z[0]) / h).astype(int)
    if idx.min() < 0 or idx.max() >= r.z.size or not np.allclose(r.z[idx], zc, atol=1e-6 * h):
        raise RuntimeError("dielectric bins do not line up with the profile's bins")
    par, par_err = r.eps_par[idx], r.eps_par_err[idx]
    inv, inv_err = r.eps_perp_inv[idx], r.eps_perp_inv_err[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        perp = 1.0 / inv
        rel_par = np.abs(par_err / par)
        rel_perp = np.abs(inv_err / inv)
    rel_par = np.where(np.isfinite(rel_par), rel_par, np.inf)
    rel_perp = np.where(np.isfinite(rel_perp), rel_perp, np.inf)

    def num(x: np.ndarray) -> list[float | None]:
        return [float(v) if np.isfinite(v) else None for v in x]

    k_perp, k_par = int(np.argmax(rel_perp)), int(np.argmax(rel_par))
    summary.update(
        z_cell_A=zc.tolist(),
        eps_perp=num(perp),
        eps_perp_err=num(np.abs(inv_err) * perp**2),
        eps_perp_inv=num(inv),
        eps_perp_inv_err=num(inv_err),
        eps_parallel=num(par),
        eps_parallel_err=num(par_err),
        max_rel_err_perp=_num(rel_perp[k_perp]),
        max_rel_err_perp_bin=k_perp,
        max_rel_err_parallel=_num(rel_par[k_par]),
        max_rel_err_parallel_bin=k_par,
    )
    problems = []
    low_par = np.flatnonzero(~(par >= 1.0))
    if low_par.size:
        problems.append(f"ε∥ < 1 in bins {low_par.tolist()}")
    bad_inv = np.flatnonzero(~((inv > 0) & (inv <= 1.0)))
    if bad_inv.size:
        problems.append(f"ε⊥ < 1, negative or infinite (1/ε⊥ outside (0, 1]) in bins "
                        f"{bad_inv.tolist()}")  # fmt: skip
    for what, rel, k in (("ε⊥", rel_perp, k_perp), ("ε∥", rel_par, k_par)):
        if not rel[k] <= max_rel_err:
            problems.append(
                f"rel. error of {what} up to {rel[k]:.3g} in bin {k} (z = {zc[k]:.3g} Å in the "
                f"cell) > {max_rel_err:g}"
            )
    if problems:
        summary["why"] = "ε(z) not converged: " + "; ".join(problems)
        return profile, summary
    summary.update(status="accepted", why="")
    prov = dict(profile.provenance)
    prov["permittivity"] = {
        "method": "polarization fluctuations (multiscale.extract.dielectric.DielectricProfile)",
        "boundary": boundary,
        "water_model": water_model,
        "n_frames_used": len(kept),
        "n_frames_skipped_broken_water": len(skipped),
        "n_blocks": int(n_blocks),
        "max_rel_err_allowed": max_rel_err,
        "eps_perp_err": summary["eps_perp_err"],
        "eps_parallel_err": summary["eps_parallel_err"],
        "eps_perp_at": "upper edge of each bin (MAICoS convention)",
    }
    new = dataclasses.replace(
        profile, permittivity=perp, permittivity_parallel=par, provenance=prov
    )
    return new, summary
