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
