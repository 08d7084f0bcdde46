"""Charge density ρ(z), potential φ(z) and field E(z) by integrating Poisson's equation.

In one dimension, d²φ/dz² = −ρ/ε₀ and E = −dφ/dz. With ρ piecewise constant on the
histogram bins, E is piecewise linear and φ piecewise quadratic, so the integration below
is exact for the histogram (no discretisation error beyond the binning itself).
Boundary conditions (Bengtsson, Phys. Rev. B 59, 12301 (1999) for the dipole correction):

``"open"``
    Field-free at the left end of the grid, E(z_min) = 0: all charge lies to the right
    (a slab in vacuum, or an electrode whose own charge is in the histogram).
``"periodic"``
    Tin-foil periodic boundary in z, as in a 3D-periodic simulation without correction:
    the system must be neutral, the field has zero cell average and φ(L) = φ(0).
``"dipole"``
    Periodic plus a dipole layer at ``z_dipole`` that cancels the artificial field of
    the periodic images: E(z_dipole) = 0, and φ jumps by the cell dipole/ε₀ there.
    With the layer at the cell boundary this coincides with ``"open"``.

φ is referenced to zero at the left end of the grid. Units: ρ in e/Å³, φ in V, E in V/Å.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ase.units import _e, _eps0

from .base import AnalysisBase, bin_index, check_cell_z, is_real, make_edges, wrap_z
from .blocking import block_average

__all__ = [
    "EPS0",
    "WATER_MODELS",
    "ChargeDensityProfile",
    "atomic_charges",
    "solve_poisson_1d",
]

#: vacuum permittivity in e/(V·Å)
EPS0 = _eps0 / _e * 1e-10

#: fixed point charges (e) of common rigid water models, by element
WATER_MODELS: dict[str, dict[str, float]] = {
    "SPC/E": {"O": -0.8476, "H": 0.4238},
    "SPC": {"O": -0.82, "H": 0.41},
    "TIP3P": {"O": -0.834, "H": 0.417},
}


def atomic_charges(
    atoms: Any,
    charges: Mapping[str, float] | Sequence[float] | np.ndarray | str,
    water_model: str | None = None,
) -> np.ndarray:
    """Per-atom charges (e) from a declared model.

    Parameters
    ----------
    atoms : ase.Atoms
        A frame.
    charges : mapping, array or str
        ``{symbol: charge}`` in e (formal ion charges, e.g. ``{"Na": 1, "Cl": -1}``);
        or one charge per atom (e); or ``"initial"`` for ``atoms.get_initial_charges()``;
        or ``"calculator"`` for ``atoms.get_charges()`` (charges from the calculator).
    water_model : str, optional
        Adds O and H charges of a water model from :data:`WATER_MODELS` (e.g. "SPC/E")
        to a symbol mapping; only valid when every O and H belongs to water.
    """
    n = len(atoms)
    if isinstance(charges, str):
        if charges == "initial":
            return np.asarray(atoms.get_initial_charges(), dtype=float)
        if charges == "calculator":
            if atoms.calc is None:
                raise ValueError('charges="calculator" needs frames with an attached calculator')
            return np.asarray(atoms.get_charges(), dtype=float)
        raise ValueError(
            f'charges must be a mapping, an array, "initial" or "calculator", got {charges!r}'
        )
    if water_model is not None and (
        not isinstance(water_model, str) or water_model not in WATER_MODELS
    ):
        raise ValueError(
            f"unknown water model: water_model={water_model!r}; have {list(WATER_MODELS)}"
        )
    if isinstance(charges, Mapping):
        table = dict(charges)
        bad = {k: v for k, v in table.items() if not (is_real(v) and np.isfinite(v))}
        if bad:
            raise ValueError(f"charges must be finite numbers (e), got {bad}")
        if water_model is not None:
            if water_model not in WATER_MODELS:
                raise ValueError(f"unknown water model {water_model!r}; have {list(WATER_MODELS)}")
            for sym, q in WATER_MODELS[water_model].items():
                if sym in table:
                    raise ValueError(f"{sym} charge given twice (mapping and water_model)")
                table[sym] = q
        symbols = atoms.get_chemical_symbols()
        missing = sorted(set(symbols) - set(table))
        if missing:
            raise ValueError(f"no charge given for elements {missing}: add them (0 for neutral)")
        return np.array([float(table[s]) for s in symbols])
    if water_model is not None:
        raise ValueError("water_model can only be combined with a {symbol: charge} mapping")
    try:
        q = np.asarray(charges, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f'charges must be a mapping, an array, "initial" or "calculator", got {charges!r}'
        ) from err
    if q.shape != (n,):
        raise ValueError(f"per-atom charges must have shape ({n},), got {q.shape}")
    if not np.isfinite(q).all():
        raise ValueError(
            f"per-atom charges must be finite; atom {np.flatnonzero(~np.isfinite(q))[0]} is not"
        )
    return q


def solve_poisson_1d(
    edges: np.ndarray,
    rho: np.ndarray,
    boundary: str = "dipole",
    z_dipole: float | None = None,
    neutral_tol: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Integrate Poisson's equation for a piecewise-constant charge density.

    Parameters
    ----------
    edges : ndarray, shape (n + 1,)
        Bin edges (Å); for ``"periodic"`` and ``"dipole"`` they must span one cell.
    rho : ndarray, shape (..., n)
        Charge density (e/Å³) in each bin; leading axes (e.g. frames) are solved at once.
    boundary : {"open", "periodic", "dipole"}
        See the module documentation.
    z_dipole : float, optional
        Position of the dipole layer (Å) for ``"dipole"``; default the left edge.
    neutral_tol : float
        Largest absolute net charge per area (e/Å²) accepted as neutral for periodic variants.

    Returns
    -------
    dict
        ``z`` (bin centres, Å), ``potential`` (V) and ``field`` (V/Å) at the centres,
        ``potential_edges``, ``field_edges`` at the edges.
    """
    edges = np.asarray(edges, dtype=float)
    rho = np.asarray(rho, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise ValueError("edges must be at least 2 strictly increasing bin edges (Å)")
    if not (np.isfinite(edges).all() and np.isfinite(rho).all()):
        raise ValueError("edges and rho must be finite (no NaN or inf)")
    if rho.ndim == 0 or rho.shape[-1] != edges.size - 1:
        raise ValueError(f"rho has shape {rho.shape} but edges define {edges.size - 1} bins")
    if boundary not in ("open", "periodic", "dipole"):
        raise ValueError(f'boundary must be "open", "periodic" or "dipole", got {boundary!r}')
    h = np.diff(edges)
    q = rho * h  # charge per area in each bin (e/Å²)
    e_edges = np.concatenate([np.zeros((*rho.shape[:-1], 1)), np.cumsum(q, axis=-1)], -1) / EPS0
    if boundary in ("periodic", "dipole"):
        net = e_edges[..., -1] * EPS0
        if np.any(np.abs(net) > neutral_tol):
            raise ValueError(
                f"net charge per area {np.max(np.abs(net)):.3g} e/Å² is not zero: periodic "
                'Poisson needs a neutral cell (use boundary="open" or fix the charges)'
            )
    if boundary == "periodic":
        # subtract the cell average of the (piecewise-linear) field
        mean_e = np.sum(0.5 * (e_edges[..., 1:] + e_edges[..., :-1]) * h, -1) / h.sum()
        e_edges = e_edges - mean_e[..., None]
    elif boundary == "dipole" and z_dipole is not None:
        if not (is_real(z_dipole) and edges[0] <= z_dipole <= edges[-1]):
            raise ValueError(f"z_dipole={z_dipole} Å lies outside [{edges[0]}, {edges[-1]}] Å")
        e_edges = e_edges - _field_at(edges, e_edges, rho, z_dipole)[..., None]
    # φ at edges: exact integral of the linear field over each bin
    dphi = -(e_edges[..., :-1] * h + rho * h**2 / (2 * EPS0))
    phi_edges = np.concatenate([np.zeros((*rho.shape[:-1], 1)), np.cumsum(dphi, -1)], -1)
    half = h / 2
    phi_c = phi_edges[..., :-1] - e_edges[..., :-1] * half - rho * half**2 / (2 * EPS0)
    e_c = e_edges[..., :-1] + rho * half / EPS0
    return {
        "z": 0.5 * (edges[1:] + edges[:-1]),
        "potential": phi_c,
        "field": e_c,
        "potential_edges": phi_edges,
        "field_edges": e_edges,
    }


def _field_at(edges: np.ndarray, e_edges: np.ndarray, rho: np.ndarray, z: float) -> np.ndarray:
    k = min(max(int(np.searchsorted(edges, z, side="right")) - 1, 0), edges.size - 2)
    return e_edges[..., k] + rho[..., k] * (z - edges[k]) / EPS0


class ChargeDensityProfile(AnalysisBase):
    """Charge density ρ(z), potential φ(z) and field E(z) with blocking errors.

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        Frames with the surface normal along z.
    charges : mapping, array or str
        See :func:`atomic_charges`: ``{symbol: charge}`` (e), per-atom charges (e),
        ``"initial"`` or ``"calculator"`` (re-read every frame).
    water_model : str, optional
        Water charge model added to a symbol mapping, e.g. ``"SPC/E"``.
    boundary : {"dipole", "periodic", "open"}
        Boundary condition for Poisson's equation (see the module documentation).
        ``"periodic"`` and ``"dipole"`` need the grid to span the whole cell.
    z_dipole : float, optional
        Position of the dipole-correction layer (Å), default the cell boundary.
    bin_width : float
        Bin width (Å).
    z_range : (float, float), optional
        Range along z (Å); default the whole cell.
    bins : int, optional
        Number of bins instead of ``bin_width``.

    Attributes
    ----------
    results.z, results.edges : ndarray
        Bin centres and edges (Å).
    results.charge_density, results.charge_density_err : ndarray
        ρ(z) (e/Å³).
    results.potential, results.potential_err : ndarray
        φ(z) (V), φ(z_min) = 0.
    results.field, results.field_err : ndarray
        E(z) (V/Å).
    """

    def __init__(
        self,
        trajectory: Any,
        charges: Mapping[str, float] | Sequence[float] | np.ndarray | str,
        water_model: str | None = None,
        boundary: str = "dipole",
        z_dipole: float | None = None,
        bin_width: float = 0.2,
        z_range: tuple[float, float] | None = None,
        bins: int | None = None,
    ) -> None:
        super().__init__(trajectory)
        first = self._trajectory[0]
        self.edges = make_edges(first, bin_width, z_range, bins)
        self._lz = check_cell_z(first)
        self._zper = bool(first.pbc[2])
        if boundary not in ("open", "periodic", "dipole"):
            raise ValueError(f'boundary must be "open", "periodic" or "dipole", got {boundary!r}')
        if boundary != "open" and not (
            np.isclose(self.edges[0], 0.0) and np.isclose(self.edges[-1], self._lz)
        ):
            raise ValueError(
                f'boundary="{boundary}" needs the grid to span the whole cell [0, {self._lz}] Å: '
                'leave z_range unset or use boundary="open"'
            )
        if z_dipole is not None and not (
            is_real(z_dipole) and self.edges[0] <= z_dipole <= self.edges[-1]
        ):
            raise ValueError(
                f"z_dipole={z_dipole!r} Å must be a number inside the grid "
                f"[{self.edges[0]:.4g}, {self.edges[-1]:.4g}] Å"
            )
        self.boundary = boundary
        self.z_dipole = z_dipole
        self._charge_spec = charges
        self._water_model = water_model
        self._static = not (isinstance(charges, str) and charges == "calculator")
        self._q = atomic_charges(first, charges, water_model) if self._static else None

    def _prepare(self) -> None:
        self._rho = np.zeros((self.n_frames, self.edges.size - 1))

    def _single_frame(self) -> None:
        atoms = self._atoms
        check_cell_z(atoms)
        q = self._q if self._static else atomic_charges(atoms, "calculator")
        if not self._static and not np.isfinite(q).all():
            raise ValueError(
                f"frame {self.frame_indices[self._frame_index]}: the calculator's charges are "
                f"not finite (atom {np.flatnonzero(~np.isfinite(q))[0]})"
            )
        z = wrap_z(atoms.positions[:, 2], self._lz, self._zper)
        k = bin_index(z, self.edges)
        m = k >= 0
        hist = np.bincount(k[m], weights=q[m], minlength=self.edges.size - 1)
        area = abs(np.linalg.det(np.asarray(atoms.cell)[:2, :2]))
        self._rho[self._frame_index] = hist / (area * np.diff(self.edges))

    def _conclude(self) -> None:
        r = self.results
        sol = solve_poisson_1d(self.edges, self._rho, self.boundary, self.z_dipole)
        r.edges, r.z, r.boundary = self.edges, sol["z"], self.boundary
        for name, per_frame in (
            ("charge_density", self._rho),
            ("potential", sol["potential"]),
            ("field", sol["field"]),
        ):
            if self.n_frames >= 32:
                b = block_average(per_frame)
                r[name], r[name + "_err"] = b.mean, b.sem
            else:
                r[name] = per_frame.mean(axis=0)
                r[name + "_err"] = np.full(per_frame.shape[1], np.nan)
        r.charge_density_frames = self._rho
