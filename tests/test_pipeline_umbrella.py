"""The umbrella stage of the pipeline: ions that free MD leaves out enter the profile and the
continuum (issue #14 items 2 and 5).

* validation of ``[umbrella]`` (messages that name the key and say what to do);
* the stage end to end on a tiny Cu(111)|NaCl(aq) film with the Lennard-Jones stand-in: files,
  the merged profile (species source "umbrella"), the continuum, the report's flag for an
  unconverged result, caching and the resume of interrupted windows;
* physics: the stage recovers a known linear F(z) of a toy system within its error bars, and
  the merge turns a known F(z) into c(z) ∝ exp(−F/kT) on the transport bins.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from ase import Atoms, units
from ase.io import write
from umbrella_toy import F_SLOPE, calculator_factory, md_and_umbrella_cfg, surface_ion

from multiscale.pipeline import SCHEMA, Pipeline, load_config
from multiscale.pipeline import umbrella_profile as up
from multiscale.pipeline import umbrella_stage as us

LJ = {"model": "lj", "sigma": 1.0, "epsilon": 0.01, "rc": 3.0}
MD = {
    "size": [2, 2],
    "layers": 3,
    "water_thickness_A": 10.0,
    "concentration_mol_per_L": 4.0,  # one Na+ and one Cl- in 7 waters
    "steps": 150,
    "traj_interval": 2,
    "checkpoint_interval": 50,
    "calculator": LJ,
    "integrity": "off",  # LJ holds no water together
    "heat_ps": 0.01,
}
EXTRACT = {
    "species": {"O": {"selection": "O", "charge": 0}, "Na+": {"selection": "Na", "charge": 1}},
    "bin_width_A": 3.0,
    "lags": [1, 2],
    "n_blocks": 2,
    "parallel": False,
}
UMBRELLA = {
    "enabled": True,  # species = []: the ions free MD leaves out
    "centers_A": [4.0, 4.3],
    "k_eV_per_A2": 1.0,
    "window_ps": 0.07,  # 140 steps of 0.5 fs: far too short to converge (on purpose)
    "discard_ps": 0.002,
    "relax_steps": 5,
    "n_blocks": 4,
    "min_bin_samples": 2,
}


def config(**umbrella) -> dict:
    return {
        "run": {"name": "umbrella", "seed": 3, "progress": False},
        "md": copy.deepcopy(MD),
        "umbrella": {**UMBRELLA, **umbrella},
        "extract": copy.deepcopy(EXTRACT),
        "continuum": {"cells_1d": 30, "pit": False},
    }


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("umbrella", "message"),
    [
        ({"species": ["K"]}, r"umbrella\.species: 'K' is not in the md system"),
        ({"species": ["O"]}, r"umbrella\.species: 'O' is not an ion of md\.salt = 'NaCl'"),
        ({"species": ["Cl"]}, r"'Cl' is selected by no extract\.species entry.*add \"Cl-\""),
        ({"centers_A": [0.5, 1.0]}, r"window centre 0\.5 Å is below the surface"),
        ({"centers_A": [4.0, 12.9]}, r"centre at 12\.9 Å lies beyond the liquid, which ends 12\.5"),
        ({"centers_A": [4.0], "k_eV_per_A2": 1.0}, r"1 window .*F\(z\) needs at least 2"),
        ({"centers_A": [3.0, 4.0], "z_min_A": 2.5}, r"centers_A and umbrella\.z_min_A are both"),
        ({"window_ps": 1.0, "discard_ps": 2.0}, r"window_ps = 1 ps must exceed .*discard_ps = 2"),
        ({"n_blocks": 6, "window_ps": 0.05, "discard_ps": 0.0}, r"gives 50 frames.*at least 96"),
        ({"n_blocks": 5}, r"umbrella\.n_blocks = 5: expected an even number >= 4"),
        ({"k_eV_per_A2": 10.0, "window_ps": 1.0}, r"would overlap only .* lower k_eV_per_A2"),
        ({"centers_A": "4, 5"}, r"umbrella\.centers_A: expected a list of finite numbers in Å"),
        ({"k_eV_per_A2": 0}, r"umbrella\.k_eV_per_A2: expected a positive number in eV/Å²"),
        ({"integrity": "sometimes"}, r"umbrella\.integrity: expected one of 'md', 'stop', 'flag'"),
        ({"start_ps": 0.08}, r"start_ps = 0\.08 ps lies beyond the md run \(150 steps .* 0\.075"),
    ],
)
def test_bad_umbrella_values_are_refused_naming_the_key(umbrella, message):
    with pytest.raises(ValueError, match=message):
        load_config(config(**umbrella))


def test_good_umbrella_config_validates_idempotently():
    cfg = load_config(config())
    assert load_config(cfg) == cfg  # config.json of a run validates to itself
    assert cfg["umbrella"]["centers_A"] == [4.0, 4.3] and cfg["umbrella"]["species"] == []


def test_umbrella_needs_md_and_extract_for_its_default_species():
    cfg = config()
    del cfg["md"], cfg["extract"], cfg["continuum"]
    with pytest.raises(ValueError, match=r"umbrella\.enabled = true needs an \[md\] section"):
        load_config(cfg)
    cfg = config()
    del cfg["extract"], cfg["continuum"]
    with pytest.raises(ValueError, match=r"species = \[\] means .* no \[extract\] section"):
        load_config(cfg)


def test_a_disabled_section_is_ignored_and_changes_no_hash(tmp_path):
    base = config()
    del base["umbrella"]
    off = config(enabled=False, window_ps=1.0, discard_ps=5.0)  # nonsense, but off
    p0, p1 = Pipeline(base, tmp_path / "a"), Pipeline(off, tmp_path / "b")
    assert p1.config["umbrella"]["enabled"] is False
    assert [p0.stage_hash(s) for s in ("md", "extract")] == [
        p1.stage_hash(s) for s in ("md", "extract")
    ]
    assert p1._select(None) == ["md", "extract", "continuum"]
    with pytest.raises(ValueError, match="stage 'umbrella' is not enabled"):
        p1.run(stages=["umbrella"])
    on = Pipeline(config(), tmp_path / "c")
    assert on._select(None) == ["md", "umbrella", "extract", "continuum"]
    assert on._select(["md"]) == ["md"]  # umbrella runs with extract, not with md alone


def test_window_centres_and_flat_overlap():
    cfg = {k: v.default for k, v in SCHEMA["umbrella"].items()}
    assert us.window_centers(cfg) == [2.0 + 0.5 * i for i in range(11)]
    assert us.window_centers({**cfg, "centers_A": [3.0, 2.0]}) == [2.0, 3.0]
    # two windows 4 sigma apart overlap 0.034 on a flat F (the analysis' limit is 0.03)
    sigma = np.sqrt(units.kB * 300.0 / 1.0)
    ov = us.flat_overlap([2.0, 2.0 + 4 * sigma], 1.0, 300.0)
    assert ov[0] == pytest.approx(0.0343, abs=1e-3)


# ------------------------------------------------------------------ end to end (LJ film)
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("umbrella") / "run"
    pipe = Pipeline(config(), run)
    pipe.run()
    return pipe, run


def test_stage_writes_windows_json_and_plot_between_md_and_extract(tiny_run):
    pipe, run = tiny_run
    assert pipe.recomputed == ["md", "umbrella", "extract", "continuum"]
    um = pipe.results["umbrella"]
    assert list(um["left_out"]) == ["Na"]  # decided by the extract stage's own test
    assert pipe.results["extract"]["dropped_species"].keys() == {"Na+"}
    for name in ("umbrella_Na.json", "umbrella_Na.png", "windows/Na/umbrella.json",
                 "windows/Na/replica_001/checkpoint.npz"):  # fmt: skip
        assert (run / "umbrella" / name).is_file(), name
    r = json.loads((run / "umbrella" / "umbrella_Na.json").read_text())
    assert r["name"] == "Na+" and r["charge"] == 1 and r["n_windows"] == 2
    assert len(r["free_energy_kT"]) == len(r["free_energy_err_kT"]) == len(r["z_A"])
    assert any(f is not None for f in r["free_energy_kT"])
    w = r["windows"]
    assert len(w["D_perp_m2_per_s"]) == len(w["D_par_err_m2_per_s"]) == 2
    assert len(r["neighbour_overlap"]) == 1 and r["min_overlap"] > 0
    cost = r["cost"]["windows"]
    assert [c["steps_this_run"] for c in cost] == [140, 140]
    assert all(c["md_s"] > 0 and c["ms_per_step"] > 0 for c in cost)
    manifest = json.loads((run / "umbrella" / "manifest.json").read_text())["files"]
    assert {"umbrella_Na.json", "umbrella_Na.png", "windows"} <= set(manifest)
    pairing = r["counterion_pairing"]  # the free Cl- the windows' F(z) is conditioned on
    assert pairing["counter_ion"] == "Cl" and len(pairing["windows"]) == 2
    assert [k.split()[0] for k in pairing["other_ions_height_A"]] == ["Cl"]
    assert all(0 <= w["contact_fraction"] <= 1 for w in pairing["windows"])


def test_windows_where_the_ion_holds_a_counter_ion_are_warned_about(tmp_path):
    # window 0: Na+ 3.0 Å from a Cl- in every frame; window 1: 6 Å away
    (tmp_path / "umbrella.json").write_text(json.dumps({"traj_format": "traj"}))
    for i, x in enumerate((3.0, 6.0)):
        frames = []
        for k in range(12):
            a = Atoms("CuNaCl", positions=[[0, 0, 0], [0, 0, 4.0], [x, 0.01 * k, 4.0]],
                      cell=[15, 15, 20], pbc=[True, True, False])  # fmt: skip
            frames.append(a)
        (tmp_path / f"replica_{i:03d}").mkdir()
        write(tmp_path / f"replica_{i:03d}" / "trajectory.traj", frames)
    out = us._counterion_pairing(tmp_path, {"salt": "NaCl"}, "Na", 1, [0], [4.0, 4.5], 2, 2)
    assert [w["contact_fraction"] for w in out["windows"]] == [1.0, 0.0]
    assert out["other_ions_height_A"] == {"Cl 2": 4.0}
    (warning,) = out["warnings"]
    assert "windows at 4 Å (Cl 2, 100%)" in warning and "ion pair" in warning


def test_left_out_ion_enters_the_profile_and_the_continuum(tiny_run):
    from continuum import TransportProfile

    pipe, run = tiny_run
    prof = TransportProfile.read(run / "extract" / "profile.h5")
    assert prof.species == ["O", "Na+"]
    assert prof.provenance["species_source"] == {"O": "free MD", "Na+": "umbrella"}
    u = prof.provenance["umbrella"]["Na+"]
    assert u["verdict"] == "not converged" and u["converged"] is False
    k = prof.index("Na+")
    assert prof.charges[k] == 1
    covered = np.array(u["covered"])
    assert covered.any() and not covered.all()  # 2 windows cover one 3 Å bin
    # c = c_bulk exp(-(F - F_far)/kT) with c_bulk = 4 mol/L in the farthest covered bin
    far = np.flatnonzero(covered).max()
    assert prof.concentration[k, far] == pytest.approx(4000.0)
    rt = 8.314462618 * prof.temperature
    c = prof.concentration[k]
    np.testing.assert_allclose(prof.free_energy[k], -rt * np.log(c / c.mean()), atol=1e-9)
    ex = pipe.results["extract"]
    assert ex["species"]["Na+"]["source"] == "umbrella"
    assert ex["umbrella"]["Na+"]["merged"] is True
    # the 1D Nernst-Planck solve takes the umbrella species with the free-MD ones
    assert set(pipe.results["continuum"]["profile_1d"]["species"]) == {"O", "Na+"}


def test_unconverged_umbrella_result_is_flagged_in_the_report(tiny_run):
    pipe, run = tiny_run
    assert pipe.results["umbrella"]["species"]["Na"]["converged"] is False
    report = (run / "report.md").read_text()
    todo = report.split("**Not converged / not trustworthy:**")[1].split("\n\n|")[0]
    assert "umbrella sampling of Na+: not converged" in todo
    assert "it entered the transport profile flagged" in todo
    assert "Na+: no profile" not in todo  # it has one now, from the windows
    assert "## 2b. Umbrella sampling of ions" in report
    assert "| Na+ | 2 (" in report and "**not converged**" in report
    assert "![F(z) and D of Na+ from umbrella windows](umbrella/umbrella_Na.png)" in report
    assert "its profile comes from **umbrella sampling**" in report


def test_rerun_is_cached_and_interrupted_windows_resume(tiny_run):
    _, run = tiny_run
    first = json.loads((run / "umbrella" / "umbrella_Na.json").read_text())
    again = Pipeline(config(), run)
    again.run()
    assert again.recomputed == []
    (run / "umbrella" / "done.json").unlink()  # as if killed after the windows
    resumed = Pipeline(config(), run)
    resumed.run()
    assert resumed.recomputed == ["umbrella"]  # its inputs, so extract's, are unchanged
    r = json.loads((run / "umbrella" / "umbrella_Na.json").read_text())
    assert [c["resumed_from"] for c in r["cost"]["windows"]] == [140, 140]
    assert [c["steps_this_run"] for c in r["cost"]["windows"]] == [0, 0]
    assert all(c["relax_s"] == 0.0 for c in r["cost"]["windows"])  # not placed/relaxed again
    report = (run / "report.md").read_text()
    assert "(windows resumed complete: analysis only, no MD in this run)" in report
    assert r["free_energy_kT"] == first["free_energy_kT"]
    # an extract key that could change which ions free MD leaves out: the umbrella stage
    # decides again (same ion), its windows are resumed, not rerun
    cfg = config()
    cfg["extract"]["water_model"] = "TIP3P"
    other = Pipeline(cfg, run)
    other.run()
    assert other.recomputed == ["umbrella", "extract", "continuum"]
    r = json.loads((run / "umbrella" / "umbrella_Na.json").read_text())
    assert [c["steps_this_run"] for c in r["cost"]["windows"]] == [0, 0]
    assert not list(run.glob("umbrella.stale-*"))


def test_windows_from_an_md_frame_at_start_ps_survive_a_longer_md_run(tmp_path):
    """umbrella.start_ps: the windows start from that md frame, so extending the md run keeps
    them (resumed, no step rerun); from the last frame (start_ps = 0) they are moved aside."""
    run = tmp_path / "run"
    cfg = config(species=["Na"], start_ps=0.04)
    pipe = Pipeline(cfg, run)
    pipe.run(stages=["md", "umbrella"])
    start = pipe.results["umbrella"]["start"]
    assert start == {"frame": 40, "time_ps": pytest.approx(0.04), "md_frames": 76}
    report = (run / "report.md").read_text()
    assert "from the md stage's frame at 0.04 ps" in report and "others move freely" in report
    longer = copy.deepcopy(cfg)
    longer["md"]["steps"] = 200
    again = Pipeline(longer, run)
    again.run(stages=["md", "umbrella"])
    assert again.recomputed == ["md", "umbrella"]
    assert again.results["umbrella"]["start"]["md_frames"] == 101
    r = json.loads((run / "umbrella" / "umbrella_Na.json").read_text())
    assert [c["steps_this_run"] for c in r["cost"]["windows"]] == [0, 0]
    assert not list(run.glob("umbrella.stale-*"))
    last = copy.deepcopy(longer)
    last["umbrella"]["start_ps"] = 0.0
    last["md"]["steps"] = 250
    Pipeline(last, run).run(stages=["md", "umbrella"])
    r = json.loads((run / "umbrella" / "umbrella_Na.json").read_text())
    assert [c["steps_this_run"] for c in r["cost"]["windows"]] == [140, 140]


def test_windows_take_their_own_integrity_policy(tmp_path):
    """umbrella.integrity = "flag" watches the windows although md.integrity = "off" (the LJ
    stand-in holds no water together, so the monitor records events and the windows go on)."""
    run = tmp_path / "run"
    Pipeline(config(species=["Na"], integrity="flag"), run).run(stages=["md", "umbrella"])
    window = run / "umbrella" / "windows" / "Na" / "replica_000"
    assert not (run / "md" / "integrity.csv").exists()
    assert (window / "integrity.csv").is_file()
    r = json.loads((run / "umbrella" / "umbrella_Na.json").read_text())
    assert [c["steps_this_run"] for c in r["cost"]["windows"]] == [140, 140]


def test_start_frame_beyond_the_trajectory_says_what_to_do(tiny_run):
    _, run = tiny_run
    md_cfg = {"timestep_fs": 0.5, "traj_interval": 2}
    atoms, start = us._start_frame(run / "md", 0.0, md_cfg)
    assert start["frame"] == start["md_frames"] - 1 == 75 and len(atoms) > 0
    with pytest.raises(ValueError, match=r"holds 76 frames of 1 fs \(0\.075 ps\); resume"):
        us._start_frame(run / "md", 0.1, md_cfg)


# --------------------------------------------------------------------------------- physics
def test_stage_recovers_a_linear_free_energy_within_its_error_bars(tmp_path, monkeypatch):
    atoms = surface_ion()
    (tmp_path / "md").mkdir()
    write(tmp_path / "md" / "trajectory.traj", atoms)
    monkeypatch.setattr(us, "make_calculator", calculator_factory(atoms))
    md_cfg, cfg = md_and_umbrella_cfg(centers_A=[3.0, 3.4], window_ps=10.0, discard_ps=0.1,
                                      min_bin_samples=20)  # fmt: skip
    out = us.run_umbrella(cfg, {}, tmp_path / "md", tmp_path, None, False, md_cfg=md_cfg, seed=1)
    assert out["species"]["Na"]["name"] == "Na+"
    r = json.loads((tmp_path / "umbrella_Na.json").read_text())
    z = np.array(r["z_A"])
    f = np.array([np.nan if v is None else v for v in r["free_energy_kT"]])
    err = np.array([np.nan if v is None else v for v in r["free_energy_err_kT"]])
    ok = np.isfinite(f)
    ref = int(np.flatnonzero(ok & (err == 0))[0])  # MBAR's reference bin (F = 0, no error)
    assert ok.sum() >= 6 and np.ptp(f[ok]) > 0.8  # F is measured over a range of kT
    # F_b - F_ref against the exact slope, bin by bin, in units of the error of F_b - F_ref
    exact = F_SLOPE / (units.kB * 300.0) * (z - z[ref])
    dev = np.abs(f - f[ref] - exact)[ok & (err > 0)] / err[ok & (err > 0)]
    assert dev.max() < 3.5, dev
    # a flat F would fail: the same test against slope 0 (the power of the check)
    flat = np.abs(f - f[ref])[ok & (err > 0)] / err[ok & (err > 0)]
    assert flat.max() > 3.5
    # the summary's largest F error is the largest of the profile's
    assert out["species"]["Na"]["free_energy_max_err_kT"] == pytest.approx(np.nanmax(err[ok]))


def test_report_lists_free_energy_errors_above_the_target():
    from multiscale.pipeline.report import F_ERR_TARGET_KT, _checks

    def todo(err):
        u = {"name": "Na+", "converged": True, "free_energy_max_err_kT": err}
        return "\n".join(_checks({"umbrella": {"species": {"Na": u}}})[1])

    assert F_ERR_TARGET_KT == 0.3
    assert "F(z) of Na+: errors up to 1.6 kT relative to its minimum" in todo(1.6)
    assert "F(z) of Na+" not in todo(0.25)
    # with the window settings: 4 ps kept of 5, errors 4x the target -> 16 x 4 + 1 = 65 ps
    u = {"name": "Na+", "converged": True, "free_energy_max_err_kT": 1.2, "n_windows": 10}
    um = {"window_ps": 5.0, "discard_ps": 1.0, "species": {"Na": u}}
    text = "\n".join(_checks({"umbrella": um})[1])
    assert "about 65 ps per window, 0.65 ns of window MD for this ion" in text


def test_merge_turns_a_known_free_energy_into_boltzmann_concentrations(tmp_path):
    from continuum import TransportProfile

    a = 0.8  # F = a z (kT): c falls by e^(-2a) per 2 Å bin
    zf = np.round(np.arange(2.05, 6.0, 0.1), 6)  # F grid 2.0..6.0 Å, 0.1 Å bins
    result = {
        "name": "Na+", "species": "Na", "charge": 1, "c_bulk_mol_per_m3": 500.0,
        "z_A": zf.tolist(), "free_energy_kT": (a * zf).tolist(),
        "free_energy_err_kT": [0.05] * zf.size, "converged": True, "verdict": "converged",
        "min_overlap": 0.2, "n_windows": 5, "window_ps": 10.0,
        "windows": {
            "z_mean_A": [2.5, 3.5, 4.5, 5.5], "D_perp_m2_per_s": [1e-9, 1.2e-9, 1.4e-9, 1.6e-9],
            "D_perp_err_m2_per_s": [1e-10] * 4, "D_perp_converged": [True] * 4,
            "D_par_m2_per_s": [2e-9] * 4, "D_par_err_m2_per_s": [2e-10] * 4,
        },
    }  # fmt: skip
    (tmp_path / "umbrella_Na.json").write_text(json.dumps(result))
    zb = np.array([1.0, 3.0, 5.0, 7.0, 9.0])  # transport bins, 2 Å wide
    prof = TransportProfile(
        z=zb * 1e-10, species=["O"], charges=[0], concentration=np.full((1, 5), 5e4),
        diffusion=np.full((1, 5), 2e-9), temperature=300.0,
        free_energy=np.zeros((1, 5)), diffusion_parallel=np.full((1, 5), 2e-9),
        concentration_err=np.full((1, 5), 10.0), provenance={"code": "test"},
    )  # fmt: skip
    summary = {"species": {"Na": {"name": "Na+", "file": "umbrella_Na.json"}}}
    new, info = up.merge_umbrella(prof, summary, tmp_path, {"Na+": "never visited"}, 2.0)
    k = new.index("Na+")
    assert info["Na+"]["merged"] and new.provenance["species_source"]["Na+"] == "umbrella"
    assert new.provenance["umbrella"]["Na+"]["covered"] == [False, True, True, False, False]
    c = new.concentration[k]
    # bins 3 and 5 Å hold whole 2 Å of the F grid: c_3/c_5 = <e^-az>_[2,4) / <e^-az>_[4,6)
    assert c[2] == pytest.approx(500.0)  # the farthest covered bin holds c_bulk
    assert c[1] / c[2] == pytest.approx(np.exp(2 * a), rel=1e-9)
    assert c[0] == c[1] and c[3] == c[4] == c[2]  # outside the windows: nearest covered bin
    rt = 8.314462618 * 300.0
    np.testing.assert_allclose(new.free_energy[k], -rt * np.log(c / c.mean()))
    assert new.free_energy[k][2] - new.free_energy[k][1] == pytest.approx(2 * a * rt)
    assert new.concentration_err[k][2] == 0.0  # the reference
    assert new.concentration_err[k][1] == pytest.approx(c[1] * np.hypot(0.05, 0.05))
    # D⊥ and D∥ between the windows' mean heights, constant beyond them
    np.testing.assert_allclose(new.diffusion[k], [1e-9, 1.1e-9, 1.5e-9, 1.6e-9, 1.6e-9])
    np.testing.assert_allclose(new.diffusion_parallel[k], 2e-9)
    assert new.species == ["O", "Na+"] and new.charges.tolist() == [0, 1]
    np.testing.assert_array_equal(new.concentration[0], prof.concentration[0])
    # an umbrella result without any F(z) is not merged, and says why
    (tmp_path / "umbrella_Na.json").write_text(
        json.dumps({**result, "free_energy_kT": [None] * zf.size})
    )
    same, info = up.merge_umbrella(prof, summary, tmp_path, {"Na+": "never visited"}, 2.0)
    assert same.species == ["O"] and info["Na+"]["merged"] is False
    assert "F(z) is undefined everywhere" in info["Na+"]["why"]


def test_extract_reuses_the_umbrella_stages_left_out_verdict(tiny_run, tmp_path, monkeypatch):
    """The umbrella stage extracted each ion alone to find those free MD leaves out; the
    extract stage takes that verdict and extracts only the others (once each)."""
    from multiscale.pipeline import stages

    pipe, run = tiny_run
    calls = []
    real = stages._extract_species

    def counting(setup, cfg, md, species, progress):
        calls.append(sorted(species))
        return real(setup, cfg, md, species, progress)

    monkeypatch.setattr(stages, "_extract_species", counting)
    um = {"left_out": dict(pipe.results["umbrella"]["left_out"]), "species": {}}
    out = tmp_path / "extract"
    out.mkdir()
    res = stages.run_extract(pipe.config["extract"], pipe.results["md"], run / "md", out,
                             progress=False, umbrella=um)  # fmt: skip
    assert calls == [["O"]]  # Na+ was not extracted again
    assert res["dropped_species"] == {"Na+": um["left_out"]["Na"]}
    assert "extract.z_margin_A" in res["dropped_species"]["Na+"]  # the pipeline-key hint


def test_without_other_ions_keeps_the_held_ion_and_maps_its_index():
    atoms = Atoms("ClCu2NaOH2Na", positions=np.arange(24.0).reshape(8, 3), cell=[20] * 3)
    out, ion, removed = us._without_other_ions(atoms, 3, {"salt": "NaCl"})
    assert out.get_chemical_formula(mode="hill") == "H2Cu2NaO"
    assert ion == 2 and out[ion].symbol == "Na"
    np.testing.assert_array_equal(out.positions[ion], atoms.positions[3])
    assert removed == ["Cl 0", "Na 7"]


def test_other_ions_removed_give_one_ion_at_infinite_dilution(tmp_path, monkeypatch):
    atoms = surface_ion() + Atoms("ClNa", positions=[[1.3, 1.3, 6.0], [1.3, 1.3, 12.0]])
    (tmp_path / "md").mkdir()
    write(tmp_path / "md" / "trajectory.traj", atoms)
    monkeypatch.setattr(us, "make_calculator", calculator_factory(atoms))
    md_cfg, cfg = md_and_umbrella_cfg(centers_A=[3.0, 3.4], window_ps=4.0, discard_ps=0.1,
                                      min_bin_samples=2, other_ions="remove")  # fmt: skip
    us.run_umbrella(cfg, {}, tmp_path / "md", tmp_path, None, False, md_cfg=md_cfg, seed=1)
    r = json.loads((tmp_path / "umbrella_Na.json").read_text())
    assert r["other_ions"] == {"policy": "remove", "removed": ["Cl 5", "Na 6"]}
    assert r["atom_index"] == 4
    pairing = r["counterion_pairing"]
    assert pairing["other_ions_height_A"] == {}
    assert all(w["contact_fraction"] is None for w in pairing["windows"])
    from ase.io import read

    frame = read(tmp_path / "windows" / "Na" / "replica_000" / "trajectory.traj", 0)
    assert frame.get_chemical_formula() == "Cu4Na"


@pytest.mark.parametrize("kind", ["common offset", "independent"])
def test_mbar_covariance_is_carried_to_the_transport_bins(kind):
    """F_b − F_far of the transport bins with MBAR's covariance on the F grid: an error common
    to every grid point cancels; independent grid errors add with the bin-average weights."""
    a, sigma = 0.8, 0.05
    zf = np.round(np.arange(2.05, 6.0, 0.1), 6)
    n = zf.size
    cov = sigma**2 * (np.ones((n, n)) if kind == "common offset" else np.eye(n))
    result = {
        "name": "Na+", "c_bulk_mol_per_m3": 500.0, "z_A": zf.tolist(),
        "free_energy_kT": (a * zf).tolist(), "free_energy_err_kT": [sigma] * n,
        "free_energy_cov_kT2": cov.tolist(),
        "windows": {"z_mean_A": [2.5, 5.5], "D_perp_m2_per_s": [1e-9, 1e-9],
                    "D_perp_err_m2_per_s": [1e-10] * 2, "D_perp_converged": [True] * 2,
                    "D_par_m2_per_s": [1e-9] * 2, "D_par_err_m2_per_s": [1e-10] * 2},
    }  # fmt: skip
    cols = up.umbrella_columns(result, np.array([1.0, 3.0, 5.0, 7.0]), 2.0, 300.0)
    rt = 8.314462618 * 300.0
    err = cols["free_energy_err"] / rt
    np.testing.assert_allclose(np.diag(cols["free_energy_cov"]), cols["free_energy_err"] ** 2)
    assert err[2] == 0.0  # the far covered bin is the reference
    if kind == "common offset":
        np.testing.assert_allclose(err, 0.0, atol=1e-8)  # round-off of 1e-20 kT² variances
    else:  # var(F_B) = Σ p_k² σ² with p_k = e^(-F_k) / Σ e^(-F) over the bin's grid points

        def var(lo, hi):
            sel = (zf >= lo) & (zf < hi)
            p = np.exp(-a * zf[sel]) / np.exp(-a * zf[sel]).sum()
            return np.sum(p**2) * sigma**2

        expected = np.sqrt(var(2, 4) + var(4, 6))
        assert err[1] == pytest.approx(expected, rel=1e-9)
        assert err[0] == err[1]  # an uncovered bin holds its nearest covered bin
        # the old root-sum-of-squares of the point errors would say sqrt(2) σ: 3-4x too large
        assert err[1] < 0.5 * np.sqrt(2) * sigma
    np.testing.assert_allclose(
        cols["concentration_err"], cols["concentration"] * cols["free_energy_err"] / rt
    )


def test_umbrella_covariance_of_the_wrong_shape_is_refused():
    zf = [2.05, 2.15, 2.25]
    result = {
        "name": "Na+", "c_bulk_mol_per_m3": 500.0, "z_A": zf, "free_energy_kT": [0, 0.1, 0.2],
        "free_energy_err_kT": [0, 0.1, 0.1], "free_energy_cov_kT2": [[0.0]],
        "windows": {"z_mean_A": [2.1], "D_perp_m2_per_s": [1e-9], "D_perp_err_m2_per_s": [1e-10],
                    "D_perp_converged": [True], "D_par_m2_per_s": [1e-9],
                    "D_par_err_m2_per_s": [1e-10]},
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"shape \(1, 1\), expected \(3, 3\).*rerun the umbrella"):
        up.umbrella_columns(result, np.array([2.0]), 2.0, 300.0)


def test_continuum_uncertainty_takes_the_umbrella_covariance(tmp_path):
    """The merged profile's MBAR covariance reaches continuum.uncertainty as the covariance of
    free_energy[Na+] (valid: symmetric, positive semi-definite, on the profile's grid)."""
    from mpi4py import MPI

    from continuum import TransportProfile
    from continuum.geometry import interval
    from multiscale.pipeline.continuum_adapter import profile_1d_uncertainty

    zf = np.round(np.arange(2.05, 6.0, 0.1), 6)
    n = zf.size
    result = {
        "name": "Na+", "species": "Na", "charge": 1, "c_bulk_mol_per_m3": 500.0,
        "z_A": zf.tolist(), "free_energy_kT": (0.3 * zf).tolist(),
        "free_energy_err_kT": [0.05] * n, "free_energy_cov_kT2": (0.0025 * np.eye(n)).tolist(),
        "converged": True, "verdict": "converged", "min_overlap": 0.2, "n_windows": 2,
        "window_ps": 10.0,
        "windows": {"z_mean_A": [2.5, 5.5], "D_perp_m2_per_s": [1e-9, 1.5e-9],
                    "D_perp_err_m2_per_s": [1e-10] * 2, "D_perp_converged": [True] * 2,
                    "D_par_m2_per_s": [2e-9] * 2, "D_par_err_m2_per_s": [2e-10] * 2},
    }  # fmt: skip
    (tmp_path / "umbrella_Na.json").write_text(json.dumps(result))
    zb = np.array([3.0, 5.0, 7.0])
    prof = TransportProfile(
        z=zb * 1e-10, species=["O"], charges=[0], concentration=np.full((1, 3), 5e4),
        diffusion=np.full((1, 3), 2e-9), temperature=300.0, free_energy=np.zeros((1, 3)),
        free_energy_err=np.full((1, 3), 10.0), diffusion_err=np.full((1, 3), 1e-10),
        provenance={"code": "test"},
    )  # fmt: skip
    summary = {"species": {"Na": {"name": "Na+", "file": "umbrella_Na.json"}}}
    new, _ = up.merge_umbrella(prof, summary, tmp_path, {"Na+": "never visited"}, 2.0)
    new.write(tmp_path / "p.h5")  # the matrix survives the HDF5 provenance
    new = TransportProfile.read(tmp_path / "p.h5")
    cov = np.array(new.provenance["umbrella"]["Na+"]["free_energy_cov_J2_per_mol2"])
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), new.free_energy_err[1], rtol=1e-9)
    dom = interval(MPI.COMM_SELF, float(new.z[-1] - new.z[0]), 20)
    out = profile_1d_uncertainty(new, dom, None, n_samples=3)
    assert out["parameters"]["free_energy[Na+]"] == 1  # one bin with an error (F_b - F_far)
    k_layer = out["outputs"]["k_layer[Na+]"]
    assert k_layer["linear_std"] > 0 and "free_energy[Na+]" in k_layer["contributions"]


