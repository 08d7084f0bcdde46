"""Hierarchical screening of adsorbate hops on a random alloy surface (a three-level funnel).

The strategy for disordered alloys: a cheap level ranks *many* candidate steps, a better level
refines the best tens with climbing-image NEB, and DFT checks the top few.

1. **fast** — a fixed-geometry barrier estimate for every candidate: the slab is frozen and
   only the adsorbate's height is relaxed at the initial hollow, at the final hollow and at
   the bridge between them; estimate = E(bridge) − E(initial).
2. **refine** — for the ``n_refine`` best candidates of level 1: end points relaxed (adsorbate
   and unconstrained slab atoms), then a climbing-image NEB (:func:`~multiscale.properties.
   neb.neb_path`); barrier = E(saddle) − E(initial).
3. **check** — for the ``n_check`` best candidates of level 2: single-point energies of a
   cluster model of the step (the adsorbate and the metal atoms of both hollows, cut from the
   level-2 initial, saddle and final images), e.g. with :class:`coupling.PySCFCalculator`.

Each level's ranking (lowest barrier first) and the Spearman and Kendall rank correlations
between levels (:mod:`scipy.stats`) are reported, with each level's measured cost. Every
level's results are saved in ``workdir`` as JSON after each candidate (atomically) and reused
on a rerun with the same candidates and settings; the folder is locked (``filelock``) while a
run holds it.

Any ASE calculator can serve at any level (EMT, GFN-xTB through ``tblite.ase.TBLite``, CHGNet
through :func:`multiscale.mlip.chgnet_calculator`, PySCF).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import CalculationFailed, Calculator

__all__ = [
    "HopCandidate",
    "LevelResult",
    "ScreeningResult",
    "alloy_hop_candidates",
    "cluster_model",
    "screen_hops",
]

LEVELS = ("fast", "refine", "check")


# ----------------------------------------------------------------------------- candidates
@dataclass
class HopCandidate:
    """One adsorbate hop between two neighbouring hollow sites of a slab.

    Attributes
    ----------
    id : str
        Stable name, e.g. ``"s0-fcc3-hcp4"`` (slab, initial site, final site).
    initial, final : ase.Atoms
        Slab with the adsorbate (last atom) above the initial / final hollow (Å); the slab's
        constraints (fixed bottom layers) are kept.
    bridge : numpy.ndarray
        Cartesian (x, y, z) of the bridge point between the two hollows, at the adsorbate
        height (Å).
    initial_site, final_site : list of int
        Indices of the three metal atoms of each hollow.
    info : dict
        JSON-ready description: site kinds and the elements of both hollows.
    """

    id: str
    initial: Atoms = field(repr=False)
    final: Atoms = field(repr=False)
    bridge: np.ndarray = field(repr=False)
    initial_site: list[int]
    final_site: list[int]
    info: dict

    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the atoms, positions (to 1e-6 Å), cell and sites."""
        h = hashlib.sha256()
        for atoms in (self.initial, self.final):
            h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
            h.update(np.round(atoms.positions, 6).tobytes())
            h.update(np.round(atoms.cell[:], 6).tobytes())
        h.update(json.dumps([self.initial_site, self.final_site]).encode())
        return h.hexdigest()[:16]


def _hollows(slab: Atoms, top: np.ndarray, below: np.ndarray, d_nn: float) -> list[tuple]:
    """Hollow sites of the top layer: (kind, xy, three atom indices)."""
    from ase.geometry import find_mic

    sites = []
    seen = set()
    for i in top:
        _, dist = find_mic(slab.positions[top] - slab.positions[i], slab.cell, slab.pbc)
        near = [int(top[j]) for j in np.where((dist > 0.1) & (dist < 1.2 * d_nn))[0]]
        for a in near:
            for b in near:
                if a >= b:
                    continue
                va = find_mic(slab.positions[a] - slab.positions[i], slab.cell, slab.pbc)[0]
                vb = find_mic(slab.positions[b] - slab.positions[i], slab.cell, slab.pbc)[0]
                # a true triangle: the two minimum-image bonds from i are neighbours too
                # (in a 3-wide cell a row of three atoms is also mutually "nearest")
                if np.linalg.norm(vb - va) > 1.2 * d_nn:
                    continue
                key = tuple(sorted((int(i), a, b)))
                if key in seen:
                    continue
                seen.add(key)
                xy = (slab.positions[i] + (va + vb) / 3.0)[:2]
                dz = find_mic(
                    np.c_[slab.positions[below, :2] - xy, np.zeros(len(below))],
                    slab.cell,
                    slab.pbc,
                )[1]
                kind = "hcp" if dz.min() < 0.3 * d_nn else "fcc"
                sites.append((kind, xy, list(key)))
    return sites


