"""Umbrella windows over MPI ranks: seeds per window, so 2 ranks = 1 rank bit for bit."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones

from multiscale.extract import UmbrellaAnalysis
from multiscale.md import MDSettings, replica_seeds, run_umbrella_windows

CENTERS = [5.4, 5.8, 6.2]
SURFACE = [0, 1, 2, 3]
ION = 8
STEPS = 64
SETTINGS = MDSettings(
    timestep_fs=5.0, temperature_K=40.0, initial_temperature_K=40.0, seed=11,
    traj_interval=1, checkpoint_interval=32,
)  # fmt: skip


def make_atoms(k: int) -> Atoms:
    """LJ argon: a 4+4-atom 'surface' and one atom (index 8) near window k's height."""
    a = 3.8
    pos = [(i * a, j * a, 0.0) for i in range(2) for j in range(2)]
    pos += [(i * a + a / 2, j * a + a / 2, a * 0.75) for i in range(2) for j in range(2)]
    pos += [(a / 2, 0.0, CENTERS[k])]
    atoms = Atoms("Ar9", positions=pos, cell=[2 * a, 2 * a, 20.0], pbc=[True, True, False])
    atoms.rattle(0.01, seed=100)  # the same start on every rank: only the seeds differ
    atoms.calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=7.0, smooth=True)
    return atoms


@pytest.fixture
def shared_dir(comm):
    path = tempfile.mkdtemp(prefix="umbrella_") if comm.rank == 0 else None
    path = Path(comm.bcast(path, root=0))
    yield path
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


def test_windows_on_two_ranks_equal_one_rank(comm, shared_dir: Path):
    from mpi4py import MPI

    par = run_umbrella_windows(make_atoms, ION, CENTERS, 1.5, STEPS, shared_dir / "par",
                               SETTINGS, comm, surface_z=SURFACE)  # fmt: skip
    assert [w.index for w in par.windows] == [0, 1, 2]
    assert [w.seed for w in par.windows] == replica_seeds(SETTINGS.seed, len(CENTERS))
    assert [w.rank for w in par.windows] == [k % comm.size for k in range(len(CENTERS))]
    serial = run_umbrella_windows(make_atoms, ION, CENTERS, 1.5, STEPS,
                                  shared_dir / f"serial_{comm.rank}", SETTINGS, MPI.COMM_SELF,
                                  surface_z=SURFACE)  # fmt: skip
    for a, b in zip(par.windows, serial.windows, strict=True):
        assert a.seed == b.seed
        np.testing.assert_array_equal(a.final_positions, b.final_positions)
    comm.Barrier()
    # the same trajectories and the same analysis from either folder
    kw = {"n_blocks": 4, "min_bin_samples": 1, "msd_fit": (20.0, 60.0)}
    ra = UmbrellaAnalysis.from_directory(shared_dir / "par", **kw).run().results
    rb = UmbrellaAnalysis.from_directory(shared_dir / f"serial_{comm.rank}", **kw).run().results
    for key in ("z_mean", "D_perp", "D_par", "free_energy", "overlap"):
        np.testing.assert_array_equal(ra[key], rb[key])
    assert np.all(np.abs(ra.z_mean - CENTERS) < 0.5)  # the windows hold the atom


def test_restart_resumes_every_window(comm, shared_dir: Path):
    out = shared_dir / "resume"
    first = run_umbrella_windows(make_atoms, ION, CENTERS, 1.5, 40, out, SETTINGS, comm,
                                 surface_z=SURFACE)  # fmt: skip
    assert all(w.steps == 40 for w in first.windows)
    more = run_umbrella_windows(make_atoms, ION, CENTERS, 1.5, 64, out, SETTINGS, comm,
                                surface_z=SURFACE)  # fmt: skip
    assert all(w.steps == 64 for w in more.windows)
    comm.Barrier()
    ana = UmbrellaAnalysis.from_directory(out, n_blocks=4, min_bin_samples=1)
    assert all(h.shape == (65, 1) for h in ana._h)
    with pytest.raises(ValueError, match="describes other windows"):
        run_umbrella_windows(make_atoms, ION, CENTERS, 2.0, 64, out, SETTINGS, comm,
                             surface_z=SURFACE)  # fmt: skip
