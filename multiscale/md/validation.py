"""Validation quantities of an MLIP's water and electrolyte: numbers to set against experiment.

* :func:`water_density`: mass density of water (g/cm³) in the whole cell or in a z window
  (the middle of a film), from the number of water oxygens and the true water molar mass
  (18.015 g/mol, whatever masses the MD used, e.g. with :mod:`multiscale.md.hmr`). In a
  fixed-volume (NVT) bulk box it only echoes the density the box was built with: measure it
  from NPT, or from the middle of a film whose water can move to and from the interfaces.
* :func:`goo_first_peak`: position (Å) and height of the first maximum of g_OO(r), from the
  project's g(r) (:func:`multiscale.md.compute_rdf`), refined by a parabola through the three
  highest bins. The height needs a bulk box (in a slab cell the ideal-gas normalisation uses
  the cell volume, metal included, which scales g by a constant); the position does not.
  Experiment (X-ray, 298 K): 2.80 Å, height 2.57 (Skinner et al., J. Chem. Phys. 138, 074506
  (2013)).
* :func:`self_diffusion`: D from the Einstein MSD (:mod:`multiscale.extract.diffusion`, GLS fit
  with error bar), and with the Yeh–Hummer finite-size correction
  D∞ = D_PBC + 2.837297 k_B T / (6 π η L) (Yeh & Hummer, J. Phys. Chem. B 108, 15873 (2004))
  when a viscosity is given: the correction holds for a **cubic** periodic box only, which is
  checked (:func:`yeh_hummer_corrected`). Experiment at 298 K: water 2.30e-9, Na⁺ 1.33e-9,
  Cl⁻ 2.03e-9 m²/s (:data:`EXPERIMENT_D_298K`).
* :func:`first_layer_height`: height (Å) of the first maximum of the water-oxygen density
  above the top layer of a metal surface.

Every estimate carries a standard error from ``n_blocks`` contiguous blocks of frames (blocks
should be longer than the correlation time; with too few frames the error is not reliable and
the functions refuse fewer than 2 frames per block).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .rdf import RDFResult, compute_rdf

__all__ = [
    "EXPERIMENT_D_298K",
    "WATER_MOLAR_MASS",
    "WATER_VISCOSITY_298K",
    "DiffusionEstimate",
    "Estimate",
    "LayerHeight",
    "RDFPeak",
    "first_layer_height",
    "goo_first_peak",
    "self_diffusion",
    "water_density",
    "yeh_hummer_corrected",
]

#: Molar mass of H2O, g/mol.
WATER_MOLAR_MASS = 18.015
#: Shear viscosity of water at 298.15 K, Pa s (experiment, 0.890 mPa s).
WATER_VISCOSITY_298K = 0.890e-3
#: Experimental self-diffusion coefficients at 298 K, m²/s (the values issue #13 asks for).
EXPERIMENT_D_298K = {"H2O": 2.30e-9, "Na+": 1.33e-9, "Cl-": 2.03e-9}
#: Yeh–Hummer constant ξ of a cubic lattice.
YEH_HUMMER_XI = 2.837297
_AVOGADRO = 6.02214076e23
_A3_TO_CM3 = 1e-24


@dataclass(frozen=True)
class Estimate:
    """A measured value with its standard error.

    Attributes
    ----------
    value, error : float
        Value and standard error (block estimate), in ``unit``.
    unit : str
        Unit of both.
    n_frames : int
        Frames used.
    """

    value: float
    error: float
    unit: str
    n_frames: int

    def __str__(self) -> str:
        return f"{self.value:.4g} ± {self.error:.2g} {self.unit}".rstrip()


@dataclass(frozen=True)
class RDFPeak:
    """First maximum of a g(r): ``position`` (Å) and ``height`` (dimensionless)."""

    position: Estimate
    height: Estimate


@dataclass(frozen=True)
class LayerHeight:
    """First density maximum of a species above a surface.

    Attributes
    ----------
    height : Estimate
        Height of the maximum above the mean z of the top metal layer, Å.
    surface_z : float
        Mean z of the top metal layer over the frames, Å.
    """

    height: Estimate
    surface_z: float


@dataclass(frozen=True)
class DiffusionEstimate:
    """Self-diffusion coefficient, SI units.

    Attributes
    ----------
    D_pbc : Estimate
        D in the periodic cell, m²/s (Einstein relation, GLS fit with its standard error).
    D_corrected : float or None
        Yeh–Hummer corrected D∞, m²/s (None when no viscosity was given).
    correction : float or None
        The added term 2.837297 k_B T / (6 π η L), m²/s.
    box_length_m : float or None
        Cubic box edge L used in the correction, m.
    fit_range_fs : tuple of float
        Lag-time window of the fit, fs.
    """

    D_pbc: Estimate
    D_corrected: float | None
    correction: float | None
    box_length_m: float | None
    fit_range_fs: tuple[float, float]


def _frames(frames) -> list[Atoms]:
    if isinstance(frames, Atoms):
        raise TypeError("got a single Atoms object: pass a list of frames, e.g. [atoms]")
    if isinstance(frames, str) or not isinstance(frames, Sequence):
        raise TypeError(f"frames must be a list of ase.Atoms, got {type(frames).__name__}")
    frames = list(frames)
    if not frames:
        raise ValueError("frames is empty: give at least one frame")
    for f, a in enumerate(frames):
        if not isinstance(a, Atoms):
            raise TypeError(f"frame {f} is a {type(a).__name__}, not an ase.Atoms")
    return frames


def _n_blocks(n_blocks, n_frames: int) -> int:
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, numbers.Integral):
        raise TypeError(f"n_blocks must be an integer, got {n_blocks!r}")
    if n_blocks < 2 or n_frames < 2 * n_blocks:
        raise ValueError(
            f"n_blocks={n_blocks} needs n_blocks >= 2 and at least 2 frames per block, got "
            f"{n_frames} frames: give more frames or fewer blocks"
        )
    return int(n_blocks)


def _blocks(n: int, n_blocks: int) -> list[slice]:
    size = n // n_blocks
    return [slice(k * size, (k + 1) * size) for k in range(n_blocks)]


def _sem(values) -> float:
    v = np.asarray(values, dtype=float)
    return float(v.std(ddof=1) / np.sqrt(len(v)))


def _real(name: str, value, unit: str, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number ({unit}), got {value!r}")
    value = float(value)
    if not np.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite number{' > 0' if positive else ''} {unit}, "
                         f"got {value!r}")  # fmt: skip
    return value


def _parabola_peak(x: np.ndarray, y: np.ndarray, k: int) -> tuple[float, float]:
    """Vertex of the parabola through (x, y) at k-1, k, k+1 (equal spacing)."""
    if k <= 0 or k >= len(y) - 1:
        return float(x[k]), float(y[k])
    a, b, c = y[k - 1], y[k], y[k + 1]
    den = a - 2 * b + c
    if den >= 0:  # not a maximum: keep the bin
        return float(x[k]), float(b)
    off = 0.5 * (a - c) / den
    return float(x[k] + off * (x[1] - x[0])), float(b - 0.25 * (a - c) * off)


# -- density ---------------------------------------------------------------------------------
def water_density(
    frames: Sequence[Atoms],
    z_range: tuple[float, float] | None = None,
    oxygen: str = "O",
    n_blocks: int = 5,
) -> Estimate:
    """Mass density of water, g/cm³, from the count of water oxygens.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Trajectory frames (orthogonal cell along z when ``z_range`` is given); every
        ``oxygen`` atom counts as one water molecule.
    z_range : (float, float), optional
        Window ``(z_lo, z_hi)``, Å, in which water is counted (positions wrapped into the cell
        along a periodic z); the volume is the cell's xy area times ``z_hi - z_lo``. None:
        the whole cell.
    oxygen : str
        Symbol of the water oxygen.
    n_blocks : int
        Blocks for the standard error.

    Returns
    -------
    Estimate
        Density in g/cm³.
    """
    frames = _frames(frames)
    n_blocks = _n_blocks(n_blocks, len(frames))
    if z_range is not None:
        if not (isinstance(z_range, Sequence) and len(z_range) == 2):
            raise TypeError(f"z_range must be a pair (z_lo, z_hi) in Å, got {z_range!r}")
        lo = _real("z_range[0]", z_range[0], "Å", positive=False)
        hi = _real("z_range[1]", z_range[1], "Å", positive=False)
        if not hi > lo:
            raise ValueError(f"z_range must have z_hi > z_lo (Å), got {z_range!r}")
    rho = []
    for f, a in enumerate(frames):
        sel = np.array(a.get_chemical_symbols()) == oxygen
        if not sel.any():
            raise ValueError(f"frame {f} has no {oxygen!r} atom: give the water oxygen symbol")
        if z_range is None:
            n, vol = int(sel.sum()), a.get_volume()
        else:
            cell = a.cell.array
            if not np.allclose(cell[2, :2], 0) or not np.allclose(cell[:2, 2], 0):
                raise ValueError("z_range needs a cell whose third vector is along z")
            z = a.positions[sel, 2]
            if a.pbc[2]:
                z = np.mod(z, cell[2, 2])
            n = int(np.count_nonzero((z >= lo) & (z < hi)))
            vol = abs(np.linalg.det(cell[:2, :2])) * (hi - lo)
        rho.append(n * WATER_MOLAR_MASS / _AVOGADRO / (vol * _A3_TO_CM3))
    rho = np.array(rho)
    means = [rho[s].mean() for s in _blocks(len(rho), n_blocks)]
    return Estimate(float(rho.mean()), _sem(means), "g/cm³", len(frames))


# -- g_OO ------------------------------------------------------------------------------------
def goo_first_peak(
    frames: Sequence[Atoms] | RDFResult,
    r_range: tuple[float, float] = (2.2, 3.4),
    pair: tuple[str, str] = ("O", "O"),
    r_max: float = 6.0,
    n_bins: int = 120,
    n_blocks: int = 5,
) -> RDFPeak:
    """Position and height of the first maximum of g_OO(r) with block errors.

    Parameters
    ----------
    frames : sequence of ase.Atoms or RDFResult
        Periodic frames (g(r) computed with :func:`multiscale.md.compute_rdf`), or a result of
        it holding ``pair``.
    r_range : (float, float)
        Where the first maximum is looked for, Å.
    pair : (str, str)
        Element pair.
    r_max : float
        Largest distance of the g(r), Å (frames only).
    n_bins : int
        Bins of the g(r) between 0 and ``r_max`` (frames only; 0.05 Å by default).
    n_blocks : int
        Blocks for the standard errors: the peak is located in the mean g(r) of each block.

    Returns
    -------
    RDFPeak
        ``position`` in Å, ``height`` dimensionless.
    """
    if isinstance(frames, RDFResult):
        rdf = frames
        if tuple(pair) not in rdf.samples:
            raise ValueError(f"the RDFResult has no pair {pair}: it has {list(rdf.samples)}")
    else:
        frames = _frames(frames)
        rdf = compute_rdf(frames, [tuple(pair)], r_max=r_max, n_bins=n_bins, n_blocks=2)
    samples = rdf.samples[tuple(pair)]
    n_blocks = _n_blocks(n_blocks, len(samples))
    lo = _real("r_range[0]", r_range[0], "Å", positive=False)
    hi = _real("r_range[1]", r_range[1], "Å")
    inside = np.flatnonzero((rdf.r >= lo) & (rdf.r <= hi))
    if inside.size < 3:
        raise ValueError(
            f"r_range {r_range} Å holds {inside.size} bins of the g(r): widen it or use more bins"
        )

    def peak(g: np.ndarray) -> tuple[float, float]:
        k = int(inside[np.argmax(g[inside])])
        return _parabola_peak(rdf.r, g, k)

    pos, height = peak(samples.mean(axis=0))
    per_block = [peak(samples[s].mean(axis=0)) for s in _blocks(len(samples), n_blocks)]
    n = len(samples)
    return RDFPeak(
        position=Estimate(pos, _sem([p for p, _ in per_block]), "Å", n),
        height=Estimate(height, _sem([h for _, h in per_block]), "", n),
    )


# -- diffusion -------------------------------------------------------------------------------
def yeh_hummer_corrected(
    D_pbc: float, cell, temperature_K: float, viscosity_Pa_s: float
) -> tuple[float, float, float]:
    """Yeh–Hummer corrected D of a cubic periodic box.

    D∞ = D_PBC + 2.837297 k_B T / (6 π η L) (Yeh & Hummer, J. Phys. Chem. B 108, 15873
    (2004)); the constant is that of a cubic lattice, so the cell must be cubic.

    Parameters
    ----------
    D_pbc : float
        D measured in the periodic box, m²/s.
    cell : ase.cell.Cell, (3, 3) array or ase.Atoms
        The box (Å); must be cubic (three equal, orthogonal edges, 0.1 % tolerance).
    temperature_K : float
        Temperature, K.
    viscosity_Pa_s : float
        Shear viscosity of the liquid, Pa s (of the model, ideally; water's experimental
        value is :data:`WATER_VISCOSITY_298K`).

    Returns
    -------
    (float, float, float)
        D∞ (m²/s), the correction added (m²/s) and the box edge L (m).

    Raises
    ------
    ValueError
        The cell is not cubic (a slab or an orthorhombic box: the correction does not apply).
    """
    from multiscale.extract.diffusion import yeh_hummer_correction

    if isinstance(cell, Atoms):
        if not all(cell.pbc):
            raise ValueError(
                f"the Yeh-Hummer correction needs a box periodic in x, y and z, got "
                f"pbc={cell.pbc.tolist()}"
            )
        cell = cell.cell
    c = np.asarray(getattr(cell, "array", cell), dtype=float)
    if c.shape != (3, 3) or not np.isfinite(c).all():
        raise ValueError(f"cell must be a finite 3x3 matrix in Å, got {c.tolist()}")
    lengths = np.linalg.norm(c, axis=1)
    off = c / lengths[:, None]
    gram = off @ off.T
    if (
        lengths.min() <= 0
        or np.ptp(lengths) > 1e-3 * lengths.max()
        or np.abs(gram - np.eye(3)).max() > 1e-3
    ):
        raise ValueError(
            f"the Yeh-Hummer correction holds for a cubic box only; this cell has edges "
            f"{np.round(lengths, 3).tolist()} Å and cos(angles) "
            f"{np.round([gram[1, 2], gram[0, 2], gram[0, 1]], 4).tolist()}. For a slab or a "
            "non-cubic box report D_PBC uncorrected (pass viscosity_Pa_s=None)."
        )
    temperature_K = _real("temperature_K", temperature_K, "K")
    viscosity_Pa_s = _real("viscosity_Pa_s", viscosity_Pa_s, "Pa s")
    box = float(lengths.mean()) * 1e-10
    d_inf = yeh_hummer_correction(float(D_pbc), box, viscosity_Pa_s, temperature_K)
    return d_inf, d_inf - float(D_pbc), box


def self_diffusion(
    frames: Sequence[Atoms],
    selection: str | Sequence[str] | Sequence[int],
    timestep_fs: float,
    fit_start_fs: float,
    fit_stop_fs: float,
    temperature_K: float | None = None,
    viscosity_Pa_s: float | None = None,
) -> DiffusionEstimate:
    """Self-diffusion coefficient from the Einstein MSD, Yeh–Hummer corrected when asked.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Frames with unwrapped (or wrapped: they are unwrapped) positions, equally spaced.
    selection : str, list of str or list of int
        Atoms whose D is wanted (e.g. ``"O"`` for water, ``"Na"``).
    timestep_fs : float
        Time between frames, fs.
    fit_start_fs, fit_stop_fs : float
        Lag-time window of the linear (diffusive) regime, fs.
    temperature_K : float, optional
        Temperature, K (needed with ``viscosity_Pa_s``).
    viscosity_Pa_s : float, optional
        Shear viscosity, Pa s: apply the Yeh–Hummer correction (cubic boxes only, checked);
        None: report D_PBC alone.

    Returns
    -------
    DiffusionEstimate
        D in m²/s.
    """
    from multiscale.extract.diffusion import MeanSquaredDisplacement, einstein_diffusion

    frames = _frames(frames)
    timestep_fs = _real("timestep_fs", timestep_fs, "fs")
    if viscosity_Pa_s is not None:
        if temperature_K is None:
            raise ValueError("the Yeh-Hummer correction needs temperature_K (K) as well")
        # check the box before the (longer) MSD analysis
        yeh_hummer_corrected(0.0, frames[0], temperature_K, viscosity_Pa_s)
    msd = MeanSquaredDisplacement(frames, selection, timestep_fs).run()
    fit = einstein_diffusion(msd, fit_start_fs, fit_stop_fs)
    est = Estimate(fit.D_si, fit.D_err_si, "m²/s", len(frames))
    if viscosity_Pa_s is None:
        return DiffusionEstimate(est, None, None, None, fit.fit_range)
    d_inf, corr, box = yeh_hummer_corrected(fit.D_si, frames[0], temperature_K, viscosity_Pa_s)
    return DiffusionEstimate(est, d_inf, corr, box, fit.fit_range)


# -- first layer -----------------------------------------------------------------------------
def first_layer_height(
    frames: Sequence[Atoms],
    metal: str = "Cu",
    species: str = "O",
    max_height: float = 4.5,
    bin_width: float = 0.05,
    layer_tolerance: float = 1.0,
    n_blocks: int = 5,
) -> LayerHeight:
    """Height of the first density maximum of ``species`` above the top metal layer.

    The top layer is the ``metal`` atoms within ``layer_tolerance`` of the highest one in each
    frame (positions as stored: the slab must not cross the periodic boundary in z); heights
    of ``species`` atoms are taken modulo the cell height along a periodic z, so water under
    the slab's periodic image lies near the top of the range and is excluded by
    ``max_height``. The maximum of the height histogram in (0, ``max_height``] is refined by
    a parabola.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Frames of a metal slab with water (cell with its third vector along z).
    metal : str
        Symbol of the metal.
    species : str
        Symbol whose layer is measured (water oxygen: "O").
    max_height : float
        Largest height considered, Å (below the second layer: ~4.5 Å for water on metals).
    bin_width : float
        Histogram bin, Å.
    layer_tolerance : float
        Metal atoms within this of the highest one form the top layer, Å.
    n_blocks : int
        Blocks for the standard error.

    Returns
    -------
    LayerHeight
        Height in Å.
    """
    frames = _frames(frames)
    n_blocks = _n_blocks(n_blocks, len(frames))
    max_height = _real("max_height", max_height, "Å")
    bin_width = _real("bin_width", bin_width, "Å")
    layer_tolerance = _real("layer_tolerance", layer_tolerance, "Å")
    edges = np.arange(0.0, max_height + 0.5 * bin_width, bin_width)
    if len(edges) < 4:
        raise ValueError(f"max_height={max_height} Å holds fewer than 3 bins of {bin_width} Å")
    centres = 0.5 * (edges[1:] + edges[:-1])
    hists, tops = [], []
    for f, a in enumerate(frames):
        sym = np.array(a.get_chemical_symbols())
        m, s = sym == metal, sym == species
        if not m.any() or not s.any():
            raise ValueError(
                f"frame {f} has no {metal if not m.any() else species!r} atom: check metal= "
                "and species="
            )
        cell = a.cell.array
        if not np.allclose(cell[2, :2], 0) or not np.allclose(cell[:2, 2], 0):
            raise ValueError("first_layer_height needs a cell whose third vector is along z")
        zm = a.positions[m, 2]
        top = float(zm[zm >= zm.max() - layer_tolerance].mean())
        h = a.positions[s, 2] - top
        if a.pbc[2]:
            h = np.mod(h, cell[2, 2])
        hists.append(np.histogram(h, bins=edges)[0].astype(float))
        tops.append(top)
    hists = np.array(hists)

    def peak(hist: np.ndarray) -> float:
        if not hist.any():
            raise ValueError(
                f"no {species} atom within {max_height} Å of the top {metal} layer: raise "
                "max_height or check the frames"
            )
        k = int(np.argmax(hist))
        return _parabola_peak(centres, hist, k)[0]

    value = peak(hists.mean(axis=0))
    per_block = [peak(hists[sl].mean(axis=0)) for sl in _blocks(len(hists), n_blocks)]
    return LayerHeight(Estimate(value, _sem(per_block), "Å", len(frames)), float(np.mean(tops)))
