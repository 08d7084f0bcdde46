"""The verdicts of benchmarks/bulk_reference.py compare (issue #14's 30 % criterion)."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bulk_reference(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    import bulk_reference as module

    monkeypatch.setattr(module, "RESULTS", tmp_path / "results.md")
    yield module
    sys.modules.pop("bulk_reference", None)


def _write(tmp_path, box, run):
    (tmp_path / "box").mkdir()
    (tmp_path / "run" / "extract").mkdir(parents=True)
    numbers = {}
    for name, (d, e, blocks) in box.items():
        numbers[f"D_{name}"] = [d * 1.3e-9, e * 1e-9, d * 1e-9]  # (YH, error, D_PBC)
        numbers[f"D_{name}_errors"] = {"block_values": [b * 1e-9 for b in blocks]}
    (tmp_path / "box" / "bulk_reference.json").write_text(json.dumps({"numbers": numbers}))
    box_info = {"n_salt": 5, "salt": "NaCl", "n_water": 128, "concentration_mol_per_L": 2.0}
    (tmp_path / "box" / "bulk.json").write_text(json.dumps(box_info))
    species = {}
    for name, (d, e) in run.items():
        bulk = {"found": True, "D_parallel_1e-9_m2_per_s": d, "D_parallel_err_1e-9_m2_per_s": e}
        species[name] = {"bulk": bulk}
    species["Cl-"] = {"bulk": {"found": False, "reason": "c(z) not flat"}}
    (tmp_path / "run" / "extract" / "summary.json").write_text(json.dumps({"species": species}))
    return SimpleNamespace(out=tmp_path / "box", run=tmp_path / "run")


def _water_run(tmp_path, extract: dict, d_par: float) -> Path:
    """A pipeline run folder (frames 10 fs apart) whose water has a bulk region with D∥ =
    ``d_par`` ± 0.05 (1e-9 m²/s)."""
    run = tmp_path / "run"
    (run / "extract").mkdir(parents=True)
    (run / "md").mkdir()
    (run / "config.json").write_text(json.dumps({"extract": extract}))
    (run / "md" / "done.json").write_text(json.dumps({"summary": {"frame_interval_fs": 10.0}}))
    bulk = {"found": True, "D_parallel_1e-9_m2_per_s": d_par, "D_parallel_err_1e-9_m2_per_s": 0.05}
    (run / "extract" / "summary.json").write_text(json.dumps({"species": {"H2O": {"bulk": bulk}}}))
    return run


def test_compare_verdicts(bulk_reference, tmp_path, capsys):
    args = _write(
        tmp_path,
        box={"H2O": (1.0, 0.02, [1.0, 1.1, 0.9, 1.0]), "Na+": (1.0, 0.02, [1.0, 1.0, 0.9, 1.1]),
             "Cl-": (1.0, 0.1, [1, 1, 1, 1]), "K+": (1.0, 0.02, [1.3, 1.1, 0.9, 0.7])},
        run={"H2O": (1.1, 0.02), "Na+": (2.0, 0.05), "K+": (1.0, 0.01)},
    )  # fmt: skip
    bulk_reference.compare(args)
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "species" not in line}  # fmt: skip
    assert rows["H2O"].endswith("| within 30 % |")
    assert "**outside 30 %**" in rows["Na+"]
    assert "not compared" in rows["Cl-"] and "c(z) not flat" in rows["Cl-"]
    # a bulk box whose D falls block after block has no value to compare with
    assert "not stationary" in rows["K+"]
    assert (tmp_path / "results.md").read_text().count("| H2O |") == 1
    out = (tmp_path / "results.md").read_text()
    assert "5 NaCl in 128 waters (2 mol/L of water)" in out
    assert "Cl- not found (c(z) not flat)" in out


def test_compare_undecided_when_errors_are_large(bulk_reference, tmp_path, capsys):
    args = _write(tmp_path, box={"H2O": (1.0, 0.3, [1, 1.2, 0.8, 1])}, run={"H2O": (1.2, 0.3)})
    bulk_reference.compare(args)
    assert "undecided" in capsys.readouterr().out


def test_box_d_at_the_runs_lags_recovers_a_brownian_d(bulk_reference, tmp_path, capsys):
    """Brownian O (D = 2e-9 m²/s) in a box: the in-plane MSD slope between the run's lag times
    gives D within its block error, and compare judges the run against it."""
    import numpy as np
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(4)
    n, frames, dt = 60, 1200, 10.0  # fs between frames
    d = 2e-9 * 1e5  # Å²/fs
    pos = np.cumsum(rng.normal(0, np.sqrt(2 * d * dt), (frames, n, 3)), axis=0)
    traj = [Atoms(f"O{n}", positions=p, cell=[15, 15, 15], pbc=True) for p in pos]
    box = tmp_path / "box"
    (box / "production").mkdir(parents=True)
    write(box / "production" / "trajectory.traj", traj)
    info = {"frame_fs": dt, "n_salt": 0, "salt": "NaCl", "n_water": n,
            "concentration_mol_per_L": 0.0}  # fmt: skip
    (box / "bulk.json").write_text(json.dumps(info))
    got = bulk_reference.box_d_at_lags(box, [50.0, 100.0, 200.0])
    dd, err = got["H2O"]
    assert dd == pytest.approx(2e-9, abs=3 * err + 0.05e-9) and 0 < err < 0.3e-9

    numbers = {"D_H2O": [2.6e-9, 0.1e-9, 0.5e-9], "D_H2O_errors": {"block_values": [0.5e-9] * 4}}
    (box / "bulk_reference.json").write_text(json.dumps({"numbers": numbers}))
    run = _water_run(tmp_path, {"lags": [5, 10, 20]}, d_par=2.1)
    bulk_reference.compare(SimpleNamespace(out=box, run=run))
    text = capsys.readouterr().out
    assert "the run's own lag times (0.05, 0.1, 0.2 ps)" in text
    # within 30 % of the box at the same lags, although 4x its (here made-up) D_PBC
    (row,) = [line for line in text.splitlines() if line.startswith("| H2O |")]
    assert row.endswith("| within 30 % |") and "| 0.5 ± 0.1 |" in row


def test_box_d_at_lags_uses_the_window_analyse_was_given(bulk_reference, tmp_path):
    """analyse --from-ps stores its window; the box's D at the run's lags then comes from the
    same frames: a box whose O diffuse 4x faster in the first half gives the second half's D."""
    import numpy as np
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(5)
    n, frames, dt = 60, 1600, 10.0
    d = np.where(np.arange(frames) < 800, 8e-9, 2e-9)[:, None, None] * 1e5  # Å²/fs
    pos = np.cumsum(rng.normal(0, 1, (frames, n, 3)) * np.sqrt(2 * d * dt), axis=0)
    box = tmp_path / "box"
    (box / "production").mkdir(parents=True)
    write(box / "production" / "trajectory.traj",
          [Atoms(f"O{n}", positions=p, cell=[15, 15, 15], pbc=True) for p in pos])  # fmt: skip
    (box / "bulk.json").write_text(json.dumps({"frame_fs": dt}))
    default, _ = bulk_reference.box_d_at_lags(box, [50.0, 100.0, 200.0])["H2O"]
    (box / "bulk_reference.json").write_text(json.dumps({"numbers": {}, "from_ps": 8.0}))
    late, err = bulk_reference.box_d_at_lags(box, [50.0, 100.0, 200.0])["H2O"]
    assert late == pytest.approx(2e-9, abs=3 * err + 0.05e-9)
    assert default > 3e-9  # the first 10 % left out: mostly the fast half
    (box / "bulk_reference.json").write_text(json.dumps({"numbers": {}, "from_ps": 15.95}))
    with pytest.raises(SystemExit, match=r"1600 frames, 1595 of them left out.*lower --from-ps"):
        bulk_reference.box_d_at_lags(box, [50.0])


