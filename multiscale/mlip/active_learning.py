"""On-the-fly active learning: committee MD, force-uncertainty trigger, PySCF label, retrain.

Every label (extxyz) and the MD state are persisted atomically after each step, so a kill loses
at most the step in flight and a restart neither loses nor duplicates a label.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import BaseCalculator, Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from tqdm import tqdm

from multiscale.mlip.carve import carve_cluster
from multiscale.mlip.labels import _atomic_write
from multiscale.pipeline.state import atomic_write_text


def _check_active_learning_args(
    atoms, make_committee, make_ref_calc, threshold, n_steps, timestep, temperature, friction,
    radius,
) -> None:  # fmt: skip
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise TypeError(f"atoms must be a non-empty ase.Atoms, got {atoms!r}.")
    for name, fn in (("make_committee", make_committee), ("make_ref_calc", make_ref_calc)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__}.")
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative integer (MD steps), got {n_steps!r}.")
    for name, value, unit, allow_zero in (
        ("threshold", threshold, "a force deviation in eV/Å", False),
        ("timestep", timestep, "fs", False),
        ("temperature", temperature, "K", True),
        ("friction", friction, "1/fs", True),
        ("radius", radius, "Å", False),
    ):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
        if not ok or value < 0 or (value == 0 and not allow_zero):
            sign = "non-negative" if allow_zero else "positive"
            raise ValueError(f"{name} must be a {sign} finite number ({unit}), got {value!r}.")


def _checked_committee(make_committee, labels) -> Calculator:
    committee = make_committee(labels)
    if not isinstance(committee, BaseCalculator):
        raise TypeError(
            f"make_committee returned a {type(committee).__name__}, not an ASE Calculator: "
            "return a CommitteeCalculator (e.g. from mace_committee_trainer)."
        )
    return committee


def run_active_learning(
    atoms: Atoms,
    make_committee: Callable[[Sequence[Atoms]], Calculator],
    make_ref_calc: Callable[[Atoms], Calculator],
    workdir: str | os.PathLike,
    threshold: float,
    n_steps: int,
    timestep: float = 0.5,
    temperature: float = 300.0,
    friction: float = 0.01,
    radius: float = 3.5,
    seed: int = 0,
    progress: bool = True,
) -> list[Atoms]:
    """Run committee Langevin MD and label high-uncertainty clusters with the reference.

    At every step the committee's largest per-atom force deviation (``max_force_std``, eV/Å)
    is compared with ``threshold``; above it, a cluster of whole molecules within ``radius``
    of that atom is carved, labelled by ``make_ref_calc``, appended to ``labels.extxyz``, and
    ``make_committee`` is called on all labels to retrain before the step is taken.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting configuration (Å); used only when ``workdir`` holds no checkpoint.
    make_committee : callable
        ``make_committee(labels)`` returns a calculator whose ``results`` contain
        ``max_force_std`` and ``force_std`` (e.g. a retrained :class:`CommitteeCalculator`).
    make_ref_calc : callable
        ``make_ref_calc(cluster)`` returns the reference (e.g. ``coupling.PySCFCalculator``).
    workdir : path-like
        Holds ``labels.extxyz``, ``md.extxyz`` (checkpoint) and ``state.json``.
    threshold : float
        Trigger on the largest per-atom force standard deviation, eV/Å.
    n_steps : int
        Total MD steps (including those done before a restart).
    timestep : float
        MD time step, fs.
    temperature : float
        Langevin temperature, K.
    friction : float
        Langevin friction, 1/fs.
    radius : float
        Carving radius, Å.
    seed : int
        Random seed; the noise of step k uses ``seed + k``, so a restart reproduces the run.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    list of ase.Atoms
        All labels, each with ``info["step"]``, ``info["center"]``, ``info["max_force_std"]``
        and ``info["model_version"]`` (the committee version that triggered it).
    """
    _check_active_learning_args(
        atoms, make_committee, make_ref_calc, threshold, n_steps, timestep, temperature,
        friction, radius,
    )  # fmt: skip
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    lab_path, md_path, st_path = work / "labels.extxyz", work / "md.extxyz", work / "state.json"
    labels = ase.io.read(lab_path, ":") if lab_path.exists() else []
    if st_path.exists():
        step = json.loads(st_path.read_text())["step"]
        atoms = ase.io.read(md_path)
    else:
        step, atoms = 0, atoms.copy()
    committee = _checked_committee(make_committee, labels)
    version = len(labels)
    bar = tqdm(total=n_steps, initial=step, desc="active learning", disable=not progress)
    while step < n_steps:
        atoms.calc = committee
        atoms.get_forces()
        res = committee.results
        if "max_force_std" not in res or "force_std" not in res:
            raise TypeError(
                f"the calculator from make_committee ({type(committee).__name__}) puts no "
                "'max_force_std'/'force_std' in its results: return a CommitteeCalculator."
            )
        if res["max_force_std"] > threshold and not any(a.info["step"] == step for a in labels):
            center = int(np.argmax(res["force_std"]))
            cluster, _ = carve_cluster(atoms, center, radius)
            ref = cluster.copy()
            ref.calc = make_ref_calc(cluster)
            e, f = ref.get_potential_energy(), np.array(ref.get_forces())
            cluster.info.update(
                step=step, center=center, max_force_std=res["max_force_std"], model_version=version
            )
            cluster.calc = SinglePointCalculator(cluster, energy=e, forces=f)
            labels.append(cluster)
            _atomic_write(lab_path, labels)
        if len(labels) != version:
            committee = _checked_committee(make_committee, labels)
            version = len(labels)
            atoms.calc = committee
        dyn = Langevin(
            atoms,
            timestep * units.fs,
            temperature_K=temperature,
            friction=friction / units.fs,
            fixcm=False,
            rng=np.random.default_rng(seed + step),
        )
        dyn.run(1)
        step += 1
        snapshot = atoms.copy()  # positions and momenta only; no committee results
        snapshot.calc = None
        _atomic_write(md_path, [snapshot])
        atomic_write_text(st_path, json.dumps({"step": step, "n_labels": len(labels)}))
        bar.update(1)
    bar.close()
    return labels
