"""Radial distribution functions with block error bars, and a two-sample test between
trajectories that respects time correlation.

g_AB(r) is computed frame by frame from ASE's neighbour list (all periodic images within
``r_max``, so unwrapped positions are fine) and normalised by the ideal-gas pair density of
each frame, ``N_A N_B / V`` (``N_A (N_A - 1) / V`` for A = B), times the exact shell volume.
For a slab cell ``V`` is the cell volume, the usual convention for inhomogeneous systems.

Uncertainty and the test work on *blocks*: the frames are cut into ``n_blocks`` contiguous
blocks and each block's mean g(r) is one sample. If blocks are longer than the correlation
time, block means are nearly independent, which is what makes the error bar honest and the
test valid for correlated MD data. The test is a block permutation test: the statistic is the
sum over r bins of Welch's t² between the two sets of block means; its null distribution is
obtained by reshuffling blocks between the two trajectories (exchangeable under H0), so no
normal or chi-square approximation and no assumption about correlations between r bins is
needed. Written by hand because no installed library offers a block permutation test on
curves (scipy.stats.permutation_test permutes single observations, not blocks of curves with
this statistic, and is far slower here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

__all__ = ["RDFComparison", "RDFResult", "block_permutation_test", "compare_rdf", "compute_rdf"]


@dataclass
class RDFResult:
    """Radial distribution functions of some pairs over a trajectory.

    Attributes
    ----------
    r : ndarray
        Bin centres, Å.
    edges : ndarray
        Bin edges, Å.
    samples : dict
        ``(A, B) -> ndarray (n_frames, n_bins)``: g(r) of every frame (dimensionless).
    n_blocks : int
        Number of blocks used for :attr:`g_err`.
    """

    r: np.ndarray
    edges: np.ndarray
    samples: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    n_blocks: int = 10

    @property
    def g(self) -> dict[tuple[str, str], np.ndarray]:
        """Mean g(r) per pair."""
        return {p: s.mean(axis=0) for p, s in self.samples.items()}

    @property
    def g_err(self) -> dict[tuple[str, str], np.ndarray]:
        """Standard error of g(r) per pair from ``n_blocks`` block means."""
        return {p: _block_sem(s, self.n_blocks) for p, s in self.samples.items()}

    def plot(self, path, label: str | None = None):
        """Save g(r) with ±2σ bands for every pair to ``path`` (PNG/PDF); return the figure."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for pair, g in self.g.items():
            err = self.g_err[pair]
            (line,) = ax.plot(self.r, g, label=f"{'-'.join(pair)}" + (f" {label}" if label else ""))
            ax.fill_between(self.r, g - 2 * err, g + 2 * err, color=line.get_color(), alpha=0.3)
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("g(r)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return fig


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    return int(value)


def _block_means(samples: np.ndarray, n_blocks: int) -> np.ndarray:
    n = len(samples)
    n_blocks = _check_int("n_blocks", n_blocks, 2)
    if n_blocks < 2 or n < n_blocks:
        raise ValueError(
            f"need at least 2 blocks and one frame per block: {n} frames, n_blocks={n_blocks}; "
            "use more frames or fewer blocks"
        )
    size = n // n_blocks  # trailing frames that do not fill a block are dropped
    return samples[: size * n_blocks].reshape(n_blocks, size, *samples.shape[1:]).mean(axis=1)


def _block_sem(samples: np.ndarray, n_blocks: int) -> np.ndarray:
    m = _block_means(samples, n_blocks)
    return m.std(axis=0, ddof=1) / np.sqrt(n_blocks)


def compute_rdf(
    frames: Iterable[Atoms],
    pairs: Sequence[tuple[str, str]],
    r_max: float = 6.0,
    n_bins: int = 60,
    n_blocks: int = 10,
) -> RDFResult:
    """g(r) of chosen element pairs, frame by frame.

    Parameters
    ----------
    frames : iterable of ase.Atoms
        Periodic frames (e.g. ``ase.io.read(path, ":")``); same composition in all.
    pairs : sequence of (str, str)
        Element pairs, e.g. ``[("O", "O"), ("Na", "O")]``.
    r_max : float
        Largest distance, Å.
    n_bins : int
        Number of bins between 0 and ``r_max``.
    n_blocks : int
        Blocks for the error bars.

    Returns
    -------
    RDFResult
    """
    if (
        isinstance(r_max, bool)
        or not isinstance(r_max, int | float | np.integer | np.floating)
        or not (np.isfinite(r_max) and r_max > 0)
    ):
        raise ValueError(f"r_max must be a finite number > 0 Å, got {r_max!r}")
    n_bins = _check_int("n_bins", n_bins, 1)
    n_blocks = _check_int("n_blocks", n_blocks, 2)
    if isinstance(pairs, str) or not isinstance(pairs, Sequence):
        raise ValueError(f"pairs must be a list of (element, element) tuples, got {pairs!r}")
    pairs = [tuple(p) if not isinstance(p, str) else (p,) for p in pairs]
    if not pairs or any(len(p) != 2 or not all(isinstance(e, str) for e in p) for p in pairs):
        raise ValueError(
            f"pairs must be a non-empty list of (element, element) tuples, got {pairs!r}"
        )
    edges = np.linspace(0.0, r_max, n_bins + 1)
    shell = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    per_pair: dict[tuple[str, str], list[np.ndarray]] = {p: [] for p in pairs}
    if isinstance(frames, Atoms):
        raise TypeError("got a single Atoms object: pass a list of frames, e.g. [atoms]")
    for f, atoms in enumerate(frames):
        if not isinstance(atoms, Atoms):
            raise TypeError(f"frame {f} is a {type(atoms).__name__}, not an ase.Atoms")
        if not all(atoms.pbc) or atoms.cell.rank != 3:
            raise ValueError("g(r) needs periodic frames with a full 3D cell")
        bad = ~np.isfinite(atoms.positions).all(axis=1)
        if bad.any() or not np.isfinite(atoms.cell.array).all():
            what = f"atom {int(np.flatnonzero(bad)[0])}" if bad.any() else "the cell"
            raise ValueError(
                f"frame {f}: {what} is not finite; the trajectory is corrupt or the MD blew up: "
                f"use only the frames before it, e.g. frames[:{f}]"
            )
        symbols = np.array(atoms.get_chemical_symbols())
        i, j, d = neighbor_list("ijd", atoms, r_max)
        vol = atoms.get_volume()
        for a, b in pairs:
            na, nb = int(np.sum(symbols == a)), int(np.sum(symbols == b))
            n_pairs = na * (na - 1) if a == b else na * nb
            if n_pairs == 0:
                raise ValueError(f"pair {a}-{b}: not enough {a}/{b} atoms in the frame")
            sel = (symbols[i] == a) & (symbols[j] == b)
            counts = np.histogram(d[sel], bins=edges)[0]
            per_pair[(a, b)].append(counts * vol / (n_pairs * shell))
    if not per_pair[pairs[0]]:
        raise ValueError("no frames given")
    samples = {p: np.array(v) for p, v in per_pair.items()}
    return RDFResult(r=0.5 * (edges[1:] + edges[:-1]), edges=edges, samples=samples,
                     n_blocks=n_blocks)  # fmt: skip


def _welch_t2(ma: np.ndarray, mb: np.ndarray) -> np.ndarray:
    """Σ over features of Welch t² between block-mean sets; works on leading batch axes."""
    va = ma.var(axis=-2, ddof=1) / ma.shape[-2]
    vb = mb.var(axis=-2, ddof=1) / mb.shape[-2]
    diff = ma.mean(axis=-2) - mb.mean(axis=-2)
    den = va + vb
    with np.errstate(divide="ignore", invalid="ignore"):
        t2 = np.where(den > 0, diff**2 / np.where(den > 0, den, 1.0), 0.0)
    return t2.sum(axis=-1)


def block_permutation_test(
    a: np.ndarray,
    b: np.ndarray,
    n_blocks: int = 10,
    n_permutations: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Two-sample test for equal means of two correlated multivariate time series.

    Parameters
    ----------
    a, b : ndarray, shape (n_frames, n_features)
        Time series (frames along axis 0), e.g. per-frame g(r).
    n_blocks : int
        Blocks per series; blocks should be longer than the correlation time.
    n_permutations : int
        Random reassignments of blocks to the two groups.
    seed : int
        Seed of the permutations (the p-value is reproducible).

    Returns
    -------
    statistic : float
        Σ_bins Welch t² of the block means.
    p_value : float
        (1 + #{permuted statistic ≥ observed}) / (1 + n_permutations).
    """
    a = np.asarray(a, dtype=float).reshape(len(a), -1)
    b = np.asarray(b, dtype=float).reshape(len(b), -1)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("the series contain NaN or inf: the test needs finite data")
    n_permutations = _check_int("n_permutations", n_permutations, 1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"series have different numbers of features: {a.shape[1]} vs {b.shape[1]}")
    if n_permutations < 1:
        raise ValueError("n_permutations must be >= 1")
    ma, mb = _block_means(a, n_blocks), _block_means(b, n_blocks)
    observed = float(_welch_t2(ma, mb))
    pooled = np.concatenate([ma, mb])
    rng = np.random.default_rng(seed)
    idx = rng.permuted(np.tile(np.arange(2 * n_blocks), (n_permutations, 1)), axis=1)
    perm = pooled[idx]  # (n_permutations, 2 n_blocks, n_features)
    null = _welch_t2(perm[:, :n_blocks], perm[:, n_blocks:])
    p = (1 + int(np.sum(null >= observed - 1e-12 * abs(observed)))) / (1 + n_permutations)
    return observed, p


@dataclass(frozen=True)
class RDFComparison:
    """Outcome of :func:`compare_rdf`.

    Attributes
    ----------
    pair : tuple of str
    statistic : float
        Σ_bins Welch t² between block means.
    p_value : float
    alpha : float
        Significance level.
    reject : bool
        True if p_value < alpha (the two g(r) differ).
    verdict : str
        A sentence saying so.
    """

    pair: tuple[str, str]
    statistic: float
    p_value: float
    alpha: float
    reject: bool
    verdict: str


def compare_rdf(
    a: RDFResult,
    b: RDFResult,
    pair: tuple[str, str],
    alpha: float = 0.05,
    n_blocks: int = 10,
    n_permutations: int = 2000,
    seed: int = 0,
) -> RDFComparison:
    """Test whether two trajectories (e.g. MLIP vs reference) have the same g(r) for ``pair``.

    Parameters
    ----------
    a, b : RDFResult
        From :func:`compute_rdf` with the same bins.
    pair : tuple of str
        Which pair to compare.
    alpha : float
        Significance level (0 < alpha < 1).
    n_blocks : int
        Blocks per trajectory (each must be longer than the correlation time of g(r)).
    n_permutations : int
        Permutations for the p-value.
    seed : int
        Seed of the permutations.

    Returns
    -------
    RDFComparison
    """
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, int | float | np.integer | np.floating)
        or not 0 < alpha < 1
    ):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    pair = tuple(pair)
    if pair not in a.samples or pair not in b.samples:
        raise ValueError(f"pair {pair} not computed in both results; pass it to compute_rdf")
    if a.edges.shape != b.edges.shape or not np.allclose(a.edges, b.edges):
        raise ValueError("the two RDFs have different bins; use the same r_max and n_bins")
    stat, p = block_permutation_test(
        a.samples[pair], b.samples[pair], n_blocks, n_permutations, seed
    )
    reject = p < alpha
    verdict = (
        f"{'-'.join(pair)} g(r) differ (p = {p:.3g} < {alpha})"
        if reject
        else f"{'-'.join(pair)} g(r) consistent (p = {p:.3g} >= {alpha})"
    )
    return RDFComparison(pair, stat, p, alpha, bool(reject), verdict)
