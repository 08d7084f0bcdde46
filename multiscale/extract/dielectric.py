"""Dielectric profiles ε∥(z) and ε⊥(z) at a planar interface from polarization fluctuations.

Linear response of the local polarization density m(z) to a homogeneous field gives
(Bonthuis, Gekle & Netz, Phys. Rev. Lett. 107, 166102 (2011); Schlaich, Loche & Netz,
Phys. Rev. Lett. 117, 048001 (2016))

    ε∥(z) − 1 = [⟨m∥(z)·M∥⟩ − ⟨m∥(z)⟩·⟨M∥⟩] / (2 ε₀ k_B T)

    ε⊥⁻¹(z) − 1 = −[⟨m⊥(z) M⊥⟩ − ⟨m⊥(z)⟩⟨M⊥⟩] / (ε₀ k_B T)

with M the dipole moment of the whole cell. The perpendicular formula holds when the
displacement field D⊥ is fixed, i.e. for a slab with a dipole correction or 2D Ewald
(``boundary="slab"``). In a 3D-periodic (tin-foil) simulation the field is fixed instead
and the denominator becomes ε₀ k_B T + var(M⊥)/V (``boundary="tinfoil"``; Stern & Feller,
J. Chem. Phys. 118, 3401 (2003)). The perpendicular polarization density comes from the
charge density, m⊥(z) = −∫₀^z ρ(z') dz'; the parallel one from whole molecules binned at
their centre of absolute charge, m∥(z) = Σ μ∥ / V_bin (the limit of MAICoS's virtual cutting for
cuts much finer than a molecule). Conventions follow MAICoS ``DielectricPlanar`` so that
the two can be compared number by number (:func:`mdanalysis_universe` builds its input
from ASE frames). Units: ε₀ in e/(V·Å), k_B T in eV, m in e/Å², M in e·Å.

For a homogeneous fluid, :func:`fluctuation_epsilon` gives the Kirkwood/Neumann estimate
ε = 1 + (⟨M²⟩ − ⟨M⟩²)/(3 V ε₀ k_B T) (tin-foil boundary; Neumann, Mol. Phys. 50, 841
(1983)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ase.units import kB

from .base import AnalysisBase, bin_index, check_cell_z, check_int, check_positive, make_edges
from .charges import charge_sites, get_water_model
from .electrostatics import EPS0

__all__ = ["DielectricProfile", "fluctuation_epsilon", "mdanalysis_universe"]


def _blocks(n: int, n_blocks: int) -> list[slice]:
    size = n // n_blocks
    return [slice(i * size, (i + 1) * size) for i in range(n_blocks)]


def fluctuation_epsilon(
    dipoles: np.ndarray, volume: float, temperature: float, n_blocks: int = 8
) -> tuple[float, float]:
    """Static ε of a homogeneous fluid from the total dipole fluctuation (tin-foil boundary).

    Parameters
    ----------
    dipoles : ndarray, shape (n_frames, 3)
        Total dipole moment M of the cell per frame (e·Å).
    volume : float
        Cell volume (Å³).
    temperature : float
        Temperature (K).
    n_blocks : int
        Independent blocks for the standard error.

    Returns
    -------
    (float, float)
        ε and its standard error from block-to-block scatter.
    """
    m = np.asarray(dipoles, dtype=float)
    if m.ndim != 2 or m.shape[1] != 3:
        raise ValueError(f"dipoles must have shape (n_frames, 3) in e·Å, got {m.shape}")
    volume = check_positive("volume", volume, "Å³")
    temperature = check_positive("temperature", temperature, "K")
    n_blocks = check_int("n_blocks", n_blocks, 2)
    if m.shape[0] < 2 * n_blocks:
        raise ValueError(f"need at least {2 * n_blocks} frames for {n_blocks} blocks")
    pref = 1.0 / (3 * volume * EPS0 * kB * temperature)

    def eps(x: np.ndarray) -> float:
        return 1.0 + pref * float(np.sum(x.var(axis=0)))

    per_block = [eps(m[s]) for s in _blocks(len(m), n_blocks)]
    return eps(m), float(np.std(per_block, ddof=1) / np.sqrt(n_blocks))


class DielectricProfile(AnalysisBase):
    """ε∥(z) and ε⊥⁻¹(z) of a planar system from polarization fluctuations.

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        Frames with the surface normal along z (the whole cell is binned).
    charges : mapping of str to float
        Charge (e) of every element other than water O and H, e.g. ``{"Na": 1, "Cl": -1,
        "Cu": 0}``.
    temperature : float
        Temperature (K).
    water_model : str, optional
        Water charge model (see :mod:`multiscale.extract.charges`), default SPC/E.
    boundary : {"slab", "tinfoil"}
        Electrostatic boundary of the MD: ``"slab"`` (dipole correction or 2D Ewald, D⊥
        fixed) or ``"tinfoil"`` (3D Ewald without correction, E fixed).
    bin_width : float
        Bin width (Å), bins from z = 0 to the cell height.
    n_blocks : int
        Independent blocks of frames for the error bars.
    edges : sequence of float, optional
        Explicit, increasing bin edges (Å) instead of ``bin_width`` bins from z = 0, e.g.
        aligned with a transport profile's bins.

    Attributes
    ----------
    results.z : ndarray
        Bin centres (Å).
    results.eps_par, results.eps_par_err : ndarray
        ε∥(z) and its standard error.
    results.eps_perp_inv, results.eps_perp_inv_err : ndarray
        ε⊥⁻¹(z) and its standard error (ε⊥ = 1/ε⊥⁻¹ is ill-conditioned where ε⊥⁻¹ ≈ 0).
    results.dipole : ndarray, shape (n_frames, 3)
        Total dipole moment per frame (e·Å).
    """

    def __init__(
        self,
        trajectory: Any,
        charges: Mapping[str, float],
        temperature: float,
        water_model: str | None = "SPC/E",
        boundary: str = "slab",
        bin_width: float = 0.5,
        n_blocks: int = 8,
        edges: Sequence[float] | None = None,
    ) -> None:
        super().__init__(trajectory)
        first = self._trajectory[0]
        self.temperature = check_positive("temperature", temperature, "K")
        if boundary not in ("slab", "tinfoil"):
            raise ValueError(f'boundary must be "slab" or "tinfoil", got {boundary!r}')
        if water_model is not None:
            get_water_model(water_model)
        self.boundary = boundary
        self.n_blocks = check_int("n_blocks", n_blocks, 2)
        if edges is None:
            self.edges = make_edges(first, bin_width, None)
        else:
            e = np.asarray(edges, dtype=float)
            if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
                raise ValueError("edges must be at least two finite, increasing heights (Å)")
            self.edges = e
        self._lz = check_cell_z(first)
        self._charges, self._water_model = charges, water_model
        charge_sites(first, charges, water_model)  # refuse bad input before running

    def _prepare(self) -> None:
        if self.n_frames < 2 * self.n_blocks:
            raise ValueError(
                f"{self.n_frames} frames are too few for n_blocks={self.n_blocks}: analyse at "
                f"least {2 * self.n_blocks} frames"
            )
        nb = self.edges.size - 1
        self._m_perp = np.zeros((self.n_frames, nb))
        self._m_par = np.zeros((self.n_frames, nb, 2))
        self._dipole = np.zeros((self.n_frames, 3))
        self._volume = np.zeros(self.n_frames)

    def _single_frame(self) -> None:
        atoms = self._atoms
        cs = charge_sites(atoms, self._charges, self._water_model)
        q, pos = cs.charges, cs.positions
        cell = np.asarray(atoms.cell)
        area = abs(np.linalg.det(cell[:2, :2]))
        h = np.diff(self.edges)
        i = self._frame_index
        self._dipole[i] = q @ pos
        self._volume[i] = area * self._lz
        nb = h.size
        # perpendicular: polarization density from the charge density
        k = bin_index(np.mod(pos[:, 2], self._lz), self.edges)
        self._m_perp[i] = -np.cumsum(np.bincount(k, weights=q, minlength=nb) / area)
        # parallel: molecular dipoles binned at their centre of |charge|
        mol, inv = np.unique(cs.molecule, return_inverse=True)
        w = np.abs(q)
        wsum = np.bincount(inv, weights=w, minlength=mol.size)
        zc = np.bincount(inv, weights=w * pos[:, 2], minlength=mol.size)
        zc = np.where(wsum > 0, zc / np.where(wsum > 0, wsum, 1.0), 0.0)
        kmol = bin_index(np.mod(zc, self._lz), self.edges)
        for j in (0, 1):
            mu = np.bincount(inv, weights=q * pos[:, j], minlength=mol.size)
            self._m_par[i, :, j] = np.bincount(kmol, weights=mu, minlength=nb) / (area * h)

    def _estimate(self, s: slice) -> tuple[np.ndarray, np.ndarray]:
        kt = kB * self.temperature
        mp, mpar, m = self._m_perp[s], self._m_par[s], self._dipole[s]
        cov_perp = (mp * m[:, 2:3]).mean(0) - mp.mean(0) * m[:, 2].mean()
        cov_par = 0.5 * ((mpar * m[:, None, :2]).sum(-1).mean(0) - mpar.mean(0) @ m[:, :2].mean(0))
        eps_par = 1.0 + cov_par / (EPS0 * kt)
        if self.boundary == "slab":
            eps_perp_inv = 1.0 - cov_perp / (EPS0 * kt)
        else:
            volume = self._volume[s].mean()
            eps_perp_inv = 1.0 - cov_perp / (EPS0 * kt + m[:, 2].var() / volume)
        return eps_par, eps_perp_inv

    def _conclude(self) -> None:
        r = self.results
        r.z, r.edges, r.boundary = (
            0.5 * (self.edges[1:] + self.edges[:-1]),
            self.edges,
            self.boundary,
        )
        r.eps_par, r.eps_perp_inv = self._estimate(slice(None))
        per = [self._estimate(s) for s in _blocks(self.n_frames, self.n_blocks)]
        sq = np.sqrt(self.n_blocks)
        r.eps_par_err = np.std([p[0] for p in per], axis=0, ddof=1) / sq
        r.eps_perp_inv_err = np.std([p[1] for p in per], axis=0, ddof=1) / sq
        r.dipole = self._dipole
        r.volume = float(self._volume.mean())


def mdanalysis_universe(
    frames: Any, charges: Mapping[str, float], water_model: str | None = "SPC/E"
) -> Any:
    """An in-memory MDAnalysis Universe of ASE frames with charges and one residue per molecule.

    For cross-checks with MDAnalysis-based tools (MAICoS). Four-site models add their M
    sites as atoms named ``M``.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Frames (Å); orthorhombic cells.
    charges : mapping of str to float
        Charges (e) of non-water elements.
    water_model : str, optional
        Water charge model.

    Returns
    -------
    MDAnalysis.Universe
    """
    import MDAnalysis as mda
    from MDAnalysis.coordinates.memory import MemoryReader

    sites = [charge_sites(a, charges, water_model) for a in frames]
    first = sites[0]
    n = first.charges.size
    mol, resindex = np.unique(first.molecule, return_inverse=True)
    u = mda.Universe.empty(n, n_residues=mol.size, atom_resindex=resindex, trajectory=True)
    names = [frames[0][i].symbol if i >= 0 else "M" for i in first.atom]
    u.add_TopologyAttr("names", names)
    u.add_TopologyAttr("charges", first.charges)
    u.add_TopologyAttr("masses", np.ones(n))
    u.add_TopologyAttr("resids", np.arange(1, mol.size + 1))
    pos = np.array([s.positions for s in sites], dtype=np.float32)
    dims = np.array(
        [[*np.diag(np.asarray(a.cell)), 90.0, 90.0, 90.0] for a in frames], dtype=np.float32
    )
    u.load_new(pos, format=MemoryReader, dimensions=dims)
    return u
