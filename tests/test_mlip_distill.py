"""Distillation of a teacher into a student committee: labelling farm, teacher MD, exploration,
candidate selection, settings and the loop itself.

The teacher is ASE's EMT (deterministic, milliseconds per call) or a hand-written spring
calculator; the "students" are spring calculators whose committee deviation is known in closed
form, so no MACE model is trained here (the training step itself is tested in
``test_mlip_mace.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.io import read

from multiscale.mlip import CommitteeCalculator
from multiscale.mlip.distill import (
    Distillation,
    DistillSettings,
    _distribute,
    explore,
    label_frames,
    like_ion_contacts,
    proton_transfer_scans,
    select_candidates,
    teacher_md,
)

# --- helpers -----------------------------------------------------------------------------------


class CountingEMT(EMT):
    """EMT that counts its force evaluations (class-wide, so every instance adds up)."""

    calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        type(self).calls += 1
        super().calculate(atoms, properties, system_changes)


@pytest.fixture
def counting_emt():
    CountingEMT.calls = 0
    return CountingEMT


class Springs(Calculator):
    """Every atom on a harmonic spring (``k``, eV/Å²) to ``x0`` plus a constant force ``pull``.

    E = k/2 |x - x0|² - pull·(x - x0); F = -k (x - x0) + pull.
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, x0: np.ndarray, k: float, pull: np.ndarray | None = None, **kwargs):
        super().__init__(**kwargs)
        self.x0 = np.array(x0, dtype=float)
        self.k = float(k)
        self.pull = np.zeros_like(self.x0) if pull is None else np.asarray(pull, dtype=float)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions - self.x0
        self.results = {
            "energy": 0.5 * self.k * float((d**2).sum()) - float((self.pull * d).sum()),
            "forces": -self.k * d + self.pull,
        }


def _cu_cluster(n: int = 4, seed: int = 0) -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)[:n]
    atoms.pbc = False
    atoms.cell = [0, 0, 0]
    atoms.rattle(0.05, seed=seed)
    return atoms


def _frames(n: int, prefix: str = "f") -> list[Atoms]:
    out = []
    for k in range(n):
        a = _cu_cluster(3 + k % 3, seed=k)
        a.info["label_id"] = f"{prefix}:{k}"
        out.append(a)
    return out


def _emt(atoms: Atoms) -> tuple[float, np.ndarray]:
    a = atoms.copy()
    a.calc = EMT()
    return a.get_potential_energy(), a.get_forces()


def _pull_on_h(water_dimer: Atoms, magnitude: float) -> np.ndarray:
    """Constant force (eV/Å) on H 1, along its O 0 -> H 1 bond (pulls the H off its water)."""
    bond = water_dimer.positions[1] - water_dimer.positions[0]
    pull = np.zeros((len(water_dimer), 3))
    pull[1] = magnitude * bond / np.linalg.norm(bond)
    return pull


# --- label_frames ------------------------------------------------------------------------------


def test_labels_are_the_teachers_energy_and_forces(tmp_path):
    frames = _frames(4)
    out = label_frames(frames, EMT, tmp_path / "labels.extxyz", provenance={"teacher": "emt"})
    stored = read(tmp_path / "labels.extxyz", index=":")
    assert [a.info["label_id"] for a in out] == [f"f:{k}" for k in range(4)]
    assert [a.info["label_id"] for a in stored] == [f"f:{k}" for k in range(4)]
    for frame, lab, st in zip(frames, out, stored, strict=True):
        e, f = _emt(frame)
        assert lab.get_potential_energy() == pytest.approx(e, abs=1e-12)
        assert np.allclose(lab.get_forces(), f, atol=1e-12, rtol=0)
        assert st.get_potential_energy() == pytest.approx(e, abs=1e-9)
        assert np.allclose(st.get_forces(), f, atol=1e-7, rtol=0)  # extxyz: 8 decimals
        assert np.allclose(st.positions, frame.positions, atol=1e-7)
        assert st.info["teacher"] == "emt"


def test_labelling_restarts_without_relabelling(tmp_path, counting_emt):
    path = tmp_path / "labels.extxyz"
    frames = _frames(5)
    made = []

    def make():
        made.append(1)
        return counting_emt()

    label_frames(frames[:2], make, path)
    assert counting_emt.calls == 2
    out = label_frames(frames, make, path)  # 2 already there: only 3 new teacher calls
    assert counting_emt.calls == 5
    assert [a.info["label_id"] for a in out] == [f"f:{k}" for k in range(5)]
    assert len(read(path, index=":")) == 5
    calls, n_made = counting_emt.calls, len(made)
    again = label_frames(frames[::-1], make, path)  # all done: the teacher is not even built
    assert (counting_emt.calls, len(made)) == (calls, n_made)
    assert len(again) == 5


