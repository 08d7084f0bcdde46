"""relax_mixed_forces: FIRE on mixed QM/ML forces, which have no energy.

Stand-ins: argon clusters with two different Lennard-Jones potentials as "QM" and "ML"
(cheap, smooth, analytic minimum of the dimer at 2^(1/6) sigma).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.lj import LennardJones
from ase.cluster import Icosahedron
from ase.io import read
from ase.optimize import BFGS, FIRE

from coupling import ForceMixingCalculator, Regions, relax_mixed_forces

SIGMA, EPSILON = 3.405, 0.0103  # argon (Å, eV)


def lj(sigma: float = SIGMA, epsilon: float = EPSILON) -> LennardJones:
    # ro = 0.66 rc = 6.6 Å: the smooth cutoff does not touch the first neighbours
    return LennardJones(sigma=sigma, epsilon=epsilon, rc=10.0, smooth=True)


def ml_lj() -> LennardJones:
    """A deliberately different potential for the ML side."""
    return lj(3.30, 0.0120)


@pytest.fixture
def argon13() -> Atoms:
    """A 13-atom argon icosahedron, shaken by 0.1 Å (non-periodic)."""
    atoms = Icosahedron("Ar", 2, latticeconstant=5.26)
    rng = np.random.default_rng(3)
    atoms.positions += rng.normal(0.0, 0.1, atoms.positions.shape)
    return atoms


def centre_atom(atoms: Atoms) -> int:
    return int(np.argmin(np.linalg.norm(atoms.positions - atoms.positions.mean(0), axis=1)))


def test_identical_calculators_give_the_plain_fire_minimum(argon13):
    """QM = ML and a cluster that holds every atom: mixed forces are the LJ forces exactly."""
    plain = argon13.copy()
    plain.calc = lj()
    assert FIRE(plain, logfile=None).run(fmax=1e-3, steps=500)
    assert np.abs(plain.positions - argon13.positions).max() > 0.05  # it really moved
    mixed = argon13.copy()
    regions = Regions([centre_atom(mixed)], r_core=2.0, r_switch=2.0, r_buffer=12.0)
    mixed.calc = ForceMixingCalculator(lj(), lj(), regions)
    result = relax_mixed_forces(mixed, fmax=1e-3, steps=500)
    w = mixed.calc.results["weights"]
    assert np.any((w > 0) & (w < 1))  # a real switching shell, not a pure QM run
    assert result.converged
    assert result.fmax < 1e-3
    np.testing.assert_allclose(mixed.positions, plain.positions, atol=1e-3)


def test_different_qm_and_ml_relax_below_fmax(argon13):
    atoms = argon13.copy()
    regions = Regions([centre_atom(atoms)], r_core=2.0, r_switch=2.0, r_buffer=1.0)
    atoms.calc = ForceMixingCalculator(lj(), ml_lj(), regions)
    f0 = np.linalg.norm(atoms.get_forces(), axis=1).max()
    result = relax_mixed_forces(atoms, fmax=0.005, steps=500)
    assert f0 > 0.05  # the shaken cluster starts far from converged
    assert result.converged and 0 < result.steps < 500
    assert result.fmax < 0.005 and result.fmax_target == 0.005
    # an independent evaluation with a fresh calculator at the final positions
    fresh = atoms.copy()
    fresh.calc = ForceMixingCalculator(lj(), ml_lj(), Regions(regions.core, 2.0, 2.0, 1.0))
    assert np.linalg.norm(fresh.get_forces(), axis=1).max() < 0.005
    assert np.any((fresh.calc.results["weights"] > 0) & (fresh.calc.results["weights"] < 1))


def test_dimer_in_the_qm_core_relaxes_to_the_analytic_qm_minimum():
    """Both atoms have weight 1: the mixed forces are the QM ones, minimum at 2^(1/6) sigma."""
    atoms = Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 4.3]])
    atoms.calc = ForceMixingCalculator(lj(), ml_lj(), Regions([0], 5.0, 1.0))
    result = relax_mixed_forces(atoms, fmax=1e-5, steps=1000)
    assert result.converged
    assert np.all(atoms.calc.results["weights"] == 1.0)
    assert atoms.get_distance(0, 1) == pytest.approx(2 ** (1 / 6) * SIGMA, abs=1e-3)
    # the ML minimum is elsewhere, so this is the QM answer, not the ML one
    assert abs(2 ** (1 / 6) * 3.30 - 2 ** (1 / 6) * SIGMA) > 0.1


def test_step_limit_and_trajectory(argon13, tmp_path):
    atoms = argon13.copy()
    atoms.calc = ForceMixingCalculator(lj(), ml_lj(), Regions([centre_atom(atoms)], 2.0, 2.0))
    traj = tmp_path / "relax.traj"
    log = tmp_path / "relax.log"
    result = relax_mixed_forces(atoms, fmax=1e-6, steps=3, trajectory=traj, logfile=log)
    assert not result.converged
    assert result.steps == 3 and result.fmax > 1e-6
    frames = read(traj, ":")
    assert len(frames) == 4  # the start and 3 steps
    np.testing.assert_allclose(frames[-1].positions, atoms.positions)
    lines = log.read_text().splitlines()
    assert "fmax" in lines[0] and len(lines) == 5
    assert "nan" not in log.read_text().lower()  # no made-up energy column


@pytest.mark.parametrize("optimizer", [FIRE, BFGS])
def test_ase_optimizers_fail_with_a_pointer_to_relax_mixed_forces(argon13, optimizer):
    atoms = argon13.copy()
    atoms.calc = ForceMixingCalculator(lj(), ml_lj(), Regions([0], 2.0, 2.0))
    with pytest.raises(PropertyNotImplementedError, match=r"relax_mixed_forces\(atoms"):
        optimizer(atoms, logfile=None).run(fmax=0.05, steps=2)
