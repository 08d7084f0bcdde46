"""Climbing-image NEB (multiscale.properties.neb) against independent references.

* EMT: an Au adatom hop between hollow sites on Au(100). By symmetry the saddle is the bridge
  site, so a relaxation with the adatom held (x, y) at the bridge gives the barrier independently.
* PySCF: the NH3 umbrella inversion at HF/STO-3G. A relaxed scan of the pyramid height h
  (N fixed, each H confined to the plane z = z_N - h with ASE's FixedPlane) is the
  independent route; its maximum (the planar D3h structure) must match the CI-NEB barrier
  within 0.05 eV (issue #16).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc100, molecule
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms, FixCartesian, FixedPlane
from ase.optimize import BFGS

from multiscale.properties.neb import neb_path, relaxed_scan


def _relax(atoms, calc, fmax=0.005):
    atoms.calc = calc
    BFGS(atoms, logfile=None).run(fmax=fmax, steps=300)
    return atoms.get_potential_energy()


@pytest.fixture(scope="module")
def au_hop():
    slab = fcc100("Au", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, "Au", 1.8, "hollow")
    slab.set_constraint(FixAtoms(mask=slab.positions[:, 2] < slab.positions[:, 2].min() + 0.1))
    initial = slab.copy()
    _relax(initial, EMT())
    final = slab.copy()
    final.positions[-1, 0] += slab.cell[0, 0] / 2  # the neighbouring hollow
    _relax(final, EMT())
    return initial, final


def test_emt_adatom_hop_matches_constrained_bridge(au_hop):
    initial, final = au_hop
    res = neb_path(initial, final, EMT, n_images=3, fmax=0.01)
    bridge = initial.copy()
    bridge.positions[-1, 0] += initial.cell[0, 0] / 4
    bridge.set_constraint([*initial.constraints, FixCartesian(len(bridge) - 1, [1, 1, 0])])
    e_bridge = _relax(bridge, EMT()) - initial.get_potential_energy()
    assert res.converged
    assert res.ts_index == 2  # the climbing image sits in the middle, at the bridge
    assert 0.05 < res.barrier < 1.0
    assert res.barrier == pytest.approx(e_bridge, abs=0.005)
    assert res.reaction_energy == pytest.approx(0.0, abs=1e-3)
    assert len(res.energies) == 5 and res.n_force_calls > 0
    assert np.all(np.diff(res.path_length) > 0)
    d = res.as_dict()
    assert d["barrier"] == pytest.approx(res.barrier) and d["converged"] is True


def test_unconverged_band_is_reported(au_hop):
    initial, final = au_hop
    res = neb_path(initial, final, EMT, n_images=3, fmax=1e-4, steps=3)
    assert res.converged is False
    assert res.max_force > 1e-4 and res.n_steps <= 3


def test_bad_input_is_refused(au_hop):
    initial, final = au_hop
    with pytest.raises(ValueError, match="same atoms"):
        neb_path(initial, final[:-1], EMT)
    with pytest.raises(TypeError, match=r"initial must be an ase\.Atoms"):
        neb_path("Au", final, EMT)
    with pytest.raises(TypeError, match="calc_factory must be a callable"):
        neb_path(initial, final, EMT())
    with pytest.raises(ValueError, match="n_images must be an integer >= 1"):
        neb_path(initial, final, EMT, n_images=0)
    with pytest.raises(ValueError, match="fmax must be a positive number"):
        neb_path(initial, final, EMT, fmax=-1)
    with pytest.raises(ValueError, match="interpolation must be"):
        neb_path(initial, final, EMT, interpolation="cubic")


def nh3_hf_sto3g():
    from coupling import PySCFCalculator

    return PySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-10)


def nh3_height(atoms, h):
    """The NH3 pyramid at height h (Å): N fixed at the origin, each H held in z = -h."""
    atoms.positions -= atoms.positions[0]  # N at the origin, H below (molecule("NH3"))
    sign = np.sign(atoms.positions[1:, 2].mean()) or -1.0
    atoms.positions[1:, 2] = sign * h
    atoms.set_constraint([FixAtoms([0])] + [FixedPlane(i, [0, 0, 1]) for i in (1, 2, 3)])
    return atoms


def nh3_relaxed_scan(relaxed, heights):
    """Relaxed scan of the NH3 pyramid height h (Å): energies relative to ``relaxed`` (eV)."""
    scan = relaxed_scan(relaxed, nh3_height, heights, nh3_hf_sto3g, fmax=0.005)
    assert scan.all_converged
    return scan.energies - relaxed.get_potential_energy()


def test_nh3_inversion_neb_matches_relaxed_scan():
    reactant = molecule("NH3")
    _relax(reactant, nh3_hf_sto3g())
    product = reactant.copy()
    z_c = reactant.get_center_of_mass()[2]
    product.positions[:, 2] = 2 * z_c - product.positions[:, 2]  # the inverted umbrella
    res = neb_path(reactant, product, nh3_hf_sto3g, n_images=5, fmax=0.02)
    h_eq = abs(reactant.positions[1:, 2].mean() - reactant.positions[0, 2])
    scan = nh3_relaxed_scan(reactant, np.linspace(0.0, h_eq, 4))
    assert res.converged
    assert np.argmax(scan) == 0  # the planar structure is the top of the scan
    assert np.all(np.diff(scan) < 0)
    # HF/STO-3G inversion barrier: ~0.48 eV (11 kcal/mol); NEB and scan agree to 0.05 eV
    assert 0.3 < res.barrier < 0.7
    assert abs(res.barrier - scan.max()) < 0.05
    assert res.reaction_energy == pytest.approx(0.0, abs=1e-3)


def test_relaxed_scan_holds_the_coordinate_and_refuses_bad_input(au_hop):
    """EMT Au adatom: a scan of its x between the hollow and the bridge, y and x held
    (FixCartesian), rises monotonically to the bridge energy of the NEB test's reference."""
    initial, _ = au_hop
    x0, a = initial.positions[-1, 0], initial.cell[0, 0]

    def at_x(atoms, x):
        atoms.positions[-1, 0] = x
        atoms.set_constraint([*atoms.constraints, FixCartesian(len(atoms) - 1, [1, 1, 0])])
        return atoms

    scan = relaxed_scan(initial, at_x, x0 + np.linspace(0, a / 4, 3), EMT, fmax=0.01)
    assert scan.all_converged and scan.wall_time > 0
    assert np.allclose([im.positions[-1, 0] for im in scan.images], scan.values)  # held
    assert np.all(np.diff(scan.energies) > 0)  # uphill from the hollow to the bridge
    assert scan.energies[0] == pytest.approx(initial.get_potential_energy(), abs=2e-3)
    with pytest.raises(TypeError, match=r"start must be an ase\.Atoms"):
        relaxed_scan("Au", at_x, [0.0], EMT)
    with pytest.raises(TypeError, match="set_coordinate must be a callable"):
        relaxed_scan(initial, None, [0.0], EMT)
    with pytest.raises(ValueError, match="non-empty 1-D sequence of finite numbers"):
        relaxed_scan(initial, at_x, [], EMT)
    with pytest.raises(ValueError, match="fmax must be a positive number"):
        relaxed_scan(initial, at_x, [x0], EMT, fmax=0)
    with pytest.raises(TypeError, match=r"set_coordinate must return the ase\.Atoms"):
        relaxed_scan(initial, lambda atoms, v: None, [x0], EMT)
    with pytest.raises(TypeError, match="calc_factory must return an ASE calculator"):
        relaxed_scan(initial, at_x, [x0], lambda: "EMT")