def test_label_frames_bad_input(tmp_path):
    path = tmp_path / "labels.extxyz"
    frames = _frames(2)
    del frames[1].info["label_id"]
    with pytest.raises(ValueError, match=r"info\['label_id'\]"):
        label_frames(frames, EMT, path)
    frames = _frames(2)
    frames[1].info["label_id"] = ""
    with pytest.raises(ValueError, match=r"non-empty string info\['label_id'\]"):
        label_frames(frames, EMT, path)
    frames = _frames(3)
    frames[2].info["label_id"] = frames[0].info["label_id"]
    with pytest.raises(ValueError, match="label_id values must be unique"):
        label_frames(frames, EMT, path)
    with pytest.raises(TypeError, match="make_teacher must be callable, got EMT"):
        label_frames(_frames(2), EMT(), path)
    assert not path.exists()


def test_distribute_serial_keeps_task_order():
    assert _distribute([3, 1, 2], lambda t: t * 10, None) == [30, 10, 20]


# --- teacher MD --------------------------------------------------------------------------------


def test_teacher_md_frames_are_teacher_labels(tmp_path):
    start = _cu_cluster(6, seed=1)
    frames, summary = teacher_md(
        start, EMT(), tmp_path / "t.extxyz", n_steps=12, temperature=300.0, every=4, tag="cu",
        provenance={"teacher": "emt"},
    )  # fmt: skip
    assert [f.info["md_step"] for f in frames] == [0, 4, 8, 12]
    assert [f.info["label_id"] for f in frames] == ["cu:0", "cu:4", "cu:8", "cu:12"]
    assert all(f.info["teacher"] == "emt" for f in frames)
    for f in frames:
        e, forces = _emt(f)
        assert f.get_potential_energy() == pytest.approx(e, abs=1e-10)
        assert np.allclose(f.get_forces(), forces, atol=1e-10, rtol=0)
    # the frames move (MD, not a copy of the start), and the start was relaxed first
    assert np.abs(frames[-1].positions - frames[0].positions).max() > 1e-3
    assert np.abs(frames[0].get_forces()).max() < 0.2 + 1e-9
    assert summary["n_steps"] == 12 and summary["violations"] == []
    assert np.isfinite(summary["T_mean_K"])
    assert len(read(tmp_path / "t.extxyz", index=":")) == 4


def test_teacher_md_restart_equals_a_straight_run(tmp_path, counting_emt):
    start = _cu_cluster(5, seed=2)
    kw = dict(temperature=400.0, every=5, seed=3)
    straight, _ = teacher_md(start, EMT(), tmp_path / "a.extxyz", n_steps=20, **kw)
    first, _ = teacher_md(start, EMT(), tmp_path / "b.extxyz", n_steps=10, **kw)
    assert len(first) == 3
    counting_emt.calls = 0
    resumed, _ = teacher_md(start, counting_emt(), tmp_path / "b.extxyz", n_steps=20, **kw)
    assert counting_emt.calls <= 10 + 2  # only the 10 new steps: no new relaxation
    assert [f.info["md_step"] for f in resumed] == [0, 5, 10, 15, 20]
    # the stored part is untouched; the continuation matches the straight run to the 1e-8 Å
    # rounding of the extxyz restart file
    for a, b in zip(first, resumed[:3], strict=True):
        assert np.allclose(a.positions, b.positions, atol=1e-7)
    for a, b in zip(straight, resumed, strict=True):
        assert np.allclose(a.positions, b.positions, atol=1e-7, rtol=0)
        assert np.allclose(a.get_forces(), b.get_forces(), atol=1e-5, rtol=0)
    other, _ = teacher_md(start, EMT(), tmp_path / "c.extxyz", n_steps=20, **{**kw, "seed": 4})
    assert np.abs(other[-1].positions - straight[-1].positions).max() > 1e-3  # seed matters


def _water_oh(frames):
    return max(
        float(np.linalg.norm(f.positions[o] - f.positions[h]))
        for f in frames
        for o, h in ((0, 1), (0, 2), (3, 4), (3, 5))
    )


