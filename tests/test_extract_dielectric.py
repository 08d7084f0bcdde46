"""ε∥(z), ε⊥⁻¹(z) from polarization fluctuations: MAICoS cross-check and a bulk dipole fluid."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.units import kB

from multiscale.extract.dielectric import (
    DielectricProfile,
    fluctuation_epsilon,
    mdanalysis_universe,
)
from multiscale.extract.electrostatics import EPS0

R_OH, THETA = 0.9572, np.deg2rad(104.52)
Q_H = 0.4238  # SPC/E
MU = 2 * Q_H * R_OH * np.cos(THETA / 2)  # e·Å, dipole of one SPC/E charge set on this geometry
T = 300.0


def random_water(rng: np.random.Generator, o: np.ndarray) -> list[np.ndarray]:
    """A rigid water at O position o with a uniformly random orientation."""
    a = rng.normal(size=3)
    a /= np.linalg.norm(a)
    p = rng.normal(size=3)
    p -= p @ a * a
    p /= np.linalg.norm(p)
    c, s = R_OH * np.cos(THETA / 2), R_OH * np.sin(THETA / 2)
    return [o, o + c * a + s * p, o + c * a - s * p]


def frames_of(n_frames: int, sites: np.ndarray, cell: list[float], seed: int) -> list[Atoms]:
    """Independent, randomly oriented waters on jittered ``sites`` (a dipole ideal gas)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_frames):
        pos = []
        for o in sites:
            pos += random_water(rng, o + rng.uniform(-0.2, 0.2, 3))
        atoms = Atoms("OH2" * len(sites), positions=pos, cell=cell, pbc=True)
        out.append(atoms)
    return out


def slab_sites() -> np.ndarray:
    g = 2.2 + 2.8 * np.arange(3)
    return np.array([(x, y, z) for z in (11.5, 15.0, 18.5) for y in g for x in g])


@pytest.mark.parametrize(("boundary", "is_3d"), [("slab", False), ("tinfoil", True)])
def test_profiles_equal_maicos_dielectric_planar(boundary, is_3d):
    from maicos import DielectricPlanar

    frames = frames_of(64, slab_sites(), [10.0, 10.0, 30.0], seed=3)
    ours = DielectricProfile(frames, {}, T, boundary=boundary, bin_width=1.0).run().results
    universe = mdanalysis_universe(frames, {})
    logging.getLogger("maicos").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = DielectricPlanar(
            universe.atoms,
            temperature=T,
            bin_width=1.0,
            vcutwidth=0.001,
            is_3d=is_3d,
            unwrap=False,
        ).run()
    np.testing.assert_allclose(ours.z - 15.0, ref.results.bin_pos, atol=1e-12)  # MAICoS: centred
    # ε⊥: same estimator; differences are MDAnalysis's float32 positions only
    scale_perp = np.abs(ref.results.eps_perp).max()
    np.testing.assert_allclose(ours.eps_perp_inv - 1, ref.results.eps_perp, atol=1e-5 * scale_perp)
    # ε∥: exact molecular dipoles vs MAICoS's virtual cuts every 0.001 Å
    scale_par = np.abs(ref.results.eps_par).max()
    assert scale_par > 10  # a non-trivial profile
    np.testing.assert_allclose(ours.eps_par - 1, ref.results.eps_par, atol=1e-3 * scale_par)


def test_bulk_dipole_fluid_gives_kirkwood_neumann_epsilon():
    side = 10.0
    g = side / 3 * (np.arange(3) + 0.5)
    sites = np.array([(x, y, z) for z in g for y in g for x in g])
    frames = frames_of(400, sites, [side] * 3, seed=5)
    volume = side**3
    an = DielectricProfile(frames, {}, T, boundary="tinfoil", bin_width=1.0).run()
    r = an.results
    eps, err = fluctuation_epsilon(r.dipole, volume, T)
    # independent dipoles: ε − 1 = N μ² / (3 V ε0 kT)
    exact = 1.0 + len(sites) * MU**2 / (3 * volume * EPS0 * kB * T)
    assert 0 < err < 0.15 * (exact - 1)
    assert abs(eps - exact) < 3 * err
    # the profile is the local resolution of the same fluctuation: its bin average is the
    # Neumann formula restricted to the in-plane components
    par = 1.0 + 0.5 * r.dipole[:, :2].var(axis=0).sum() / (volume * EPS0 * kB * T)
    assert np.mean(r.eps_par) == pytest.approx(par, rel=1e-9)
    assert abs(np.mean(r.eps_par) - exact) < 4 * np.sqrt(1.5) * err
    occupied = r.eps_par > 1.0
    assert occupied.sum() >= 3 and np.all(r.eps_par_err[occupied] > 0)
    # explicit edges equal to the default bins give the same profile
    same = DielectricProfile(frames, {}, T, boundary="tinfoil", edges=an.edges).run().results
    np.testing.assert_array_equal(same.eps_par, r.eps_par)
    np.testing.assert_array_equal(same.eps_perp_inv, r.eps_perp_inv)


def test_dielectric_input_is_checked():
    frames = frames_of(4, slab_sites()[:3], [10.0, 10.0, 30.0], seed=1)
    with pytest.raises(ValueError, match='boundary must be "slab" or "tinfoil"'):
        DielectricProfile(frames, {}, T, boundary="ewald")
    with pytest.raises(ValueError, match="too few for n_blocks=8"):
        DielectricProfile(frames, {}, T).run()
    with pytest.raises(ValueError, match="edges must be at least two finite, increasing"):
        DielectricProfile(frames, {}, T, edges=[0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="temperature must be a finite number > 0 K"):
        DielectricProfile(frames, {}, -1.0)
    with pytest.raises(ValueError, match="dipoles must have shape"):
        fluctuation_epsilon(np.zeros((10, 2)), 1000.0, T)
