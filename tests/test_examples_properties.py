"""The property examples run, write their plots and print physics that holds."""

from __future__ import annotations

import re

import pytest
from _examples import run_example


def test_elastic_example(tmp_path):
    text = run_example("properties_elastic.py", tmp_path)
    c11, c12, c44 = (
        float(x)
        for x in re.search(
            r"C11 = ([0-9.]+) GPa, C12 = ([0-9.]+) GPa, C44 = ([0-9.]+) GPa", text
        ).groups()
    )
    assert c11 > c12 > 0 and c44 > 0
    assert float(re.search(r"relative difference ([0-9.e+-]+)", text).group(1)) < 5e-3
    assert "Born stable: True" in text
    assert (tmp_path / "elastic.png").stat().st_size > 10_000


def test_phonons_example(tmp_path):
    text = run_example("properties_phonons.py", tmp_path)
    assert "stable: True" in text and "converged within 0.1 THz: True" in text
    diffs = [
        float(x) for x in re.findall(r"sound velocity: .* \(relative difference ([0-9.]+)", text)
    ]
    assert len(diffs) == 2 and max(diffs) < 0.03
    assert (tmp_path / "phonons.png").stat().st_size > 10_000


def test_hull_example(tmp_path):
    text = run_example("properties_hull.py", tmp_path)
    assert "stable (binary): Cu4, AuCu3, Au2Cu2, Au4" in text
    assert (tmp_path / "hull_CuAu.png").stat().st_size > 10_000


def test_surfaces_example(tmp_path):
    text = run_example("properties_surfaces.py", tmp_path)
    gammas = re.findall(r"gamma = ([0-9.]+) J/m2 \(FM\), ([0-9.]+) J/m2 \(bulk", text)
    assert len(gammas) == 3
    assert all(abs(float(a) - float(b)) < 0.01 for a, b in gammas)
    assert text.count("converged: True") == 3
    assert (tmp_path / "surfaces.png").stat().st_size > 10_000


def test_neb_example(tmp_path):
    """The NH3 inversion: CI-NEB and the relaxed height scan agree within 0.05 eV (#16)."""
    text = run_example("properties_neb.py", tmp_path)
    neb, scan, diff = re.search(
        r"barrier: NEB ([0-9.]+) eV, scan maximum ([0-9.]+) eV at h = 0.000 Å; "
        r"difference ([0-9.e+-]+) eV",
        text,
    ).groups()
    assert 0.3 < float(neb) < 0.7 and abs(float(neb) - float(scan)) < 0.05
    assert float(diff) == pytest.approx(float(neb) - float(scan), abs=2e-4)
    assert "converged True" in text and "all converged True" in text
    assert (tmp_path / "neb.png").stat().st_size > 10_000
