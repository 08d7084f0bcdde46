"""g(r): normalisation against exact answers, and the block permutation test's calibration,
power, and behaviour on real MD trajectories (Lennard-Jones argon liquid)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.lj import LennardJones
from ase.lattice.cubic import FaceCenteredCubic
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from scipy.signal import lfilter

from multiscale.md import block_permutation_test, compare_rdf, compute_rdf

AR = ("Ar", "Ar")


def test_simple_cubic_lattice_coordination_numbers_are_exact():
    a = 3.0
    atoms = Atoms("Po", positions=[[0, 0, 0]], cell=[a, a, a], pbc=True).repeat(4)
    res = compute_rdf([atoms], [("Po", "Po")], r_max=6.0, n_bins=600)
    rho = len(atoms) / atoms.get_volume()
    shell = 4 / 3 * np.pi * np.diff(res.edges**3)
    running = np.cumsum(rho * res.g[("Po", "Po")] * shell * (len(atoms) - 1) / len(atoms))
    # neighbours within r: 6 at a, 12 more at a√2, 8 more at a√3
    for r, n in [(1.1 * a, 6), (1.5 * a, 18), (1.8 * a, 26)]:
        assert running[np.searchsorted(res.r, r)] == pytest.approx(n, abs=1e-9)


def test_ideal_gas_gives_one_for_like_and_unlike_pairs():
    rng = np.random.default_rng(4)
    frames = []
    for _ in range(40):
        symbols = ["Na"] * 150 + ["Cl"] * 100
        atoms = Atoms(symbols, positions=rng.uniform(0, 15.0, (250, 3)), cell=[15.0] * 3, pbc=True)
        frames.append(atoms)
    res = compute_rdf(frames, [("Na", "Na"), ("Na", "Cl")], r_max=7.0, n_bins=14, n_blocks=10)
    for pair in res.samples:
        g, err = res.g[pair][2:], res.g_err[pair][2:]  # skip the nearly empty first bins
        assert np.all(np.abs(g - 1) < 4.5 * err)
        assert np.mean(g) == pytest.approx(1.0, abs=0.02)


def ar1(rng: np.random.Generator, n: int, phi: float, shift: float = 0.0) -> np.ndarray:
    """Stationary AR(1) series, 5 independent features, unit variance, lag-1 correlation phi."""
    e = rng.standard_normal((n, 5)) * np.sqrt(1 - phi**2)
    e[0] /= np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], e, axis=0) + shift


def test_block_test_has_its_nominal_size_on_correlated_data_and_naive_test_does_not():
    rng = np.random.default_rng(1)
    phi = 0.9  # integrated correlation time ~9.5 samples; blocks of 200 samples
    p_block = [
        block_permutation_test(ar1(rng, 2000, phi), ar1(rng, 2000, phi), 10, 200, seed=r)[1]
        for r in range(1000)
    ]
    rate = np.mean(np.array(p_block) < 0.05)
    assert 0.03 <= rate <= 0.07  # 5 % ± 3 binomial standard deviations
    # blocks of 2 samples ignore the correlation: far too many false alarms
    p_naive = [
        block_permutation_test(ar1(rng, 2000, phi), ar1(rng, 2000, phi), 1000, 100, seed=r)[1]
        for r in range(100)
    ]
    assert np.mean(np.array(p_naive) < 0.05) > 0.3
    # and the block test still has power against a shift of 0.3 standard deviations
    p_shift = [
        block_permutation_test(ar1(rng, 2000, phi), ar1(rng, 2000, phi, 0.3), 10, 200, seed=r)[1]
        for r in range(50)
    ]
    assert np.mean(np.array(p_shift) < 0.05) > 0.8


@pytest.fixture(scope="module")
def argon_melt() -> Atoms:
    """108 LJ argon atoms at rho* = 0.79, melted at 600 K and brought to 120 K (T* = 1.0)."""
    atoms = FaceCenteredCubic("Ar", size=(3, 3, 3), latticeconstant=5.85)
    atoms.calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=7.5, smooth=True)
    rng = np.random.default_rng(0)
    thermalize_momenta(atoms, 600.0, rng=rng)
    for temp in (600.0, 120.0):
        Langevin(atoms, 10 * units.fs, temperature_K=temp, friction=0.01 / units.fs,
                 fixcm=False, rng=rng).run(150)  # fmt: skip
    return atoms


def argon_rdf(start: Atoms, seed: int, sigma: float = 3.4):
    atoms = start.copy()
    atoms.calc = LennardJones(sigma=sigma, epsilon=0.0104, rc=7.5, smooth=True)
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, 120.0, rng=rng)
    dyn = Langevin(atoms, 10 * units.fs, temperature_K=120.0, friction=0.01 / units.fs,
                   fixcm=False, rng=rng)  # fmt: skip
    dyn.run(100)  # re-equilibrate (1 ps)
    frames = []
    for _ in range(200):  # 10 ps, a frame every 50 fs
        dyn.run(5)
        frames.append(atoms.copy())
    return compute_rdf(frames, [AR], r_max=7.0, n_bins=56, n_blocks=10)


def test_same_potential_passes_and_perturbed_potential_is_rejected(argon_melt, tmp_path):
    a = argon_rdf(argon_melt, seed=1)
    b = argon_rdf(argon_melt, seed=2)
    c = argon_rdf(argon_melt, seed=3, sigma=3.4 * 1.02)  # σ 2 % larger
    same = compare_rdf(a, b, AR)
    diff = compare_rdf(a, c, AR)
    assert not same.reject and same.p_value > 0.05, same.verdict
    assert diff.reject and diff.p_value < 0.05, diff.verdict
    assert "differ" in diff.verdict and "consistent" in same.verdict
    # a liquid: first peak near 1.1 σ, height ~2.5-3
    g = a.g[AR]
    assert 3.5 < a.r[np.argmax(g)] < 3.95 and 2.2 < g.max() < 3.2
    # block error bars describe the run-to-run scatter of independent trajectories
    mask = g > 0.1
    z = (a.g[AR] - b.g[AR])[mask] / np.hypot(a.g_err[AR], b.g_err[AR])[mask]
    assert 0.5 < z.std() < 2.0
    a.plot(tmp_path / "gr.png")
    assert (tmp_path / "gr.png").stat().st_size > 1000


def test_bad_input_gives_clear_errors():
    atoms = Atoms("Ar2", positions=[[0, 0, 0], [2, 0, 0]], cell=[6, 6, 6], pbc=True)
    res = compute_rdf([atoms] * 4, [AR], r_max=3.0, n_bins=10, n_blocks=2)
    with pytest.raises(ValueError, match="not computed in both"):
        compare_rdf(res, res, ("Ar", "Ne"))
    other = compute_rdf([atoms] * 4, [AR], r_max=3.0, n_bins=12, n_blocks=2)
    with pytest.raises(ValueError, match="different bins"):
        compare_rdf(res, other, AR)
    with pytest.raises(ValueError, match="use more frames or fewer blocks"):
        compare_rdf(res, res, AR, n_blocks=10)
    with pytest.raises(ValueError, match="periodic frames"):
        compute_rdf([Atoms("Ar2", positions=[[0, 0, 0], [2, 0, 0]])], [AR])
    with pytest.raises(ValueError, match="pair Ar-Ne: not enough Ar/Ne atoms"):
        compute_rdf([atoms], [("Ar", "Ne")])
