"""The extract stage's slit finite-size estimate on a synthetic sandwich whose liquid moves by
the k = 0 mode of a known viscosity, and its refusals."""

import numpy as np
import pytest
from ase import Atoms
from slit_toy import A, synthetic_com

from continuum import TransportProfile
from multiscale.extract.slab_hydrodynamics import slab_finite_size_correction
from multiscale.pipeline.report import _finite_size_line
from multiscale.pipeline.slab_finite_size import slab_finite_size

LX, LY, LZ = 10.2, 13.3, 24.0  # Å; A of slit_toy is LX x LY
ETA = 1.0e-3
N_O = 107  # ρ = 1050 kg/m³ over 20 Å (the toy's density)


def _sandwich(move_slab=False, n_frames=2400):
    rng = np.random.default_rng(5)
    height = LZ - 4.0  # the O fill heights 2-22 Å: half-density planes 2 Å inside each surface
    com = synthetic_com(n_frames, 16.0, 8, ETA, rng, height=height * 1e-10, area=A)
    slab = [[x, y, 0.0] for x in (0.0, LX / 2) for y in (0.0, LY / 2)]
    base = np.column_stack(
        [rng.uniform(0, LX, N_O), rng.uniform(0, LY, N_O), np.linspace(2.0, 22.0, N_O)]
    )
    frames, folded = [], []
    for k in range(n_frames):
        pos = np.vstack([slab, base + np.array([com[k, 0], com[k, 1], 0.0])])
        if move_slab:
            pos[:4, 0] += 0.01 * k
        a = Atoms(["Cu"] * 4 + ["O"] * N_O, positions=pos, cell=[LX, LY, LZ], pbc=True)
        a.set_tags([1] * 4 + [0] * N_O)
        frames.append(a)
        b = a.copy()
        h = b.positions[4:, 2]
        b.positions[4:, 2] = np.minimum(h, LZ - h)
        folded.append(b)
    setup = {
        "frames": frames, "transport_frames": folded, "surface_z": 0.0,
        "fold": {"surface_separation_A": LZ},
    }  # fmt: skip
    z = np.array([3.0, 5.0, 7.0, 9.0, 11.0]) * 1e-10
    d = np.array([2.0, 2.5, 3.0, 3.2, 3.3]) * 1e-9
    prof = TransportProfile(
        z=z, species=["H2O"], charges=np.array([0]), concentration=np.full((1, 5), 5e4),
        diffusion=d[None], free_energy=np.zeros((1, 5)), temperature=400.0,
        diffusion_parallel=d[None], diffusion_parallel_err=0.05 * d[None],
    )  # fmt: skip
    return setup, prof


def test_slit_estimate_recovers_the_liquids_viscosity_and_corrects_the_middle():
    setup, prof = _sandwich()
    mid = slice(3, 5)
    lags = [600.0, 1200.0, 2400.0]
    out = slab_finite_size(setup, {"frame_interval_fs": 16.0}, prof, 400.0, mid, lags)
    assert out["slit"] == "estimated"
    assert out["hydrodynamic_offset_A"] == pytest.approx(2.0, abs=0.15)
    assert out["height_A"] == pytest.approx(20.0, abs=0.3)
    assert out["density_kg_m3"] == pytest.approx(1050.0, rel=0.03)
    # one 38 ps run: η within 3 of its block errors (~40 %), and the errors not absurd
    assert abs(out["viscosity_Pa_s"] - ETA) < 3 * out["viscosity_err_Pa_s"]
    assert 0.05 * ETA < out["viscosity_err_Pa_s"] < ETA
    # the correction is the slit theory's at the profile's lags with that η
    delta, eta = out["hydrodynamic_offset_A"], out["viscosity_Pa_s"]
    ref = slab_finite_size_correction(
        prof.z - delta * 1e-10, np.array(lags) * 1e-15, cell_a=(LX * 1e-10, 0),
        cell_b=(0, LY * 1e-10), height=out["height_A"] * 1e-10, viscosity=eta,
        density=out["density_kg_m3"], temperature=400.0,
    )  # fmt: skip
    np.testing.assert_allclose(out["correction_1e-9_m2_per_s"], ref.total * 1e9, rtol=1e-9)
    w = out["species"]["H2O"]
    assert w["D_parallel_middle_cell_1e-9_m2_per_s"] == pytest.approx(3.25)
    assert w["D_parallel_middle_infinite_1e-9_m2_per_s"] == pytest.approx(
        3.25 - ref.total[mid].mean() * 1e9
    )
    line = " ".join(_finite_size_line({"cell_A": [LX, LY, LZ], "pbc": [True] * 3, "slab": out}))
    assert "H2O 3.25 (this cell) →" in line and "infinite film" in line


