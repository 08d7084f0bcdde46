"""Hydrogen mass repartitioning: molecules keep their mass, static averages keep their value."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from ase.neighborlist import natural_cutoffs, neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from multiscale.md import build_electrolyte
from multiscale.md.hmr import hydrogen_partners, repartition_hydrogen_masses


def _molecule_masses(atoms: Atoms, masses: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, weights=masses)


def _molecules(atoms: Atoms) -> np.ndarray:
    """Connected components of O-H bonds (ions are their own molecule)."""
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=1.2))
    sym = np.array(atoms.get_chemical_symbols())
    keep = np.isin(sym[i], ["O", "H"]) & np.isin(sym[j], ["O", "H"])
    n = len(atoms)
    graph = coo_matrix((np.ones(keep.sum()), (i[keep], j[keep])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def test_water_box_conserves_mass_per_molecule():
    atoms = build_electrolyte(salt="NaCl", concentration=1.0, n_water=32, seed=3)
    labels = _molecules(atoms)
    before = _molecule_masses(atoms, atoms.get_masses(), labels)
    masses = repartition_hydrogen_masses(atoms, hydrogen_mass=3.0)
    after = _molecule_masses(atoms, atoms.get_masses(), labels)
    sym = np.array(atoms.get_chemical_symbols())
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-12)
    np.testing.assert_allclose(masses[sym == "H"], 3.0)
    m0 = {s: Atoms(s)[0].mass for s in ("H", "O", "Na")}
    np.testing.assert_allclose(masses[sym == "O"], m0["O"] - 2 * (3.0 - m0["H"]), atol=1e-9)
    np.testing.assert_allclose(masses[sym == "Na"], m0["Na"], atol=1e-12)  # ions untouched
    assert atoms.info["hmr_hydrogen_mass"] == 3.0
    # idempotent: a second application with the same H mass changes nothing
    np.testing.assert_array_equal(repartition_hydrogen_masses(atoms, 3.0), masses)


def test_temperature_is_kept():
    from ase.md.velocitydistribution import thermalize_momenta

    atoms = build_electrolyte(salt="NaCl", concentration=1.0, n_water=32, seed=3)
    thermalize_momenta(atoms, 300.0, rng=np.random.default_rng(0))
    ekin = atoms.get_kinetic_energy()
    per_atom = 0.5 * (atoms.get_momenta() ** 2).sum(axis=1) / atoms.get_masses()
    repartition_hydrogen_masses(atoms, 3.0)
    assert atoms.get_kinetic_energy() == pytest.approx(ekin, rel=1e-12)
    new = 0.5 * (atoms.get_momenta() ** 2).sum(axis=1) / atoms.get_masses()
    np.testing.assert_allclose(new, per_atom, rtol=1e-12)
    # without the scaling the momenta stay, and the heavier H carry less kinetic energy
    other = build_electrolyte(salt="NaCl", concentration=1.0, n_water=32, seed=3)
    thermalize_momenta(other, 300.0, rng=np.random.default_rng(0))
    p0 = other.get_momenta()
    repartition_hydrogen_masses(other, 3.0, keep_kinetic_energy=False)
    np.testing.assert_array_equal(other.get_momenta(), p0)
    assert other.get_kinetic_energy() < 0.8 * ekin


def test_hydrogen_without_heavy_partner_keeps_its_mass():
    # H2 far from everything, an H next to a Na+ (not a bond), and one water
    atoms = Atoms(
        "HHNaHOHH",
        positions=[
            [0, 0, 0],
            [0.74, 0, 0],
            [5, 0, 0],
            [6.2, 0, 0],
            [10, 0, 0],
            [10.96, 0, 0],
            [9.76, 0.93, 0],
        ],
    )
    partner = hydrogen_partners(atoms)
    assert partner.tolist() == [-1, -1, -1, -1, -1, 4, 4]
    masses = repartition_hydrogen_masses(atoms, 2.5)
    np.testing.assert_allclose(masses[[0, 1, 3]], atoms[0].mass)
    assert masses[[4, 5, 6]].sum() == pytest.approx(atoms[4].mass + 2 * atoms[5].mass)
    assert masses[5] == 2.5


def test_bad_hydrogen_mass_is_refused():
    atoms = Atoms("CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                                    [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]])  # fmt: skip
    with pytest.raises(ValueError, match=r"hydrogen_mass=3.5 u would leave atom 0 \(C.*below 3.21"):
        repartition_hydrogen_masses(atoms, 3.5)
    with pytest.raises(ValueError, match="hydrogen_mass must be a finite number > 0 u"):
        repartition_hydrogen_masses(atoms, -1.0)
    with pytest.raises(TypeError, match="hydrogen_mass must be a number"):
        repartition_hydrogen_masses(atoms, "3")
    with pytest.raises(TypeError, match=r"atoms must be an ase\.Atoms"):
        repartition_hydrogen_masses([atoms], 2.0)
    np.testing.assert_allclose(atoms.get_masses()[1:], 1.008)  # refused: nothing changed


# -- static averages do not depend on the masses -------------------------------------------
EPS, R0, RHO0, T_K = 2.0, 1.0, 2.0, 1000.0


def _morse(r):
    x = np.exp(-RHO0 * (r / R0 - 1))
    return EPS * (x * x - 2 * x)


class _MorseBonds(Calculator):
    """Morse bonds between atoms 2k and 2k+1 only (eV, Å): independent diatomics."""

    implemented_properties = ("energy", "forces")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions[1::2] - self.atoms.positions[0::2]
        r = np.linalg.norm(d, axis=1)
        x = np.exp(-RHO0 * (r / R0 - 1))
        dv_dr = EPS * (-2 * x * x + 2 * x) * RHO0 / R0
        f = np.zeros((len(self.atoms), 3))
        f[1::2] = -(dv_dr / r)[:, None] * d
        f[0::2] = -f[1::2]
        self.results = {"energy": float(_morse(r).sum()), "forces": f}


def _exact_moments():
    """<r> and <r^2> of a 3D Morse diatomic: p(r) ∝ r² exp(-V(r)/kT)."""
    r = np.linspace(0.5, 2.5, 20001)
    w = r**2 * np.exp(-_morse(r) / (units.kB * T_K))
    w /= np.trapezoid(w, r)
    return np.trapezoid(w * r, r), np.trapezoid(w * r * r, r)


def _sample_bond(hmr: bool, seed: int, n_mol: int = 100, steps: int = 2500):
    pos = []
    for k in range(n_mol):  # independent molecules 10 Å apart
        c = np.array([10.0 * (k % 5), 10.0 * (k // 5), 0.0])
        pos += [c, c + np.array([R0, 0.0, 0.0])]
    atoms = Atoms("OH" * n_mol, positions=pos)
    atoms.calc = _MorseBonds()
    if hmr:
        m = repartition_hydrogen_masses(atoms, 3.0)
        assert m[1] == 3.0
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, T_K, rng=rng)
    dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=T_K, friction=0.05 / units.fs,
                   fixcm=False, rng=rng)  # fmt: skip
    r = []
    for i, _ in enumerate(dyn.irun(steps)):
        if i >= 500 and i % 5 == 0:  # 250 fs equilibration, then every 2.5 fs
            d = atoms.positions[1::2] - atoms.positions[0::2]
            r.append(np.linalg.norm(d, axis=1))
    r = np.array(r)  # (n_samples, n_mol)
    # molecules are independent: the per-molecule time averages give an honest error bar
    m1, m2 = r.mean(axis=0), (r * r).mean(axis=0)
    sem = np.sqrt(n_mol)
    return (m1.mean(), m1.std(ddof=1) / sem), (m2.mean(), m2.std(ddof=1) / sem)


def test_static_averages_unchanged_by_hmr():
    exact1, exact2 = _exact_moments()
    (a1, e1), (a2, e2) = _sample_bond(hmr=False, seed=1)
    (b1, f1), (b2, f2) = _sample_bond(hmr=True, seed=2)
    # each sampling agrees with the Boltzmann integral, and the two agree with each other
    for value, err, exact in ((a1, e1, exact1), (b1, f1, exact1), (a2, e2, exact2),
                              (b2, f2, exact2)):  # fmt: skip
        assert abs(value - exact) < 4 * err + 1e-4, (value, exact, err)
    assert abs(a1 - b1) < 4 * np.hypot(e1, f1)
    # the test can see a change: the anharmonic shift of <r> above r0 is many error bars
    assert exact1 - R0 > 10 * max(e1, f1)


def test_runner_refuses_to_resume_with_other_masses(tmp_path):
    from multiscale.md import MDRunner, MDSettings

    def system(hmr: bool) -> Atoms:
        atoms = Atoms("OHOH", positions=[[0, 0, 0], [R0, 0, 0], [6, 0, 0], [6 + R0, 0, 0]],
                      cell=[12, 12, 12], pbc=True)  # fmt: skip
        atoms.calc = _MorseBonds()
        if hmr:
            repartition_hydrogen_masses(atoms, 3.0)
        return atoms

    settings = MDSettings(timestep_fs=1.0, seed=1, traj_interval=5, checkpoint_interval=5)
    MDRunner(system(True), tmp_path, settings, progress=False, integrity=None).run(10)
    with pytest.raises(ValueError, match=r"other masses \(atom 0: 14\.0. u there, 16 u here\)"):
        MDRunner(system(False), tmp_path, settings, progress=False, integrity=None).run(20)
    res = MDRunner(system(True), tmp_path, settings, progress=False, integrity=None).run(20)
    assert res.resumed_from == 10 and res.steps == 20