def test_teacher_md_integrity_intact_and_broken(tmp_path, water_dimer):
    x0 = water_dimer.positions
    frames, ok = teacher_md(
        water_dimer, Springs(x0, 20.0), tmp_path / "ok.extxyz", n_steps=20, temperature=300.0,
        every=5,
    )  # fmt: skip
    assert ok["violations"] == []
    assert ok["max_OH_A"] == pytest.approx(_water_oh(frames), abs=1e-9)
    # a 'teacher' that pulls H 1 off its O: 10 eV/Å against 20 eV/Å² moves it 0.5 Å out
    pull = _pull_on_h(water_dimer, 10.0)
    frames, bad = teacher_md(
        water_dimer, Springs(x0, 20.0, pull), tmp_path / "bad.extxyz", n_steps=20,
        temperature=300.0, every=5,
    )  # fmt: skip
    assert len(bad["violations"]) == 5  # every stored frame (steps 0..20) has the broken bond
    assert all(v.startswith("water O 0 lost H 1: O-H") for v in bad["violations"])
    assert bad["max_OH_A"] == pytest.approx(_water_oh(frames), abs=1e-9)
    assert bad["max_OH_A"] > 1.3


def test_teacher_md_resumed_summary_keeps_earlier_violations(tmp_path, water_dimer):
    pull = _pull_on_h(water_dimer, 10.0)
    calc = Springs(water_dimer.positions, 20.0, pull)
    path = tmp_path / "bad.extxyz"
    teacher_md(water_dimer, calc, path, n_steps=10, temperature=300.0, every=5)
    _, resumed = teacher_md(water_dimer, calc, path, n_steps=20, temperature=300.0, every=5)
    _, straight = teacher_md(
        water_dimer, calc, tmp_path / "s.extxyz", n_steps=20, temperature=300.0, every=5
    )
    assert len(resumed["violations"]) == len(straight["violations"]) == 5


# --- exploration -------------------------------------------------------------------------------


def _springs_committee(x0, k1=20.0, k2=22.0, pull=None):
    return CommitteeCalculator([Springs(x0, k1), Springs(x0, k2, pull)])


def test_explore_sigma_is_the_analytic_committee_deviation(water_dimer):
    """Two springs k1, k2 to x0: member forces -k_m d, mean -(k1+k2)/2 d, so the per-atom
    deviation is |k1 - k2|/2 |d| and max_force_std = |k1 - k2|/2 max_i |x_i - x0_i|."""
    x0 = water_dimer.positions.copy()
    res = explore(
        water_dimer, _springs_committee(x0), n_steps=40, temperature=300.0, threshold=0.0,
        check_every=5, test_every=10, seed=1,
    )  # fmt: skip
    assert res["completed"] and res["violations"] == [] and res["steps"] == 40
    cands = res["candidates"]
    assert [c.info["md_step"] for c in cands] == [5, 10, 15, 20, 25, 30, 35, 40]
    for c in cands + res["tests"]:
        analytic = (22.0 - 20.0) / 2 * np.linalg.norm(c.positions - x0, axis=1).max()
        assert c.info["max_force_std"] == pytest.approx(analytic, rel=1e-10)
        assert analytic > 1e-3  # the atoms moved
    assert res["sigma"] == [c.info["max_force_std"] for c in cands]
    assert res["max_force_std"] == max(res["sigma"])
    assert res["frac_above"] == 1.0
    # unbiased test frames every test_every steps, labelled as tests
    assert [t.info["md_step"] for t in res["tests"]] == [10, 20, 30, 40]
    assert all(t.info["label_id"].startswith("explore:test:") for t in res["tests"])
    assert all("momenta" not in c.arrays and c.calc is None for c in cands)


def test_explore_threshold_selects_candidates(water_dimer):
    x0 = water_dimer.positions.copy()
    kw = dict(n_steps=40, temperature=300.0, check_every=5, test_every=1000, seed=1)
    all_sig = explore(water_dimer, _springs_committee(x0), threshold=0.0, **kw)["sigma"]
    cut = float(np.median(all_sig))
    res = explore(water_dimer, _springs_committee(x0), threshold=cut, **kw)
    assert res["sigma"] == all_sig  # same seed, same trajectory
    assert [c.info["max_force_std"] for c in res["candidates"]] == [s for s in all_sig if s > cut]
    assert res["frac_above"] == pytest.approx(np.mean(np.array(all_sig) > cut))
    assert res["tests"] == []