def alloy_hop_candidates(
    host: str = "Cu",
    solute: str = "Ni",
    solute_fraction: float = 0.3,
    size: tuple[int, int, int] = (3, 3, 3),
    adsorbate: str = "H",
    height: float = 1.0,
    n_slabs: int = 1,
    seed: int = 0,
    vacuum: float = 6.0,
    lattice_constant: float | None = None,
) -> list[HopCandidate]:
    """Candidate fcc → hcp hops of an adsorbate on random-alloy fcc(111) slabs.

    Each slab is ``ase.build.fcc111(host, size)`` with a random ``solute_fraction`` of its
    atoms replaced by ``solute`` (numpy ``default_rng(seed)``, so the set is reproducible) and
    its lower layers fixed. Every fcc hollow of the top layer gives three hops, one to each
    neighbouring hcp hollow: ``3 * nx * ny`` candidates per slab.

    Parameters
    ----------
    host, solute : str
        Chemical symbols of the host metal (its lattice constant sets the slab) and the
        substituted element.
    solute_fraction : float
        Fraction of slab atoms replaced by the solute, in [0, 1].
    size : tuple of int
        Slab size (nx, ny, layers); nx, ny ≥ 2, layers ≥ 2.
    adsorbate : str
        Chemical symbol of the hopping adsorbate (placed as the last atom).
    height : float
        Initial adsorbate height above the top layer (Å).
    n_slabs : int
        Number of independent random slabs.
    seed : int
        Random seed.
    vacuum : float
        Vacuum on each side of the slab (Å).
    lattice_constant : float or None
        fcc lattice constant (Å); ASE's reference value for ``host`` when None.

    Returns
    -------
    list of HopCandidate

    Raises
    ------
    ValueError
        For an unknown element, a fraction outside [0, 1] or a slab too small.
    """
    from ase.build import fcc111
    from ase.constraints import FixAtoms
    from ase.data import atomic_numbers
    from ase.geometry import find_mic

    for name, sym in (("host", host), ("solute", solute), ("adsorbate", adsorbate)):
        if sym not in atomic_numbers:
            raise ValueError(f"{name} must be a chemical symbol such as 'Cu', got {sym!r}.")
    if isinstance(solute_fraction, bool) or not isinstance(solute_fraction, Real):
        raise ValueError(f"solute_fraction must be a number in [0, 1], got {solute_fraction!r}.")
    if not 0.0 <= solute_fraction <= 1.0:
        raise ValueError(f"solute_fraction must be in [0, 1], got {solute_fraction!r}.")
    if (
        len(size) != 3
        or any(isinstance(s, bool) or not isinstance(s, Integral) for s in size)
        or min(size) < 2
    ):
        raise ValueError(f"size must be three integers >= 2 (nx, ny, layers), got {size!r}.")
    if isinstance(n_slabs, bool) or not isinstance(n_slabs, Integral) or n_slabs < 1:
        raise ValueError(f"n_slabs must be an integer >= 1, got {n_slabs!r}.")
    if not isinstance(height, Real) or not height > 0:
        raise ValueError(f"height must be a positive distance in Å, got {height!r}.")

    rng = np.random.default_rng(seed)
    out: list[HopCandidate] = []
    for s in range(int(n_slabs)):
        slab = fcc111(host, size=tuple(int(x) for x in size), a=lattice_constant, vacuum=vacuum)
        n_sub = round(solute_fraction * len(slab))
        symbols = np.array(slab.get_chemical_symbols(), dtype=object)
        symbols[rng.choice(len(slab), size=n_sub, replace=False)] = solute
        slab.set_chemical_symbols(list(symbols))
        tags = slab.get_tags()  # 1 = top layer
        slab.set_constraint(FixAtoms(mask=tags > 1))
        top = np.where(tags == 1)[0]
        below = np.where(tags == 2)[0]
        d_nn = float(np.min(slab.get_distances(int(top[0]), top[1:], mic=True)))
        z_top = float(slab.positions[top, 2].max())
        sites = _hollows(slab, top, below, d_nn)
        fcc = [(k, x, t) for k, x, t in sites if k == "fcc"]
        hcp = [(k, x, t) for k, x, t in sites if k == "hcp"]
        for i, (_, xi, ti) in enumerate(fcc):
            for j, (_, xj, tj) in enumerate(hcp):
                shared = sorted(set(ti) & set(tj))
                if len(shared) != 2:
                    continue
                dxy = find_mic(np.r_[xj - xi, 0.0], slab.cell, slab.pbc)[0][:2]
                images = []
                for xy in (xi, xi + dxy):
                    atoms = slab.copy()
                    atoms += Atoms(adsorbate, positions=[[*xy, z_top + height]])
                    atoms.set_constraint(FixAtoms(mask=np.r_[tags > 1, False]))
                    images.append(atoms)
                info = {
                    "slab": s,
                    "initial_kind": "fcc",
                    "final_kind": "hcp",
                    "initial_elements": sorted(str(slab[k].symbol) for k in ti),
                    "final_elements": sorted(str(slab[k].symbol) for k in tj),
                    "bridge_elements": sorted(str(slab[k].symbol) for k in shared),
                    "n_solute_in_sites": int(
                        sum(slab[k].symbol == solute for k in set(ti) | set(tj))
                    ),
                }
                out.append(
                    HopCandidate(
                        id=f"s{s}-fcc{i}-hcp{j}",
                        initial=images[0],
                        final=images[1],
                        bridge=np.r_[xi + dxy / 2, z_top + height],
                        initial_site=[int(k) for k in ti],
                        final_site=[int(k) for k in tj],
                        info=info,
                    )
                )
    return out


