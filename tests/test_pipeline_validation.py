"""Configuration validation by meaning, and calculators from a registry (issue #12, 5/6/8).

Every rule is exercised with a bad value: the error must name the key (``section.key``) and,
where it is a range, show the value and the plausible range with its unit. Nothing here builds a
machine-learned model: validation reads metadata only.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import logging
import subprocess
import sys
import textwrap

import pytest
from ase.calculators.lj import LennardJones

from multiscale.pipeline import builtin_config, load_config, validate_config
from multiscale.pipeline import calculators as calcs
from multiscale.pipeline.calculators import (
    accepted_keywords,
    make_calculator,
    registered_calculators,
    resolve_calculator,
)

#: an md section that validates (Lennard-Jones stand-in, enough frames for the extract lags)
MD_OK = {"steps": 200, "traj_interval": 2, "calculator": {"model": "lj"}}

BAD = [
    # [run]
    ({"run": {"trust_imports": "yes"}}, r"run\.trust_imports: expected true or false"),
    ({"run": {"seed": -1}}, r"run\.seed: expected an integer >= 0"),
    # [qmml]
    ({"qmml": {"salt": "NaBr"}}, r"qmml\.salt = 'NaBr': unknown salt; choose one of \["),
    ({"qmml": {"centre": "K"}}, r"qmml\.centre = 'K' is not an ion of qmml\.salt = 'NaCl'"),
    (
        {"qmml": {"concentration_mol_per_L": 2000.0}},
        r"qmml\.concentration_mol_per_L = 2000 mol/L is outside the plausible range "
        r"0\.\.6\.1 mol/L for NaCl .*looks like mol/m³",
    ),
    (
        {"qmml": {"n_water": 2, "concentration_mol_per_L": 0.5}},
        r"qmml\.concentration_mol_per_L and qmml\.n_water: .*less than half a formula unit",
    ),
    (
        {"qmml": {"temperature_K": 25.0}},
        r"qmml\.temperature_K = 25 K is outside the plausible range 200\.\.500 K for a liquid "
        r"electrolyte; 25 looks like °C; give kelvin, e\.g\. 298\.15",
    ),
    ({"qmml": {"timestep_fs": 10.0}}, r"qmml\.timestep_fs = 10 fs is above the plausible range"),
    (
        {"qmml": {"ml": {"model": "default:water-nacl", "comittee": True}}},
        r"qmml\.ml\.comittee: unknown keyword for calculator 'default:water-nacl'; did you mean "
        r"'committee'\? the valid keywords are \['committee', 'device', 'dtype', 'num_threads'\]",
    ),
    (
        {"qmml": {"qm": {"model": "pyscf", "basis_set": "sto-3g"}}},
        r"qmml\.qm\.basis_set: unknown keyword for calculator 'pyscf'; did you mean 'basis'\?",
    ),
    # [md]
    ({"md": {"metal": "Xx"}}, r"md\.metal = 'Xx' is not a chemical element symbol"),
    ({"md": {"metal": "O"}}, r"md\.metal = 'O' is not a metal the interface builder supports"),
    ({"md": {"metal": "Ar"}}, r"md\.metal = 'Ar' is not a metal the interface builder supports"),
    (
        {"md": {"metal": "Fe"}},
        r"md\.facet = 'fcc111' needs an fcc metal, but md\.metal = 'Fe' is bcc; use "
        r"md\.facet = 'bcc110'",
    ),
    ({"md": {"size": [4, 3]}}, r"md\.size = \[4, 3\]: an orthogonal fcc111 cell needs an even"),
    ({"md": {"layers": 2}}, r"md\.layers = 2 is below the minimum of 3 layers"),
    (
        {"md": {"water_thickness_A": 3.0}},
        r"md\.water_thickness_A = 3 Å is below the minimum of 6 Å",
    ),
    ({"md": {"gap_A": 0.5}}, r"md\.gap_A = 0\.5 Å is below the minimum of 1\.5 Å"),
    ({"md": {"salt": "NaBr"}}, r"md\.salt = 'NaBr': unknown salt"),
    (
        {"md": {"concentration_mol_per_L": 7.0}},
        r"md\.concentration_mol_per_L = 7 mol/L is outside the plausible range 0\.\.6\.1 mol/L",
    ),
    ({"md": {"temperature_K": 1000.0}}, r"md\.temperature_K = 1000 K is outside .*200\.\.500 K"),
    ({"md": {"timestep_fs": 8.0}}, r"md\.timestep_fs = 8 fs is above .*0\.\.5 fs.*hydrogen"),
    (
        {"md": {"traj_interval": 2.5}},
        r"md\.traj_interval: expected a positive integer in steps, got 2\.5",
    ),
    (
        {"md": {"checkpoint_interval": 2.5}},
        r"md\.checkpoint_interval: expected a positive integer in steps, got 2\.5",
    ),
    (
        {"md": {"steps": 20, "traj_interval": 50}},
        r"md\.traj_interval = 50 steps is larger than md\.steps = 20",
    ),
    (
        {"md": {"calculator": {"model": "lj", "r_c": 3.0}}},
        r"md\.calculator\.r_c: unknown keyword for calculator 'lj'; did you mean 'rc'\? the "
        r"valid keywords are \['epsilon', 'rc', 'ro', 'sigma', 'smooth'\]",
    ),
    (
        {"md": {"calculator": {"model": "ljj"}}},
        r"md\.calculator: unknown calculator 'ljj'; did you mean 'lj'\?",
    ),
    (
        {"md": {"calculator": {"model": "default:nope"}}},
        r"md\.calculator: no shipped model 'default:nope'",
    ),
    (
        {"md": {"calculator": {"model": "emt"}}},
        r"md\.calculator: calculator 'emt' cannot be used: it does not cover Cl, Na",
    ),
    (
        {"md": {"calculator": {"model": "lj", "fallback": {"model": "lj", "sigmaa": 1.0}}}},
        r"md\.calculator\.fallback\.sigmaa: unknown keyword for calculator 'lj'",
    ),
    (
        {"md": {"calculator": {"model": "lj", "trusted_import": True}}},
        r"md\.calculator\.trusted_import: this key is set by validation only",
    ),
    # [extract]
    (
        {"md": MD_OK, "extract": {"water_model": "TIP4P"}},
        r"extract\.water_model = 'TIP4P': unknown water model",
    ),
    (
        {"md": MD_OK, "extract": {"ion_charges": {"Na": 1.0, "Cl": -1.0, "O": -0.8}}},
        r"extract\.ion_charges: O has a charge from extract\.water_model = 'SPC/E' already",
    ),
    (
        {"md": MD_OK, "extract": {"ion_charges": {"Na": 1.0}}},
        r"extract\.ion_charges has no charge for Cl, an ion of md\.salt = 'NaCl'; add Cl = -1",
    ),
    (
        {"md": MD_OK, "extract": {"ion_charges": {"Na": -1.0, "Cl": -1.0}}},
        r"extract\.ion_charges\.Na = -1 e has the wrong sign",
    ),
    (
        {"md": MD_OK, "extract": {"species": {"K+": {"selection": "K", "charge": 1}}}},
        r"extract\.species\.K\+\.selection = 'K' matches no atom of the md system",
    ),
    (
        {"md": {**MD_OK, "concentration_mol_per_L": 0.0}, "extract": {}},
        r"extract\.species\.Na\+\.selection = 'Na' matches no atom of the md system",
    ),
    (
        {"md": MD_OK, "extract": {"species": {"Na-": {"selection": "Na", "charge": -1}}}},
        r"extract\.species\.Na-\.charge = -1 e does not match the sign of Na "
        r"\(extract\.ion_charges\.Na = 1\)",
    ),
    (
        {"md": MD_OK, "extract": {"species": {"W": {"selection": "O", "charge": -2}}}},
        r"extract\.species\.W\.charge = -2 e does not match the sign of O",
    ),
    (
        {"md": MD_OK, "extract": {"z_margin_A": 5.5}},
        r"extract\.z_margin_A = 5\.5 Å leaves 1 Å of the 12 Å water film",
    ),
    (
        {"md": {**MD_OK, "steps": 20}, "extract": {"lags": [10]}},
        r"extract\.lags = \[10\] need at least 20 frames",
    ),
    (
        {"md": MD_OK, "extract": {"perp_lags": [40, 80]}},
        r"extract\.perp_lags = \[40, 80\] need at least 160 frames \(twice the largest lag\), "
        r"but .* gives 101; run more md\.steps, lower extract\.perp_lags",
    ),
    ({"extract": {"perp_lags": [0]}}, r"extract\.perp_lags: expected a list of positive integers"),
    # [continuum]
    (
        {"continuum": {"alpha_anodic": 0.5, "alpha_cathodic": 0.5}},
        r"continuum\.alpha_anodic \+ continuum\.alpha_cathodic = 0\.5 \+ 0\.5 = 1, but it must "
        r"equal continuum\.electrons = 2",
    ),
    (
        {"continuum": {"product_charge": 1, "product": "Cu+"}},
        r"continuum\.product_charge = 1 differs from continuum\.electrons = 2",
    ),
    (
        {"continuum": {"product": "Cu+"}},
        r"continuum\.product = 'Cu\+' has charge \+1, but continuum\.product_charge = 2",
    ),
    (
        {"continuum": {"temperature_K": 25}},
        r"continuum\.temperature_K = 25 K .*25 looks like °C; give kelvin, e\.g\. 298\.15",
    ),
    (
        {"continuum": {"overpotential_V": 150.0}},
        r"continuum\.overpotential_V = 150 V is outside the plausible range -2\.\.2 V; .*not mV",
    ),
    (
        {"continuum": {"equilibrium_potential_V": -340.0}},
        r"continuum\.equilibrium_potential_V = -340 V is outside the plausible range -5\.\.5 V",
    ),
    (
        {"continuum": {"exchange_current_A_per_m2": 1e5}},
        r"continuum\.exchange_current_A_per_m2 = 100000 A/m² is outside the plausible range "
        r"0\.\.10000 A/m²",
    ),
    (
        {"continuum": {"product_diffusion_m2_per_s": 7.1e-6}},
        r"continuum\.product_diffusion_m2_per_s = 7\.1e-06 m²/s is outside the plausible range "
        r"1e-12\.\.1e-07 m²/s",
    ),
    (
        {"continuum": {"product_bulk_mol_per_m3": 5e4}},
        r"continuum\.product_bulk_mol_per_m3 = 50000 mol/m³ is outside the plausible range",
    ),
    (
        {"continuum": {"reference_concentration_mol_per_m3": 5e4}},
        r"continuum\.reference_concentration_mol_per_m3 = 50000 mol/m³ is outside",
    ),
    (
        {"continuum": {"domain_width_um": 5.0}},
        r"continuum\.domain_width_um = 5 µm must exceed half the pit width",
    ),
    (
        {"continuum": {"cells_across_pit": 1}},
        r"continuum\.cells_across_pit = 1 cells is below the minimum of 2",
    ),
    (
        {"continuum": {"profile": "/nonexistent/p.h5"}},
        r"continuum\.profile = '/nonexistent/p\.h5': no such file",
    ),
    (
        {"continuum": {"profile": "builtin:nothing"}},
        r"continuum\.profile = 'builtin:nothing': unknown builtin profile; choose one of",
    ),
]


@pytest.mark.parametrize(("config", "message"), BAD)
def test_bad_values_are_refused_naming_the_key(config, message):
    with pytest.raises(ValueError, match=message):
        load_config(config)


def test_every_section_has_a_bad_input_case():
    sections = {s for config, _ in BAD for s in config}
    assert sections == {"run", "qmml", "md", "extract", "continuum"}


def test_good_values_pass_and_validation_is_idempotent():
    cfg = load_config(
        {
            "qmml": {"ml": {"model": "lj", "sigma": 1.0}},
            "md": {**MD_OK, "metal": "W", "facet": "bcc110", "size": [3, 2]},
            "extract": {},
            "continuum": {"electrons": 1, "product": "Ag+", "product_charge": 1,
                          "alpha_anodic": 0.5, "alpha_cathodic": 0.5,
                          "product_override": True},  # Ag+ at a W slab: explicitly allowed
        }
    )  # fmt: skip
    assert cfg["md"]["metal"] == "W" and cfg["run"]["trust_imports"] is False
    assert load_config(cfg) == cfg


def test_kcl_with_water_nacl_model_chooses_the_fallback_at_validation(caplog):
    spec = {"model": "default:water-nacl", "fallback": {"model": "chgnet"}}
    with caplog.at_level(logging.WARNING, logger="multiscale.pipeline"):
        cfg = load_config({"qmml": {"salt": "KCl", "centre": "K", "ml": spec}})
    assert cfg["qmml"]["ml"] == {"model": "chgnet"}
    assert "does not cover K" in caplog.text and "using its fallback chgnet" in caplog.text


def test_kcl_with_water_nacl_model_and_no_fallback_names_the_missing_element():
    with pytest.raises(
        ValueError,
        match=r"qmml\.ml: calculator 'default:water-nacl' cannot be used: it does not cover K "
        r"\(it covers Cl, H, Na, O\)",
    ):
        load_config({"qmml": {"salt": "KCl", "centre": "K", "ml": "default:water-nacl"}})


def test_fe_surface_with_the_cu_model_needs_a_model_that_covers_fe():
    md = {"metal": "Fe", "facet": "bcc110", "concentration_mol_per_L": 0.0}
    with pytest.raises(ValueError, match=r"md\.calculator: .*does not cover Fe"):
        load_config({"md": md})
    cfg = load_config({"md": {**md, "calculator": {"model": "default:cu-water-nacl",
                                                    "fallback": {"model": "chgnet"}}}})  # fmt: skip
    assert cfg["md"]["calculator"]["model"] == "chgnet"


def test_a_primary_that_covers_the_elements_keeps_its_fallback_checked():
    spec = {"model": "default:cu-water-nacl", "fallback": {"model": "chgnet"}}
    cfg = load_config({"md": {"calculator": spec}})
    assert cfg["md"]["calculator"] == spec


def test_a_calculator_that_is_not_installed_is_replaced_by_its_fallback(monkeypatch):
    missing = dataclasses.replace(calcs._BUILTIN["chgnet"], available=lambda: "not installed")
    monkeypatch.setitem(calcs._BUILTIN, "chgnet", missing)
    spec = {"model": "chgnet", "fallback": {"model": "lj"}}
    assert load_config({"md": {"calculator": spec}})["md"]["calculator"] == {"model": "lj"}
    with pytest.raises(ValueError, match=r"md\.calculator: calculator 'chgnet' cannot be used: "):
        load_config({"md": {"calculator": "chgnet"}})


# ----------------------------------------------------------------------------- trust


def test_os_system_spec_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    spec = {"model": "os:system", "command": f"touch {target}"}
    with pytest.raises(ValueError, match=r"md\.calculator: model 'os:system' is an import path"):
        load_config({"md": {"calculator": spec}})
    with pytest.raises(ValueError, match=r"--allow-import .*trust_imports = true in \[run\]"):
        make_calculator(spec, "md.calculator")
    assert not target.exists()


def test_subprocess_run_spec_is_refused_and_nothing_is_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "evil_plugin_mod.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef run(**kw):\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for model in ("subprocess:run", "evil_plugin_mod:run"):
        spec = {"model": model, "args": f"touch {marker}", "shell": True}
        with pytest.raises(ValueError, match=r"allow_import=True"):
            load_config({"md": {"calculator": spec}})
    assert not marker.exists() and "evil_plugin_mod" not in sys.modules


def test_with_opt_in_a_non_calculator_is_refused():
    spec = {"model": "json:dumps", "obj": 1}
    cfg = load_config({"md": {"calculator": spec}}, allow_import=True)
    with pytest.raises(ValueError, match=r"returned str, not an ASE calculator"):
        make_calculator(cfg["md"]["calculator"], "md.calculator")
    with pytest.raises(ValueError, match=r"'fractions:Fraction' is a class but not an ASE"):
        load_config({"md": {"calculator": {"model": "fractions:Fraction"}}}, allow_import=True)
    with pytest.raises(ValueError, match=r"'math:pi' is not callable"):
        load_config({"md": {"calculator": {"model": "math:pi"}}}, allow_import=True)


def test_with_opt_in_an_import_path_is_checked_marked_and_built(tmp_path):
    lj = {"model": "ase.calculators.lj:LennardJones", "sigma": 1.0, "rc": 3.0}
    with pytest.raises(ValueError, match=r"md\.calculator\.r_c: .*did you mean 'rc'"):
        load_config({"md": {"calculator": {**lj, "r_c": 3.0}}}, allow_import=True)
    toml = tmp_path / "c.toml"
    toml.write_text(
        textwrap.dedent("""
        [run]
        trust_imports = true
        [md]
        calculator = {model = "ase.calculators.lj:LennardJones", sigma = 1.0, rc = 3.0}
        """)
    )
    cfg = load_config(toml)
    assert cfg["run"]["trust_imports"] is True
    assert cfg["md"]["calculator"] == {**lj, "trusted_import": True}
    assert load_config(cfg) == cfg  # the validated config validates again
    calc, used = make_calculator(cfg["md"]["calculator"], "md.calculator")
    assert isinstance(calc, LennardJones) and calc.parameters["rc"] == 3.0
    assert used["model"] == lj["model"]


def test_allow_import_must_be_a_bool():
    with pytest.raises(TypeError, match=r"allow_import must be True or False"):
        validate_config({}, allow_import="yes")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- registry


def test_registry_names_build_without_opt_in():
    names = registered_calculators()
    assert {"lj", "emt", "chgnet", "pyscf", "default:water-nacl"} <= set(names)
    calc, _ = make_calculator({"model": "lj", "sigma": 2.0}, "x")
    assert isinstance(calc, LennardJones) and calc.parameters["sigma"] == 2.0
    cfg = load_config({"md": {"concentration_mol_per_L": 0.0, "calculator": {"model": "emt"}}})
    assert cfg["md"]["calculator"] == {"model": "emt"}


def test_plugins_come_from_entry_points(monkeypatch):
    eps = [
        importlib.metadata.EntryPoint(
            name="mylj", value="ase.calculators.lj:LennardJones", group=calcs.ENTRY_POINT_GROUP
        ),
        importlib.metadata.EntryPoint(name="lj", value="json:dumps", group=calcs.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(calcs, "_entry_points", lambda: eps)
    assert registered_calculators()["lj"] is calcs._BUILTIN["lj"]  # built-ins win
    spec = resolve_calculator({"model": "mylj", "sigma": 1.5}, "md.calculator")
    assert "trusted_import" not in spec
    calc, _ = make_calculator(spec, "md.calculator")
    assert isinstance(calc, LennardJones) and calc.parameters["sigma"] == 1.5
    with pytest.raises(ValueError, match=r"md\.calculator\.sigmaa: .*did you mean 'sigma'"):
        resolve_calculator({"model": "mylj", "sigmaa": 1.5}, "md.calculator")


def test_accepted_keywords_of_classes_and_functions():
    def factory(a, *, b=1):
        return None

    def anything(**kwargs):
        return None

    assert accepted_keywords(factory) == {"a", "b"}
    assert accepted_keywords(anything) is None
    assert accepted_keywords(LennardJones) == {"epsilon", "sigma", "rc", "ro", "smooth"}


def test_validation_loads_no_torch_model():
    code = (
        "import sys, tomllib\n"
        "from multiscale.pipeline import builtin_config, load_config\n"
        "load_config(tomllib.loads(builtin_config('demo')))\n"
        "print(sorted(m for m in ('torch', 'mace', 'chgnet') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["demo", "demo_quick", "production"])
def test_shipped_configs_use_registry_names_only(name):
    import tomllib

    cfg = load_config(tomllib.loads(builtin_config(name)))
    assert cfg["run"]["trust_imports"] is False
