"""Umbrella results into the transport profile: the columns of an ion that free MD leaves out.

:func:`merge_umbrella` (called by the extract stage) adds a left-out species to the
:class:`continuum.TransportProfile` from its ``umbrella_<ion>.json`` (written by
:func:`multiscale.pipeline.umbrella_stage.run_umbrella`) through :func:`umbrella_columns`:
c(z) = c_bulk exp(−(F(z) − F(z_far))/kT) with c_bulk the md stage's salt concentration times the
ion's stoichiometry and z_far the covered bin farthest from the metal, F(z), D⊥(z) and D∥(z) on
the transport bins, with provenance ``"umbrella"`` and the analysis' verdict.

A :class:`~continuum.TransportProfile` holds no NaN, so transport bins outside the windows'
range carry the value of the nearest covered bin; the provenance lists the covered bins
(``covered``) and the report says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["md_water_diffusion", "merge_umbrella", "umbrella_columns"]

log = logging.getLogger("multiscale.pipeline")
_R = 8.314462618  # J/(mol K)
#: relative error given to a D that is a fallback, not a converged window estimate (as the
#: extract stage's D⊥ fallback, multiscale.extract.profile_builder.FALLBACK_REL_ERR)
FALLBACK_REL_ERR = 0.5


def _arr(values: Any) -> np.ndarray:
    """A JSON list (None for NaN) as a float array."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


# --------------------------------------------------------------------------- the medium
def md_water_diffusion(
    frames: list, lags_fs: Any, frame_interval_fs: float, n_blocks: int, centre: str = "O"
) -> tuple[float, float] | None:
    """In-plane D of the water (every ``centre`` atom) of unbiased MD by the umbrella
    windows' fit (:func:`multiscale.extract.umbrella.block_msd_diffusion`): a straight line
    through the MSD at ``lags_fs`` (rounded to frames), mean over ``n_blocks`` time blocks and
    its standard error, in m²/s; None when the lags do not fit into a block or the frames hold
    no water.

    Parameters
    ----------
    frames : list of ase.Atoms
        The md stage's frames used by the extract stage.
    lags_fs : sequence of float
        Lag times of the fit (fs): the extract stage gives its own (``extract.lags``), the
        lags of the profile's D.
    frame_interval_fs : float
        Time between frames (fs).
    n_blocks : int
        Time blocks for the error bar (>= 2).
    centre : str
        Symbol of the atom standing for a water molecule.
    """
    from multiscale.extract.base import unwrap_positions
    from multiscale.extract.umbrella import block_msd_diffusion

    if not frames or lags_fs is None:
        return None
    mask = np.array(frames[0].get_chemical_symbols()) == centre
    lags = np.unique(np.round(np.asarray(lags_fs, dtype=float) / frame_interval_fs).astype(int))
    n_block = len(frames) // n_blocks
    if not mask.any() or lags.size < 2 or lags.min() < 1 or lags.max() >= n_block:
        return None
    pos = np.array([a.positions[mask] for a in frames])
    cells = np.array([a.cell.array for a in frames])
    xy = unwrap_positions(pos, cells, frames[0].pbc)[:, :, :2]
    d, err = block_msd_diffusion(xy, lags, frame_interval_fs, n_blocks)
    return float(d.mean() * 1e-5), err * 1e-5


