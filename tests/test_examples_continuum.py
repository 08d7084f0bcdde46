"""The continuum examples run, write their plots and VTX files, and report correct physics."""

from __future__ import annotations

import itertools
import re

from _examples import run_example


def test_gouy_chapman_example(tmp_path):
    text = run_example("continuum_gouy_chapman.py", tmp_path)
    errors = [float(e) for e in re.findall(r"max \|dphi\|/phi0 = ([0-9.e+-]+)", text)]
    assert len(errors) == 3 and max(errors) < 1e-4
    for sigma, grahame in re.findall(r"sigma = ([0-9.]+) C/m\^2 \(Grahame ([0-9.]+)\)", text):
        assert abs(float(sigma) / float(grahame) - 1) < 1e-3
    assert (tmp_path / "gouy_chapman.png").stat().st_size > 10_000
    assert (tmp_path / "gouy_chapman_4kT_profiles.png").stat().st_size > 10_000
    assert (tmp_path / "gouy_chapman_4kT.bp" / "md.idx").exists()


def test_corrosion_pit_example(tmp_path):
    text = run_example("corrosion_pit_2d.py", tmp_path)
    balance = [float(b) for b in re.findall(r"current balance ([0-9.e+-]+)", text)]
    # a conservation identity of the converged state: it holds to the residual the Newton
    # stopping test leaves (snes_atol = 1e-10 dimensionless or an update <= 1e-7 in ln c),
    # not to round-off, so a different BLAS/CPU may move it well above 1e-10
    assert len(balance) == 4 and max(balance) < 1e-6
    currents = [float(i) for i in re.findall(r"i = ([0-9.e+-]+) A/m\^2", text)]
    assert all(b > a > 0 for a, b in itertools.pairwise(currents))  # anodic rise
    for f in ("polarisation.png", "pit_fields.png"):
        assert (tmp_path / f).stat().st_size > 10_000
    assert (tmp_path / "pit.bp" / "md.idx").exists()
