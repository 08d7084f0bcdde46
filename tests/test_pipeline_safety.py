"""The run folder is safe: one run at a time (lock), nothing the project did not write is
deleted (manifests, outputs moved aside), state files are atomic and a broken one means "not
done", and a larger md.steps continues the md run from its checkpoint."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from multiscale.cli import main
from multiscale.pipeline import Pipeline, RunDirectoryLocked
from multiscale.pipeline.state import (
    LOCK_FILE,
    LOCK_INFO,
    RunLock,
    atomic_write_json,
    atomic_write_text,
)

LJ = {"model": "lj", "sigma": 1.0, "epsilon": 0.01, "rc": 3.0}


def md_only(**md) -> dict:
    """A seconds-long md-only configuration (LJ stand-in calculator, 2x2 Cu slab)."""
    section = {
        "size": [2, 2],
        "layers": 3,
        "water_thickness_A": 8.0,
        "concentration_mol_per_L": 0.0,
        "steps": 6,
        "traj_interval": 2,
        "checkpoint_interval": 2,
        "calculator": LJ,
        "relax_steps": 0,  # no relax + heat phase before these few steps
        "heat_ps": 0.0,
    }
    section.update(md)
    return {"run": {"name": "safety", "seed": 4, "progress": False}, "md": section}


def pipeline(cfg: dict, run_dir: Path) -> Pipeline:
    return Pipeline(cfg, run_dir, allow_import=True)


def thermo_rows(run_dir: Path) -> np.ndarray:
    return np.loadtxt(run_dir / "md" / "thermo.dat", ndmin=2)


def stale_dirs(run_dir: Path, stage: str = "md") -> list[Path]:
    return sorted(run_dir.glob(f"{stage}.stale-*"))


# ------------------------------------------------------------------------------- lock
HOLD = (
    "import sys\n"
    "from multiscale.pipeline.state import RunLock\n"
    "lock = RunLock(sys.argv[1]).acquire()\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
    "lock.release()\n"
)


def test_second_run_on_a_locked_folder_is_refused_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        info = json.loads((run / LOCK_INFO).read_text())
        assert info["pid"] == holder.pid and info["host"] == socket.gethostname()
        with pytest.raises(RunDirectoryLocked, match=rf"in use by another run: PID {holder.pid} "):
            pipeline(md_only(), run).run()
        # refused before writing anything
        assert sorted(p.name for p in run.iterdir()) == sorted([LOCK_FILE, LOCK_INFO])
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # once the holder has gone, the folder is free and its lock information is cleaned up
    assert not (run / LOCK_INFO).exists()
    p = pipeline(md_only(steps=4), run)
    p.run()
    assert p.recomputed == ["md"]
    assert not (run / LOCK_INFO).exists()


def test_lock_is_exclusive_in_process_and_the_message_names_the_command(tmp_path):
    run = tmp_path / "run"
    with RunLock(run):
        match = rf"PID {os.getpid()} on host .* command: "
        with pytest.raises(RunDirectoryLocked, match=match) as e:
            pipeline(md_only(), run).run()
        assert e.value.holder["pid"] == os.getpid()
        assert e.value.run_dir == run
        assert not (run / "md").exists() and not (run / "pipeline.log").exists()


def test_cli_on_a_locked_folder_exits_2_with_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[run]\nprogress = false\n[md]\nsteps = 4\ntraj_interval = 2\nsize = [2, 2]\nlayers = 3\n"
        "concentration_mol_per_L = 0.0\n"
        'calculator = {model = "lj", sigma = 1.0, rc = 3.0}\n'
    )
    run = tmp_path / "run"
    with RunLock(run):
        status = main(["run", str(cfg), "--out", str(run), "--allow-import"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("multiscale run: run folder ") and f"PID {os.getpid()}" in err


def test_stale_lock_of_a_dead_process_is_recovered_with_a_warning(tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / LOCK_FILE).write_text("")
    stale = {"pid": dead.pid, "host": socket.gethostname(), "started": "2020-01-01T00:00:00",
             "command": "multiscale run old.toml"}  # fmt: skip
    (run / LOCK_INFO).write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING, logger="multiscale.pipeline"):
        p = pipeline(md_only(steps=4), run)
        p.run()
    assert p.recomputed == ["md"]
    warned = [r.getMessage() for r in caplog.records if "stale lock" in r.getMessage()]
    assert len(warned) == 1
    assert f"PID {dead.pid}" in warned[0] and "no longer runs" in warned[0]
    assert "stale lock" in (run / "pipeline.log").read_text()
    assert not (run / LOCK_INFO).exists()


class _Rank1:
    """A stand-in communicator seen from rank 1 of 2, whose rank 0 found the folder locked."""

    rank, size = 1, 2

    def __init__(self):
        self.calls: list[str] = []

    def bcast(self, obj, root=0):
        self.calls.append("bcast")
        if len(self.calls) == 1:
            return ("locked", "run folder X is in use by another run: PID 12345", {"pid": 12345})
        raise AssertionError("a collective call after the lock was refused")

    def barrier(self):
        self.calls.append("barrier")
        raise AssertionError("a collective call after the lock was refused")


def test_under_mpi_other_ranks_raise_from_rank_0s_lock_outcome_first(tmp_path):
    comm = _Rank1()
    with pytest.raises(RunDirectoryLocked, match="PID 12345"):
        pipeline(md_only(), tmp_path / "run").run(comm=comm)
    assert comm.calls == ["bcast"]  # the lock outcome is the first collective call
    assert not (tmp_path / "run").exists()  # rank 1 writes nothing


# --------------------------------------------------------------------- never delete
def test_user_files_survive_a_change_of_inputs_and_old_outputs_are_moved_aside(tmp_path):
    run = tmp_path / "run"
    pipeline(md_only(), run).run()
    old_thermo = (run / "md" / "thermo.dat").read_text()
    mine = run / "md" / "my_thesis_results.dat"
    mine.write_text("irreplaceable\n")
    (run / "md" / "notes").mkdir()
    (run / "md" / "notes" / "draft.txt").write_text("chapter 3\n")
    p = pipeline(md_only(temperature_K=350.0), run)
    p.run()
    assert p.recomputed == ["md"]
    assert mine.read_text() == "irreplaceable\n"
    assert (run / "md" / "notes" / "draft.txt").read_text() == "chapter 3\n"
    (aside,) = stale_dirs(run)
    assert p.moved_aside["md"] == aside
    assert (aside / "thermo.dat").read_text() == old_thermo
    for name in ("trajectory.traj", "checkpoint.npz", "thermo.png", "inputs.json", "done.json"):
        assert (aside / name).is_file(), name
    assert not (aside / "my_thesis_results.dat").exists() and not (aside / "notes").exists()
    # the new run is a fresh one at the new temperature, and its manifest lists only its own
    assert (run / "md" / "thermo.dat").read_text() != old_thermo
    assert p.results["md"]["resumed_from"] is None
    assert p.results["md"]["moved_aside"] == str(aside)
    manifest = json.loads((run / "md" / "manifest.json").read_text())["files"]
    assert "thermo.dat" in manifest and "checkpoint.npz" in manifest
    assert "my_thesis_results.dat" not in manifest and "notes" not in manifest
    log = (run / "pipeline.log").read_text()
    assert f"moved its earlier outputs to {aside}" in log
    assert "left in place (not written by the pipeline): my_thesis_results.dat, notes" in log


# ------------------------------------------------------------------- broken state files
@pytest.mark.parametrize(
    ("done", "inputs", "resumed", "warning"),
    [
        ("", None, True, r"md: completion marker .*done\.json is empty; the stage counts as not"),
        ("{garbage", None, True, r"completion marker .* is not valid JSON"),
        ("[1, 2]", None, True, r"completion marker .* is incomplete"),
        ("", "", False, r"md: inputs record .*inputs\.json is empty; its outputs are not resumed"),
        ("\x00\x00", '{"hash":', False, r"inputs record .* is not valid JSON"),
    ],
)
def test_empty_or_garbage_state_files_mean_not_done(tmp_path, caplog, done, inputs, resumed,
                                                     warning):  # fmt: skip
    run = tmp_path / "run"
    first = pipeline(md_only(), run).run()["md"]
    (run / "md" / "done.json").write_text(done)
    if inputs is not None:
        (run / "md" / "inputs.json").write_text(inputs)
    with caplog.at_level(logging.WARNING, logger="multiscale.pipeline"):
        p = pipeline(md_only(), run)
        res = p.run()["md"]
    assert p.recomputed == ["md"]
    assert any(
        r.levelno == logging.WARNING and re.search(warning, r.getMessage()) for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    if resumed:  # same inputs: the md run resumes from its final checkpoint (nothing to do)
        assert res["resumed_from"] == 6
        assert not stale_dirs(run)
    else:  # the inputs of the old outputs are unknown: they are moved aside, a fresh run
        assert res["resumed_from"] is None
        assert len(stale_dirs(run)) == 1
    assert res["final_positions_sum_A"] == pytest.approx(first["final_positions_sum_A"], 1e-9)
    assert len(thermo_rows(run)) == 7
    # the state files are whole again
    assert json.loads((run / "md" / "done.json").read_text())["summary"]["steps"] == 6


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "state.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    with pytest.raises(TypeError, match="text must be a str"):
        atomic_write_text(path, b"bytes")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


# ------------------------------------------------------------------------ md.steps
def test_raising_md_steps_extends_the_run_from_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    pipeline(md_only(steps=6), run).run()
    p = pipeline(md_only(steps=10), run)
    res = p.run()["md"]
    assert p.recomputed == ["md"]
    assert res["resumed_from"] == 6 and res["steps"] == 10
    assert not stale_dirs(run)
    assert "md: resumed run" in (run / "pipeline.log").read_text()
    # the same as a run of 10 steps from the start
    clean = tmp_path / "clean"
    ref = pipeline(md_only(steps=10), clean).run()["md"]
    np.testing.assert_allclose(thermo_rows(run), thermo_rows(clean), rtol=1e-9, atol=1e-12)
    assert res["final_positions_sum_A"] == pytest.approx(ref["final_positions_sum_A"], 1e-10)
    # and the done marker's hash follows steps: going back to 6 is not "up to date"
    p6 = pipeline(md_only(steps=6), run)
    res6 = p6.run()["md"]
    assert p6.recomputed == ["md"]
    (aside,) = stale_dirs(run)
    assert len(np.loadtxt(aside / "thermo.dat", ndmin=2)) == 11
    assert res6["resumed_from"] is None and len(thermo_rows(run)) == 7
    log = (run / "pipeline.log").read_text()
    assert "md.steps=6 is below the checkpoint's step 10" in log


def test_a_tampered_manifest_cannot_name_anything_outside_the_stage_folder(tmp_path):
    from multiscale.pipeline.state import move_aside, read_manifest

    stage = tmp_path / "md"
    stage.mkdir()
    (stage / "thermo.dat").write_text("1\n")
    (tmp_path / "precious.dat").write_text("keep\n")
    names = ["..", ".", "", "../precious.dat", "thermo.dat", 3]
    (stage / "manifest.json").write_text(json.dumps({"files": names}))
    assert read_manifest(stage) == {"thermo.dat"}
    aside = move_aside(stage, read_manifest(stage))
    assert sorted(p.name for p in aside.iterdir()) == ["thermo.dat"]
    assert (tmp_path / "precious.dat").read_text() == "keep\n"
    assert move_aside(stage, ["thermo.dat"]) is None  # nothing left to move: no empty folder