def test_slit_estimate_refuses_a_moving_slab_and_an_unfolded_film():
    setup, prof = _sandwich(move_slab=True, n_frames=200)
    out = slab_finite_size(setup, {"frame_interval_fs": 16.0}, prof, 400.0, slice(3, 5), [1, 2])
    assert out["slit"] == "not estimated" and "slab moved" in out["why"]
    setup["fold"] = None
    out = slab_finite_size(setup, {"frame_interval_fs": 16.0}, prof, 400.0, slice(3, 5), [1, 2])
    assert "not a folded sandwich" in out["why"]
    line = " ".join(_finite_size_line({"cell_A": [LX, LY, LZ], "pbc": [True] * 3, "slab": out}))
    assert "not estimated here (not a folded sandwich" in line
    setup, prof = _sandwich(n_frames=200)  # too short for the centre-of-mass MSD
    out = slab_finite_size(setup, {"frame_interval_fs": 16.0}, prof, 400.0, slice(3, 5), [1, 2])
    assert out["slit"] == "not estimated" and "gives no viscosity" in out["why"]


def test_remove_liquid_drift_leaves_each_molecules_own_diffusion():
    """Brownian molecules (known D) on top of a common sliding of the whole liquid: in the lab
    frame D∥ reads high, relative to the liquid's centre of mass it is D (up to 1/N)."""
    from multiscale.extract import ParallelDiffusionProfile
    from multiscale.pipeline.report import _finite_size_line
    from multiscale.pipeline.stages import remove_liquid_drift

    rng = np.random.default_rng(2)
    n_frames, n_mol, dt, d = 1200, 60, 10.0, 1e-4  # fs, Å²/fs
    steps = rng.normal(0.0, np.sqrt(2 * d * dt), (n_frames, n_mol, 2))
    own = np.cumsum(steps, axis=0)
    slide = np.cumsum(np.full((n_frames, 2), 0.02), axis=0)  # 0.02 Å per frame, ballistic
    frames = []
    for k in range(n_frames):
        xy = own[k] + slide[k]
        pos = np.column_stack([xy, np.full(n_mol, 6.0)])
        a = Atoms(
            ["Cu"] * 2 + ["O"] * n_mol,
            positions=np.vstack([[[0, 0, 0], [5, 5, 0]], pos]),
            cell=[LX, LY, LZ],
            pbc=True,
        )
        a.set_tags([1, 1] + [0] * n_mol)
        frames.append(a)
    kw = dict(bin_width=4.0, z_range=(4.0, 8.0), lags=(5, 10, 20), n_blocks=4)
    lab = ParallelDiffusionProfile(frames, "O", dt, **kw).run().results.D[0]
    fixed, info = remove_liquid_drift(frames)
    rel = ParallelDiffusionProfile(fixed, "O", dt, **kw).run().results.D[0]
    assert lab > 1.5 * d  # the sliding adds a ballistic (0.002 Å/fs × t)²: far above D
    assert rel == pytest.approx(d * (1 - 1 / n_mol), rel=0.1)
    np.testing.assert_array_equal(fixed[5].positions[:2], frames[5].positions[:2])
    assert info["liquid_com_net_A"] == pytest.approx(
        np.linalg.norm(slide[-1] - slide[0] + own[-1].mean(0) - own[0].mean(0)), rel=1e-9
    )
    text = " ".join(_finite_size_line({"cell_A": [LX, LY, LZ], "liquid_drift_removed": info}))
    assert "relative to the liquid's in-plane centre of mass" in text


def test_a_liquid_sliding_as_a_whole_gives_no_viscosity():
    setup, prof = _sandwich(n_frames=2400)
    for k, a in enumerate(setup["frames"]):  # every liquid atom drifts 0.05 Å per frame
        a.positions[4:, 0] += 0.05 * k
    out = slab_finite_size(setup, {"frame_interval_fs": 16.0}, prof, 400.0, slice(3, 5), [1, 2])
    assert out["slit"] == "not estimated" and "slides over the walls as a whole" in out["why"]
