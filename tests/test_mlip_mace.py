"""MACE layer: shipped models, forces vs finite differences, committee spread, training."""

from __future__ import annotations

import os

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import CalculatorSetupError
from ase.calculators.singlepoint import SinglePointCalculator

from multiscale.mlip import (
    CommitteeCalculator,
    load_default_model,
    mace_calculator,
    split_frames,
    train_mace,
)
from multiscale.mlip.datasets import make_cluster
from multiscale.mlip.default_models import MODELS_DIR


@pytest.fixture(scope="module")
def committee():
    return load_default_model("water-nacl", committee=True, num_threads=1)


def _clusters(seed, n=6):
    rng = np.random.default_rng(seed)
    kinds = [((), 3), (("Na",), 3), (("Cl",), 3), (("Na", "Cl"), 2)]
    return [make_cluster(*kinds[i % len(kinds)], rng) for i in range(n)]


def test_forces_are_minus_energy_gradient():
    calc = mace_calculator(MODELS_DIR / "water-nacl-0.model", num_threads=1)
    atoms = _clusters(123, 3)[1]
    atoms.calc = calc
    forces = atoms.get_forces()
    h = 1e-4
    for i, k in [(0, 0), (1, 2), (4, 1), (6, 0)]:
        e = []
        for s in (h, -h):
            a = atoms.copy()
            a.positions[i, k] += s
            a.calc = calc
            e.append(a.get_potential_energy())
        fd = -(e[0] - e[1]) / (2 * h)
        assert abs(fd - forces[i, k]) < 1e-5 + 1e-4 * abs(fd)


def test_committee_of_identical_members_has_zero_spread():
    path = MODELS_DIR / "water-nacl-0.model"
    com = CommitteeCalculator([mace_calculator(path), mace_calculator(path)])
    atoms = _clusters(5, 1)[0]
    atoms.calc = com
    atoms.get_forces()
    assert com.results["max_force_std"] < 1e-10
    assert np.all(np.isfinite(com.results["forces"]))


def test_committee_spread_larger_out_of_distribution(committee):
    # in distribution: new clusters from the training generator (unseen seed)
    ind = []
    for atoms in _clusters(2024, 6):
        atoms.calc = committee
        atoms.get_forces()
        ind.append(committee.results["max_force_std"])
    # out of distribution: compressed water clusters and a Na-Cl pair at 1.7 Å
    ood = []
    for atoms in [_clusters(99, 1)[0], _clusters(98, 1)[0]]:
        a = atoms.copy()
        a.positions *= 0.7
        ood.append(a)
    ood.append(Atoms("NaCl", positions=[[0, 0, 0], [1.7, 0, 0]]))
    ood_std = []
    for a in ood:
        a.calc = committee
        a.get_forces()
        ood_std.append(committee.results["max_force_std"])
    assert np.median(ood_std) > 3 * np.median(ind)


@pytest.mark.parametrize("name", ["water-nacl", "cu-water-nacl"])
def test_load_default_model_offline(name):
    calc = load_default_model(name, num_threads=1)
    atoms = _clusters(7, 1)[0] if name == "water-nacl" else _cu_water()
    atoms.calc = calc
    f = atoms.get_forces()
    assert f.shape == (len(atoms), 3) and np.all(np.isfinite(f))
    # no net force on an isolated cluster / a periodic cell (translation invariance)
    assert np.abs(f.sum(axis=0)).max() < 1e-6


def _cu_water():
    from multiscale.md.builders import build_interface

    return build_interface(size=(2, 2), layers=3, water_thickness=8.0, salt=None)


