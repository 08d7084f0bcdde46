"""Independent MD replicas spread over MPI ranks.

Replica ``k`` runs on rank ``k % size`` with seed :func:`replica_seeds` ``(base, n)[k]`` and
writes to ``output_dir/replica_{k:03d}/``. Seeds come from
:class:`numpy.random.SeedSequence` spawning, so they are statistically independent and depend
only on the base seed and the replica index, never on the number of ranks: replica 3 is the
same trajectory on 1, 2 or 8 ranks. Each replica is an ordinary restartable
:class:`~multiscale.md.runner.MDRunner` run with a serial communicator (ASE would otherwise
broadcast rank 0's thermostat noise to every rank). The extraction layer combines the
replica directories.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from .runner import MDRunner, MDSettings

__all__ = ["ReplicaResult", "replica_seeds", "run_replicas"]


def replica_seeds(base_seed: int, n_replicas: int) -> list[int]:
    """Independent 32-bit seeds for ``n_replicas`` replicas derived from ``base_seed``."""
    for name, value, low in (("base_seed", base_seed, 0), ("n_replicas", n_replicas, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    children = np.random.SeedSequence(base_seed).spawn(n_replicas)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


@dataclass(frozen=True)
class ReplicaResult:
    """Summary of one replica, gathered on every rank.

    Attributes
    ----------
    index : int
    seed : int
    rank : int
        Rank that ran it.
    directory : pathlib.Path
    steps : int
    mean_temperature_K : float
        Mean instantaneous temperature over the steps run in this call, K.
    final_positions : ndarray
        Å.
    error : str or None
        Message of the exception that stopped it, if any.
    """

    index: int
    seed: int
    rank: int
    directory: Path
    steps: int
    mean_temperature_K: float
    final_positions: np.ndarray
    error: str | None = None


def run_replicas(
    make_atoms: Callable[[int], Atoms],
    n_replicas: int,
    steps: int,
    output_dir: str | Path,
    settings: MDSettings,
    comm,
    progress: bool = False,
    integrity: Any = "stop",
) -> list[ReplicaResult]:
    """Run ``n_replicas`` independent MD runs over the ranks of ``comm``.

    Parameters
    ----------
    make_atoms : callable
        ``make_atoms(k)`` returns replica k's starting Atoms with its own calculator attached
        (calculators hold state and must not be shared).
    n_replicas : int
        Number of replicas (any number; ranks take them round-robin).
    steps : int
        Total steps per replica (resumes from checkpoints if present).
    output_dir : str or Path
        Parent directory of the ``replica_XXX`` directories.
    settings : MDSettings
        Run settings; its ``seed`` is the base seed from which replica seeds are derived.
    comm : mpi4py communicator
        Ranks to spread replicas over (e.g. ``MPI.COMM_WORLD``); pass explicitly.
    progress : bool
        Show progress bars (rank 0's replicas only).
    integrity : {"stop", "flag"}, None or callable
        Each replica's molecule-integrity monitor (see :class:`MDRunner`): a policy name, None
        (off), or ``integrity(atoms)`` returning a monitor (or a policy name) for the replica's
        starting atoms.

    Returns
    -------
    list of ReplicaResult
        All replicas, in index order, on every rank.

    Raises
    ------
    RuntimeError
        On every rank, if any replica failed (its message included).
    """
    # validate locally (same inputs on all ranks) before any collective call
    if comm is None or not hasattr(comm, "allgather"):
        raise TypeError("comm must be an mpi4py communicator (e.g. MPI.COMM_WORLD)")
    if not isinstance(settings, MDSettings):
        raise TypeError("settings must be an MDSettings")
    if not callable(make_atoms):
        raise TypeError("make_atoms must be a callable make_atoms(k) -> Atoms")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise TypeError(f"steps must be an integer, got {steps!r}")
    if steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps}")
    if not isinstance(output_dir, str | Path):
        raise TypeError(f"output_dir must be a str or Path, got {type(output_dir).__name__}")
    seeds = replica_seeds(settings.seed, n_replicas)
    rank, size = comm.Get_rank(), comm.Get_size()
    mine: list[ReplicaResult] = []
    for k in range(rank, n_replicas, size):
        directory = Path(output_dir) / f"replica_{k:03d}"
        try:
            atoms = make_atoms(k)
            runner = MDRunner(
                atoms, directory, replace(settings, seed=seeds[k]), comm=None,
                progress=progress and rank == 0,
                integrity=integrity(atoms) if callable(integrity) else integrity,
            )  # fmt: skip
            res = runner.run(steps)
            temps = res.thermo[:, 4]
            mine.append(ReplicaResult(
                k, seeds[k], rank, directory, res.steps,
                float(temps.mean()) if len(temps) else float("nan"), atoms.get_positions(),
            ))  # fmt: skip
        except Exception as err:  # reported on all ranks below; never hang the others
            mine.append(ReplicaResult(
                k, seeds[k], rank, directory, 0, float("nan"), np.empty((0, 3)),
                f"{type(err).__name__}: {err}",
            ))  # fmt: skip
    gathered = [r for part in comm.allgather(mine) for r in part]
    gathered.sort(key=lambda r: r.index)
    failed = [r for r in gathered if r.error]
    if failed:
        lines = "; ".join(f"replica {r.index} (rank {r.rank}): {r.error}" for r in failed)
        raise RuntimeError(f"{len(failed)} replica(s) failed: {lines}")
    return gathered
