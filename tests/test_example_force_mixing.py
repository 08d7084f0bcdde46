"""Run examples/force_mixing_na_water.py in quick mode and check its outputs."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_force_mixing_example_quick(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = ROOT / "examples" / "force_mixing_na_water.py"
    subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--quick"], check=True, env=env, timeout=300
    )
    assert (tmp_path / "force_mixing_diagnostics.png").stat().st_size > 0
    with (tmp_path / "force_mixing_monitor.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 + 1  # 3 quick MD steps and the initial state
    values = np.array([[float(v) for v in r.values()] for r in rows])
    assert np.all(np.isfinite(values))
    assert all(float(r["n_core"]) >= 1 for r in rows)


def test_default_geometry_fits_the_periodic_cell(tmp_path):
    """The default (DFT) mode's QM cluster fits in the box, with room to move (no DFT run)."""
    env = {k: v for k, v in os.environ.items() if k != "FM_EXAMPLE_QUICK"}
    env["OMP_NUM_THREADS"] = "1"
    script = ROOT / "examples" / "force_mixing_na_water.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--check-geometry"],
        check=True,
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
    )
    match = re.search(
        r"QM cluster: (\d+) atoms .* reaches ([\d.]+) Å from Na\+, half the box is ([\d.]+) Å",
        proc.stdout,
    )
    assert match, proc.stdout
    size, reach, half_box = int(match[1]), float(match[2]), float(match[3])
    assert 10 < size <= 40  # Na+ and its first shell, affordable for DFT at every step
    assert reach + 1.0 < half_box  # 1 Å to spare for the waters to move during the MD
    assert not (tmp_path / "force_mixing_monitor.csv").exists()  # stopped before any MD
