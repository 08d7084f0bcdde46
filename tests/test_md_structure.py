"""Tetrahedral order and ion pairing (multiscale.md.structure) against exact geometry."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from multiscale.md.structure import StructureDrift, ion_pairing, tetrahedral_order


def test_diamond_lattice_is_perfectly_tetrahedral():
    # every atom of the diamond lattice has four neighbours at the tetrahedral angle
    si = bulk("C", "diamond", a=4.5, cubic=True).repeat(2)
    si.symbols[:] = "O"
    q = tetrahedral_order(si, "O", cutoff=2.5)
    np.testing.assert_allclose(q, 1.0, atol=1e-12)


def test_square_planar_neighbours_give_the_known_value():
    # four neighbours in a square: cos ψ = 0 (x4) and -1 (x2) -> q = 1 - 3/8 (4/9 + 2*4/9) = 0.5
    atoms = Atoms("O5", positions=[[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]],
                  cell=[30, 30, 30], pbc=False)  # fmt: skip
    q = tetrahedral_order(atoms, "O", cutoff=1.2)
    assert q[0] == pytest.approx(0.5, abs=1e-12)
    assert np.all(np.isnan(q[1:]))  # the outer atoms see fewer than four neighbours


def test_ideal_gas_has_mean_zero():
    # random positions: E[q] = 0 exactly (Errington & Debenedetti's normalisation)
    rng = np.random.default_rng(3)
    n = 4000
    box = (n / 0.05) ** (1 / 3)
    gas = Atoms(f"O{n}", positions=rng.uniform(0, box, (n, 3)), cell=[box] * 3, pbc=True)
    q = tetrahedral_order(gas, "O", cutoff=6.0)
    assert np.isfinite(q).all()
    # var(q) of the ideal gas is about 0.1 per atom; 5 standard errors of the mean
    assert abs(q.mean()) < 5 * q.std() / np.sqrt(n)


def test_ion_pairing_counts_contacts_and_clusters_across_the_boundary():
    cell = [20.0, 20.0, 20.0]
    # a Na-Cl-Na chain split by the periodic boundary, and one isolated pair far away
    pos = [[0.5, 5, 5], [19.0, 5, 5], [16.2, 5, 5], [10, 15, 15], [10, 15, 12.0]]
    atoms = Atoms("NaClNaNaCl", positions=pos, cell=cell, pbc=True)
    out = ion_pairing(atoms, "Na", "Cl", cutoff=3.5)
    # Na0-Cl1 1.5 Å (through the boundary), Cl1-Na2 2.8 Å, Na3-Cl4 3.0 Å
    assert out == {"contacts": 3, "paired_ions": 5, "largest_cluster": 3, "n_ions": 5}
    # like ions never count as contacts, whatever their distance
    atoms2 = Atoms("NaNaCl", positions=[[0, 0, 0], [1.0, 0, 0], [10, 10, 10]], cell=cell, pbc=True)
    assert ion_pairing(atoms2, "Na", "Cl")["largest_cluster"] == 1


def test_ion_pairing_rejects_overlapping_selections():
    atoms = Atoms("NaCl", positions=[[0, 0, 0], [3, 0, 0]], cell=[10] * 3, pbc=True)
    with pytest.raises(ValueError, match="overlap"):
        ion_pairing(atoms, "Na", ["Na", "Cl"])


def test_structure_drift_blocks_follow_a_change_of_order():
    # the first half of the frames is the diamond lattice (q = 1), the second half the same
    # atoms randomly displaced: the block means must fall from 1 to well below it
    crystal = bulk("C", "diamond", a=4.5, cubic=True).repeat(2)
    crystal.symbols[:] = "O"
    rng = np.random.default_rng(0)
    frames = [crystal.copy() for _ in range(4)]
    for f in frames[2:]:
        f.positions += rng.normal(0, 0.4, f.positions.shape)
    ana = StructureDrift(frames, n_blocks=2, timestep=10.0, q_cutoff=3.0).run()
    b = ana.results.blocks
    assert b[0]["q_mean"] == pytest.approx(1.0, abs=1e-12)
    assert b[0]["q_high_fraction"] == 1.0
    assert b[1]["q_mean"] < 0.9
    assert b[1]["ps"] == pytest.approx([0.02, 0.04])
    assert "contacts" not in ana.results  # no ions: no pairing series
    with pytest.raises(ValueError, match="cannot make 5 blocks"):
        StructureDrift(frames, n_blocks=5).run()
    with pytest.raises(ValueError, match="at least 5 oxygens"):
        StructureDrift([Atoms("O2", positions=[[0, 0, 0], [2, 0, 0]], cell=[9] * 3)])


def test_counterion_contacts_counts_frames_in_contact():
    from multiscale.md.structure import counterion_contacts

    cell = [12.0, 12.0, 12.0]
    frames = []
    for x in (2.8, 3.0, 5.0, 7.0):  # Na at the origin, Cl at x (the last through the boundary)
        frames.append(Atoms("NaClCl", positions=[[0, 0, 0], [x, 0, 0], [6, 6, 6]], cell=cell,
                            pbc=True))  # fmt: skip
    out = counterion_contacts(frames, 0, "Cl", cutoff=3.5)
    assert out["contact_fraction"] == 0.5
    # nearest Cl: 2.8, 3.0, 5.0, then 12 - 7 = 5 through the boundary
    assert out["nearest_distance_A"] == pytest.approx((2.8 + 3.0 + 5.0 + 5.0) / 4)
    assert out["partner"] == 1
    assert counterion_contacts(frames, 0, "K")["contact_fraction"] is None
    with pytest.raises(ValueError, match="no frames"):
        counterion_contacts([], 0, "Cl")


def test_halves_change_accounts_for_correlation():
    from multiscale.md.structure import halves_change

    rng = np.random.default_rng(1)
    # AR(1) with correlation time ~50 samples and no change: |change| / sigma is a standard
    # normal variate; frame-level errors would make it ~7x too large
    n, phi = 4000, np.exp(-1 / 50)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.normal()
    z = []
    for seed in range(20):
        y = np.roll(x, 97 * seed)[:2000]
        h = halves_change(y)
        z.append(h["change"] / h["sigma"])
    assert np.std(z) < 2.0  # about 1 with honest errors
    # a real step of 10 stationary standard deviations is found
    step = np.concatenate([x[:2000], x[2000:] + 10 * x.std()])
    h = halves_change(step)
    assert h["change"] / h["sigma"] > 5
    assert halves_change([1.0, 2.0, 3.0])["sigma"] is None
    assert halves_change(np.ones(10))["sigma"] == 0.0


def test_structure_drift_verdict_names_what_changes():
    crystal = bulk("C", "diamond", a=4.5, cubic=True).repeat(2)
    crystal.symbols[:] = "O"
    rng = np.random.default_rng(0)
    frames = []
    for k in range(16):  # ordered first half, disordered second half
        f = crystal.copy()
        f.positions += rng.normal(0, 0.05 if k < 8 else 0.4, f.positions.shape)
        frames.append(f)
    ana = StructureDrift(frames, n_blocks=2, q_cutoff=3.0).run()
    notes = ana.verdict()
    assert any(n.startswith("water's mean tetrahedral order changes from") for n in notes)
    steady = StructureDrift(frames[:8], n_blocks=2, q_cutoff=3.0).run()
    assert steady.verdict() == []