def _well_result(f_kT, zf, cov=None, c_bulk=2000.0):
    """An umbrella result with F(z) = ``f_kT`` on the grid ``zf`` (and MBAR's covariance)."""
    n = zf.size
    out = {
        "name": "Cl-", "c_bulk_mol_per_m3": c_bulk, "z_A": zf.tolist(),
        "free_energy_kT": list(map(float, f_kT)), "free_energy_err_kT": [0.1] * n,
        "windows": {"z_mean_A": [2.5, 5.5], "D_perp_m2_per_s": [1e-9, 1e-9],
                    "D_perp_err_m2_per_s": [1e-10] * 2, "D_perp_converged": [True] * 2,
                    "D_par_m2_per_s": [1e-9] * 2, "D_par_err_m2_per_s": [1e-10] * 2},
    }  # fmt: skip
    if cov is not None:
        out["free_energy_cov_kT2"] = cov.tolist()
    return out


def test_packing_limit_saturates_a_deep_well_as_a_langmuir_layer():
    """c = c_b x/(1 − φ + φx) per F grid point (Bikerman/Langmuir), averaged over the bin: a
    13 kT well fills to the packing limit instead of 4e5 c_bulk; the bulk side keeps c_bulk;
    a shallow well (φx ≪ 1) keeps c_bulk x; no limit gives c_bulk x."""
    zf = np.round(np.arange(2.05, 8.0, 0.1), 6)
    depth = np.where(zf < 3.0, -13.0, np.where(zf < 5.0, -1.0, 0.0))
    bins = np.array([2.5, 4.0, 6.5])
    c_b, c_max = 2000.0, 37000.0
    free = up.umbrella_columns(_well_result(depth, zf), bins, 2.0, 300.0)
    sat = up.umbrella_columns(
        _well_result(depth, zf), bins, 2.0, 300.0, max_concentration_mol_per_m3=c_max
    )

    def expected(lo, hi, limit):  # the isotherm written out, bin average of the grid points
        x = np.exp(-depth[(zf >= lo) & (zf < hi)])
        if not limit:
            return c_b * x.mean()
        phi = c_b / limit
        return np.mean(c_b * x / (1 - phi + phi * x))

    for b, (lo, hi) in enumerate([(1.5, 3.5), (3.0, 5.0), (5.5, 7.5)]):
        assert free["concentration"][b] == pytest.approx(expected(lo, hi, 0.0), rel=1e-9)
        assert sat["concentration"][b] == pytest.approx(expected(lo, hi, c_max), rel=1e-9)
    assert free["concentration"][0] > 1e5 * c_b / 2  # the unphysical infinite-dilution value
    assert sat["concentration"][0] <= c_max
    # the well's 10 grid points (of the bin's 15) are full, the other 5 at -1 kT
    phi = c_b / c_max
    edge = c_b * np.e / (1 - phi + phi * np.e)
    assert sat["concentration"][0] == pytest.approx((10 * c_max + 5 * edge) / 15, rel=1e-4)
    assert sat["concentration"][2] == pytest.approx(c_b, rel=1e-12)  # the reference bin
    # 1 kT: phi x = 0.15, the layer 12 % below c_b x (1 - phi + phi x = 1.09)
    assert 0.85 < sat["concentration"][1] / free["concentration"][1] < 0.95
    assert any("packing limit" in n and "saturated" in n for n in sat["notes"])
    # the profile's F is the effective one: −RT ln(c/⟨c⟩) of the saturated c
    rt = 8.314462618 * 300.0
    c = sat["concentration"]
    np.testing.assert_allclose(sat["free_energy"], -rt * np.log(c / c.mean()))


