"""Plots of extracted profiles with error bars (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["on_distance_axis", "plot_transport_profile"]


def on_distance_axis(profile: Any) -> bool:
    """Whether a TransportProfile's z is the distance from the metal surface (its provenance's
    ``z_axis``, as the pipeline's extract stage writes it) rather than the cell's z."""
    prov = getattr(profile, "provenance", None) or {}
    return str(prov.get("z_axis", "")).startswith("distance")


def plot_transport_profile(
    profile: Any,
    path: str | Path | None = None,
    dpi: int = 120,
    *,
    metal: str | None = None,
    surface: float = 0.0,
    upper_surface: float | None = None,
    reference: Any = None,
    reference_label: str = "reference",
) -> Any:
    """Plot every profile of a :class:`continuum.TransportProfile` with error bars.

    Panels: concentration c_i(z) (mol/L), D⊥ and D∥ (1e-9 m²/s), free energy F_i (kJ/mol),
    potential φ (V) and field E (V/nm); the error bars are one standard error. With a
    ``metal`` (given, or ``provenance["metal"]`` of a profile whose ``provenance["z_axis"]``
    is the distance from the surface) the x axis is the distance from the metal surface (Å,
    top metal layer at 0) and the metal is drawn as a shaded band at distance ≤ 0 (and, for a
    sandwich, beyond ``upper_surface``); otherwise the x axis is the cell's z (nm).

    Parameters
    ----------
    profile : continuum.TransportProfile
        The profile (SI units).
    path : str or Path, optional
        Save the figure there (format from the suffix).
    dpi : int
        Resolution for raster formats (dots per inch).
    metal : str, optional
        Element of the electrode ("Cu"): draws it and labels the axis with it.
    surface : float
        Position of the top metal layer on the profile's z axis, Å (0 for a profile already
        on the distance axis); subtracted from z.
    upper_surface : float, optional
        Distance of the facing metal surface (sandwich), Å from the lower surface; drawn too.
        Default ``provenance["upper_surface_A"]`` when the profile has it.
    reference : continuum.TransportProfile, optional
        Another profile drawn underneath for comparison (a thin grey line per species and
        quantity, its one-standard-error band shaded), e.g. the production run's profile
        behind a short run's. It must be on the same kind of axis as ``profile``: both on the
        distance from the metal surface, or both on the cell's z.
    reference_label : str
        Its name in the legends.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    prov = getattr(profile, "provenance", None) or {}
    if metal is None and on_distance_axis(profile):
        metal = prov.get("metal")
    folded = prov.get("folded") if metal is not None else None
    if upper_surface is None and metal is not None and folded is None:
        upper_surface = prov.get("upper_surface_A")
    z = profile.z * 1e10 - surface if metal is not None else profile.z * 1e9
    ref_z = None
    if reference is not None:
        ref_on_distance = on_distance_axis(reference)
        if ref_on_distance != (metal is not None):
            raise ValueError(
                "reference is on another z axis than profile (one on the distance from the "
                "metal surface, the other on the cell's z): compare profiles from the same "
                "kind of run, both written by the pipeline's extract stage"
            )
        ref_z = reference.z * 1e10 if ref_on_distance else reference.z * 1e9
    panels: list[tuple[str, list, list]] = []

    def per_species(prof: Any, name: str, scale: float, suffix: str = "", ls: str = "-") -> list:
        if prof is None:
            return []
        data = getattr(prof, name)
        err = getattr(prof, name + "_err", None)
        if data is None:
            return []
        out = []
        for i, s in enumerate(prof.species):
            value = data[i] * scale
            e = None if err is None else err[i] * scale
            label = f"{s}{suffix}"
            if name == "diffusion":
                # a bin whose D⊥ was not determined carries a fallback in the profile (for the
                # continuum); the plot shows only what was measured
                settings = ((getattr(prof, "provenance", None) or {})
                            .get("diffusion_perp_settings") or {}).get(s) or {}  # fmt: skip
                known = settings.get("determined")
                if known is not None and len(known) == len(value) and not all(known):
                    keep = np.asarray(known, dtype=bool)
                    value = np.where(keep, value, np.nan)
                    e = None if e is None else np.where(keep, e, np.nan)
                    label += f" ({int((~keep).sum())} bins not determined: not drawn)"
            out.append((label, value, e, ls))
        return out

    def panel(ylabel: str, name: str, scale: float) -> tuple[str, list, list]:
        return (ylabel, per_species(profile, name, scale), per_species(reference, name, scale))

    panels.append(panel("c (mol/L)", "concentration", 1e-3))
    panels.append(
        (
            "D (1e-9 m²/s)",
            per_species(profile, "diffusion", 1e9, " ⊥")
            + per_species(profile, "diffusion_parallel", 1e9, " ∥", "--"),
            per_species(reference, "diffusion", 1e9, " ⊥")
            + per_species(reference, "diffusion_parallel", 1e9, " ∥", "--"),
        )
    )
    if profile.free_energy is not None:
        panels.append(panel("F (kJ/mol)", "free_energy", 1e-3))

    def single(prof: Any, name: str, label: str, scale: float) -> list:
        value = None if prof is None else getattr(prof, name)
        if value is None:
            return []
        err = getattr(prof, name + "_err")
        return [(label, value * scale, None if err is None else err * scale, "-")]

    if profile.potential is not None:
        panels.append(("φ (V)", single(profile, "potential", "φ", 1.0),
                       single(reference, "potential", "φ", 1.0)))  # fmt: skip
    if profile.field is not None:
        panels.append(("E (V/nm)", single(profile, "field", "E", 1e-9),
                       single(reference, "field", "E", 1e-9)))  # fmt: skip
    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.2 * len(panels)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (ylabel, curves, ref_curves) in zip(axes, panels, strict=True):
        for label, y, yerr, ls in ref_curves:
            ax.plot(ref_z, y, ls=ls, color="0.45", lw=1.0, label=f"{label} ({reference_label})")
            if yerr is not None:
                ax.fill_between(ref_z, y - yerr, y + yerr, color="0.8", lw=0)
        for label, y, yerr, ls in curves:
            ax.errorbar(z, y, yerr=yerr, ls=ls, marker=".", ms=3, capsize=2, label=label)
        ax.set_ylabel(ylabel)
        if metal is not None:
            lo = min(-3.0, float(z.min()) - 1.0)
            ax.axvspan(lo, 0.0, color="0.6", alpha=0.5, lw=0, label=metal)
            hi = float(z.max()) + 1.0
            if ref_z is not None:
                hi = max(hi, float(ref_z.max()) + 1.0)
            if upper_surface is not None:
                hi = max(hi, float(upper_surface) + 3.0)
                ax.axvspan(float(upper_surface), hi, color="0.6", alpha=0.5, lw=0)
            if folded is not None:  # a sandwich folded about its midplane ends there
                m = float(folded["midplane_from_surface_A"])
                ax.axvline(m, color="0.4", ls=":", lw=1, label="midplane (folded)")
                hi = max(hi, m + 0.5)
            ax.set_xlim(lo, hi)
        if len(curves) + len(ref_curves) > 1:
            ax.legend(fontsize="small")
    axes[-1].set_xlabel("z (nm)" if metal is None else f"distance from the {metal} surface (Å)")
    fig.suptitle("Transport profile (error bars: 1 standard error)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