@pytest.mark.parametrize("threshold", [0.0, 1e9])
def test_explore_stops_at_an_integrity_violation(water_dimer, threshold):
    """One member pulls H 1 off its water: the mean force breaks the O-H bond within a few fs;
    the run stops there, the violation frame and the two checks before it are candidates."""
    x0 = water_dimer.positions.copy()
    committee = _springs_committee(x0, pull=_pull_on_h(water_dimer, 40.0))
    res = explore(
        water_dimer, committee, n_steps=50, temperature=300.0, threshold=threshold,
        check_every=1, test_every=2, seed=2,
    )  # fmt: skip
    assert res["completed"] is False
    assert 3 <= res["steps"] < 50
    assert res["violations"] == [res["violations"][0]]  # one, and no restart by default
    assert res["violations"][0].startswith(f"step {res['steps']}: water O 0 lost H 1: O-H")
    assert res["restarts"] == 0
    cands = res["candidates"]
    last = cands[-1]
    assert last.info["config_type"] == "explore:violation"
    assert last.info["md_step"] == res["steps"]
    assert np.linalg.norm(last.positions[1] - last.positions[0]) > 1.3  # really broken
    ids = [c.info["label_id"] for c in cands]
    assert len(ids) == len(set(ids))  # labelable: no frame twice
    steps = [c.info["md_step"] for c in cands]
    if threshold == 0.0:  # every check is a candidate
        assert steps == list(range(1, res["steps"] + 1))
    else:  # only the violation and the two checks before it
        assert steps == [res["steps"] - 2, res["steps"] - 1, res["steps"]]
    kinds = [c.info["config_type"] for c in cands[-3:]]
    assert kinds == ["explore:previolation", "explore:previolation", "explore:violation"]
    # no test frame after the violation
    assert all(t.info["md_step"] < res["steps"] for t in res["tests"])


# --- candidate selection -----------------------------------------------------------------------


def _cand(step: int, sigma: float, kind: str = "cand") -> Atoms:
    a = Atoms("H")
    a.info.update(md_step=step, max_force_std=sigma, config_type=f"x:{kind}")
    a.info["label_id"] = f"x:{kind}:{step}"
    return a


def test_select_candidates_most_uncertain_apart_at_most_n():
    sig = {10: 0.30, 20: 0.90, 30: 0.85, 40: 0.20, 50: 0.70, 60: 0.65, 70: 0.10, 80: 0.60}
    cands = [_cand(s, v) for s, v in sig.items()]
    got = select_candidates(cands, n_max=3, min_gap=20)
    # 20 (0.90); 30 too close to 20; 50 (0.70); 60 too close; 80 (0.60): three, stop
    assert [c.info["md_step"] for c in got] == [20, 50, 80]
    got = select_candidates(cands, n_max=10, min_gap=20)
    assert [c.info["md_step"] for c in got] == [20, 50, 80]  # the others are too close
    got = select_candidates(cands, n_max=10, min_gap=10)
    assert [c.info["md_step"] for c in got] == [20, 30, 50, 60, 80, 10, 40, 70]  # by sigma
    got = select_candidates(cands, n_max=2, min_gap=1)
    assert [c.info["md_step"] for c in got] == [20, 30]


def test_select_candidates_keeps_violation_frames():
    cands = [_cand(10, 0.9), _cand(20, 0.5), _cand(30, 0.01, "violation")]
    got = select_candidates(cands, n_max=1, min_gap=15)
    assert [c.info["md_step"] for c in got] == [30]  # forced, even below the others
    got = select_candidates(cands, n_max=2, min_gap=15)
    assert [c.info["md_step"] for c in got] == [30, 10]  # 20 is within 15 steps of 30
    assert select_candidates([], n_max=3, min_gap=5) == []


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"teacher": "mace-mp-0"}, "teacher"),
        ({"n_members": 1}, "n_members"),
        ({"n_members": 2.0}, "n_members"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": True}, "batch_size"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"timestep": "1"}, "timestep"),
        ({"temperatures": (300.0, 0.0)}, "temperatures"),
        ({"temperatures": ()}, "temperatures"),
        ({"temperatures": 300.0}, "temperatures"),
        ({"temperatures": ("hot",)}, "temperatures"),
        ({"teacher_temperature": 0.0}, "teacher_temperature"),
        ({"train_dtype": "float16"}, "train_dtype"),
    ],
)
def test_bad_settings_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=rf"^{key} must"):
        DistillSettings(**kwargs)


def test_default_settings_and_temperatures_as_floats():
    s = DistillSettings(temperatures=[300, 350])
    assert s.temperatures == (300.0, 350.0)
    assert DistillSettings().n_members >= 3  # a committee deviation needs a few members


# --- the loop ----------------------------------------------------------------------------------


def test_distillation_bad_input(tmp_path):
    cu = _cu_cluster()
    with pytest.raises(TypeError, match="systems must be a non-empty dict"):
        Distillation([cu], tmp_path / "a")
    with pytest.raises(TypeError, match="systems must be a non-empty dict"):
        Distillation({}, tmp_path / "a")
    with pytest.raises(TypeError, match=r"systems\['cu'\] must be a non-empty ase.Atoms"):
        Distillation({"cu": "Cu4"}, tmp_path / "a")
    with pytest.raises(TypeError, match="make_teacher must be callable"):
        Distillation({"cu": cu}, tmp_path / "a", make_teacher=EMT())


