"""Run an example script of ``examples/`` in a subprocess, as the example tests do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, out: Path) -> str:
    """Run ``examples/<name>`` with ``out`` as its output folder and return its stdout.

    The script runs single-threaded (``OMP_NUM_THREADS=1``) with the Agg plot backend, from
    the repository root, for at most 300 s; the test fails with the end of its stderr if the
    script exits with a non-zero status.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout
