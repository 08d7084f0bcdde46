"""The command line and the demo: ``multiscale demo --quick`` runs all four stages and writes a
report whose plots all exist and whose numbers come from the run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from multiscale.cli import main
from multiscale.pipeline import builtin_config

ROOT = Path(__file__).resolve().parents[1]


def test_quick_demo_writes_the_report_with_every_plot(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    expected = {
        "qmml/continuity_drag.png",
        "qmml/qmml_md.png",
        "md/thermo.png",
        "extract/profile.png",
        "continuum/np_1d.png",
        "continuum/pit.png",
    }
    assert set(images) == expected
    for img in images:
        assert (out / img).stat().st_size > 1000, img
    assert (out / "extract" / "profile.h5").stat().st_size > 0
    assert (out / "continuum" / "pit.bp").is_dir()
    # the shipped configuration is copied to the run directory
    assert tomllib.loads((out / "config.toml").read_text()) == tomllib.loads(
        builtin_config("demo_quick")
    )
    # the report's numbers are the run's
    md = json.loads((out / "md" / "summary.json").read_text())
    assert f"| steps × time step | {md['steps']} × " in report
    pit = json.loads((out / "continuum" / "summary.json").read_text())["pit"]
    assert f"{pit['electrode_current_A_per_m']:.4g} A/m" in report
    # the dissolved metal leaves through the bulk boundary at the rate Faraday's law gives
    assert abs(pit["faraday_balance"] - 1.0) < 1e-3


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


def test_run_takes_a_built_in_configuration_by_name(tmp_path, capsys, monkeypatch):
    """`multiscale run production` reads the shipped file (checked by running no stage: the
    config is copied to the run folder), and an unknown bare name lists the built-in ones."""
    from multiscale.cli import _config_source

    assert _config_source(Path("production")) == tomllib.loads(builtin_config("production"))
    assert _config_source(Path("my.toml")) == Path("my.toml")  # a file name stays a path
    monkeypatch.chdir(tmp_path)
    assert main(["run", "nope", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no built-in configuration 'nope'" in err and "'production'" in err