def test_distillation_resume_needs_the_same_settings(tmp_path):
    cu = {"cu": _cu_cluster()}
    Distillation(cu, tmp_path, DistillSettings(threshold=0.2), progress=False)
    Distillation(cu, tmp_path, DistillSettings(threshold=0.2), progress=False)  # same: fine
    with pytest.raises(ValueError, match="other settings"):
        Distillation(cu, tmp_path, DistillSettings(threshold=0.3), progress=False)
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["threshold"] == 0.2  # the refused settings did not overwrite the first ones
    # more rounds may be asked for on a resume
    Distillation(cu, tmp_path, DistillSettings(threshold=0.2, max_iterations=12), progress=False)
    assert json.loads((tmp_path / "settings.json").read_text())["max_iterations"] == 12


def _small_settings(**kw) -> DistillSettings:
    base = dict(
        n_members=2, temperatures=(300.0,), threshold=0.05, teacher_steps=4, teacher_every=2,
        teacher_temperature=300.0, explore_steps=10, final_steps=20, max_new=3, min_gap=1,
        test_every=10, max_iterations=4, n_rattle=0,
    )  # fmt: skip
    return DistillSettings(**{**base, **kw})


def test_teacher_stage_uses_the_make_teacher_hook(tmp_path, counting_emt):
    made = []

    def make():
        made.append(1)
        return counting_emt()

    cu = _cu_cluster(4, seed=5)
    dist = Distillation({"cu": cu}, tmp_path, _small_settings(), progress=False, make_teacher=make)
    assert isinstance(dist._teacher(), CountingEMT)
    dist.teacher_stage()
    assert counting_emt.calls > 0
    labels = dist.labels()
    assert [a.info["label_id"] for a in labels] == ["teacher-cu:0", "teacher-cu:2", "teacher-cu:4"]
    assert all(a.info["teacher"] == "sevennet-0" for a in labels)  # the settings' name
    assert all("md_momenta" not in a.arrays and "md_masses" not in a.arrays for a in labels)
    for a in labels:
        assert np.allclose(a.get_forces(), _emt(a)[1], atol=1e-6)
    summary = json.loads((tmp_path / "teacher_cu.json").read_text())
    assert summary["n_steps"] == 4 and summary["violations"] == []
    calls, n_made = counting_emt.calls, len(made)
    dist.teacher_stage()  # done: nothing recomputed
    assert (counting_emt.calls, len(made)) == (calls, n_made)


def test_the_loop_converges_with_spring_students(tmp_path, counting_emt):
    """The whole loop with students whose disagreement vanishes once a candidate is labelled
    (EMT teacher, spring 'students'): round 0 finds an uncertain frame and labels it, round 1
    runs the final length under the threshold; a rerun resumes and computes nothing."""
    cu = _cu_cluster(4, seed=5)
    x0 = cu.positions.copy()

    def build(workdir):
        dist = Distillation(
            {"cu": cu}, workdir, _small_settings(), progress=False, make_teacher=counting_emt
        )

        def train(it):
            (workdir / f"iter_{it:02d}").mkdir(exist_ok=True)
            return [workdir / "m0", workdir / "m1"]  # names only: the students are springs

        def committee(members, dtype="float32"):
            spread = 2.0 if len(dist.labels()) < 4 else 0.0  # "retrained" on the new label
            return CommitteeCalculator([Springs(x0, 5.0 - spread), Springs(x0, 5.0 + spread)])

        def student(path, dtype="float32"):  # the first member drives the exploration
            return committee([path]).members[0]

        dist.train, dist.committee, dist.student = train, committee, student
        return dist

    dist = build(tmp_path)
    assert dist.kernel() is True and dist.converged
    assert [h["explore_steps"] for h in dist.history] == [10, 20]
    first, second = (h["explore"][0] for h in dist.history)
    assert first["max_force_std"] > 0.05 and second["max_force_std"] <= 0.05
    assert second["completed"] and second["steps"] == 20
    labels = read(tmp_path / "labels.extxyz", index=":")
    tests = read(tmp_path / "test.extxyz", index=":")
    assert [a.info["label_id"] for a in labels] == ["it0-cu-300K:cand:10"]
    assert [a.info["label_id"] for a in tests] == ["it0-cu-300K:test:10"]
    for a in labels + tests:
        assert np.allclose(a.get_forces(), _emt(a)[1], atol=1e-6)
        assert a.info["teacher"] == "sevennet-0"
    assert dist.history[1]["n_labels"] == 4 and dist.history[1]["n_test"] == 1
    # round 1's test error: the spring committee against the EMT test label
    from multiscale.mlip.teachers import force_errors

    expected = force_errors(_springs_committee(x0, 5.0, 5.0), tests, box=False).mae
    assert dist.history[1]["test_errors"]["committee_mae_meV_A"] == pytest.approx(expected)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["converged"] is True and len(result["history"]) == 2
    # resume: every stage is read back; the teacher is not called again
    calls = counting_emt.calls
    again = build(tmp_path)
    assert again.kernel() is True
    assert counting_emt.calls == calls
    assert [h["explore"] for h in again.history] == [h["explore"] for h in dist.history]


