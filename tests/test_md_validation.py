"""Validation quantities on synthetic frames with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc111
from ase.units import _k

from multiscale.md import compute_rdf
from multiscale.md.validation import (
    WATER_MOLAR_MASS,
    first_layer_height,
    goo_first_peak,
    self_diffusion,
    water_density,
    yeh_hummer_corrected,
)

AVOGADRO = 6.02214076e23


def _water_box(n_water: int, length: float, rng) -> Atoms:
    o = rng.uniform(0, length, (n_water, 3))
    h = np.concatenate([o + np.array([0.96, 0, 0]), o + np.array([-0.24, 0.93, 0])])
    return Atoms(f"O{n_water}H{2 * n_water}", positions=np.concatenate([o, h]),
                 cell=[length] * 3, pbc=True)  # fmt: skip


def test_water_density_counts_molecules_per_volume():
    rng = np.random.default_rng(0)
    frames = [_water_box(33, 10.0, rng) for _ in range(10)]
    rho = water_density(frames)
    exact = 33 * WATER_MOLAR_MASS / AVOGADRO / 1e-21  # g per cm³ of a 1000 Å³ box
    assert rho.value == pytest.approx(exact, rel=1e-12)
    assert rho.error == pytest.approx(0.0, abs=1e-12) and rho.unit == "g/cm³"
    # a window: oxygens placed in z in [2, 4) only, 20 per frame
    for a in frames:
        a.positions[:20, 2] = rng.uniform(2.0, 4.0, 20)
        a.positions[20:33, 2] = rng.uniform(5.0, 9.0, 13)
    win = water_density(frames, z_range=(2.0, 4.0))
    assert win.value == pytest.approx(20 * WATER_MOLAR_MASS / AVOGADRO / (100 * 2 * 1e-24))
    with pytest.raises(ValueError, match="z_range must have z_hi > z_lo"):
        water_density(frames, z_range=(4.0, 2.0))
    with pytest.raises(ValueError, match=r"n_blocks=5 needs .* 2 frames per block"):
        water_density(frames[:3])


def _lattice_frames(a0: float, sigma: float, n_frames: int, rng) -> list[Atoms]:
    g = np.arange(4) * a0
    base = np.array(np.meshgrid(g, g, g, indexing="ij")).reshape(3, -1).T
    cell = [4 * a0] * 3
    return [
        Atoms(f"O{len(base)}", positions=base + rng.normal(0, sigma, base.shape), cell=cell, pbc=1)
        for _ in range(n_frames)
    ]


def test_goo_first_peak_of_a_lattice():
    rng = np.random.default_rng(1)
    frames = _lattice_frames(2.8, 0.08, 12, rng)
    peak = goo_first_peak(frames, n_blocks=3)
    assert peak.position.value == pytest.approx(2.8, abs=0.03)
    assert 0 < peak.position.error < 0.03
    # the same from a precomputed g(r); the height: 6 neighbours at distances ~ N(a, 2σ²)
    # over the ideal-gas shell 4π a² / a³ gives 6 a / (4π √(2π) √2 σ)
    rdf = compute_rdf(frames, [("O", "O")], r_max=5.0, n_bins=100)
    again = goo_first_peak(rdf, n_blocks=3)
    assert again.position.value == pytest.approx(peak.position.value, abs=0.03)
    exact = 6 * 2.8 / (4 * np.pi * np.sqrt(2 * np.pi) * np.sqrt(2) * 0.08)
    assert again.height.value == pytest.approx(exact, rel=0.05)
    with pytest.raises(ValueError, match=r"no pair \('O', 'H'\)"):
        goo_first_peak(rdf, pair=("O", "H"))


def test_self_diffusion_of_a_random_walk_and_yeh_hummer():
    rng = np.random.default_rng(2)
    d_true, dt, n, length = 0.02, 10.0, 400, 20.0  # Å²/fs, fs, frames, Å
    steps = rng.normal(0, np.sqrt(2 * d_true * dt), (n, 60, 3))
    pos = np.cumsum(steps, axis=0)
    frames = [Atoms("O60", positions=p, cell=[length] * 3, pbc=True) for p in pos]
    res = self_diffusion(frames, "O", dt, 100.0, 1000.0, temperature_K=298.0,
                         viscosity_Pa_s=0.89e-3)  # fmt: skip
    d_si = d_true * 1e-5
    assert abs(res.D_pbc.value - d_si) < 4 * res.D_pbc.error
    expected = 2.837297 * _k * 298.0 / (6 * np.pi * 0.89e-3 * length * 1e-10)
    assert res.correction == pytest.approx(expected, rel=1e-9)
    assert res.D_corrected == pytest.approx(res.D_pbc.value + expected, rel=1e-12)
    assert res.box_length_m == pytest.approx(2e-9)
    plain = self_diffusion(frames, "O", dt, 100.0, 1000.0)
    assert plain.D_corrected is None and plain.D_pbc.value == res.D_pbc.value


def test_yeh_hummer_refuses_a_non_cubic_box():
    slab = Atoms("O", cell=[10.0, 10.0, 30.0], pbc=True)
    with pytest.raises(ValueError, match="cubic box only; this cell has edges"):
        yeh_hummer_corrected(2e-9, slab, 298.0, 0.89e-3)
    tilted = [[10.0, 0, 0], [5.0, 8.660254, 0], [0, 0, 10.0]]  # equal edges, 60°
    with pytest.raises(ValueError, match="cubic box only"):
        yeh_hummer_corrected(2e-9, tilted, 298.0, 0.89e-3)
    with pytest.raises(ValueError, match="periodic in x, y and z"):
        yeh_hummer_corrected(2e-9, Atoms("O", cell=[10] * 3, pbc=[1, 1, 0]), 298.0, 0.89e-3)
    with pytest.raises(ValueError, match="needs temperature_K"):
        frames = [Atoms("O", cell=[10] * 3, pbc=True)] * 4
        self_diffusion(frames, "O", 1.0, 1.0, 2.0, viscosity_Pa_s=0.89e-3)
    d, corr, box = yeh_hummer_corrected(2e-9, np.eye(3) * 10.0, 298.0, 0.89e-3)
    assert box == pytest.approx(1e-9) and d == pytest.approx(2e-9 + corr)


def test_first_layer_height_above_a_slab():
    rng = np.random.default_rng(3)
    slab = fcc111("Cu", size=(3, 4, 3), vacuum=0.0, orthogonal=True)
    top = slab.positions[:, 2].max()
    cell = slab.cell.array.copy()
    cell[2, 2] = top + 14.0
    frames = []
    for _ in range(20):
        xy = rng.uniform(0, 1, (30, 2)) @ cell[:2, :2]
        z = np.concatenate(
            [
                top + 2.4 + rng.normal(0, 0.1, 12),  # first layer
                top + 5.3 + rng.normal(0, 0.2, 10),  # second layer
                top + 12.5 + rng.normal(0, 0.1, 8),
            ]
        )  # under the periodic image
        water = Atoms("O30", positions=np.column_stack([xy, z]))  # fmt: skip
        a = slab + water
        a.set_cell(cell)
        a.pbc = True
        a.positions[:, 2] += 0.3 * rng.standard_normal()  # the whole cell drifts: no matter
        frames.append(a)
    res = first_layer_height(frames, metal="Cu", species="O")
    assert res.height.value == pytest.approx(2.4, abs=0.05)
    assert 0 < res.height.error < 0.05
    with pytest.raises(ValueError, match="no 'Pt' atom"):
        first_layer_height(frames, metal="Pt")
    with pytest.raises(ValueError, match=r"no O atom within 1\.0 Å"):
        first_layer_height(frames, max_height=1.0)
