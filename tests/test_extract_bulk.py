"""Bulk region from the data (detect_bulk), fine density profiles, the profile plot's metal."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from multiscale.extract.bulk import detect_bulk, fine_density_profile


def _layered(flat_lo: int = 12, flat_hi: int = 28, n: int = 40, seed: int = 0):
    """0.5 Å bins: c = 1 mol/L with noise in [flat_lo, flat_hi), strong layering outside."""
    rng = np.random.default_rng(seed)
    z = 0.25 + 0.5 * np.arange(n)
    err = np.full(n, 0.02)
    c = 1.0 + err * rng.standard_normal(n)
    k = np.arange(n)
    edge = (k < flat_lo) | (k >= flat_hi)
    # layering: peaks and troughs of 6-20 standard errors, decaying into the middle
    dist = np.minimum(flat_lo - k, k - flat_hi + 1).clip(min=0)
    c[edge] += np.where(k[edge] % 2, 1, -1) * 0.02 * (6 + 2 * dist[edge])
    return z, c, err


def test_detect_bulk_finds_the_flat_middle_within_one_bin():
    z, c, err = _layered()
    water = np.full(z.size, 55.0)  # mol/L of water molecules
    r = detect_bulk(z, c, err, water=water)
    assert r.found, r.reason
    i, j = r.indices
    assert abs(i - 12) <= 1 and abs(j - 28) <= 1
    assert r.z_range[0] == pytest.approx(6.0, abs=0.5) and r.z_range[1] == pytest.approx(
        14.0, abs=0.5
    )
    assert r.concentration_mol_per_L == pytest.approx(1.0, abs=3 * r.concentration_err_mol_per_L)
    # mol/kg from the water count: 1 mol/L over 55 mol/L of water of 18.015 g/mol
    assert r.molality_mol_per_kg == pytest.approx(
        r.concentration_mol_per_L / (55.0 * 0.018015), rel=1e-12
    )
    assert "bulk region" in str(r) and "mol/kg" in str(r)


def test_detect_bulk_says_no_bulk_for_a_gradient():
    z = 0.25 + 0.5 * np.arange(40)
    c = 0.5 + 0.05 * z  # linear gradient, 0.025 mol/L per bin, errors 0.005
    r = detect_bulk(z, c, np.full(40, 0.005))
    assert not r.found
    assert str(r).startswith("no bulk region")
    assert r.concentration_mol_per_L is None


def test_detect_bulk_rejects_mismatched_arrays():
    with pytest.raises(ValueError, match=r"c_err must be a 1D array of 5 values"):
        detect_bulk(np.arange(5.0), np.ones(5), np.ones(4))


def test_fine_density_integrates_to_the_particle_count():
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(40):
        z = 5.0 + 12.0 * rng.random(30)  # 30 Ar between 5 and 17 Å, surface at 4 Å
        pos = np.column_stack([10 * rng.random(30), 10 * rng.random(30), z])
        frames.append(Atoms("Ar30", positions=pos, cell=[10, 10, 20], pbc=True))
    fd = fine_density_profile(frames, {"Ar": "Ar"}, surface_z=4.0, bin_width=0.1)
    assert fd.distance[0] == pytest.approx(0.05)
    assert np.allclose(np.diff(fd.edges), 0.1)
    assert fd.count("Ar") == pytest.approx(30.0, rel=1e-9)
    assert np.all(fd.number_density["Ar"][fd.distance < 1.0] == 0)  # nothing below 5 Å


def _profile(n: int = 10):
    from continuum import TransportProfile

    z = (0.5 + np.arange(n)) * 1e-10 * 2.0  # m from the surface
    return TransportProfile(
        z=z, species=["H2O"], charges=np.array([0]),
        concentration=np.full((1, n), 55e3), diffusion=np.full((1, n), 2.3e-9),
        concentration_err=np.full((1, n), 1e3),
    )  # fmt: skip


def test_profile_plot_draws_the_metal_on_a_distance_axis(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import Polygon, Rectangle

    from multiscale.extract import plot_transport_profile

    path = tmp_path / "profile.png"
    fig = plot_transport_profile(_profile(), path, metal="Cu", upper_surface=20.0)
    assert path.stat().st_size > 1000
    for ax in fig.axes:
        bands = [p for p in ax.patches if isinstance(p, Polygon | Rectangle)]
        labels = [p.get_label() for p in bands]
        assert "Cu" in labels  # the metal band at z <= 0
        x0, _ = ax.get_xlim()
        assert x0 < 0  # the metal is visible
    assert fig.axes[-1].get_xlabel() == "distance from the Cu surface (Å)"


def _on_distance(profile, metal="Cu"):
    import dataclasses

    prov = {"z_axis": "distance from the top metal layer (m)", "metal": metal}
    return dataclasses.replace(profile, provenance=prov)


def test_folded_profile_plot_marks_the_midplane_and_not_the_upper_metal():
    import dataclasses

    import matplotlib

    matplotlib.use("Agg")
    from multiscale.extract import plot_transport_profile

    prof = _on_distance(_profile())
    prov = {**prof.provenance, "upper_surface_A": 24.0,
            "folded": {"midplane_from_surface_A": 12.0}}  # fmt: skip
    fig = plot_transport_profile(dataclasses.replace(prof, provenance=prov))
    for ax in fig.axes:
        assert "midplane (folded)" in [line.get_label() for line in ax.lines]
        assert ax.get_xlim()[1] < 24.0  # no band for the upper metal, which is not in range
    unfolded = {k: v for k, v in prov.items() if k != "folded"}
    fig = plot_transport_profile(dataclasses.replace(prof, provenance=unfolded))
    assert fig.axes[0].get_xlim()[1] >= 27.0  # the upper metal band, 3 Å of it


def test_profile_plot_draws_a_reference_profile_underneath(tmp_path):
    """A short run's profile over the production one: the reference's curve carries its
    values (not the plotted profile's) on the same axis, with its error band."""
    import matplotlib

    matplotlib.use("Agg")
    import dataclasses

    from multiscale.extract import plot_transport_profile

    short = _on_distance(_profile(6))
    long = _on_distance(_profile(12))
    long = dataclasses.replace(long, concentration=np.full((1, 12), 50e3))
    fig = plot_transport_profile(short, tmp_path / "p.png", reference=long,
                                 reference_label="production")  # fmt: skip
    c_ax = fig.axes[0]
    ref = [ln for ln in c_ax.get_lines() if ln.get_label() == "H2O (production)"]
    assert len(ref) == 1
    x, y = ref[0].get_data()
    assert np.allclose(x, long.z * 1e10) and np.allclose(y, 50.0)  # mol/L, the reference's
    assert len(c_ax.collections) >= 1  # its ±1 standard error band
    assert c_ax.get_xlim()[1] >= float(long.z.max() * 1e10)  # the longer profile fits
    d_labels = [ln.get_label() for ln in fig.axes[1].get_lines()]
    assert "H2O ⊥ (production)" in d_labels


def test_profile_plot_refuses_a_reference_on_another_axis(tmp_path):
    from multiscale.extract import plot_transport_profile

    with pytest.raises(ValueError, match="another z axis"):
        plot_transport_profile(_on_distance(_profile()), reference=_profile())
    with pytest.raises(ValueError, match="another z axis"):
        plot_transport_profile(_profile(), reference=_on_distance(_profile()))


def _lj_confined(geometry: str, name: str = "bulk") -> dict:
    """A 40-step Lennard-Jones water run in a sandwich or wall geometry (fast pipeline tests)."""
    lj = {"model": "lj", "sigma": 1.0, "epsilon": 0.01, "rc": 3.0}
    return {
        "run": {"name": name, "seed": 3, "progress": False},
        "md": {
            "size": [2, 2], "layers": 3, "geometry": geometry, "electrolyte_thickness_A": 15.0,
            "concentration_mol_per_L": 0.0, "steps": 40, "traj_interval": 2,
            "checkpoint_interval": 10, "calculator": lj, "integrity": "flag", "heat_ps": 0.0,
            "relax_steps": 0,
        },
        "extract": {
            "species": {"O": {"selection": "O", "charge": 0}}, "bin_width_A": 2.0,
            "lags": [1, 2], "n_blocks": 3, "parallel": False,
        },
    }  # fmt: skip


@pytest.mark.parametrize("geometry", ["sandwich", "wall"])
def test_pipeline_profiles_start_at_the_surface_on_a_distance_axis(tmp_path, geometry):
    from continuum import TransportProfile
    from multiscale.pipeline import Pipeline

    cfg = _lj_confined(geometry)
    run = tmp_path / "run"
    res = Pipeline(cfg, run).run()
    ex = res["extract"]
    assert res["md"]["geometry"] == geometry
    lo, _ = ex["z_range_from_surface_A"]
    assert 0.0 <= lo < 2.0 + 1.0  # from the lowest liquid atom (placed >= 2 Å above the metal)
    prof = TransportProfile.read(run / "extract" / "profile.h5")
    assert prof.z[0] * 1e10 == pytest.approx(lo + 1.0)  # first bin centre, distance axis
    assert prof.provenance["metal"] == "Cu"
    bulk = ex["species"]["O"]["bulk"]
    assert isinstance(bulk["found"], bool) and bulk["reason"]
    fine = np.loadtxt(run / "extract" / "density_fine.csv", delimiter=",")
    assert np.allclose(np.diff(fine[:, 0]), 0.1, atol=1e-3) and fine[0, 0] == pytest.approx(0.05)
    if geometry == "sandwich":  # folded about the midplane: the profile ends there
        fold = ex["fold"]
        mid = fold["midplane_from_surface_A"]
        assert mid == pytest.approx(0.5 * fold["surface_separation_A"])
        assert ex["z_range_from_surface_A"][1] <= mid + 1e-9
        assert prof.provenance["folded"]["midplane_from_surface_A"] == mid
        # the folded fine density is that of one half: it integrates, surface to midplane, to
        # half the waters of the frames (mol/L x Å³ -> molecules: 6.02214076e23 / 1e27)
        from ase.io import read

        last = read(run / "md" / "trajectory.traj", -1)
        n_o = int(np.sum(last.numbers == 8))
        area = float(np.linalg.norm(np.cross(last.cell[0], last.cell[1])))
        count = fine[:, 1].sum() * 0.1 * area * 6.02214076e-4
        assert count == pytest.approx(n_o / 2, rel=0.03)  # up to the last whole 0.1 Å bin
    else:
        assert ex["fold"] is None


def test_pipeline_draws_a_reference_profile_and_refuses_a_missing_one(tmp_path):
    """extract.reference_profile: another run's profile under this one's (the demo against
    the production run, issue #14 item 5); a changed reference file reruns the extract stage
    (the plot depends on it) but not md; a missing or unknown one is refused up front."""
    import shutil

    from multiscale.pipeline import Pipeline
    from multiscale.pipeline.config import validate_config

    cfg = _lj_confined("sandwich", name="ref")
    first = tmp_path / "first"
    Pipeline(cfg, first).run()
    ref = tmp_path / "production" / "profile.h5"
    ref.parent.mkdir()
    shutil.copy(first / "extract" / "profile.h5", ref)

    cfg["extract"]["reference_profile"] = str(ref)
    pipe = Pipeline(cfg, first)
    h_before = pipe.stage_hash("extract")
    res = pipe.run()
    assert res["extract"]["reference_profile"] == {
        "path": str(ref), "label": "production", "not_converged": None,
    }  # fmt: skip
    assert (first / "extract" / "profile.png").stat().st_size > 1000
    report = (first / "report.md").read_text()
    assert f"are the production profile (`{ref}`)" in report
    # another reference file: a new extract hash, the same md
    md_hash = pipe.stage_hash("md")
    ref.write_bytes(ref.read_bytes() + b"\0")  # HDF5 ignores trailing bytes
    again = Pipeline(cfg, first)
    assert again.stage_hash("extract") != h_before and again.stage_hash("md") == md_hash

    for value, msg in [
        (str(tmp_path / "nope.h5"), "no such file"),
        ("builtin:nothing", "unknown builtin profile"),
    ]:
        cfg["extract"]["reference_profile"] = value
        with pytest.raises(ValueError, match=msg):
            validate_config(cfg)


def test_a_stamped_profile_carries_its_runs_checks_to_the_runs_that_use_it(tmp_path):
    """checks.json holds the report's list of what has not converged; stamp_profile puts it
    into the profile's provenance, and a run plotting against that profile or fed by it
    lists it (and says the continuum's input carries caveats)."""
    import json

    from continuum import TransportProfile
    from multiscale.pipeline import Pipeline
    from multiscale.pipeline.profile_checks import run_caveats, stamp_profile

    cfg = _lj_confined("sandwich", name="ref")
    cfg["run"]["stages"] = ["md", "extract"]
    first = tmp_path / "first"
    Pipeline(cfg, first).run()
    checks = json.loads((first / "checks.json").read_text())
    report = (first / "report.md").read_text()
    assert checks["not_converged"], "a 40-step LJ run has unconverged items"
    assert all(f"- {t}" in report for t in checks["not_converged"])
    assert run_caveats(TransportProfile.read(first / "extract" / "profile.h5")) is None

    ref = stamp_profile(first, tmp_path / "stamped.h5", record="benchmarks/results/x")
    prof = TransportProfile.read(ref)
    assert run_caveats(prof) == checks["not_converged"]
    assert prof.provenance["run"]["record"] == "benchmarks/results/x"
    assert prof.provenance["run"]["config"]["run"]["name"] == "ref"

    cfg["run"]["stages"] = ["md", "extract", "continuum"]
    cfg["extract"]["reference_profile"] = str(ref)
    cfg["continuum"] = {"profile": str(ref), "pit": False, "uncertainty_samples": 0}
    res = Pipeline(cfg, tmp_path / "second").run()
    n = len(checks["not_converged"])
    assert res["extract"]["reference_profile"]["not_converged"] == checks["not_converged"]
    assert res["continuum"]["profile"]["not_converged"] == checks["not_converged"]
    text = (tmp_path / "second" / "report.md").read_text()
    assert (
        f"The {ref.parent.name} profile comes from a run whose checks flagged {n} item(s)" in text
    )
    assert f"- the continuum is fed by `{ref}`, whose own run flagged {n} item(s)" in text

    (first / "checks.json").unlink()
    with pytest.raises(ValueError, match=r"checks.json missing; run .* to the end"):
        stamp_profile(first, tmp_path / "again.h5")


def test_builtin_production_profile_is_refused_while_not_shipped(monkeypatch, tmp_path):
    from multiscale.pipeline import config

    monkeypatch.setattr(config, "BUILTIN_PROFILES", {"production": "absent_for_this_test.h5"})
    with pytest.raises(ValueError, match="ships no production profile"):
        config.resolve_reference_profile("builtin:production")


def test_bulk_region_diffusion_and_its_report_rows():
    """D in the bulk region: inverse-variance mean over its bins, D⊥ only where determined,
    errors not reduced by the number of (correlated) bins; the report's table shows them."""
    import dataclasses

    from multiscale.extract.bulk import BulkRegion
    from multiscale.pipeline.report import _bulk_region_lines
    from multiscale.pipeline.stages import _bulk_region_diffusion

    n = 8
    prof = _profile(n)
    d_par = np.array([[1.0, 1.5, 2.0, 2.2, 1.8, 2.0, 1.5, 1.0]]) * 1e-9
    e_par = np.array([[0.1, 0.1, 0.2, 0.1, 0.2, 0.1, 0.1, 0.1]]) * 1e-9
    d_perp = np.array([[0.5, 0.7, 9.9, 2.0, 2.4, 9.9, 0.7, 0.5]]) * 1e-9  # 9.9: fallbacks
    determined = [True, True, False, True, True, False, True, True]
    prov = {"diffusion_perp_settings": {"H2O": {"determined": determined}}}
    prof = dataclasses.replace(
        prof, diffusion=d_perp, diffusion_err=e_par.copy(), diffusion_parallel=d_par,
        diffusion_parallel_err=e_par, provenance=prov,
    )  # fmt: skip
    bulk = BulkRegion(True, "flat", z_range=(5.0, 12.0), indices=(2, 6),
                      concentration_mol_per_L=55.0, concentration_err_mol_per_L=0.5)  # fmt: skip
    out = _bulk_region_diffusion(prof, 0, bulk)
    w = 1 / np.array([0.2, 0.1, 0.2, 0.1]) ** 2
    want = (w * [2.0, 2.2, 1.8, 2.0]).sum() / w.sum()
    assert out["D_parallel_bins"] == 4
    assert out["D_parallel_1e-9_m2_per_s"] == pytest.approx(want)
    assert out["D_parallel_err_1e-9_m2_per_s"] == pytest.approx(
        (w * [0.2, 0.1, 0.2, 0.1]).sum() / w.sum()
    )
    assert out["D_perp_bins"] == 2  # bins 2 and 5 of the region carry fallbacks: left out
    # bins 3 and 4: 2.0 ± 0.1 and 2.4 ± 0.2 -> (100·2.0 + 25·2.4) / 125
    assert out["D_perp_1e-9_m2_per_s"] == pytest.approx(2.08)
    assert out["D_perp_err_1e-9_m2_per_s"] == pytest.approx(0.12)
    none = BulkRegion(False, "too few bins").as_dict()
    rows = _bulk_region_lines({"H2O": {"bulk": {**bulk.as_dict(), **out}}, "Na+": {"bulk": none}})
    text = "\n".join(rows)
    assert "| H2O | 5–12 Å | 55 ± 0.5 | n/a | 2.06 ± 0.12 (4 bins) | 2.08 ± 0.12 (2 bins) |" in text
    assert "| Na+ | none: too few bins |" in text


def _walkers(kind: str, n: int = 150, frames: int = 400, seed: int = 0):
    """In-plane walkers at a fixed height: Brownian (MSD linear at every lag), or caged
    (an Ornstein–Uhlenbeck rattle about cage centres that hop rarely: MSD sub-linear)."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20, (n, 2))
    centre = xy.copy()
    out = []
    for _ in range(frames):
        if kind == "brownian":
            xy = xy + rng.normal(0, 0.3, xy.shape)
        else:
            hop = rng.random(n) < 0.01
            centre[hop] += rng.normal(0, 1.0, (hop.sum(), 2))
            xy = centre + 0.7 * (xy - centre) + rng.normal(0, 0.3, xy.shape)
        pos = np.column_stack([xy, np.full(n, 5.0)])
        out.append(Atoms(f"O{n}", positions=pos, cell=[20, 20, 20], pbc=[True, True, False]))
    return out


@pytest.mark.parametrize(("kind", "verdict"), [("brownian", "diffusive"),
                                               ("caged", "sub-diffusive")])  # fmt: skip
def test_lag_check_tells_a_caged_liquid_from_a_diffusive_one(kind, verdict):
    from types import SimpleNamespace

    from multiscale.extract import ParallelDiffusionProfile
    from multiscale.pipeline.stages import lag_check

    frames = _walkers(kind)
    cfg = {"lags": [1, 2, 4], "bin_width_A": 2.0, "n_blocks": 4}
    setup = {"transport_frames": frames, "z_range": (4.0, 6.0)}
    short = ParallelDiffusionProfile(frames, "O", 10.0, bin_width=2.0, z_range=(4.0, 6.0),
                                     lags=(1, 2, 4), n_blocks=4).run().results  # fmt: skip
    profile = SimpleNamespace(diffusion_parallel=short.D[None, :] * 1e-5,
                              diffusion_parallel_err=short.D_err[None, :] * 1e-5)  # fmt: skip
    out = lag_check(setup, cfg, {"frame_interval_fs": 10.0}, profile, 0, "O")
    assert out["long_lags_frames"] == [4, 8, 16]
    assert out["verdict"] == verdict, out
    if kind == "brownian":  # 2D Brownian: D = σ²/(2 dt) at every lag
        assert out["ratio"] == pytest.approx(1.0, abs=3 * out["ratio_err"] + 0.05)
    else:
        assert out["ratio"] < 0.5
