"""Pipeline configuration: validation up front, messages that name the key, type and unit."""

from __future__ import annotations

import pytest

from multiscale.cli import main
from multiscale.pipeline import SCHEMA, STAGES, builtin_config, load_config


def test_defaults_are_filled_in_and_only_given_sections_run():
    cfg = load_config({"md": {"steps": 70}})
    assert cfg["md"]["steps"] == 70
    assert cfg["md"]["timestep_fs"] == SCHEMA["md"]["timestep_fs"].default
    assert "qmml" not in cfg and "continuum" not in cfg
    assert cfg["run"]["stages"] == list(STAGES)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"md": {"timestep_fs": "abc"}},
            r"md\.timestep_fs: expected a positive number in fs, got 'abc'",
        ),
        (
            {"md": {"timestep_fs": -0.5}},
            r"md\.timestep_fs: expected a positive number in fs, got -0\.5",
        ),
        ({"md": {"steps": 1.5}}, r"md\.steps: expected a positive integer in steps, got 1\.5"),
        ({"md": {"ensemble": "nvt"}}, r"md\.ensemble: expected one of 'langevin', 'bussi', 'nve'"),
        ({"md": {"stepz": 3}}, r"md\.stepz: unknown key"),
        ({"md": {"size": [4]}}, r"md\.size: expected two positive integers"),
        ({"qmml": {"r_core_A": 0}}, r"qmml\.r_core_A: expected a positive number in Å, got 0"),
        ({"qmml": {"ml": {"sigma": 1.0}}}, r"qmml\.ml: expected a calculator table with a string"),
        (
            {"extract": {"species": {"Na+": {"selection": "Na"}}}},
            r"extract\.species\.Na\+: expected",
        ),
        (
            {"continuum": {"overpotential_V": True}},
            r"continuum\.overpotential_V: expected a finite",
        ),
        ({"run": {"stages": ["md", "dft"]}}, r"run\.stages: expected stages among"),
        ({"mdd": {}}, r"unknown section\(s\) \['mdd'\]"),
    ],
)
def test_errors_name_the_key_type_and_unit(config, message):
    with pytest.raises(ValueError, match=message):
        load_config(config)


def test_not_a_mapping_is_a_type_error():
    with pytest.raises(TypeError, match="config must be a mapping"):
        load_config(["md"])  # type: ignore[arg-type]


def test_toml_syntax_error_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[md]\nsteps = = 3\n")
    with pytest.raises(ValueError, match=r"bad\.toml: not valid TOML"):
        load_config(bad)


def test_cli_reports_config_errors_without_traceback(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[md]\ntimestep_fs = "abc"\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "md.timestep_fs: expected a positive number in fs, got 'abc'" in err
    assert not (tmp_path / "r").exists()  # nothing ran


@pytest.mark.parametrize("name", ["demo", "demo_quick", "production"])
def test_shipped_configs_are_valid(name):
    import tomllib

    cfg = load_config(tomllib.loads(builtin_config(name)))
    assert set(cfg["run"]["stages"]) <= set(STAGES) and set(cfg["run"]["stages"]) <= set(cfg)
    assert cfg["md"]["metal"] == "Cu" and cfg["md"]["facet"] == "fcc111"


def test_unknown_builtin_config_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"available: \[.*'demo'"):
        builtin_config("nope")
