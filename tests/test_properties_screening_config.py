"""``[screening]`` in ``multiscale props CONFIG.toml``: the hop-screening funnel from TOML.

Validation (messages name the key), the outputs in the output folder, agreement with calling
:func:`screen_hops` directly with the same settings, restart, and the shipped example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ase.calculators.emt import EMT

from multiscale.cli import main
from multiscale.properties import load_props_config, run_properties, validate_props_config
from multiscale.properties.screening import alloy_hop_candidates, screen_hops

TINY = {
    "host": "Cu",
    "solute": "Ni",
    "solute_fraction": 0.3,
    "size": [2, 2, 2],
    "adsorbate": "O",
    "seed": 3,
    "n_candidates": 4,
    "n_refine": 2,
    "n_check": 1,
    "fmax_eV_A": 0.1,
    "neb_images": 1,
    "neb_steps": 60,
    "fast": {"model": "emt"},
    "refine": "emt",
}


def test_screening_defaults_and_calculators():
    cfg = validate_props_config({"screening": {}})
    sc = cfg["screening"]
    assert sc["fast"] == {"model": "emt"} and sc["refine"] == {"model": "emt"}
    assert sc["check"] is None and sc["n_refine"] == 10 and sc["size"] == [3, 3, 3]
    sc = validate_props_config({"screening": {"check": {"model": "emt"}, "refine": "lj"}})
    assert sc["screening"]["check"] == {"model": "emt"}
    assert sc["screening"]["refine"] == {"model": "lj"}
    assert validate_props_config({"screening": {"check": "none"}})["screening"]["check"] is None
    # a validated configuration validates again unchanged (the CLI validates, then runs)
    assert validate_props_config(cfg) == cfg


@pytest.mark.parametrize(
    ("screening", "match"),
    [
        ({"hosts": "Cu"}, "screening.hosts: unknown key"),
        ({"host": "Qq"}, "screening.host: 'Qq' is not an element symbol"),
        ({"solute": "Cu"}, "screening.solute: expected an element other than the host"),
        ({"host": "Fe", "fast": "lj", "refine": "lj"}, "screening.a_A: Fe is not fcc"),
        ({"adsorbate": 8}, "screening.adsorbate: expected a string"),
        ({"solute_fraction": 1.5}, r"screening.solute_fraction: expected a fraction in \[0, 1\]"),
        ({"solute_fraction": -0.1}, "screening.solute_fraction: expected a number >= 0"),
        ({"size": [3, 3]}, "screening.size: expected three integers >= 2"),
        ({"size": [3, 1, 3]}, "screening.size: expected three integers >= 2"),
        ({"height_A": 0}, "screening.height_A: expected a positive number in Å"),
        ({"vacuum_A": "6"}, "screening.vacuum_A: expected a positive number in Å"),
        ({"a_A": -3.6}, "screening.a_A: expected a number >= 0 in Å"),
        ({"n_candidates": -1}, "screening.n_candidates: expected an integer >= 0"),
        ({"n_refine": 0}, "screening.n_refine: expected a positive integer"),
        ({"n_spot": 1.5}, "screening.n_spot: expected an integer >= 0"),
        ({"neb_images": True}, "screening.neb_images: expected a positive integer"),
        ({"neb_steps": 0}, "screening.neb_steps: expected a positive integer"),
        ({"fmax_eV_A": -0.05}, "screening.fmax_eV_A: expected a positive number in eV/Å"),
        ({"seed": -2}, "screening.seed: expected an integer >= 0"),
        (
            {"check": "emt", "n_refine": 2, "n_check": 3},
            "screening.n_check: expected at most n_refine",
        ),
        ({"fast": 3}, 'screening.fast: expected a calculator table with a string "model"'),
        ({"refine": {"model": "nosuch"}}, "screening.refine"),
        ({"refine": {"model": "emt", "foo": 1}}, "screening.refine.foo: unknown keyword"),
        ({"check": {"model": "ase.calculators.emt:EMT"}}, "allow-import"),
        # EMT has no Fe: the level calculators are checked against the slab's elements
        ({"solute": "Fe"}, "screening.fast: calculator 'emt' cannot be used: it does not cover"),
        ({"adsorbate": "Na", "fast": "lj"}, "screening.refine: .*does not cover Na"),
    ],
)
def test_bad_screening_config(screening, match):
    with pytest.raises(ValueError, match=match):
        validate_props_config({"screening": screening})


def test_screening_run_matches_screen_hops_and_resumes(tmp_path):
    lines = []
    s = run_properties({"screening": TINY}, tmp_path / "out", log=lines.append)
    out = tmp_path / "out"
    for f in ("screening.json", "screening.txt", "screening.png", "summary.json"):
        assert (out / f).is_file(), f
    assert (out / "screening" / "fast.json").is_file()
    assert (out / "screening" / "refine.json").is_file()
    assert not (out / "screening" / "check.json").exists()  # no check level
    saved = json.loads((out / "screening.json").read_text())
    assert [lev["kind"] for lev in saved["levels"]] == ["fast", "refine"]
    assert saved["levels"][0]["n_candidates"] == 4 and saved["levels"][1]["n_candidates"] == 2
    assert s["screening"]["levels"] == ["fast", "refine"]
    assert "fast" in (out / "screening.txt").read_text()

    # the same funnel called directly gives the same ranking and barriers
    cands = alloy_hop_candidates("Cu", "Ni", 0.3, size=(2, 2, 2), adsorbate="O", seed=3)[:4]
    direct = screen_hops(
        cands, tmp_path / "direct", fast_calc=EMT, refine_calc=EMT, check_calc=None,
        n_refine=2, n_check=1, seed=3, fmax=0.1, neb_images=1, neb_steps=60,
    )  # fmt: skip
    for lev, want in zip(saved["levels"], direct.levels, strict=True):
        assert lev["ranking"] == want.ranking
        assert lev["barriers"] == pytest.approx(want.barriers, abs=1e-9)

    # a rerun with the same settings is not rerun; a larger n_refine reuses the work folder
    lines.clear()
    run_properties({"screening": TINY}, out, log=lines.append)
    assert any("screening: done before" in line for line in lines)
    more = run_properties({"screening": TINY | {"n_refine": 3}}, out, log=lines.append)
    again = json.loads((out / "screening.json").read_text())
    assert [lev["n_computed"] for lev in again["levels"]] == [0, 1]
    assert more["screening"]["levels"] == ["fast", "refine"]


def test_screening_check_level_runs(tmp_path):
    """A check table builds one calculator per cluster (the factory gets the cluster)."""
    sc = TINY | {"n_candidates": 2, "n_refine": 1, "n_check": 1, "check": {"model": "emt"}}
    s = run_properties({"screening": sc}, tmp_path)
    assert s["screening"]["levels"] == ["fast", "refine", "check"]
    saved = json.loads((tmp_path / "screening.json").read_text())
    assert saved["levels"][2]["name"] == "emt cluster"
    assert saved["levels"][2]["ranking"] == saved["levels"][1]["ranking"][:1]
    assert (tmp_path / "screening" / "check.json").is_file()


def test_screening_cli_bad_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[screening]\nn_refine = "ten"\n')
    assert main(["props", str(bad)]) == 2
    assert "screening.n_refine: expected a positive integer" in capsys.readouterr().err


def test_shipped_screening_config_validates():
    """The screening example of docs/properties.md is valid (nothing is run)."""
    path = Path(__file__).resolve().parents[1] / "examples" / "properties_screening.toml"
    cfg = load_props_config(path)
    assert cfg["screening"]["fast"]["model"] == "emt"
    assert cfg["screening"]["check"] is None
    assert set(cfg) >= {"screening"} and "elastic" not in cfg