# ----------------------------------------------------------------------------- results
@dataclass
class LevelResult:
    """One level of the funnel.

    Attributes
    ----------
    name : str
        Level name given by the caller (e.g. ``"EMT fixed-geometry"``).
    kind : {"fast", "refine", "check"}
        Which step of the funnel.
    ranking : list of str
        Candidate ids, lowest barrier first.
    barriers : dict
        Barrier (estimate) per candidate id (eV).
    records : dict
        Full per-candidate record (energies in eV, ``cost_s`` in s, flags).
    n_computed, n_reused : int
        Candidates computed in this call / taken from the work folder.
    cost_s : float
        Sum of the per-candidate wall times as measured when each was computed (s).
    failed : list of str
        Candidates whose calculation raised ``CalculationFailed`` (e.g. ``SCFError``); their
        record holds the message, they are left out of the ranking and the correlations,
        and a rerun does not retry them (move the level's JSON aside to retry).
    spot : list of str
        Refine level only: the randomly drawn spot-check candidates (below the level-1 cut).
    missed : list of str
        Refine level only: spot-check candidates whose refined barrier is below the worst of
        the refined best ``n_refine``, i.e. candidates the cheap level wrongly discarded.
    """

    name: str
    kind: str
    ranking: list[str]
    barriers: dict[str, float]
    records: dict[str, dict]
    n_computed: int
    n_reused: int
    cost_s: float
    failed: list[str] = field(default_factory=list)
    spot: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def cost_per_candidate_s(self) -> float:
        """Mean measured wall time per candidate (s)."""
        return self.cost_s / max(len(self.records), 1)

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "name": self.name,
            "kind": self.kind,
            "ranking": list(self.ranking),
            "barriers": {k: float(v) for k, v in self.barriers.items()},
            "n_candidates": len(self.records),
            "n_computed": self.n_computed,
            "n_reused": self.n_reused,
            "failed": list(self.failed),
            "spot": list(self.spot),
            "missed": list(self.missed),
            "cost_s": float(self.cost_s),
            "cost_per_candidate_s": float(self.cost_per_candidate_s),
        }