def test_end_to_end_with_tiny_mace_students(tmp_path, counting_emt):
    """The real loop: EMT teacher MD, two tiny MACE students (1 epoch), their committee MD,
    the uncertain frame labelled by the teacher; ~10 s. The stored deviation is the students'
    force spread recomputed here member by member; a rerun trains and labels nothing."""
    from multiscale.mlip.train import mace_calculator

    s = DistillSettings(
        n_members=2, temperatures=(300.0,), threshold=1e-6, teacher_steps=10, teacher_every=2,
        teacher_temperature=300.0, explore_steps=10, final_steps=10, max_new=1, min_gap=1,
        test_every=10, max_iterations=1, epochs=1, batch_size=2, hidden_irreps="4x0e",
        r_max=3.0, n_rattle=0,
    )  # fmt: skip
    cu = _cu_cluster(4, seed=5)
    dist = Distillation({"cu": cu}, tmp_path, s, progress=False, make_teacher=counting_emt)
    assert dist.kernel() is False  # a 1e-6 eV/Å threshold is never met
    assert len(dist.members) == 2 and all(p.exists() for p in dist.members)
    n_train = [json.loads((p.parent / "train.json").read_text())["n_train"] for p in dist.members]
    assert n_train == [5, 5]  # 6 teacher frames, 1 for validation
    (cand,) = read(tmp_path / "labels.extxyz", index=":")
    (test,) = read(tmp_path / "test.extxyz", index=":")
    assert cand.info["label_id"] == "it0-cu-300K:cand:10"
    assert test.info["label_id"] == "it0-cu-300K:test:10"
    assert np.allclose(cand.get_forces(), _emt(cand)[1], atol=1e-6)  # the teacher's label
    member_forces = []
    for p in dist.members:
        a = cand.copy()
        a.calc = mace_calculator(p, trust=True, dtype="float32")
        member_forces.append(a.get_forces())
    f = np.array(member_forces)
    sigma = np.sqrt(((f - f.mean(axis=0)) ** 2).sum(axis=2).mean(axis=0)).max()
    assert sigma > 1e-6
    assert cand.info["max_force_std"] == pytest.approx(sigma, rel=1e-3, abs=1e-6)
    assert dist.history[0]["explore"][0]["max_force_std"] == pytest.approx(
        cand.info["max_force_std"]
    )
    stamps = [p.stat().st_mtime_ns for p in dist.members]
    calls = counting_emt.calls
    again = Distillation({"cu": cu}, tmp_path, s, progress=False, make_teacher=counting_emt)
    assert again.kernel() is False
    assert [p.stat().st_mtime_ns for p in again.members] == stamps  # not retrained
    assert counting_emt.calls == calls


def test_explore_driver_moves_the_atoms_and_the_committee_only_measures(water_dimer):
    """With ``driver`` the trajectory is the driver's: a spring of the committee-mean constant
    (21) as driver reproduces the committee-mean run exactly (same seed), a softer driver
    (k = 5) gives another trajectory, and σ is still the committee's analytic deviation."""
    x0 = water_dimer.positions.copy()
    kw = dict(n_steps=30, temperature=300.0, threshold=0.0, check_every=5, test_every=10, seed=4)
    mean_run = explore(water_dimer, _springs_committee(x0), **kw)
    same = explore(water_dimer, _springs_committee(x0), driver=Springs(x0, 21.0), **kw)
    soft = explore(water_dimer, _springs_committee(x0), driver=Springs(x0, 5.0), **kw)
    last = [r["candidates"][-1].positions for r in (mean_run, same, soft)]
    np.testing.assert_allclose(last[1], last[0], rtol=0, atol=1e-12)
    assert np.abs(last[2] - last[0]).max() > 1e-3
    for c in soft["candidates"]:
        analytic = (22.0 - 20.0) / 2 * np.linalg.norm(c.positions - x0, axis=1).max()
        assert c.info["max_force_std"] == pytest.approx(analytic, rel=1e-10)


