"""Plots of extracted profiles with error bars (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_transport_profile"]


def plot_transport_profile(
    profile: Any,
    path: str | Path | None = None,
    dpi: int = 120,
    *,
    metal: str | None = None,
    surface: float = 0.0,
    upper_surface: float | None = None,
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

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    prov = getattr(profile, "provenance", None) or {}
    if metal is None and str(prov.get("z_axis", "")).startswith("distance"):
        metal = prov.get("metal")
    if upper_surface is None and metal is not None:
        upper_surface = prov.get("upper_surface_A")
    z = profile.z * 1e10 - surface if metal is not None else profile.z * 1e9
    panels: list[tuple[str, list[tuple[str, np.ndarray, np.ndarray | None, str]]]] = []

    def per_species(name: str, scale: float, suffix: str = "", ls: str = "-") -> list:
        data = getattr(profile, name)
        err = getattr(profile, name + "_err", None)
        if data is None:
            return []
        return [
            (f"{s}{suffix}", data[i] * scale, None if err is None else err[i] * scale, ls)
            for i, s in enumerate(profile.species)
        ]

    panels.append(("c (mol/L)", per_species("concentration", 1e-3)))
    panels.append(
        (
            "D (1e-9 m²/s)",
            per_species("diffusion", 1e9, " ⊥")
            + per_species("diffusion_parallel", 1e9, " ∥", "--"),
        )
    )
    if profile.free_energy is not None:
        panels.append(("F (kJ/mol)", per_species("free_energy", 1e-3)))
    if profile.potential is not None:
        panels.append(("φ (V)", [("φ", profile.potential, profile.potential_err, "-")]))
    if profile.field is not None:
        err = None if profile.field_err is None else profile.field_err * 1e-9
        panels.append(("E (V/nm)", [("E", profile.field * 1e-9, err, "-")]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.2 * len(panels)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (ylabel, curves) in zip(axes, panels, strict=True):
        for label, y, yerr, ls in curves:
            ax.errorbar(z, y, yerr=yerr, ls=ls, marker=".", ms=3, capsize=2, label=label)
        ax.set_ylabel(ylabel)
        if metal is not None:
            lo = min(-3.0, float(z.min()) - 1.0)
            ax.axvspan(lo, 0.0, color="0.6", alpha=0.5, lw=0, label=metal)
            hi = float(z.max()) + 1.0
            if upper_surface is not None:
                hi = max(hi, float(upper_surface) + 3.0)
                ax.axvspan(float(upper_surface), hi, color="0.6", alpha=0.5, lw=0)
            ax.set_xlim(lo, hi)
        if len(curves) > 1:
            ax.legend(fontsize="small")
    axes[-1].set_xlabel("z (nm)" if metal is None else f"distance from the {metal} surface (Å)")
    fig.suptitle("Transport profile (error bars: 1 standard error)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
