"""Restartable labelling of configurations with a reference calculator, stored as extxyz."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import ase
import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm import tqdm


def _atomic_write(path: Path, frames: list[Atoms]) -> None:
    # Write to a temporary file in the same directory, then rename: a kill never leaves a
    # half-written frame behind (os.replace is atomic on POSIX).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        ase.io.write(tmp, frames, format="extxyz")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def label_configurations(
    configs: Sequence[Atoms],
    make_calc: Callable[[Atoms], Calculator],
    path: str | os.PathLike,
    provenance: Mapping[str, str | float | int] | None = None,
    progress: bool = True,
) -> list[Atoms]:
    """Label configurations with energies (eV) and forces (eV/Å) and append them to an extxyz.

    Each labelled frame carries ``info["config_id"]`` (its index in ``configs``), the entries
    of ``provenance`` and the ASE version. On restart, configurations whose ``config_id`` is
    already in ``path`` are skipped, so a kill loses at most the configuration in flight and
    never duplicates one.

    Parameters
    ----------
    configs : sequence of ase.Atoms
        Configurations (positions in Å) in a fixed order; the order defines ``config_id``.
    make_calc : callable
        ``make_calc(atoms)`` returns the reference calculator for one configuration (e.g. a
        ``coupling.PySCFCalculator`` with the configuration's total charge).
    path : path-like
        Output extxyz file; created if missing, rewritten atomically after every label.
    provenance : mapping, optional
        Level of theory and code versions (e.g. ``{"xc": "pbe", "basis": "def2-svp"}``),
        stored in every frame's ``info``.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    list of ase.Atoms
        All labelled frames in ``path`` after this call.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = ase.io.read(path, index=":", format="extxyz") if path.exists() else []
    have = {int(a.info["config_id"]) for a in done}
    todo = [i for i in range(len(configs)) if i not in have]
    for i in tqdm(todo, desc="labelling", disable=not progress):
        atoms = configs[i].copy()
        atoms.calc = make_calc(atoms)
        energy = atoms.get_potential_energy()
        forces = np.array(atoms.get_forces())
        frame = configs[i].copy()
        frame.info.update(dict(provenance or {}))
        frame.info["config_id"] = i
        frame.info["ase_version"] = ase.__version__
        frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces)
        done.append(frame)
        _atomic_write(path, done)
    return done
