"""Distillation teachers: choice by name, boxes for clusters, force errors and teacher scores.

The scoring functions are checked with ASE's EMT standing in for a teacher (fast and exact:
an EMT "model" against EMT labels has zero error, against labels shifted by a known amount
exactly that error); one test loads a real shipped teacher (CHGNet 0.3.0, ~3 s).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.calculator import CalculatorSetupError
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.eos import EquationOfState

from multiscale.mlip import teachers
from multiscale.mlip.teachers import (
    CU111_GAMMA_PBE,
    CU_A_PBE,
    TEACHERS,
    _family_group,
    force_errors,
    in_box,
    teacher_calculator,
    teacher_scores,
)

J_PER_M2 = 16.021766339999  # eV/Å² -> J/m²


def _cu_cluster(n: int, seed: int) -> Atoms:
    """A small non-periodic Cu cluster (fcc fragment, rattled), Å."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)[:n]
    atoms.pbc = False
    atoms.cell = [0, 0, 0]
    atoms.rattle(0.08, seed=seed)
    return atoms


def _labelled_by_emt(atoms: Atoms, family: str, shift: np.ndarray | None = None) -> Atoms:
    """``atoms`` with EMT energy and forces (+ ``shift``, eV/Å) stored as the reference."""
    a = atoms.copy()
    a.calc = EMT()
    e, f = a.get_potential_energy(), a.get_forces()
    if shift is not None:
        f = f + shift
    a.calc = SinglePointCalculator(a, energy=e, forces=f)
    a.info["family"] = family
    return a


# --- teacher_calculator ------------------------------------------------------------------------


def test_unknown_teacher_names_the_choices():
    with pytest.raises(CalculatorSetupError, match="unknown teacher 'mace-mp-0'") as err:
        teacher_calculator("mace-mp-0")
    for name in TEACHERS:
        assert name in str(err.value)
    with pytest.raises(CalculatorSetupError, match="unknown teacher"):
        teacher_calculator(["sevennet-0"])  # not a name at all


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_teacher_threads_must_be_a_positive_integer(bad):
    with pytest.raises(CalculatorSetupError, match="num_threads"):
        teacher_calculator("chgnet-0.3.0", num_threads=bad)


def test_teacher_calculator_calls_the_registered_factory(monkeypatch):
    got = []

    def factory(num_threads):
        got.append(num_threads)
        return EMT()

    monkeypatch.setitem(TEACHERS, "emt-test", factory)
    calc = teacher_calculator("emt-test", num_threads=2)
    assert isinstance(calc.inner, EMT)  # wrapped to run under a float32 default dtype
    assert got == [2]


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_real_teacher_chgnet_forces_are_translation_invariant():
    """A shipped teacher loads offline; its forces on a rattled 3-atom Cu cell sum to ~0."""
    calc = teacher_calculator("chgnet-0.3.0")
    atoms = bulk("Cu", "fcc", a=3.6) * (3, 1, 1)
    atoms.rattle(0.05, seed=1)
    atoms.calc = calc
    f = atoms.get_forces()
    assert np.all(np.isfinite(f)) and np.isfinite(atoms.get_potential_energy())
    assert np.abs(f).max() > 0.05  # a rattled cell has real forces ...
    assert np.abs(f.sum(axis=0)).max() < 1e-4  # ... that sum to zero (Newton's third law)


# --- in_box ------------------------------------------------------------------------------------


def test_in_box_centres_the_cluster_and_keeps_its_geometry():
    cluster = _cu_cluster(4, seed=0)
    boxed = in_box(cluster, box=20.0)
    assert boxed.pbc.all()
    assert np.allclose(boxed.cell.lengths(), 20.0) and np.allclose(boxed.cell.angles(), 90.0)
    lo, hi = boxed.positions.min(axis=0), boxed.positions.max(axis=0)
    assert np.allclose((lo + hi) / 2, 10.0)  # bounding box centred
    assert np.allclose(boxed.get_all_distances(), cluster.get_all_distances())
    assert not cluster.pbc.any()  # the input is left alone


def test_in_box_too_small_raises():
    cluster = Atoms("Cu2", positions=[[0, 0, 0], [10.0, 0, 0]])
    with pytest.raises(ValueError, match=r"box=20.0 Å is too small .* box >= span \+ 12 Å"):
        in_box(cluster, box=20.0)
    assert in_box(cluster, box=22.0).cell.lengths()[0] == 22.0  # span + 12 is enough


# --- force errors ------------------------------------------------------------------------------


def test_family_grouping():
    assert _family_group("nacl_w2") == "nacl"
    assert _family_group("kcl_w10") == "kcl"
    assert _family_group("w3") == "water"
    assert _family_group("w12") == "water"
    assert _family_group("nacl") == "nacl"
    assert _family_group("all") == "all"


def test_force_errors_of_the_reference_itself_are_zero():
    frames = [_labelled_by_emt(_cu_cluster(n, seed=n), "w3") for n in (3, 4)]
    err = force_errors(EMT(), frames)  # clusters are boxed first: EMT forces unchanged
    assert err.mae == pytest.approx(0.0, abs=1e-9)
    assert err.rmse == pytest.approx(0.0, abs=1e-9)
    assert err.energy_mae == pytest.approx(0.0, abs=1e-9)
    assert (err.n_frames, err.n_components) == (2, 3 * 7)


def test_force_errors_energy_mae_is_per_atom():
    """Reference energies off by +0.3 eV (3 atoms) and -0.8 eV (4 atoms): the energy MAE is the
    mean of 0.1 and 0.2 eV/atom, 150 meV/atom; forces are untouched."""
    frames = []
    for n, de in ((3, 0.3), (4, -0.8)):
        ref = _labelled_by_emt(_cu_cluster(n, seed=n), "w1")
        ref.calc = SinglePointCalculator(
            ref, energy=ref.get_potential_energy() - de, forces=ref.get_forces()
        )
        frames.append(ref)
    err = force_errors(EMT(), frames)
    assert err.energy_mae == pytest.approx(150.0, rel=1e-9)
    assert err.mae == pytest.approx(0.0, abs=1e-9)


def test_force_errors_equal_a_known_perturbation():
    """Labels shifted by ±δ: MAE = RMSE = δ; per family the family's δ."""
    rng = np.random.default_rng(5)
    d1, d2 = 0.030, 0.110  # eV/Å
    frames = []
    for k, (fam, d) in enumerate([("nacl_w2", d1), ("nacl_w4", d1), ("w3", d2)]):
        atoms = _cu_cluster(3 + k % 2, seed=10 + k)
        shift = d * rng.choice([-1.0, 1.0], size=(len(atoms), 3))
        frames.append(_labelled_by_emt(atoms, fam, shift))
    n1 = 3 * (len(frames[0]) + len(frames[1]))
    n2 = 3 * len(frames[2])
    err = force_errors(EMT(), frames)
    assert err.by_family == pytest.approx({"nacl": 1e3 * d1, "water": 1e3 * d2}, rel=1e-9)
    assert err.mae == pytest.approx(1e3 * (n1 * d1 + n2 * d2) / (n1 + n2), rel=1e-9)
    assert err.rmse == pytest.approx(1e3 * np.sqrt((n1 * d1**2 + n2 * d2**2) / (n1 + n2)))
    assert err.n_components == n1 + n2


def test_force_errors_periodic_frames_and_no_family():
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 2, 1)
    atoms.rattle(0.05, seed=2)
    ref = _labelled_by_emt(atoms, "x", shift=np.full((len(atoms), 3), 0.004))
    del ref.info["family"]
    err = force_errors(EMT(), [ref], box=False)
    assert err.mae == pytest.approx(4.0, rel=1e-9)
    assert list(err.by_family) == ["all"]


def test_force_errors_needs_frames():
    with pytest.raises(ValueError, match="at least one labelled frame"):
        force_errors(EMT(), [])


# --- teacher_scores ----------------------------------------------------------------------------


def test_teacher_scores_with_emt_as_teacher(monkeypatch):
    """EMT registered as a teacher: zero cluster error against EMT labels; the Cu lattice
    constant of an independent equation-of-state fit; γ(111) just under that of a thick
    unrelaxed slab (relaxation lowers it); errors against the PBE references as defined."""
    monkeypatch.setitem(teachers.TEACHERS, "emt", lambda num_threads: EMT())
    clusters = [_labelled_by_emt(_cu_cluster(n, seed=n), f"w{n}") for n in (3, 4)]
    score = teacher_scores("emt", clusters)
    assert score.cluster_force_mae_meV_A == pytest.approx(0.0, abs=1e-9)
    assert score.n_clusters == 2 and score.name == "emt"
    # independent lattice constant: Birch-Murnaghan-type fit of E(V) of the primitive cell
    vols, ens = [], []
    for a in np.linspace(3.50, 3.68, 9):
        b = bulk("Cu", "fcc", a=a)
        b.calc = EMT()
        vols.append(b.get_volume())
        ens.append(b.get_potential_energy())
    v0, _, _ = EquationOfState(vols, ens).fit()
    a_eos = (4 * v0) ** (1 / 3)
    assert score.cu_a_A == pytest.approx(a_eos, abs=2e-4)
    assert score.cu_a_error_percent == pytest.approx(100 * (score.cu_a_A - CU_A_PBE) / CU_A_PBE)
    # independent surface energy: a 12-layer unrelaxed slab, (E_slab - N E_bulk) / 2A
    b = bulk("Cu", "fcc", a=score.cu_a_A)
    b.calc = EMT()
    slab = fcc111("Cu", size=(1, 1, 12), a=score.cu_a_A, vacuum=8.0)
    slab.pbc = True
    slab.calc = EMT()
    area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
    gamma = (slab.get_potential_energy() - 12 * b.get_potential_energy()) / (2 * area)
    gamma *= J_PER_M2
    assert gamma * 0.995 < score.cu111_gamma_J_m2 <= gamma + 1e-4
    assert score.cu111_gamma_error_percent == pytest.approx(
        100 * (score.cu111_gamma_J_m2 - CU111_GAMMA_PBE) / CU111_GAMMA_PBE
    )
    assert np.isnan(score.s_per_interface_frame)  # no interface given: not timed
    assert score.as_dict()["cu_a_A"] == score.cu_a_A


def test_teacher_works_whatever_torch_default_dtype_mace_left():
    """mace-torch sets torch's global default dtype to float64 (a float64 MACE model or
    training); the teacher still evaluates (its float32 weights need float32 inputs) and the
    caller's default dtype is left as it was."""
    import torch

    atoms = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    atoms.rattle(0.05, seed=2)
    atoms.calc = teacher_calculator("chgnet-0.3.0")
    ref = atoms.get_forces().copy()
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        atoms.positions[0, 0] += 1e-4
        atoms.positions[0, 0] -= 1e-4
        atoms.calc.reset()
        f = atoms.get_forces()
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(old)
    np.testing.assert_allclose(f, ref, atol=1e-5)


def test_teacher_wrapper_returns_raw_forces_under_constraints():
    """The float32 wrapper gives the wrapped model's raw forces; the constraints of the caller's
    Atoms are applied once, by that Atoms (rigid-water FIRE failed in RATTLE before)."""
    from ase.constraints import FixAtoms

    atoms = fcc111("Cu", size=(2, 2, 2), vacuum=5.0)
    atoms.rattle(0.05, seed=3)
    raw = atoms.copy()
    raw.calc = EMT()
    f_raw = raw.get_forces()
    atoms.set_constraint(FixAtoms(indices=[0, 1]))
    atoms.calc = teachers._Float32Default(EMT())
    assert np.allclose(atoms.calc.get_forces(atoms), f_raw, atol=1e-12)
    assert np.abs(f_raw[:2]).max() > 1e-3  # the fixed atoms do feel a force...
    assert np.allclose(atoms.get_forces()[:2], 0.0)  # ...that the Atoms' constraint removes


# --- SevenNet in the pipeline's registry ----------------------------------------------------------


def test_sevennet_is_registered_and_checks_elements_and_keywords():
    """``{model = "sevennet"}`` is a built-in name; a system with Po is refused before any model
    loads, and a misspelt keyword is named."""
    from multiscale.pipeline.calculators import registered_calculators, resolve_calculator

    assert "sevennet" in registered_calculators()
    spec = resolve_calculator({"model": "sevennet", "num_threads": 1}, elements={"Cu", "O"})
    assert spec["model"] == "sevennet"
    with pytest.raises(ValueError, match="does not cover Po"):
        resolve_calculator({"model": "sevennet"}, "md.calculator", elements={"Cu", "Po"})
    with pytest.raises(ValueError, match=r"num_thread: unknown keyword.*mean 'num_threads'"):
        resolve_calculator({"model": "sevennet", "num_thread": 1}, "md.calculator")


def test_sevennet_calculator_refuses_other_models():
    with pytest.raises(CalculatorSetupError, match=r"unknown SevenNet model 'chgnet-0\.3\.0'"):
        teachers.sevennet_calculator("chgnet-0.3.0")


def test_real_sevennet_elements_and_stress_equal_the_strain_derivative_of_the_energy():
    """The registry's element list is the checkpoint's type map; the stress that the elastic
    workflow fits is (1/V) dE/dε, checked by central differences on a compressed Cu cell."""
    from ase.data import chemical_symbols

    from multiscale.pipeline.calculators import make_calculator

    calc, _ = make_calculator({"model": "sevennet"})
    atoms = bulk("Cu", "fcc", a=3.55, cubic=True)
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False)
    assert set(calc.inner.type_map) <= set(range(1, 95))
    assert {chemical_symbols[z] for z in calc.inner.type_map} == teachers.SEVENNET_0_ELEMENTS
    v0, cell0, h = atoms.get_volume(), atoms.cell.array.copy(), 2e-3
    energies = []
    for s in (h, -h):
        strained = atoms.copy()
        eps = np.zeros((3, 3))
        eps[0, 0] = s
        strained.set_cell(cell0 @ (np.eye(3) + eps), scale_atoms=True)
        strained.calc = calc
        energies.append(strained.get_potential_energy())
    fd = (energies[0] - energies[1]) / (2 * h) / v0
    assert abs(stress[0, 0]) > 5e-3  # a compressed cell: a real stress (eV/Å³) ...
    assert stress[0, 0] == pytest.approx(fd, rel=0.02)  # ... equal to the energy's derivative
