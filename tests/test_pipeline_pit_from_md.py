"""The corrosion pit fed by the MD (issue #17 item 6): the product follows md.metal, the
electrolyte's D comes from the profile's bulk region, φ_d (Frumkin) and C_S (Stern) from the
profile where it allows, and every input says where it came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from continuum import TransportProfile, stern_capacitance_from_profile
from multiscale.pipeline.config import load_config
from multiscale.pipeline.electrochem import METAL_IONS, pit_inputs, product_for_metal

MD_LJ = {"steps": 200, "traj_interval": 2, "calculator": {"model": "lj"}}
FE = {**MD_LJ, "metal": "Fe", "facet": "bcc110", "size": [3, 2]}


def _profile(scale: float = 1.0, *, rel_err: float = 0.05, potential=None, charged=False):
    """H2O, Na+, Cl- with bulk-like D (times ``scale``) and optional φ(z)."""
    z = np.linspace(0.0, 1.2e-9, 7)
    n = z.size
    c = np.array([np.full(n, 55000.0), np.full(n, 1000.0), np.full(n, 1000.0)])
    if charged:  # excess Na+ near the metal: a net ionic charge at a distance
        c[1, :2] += 500.0
    d = np.array([np.full(n, 2.3e-9), np.full(n, 1.33e-9), np.full(n, 2.03e-9)]) * scale
    return TransportProfile(
        z, ["H2O", "Na+", "Cl-"], [0, 1, -1], c, d, diffusion_parallel=d.copy(),
        diffusion_err=rel_err * d, diffusion_parallel_err=rel_err * d, potential=potential,
        permittivity=np.full(n, 10.0) if charged else None,
    )  # fmt: skip


def _continuum(md: dict | None = None, **keys) -> dict:
    cfg = {"continuum": {"profile_1d": False, **keys}}
    if md is not None:
        cfg["md"] = md
    return load_config(cfg)["continuum"]


# ----------------------------------------------------------------------- product and metal
def test_product_follows_the_md_metal_with_its_tabulated_charge_and_d():
    cfg = _continuum(FE)
    assert cfg["metal"] == "Fe" and cfg["product"] == ""
    inp = pit_inputs(cfg)
    assert (inp["product"], inp["charge"]) == ("Fe2+", 2)
    assert inp["diffusion_m2_per_s"] == pytest.approx(0.719e-9)
    src = {r["parameter"]: r["source"] for r in inp["inputs"]}
    assert "usual product of Fe" in src["product ion"]
    assert "CRC Handbook" in src["D(Fe2+)"] and "not from MD: no profile" in src["D(Fe2+)"]
    # the same metal gives the same product; Cu without an [md] section
    assert pit_inputs(_continuum(FE))["product"] == "Fe2+"
    assert pit_inputs(_continuum())["product"] == "Cu2+"


def test_metal_table_has_charges_and_references():
    for metal, ion in {"Cu": "Cu2+", "Zn": "Zn2+", "Ni": "Ni2+", "Ag": "Ag+"}.items():
        assert product_for_metal(metal).name == ion
        assert METAL_IONS[metal].charge == (1 if metal == "Ag" else 2)
        assert "Lide" in METAL_IONS[metal].reference
        assert 0.5e-9 < METAL_IONS[metal].diffusion < 2e-9
    with pytest.raises(ValueError, match=r"continuum\.metal = 'Au' has no tabulated"):
        product_for_metal("Au")


def test_a_product_of_another_metal_is_refused_unless_overridden():
    with pytest.raises(ValueError, match=r"continuum\.product = 'Cu2\+' is not an ion of the "
                       r"metal 'Fe'.*product_override = true"):  # fmt: skip
        _continuum(FE, product="Cu2+")
    with pytest.raises(ValueError, match=r"continuum\.metal = 'Cu' differs from md\.metal"):
        _continuum(FE, metal="Cu")
    cfg = _continuum(FE, product="Cu2+", product_override=True)
    assert pit_inputs(cfg)["product"] == "Cu2+"


def test_a_product_whose_charge_is_not_the_electrons_says_what_to_set():
    ag = {**MD_LJ, "metal": "Ag"}
    with pytest.raises(ValueError, match=r"usual product of continuum\.metal = 'Ag' is Ag\+ "
                       r"\(charge \+1\), but continuum\.electrons = 2"):  # fmt: skip
        _continuum(ag)
    cfg = _continuum(ag, electrons=1, product_charge=1, alpha_anodic=0.5, alpha_cathodic=0.5)
    assert pit_inputs(cfg)["charge"] == 1


# ---------------------------------------------------------------------------- D from MD
def test_electrolyte_d_from_the_profile_bulk_scales_the_product_d():
    cfg = _continuum()
    fast, slow = pit_inputs(cfg, _profile(1.0)), pit_inputs(cfg, _profile(0.5))
    assert slow["diffusion_m2_per_s"] / fast["diffusion_m2_per_s"] == pytest.approx(0.5)
    assert all(b["used"] for b in fast["electrolyte"].values())
    src = {r["parameter"]: r["source"] for r in slow["inputs"]}["D(Cu2+)"]
    assert "MD mobility factor" in src and "H2O, Na+, Cl-" in src
    # the table is used, and said so, when asked for or when MD D is not converged
    tab = pit_inputs(_continuum(diffusion_source="table"), _profile(0.5))
    assert tab["diffusion_m2_per_s"] == pytest.approx(0.714e-9)
    bad = pit_inputs(cfg, _profile(0.5, rel_err=0.9))
    assert bad["diffusion_m2_per_s"] == pytest.approx(0.714e-9)
    src = {r["parameter"]: r["source"] for r in bad["inputs"]}["D(Cu2+)"]
    assert "not from MD: no converged electrolyte D" in src and "relative error" in src
    # a configured D wins and is labelled as config
    fixed = pit_inputs(_continuum(product_diffusion_m2_per_s=1e-9), _profile(0.5))
    assert fixed["diffusion_m2_per_s"] == 1e-9
    assert any(r["source"] == "config: continuum.product_diffusion_m2_per_s"
               for r in fixed["inputs"])  # fmt: skip


def test_frumkin_potential_and_stern_capacitance_from_the_profile():
    cfg = _continuum()
    phi = np.array([-0.06, -0.02, 0.0, 0.0, 0.0, 0.0, 0.0])
    inp = pit_inputs(cfg, _profile(potential=phi))
    assert inp["reaction_plane_potential_V"] == pytest.approx(-0.06)
    src = {r["parameter"]: r["source"] for r in inp["inputs"]}
    assert src["reaction-plane potential φ_d (Frumkin)"].startswith("MD")
    assert pit_inputs(_continuum(frumkin=False), _profile(potential=phi))[
        "reaction_plane_potential_V"] == 0.0  # fmt: skip
    wild = pit_inputs(cfg, _profile(potential=20 * phi))
    assert wild["reaction_plane_potential_V"] == 0.0
    assert "implausible" in {r["parameter"]: r["source"] for r in wild["inputs"]}[
        "reaction-plane potential φ_d (Frumkin)"]  # fmt: skip
    charged = _profile(charged=True)
    stern = pit_inputs(cfg, charged)["stern"]
    assert stern["C_S_F_per_m2"] == pytest.approx(stern_capacitance_from_profile(charged))
    assert pit_inputs(cfg, _profile())["stern"]["C_S_F_per_m2"] is None


# ------------------------------------------------------------------------- the pit solve
def test_pit_current_depends_on_the_md_bulk_d(tmp_path: Path):
    from multiscale.pipeline.continuum_adapter import solve_pit

    # fast kinetics: the product piles up at the walls, the back reaction matters, and so does D
    cfg = _continuum(cells_across_pit=3, overpotential_V=0.02, exchange_current_A_per_m2=1e3)
    res = {}
    for scale in (1.0, 0.5):
        out = tmp_path / str(scale)
        out.mkdir()
        path = _profile(scale).write(out / "profile.h5")
        res[scale] = solve_pit(cfg, out, profile_path=path)
    a, b = res[1.0], res[0.5]
    assert a["sane"] and b["sane"]
    assert a["product"] == b["product"] == "Cu2+"
    assert b["product_diffusion_m2_per_s"] == pytest.approx(0.5 * a["product_diffusion_m2_per_s"])
    # slower diffusion: the product piles up, the back reaction grows, the current falls
    assert b["electrode_current_A_per_m"] < 0.9 * a["electrode_current_A_per_m"]
    assert b["max_product_mol_per_m3"] > a["max_product_mol_per_m3"]
    assert any("MD mobility" in r["source"] for r in a["inputs"])
    assert 0.1 < a["transport_effect"] < b["transport_effect"] < 1


def test_md_d_from_a_trajectory_shorter_than_the_bin_crossing_time_is_not_used():
    """The demo's case: a small blocking error but 1.5 ps of trajectory for 2 Å bins that take
    ~6 ps to cross; the pit must fall back to the table and say why."""
    cfg = _continuum()
    short = _profile(0.5)
    short.provenance.update(
        n_frames=151, timestep_fs=10.0,
        diffusion_perp_settings={s: {"bin_width_A": 2.0} for s in short.species},
    )  # fmt: skip
    out = pit_inputs(cfg, short)
    assert out["diffusion_m2_per_s"] == pytest.approx(0.714e-9)  # the tabulated Cu2+ D
    src = {r["parameter"]: r["source"] for r in out["inputs"]}["D(Cu2+)"]
    assert "bin-crossing" in src
    long = _profile(0.5)
    long.provenance.update(
        n_frames=20000, timestep_fs=10.0,
        diffusion_perp_settings={s: {"bin_width_A": 2.0} for s in long.species},
    )  # fmt: skip
    # long enough: the MD mobility factor (D_MD / D_exp = 0.5 here) is used
    assert pit_inputs(cfg, long)["diffusion_m2_per_s"] == pytest.approx(0.5 * 0.714e-9, rel=0.01)


def test_frumkin_uses_only_a_converged_and_precise_md_potential():
    """φ_d enters Butler–Volmer only when the MD interfacial potential has converged and is
    known to 2 kT/e (the demo once fed an unconverged −0.22 V into e^(2fφ): 2 MA/m²)."""
    import dataclasses

    cfg = _continuum()
    phi = np.array([-0.06, -0.02, 0.0, 0.0, 0.0, 0.0, 0.0])
    good = _profile(potential=phi)
    assert pit_inputs(cfg, good)["reaction_plane_potential_V"] == pytest.approx(-0.06)
    unconverged = dataclasses.replace(
        good, provenance={"electrostatics": {"potential_drop_converged": False}}
    )
    out = pit_inputs(cfg, unconverged)
    assert out["reaction_plane_potential_V"] == 0.0
    src = {r["parameter"]: r["source"] for r in out["inputs"]}
    assert "has not converged" in src["reaction-plane potential φ_d (Frumkin)"]
    converged = dataclasses.replace(
        good, provenance={"electrostatics": {"potential_drop_converged": True}}
    )
    assert pit_inputs(cfg, converged)["reaction_plane_potential_V"] == pytest.approx(-0.06)
    noisy = dataclasses.replace(good, potential_err=np.full(phi.size, 0.08))
    out = pit_inputs(cfg, noisy)
    assert out["reaction_plane_potential_V"] == 0.0
    assert "error above 0.05 V" in {r["parameter"]: r["source"] for r in out["inputs"]}[
        "reaction-plane potential φ_d (Frumkin)"]  # fmt: skip
    precise = dataclasses.replace(good, potential_err=np.full(phi.size, 0.01))
    assert pit_inputs(cfg, precise)["reaction_plane_potential_V"] == pytest.approx(-0.06)
