"""The report for electrochemists (issue #17 item 8): concentration simulated, λ_D,
Gouy–Chapman, experiment table and the chain diagram, from a fake results dict (no runs)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from continuum import TransportProfile, analytic
from multiscale.pipeline.config import load_config
from multiscale.pipeline.electrochem import (
    double_layer,
    simulated_concentration,
    water_permittivity,
)
from multiscale.pipeline.report import write_report

AVOGADRO = 6.02214076e23


def test_water_permittivity_and_debye_length_at_0p1_molar():
    eps = water_permittivity(298.15)
    assert eps == pytest.approx(78.3, abs=0.1)
    # 1 NaCl and 555 waters in 16605 Å^3: 0.1 mol/L, 0.1 mol/kg
    vol_a3 = 1 / (0.1 * AVOGADRO) * 1e27
    sc = simulated_concentration(1, 555, 100.0, vol_a3 / 100.0, 298.15)
    assert sc["molarity_mol_per_L"] == pytest.approx(0.1)
    assert sc["molality_mol_per_kg"] == pytest.approx(0.1, rel=1e-3)
    # closed form λ_D = sqrt(ε0 εr kT / (2 e² N_A c)), 0.961 nm in water at 298 K
    e, k, eps0 = 1.602176634e-19, 1.380649e-23, 8.8541878128e-12
    closed = math.sqrt(eps0 * eps * k * 298.15 / (2 * e**2 * AVOGADRO * 100.0))
    assert sc["debye_length_nm"] == pytest.approx(closed * 1e9, rel=1e-6)
    assert sc["debye_length_nm"] == pytest.approx(0.961, rel=3e-3)
    with pytest.raises(ValueError, match=r"outside 273-373 K.*kelvin"):
        water_permittivity(25.0)
    hot = simulated_concentration(1, 555, 100.0, vol_a3 / 100.0, 400.0)  # outside the fit
    assert hot["permittivity"] is None and hot["debye_length_nm"] is None
    assert hot["molarity_mol_per_L"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"need n_water > 0"):
        simulated_concentration(1, 0, 100.0, 10.0)


def test_double_layer_matches_gouy_chapman_for_a_gouy_chapman_profile():
    c, phi0 = 100.0, -0.05  # mol/m^3, V
    z = np.linspace(0.0, 15e-9, 61)
    phi, cp, cm = analytic.gouy_chapman(z, phi0, c, permittivity=water_permittivity(298.15))
    prof = TransportProfile(z, ["Na+", "Cl-"], [1, -1], np.array([cp, cm]),
                            np.full((2, z.size), 1e-9), potential=phi)  # fmt: skip
    dl = double_layer(prof)
    assert dl["applies"] and dl["debye_length_nm"] == pytest.approx(0.961, rel=1e-2)
    assert dl["surface_potential_V"] == pytest.approx(phi0, rel=1e-2)
    assert dl["md_diffuse_charge_C_per_m2"] == pytest.approx(dl["grahame_charge_C_per_m2"],
                                                             rel=3e-2)  # fmt: skip
    r = dl["rows"][0]
    assert r["c_md"][0] == pytest.approx(r["c_gc"][0], rel=2e-2)
    # without ions of both signs it says why not
    water = TransportProfile(z, ["H2O"], [0], np.full((1, z.size), 5e4), np.full((1, z.size), 2e-9))
    no = double_layer(water)
    assert not no["applies"] and "both a cation and an anion" in no["why"]
    # a profile from MD at 400 K (temperature-mapped water): no permittivity, so no comparison
    d = np.full((2, z.size), 1e-9)
    hot = TransportProfile(
        z, ["Na+", "Cl-"], [1, -1], np.array([cp, cm]), d, potential=phi, temperature=400.0
    )
    no = double_layer(hot)
    assert not no["applies"] and re.search(r"at the profile's 400 K: .*outside 273-373", no["why"])


def _fake_results(with_ions: bool) -> dict:
    ex_species = {
        "H2O": {"charge": 0, "mean_c_mol_per_L": 50.0, "max_c_mol_per_L": 60.0,
                "D_middle_1e-9_m2_per_s": 2.5, "D_middle_err_1e-9_m2_per_s": 0.2,
                "D_parallel_middle_1e-9_m2_per_s": 2.4, "bin_crossing_time_ps": 1.0,
                "trajectory_ps": 100.0},
    }  # fmt: skip
    if with_ions:
        ex_species["Na+"] = {"charge": 1, "mean_c_mol_per_L": 1.5, "max_c_mol_per_L": 3.0,
                             "D_middle_1e-9_m2_per_s": 1.1,
                             "D_middle_err_1e-9_m2_per_s": 0.3}  # fmt: skip
    dl = (
        {"applies": True, "cation": "Na+", "anion": "Cl-", "c_bulk_mol_per_L": 1.5,
         "permittivity": 78.3, "debye_length_nm": 0.248, "surface_potential_V": -0.02,
         "md_diffuse_charge_C_per_m2": 0.01, "grahame_charge_C_per_m2": 0.012,
         "rows": [{"z_nm": 0.0, "c_md": [2000.0, 1000.0], "c_gc": [1800.0, 1200.0]}]}
        if with_ions else {"applies": False, "why": "the profile has no φ(z) (section 3)"}
    )  # fmt: skip
    inputs = [
        {"parameter": "product ion", "value": "Fe2+", "unit": "", "source": "table: usual "
         "product of Fe (continuum.metal = md.metal)"},
        {"parameter": "D(Fe2+)", "value": 7.0e-10, "unit": "m²/s", "source": "table (CRC) × "
         "MD mobility factor 0.97 = D_MD/D_exp of H2O in the profile's bulk region"},
        {"parameter": "reaction-plane potential φ_d (Frumkin)", "value": 0.0, "unit": "V",
         "source": "none: |φ_d| > 0.5 V is implausible"},
        {"parameter": "overpotential_V", "value": 0.15, "unit": "V",
         "source": "config: continuum.overpotential_V"},
    ]  # fmt: skip
    pit = {
        "metal": "Fe", "product": "Fe2+", "product_charge": 2,
        "product_diffusion_m2_per_s": 7.0e-10, "reaction_plane_potential_V": 0.0,
        "stern": {"C_S_F_per_m2": None, "why": "no net charge"}, "electrolyte": {},
        "inputs": inputs, "electrode_current_A_per_m": 0.017,
        "mean_current_density_A_per_m2": 343.0, "max_product_mol_per_m3": 500.0,
        "faraday_balance": 1.0, "n_vertices": 100, "transport_effect": 0.002,
    }  # fmt: skip
    return {
        "md": {"n_atoms": 155, "formula": "H70ClCu48NaO35", "calculator": "lj", "steps": 10,
               "timestep_fs": 1.0, "simulated_ps": 0.01, "mean_temperature_K_second_half": 300.0,
               "steps_per_s": 1.0, "resumed_from": None, "temperature_K": 300.0,
               "z_water_A": [6.0, 18.0], "cell_area_A2": 90.29},
        "extract": {"n_frames": 10, "z_range_A": [7.0, 17.0], "n_bins": 5,
                    "species": ex_species,
                    "dropped_species": {} if with_ions else {"Na+": "never visited",
                                                             "Cl-": "never visited"}},
        "continuum": {"pit": pit, "double_layer": dl},
    }  # fmt: skip


@pytest.mark.parametrize("with_ions", [True, False])
def test_report_has_the_electrochemistry_section(tmp_path: Path, with_ions: bool):
    config = load_config({"run": {"name": "fake"}, "md": {"steps": 200, "traj_interval": 2,
                          "calculator": {"model": "lj"}}})  # fmt: skip
    fake = SimpleNamespace(run_dir=tmp_path, results=_fake_results(with_ions), config=config,
                           recomputed=[])  # fmt: skip
    text = write_report(fake).read_text()
    assert "## 5. Electrochemistry" in text
    # 1 NaCl in 35 waters, 90.29 Å² × 12 Å: 1.59 mol/kg, 1.53 mol/L, λ_D 0.245 nm at 300 K
    assert "| salt formula units / water molecules in the film | 1 NaCl / 35 H2O |" in text
    assert "| molality (from the water count) | 1.59 mol/kg |" in text
    assert "1.53 mol/L (asked for: 2)" in text
    assert "ε_r = 77.6 (water, Malmberg–Maryott 1956) | 0.245 nm |" in text
    # the pit says what it dissolves and where its inputs came from (a pipe is escaped)
    assert "2D corrosion pit of Fe" in text and "| product (charge) | Fe2+ (2) |" in text
    assert "| D(Fe2+) | 7e-10 m²/s | table (CRC) × MD mobility factor 0.97" in text
    assert "| overpotential_V | 0.15 V | config: continuum.overpotential_V |" in text
    assert "1 of 4 inputs come from the MD." in text
    assert "| none: \\|φ_d\\| > 0.5 V is implausible |" in text
    assert "kinetically controlled" in text
    # experiment table: water measured; Na+ measured only with ions; Cl- never
    assert "| self-diffusion of water | 2.299e-9 m²/s | Holz" in text
    assert "| 2.43e-9 m²/s (D⊥ 2.5, D∥ 2.4) |" in text
    assert "| D of Cl- | 2.032e-9 m²/s | CRC Handbook (Lide)" in text
    na = "| D of Na+ | 1.334e-9 m²/s | CRC Handbook (Lide), 25 °C, infinite dilution | "
    if with_ions:
        assert na + "1.1e-9" in text
        assert "Grahame 0.012 C/m²" in text and "| 0 | 2 | 1.8 | 1 | 1.2 |" in text
    else:
        assert na + "not measured (no profile; section 3) |" in text
        assert "Not applicable: the profile has no φ(z) (section 3)." in text
    # the chain names the fields and this run's sources
    assert "### The chain: which number flows where" in text
    assert "pit: D(product) ← table (CRC) × MD mobility factor 0.97" in text
    assert "1D Nernst–Planck: D(z) ← diffusion, F(z) ← free_energy" in text


def test_integrity_line_names_the_tightest_hydrogen_bond_and_crossings():
    from multiscale.pipeline.report import _integrity_line

    g = {"policy": "stop", "n_checks": 300, "n_violations": 0, "min_OO_A": 2.41,
         "max_OH_A": 1.18, "min_HO_A": 1.27, "n_short_hbond_checks": 3,
         "n_proton_crossings": 1, "transfer_fs": 100.0}  # fmt: skip
    line = _integrity_line("production", g, "md/")
    assert "no violation" in line
    assert "tightest H-bond H···O 1.27 Å (3 check(s) below 1.3 Å, 1 transient proton" in line
    assert "crossing(s); a transfer counts after 100 fs) |" in line
    # summaries written before the H-bond statistics existed still render
    assert "crossing(s)) |" in _integrity_line("production", {**g, "transfer_fs": None}, "")
    old = {k: v for k, v in g.items() if k not in ("min_HO_A", "n_short_hbond_checks")}
    assert "H···O" not in _integrity_line("production", old, "md/")


def test_report_withholds_a_pit_the_solver_flags_as_unphysical(tmp_path: Path):
    """A pit whose solver state is unphysical (sane = False) is reported as such: no current
    or concentration printed, its warning shown, and a line among the checks."""
    config = load_config({"run": {"name": "fake"}, "md": {"steps": 200, "traj_interval": 2,
                          "calculator": {"model": "lj"}}})  # fmt: skip
    res = _fake_results(True)
    res["continuum"]["pit"].update(
        sane=False, electrode_current_A_per_m=103.3, max_product_mol_per_m3=3.29e6,
        warnings=["c(Cu2+) reaches 3.29e+06 mol/m^3, above 100000 mol/m^3 (100 mol/L)"],
    )  # fmt: skip
    fake = SimpleNamespace(run_dir=tmp_path, results=res, config=config, recomputed=[])
    text = write_report(fake).read_text()
    assert "**no result reported**" in text and "3.29e+06 mol/m^3, above" in text
    assert "103.3" not in text and "anodic current per metre of pit" not in text
    assert "2D corrosion pit: unphysical state flagged by the solver" in text
    assert "| overpotential_V | 0.15 V | config: continuum.overpotential_V |" in text


def test_checks_give_a_shipped_models_validation_and_none_for_a_stand_in():
    """The md stage records what a shipped model was measured to do; the report's Checks show it
    under the model's level of theory; a stand-in calculator gets no validation line."""
    from multiscale.mlip.default_models import MODEL_ROUND_TRIP, MODEL_VALIDATION
    from multiscale.pipeline.report import _checks
    from multiscale.pipeline.stages import _level_of_theory, _validation

    spec = {"model": "default:cu-water-nacl"}
    md = {"calculator": "default:cu-water-nacl", "calculator_level": _level_of_theory(spec),
          "calculator_validation": _validation(spec)}  # fmt: skip
    rows, _ = _checks({"md": md})
    text = "\n".join(rows)
    assert "level of theory: SevenNet-0" in text
    assert f"| model validation (docs/mlip.md) | {MODEL_VALIDATION['cu-water-nacl']} |" in text
    assert "29.9 meV/Å" in text and "not experimental ones" in text
    md["calculator_round_trip"] = _validation(spec, "round_trip")
    text = "\n".join(_checks({"md": md})[0])
    assert f"| {MODEL_ROUND_TRIP['cu-water-nacl']} |" in text and "round trip MD" in text
    assert _validation({"model": "default:water-nacl"}, "round_trip") is None  # never run
    assert _validation({"model": "lj"}) is None
    rows, _ = _checks({"md": {"calculator": "lj", "calculator_validation": None}})
    assert not any("model validation" in r for r in rows)