@pytest.mark.parametrize("c_max", [0.0, 37000.0])
def test_saturated_concentration_error_matches_finite_differences(c_max):
    """The error of ln c_b from MBAR's covariance (independent grid errors σ) equals
    σ |∇ ln c_b| with the gradient by central differences of umbrella_columns itself, F_far's
    share included; a saturated well's c barely depends on F (a much smaller error)."""
    zf = np.round(np.arange(2.05, 8.0, 0.1), 6)
    f0 = np.where(zf < 3.0, -13.0 + 0.3 * (zf - 2.0), np.where(zf < 5.0, -1.0, 0.1 * (zf - 5)))
    bins = np.array([2.5, 4.0, 6.5])
    sigma = 0.05
    cols = up.umbrella_columns(
        _well_result(f0, zf, sigma**2 * np.eye(zf.size)), bins, 2.0, 300.0,
        max_concentration_mol_per_m3=c_max,
    )  # fmt: skip
    h = 1e-5
    grad = np.zeros((bins.size, zf.size))
    for g in range(zf.size):
        up_, dn = f0.copy(), f0.copy()
        up_[g] += h
        dn[g] -= h
        c_up = up.umbrella_columns(_well_result(up_, zf), bins, 2.0, 300.0,
                                   max_concentration_mol_per_m3=c_max)["concentration"]  # fmt: skip
        c_dn = up.umbrella_columns(_well_result(dn, zf), bins, 2.0, 300.0,
                                   max_concentration_mol_per_m3=c_max)["concentration"]  # fmt: skip
        grad[:, g] = (np.log(c_up) - np.log(c_dn)) / (2 * h)
    expected = sigma * np.sqrt(np.sum(grad**2, axis=1))
    rt = 8.314462618 * 300.0
    np.testing.assert_allclose(cols["free_energy_err"] / rt, expected, rtol=1e-5, atol=1e-9)
    if c_max:  # the full well's points hardly matter: the bin's error is that of its edge
        free = up.umbrella_columns(
            _well_result(f0, zf, sigma**2 * np.eye(zf.size)), bins, 2.0, 300.0
        )
        assert cols["free_energy_err"][0] < 0.2 * free["free_energy_err"][0]


def test_packing_limit_below_the_bulk_concentration_is_refused():
    zf = np.round(np.arange(2.05, 4.0, 0.1), 6)
    with pytest.raises(ValueError, match=r"packing limit of Cl- .* must exceed its bulk"):
        up.umbrella_columns(_well_result(np.zeros(zf.size), zf), np.array([3.0]), 2.0, 300.0,
                            max_concentration_mol_per_m3=1000.0)  # fmt: skip


def test_window_d_scaled_to_the_md_water_with_errors_in_quadrature():
    """D_ion x D_water(md)/D_water(window) per window, relative errors added in quadrature;
    without the windows' water D the values stay and a note says why."""
    zf = np.round(np.arange(2.05, 8.0, 0.1), 6)
    res = _well_result(np.zeros(zf.size), zf)
    w = res["windows"]
    w["D_perp_m2_per_s"], w["D_perp_err_m2_per_s"] = [4e-9, 6e-9], [4e-10, 6e-10]
    w["D_par_m2_per_s"], w["D_par_err_m2_per_s"] = [5e-9, 5e-9], [5e-10, 5e-10]
    bins = np.array([2.5, 5.5])
    plain = up.umbrella_columns(res, bins, 1.0, 300.0, water_md=(3e-9, 1.5e-10))
    assert any("no water D_par per window" in n for n in plain["notes"])
    np.testing.assert_allclose(plain["diffusion"], [4e-9, 6e-9])
    w["D_water_par_m2_per_s"], w["D_water_par_err_m2_per_s"] = [6e-9, 4e-9], [3e-10, 2e-10]
    cols = up.umbrella_columns(res, bins, 1.0, 300.0, water_md=(3e-9, 1.5e-10))
    factor = np.array([0.5, 0.75])
    np.testing.assert_allclose(cols["diffusion"], factor * [4e-9, 6e-9])
    np.testing.assert_allclose(cols["diffusion_parallel"], factor * 5e-9)
    rel = np.sqrt(0.1**2 + 0.05**2 + 0.05**2)  # ion 10 %, window water 5 %, md water 5 %
    np.testing.assert_allclose(cols["diffusion_err"], cols["diffusion"] * rel)
    assert any("D scaled to the md's water" in n and "0.5..0.75" in n for n in cols["notes"])


