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