def _medium_factor(
    windows: Mapping[str, Any], water_md: tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """D∥(water, md) / D∥(water, window) per window and its relative error, or None."""
    if water_md is None or windows.get("D_water_par_m2_per_s") is None:
        return None
    dw, dwe = _arr(windows["D_water_par_m2_per_s"]), _arr(windows["D_water_par_err_m2_per_s"])
    if not (np.isfinite(dw).all() and (dw > 0).all()):
        return None
    d_md, e_md = water_md
    factor = d_md / dw
    rel = np.hypot(e_md / d_md, np.where(np.isfinite(dwe), dwe, 0.0) / dw)
    return factor, rel


# --------------------------------------------------------------------------- the profile
def _d_column(
    z_bins: np.ndarray, zm: np.ndarray, d: np.ndarray, e: np.ndarray, use: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window D interpolated in the windows' mean heights onto the bin centres (constant
    beyond the outermost windows)."""
    order = np.argsort(zm[use])
    x = zm[use][order]
    return np.interp(z_bins, x, d[use][order]), np.interp(z_bins, x, e[use][order])


def _relative_covariance(result, z, fin, zg, w_sat, weights, nearest, far):
    """Covariance (kT²) of −ln(c_b/c_bulk) over the transport bins from the result's MBAR
    covariance on the F grid (``free_energy_cov_kT2``), or None when the result has none.

    Linear propagation through the steps of :func:`umbrella_columns`: the interpolation over
    F holes (a matrix), the bin's c_b (``w_sat``: −d ln c_b/dF at the grid points ``zg`` of
    the bin, one row per bin; without a packing limit the weights e^(−F)/Σe^(−F) of F_b), the
    nearest covered bin for uncovered ones, the ratio to the far bin's c, and the reference
    F_far = −ln⟨e^(−F)⟩ of the far bin (``weights``), on which x = e^(−(F − F_far)) depends.
    """
    raw = result.get("free_energy_cov_kT2")
    if raw is None:
        return None
    cov = np.array([[np.nan if v is None else v for v in row] for row in raw], dtype=float)
    if cov.shape != (z.size, z.size):
        raise ValueError(
            f"free_energy_cov_kT2 has shape {cov.shape}, expected ({z.size}, {z.size}) "
            "(the F grid); the umbrella result is inconsistent: rerun the umbrella stage"
        )
    c_fin = np.nan_to_num(cov[np.ix_(fin, fin)])
    zf = z[fin]
    # the interpolation of F onto zg from the defined points, as a matrix (linear in F)
    interp = np.array([np.interp(zg, zf, e) for e in np.eye(zf.size)]).T
    rows = w_sat[nearest] - w_sat[far][None, :]
    full = (rows - rows.sum(axis=1)[:, None] * weights[far][None, :]) @ interp
    return _nearest_psd(full @ _nearest_psd(c_fin) @ full.T)


def _nearest_psd(c: np.ndarray) -> np.ndarray:
    """Exactly symmetric, negative eigenvalues (round-off of MBAR's or of the products)
    set to 0: what :mod:`continuum.uncertainty` requires of a covariance."""
    w, v = np.linalg.eigh(0.5 * (c + c.T))
    out = (v * np.clip(w, 0.0, None)) @ v.T
    return 0.5 * (out + out.T)


def umbrella_columns(
    result: Mapping[str, Any],
    z_bins_A: np.ndarray,
    bin_width_A: float,
    temperature_K: float,
    parallel: bool = True,
    max_concentration_mol_per_m3: float = 0.0,
    water_md: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """One species' profile columns from its umbrella result, on the transport bins.

    Parameters
    ----------
    result : mapping
        An ``umbrella_<ion>.json`` record (see :func:`run_umbrella`): ``z_A`` (F grid, Å),
        ``free_energy_kT``, ``free_energy_err_kT`` (kT; None/NaN where undefined), ``windows``
        (``z_mean_A``, ``D_perp_m2_per_s``, ``D_perp_err_m2_per_s``, ``D_perp_converged``,
        ``D_par_m2_per_s``, ``D_par_err_m2_per_s``), ``c_bulk_mol_per_m3`` and ``name``.
    z_bins_A : ndarray
        Centres of the transport bins (Å above the top metal layer).
    bin_width_A : float
        Width of the transport bins (Å).
    temperature_K : float
        Temperature of the profile (K).
    parallel : bool
        Also give D∥.
    max_concentration_mol_per_m3 : float
        Packing limit c_max of the ion (mol/m³): c(z) saturates towards it where F(z) is a deep
        well (see Notes); 0: no limit, c = c_bulk exp(−ΔF/kT), exact only at infinite dilution.
    water_md : (float, float), optional
        D∥ of the water of unbiased MD and its error (m²/s), at the profile's lags
        (:func:`md_water_diffusion`): the windows' D become the ion-to-water ratio of each
        window times this (see Notes); None: the windows' D as they are.

    Returns
    -------
    dict
        ``concentration`` and ``concentration_err`` (mol/m³), ``free_energy`` and
        ``free_energy_err`` (J/mol, F = −RT ln(c/⟨c⟩) as for the free-MD species),
        ``diffusion``, ``diffusion_err`` (D⊥) and, with ``parallel``, ``diffusion_parallel``,
        ``diffusion_parallel_err`` (m²/s), all of shape (n_bins,); ``covered`` (bool per bin:
        its centre lies inside the range where the windows give F) and ``notes`` (the
        reference of c and the fallbacks used, as text).

    Notes
    -----
    In a covered bin F_b = −kT ln⟨exp(−F/kT)⟩ over the F grid points inside the bin (F holes
    between windows linearly interpolated), so that c_b is the bin average of c(z) as the
    free-MD concentrations are. c = c_bulk exp(−(F_b − F_far)/kT), F_far in the covered bin
    farthest from the metal (the bulk side).

    The windows hold one ion (the infinite-dilution F(z)); an adsorbed layer fills up, which
    exp(−ΔF/kT) alone does not know (a 13 kT well gives 10⁵ times the bulk concentration).
    With ``max_concentration_mol_per_m3`` = c_max > 0 each F grid point is a lattice-gas site
    layer with room for c_max (Bikerman's steric limit, the one-species form of Borukhov,
    Andelman & Orland, Phys. Rev. Lett. 79, 435 (1997); Kilic, Bazant & Ajdari, Phys. Rev. E
    75, 021502 (2007), eq. 5): with x = exp(−(F − F_far)/kT) and φ = c_bulk/c_max,

        c = c_bulk x / (1 − φ + φ x),

    the Langmuir isotherm of each layer: c_bulk x where x φ ≪ 1, c_max in a deep well, c_bulk
    where F = F_far; c_b is the bin average of c on the grid points, divided by that of the far
    bin (which then holds c_bulk exactly, as without the limit). The profile's F column
    is then −RT ln(c/⟨c⟩), the effective (finite-concentration) potential of mean force the
    continuum uses; the umbrella result keeps the infinite-dilution F. The limit ignores the
    other species (water, the counter-ions) and the ion–ion forces: it caps a filled layer at
    the packing of the ion, not at a coverage measured with a finite-concentration F(z).

    The covariance of ln(c_b/c_bulk) follows from MBAR's covariance on the F grid
    (``free_energy_cov_kT2``) by linear propagation and is returned as ``free_energy_cov``
    ((J/mol)², its diagonal the squared ``free_energy_err``); a result without it gets the root
    sum of squares of both bins' MBAR errors. Bins outside the covered range
    take the value of the nearest covered bin (a TransportProfile holds no NaN). D⊥ and D∥
    are the windows' values interpolated in their mean heights (constant beyond the outermost
    windows); windows whose D⊥ did not converge are not used when others did, and carry a
    50 % error when they are all there is; with no usable D⊥ at all, D∥ (then the tabulated
    bulk D) stands in, with a 50 % error.

    With ``water_md`` and the windows' own water D∥ (``D_water_par_m2_per_s``), every
    window's D⊥ and D∥ are multiplied by D∥(water, md)/D∥(water, window), their relative
    errors added in quadrature: each window then contributes its ion-to-water ratio, times the
    md's water at the profile's lags. Two things differ between a window and the profile's
    water: the liquid (the other ions removed, the water relaxed anew around the placed ion;
    in the first 400 K production the windows' water diffused 1.2–1.5× faster than the md's at
    the same lags) and the lags (a window's blocks of ~1 ps allow 45–240 fs, where this
    model's water D∥ is twice its value at 0.6–2.4 ps); an ion's friction follows its
    medium's (Stokes–Einstein, D ∝ 1/η ∝ D_water), so the ratio carries over. The notes give
    the factors.
    """
    z_bins = np.asarray(z_bins_A, dtype=float)
    z = np.asarray(result["z_A"], dtype=float)
    f = _arr(result["free_energy_kT"])
    df = _arr(result["free_energy_err_kT"])
    df = np.where(np.isfinite(df), df, 0.0)
    fin = np.isfinite(f)
    name = result.get("name", result.get("species", "?"))
    if fin.sum() < 1:
        raise ValueError(f"umbrella result of {name}: F(z) is undefined everywhere")
    zf, ff, dff = z[fin], f[fin], df[fin]
    half_fine = 0.5 * float(np.median(np.diff(z))) if z.size > 1 else 0.05
    lo, hi = zf.min() - half_fine, zf.max() + half_fine
    covered = (z_bins >= lo) & (z_bins <= hi)
    if not covered.any():
        raise ValueError(
            f"the umbrella windows of {name} give F(z) at {lo:.3g}..{hi:.3g} Å, which covers "
            f"none of the transport bins (centres {z_bins.min():.3g}..{z_bins.max():.3g} Å): "
            "move the windows (umbrella.centers_A or z_min_A/z_max_A) into the profile's range"
        )
    # F on the grid points between the first and last defined one (holes interpolated)
    inside = (z >= zf.min()) & (z <= zf.max())
    zg = z[inside]
    fg = np.interp(zg, zf, ff)
    dg = np.interp(zg, zf, dff)
    half = 0.5 * float(bin_width_A)
    f_bin = np.full(z_bins.size, np.nan)
    # per bin, its grid points and the weights e^(-F)/Σe^(-F): the derivatives of F_b
    weights = np.zeros((z_bins.size, zg.size))
    members = np.zeros((z_bins.size, zg.size), dtype=bool)
    for b in np.flatnonzero(covered):
        sel = (zg >= z_bins[b] - half) & (zg < z_bins[b] + half)
        if not sel.any():  # bin narrower than the F grid: the nearest point
            sel = np.abs(zg - z_bins[b]) == np.abs(zg - z_bins[b]).min()
        w = np.exp(-(fg[sel] - fg[sel].min()))
        f_bin[b] = fg[sel].min() - np.log(w.mean())
        weights[b, sel] = w / w.sum()
        members[b] = sel
    idx = np.flatnonzero(covered)
    nearest = idx[np.argmin(np.abs(np.arange(z_bins.size)[:, None] - idx[None, :]), axis=1)]
    far = idx.max()
    c_bulk = float(result["c_bulk_mol_per_m3"])
    c_max = float(max_concentration_mol_per_m3)
    if not (np.isfinite(c_max) and c_max >= 0):
        raise ValueError(
            f"max_concentration_mol_per_m3 must be >= 0 (0: no packing limit), got {c_max!r}"
        )
    if c_max and c_max <= c_bulk:
        raise ValueError(
            f"the packing limit of {name} ({c_max:.6g} mol/m³) must exceed its bulk "
            f"concentration ({c_bulk:.6g} mol/m³): raise extract.max_ion_concentration_mol_per_L "
            "or give 0 for no limit"
        )
    phi = c_bulk / c_max if c_max else 0.0
    # c/c_bulk on the grid, relative to the far bin, and d ln c_b / dF_g (kT units): the
    # bin's saturated weights; with phi = 0 they are the weights of F_b above
    x = np.exp(-(fg - f_bin[far]))
    occ = x / (1.0 - phi + phi * x)
    sat = np.where(members, occ * (1.0 - phi) / (1.0 - phi + phi * x), 0.0)
    n_in = np.maximum(members.sum(axis=1), 1)
    ratio = np.where(covered, (members * occ).sum(axis=1) / n_in, np.nan)
    if phi:
        w_sat = np.where(
            covered[:, None], sat / (np.where(covered, ratio, 1.0) * n_in)[:, None], 0.0
        )
    else:  # the same weights, without their round-off (the far bin's error stays exactly 0)
        w_sat = weights
    e_bin = np.where(covered, w_sat @ dg, np.nan)
    # c_bulk in the far bin exactly (its grid points' occupation averages 1 only without a
    # limit or where F is flat there)
    ratio = ratio[nearest] / ratio[far]
    e_bin = e_bin[nearest]
    # ln c_b depends on F_g through the bin's points and on F_far through x (sum of w_sat)
    g_cov = _relative_covariance(result, z, fin, zg, w_sat, weights, nearest, far)
    if g_cov is None:  # an older result without MBAR's covariance: errors as if independent
        rel = np.hypot(e_bin, e_bin[far])
        rel[nearest == far] = 0.0
    else:
        rel = np.sqrt(np.clip(np.diag(g_cov), 0.0, None))
    conc = c_bulk * ratio
    rt = _R * float(temperature_K)
    notes = [
        f"c = c_bulk exp(-(F - F(z_far))/kT), c_bulk = {c_bulk:.6g} mol/m³ (md salt "
        f"concentration x stoichiometry) in the covered bin farthest from the metal "
        f"(z = {z_bins[far]:.3g} Å)",
    ]
    if c_max:
        n_sat = int(np.sum(members[covered] & (phi * x > 0.1)[None, :]))
        notes.append(
            f"packing limit c_max = {c_max:.6g} mol/m³ (extract.max_ion_concentration_mol_per_L"
            f"): c = c_bulk x/(1 - phi + phi x), x = exp(-(F - F(z_far))/kT), phi = "
            f"c_bulk/c_max; {n_sat} F grid point(s) more than 10 % filled"
            + (" (the adsorbed layer is saturated there)" if n_sat else "")
        )
    if not covered.all():
        notes.append(
            f"{int((~covered).sum())} of {z_bins.size} bins lie outside the windows' range "
            f"({lo:.3g}..{hi:.3g} Å) and hold the nearest covered bin's values"
        )
    w = result["windows"]
    zm = _arr(w["z_mean_A"])
    dp, dpe = _arr(w["D_perp_m2_per_s"]), _arr(w["D_perp_err_m2_per_s"])
    conv = np.array([bool(x) for x in w["D_perp_converged"]]) & np.isfinite(dpe)
    dq, dqe = _arr(w["D_par_m2_per_s"]), _arr(w["D_par_err_m2_per_s"])
    medium = _medium_factor(w, water_md)
    if medium is not None:
        factor, f_rel = medium
        dpe = factor * dp * np.hypot(dpe / dp, f_rel)
        dqe = factor * dq * np.hypot(dqe / dq, f_rel)
        dp, dq = factor * dp, factor * dq
        notes.append(
            f"D scaled to the md's water: x D_par(water, md)/D_par(water, window) = "
            f"{np.min(factor):.3g}..{np.max(factor):.3g} (water D_par {water_md[0]:.3g} m²/s "
            f"in the md at the profile's lags, "
            f"{np.min(water_md[0] / factor):.3g}..{np.max(water_md[0] / factor):.3g} in the "
            "windows at theirs; Stokes-Einstein: the ion-to-water ratio of each window)"
        )
    elif water_md is not None:
        notes.append(
            "D not scaled to the md's water: the umbrella result has no water D_par per window "
            "(rerun the umbrella stage's analysis)"
        )
    has_perp = np.isfinite(dp) & (dp > 0)
    has_par = np.isfinite(dq) & (dq > 0)
    if (has_perp & conv).any():
        use = has_perp & conv
        if (has_perp & ~conv).any():
            notes.append(
                f"D_perp: {int((has_perp & ~conv).sum())} window(s) not converged, left out of "
                "the interpolation"
            )
        d_perp, d_perp_err = _d_column(z_bins, zm, dp, dpe, use)
    elif has_perp.any():  # none converged: none gets a small error bar
        d_perp, d_perp_err = _d_column(z_bins, zm, dp, FALLBACK_REL_ERR * dp, has_perp)
        notes.append("D_perp: no window converged; the unconverged values carry a 50 % error")
    elif has_par.any():
        d_perp, d_perp_err = _d_column(z_bins, zm, dq, FALLBACK_REL_ERR * dq, has_par)
        notes.append("D_perp: undetermined in every window; D_par stands in (50 % error)")
    else:
        from .electrochem import DIFFUSION_25C

        if name not in DIFFUSION_25C:
            raise ValueError(
                f"umbrella result of {name}: neither D_perp nor D_par is determined in any "
                "window and no tabulated D exists; run longer windows (umbrella.window_ps)"
            )
        d0 = DIFFUSION_25C[name][0]
        d_perp = np.full(z_bins.size, d0)
        d_perp_err = FALLBACK_REL_ERR * d_perp
        notes.append(f"D_perp: undetermined in every window; tabulated bulk D = {d0:.4g} m²/s")
    cols: dict[str, Any] = {
        "concentration": conc,
        "concentration_err": conc * rel,
        "free_energy": -rt * np.log(conc / conc.mean()),
        "free_energy_err": rt * rel,
        "diffusion": d_perp,
        "diffusion_err": d_perp_err,
        "covered": covered,
        "notes": notes,
    }
    if g_cov is not None:
        cols["free_energy_cov"] = rt**2 * g_cov
        notes.append(
            "F errors: MBAR's covariance between the F grid points carried to the bins "
            "(free_energy_cov, (J/mol)²; neighbouring bins' errors are correlated)"
        )
    if parallel:
        if has_par.any():
            err = np.where(np.isfinite(dqe), dqe, FALLBACK_REL_ERR * dq)
            cols["diffusion_parallel"], cols["diffusion_parallel_err"] = _d_column(
                z_bins, zm, dq, err, has_par
            )
        else:
            cols["diffusion_parallel"] = d_perp.copy()
            cols["diffusion_parallel_err"] = FALLBACK_REL_ERR * d_perp
            notes.append("D_par: undetermined in every window; D_perp stands in (50 % error)")
    return cols


#: the profile arrays with one row per species, and the column of umbrella_columns feeding each
_ROWS = (
    "concentration", "concentration_err", "free_energy", "free_energy_err", "diffusion",
    "diffusion_err", "diffusion_parallel", "diffusion_parallel_err",
)  # fmt: skip


def merge_umbrella(
    profile,
    umbrella: Mapping[str, Any],
    umbrella_dir: Path,
    dropped: Mapping[str, str],
    bin_width_A: float,
    max_concentration_mol_per_m3: float = 0.0,
    water_md: tuple[float, float] | None = None,
):
    """Add the species left out of free MD that the umbrella stage sampled to ``profile``.

    Parameters
    ----------
    profile : continuum.TransportProfile
        The extract stage's profile, z = distance from the top metal layer (m).
    umbrella : mapping
        The umbrella stage's summary (``species``: per ion symbol its ``name``, ``file``, ...).
    umbrella_dir : Path
        The umbrella stage's folder (holds ``umbrella_<ion>.json``).
    dropped : mapping
        The extract stage's ``dropped_species`` (name -> why): only these are added.
    bin_width_A : float
        Width of the transport bins (Å).
    max_concentration_mol_per_m3 : float
        Packing limit of every ion's c(z) (mol/m³; 0: none), see :func:`umbrella_columns`.
    water_md : (float, float), optional
        D∥ of the md's water and its error (m²/s, :func:`md_water_diffusion` at the profile's
        lags); given, the windows' D are scaled to it (see :func:`umbrella_columns`).

    Returns
    -------
    (TransportProfile, dict)
        The profile with the added species (appended; provenance ``species_source`` gives
        "free MD" or "umbrella" per species, ``umbrella`` per added species its verdict, the
        covered bins and the notes of :func:`umbrella_columns`), and per umbrella species what
        happened (``merged``: bool, ``why``, ``converged``, ``verdict``, ``covered_bins``, ...).
    """
    import dataclasses

    info: dict[str, Any] = {}
    new: list[tuple[str, int, dict[str, Any]]] = []
    z_a = profile.z * 1e10
    for sym, s in (umbrella.get("species") or {}).items():
        name = s["name"]
        if name in profile.species:
            info[name] = {"merged": False, "why": "free MD gave a profile", "species": sym}
            continue
        if name not in dropped:
            info[name] = {
                "merged": False,
                "why": "not an extract species (add it to extract.species to merge it)",
                "species": sym,
            }
            continue
        result = json.loads((Path(umbrella_dir) / s["file"]).read_text())
        try:
            cols = umbrella_columns(
                result, z_a, bin_width_A, profile.temperature,
                parallel=profile.diffusion_parallel is not None,
                max_concentration_mol_per_m3=max_concentration_mol_per_m3,
                water_md=water_md,
            )  # fmt: skip
        except ValueError as err:  # said in the summary and the report, not silently dropped
            log.warning("extract: %s not merged from umbrella sampling: %s", name, err)
            info[name] = {
                "merged": False, "species": sym, "why": str(err),
                "converged": bool(result["converged"]), "verdict": result["verdict"],
            }  # fmt: skip
            continue
        new.append((name, int(result["charge"]), cols))
        info[name] = {
            "merged": True,
            "species": sym,
            "source": "umbrella",
            "converged": bool(result["converged"]),
            "verdict": result["verdict"],
            "min_overlap": result["min_overlap"],
            "n_windows": result["n_windows"],
            "window_ps": result["window_ps"],
            "covered_bins": int(cols["covered"].sum()),
            "n_bins": int(cols["covered"].size),
            "covered_z_A": [float(z_a[cols["covered"]].min()), float(z_a[cols["covered"]].max())],
            "notes": cols["notes"],
            "file": f"umbrella/{s['file']}",
        }
        log.info("extract: %s from umbrella sampling (%s), %d of %d bins covered", name,
                 result["verdict"], info[name]["covered_bins"], info[name]["n_bins"])  # fmt: skip
    if not new:
        return profile, info
    kw: dict[str, Any] = {}
    for row in _ROWS:
        old = getattr(profile, row)
        if old is None:
            continue
        kw[row] = np.vstack([old, *[c[row][None, :] for _, _, c in new]])
    prov = dict(profile.provenance)
    source = dict(prov.get("species_source") or {n: "free MD" for n in profile.species})
    umb = dict(prov.get("umbrella") or {})
    for name, _, cols in new:
        source[name] = "umbrella"
        umb[name] = {k: v for k, v in info[name].items() if k not in ("merged",)} | {
            "covered": [bool(x) for x in cols["covered"]]
        }
        if "free_energy_cov" in cols:  # the continuum's uncertainty propagation reads it
            umb[name]["free_energy_cov_J2_per_mol2"] = cols["free_energy_cov"].tolist()
    prov["species_source"] = source
    prov["umbrella"] = umb
    return (
        dataclasses.replace(
            profile,
            species=[*profile.species, *[n for n, _, _ in new]],
            charges=np.concatenate([profile.charges, [q for _, q, _ in new]]),
            provenance=prov,
            **kw,
        ),
        info,
    )
