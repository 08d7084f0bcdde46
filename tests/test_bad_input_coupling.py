"""Bad input to coupling's public entry points fails early, with a message that says what to do.

Each case would otherwise have given a library traceback (numpy, ASE) or been accepted
silently (a truncated float, a wrapped negative index, a NaN that becomes weight 0).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import (
    CalculationFailed,
    Calculator,
    CalculatorSetupError,
    all_changes,
)
from ase.calculators.lj import LennardJones

from coupling import (
    EmbeddedPySCFCalculator,
    ForceContinuityMonitor,
    ForceMixingCalculator,
    PointChargeEmbedding,
    Regions,
    SwitchingFunction,
    check_force_continuity,
    get_switching,
    relax_mixed_forces,
)


def lj() -> LennardJones:
    return LennardJones(sigma=1.0, epsilon=0.01, rc=5.0, smooth=True)


def water() -> Atoms:
    return molecule("H2O")


def water_with_lj() -> Atoms:
    atoms = water()
    atoms.calc = lj()
    return atoms


def regions(**kwargs) -> Regions:
    return Regions(**({"core": [0], "r_core": 1.0, "r_switch": 1.0} | kwargs))


# ------------------------------------------------------------------------------ Regions
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"r_core": float("nan")}, ValueError, "r_core must be a finite distance >= 0 Å"),
        ({"r_core": "2.0"}, TypeError, r"r_core must be a number \(Å\)"),
        ({"r_core": None}, TypeError, r"r_core must be a number \(Å\)"),
        ({"r_switch": float("inf")}, ValueError, "r_switch must be a finite distance"),
        ({"r_switch": -0.5}, ValueError, "r_switch must be a finite distance >= 0"),
        ({"r_buffer": -1.0}, ValueError, "r_buffer must be a finite distance >= 0"),
        ({"hysteresis": float("nan")}, ValueError, "hysteresis must be a finite distance"),
        ({"min_distance": -1.0}, ValueError, "min_distance must be a finite distance >= 0"),
        ({"core": [-1]}, ValueError, "core indices must be >= 0"),
        ({"core": [0.0, 1.0, 2.0]}, TypeError, "regions are centred on atoms.*callable"),
        ({"core": [[0, 1]]}, TypeError, "core must be a 1D sequence of integer"),
        ({"core": "Na"}, TypeError, "core must be a 1D sequence of integer"),
        ({"max_cluster_size": 2.5}, ValueError, "max_cluster_size must be a whole number"),
        ({"max_cluster_size": float("nan")}, ValueError, "max_cluster_size must be a whole"),
        ({"max_cluster_size": "many"}, TypeError, "max_cluster_size must be a whole number"),
        ({"bond_scale": float("nan")}, ValueError, "bond_scale must be a finite factor > 0"),
        ({"link_scale": float("nan")}, ValueError, r"link_scale must be in \(0, 1\)"),
        ({"molecules": "yes"}, TypeError, "molecules must be True, False or one integer"),
        ({"molecules": [0.0, 1.0, 1.0]}, TypeError, "molecules must be True, False or one"),
        ({"molecules": [-1, 0, 0]}, ValueError, "molecules labels must be >= 0"),
        ({"switching": "smooth"}, ValueError, "unknown switching function 'smooth'"),
        ({"switching": 3}, TypeError, "switching must be a name or a SwitchingFunction"),
    ],
)
def test_regions_constructor(kwargs, error, match):
    with pytest.raises(error, match=match):
        regions(**kwargs)


def nan_water() -> Atoms:
    atoms = water()
    atoms.positions[1, 0] = np.nan
    return atoms


def periodic_without_cell() -> Atoms:
    atoms = water()
    atoms.pbc = True
    return atoms


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: regions().update(np.zeros((3, 3))), TypeError, "atoms must be an ase.Atoms"),
        (lambda: regions().update(nan_water()), ValueError, r"atoms \[1\] have non-finite"),
        (lambda: regions().update(periodic_without_cell()), ValueError, "cell .* degenerate"),
        (lambda: regions(core=[5]).update(water()), ValueError, "out of range for a system"),
        (lambda: regions().update(water(), switching="x"), ValueError, "unknown switching"),
        (
            lambda: regions(molecules=[0, 0]).update(water()),
            ValueError,
            "molecules has 2 labels for 3 atoms",
        ),
        (lambda: regions().carve(water(), []), ValueError, "cannot carve an empty cluster"),
        (lambda: regions().carve(water(), [7]), ValueError, r"indices \[7\] out of range"),
        (lambda: regions().carve(water(), [0.5]), TypeError, "indices must be a 1D sequence"),
        (lambda: regions().carve(water(), [0], anchor=9), ValueError, "anchor must be the"),
        (lambda: regions().weights([np.nan]), ValueError, "distances must be finite"),
    ],
)
def test_regions_update_and_carve(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------- switching functions
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: get_switching("smooth"), ValueError, r"unknown switching function 'smooth'"),
        (lambda: get_switching(None), TypeError, "switching must be a name"),
        (
            lambda: SwitchingFunction("s", lambda x: 1.0, lambda x: -1.0, order=0),
            ValueError,
            r"value\(x\) must return one finite number per element",
        ),
        (
            lambda: SwitchingFunction(
                "s", lambda x: np.where(x < 1, np.nan, 0.0), lambda x: 0 * x, order=0
            ),
            ValueError,
            "must return one finite number",
        ),
        (
            lambda: SwitchingFunction("s", lambda x: x, lambda x: 1 + 0 * x, order=1),
            ValueError,
            r"needs s\(0\) = 1 and s\(1\) = 0",
        ),
        (lambda: get_switching("quintic")(np.nan), ValueError, "x must not be NaN"),
        (lambda: get_switching("quintic").deriv([0.5, np.nan]), ValueError, "must not be NaN"),
    ],
)
def test_switching_functions(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------ ForceMixingCalculator
class _NaNForces(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.full((len(self.atoms), 3), np.nan)}


class _WrongShape(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((1, 3))}


def forces_of(calc: ForceMixingCalculator) -> np.ndarray:
    atoms = water()
    atoms.calc = calc
    return atoms.get_forces()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: ForceMixingCalculator(LennardJones, lj(), regions()),
            CalculatorSetupError,
            r"qm_calc must be a calculator instance, got the class LennardJones",
        ),
        (
            lambda: ForceMixingCalculator(lj(), None, regions()),
            CalculatorSetupError,
            "ml_calc must be an ASE calculator",
        ),
        (
            lambda: ForceMixingCalculator(lj(), lj(), regions(), switching="smooth"),
            CalculatorSetupError,
            "unknown switching function",
        ),
        (
            lambda: ForceMixingCalculator(lj(), lj(), regions(), momentum="yes"),
            CalculatorSetupError,
            "momentum must be one of",
        ),
        (
            lambda: ForceMixingCalculator(lj(), lj(), regions(), embedding="tip3p"),
            CalculatorSetupError,
            "embedding must be None or a coupling.PointChargeEmbedding",
        ),
        (
            lambda: ForceMixingCalculator(lj(), lj(), regions(), r_core=2.0),
            CalculatorSetupError,
            r"unknown ForceMixingCalculator argument\(s\) \['r_core'\]",
        ),
        (
            lambda: forces_of(ForceMixingCalculator(lj(), lj(), regions(core=[9]))),
            CalculationFailed,
            "out of range",
        ),
        (
            lambda: forces_of(ForceMixingCalculator(lj(), _NaNForces(), regions())),
            CalculationFailed,
            "ml_calc returned non-finite forces",
        ),
        (
            lambda: forces_of(ForceMixingCalculator(_WrongShape(), lj(), regions())),
            CalculationFailed,
            r"qm_calc returned forces of shape \(1, 3\) for the 3-atom cluster",
        ),
    ],
)
def test_force_mixing_calculator(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------------- continuity
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"indices": [0.5]}, TypeError, "indices must be integer atom indices"),
        ({"indices": [-1]}, ValueError, r"indices \[-1\] are not atoms of a 3-atom system"),
        ({"indices": [0, 0]}, ValueError, "indices contains repeated atoms"),
        ({"direction": [1.0, 0.0]}, ValueError, "direction must be a non-zero finite 3-vector"),
        ({"direction": [1, 0, 0, 0]}, ValueError, "direction must be a non-zero finite 3"),
        ({"direction": "x"}, ValueError, "direction must be a non-zero finite 3-vector"),
        ({"direction": [0, 0, 0]}, ValueError, "direction must be a non-zero finite 3-vector"),
        ({"distance": "1"}, TypeError, r"distance must be a number \(Å\)"),
        ({"distance": -1.0}, ValueError, "distance must be finite and > 0"),
        ({"n_steps": 2.5}, ValueError, "n_steps must be a whole number >= 2"),
        ({"n_steps": 1}, ValueError, "n_steps must be a whole number >= 2"),
        ({"threshold": float("nan")}, ValueError, "threshold must be finite and > 0"),
        ({"check": "some"}, ValueError, "check must be 'moved' or 'all'"),
        ({"calc": None}, TypeError, "calc must be an ASE calculator instance"),
        ({"atoms": None}, TypeError, "atoms must be an ase.Atoms"),
    ],
)
def test_check_force_continuity(kwargs, error, match):
    args = {
        "calc": lj(),
        "atoms": water(),
        "indices": [0],
        "direction": [1.0, 0.0, 0.0],
        "distance": 0.5,
        "n_steps": 4,
    } | kwargs
    with pytest.raises(error, match=match):
        check_force_continuity(**args)


def test_force_continuity_monitor(tmp_path):
    atoms = water_with_lj()
    cases = [
        ({"logfile": tmp_path / "missing" / "m.csv"}, ValueError, "folder .* does not exist"),
        ({"logfile": tmp_path}, ValueError, "is a folder; give a CSV file path"),
        ({"max_stiffness": "100"}, TypeError, r"max_stiffness must be a number \(eV/Å²\)"),
        ({"max_stiffness": float("nan")}, ValueError, "max_stiffness must be > 0 eV/Å²"),
        ({"atoms": None}, TypeError, "atoms must be an ase.Atoms"),
    ]
    other = tmp_path / "other.csv"
    other.write_text("time,energy\n0,1\n")
    cases.append(({"logfile": other}, ValueError, "is not a ForceContinuityMonitor log"))
    for kwargs, error, match in cases:
        args = {"atoms": atoms, "logfile": tmp_path / "ok.csv"} | kwargs
        with pytest.raises(error, match=match):
            ForceContinuityMonitor(**args)
    assert not (tmp_path / "missing").exists()  # nothing created for a mistyped folder
    assert other.read_text() == "time,energy\n0,1\n"  # a foreign file is left alone


# -------------------------------------------------------------------------- embedding
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"charges": [1.0, -1.0]}, TypeError, "charges must be a dict or 'ml'"),
        ({"charges": "spc"}, ValueError, "charges must be a per-element dict, 'tip3p' or 'ml'"),
        ({"charges": {"Ow": -0.8}}, ValueError, "'Ow' is not an element symbol"),
        ({"charges": {"O": float("nan")}}, ValueError, r"charges\['O'\] must be finite"),
        ({"charges": {"O": "-0.8"}}, TypeError, r"charges\['O'\] must be a number \(e\)"),
        ({"cutoff": "5"}, TypeError, "cutoff must be None or a distance in Å"),
        ({"cutoff": -1.0}, ValueError, "cutoff must be a positive distance in Å"),
    ],
)
def test_point_charge_embedding(kwargs, error, match):
    with pytest.raises(error, match=match):
        PointChargeEmbedding(**kwargs)


@pytest.mark.parametrize(
    ("positions", "charges", "error", "match"),
    [
        (np.zeros((2, 2)), [1.0, 1.0], ValueError, r"must have shape \(n, 3\).*\(2, 2\)"),
        (np.zeros(6), [1.0, 1.0], ValueError, r"must have shape \(n, 3\)"),
        (np.zeros((2, 3)), [1.0], ValueError, "2 point-charge positions but 1 charges"),
        ([[0, 0, np.nan]], [1.0], ValueError, "must be finite"),
        ("here", [1.0], TypeError, r"must be an \(n, 3\) array of numbers"),
    ],
)
def test_set_point_charges(positions, charges, error, match):
    calc = EmbeddedPySCFCalculator(xc="hf", basis="sto-3g")
    with pytest.raises(error, match=match):
        calc.set_point_charges(positions, charges)


# ------------------------------------------------------------------------------ relax
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"atoms": "water"}, TypeError, "atoms must be an ase.Atoms"),
        ({"atoms": water()}, ValueError, "atoms has no calculator: attach one first"),
        ({"fmax": 0.0}, ValueError, "fmax must be finite and > 0 eV/Å"),
        ({"fmax": float("nan")}, ValueError, "fmax must be finite and > 0 eV/Å"),
        ({"fmax": "0.05"}, TypeError, r"fmax must be a number \(eV/Å\)"),
        ({"steps": -1}, ValueError, "steps must be a whole number >= 0"),
        ({"steps": 10.5}, ValueError, "steps must be a whole number >= 0"),
        ({"maxstep": -0.1}, ValueError, "maxstep must be finite and > 0 Å"),
        ({"trajectory": "/nonexistent-folder/r.traj"}, ValueError, "folder .* does not exist"),
    ],
)
def test_relax_mixed_forces(kwargs, error, match):
    args = {"atoms": water_with_lj()} | kwargs
    with pytest.raises(error, match=match):
        relax_mixed_forces(**args)
