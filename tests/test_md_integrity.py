"""Integrity monitor: molecules stay molecules, no O-O contact, no overlap; policies and runner."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc111, molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read

from multiscale.md import (
    IntegrityMonitor,
    MDBlowUpError,
    MDIntegrityError,
    MDRunner,
    MDSettings,
)


def water_box(n: int = 2, spacing: float = 3.0) -> Atoms:
    """n^3 waters (ase.build.molecule) on a cubic grid, periodic."""
    box = Atoms(cell=[n * spacing] * 3, pbc=True)
    for x in range(n):
        for y in range(n):
            for z in range(n):
                w = molecule("H2O")
                w.translate(np.array([x, y, z]) * spacing + spacing / 2)
                box += w
    return box


def oh(atoms: Atoms, o: int, h: int) -> float:
    return float(atoms.get_distance(o, h, mic=True))


def test_normal_water_frames_have_no_violation():
    ref = water_box()
    mon = IntegrityMonitor(ref)
    assert sorted(mon.waters) == list(range(0, 24, 3))
    rng = np.random.default_rng(0)
    for step in range(5):
        frame = ref.copy()
        frame.positions += rng.normal(scale=0.03, size=frame.positions.shape)
        # unwrapped positions: whole molecules shifted by cell vectors stay the same molecules
        frame.positions[3:6] += ref.cell[0] * (step - 2)
        res = mon.check(frame, step)
        assert res.ok and not res.events, [e.message for e in res.violations]
    assert 2.7 < res.min_OO_A < 3.3
    assert 0.9 < res.max_OH_A < 1.1
    assert mon.n_checks == 5


def test_molecule_across_the_periodic_boundary_is_intact():
    ref = water_box(1, spacing=6.0)
    frame = ref.copy()
    frame.positions += [0, -3.0, 0]  # O at y = 0, its H on either side of the cell face
    frame.wrap()
    assert frame.positions[1:3, 1].max() - frame.positions[1:3, 1].min() > 4.0  # split by wrap
    res = IntegrityMonitor(ref).check(frame)
    assert res.ok and res.max_OH_A < 1.0


def test_hydrogen_moved_away_names_the_oxygen_and_hydrogen(tmp_path: Path):
    ref = water_box()
    frame = ref.copy()
    frame.positions[4] += [0, 0, 2.0]  # H 4 of the water of O 3
    mon = IntegrityMonitor(ref)
    with pytest.raises(MDIntegrityError, match=r"step 7, t = 3\.5 fs: water O 3 lost H 4: O-H"):
        mon(frame, step=7, time_fs=3.5, last_good_path=tmp_path / "last_good.traj", fallback=ref)
    # nothing had passed yet: the fallback frame is kept
    kept = read(tmp_path / "last_good.traj")
    assert oh(kept, 3, 4) < 1.0
    res = mon.check(frame)
    assert [(e.kind, e.i, e.j) for e in res.violations] == [("bond_broken", 3, 4)]
    assert "O 3 now has 1 H" in res.violations[0].message
    assert res.violations[0].distance_A > 1.3


def test_two_oxygens_pushed_to_1p5_angstrom_are_a_violation():
    ref = water_box()
    frame = ref.copy()
    # the water of O 9 moved next to O 0, along the diagonal, away from the other waters
    shift = frame.positions[0] + 1.5 * np.ones(3) / np.sqrt(3) - frame.positions[9]
    frame.positions[9:12] += shift
    res = IntegrityMonitor(ref, policy="flag").check(frame)
    close = [e for e in res.violations if e.kind == "O-O_close"]
    assert [(e.i, e.j) for e in close] == [(0, 9)]
    assert close[0].distance_A == pytest.approx(1.5, abs=1e-6)
    assert "O 0 and O 9 are 1.50 Å apart" in close[0].message
    assert res.min_OO_A == pytest.approx(1.5, abs=1e-6)


def test_a_third_hydrogen_on_an_oxygen_is_reported():
    ref = water_box()
    frame = ref.copy()
    # H 10 (of O 9) moved to 1.0 Å from O 0: O 9 loses it, O 0 gets a third H (H3O+ and OH-)
    frame.positions[10] = frame.positions[0] + [0, 0, -1.0]
    mon = IntegrityMonitor(ref, policy="flag")
    # first sighting: a crossing, and the stretched O 9-H 10 goes with it (not yet a loss)
    first = mon.check(frame)
    assert first.ok and [(e.i, e.j) for e in first.crossings] == [(0, 10)]
    res = mon.check(frame)  # still there at the next check: a transferred proton
    kinds = {(e.kind, e.i, e.j) for e in res.violations}
    assert ("bond_formed", 0, 10) in kinds and ("bond_broken", 9, 10) in kinds
    formed = next(e for e in res.violations if e.kind == "bond_formed")
    assert "water O 0 took H 10: O-H 1.00 Å < 1.30 Å" in formed.message
    assert "O 0 now has 3 H" in formed.message


def test_flag_policy_with_reactive_water_continues_and_lists_events(tmp_path: Path):
    ref = water_box()
    broken = ref.copy()
    broken.positions[4] += [0, 0, 2.0]
    mon = IntegrityMonitor(ref, policy="flag", reactive_species=["H2O"], output_dir=tmp_path)
    frames = {0: ref, 10: broken, 20: broken, 30: ref}
    for step, frame in frames.items():
        res = mon(frame, step, time_fs=0.5 * step)  # no exception
        if step == 20:
            assert res.ok and [(e.kind, e.i, e.j) for e in res.events] == [("bond_broken", 3, 4)]
    with open(tmp_path / "integrity_events.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # one row when the event appears, one when it is gone; none for it lasting
    assert [(r["step"], r["status"], r["i"], r["j"]) for r in rows] == [
        ("10", "event", "3", "4"),
        ("30", "cleared", "3", "4"),
    ]
    s = mon.summary()
    assert (s["n_checks"], s["n_violations"], s["n_events"], s["distinct"]) == (4, 0, 1, 1)
    assert s["findings"][0]["first_step"] == 10 and s["max_OH_A"] > 1.3
    assert s["active_at_end"] == 0
    # without the declaration the same frame is a violation, recorded and not raised
    flag = IntegrityMonitor(ref, policy="flag")
    assert not flag(broken, 5).ok
    assert flag.summary()["first_violation"] == 5


def test_reactive_elements_are_exempt_but_overlaps_never():
    ref = Atoms(cell=[10, 10, 10], pbc=True)
    ref += molecule("H2O")
    ref += Atoms("Cl", positions=[[5, 5, 5]])
    frame = ref.copy()
    frame.positions[1] = frame.positions[3] + [1.3, 0, 0]  # H leaves O for Cl: HCl forms
    mon = IntegrityMonitor(ref, policy="stop", reactive_species=["Cl", "H"])
    res = mon(frame, 1)
    assert res.ok and {e.kind for e in res.events} == {"bond_broken", "bond_formed"}
    frame.positions[1] = frame.positions[3] + [0.5, 0, 0]  # 0.5 Å < 0.7 x (0.31 + 1.02)
    with pytest.raises(MDIntegrityError, match=r"H 1 and Cl 3 overlap: 0\.50 Å < 0\.93 Å"):
        mon(frame, 2)


def test_metal_slab_and_adsorbed_chloride():
    slab = fcc111("Cu", size=(3, 4, 3), vacuum=8.0, orthogonal=True, periodic=True)
    top = int(np.argmax(slab.positions[:, 2]))
    cl = Atoms("Cl", positions=[slab.positions[top] + [0, 0, 2.3]])  # on top, 2.3 Å from Cu
    ref = slab + cl
    mon = IntegrityMonitor(ref, policy="flag")
    res = mon.check(ref)
    assert res.ok and not res.events  # Cu-Cu at 2.55 Å and Cu-Cl at 2.3 Å are fine
    frame = ref.copy()
    frame.positions[-1] = frame.positions[top] + [0, 0, 1.2]
    bad = mon.check(frame).violations
    assert [(e.kind, e.element_i, e.element_j) for e in bad] == [("overlap", "Cu", "Cl")]
    frame = ref.copy()
    frame.positions[top] = frame.positions[top - 1] + [0, 0, 1.5]  # two Cu 1.5 Å apart
    msgs = [e.message for e in mon.check(frame).violations]
    assert any(f"Cu {top - 1} and Cu {top} overlap: 1.50 Å" in m for m in msgs), msgs


def test_a_copper_atom_leaving_the_slab_is_a_violation_unless_copper_is_reactive():
    """The 36 Å sandwich's event (benchmarks/results/production_36A.md): a Cu atom bonded to an
    adsorbed Cl⁻ leaves the top layer; the monitor names it and its neighbour."""
    slab = fcc111("Cu", size=(3, 4, 3), vacuum=8.0, orthogonal=True, periodic=True)
    slab.set_tags(1)  # the builders' slab tag
    top = int(np.argmax(slab.positions[:, 2]))
    ref = slab + Atoms("Cl", positions=[slab.positions[top] + [0, 0, 2.3]])
    mon = IntegrityMonitor(ref, policy="stop")
    assert mon.check(ref).ok
    frame = ref.copy()
    frame.positions[[top, -1], 2] += 1.6  # Cu and its Cl 1.6 Å up, out of the top layer
    with pytest.raises(
        MDIntegrityError,
        match=rf"metal atom {top} \(Cu\) left the slab's layers: 1\.60 Å from the nearest "
        rf"layer's plane, next to Cl {len(ref) - 1} at 2\.30 Å",
    ):
        mon(frame, 1)
    reactive = IntegrityMonitor(ref, policy="stop", reactive_species=["Cu"])
    res = reactive.check(frame)
    assert res.ok and [(e.kind, e.i, e.j) for e in res.events] == [("metal_left", top, top)]
    assert IntegrityMonitor(ref, metal_tag=None).check(frame).ok  # not watched
    # an adatom already in the reference is not a departure
    assert IntegrityMonitor(frame, policy="stop").check(frame).ok
    with pytest.raises(TypeError, match="metal_tag must be an integer tag or None"):
        IntegrityMonitor(ref, metal_tag=1.0)


def test_bad_arguments_are_refused():
    ref = water_box()
    with pytest.raises(ValueError, match="policy must be one of"):
        IntegrityMonitor(ref, policy="explode")
    with pytest.raises(ValueError, match=r"reactive_species: \['Xx'\]"):
        IntegrityMonitor(ref, reactive_species=["Xx"])
    with pytest.raises(ValueError, match="oo_min must be > 0"):
        IntegrityMonitor(ref, oo_min=-1.0)
    with pytest.raises(TypeError, match=r"reference must be an ase\.Atoms"):
        IntegrityMonitor([1, 2, 3])
    with pytest.raises(ValueError, match="not the system of the reference"):
        IntegrityMonitor(ref).check(water_box(1))
    with pytest.raises(TypeError, match="integrity must be 'stop', 'flag'"):
        atoms = water_box(1)
        atoms.calc = PullH()
        MDRunner(atoms, ".", MDSettings(timestep_fs=0.5), integrity=42)


class PullH(Calculator):
    """A constant force (eV/Å) along +z on atom ``index`` and nothing else."""

    implemented_properties = ("energy", "forces")

    def __init__(self, index: int = 1, force: float = 2.0):
        super().__init__()
        self.index, self.force = index, force

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        f = np.zeros((len(self.atoms), 3))
        f[self.index, 2] = self.force
        self.results = {"energy": -self.force * self.atoms.positions[self.index, 2], "forces": f}


def pulled_run_settings() -> MDSettings:
    return MDSettings(
        timestep_fs=0.5, ensemble="nve", initial_temperature_K=None, fix_com=False,
        traj_interval=2, checkpoint_interval=10, max_temperature_K=1e7,
    )  # fmt: skip


def test_runner_stops_on_a_broken_water_and_keeps_the_last_good_frame(tmp_path: Path):
    atoms = water_box(1, spacing=6.0)
    atoms.calc = PullH()
    with pytest.raises(MDIntegrityError, match=r"integrity check failed at step \d+.*lost H 1"):
        MDRunner(atoms, tmp_path, pulled_run_settings(), progress=False).run(200)
    last = read(tmp_path / "last_good.traj")
    assert oh(last, 0, 1) <= 1.3 < oh(atoms, 0, 1)
    with open(tmp_path / "integrity_events.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["kind"] == "bond_broken" and rows[0]["status"] == "violation"
    # it is a blow-up for code that catches those
    assert issubclass(MDIntegrityError, MDBlowUpError)
    # the monitor off: the same run goes to the end
    atoms = water_box(1, spacing=6.0)
    atoms.calc = PullH()
    res = MDRunner(atoms, tmp_path / "off", pulled_run_settings(), progress=False,
                   integrity=None).run(40)  # fmt: skip
    assert res.steps == 40 and res.integrity is None


def test_flagged_runner_records_survive_a_resume(tmp_path: Path):
    def run(folder: Path, steps: int):
        atoms = water_box(1, spacing=6.0)
        atoms.calc = PullH(force=1.0)
        return MDRunner(atoms, folder, pulled_run_settings(), progress=False,
                        integrity="flag").run(steps)  # fmt: skip

    out = tmp_path / "resumed"
    first = run(out, 15)  # checkpoints at 10 and 15
    (out / "checkpoint.npz").unlink()  # a fresh start in the same folder
    assert run(out, 15).integrity == first.integrity  # records restarted, not appended
    run(out, 45)  # resumes from step 15; the H is lost at step 38; checkpoint at 45
    with open(out / "integrity_events.csv", "a") as fh:  # a row written after the checkpoint
        fh.write("47,23.5,bond_broken,violation,0,2,O,H,1.4,1.3,not real\n")
    resumed = run(out, 60).integrity  # resumes from 45 with the lost H still active
    straight = run(tmp_path / "straight", 60).integrity
    assert resumed == straight
    for name in ("integrity.csv", "integrity_events.csv"):
        assert (out / name).read_text() == (tmp_path / "straight" / name).read_text()
    steps = [int(r["step"]) for r in csv.DictReader(open(out / "integrity.csv"))]
    assert steps == list(range(0, 61, 2))  # every check once, none repeated on resume
    assert resumed["n_checks"] == 31 and resumed["n_violations"] == 1
    assert resumed["first_violation"] == 38 and resumed["active_at_end"] == 1
    assert resumed["max_OH_A"] > 1.3


# ------------------------------------------------------------------------------ pipeline
def lj_pipeline_config(**md) -> dict:
    """md + extract on a 2x2 Cu slab with the LJ stand-in, which does not hold water together."""
    section = {
        "size": [2, 2], "layers": 3, "water_thickness_A": 8.0, "concentration_mol_per_L": 0.0,
        "steps": 60, "traj_interval": 2, "checkpoint_interval": 10,
        "calculator": {"model": "lj", "sigma": 1.0, "epsilon": 0.01, "rc": 3.0},
    }  # fmt: skip
    section.update(md)
    return {
        "run": {"name": "checks", "seed": 3, "progress": False},
        "md": section,
        "extract": {"species": {"O": {"selection": "O", "charge": 0}}, "lags": [1, 2],
                    "n_blocks": 3, "parallel": False},
    }  # fmt: skip


def test_pipeline_md_stage_stops_on_broken_water_and_the_report_leads_with_checks(tmp_path):
    from multiscale.pipeline import Pipeline

    # default policy "stop": the LJ stand-in breaks the waters and the stage says so
    cfg = lj_pipeline_config(relax_steps=0, heat_ps=0.0)
    with pytest.raises(MDIntegrityError, match=r"integrity check failed at step \d+.*lost H"):
        Pipeline(cfg, tmp_path / "stop").run()
    assert (tmp_path / "stop" / "md" / "last_good.traj").is_file()
    # "flag": the run goes on; relax + heating in md/prepare; the report's Checks say it all
    p = Pipeline(lj_pipeline_config(integrity="flag", heat_ps=0.01), tmp_path / "flag")
    res = p.run()
    md = res["md"]
    assert md["preparation"]["heat_steps"] == 20 and md["preparation"]["relax_steps"] >= 0
    assert md["integrity"]["n_violations"] > 0 and md["equilibration"]["t0_index"] >= 0
    assert (
        res["extract"]["discarded_frames"] == md["equilibration"]["t0_frame"]
        or (res["extract"]["discard_capped"])
    )
    report = p.report.read_text()
    assert report.index("## Checks") < report.index("## 2. ML molecular dynamics")
    assert "| integrity, production (flag, 31 checks) | **" in report
    assert "| equilibration (pymbar on E_pot and T) | production from" in report
    assert "level of theory: none: a cheap stand-in potential" in report
    assert "**Not converged / not trustworthy:**" in report


def test_a_short_hydrogen_bond_is_not_a_proton_transfer(tmp_path: Path):
    """A water dimer, O···O 2.45 Å. The bridging H at 1.25 Å from the acceptor O but 1.20 Å
    from its own: a tight H-bond, no violation. Past the midpoint: a crossing, a transferred
    proton (violation) only when it is still there at the next check."""
    # donor O 0 with H 1 (bridging) and H 2; acceptor O 3 with H 4, H 5; O-O along x
    pos = [[0, 0, 0], [0.97, 0, 0], [-0.25, 0.94, 0],
           [2.45, 0, 0], [2.75, 0.45, 0.8], [2.75, 0.45, -0.8]]  # fmt: skip
    ref = Atoms("OH2OH2", positions=np.array(pos) + 5.0, cell=[12, 12, 12], pbc=True)

    def frame(x_h):
        f = ref.copy()
        f.positions[1, 0] = 5.0 + x_h
        return f

    mon = IntegrityMonitor(ref, policy="stop", output_dir=tmp_path)
    assert sorted(mon.waters) == [0, 3]
    res = mon(frame(1.20), 10)  # tight H-bond
    assert res.ok and not res.crossings and res.min_HO_A == pytest.approx(1.25, abs=1e-9)
    res = mon(frame(1.30), 20)  # crossed the midpoint: seen once
    assert res.ok and [(e.i, e.j) for e in res.crossings] == [(3, 1)]
    assert "H 1 of water O 0 crossed to O 3: 1.15 Å < 1.30 Å" in res.crossings[0].message
    assert mon(frame(1.10), 30).ok  # back: a fluctuation
    mon(frame(1.30), 40)  # crossed again ...
    with pytest.raises(MDIntegrityError, match=r"water O 3 took H 1: O-H 1\.15 Å < 1\.30 Å, "
                       r"nearer than to its own O 0 \(1\.30 Å\), for 2 checks"):  # fmt: skip
        mon(frame(1.30), 50)  # ... and stayed: a transferred proton
    s = mon.summary()
    assert (s["n_proton_crossings"], s["n_violations"], s["n_short_hbond_checks"]) == (2, 1, 4)
    assert s["min_HO_A"] == pytest.approx(1.15, abs=1e-4) and s["transfer_checks"] == 2
    # transfer_checks=1: the first sighting is the violation
    once = IntegrityMonitor(ref, policy="flag", transfer_checks=1)
    assert [e.kind for e in once.check(frame(1.30)).violations] == ["bond_formed"]
    with pytest.raises(ValueError, match="transfer_checks must be an integer >= 1"):
        IntegrityMonitor(ref, transfer_checks=0)


def test_a_proton_transfer_must_last_transfer_fs():
    """With check times, a crossing becomes a transferred proton only once it has lasted
    transfer_fs (100 fs) since its first sighting: an excursion that returns after 90 fs is
    no violation, one still there at 105 fs is, and says how long it lasted. An H that leaves
    its O for no other O is lost at once; transfer_fs=0 with transfer_checks=1 is the
    immediate rule."""
    ref = water_box()
    moved = ref.copy()
    moved.positions[10] = moved.positions[0] + [0, 0, -1.0]  # H 10 of O 9 now on O 0
    mon = IntegrityMonitor(ref, policy="flag")
    for t in range(0, 91, 15):  # 0 ... 90 fs: 7 checks, all crossed
        assert mon.check(moved, t // 15, time_fs=float(t)).ok
    assert mon.check(ref, 7, time_fs=105.0).ok  # back home: the streak ends
    for t in range(120, 240, 15):  # 120 ... 225 fs
        res = mon.check(moved, t // 15, time_fs=float(t))
        assert res.ok == (t - 120 < 100)
    formed = next(e for e in res.violations if e.kind == "bond_formed")
    assert "for 7 checks (90 fs)" not in formed.message and "(105 fs)" in formed.message
    assert mon.summary()["transfer_fs"] == 100.0
    lost = ref.copy()
    lost.positions[10] = lost.positions[9] + [1.4, 1.4, 0.0]  # 1.98 Å or more from every O
    assert [e.kind for e in IntegrityMonitor(ref).check(lost, 0, 0.0).violations] == ["bond_broken"]
    at_once = IntegrityMonitor(ref, policy="flag", transfer_checks=1, transfer_fs=0.0)
    assert not at_once.check(moved, 0, time_fs=0.0).ok
    with pytest.raises(ValueError, match="transfer_fs must be a finite time >= 0 fs"):
        IntegrityMonitor(ref, transfer_fs=-1.0)
    with pytest.raises(TypeError, match="transfer_fs must be a number"):
        IntegrityMonitor(ref, transfer_fs="100")
