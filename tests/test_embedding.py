"""Electrostatic embedding: point-charge forces are the derivative of the energy; mixing uses it."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.calculator import CalculatorSetupError
from ase.calculators.tip3p import TIP3P

from coupling import (
    EmbeddedPySCFCalculator,
    ForceMixingCalculator,
    PointChargeEmbedding,
    PySCFCalculator,
    Regions,
)


def water_with_charges():
    atoms = molecule("H2O")
    pos = np.array([[2.6, 0.3, 0.1], [-1.8, 1.9, -0.4]])
    q = np.array([-0.834, 0.417])
    return atoms, pos, q


def energy(atoms, pos, q) -> float:
    calc = EmbeddedPySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-12)
    calc.set_point_charges(pos, q)
    a = atoms.copy()
    a.calc = calc
    return a.get_potential_energy()


def test_point_charge_forces_equal_finite_differences_and_momentum_balances():
    atoms, pos, q = water_with_charges()
    calc = EmbeddedPySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-12)
    calc.set_point_charges(pos, q)
    a = atoms.copy()
    a.calc = calc
    f_qm = a.get_forces()
    f_pc = calc.results["point_charge_forces"]
    h = 1e-3
    for axis in (0, 2):
        plus, minus = pos.copy(), pos.copy()
        plus[0, axis] += h
        minus[0, axis] -= h
        fd = -(energy(atoms, plus, q) - energy(atoms, minus, q)) / (2 * h)
        assert f_pc[0, axis] == pytest.approx(fd, abs=2e-5)
    # E is invariant under a common translation of atoms and charges
    np.testing.assert_allclose(f_qm.sum(axis=0) + f_pc.sum(axis=0), 0.0, atol=1e-5)
    # and the charges do act on the cluster
    plain = atoms.copy()
    plain.calc = PySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-12)
    assert np.abs(plain.get_forces() - f_qm).max() > 1e-2


def test_force_mixing_with_embedding(three_waters):
    regions = Regions([0, 1, 2], r_core=0.5, r_switch=1.0)
    emb = PointChargeEmbedding("tip3p")
    calc = ForceMixingCalculator(
        EmbeddedPySCFCalculator(xc="hf", basis="sto-3g"), TIP3P(rc=9.0), regions, embedding=emb
    )
    a = three_waters.copy()
    a.calc = calc
    f = a.get_forces()
    # every atom outside the QM cluster is a point charge (no cutoff), whole waters
    n_env = len(a) - calc.results["cluster_size"]
    assert n_env in (3, 6)
    assert calc.results["n_point_charges"] == n_env
    bare = ForceMixingCalculator(PySCFCalculator(xc="hf", basis="sto-3g"), TIP3P(rc=9.0), regions)
    b = three_waters.copy()
    b.calc = bare
    assert np.abs(f[:3] - b.get_forces()[:3]).max() > 1e-2  # polarisation by the environment
    assert np.linalg.norm(f.sum(axis=0)) < 1e-10


def test_embedding_input_errors():
    with pytest.raises(CalculatorSetupError, match="needs a QM calculator with set_point_charges"):
        ForceMixingCalculator(
            PySCFCalculator(), TIP3P(), Regions([0], 1.0, 1.0), embedding=PointChargeEmbedding()
        )
    with pytest.raises(ValueError, match="charges must be a per-element dict"):
        PointChargeEmbedding("spce")
    with pytest.raises(ValueError, match="cutoff must be a positive distance"):
        PointChargeEmbedding(cutoff=-1.0)
    calc = EmbeddedPySCFCalculator()
    with pytest.raises(ValueError, match="2 point-charge positions but 1 charges"):
        calc.set_point_charges(np.zeros((2, 3)), [1.0])
