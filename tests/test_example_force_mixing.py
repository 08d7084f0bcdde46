"""Run examples/force_mixing_na_water.py in quick mode and check its outputs."""

import csv
import os
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
