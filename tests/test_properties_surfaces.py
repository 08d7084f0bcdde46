"""Surface energies of Cu(111), (100), (110) with EMT: thickness convergence to 0.01 J/m²,
the Fiorentini-Methfessel and bulk-energy routes agree, relaxation lowers γ."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT

from multiscale.properties import (
    fcc_lattice_constant,
    plot_surface_energies,
    surface_energies,
    surface_energy,
)
from multiscale.properties._common import EV_PER_A2_TO_J_PER_M2


@pytest.fixture(scope="module")
def results():
    return surface_energies("Cu", EMT(), layers=(5, 6, 7, 8), fmax=0.002)


def test_converged_and_routes_agree(results):
    for facet, r in results.items():
        assert r.converged, facet
        assert r.change < 0.01 and r.change_fm < 0.01
        assert r.route_difference < 0.01
        assert np.all(r.relaxed)
        # the FM slope is the bulk energy per atom (same calculator, same lattice constant)
        assert r.fm_slope == pytest.approx(r.bulk_energy, abs=1e-4)
        # relaxation can only lower the energy of the slab
        assert np.all(r.gamma_bulk <= r.gamma_unrelaxed + 1e-9)


def test_facet_order_and_values(results, tmp_path):
    g = {f: r.gamma for f, r in results.items()}
    # the close-packed (111) facet is the lowest; EMT Cu: about 1.04, 1.13, 1.23 J/m²
    assert g["111"] < g["100"] < g["110"]
    assert g["111"] == pytest.approx(1.044, abs=0.01)
    r = results["111"]
    # γ from its definition for the thickest slab (independent arithmetic)
    direct = (r.slab_energies[-1] - r.layers[-1] * r.bulk_energy) / (2 * r.area)
    assert r.gamma_bulk[-1] == pytest.approx(direct * EV_PER_A2_TO_J_PER_M2, rel=1e-12)
    assert r.area == pytest.approx(np.sqrt(3) / 4 * r.lattice_constant**2, rel=1e-9)
    assert plot_surface_energies(results, tmp_path / "s.png").stat().st_size > 10_000
    assert r.to_dict()["converged"] is True


def test_unrelaxed_slabs_at_a_strained_lattice():
    """relax_layers = 0: no relaxation, γ is the unrelaxed value; both routes still agree at a
    lattice constant 1% off equilibrium because bulk and slabs share it."""
    a = fcc_lattice_constant("Cu", EMT())
    assert a == pytest.approx(3.590, abs=2e-3)  # EMT Cu
    r = surface_energy("Cu", EMT(), "100", layers=(3, 4, 5, 6), a=a * 1.01, relax_layers=0)
    assert np.all(r.gamma_bulk == r.gamma_unrelaxed)
    assert r.route_difference < 1e-6 and r.converged


def test_bad_input():
    with pytest.raises(ValueError, match="facet must be one of"):
        surface_energy("Cu", EMT(), "211")
    with pytest.raises(ValueError, match="at least fit_points \\+ 1"):
        surface_energy("Cu", EMT(), layers=(5, 6))
    with pytest.raises(ValueError, match="must keep a fixed middle layer"):
        surface_energy("Cu", EMT(), layers=(3, 4, 5, 6), relax_layers=2)
    with pytest.raises(ValueError, match="layers must be increasing"):
        surface_energy("Cu", EMT(), layers=(6, 5, 7, 8))
    with pytest.raises(ValueError, match="calc: give an ASE calculator"):
        surface_energy("Cu", None)
    with pytest.raises(ValueError, match="facets must be a list"):
        surface_energies("Cu", EMT(), facets="111")