def test_water_part_of_the_potential_drop_is_explained_and_flagged():
    """Demo numbers: total -0.234 V (not converged), water -5.39 V. The report gives the ions'
    share too, says that the two cancel (screening, not a neat-water orientation potential)
    and that neither part has converged."""
    from multiscale.pipeline.report import _water_part

    es = {"potential_drop_V": -0.234, "water_orientation_drop_V": -5.39}
    text = _water_part(es, converged=False)
    assert "water part -5.39 V, ions and induced metal charge 5.16 V" in text
    assert "nearly cancel" in text and "(not converged either)" in text
    small = _water_part({"potential_drop_V": -0.5, "water_orientation_drop_V": -0.3}, True)
    assert "nearly cancel" not in small and "not converged" not in small
    assert _water_part({}, True) == "."


def test_water_structure_check_is_a_row_and_a_changing_liquid_a_todo(tmp_path: Path):
    """The md stage's structure check (StructureDrift on the production frames) gives a
    Checks row; a change between the halves becomes a "not converged" note."""
    from ase.build import bulk
    from ase.io import write

    from multiscale.pipeline.report import _checks
    from multiscale.pipeline.stages import structure_check

    crystal = bulk("C", "diamond", a=4.5, cubic=True).repeat(2)
    crystal.symbols[:] = "O"
    rng = np.random.default_rng(2)
    frames = []
    for k in range(40):  # ordered, then disordered: water "melting" half-way
        f = crystal.copy()
        f.positions += rng.normal(0, 0.05 if k < 20 else 0.5, f.positions.shape)
        frames.append(f)
    write(tmp_path / "trajectory.traj", frames)
    st = structure_check(tmp_path, start=0, max_frames=20)
    assert st["stride"] == 2 and st["n_frames"] == 20
    rows, todo = _checks({"md": {"structure": st}})
    (row,) = [r for r in rows if r.startswith("| water structure")]
    assert ": **changing** |" in row and "cation" not in row
    assert any("water's mean tetrahedral order changes" in t for t in todo)
    steady = structure_check(tmp_path, start=0, max_frames=20) | {"notes": []}
    rows, todo = _checks({"md": {"structure": steady}})
    assert any(r.endswith(": no significant change |") for r in rows)
    write(tmp_path / "trajectory.traj", [f[:3] for f in frames])  # 3 oxygens: no water check
    assert structure_check(tmp_path) is None


