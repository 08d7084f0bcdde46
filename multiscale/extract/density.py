"""Per-species number density and concentration profiles c_i(z) with blocking errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from ase.units import _Nav

from .base import (
    AnalysisBase,
    Selection,
    bin_index,
    check_cell_z,
    make_edges,
    species_indices,
    wrap_z,
)
from .blocking import block_average

__all__ = ["DensityProfile", "number_density_to_molar"]


def number_density_to_molar(n: np.ndarray) -> np.ndarray:
    """Convert a number density (1/Å³) to a concentration (mol/m³)."""
    return np.asarray(n) * 1e30 / _Nav


class DensityProfile(AnalysisBase):
    """Number density n_i(z) (1/Å³) and concentration c_i(z) (mol/m³) per species.

    Each frame contributes a histogram of the z coordinates divided by the bin volume
    (in-plane cell area × bin width, per frame, so NPT cells are handled); the profile
    is the time average, its standard error comes from Flyvbjerg–Petersen blocking of
    the per-frame histograms (one correlation time per bin, estimated).

    Parameters
    ----------
    trajectory : list of Atoms, ase.io.Trajectory, str or Path
        Frames with the surface normal along z.
    species : mapping of str to selection
        ``{name: selection}``; a selection is a chemical symbol, a list of symbols or a
        list of atom indices, e.g. ``{"Na+": "Na", "O_w": "O"}``.
    bin_width : float
        Bin width (Å), default 0.2 Å (ignored when ``bins`` is given).
    z_range : (float, float), optional
        Range along z (Å); default the whole cell. Must lie inside the cell.
    bins : int, optional
        Number of bins instead of ``bin_width``.
    timestep : float, optional
        Time between stored frames (fs); only used to report correlation times in fs.

    Attributes
    ----------
    results.z : ndarray
        Bin centres (Å). ``results.edges``: bin edges (Å).
    results.number_density, results.number_density_err : dict of ndarray
        Per species (1/Å³).
    results.concentration, results.concentration_err : dict of ndarray
        Per species (mol/m³).
    results.correlation_time : dict of ndarray
        Integrated autocorrelation time per bin (frames of the run; fs if timestep given).
    results.counts : dict of ndarray, shape (n_frames, n_bins)
        Per-frame histograms (atoms per bin).
    """

    def __init__(
        self,
        trajectory: Any,
        species: Mapping[str, Selection],
        bin_width: float = 0.2,
        z_range: tuple[float, float] | None = None,
        bins: int | None = None,
        timestep: float | None = None,
    ) -> None:
        super().__init__(trajectory, timestep)
        first = self._trajectory[0]
        self.species = species_indices(first, species)
        self.edges = make_edges(first, bin_width, z_range, bins)
        self._lz = check_cell_z(first)
        self._zper = bool(first.pbc[2])

    def _prepare(self) -> None:
        nb = self.edges.size - 1
        self._counts = {k: np.zeros((self.n_frames, nb)) for k in self.species}
        self._area = np.empty(self.n_frames)

    def _single_frame(self) -> None:
        atoms = self._atoms
        check_cell_z(atoms)
        cell = np.asarray(atoms.cell)
        self._area[self._frame_index] = abs(np.linalg.det(cell[:2, :2]))
        z = wrap_z(atoms.positions[:, 2], self._lz, self._zper)
        nb = self.edges.size - 1
        for name, idx in self.species.items():
            k = bin_index(z[idx], self.edges)
            self._counts[name][self._frame_index] = np.bincount(k[k >= 0], minlength=nb)

    def _conclude(self) -> None:
        r = self.results
        dz = np.diff(self.edges)
        r.edges = self.edges
        r.z = 0.5 * (self.edges[1:] + self.edges[:-1])
        r.counts = self._counts
        r.number_density, r.number_density_err = {}, {}
        r.concentration, r.concentration_err = {}, {}
        r.correlation_time = {}
        r.converged = {}
        unit = 1.0 if self.dt is None else self.dt
        for name, counts in self._counts.items():
            dens = counts / (self._area[:, None] * dz[None, :])
            if self.n_frames >= 32:
                b = block_average(dens)
                mean, err, tau, conv = b.mean, b.sem, b.correlation_time * unit, b.converged
            else:  # too few frames for blocking: no error bar rather than a wrong one
                mean, err = dens.mean(axis=0), np.full(dens.shape[1], np.nan)
                tau, conv = np.full(dens.shape[1], np.nan), np.zeros(dens.shape[1], bool)
            r.number_density[name] = mean
            r.number_density_err[name] = err
            r.concentration[name] = number_density_to_molar(mean)
            r.concentration_err[name] = number_density_to_molar(err)
            r.correlation_time[name] = tau
            r.converged[name] = conv
