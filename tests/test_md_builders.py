"""Builders: concentrations against the water volume, densities, geometry, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from multiscale.md import SALTS, build_electrolyte, build_interface, check_min_distance
from multiscale.md.builders import n_salt_for

NA = 6.02214076e23
WATER_G_MOL = 18.015


def water_volume_L(n_water: int, density: float = 0.997) -> float:
    return n_water * WATER_G_MOL / density / NA / 1000.0


@pytest.mark.parametrize(("salt", "conc", "n_water"), [("NaCl", 1.0, 200), ("CaCl2", 0.5, 330)])
def test_electrolyte_counts_follow_the_water_volume(salt, conc, n_water):
    atoms = build_electrolyte(salt, conc, n_water=n_water, seed=1)
    s = SALTS[salt]
    sym = np.array(atoms.get_chemical_symbols())
    n_salt = int(np.sum(sym == s.cation)) // s.nu_cation
    assert np.sum(sym == "O") == n_water and np.sum(sym == "H") == 2 * n_water
    assert np.sum(sym == s.anion) == s.nu_anion * n_salt
    # concentration within half a formula unit of the request, per litre of *water*
    v = water_volume_L(n_water)
    assert abs(n_salt / (NA * v) - conc) <= 0.5 / (NA * v)
    assert n_salt == round(conc * NA * v)
    assert atoms.get_initial_charges().sum() == 0  # neutral
    assert all(atoms.pbc)


def test_electrolyte_density_matches_experiment():
    # ~1 mol/kg NaCl(aq) at 25 °C: 1.0362 g/cm^3 (CRC Handbook)
    atoms = build_electrolyte("NaCl", 1.0, n_water=330, seed=2)
    density = atoms.get_masses().sum() / NA / (atoms.get_volume() * 1e-24)
    assert density == pytest.approx(1.0362, rel=0.01)
    pure = build_electrolyte("KCl", 0.0, n_water=64, seed=2)
    assert pure.get_masses().sum() / NA / (pure.get_volume() * 1e-24) == pytest.approx(0.997, 1e-3)


def test_molecules_intact_and_separated():
    atoms = build_electrolyte("LiCl", 2.0, n_water=64, seed=3)
    sym = np.array(atoms.get_chemical_symbols())
    i, j, d = neighbor_list("ijd", atoms, 1.2)
    # every O has exactly two H within 1.2 Å, at the ASE water geometry (0.969 Å)
    for o in np.flatnonzero(sym == "O"):
        partners = j[(i == o)]
        assert sorted(sym[partners]) == ["H", "H"]
        np.testing.assert_allclose(d[i == o], 0.9686, atol=1e-3)
    # no intermolecular contact below the placement distance
    i, j, d = neighbor_list("ijd", atoms, 1.5)
    o_of_h = {}
    for o in np.flatnonzero(sym == "O"):
        for h in j[(i == o) & (d < 1.2)]:
            o_of_h[h] = o
    mol = np.array([o_of_h.get(k, k) for k in range(len(atoms))])
    assert np.all(mol[i] == mol[j])


def test_same_seed_same_structure_other_seed_other_structure():
    a = build_electrolyte("NaCl", 1.0, n_water=32, seed=5)
    b = build_electrolyte("NaCl", 1.0, n_water=32, seed=5)
    c = build_electrolyte("NaCl", 1.0, n_water=32, seed=6)
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)


@pytest.mark.parametrize(
    ("metal", "facet", "nearest"), [("Cu", "fcc111", 2.553), ("Cu", "fcc100", 2.553),
                                    ("Fe", "bcc110", 2.486)],
)  # fmt: skip
def test_interface_geometry_and_water_density(metal, facet, nearest):
    atoms = build_interface(metal, facet, size=(4, 4), layers=4, water_thickness=12.0, seed=1)
    slab = atoms[atoms.get_tags() == 1]
    liquid = atoms[atoms.get_tags() == 0]
    assert len(slab) == 4 * 4 * 4 and set(slab.get_chemical_symbols()) == {metal}
    assert all(atoms.pbc)
    # metal nearest-neighbour distance is the bulk one (ASE reference lattice constants)
    _, _, d = neighbor_list("ijd", slab, 3.0)
    assert d.min() == pytest.approx(nearest, abs=2e-3)
    # water sits in its region above the slab; none closer than the gap minus a H bond length
    z_top = slab.positions[:, 2].max()
    assert liquid.positions[:, 2].min() > z_top + 2.5 - 1.0
    assert liquid.positions[:, 2].max() < atoms.cell[2, 2] - 2.5 + 1.0
    # water density in the water region, counting the volume the ions take
    n_water = liquid.get_chemical_symbols().count("O")
    area = np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))
    v_cm3 = area * 12.0 * 1e-24
    n_salt = atoms.info["n_salt"]
    v_water = v_cm3 - n_salt * SALTS["NaCl"].apparent_molar_volume / NA
    assert n_water * WATER_G_MOL / NA / v_water == pytest.approx(0.997, rel=0.03)
    assert n_salt == n_salt_for(1.0, n_water, "NaCl")


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="impossible: above its solubility"):
        build_electrolyte("NaCl", 8.0, n_water=64)
    with pytest.raises(ValueError, match="finite number >= 0"):
        build_electrolyte("NaCl", -1.0)
    with pytest.raises(ValueError, match="use at least n_water="):
        build_electrolyte("NaCl", 0.1, n_water=64)
    with pytest.raises(ValueError, match="unknown salt 'NaBr'"):
        build_electrolyte("NaBr", 1.0)
    with pytest.raises(ValueError, match="slab too thin: 2 layers"):
        build_interface("Cu", "fcc111", layers=2)
    with pytest.raises(ValueError, match=r"water_thickness=3\.0 Å is too thin"):
        build_interface("Cu", "fcc111", water_thickness=3.0)
    with pytest.raises(ValueError, match="unknown facet 'hcp0001'"):
        build_interface("Ru", "hcp0001")
    atoms = build_electrolyte("NaCl", 0.0, n_water=8)
    atoms.positions[3] = atoms.positions[0] + [0.2, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"overlap: 0\.200 Å apart"):
        check_min_distance(atoms)


# ------------------------------------------------ sandwich and wall geometries (issue #14)
def _liquid_density(atoms) -> float:
    """Liquid mass over the available volume (g/cm^3)."""
    m = atoms.get_masses()[atoms.get_tags() == 0].sum()
    return m / NA / (atoms.info["available_volume_A3"] * 1e-24)


@pytest.mark.parametrize("geometry", ["sandwich", "wall"])
def test_confined_builders_counts_density_no_overlap(geometry):
    from multiscale.md.builders import build_sandwich, build_wall_interface

    build = build_sandwich if geometry == "sandwich" else build_wall_interface
    atoms = build("Cu", "fcc111", size=(4, 4), layers=3, electrolyte_thickness=18.0,
                  concentration=2.0, seed=3)  # fmt: skip
    sym = np.array(atoms.get_chemical_symbols())
    n_w = atoms.info["n_water"]
    assert np.sum(sym == "Cu") == 48 and np.sum(sym == "O") == n_w
    assert np.sum(sym == "H") == 2 * n_w
    assert np.sum(sym == "Na") == np.sum(sym == "Cl") == atoms.info["n_salt"] >= 1
    assert atoms.info["n_salt"] == n_salt_for(2.0, n_w, "NaCl")
    # the water keeps 0.997 g/cm^3 in the available volume less the ions' apparent volume
    v_ions = atoms.info["n_salt"] * SALTS["NaCl"].apparent_molar_volume / NA  # cm^3
    v_water = atoms.info["available_volume_A3"] * 1e-24 - v_ions
    assert n_w * WATER_G_MOL / NA / v_water == pytest.approx(0.997, rel=0.02)
    # and the solution ~ 2 mol/kg NaCl(aq): 1.077 g/cm^3 (CRC Handbook)
    assert _liquid_density(atoms) == pytest.approx(1.077, rel=0.03)
    check_min_distance(atoms, 0.7)  # no overlaps, periodic images included
    assert all(atoms.pbc)
    top = atoms.info["surface_z_A"]
    liquid = atoms.positions[atoms.get_tags() == 0, 2]
    assert liquid.min() > top + 1.0
    lz = atoms.cell[2, 2]
    if geometry == "sandwich":
        # the electrolyte fills the space up to the periodic image of the slab: no vacuum
        assert lz == pytest.approx(top + 18.0)
        assert atoms.info["upper_surface_z_A"] == pytest.approx(lz)
        assert liquid.max() < lz - 1.0
    else:
        assert atoms.info["wall_z_A"] == pytest.approx(top + 18.0)
        assert liquid.max() < atoms.info["wall_z_A"]
        assert lz == pytest.approx(top + 18.0 + 8.0)


def test_sandwich_rejects_too_thin_electrolyte():
    from multiscale.md.builders import build_sandwich

    with pytest.raises(ValueError, match=r"electrolyte_thickness=7\.0 Å leaves"):
        build_sandwich(electrolyte_thickness=7.0)


@pytest.mark.parametrize("kind", ["harmonic", "lj93"])
def test_wall_forces_are_minus_the_energy_gradient(kind):
    from ase import Atoms
    from ase.calculators.lj import LennardJones

    from multiscale.md.builders import WallCalculator

    atoms = Atoms("Ar3", positions=[[0, 0, 9.5], [3.1, 0.2, 10.3], [0.3, 3.0, 10.6]],
                  cell=[12, 12, 30], pbc=True)  # fmt: skip
    calc = WallCalculator(LennardJones(sigma=3.0, epsilon=0.01, rc=8.0), z_wall=10.0, kind=kind)
    atoms.calc = calc
    f = atoms.get_forces()
    assert f[1, 2] < 0 and f[2, 2] < f[1, 2]  # pushed down, harder further in
    h = 1e-5
    for i in range(3):
        for c in range(3):
            p = atoms.positions.copy()
            p[i, c] += h
            atoms.positions = p
            ep = atoms.get_potential_energy()
            p[i, c] -= 2 * h
            atoms.positions = p
            em = atoms.get_potential_energy()
            p[i, c] += h
            atoms.positions = p
            assert f[i, c] == pytest.approx(-(ep - em) / (2 * h), abs=1e-6)
    # below the wall nothing changes
    lj = LennardJones(sigma=3.0, epsilon=0.01, rc=8.0)
    low = atoms.copy()
    low.positions[:, 2] -= 3.0
    ref = low.copy()
    ref.calc = lj
    low.calc = WallCalculator(lj, z_wall=10.0, kind=kind)
    assert low.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-12)


def test_wall_calculator_rejects_bad_kind():
    from ase.calculators.lj import LennardJones

    from multiscale.md.builders import WallCalculator

    with pytest.raises(ValueError, match="kind must be 'harmonic' or 'lj93'"):
        WallCalculator(LennardJones(), z_wall=10.0, kind="square")