@dataclass
class ScreeningResult:
    """Outcome of :func:`screen_hops`.

    Attributes
    ----------
    levels : list of LevelResult
        The levels run, in order (fast, refine, and check when requested).
    correlations : dict
        ``"fast/refine"``, ``"refine/check"``, ``"fast/check"``: each a dict with ``n`` (common
        candidates), ``spearman`` and ``spearman_p``, ``kendall`` and ``kendall_p`` (None
        when fewer than 3 candidates are common).
    workdir : pathlib.Path
        The work folder (JSON per level and ``summary.json``).
    """

    levels: list[LevelResult]
    correlations: dict[str, dict]
    workdir: Path

    def level(self, kind: str) -> LevelResult:
        """The level of the given kind (``"fast"``, ``"refine"`` or ``"check"``)."""
        for lev in self.levels:
            if lev.kind == kind:
                return lev
        raise KeyError(f"no level {kind!r} in this result; levels: {[v.kind for v in self.levels]}")

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "levels": [lev.to_dict() for lev in self.levels],
            "correlations": self.correlations,
            "workdir": str(self.workdir),
        }

    def table(self, top: int = 10) -> str:
        """Plain-text table: the best ``top`` candidates of the last level across levels."""
        last = self.levels[-1]
        head = "candidate".ljust(20) + "".join(f"{lev.kind:>12}" for lev in self.levels)
        lines = [head + "   (barriers in eV)"]
        for cid in last.ranking[:top]:
            row = cid.ljust(20)
            for lev in self.levels:
                v = lev.barriers.get(cid)
                row += f"{v:12.3f}" if v is not None else f"{'-':>12}"
            lines.append(row)
        lines.append("")
        for lev in self.levels:
            lines.append(
                f"{lev.kind:<7} {lev.name}: {len(lev.records)} candidates, "
                f"{lev.cost_s:.1f} s ({lev.cost_per_candidate_s:.3f} s each), "
                f"computed {lev.n_computed}, reused {lev.n_reused}"
                + (f", failed {len(lev.failed)}: {lev.failed}" if lev.failed else "")
                + (
                    f"; {len(lev.spot)} spot checks below the cut, {len(lev.missed)} of them "
                    f"better than the refined best: {lev.missed}"
                    if lev.spot
                    else ""
                )
            )
        for pair, c in self.correlations.items():
            if c.get("spearman") is None:
                lines.append(f"{pair}: n = {c['n']} (too few for a rank correlation)")
            else:
                lines.append(
                    f"{pair}: n = {c['n']}, Spearman {c['spearman']:.2f} "
                    f"(p = {c['spearman_p']:.2g}), Kendall {c['kendall']:.2f} "
                    f"(p = {c['kendall_p']:.2g})"
                )
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike) -> Path:
        """Scatter plots of the barriers of consecutive levels; returns the PNG path."""
        from ._common import new_figure, save_figure

        pairs = [(a, b) for a, b in zip(self.levels[:-1], self.levels[1:], strict=True)]
        fig, axes = new_figure(1, max(len(pairs), 1), figsize=(4.5 * max(len(pairs), 1), 4))
        axes = np.atleast_1d(axes)
        for ax, (a, b) in zip(axes, pairs, strict=False):
            ids = [i for i in b.barriers if i in a.barriers]
            x = [a.barriers[i] for i in ids]
            y = [b.barriers[i] for i in ids]
            ax.plot(x, y, "o")
            ax.set_xlabel(f"{a.kind}: {a.name} barrier (eV)")
            ax.set_ylabel(f"{b.kind}: {b.name} barrier (eV)")
            c = self.correlations.get(f"{a.kind}/{b.kind}", {})
            if c.get("spearman") is not None:
                ax.set_title(f"Spearman {c['spearman']:.2f}, Kendall {c['kendall']:.2f}")
        return save_figure(fig, path)


# ----------------------------------------------------------------------------- persistence
def _atomic_write_json(path: Path, data: Any) -> None:
    from multiscale.pipeline.state import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))