def test_md_water_diffusion_recovers_a_brownian_d_through_the_periodic_wrap():
    """The md's water D∥ by the windows' fit: O atoms doing a 2D random walk with a known D,
    positions wrapped into a periodic cell (the fit unwraps them)."""
    from ase import Atoms

    rng = np.random.default_rng(5)
    d, dt, n_frames, n_o = 3e-4, 15.0, 800, 40  # Å²/fs (3e-9 m²/s), fs
    steps = rng.standard_normal((n_frames, n_o, 2)) * np.sqrt(2 * d * dt)
    xy = np.cumsum(steps, axis=0) + rng.uniform(0, 8, (1, n_o, 2))
    frames = []
    for f in range(n_frames):
        pos = np.column_stack([xy[f], np.full(n_o, 5.0)])
        a = Atoms(["O"] * n_o + ["Cu"], positions=[*pos, [0, 0, 0]], cell=[8, 8, 20], pbc=True)
        a.wrap()
        frames.append(a)
    got = up.md_water_diffusion(frames, [150.0, 300.0, 600.0], dt, 4)
    assert got is not None
    assert got[0] == pytest.approx(3e-9, abs=4 * got[1] + 0.03e-9)
    assert 0 < got[1] < 0.1 * 3e-9
    assert up.md_water_diffusion(frames, [150.0, 6000.0], dt, 4) is None  # lag > a block
    assert up.md_water_diffusion(frames, None, dt, 4) is None


