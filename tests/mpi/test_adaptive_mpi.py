"""AdaptiveQMMLCalculator with its partitions spread over MPI ranks: 2 ranks = 1 rank."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import CalculationFailed
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from coupling import AdaptiveQMMLCalculator, Regions


def system() -> tuple[Atoms, np.ndarray]:
    """A Cu core atom with five Cu2 groups: one in the core, four in the shell (5 partitions)."""
    reps = [(2.5, 0, 0), (3.2, 70, 0), (3.6, 140, 0), (4.1, 210, 1.0), (4.5, 280, 0)]
    pos = [np.zeros(3)]
    for r, angle, z in reps:
        a = np.radians(angle)
        p = np.array([r * np.cos(a), r * np.sin(a), z])
        pos += [p, p + 2.4 * p / np.linalg.norm(p)]
    labels = np.array([0] + [1 + k // 2 for k in range(2 * len(reps))])
    return Atoms(f"Cu{len(pos)}", positions=pos), labels


def calculator(labels, comm, qm=None) -> AdaptiveQMMLCalculator:
    regions = Regions([0], r_core=2.8, r_switch=2.0, molecules=labels)
    ml = LennardJones(sigma=2.3, epsilon=0.35, rc=7.0, smooth=True)
    # EMT's and LJ's energy zeros differ by ~2 eV/atom on a Cu2 group (large -ΔE ∇σ terms, a
    # stronger test of the reduction); the guard against that is tested serially
    return AdaptiveQMMLCalculator(qm or EMT(), ml, regions, comm=comm, max_crossing_mismatch=None)


def run(calc, atoms) -> tuple[float, np.ndarray]:
    work = atoms.copy()
    work.calc = calc
    return work.get_potential_energy(), work.get_forces()


def test_two_ranks_give_the_one_rank_energy_and_forces(comm):
    from mpi4py import MPI

    atoms, labels = system()
    par = calculator(labels, comm)
    e_par, f_par = run(par, atoms)
    e_one, f_one = run(calculator(labels, MPI.COMM_SELF), atoms)
    e_serial, f_serial = run(calculator(labels, None), atoms)
    assert par.results["n_partitions"] == 5
    np.testing.assert_array_equal(par.results["partition_ranks"], np.arange(5) % comm.size)
    assert e_par == pytest.approx(e_one, abs=1e-8)
    np.testing.assert_allclose(f_par, f_one, atol=1e-8)
    assert e_one == e_serial and np.array_equal(f_one, f_serial)  # COMM_SELF = no comm
    # every rank holds the same answer, and only the QM slots of its own partitions
    gathered = comm.allgather((e_par, f_par))
    for e, f in gathered:
        assert e == e_par and np.array_equal(f, f_par)
    own = sorted(par._qm_slots)
    assert own == [k for k in range(5) if k % comm.size == comm.rank]


class FailingEMT(EMT):
    """EMT that fails on clusters larger than 6 atoms (the last partitions)."""

    def calculate(self, atoms=None, properties=None, system_changes=None):
        if len(atoms) > 6:
            raise RuntimeError("deliberate failure")
        super().calculate(atoms, properties or ["energy"], system_changes or [])


def test_a_failure_on_one_rank_is_raised_on_every_rank(comm):
    atoms, labels = system()
    calc = calculator(labels, comm, qm=FailingEMT())
    with pytest.raises((CalculationFailed, RuntimeError), match="deliberate failure"):
        run(calc, atoms)
    comm.Barrier()  # every rank got here: nobody hangs in a collective
