"""Pipeline runs with cheap calculators: caching, recomputation, resume after SIGKILL, report."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from multiscale.pipeline import Pipeline, StageSkipped

LJ = {"model": "lj", "sigma": 1.0, "epsilon": 0.01, "rc": 3.0}

TINY = {
    "run": {"name": "tiny", "seed": 3, "progress": False},
    "md": {
        "size": [2, 2],
        "layers": 3,
        "water_thickness_A": 8.0,
        "concentration_mol_per_L": 0.0,
        "steps": 60,
        "traj_interval": 2,
        "checkpoint_interval": 10,
        "calculator": LJ,
        # LJ is no water model: its waters fall apart, which the monitor records; short heating
        "integrity": "flag",
        "heat_ps": 0.01,
    },
    "extract": {
        "species": {"O": {"selection": "O", "charge": 0}},
        "bin_width_A": 2.0,
        "lags": [1, 2],
        "n_blocks": 3,
        "parallel": False,
    },
    "continuum": {"cells_1d": 30, "cells_across_pit": 3},
}


def tiny(**changes) -> dict:
    cfg = copy.deepcopy(TINY)
    for key, value in changes.items():
        section, name = key.split("__")
        cfg[section][name] = value
    return cfg


def marker_time(run_dir: Path, stage: str) -> int:
    return (run_dir / stage / "done.json").stat().st_mtime_ns


def test_unchanged_stages_are_not_recomputed_and_changes_propagate(tmp_path):
    run = tmp_path / "run"
    p = Pipeline(tiny(), run)
    first = p.run()
    assert p.recomputed == ["md", "extract", "continuum"]
    stamps = {s: marker_time(run, s) for s in p.recomputed}
    # same config: nothing recomputed, markers untouched, same numbers
    p2 = Pipeline(tiny(), run)
    assert p2.run() == first
    assert p2.recomputed == []
    assert {s: marker_time(run, s) for s in stamps} == stamps
    # an extract key changes: extract and what reads it, not md
    p3 = Pipeline(tiny(extract__bin_width_A=3.0), run)
    p3.run()
    assert p3.recomputed == ["extract", "continuum"]
    assert marker_time(run, "md") == stamps["md"]
    assert p3.results["extract"]["n_bins"] != first["extract"]["n_bins"]
    # an md key changes: everything downstream
    p4 = Pipeline(tiny(extract__bin_width_A=3.0, md__steps=70), run)
    p4.run()
    assert p4.recomputed == ["md", "extract", "continuum"]
    assert p4.results["md"]["steps"] == 70
    log = (run / "pipeline.log").read_text()
    assert "up to date" in log and "inputs changed" in log


def test_report_numbers_follow_the_config(tmp_path):
    def pit_current(overpotential: float, run_dir: Path) -> tuple[float, str]:
        cfg = tiny(continuum__overpotential_V=overpotential, continuum__profile_1d=False)
        del cfg["md"], cfg["extract"]
        p = Pipeline(cfg, run_dir)
        p.run()
        report = p.report.read_text()
        m = re.search(r"anodic current per metre of pit \| ([-+0-9.e]+) A/m", report)
        assert m, report
        return float(m.group(1)), report

    i1, r1 = pit_current(0.05, tmp_path / "a")
    i2, r2 = pit_current(0.10, tmp_path / "b")
    # Butler-Volmer: the anodic branch grows ~exp(alpha_a F eta / RT); with the default
    # alpha_a = 1 it is exp(0.05 / 0.025693) = 7.0 times larger at 0.05 V more (less the small
    # cathodic branch, and less again where transport limits the rate)
    assert 4.0 < i2 / i1 < 7.1
    assert r1 != r2
    summary = json.loads((tmp_path / "b" / "continuum" / "summary.json").read_text())
    assert i2 == pytest.approx(summary["pit"]["electrode_current_A_per_m"], rel=1e-3)


def test_downstream_stage_without_upstream_outputs_says_what_to_run(tmp_path):
    p = Pipeline(tiny(), tmp_path / "r")
    with pytest.raises(StageSkipped, match="needs the outputs of 'md': run it first"):
        p.run(stages=["extract"])


def test_qmml_stage_with_stand_in_calculators(tmp_path):
    weak = dict(LJ)
    strong = dict(LJ, epsilon=0.02)
    cfg = {
        "run": {"progress": False, "seed": 2},
        "qmml": {"n_water": 40, "concentration_mol_per_L": 1.4, "steps": 3, "drag_steps": 2,
                 "qm": strong, "ml": weak},
    }  # fmt: skip
    p = Pipeline(cfg, tmp_path / "q")
    res = p.run()["qmml"]
    out = tmp_path / "q" / "qmml"
    for name in ("continuity_drag.png", "qmml_md.png", "continuity_monitor.csv"):
        assert (out / name).stat().st_size > 0
    assert len(read(out / "trajectory.traj", index=":")) == 4  # steps 0..3
    # the weighted net-force correction leaves no net force (ML net force of LJ is zero)
    assert res["max_abs_net_force_eV_per_A"] < 1e-10
    assert res["drag"]["step_A"] == pytest.approx(0.8)
    assert "qmml/continuity_drag.png" in p.report.read_text()


KILL_CONFIG = """
[run]
seed = 5
progress = false
stages = ["md"]
[md]
size = [2, 2]
layers = 3
water_thickness_A = 8.0
concentration_mol_per_L = 0.0
steps = 1500
traj_interval = 5
checkpoint_interval = 25
calculator = {model = "lj", sigma = 1.0, epsilon = 0.01, rc = 3.0}
integrity = "flag"
heat_ps = 0.01
"""


def _checkpoint_step(path: Path) -> int:
    try:
        with np.load(path) as data:
            return int(data["step"])
    except (OSError, ValueError, KeyError, EOFError):
        return -1


def test_killed_run_resumes_from_the_md_checkpoint(tmp_path):
    cfg = tmp_path / "kill.toml"
    cfg.write_text(KILL_CONFIG)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "multiscale", "run", str(cfg), "--out"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, str(killed)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    ckpt = killed / "md" / "checkpoint.npz"
    deadline = time.monotonic() + 120
    while _checkpoint_step(ckpt) < 100 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = _checkpoint_step(ckpt)
    assert 100 <= at_kill < 1500
    assert not (killed / "md" / "done.json").exists()
    # rerun: resumes at the checkpoint and ends where an uninterrupted run ends
    subprocess.run([*cmd, str(killed)], env=env, check=True, capture_output=True)
    resumed = json.loads((killed / "md" / "summary.json").read_text())
    assert resumed["resumed_from"] is not None and resumed["resumed_from"] >= at_kill
    clean = tmp_path / "clean"
    subprocess.run([*cmd, str(clean)], env=env, check=True, capture_output=True)
    a = read(killed / "md" / "trajectory.traj", index=":")
    b = read(clean / "md" / "trajectory.traj", index=":")
    assert len(a) == len(b) == 1500 // 5 + 1
    np.testing.assert_array_equal(a[-1].positions, b[-1].positions)
    assert (killed / "md" / "thermo.dat").read_text() == (clean / "md" / "thermo.dat").read_text()


def test_species_that_never_visits_the_film_is_left_out_and_reported(tmp_path):
    species = {"O": {"selection": "O", "charge": 0}, "Cu": {"selection": "Cu", "charge": 0}}
    cfg = tiny(extract__species=species)
    del cfg["continuum"]
    p = Pipeline(cfg, tmp_path / "r")
    res = p.run()["extract"]
    # the slab atoms never enter the water film: Cu is dropped, O is kept
    assert list(res["species"]) == ["O"]
    assert (
        "never visited" in res["dropped_species"]["Cu"] or "empty" in res["dropped_species"]["Cu"]
    )
    assert "**Cu was left out**" in p.report.read_text()
    # the hint names pipeline keys, not the library's arguments (z_range is no config key)
    assert "z_range" not in res["dropped_species"]["Cu"]
    if "never visited" in res["dropped_species"]["Cu"]:
        assert "extract.z_margin_A" in res["dropped_species"]["Cu"]
        assert "Å from the surface" in res["dropped_species"]["Cu"]  # not the cell's z


def test_a_rebuilt_model_invalidates_the_stages_that_use_it(tmp_path, monkeypatch):
    """The cache key of a stage includes the model files its calculators load: a shipped model
    rebuilt under the same name (new committed hash) makes md stale (and, through the
    upstream hashes, everything after it) while the config is unchanged."""
    from multiscale.mlip import default_models

    cfg = tiny(md__calculator={"model": "default:cu-water-nacl"})
    before = Pipeline(cfg, tmp_path / "r")
    keys = {"md": before.stage_hash("md")}
    real = default_models.shipped_hashes()
    fake = {**real, "cu-water-nacl-1.model": "0" * 64}
    monkeypatch.setattr(default_models, "shipped_hashes", lambda *a: fake)
    after = Pipeline(cfg, tmp_path / "r")
    assert after.stage_hash("md") != keys["md"]
    monkeypatch.setattr(default_models, "shipped_hashes", lambda *a: real)
    assert Pipeline(cfg, tmp_path / "r").stage_hash("md") == keys["md"]
