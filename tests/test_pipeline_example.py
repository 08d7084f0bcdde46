"""examples/pipeline_python_api.py runs and shows that only the changed stage is recomputed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_api_example_runs(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "pipeline_python_api.py"), str(tmp_path / "r")],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    lines = res.stdout.splitlines()
    assert "computed: ['md', 'extract', 'continuum']" in lines
    assert "computed: ['continuum']" in lines
    i1 = float(next(x for x in lines if x.startswith("pit current (A/m):")).split()[-1])
    i2 = float(next(x for x in lines if x.startswith("pit current at 0.2 V")).split()[-1])
    assert i2 > 5 * i1  # Butler-Volmer: exp(0.5 * 0.1 V / 25.7 mV) = 7 times more current
    assert (tmp_path / "r" / "report.md").is_file()