def test_d_vs_water_ratio_per_ion():
    """The extract summary's D_vs_water: each ion's largest D/D∥(water) over the bins, with
    the ratio's error from both relative errors."""
    from continuum import TransportProfile
    from multiscale.pipeline.stages import _d_vs_water

    z = np.array([2.5, 4.5, 6.5]) * 1e-10
    d_w = np.array([2.0, 3.0, 4.0]) * 1e-9
    d_na = np.array([1.0, 6.0, 2.0]) * 1e-9
    prof = TransportProfile(
        z=z, species=["H2O", "Na+"], charges=np.array([0, 1]),
        concentration=np.array([[5e4] * 3, [2e3] * 3]), diffusion=np.array([d_w, d_na]),
        free_energy=np.zeros((2, 3)), temperature=400.0,
        diffusion_err=np.array([0.1 * d_w, 0.2 * d_na]), diffusion_parallel=np.array([d_w, d_na]),
        diffusion_parallel_err=np.array([0.1 * d_w, 0.2 * d_na]),
    )  # fmt: skip
    out = _d_vs_water(prof, "H2O")
    assert set(out) == {"Na+"}
    par = out["Na+"]["parallel"]
    assert par["max_ratio"] == pytest.approx(2.0) and par["z_A"] == pytest.approx(4.5)
    assert par["max_ratio_err"] == pytest.approx(2.0 * np.hypot(0.2, 0.1))
    no_water = TransportProfile(
        z=z, species=["Na+"], charges=np.array([1]), concentration=np.array([[2e3] * 3]),
        diffusion=np.array([d_na]), free_energy=np.zeros((1, 3)), temperature=400.0,
    )  # fmt: skip
    assert _d_vs_water(no_water, "H2O") == {}


