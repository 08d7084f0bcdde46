"""Umbrella sampling analysis: F(z) by MBAR, D⊥(z) and D∥(z) in each restrained window.

Input: K windows, each a time series of the restrained height h (Å) above the surface (one
ion per window, or many independent walkers per window), sampled every ``timestep`` fs under
the bias ½ k_i (h − z_i)² (:class:`multiscale.md.umbrella.HarmonicZRestraint`), and
optionally the in-plane positions of the same atom.

* **F(z)** by MBAR (Shirts & Chodera, J. Chem. Phys. 129, 124105 (2008)) with
  :class:`pymbar.FES` on a histogram of h, from decorrelated samples: each window is
  subsampled with its statistical inefficiency g (:mod:`pymbar.timeseries`), so the analytical
  MBAR error bars hold. F in kT, minimum at zero.
* **D⊥(z_i)** in each window from the restrained position autocorrelation (Woolf & Roux,
  J. Am. Chem. Soc. 116, 5916 (1994); Hummer, New J. Phys. 7, 34 (2005), eq. 16):

      D = var(h)² / ∫₀^∞ C(t) dt,   C(t) = ⟨δh(0) δh(t)⟩,

  exact when the total potential (free energy + bias) is harmonic across the window: choose k
  large against the curvature of F over the window (k ≫ ``|F''|``, i.e. a window width
  √(kT/k) small against the features of F and D). The integral runs to the first lag where
  C(t)/C(0) drops below ``acf_cutoff`` and the rest is an exponential tail fitted to the
  decay before it (truncation handled instead of integrating noise); D is assigned to the
  window's mean height ⟨h⟩.
* **D∥(z_i)** from the in-plane MSD of the restrained atom in the same window, a quarter of
  the slope of a straight-line fit (free intercept) over a lag range.
* **Error bars** of D from ``n_blocks`` consecutive time blocks (all walkers together), the
  fluctuations δh taken about the window's overall mean so that short blocks are not biased.
* **Overlap**: the MBAR overlap matrix; neighbouring windows whose overlap is below
  ``overlap_threshold`` (0.03) are flagged (the F profile is not connected there).
* **Convergence**: first half against second half of every window: F (two MBAR solutions,
  the same reference bin) and D (the blocks of each half) must agree within their combined
  standard errors, at a family-wise false-alarm rate ``convergence_alpha`` (1 %).

Units: h and z in Å, time in fs, D in Å²/fs (1 Å²/fs = 1e-5 m²/s), F in kT (``free_energy_eV``
in eV), k in eV/Å², temperature in K.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import units

from .base import Results, check_int, check_positive, is_real

__all__ = [
    "UmbrellaAnalysis",
    "block_msd_diffusion",
    "restrained_diffusion",
    "window_msd_diffusion",
]


def _pymbar():
    """``pymbar``, imported without its import-time banners (JAX not found, timeseries)."""
    logger = logging.getLogger("pymbar")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import pymbar
            from pymbar import timeseries
    finally:
        logger.setLevel(level)
    return pymbar, timeseries


def _autocovariance(dz: np.ndarray, max_lag: int) -> np.ndarray:
    """C(t) for t = 0..max_lag, averaged over all origins and walkers (FFT), shape (max_lag+1,)."""
    n = dz.shape[0]
    f = np.fft.rfft(dz, n=2 * n, axis=0)
    acf = np.fft.irfft(f * np.conj(f), n=2 * n, axis=0)[: max_lag + 1]
    return acf.sum(axis=1) / (dz.shape[1] * (n - np.arange(max_lag + 1)))


def restrained_diffusion(
    dz: np.ndarray, timestep: float, acf_cutoff: float = 0.1
) -> tuple[float, float, float]:
    """D from the autocorrelation of restrained fluctuations, D = var² / ∫₀^∞ C(t) dt.

    Parameters
    ----------
    dz : ndarray, shape (n_frames, n_walkers)
        Fluctuations δh = h − ⟨h⟩ of the restrained coordinate (Å), ⟨h⟩ the equilibrium mean.
    timestep : float
        Time between samples (fs).
    acf_cutoff : float
        C(t)/C(0) level at which the numerical integral (trapezoid rule) stops; the rest is
        C(t_c)·τ_tail with τ_tail from a straight-line fit of ln C between C/C(0) = 0.6 and
        the cutoff (an exponential tail).

    Returns
    -------
    D : float
        Diffusion coefficient (Å²/fs); NaN when C(t)/C(0) never falls below ``acf_cutoff``
        within half the series (the window is too short for its correlation time).
    tau : float
        Correlation time τ = ∫C/C(0) (fs); NaN as D.
    t_cut : float
        Lag where the numerical integral stopped (fs); NaN as D.
    """
    n = dz.shape[0]
    max_lag = max(n // 2, 2)
    cov = _autocovariance(dz, min(max_lag, n - 1))
    var = cov[0]
    if not var > 0:
        return float("nan"), float("nan"), float("nan")
    c = cov / var
    below = np.flatnonzero(c < acf_cutoff)
    if below.size == 0 or below[0] < 1:
        return float("nan"), float("nan"), float("nan")
    jc = int(below[0])
    t = np.arange(jc + 1) * timestep
    integral = float(np.sum(0.5 * (cov[1 : jc + 1] + cov[:jc])) * timestep)
    fit = np.flatnonzero((c[: jc + 1] <= 0.6) & (c[: jc + 1] > 0))
    if fit.size >= 2:
        slope = np.polyfit(t[fit], np.log(c[fit]), 1)[0]
    else:  # two-point slope from the last lag above the cutoff
        slope = np.log(max(c[jc], 1e-12) / c[jc - 1]) / timestep
    tail = max(cov[jc], 0.0) * (-1.0 / slope) if slope < 0 else 0.0
    integral += tail
    tau = integral / var
    return float(var / tau), float(tau), float(jc * timestep)


def window_msd_diffusion(xy: np.ndarray, lags: np.ndarray, timestep: float) -> float:
    """D∥ from the in-plane MSD of one window: MSD(τ) = a + 4 D τ fitted over ``lags``.

    Parameters
    ----------
    xy : ndarray, shape (n_frames, n_walkers, 2)
        Unwrapped in-plane positions (Å).
    lags : ndarray of int
        Lags (frames) used in the fit (at least two, all < n_frames).
    timestep : float
        Time between samples (fs).

    Returns
    -------
    float
        D∥ (Å²/fs).
    """
    msd = np.array([np.mean(np.sum((xy[lag:] - xy[:-lag]) ** 2, axis=-1)) for lag in lags])
    slope = np.polyfit(lags * timestep, msd, 1)[0]
    return float(slope / 4.0)


def block_msd_diffusion(xy: np.ndarray, lags: np.ndarray, timestep: float, n_blocks: int):
    """:func:`window_msd_diffusion` of each of ``n_blocks`` consecutive time blocks of ``xy``
    (``len(xy) // n_blocks`` frames each) and the standard error of their mean (Å²/fs):
    (block values, error)."""
    n_block = xy.shape[0] // n_blocks
    d = np.array(
        [
            window_msd_diffusion(xy[b * n_block : (b + 1) * n_block], lags, timestep)
            for b in range(n_blocks)
        ]
    )
    return d, float(np.std(d, ddof=1) / np.sqrt(n_blocks))


def _as_series(name: str, arrays: Any, n_windows: int | None, trailing: tuple) -> list:
    if isinstance(arrays, str) or not isinstance(arrays, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a list with one array per window")
    if n_windows is not None and len(arrays) != n_windows:
        raise ValueError(f"{name} has {len(arrays)} windows but centers has {n_windows}")
    out = []
    for k, a in enumerate(arrays):
        try:
            a = np.asarray(a, dtype=float)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name}[{k}] must be an array of numbers: {err}") from err
        nd = 1 + len(trailing)
        if a.ndim not in (nd, nd + 1) or a.shape[a.ndim - len(trailing) :] != trailing:
            want = "(n_frames" + "".join(f", {t}" for t in trailing) + ")"
            want2 = "(n_frames, n_walkers" + "".join(f", {t}" for t in trailing) + ")"
            raise ValueError(f"{name}[{k}] must have shape {want} or {want2}, got {a.shape}")
        if a.ndim == nd:
            a = a.reshape(a.shape[0], 1, *trailing)  # one walker
        if not np.isfinite(a).all():
            raise ValueError(
                f"{name}[{k}] contains NaN or infinite values: analyse only the frames before "
                "the window's MD went wrong"
            )
        out.append(a)
    return out


class UmbrellaAnalysis:
    """F(z), D⊥(z) and D∥(z) with error bars from umbrella-sampling windows.

    Parameters
    ----------
    heights : list of ndarray
        One array per window: the restrained height h (Å), shape (n_frames,) for one atom or
        (n_frames, n_walkers) for independent walkers sampled at the same times.
    centers : sequence of float
        Window centres z_i of the bias ½ k_i (h − z_i)² (Å).
    k : float or sequence of float
        Spring constant(s) (eV/Å²).
    temperature_K : float
        Temperature of the windows (K).
    timestep : float
        Time between samples (fs).
    xy : list of ndarray, optional
        In-plane positions of the same atom(s), unwrapped (Å), shape (n_frames, 2) or
        (n_frames, n_walkers, 2); without them D∥ is not computed.
    solvent_xy : list of ndarray, optional
        In-plane positions of the solvent's molecules in the same frames (e.g. every water
        O), unwrapped (Å), shape (n_frames, n_molecules, 2): the medium's D∥ in each window,
        by the same fit and blocks as the ion's (``D_solvent_par``), to compare the windows'
        liquid with that of unbiased MD. Needs ``xy``.
    bin_width : float
        Histogram bin width for F(z) (Å).
    n_blocks : int
        Consecutive time blocks for the error bars of D (even, >= 4: the convergence check
        compares the first half of the blocks with the second).
    discard : int
        Frames dropped at the start of every window (equilibration).
    acf_cutoff : float
        Level of C(t)/C(0) where the autocorrelation integral is truncated (an exponential
        tail is added), in (0, 0.5).
    msd_fit : (float, float), optional
        Lag-time range of the D∥ fit (fs); default 5 %–25 % of a block. Start it after the
        ballistic regime of real MD (a few hundred fs for ions in water).
    min_bin_samples : int
        Bins with fewer decorrelated samples than this get no F (NaN).
    overlap_threshold : float
        Smallest acceptable MBAR overlap between neighbouring windows.
    convergence_alpha : float
        False-alarm probability of the first-half/second-half check over all bins (F) or all
        windows (D): a difference is flagged when it exceeds the (1 − α/2m) quantile of its
        null distribution (normal for F with MBAR errors, Student t with n_blocks − 2 degrees
        of freedom for D with block errors), m the number of comparisons (Bonferroni).

    Attributes
    ----------
    results : Results
        After :meth:`run`. Per window (sorted by centre): ``centers``, ``k``, ``z_mean``,
        ``z_std`` (Å), ``statistical_inefficiency`` (frames), ``n_samples`` (decorrelated,
        used by MBAR), ``D_perp``, ``D_perp_err`` (Å²/fs), ``tau`` (fs), ``acf_cut`` (fs),
        ``D_perp_converged``, ``D_par``, ``D_par_err`` (Å²/fs), with ``solvent_xy``
        ``D_solvent_par``, ``D_solvent_par_err`` (Å²/fs); ``msd_lags`` (fs, the lags of the
        D∥ fits). On the F grid: ``z`` (bin
        centres, Å), ``edges``, ``free_energy``, ``free_energy_err`` (kT),
        ``free_energy_cov`` (kT², the covariance of F between bins: MBAR errors of
        neighbouring bins are strongly correlated), ``free_energy_eV``,
        ``free_energy_err_eV``, ``bin_samples``. Diagnostics: ``overlap`` (K×K MBAR overlap
        matrix), ``neighbour_overlap`` (K−1), ``poor_overlap`` (pairs of window indices below
        the threshold), ``halves`` (dict: F of each half with errors and the largest
        deviation in units of its error, D⊥/D∥ of each half), ``converged`` (bool) and
        ``warnings`` (list of str, what did not converge and what to do).
    """

    def __init__(
        self,
        heights: Sequence[np.ndarray],
        centers: Sequence[float],
        k: float | Sequence[float],
        temperature_K: float,
        timestep: float,
        xy: Sequence[np.ndarray] | None = None,
        bin_width: float = 0.1,
        solvent_xy: Sequence[np.ndarray] | None = None,
        n_blocks: int = 8,
        discard: int = 0,
        acf_cutoff: float = 0.1,
        msd_fit: tuple[float, float] | None = None,
        min_bin_samples: int = 10,
        overlap_threshold: float = 0.03,
        convergence_alpha: float = 0.01,
    ) -> None:
        if isinstance(centers, str) or not isinstance(centers, Sequence | np.ndarray):
            raise TypeError("centers must be a list of window centres (Å)")
        try:
            c = np.asarray(centers, dtype=float).ravel()
        except (TypeError, ValueError) as err:
            raise TypeError(f"centers must be a list of numbers (Å): {err}") from err
        if c.size < 2 or not np.isfinite(c).all():
            raise ValueError(f"centers must hold at least 2 finite window centres (Å), got {c}")
        if np.unique(c).size != c.size:
            raise ValueError(f"centers must be distinct, got {c.tolist()}")
        try:
            k_arr = np.asarray(k, dtype=float)
        except (TypeError, ValueError) as err:
            raise TypeError(f"k must be a number or a list of numbers (eV/Å²), got {k!r}") from err
        if k_arr.ndim == 0:
            k_arr = np.full(c.size, float(k_arr))
        if k_arr.shape != c.shape or not (np.isfinite(k_arr).all() and (k_arr > 0).all()):
            raise ValueError(
                f"k must be one spring constant > 0 (eV/Å²) or one per window ({c.size}), got {k!r}"
            )
        self.temperature_K = check_positive("temperature_K", temperature_K, "K")
        self.timestep = check_positive("timestep", timestep, "fs")
        self.bin_width = check_positive("bin_width", bin_width, "Å")
        n_blocks = check_int("n_blocks", n_blocks, 4)
        if n_blocks % 2:
            raise ValueError(
                f"n_blocks must be even (the halves are compared block by block), got {n_blocks}"
            )
        self.n_blocks = n_blocks
        self.discard = check_int("discard", discard, 0)
        if not (is_real(acf_cutoff) and 0 < acf_cutoff < 0.5):
            raise ValueError(f"acf_cutoff must be a number in (0, 0.5), got {acf_cutoff!r}")
        self.acf_cutoff = float(acf_cutoff)
        self.min_bin_samples = check_int("min_bin_samples", min_bin_samples, 1)
        if not (is_real(overlap_threshold) and 0 < overlap_threshold < 1):
            raise ValueError(
                f"overlap_threshold must be a number in (0, 1), got {overlap_threshold!r}"
            )
        self.overlap_threshold = float(overlap_threshold)
        if not (is_real(convergence_alpha) and 0 < convergence_alpha < 1):
            raise ValueError(
                f"convergence_alpha must be a probability in (0, 1), got {convergence_alpha!r}"
            )
        self.convergence_alpha = float(convergence_alpha)
        if msd_fit is not None:
            if (
                not isinstance(msd_fit, Sequence | np.ndarray)
                or len(msd_fit) != 2
                or not all(is_real(v) and np.isfinite(v) for v in msd_fit)
                or not 0 < msd_fit[0] < msd_fit[1]
            ):
                raise ValueError(
                    f"msd_fit must be (start, stop) lag times in fs with 0 < start < stop, got "
                    f"{msd_fit!r}"
                )
        self.msd_fit = msd_fit
        h = _as_series("heights", heights, c.size, ())
        p = None
        if xy is not None:
            p = _as_series("xy", xy, c.size, (2,))
            for i, (a, b) in enumerate(zip(h, p, strict=True)):
                if a.shape != b.shape[:2]:
                    raise ValueError(
                        f"xy[{i}] has {b.shape[:2]} (frames, walkers) but heights[{i}] has "
                        f"{a.shape}: give the same frames and walkers"
                    )
        q = None
        if solvent_xy is not None:
            if p is None:
                raise ValueError("solvent_xy needs xy (the ion's in-plane positions) as well")
            q = _as_series("solvent_xy", solvent_xy, c.size, (2,))
            for i, (a, b) in enumerate(zip(h, q, strict=True)):
                if b.shape[0] != a.shape[0]:
                    raise ValueError(
                        f"solvent_xy[{i}] has {b.shape[0]} frames but heights[{i}] has "
                        f"{a.shape[0]}: give the solvent in the same frames"
                    )
        for i, a in enumerate(h):
            if not np.all(a.std(axis=0) > 0):
                raise ValueError(
                    f"heights[{i}] does not fluctuate (a walker's h is constant): pass the "
                    "restrained atom's heights from the MD, not a fixed value"
                )
            need = self.discard + self.n_blocks * 16
            if a.shape[0] < need:
                raise ValueError(
                    f"window {i} has {a.shape[0]} frames; with discard={self.discard} and "
                    f"n_blocks={self.n_blocks} it needs at least {need} (16 per block): run the "
                    "window longer or use fewer blocks"
                )
        order = np.argsort(c)
        self.centers = c[order]
        self.k = k_arr[order]
        self._h = [h[i][self.discard :] for i in order]
        self._xy = None if p is None else [p[i][self.discard :] for i in order]
        self._solvent = None if q is None else [q[i][self.discard :] for i in order]
        self.results = Results()

    @classmethod
    def from_directory(
        cls,
        directory: str | Path | Sequence[str | Path],
        solvent: str | None = None,
        **kwargs: Any,
    ) -> UmbrellaAnalysis:
        """Analysis of the windows written by :func:`multiscale.md.run_umbrella_windows`.

        Reads ``umbrella.json`` and each window's trajectory (``replica_XXX/``), computes the
        restrained atom's height above the surface and its unwrapped in-plane position in
        every frame. Keyword arguments go to :class:`UmbrellaAnalysis` (``bin_width``,
        ``discard``, ...).

        Parameters
        ----------
        directory : str or Path, or a list of them
            The umbrella folder, or several: windows added later (e.g. between the first
            ones, where their overlap was poor) in a folder of their own are analysed
            together with the first, provided that all folders restrain the same atom above
            the same surface at the same temperature and frame interval.
        solvent : str, optional
            Chemical symbol of the solvent's molecule centres (``"O"`` for water): their
            in-plane positions go to ``solvent_xy`` (the medium's D∥ in each window).
        """
        from ase.io import read

        from ..md.runner import TRAJ_FORMATS
        from ..md.umbrella import UMBRELLA_SPEC, restraint_height
        from .base import unwrap_positions

        dirs = [directory] if isinstance(directory, str | Path) else list(directory)
        if not dirs or not all(isinstance(d, str | Path) for d in dirs):
            raise TypeError(
                f"directory must be an umbrella folder or a list of them, got {directory!r}"
            )
        specs = []
        for d in map(Path, dirs):
            spec_path = d / UMBRELLA_SPEC
            if not spec_path.is_file():
                raise ValueError(
                    f"{spec_path} not found: pass the output_dir of run_umbrella_windows"
                )
            specs.append((d, json.loads(spec_path.read_text())))
        first = specs[0][1]
        for d, spec in specs[1:]:
            for key in ("index", "surface_z", "temperature_K", "frame_interval_fs"):
                if spec[key] != first[key]:
                    raise ValueError(
                        f"{d} has {key} = {spec[key]!r} but {specs[0][0]} has {first[key]!r}: "
                        "windows analysed together must restrain the same atom above the same "
                        "surface at the same temperature and frame interval"
                    )
        heights, xys, centers, ks, sols = [], [], [], [], []
        for d, spec in specs:
            fmt = spec.get("traj_format", "traj")
            for i in range(len(spec["centers"])):
                path = d / f"replica_{i:03d}" / TRAJ_FORMATS[fmt]
                if not path.is_file():
                    raise ValueError(f"window {i}: {path} not found; run (or resume) the windows")
                frames = read(path, ":", format=fmt, parallel=False)
                pos = np.array([a.positions for a in frames])
                cells = np.array([a.cell.array for a in frames])
                heights.append(restraint_height(pos, spec["index"], spec["surface_z"]))
                ion = unwrap_positions(pos[:, [spec["index"]], :], cells, frames[0].pbc)
                xys.append(ion[:, 0, :2])
                if solvent is not None:
                    mask = np.array(frames[0].get_chemical_symbols()) == solvent
                    if not mask.any():
                        raise ValueError(
                            f"window {i}: no {solvent} atom in {path}; give the symbol of the "
                            "solvent's molecule centres (e.g. 'O' for water) or None"
                        )
                    sol = unwrap_positions(pos[:, mask, :], cells, frames[0].pbc)
                    sols.append(sol[:, :, :2])
            centers += list(spec["centers"])
            ks += list(np.broadcast_to(np.asarray(spec["k"], float), (len(spec["centers"]),)))
        return cls(
            heights,
            centers,
            ks,
            first["temperature_K"],
            first["frame_interval_fs"],
            xy=xys,
            solvent_xy=sols if solvent is not None else None,
            **kwargs,
        )

    # ------------------------------------------------------------------ pieces
    def _decorrelated(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Per window the subsampled heights (flat) and the statistical inefficiency g."""
        _, timeseries = _pymbar()
        samples, gs = [], []
        for a in self._h:
            series = [a[:, w] for w in range(a.shape[1])]
            if a.shape[1] == 1:
                g = timeseries.statistical_inefficiency(series[0])
            else:
                g = timeseries.statistical_inefficiency_multiple(series, fast=True)
            idx = np.asarray(timeseries.subsample_correlated_data(series[0], g=g), dtype=int)
            samples.append(a[idx].ravel())
            gs.append(float(g))
        return samples, np.array(gs)

    def _free_energy(
        self,
        samples: list[np.ndarray],
        edges: np.ndarray,
        ref: int | None,
        f_k: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any, np.ndarray]:
        """F (kT), its error and its covariance over the bins from MBAR, relative to bin
        ``ref`` (default: lowest).

        The unbiased probability of each bin is a perturbed state of the MBAR ensemble
        (reduced potential 0 inside the bin, +inf outside), so the analytical covariance of
        MBAR gives the error of F_b − F_ref. Its matrix of the errors of every difference,
        d_ab = σ(F_a − F_b), gives the covariance of the F_b − F_ref:
        C_ab = (d_aj² + d_bj² − d_ab²) / 2 (j = ref). Bins with fewer than
        ``min_bin_samples`` samples are NaN (rows and columns of C too).
        """
        pymbar, _ = _pymbar()
        beta = 1.0 / (units.kB * self.temperature_K)
        x = np.concatenate(samples)
        n_k = np.array([s.size for s in samples])
        u_kn = 0.5 * beta * self.k[:, None] * (x[None, :] - self.centers[:, None]) ** 2
        counts = np.histogram(x, edges)[0]
        used = np.flatnonzero(counts >= self.min_bin_samples)
        f = np.full(counts.size, np.nan)
        df = np.full(counts.size, np.nan)
        cov = np.full((counts.size, counts.size), np.nan)
        b = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, counts.size - 1)
        u_ln = np.where(b[None, :] == used[:, None], 0.0, np.inf)
        logger = logging.getLogger("pymbar")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            mbar = pymbar.MBAR(u_kn, n_k, verbose=False, initial_f_k=f_k)
            if used.size == 0:  # pymbar cannot perturb to zero states
                return f, df, counts, mbar, cov
            res = mbar.compute_perturbed_free_energies(u_ln)
        finally:
            logger.setLevel(level)
        fl = np.asarray(res["Delta_f"])
        j = (
            int(np.argmin(fl[0]))
            if ref is None or ref not in used
            else int(np.searchsorted(used, ref))
        )
        f[used] = fl[j]
        d = np.asarray(res["dDelta_f"])
        df[used] = d[j]
        cov[np.ix_(used, used)] = 0.5 * (d[j][:, None] ** 2 + d[j][None, :] ** 2 - d**2)
        return f, df, counts, mbar, cov

    def _msd_lags(self, n_block: int) -> np.ndarray:
        if self.msd_fit is None:
            lo, hi = 0.05 * n_block, 0.25 * n_block
        else:
            lo, hi = self.msd_fit[0] / self.timestep, self.msd_fit[1] / self.timestep
        lags = np.unique(np.round(np.linspace(lo, hi, 10)).astype(int))
        lags = lags[(lags >= 1) & (lags < n_block)]
        if lags.size < 2:
            raise ValueError(
                f"msd_fit {self.msd_fit} fs gives fewer than 2 lags shorter than a block "
                f"({n_block} frames of {self.timestep} fs): choose a range inside "
                f"(0, {n_block * self.timestep:g}) fs spanning at least 2 frames"
            )
        return lags

    # ------------------------------------------------------------------ run
    def position_autocorrelation(self, window: int, max_lag: int) -> np.ndarray:
        """Normalised autocorrelation C(t)/C(0) of window ``window``'s heights (after discard).

        ``window`` indexes the windows sorted by centre (as in :attr:`results`); lags
        0..``max_lag`` frames. For overdamped (Brownian) motion in the restrained well C(t)
        decays monotonically; a negative lobe is the mark of inertia or memory.
        """
        check_int("window", window, 0)
        check_int("max_lag", max_lag, 1)
        if window >= len(self._h):
            raise ValueError(f"window must be in 0..{len(self._h) - 1}, got {window}")
        a = self._h[window]
        lag = min(max_lag, a.shape[0] - 1)
        c = _autocovariance(a - a.mean(), lag)
        return c / c[0]

    def run(self) -> UmbrellaAnalysis:
        """Compute everything; results in ``self.results``. Returns self."""
        r = self.results
        warnings: list[str] = []
        kt = units.kB * self.temperature_K
        n_win = self.centers.size
        nb = self.n_blocks
        # --- per window: statistics, D_perp, D_par
        z_mean = np.array([a.mean() for a in self._h])
        z_std = np.array([a.std(ddof=1) for a in self._h])
        d_perp = np.full(n_win, np.nan)
        d_perp_err = np.full(n_win, np.nan)
        tau = np.full(n_win, np.nan)
        t_cut = np.full(n_win, np.nan)
        d_perp_ok = np.zeros(n_win, dtype=bool)
        d_perp_blocks = np.full((n_win, nb), np.nan)
        d_par = np.full(n_win, np.nan)
        d_par_err = np.full(n_win, np.nan)
        d_par_blocks = np.full((n_win, nb), np.nan)
        d_sol = np.full(n_win, np.nan)
        d_sol_err = np.full(n_win, np.nan)
        d_sol_blocks = np.full((n_win, nb), np.nan)
        lags = None
        for i, a in enumerate(self._h):
            dz = a - z_mean[i]
            n_block = a.shape[0] // nb
            d_perp[i], tau[i], t_cut[i] = restrained_diffusion(dz, self.timestep, self.acf_cutoff)
            for b in range(nb):
                d_perp_blocks[i, b] = restrained_diffusion(
                    dz[b * n_block : (b + 1) * n_block], self.timestep, self.acf_cutoff
                )[0]
            block_time = n_block * self.timestep
            if not np.isfinite(d_perp[i]) or not np.isfinite(d_perp_blocks[i]).all():
                warnings.append(
                    f"window {i} (z = {self.centers[i]:.3g} Å): the autocorrelation of h never "
                    f"fell below {self.acf_cutoff} within half of a {block_time:g} fs block: "
                    "D_perp not converged; run the window longer"
                )
            elif block_time < 20 * tau[i]:
                warnings.append(
                    f"window {i} (z = {self.centers[i]:.3g} Å): blocks of {block_time:g} fs are "
                    f"shorter than 20 correlation times ({tau[i]:.3g} fs): D_perp error bar "
                    "unreliable; run the window longer"
                )
            else:
                d_perp_ok[i] = True
            d_perp_err[i] = np.std(d_perp_blocks[i], ddof=1) / np.sqrt(nb)
            if not d_perp_ok[i]:
                d_perp_err[i] = np.nan  # no small error bar on an unconverged estimate
            if self._xy is not None:
                xy = self._xy[i]
                lags = self._msd_lags(n_block)
                d_par[i] = window_msd_diffusion(xy, lags, self.timestep)
                d_par_blocks[i], d_par_err[i] = block_msd_diffusion(xy, lags, self.timestep, nb)
            if self._solvent is not None:  # the medium, by the same fit as the ion
                sol = self._solvent[i]
                d_sol[i] = window_msd_diffusion(sol, lags, self.timestep)
                d_sol_blocks[i], d_sol_err[i] = block_msd_diffusion(sol, lags, self.timestep, nb)
        # --- F by MBAR on decorrelated samples
        samples, g = self._decorrelated()
        x = np.concatenate(samples)
        lo = np.floor(x.min() / self.bin_width) * self.bin_width
        n_bins = int(np.ceil((x.max() - lo) / self.bin_width - 1e-9))
        edges = lo + self.bin_width * np.arange(max(n_bins, 1) + 1)
        f, df, counts, mbar, f_cov = self._free_energy(samples, edges, None)
        overlap = np.asarray(mbar.compute_overlap()["matrix"])
        neighbour = np.minimum(np.diag(overlap, 1), np.diag(overlap, -1))
        poor = [(int(i), int(i) + 1) for i in np.flatnonzero(neighbour < self.overlap_threshold)]
        for i, j in poor:
            warnings.append(
                f"windows {i} and {j} (z = {self.centers[i]:.3g}, {self.centers[j]:.3g} Å) "
                f"overlap {neighbour[i]:.3g} < {self.overlap_threshold}: add a window between "
                "them or soften k there"
            )
        mid = 0.5 * (edges[1:] + edges[:-1])
        # --- convergence: first half vs second half, family-wise false-alarm rate alpha
        from scipy import stats

        alpha = self.convergence_alpha
        halves: dict[str, Any] = {}
        ref = int(np.argmax(counts))  # the best-sampled bin: present in both halves
        f_h, df_h = [], []
        for part in (0, 1):
            sub = []
            for a, gi in zip(self._h, g, strict=True):
                n2 = a.shape[0] // 2
                seg = a[part * n2 : (part + 1) * n2]
                idx = np.arange(0, seg.shape[0], max(gi, 1.0)).astype(int)
                sub.append(seg[idx].ravel())
            fh, dfh, _, _, _ = self._free_energy(sub, edges, ref, mbar.f_k)
            f_h.append(fh)
            df_h.append(dfh)
        with np.errstate(invalid="ignore", divide="ignore"):
            f_dev = np.abs(f_h[0] - f_h[1]) / np.hypot(df_h[0], df_h[1])
        f_dev[~np.isfinite(f_dev)] = np.nan
        n_cmp = max(int(np.isfinite(f_dev).sum()), 1)
        f_thr = float(stats.norm.isf(alpha / (2 * n_cmp)))
        halves["reference_bin"] = ref
        halves["free_energy"] = np.array(f_h)
        halves["free_energy_err"] = np.array(df_h)
        halves["free_energy_deviation_sigma"] = f_dev
        halves["free_energy_threshold_sigma"] = f_thr
        halves["free_energy_max_deviation_sigma"] = (
            float(np.nanmax(f_dev)) if np.isfinite(f_dev).any() else float("nan")
        )
        if halves["free_energy_max_deviation_sigma"] > f_thr:
            worst = int(np.nanargmax(f_dev))
            warnings.append(
                f"F(z) of the first and second half differ by {f_dev[worst]:.2g} standard "
                f"errors at z = {mid[worst]:.3g} Å (limit {f_thr:.2g} for {n_cmp} bins): not "
                "converged; run the windows longer or discard more of their start"
            )
        # the mean height of each window: a drift shows here first
        n2s = [a.shape[0] // 2 for a in self._h]
        zm = np.array(
            [[a[:n2].mean(), a[n2 : 2 * n2].mean()] for a, n2 in zip(self._h, n2s, strict=True)]
        ).T
        zs = np.array(
            [
                [a[:n2].std(ddof=1), a[n2 : 2 * n2].std(ddof=1)] / np.sqrt(n2 * a.shape[1] / gi)
                for a, n2, gi in zip(self._h, n2s, g, strict=True)
            ]
        ).T
        z_dev = np.abs(zm[0] - zm[1]) / np.hypot(zs[0], zs[1])
        z_thr = float(stats.norm.isf(alpha / (2 * n_win)))
        halves["z_mean"] = zm
        halves["z_mean_err"] = zs
        halves["z_mean_deviation_sigma"] = z_dev
        halves["z_mean_threshold_sigma"] = z_thr
        for i in np.flatnonzero(z_dev > z_thr):
            warnings.append(
                f"window {i} (z = {self.centers[i]:.3g} Å): the mean height of the first and "
                f"second half differ by {z_dev[i]:.2g} standard errors (limit {z_thr:.2g}): "
                "the window drifts; run it longer or discard more of its start"
            )
        half_nb = nb // 2
        d_thr = float(stats.t.isf(alpha / (2 * n_win), df=nb - 2))
        halves["D_threshold_sigma"] = d_thr
        for name, blocks in (("D_perp", d_perp_blocks), ("D_par", d_par_blocks)):
            if name == "D_par" and self._xy is None:
                continue
            h1, h2 = blocks[:, :half_nb], blocks[:, half_nb:]
            m = np.array([h1.mean(axis=1), h2.mean(axis=1)])
            # spread pooled within the halves (nb - 2 degrees of freedom; a drift between
            # the halves does not inflate it)
            s_pool = np.sqrt(0.5 * (h1.var(axis=1, ddof=1) + h2.var(axis=1, ddof=1)))
            e = s_pool / np.sqrt(half_nb)
            with np.errstate(invalid="ignore", divide="ignore"):
                dev = np.abs(m[0] - m[1]) / (np.sqrt(2.0) * e)
            halves[name] = m
            halves[f"{name}_err"] = np.array([e, e])
            halves[f"{name}_deviation_sigma"] = dev
            for i in np.flatnonzero(dev > d_thr):
                warnings.append(
                    f"window {i} (z = {self.centers[i]:.3g} Å): {name} of the first and second "
                    f"half differ by {dev[i]:.2g} standard errors (limit {d_thr:.2g}): not "
                    "converged; run the window longer"
                )
        r.centers = self.centers
        r.k = self.k
        r.temperature_K = self.temperature_K
        r.z_mean = z_mean
        r.z_std = z_std
        r.statistical_inefficiency = g
        r.n_samples = np.array([s.size for s in samples])
        r.D_perp = d_perp
        r.D_perp_err = d_perp_err
        r.D_perp_blocks = d_perp_blocks
        r.D_perp_converged = d_perp_ok
        r.tau = tau
        r.acf_cut = t_cut
        r.D_par = d_par
        r.D_par_err = d_par_err
        r.D_par_blocks = d_par_blocks
        r.D_solvent_par = d_sol
        r.D_solvent_par_err = d_sol_err
        r.D_solvent_par_blocks = d_sol_blocks
        r.msd_lags = None if lags is None else lags * self.timestep
        r.edges = edges
        r.z = mid
        r.bin_samples = counts
        r.free_energy = f
        r.free_energy_err = df
        r.free_energy_cov = f_cov
        r.free_energy_eV = f * kt
        r.free_energy_err_eV = df * kt
        r.overlap = overlap
        r.neighbour_overlap = neighbour
        r.poor_overlap = poor
        r.halves = halves
        r.warnings = warnings
        r.converged = not warnings
        return self
