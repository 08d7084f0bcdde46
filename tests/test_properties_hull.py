"""Convex hull: constructed binary and ternary systems with known stable sets, reproduced
exactly; energies above the hull against an independent linear-programming route."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from scipy.optimize import linprog

from multiscale.properties import compute_hull, convex_hull, fcc_candidates

MU = {"Cu": -3.5, "Au": -3.2, "Ag": -2.7}  # chosen pure-element energies per atom, eV


class ToyAlloy(Calculator):
    """E = N (Σ x_i μ_i + ΔE_f(composition)), with ΔE_f chosen per composition (eV/atom)."""

    implemented_properties = ["energy"]

    def __init__(self, formation):
        super().__init__()
        self.formation = formation

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        s = atoms.get_chemical_symbols()
        key = tuple(s.count(e) for e in ("Ag", "Au", "Cu"))
        ef = self.formation.get(key, 0.0)
        self.results = {"energy": sum(MU[e] for e in s) + len(s) * ef}


def lp_above_hull(comp, e):
    """Energy above the lower hull by linear programming: min Σ w_j e_j, Σ w_j x_j = x_i."""
    out = []
    for i in range(len(e)):
        res = linprog(
            e,
            A_eq=np.vstack([comp.T, np.ones(len(e))]),
            b_eq=np.append(comp[i], 1.0),
            bounds=(0, None),
        )
        out.append(e[i] - res.fun)
    return np.array(out)


def test_binary_known_stable_set():
    # ΔE_f (eV/atom): Cu3Au -0.10, CuAu -0.12, CuAu3 -0.02 (above the CuAu–Au tie line at -0.06)
    formation = {(0, 1, 3): -0.10, (0, 2, 2): -0.12, (0, 3, 1): -0.02}
    cands = fcc_candidates(["Cu", "Au"], 3.8)
    assert len(cands) == 5
    r = compute_hull(cands, ToyAlloy(formation), relax_structures=False)
    assert r.stable_names == ["Cu4", "AuCu3", "Au2Cu2", "Au4"]
    idx = r.names.index("Au3Cu")
    assert not r.stable[idx]
    assert r.e_above_hull[idx] == pytest.approx(0.04, abs=1e-12)
    assert r.formation_energies[r.names.index("AuCu3")] == pytest.approx(-0.10, abs=1e-12)
    assert r.chemical_potentials == pytest.approx({"Au": -3.2, "Cu": -3.5})
    assert np.all(r.e_above_hull[r.stable] == 0)


def test_ternary_known_stable_set_and_lp_route(tmp_path):
    formation = {
        (0, 1, 3): -0.10,
        (0, 2, 2): -0.12,
        (2, 2, 0): -0.05,
        (2, 1, 1): -0.20,
        (1, 1, 2): -0.03,
        (3, 0, 1): 0.05,
    }
    cands = fcc_candidates(["Cu", "Au", "Ag"], 3.8)
    assert len(cands) == 15
    r = compute_hull(cands, ToyAlloy(formation), relax_structures=False)
    ref = lp_above_hull(r.compositions, r.formation_energies)
    assert np.allclose(r.e_above_hull, ref, atol=1e-9)
    # by construction: Ag2AuCu (-0.20) puts AgAuCu2 (-0.03) above the hull; AgAu (-0.05) stays
    # on it (a point on an edge decomposes only into points of that edge); AgCu3 (+0.05) is not
    assert set(r.stable_names) == {"Ag4", "Au4", "Cu4", "AuCu3", "Au2Cu2", "Ag2Au2", "Ag2AuCu"}
    assert r.e_above_hull[r.names.index("AgAuCu2")] > 0.05
    assert r.plot(tmp_path / "hull3.png").stat().st_size > 10_000
    assert "Ag2AuCu" in r.table()


def test_formula_entries_and_emt_cu_au(tmp_path):
    # from formulas and total energies
    r = convex_hull([("Cu", -1.0), ("Au", -2.0), ("CuAu", -3.5), ("Cu3Au", -5.6)])
    assert r.stable_names == ["Cu", "Cu3Au", "CuAu", "Au"]
    assert r.formation_energies[2] == pytest.approx(-0.25)
    # EMT Cu-Au with relaxed cells: the ordered L1_2 Cu3Au and L1_0 CuAu are below the line
    h = compute_hull(fcc_candidates(["Cu", "Au"], 3.8), EMT(), fmax=0.02)
    assert {"AuCu3", "Au2Cu2"} <= set(h.stable_names)
    assert h.plot(tmp_path / "hull.png").stat().st_size > 10_000


def test_bad_input():
    with pytest.raises(ValueError, match="no pure Au structure"):
        convex_hull([("Cu", -1.0), ("CuAu", -3.0)])
    with pytest.raises(ValueError, match="energy must be a finite number in eV"):
        convex_hull([("Cu", -1.0), ("Au", float("nan"))])
    with pytest.raises(ValueError, match="two or three"):
        convex_hull([("Cu", -1.0), ("Au", -1.0), ("Ag", -1.0), ("Ni", -1.0)])
    with pytest.raises(ValueError, match="not a chemical formula"):
        convex_hull([("Cu", -1.0), ("Xx2", -1.0)])
    with pytest.raises(ValueError, match="elements must be two or three"):
        fcc_candidates(["Cu"], 3.6)
