"""Fixed-charge water models: per-frame molecules, whole across PBC, TIP4P/2005 M sites."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from multiscale.extract import ChargeDensityProfile
from multiscale.extract.charges import (
    WATER_MODEL_INFO,
    WATER_MODELS,
    BrokenWaterError,
    charge_sites,
    find_water_molecules,
    m_site_positions,
)

R_OH, THETA = 0.9572, np.deg2rad(104.52)  # TIP4P/2005 (and TIP3P) geometry
DEBYE = 0.20819434  # e·Å


def water(o=(5.0, 5.0, 5.0), axis=(0.0, 0.0, 1.0), plane=(1.0, 0.0, 0.0)) -> np.ndarray:
    """O, H, H positions of a rigid water whose H–O–H bisector points along ``axis``."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    p = np.asarray(plane, float) - np.dot(plane, a) * a
    p /= np.linalg.norm(p)
    o = np.asarray(o, float)
    c, s = R_OH * np.cos(THETA / 2), R_OH * np.sin(THETA / 2)
    return np.array([o, o + c * a + s * p, o + c * a - s * p])


def test_published_charges_are_neutral_and_cited():
    assert WATER_MODELS["SPC/E"] == {"O": -0.8476, "H": 0.4238}
    assert WATER_MODELS["TIP3P"] == {"O": -0.834, "H": 0.417}
    assert WATER_MODELS["TIP4P/2005"] == {"O": 0.0, "H": 0.5564, "M": -1.1128}
    for name, q in WATER_MODELS.items():
        assert q["O"] + 2 * q["H"] + q.get("M", 0.0) == pytest.approx(0.0, abs=1e-12), name
    assert "Berendsen" in WATER_MODEL_INFO["SPC/E"].reference
    assert "Jorgensen" in WATER_MODEL_INFO["TIP3P"].reference
    assert "Abascal" in WATER_MODEL_INFO["TIP4P/2005"].reference


def test_tip4p2005_m_site_geometry_and_dipole():
    atoms = Atoms("OH2", positions=water(axis=(1.0, 2.0, -0.5), plane=(0, 0, 1)), cell=[10] * 3)
    cs = charge_sites(atoms, {}, "TIP4P/2005")
    assert len(cs.charges) == 4 and cs.atom[-1] == -1
    o, h1, h2, m = cs.positions
    assert np.linalg.norm(m - o) == pytest.approx(0.1546, abs=1e-12)
    bisector = (h1 - o) / R_OH + (h2 - o) / R_OH
    cos = np.dot(m - o, bisector) / (0.1546 * np.linalg.norm(bisector))
    assert cos == pytest.approx(1.0, abs=1e-12)  # on the bisector, towards the H
    mu = cs.charges @ (cs.positions - o)
    # TIP4P/2005's published dipole moment is 2.305 D (Abascal & Vega 2005, Table I)
    assert np.linalg.norm(mu) / DEBYE == pytest.approx(2.305, abs=1e-3)
    np.testing.assert_allclose(m_site_positions(o[None], h1[None], h2[None], 0.1546)[0], m)


def test_molecules_found_per_frame_and_made_whole_across_pbc():
    # water split across the x boundary of a 6 Å cell; H order scrambled
    w1 = water(o=(5.9, 3.0, 3.0), axis=(1, 0, 0), plane=(0, 1, 0))
    w2 = water(o=(3.0, 3.0, 3.0), axis=(0, 0, -1))
    pos = np.vstack([w1[0], w2[0], w2[2], w1[1], w2[1], w1[2]])
    atoms = Atoms("OOHHHH", positions=pos, cell=[6, 6, 6], pbc=True)
    atoms.wrap()
    mol = find_water_molecules(atoms)
    assert [[m[0], *sorted(m[1:])] for m in mol.tolist()] == [[0, 3, 5], [1, 2, 4]]
    cs = charge_sites(atoms, {}, "SPC/E")
    for i in (0, 1):
        sites = cs.molecule == i
        d = np.linalg.norm(cs.positions[sites] - cs.positions[i], axis=1)
        assert d.max() < 1.0  # whole: no H six Å away
    mu = cs.charges[cs.molecule == 0] @ cs.positions[cs.molecule == 0]
    assert mu[0] == pytest.approx(2 * 0.4238 * R_OH * np.cos(THETA / 2), abs=1e-12)


def test_dissociated_or_foreign_atoms_are_refused():
    w = water()
    atoms = Atoms("OH2", positions=[w[0], w[1], w[2] + [0, 0, 2.0]], cell=[10] * 3)
    # a broken water is the typed BrokenWaterError (frames analyses may skip) ...
    with pytest.raises(BrokenWaterError, match="O atom 0 has no two H within oh_cutoff"):
        find_water_molecules(atoms)
    with pytest.raises(BrokenWaterError, match="are not water"):
        find_water_molecules(Atoms("OH", positions=w[:2], cell=[10] * 3))
    atoms = Atoms("OH2Na", positions=[*water(), (1, 1, 1)], cell=[10] * 3)
    # ... a bad input is a plain ValueError that no analysis may skip
    with pytest.raises(ValueError, match=r"no charge given for elements \['Na'\]") as info:
        charge_sites(atoms, {}, "SPC/E")
    assert not isinstance(info.value, BrokenWaterError)
    with pytest.raises(ValueError, match="O charge given twice"):
        charge_sites(atoms, {"Na": 1, "O": -1}, "SPC/E")
    with pytest.raises(ValueError, match="unknown water model: water_model='TIP5P'"):
        charge_sites(atoms, {"Na": 1}, "TIP5P")


def test_charge_density_profile_uses_m_sites():
    frames = []
    for k in range(3):
        w = water(o=(2.0 + k, 3.0, 10.0), axis=(0, 0, 1))
        frames.append(Atoms("OH2", positions=w, cell=[8, 8, 20], pbc=True))
    r = ChargeDensityProfile(frames, {}, water_model="TIP4P/2005", bin_width=0.01).run().results
    area = 64.0
    # the M charge sits 0.1546 Å above O (bisector along +z)
    k_m = np.argmin(np.abs(r.z - (10.0 + 0.1546)))
    assert r.charge_density[k_m] * area * 0.01 == pytest.approx(-1.1128, rel=1e-9)
    dipole = np.sum(r.charge_density * r.z) * 0.01 * area
    mu_z = 2 * 0.5564 * R_OH * np.cos(THETA / 2) - 1.1128 * 0.1546
    assert dipole == pytest.approx(mu_z, abs=0.02)


def test_molecules_found_in_a_skewed_cell_and_without_pbc():
    w1 = water(o=(0.3, 3.0, 3.0), axis=(-1, 0, 0), plane=(0, 1, 0))  # H across x = 0
    w2 = water(o=(3.0, 3.0, 3.0), axis=(0, 0, -1))
    atoms = Atoms("OOH4", positions=np.vstack([w1[0], w2[0], w1[1:], w2[1:]]), pbc=True)
    atoms.cell = [[6.0, 0.0, 0.0], [1.5, 6.0, 0.0], [0.0, 0.0, 6.0]]
    atoms.wrap()
    mol = find_water_molecules(atoms)
    assert [[m[0], *sorted(m[1:])] for m in mol.tolist()] == [[0, 2, 3], [1, 4, 5]]
    cs = charge_sites(atoms, {}, "SPC/E")
    assert np.abs(cs.positions[2:4] - cs.positions[0]).max() < 1.0  # made whole
    atoms.pbc = False
    atoms.positions = np.vstack([w1[0], w2[0], w1[1:], w2[1:]])
    assert find_water_molecules(atoms).shape == (2, 3)
