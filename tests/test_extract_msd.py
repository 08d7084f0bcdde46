"""Bulk diffusion: MSD, Einstein relation with GLS, Yeh–Hummer, MDAnalysis as reference."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units

from multiscale.extract import (
    MeanSquaredDisplacement,
    einstein_diffusion,
    yeh_hummer_correction,
)


def test_constant_velocity_gives_ballistic_msd():
    """x(t) = x0 + v t wrapped into a hexagonal cell: MSD(τ) = |v|² τ² exactly."""
    cell = [[9.0, 0, 0], [4.5, 7.794229, 0], [0, 0, 11.0]]
    rng = np.random.default_rng(0)
    x0 = rng.random((6, 3)) * 5
    v = rng.normal(scale=0.4, size=(6, 3))  # Å/fs: up to ~1 Å per frame, many wraps
    dt = 1.0
    frames = []
    for k in range(60):
        a = Atoms("Ar6", positions=x0 + v * k * dt, cell=cell, pbc=True)
        a.wrap()
        frames.append(a)
    for dims, cols in (("xyz", [0, 1, 2]), ("xy", [0, 1]), ("z", [2])):
        r = MeanSquaredDisplacement(frames, "Ar", timestep=dt, dims=dims).run().results
        expected = np.mean(np.sum(v[:, cols] ** 2, axis=1)) * r.lagtimes**2
        np.testing.assert_allclose(r.msd, expected, rtol=1e-9, atol=1e-9)


def test_gls_einstein_fit_on_free_brownian_motion():
    """Free 3D Brownian particles: D within its error bar, error bar calibrated."""
    rng = np.random.default_rng(11)
    d_true, dt, n, t = 3e-4, 10.0, 200, 400
    pos = np.cumsum(rng.normal(scale=np.sqrt(2 * d_true * dt), size=(t, n, 3)), axis=0)
    frames = [Atoms(f"Ar{n}", positions=p, cell=[30.0] * 3, pbc=True) for p in pos]
    msd = MeanSquaredDisplacement(frames, "Ar", timestep=dt).run()
    fits = [einstein_diffusion(msd, 100.0, 1000.0)]
    assert fits[0].method == "gls"
    fit = fits[0]
    assert abs(fit.D - d_true) < 3 * fit.D_err
    assert fit.D_err / d_true < 0.05
    assert fit.D_si == pytest.approx(fit.D * 1e-5)
    # an error bar of a block of independent repeats: std of the D's over 6 sub-ensembles
    ds, errs = [], []
    for k in range(6):
        sub = [
            Atoms("Ar30", positions=p[30 * k : 30 * k + 30], cell=[30.0] * 3, pbc=True) for p in pos
        ]
        f = einstein_diffusion(MeanSquaredDisplacement(sub, "Ar", timestep=dt).run(), 100, 1000)
        ds.append(f.D)
        errs.append(f.D_err)
    # GLS error bar of a 30-particle subset vs the observed scatter (within a factor 2)
    assert 0.5 < np.mean(errs) / np.std(ds, ddof=1) < 2.0


@pytest.fixture(scope="module")
def lj_liquid():
    """108 Lennard-Jones argon atoms, liquid density, 120 K, ASE MD (unwrapped output)."""
    from ase.calculators.lj import LennardJones
    from ase.lattice.cubic import FaceCenteredCubic
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    atoms = FaceCenteredCubic("Ar", size=(3, 3, 3), latticeconstant=5.8)
    atoms.calc = LennardJones(sigma=3.405, epsilon=0.0104, rc=8.0, smooth=True)
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    Langevin(
        atoms,
        5 * units.fs,
        temperature_K=120,
        friction=0.02 / units.fs,
        rng=np.random.default_rng(1),
        fixcm=False,
    ).run(200)  # melt and cool
    frames = []
    dyn = VelocityVerlet(atoms, 5 * units.fs)
    dyn.attach(lambda: frames.append(atoms.copy()), interval=4)
    dyn.run(1600)
    return frames  # 401 frames, 20 fs apart


def test_bulk_diffusion_agrees_with_mdanalysis(lj_liquid):
    import MDAnalysis as mda
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.coordinates.memory import MemoryReader

    dt = 20.0
    unwrapped = np.array([f.positions for f in lj_liquid])
    u = mda.Universe.empty(108, trajectory=True)
    u.load_new(unwrapped, format=MemoryReader, dt=dt / 1000.0)  # MDAnalysis time: ps
    ref = EinsteinMSD(u, select="all", msd_type="xyz", fft=True).run()

    wrapped = []
    for f in lj_liquid:  # our analysis gets wrapped positions and must unwrap them
        g = f.copy()
        g.wrap()
        wrapped.append(g)
    assert np.abs(wrapped[-1].positions - unwrapped[-1]).max() > 5  # wrapping did happen
    ours = MeanSquaredDisplacement(wrapped, "Ar", timestep=dt).run()
    # MDAnalysis keeps coordinates in float32: agreement to its precision
    np.testing.assert_allclose(ours.results.msd, ref.results.timeseries, rtol=1e-6, atol=1e-8)

    # D: MDAnalysis docs' recipe (ordinary least squares on the mean MSD) vs our GLS fit
    from scipy.stats import linregress

    lag = ours.results.lagtimes
    window = (lag >= 800) & (lag <= 2000)  # past the caging regime
    lr = linregress(lag[window], ref.results.timeseries[window])
    d_mda = lr.slope / 6
    ols = einstein_diffusion(ours, 800.0, 2000.0, n_points=61, method="ols")
    assert ols.D == pytest.approx(d_mda, rel=1e-6)  # same estimator, same number
    fit = einstein_diffusion(ours, 800.0, 2000.0)  # GLS: different weights, same physics
    assert abs(fit.D - d_mda) < 2 * np.hypot(fit.D_err, ols.D_err)
    assert fit.D == pytest.approx(d_mda, rel=0.1)
    # liquid argon near its triple point: D ~ 2-4e-9 m²/s
    assert 1e-9 < fit.D_si < 6e-9


def test_yeh_hummer_correction_value():
    from scipy.constants import Boltzmann, pi

    d = yeh_hummer_correction(2.0e-9, box_length=3e-9, viscosity=0.89e-3, temperature=298.15)
    assert d - 2.0e-9 == pytest.approx(2.837297 * Boltzmann * 298.15 / (6 * pi * 0.89e-3 * 3e-9))
    # the correction is about 0.23e-9 m²/s for water in a 3 nm box
    assert d - 2.0e-9 == pytest.approx(0.232e-9, rel=0.01)
    with pytest.raises(ValueError, match="viscosity must be > 0"):
        yeh_hummer_correction(2e-9, 3e-9, 0.0, 300)


def test_msd_input_errors():
    frames = [Atoms("Ar2", positions=np.zeros((2, 3)), cell=[5] * 3, pbc=True)] * 10
    with pytest.raises(ValueError, match="dims"):
        MeanSquaredDisplacement(frames, "Ar", timestep=1.0, dims="w")
    msd = MeanSquaredDisplacement(frames, "Ar", timestep=1.0)
    with pytest.raises(ValueError, match="run the MeanSquaredDisplacement"):
        einstein_diffusion(msd, 1.0, 5.0)
    msd.run()
    with pytest.raises(ValueError, match="fit window"):
        einstein_diffusion(msd, 5.0, 50.0)