class _LevelStore:
    """Per-level JSON file: {"level", "name", "settings", "results": {id: record}}."""

    def __init__(self, workdir: Path, kind: str, name: str, settings: dict) -> None:
        self.path = workdir / f"{kind}.json"
        self.data = {"level": kind, "name": name, "settings": settings, "results": {}}
        if self.path.exists():
            try:
                old = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{self.path} is not valid JSON ({exc}); move it aside to recompute this level."
                ) from exc
            if old.get("settings") != settings or old.get("name") != name:
                raise ValueError(
                    f"{self.path} holds {kind!r} results for other settings "
                    f"({old.get('name')!r}, {old.get('settings')}) than this run ({name!r}, "
                    f"{settings}); use a new workdir or move the file aside."
                )
            self.data["results"] = old.get("results", {})

    def get(self, cand: HopCandidate) -> dict | None:
        rec = self.data["results"].get(cand.id)
        if rec is not None and rec.get("fingerprint") == cand.fingerprint():
            return rec
        return None

    def put(self, cand: HopCandidate, record: dict) -> None:
        record = dict(record, fingerprint=cand.fingerprint())
        self.data["results"][cand.id] = record
        _atomic_write_json(self.path, self.data)


# ----------------------------------------------------------------------------- levels
def _check_factory(factory: Any, name: str) -> None:
    if not callable(factory):
        raise TypeError(
            f"{name} must be a callable returning an ASE calculator (e.g. EMT), got "
            f"{type(factory).__name__}."
        )


def _relax(atoms: Atoms, fmax: float, steps: int) -> bool:
    from ase.optimize import BFGS

    opt = BFGS(atoms, logfile=None)
    return bool(opt.run(fmax=fmax, steps=steps))


def _fast_level(cand: HopCandidate, calc_factory: Callable[[], Calculator], fmax: float) -> dict:
    """Frozen slab; the adsorbate's height relaxed at initial, bridge and final sites."""
    from ase.constraints import FixAtoms, FixCartesian

    n = len(cand.initial)
    energies = {}
    converged = True
    xy = {
        "initial": cand.initial.positions[-1, :2],
        "bridge": cand.bridge[:2],
        "final": cand.final.positions[-1, :2],
    }
    for label, pos in xy.items():
        atoms = cand.initial.copy()
        atoms.positions[-1, :2] = pos
        atoms.set_constraint([FixAtoms(indices=range(n - 1)), FixCartesian(n - 1, [1, 1, 0])])
        atoms.calc = calc_factory()
        converged &= _relax(atoms, fmax, 200)
        energies[label] = float(atoms.get_potential_energy())
    return {
        "barrier": energies["bridge"] - energies["initial"],
        "reaction_energy": energies["final"] - energies["initial"],
        "energies": energies,
        "converged": bool(converged),
    }


def _refine_level(
    cand: HopCandidate,
    calc_factory: Callable[[], Calculator],
    fmax: float,
    n_images: int,
    steps: int,
    geometry_file: Path,
) -> dict:
    """Relaxed end points and a climbing-image NEB; saves initial, saddle, final images."""
    from ase.io import write

    from .neb import neb_path

    ends = []
    ends_ok = True
    moved = []
    for atoms0 in (cand.initial, cand.final):
        atoms = atoms0.copy()
        atoms.calc = calc_factory()
        ends_ok &= _relax(atoms, fmax, 300)
        shift = np.linalg.norm((atoms.positions[-1] - atoms0.positions[-1])[:2])
        moved.append(float(shift))
        ends.append(atoms)
    res = neb_path(ends[0], ends[1], calc_factory, n_images=n_images, fmax=fmax, steps=steps)
    keep = [res.images[0].copy(), res.images[res.ts_index].copy(), res.images[-1].copy()]
    for image in keep:
        image.info = {}  # fcc111's adsorbate_info does not go into extxyz
        image.set_constraint()
    write(geometry_file, keep, format="extxyz")
    return {
        "barrier": float(res.barrier),
        "reaction_energy": float(res.reaction_energy),
        "energies": [float(e) for e in res.energies],
        "converged": bool(res.converged and ends_ok),
        "neb_converged": bool(res.converged),
        "endpoints_converged": bool(ends_ok),
        "adsorbate_lateral_shift": moved,
        "endpoint_left_site": bool(max(moved) > 0.7),
        "neb_steps": int(res.n_steps),
        "force_calls": int(res.n_force_calls),
        "max_force": float(res.max_force),
        "geometry_file": geometry_file.name,
    }