def test_box_d_by_the_runs_own_estimator(bulk_reference, tmp_path, capsys):
    """The survival-conditioned D∥ in slabs across a box recovers a uniform Brownian D, and
    is below the plain in-plane D when fast and slow molecules mix (the fast ones leave their
    slab sooner): the bias that the same-estimator comparison cancels; compare uses it."""
    import numpy as np
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(6)
    n, frames, dt = 80, 1500, 10.0
    d = np.full(n, 2e-9 * 1e5)  # Å²/fs
    d[n // 2 :] *= 10.0  # half of them 10x faster
    steps = rng.normal(0, 1, (frames, n, 3)) * np.sqrt(2 * d * dt)[None, :, None]
    pos = np.cumsum(steps, axis=0) + rng.uniform(0, 15, (1, n, 3))
    box = tmp_path / "box"
    (box / "production").mkdir(parents=True)
    write(box / "production" / "trajectory.traj",
          [Atoms(f"O{n}", positions=p, cell=[15, 15, 15], pbc=True) for p in pos])  # fmt: skip
    info = {"frame_fs": dt, "n_salt": 0, "salt": "NaCl", "n_water": n}
    (box / "bulk.json").write_text(json.dumps({**info, "concentration_mol_per_L": 0.0}))
    lag_fs = [50.0, 100.0, 200.0]
    plain = bulk_reference.box_d_at_lags(box, lag_fs)["H2O"][0]
    cond, err = bulk_reference.box_d_conditioned(box, lag_fs, bin_width=2.0)["H2O"]
    assert plain == pytest.approx(11e-9, rel=0.15)  # the mean of 2 and 20
    assert 0 < err < 0.2 * cond and cond < plain - 5 * err  # conditioning selects slow ones
    # uniform molecules: no bias
    steps = rng.normal(0, 1, (frames, n, 3)) * np.sqrt(2 * 2e-9 * 1e5 * dt)
    write(box / "production" / "trajectory.traj",
          [Atoms(f"O{n}", positions=p, cell=[15, 15, 15], pbc=True)
           for p in np.cumsum(steps, axis=0) + rng.uniform(0, 15, (1, n, 3))])  # fmt: skip
    cond, err = bulk_reference.box_d_conditioned(box, lag_fs, bin_width=2.0)["H2O"]
    assert cond == pytest.approx(2e-9, abs=3 * err + 0.1e-9)
    # compare: the run's bin width is known, so the verdict uses the same estimator
    numbers = {"D_H2O": [2.6e-9, 0.1e-9, 2.0e-9], "D_H2O_errors": {"block_values": [2e-9] * 4}}
    (box / "bulk_reference.json").write_text(json.dumps({"numbers": numbers}))
    run = _water_run(tmp_path, {"lags": [5, 10, 20], "bin_width_A": 2.0}, d_par=2.0)
    bulk_reference.compare(SimpleNamespace(out=box, run=run))
    text = capsys.readouterr().out
    assert "survival-conditioned in-plane MSD in 2 Å slabs" in text
    (row,) = [line for line in text.splitlines() if line.startswith("| H2O |")]
    assert row.endswith("| within 30 % |") and f"| {cond * 1e9:.3g} ± " in row
