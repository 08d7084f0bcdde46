"""Shared fixtures: tiny molecular clusters for the DFT tests."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms


@pytest.fixture
def water_dimer() -> Atoms:
    """A water dimer near its hydrogen-bonded minimum (Å), non-periodic."""
    return Atoms(
        "OHHOHH",
        positions=[
            [-1.551007, -0.114520, 0.000000],
            [-1.934259, 0.762503, 0.000000],
            [-0.599677, 0.040712, 0.000000],
            [1.350625, 0.111469, 0.000000],
            [1.680398, -0.373741, -0.758561],
            [1.680398, -0.373741, 0.758561],
        ],
    )


@pytest.fixture
def water_trimer() -> Atoms:
    """A cyclic water trimer (Å), non-periodic (the demo's system)."""
    from multiscale.demo import water_trimer as build

    return build()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture
def three_waters() -> Atoms:
    """A core water, a neighbour, and a water that can be dragged away along +y (Å)."""
    from ase.build import molecule

    atoms = Atoms()
    for shift in ([0.0, 0.0, 0.0], [2.9, 0.0, 0.3], [0.2, 3.0, 0.0]):
        w = molecule("H2O")
        w.translate(shift)
        atoms += w
    atoms.center(vacuum=8.0)
    return atoms
