"""The command line and the demo: it runs end to end and reports numbers from the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from multiscale.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_writes_report_plot_and_log(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "2"]) == 0
    for name in ("report.md", "scf_md.png", "md_log.csv", "trajectory.traj"):
        assert (out / name).stat().st_size > 0
    rows = (out / "md_log.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # header + steps 0, 1, 2
    report = (out / "report.md").read_text()
    assert "| MD steps | 2 |" in report
    # total energy is conserved to better than 10 meV over 1 fs of NVE
    import csv

    etot = [float(r["etot_eV"]) for r in csv.DictReader(open(out / "md_log.csv"))]
    assert max(etot) - min(etot) < 0.01


def test_demo_refuses_too_few_steps(tmp_path):
    from multiscale.demo import run_demo

    with pytest.raises(ValueError, match="at least 2 MD steps"):
        run_demo(tmp_path, n_steps=1)


def test_module_entry_point_shows_help():
    res = subprocess.run(
        [sys.executable, "-m", "multiscale", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in res.stdout and "run" in res.stdout


def test_find_python_explains_what_it_looked_for(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path)}
    env["PYTHON"] = "/nonexistent/python3"
    # only interpreters older than 3.12 (or none) are visible on this PATH
    res = subprocess.run(
        ["bash", str(ROOT / "tools" / "find_python.sh")], capture_output=True, text=True, env=env
    )
    found = res.stdout.strip()
    if res.returncode == 0:  # the machine has a system python >= 3.12 in /usr/bin
        out = subprocess.run(
            [found, "-c", "import sys; print(sys.version_info >= (3, 12))"],
            capture_output=True,
            text=True,
        )
        assert out.stdout.strip() == "True"
    else:
        assert "no Python >= 3.12" in res.stderr and "PYTHON=" in res.stderr


def test_find_python_honours_python_variable():
    env = dict(os.environ, PYTHON=sys.executable)
    res = subprocess.run(
        ["bash", str(ROOT / "tools" / "find_python.sh")], capture_output=True, text=True, env=env
    )
    assert res.returncode == 0 and res.stdout.strip() == sys.executable
