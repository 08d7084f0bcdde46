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
from .charges import WATER_MODELS, BrokenWaterError, charge_sites, get_water_model

__all__ = [
    "EPS0",
    "WATER_MODELS",
    "ChargeDensityProfile",
    "InterfacePotential",
    "atomic_charges",
    "solve_poisson_1d",
    "solve_poisson_electrodes",
]

#: vacuum permittivity in e/(V·Å)
EPS0 = _eps0 / _e * 1e-10


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
            if get_water_model(water_model).has_m_site:
                raise ValueError(
                    f"water_model={water_model!r} has an M site that is not an atom: use "
                    "multiscale.extract.charges.charge_sites (ChargeDensityProfile and "
                    "InterfacePotential do)"
                )
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
        Water charge model added to a symbol mapping, e.g. ``"SPC/E"`` or ``"TIP4P/2005"``
        (see :mod:`multiscale.extract.charges`); for four-site models the molecules are
        identified in every frame to place the M sites.
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
        # a four-site water model needs its molecules (for the M sites) found in every frame;
        # three-site charges sit on atoms, and ρ(z) needs no molecules
        self._sites = (
            water_model is not None
            and isinstance(charges, Mapping)
            and get_water_model(water_model).has_m_site
        )
        self._static = not self._sites and not (
            isinstance(charges, str) and charges == "calculator"
        )
        if self._sites:
            charge_sites(first, charges, water_model)  # refuse bad input before running
        self._q = atomic_charges(first, charges, water_model) if self._static else None

    def _prepare(self) -> None:
        self._rho = np.zeros((self.n_frames, self.edges.size - 1))

    def _single_frame(self) -> None:
        atoms = self._atoms
        check_cell_z(atoms)
        z = atoms.positions[:, 2]
        if self._sites:
            cs = charge_sites(atoms, self._charge_spec, self._water_model)
            z, q = cs.positions[:, 2], cs.charges
        else:
            q = self._q if self._static else atomic_charges(atoms, "calculator")
        if not self._static and not self._sites and not np.isfinite(q).all():
            raise ValueError(
                f"frame {self.frame_indices[self._frame_index]}: the calculator's charges are "
                f"not finite (atom {np.flatnonzero(~np.isfinite(q))[0]})"
            )
        z = wrap_z(z, self._lz, self._zper)
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


def _open_at(
    edges: np.ndarray, sol: dict[str, np.ndarray], rho: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact φ and E of the ``"open"`` solution at arbitrary points z (Å) inside the grid."""
    k = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, edges.size - 2)
    dz = z - edges[k]
    r = rho[..., k]
    e = sol["field_edges"][..., k] + r * dz / EPS0
    phi = sol["potential_edges"][..., k] - sol["field_edges"][..., k] * dz - r * dz**2 / (2 * EPS0)
    return phi, e


def solve_poisson_electrodes(
    edges: np.ndarray,
    rho: np.ndarray,
    z_left: float,
    z_right: float | None = None,
    sigma_left: float | None = None,
    potential_difference: float = 0.0,
    tol: float = 1e-9,
) -> dict[str, Any]:
    """Poisson's equation next to one or between two ideal conductors (image planes).

    The metal is a perfect conductor whose surface charge sits on its image plane: the
    field vanishes inside the metal, E(z < z_left) = 0 (and E(z > z_right) = 0 for a
    second conductor), and the metal is an equipotential, φ(z ≤ z_left) = 0.

    One conductor (``z_right`` None; the electrolyte ends at a vapour interface or is
    followed by bulk): the induced charge σ_L = −∫ρ dz makes the whole neutral, so the
    field also vanishes beyond the electrolyte (in the vapour, or in a neutral bulk); or
    ``sigma_left`` fixes σ_L and the field beyond, (σ_L + ∫ρ)/ε₀, is reported.

    Two conductors: φ(z_right) − φ(z_left) = ``potential_difference`` fixes
    σ_L = −(ε₀ ΔV + ∫ Q(z) dz)/(z_R − z_L), with Q(z) = ∫_{z_L}^{z} ρ, and
    σ_R = −σ_L − ∫ρ (both grounded: a sheet q at z₀ induces −q (L − z₀)/L and −q z₀/L);
    or ``sigma_left`` fixes σ_L, σ_R closes the cell and ΔV is reported.

    Parameters
    ----------
    edges : ndarray, shape (n + 1,)
        Bin edges (Å) covering [z_left, z_right] (or z_left and all charge).
    rho : ndarray, shape (..., n)
        Charge density (e/Å³) of the electrolyte; leading axes (frames) solved at once.
        It must vanish inside the conductors (below z_left, above z_right).
    z_left : float
        Image plane of the lower conductor (Å).
    z_right : float, optional
        Image plane of the upper conductor (Å); None for one conductor.
    sigma_left : float, optional
        Surface charge (e/Å²) on the lower conductor; default set by the conditions above.
    potential_difference : float
        φ(z_right) − φ(z_left) (V) for two conductors without ``sigma_left``.
    tol : float
        Largest absolute charge per area (e/Å²) accepted inside a conductor.

    Returns
    -------
    dict
        ``z`` (bin centres, Å), ``potential`` (V, 0 in the lower metal) and ``field``
        (V/Å) at the centres, ``potential_edges``, ``field_edges``, ``sigma_left``,
        ``sigma_right`` (e/Å², NaN for one conductor), ``potential_difference`` (V,
        φ(z_right) − φ(z_left), or φ at the last edge for one conductor) and
        ``field_beyond`` (V/Å, the field past the electrolyte for one conductor).
    """
    edges = np.asarray(edges, dtype=float)
    rho = np.asarray(rho, dtype=float)
    for name, v in (("z_left", z_left), ("potential_difference", potential_difference)):
        if not (is_real(v) and np.isfinite(v)):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    if z_right is not None and not (is_real(z_right) and z_right > z_left):
        raise ValueError(f"z_right must be a number > z_left={z_left} Å, got {z_right!r}")
    if sigma_left is not None and not (is_real(sigma_left) and np.isfinite(sigma_left)):
        raise ValueError(f"sigma_left must be a finite number (e/Å²) or None, got {sigma_left!r}")
    sol = solve_poisson_1d(edges, rho, "open")
    hi = edges[-1] if z_right is None else z_right
    if not (edges[0] <= z_left < hi <= edges[-1]):
        raise ValueError(
            f"the image planes [{z_left}, {hi}] Å must lie inside the grid "
            f"[{edges[0]}, {edges[-1]}] Å"
        )
    pts = np.array([z_left, hi])
    phi_p, e_p = _open_at(edges, sol, rho, pts)
    q_total = sol["field_edges"][..., -1] * EPS0
    q_below = e_p[..., 0] * EPS0
    q_above = q_total - e_p[..., 1] * EPS0
    if np.any(np.abs(q_below) > tol) or (z_right is not None and np.any(np.abs(q_above) > tol)):
        raise ValueError(
            f"charge {float(np.max(np.abs(q_below))):.3g} e/Å² lies inside a conductor (beyond "
            "an image plane): move the image plane (image_plane distance) or the charges"
        )
    if z_right is None:
        s_left = -q_total if sigma_left is None else np.full(q_total.shape, float(sigma_left))
        s_right = np.full(q_total.shape, np.nan)
    else:
        length = z_right - z_left
        # φ_open(z_R) − φ_open(z_L) = −∫ Q(z) dz / ε0 − E_open(z_L) (z_R − z_L)
        int_q = -EPS0 * (phi_p[..., 1] - phi_p[..., 0]) - e_p[..., 0] * EPS0 * length
        if sigma_left is None:
            s_left = -(EPS0 * potential_difference + int_q) / length
        else:
            s_left = np.full(q_total.shape, float(sigma_left))
        s_right = -s_left - (q_total - q_below)

    def total(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phi, e = _open_at(edges, sol, rho, z)
        phi0, e0 = _open_at(edges, sol, rho, np.array([z_left]))
        phi, e = phi - phi0, e - e0  # field-free, grounded lower conductor
        d = np.clip(z - z_left, 0.0, None)
        e = e + s_left[..., None] / EPS0 * (z > z_left)
        phi = phi - s_left[..., None] / EPS0 * d
        if z_right is not None:
            inside_right = z >= z_right
            e = np.where(inside_right, 0.0, e)
            phi_r = (
                _open_at(edges, sol, rho, np.array([z_right]))[0]
                - phi0
                - s_left[..., None] / EPS0 * (z_right - z_left)
            )
            phi = np.where(inside_right, phi_r, phi)
        below = z <= z_left
        return np.where(below, 0.0, phi), np.where(below, 0.0, e)

    centres = 0.5 * (edges[1:] + edges[:-1])
    phi_c, e_c = total(centres)
    phi_e, e_e = total(edges)
    phi_hi, _ = total(np.array([hi]))
    return {
        "z": centres,
        "potential": phi_c,
        "field": e_c,
        "potential_edges": phi_e,
        "field_edges": e_e,
        "sigma_left": s_left,
        "sigma_right": s_right,
        "potential_difference": phi_hi[..., 0],
        "field_beyond": (s_left + q_total) / EPS0 if z_right is None else np.zeros_like(s_left),
    }


#: e/Å² → C/m²
E_PER_A2_TO_C_PER_M2 = _e * 1e20


class InterfacePotential(AnalysisBase):
    """φ(z) at a metal/electrolyte interface with the metal as an ideal conductor.

    Charges come from a named water model (per-frame molecules, M sites included, see
    :mod:`multiscale.extract.charges`) and fixed ion charges; the metal atoms carry none.
    The metal's induced surface charge sits on its image plane, ``image_plane`` Å above the
    mean plane of the top metal layer, and is set by :func:`solve_poisson_electrodes`:

    ``closure="vapour"``
        One conductor; the electrolyte ends at a vapour interface (or all charge is
        neutralised before the cell ends). The induced charge makes the cell neutral, so
        the field vanishes inside the metal and beyond the electrolyte; with
        ``electrode_charge`` the metal carries that charge instead and the field left in
        the vapour, (σ + ∫ρ)/ε₀, is reported.
    ``closure="metal"``
        The electrolyte fills the gap between the top face of the slab and the bottom face
        of its periodic image (one conductor, both faces at the same potential), or a
        second electrode at ``potential_difference`` V. Both image planes carry induced
        charge; with ``electrode_charge`` the lower face carries that charge and the upper
        one the rest (then the drop between them is reported). The upper image plane is
        put on the bin edge just below it (within one bin width).

    Everything is computed per frame (each frame's own top layer and molecules) and
    averaged; errors are Flyvbjerg–Petersen blocking standard errors (≥ 32 frames).
    The potential is zero in the (lower) metal. The water-orientation contribution is the
    same calculation with the water charges only (and their own induced charge).

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        Frames with the surface normal along z and one metal slab (it may cross the cell
        boundary along z).
    ion_charges : mapping of str to float
        Charge (e) of every element that is neither metal nor water, e.g. ``{"Na": 1,
        "Cl": -1}``.
    metal : str or sequence of str
        Element symbol(s) of the metal atoms, e.g. ``"Cu"``.
    water_model : str
        Water charge model, e.g. ``"SPC/E"`` or ``"TIP4P/2005"``.
    image_plane : float
        Distance (Å) of the image plane above the mean nuclear plane of the top metal layer
        (jellium estimates put it about half an interlayer spacing plus ~0.5 Å out, i.e.
        ~1–1.6 Å for Cu(111)). Charge sites closer to the metal are counted on the plane
        (``results.n_sites_clamped``).
    closure : {"vapour", "metal"}
        What bounds the electrolyte on the far side (see above).
    electrode_charge : float, optional
        Surface charge density of the (lower) electrode (C/m²); default induced.
    potential_difference : float
        φ(upper) − φ(lower) (V) for ``closure="metal"`` without ``electrode_charge``.
    bulk : (float, float), optional
        Range of distances from the top metal layer (Å) whose mean φ is the bulk (or
        vapour) potential for the interfacial drop; default the middle third of the
        electrolyte.
    bin_width : float
        Bin width (Å).
    layer_tolerance : float
        Metal atoms within this distance (Å) of the highest (lowest) one form the top
        (bottom) layer.
    skip_broken_frames : bool
        Leave out (and list in ``results.frames_skipped``) frames in which a water molecule
        is dissociated or shares a proton, which a fixed-charge model cannot describe;
        otherwise such a frame is an error. The averages then run over the frames kept,
        which biases them if proton transfer correlates with the interface structure.

    Attributes
    ----------
    results.z : ndarray
        Bin centres as distance from the top metal layer (Å).
    results.surface_z : float
        Mean z of the top metal layer in the cell (Å): ``z + surface_z`` are cell coordinates.
    results.potential, results.potential_err : ndarray
        φ (V), zero in the metal.
    results.potential_water, results.potential_water_err : ndarray
        Water-only φ (V).
    results.field, results.field_err : ndarray
        E (V/Å).
    results.charge_density, results.charge_density_water : ndarray
        ρ (e/Å³) of the electrolyte and of the water alone.
    results.potential_drop, results.potential_drop_err : float
        φ(bulk) − φ(metal) (V).
    results.potential_drop_water, results.potential_drop_water_err : float
        Its water-orientation part (V).
    results.sigma_metal, results.sigma_metal_err : float
        Charge on the (lower) image plane (C/m²); ``sigma_metal_upper`` for the upper one.
    """

    def __init__(
        self,
        trajectory: Any,
        ion_charges: Mapping[str, float],
        metal: str | Sequence[str],
        water_model: str = "SPC/E",
        image_plane: float = 1.0,
        closure: str = "vapour",
        electrode_charge: float | None = None,
        potential_difference: float = 0.0,
        bulk: tuple[float, float] | None = None,
        bin_width: float = 0.1,
        layer_tolerance: float = 0.7,
        skip_broken_frames: bool = False,
    ) -> None:
        super().__init__(trajectory)
        if not isinstance(skip_broken_frames, bool | np.bool_):
            raise TypeError(f"skip_broken_frames must be True or False, got {skip_broken_frames!r}")
        self.skip_broken_frames = bool(skip_broken_frames)
        first = self._trajectory[0]
        metals = [metal] if isinstance(metal, str) else list(metal)
        sym = np.asarray(first.get_chemical_symbols())
        self._metal = np.flatnonzero(np.isin(sym, metals))
        if not metals or self._metal.size == 0:
            raise ValueError(
                f"metal={metal!r}: no such atoms in the first frame (have {sorted(set(sym))})"
            )
        if not isinstance(ion_charges, Mapping):
            raise TypeError(
                f"ion_charges must be a mapping symbol -> charge (e), got {ion_charges!r}"
            )
        twice = sorted(set(metals) & set(ion_charges))
        if twice:
            raise ValueError(
                f"ion_charges gives metal {twice} a charge: the metal's charge is induced"
            )
        self._table = {**dict(ion_charges), **{m: 0.0 for m in metals}}
        self._water_model = get_water_model(water_model).name
        if closure not in ("vapour", "metal"):
            raise ValueError(f'closure must be "vapour" or "metal", got {closure!r}')
        self.closure = closure
        for name, v in (
            ("image_plane", image_plane),
            ("bin_width", bin_width),
            ("layer_tolerance", layer_tolerance),
        ):
            if not (is_real(v) and np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0 Å, got {v!r}")
        if electrode_charge is not None and not (
            is_real(electrode_charge) and np.isfinite(electrode_charge)
        ):
            raise ValueError(
                f"electrode_charge must be a finite number (C/m²) or None, got {electrode_charge!r}"
            )
        if not (is_real(potential_difference) and np.isfinite(potential_difference)):
            raise ValueError(
                f"potential_difference must be a finite number (V), got {potential_difference!r}"
            )
        self.image_plane = float(image_plane)
        self.layer_tolerance = float(layer_tolerance)
        self.sigma = None if electrode_charge is None else electrode_charge / E_PER_A2_TO_C_PER_M2
        self.potential_difference = float(potential_difference)
        self._lz = check_cell_z(first)
        self._zper = bool(first.pbc[2])
        top, bottom = self._layers(first)
        try:  # refuse missing charges and unknown elements before any frame is analysed
            charge_sites(first, self._table, self._water_model)
        except BrokenWaterError:
            pass  # a broken first frame is handled like any other (skip_broken_frames)
        free = self._lz - (top - bottom)
        if free <= 2 * self.image_plane:
            raise ValueError(
                f"the metal slab ({top - bottom:.3g} Å) leaves no room for the electrolyte in a "
                f"{self._lz:.4g} Å cell with image_plane={image_plane} Å"
            )
        h = float(bin_width)
        start = self.image_plane - np.ceil(self.image_plane / h - 1e-9) * h
        stop = free + (h if closure == "metal" else 0.0)
        self.edges = start + h * np.arange(int(np.ceil((stop - start) / h)) + 1)
        u_right = free - self.image_plane
        if bulk is None:
            lo = self.image_plane
            hi = u_right if closure == "metal" else self._highest_site(first, top)
            bulk = (lo + (hi - lo) / 3, hi - (hi - lo) / 3)
        if not (
            isinstance(bulk, Sequence | np.ndarray)
            and len(bulk) == 2
            and all(is_real(v) and np.isfinite(v) for v in bulk)
            and self.image_plane <= bulk[0] < bulk[1] <= self.edges[-1]
        ):
            raise ValueError(
                f"bulk must be (u0, u1) in Å from the top metal layer with {self.image_plane} "
                f"<= u0 < u1 <= {self.edges[-1]:.4g}, got {bulk!r}"
            )
        self.bulk = (float(bulk[0]), float(bulk[1]))
        zc = 0.5 * (self.edges[1:] + self.edges[:-1])
        self._bulk_bins = (zc >= self.bulk[0]) & (zc <= self.bulk[1])
        if not self._bulk_bins.any():
            raise ValueError(f"bulk={bulk!r} Å holds no bin centre: widen it or use smaller bins")

    def _layers(self, atoms: Any) -> tuple[float, float]:
        z = wrap_z(atoms.positions[self._metal, 2], self._lz, self._zper)
        if self._zper:  # make the slab whole: it ends where the widest empty gap begins
            zs = np.sort(z)
            gaps = np.diff(np.r_[zs, zs[0] + self._lz])
            g = int(np.argmax(gaps))
            z = np.where(z > zs[g] + 1e-9, z - self._lz, z)
        top = z[z >= z.max() - self.layer_tolerance].mean()
        bottom = z[z <= z.min() + self.layer_tolerance].mean()
        return float(top), float(bottom)

    def _sites(self, atoms: Any, top: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cs = charge_sites(atoms, self._table, self._water_model)
        keep = ~np.isin(cs.atom, self._metal)
        u = cs.positions[keep, 2] - top
        if self._zper:
            u = np.mod(u, self._lz)
        return u, cs.charges[keep], cs.is_water[keep]

    def _highest_site(self, atoms: Any, top: float) -> float:
        try:
            u, _, _ = self._sites(atoms, top)
        except ValueError:  # a broken water in the first frame: refused or skipped later
            return float(self.edges[-1])
        return float(u.max()) if u.size else float(self.edges[-1])

    def _prepare(self) -> None:
        n, nb = self.n_frames, self.edges.size - 1
        self._rho = np.zeros((n, nb))
        self._rho_w = np.zeros((n, nb))
        self._u_right = np.zeros(n)
        self._clamped = 0
        self._used = np.ones(n, dtype=bool)
        self._skipped: list[int] = []
        self._surface: list[float] = []

    def _single_frame(self) -> None:
        atoms = self._atoms
        top, bottom = self._layers(atoms)
        try:
            u, q, water = self._sites(atoms, top)
        except ValueError as err:
            if not self.skip_broken_frames or not isinstance(err, BrokenWaterError):
                raise ValueError(
                    f"frame {self.frame_indices[self._frame_index]}: {err} (or pass "
                    "skip_broken_frames=True to leave such frames out, reported)"
                ) from err
            self._used[self._frame_index] = False
            self._skipped.append(int(self.frame_indices[self._frame_index]))
            return
        self._surface.append(top)
        lo = self.image_plane
        hi = self._lz - (top - bottom) - self.image_plane if self.closure == "metal" else np.inf
        if self.closure == "metal" and hi > self.edges[-1]:
            raise ValueError(
                f"frame {self.frame_indices[self._frame_index]}: the slab thinned by more than "
                "a bin: analyse fewer frames at a time"
            )
        if self.closure == "metal":  # the upper image plane on the bin edge just below it
            hi = float(self.edges[np.searchsorted(self.edges, hi, side="right") - 1])
        bad = (u < lo) | (u > hi)
        self._clamped += int(bad.sum())
        u = np.clip(u, lo, min(hi, self.edges[-1]) - 1e-9 * self.edges[-1])
        k = bin_index(u, self.edges)
        area = abs(np.linalg.det(np.asarray(atoms.cell)[:2, :2]))
        vol = area * np.diff(self.edges)
        i = self._frame_index
        self._rho[i] = np.bincount(k, weights=q, minlength=vol.size) / vol
        self._rho_w[i] = np.bincount(k[water], weights=q[water], minlength=vol.size) / vol
        self._u_right[i] = hi

    def _solve(self, rho: np.ndarray, sigma: float | None) -> dict[str, np.ndarray]:
        out: dict[str, list] = {}
        for i in range(rho.shape[0]):
            zr = None if self.closure == "vapour" else float(self._u_right[i])
            s = solve_poisson_electrodes(
                self.edges,
                rho[i],
                self.image_plane,
                zr,
                sigma,
                self.potential_difference,
                tol=1e-6,
            )
            s["drop"] = s["potential"][self._bulk_bins].mean()
            for key in (
                "potential",
                "field",
                "sigma_left",
                "sigma_right",
                "drop",
                "potential_difference",
                "field_beyond",
            ):
                out.setdefault(key, []).append(s[key])
        return {k: np.asarray(v, dtype=float) for k, v in out.items()}

    def _conclude(self) -> None:
        r = self.results
        if not self._used.any():
            raise ValueError(
                f"every one of the {self.n_frames} frames has a dissociated or shared water "
                "molecule: a fixed-charge water model cannot describe this trajectory"
            )
        self._rho, self._rho_w = self._rho[self._used], self._rho_w[self._used]
        self._u_right = self._u_right[self._used]
        r.n_frames_used, r.frames_skipped = int(self._used.sum()), self._skipped
        r.surface_z = float(np.mean(self._surface))
        full = self._solve(self._rho, self.sigma)
        # the water's own induced charge: none for a fixed electrode charge (it is all "ions")
        water = self._solve(self._rho_w, None if self.sigma is None else 0.0)
        zc = 0.5 * (self.edges[1:] + self.edges[:-1])
        r.z, r.edges, r.image_plane, r.bulk_range = zc, self.edges, self.image_plane, self.bulk
        r.closure, r.water_model, r.n_sites_clamped = self.closure, self._water_model, self._clamped
        series = {
            "charge_density": self._rho,
            "charge_density_water": self._rho_w,
            "potential": full["potential"],
            "potential_water": water["potential"],
            "field": full["field"],
            "potential_drop": full["drop"],
            "potential_drop_water": water["drop"],
            "sigma_metal": full["sigma_left"] * E_PER_A2_TO_C_PER_M2,
            "sigma_metal_upper": full["sigma_right"] * E_PER_A2_TO_C_PER_M2,
            "plate_potential_difference": full["potential_difference"],
            "field_beyond": full["field_beyond"],
        }
        for name, x in series.items():
            if x.shape[0] >= 32 and np.isfinite(x).all():
                b = block_average(x)
                r[name], r[name + "_err"] = b.mean, b.sem
                if x.ndim == 1:
                    r[name + "_converged"] = bool(b.converged)
            else:
                r[name] = x.mean(axis=0)
                r[name + "_err"] = np.full(np.shape(r[name]), np.nan)
        for name in (
            "potential_drop",
            "potential_drop_water",
            "sigma_metal",
            "sigma_metal_upper",
            "plate_potential_difference",
            "field_beyond",
        ):
            r[name] = float(r[name])
            r[name + "_err"] = float(r[name + "_err"])