def test_lag_check_is_a_row_and_a_sub_diffusive_liquid_a_todo():
    from multiscale.pipeline.report import _checks

    lc = {"lags_frames": [5, 10, 20], "long_lags_frames": [20, 40, 80], "ratio": 0.41,
          "ratio_err": 0.06, "bins": 5, "verdict": "sub-diffusive"}  # fmt: skip
    res = {"md": {"frame_interval_fs": 15.0}, "extract": {"species": {"H2O": {"lag_check": lc}}}}
    rows, todo = _checks(res)
    (row,) = [r for r in rows if "lag dependence" in r]
    assert "4x longer" in row and "(0.075, 0.15, 0.3 ps) = 0.41 ± 0.06: sub-diffusive" in row
    assert any("D∥ of H2O falls with the lag" in t and "upper bound" in t for t in todo)
    lc |= {"ratio": 0.95, "verdict": "diffusive"}
    rows, todo = _checks(res)
    assert any(r.endswith("= 0.95 ± 0.06: diffusive |") for r in rows)
    assert not any("falls with the lag" in t for t in todo)


def test_checks_call_an_ion_denser_than_its_crystal_unphysical():
    """A c(z) above the ion density of a salt crystal is not a concentration: the checks say so,
    and where it came from (umbrella sampling at infinite dilution, with no saturation)."""
    from multiscale.pipeline.report import ION_C_MAX_MOL_PER_L, _checks

    ex = {"species": {"H2O": {"charge": 0, "max_c_mol_per_L": 60.6},
                      "Na+": {"charge": 1, "max_c_mol_per_L": 7.2},
                      "Cl-": {"charge": -1, "max_c_mol_per_L": 9.22e4}},
          "umbrella": {"Cl-": {"merged": True}, "Na+": {"merged": True}}}  # fmt: skip
    _, todo = _checks({"extract": ex})
    bad = [t for t in todo if "denser than the ion in any salt crystal" in t]
    assert len(bad) == 1 and bad[0].startswith("Cl-: c(z) reaches 9.22e+04 mol/L")
    assert "infinite dilution" in bad[0]
    # NaCl crystal: 2.165 g/cm³ / 58.44 g/mol = 37 mol/L of each ion, below the bound
    assert 2.165 / 58.44 * 1000 < ION_C_MAX_MOL_PER_L < 60.6


