"""From a trajectory to a continuum.TransportProfile (SI units), HDF5 round trip, plots."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.units import _k, _Nav

from continuum import TransportProfile
from multiscale.extract import (
    ChargeDensityProfile,
    DensityProfile,
    ParallelDiffusionProfile,
    PerpendicularDiffusionProfile,
    build_transport_profile,
    extract_transport_profile,
    plot_transport_profile,
)

LZ, LXY = 8.0, 30.0
D_NA, D_CL = 1e-4, 2e-4  # Å²/fs
N_ION, FRAME_DT = 300, 250.0


@pytest.fixture(scope="module")
def slab_frames():
    """Free Brownian Na+ and Cl- between reflecting walls (uniform D, flat F)."""
    rng = np.random.default_rng(5)
    d = np.r_[np.full(N_ION, D_NA), np.full(N_ION, D_CL)]
    pos = rng.random((2 * N_ION, 3)) * [LXY, LXY, LZ]
    frames = []
    dt, every = 25.0, 10
    for _ in range(1600):
        a = Atoms(
            ["Na"] * N_ION + ["Cl"] * N_ION,
            positions=pos,
            cell=[LXY, LXY, LZ],
            pbc=[True, True, False],
        )
        a.wrap()
        frames.append(a)
        for _ in range(every):
            pos = pos + np.sqrt(2 * d * dt)[:, None] * rng.standard_normal(pos.shape)
            z = np.abs(pos[:, 2])
            pos[:, 2] = np.where(z > LZ, 2 * LZ - z, z)
    return frames


@pytest.fixture(scope="module")
def profile(slab_frames):
    kw = {"timestep": FRAME_DT, "bin_width": 0.5, "n_blocks": 8}
    density = DensityProfile(
        slab_frames, {"Na+": "Na", "Cl-": "Cl"}, bin_width=0.5, timestep=FRAME_DT
    ).run()
    perp = {
        n: PerpendicularDiffusionProfile(slab_frames, s, lags=(4, 8, 16), **kw).run()
        for n, s in (("Na+", "Na"), ("Cl-", "Cl"))
    }
    par = {
        n: ParallelDiffusionProfile(slab_frames, s, lags=(1, 2, 3, 4), **kw).run()
        for n, s in (("Na+", "Na"), ("Cl-", "Cl"))
    }
    elec = ChargeDensityProfile(slab_frames, {"Na": 1, "Cl": -1}, bin_width=0.5).run()
    return build_transport_profile(
        density, perp, {"Na+": 1, "Cl-": -1}, 300.0, par, elec, provenance={"test": "slab"}
    )


def test_profile_values_in_si_units(profile):
    p = profile
    assert p.species == ["Na+", "Cl-"] and p.charges.tolist() == [1, -1]
    np.testing.assert_allclose(p.z, (np.arange(16) + 0.5) * 0.5e-10)
    c_exact = N_ION / (LXY * LXY * LZ * 1e-30) / _Nav  # mol/m³ (ideal particles, ~69 mol/L)
    # walls conserve the ions: the grid mean is exact; the profile is flat within 20 %
    # (1600 frames are only ~6 relaxation times of the slowest mode, L²/π²D, so the
    # blocking errors are not converged here; test_extract_density checks calibration)
    np.testing.assert_allclose(p.concentration.mean(axis=1), c_exact, rtol=1e-12)
    np.testing.assert_allclose(p.concentration, c_exact, rtol=0.20)
    for i, d in enumerate((D_NA, D_CL)):
        np.testing.assert_allclose(p.diffusion[i], d * 1e-5, rtol=0.15)
        np.testing.assert_allclose(p.diffusion_parallel[i], d * 1e-5, rtol=0.10)
    # F = −RT ln(c/<c>) in J/mol: flat (|F| < 0.25 RT, as c is flat within 20 %)
    rt = _k * _Nav * 300.0
    assert np.all(np.abs(p.free_energy) < 0.25 * rt)
    c = p.concentration
    np.testing.assert_allclose(p.free_energy, -rt * np.log(c / c.mean(1, keepdims=True)))
    assert p.free_energy_err[0, 0] == pytest.approx(
        rt * p.concentration_err[0, 0] / p.concentration[0, 0]
    )
    # φ is Poisson's solution for e(c+ − c−) N_A (SI, independent integration here)
    from scipy.constants import e, epsilon_0

    rho = (p.concentration[0] - p.concentration[1]) * _Nav * e  # C/m³
    h = p.z[1] - p.z[0]
    e_edges = np.r_[0.0, np.cumsum(rho * h)] / epsilon_0  # field-free at z = 0 (V/m)
    np.testing.assert_allclose(p.field, 0.5 * (e_edges[1:] + e_edges[:-1]), rtol=1e-6)
    phi_edges = -np.r_[0.0, np.cumsum(0.5 * (e_edges[1:] + e_edges[:-1]) * h)]
    phi_c = phi_edges[:-1] - e_edges[:-1] * h / 2 - rho * h**2 / (8 * epsilon_0)
    np.testing.assert_allclose(p.potential, phi_c, rtol=1e-6, atol=1e-9)
    assert p.field_err is not None and p.potential_err is not None
    assert p.provenance["test"] == "slab" and p.provenance["n_frames"] == 1600


def test_hdf5_round_trip_preserves_everything(profile, tmp_path):
    q = TransportProfile.read(profile.write(tmp_path / "profile.h5"))
    assert q.species == profile.species and q.provenance == profile.provenance
    assert q.temperature == profile.temperature
    for name in (
        "z",
        "charges",
        "concentration",
        "concentration_err",
        "diffusion",
        "diffusion_err",
        "diffusion_parallel",
        "diffusion_parallel_err",
        "free_energy",
        "free_energy_err",
        "potential",
        "potential_err",
        "field",
        "field_err",
    ):
        np.testing.assert_array_equal(getattr(q, name), getattr(profile, name), err_msg=name)


def test_one_call_pipeline_matches_steps(slab_frames, profile):
    p = extract_transport_profile(
        slab_frames,
        {"Na+": ("Na", 1), "Cl-": ("Cl", -1)},
        timestep=FRAME_DT,
        temperature=300.0,
        bin_width=0.5,
        lags=(4, 8, 16),
        parallel=False,
        charges={"Na": 1, "Cl": -1},
    )
    np.testing.assert_allclose(p.concentration, profile.concentration, rtol=1e-12)
    np.testing.assert_allclose(p.diffusion, profile.diffusion, rtol=1e-9)
    np.testing.assert_allclose(p.potential, profile.potential, rtol=1e-12, atol=1e-15)
    assert p.diffusion_parallel is None


def test_perp_lags_drive_the_propagator_and_its_ck_test_and_nothing_else(slab_frames, profile):
    """perp_lags: D⊥, F from transitions and the CK test at those lags (equal to a standalone
    analysis at them), D∥ and c at ``lags`` as without them."""
    kw = {"timestep": FRAME_DT, "temperature": 300.0, "bin_width": 0.5, "lags": (1, 2, 3, 4)}
    sp = {"Na+": ("Na", 1), "Cl-": ("Cl", -1)}
    p = extract_transport_profile(slab_frames, sp, perp_lags=(4, 8, 16), n_blocks=8, **kw)
    np.testing.assert_allclose(p.diffusion, profile.diffusion, rtol=1e-9)
    np.testing.assert_allclose(p.concentration, profile.concentration, rtol=1e-12)
    np.testing.assert_allclose(p.diffusion_parallel, profile.diffusion_parallel, rtol=1e-9)
    settings = p.provenance["diffusion_perp_settings"]["Na+"]
    assert settings["lags_fs"] == [4 * FRAME_DT, 8 * FRAME_DT, 16 * FRAME_DT]
    assert settings["chapman_kolmogorov"]["lag_fs"] == 4 * FRAME_DT
    # without perp_lags the propagator takes ``lags`` (test_one_call_pipeline_matches_steps)


def test_builder_errors(slab_frames):
    density = DensityProfile(slab_frames[:50], {"Na+": "Na"}, bin_width=1.0)
    perp = PerpendicularDiffusionProfile(slab_frames[:50], "Na", FRAME_DT, lags=(1, 2), n_blocks=2)
    with pytest.raises(ValueError, match=r"call \.run"):
        build_transport_profile(density, {"Na+": perp}, {"Na+": 1}, 300.0)
    density.run()
    with pytest.raises(ValueError, match="missing species"):
        build_transport_profile(density, {}, {"Na+": 1}, 300.0)
    with pytest.raises(ValueError, match="temperature"):
        build_transport_profile(density, {"Na+": perp}, {"Na+": 1}, -1.0)
    empty = DensityProfile(slab_frames[:50], {"Na+": [0]}, bins=40).run()
    with pytest.raises(ValueError, match="empty bins"):
        build_transport_profile(empty, {"Na+": perp.run()}, {"Na+": 1}, 300.0)


def test_plot_has_every_profile_with_error_bars(profile, tmp_path):
    from matplotlib.container import ErrorbarContainer

    fig = plot_transport_profile(profile, tmp_path / "profile.png")
    assert (tmp_path / "profile.png").stat().st_size > 10_000
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == [
        "c (mol/L)",
        "D (1e-9 m²/s)",
        "F (kJ/mol)",
        "φ (V)",
        "E (V/nm)",
    ]
    n_bars = [sum(isinstance(c, ErrorbarContainer) for c in ax.containers) for ax in axes]
    assert n_bars == [2, 4, 2, 1, 1]
    for ax in axes:  # every curve carries error bars
        assert all(c.has_yerr for c in ax.containers)
    # the plotted concentration is the profile's, in mol/L
    line = axes[0].containers[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), profile.concentration[0] / 1000)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plot_leaves_out_the_d_perp_bins_that_were_not_determined(profile):
    """A bin whose D⊥ was not determined holds a fallback for the continuum; the plot draws only
    the measured bins and says how many it left out."""
    import copy
    import dataclasses

    import matplotlib.pyplot as plt

    prov = copy.deepcopy(profile.provenance)
    n = profile.z.size
    prov["diffusion_perp_settings"]["Na+"]["determined"] = [k >= 3 for k in range(n)]
    fig = plot_transport_profile(dataclasses.replace(profile, provenance=prov))
    ax = fig.axes[1]
    labels = [c.get_label() for c in ax.containers]
    assert "Na+ ⊥ (3 bins not determined: not drawn)" in labels and "Cl- ⊥" in labels
    y = ax.containers[labels.index("Na+ ⊥ (3 bins not determined: not drawn)")].lines[0].get_ydata()
    assert np.isnan(y[:3]).all()
    np.testing.assert_allclose(y[3:], profile.diffusion[0][3:] * 1e9)
    plt.close(fig)