def test_explore_restarts_after_a_violation_until_its_steps_are_done(water_dimer):
    """With max_restarts the run starts again from the initial structure after each violation
    (the pulled H breaks off every time, within a few steps): max_restarts + 1 violations,
    each with its violation frame and n_before pre-violation frames, unique label ids, step
    numbers that go on across restarts, and the first start identical to a run without
    restarts (same seed)."""
    x0 = water_dimer.positions.copy()
    kw = dict(n_steps=200, temperature=300.0, threshold=1e9, check_every=1, test_every=1000)
    one = explore(water_dimer, _springs_committee(x0, pull=_pull_on_h(water_dimer, 40.0)),
                  seed=2, **kw)  # fmt: skip
    res = explore(water_dimer, _springs_committee(x0, pull=_pull_on_h(water_dimer, 40.0)),
                  seed=2, max_restarts=2, n_before=3, **kw)  # fmt: skip
    assert res["restarts"] == 2 and len(res["violations"]) == 3 and not res["completed"]
    assert res["violations"][0] == one["violations"][0]
    kinds = [c.info["config_type"].split(":")[1] for c in res["candidates"]]
    ends = [i for i, k in enumerate(kinds) if k == "violation"]
    assert len(ends) == 3 and ends[-1] == len(kinds) - 1
    before = np.diff([-1, *ends]) - 1  # pre-violation frames before each violation
    assert set(kinds) == {"previolation", "violation"} and all(1 <= b <= 3 for b in before)
    steps = [c.info["md_step"] for c in res["candidates"]]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    ids = [c.info["label_id"] for c in res["candidates"]]
    assert len(set(ids)) == len(ids)
    # every restart begins at the start structure: the first frame after each violation is
    # within a few steps of it
    firsts = [res["candidates"][0]] + [
        res["candidates"][i + 1] for i, k in enumerate(kinds[:-1]) if k == "violation"
    ]
    assert len(firsts) == 3
    for c in firsts:
        assert np.abs(c.positions - x0).max() < 0.5


def test_teacher_stage_labels_rattled_frames_once(tmp_path, counting_emt):
    """n_rattle: that many teacher-MD frames per structure, displaced by Gaussian noise of
    0.01-0.05 Å, labelled with the teacher's own forces; they join the training labels and a
    second teacher stage labels nothing again."""
    cu = _cu_cluster(4, seed=5)
    dist = Distillation({"cu": cu}, tmp_path, _small_settings(n_rattle=2), progress=False,
                        make_teacher=counting_emt)  # fmt: skip
    dist.teacher_stage()
    md = {a.info["md_step"]: a for a in read(tmp_path / "teacher_cu.extxyz", ":")}
    rattled = read(tmp_path / "rattle.extxyz", ":")
    assert [a.info["label_id"] for a in rattled] == ["rattle-cu:0", "rattle-cu:1"]
    for a in rattled:
        assert 0.01 <= a.info["rattle_sigma_A"] <= 0.05
        moved = a.positions - md[a.info["md_step"]].positions
        assert 0.002 < np.abs(moved).mean() < 0.1
        assert np.allclose(a.get_forces(), _emt(a)[1], atol=1e-6)
    assert len(dist.labels()) == len(md) + 2
    calls = counting_emt.calls
    dist.teacher_stage()
    assert counting_emt.calls == calls


# --- like-ion contacts ---------------------------------------------------------------------


def _salt_gas(seed: int = 0) -> Atoms:
    """Two Na, two Cl, one K and six Ar at least 3.6 Å apart in a periodic 14 Å box."""
    rng = np.random.default_rng(seed)
    pos: list[np.ndarray] = []
    while len(pos) < 11:
        x = rng.uniform(0.0, 14.0, 3)
        if all(np.linalg.norm((x - p + 7.0) % 14.0 - 7.0) > 3.6 for p in pos):  # minimum image
            pos.append(x)
    return Atoms("Na2Cl2KAr6", positions=pos, cell=[14.0] * 3, pbc=True)