def test_ion_faster_than_water_and_a_missing_bulk_are_flagged():
    """An ion whose D exceeds 1.5x water's beyond two standard errors is implausible; a
    sandwich (built to hold a bulk) without one says so for its free-MD species only."""
    from multiscale.pipeline.report import _checks

    def ex(ratio, err, geometry="sandwich"):
        return {
            "geometry": geometry,
            "species": {
                "H2O": {"charge": 0, "bulk": {"found": False, "reason": "layered (p = 1e-7)"}},
                "Na+": {
                    "charge": 1, "source": "umbrella", "bulk": {"found": False, "reason": "x"},
                    "D_vs_water": {"perp": {"max_ratio": ratio, "max_ratio_err": err,
                                            "z_A": 2.5}},
                },
            },
        }  # fmt: skip

    _, todo = _checks({"extract": ex(3.0, 0.5)})
    assert any(t.startswith("Na+: D⊥ = 3 ± 0.5 x water's D∥ at 2.5 Å: implausible") for t in todo)
    assert "H2O: no bulk region in this sandwich: layered (p = 1e-7)" in todo
    assert not any(t.startswith("Na+: no bulk") for t in todo)  # its bulk c is imposed
    _, todo = _checks({"extract": ex(2.0, 0.5)})  # 2.0 - 2 x 0.5 < 1.5: within the noise
    assert not any("implausible" in t for t in todo)
    _, todo = _checks({"extract": ex(1.0, 0.1, geometry="film")})  # a film need not have one
    assert not any("no bulk region" in t for t in todo)


