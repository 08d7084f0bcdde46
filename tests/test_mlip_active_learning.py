"""Active learning: labels exactly when the force deviation crosses the threshold; kill-safe."""

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.lj import LennardJones

from multiscale.mlip import CommitteeCalculator
from multiscale.mlip.active_learning import run_active_learning


def _start():
    atoms = molecule("H2O")
    w = molecule("H2O")
    w.positions += [2.8, 0.0, 0.0]
    atoms += w
    atoms.rattle(0.05, seed=3)
    return atoms


def _committee(labels):
    # "retraining" shrinks the members' disagreement as labels accumulate
    spread = 0.2 / (1 + len(labels))
    return CommitteeCalculator(
        [
            LennardJones(sigma=1.0 + d, epsilon=0.02, rc=6.0, smooth=True)
            for d in (-spread, 0, spread)
        ]
    )


def _ref(cluster):
    return LennardJones(sigma=1.0, epsilon=0.02, rc=6.0, smooth=True)


def test_labels_only_above_threshold(tmp_path):
    none = run_active_learning(_start(), _committee, _ref, tmp_path / "a", 1e6, 5, progress=False)
    assert none == []
    labels = run_active_learning(
        _start(), _committee, _ref, tmp_path / "b", 1e-4, 5, progress=False
    )
    assert len(labels) >= 1
    assert all(a.info["max_force_std"] > 1e-4 for a in labels)
    assert [a.info["model_version"] for a in labels] == list(range(len(labels)))


def test_kill_and_restart_loses_and_duplicates_nothing(tmp_path):
    args = dict(threshold=1e-4, n_steps=6, progress=False)
    ref = run_active_learning(_start(), _committee, _ref, tmp_path / "full", **args)
    assert len(ref) >= 3  # the kill below really interrupts a run that labels more
    calls = []

    def dying(cluster):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a kill during the second label
        return _ref(cluster)

    with pytest.raises(KeyboardInterrupt):
        run_active_learning(_start(), _committee, dying, tmp_path / "cut", **args)
    got = run_active_learning(_start(), _committee, _ref, tmp_path / "cut", **args)
    assert [a.info["step"] for a in got] == [a.info["step"] for a in ref]
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-8)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-8)
