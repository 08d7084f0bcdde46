"""``multiscale props CONFIG.toml``: validation (messages name the key), the registry and trust
rules for the calculator, outputs, restart, and the CLI's exit codes."""

from __future__ import annotations

import json

import pytest

from multiscale.cli import main
from multiscale.properties import load_props_config, run_properties, validate_props_config

FAST = {
    "calculator": {"model": "emt"},
    "material": {"element": "Cu"},
    "elastic": {"strains": [-0.005, 0.005]},
    "phonons": {
        "supercell": [2, 2, 2],
        "compare_supercell": [1, 1, 1],
        "mesh": [4, 4, 4],
        "t_max_K": 300.0,
        "t_step_K": 100.0,
    },
    "surfaces": {"facets": ["111"], "layers": [3, 4, 5, 6], "relax_layers": 1},
    "hull": {"elements": ["Cu", "Au"], "relax": False},
}


def test_defaults_and_calculator():
    cfg = validate_props_config({"elastic": {}})
    assert cfg["calculator"] == {"model": "emt"} and cfg["material"]["element"] == "Cu"
    assert cfg["elastic"]["strains"] == [-0.01, -0.005, 0.005, 0.01]
    assert "phonons" not in cfg


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({}, "no workflow"),
        ({"elastik": {}}, r"unknown section\(s\) \['elastik'\]"),
        ({"elastic": {"strain": [0.01]}}, "elastic.strain: unknown key"),
        ({"elastic": {"strains": [0.01]}}, "elastic.strains: expected at least two distinct"),
        ({"phonons": {"supercell": [2, 2]}}, "phonons.supercell: expected three positive"),
        ({"phonons": {"displacement_A": -1}}, "phonons.displacement_A: expected a positive"),
        ({"surfaces": {"facets": ["211"]}}, "surfaces.facets: expected facets among"),
        ({"surfaces": {"layers": [5, 4, 6, 7]}}, "surfaces.layers: expected at least 4"),
        ({"hull": {"elements": ["Cu"]}}, "hull.elements: expected two or three"),
        ({"material": {"element": "Qq"}, "elastic": {}}, "material.element: 'Qq' is not"),
        ({"calculator": {"model": "nosuch"}, "elastic": {}}, "calculator"),
        ({"calculator": {"model": "emt", "foo": 1}, "elastic": {}}, "calculator.foo: unknown"),
        ({"calculator": {"model": "ase.calculators.emt:EMT"}, "elastic": {}}, "--allow-import"),
        # EMT has no parameters for Fe: the registry refuses before anything runs
        ({"material": {"element": "Fe"}, "elastic": {}}, "does not cover Fe"),
    ],
)
def test_bad_config(config, match):
    with pytest.raises(ValueError, match=match):
        validate_props_config(config)


def test_import_path_needs_opt_in():
    spec = {"calculator": {"model": "ase.calculators.emt:EMT"}, "elastic": {}}
    cfg = validate_props_config(spec, allow_import=True)
    assert cfg["calculator"]["trusted_import"] is True
    with pytest.raises(TypeError, match="config must be a mapping"):
        validate_props_config([1])


def test_run_writes_outputs_and_resumes(tmp_path):
    lines = []
    s = run_properties(FAST, tmp_path, log=lines.append)
    for name in ("elastic", "phonons", "surfaces", "hull"):
        assert (tmp_path / f"{name}.json").is_file()
        assert (tmp_path / f"{name}.png").stat().st_size > 5_000
    assert (tmp_path / "hull.txt").is_file()
    assert s["elastic"]["born_stable"] and 150 < s["elastic"]["C11"] < 200
    assert s["phonons"]["stable"]
    assert s["surfaces"]["111"]["converged"]
    assert s["hull"]["stable"][0] == "Cu4"
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["elastic"]["C11"] == pytest.approx(s["elastic"]["C11"])
    # a second run with the same settings reuses the results; changed settings rerun
    lines.clear()
    run_properties(FAST, tmp_path, log=lines.append)
    assert sum("not rerun" in line for line in lines) == 4
    changed = FAST | {"elastic": {"strains": [-0.004, 0.004]}}
    lines.clear()
    run_properties(changed, tmp_path, log=lines.append)
    assert [line for line in lines if "not rerun" in line and "elastic" in line] == []


def test_cli(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[calculator]\nmodel = "emt"\n[hull]\nelements = ["Cu", "Ag"]\nrelax = false\n')
    assert main(["props", str(cfg), "--out", str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "out" / "hull.png").is_file()
    bad = tmp_path / "bad.toml"
    bad.write_text("[elastic]\nstrains = 3\n")
    assert main(["props", str(bad)]) == 2
    assert "elastic.strains: expected a non-empty list of numbers" in capsys.readouterr().err
    assert main(["props", str(tmp_path / "missing.toml")]) == 2
    assert load_props_config(cfg)["hull"]["elements"] == ["Cu", "Ag"]


@pytest.mark.parametrize("model", ["chgnet", "sevennet"])
def test_shipped_cu_configs_validate(model):
    """The Cu configurations of docs/properties.md are valid (nothing is run or loaded)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / f"properties_cu_{model}.toml"
    cfg = load_props_config(path)
    assert cfg["calculator"]["model"] == model
    assert cfg["phonons"]["supercell"] == [5, 5, 5]
    assert set(cfg) >= {"elastic", "phonons", "surfaces"} and "hull" not in cfg
