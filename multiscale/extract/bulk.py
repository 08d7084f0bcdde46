"""The bulk region of an interface profile, found from the data, and fine structure profiles.

:func:`detect_bulk` finds the largest central region where a concentration profile c(z) is
flat within its error bars: a χ² test of a constant (the error-weighted mean) against the
bins, starting from the middle bins and growing outward one bin at a time for as long as the
test passes. It reports the region's concentration in mol/L and, given the water
concentration on the same bins, in mol/kg of water; or, honestly, that there is no bulk
region.

:func:`fine_density_profile` gives number densities on fine bins (0.1–0.25 Å, for the
layering) against the distance from the metal surface (top metal layer at 0), separate from
the wider bins of the transport estimators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import chi2

from .density import DensityProfile

__all__ = ["BulkRegion", "FineDensity", "detect_bulk", "fine_density_profile"]

WATER_KG_PER_MOL = 0.018015


@dataclass
class BulkRegion:
    """Result of :func:`detect_bulk`.

    Attributes
    ----------
    found : bool
        False when no central region of at least ``min_bins`` bins is flat within errors.
    reason : str
        What was found, or why there is no bulk region.
    z_range : tuple of float or None
        Lower and upper edge of the region (units of ``z``, usually Å from the surface).
    indices : tuple of int or None
        First and one-past-last bin of the region.
    concentration_mol_per_L, concentration_err_mol_per_L : float or None
        Error-weighted mean concentration in the region and its standard error (mol/L).
    molality_mol_per_kg, molality_err_mol_per_kg : float or None
        Moles per kg of water in the region (needs the water concentration), and its error.
    chi2, dof, p_value : float, int, float or None
        The χ² test of the constant against the region's bins.
    """

    found: bool
    reason: str
    z_range: tuple[float, float] | None = None
    indices: tuple[int, int] | None = None
    concentration_mol_per_L: float | None = None
    concentration_err_mol_per_L: float | None = None
    molality_mol_per_kg: float | None = None
    molality_err_mol_per_kg: float | None = None
    chi2: float | None = None
    dof: int | None = None
    p_value: float | None = None

    def __str__(self) -> str:
        if not self.found:
            return f"no bulk region: {self.reason}"
        lo, hi = self.z_range
        s = (
            f"bulk region {lo:.2f}–{hi:.2f}: c = {self.concentration_mol_per_L:.4g} ± "
            f"{self.concentration_err_mol_per_L:.2g} mol/L"
        )
        if self.molality_mol_per_kg is not None:
            s += f" = {self.molality_mol_per_kg:.4g} ± {self.molality_err_mol_per_kg:.2g} mol/kg"
        return s + f" (χ² = {self.chi2:.3g}, {self.dof} dof, p = {self.p_value:.3g})"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _vector(name: str, x: Any, n: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1 or (n is not None and a.size != n):
        want = "a 1D array" if n is None else f"a 1D array of {n} values (one per bin of z)"
        raise ValueError(f"{name} must be {want}, got shape {a.shape}")
    return a


def _chi2(c: np.ndarray, w: np.ndarray) -> tuple[float, float, int, float]:
    mean = float(np.sum(w * c) / np.sum(w))
    x2 = float(np.sum(w * (c - mean) ** 2))
    dof = c.size - 1
    return mean, x2, dof, float(chi2.sf(x2, dof))


def detect_bulk(
    z: Any,
    c: Any,
    c_err: Any,
    water: Any | None = None,
    alpha: float = 0.05,
    min_bins: int = 3,
    start: str = "middle",
) -> BulkRegion:
    """The largest central region where c(z) is flat within its errors.

    Starting from the ``min_bins`` bins in the middle, the region grows outward one bin at a
    time (both sides if that passes, else the side that passes with the larger p-value) while
    a χ² test of a constant (the error-weighted mean) against its bins has p > ``alpha``.
    Bins without a finite, positive error end the growth (nothing can be said there). With
    ``start="end"`` (a profile that ends in the bulk, e.g. a sandwich folded about its
    midplane) the region starts at the last ``min_bins`` bins and grows towards the surface.

    Parameters
    ----------
    z : array_like
        Bin centres, increasing, evenly spaced (Å; e.g. distance from the metal surface).
    c : array_like
        Concentration per bin, mol/L.
    c_err : array_like
        Standard error of ``c`` per bin (independent bins), mol/L.
    water : array_like, optional
        Concentration of water molecules on the same bins, mol/L (e.g. the O profile); gives
        the molality (mol per kg of water) ``c / (c_water · 0.018015 kg/mol)`` in the region.
    alpha : float
        Significance level of the flatness test (0 < alpha < 1).
    min_bins : int
        Fewest bins a bulk region may have (≥ 2).
    start : {"middle", "end"}
        Where the bulk is looked for: the middle of the profile, or its far end.

    Returns
    -------
    BulkRegion
        ``found=False`` with the reason when no central region passes ("no bulk region").

    Raises
    ------
    ValueError
        Arrays of different lengths, fewer bins than ``min_bins``, bad ``alpha``/``min_bins``,
        z not increasing.
    """
    z = _vector("z", z)
    n = z.size
    c = _vector("c", c, n)
    err = _vector("c_err", c_err, n)
    cw = None if water is None else _vector("water", water, n)
    if isinstance(min_bins, bool) or not isinstance(min_bins, int | np.integer) or min_bins < 2:
        raise ValueError(f"min_bins must be an integer >= 2, got {min_bins!r}")
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number between 0 and 1, got {alpha!r}")
    if n < min_bins:
        raise ValueError(f"z has {n} bins, fewer than min_bins={min_bins}; use finer bins")
    if n > 1 and not np.all(np.diff(z) > 0):
        raise ValueError("z must be strictly increasing (bin centres)")
    if start not in ("middle", "end"):
        raise ValueError(f'start must be "middle" or "end", got {start!r}')
    ok = np.isfinite(c) & np.isfinite(err) & (err > 0)
    w = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
    i = (n - min_bins) // 2 if start == "middle" else n - min_bins
    j = i + min_bins
    where = "middle" if start == "middle" else "last"

    def test(a: int, b: int) -> float | None:
        if a < 0 or b > n or not ok[a:b].all():
            return None
        return _chi2(c[a:b], w[a:b])[3]

    p0 = test(i, j)
    if p0 is None or p0 <= alpha:
        why = (
            f"the {where} bins have no usable error bars"
            if p0 is None
            else f"the {min_bins} {where} bins are not flat within their errors (χ² test p = "
            f"{p0:.3g} <= {alpha}): the film has no region where c(z) is constant; use a "
            "thicker electrolyte or a longer run"
        )
        return BulkRegion(False, why)
    while True:
        both = test(i - 1, j + 1)
        if both is not None and both > alpha:
            i, j = i - 1, j + 1
            continue
        left, right = test(i - 1, j), test(i, j + 1)
        cand = [(p, a, b) for p, a, b in ((left, i - 1, j), (right, i, j + 1)) if p is not None]
        cand = [x for x in cand if x[0] > alpha]
        if not cand:
            break
        _, i, j = max(cand)
    mean, x2, dof, p = _chi2(c[i:j], w[i:j])
    sem = float(1.0 / np.sqrt(np.sum(w[i:j])))
    dz = float(np.mean(np.diff(z))) if n > 1 else 0.0
    out = BulkRegion(
        True, f"{j - i} of {n} bins flat within errors (alpha = {alpha})",
        (float(z[i] - dz / 2), float(z[j - 1] + dz / 2)), (int(i), int(j)), mean, sem,
        chi2=x2, dof=dof, p_value=p,
    )  # fmt: skip
    if cw is not None:
        water_mean = float(np.mean(cw[i:j]))
        if water_mean > 0:
            out.molality_mol_per_kg = mean / (water_mean * WATER_KG_PER_MOL)
            out.molality_err_mol_per_kg = sem / (water_mean * WATER_KG_PER_MOL)
    return out


@dataclass
class FineDensity:
    """Fine-binned number densities against the distance from the metal surface.

    Attributes
    ----------
    distance : ndarray
        Bin centres, Å from the top metal layer.
    edges : ndarray
        Bin edges, Å from the top metal layer.
    number_density, number_density_err : dict of ndarray
        Per species, 1/Å³ (errors: blocking standard errors, NaN for fewer than 32 frames).
    concentration : dict of ndarray
        Per species, mol/L.
    area : float
        Mean in-plane cell area, Å².
    """

    distance: np.ndarray
    edges: np.ndarray
    number_density: dict[str, np.ndarray] = field(default_factory=dict)
    number_density_err: dict[str, np.ndarray] = field(default_factory=dict)
    concentration: dict[str, np.ndarray] = field(default_factory=dict)
    area: float = 0.0

    def count(self, name: str) -> float:
        """Mean number of ``name`` atoms in the binned range: ∫ n(z) A dz."""
        return float(np.sum(self.number_density[name] * np.diff(self.edges)) * self.area)


def fine_density_profile(
    frames: Any,
    species: Mapping[str, Any],
    surface_z: float,
    bin_width: float = 0.1,
    z_max: float | None = None,
    timestep: float | None = None,
) -> FineDensity:
    """Number densities on fine bins against the distance from the metal surface.

    Parameters
    ----------
    frames : sequence of ase.Atoms or trajectory
        Frames with the surface normal along z.
    species : mapping of str to selection
        ``{name: selection}`` as in :class:`~multiscale.extract.density.DensityProfile`.
    surface_z : float
        Height of the top metal layer in cell coordinates, Å (distance 0).
    bin_width : float
        Bin width, Å (0.1–0.25 Å resolves the layering).
    z_max : float, optional
        Largest distance from the surface, Å; default up to the top of the cell.
    timestep : float, optional
        Time between frames, fs (reported correlation times only).

    Returns
    -------
    FineDensity

    Raises
    ------
    ValueError
        Bad bin width or range (from :class:`DensityProfile`, naming the argument).
    """
    first = frames[0]
    top = float(first.cell[2, 2]) if z_max is None else float(surface_z) + float(z_max)
    dp = DensityProfile(
        frames, species, bin_width=bin_width, z_range=(float(surface_z), top), timestep=timestep
    )
    r = dp.run().results
    area = float(np.mean(dp._area))
    return FineDensity(
        distance=r.z - surface_z,
        edges=r.edges - surface_z,
        number_density=dict(r.number_density),
        number_density_err=dict(r.number_density_err),
        concentration={k: v * 1e-3 for k, v in r.concentration.items()},
        area=area,
    )
