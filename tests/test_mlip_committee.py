"""Committee calculator and restartable labelling (cheap analytic potentials as members)."""

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.calculator import CalculatorSetupError
from ase.calculators.lj import LennardJones

from multiscale.mlip import CommitteeCalculator, label_configurations


def _cluster(seed=0):
    atoms = molecule("H2O")
    atoms += molecule("H2O")
    atoms.positions[3:] += [2.9, 0.1, 0.2]
    atoms.rattle(0.05, seed=seed)
    return atoms


def _lj(sigma):
    return LennardJones(sigma=sigma, epsilon=0.01, rc=8.0, smooth=True)


def test_identical_members_have_zero_deviation():
    atoms = _cluster()
    atoms.calc = CommitteeCalculator([_lj(1.0), _lj(1.0), _lj(1.0)])
    single = _cluster()
    single.calc = _lj(1.0)
    np.testing.assert_allclose(atoms.get_forces(), single.get_forces(), atol=1e-12)
    assert atoms.calc.results["max_force_std"] < 1e-14  # zero up to rounding of the mean


def test_deviation_matches_independent_formula_and_forces_are_gradients():
    members = [_lj(0.9), _lj(1.0), _lj(1.1)]
    atoms = _cluster()
    atoms.calc = CommitteeCalculator(members)
    f = atoms.get_forces()
    fk = []
    for m in [_lj(0.9), _lj(1.0), _lj(1.1)]:
        a = _cluster()
        a.calc = m
        fk.append(a.get_forces())
    fk = np.array(fk)
    ref = np.array(
        [
            np.sqrt(np.mean([np.sum((x[i] - fk.mean(0)[i]) ** 2) for x in fk]))
            for i in range(len(atoms))
        ]
    )
    np.testing.assert_allclose(atoms.calc.results["force_std"], ref, rtol=1e-10)
    assert atoms.calc.results["max_force_std"] > 1e-4
    # central finite differences of the committee energy
    h = 1e-4
    for i, k in [(0, 0), (2, 1), (4, 2)]:
        ep, em = [], []
        for s, out in ((h, ep), (-h, em)):
            b = atoms.copy()
            b.positions[i, k] += s
            b.calc = CommitteeCalculator([_lj(0.9), _lj(1.0), _lj(1.1)])
            out.append(b.get_potential_energy())
        assert f[i, k] == pytest.approx(-(ep[0] - em[0]) / (2 * h), abs=1e-7)


def test_committee_rejects_bad_members():
    with pytest.raises(CalculatorSetupError, match="at least 2 members"):
        CommitteeCalculator([_lj(1.0)])
    c = _lj(1.0)
    with pytest.raises(CalculatorSetupError, match="appears twice"):
        CommitteeCalculator([c, c])


class _Killed(RuntimeError):
    pass


def test_labelling_resumes_without_loss_or_duplicates(tmp_path):
    configs = [_cluster(seed=s) for s in range(5)]
    calls = []

    def dying(atoms):
        if len(calls) == 3:
            raise _Killed("simulated kill")
        calls.append(1)
        return _lj(1.0)

    out = tmp_path / "labels.extxyz"
    with pytest.raises(_Killed):
        label_configurations(configs, dying, out, {"xc": "lj"}, progress=False)
    frames = label_configurations(configs, lambda a: _lj(1.0), out, {"xc": "lj"}, progress=False)
    assert sorted(a.info["config_id"] for a in frames) == list(range(5))
    for a in frames:
        ref = configs[a.info["config_id"]].copy()
        ref.calc = _lj(1.0)
        np.testing.assert_allclose(a.get_forces(), ref.get_forces(), atol=1e-6)
        assert a.info["xc"] == "lj"
