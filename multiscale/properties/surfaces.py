"""Surface energies of low-index fcc facets with slab-thickness convergence.

For slabs of N layers (n atoms per layer, both faces alike, area A of the surface cell) with the
outer layers relaxed (ASE FIRE; the inner layers fixed at the bulk positions), two routes:

* bulk-energy route: γ_N = [E_slab(N) − N n ε_bulk] / (2A), with ε_bulk the energy per atom of
  the bulk crystal at the same lattice constant and with the same calculator;
* Fiorentini–Methfessel route (J. Phys.: Condens. Matter 8, 6525 (1996)): a straight-line fit
  E_slab(N) = 2Aγ + N n ε over the thickest slabs, whose slope replaces ε_bulk (which removes
  the divergence a slightly inconsistent ε_bulk causes in the first route).

γ is reported in J/m² (1 eV/Å² = 16.02 J/m²); converged when the last two thicknesses differ by
less than the tolerance (default 0.01 J/m²).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from ._common import EV_PER_A2_TO_J_PER_M2, new_figure, positive, relax, save_figure

__all__ = ["FACETS", "SurfaceResult", "fcc_lattice_constant", "surface_energies", "surface_energy"]

FACETS = ("111", "100", "110")


def fcc_lattice_constant(symbol: str, calc: Any, a0: float | None = None) -> float:
    """Equilibrium cubic lattice constant (Å) of an fcc element with a calculator.

    Relaxes the primitive cell (ASE FIRE on :class:`ase.filters.FrechetCellFilter`) from ``a0``
    (Å, default ASE's experimental value).
    """
    from ase.build import bulk

    atoms = bulk(symbol, "fcc", a=a0)
    relaxed, ok = relax(atoms, calc, fmax=1e-4, cell=True, steps=1000)
    if not ok:
        raise RuntimeError(f"the {symbol} fcc cell did not relax in 1000 FIRE steps")
    return float(np.sqrt(2) * relaxed.cell.lengths()[0])


def _slab(symbol: str, facet: str, a: float, layers: int, vacuum: float) -> Atoms:
    from ase.build import fcc100, fcc110, fcc111

    build = {"111": fcc111, "100": fcc100, "110": fcc110}[facet]
    slab = build(symbol, size=(1, 1, layers), a=a, vacuum=vacuum)
    slab.pbc = True  # vacuum along z; many MLIPs want 3D periodic cells
    return slab


@dataclass
class SurfaceResult:
    """Surface energy of one facet against slab thickness.

    Attributes
    ----------
    symbol, facet : str
    lattice_constant : float
        Å.
    area : float
        Surface cell area A, Å².
    atoms_per_layer : int
    layers : ndarray of int
        Slab thicknesses N (layers).
    slab_energies : ndarray
        Relaxed slab energies, eV.
    bulk_energy : float
        ε_bulk, eV/atom.
    gamma_bulk : ndarray
        Bulk-energy route γ_N, J/m².
    gamma_fm : ndarray
        Fiorentini–Methfessel γ from the fit over the ``fit_points`` slabs ending at N
        (NaN for the first ``fit_points - 1``), J/m².
    fm_slope : float
        ε from the FM fit over the thickest slabs, eV/atom (compare with ``bulk_energy``).
    gamma_unrelaxed : ndarray
        Bulk-energy route before relaxation, J/m².
    relaxed : ndarray of bool
        Each relaxation converged.
    tolerance : float
        Convergence tolerance, J/m².
    """

    symbol: str
    facet: str
    lattice_constant: float
    area: float
    atoms_per_layer: int
    layers: np.ndarray
    slab_energies: np.ndarray
    bulk_energy: float
    gamma_bulk: np.ndarray
    gamma_fm: np.ndarray
    fm_slope: float
    gamma_unrelaxed: np.ndarray
    relaxed: np.ndarray
    tolerance: float = 0.01
    fit_points: int = 3
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gamma(self) -> float:
        """Converged estimate: the Fiorentini–Methfessel value of the thickest slabs, J/m²."""
        return float(self.gamma_fm[-1])

    @property
    def change(self) -> float:
        """|γ(N_max) − γ(N_max − 1)| of the bulk-energy route, J/m²."""
        return float(abs(self.gamma_bulk[-1] - self.gamma_bulk[-2]))

    @property
    def change_fm(self) -> float:
        """|γ_FM(N_max) − γ_FM(N_max − 1)|, J/m²."""
        return float(abs(self.gamma_fm[-1] - self.gamma_fm[-2]))

    @property
    def route_difference(self) -> float:
        """|γ_FM − γ_bulk| at the thickest slab, J/m²."""
        return float(abs(self.gamma_fm[-1] - self.gamma_bulk[-1]))

    @property
    def converged(self) -> bool:
        """Both routes changed by less than ``tolerance`` between the last two thicknesses
        and every relaxation converged."""
        return bool(
            self.change < self.tolerance
            and self.change_fm < self.tolerance
            and np.all(self.relaxed)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (J/m², eV, Å)."""
        return {
            "symbol": self.symbol,
            "facet": self.facet,
            "a_A": self.lattice_constant,
            "area_A2": self.area,
            "layers": self.layers,
            "slab_energies_eV": self.slab_energies,
            "bulk_energy_eV_per_atom": self.bulk_energy,
            "fm_slope_eV_per_atom": self.fm_slope,
            "gamma_bulk_J_m2": self.gamma_bulk,
            "gamma_fm_J_m2": self.gamma_fm,
            "gamma_unrelaxed_J_m2": self.gamma_unrelaxed,
            "gamma_J_m2": self.gamma,
            "change_J_m2": self.change,
            "change_fm_J_m2": self.change_fm,
            "route_difference_J_m2": self.route_difference,
            "tolerance_J_m2": self.tolerance,
            "relaxed": self.relaxed,
            "converged": self.converged,
        }


def surface_energy(
    symbol: str,
    calc: Any,
    facet: str = "111",
    *,
    layers: Sequence[int] = (5, 6, 7, 8, 9, 10),
    a: float | None = None,
    vacuum: float = 8.0,
    relax_layers: int = 2,
    fmax: float = 0.005,
    steps: int = 500,
    fit_points: int = 3,
    tolerance: float = 0.01,
) -> SurfaceResult:
    """Surface energy of one fcc facet from slabs of increasing thickness.

    Parameters
    ----------
    symbol : str
        An fcc element (e.g. ``"Cu"``).
    calc : ase calculator
        Any ASE calculator with energies and forces.
    facet : {"111", "100", "110"}
    layers : sequence of int
        Slab thicknesses in layers, increasing, at least ``fit_points + 1`` of them.
    a : float, optional
        Cubic lattice constant, Å (default: relaxed with ``calc``, :func:`fcc_lattice_constant`).
    vacuum : float
        Vacuum on each side of the slab, Å.
    relax_layers : int
        Outer layers relaxed on each side (0: unrelaxed slabs).
    fmax : float
        Force threshold of the relaxation, eV/Å.
    steps : int
        Maximum FIRE steps per slab.
    fit_points : int
        Slabs per Fiorentini–Methfessel fit (>= 2).
    tolerance : float
        Convergence tolerance of γ between the last two thicknesses, J/m².

    Returns
    -------
    SurfaceResult
    """
    from ase.build import bulk

    if facet not in FACETS:
        raise ValueError(f"facet must be one of {FACETS}, got {facet!r}")
    if calc is None:
        raise ValueError("calc: give an ASE calculator (e.g. ase.calculators.emt.EMT())")
    n_layers = np.asarray(layers)
    if (
        n_layers.ndim != 1
        or not np.issubdtype(n_layers.dtype, np.integer)
        or np.any(np.diff(n_layers) <= 0)
        or n_layers.size < 1
    ):
        raise ValueError(f"layers must be increasing integers (layers), got {layers!r}")
    if isinstance(fit_points, bool) or not isinstance(fit_points, int) or fit_points < 2:
        raise ValueError(f"fit_points must be an integer >= 2, got {fit_points!r}")
    if n_layers.size < fit_points + 1:
        raise ValueError(
            f"layers: need at least fit_points + 1 = {fit_points + 1} thicknesses "
            f"to fit and check convergence, got {list(n_layers)}"
        )
    if n_layers[0] < 2 * relax_layers + 1 and relax_layers > 0:
        raise ValueError(
            f"layers: the thinnest slab ({n_layers[0]}) must keep a fixed middle "
            f"layer: at least 2*relax_layers + 1 = {2 * relax_layers + 1}"
        )
    vacuum = positive(vacuum, "vacuum", "Å")
    tolerance = positive(tolerance, "tolerance", "J/m²")
    if a is None:
        a = fcc_lattice_constant(symbol, calc)
    a = positive(a, "a", "Å")
    ref = bulk(symbol, "fcc", a=a)
    ref.calc = calc
    e_bulk = float(ref.get_potential_energy()) / len(ref)
    energies, unrelaxed, converged = [], [], []
    area = per_layer = None
    for n in n_layers:
        slab = _slab(symbol, facet, a, int(n), vacuum)
        area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
        per_layer = len(slab) // int(n)
        slab.calc = calc
        unrelaxed.append(float(slab.get_potential_energy()))
        if relax_layers > 0:
            tags = slab.get_tags()  # 1 = top layer ... n = bottom layer
            fixed = (tags > relax_layers) & (tags <= n - relax_layers)
            slab.set_constraint(FixAtoms(mask=fixed))
            slab, ok = relax(slab, calc, fmax=fmax, steps=steps)
            slab.calc = calc
        else:
            ok = True
        energies.append(float(slab.get_potential_energy()))
        converged.append(bool(ok))
    energies = np.array(energies)
    n_atoms = n_layers * per_layer
    to_j = EV_PER_A2_TO_J_PER_M2 / (2 * area)
    gamma_bulk = (energies - n_atoms * e_bulk) * to_j
    gamma_unrel = (np.array(unrelaxed) - n_atoms * e_bulk) * to_j
    gamma_fm = np.full(len(n_layers), np.nan)
    slope = float("nan")
    for k in range(fit_points - 1, len(n_layers)):
        sl = slice(k - fit_points + 1, k + 1)
        slope, intercept = np.polyfit(n_atoms[sl], energies[sl], 1)
        gamma_fm[k] = intercept * to_j
    return SurfaceResult(
        symbol=symbol,
        facet=facet,
        lattice_constant=a,
        area=area,
        atoms_per_layer=per_layer,
        layers=n_layers,
        slab_energies=energies,
        bulk_energy=e_bulk,
        gamma_bulk=gamma_bulk,
        gamma_fm=gamma_fm,
        fm_slope=float(slope),
        gamma_unrelaxed=gamma_unrel,
        relaxed=np.array(converged),
        tolerance=tolerance,
        fit_points=fit_points,
    )


def surface_energies(
    symbol: str, calc: Any, facets: Sequence[str] = FACETS, **kwargs: Any
) -> dict[str, SurfaceResult]:
    """:func:`surface_energy` for several facets at one lattice constant (relaxed once).

    Parameters
    ----------
    symbol : str
        An fcc element.
    calc : ase calculator
    facets : sequence of {"111", "100", "110"}
    **kwargs
        Passed to :func:`surface_energy` (``layers``, ``a`` in Å, ``relax_layers``, ...).
    """
    if isinstance(facets, str) or not facets:
        raise ValueError(f"facets must be a list such as ['111', '100', '110'], got {facets!r}")
    if kwargs.get("a") is None:
        kwargs["a"] = fcc_lattice_constant(symbol, calc)
    return {f: surface_energy(symbol, calc, f, **kwargs) for f in facets}


def plot_surface_energies(results: dict[str, SurfaceResult], path: str | Path) -> Path:
    """γ against slab thickness for each facet, both routes (PNG)."""
    fig, ax = new_figure(figsize=(6.5, 4.5))
    for k, (facet, r) in enumerate(results.items()):
        ax.plot(r.layers, r.gamma_bulk, "o-", color=f"C{k}", label=f"({facet}) bulk route")
        ax.plot(
            r.layers,
            r.gamma_fm,
            "s--",
            color=f"C{k}",
            mfc="none",
            label=f"({facet}) Fiorentini–Methfessel",
        )
    ax.set_xlabel("slab thickness (layers)")
    ax.set_ylabel("surface energy γ (J/m²)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


SurfaceResult.plot = lambda self, path: plot_surface_energies({self.facet: self}, path)
SurfaceResult.plot.__doc__ = "γ against slab thickness, both routes (PNG)."
__all__.append("plot_surface_energies")