def test_metal_atom_leaving_the_slab_is_found_in_the_md_frames_and_listed(tmp_path):
    """metal_check scans the md trajectory for slab atoms (tag 1) outside their layers: the
    first frame it sees one, the atoms at the end; the report lists it as not trustworthy."""
    from ase import Atoms
    from ase.io.trajectory import Trajectory

    from multiscale.pipeline.report import _checks
    from multiscale.pipeline.stages import metal_check

    cu = [[x, y, z] for z in (1.0, 3.0, 5.0) for x in (0, 1.5) for y in (0, 1.5)]
    with Trajectory(tmp_path / "trajectory.traj", "w") as traj:
        for k in range(30):
            a = Atoms("Cu12O", positions=[*cu, [0.5, 0.5, 9.0]], cell=[3, 3, 20], pbc=True)
            a.set_tags([1] * 12 + [0])
            if k >= 20:  # atom 11 (top layer) rises out of it from frame 20
                a.positions[11, 2] = 5.0 + 1.2 + 0.1 * (k - 20)
            traj.write(a)
    out = metal_check(tmp_path, frame_fs=10.0, max_frames=100)
    assert out["first_frame"] == 20 and out["first_time_ps"] == pytest.approx(0.2)
    assert [i for i, _ in out["loose_atoms"]] == [11]
    assert out["loose_atoms"][0][1] == pytest.approx(2.1, abs=0.05)
    rows, todo = _checks({"md": {"metal_layers": out}})
    assert any("metal (slab atoms in their layers" in r and "left the slab" in r for r in rows)
    assert any(t.startswith("md: metal atom(s) [11] left the slab's layers") for t in todo)
    intact = metal_check(tmp_path, frame_fs=10.0, max_frames=100) | {"first_frame": None}
    rows, todo = _checks({"md": {"metal_layers": intact | {"loose_atoms": []}}})
    assert any("all in their layers" in r for r in rows) and not todo
