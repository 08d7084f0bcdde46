"""Concentration profiles, frame access, selections and input validation."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from ase.units import _Nav

from multiscale.extract import DensityProfile, as_frames, resolve_selection, unwrap_positions


def ideal_gas(n_frames=400, n_na=30, n_cl=60, lz=20.0, seed=3):
    """Uncorrelated uniform frames of Na and Cl in a 12×15×lz Å box."""
    rng = np.random.default_rng(seed)
    n = n_na + n_cl
    cell = np.array([12.0, 15.0, lz])
    return [
        Atoms(
            ["Na"] * n_na + ["Cl"] * n_cl,
            positions=rng.random((n, 3)) * cell,
            cell=cell,
            pbc=[True, True, False],
        )
        for _ in range(n_frames)
    ]


def test_uniform_gas_concentration_and_error_bars():
    frames = ideal_gas()
    an = DensityProfile(frames, {"Na+": "Na", "Cl-": [*range(30, 90)]}, bin_width=1.0).run()
    r = an.results
    vol_m3 = 12.0 * 15.0 * 20.0 * 1e-30
    for name, n in (("Na+", 30), ("Cl-", 60)):
        c_exact = n / vol_m3 / _Nav  # mol/m³
        pull = (r.concentration[name] - c_exact) / r.concentration_err[name]
        assert np.mean(pull**2) == pytest.approx(1.0, abs=0.5)  # errors calibrated
        # Poisson counting: sem = sqrt(mean count / frames) / (area dz)
        expected_err = np.sqrt(n / 20 / 400) / (12 * 15 * 1.0) * 1e30 / _Nav
        assert np.median(r.concentration_err[name]) == pytest.approx(expected_err, rel=0.2)
        # uncorrelated frames: statistical inefficiency ~1
        assert np.median(r.correlation_time[name]) < 1.0
        # conservation: the profile integrates to the number of atoms
        assert np.sum(r.number_density[name]) * 12 * 15 * 1.0 == pytest.approx(n, rel=1e-12)


def test_correlated_frames_give_larger_correlation_time():
    frames = ideal_gas(n_frames=100)
    repeated = [f for f in frames for _ in range(8)]  # every configuration held 8 frames
    r = DensityProfile(repeated, {"Na": "Na"}, bin_width=2.0, timestep=2.0).run().results
    tau = np.median(r.correlation_time["Na"])  # fs, τ_int of a block of 8 repeats is ~4 frames
    assert 4.0 < tau < 14.0


def test_reads_trajectory_files_like_memory(tmp_path):
    frames = ideal_gas(n_frames=40)
    for name in ("t.traj", "t.extxyz"):
        write(tmp_path / name, frames)
        a = DensityProfile(tmp_path / name, {"Na": "Na"}, bin_width=2.0).run().results
        b = DensityProfile(frames, {"Na": "Na"}, bin_width=2.0).run().results
        np.testing.assert_allclose(a.number_density["Na"], b.number_density["Na"], rtol=1e-12)
    from ase.io import Trajectory

    with Trajectory(tmp_path / "t.traj") as traj:  # an open ASE trajectory, with a progress bar
        c = DensityProfile(traj, {"Na": "Na"}, bin_width=2.0).run(progress=True).results
    np.testing.assert_allclose(c.number_density["Na"], b.number_density["Na"], rtol=1e-12)


def test_run_slicing():
    frames = ideal_gas(n_frames=100)
    an = DensityProfile(frames, {"Na": "Na"}, bin_width=2.0, timestep=1.0).run(10, 90, 2)
    assert an.n_frames == 40 and an.dt == 2.0
    manual = np.mean([np.histogram(f.positions[:30, 2], an.edges)[0] for f in frames[10:90:2]], 0)
    np.testing.assert_allclose(an.results.counts["Na"].mean(0), manual)


def test_bad_input_errors(tmp_path):
    frames = ideal_gas(n_frames=5)
    with pytest.raises(ValueError, match="no frames"):
        DensityProfile([], {"Na": "Na"})
    with pytest.raises(TypeError, match="single Atoms"):
        as_frames(frames[0])
    with pytest.raises(ValueError, match="does not exist"):
        as_frames(tmp_path / "missing.traj")
    mixed = [*frames, frames[0][:-1]]
    with pytest.raises(ValueError, match="frame 5 has 89 atoms but the first frame has 90"):
        DensityProfile(mixed, {"Na": "Na"}).run()
    with pytest.raises(ValueError, match="outside the cell"):
        DensityProfile(frames, {"Na": "Na"}, z_range=(-1.0, 10.0))
    with pytest.raises(ValueError, match="outside the cell"):
        DensityProfile(frames, {"Na": "Na"}, z_range=(5.0, 25.0))
    with pytest.raises(ValueError, match="increasing"):
        DensityProfile(frames, {"Na": "Na"}, z_range=(5.0, 5.0))
    with pytest.raises(ValueError, match="bin_width"):
        DensityProfile(frames, {"Na": "Na"}, bin_width=0)
    with pytest.raises(ValueError, match="no frames selected"):
        DensityProfile(frames, {"Na": "Na"}).run(start=10)
    with pytest.raises(TypeError, match="mapping"):
        DensityProfile(frames, "Na")
    tilted = [f.copy() for f in frames]
    for f in tilted:
        f.set_cell([[12, 0, 0], [0, 15, 0], [0, 3, 20]])
    with pytest.raises(ValueError, match="surface normal must be the z axis"):
        DensityProfile(tilted, {"Na": "Na"})
    slab = [f.copy() for f in frames]
    for f in slab:
        f.pbc = [True, False, False]
    with pytest.raises(ValueError, match="periodic in x and y"):
        DensityProfile(slab, {"Na": "Na"})


def test_selections():
    atoms = ideal_gas(n_frames=1)[0]
    assert resolve_selection(atoms, "Na").tolist() == list(range(30))
    assert resolve_selection(atoms, ["Na", "Cl"]).size == 90
    assert resolve_selection(atoms, np.array([5, 3, 3])).tolist() == [3, 5]
    with pytest.raises(ValueError, match="no atoms with symbols"):
        resolve_selection(atoms, "K")
    with pytest.raises(ValueError, match=r"atom indices must lie in \[0, 89\]"):
        resolve_selection(atoms, [0, 90])
    with pytest.raises(ValueError, match="empty selection"):
        resolve_selection(atoms, [])
    with pytest.raises(TypeError, match="symbol"):
        resolve_selection(atoms, [1.5])


def test_unwrap_in_a_triclinic_in_plane_cell(rng):
    """A random walk wrapped into a hexagonal cell unwraps to the original path."""
    cell = np.array([[10.0, 0, 0], [5.0, 8.660254, 0], [0, 0, 12.0]])
    steps = rng.normal(scale=0.8, size=(300, 4, 3))
    true = np.cumsum(steps, axis=0) + 5.0
    frac = true @ np.linalg.inv(cell)
    wrapped = (frac - np.floor(frac)) @ cell
    out = unwrap_positions(wrapped, cell, [True, True, True])
    np.testing.assert_allclose(out - out[0], true - true[0], atol=1e-9)
    # z not periodic: left alone
    out2 = unwrap_positions(wrapped, cell, [True, True, False])
    np.testing.assert_allclose(out2[:, :, 2], wrapped[:, :, 2])