def cluster_model(atoms: Atoms, metal_indices: Sequence[int], adsorbate_index: int = -1) -> Atoms:
    """Cut a non-periodic cluster (adsorbate first, then the metal atoms) out of a slab.

    Metal positions are unwrapped to their minimum image around the adsorbate, so that a
    site split by the periodic boundary stays one piece.

    Parameters
    ----------
    atoms : ase.Atoms
        The slab with the adsorbate (positions in Å).
    metal_indices : sequence of int
        Indices of the metal atoms to keep.
    adsorbate_index : int
        Index of the adsorbate (default: the last atom).

    Returns
    -------
    ase.Atoms
        Cluster without cell or pbc, its centre of mass at the origin.
    """
    from ase.geometry import find_mic

    ads = int(adsorbate_index) % len(atoms)
    idx = [int(i) for i in metal_indices]
    if not idx or any(i < 0 or i >= len(atoms) or i == ads for i in idx):
        raise ValueError(
            f"metal_indices must be indices of slab atoms other than the adsorbate ({ads}), "
            f"got {list(metal_indices)!r}."
        )
    d = find_mic(atoms.positions[idx] - atoms.positions[ads], atoms.cell, atoms.pbc)[0]
    symbols = [atoms[ads].symbol] + [atoms[i].symbol for i in idx]
    cluster = Atoms(symbols, positions=np.vstack([[0.0, 0.0, 0.0], d]))
    cluster.positions -= cluster.get_center_of_mass()
    return cluster


def _check_level(
    cand: HopCandidate,
    calc_factory: Callable[[Atoms], Calculator],
    geometry_file: Path,
) -> dict:
    """Single points of the cluster model at the refined initial, saddle and final images."""
    from ase.io import read

    images = read(geometry_file, index=":", format="extxyz")
    metals = sorted(set(cand.initial_site) | set(cand.final_site))
    energies = []
    for image in images:
        cluster = cluster_model(image, metals)
        cluster.calc = calc_factory(cluster)
        energies.append(float(cluster.get_potential_energy()))
    return {
        "barrier": energies[1] - energies[0],
        "reaction_energy": energies[2] - energies[0],
        "energies": energies,
        "cluster": cluster_model(images[0], metals).get_chemical_formula(),
        "converged": True,
    }


def _rank(records: dict[str, dict]) -> list[str]:
    return sorted(records, key=lambda i: (records[i]["barrier"], i))


def _correlation(a: dict[str, float], b: dict[str, float]) -> dict:
    from scipy.stats import kendalltau, spearmanr

    ids = sorted(set(a) & set(b))
    out: dict[str, Any] = {"n": len(ids)}
    if len(ids) < 3:
        out.update(spearman=None, spearman_p=None, kendall=None, kendall_p=None)
        return out
    x = [a[i] for i in ids]
    y = [b[i] for i in ids]
    with warnings.catch_warnings():  # constant input: reported as None below
        warnings.simplefilter("ignore")
        rho, p_rho = spearmanr(x, y)
        tau, p_tau = kendalltau(x, y)
    if len(ids) <= 8 and np.isfinite(rho):
        # scipy's Spearman p-value is a t approximation (p = 0 for rho = 1 at n = 3); for a
        # few candidates count the permutations exactly (8! = 40320 at most)
        from itertools import permutations

        from scipy.stats import rankdata

        rx, ry = rankdata(x), rankdata(y)
        perms = [np.corrcoef(rx, np.array(q))[0, 1] for q in permutations(ry)]
        p_rho = float(np.mean(np.abs(perms) >= abs(rho) - 1e-12))

    def clean(v):
        return None if v is None or not np.isfinite(v) else float(v)

    out.update(
        spearman=clean(rho), spearman_p=clean(p_rho), kendall=clean(tau), kendall_p=clean(p_tau)
    )
    return out


