"""End-to-end active-learning distillation of a universal teacher into a MACE student committee.

The loop (:class:`Distillation`, a method object in PySCF's style: ``kernel()``, ``converged``,
results as attributes) is

0. **teacher MD**: Langevin MD driven by the teacher on each starting structure; every
   ``every``-th frame is a label (the teacher's own energy and forces, free of charge);
1. **train** ``n_members`` MACE students (different seeds) on all labels;
2. **explore**: MD driven by the first student (the model production MD uses) at every
   temperature, the committee evaluated every ``check_every`` steps, an
   :class:`~multiscale.md.IntegrityMonitor` on the trajectory; frames whose committee force
   deviation exceeds ``threshold`` (and the frames before an integrity violation) are
   candidates; a few frames at regular intervals are kept as an unbiased **test set**;
3. **label** the candidates (and the test frames) with the teacher on MPI ranks
   (:func:`label_frames`), and go back to 1,

until one exploration at every temperature runs its full length with no integrity violation and
the committee deviation under ``threshold``. Every stage writes its result before the next starts
(atomic writes), so a killed run resumes where it stopped; nothing is recomputed.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.parallel import DummyMPI

from multiscale.mlip.labels import _atomic_write
from multiscale.pipeline.state import atomic_write_text

# Every file access and MD run below happens on one rank (the writer, or the rank that owns a
# task): ASE's defaults (``parallel=True`` in ase.io, ``comm=world`` in Langevin and the
# velocity draw) would make each of them a broadcast over MPI_COMM_WORLD as soon as mpi4py is
# imported, which the other ranks never join (mismatched collectives, wrong data or a hang).
_SERIAL = DummyMPI()


#: Range of the Gaussian displacement (Å) of rattled teacher frames. 0.03-0.12 Å (the first
#: try) gave mean |F| 1.9 eV/Å and up to 33 eV/Å, four times the MD frames' 0.48 eV/Å: such
#: frames dominate a squared force loss and pull the students away from the liquid.
RATTLE_SIGMA_A = (0.01, 0.05)
#: Like-ion contact scans per ion element and structure (:meth:`Distillation.scan_frames`).
N_CONTACT_SCANS = 12
#: Proton-transfer scans per structure (:meth:`Distillation.scan_frames`).
N_PROTON_SCANS = 10


def _read_frames(path: Path) -> list[Atoms]:
    if not path.exists():
        return []
    return ase.io.read(path, index=":", format="extxyz", parallel=False)


#: Per-atom arrays of the MD state (restart data, repartitioned masses): not part of a label.
_MD_ARRAYS = ("md_momenta", "md_masses", "momenta", "masses")


def _bare(frame: Atoms) -> Atoms:
    """A copy of ``frame`` with neither calculator nor MD-state arrays (positions, cell, info)."""
    out = frame.copy()
    out.calc = None
    for key in _MD_ARRAYS:
        out.arrays.pop(key, None)
    return out


def _langevin(atoms: Atoms, timestep: float, temperature: float, friction: float, seed: int):
    """ASE Langevin on this rank alone (fs, K, 1/fs), noise from ``seed``."""
    from ase.md.langevin import Langevin

    return Langevin(
        atoms,
        timestep * units.fs,
        temperature_K=temperature,
        friction=friction / units.fs,
        fixcm=False,
        rng=np.random.default_rng(seed),
        comm=_SERIAL,
    )


def _labelled(frame: Atoms, energy: float, forces: np.ndarray, info: dict) -> Atoms:
    out = _bare(frame)
    out.info.update(info)
    out.calc = SinglePointCalculator(out, energy=float(energy), forces=np.asarray(forces))
    return out


# --- labelling farm ----------------------------------------------------------------------------


#: Shannon ionic radii (Å, six-fold coordination; Acta Cryst. A32, 751 (1976)) of the
#: monatomic ions whose like-ion contacts :func:`like_ion_contacts` builds.
IONIC_RADII_A = {
    "Li": 0.76, "Na": 1.02, "K": 1.38, "Rb": 1.52, "Cs": 1.67, "Mg": 0.72, "Ca": 1.00,
    "F": 1.33, "Cl": 1.81, "Br": 1.96, "I": 2.20,
}  # fmt: skip
#: Like-ion distances of a contact scan, in units of twice the ionic radius: Na⁺-Na⁺ at
#: 2.14-3.26 Å (the round-4 student's failure was at 2.29 Å), Cl⁻-Cl⁻ at 3.80-5.79 Å.
CONTACT_SCALES = (1.05, 1.2, 1.4, 1.6)


def like_ion_contacts(
    frames: Sequence[Atoms], n_scans: int, rng: np.random.Generator, name: str = "frame"
) -> list[Atoms]:
    """Frames in which two like ions (two Na⁺, two Cl⁻, ...) are placed at short distances.

    Free MD of a dilute electrolyte almost never brings two like ions into contact, so a
    student distilled from it has not learnt their repulsion, and nothing stops it from letting
    two cations approach closer than the teacher ever would. For each of ``n_scans`` scans per
    ion element with at least two atoms: a random frame, a random pair (i, j), and ion j moved
    to ``d`` from ion i for each ``d`` in ``CONTACT_SCALES`` times twice its ionic radius, in
    the direction (of 256 random ones) that leaves it farthest from every other atom. A
    placement is kept only if that clearance is at least 0.9 times ion j's nearest-neighbour
    distance in the unmodified frame, so the only new short contact is the like-ion one.

    Written by hand: ASE and matscipy offer rattling and dimer curves in vacuum, not a like-ion
    scan inside a solvated frame.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Source configurations (Å), periodic or not (minimum image where periodic).
    n_scans : int
        Scans per ion element.
    rng : numpy.random.Generator
        Source of the choices (a fixed seed makes the frames reproducible).
    name : str
        Used in the frames' ``label_id``.

    Returns
    -------
    list of ase.Atoms
        Bare frames with ``info`` keys ``label_id``, ``config_type`` ("contact"),
        ``contact_pair`` (e.g. "Na-Na") and ``contact_distance_A``.
    """
    from ase.geometry import get_distances

    out: list[Atoms] = []
    if not frames:
        return out
    symbols = np.array(frames[0].get_chemical_symbols())
    dirs = rng.normal(size=(256, 3))
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    for element in sorted(set(symbols) & set(IONIC_RADII_A)):
        ions = np.flatnonzero(symbols == element)
        if len(ions) < 2:
            continue
        for scan in range(n_scans):
            frame = frames[int(rng.integers(len(frames)))]
            i, j = (int(k) for k in rng.choice(ions, size=2, replace=False))
            others = np.array([k for k in range(len(frame)) if k not in (i, j)])
            cell, pbc = frame.cell, frame.pbc
            _, d0 = get_distances(frame.positions[j], frame.positions[others], cell, pbc)
            need = 0.9 * d0.min()
            for k, scale in enumerate(CONTACT_SCALES):
                d = scale * 2.0 * IONIC_RADII_A[element]
                trial = frame.positions[i] + d * dirs
                _, dist = get_distances(trial, frame.positions[others], cell, pbc)
                best = int(np.argmax(dist.min(axis=1)))
                if dist[best].min() < need:
                    continue
                a = _bare(frame)
                a.positions[j] = trial[best]
                a.wrap()
                a.info = {
                    "label_id": f"contact-{name}:{element}:{scan}:{k}",
                    "config_type": "contact",
                    "contact_pair": f"{element}-{element}",
                    "contact_distance_A": float(d),
                    "md_step": frame.info.get("md_step"),
                }
                out.append(a)
    return out


#: Positions of the H in a proton-transfer scan: its distance from its own O as a fraction of
#: the O···O distance, on the O···O axis (0.5: the midpoint).
PROTON_FRACTIONS = (0.40, 0.45, 0.50, 0.55)


def proton_transfer_scans(
    frames: Sequence[Atoms], n_scans: int, rng: np.random.Generator, name: str = "frame"
) -> list[Atoms]:
    """Frames in which a water H is moved along a short hydrogen bond towards the acceptor O.

    Teacher MD near equilibrium rarely puts an H near the middle of an O-H···O bond, so a
    student learns the proton-transfer barrier only from its own mistakes: in NVE replays of a
    held-out frame the round-5 students kept an H on the acceptor's side of a 2.41 Å hydrogen
    bond for 35-60 fs (up to 0.8 Å nearer the foreign O), SevenNet-0 for 18 fs (0.08 Å). For
    each of ``n_scans`` scans: a random frame, one of its four shortest water-water hydrogen
    bonds (donor O, its H, acceptor O: the H nearer its own O and within 2.2 Å of the acceptor)
    chosen at random, and the H placed on the O···O axis at ``PROTON_FRACTIONS`` of the O···O
    distance from its own O. A placement is kept only if nothing but the two oxygens comes
    closer to the H than 0.9 of its old nearest non-O neighbour distance.

    Written by hand: no library offers a proton scan inside a solvated frame.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Source configurations (Å) with water.
    n_scans : int
        Scans (each a hydrogen bond of one frame).
    rng : numpy.random.Generator
        Source of the choices.
    name : str
        Used in the frames' ``label_id``.

    Returns
    -------
    list of ase.Atoms
        Bare frames with ``info`` keys ``label_id``, ``config_type`` ("proton"),
        ``proton_fraction`` and ``OO_A`` (the hydrogen bond's O···O distance).
    """
    from ase.geometry import get_distances

    out: list[Atoms] = []
    if not frames:
        return out
    symbols = np.array(frames[0].get_chemical_symbols())
    o_idx, h_idx = np.flatnonzero(symbols == "O"), np.flatnonzero(symbols == "H")
    if len(o_idx) < 2 or len(h_idx) == 0:
        return out
    for scan in range(n_scans):
        frame = frames[int(rng.integers(len(frames)))]
        cell, pbc = frame.cell, frame.pbc
        _, d_ho = get_distances(frame.positions[h_idx], frame.positions[o_idx], cell, pbc)
        own = np.argmin(d_ho, axis=1)
        bonds = []  # (O···O, h, donor, acceptor)
        for row, h in enumerate(h_idx):
            if d_ho[row, own[row]] > 1.2:
                continue  # not a water H
            donor = o_idx[own[row]]
            for col in np.flatnonzero(d_ho[row] < 2.2):
                if col == own[row]:
                    continue
                acc = o_idx[col]
                d_oo = frame.get_distance(int(donor), int(acc), mic=True)
                bonds.append((d_oo, int(h), int(donor), int(acc)))
        if not bonds:
            continue
        bonds.sort()
        d_oo, h, donor, acc = bonds[int(rng.integers(min(4, len(bonds))))]
        axis = frame.get_distance(donor, acc, mic=True, vector=True)
        others = np.array([k for k in range(len(frame)) if k not in (h, donor, acc)])
        near = others[symbols[others] != "O"] if len(others) else others
        _, d0 = get_distances(frame.positions[h], frame.positions[near], cell, pbc)
        need = 0.9 * d0.min() if d0.size else 0.0
        for k, frac in enumerate(PROTON_FRACTIONS):
            pos = frame.positions[donor] + frac * axis
            _, d = get_distances(pos, frame.positions[near], cell, pbc)
            if d.size and d.min() < need:
                continue
            a = _bare(frame)
            a.positions[h] = pos
            a.wrap()
            a.info = {
                "label_id": f"proton-{name}:{scan}:{k}",
                "config_type": "proton",
                "proton_fraction": float(frac),
                "OO_A": float(d_oo),
                "md_step": frame.info.get("md_step"),
            }
            out.append(a)
    return out


#: Targeted frames cut from every structure's teacher MD and labelled in the teacher stage:
#: (what, labels file, generator, scans per structure, seed base).
_SCANS = (
    ("like-ion contact", "contacts.extxyz", like_ion_contacts, N_CONTACT_SCANS, 200),
    ("proton-transfer scan", "protons.extxyz", proton_transfer_scans, N_PROTON_SCANS, 300),
)


def label_frames(
    frames: Sequence[Atoms],
    make_teacher: Callable[[], Calculator],
    path: str | os.PathLike,
    provenance: dict[str, Any] | None = None,
    comm: Any = None,
) -> list[Atoms]:
    """Label frames with the teacher, spread over MPI ranks; append them to an extxyz.

    Every frame must carry a unique ``info["label_id"]`` (str). Frames whose id is already in
    ``path`` are skipped (restart). Rank ``r`` of ``comm`` labels the pending frames
    ``r, r + size, ...``; after each round of ``size`` labels rank 0 gathers them and rewrites
    the file atomically, so a kill loses at most one round. The teacher is deterministic, so the
    labels do not depend on the number of ranks (up to the reduction order of its threads).

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Configurations (Å) with ``info["label_id"]``; identical on every rank.
    make_teacher : callable
        ``make_teacher()`` returns the teacher's ASE calculator (energy eV, forces eV/Å); called
        once per rank, only when that rank has something to label.
    path : path-like
        The labels file (extxyz), written by rank 0.
    provenance : dict, optional
        Stored in every label's ``info`` (teacher name and version).
    comm : mpi4py communicator, optional
        None: serial.

    Returns
    -------
    list of ase.Atoms
        All labels in ``path`` after the call, on every rank.
    """
    ids = [f.info.get("label_id") for f in frames]
    if any(not isinstance(i, str) or not i for i in ids):
        raise ValueError("every frame needs a non-empty string info['label_id'] (its key).")
    if len(set(ids)) != len(ids):
        raise ValueError("label_id values must be unique within one call.")
    if not callable(make_teacher):
        raise TypeError(f"make_teacher must be callable, got {type(make_teacher).__name__}.")
    rank = 0 if comm is None else comm.rank
    size = 1 if comm is None else comm.size
    path = Path(path)
    done = _read_frames(path) if rank == 0 else None
    have = {str(a.info["label_id"]) for a in done} if rank == 0 else None
    if comm is not None:
        have = comm.bcast(have, root=0)
    todo = [i for i, key in enumerate(ids) if key not in have]
    teacher = None
    for start in range(0, len(todo), size):
        mine = todo[start : start + size]
        result = None
        if rank < len(mine):
            i = mine[rank]
            with ase_serial():
                teacher = teacher or make_teacher()
                atoms = frames[i].copy()
                atoms.calc = teacher
                e, f = atoms.get_potential_energy(), np.array(atoms.get_forces())
            result = (i, e, f)
        results = [result] if comm is None else comm.gather(result, root=0)
        if rank == 0:
            for r in results:
                if r is not None:
                    i, e, f = r
                    done.append(_labelled(frames[i], e, f, dict(provenance or {})))
            _atomic_write(path, done)
    if comm is not None:
        done = comm.bcast(done, root=0)
    return done


# --- teacher MD --------------------------------------------------------------------------------


def teacher_md(
    atoms: Atoms,
    teacher: Calculator,
    path: str | os.PathLike,
    n_steps: int,
    temperature: float,
    every: int = 10,
    timestep: float = 1.0,
    friction: float = 0.02,
    hydrogen_mass: float = 3.0,
    seed: int = 0,
    tag: str = "teacher",
    provenance: dict[str, Any] | None = None,
) -> tuple[list[Atoms], dict[str, Any]]:
    """Langevin MD driven by the teacher; every ``every``-th frame is stored as a label.

    Restartable: the run resumes from the last stored frame (positions and momenta). The
    structure is first relaxed for up to 100 FIRE steps (fmax 0.2 eV/Å) so that the builder's
    contacts do not heat it. An :class:`~multiscale.md.IntegrityMonitor` (policy ``"flag"``)
    checks every stored frame against the starting topology; violations are returned.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure (Å).
    teacher : ase.calculators.calculator.Calculator
        The teacher (eV, eV/Å).
    path : path-like
        extxyz of the stored frames (labels with ``info["label_id"] = f"{tag}:{step}"``).
    n_steps : int
        MD steps in all.
    temperature : float
        Langevin temperature, K.
    every : int
        Steps between stored frames.
    timestep : float
        fs.
    friction : float
        Langevin friction, 1/fs.
    hydrogen_mass : float
        Hydrogen mass after repartitioning, u (1.008: none); changes dynamics, not the
        sampled configurations' distribution.
    seed : int
        Seed of the velocities and the Langevin noise (segment ``k`` uses ``seed + k``).
    tag : str
        Prefix of the label ids.
    provenance : dict, optional
        Stored in every frame's ``info``.

    Returns
    -------
    frames : list of ase.Atoms
        All stored frames.
    summary : dict
        ``n_steps``, ``violations`` (messages, one per violation and stored frame, the stored
        part of a resumed run included), ``min_OO_A`` and ``max_OH_A`` (Å, over the stored
        frames; None without such pairs), ``T_mean_K``.
    """
    from ase.md.velocitydistribution import thermalize_momenta

    from multiscale.md.hmr import repartition_hydrogen_masses
    from multiscale.md.integrity import IntegrityMonitor
    from multiscale.properties._common import relax

    path = Path(path)
    frames = _read_frames(path)
    monitor = IntegrityMonitor(atoms, policy="flag")
    if frames:
        state = frames[-1].copy()
        state.set_masses(frames[-1].arrays["md_masses"])
        state.set_momenta(frames[-1].arrays["md_momenta"])
        step = int(frames[-1].info["md_step"])
    else:
        state, _ = relax(atoms.copy(), teacher, fmax=0.2, steps=100)
        if hydrogen_mass != 1.008:
            repartition_hydrogen_masses(state, hydrogen_mass)
        thermalize_momenta(state, temperature, comm=_SERIAL, rng=np.random.default_rng(seed))
        step = -every
    state.calc = teacher
    violations: list[str] = []
    oo: list[float] = []
    oh: list[float] = []

    def record(check: Any) -> None:
        violations.extend(v.message for v in check.violations)
        oo.extend([] if check.min_OO_A is None else [check.min_OO_A])
        oh.extend([] if check.max_OH_A is None else [check.max_OH_A])

    for f in frames:  # a resumed run reports on its stored part too
        record(monitor.check(f, step=int(f.info["md_step"]), time_fs=f.info["md_step"] * timestep))
    temps = [float(f.info["T_K"]) for f in frames]
    while step + every <= n_steps:
        if step >= 0:
            _langevin(state, timestep, temperature, friction, seed + 1 + step).run(every)
        step += every
        record(monitor.check(state, step=step, time_fs=step * timestep))
        info = dict(provenance or {})
        info.update(
            label_id=f"{tag}:{step}",
            md_step=step,
            T_K=float(state.get_temperature()),
            config_type=tag,
        )
        frame = _labelled(state, state.get_potential_energy(), state.get_forces(), info)
        frame.arrays["md_momenta"] = state.get_momenta()
        frame.arrays["md_masses"] = state.get_masses()
        frames.append(frame)
        temps.append(info["T_K"])
        _atomic_write(path, frames)
    summary = {
        "n_steps": step,
        "violations": violations,
        "min_OO_A": min(oo) if oo else None,
        "max_OH_A": max(oh) if oh else None,
        "T_mean_K": float(np.mean(temps[len(temps) // 2 :])) if temps else float("nan"),
    }
    return frames, summary


# --- exploration by student committee MD -------------------------------------------------------


def explore(
    atoms: Atoms,
    committee: Calculator,
    n_steps: int,
    temperature: float,
    threshold: float,
    timestep: float = 1.0,
    friction: float = 0.01,
    hydrogen_mass: float = 3.0,
    check_every: int = 10,
    test_every: int = 1000,
    seed: int = 0,
    tag: str = "explore",
    progress: bool = False,
    driver: Calculator | None = None,
    max_restarts: int = 0,
    n_before: int = 2,
) -> dict[str, Any]:
    """Student MD: integrity, committee force uncertainty, candidate and test frames.

    The dynamics use ``driver``'s forces (the production setting: one student), or the
    committee's mean forces when ``driver`` is None (Langevin, hydrogen masses repartitioned);
    the committee is evaluated on the checked frames only. Every ``check_every`` steps the
    frame is checked by an :class:`~multiscale.md.IntegrityMonitor` (against ``atoms``) and,
    when the committee's largest per-atom force deviation exceeds ``threshold``, kept as a
    candidate. The run stops at an integrity violation (or restarts from ``atoms``, see
    ``max_restarts``); the violating frame and the ``n_before`` checked frames before it become
    candidates too (the teacher's forces there teach the students the way back). One frame
    every ``test_every`` steps is kept for the unbiased test set.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure (Å); also the integrity reference.
    committee : ase.calculators.calculator.Calculator
        A :class:`~multiscale.mlip.CommitteeCalculator` (``max_force_std`` in its results).
    n_steps : int
        MD steps.
    temperature : float
        K.
    threshold : float
        Candidate threshold on the committee force deviation, eV/Å.
    timestep : float
        fs.
    friction : float
        Langevin friction, 1/fs.
    hydrogen_mass : float
        u.
    check_every, test_every : int
        Steps between integrity/uncertainty checks, and between test frames.
    seed : int
        Velocities and noise.
    tag : str
        Prefix of the frames' ``label_id``.
    progress : bool
        tqdm progress bar.
    driver : ase.calculators.calculator.Calculator, optional
        The calculator that moves the atoms (e.g. the committee's first member: ~2.5x cheaper
        per step than the committee mean, and the model production MD will use). None: the
        committee mean.
    max_restarts : int
        After an integrity violation, start again from ``atoms`` with new velocities (the
        step count goes on) at most this many times; 0: stop at the first violation.
    n_before : int
        Checked frames before a violation that become (pre-violation) candidates.

    Returns
    -------
    dict
        ``steps`` (done), ``completed`` (all steps, no violation), ``violations`` (str),
        ``max_force_std`` (eV/Å, largest seen), ``frac_above`` (share of checks above
        ``threshold``), ``sigma`` (per check), ``T_mean_K``, ``wall_s``, ``candidates`` and
        ``tests`` (lists of ase.Atoms with ``info["label_id"]`` and ``info["max_force_std"]``).
    """
    from ase.md.velocitydistribution import thermalize_momenta
    from tqdm import tqdm

    from multiscale.md.hmr import repartition_hydrogen_masses
    from multiscale.md.integrity import IntegrityMonitor

    t0 = time.perf_counter()

    def start(k: int) -> tuple[Atoms, Any, Any]:
        """Fresh state from ``atoms`` (start ``k``: new velocities and noise)."""
        st = atoms.copy()
        if hydrogen_mass != 1.008:
            repartition_hydrogen_masses(st, hydrogen_mass)
        rng = np.random.default_rng(seed + 7919 * k)
        thermalize_momenta(st, temperature, comm=_SERIAL, rng=rng)
        st.calc = committee if driver is None else driver
        dy = _langevin(st, timestep, temperature, friction, seed + 1 + 7919 * k)
        return st, dy, IntegrityMonitor(atoms, policy="flag")

    state, dyn, monitor = start(0)
    restarts = 0

    def snapshot(step: int, sigma: float, kind: str) -> Atoms:
        a = _bare(state)
        a.info = {"label_id": f"{tag}:{kind}:{step}", "md_step": step, "max_force_std": sigma}
        a.info["config_type"] = f"{tag}:{kind}"
        return a

    candidates, tests, recent, sigmas, temps, violations = [], [], [], [], [], []
    step = 0
    bar = tqdm(total=n_steps, desc=f"explore {temperature:.0f} K", disable=not progress)
    while step < n_steps:
        dyn.run(check_every)
        step += check_every
        bar.update(check_every)
        if driver is not None:
            probe = state.copy()
            probe.calc = committee
            probe.get_forces()
        sigma = float(committee.results["max_force_std"])
        sigmas.append(sigma)
        temps.append(float(state.get_temperature()))
        check = monitor.check(state, step=step, time_fs=step * timestep)
        if check.violations:
            violations += [f"step {step}: {v.message}" for v in check.violations]
            # the checks before it (unless already candidates: label ids must stay unique),
            # renamed as pre-violation frames, which are always labelled
            for f in recent:
                if all(f is not c for c in candidates):
                    candidates.append(f)
                f.info["config_type"] = f.info["config_type"].replace(":cand", ":previolation")
                f.info["label_id"] = f.info["label_id"].replace(":cand:", ":previolation:")
            candidates.append(snapshot(step, sigma, "violation"))
            if restarts >= max_restarts:
                break
            restarts += 1
            state, dyn, monitor = start(restarts)
            recent = []
            continue
        frame = snapshot(step, sigma, "cand")
        recent = [*recent, frame][-n_before:]
        if sigma > threshold:
            candidates.append(frame)
        if step % test_every == 0:
            tests.append(snapshot(step, sigma, "test"))
    bar.close()
    sig = np.asarray(sigmas)
    return {
        "temperature_K": float(temperature),
        "steps": step,
        "completed": step >= n_steps and not violations,
        "restarts": restarts,
        "violations": violations,
        "max_force_std": float(sig.max()) if sig.size else float("nan"),
        "frac_above": float((sig > threshold).mean()) if sig.size else float("nan"),
        "sigma": sig.tolist(),
        "T_mean_K": float(np.mean(temps[len(temps) // 2 :])) if temps else float("nan"),
        "wall_s": time.perf_counter() - t0,
        "candidates": candidates,
        "tests": tests,
    }


def select_candidates(candidates: Sequence[Atoms], n_max: int, min_gap: int) -> list[Atoms]:
    """The ``n_max`` most uncertain candidates, at least ``min_gap`` MD steps apart.

    Violation frames (``config_type`` ending in ``violation``) are always kept.
    """
    forced = [c for c in candidates if str(c.info.get("config_type", "")).endswith("violation")]
    forced_ids = {id(c) for c in forced}
    rest = sorted(
        (c for c in candidates if id(c) not in forced_ids),
        key=lambda c: -float(c.info["max_force_std"]),
    )
    chosen = list(forced)
    for c in rest:
        if len(chosen) >= max(n_max, len(forced)):
            break
        if all(abs(int(c.info["md_step"]) - int(o.info["md_step"])) >= min_gap for o in chosen):
            chosen.append(c)
    return chosen


# --- the loop ----------------------------------------------------------------------------------


@contextlib.contextmanager
def ase_serial() -> Iterator[None]:
    """Make ASE behave serially on this rank (no collective file I/O or broadcasts).

    With mpi4py imported, ASE's ``world`` is MPI's: ``ase.io.read``/``write`` read or write on
    rank 0 and broadcast, and MD objects synchronise. A task that runs on one rank while the
    others do something else (mace-torch's training reads its data with ``ase.io``) would then
    wait for, or receive, another rank's data. Inside this context ASE's world is a one-rank
    dummy.
    """
    import ase.parallel

    old = ase.parallel.world.comm
    ase.parallel.world.comm = DummyMPI()
    try:
        yield
    finally:
        ase.parallel.world.comm = old


def _distribute(tasks: Sequence[Any], fn: Callable[[Any], Any], comm: Any) -> list[Any]:
    """Run ``fn(task)`` for task ``i`` on rank ``i % size``; every rank gets all results.

    Each task runs with ASE serial on its rank (:func:`ase_serial`).
    """
    if comm is None or comm.size == 1:
        return [fn(t) for t in tasks]
    with ase_serial():
        mine = {i: fn(t) for i, t in enumerate(tasks) if i % comm.size == comm.rank}
    merged: dict[int, Any] = {}
    for part in comm.allgather(mine):
        merged.update(part)
    return [merged[i] for i in range(len(tasks))]


@dataclass
class DistillSettings:
    """Settings of :class:`Distillation`; units in the names or below.

    Attributes
    ----------
    teacher : str
        A teacher of :data:`multiscale.mlip.teachers.TEACHERS`.
    n_members : int
        Students in the committee (>= 3 for a meaningful deviation).
    temperatures : tuple of float
        Exploration temperatures, K (300 K and a 350 K margin).
    threshold : float
        Committee force-deviation threshold, eV/Å: frames above it are labelled; a converged
        committee stays below it.
    teacher_steps, teacher_every : int
        Teacher MD length per starting structure and stride of its stored frames (steps).
    teacher_temperature : float
        K.
    n_rattle : int
        Rattled teacher-MD frames per structure (σ 0.01-0.05 Å), labelled by the teacher
        (0: none).
    max_restarts : int
        An exploration that hits an integrity violation restarts from its start with new
        velocities, at most this many times, until its steps are done.
    explore_steps, final_steps : int
        MD steps of the first exploration per (structure, temperature); each iteration doubles
        it up to ``final_steps`` (20 ps at 1 fs), the length a converged committee must pass;
        the 100 ps acceptance run of one student is ``benchmarks/interface_longrun.py``.
    timestep : float
        fs (with ``hydrogen_mass``).
    hydrogen_mass : float
        u (hydrogen mass repartitioning, :mod:`multiscale.md.hmr`).
    max_new, min_gap : int
        Labels per exploration run, and their least separation in MD steps.
    test_every : int
        Steps between unbiased test frames of an exploration.
    max_iterations : int
        Train/explore/label rounds at most.
    epochs, finetune_epochs, batch_size : int
        Training of each student (seeds ``0 .. n_members-1``): ``epochs`` from scratch in round
        0, then ``finetune_epochs`` starting from the same member of the previous round
        (:func:`~multiscale.mlip.train_mace`'s ``foundation``) on all labels.
    finetune_lr : float
        Learning rate of the fine-tuning rounds (round 0 uses mace-torch's 0.01): at 0.01 the
        warm-started students' validation force error jumped from ~60 to 140-210 meV/Å
        within 10 epochs (measured), so later rounds use a 5x smaller step.
    hidden_irreps : str
        Student size (e3nn notation).
    r_max : float
        Student cutoff, Å.
    train_dtype : str
        "float32" or "float64".
    num_threads : int
        Torch threads per rank.
    """

    teacher: str = "sevennet-0"
    n_members: int = 3
    temperatures: tuple[float, ...] = (300.0, 350.0)
    threshold: float = 0.25
    teacher_steps: int = 600
    teacher_every: int = 10
    teacher_temperature: float = 350.0
    n_rattle: int = 20
    max_restarts: int = 3
    explore_steps: int = 2500
    final_steps: int = 20000
    timestep: float = 1.0
    hydrogen_mass: float = 3.0
    max_new: int = 25
    min_gap: int = 50
    test_every: int = 1000
    max_iterations: int = 8
    epochs: int = 30
    finetune_epochs: int = 10
    finetune_lr: float = 0.002
    batch_size: int = 4
    hidden_irreps: str = "16x0e"
    r_max: float = 4.5
    train_dtype: str = "float32"
    num_threads: int = 1

    def __post_init__(self) -> None:
        from multiscale.mlip.teachers import TEACHERS

        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {sorted(TEACHERS)}, got {self.teacher!r}.")
        ints = ("n_members", "teacher_steps", "teacher_every", "explore_steps", "final_steps",
                "max_new", "min_gap", "test_every", "max_iterations", "epochs", "finetune_epochs",
                "batch_size", "num_threads", "max_restarts")  # fmt: skip
        for name in ints:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")
        if self.n_members < 2:
            raise ValueError(f"n_members must be >= 2 (a committee), got {self.n_members}.")
        bad = isinstance(self.n_rattle, bool) or not isinstance(self.n_rattle, numbers.Integral)
        if bad or self.n_rattle < 0:
            raise ValueError(f"n_rattle must be a non-negative integer, got {self.n_rattle!r}.")
        for name in ("threshold", "teacher_temperature", "timestep", "hydrogen_mass", "r_max",
                     "finetune_lr"):  # fmt: skip
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {v!r}.")
        try:
            temps = tuple(float(t) for t in self.temperatures)
        except (TypeError, ValueError):
            temps = ()  # not a sequence of numbers
        if not temps or any(not 1.0 <= t <= 3000.0 for t in temps):
            raise ValueError(
                f"temperatures must be a sequence of temperatures in 1-3000 K, got "
                f"{self.temperatures!r}."
            )
        self.temperatures = temps
        if self.train_dtype not in ("float32", "float64"):
            raise ValueError(f"train_dtype must be float32 or float64, got {self.train_dtype!r}.")


class Distillation:
    """Active-learning distillation of a universal teacher into a MACE student committee.

    Parameters
    ----------
    systems : dict of str to ase.Atoms
        Starting structures (Å) by name, e.g. a Cu(111)/NaCl(aq) film and a sandwich; they are
        also the integrity references of their explorations.
    workdir : path-like
        Everything is written here (labels, models, per-round JSON); a rerun resumes.
    settings : DistillSettings, optional
    comm : mpi4py communicator, optional
        Teacher labels, student training and explorations are spread over its ranks; rank 0
        writes the shared files. Results do not depend on the number of ranks beyond thread
        round-off.
    progress : bool
        Progress bars and one line per stage on rank 0.
    make_teacher : callable, optional
        ``make_teacher()`` returns the reference calculator; default: the shipped teacher named
        in ``settings.teacher`` (another reference, e.g. PySCF, can be plugged in here; its
        name in the labels' provenance stays ``settings.teacher``).

    Attributes
    ----------
    converged : bool
        An exploration of ``final_steps`` at every temperature and structure ran with no
        integrity violation and the committee deviation under ``threshold``.
    history : list of dict
        Per round: labels, test errors, exploration summaries.
    members : list of pathlib.Path
        The last round's student models.
    """

    def __init__(
        self,
        systems: dict[str, Atoms],
        workdir: str | os.PathLike,
        settings: DistillSettings | None = None,
        comm: Any = None,
        progress: bool = True,
        make_teacher: Callable[[], Calculator] | None = None,
    ) -> None:
        if not isinstance(systems, dict) or not systems:
            raise TypeError("systems must be a non-empty dict of name -> ase.Atoms.")
        for name, atoms in systems.items():
            if not isinstance(atoms, Atoms) or len(atoms) == 0:
                raise TypeError(f"systems[{name!r}] must be a non-empty ase.Atoms.")
        self.systems = dict(systems)
        self.workdir = Path(workdir)
        self.settings = settings or DistillSettings()
        self.comm = comm
        self.rank = 0 if comm is None else comm.rank
        self.progress = progress
        if make_teacher is not None and not callable(make_teacher):
            raise TypeError(f"make_teacher must be callable, got {type(make_teacher).__name__}.")
        self._make_teacher = make_teacher
        self.converged = False
        self.history: list[dict[str, Any]] = []
        self.members: list[Path] = []
        error = None  # raised on every rank (a rank-0-only raise would leave the others waiting)
        if self.rank == 0:
            self.workdir.mkdir(parents=True, exist_ok=True)
            saved = self.workdir / "settings.json"
            mine = json.dumps(asdict(self.settings), sort_keys=True)

            def binding(text: str) -> dict:
                # how many rounds to run at most may grow on a resume; nothing else may change
                d = json.loads(text)
                d.pop("max_iterations", None)
                return d

            if saved.exists() and binding(saved.read_text()) != binding(mine):
                error = (
                    f"{saved} holds other settings than these; resume with the same settings "
                    "or use a new workdir."
                )
            else:
                atomic_write_text(saved, mine)
        if comm is not None:
            error = comm.bcast(error, root=0)
        if error is not None:
            raise ValueError(error)

    # -- helpers ----------------------------------------------------------------------------
    def _log(self, msg: str) -> None:
        if self.progress and self.rank == 0:
            print(f"[distill {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def _teacher(self) -> Calculator:
        from multiscale.mlip.teachers import teacher_calculator

        if self._make_teacher is not None:
            return self._make_teacher()
        return teacher_calculator(self.settings.teacher, self.settings.num_threads)

    @property
    def provenance(self) -> dict[str, str]:
        """Stored in every label."""
        return {"teacher": self.settings.teacher}

    def _write_json(self, path: Path, data: Any) -> None:
        if self.rank == 0:
            atomic_write_text(path, json.dumps(data, indent=1))

    # -- stages -----------------------------------------------------------------------------
    def teacher_stage(self) -> None:
        """Teacher MD of every structure (one per rank); frames appended to the labels."""
        s = self.settings

        def run(name: str) -> dict[str, Any]:
            out = self.workdir / f"teacher_{name}.json"
            if out.exists():
                return json.loads(out.read_text())
            t0 = time.perf_counter()
            _, summary = teacher_md(
                self.systems[name], self._teacher(), self.workdir / f"teacher_{name}.extxyz",
                s.teacher_steps, s.teacher_temperature, every=s.teacher_every,
                hydrogen_mass=s.hydrogen_mass, seed=0, tag=f"teacher-{name}",
                provenance=self.provenance,
            )  # fmt: skip
            summary["wall_s"] = time.perf_counter() - t0
            atomic_write_text(out, json.dumps(summary, indent=1))
            return summary

        summaries = _distribute(sorted(self.systems), run, self.comm)
        for name, summ in zip(sorted(self.systems), summaries, strict=True):
            self._log(
                f"teacher MD {name}: {summ['n_steps']} steps, T(2nd half) "
                f"{summ['T_mean_K']:.0f} K, {len(summ['violations'])} integrity violations"
            )
        if s.n_rattle:
            todo = self.rattled_frames()
            self._log(f"labelling {len(todo)} rattled teacher-MD frames")
            label_frames(todo, self._teacher, self.workdir / "rattle.extxyz",
                         self.provenance, self.comm)  # fmt: skip
        for what, file, _, _, _ in _SCANS:
            todo = self.scan_frames(file)
            if todo:
                self._log(f"labelling {len(todo)} {what} frames")
                label_frames(todo, self._teacher, self.workdir / file,
                             self.provenance, self.comm)  # fmt: skip

    def scan_frames(self, file: str) -> list[Atoms]:
        """The targeted frames of one ``_SCANS`` entry (named by its labels file), cut from each
        structure's teacher MD: like-ion contacts (``contacts.extxyz``,
        :func:`like_ion_contacts`) or proton-transfer scans (``protons.extxyz``,
        :func:`proton_transfer_scans`).

        Deterministic (seeded by the entry's seed base plus the structure's position in the
        sorted names), so a restart rebuilds the same frames and skips the labelled ones.
        """
        _, _, make, n_scans, seed = next(entry for entry in _SCANS if entry[1] == file)
        out = []
        for k, name in enumerate(sorted(self.systems)):
            frames = _read_frames(self.workdir / f"teacher_{name}.extxyz")
            out += make(frames, n_scans, np.random.default_rng(seed + k), name)
        return out

    def rattled_frames(self) -> list[Atoms]:
        """``n_rattle`` teacher-MD frames per structure with Gaussian noise (σ 0.01-0.05 Å).

        Near-equilibrium MD never visits the short contacts (compressed hydrogen bonds,
        stretched O-H) that a young student wanders into; the teacher's forces there give the
        students the repulsive walls. Deterministic (seeded by the structure's position in the
        sorted names), so a restart rebuilds the same frames and skips the labelled ones.
        """
        out = []
        for k, name in enumerate(sorted(self.systems)):
            frames = _read_frames(self.workdir / f"teacher_{name}.extxyz")
            rng = np.random.default_rng(100 + k)
            picks = rng.choice(len(frames), size=min(self.settings.n_rattle, len(frames)),
                               replace=False)  # fmt: skip
            for j, i in enumerate(picks):
                a = _bare(frames[int(i)])
                sigma = rng.uniform(*RATTLE_SIGMA_A)
                a.positions += rng.normal(0.0, sigma, a.positions.shape)
                a.info = {
                    "label_id": f"rattle-{name}:{j}",
                    "config_type": "rattle",
                    "rattle_sigma_A": float(sigma),
                    "md_step": a.info.get("md_step"),
                }
                out.append(a)
        return out

    def labels(self) -> list[Atoms]:
        """Training labels: teacher MD frames, their rattled copies and targeted scans, and labelled
        exploration candidates."""
        frames = []
        for name in sorted(self.systems):
            for f in _read_frames(self.workdir / f"teacher_{name}.extxyz"):
                for key in _MD_ARRAYS:  # keep the teacher's labels (the calculator)
                    f.arrays.pop(key, None)
                frames.append(f)
        frames += _read_frames(self.workdir / "rattle.extxyz")
        for _, file, _, _, _ in _SCANS:
            frames += _read_frames(self.workdir / file)
        return frames + _read_frames(self.workdir / "labels.extxyz")

    def test_set(self) -> list[Atoms]:
        """Unbiased held-out frames of student MD, labelled by the teacher (never trained on)."""
        return _read_frames(self.workdir / "test.extxyz")

    def train(self, it: int) -> list[Path]:
        """Train the committee of round ``it`` (members spread over ranks; skipped if done)."""
        from multiscale.mlip.train import train_mace, train_valid_split

        s = self.settings
        root = self.workdir / f"iter_{it:02d}"
        labels = self.labels()
        train, valid = train_valid_split(labels, 0.1)  # the same for every member

        def run(seed: int) -> str:
            model = root / f"m{seed}" / "student.model"
            if model.exists():
                return str(model)
            t0 = time.perf_counter()
            # round 0 from scratch; later rounds fine-tune the member of the previous round
            prev = self.workdir / f"iter_{it - 1:02d}" / f"m{seed}" / "student.model"
            warm = it > 0 and prev.exists()
            path = train_mace(
                train, valid, root / f"m{seed}", "student", seed=seed,
                hidden_irreps=s.hidden_irreps, r_max=s.r_max,
                max_num_epochs=s.finetune_epochs if warm else s.epochs,
                lr=s.finetune_lr if warm else 0.01,
                batch_size=s.batch_size, num_threads=s.num_threads,
                default_dtype=s.train_dtype, extra_args=("--pair_repulsion",),
                foundation=prev if warm else None,
            )  # fmt: skip
            atomic_write_text(
                root / f"m{seed}" / "train.json",
                json.dumps({"n_train": len(train), "wall_s": time.perf_counter() - t0}),
            )
            return str(path)

        records = [root / f"m{k}" / "train.json" for k in range(s.n_members)]
        if all(r.exists() for r in records):  # a resume: say what they were trained on
            n = json.loads(records[0].read_text())["n_train"]
            self._log(f"round {it}: {s.n_members} students already trained ({n} training frames)")
        else:
            self._log(f"round {it}: training {s.n_members} students on {len(labels)} labels")
        return [Path(p) for p in _distribute(list(range(s.n_members)), run, self.comm)]

    def committee(self, members: Sequence[Path], dtype: str = "float32") -> Calculator:
        """The students as a :class:`~multiscale.mlip.CommitteeCalculator` (this run's files)."""
        from multiscale.mlip.committee import CommitteeCalculator
        from multiscale.mlip.train import mace_calculator

        return CommitteeCalculator(
            [mace_calculator(p, trust=True, dtype=dtype) for p in members]  # written by us
        )

    def student(self, path: Path, dtype: str = "float32") -> Calculator:
        """One student (this run's file) as an ASE calculator: the explorations' driver."""
        from multiscale.mlip.train import mace_calculator

        return mace_calculator(path, trust=True, dtype=dtype)  # written by this run

    def test_errors(self, members: Sequence[Path]) -> dict[str, Any]:
        """Force MAE/RMSE (meV/Å) of each student and of the committee mean on the test set."""
        from multiscale.mlip.teachers import force_errors

        tests = self.test_set()
        if not tests:
            return {"n_test": 0}
        out: dict[str, Any] = {"n_test": len(tests)}
        for k, p in enumerate(members):
            e = force_errors(self.student(p), tests, box=False)
            out[f"m{k}_mae_meV_A"], out[f"m{k}_rmse_meV_A"] = e.mae, e.rmse
        e = force_errors(self.committee(members), tests, box=False)
        out["committee_mae_meV_A"], out["committee_rmse_meV_A"] = e.mae, e.rmse
        return out

    def explore_length(self, it: int) -> int:
        """MD steps of each exploration of round ``it``: doubling from ``explore_steps``."""
        s = self.settings
        return min(s.final_steps, s.explore_steps * 2**it)

    def explore_round(self, it: int, members: Sequence[Path]) -> list[dict[str, Any]]:
        """Student MD of every (structure, temperature); candidates and tests to label."""
        s = self.settings
        n_steps = self.explore_length(it)
        root = self.workdir / f"iter_{it:02d}"
        tasks = [(name, T) for name in sorted(self.systems) for T in s.temperatures]

        def run(task: tuple[str, float]) -> dict[str, Any]:
            name, T = task
            out = root / f"explore_{name}_{T:.0f}K.json"
            if out.exists():
                res = json.loads(out.read_text())
                res["candidates"] = _read_frames(out.with_suffix(".cand.extxyz"))
                res["tests"] = _read_frames(out.with_suffix(".test.extxyz"))
                return res
            start = _bare(_read_frames(self.workdir / f"teacher_{name}.extxyz")[-1])
            res = explore(
                start, self.committee(members), n_steps, T, s.threshold, timestep=s.timestep,
                driver=self.student(members[0]), max_restarts=s.max_restarts, n_before=5,
                hydrogen_mass=s.hydrogen_mass, test_every=s.test_every, seed=1000 * it + int(T),
                tag=f"it{it}-{name}-{T:.0f}K", progress=self.progress and self.comm is None,
            )  # fmt: skip
            res["candidates"] = select_candidates(res["candidates"], s.max_new, s.min_gap)
            _atomic_write(out.with_suffix(".cand.extxyz"), res["candidates"])
            _atomic_write(out.with_suffix(".test.extxyz"), res["tests"])
            keep = {k: v for k, v in res.items() if k not in ("candidates", "tests")}
            atomic_write_text(out, json.dumps(keep, indent=1))
            return res

        results = _distribute(tasks, run, self.comm)
        for (name, T), r in zip(tasks, results, strict=True):
            self._log(
                f"round {it}: explore {name} {T:.0f} K: {r['steps']}/{n_steps} steps, "
                f"{'violation: ' + r['violations'][0] if r['violations'] else 'intact'}, "
                f"max σ_F {r['max_force_std']:.3f} eV/Å, {100 * r['frac_above']:.1f} % above "
                f"threshold, {len(r['candidates'])} to label, {r['wall_s']:.0f} s"
            )
        return results

    def kernel(self) -> bool:
        """Run the loop to convergence or ``max_iterations``; return :attr:`converged`."""
        s = self.settings
        self.teacher_stage()
        for it in range(s.max_iterations):
            members = self.train(it)
            self.members = members
            errors = self.test_errors(members) if self.rank == 0 else {}
            if errors.get("n_test"):
                self._log(
                    f"round {it}: test set ({errors['n_test']} student-MD frames): committee "
                    f"force MAE {errors['committee_mae_meV_A']:.0f} meV/Å vs the teacher"
                )
            results = self.explore_round(it, members)
            n_steps = self.explore_length(it)
            done = all(r["completed"] and r["max_force_std"] <= s.threshold for r in results)
            record = {
                "iteration": it,
                "n_labels": len(self.labels()),
                "n_test": len(self.test_set()),
                "explore_steps": n_steps,
                "test_errors": errors,
                "explore": [
                    {k: v for k, v in r.items() if k not in ("candidates", "tests", "sigma")}
                    for r in results
                ],
            }
            self.history.append(record)
            self._write_json(self.workdir / f"iter_{it:02d}" / "summary.json", record)
            if done and n_steps >= s.final_steps:
                self.converged = True
                self._log(f"round {it}: converged ({n_steps} steps at every T, no violation)")
                break
            todo = [c for r in results for c in r["candidates"]]
            tests = [t for r in results for t in r["tests"]]
            self._log(f"round {it}: labelling {len(todo)} candidates and {len(tests)} tests")
            label_frames(todo, self._teacher, self.workdir / "labels.extxyz",
                         self.provenance, self.comm)  # fmt: skip
            label_frames(tests, self._teacher, self.workdir / "test.extxyz",
                         self.provenance, self.comm)  # fmt: skip
        self._write_json(
            self.workdir / "result.json",
            {"converged": self.converged, "members": [str(p) for p in self.members],
             "history": self.history},
        )  # fmt: skip
        return self.converged

    run = kernel


def default_systems(seed: int = 0) -> dict[str, Atoms]:
    """The Cu(111)/NaCl(aq) structures of the shipped ``cu-water-nacl`` distillation.

    ``film``: 4x4x4 Cu(111), 12 Å of 2 M NaCl(aq) with a vapour interface (171 atoms);
    ``sandwich``: Cu(111) | 16 Å of 2 M NaCl(aq) | Cu(111), 3 layers (164 atoms);
    ``sandwich_4M``: the sandwich at 4 M, three Na⁺ and three Cl⁻ (162 atoms, builder seed
    ``seed + 1``). The first two hold one ion pair each, so no training frame had two like ions
    near each other: a round-4 student let two Na⁺ approach to 2.29 Å in a held-out 350 K run,
    where the teacher repels them twice as hard (2.75 against 1.41 eV/Å at 2.42 Å). This
    structure, and the like-ion contact frames cut from its teacher MD
    (:meth:`Distillation.scan_frames`), give the students that repulsion.
    """
    from multiscale.md.builders import build_interface, build_sandwich

    return {
        "film": build_interface(
            size=(4, 4), layers=4, water_thickness=12.0, concentration=2.0, seed=seed
        ),
        "sandwich": build_sandwich(
            size=(4, 4), layers=3, electrolyte_thickness=16.0, concentration=2.0, seed=seed
        ),
        "sandwich_4M": build_sandwich(
            size=(4, 4), layers=3, electrolyte_thickness=16.0, concentration=4.0, seed=seed + 1
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m multiscale.mlip.distill WORKDIR [--teacher NAME] [--max-iterations N]``.

    Under ``mpiexec -n N`` the work is spread over the ranks.
    """
    import argparse

    ap = argparse.ArgumentParser(description="Active-learning distillation of cu-water-nacl.")
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--teacher", default="sevennet-0")
    ap.add_argument("--max-iterations", type=int, default=8)
    ap.add_argument("--explore-steps", type=int, default=2500)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threshold", type=float, default=0.25)
    args = ap.parse_args(argv)
    comm = None
    try:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD if MPI.COMM_WORLD.size > 1 else None
    except ImportError:
        pass
    settings = DistillSettings(
        teacher=args.teacher, max_iterations=args.max_iterations,
        explore_steps=args.explore_steps, epochs=args.epochs, threshold=args.threshold,
    )  # fmt: skip
    dist = Distillation(default_systems(), args.workdir, settings, comm=comm)
    return 0 if dist.kernel() else 1


if __name__ == "__main__":
    raise SystemExit(main())