def test_like_ion_contacts_place_one_ion_at_the_scan_distances():
    """Each frame differs from its source in one ion, now at the scan distance (minimum image)
    from a like ion and no closer to anything else than 0.9 of its old nearest neighbour; an
    element present once (K) or not an ion (Ar) gets no scan; the same seed gives the same
    frames."""
    from multiscale.mlip.distill import CONTACT_SCALES, IONIC_RADII_A

    src = [_salt_gas(0), _salt_gas(1)]
    for k, f in enumerate(src):
        f.info["md_step"] = 10 * k
    frames = like_ion_contacts(src, 5, np.random.default_rng(3), "gas")
    assert frames and {f.info["contact_pair"] for f in frames} == {"Na-Na", "Cl-Cl"}
    ids = [f.info["label_id"] for f in frames]
    assert len(set(ids)) == len(ids) and all(i.startswith("contact-gas:") for i in ids)
    for f in frames:
        source = src[f.info["md_step"] // 10]
        moved = np.flatnonzero(np.linalg.norm(f.positions - source.positions, axis=1) > 1e-9)
        assert len(moved) == 1
        j = int(moved[0])
        el = f.get_chemical_symbols()[j]
        assert f.info["contact_pair"] == f"{el}-{el}"
        like = [i for i, s in enumerate(f.get_chemical_symbols()) if s == el and i != j]
        d_like = f.get_distances(j, like, mic=True)
        expected = [c * 2 * IONIC_RADII_A[el] for c in CONTACT_SCALES]
        assert np.isclose(expected, f.info["contact_distance_A"], rtol=1e-12).sum() == 1
        assert d_like.min() == pytest.approx(f.info["contact_distance_A"], abs=1e-9)
        rest = [i for i in range(len(f)) if i != j and f.get_chemical_symbols()[i] != el]
        nn0 = source.get_distances(j, [i for i in range(len(f)) if i != j], mic=True).min()
        assert f.get_distances(j, rest, mic=True).min() >= 0.9 * nn0 - 1e-9
        assert f.calc is None
    again = like_ion_contacts(src, 5, np.random.default_rng(3), "gas")
    assert [f.info["label_id"] for f in again] == ids
    assert all(np.allclose(a.positions, b.positions) for a, b in zip(frames, again, strict=True))
    assert like_ion_contacts([], 5, np.random.default_rng(0)) == []


def test_teacher_stage_labels_like_ion_contacts_once(tmp_path):
    """The teacher stage labels the contact frames of its teacher MD with the teacher's forces;
    they join the training labels, and a second stage labels nothing again."""
    from ase.calculators.lj import LennardJones

    calls = []

    def make():
        calls.append(1)
        return LennardJones(sigma=3.0, epsilon=0.01, rc=6.5, smooth=True)

    dist = Distillation({"gas": _salt_gas(0)}, tmp_path, _small_settings(), progress=False,
                        make_teacher=make)  # fmt: skip
    dist.teacher_stage()
    contacts = read(tmp_path / "contacts.extxyz", ":")
    assert contacts and all(a.info["config_type"] == "contact" for a in contacts)
    for a in contacts:
        b = a.copy()
        b.calc = make()
        assert np.allclose(a.get_forces(), b.get_forces(), atol=1e-8)
    n_md = len(read(tmp_path / "teacher_gas.extxyz", ":"))
    assert len(dist.labels()) == n_md + len(contacts)
    n_calls = len(calls)
    dist.teacher_stage()
    assert len(calls) == n_calls


def test_proton_transfer_scans_move_the_bonded_h_along_the_oo_axis(water_dimer):
    """In a water dimer the only hydrogen bond is O 0-H 2···O 3: each scan frame differs from
    it in H 2 alone, which sits on the O 0-O 3 axis at the scan's fraction of the O···O
    distance; no water, no scan."""
    from multiscale.mlip.distill import PROTON_FRACTIONS

    src = water_dimer.copy()
    src.info["md_step"] = 0
    frames = proton_transfer_scans([src], 2, np.random.default_rng(0), "dimer")
    assert len(frames) == 2 * len(PROTON_FRACTIONS)
    d_oo = src.get_distance(0, 3)
    axis = (src.positions[3] - src.positions[0]) / d_oo
    for f in frames:
        moved = np.flatnonzero(np.linalg.norm(f.positions - src.positions, axis=1) > 1e-9)
        assert moved.tolist() == [2]
        rel = f.positions[2] - f.positions[0]
        assert np.linalg.norm(np.cross(rel, axis)) < 1e-9  # on the axis
        assert rel @ axis == pytest.approx(f.info["proton_fraction"] * d_oo, abs=1e-9)
        assert f.info["OO_A"] == pytest.approx(d_oo) and f.info["config_type"] == "proton"
    ids = [f.info["label_id"] for f in frames]
    assert len(set(ids)) == len(ids) and ids[0] == "proton-dimer:0:0"
    assert proton_transfer_scans([_cu_cluster(4)], 3, np.random.default_rng(0)) == []
    assert proton_transfer_scans([], 3, np.random.default_rng(0)) == []
