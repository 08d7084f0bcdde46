"""Independent MD replicas over MPI ranks: own seeds, own outputs, rank-count independent."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read

from multiscale.md import MDSettings, replica_seeds, run_replicas

N_REPLICAS = 4
STEPS = 12


def make_atoms(k: int):
    atoms = bulk("Cu", cubic=True).repeat((2, 2, 1))
    atoms.rattle(0.01, seed=100)  # the same start for all: only the seeds differ
    atoms.calc = EMT()
    return atoms


SETTINGS = MDSettings(timestep_fs=4.0, temperature_K=400.0, seed=7, traj_interval=4)


@pytest.fixture
def shared_dir(comm):
    path = tempfile.mkdtemp(prefix="md_replicas_") if comm.rank == 0 else None
    path = Path(comm.bcast(path, root=0))
    yield path
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


def test_replicas_spread_over_ranks_match_a_serial_run(comm, shared_dir: Path):
    from mpi4py import MPI

    results = run_replicas(make_atoms, N_REPLICAS, STEPS, shared_dir / "par", SETTINGS, comm)
    assert [r.index for r in results] == list(range(N_REPLICAS))
    assert [r.seed for r in results] == replica_seeds(SETTINGS.seed, N_REPLICAS)
    assert len({r.seed for r in results}) == N_REPLICAS
    assert [r.rank for r in results] == [k % comm.size for k in range(N_REPLICAS)]
    comm.Barrier()
    for r in results:  # each replica its own directory and files, with every frame
        frames = read(r.directory / "trajectory.traj", ":")
        assert len(frames) == STEPS // SETTINGS.traj_interval + 1
        assert r.directory.name == f"replica_{r.index:03d}"
        np.testing.assert_array_equal(frames[-1].positions, r.final_positions)
    # different seeds, different paths
    assert np.abs(results[0].final_positions - results[1].final_positions).max() > 1e-4
    # the same replicas run on one rank give the same trajectories bit for bit
    serial = run_replicas(
        make_atoms, N_REPLICAS, STEPS, shared_dir / f"serial_{comm.rank}", SETTINGS, MPI.COMM_SELF
    )
    for a, b in zip(results, serial, strict=True):
        assert a.seed == b.seed
        np.testing.assert_array_equal(a.final_positions, b.final_positions)


def test_a_failing_replica_is_reported_on_every_rank(comm, shared_dir: Path):
    def sometimes_broken(k: int):
        atoms = make_atoms(k)
        if k == 2:
            atoms.positions[1] = atoms.positions[0]  # overlapping atoms
        return atoms

    with pytest.raises(RuntimeError, match=r"replica 2 \(rank \d\): ValueError: atoms 0 \(Cu\)"):
        run_replicas(sometimes_broken, N_REPLICAS, 2, shared_dir / "bad", SETTINGS, comm)
    comm.Barrier()  # every rank got here: nobody hangs in a collective


def test_bad_arguments_raise_before_any_collective(comm, shared_dir: Path):
    with pytest.raises(TypeError, match="mpi4py communicator"):
        run_replicas(make_atoms, 2, 2, shared_dir, SETTINGS, None)
    with pytest.raises(ValueError, match=r"n_replicas must be (an integer )?>= 1"):
        run_replicas(make_atoms, 0, 2, shared_dir, SETTINGS, comm)
    with pytest.raises(TypeError, match="settings must be an MDSettings"):
        run_replicas(make_atoms, 2, 2, shared_dir, {"timestep_fs": 1}, comm)
