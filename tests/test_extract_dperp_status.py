"""D⊥ that the trajectory cannot determine is reported as such, never with a small error bar.

Brownian walkers between reflecting walls at z = 0 and 4 Å with D = 5e-3 Å²/fs above
z = 1.5 Å and 5e-7 Å²/fs below (an "adsorbed layer", two walkers started in the middle of
each of its bins): in the 20 ps trajectory its interfaces are crossed a handful of times
at most and their bin-crossing time Δz²/2D (≈ 250 ps) exceeds the trajectory, so their D⊥
must come out "unconverged" (NaN, the raw fit kept apart) and the TransportProfile must carry
an explicit, documented fallback.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from multiscale.extract import (
    DensityProfile,
    ParallelDiffusionProfile,
    PerpendicularDiffusionProfile,
    build_transport_profile,
)
from multiscale.extract.profile_builder import FALLBACK_REL_ERR

L, LXY, DZ = 4.0, 10.0, 0.5
D_FAST, D_SLOW = 5e-3, 5e-7  # Å²/fs
FRAME_DT = 10.0  # fs


def d_true(z):
    return D_SLOW + (D_FAST - D_SLOW) * 0.5 * (1 + np.tanh((z - 1.5) / 0.1))


def dd_true(z):
    return (D_FAST - D_SLOW) * 0.5 / 0.1 / np.cosh((z - 1.5) / 0.1) ** 2


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    n = 24
    # two walkers in the middle of each slow bin, the others spread over the fast region
    z = np.r_[np.repeat([0.25, 0.75, 1.25], 2), 1.5 + (np.arange(n - 6) + 0.5) * 2.5 / (n - 6)]
    xy = rng.random((n, 2)) * LXY
    out = []
    for _ in range(2000):
        a = Atoms(f"Na{n}", positions=np.column_stack([xy, z]), cell=[LXY, LXY, L])
        a.pbc = [True, True, False]
        out.append(a)
        for _ in range(int(FRAME_DT)):
            d = d_true(z)
            s = np.sqrt(2 * d)
            xy = xy + s[:, None] * rng.standard_normal((n, 2))
            z = z + dd_true(z) + s * rng.standard_normal(n)
            z = np.abs(z)
            z = np.where(z > L, 2 * L - z, z)
    return out


@pytest.fixture(scope="module")
def perp(frames):
    return PerpendicularDiffusionProfile(
        frames, "Na", FRAME_DT, bin_width=DZ, lags=(2, 4), n_blocks=4
    ).run()


def test_slow_interfaces_are_unconverged_not_error_barred(perp):
    r = perp.results
    zi = r.z_interfaces  # 0.5, 1.0, ..., 3.5 Å
    slow, fast = zi < 1.2, zi > 1.7
    assert r.D_status[slow].tolist() == ["unconverged"] * int(slow.sum())
    assert r.D_status[fast].tolist() == ["ok"] * int(fast.sum())
    # not reported at all where unconverged: value and error are NaN, the raw fit kept apart
    assert np.all(np.isnan(r.D_interfaces[slow])) and np.all(np.isnan(r.D_interfaces_err[slow]))
    assert np.all(np.isfinite(r.D_interfaces_raw))
    np.testing.assert_array_equal(r.D_interfaces[fast], r.D_interfaces_raw[fast])
    # why: few crossings and crossing times not 10x shorter than the 20 ps trajectory
    assert r.trajectory_length == pytest.approx(2000 * FRAME_DT)
    # (walkers that sit on an interface recross it at short lags: the count alone is not
    # enough, the crossing time of the fitted D is the second criterion)
    assert np.all(r.n_crossings[slow] < 40) and np.all(r.n_crossings[fast] > 1000)
    assert np.all(10 * r.crossing_time[slow] > r.trajectory_length)
    assert np.all(10 * r.crossing_time[fast] < r.trajectory_length)
    np.testing.assert_allclose(
        r.crossing_time[fast], DZ**2 / (2 * r.D_interfaces_raw[fast]), rtol=1e-12
    )
    # the converged D is right (within 15 %), the bins next to an unconverged interface NaN
    np.testing.assert_allclose(r.D_interfaces[zi > 1.9], D_FAST, rtol=0.15)
    assert r.D_bin_status[:3].tolist() == ["unconverged"] * 3
    assert r.D_bin_status[4:].tolist() == ["ok"] * 4
    assert np.all(np.isnan(r.D[:3])) and np.all(np.isfinite(r.D[4:]))
    assert np.all(np.isfinite(r.D_raw))


def test_thresholds_are_keywords(frames):
    kw = {"bin_width": DZ, "lags": (2, 4), "n_blocks": 4}
    strict = PerpendicularDiffusionProfile(frames, "Na", FRAME_DT, min_crossings=10**9, **kw)
    assert set(strict.run().results.D_status) == {"unconverged"}
    lax = PerpendicularDiffusionProfile(
        frames, "Na", FRAME_DT, min_crossings=0, min_time_ratio=0, **kw
    ).run()
    assert set(lax.results.D_status) == {"ok"}
    np.testing.assert_array_equal(lax.results.D_interfaces, lax.results.D_interfaces_raw)
    with pytest.raises(ValueError, match="min_crossings must be an integer >= 0"):
        PerpendicularDiffusionProfile(frames, "Na", FRAME_DT, min_crossings=-1, **kw)
    with pytest.raises(ValueError, match="min_time_ratio must be a finite number"):
        PerpendicularDiffusionProfile(frames, "Na", FRAME_DT, min_time_ratio=np.inf, **kw)


def test_crossings_are_counted_once_per_window():
    """A walker hopping 0 → 2 → 0 every lag crosses both interfaces twice per two windows."""
    z = np.array([0.25, 1.25, 0.25, 1.25, 0.25, 1.25, 0.25, 1.25, 0.25])
    frames = [Atoms("Na", positions=[[1, 1, zz]], cell=[5, 5, 1.5], pbc=[1, 1, 0]) for zz in z]
    an = PerpendicularDiffusionProfile(
        frames, "Na", 1.0, bin_width=0.5, lags=(1,), n_blocks=2, extrapolate=False
    )
    an._pos = np.array([[[1, 1, zz]] for zz in z])  # positions as run() sees them
    b = an._binned()
    np.testing.assert_array_equal(an._crossings(b, 1), [8, 8])
    np.testing.assert_array_equal(an._crossings(b, 2), [0, 0])


def test_profile_falls_back_to_d_parallel_and_says_so(frames, perp):
    dens = DensityProfile(frames, {"Na+": "Na"}, bin_width=DZ, timestep=FRAME_DT).run()
    par = ParallelDiffusionProfile(
        frames, "Na", FRAME_DT, bin_width=DZ, lags=(1, 2, 3), n_blocks=4
    ).run()
    prof = build_transport_profile(
        dens, {"Na+": perp}, {"Na+": 1}, 300.0, {"Na+": par}, chapman_kolmogorov=False
    )
    d, e = prof.diffusion[0], prof.diffusion_err[0]
    bad = perp.results.D_bin_status != "ok"
    assert bad[:3].all() and bad.sum() in (3, 4)
    assert np.all(np.isfinite(d)) and np.all(d > 0)  # the continuum never sees NaN
    np.testing.assert_allclose(d[bad], par.results.D[bad] * 1e-5)
    np.testing.assert_allclose(e[bad], FALLBACK_REL_ERR * d[bad])
    np.testing.assert_allclose(d[~bad], perp.results.D[~bad] * 1e-5)
    np.testing.assert_allclose(e[~bad], perp.results.D_err[~bad] * 1e-5)
    p = prof.provenance["diffusion_perp_settings"]["Na+"]
    assert p["fallback"].startswith("D_parallel of the same species")
    assert p["fallback_bins"] == np.flatnonzero(bad).tolist()
    assert p["determined"] == (~bad).tolist()
    assert p["interface_status"][:2] == ["unconverged"] * 2 and p["min_crossings"] == 20
    assert "chapman_kolmogorov" not in p
    # without D_parallel: the median of the converged D_perp bins
    prof2 = build_transport_profile(dens, {"Na+": perp}, {"Na+": 1}, 300.0)
    med = np.median(perp.results.D[~bad]) * 1e-5
    np.testing.assert_allclose(prof2.diffusion[0][bad], med)
    assert prof2.provenance["diffusion_perp_settings"]["Na+"]["fallback"].startswith("median")
    ck = prof2.provenance["diffusion_perp_settings"]["Na+"]["chapman_kolmogorov"]
    assert ck["verdict"] in ("consistent", "inconsistent") and len(ck["excess"]) == 2


def test_nothing_converged_and_no_d_parallel_is_an_error(frames):
    dens = DensityProfile(frames, {"Na+": "Na"}, bin_width=DZ, timestep=FRAME_DT).run()
    none = PerpendicularDiffusionProfile(
        frames, "Na", FRAME_DT, bin_width=DZ, lags=(2, 4), n_blocks=4, min_crossings=10**9
    ).run()
    with pytest.raises(ValueError, match=r"not converged in any bin.*pass diffusion_parallel"):
        build_transport_profile(dens, {"Na+": none}, {"Na+": 1}, 300.0)
    # a bulk value given for the species is the last fallback
    prof = build_transport_profile(
        dens, {"Na+": none}, {"Na+": 1}, 300.0, bulk_diffusion={"Na+": 1.334e-9},
        chapman_kolmogorov=False,
    )  # fmt: skip
    np.testing.assert_allclose(prof.diffusion[0], 1.334e-9)
    np.testing.assert_allclose(prof.diffusion_err[0], FALLBACK_REL_ERR * 1.334e-9)
    assert "bulk value" in prof.provenance["diffusion_perp_settings"]["Na+"]["fallback"]
    with pytest.raises(ValueError, match="bulk_diffusion must be a mapping"):
        build_transport_profile(dens, {"Na+": none}, {"Na+": 1}, 300.0, bulk_diffusion={"Na+": -1})


def _species_summary(determined_middle: bool) -> dict:
    return {
        "charge": 0, "mean_c_mol_per_L": 55.0, "max_c_mol_per_L": 120.0,
        "D_middle_1e-9_m2_per_s": 27.3, "D_middle_err_1e-9_m2_per_s": 3.6,
        "D_parallel_middle_1e-9_m2_per_s": 2.3, "bin_crossing_time_ps": 0.2,
        "trajectory_ps": 20.0,
        "D_perp_bins": 8, "D_perp_determined_bins": 5 if not determined_middle else 8,
        "D_perp_determined_middle": determined_middle,
        "D_perp_fallback": "D_parallel of the same species at the same height",
        "D_perp_min_crossings": 20, "D_perp_min_time_ratio": 10.0,
        "D_perp_trajectory_ps": 20.0,
        "D_perp_undetermined_min_crossings": 12,
        "D_perp_undetermined_max_crossing_time_ps": 6.25,
        "chapman_kolmogorov": {
            "lag_fs": 40.0, "multiples": [2, 4], "excess": [0.03, 0.05],
            "excess_err": [0.004, 0.006], "discrepancy": [0.05, 0.08],
            "noise_floor": [0.02, 0.03], "verdict": "inconsistent",
        },
    }  # fmt: skip


def test_report_says_not_determined_never_value_plus_error(tmp_path):
    from multiscale.pipeline.report import _checks, _extract, _md

    ex = {
        "n_frames": 2000, "z_range_A": [10.0, 30.0], "n_bins": 8, "dropped_species": {},
        "species": {"H2O": _species_summary(False)},
        "finite_size": {"yeh_hummer": "not applied", "cell_A": [10.2, 8.8, 40.0],
                        "pbc": [True, True, True], "why": "not cubic"},
    }  # fmt: skip
    text = "\n".join(_extract(ex, tmp_path))
    row = next(line for line in text.splitlines() if line.startswith("| H2O |"))
    assert (
        "not determined (12 crossings in 20 ps; need ≳ 20 crossings and a trajectory ≳ 10 × "
        "the bin-crossing time 6.2 ps)"
    ) in row
    assert "±" not in row and "27.3" not in row
    assert "**not determined** in 3 of 8 bins" in text and "D_parallel of the same" in text
    assert "2τ: 0.03 ± 0.004" in text and "**inconsistent**" in text
    assert "D⊥/D∥ is not checked" in text
    assert "Yeh–Hummer correction does not apply" in text and "JCTC 13, 2881 (2017)" in text
    md = {
        "formula": "H2O", "n_atoms": 3, "calculator": "lj", "steps": 10, "timestep_fs": 0.5,
        "simulated_ps": 0.005, "mean_temperature_K_second_half": 300.0, "steps_per_s": 1.0,
        "resumed_from": None, "ensemble": "langevin", "friction_per_fs": 0.01,
        "temperature_K": 300.0,
    }  # fmt: skip
    md_text = "\n".join(_md(md, tmp_path))
    # M γ D / kT = 18 u x 1e13/s x 2.3e-9 m²/s / k_B 300 K = 0.166: D low by 14 %
    assert "by about **14 %**" in md_text and 'md.ensemble = "bussi"' in md_text
    assert "leaves diffusion essentially unchanged" in "\n".join(
        _md({**md, "ensemble": "bussi", "friction_per_fs": None}, tmp_path)
    )
    _, todo = _checks({"md": md, "extract": ex})
    assert any("not determined in 3 of 8 bins" in t for t in todo)
    assert any("Chapman–Kolmogorov check of H2O" in t for t in todo)
    assert any("biased low by the thermostat" in t for t in todo)
    from multiscale.pipeline.report import _dperp_lines

    ck = {"verdict": "not testable", "n_transitions": 0, "lag_fs": 1.0}
    assert "not testable (0 transitions" in _dperp_lines("O", {"chapman_kolmogorov": ck})[1]
    # a determined D⊥ is printed with its error bar as before
    ok = {**ex, "species": {"H2O": _species_summary(True)}}
    row = next(ln for ln in _extract(ok, tmp_path) if ln.startswith("| H2O |"))
    assert "27.3 ± 3.6" in row


def test_stage_helpers_read_the_provenance_and_check_the_box(frames, perp):
    from multiscale.pipeline.stages import _dperp_diagnostics, _finite_size

    dens = DensityProfile(frames, {"Na+": "Na"}, bin_width=DZ, timestep=FRAME_DT).run()
    prof = build_transport_profile(dens, {"Na+": perp}, {"Na+": 1}, 300.0)
    out = _dperp_diagnostics(prof.provenance, "Na+", slice(2, 5))
    assert out["D_perp_bins"] == 8 and out["D_perp_determined_bins"] <= 5
    assert out["D_perp_determined_middle"] is False  # bin 2 is next to a slow interface
    assert out["D_perp_undetermined_min_crossings"] < 40
    assert out["D_perp_undetermined_max_crossing_time_ps"] > 2.0  # 10x of it > the 20 ps run
    assert out["D_perp_trajectory_ps"] == pytest.approx(20.0)
    assert out["chapman_kolmogorov"]["verdict"] in ("consistent", "inconsistent")
    assert _dperp_diagnostics({}, "Na+", slice(0, 1)) == {}
    species = {"Na+": {"D_middle_1e-9_m2_per_s": 1.0, "D_parallel_middle_1e-9_m2_per_s": 1.3}}
    slab = _finite_size(frames[0], 300.0, species)
    assert slab["yeh_hummer"] == "not applied" and "periodic" in slab["why"]
    cube = Atoms("Na", cell=[20.0, 20.0, 20.0], pbc=True)
    fs = _finite_size(cube, 300.0, species)
    v = fs["species"]["Na+"]
    assert fs["yeh_hummer"] == "applied" and v["D_pbc_1e-9_m2_per_s"] == pytest.approx(1.2)
    # ξ k_B T / (6 π η L) = 2.837 x 4.14e-21 J / (6 π x 0.89e-3 Pa s x 2e-9 m) = 0.35e-9 m²/s
    assert v["correction_1e-9_m2_per_s"] == pytest.approx(0.35, rel=0.02)