def screen_hops(
    candidates: Sequence[HopCandidate],
    workdir: str | os.PathLike,
    fast_calc: Callable[[], Calculator],
    refine_calc: Callable[[], Calculator],
    check_calc: Callable[[Atoms], Calculator] | None = None,
    n_refine: int = 10,
    n_check: int = 3,
    n_spot: int = 0,
    seed: int = 0,
    names: tuple[str, str, str] = ("fast", "refine", "check"),
    fmax: float = 0.05,
    neb_images: int = 3,
    neb_steps: int = 300,
    progress: bool = False,
) -> ScreeningResult:
    """Run the three-level screening funnel on candidate hops, restartably.

    Parameters
    ----------
    candidates : sequence of HopCandidate
        From :func:`alloy_hop_candidates` (ids must be unique).
    workdir : str or path-like
        Work folder (created if absent); ``fast.json``, ``refine.json``, ``check.json``,
        ``refine/<id>.xyz`` (initial, saddle, final) and ``summary.json`` go there. Results
        found there for the same candidate (fingerprint) and settings are reused.
    fast_calc : callable
        ``fast_calc()`` returns the level-1 ASE calculator (energies in eV).
    refine_calc : callable
        ``refine_calc()`` returns the level-2 ASE calculator (one per NEB image).
    check_calc : callable or None
        ``check_calc(cluster)`` returns the level-3 calculator for a cluster model (its
        argument lets a DFT calculator choose charge and spin); None skips level 3.
    n_refine : int
        Number of best level-1 candidates refined by NEB (≥ 1).
    n_check : int
        Number of best level-2 candidates checked at level 3 (≥ 1).
    n_spot : int
        Extra candidates drawn at random (``seed``) from those below the level-1 cut and
        refined too (≥ 0). Refining only the best gives a rank correlation over a narrow
        range; the spot checks give it over the whole range and show whether the cheap level
        discarded a candidate that the better one would have kept (``missed`` in the result).
    seed : int
        Seed of the spot-check draw.
    names : tuple of str
        Human-readable names of the three levels (e.g. ``("EMT", "CHGNet", "PBE/STO-3G")``);
        stored with the results, so that a rerun with other calculators is not mixed in.
    fmax : float
        Force threshold for relaxations and the NEB (eV/Å).
    neb_images : int
        Moving NEB images at level 2.
    neb_steps : int
        Largest number of FIRE steps per NEB.
    progress : bool
        Print one line per computed candidate.

    Returns
    -------
    ScreeningResult

    Raises
    ------
    TypeError
        For candidates that are not :class:`HopCandidate` or factories that are not callable.
    ValueError
        For duplicate ids, out-of-range counts, or a work folder that holds results for other
        settings.
    RuntimeError
        When another run holds the work folder's lock.
    """
    from filelock import FileLock, Timeout

    cands = list(candidates)
    if not cands:
        raise ValueError("candidates is empty; build some with alloy_hop_candidates().")
    for c in cands:
        if not isinstance(c, HopCandidate):
            raise TypeError(
                f"candidates must hold HopCandidate objects, got {type(c).__name__}; build "
                "them with alloy_hop_candidates()."
            )
    if len({c.id for c in cands}) != len(cands):
        raise ValueError("candidate ids must be unique; two candidates share an id.")
    _check_factory(fast_calc, "fast_calc")
    _check_factory(refine_calc, "refine_calc")
    if check_calc is not None:
        _check_factory(check_calc, "check_calc")
    for name, value in (("n_refine", n_refine), ("n_check", n_check), ("neb_images", neb_images)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    if isinstance(n_spot, bool) or not isinstance(n_spot, Integral) or n_spot < 0:
        raise ValueError(f"n_spot must be an integer >= 0, got {n_spot!r}.")
    if isinstance(fmax, bool) or not isinstance(fmax, Real) or not fmax > 0:
        raise ValueError(f"fmax must be a positive force in eV/Å, got {fmax!r}.")
    if len(names) != 3 or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names must be three strings (fast, refine, check), got {names!r}.")

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "refine").mkdir(exist_ok=True)
    lock = FileLock(str(work / "screening.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise RuntimeError(
            f"the work folder {work} is locked by another screening run; wait for it to "
            "finish or use another workdir."
        ) from exc
    try:
        by_id = {c.id: c for c in cands}
        levels: list[LevelResult] = []

        def run_level(kind, name, settings, subset, compute):
            store = _LevelStore(work, kind, name, settings)
            records, n_new, n_old = {}, 0, 0
            for cand in subset:
                rec = store.get(cand)
                if rec is not None and rec.get("geometry_file"):
                    if not (work / "refine" / rec["geometry_file"]).exists():
                        rec = None
                if rec is None:
                    t0 = time.perf_counter()
                    try:
                        rec = compute(cand)
                    except CalculationFailed as exc:  # e.g. SCFError: recorded, not ranked
                        rec = {"barrier": None, "failed": f"{type(exc).__name__}: {exc}"}
                    rec["cost_s"] = time.perf_counter() - t0
                    rec["info"] = dict(cand.info)
                    store.put(cand, rec)
                    n_new += 1
                    if progress:
                        value = "failed" if rec["barrier"] is None else f"{rec['barrier']:.3f} eV"
                        print(
                            f"[{kind}] {cand.id}: barrier {value} ({rec['cost_s']:.2f} s)",
                            flush=True,
                        )
                else:
                    n_old += 1
                records[cand.id] = rec
            ok = {i: r for i, r in records.items() if r.get("barrier") is not None}
            lev = LevelResult(
                name=name,
                kind=kind,
                ranking=_rank(ok),
                barriers={i: float(r["barrier"]) for i, r in ok.items()},
                failed=sorted(set(records) - set(ok)),
                records=records,
                n_computed=n_new,
                n_reused=n_old,
                cost_s=float(sum(r.get("cost_s", 0.0) for r in records.values())),
            )
            levels.append(lev)
            return lev

        fast = run_level(
            "fast",
            names[0],
            {"fmax": float(fmax)},
            cands,
            lambda c: _fast_level(c, fast_calc, float(fmax)),
        )
        top = [by_id[i] for i in fast.ranking[: int(n_refine)]]
        rest = fast.ranking[int(n_refine) :]
        spot_ids = []
        if n_spot and rest:
            rng = np.random.default_rng(seed)
            pick = rng.choice(len(rest), size=min(int(n_spot), len(rest)), replace=False)
            spot_ids = [rest[k] for k in sorted(pick)]
        refine = run_level(
            "refine",
            names[1],
            {"fmax": float(fmax), "neb_images": int(neb_images), "neb_steps": int(neb_steps)},
            top + [by_id[i] for i in spot_ids],
            lambda c: _refine_level(
                c,
                refine_calc,
                float(fmax),
                int(neb_images),
                int(neb_steps),
                work / "refine" / f"{c.id}.xyz",
            ),
        )
        refine.spot = spot_ids
        kept = [i for i in refine.ranking if i not in spot_ids]
        if spot_ids and kept:
            cut = refine.barriers[kept[min(len(kept), int(n_refine)) - 1]]
            refine.missed = [
                i for i in spot_ids if i in refine.barriers and refine.barriers[i] < cut
            ]
        if check_calc is not None:
            top = [by_id[i] for i in refine.ranking[: int(n_check)]]
            run_level(
                "check",
                names[2],
                {"refine": names[1], "fmax": float(fmax), "neb_images": int(neb_images)},
                top,
                lambda c: _check_level(c, check_calc, work / "refine" / f"{c.id}.xyz"),
            )
        correlations = {}
        for a, b in ((0, 1), (1, 2), (0, 2)):
            if b < len(levels):
                correlations[f"{levels[a].kind}/{levels[b].kind}"] = _correlation(
                    levels[a].barriers, levels[b].barriers
                )
        result = ScreeningResult(levels=levels, correlations=correlations, workdir=work)
        _atomic_write_json(work / "summary.json", result.to_dict())
        return result
    finally:
        lock.release()