def test_load_default_model_errors():
    with pytest.raises(CalculatorSetupError, match="unknown default model"):
        load_default_model("gold-water")
    from multiscale.mlip import default_models

    single = {"one": (("cu-water-nacl-0.model",), "a single member")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(default_models, "DEFAULT_MODELS", {**default_models.DEFAULT_MODELS, **single})
        with pytest.raises(CalculatorSetupError, match="single member"):
            load_default_model("one", committee=True)
    with pytest.raises(CalculatorSetupError, match="does not exist"):
        mace_calculator("/nonexistent/model.model")


def test_train_mace_is_reproducible(tmp_path):
    # labels: the shipped model's own energies/forces (this checks training mechanics only)
    ref = load_default_model("water-nacl", num_threads=1)
    frames = []
    for atoms in _clusters(11, 7):
        atoms.calc = ref
        frames.append(atoms.copy())
        frames[-1].calc = SinglePointCalculator(
            frames[-1], energy=atoms.get_potential_energy(), forces=atoms.get_forces()
        )
    split = split_frames(len(frames), 0.15, 0.15, seed=0)
    assert sorted(split["train"] + split["valid"] + split["test"]) == list(range(7))
    train = [frames[i] for i in split["train"]]
    valid = [frames[i] for i in split["valid"]]
    kw = dict(max_num_epochs=1, hidden_irreps="8x0e", num_interactions=1, batch_size=2)
    preds = []
    for run, seed in (("a", 3), ("b", 3), ("c", 4)):
        model = train_mace(train, valid, tmp_path / run, name=run, seed=seed, **kw)
        test = frames[split["test"][0]].copy()
        test.calc = mace_calculator(model, trust=True)
        preds.append(test.get_forces())
    np.testing.assert_allclose(preds[0], preds[1], rtol=0, atol=1e-10)
    # training imported mace-torch; torch.load is back to its safe default afterwards
    from multiscale.mlip import train as train_module

    if train_module._USER_NO_WEIGHTS_ONLY is None:
        assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    assert np.abs(preds[0] - preds[2]).max() > 1e-6


def test_train_mace_needs_labels(tmp_path):
    from ase.build import molecule

    with pytest.raises(ValueError, match="no energy/forces"):
        train_mace([molecule("H2O")], [molecule("H2O")], tmp_path)


def test_train_mace_warm_start_takes_over_the_weights(tmp_path):
    """``foundation=``: a fine-tuning run starts from the given model's weights. With a
    learning rate of 1e-12 one epoch cannot move them, so the fine-tuned model predicts the
    foundation's forces (to float64 round-off), while a fresh model with the same seed and
    settings does not; torch.load is safe again afterwards."""
    ref = load_default_model("water-nacl", num_threads=1)
    frames = []
    for atoms in _clusters(5, 5):
        atoms.calc = ref
        frames.append(atoms.copy())
        frames[-1].calc = SinglePointCalculator(
            frames[-1], energy=atoms.get_potential_energy(), forces=atoms.get_forces()
        )
    kw = dict(hidden_irreps="8x0e", num_interactions=1, batch_size=2, seed=1)
    base = train_mace(frames[:3], frames[3:4], tmp_path / "base", "base", max_num_epochs=1, **kw)
    warm = train_mace(frames[:3], frames[3:4], tmp_path / "warm", "warm", max_num_epochs=1,
                      lr=1e-12, foundation=base, **kw)  # fmt: skip
    cold = train_mace(frames[:3], frames[3:4], tmp_path / "cold", "cold", max_num_epochs=1,
                      lr=1e-12, **kw)  # fmt: skip
    test = frames[4].copy()
    f = {}
    for name, path in (("base", base), ("warm", warm), ("cold", cold)):
        test.calc = mace_calculator(path, trust=True)
        f[name] = test.get_forces()
    np.testing.assert_allclose(f["warm"], f["base"], rtol=0, atol=1e-8)
    assert np.abs(f["cold"] - f["base"]).max() > 1e-4
    from multiscale.mlip import train as train_module

    if train_module._USER_NO_WEIGHTS_ONLY is None:
        assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    with pytest.raises(ValueError, match="does not exist"):
        train_mace(frames[:3], frames[3:4], tmp_path / "x", foundation=tmp_path / "none.model")
