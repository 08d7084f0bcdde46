"""Molecules stay molecules: a topology monitor for molecular dynamics.

An MLIP outside its training data can turn water into hydroxide and hydronium, or push two
oxygens to 1.3 Å, while forces and temperature stay unremarkable, so
:class:`multiscale.md.MDRunner`'s blow-up checks do not see it. :class:`IntegrityMonitor`
compares every few steps the bonds of the current frame with those of a reference (the start):

* **molecular bonds**: pairs of non-metal atoms (H, C, N, O, F, P, S, Cl, Br, I, ...) bonded in
  the reference, d <= ``bond_factor`` x (r_i + r_j) with ASE's covalent radii
  (:func:`ase.neighborlist.natural_cutoffs`), must stay below ``break_factor`` x (r_i + r_j);
  a non-metal pair not bonded at the start must not come closer than ``bond_factor`` x
  (r_i + r_j) (a new bond). Metal atoms (the slab, alkali and alkaline-earth ions) take part in
  no molecular bond: metal-metal and metal-adsorbate contacts change all the time and are only
  checked for overlaps.
* **water**: every water O keeps its two H within ``oh_max`` (1.3 Å): a longer O-H is a lost
  H. A foreign H within ``oh_max`` of a water O is a proton transfer (H3O+ / OH-) when it is
  nearer to that O than to its own O (the usual definition of a transferred proton: its
  nearest oxygen changed) that persists over ``transfer_checks`` consecutive checks and
  ``transfer_fs`` (100 fs: the reference model, SevenNet-0, carries an H across a compressed
  hydrogen bond and back within ~20 fs; docs/md.md); until then it is a *crossing*, recorded
  in the events file with status ``crossing`` and counted, not a violation, and the stretched
  own O-H that goes with it is not a lost H either. While the H is still
  nearer its own O it is a short hydrogen bond
  O-H···O, a thermal fluctuation that the reference models themselves show (SevenNet-0 at
  350 K reaches H···O 1.31 Å within 0.4 ps of a Cu|water|Cu sandwich), counted
  (``min_HO_A``, ``n_short_hbond_checks``) but not a violation. Two water oxygens closer than
  ``oo_min`` (2.0 Å) are a violation (liquid water: > 2.4 Å).
* **overlaps**: any pair, metal-metal and metal-adsorbate included, closer than
  ``overlap_factor`` x (r_i + r_j) (0.7: 1.85 Å for Cu-Cu, 1.64 Å for Cu-Cl, 0.68 Å for O-H).
* **the slab**: metal atoms tagged ``metal_tag`` (the builders' slab) must stay in the slab's
  layers (:func:`multiscale.md.slab.loose_metal_atoms`): an atom whose height is separated by
  more than 1 Å from every layer is an adatom or an atom leaving the metal (kind
  ``metal_left``; i = j = that atom). The shipped Cu/NaCl(aq) model lets a Cl⁻-bonded Cu atom
  leave Cu(111) at 400 K where its teacher pulls it back (its committee's force spread on
  that atom jumps tenfold as it leaves): without this check the run goes on in a state the
  model cannot describe. Atoms already outside the layers in the reference are not watched.

Distances use the minimum image under periodic boundary conditions
(:func:`ase.neighborlist.neighbor_list`, :func:`ase.geometry.find_mic`); unwrapped positions
are fine. With ``reactive_species`` the chemistry of those elements (or of the water, ``"H2O"``)
is declared expected: their bond changes are recorded as *events* and never stop a run;
overlaps are never exempt. Policy ``"stop"`` raises :class:`MDIntegrityError` at the first
violation (keeping the last frame that passed), ``"flag"`` records violations and goes on.
Files (in ``output_dir``): ``integrity.csv`` (one row per check: step, time, smallest O-O,
largest water O-H, counts) and ``integrity_events.csv`` (one row when a violation or event
appears, with status ``violation`` or ``event``, and one when it is gone, status ``cleared``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.geometry import find_mic
from ase.io import write
from ase.neighborlist import natural_cutoffs, neighbor_list

from .runner import MDBlowUpError
from .slab import LAYER_GAP_A, SLAB_TAG, loose_metal_atoms

__all__ = [
    "NONMETALS",
    "POLICIES",
    "IntegrityCheck",
    "IntegrityEvent",
    "IntegrityMonitor",
    "MDIntegrityError",
]

#: Elements that form molecular (covalent) bonds; every other element counts as a metal.
NONMETALS = frozenset("H He B C N O F Ne Si P S Cl Ar Ge As Se Br Kr Sb Te I Xe At Rn".split())
#: What a violation does: ``"stop"`` raises :class:`MDIntegrityError`, ``"flag"`` records it.
POLICIES = ("stop", "flag")
WATER_NAMES = ("H2O", "water")
CHECKS_HEADER = [
    "step", "time_fs", "min_OO_A", "max_OH_A", "n_violations", "n_events", "min_HO_A",
]  # fmt: skip
EVENTS_HEADER = [
    "step", "time_fs", "kind", "status", "i", "j", "element_i", "element_j", "distance_A",
    "limit_A", "message",
]  # fmt: skip
CHECKS_FILE = "integrity.csv"
EVENTS_FILE = "integrity_events.csv"


class MDIntegrityError(MDBlowUpError):
    """Molecules fell apart or atoms overlap (see :class:`IntegrityMonitor`).

    Attributes
    ----------
    step : int
        Step at which the violation was seen.
    last_good : pathlib.Path
        ``last_good.traj``: the last frame that passed the integrity check.
    violations : list of IntegrityEvent
        What was found.
    """

    def __init__(self, message: str, step: int, last_good: Path, violations: list):
        super().__init__(message, step=step, last_good=last_good)
        self.violations = violations


@dataclass(frozen=True)
class IntegrityEvent:
    """One finding of a check.

    Attributes
    ----------
    kind : str
        ``"bond_broken"``, ``"bond_formed"``, ``"O-O_close"``, ``"overlap"``,
        ``"metal_left"`` (a slab atom outside the slab's layers) or ``"proton_crossing"``
        (a water H first seen nearer a foreign O; see :attr:`IntegrityCheck.crossings`).
    i, j : int
        Atom indices (i < j, or the O first for O-H; i = j = the atom for ``metal_left``).
    element_i, element_j : str
    distance_A : float
        Minimum-image distance, Å (``metal_left``: the atom's distance from the nearest
        layer's plane).
    limit_A : float
        The threshold it crossed, Å.
    exempt : bool
        True when a declared reactive species is involved (an event, not a violation).
    message : str
        One line naming the atoms, the distance and the rule.
    """

    kind: str
    i: int
    j: int
    element_i: str
    element_j: str
    distance_A: float
    limit_A: float
    exempt: bool
    message: str


@dataclass
class IntegrityCheck:
    """Result of :meth:`IntegrityMonitor.check` for one frame.

    Attributes
    ----------
    step : int
    time_fs : float or None
        Simulated time, fs.
    violations : list of IntegrityEvent
        Findings that do not involve a declared reactive species.
    events : list of IntegrityEvent
        Findings that do (expected chemistry).
    min_OO_A : float or None
        Smallest O-O distance, Å, between oxygens not bonded to each other (None: no pair
        within the search radius, 3 Å).
    max_OH_A : float or None
        Largest O-H distance, Å, of the reference waters (None: no water).
    min_HO_A : float or None
        Shortest distance, Å, between a water H and an oxygen other than its own (the H···O of
        the tightest hydrogen bond; None: none within the search radius).
    crossings : list of IntegrityEvent
        Water H first seen nearer to a foreign O than to its own at this check (a proton
        transfer only if it persists; see ``transfer_checks``).
    """

    step: int
    time_fs: float | None
    violations: list[IntegrityEvent] = field(default_factory=list)
    events: list[IntegrityEvent] = field(default_factory=list)
    min_OO_A: float | None = None
    max_OH_A: float | None = None
    min_HO_A: float | None = None
    crossings: list[IntegrityEvent] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No violation (events of reactive species are allowed)."""
        return not self.violations


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def _pair(d: float, limit: float) -> str:
    """``"1.62 Å > 1.30 Å"``, with a third decimal when two would make them look equal."""
    f = ".2f" if abs(round(d, 2) - round(limit, 2)) > 1e-9 else ".3f"
    return f"{d:{f}} Å {'>' if d > limit else '<'} {limit:{f}} Å"


def _fmt_time(time_fs: float | None) -> str:
    return "" if time_fs is None else f", t = {time_fs:.1f} fs"


class IntegrityMonitor:
    """Check that molecules keep their bonds and atoms do not overlap (see the module text).

    Parameters
    ----------
    reference : ase.Atoms
        The structure whose bonds are the reference (normally the start of the run, e.g. the
        builder's output). Only its positions, numbers, cell and pbc are used.
    policy : {"stop", "flag"}
        ``"stop"``: :meth:`__call__` raises :class:`MDIntegrityError` at the first violation.
        ``"flag"``: violations are recorded and the run goes on.
    reactive_species : iterable of str
        Element symbols (e.g. ``["Cu", "Cl"]``) and/or ``"H2O"`` (all reference waters) whose
        bond changes are expected chemistry: recorded as events, never a violation.
    interval : int or None
        Steps between checks in :class:`~multiscale.md.MDRunner`; None: the runner's
        ``traj_interval``.
    bond_factor : float
        Non-metal pairs within ``bond_factor`` x (sum of covalent radii) are bonded; a pair not
        bonded in the reference that comes this close forms a bond (1.2: O-H 1.16 Å).
    break_factor : float
        A reference bond longer than ``break_factor`` x (sum of radii) is broken (O-H pairs use
        ``oh_max`` instead).
    oh_max : float
        Largest O-H distance of a water's own H, Å; a foreign H this close to a water O and
        nearer to it than to its own O is a transferred proton.
    oo_min : float
        Smallest allowed distance between two oxygens not bonded to each other, Å.
    transfer_checks : int
        Consecutive checks at which a water H must be nearer to a foreign O than to its own
        before it counts as a transferred proton (1: at the first sighting).
    transfer_fs : float
        And the time, fs, from the first sighting of such a crossing to the current check
        that it must have lasted (checks without a time count checks only; 0: no time
        condition). 100 fs: a proton that returns sooner made a transient excursion along a
        short hydrogen bond, which the reference model shows too (docs/md.md).
    overlap_factor : float
        Any pair closer than ``overlap_factor`` x (sum of covalent radii) overlaps (never
        exempt).
    metal_tag : int or None
        Tag of the slab atoms whose layers are watched (the builders tag the slab 1); None,
        or fewer than 4 metal atoms with the tag: the slab is not watched.
    output_dir : str, Path or None
        Where ``integrity.csv`` and ``integrity_events.csv`` are written; None: nothing is
        written (the runner sets its own folder).
    write : bool
        Write the files (False on MPI ranks other than the writer).

    Raises
    ------
    ValueError
        Unknown policy or reactive species, non-positive thresholds.
    TypeError
        ``reference`` is not an ase.Atoms, thresholds are not numbers.
    """

    def __init__(
        self,
        reference: Atoms,
        policy: str = "stop",
        reactive_species: Iterable[str] = (),
        interval: int | None = None,
        bond_factor: float = 1.2,
        break_factor: float = 1.35,
        oh_max: float = 1.3,
        oo_min: float = 2.0,
        overlap_factor: float = 0.7,
        transfer_checks: int = 2,
        transfer_fs: float = 100.0,
        metal_tag: int | None = SLAB_TAG,
        output_dir: str | Path | None = None,
        write: bool = True,
    ):
        if not isinstance(reference, Atoms):
            raise TypeError(f"reference must be an ase.Atoms, got {type(reference).__name__}")
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if isinstance(reactive_species, str):
            reactive_species = [reactive_species]
        reactive = [str(s) for s in reactive_species]
        bad = [s for s in reactive if s not in chemical_symbols[1:] and s not in WATER_NAMES]
        if bad:
            raise ValueError(
                f"reactive_species: {bad} are neither element symbols nor 'H2O'; give e.g. "
                "['Cu', 'Cl'] or ['H2O']"
            )
        if (
            isinstance(transfer_checks, bool)
            or not isinstance(transfer_checks, int | np.integer)
            or transfer_checks < 1
        ):
            raise ValueError(f"transfer_checks must be an integer >= 1, got {transfer_checks!r}")
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int | np.integer) or interval < 1
        ):
            raise ValueError(f"interval must be an integer >= 1 or None, got {interval!r}")
        self.policy = policy
        self.reactive_species = tuple(reactive)
        self.interval = None if interval is None else int(interval)
        self.bond_factor = _positive("bond_factor", bond_factor)
        self.break_factor = _positive("break_factor", break_factor)
        self.oh_max = _positive("oh_max", oh_max)
        self.oo_min = _positive("oo_min", oo_min)
        self.overlap_factor = _positive("overlap_factor", overlap_factor)
        self.transfer_checks = int(transfer_checks)
        if isinstance(transfer_fs, bool) or not isinstance(transfer_fs, int | float | np.number):
            raise TypeError(f"transfer_fs must be a number (fs), got {transfer_fs!r}")
        if not np.isfinite(transfer_fs) or transfer_fs < 0:
            raise ValueError(f"transfer_fs must be a finite time >= 0 fs, got {transfer_fs!r}")
        self.transfer_fs = float(transfer_fs)
        if metal_tag is not None and (
            isinstance(metal_tag, bool) or not isinstance(metal_tag, int | np.integer)
        ):
            raise TypeError(f"metal_tag must be an integer tag or None, got {metal_tag!r}")
        self.metal_tag = None if metal_tag is None else int(metal_tag)
        # proton crossings seen at the last check: (checks in a row, time of the first sighting)
        self._streak: dict[tuple[int, int], tuple[int, float | None]] = {}
        if self.break_factor < self.bond_factor:
            raise ValueError(
                f"break_factor ({break_factor}) must be >= bond_factor ({bond_factor})"
            )
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.write = bool(write)
        self.last_good: Atoms | None = None
        self.n_checks = 0
        self._memory: tuple[list[dict], list[dict]] = ([], [])
        self._active: dict[tuple[str, int, int], dict] = {}  # findings present at the last check
        self._analyse(reference)

    # -- reference ------------------------------------------------------------------------
    def _analyse(self, ref: Atoms) -> None:
        self.numbers = ref.numbers.copy()
        self.symbols = np.array(ref.get_chemical_symbols())
        n = len(ref)
        self.radii = np.asarray(natural_cutoffs(ref), dtype=float)
        self.nonmetal = np.isin(self.symbols, list(NONMETALS))
        is_o = self.symbols == "O"
        is_h = self.symbols == "H"
        self.is_o, self.is_h = is_o, is_h
        # the search radius covers every threshold that a pair can cross while getting closer
        rmax = 2 * self.radii.max() if n else 0.0
        rnm = 2 * self.radii[self.nonmetal].max() if self.nonmetal.any() else 0.0
        self.cutoff = max(
            3.0, self.oo_min, self.oh_max, self.overlap_factor * rmax, self.bond_factor * rnm
        )
        i, j, d = self._pairs(ref, self.bond_factor * rnm)
        limit = self.bond_factor * (self.radii[i] + self.radii[j])
        bonded = self.nonmetal[i] & self.nonmetal[j] & (d <= limit)
        self.bonds = np.stack([i[bonded], j[bonded]], axis=1).reshape(-1, 2).astype(int)
        neighbours: list[list[int]] = [[] for _ in range(n)]
        for a, b in self.bonds:
            neighbours[a].append(int(b))
            neighbours[b].append(int(a))
        self.waters: dict[int, tuple[int, int]] = {}
        for o in np.flatnonzero(is_o):
            hs = neighbours[o]
            if len(hs) == 2 and all(is_h[h] and neighbours[h] == [o] for h in hs):
                self.waters[int(o)] = (hs[0], hs[1])
        self.water_atoms = np.zeros(n, dtype=bool)
        for o, (h1, h2) in self.waters.items():
            self.water_atoms[[o, h1, h2]] = True
        exempt = np.isin(self.symbols, [s for s in self.reactive_species if s not in WATER_NAMES])
        if any(s in WATER_NAMES for s in self.reactive_species):
            exempt |= self.water_atoms
        self.exempt = exempt
        self._water_bonds = np.array(
            [(o, h) for o, hs in self.waters.items() for h in hs], dtype=int
        ).reshape(-1, 2)
        self.h_owner = {int(h): int(o) for o, hs in self.waters.items() for h in hs}
        self.water_h = np.zeros(n, dtype=bool)
        self.water_h[list(self.h_owner)] = True
        slab = np.zeros(0, dtype=int)
        if self.metal_tag is not None:
            slab = np.flatnonzero((ref.get_tags() == self.metal_tag) & ~self.nonmetal)
        self.slab = slab if slab.size >= 4 else np.zeros(0, dtype=int)
        # an adatom built on purpose is not a departure
        self._loose_at_start = {i for i, _ in loose_metal_atoms(ref, self.slab)}

    @staticmethod
    def _pairs(atoms: Atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs i < j within ``cutoff`` (Å), each at its minimum-image distance."""
        if len(atoms) < 2 or cutoff <= 0:
            empty = np.zeros(0, dtype=int)
            return empty, empty, np.zeros(0)
        i, j, d = neighbor_list("ijd", atoms, cutoff, self_interaction=False)
        keep = i < j
        i, j, d = i[keep], j[keep], d[keep]
        # a small cell may list the same pair through several images: keep the nearest
        order = np.lexsort((d, j, i))
        i, j, d = i[order], j[order], d[order]
        first = np.ones(i.size, dtype=bool)
        first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
        return i[first], j[first], d[first]

    def _bond_lengths(self, atoms: Atoms, bonds: np.ndarray) -> np.ndarray:
        if bonds.size == 0:
            return np.zeros(0)
        vec = atoms.positions[bonds[:, 1]] - atoms.positions[bonds[:, 0]]
        if atoms.pbc.any():
            _, d = find_mic(vec, atoms.cell, atoms.pbc)
            return d
        return np.linalg.norm(vec, axis=1)

    # -- one frame ------------------------------------------------------------------------
    def _event(
        self, kind: str, a: int, b: int, d: float, limit: float, text: str
    ) -> IntegrityEvent:
        ea, eb = str(self.symbols[a]), str(self.symbols[b])
        return IntegrityEvent(
            kind=kind, i=int(a), j=int(b), element_i=ea, element_j=eb, distance_A=float(d),
            limit_A=float(limit), exempt=bool(self.exempt[a] or self.exempt[b]), message=text,
        )  # fmt: skip

    def _oh(self, a: int, b: int) -> tuple[int, int] | None:
        if self.is_o[a] and self.is_h[b]:
            return a, b
        if self.is_o[b] and self.is_h[a]:
            return b, a
        return None

    def check(self, atoms: Atoms, step: int = 0, time_fs: float | None = None) -> IntegrityCheck:
        """Check one frame against the reference; record it (files, counters, last good frame).

        Parameters
        ----------
        atoms : ase.Atoms
            The frame: same atoms, in the same order, as the reference.
        step : int
            MD step (for the record).
        time_fs : float or None
            Simulated time, fs (for the record).

        Returns
        -------
        IntegrityCheck
        """
        if not isinstance(atoms, Atoms):
            raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
        if len(atoms) != len(self.numbers) or not np.array_equal(atoms.numbers, self.numbers):
            raise ValueError(
                "atoms: not the system of the reference (atom count or elements differ); build "
                "the IntegrityMonitor from this system"
            )
        found: dict[tuple[int, int], IntegrityEvent] = {}
        r = self.radii
        # 1. reference bonds that are now too long
        lengths = self._bond_lengths(atoms, self.bonds)
        stretched_oh: dict[int, tuple[int, int]] = {}  # H -> key of its too-long own O-H
        for (a, b), d in zip(self.bonds, lengths, strict=True):
            oh = self._oh(a, b)
            if oh is not None:
                limit = self.oh_max
                if d > limit:
                    o, h = oh
                    stretched_oh[h] = (a, b)
                    what = "water " if o in self.waters else ""
                    text = (
                        f"{what}O {o} lost H {h}: O-H {_pair(d, limit)} (O {o} now has {{n_h}} H)"
                    )
                    found[(a, b)] = self._event("bond_broken", o, h, d, limit, text)
            else:
                limit = self.break_factor * (r[a] + r[b])
                if d > limit:
                    text = (
                        f"bond {self.symbols[a]} {a}-{self.symbols[b]} {b} broken: "
                        f"{_pair(d, limit)}"
                    )
                    found[(a, b)] = self._event("bond_broken", a, b, d, limit, text)
        # 2. close pairs: overlaps, O-O contacts, new bonds
        i, j, d = self._pairs(atoms, self.cutoff)
        rsum = r[i] + r[j]
        oo = self.is_o[i] & self.is_o[j]
        n = len(atoms)
        not_bonded = ~np.isin(i * n + j, self.bonds[:, 0] * n + self.bonds[:, 1])
        oo_free = oo & not_bonded
        min_oo = float(d[oo_free].min()) if oo_free.any() else None
        overlap = d < self.overlap_factor * rsum
        for k in np.flatnonzero(overlap):
            a, b = int(i[k]), int(j[k])
            limit = self.overlap_factor * rsum[k]
            text = (
                f"{self.symbols[a]} {a} and {self.symbols[b]} {b} overlap: "
                f"{_pair(d[k], limit)} ({self.overlap_factor} x sum of covalent radii)"
            )
            ev = self._event("overlap", a, b, d[k], limit, text)
            found[(a, b)] = IntegrityEvent(**{**ev.__dict__, "exempt": False})
        for k in np.flatnonzero(oo_free & ~overlap & (d < self.oo_min)):
            a, b = int(i[k]), int(j[k])
            text = f"O {a} and O {b} are {d[k]:.2f} Å apart (< {self.oo_min:.2f} Å)"
            found[(a, b)] = self._event("O-O_close", a, b, d[k], self.oo_min, text)
        new = not_bonded & ~oo & ~overlap & self.nonmetal[i] & self.nonmetal[j]
        # shortest H-bond: a water H and an oxygen other than its own
        wh = self.water_h
        hb = not_bonded & ((self.is_o[i] & wh[j]) | (wh[i] & self.is_o[j]))
        min_ho = float(d[hb].min()) if hb.any() else None
        streak: dict[tuple[int, int], tuple[int, float | None]] = {}
        crossings: list[IntegrityEvent] = []
        for k in np.flatnonzero(new):
            a, b = int(i[k]), int(j[k])
            oh = self._oh(a, b)
            if oh is not None:
                limit = self.oh_max
                if d[k] >= limit:
                    continue
                o, h = oh
                own = self.h_owner.get(h)
                extra = ""
                if own is not None:
                    d_own = float(self._bond_lengths(atoms, np.array([[own, h]]))[0])
                    if d[k] >= d_own:
                        continue  # a short hydrogen bond: H still nearest its own O
                    extra = f", nearer than to its own O {own} ({d_own:.2f} Å)"
                    n_before, t_first = self._streak.get((o, h), (0, time_fs))
                    n_seen = n_before + 1
                    streak[(o, h)] = (n_seen, t_first)
                    lasted = (
                        None if time_fs is None or t_first is None else float(time_fs - t_first)
                    )
                    if n_seen == 1:
                        crossings.append(self._event(
                            "proton_crossing", o, h, d[k], limit,
                            f"H {h} of water O {own} crossed to O {o}: {d[k]:.2f} Å < "
                            f"{d_own:.2f} Å (not yet a transfer)",
                        ))  # fmt: skip
                    if n_seen < self.transfer_checks or (
                        lasted is not None and lasted < self.transfer_fs
                    ):
                        # not yet a transfer: nor is the stretched own O-H that goes with it
                        found.pop(stretched_oh.get(h, (-1, -1)), None)
                        continue
                    extra += f", for {n_seen} checks"
                    if lasted is not None:
                        extra += f" ({lasted:.0f} fs)"
                what = "water " if o in self.waters else ""
                text = (
                    f"{what}O {o} took H {h}: O-H {_pair(d[k], limit)}{extra} (O {o} now has "
                    "{n_h} H)"
                )
                found[(a, b)] = self._event("bond_formed", o, h, d[k], limit, text)
            else:
                limit = self.bond_factor * rsum[k]
                if d[k] >= limit:
                    continue
                text = (
                    f"new bond {self.symbols[a]} {a}-{self.symbols[b]} {b}: "
                    f"{_pair(d[k], limit)} (not bonded at the start)"
                )
                found[(a, b)] = self._event("bond_formed", a, b, d[k], limit, text)
        # 3. slab atoms outside the slab's layers
        for a, dz in loose_metal_atoms(atoms, self.slab):
            if a in self._loose_at_start:
                continue
            others = np.setdiff1d(np.arange(n), self.slab)
            near = ""
            if others.size:
                dist = atoms.get_distances(a, others, mic=True)
                k = int(np.argmin(dist))
                near = f", next to {self.symbols[others[k]]} {int(others[k])} at {dist[k]:.2f} Å"
            text = (
                f"metal atom {a} ({self.symbols[a]}) left the slab's layers: {dz:.2f} Å from "
                f"the nearest layer's plane{near} (an adatom or an atom leaving the metal)"
            )
            found[(a, a)] = self._event("metal_left", a, a, dz, LAYER_GAP_A, text)
        # H count of the oxygens named (O-H within oh_max)
        if any("{n_h}" in e.message for e in found.values()):
            close_oh = d < self.oh_max
            n_h = np.zeros(len(atoms), dtype=int)
            for a, b in zip(i[close_oh], j[close_oh], strict=True):
                oh = self._oh(int(a), int(b))
                if oh is not None:
                    n_h[oh[0]] += 1
            found = {
                key: IntegrityEvent(**{**e.__dict__, "message": e.message.replace(
                    "{n_h}", str(n_h[e.i]))})
                for key, e in found.items()
            }  # fmt: skip
        max_oh = float(self._bond_lengths(atoms, self._water_bonds).max()) if self.waters else None
        self._streak = streak
        result = IntegrityCheck(
            step=int(step), time_fs=time_fs, min_OO_A=min_oo, max_OH_A=max_oh, min_HO_A=min_ho,
            crossings=crossings,
        )  # fmt: skip
        for e in sorted(found.values(), key=lambda e: (e.kind, e.i, e.j)):
            (result.events if e.exempt else result.violations).append(e)
        self.n_checks += 1
        if result.ok:
            self.last_good = atoms.copy()
            self.last_good.calc = None
        self._record(result)
        return result

    # -- files ----------------------------------------------------------------------------
    def _append(self, name: str, header: list[str], rows: list[list]) -> None:
        if self.output_dir is None or not self.write:
            return
        path = self.output_dir / name
        new = not path.exists()
        with open(path, "a", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(header)
            w.writerows(rows)

    def _record(self, res: IntegrityCheck) -> None:
        t = "" if res.time_fs is None else f"{res.time_fs:.6g}"
        check = [
            res.step, t, "" if res.min_OO_A is None else f"{res.min_OO_A:.4f}",
            "" if res.max_OH_A is None else f"{res.max_OH_A:.4f}", len(res.violations),
            len(res.events), "" if res.min_HO_A is None else f"{res.min_HO_A:.4f}",
        ]  # fmt: skip
        # a finding is recorded when it appears and when it clears, not at every check
        now = {(e.kind, e.i, e.j): e for e in res.violations + res.events}
        rows = [
            [res.step, t, e.kind, "event" if e.exempt else "violation", e.i, e.j, e.element_i,
             e.element_j, f"{e.distance_A:.4f}", f"{e.limit_A:.4f}", e.message]
            for key, e in now.items() if key not in self._active
        ]  # fmt: skip
        rows += [
            [res.step, t, e.kind, "crossing", e.i, e.j, e.element_i, e.element_j,
             f"{e.distance_A:.4f}", f"{e.limit_A:.4f}", e.message]
            for e in res.crossings
        ]  # fmt: skip
        for key in sorted(set(self._active) - set(now)):
            old = self._active[key]
            rows.append([res.step, t, key[0], "cleared", key[1], key[2], old["element_i"],
                         old["element_j"], "", "", f"cleared: {old['message']}"])  # fmt: skip
        new_rows = [dict(zip(EVENTS_HEADER, map(str, r), strict=True)) for r in rows]
        self._replay(new_rows)
        self._memory[0].append(dict(zip(CHECKS_HEADER, map(str, check), strict=True)))
        self._memory[1].extend(new_rows)
        self._append(CHECKS_FILE, CHECKS_HEADER, [check])
        if rows:
            self._append(EVENTS_FILE, EVENTS_HEADER, rows)

    def _replay(self, rows: list[dict]) -> None:
        """Update the findings active now from event rows (appearances and clearances)."""
        for r in rows:
            key = (r["kind"], int(r["i"]), int(r["j"]))
            if r["status"] == "crossing":
                continue
            if r["status"] == "cleared":
                self._active.pop(key, None)
            else:
                self._active[key] = r

    def attach(self, output_dir: str | Path, write: bool = True) -> None:
        """Write the files into ``output_dir`` (done by :class:`~multiscale.md.MDRunner`)."""
        self.output_dir = Path(output_dir)
        self.write = bool(write)

    def truncate(self, step: int) -> None:
        """Drop the records of checks after ``step`` and restore the findings active at
        ``step`` (a run resumed from a checkpoint at ``step`` redoes those checks)."""
        checks, events = self._memory
        self._memory = (
            [r for r in checks if int(r["step"]) <= step],
            [r for r in events if int(r["step"]) <= step],
        )
        if self.output_dir is not None and self.write:
            for name in (CHECKS_FILE, EVENTS_FILE):
                path = self.output_dir / name
                if not path.exists():
                    continue
                with open(path, newline="") as fh:
                    rows = list(csv.reader(fh))
                keep = rows[:1] + [row for row in rows[1:] if row and int(row[0]) <= step]
                tmp = path.with_name(path.name + ".tmp")
                with open(tmp, "w", newline="") as fh:
                    csv.writer(fh).writerows(keep)
                os.replace(tmp, path)
        self._active = {}
        self._streak = {}  # a crossing in progress at the checkpoint is seen anew
        self._replay(self._read_files()[1])

    def reset_files(self) -> None:
        """Start the records anew (a fresh run): remove this monitor's files, forget findings."""
        self._memory = ([], [])
        self._active = {}
        self._streak = {}
        if self.output_dir is None or not self.write:
            return
        for name in (CHECKS_FILE, EVENTS_FILE):
            (self.output_dir / name).unlink(missing_ok=True)

    # -- enforcing ------------------------------------------------------------------------
    def __call__(
        self,
        atoms: Atoms,
        step: int,
        time_fs: float | None = None,
        last_good_path: str | Path | None = None,
        fallback: Atoms | None = None,
    ) -> IntegrityCheck:
        """Check a frame and apply the policy.

        With policy ``"stop"`` and a violation, the last frame that passed (or ``fallback``
        when none has passed yet) is written to ``last_good_path`` and
        :class:`MDIntegrityError` is raised.

        Parameters
        ----------
        atoms : ase.Atoms
            The current frame.
        step : int
            MD step.
        time_fs : float or None
            Simulated time, fs.
        last_good_path : str, Path or None
            Where to write the last good frame (``.traj``).
        fallback : ase.Atoms or None
            Frame written when no check has passed yet.

        Returns
        -------
        IntegrityCheck
        """
        res = self.check(atoms, step, time_fs)
        if res.ok or self.policy != "stop":
            return res
        good = self.last_good if self.last_good is not None else fallback
        path = Path(last_good_path) if last_good_path is not None else None
        if path is not None and good is not None and self.write:
            write(path, good, format="traj", parallel=False)
        shown = "; ".join(e.message for e in res.violations[:5])
        more = len(res.violations) - 5
        if more > 0:
            shown += f"; and {more} more"
        where = f" The last frame that passed is in {path}." if path is not None else ""
        raise MDIntegrityError(
            f"MD integrity check failed at step {step}{_fmt_time(time_fs)}: {shown}.{where} "
            "If this chemistry is expected, declare it (reactive_species=[...], or "
            "policy='flag' to record and go on); otherwise the potential is outside its "
            "training data or the time step is too long: relax the start, reduce the time "
            "step, or use another model.",
            step=int(step),
            last_good=path,
            violations=res.violations,
        )

    # -- summary --------------------------------------------------------------------------
    def summary(self, max_events: int = 20) -> dict[str, Any]:
        """What the checks found, over all segments of a resumed run when files are written.

        A finding (a kind of problem between two atoms) is counted once per episode: from the
        check where it appears to the check where it is gone.

        Parameters
        ----------
        max_events : int
            At most this many distinct findings are listed.

        Returns
        -------
        dict
            ``policy``, ``reactive_species``, ``n_checks``, ``n_violations`` and ``n_events``
            (episodes), ``distinct`` (distinct (kind, i, j) findings), ``active_at_end``
            (findings still present at the last check), ``min_OO_A``, ``max_OH_A`` and
            ``min_HO_A`` (Å, over all checks), ``n_short_hbond_checks`` (checks whose
            tightest hydrogen bond had H···O below ``oh_max``: fluctuations, not violations),
            ``n_proton_crossings`` (sightings of a water H nearer a foreign O; a violation only
            when it persisted ``transfer_checks`` checks and ``transfer_fs``),
            ``transfer_fs``, ``first_violation`` (step or None), ``findings`` (the first
            ``max_events`` distinct ones with the step each was first seen), ``n_waters`` and
            the file names.
        """
        checks, events = self._read_files()
        mins = [float(r["min_OO_A"]) for r in checks if r["min_OO_A"]]
        maxs = [float(r["max_OH_A"]) for r in checks if r["max_OH_A"]]
        hos = [float(r["min_HO_A"]) for r in checks if r.get("min_HO_A")]
        started = [e for e in events if e["status"] not in ("cleared", "crossing")]
        n_cross = sum(e["status"] == "crossing" for e in events)
        distinct: dict[tuple, dict] = {}
        for e in started:
            key = (e["kind"], e["i"], e["j"])
            if key not in distinct:
                distinct[key] = {
                    "first_step": int(e["step"]),
                    "kind": e["kind"],
                    "status": e["status"],
                    "message": e["message"],
                }
        violations = [e for e in started if e["status"] == "violation"]
        return {
            "policy": self.policy,
            "reactive_species": list(self.reactive_species),
            "n_checks": len(checks),
            "n_violations": len(violations),
            "n_events": len(started) - len(violations),
            "distinct": len(distinct),
            "active_at_end": len(self._active),
            "min_OO_A": min(mins) if mins else None,
            "max_OH_A": max(maxs) if maxs else None,
            "min_HO_A": min(hos) if hos else None,
            "n_short_hbond_checks": sum(h < self.oh_max for h in hos),
            "n_proton_crossings": n_cross,
            "transfer_checks": self.transfer_checks,
            "transfer_fs": self.transfer_fs,
            "first_violation": int(violations[0]["step"]) if violations else None,
            "findings": list(distinct.values())[:max_events],
            "n_waters": len(self.waters),
            "files": [CHECKS_FILE, EVENTS_FILE] if self.output_dir is not None else [],
        }

    def _read_files(self) -> tuple[list[dict], list[dict]]:
        if self.output_dir is None or not self.write:
            return self._memory
        out: list[list[dict]] = []
        for name in (CHECKS_FILE, EVENTS_FILE):
            path = self.output_dir / name
            if not path.exists():
                out.append([])
                continue
            with open(path, newline="") as fh:
                out.append(list(csv.DictReader(fh)))
        return out[0], out[1]
