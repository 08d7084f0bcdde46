"""Regions: weights from distances, whole molecules, minimum image in skewed cells, links."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from coupling import PySCFCalculator, Regions, get_switching
from coupling.regions import BUFFER, CORE, ML, SHELL


def water_chain(n: int, spacing: float) -> Atoms:
    """n waters along x, O–O distance ``spacing`` (Å)."""
    atoms = Atoms()
    for k in range(n):
        w = molecule("H2O")
        w.translate([k * spacing, 0.0, 0.0])
        atoms += w
    return atoms


def test_weights_follow_distance_and_molecules_share_one(water_trimer):
    regions = Regions([0], r_core=1.0, r_switch=2.0, r_buffer=1.0)
    state = regions.update(water_trimer)
    # independent reference: nearest-atom distance of each molecule to atom 0
    d = water_trimer.get_all_distances()[0]
    s = get_switching("quintic")
    for mol in ([0, 1, 2], [3, 4, 5], [6, 7, 8]):
        dm = d[mol].min()
        expected = 1.0 if dm <= 1.0 else float(s((dm - 1.0) / 2.0))
        np.testing.assert_allclose(state.weights[mol], expected)
        assert len(set(state.labels[mol])) == 1  # never cut
    np.testing.assert_array_equal(
        state.molecule_ids[[0, 3, 6]] != state.molecule_ids[[1, 4, 7]], [False, False, False]
    )


def test_labels_and_cluster_membership():
    atoms = water_chain(6, 3.0)  # molecules 0..5 at O–O 0, 3, 6, ... Å
    regions = Regions([0], r_core=0.5, r_switch=3.0, r_buffer=3.0)
    state = regions.update(atoms)
    d = atoms.get_distances(0, range(len(atoms)))
    by_mol = [d[3 * k : 3 * k + 3].min() for k in range(6)]
    for k, dm in enumerate(by_mol):
        lab = state.labels[3 * k]
        if dm <= 0.5:
            assert lab == CORE
        elif dm < 3.5:
            assert lab == SHELL
        elif dm < 6.5:
            assert lab == BUFFER
        else:
            assert lab == ML
    np.testing.assert_array_equal(state.cluster, np.flatnonzero(state.labels != ML))


def test_atoms_mode_caps_cut_bonds_and_keeps_hydrogens():
    ethane = molecule("C2H6")
    regions = Regions([0], r_core=0.5, r_switch=0.5, molecules=False)
    state = regions.update(ethane)
    # carbon 0 keeps its three hydrogens (bonds to H are never cut)
    np.testing.assert_array_equal(state.cluster, [0, 2, 3, 4])
    cluster = regions.carve(ethane, state.cluster)
    assert cluster.n_links == 1
    np.testing.assert_array_equal(cluster.link_pairs, [[0, 1]])
    link = cluster.atoms.positions[-1]
    assert cluster.atoms[-1].symbol == "H"
    # on the C–C bond, at C–H = g * C–C with g = (R_C + R_H) / (2 R_C)
    cc = ethane.positions[1] - ethane.positions[0]
    frac = np.dot(link - ethane.positions[0], cc) / np.dot(cc, cc)
    assert np.linalg.norm(np.cross(link - ethane.positions[0], cc)) < 1e-12
    assert frac == pytest.approx((0.76 + 0.31) / (2 * 0.76))
    assert np.linalg.norm(link - ethane.positions[0]) == pytest.approx(1.08, abs=0.02)


def test_link_force_redistribution_is_the_chain_rule():
    """Scattered cluster forces are minus the FD gradient of E_cluster(system positions)."""
    ethane = molecule("C2H6")
    regions = Regions([0], r_core=0.5, r_switch=0.5, molecules=False)
    state = regions.update(ethane)
    qm = PySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-12, guess="none")

    def energy(atoms):
        c = regions.carve(atoms, state.cluster)
        c.atoms.calc = qm
        return c.atoms.get_potential_energy()

    cluster = regions.carve(ethane, state.cluster)
    cluster.atoms.calc = qm
    forces = cluster.scatter_forces(cluster.atoms.get_forces(), len(ethane))
    assert np.abs(forces[1]).max() > 0.1  # the outside carbon receives g * F_link
    h = 1e-3
    for i in (0, 1):  # inside and outside atom of the cut bond
        for x in range(3):
            a = ethane.copy()
            a.positions[i, x] += h
            ep = energy(a)
            a.positions[i, x] -= 2 * h
            em = energy(a)
            assert -(ep - em) / (2 * h) == pytest.approx(forces[i, x], abs=2e-4)


def test_minimum_image_in_a_triclinic_cell(water_trimer):
    cell = np.array([[11.0, 0.0, 0.0], [3.0, 10.5, 0.0], [-2.0, 1.5, 12.0]])
    ref = water_trimer.copy()
    ref.cell = cell
    ref.pbc = True
    regions = Regions([0], r_core=1.0, r_switch=1.5, r_buffer=1.0)
    s0 = regions.update(ref)
    c0 = regions.carve(ref, s0.cluster)
    # shift so the trimer straddles a corner of the cell, then wrap
    moved = ref.copy()
    moved.translate(-ref.positions[0] + 0.2 * cell.sum(axis=0) - 0.5)
    moved.translate(-(moved.positions[0] @ np.linalg.inv(cell)).round() @ cell)
    moved.translate(cell[0] * 0.999 - moved.positions[0] + [0.3, 0.0, 0.0])
    moved.wrap()
    span = moved.get_scaled_positions()
    assert np.ptp(span[:, 0]) > 0.5  # the molecules really are split by the boundary
    s1 = regions.update(moved)
    np.testing.assert_allclose(s1.weights, s0.weights, atol=1e-12)
    c1 = regions.carve(moved, s1.cluster)
    np.testing.assert_allclose(
        c1.atoms.get_all_distances(), c0.atoms.get_all_distances(), atol=1e-10
    )
    assert not c1.atoms.pbc.any()


def test_hysteresis_keeps_a_cluster_member_a_little_longer():
    atoms = water_chain(2, 1.8)  # nearest distance from atom 0 to molecule 1: 1.8 Å
    regions = Regions([0], r_core=0.5, r_switch=1.0, r_buffer=0.5, hysteresis=0.5)
    state = regions.update(atoms)
    assert atoms.get_distances(0, [3, 4, 5]).min() == pytest.approx(1.8)
    assert state.labels[3] == BUFFER  # 1.5 < 1.8 < r_outer = 2.0
    a = atoms.copy()
    a.positions[3:] += [0.5, 0, 0]  # 0.3 Å beyond r_outer
    assert regions.update(a).labels[3] == BUFFER  # kept by hysteresis
    fresh = Regions([0], r_core=0.5, r_switch=1.0, r_buffer=0.5, hysteresis=0.5)
    assert fresh.update(a).labels[3] == ML  # never joined: not kept
    a.positions[3:] += [0.3, 0, 0]  # 0.6 Å beyond: leaves
    assert regions.update(a).labels[3] == ML


def test_core_can_follow_a_callable(water_trimer):
    # the core is the water closest to a point that moves
    def closest_oxygen(atoms):
        o = [0, 3, 6]
        k = int(np.argmin(np.linalg.norm(atoms.positions[o] - [1.43, -0.83, 0.0], axis=1)))
        return [o[k]]

    state = Regions(closest_oxygen, 0.5, 1.0).update(water_trimer)
    np.testing.assert_array_equal(state.core, [3])
    assert np.all(state.weights[3:6] == 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"core": []}, "the core is empty"),
        ({"r_core": -1.0}, "r_core must be a finite distance >= 0"),
        ({"r_buffer": -0.1}, "r_buffer must be a finite distance >= 0"),
        ({"r_switch": 0.0}, "r_switch must be > 0"),
        ({"core": [0, 0]}, "repeated indices"),
        ({"max_cluster_size": 0}, "max_cluster_size must be >= 1"),
    ],
)
def test_bad_region_input(kwargs, match):
    args = {"core": [0], "r_core": 1.0, "r_switch": 1.0} | kwargs
    with pytest.raises(ValueError, match=match):
        Regions(**args)


def test_bad_configurations(water_trimer):
    with pytest.raises(ValueError, match="out of range"):
        Regions([20], 1.0, 1.0).update(water_trimer)
    with pytest.raises(ValueError, match="empty"):
        Regions(lambda a: [], 1.0, 1.0).update(water_trimer)
    with pytest.raises(ValueError, match=r"more than max_cluster_size=4 \(a runaway region"):
        Regions([0], 3.0, 1.0, max_cluster_size=4).update(water_trimer)
    bad = water_trimer.copy()
    bad.positions[3] = bad.positions[0] + [0.1, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"atoms 0 and 3 are 0\.100 Å apart"):
        Regions([0], 1.0, 1.0).update(bad)
    small = water_trimer.copy()
    small.cell = [6.0, 6.0, 6.0]
    small.pbc = True
    regions = Regions([0], 1.0, 1.0, 1.0)
    state = regions.update(small)
    with pytest.raises(ValueError, match="would meet its own image"):
        regions.carve(small, state.cluster)


def test_link_hydrogens_count_towards_max_cluster_size():
    """Ethane cut at the C–C bond: 4 atoms + 1 link hydrogen = a 5-atom QM cluster."""
    ethane = molecule("C2H6")
    with pytest.raises(
        ValueError,
        match=r"5 atoms \(4 atoms \+ 1 link hydrogens\), more than max_cluster_size=4",
    ):
        Regions([0], r_core=0.5, r_switch=0.5, molecules=False, max_cluster_size=4).update(ethane)
    regions = Regions([0], r_core=0.5, r_switch=0.5, molecules=False, max_cluster_size=5)
    state = regions.update(ethane)
    assert state.n_links == 1 and state.cluster_size == 5
    assert len(regions.carve(ethane, state.cluster).atoms) == state.cluster_size
    # carve checks the limit too (both carbons without their hydrogens: 2 atoms + 6 links)
    with pytest.raises(ValueError, match=r"8 atoms \(2 atoms \+ 6 link hydrogens\)"):
        regions.carve(ethane, [0, 1])


def test_whole_molecules_need_no_links(water_trimer):
    state = Regions([0], r_core=1.0, r_switch=1.0).update(water_trimer)
    assert state.n_links == 0 and state.cluster_size == len(state.cluster)