def test_fix_metal_holds_the_slab_in_the_md_stage_and_the_windows(tmp_path):
    """md.fix_metal: every md and window frame has the slab where the relaxation left it (the
    liquid moves); the key changes the md hash only when set, so runs made before it existed
    keep theirs."""
    from ase.io import read

    cfg = config(species=["Na"])
    cfg["md"]["fix_metal"] = True
    run = tmp_path / "run"
    pipe = Pipeline(cfg, run)
    pipe.run(stages=["md", "umbrella"])
    frames = read(run / "md" / "trajectory.traj", ":")
    slab = np.flatnonzero(frames[0].get_tags() == 1)
    liquid = np.flatnonzero(frames[0].get_tags() != 1)
    for a in frames:
        np.testing.assert_array_equal(a.positions[slab], frames[0].positions[slab])
    assert np.abs(frames[-1].positions[liquid] - frames[0].positions[liquid]).max() > 0.05
    window = read(run / "umbrella" / "windows" / "Na" / "replica_001" / "trajectory.traj", ":")
    for a in window:
        np.testing.assert_array_equal(a.positions[slab], window[0].positions[slab])
    assert pipe.results["md"]["fixed_slab_atoms"] == slab.size
    assert (
        f"Rigid electrode (md.fix_metal): the {slab.size} slab atoms"
        in (run / "report.md").read_text()
    )
    assert "fix_metal" in pipe._hash_parts("md")["section"]
    plain = Pipeline(config(species=["Na"]), tmp_path / "other")
    assert plain.config["md"]["fix_metal"] is False
    assert "fix_metal" not in plain._hash_parts("md")["section"]
    assert plain.stage_hash("md") != Pipeline(cfg, tmp_path / "x").stage_hash("md")
