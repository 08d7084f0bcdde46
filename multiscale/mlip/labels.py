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
    # half-written frame behind (os.replace is atomic on POSIX). parallel=False: this process
    # writes its own file even when mpi4py is imported (ASE would write on rank 0 only).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        ase.io.write(tmp, frames, format="extxyz", parallel=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: Closest allowed distance between two atoms of one configuration, Å.
MIN_DISTANCE = 0.5


def _check_configurations(configs: Sequence[Atoms], what: str = "configs") -> None:
    """Refuse frames that cannot be labelled or trained on; the error names the frame index.

    Checks that ``configs`` is a list (not a single Atoms) of non-empty ``ase.Atoms`` with
    finite positions and no two atoms closer than :data:`MIN_DISTANCE` (minimum image under
    periodic boundary conditions).
    """
    from ase.neighborlist import neighbor_list

    if isinstance(configs, Atoms) or not isinstance(configs, Sequence):
        raise TypeError(
            f"{what} must be a list of ase.Atoms, got {type(configs).__name__}; wrap a single "
            "configuration as [atoms]."
        )
    for i, atoms in enumerate(configs):
        if not isinstance(atoms, Atoms):
            raise TypeError(f"{what}[{i}] is a {type(atoms).__name__}, not an ase.Atoms.")
        if len(atoms) == 0:
            raise ValueError(f"{what}[{i}] has no atoms; remove the empty frame.")
        if not np.all(np.isfinite(atoms.positions)):
            raise ValueError(f"{what}[{i}] has NaN or infinite positions (Å); remove the frame.")
        if atoms.pbc.any() and atoms.cell.rank < 3:
            raise ValueError(
                f"{what}[{i}] is periodic (pbc={atoms.pbc.tolist()}) but its cell is not 3D; "
                "set a full cell (Å) or pbc=False."
            )
        if len(atoms) > 1:
            ii, jj, dd = neighbor_list("ijd", atoms, MIN_DISTANCE, self_interaction=False)
            if len(dd):
                k = int(np.argmin(dd))
                raise ValueError(
                    f"{what}[{i}]: atoms {ii[k]} and {jj[k]} are {dd[k]:.3f} Å apart (closer "
                    f"than {MIN_DISTANCE} Å): overlapping atoms; fix or remove the frame."
                )


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
        Empty frames, non-finite positions and atoms closer than 0.5 Å are refused
        (``ValueError`` naming the frame index) before anything is labelled.
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
    _check_configurations(configs, "configs")
    if not callable(make_calc):
        raise TypeError(
            f"make_calc must be a callable atoms -> Calculator, got {type(make_calc).__name__}."
        )
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
