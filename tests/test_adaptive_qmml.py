"""AdaptiveQMMLCalculator (sorted adaptive partitioning): forces = -dE, limits, NVE, errors.

Stand-ins: ASE's EMT (many-body, so the QM-ML difference is not pair-additive) or a
Lennard-Jones potential is the "QM" level, another Lennard-Jones parameter set the "ML" one.
Systems: a Cu atom (the core) with Cu2 "molecules" (explicit molecule labels) around it, or
an Ar7 cluster; all energies in eV, distances in Å.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import CalculationFailed, CalculatorSetupError
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.md.velocitydistribution import Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet

from coupling import (
    AdaptiveQMMLCalculator,
    ForceMixingCalculator,
    PySCFCalculator,
    Regions,
    sorted_partition_weights,
)

R_CORE, R_SWITCH = 2.8, 2.0


def ml_cu() -> LennardJones:
    """A smooth 'ML' stand-in for Cu, deliberately different from EMT."""
    return LennardJones(sigma=2.3, epsilon=0.35, rc=7.0, smooth=True)


def dimer(rep: np.ndarray, bond: float = 2.4) -> np.ndarray:
    """Positions of a Cu2 group: ``rep`` and a second atom radially outward."""
    u = rep / np.linalg.norm(rep)
    return np.array([rep, rep + bond * u])


def cu_system(reps: list[np.ndarray]) -> tuple[Atoms, np.ndarray]:
    """A Cu core atom at the origin with one Cu2 group per representative position."""
    pos = [np.zeros(3)] + [p for r in reps for p in dimer(np.asarray(r, float))]
    labels = np.array([0] + [1 + k // 2 for k in range(2 * len(reps))])
    return Atoms(f"Cu{len(pos)}", positions=pos), labels


def polar(r: float, angle_deg: float, z: float = 0.0) -> np.ndarray:
    a = np.radians(angle_deg)
    return np.array([r * np.cos(a), r * np.sin(a), z])


def standard_system() -> tuple[Atoms, np.ndarray]:
    """Groups in the core (2.5 Å), the shell (3.2-4.5 Å) and beyond it (5.3 Å)."""
    reps = [polar(2.5, 0), polar(3.2, 70), polar(3.6, 140), polar(4.1, 210, 1.0), polar(4.5, 280)]
    reps.append(polar(5.3, 330, -1.5))
    return cu_system(reps)


def adaptive(labels, scheme="smooth", qm=None, ml=None, **kwargs) -> AdaptiveQMMLCalculator:
    regions = Regions([0], r_core=R_CORE, r_switch=R_SWITCH, molecules=labels)
    # EMT and the LJ stand-in differ by ~2 eV/atom on a Cu2 group (EMT's zero is the bulk
    # metal): mismatched energy zeros on purpose, so that the -ΔE_k ∇σ_k terms are large in
    # the finite-difference tests; test_mismatched_energy_zeros checks the guard itself
    kwargs.setdefault("max_crossing_mismatch", None)
    return AdaptiveQMMLCalculator(qm or EMT(), ml or ml_cu(), regions, scheme=scheme, **kwargs)


def energy(atoms: Atoms, calc) -> float:
    work = atoms.copy()
    work.calc = calc
    return float(work.get_potential_energy())


def energy_forces(atoms: Atoms, calc) -> tuple[float, np.ndarray]:
    work = atoms.copy()
    work.calc = calc
    return float(work.get_potential_energy()), np.array(work.get_forces())


def fd_force(atoms: Atoms, calc, i: int, c: int, h: float = 1e-4) -> float:
    """Central finite difference -dE/dx_ic (eV/Å)."""
    plus, minus = atoms.copy(), atoms.copy()
    plus.positions[i, c] += h
    minus.positions[i, c] -= h
    return -(energy(plus, calc) - energy(minus, calc)) / (2 * h)


# ----------------------------------------------------------------------------- weights
@pytest.mark.parametrize("scheme", ["smooth", "linear"])
def test_partition_weights_sum_to_one_are_nonnegative_and_have_exact_derivatives(scheme):
    rng = np.random.default_rng(3)
    for n in (1, 2, 5):
        w = rng.uniform(0.02, 0.98, n)
        order, sigma, dsigma = sorted_partition_weights(w, scheme)
        assert np.all(np.diff(w[order]) <= 0)  # decreasing weights
        assert sigma.shape == (n + 1,) and np.all(sigma >= 0)
        assert sigma.sum() == pytest.approx(1.0, abs=1e-14)
        np.testing.assert_allclose(dsigma.sum(axis=0), 0.0, atol=1e-10)  # Σσ = 1 always
        h = 1e-7
        for g in range(n):
            wp, wm = w.copy(), w.copy()
            wp[g] += h
            wm[g] -= h
            fd = sorted_partition_weights(wp, scheme)[1] - sorted_partition_weights(wm, scheme)[1]
            np.testing.assert_allclose(dsigma[:, g], fd / (2 * h), atol=1e-6)


def test_linear_scheme_is_the_difference_of_consecutive_sorted_weights():
    _, sigma, _ = sorted_partition_weights(np.array([0.3, 0.8, 0.5]), "linear")
    np.testing.assert_allclose(sigma, [0.2, 0.3, 0.2, 0.3])


def test_smooth_scheme_drops_order_dependent_partitions_at_a_tie():
    """Partitions holding one of two tied groups but not the other vanish as |Δw|^3."""
    for delta in (1e-2, 5e-3):
        _, sigma, _ = sorted_partition_weights(np.array([0.6 + delta, 0.6, 0.2]), "smooth")
        if delta == 1e-2:
            first = sigma[1]
        else:
            assert sigma[1] / first == pytest.approx(1 / 8, rel=0.1)  # Δ^3 scaling
    _, sigma, dsigma = sorted_partition_weights(np.array([0.6, 0.6, 0.2]), "smooth")
    assert sigma[1] == 0.0 and np.all(dsigma[1] == 0.0)
    assert sigma.sum() == pytest.approx(1.0)


def test_partition_weights_refuse_bad_input():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        sorted_partition_weights(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="scheme must be one of"):
        sorted_partition_weights(np.array([0.5]), "cubic")


# ----------------------------------------------------------------------------- forces = -dE
@pytest.mark.parametrize("scheme", ["smooth", "linear"])
def test_forces_equal_central_finite_differences_of_the_energy(scheme):
    atoms, labels = standard_system()
    calc = adaptive(labels, scheme)
    e, f = energy_forces(atoms, calc)
    results = dict(calc.results)
    assert results["n_partitions"] == 5  # four groups in the shell
    assert np.all(results["sigma"] > 0)
    # every atom for the default scheme; core, shell and ML-group atoms for the other
    check = range(len(atoms)) if scheme == "smooth" else (0, 1, 3, 6, 9, 11)
    fd = np.array([[fd_force(atoms, calc, i, c) for c in range(3)] for i in check])
    scale = np.abs(f).max()
    assert scale > 0.1
    np.testing.assert_allclose(f[list(check)], fd, atol=1e-6 * scale + 1e-7)
    np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-9)  # translation invariant
    assert e == pytest.approx(float(results["sigma"] @ results["partition_energies"]), abs=1e-10)


def swap_system(offset: float) -> tuple[Atoms, np.ndarray]:
    """Two interacting shell groups A (along x) and B at equal distance + ``offset``."""
    return cu_system([polar(3.6, 0), polar(3.6 + offset, 50), polar(4.2, 180)])


@pytest.mark.parametrize("scheme", ["smooth", "linear"])
def test_forces_where_two_groups_swap_sort_order(scheme):
    """FD step h straddles the swap: A's representative moves ±h along x, B sits h/3 out.

    With the smooth weights E is C2 through the swap: the FD error is the O(h²) truncation
    error (it falls ~9x when h falls 3x). The linear weights (differences of sorted weights)
    give E a kink there: central FD averages the two one-sided slopes, and the mismatch does
    not fall with h; away from the swap their forces are exact on either side.
    """
    mismatch = []
    for h in (3e-4, 1e-4):
        atoms, labels = swap_system(h / 3)
        calc = adaptive(labels, scheme)
        _, f = energy_forces(atoms, calc)
        w = calc.results["shell_weights"]
        assert len(w) == 3 and abs(w[0] - w[1]) < 1e-3  # A and B nearly tied
        mismatch.append(abs(fd_force(atoms, calc, 1, 0, h) - f[1, 0]))
    if scheme == "smooth":
        assert mismatch[1] < mismatch[0] / 6  # O(h²): truncation, no kink
        assert mismatch[1] < 5e-6 * np.abs(f).max()
        for i, c in ((3, 1), (0, 0), (0, 1), (5, 0)):  # other atoms, same tie
            assert fd_force(atoms, calc, i, c, 1e-4) == pytest.approx(
                f[i, c], abs=5e-6 * np.abs(f).max()
            )
    else:
        assert mismatch[1] > 0.5 * mismatch[0] > 1e-2  # a kink: does not shrink with h
        for side in (-1, 1):
            moved = atoms.copy()
            moved.positions[1, 0] += side * 0.01
            _, f_side = energy_forces(moved, calc)
            assert fd_force(moved, calc, 1, 0, 1e-4) == pytest.approx(f_side[1, 0], abs=1e-5)


def test_forces_equal_finite_differences_with_link_hydrogens():
    """molecules=False: the cut C-C bonds of a chain are capped; FD still matches."""
    pos = [[0, 0, 0], [1.5, 0, 0], [3.0, 0.3, 0], [4.4, 0.1, 0.4], [5.9, 0.4, 0.2]]
    atoms = Atoms("C5", positions=pos)
    regions = Regions([0], r_core=1.0, r_switch=3.5, molecules=False)
    lj_ml = LennardJones(sigma=1.2, epsilon=0.2, rc=5.0, smooth=True)
    # EMT's and LJ's zeros differ (as in the Cu tests): the guard is off here
    calc = AdaptiveQMMLCalculator(EMT(), lj_ml, regions, max_crossing_mismatch=None)
    _, f = energy_forces(atoms, calc)
    assert calc.results["n_partitions"] >= 3
    assert calc.results["cluster_sizes"].max() > 0
    cluster = regions.carve(atoms, [0, 1, 2])
    assert cluster.n_links == 1  # partition clusters carry link hydrogens
    for i in range(len(atoms)):
        for c in range(3):
            assert fd_force(atoms, calc, i, c) == pytest.approx(f[i, c], abs=1e-5)


# ----------------------------------------------------------------------------- continuity
@pytest.mark.parametrize("edge", [R_CORE, R_CORE + R_SWITCH])
def test_energy_and_forces_continuous_when_a_group_crosses_a_shell_edge(edge):
    """A group steps across an edge: E changes by -F·Δr only (no jump), F by O(Δr)."""
    step = 1e-3
    results = []
    for r in (edge - step, edge + step):
        atoms, labels = cu_system([polar(r, 0), polar(3.5, 120), polar(4.0, 240)])
        calc = adaptive(labels)
        e, f = energy_forces(atoms, calc)
        results.append((e, f, calc.results["n_partitions"]))
    (e1, f1, n1), (e2, f2, n2) = results
    assert n1 != n2  # the crossing group left or entered the shell
    # the group (atoms 1, 2) moved by 2*step along x: dE = -(F1x + F2x) 2 step + O(step^2)
    work = -0.5 * (f1[1:3, 0].sum() + f2[1:3, 0].sum()) * 2 * step
    assert abs((e2 - e1) - work) < 1e-6
    np.testing.assert_allclose(f1, f2, atol=50 * step * max(1.0, np.abs(f1).max()))


# ----------------------------------------------------------------------------- limits
def test_everything_in_the_core_gives_qm_exactly():
    atoms, labels = standard_system()
    regions = Regions([0], r_core=50.0, r_switch=1.0, molecules=labels)
    calc = AdaptiveQMMLCalculator(EMT(), ml_cu(), regions)
    e, f = energy_forces(atoms, calc)
    e_qm, f_qm = energy_forces(atoms, EMT())
    assert calc.results["n_partitions"] == 1
    assert e == pytest.approx(e_qm, abs=1e-9)
    np.testing.assert_allclose(f, f_qm, atol=1e-9)


def test_same_model_on_both_sides_gives_the_ml_energy_and_forces():
    atoms, labels = standard_system()
    calc = adaptive(labels, qm=ml_cu())
    e, f = energy_forces(atoms, calc)
    e_ml, f_ml = energy_forces(atoms, ml_cu())
    assert calc.results["n_partitions"] == 5
    assert e == pytest.approx(e_ml, abs=1e-9)
    np.testing.assert_allclose(f, f_ml, atol=1e-9)


def test_beyond_the_shell_ml_only_and_results_are_reported():
    atoms, labels = standard_system()
    calc = adaptive(labels)
    energy_forces(atoms, calc)
    r = calc.results
    assert r["n_partitions"] == len(r["sigma"]) == len(r["partition_energies"]) == 5
    assert np.all(np.diff(r["shell_weights"]) <= 0)
    assert r["group_weights"][0] == 1.0 and r["group_weights"][-1] == 0.0  # core, ML
    sizes = r["cluster_sizes"]
    # core + inner group (+ a link H where the covalent-radius rule sees a Cu-Cu bond cut),
    # then one more Cu2 group per partition
    assert sizes[0] >= 3 and np.all(np.diff(sizes) == 2)
    np.testing.assert_allclose(
        r["partition_energies"], r["ml_energy"] + r["qm_energies"] - r["ml_cluster_energies"]
    )
    # one QM calculator per partition slot; the template is never run
    assert len({id(calc.qm_slot(k)) for k in range(5)}) == 5
    assert "energy" not in calc.qm_calc.results


# ----------------------------------------------------------------------------- NVE
def ar7() -> tuple[Atoms, np.ndarray]:
    r = 3.8
    pos = [[0, 0, 0]] + [
        [s * r if k == i else 0 for k in range(3)] for i in range(3) for s in (1, -1)
    ]
    return Atoms("Ar7", positions=pos), np.arange(7)


def lj_qm() -> LennardJones:
    return LennardJones(sigma=3.4, epsilon=0.0104, rc=8.0, smooth=True)


def lj_ml() -> LennardJones:
    return LennardJones(sigma=3.3, epsilon=0.0125, rc=8.0, smooth=True)


def nve_energy(make_calc, dt_fs: float, t_total_fs: float = 300.0) -> np.ndarray:
    """Total energy (eV) along velocity Verlet; potential from the adaptive calculator."""
    atoms, labels = ar7()
    momenta = np.random.default_rng(1).normal(size=(len(atoms), 3))
    momenta *= np.sqrt(units.kB * 60.0 * atoms.get_masses())[:, None]  # ~60 K
    atoms.set_momenta(momenta)
    Stationary(atoms)
    ZeroRotation(atoms)
    atoms.calc = make_calc(labels)
    monitor = AdaptiveQMMLCalculator(
        lj_qm(), lj_ml(), Regions([0], r_core=3.0, r_switch=1.5, molecules=labels)
    )
    total = []

    def record():
        if isinstance(atoms.calc, AdaptiveQMMLCalculator):
            e_pot = atoms.get_potential_energy()
        else:
            e_pot = energy(atoms, monitor)
        total.append(e_pot + atoms.get_kinetic_energy())

    dyn = VelocityVerlet(atoms, timestep=dt_fs * units.fs)
    dyn.attach(record, interval=1)
    dyn.run(round(t_total_fs / dt_fs))
    return np.array(total)


def test_nve_conserves_energy_far_better_than_force_mixing():
    """Velocity Verlet on the adaptive energy: O(dt²) bounded error, no drift.

    Halving dt must shrink the adaptive run's energy error ~4x (the integrator's O(dt²)
    shadow-Hamiltonian error), which shows that the error is the integrator's and not the
    model's. Force mixing on the same system and regions (forces not a gradient) drifts; its
    energy is measured with the adaptive potential, the closest conservative model.
    """

    def sap(labels):
        return AdaptiveQMMLCalculator(
            lj_qm(), lj_ml(), Regions([0], r_core=3.0, r_switch=1.5, molecules=labels)
        )

    def fm(labels):
        return ForceMixingCalculator(
            lj_qm(), lj_ml(), Regions([0], r_core=3.0, r_switch=1.5, molecules=labels)
        )

    dt = 10.0
    e_sap = nve_energy(sap, dt)
    e_sap_half = nve_energy(sap, dt / 2)
    e_fm = nve_energy(fm, dt)
    err, err_half = np.abs(e_sap - e_sap[0]).max(), np.abs(e_sap_half - e_sap_half[0]).max()
    assert 2.5 < err / err_half < 6.0  # O(dt²)
    t = np.arange(len(e_sap)) * dt
    slope_sap = abs(np.polyfit(t, e_sap, 1)[0])
    slope_fm = abs(np.polyfit(t, e_fm, 1)[0])
    assert slope_fm > 10 * slope_sap
    # force mixing's drift over the run exceeds the adaptive run's whole O(dt²) error band
    assert abs(e_fm[-1] - e_fm[0]) > 10 * err


def test_ase_optimizer_relaxes_on_the_adaptive_energy():
    """BFGS needs an energy (force mixing has none): it converges on the adaptive one."""
    from ase.optimize import BFGS

    atoms, labels = ar7()
    atoms.rattle(0.05, seed=4)
    atoms.calc = AdaptiveQMMLCalculator(
        lj_qm(), lj_ml(), Regions([0], r_core=3.0, r_switch=1.5, molecules=labels)
    )
    e0 = atoms.get_potential_energy()
    assert BFGS(atoms, logfile=None).run(fmax=0.01, steps=200)
    assert atoms.get_potential_energy() < e0
    assert np.abs(atoms.get_forces()).max() < 0.01


# ----------------------------------------------------------------------------- density reuse
def test_pyscf_partitions_keep_their_own_density_extrapolation():
    """Two H2 molecules, one in the core and one in the shell: 2 partitions, 2 PySCF slots."""
    atoms = Atoms("H4", positions=[[0, 0, 0], [0.74, 0, 0], [0, 2.6, 0], [0.74, 2.6, 0]])
    regions = Regions([0, 1], r_core=1.5, r_switch=2.0)
    qm = PySCFCalculator(xc="hf", basis="sto-3g", conv_tol=1e-10)
    ml = LennardJones(sigma=1.0, epsilon=0.05, rc=6.0, smooth=True)
    # an HF total energy against LJ: zeros 18 eV/atom apart; this test is about the densities
    calc = AdaptiveQMMLCalculator(qm, ml, regions, max_crossing_mismatch=None)
    guesses = []
    for step in range(3):
        moved = atoms.copy()
        moved.positions[:, 0] += 0.01 * step  # both molecules move: both slots recompute
        moved.positions[2:, 1] += 0.01 * step
        energy_forces(moved, calc)
        guesses.append([calc.qm_slot(k).results["guess"] for k in range(2)])
    assert calc.results["n_partitions"] == 2
    assert guesses[0] == ["atomic", "atomic"]
    assert all(g != "atomic" for g in guesses[2])  # each slot extrapolates its own density
    assert qm.mf is None  # the template itself never ran


# ----------------------------------------------------------------------------- errors
def test_bad_setup_is_refused_with_a_clear_message():
    _, labels = standard_system()
    ok = Regions([0], r_core=R_CORE, r_switch=R_SWITCH, molecules=labels)
    with pytest.raises(CalculatorSetupError, match="r_buffer must be 0"):
        AdaptiveQMMLCalculator(EMT(), ml_cu(), Regions([0], 2.0, 1.0, r_buffer=0.5))
    with pytest.raises(CalculatorSetupError, match="scheme must be one of"):
        AdaptiveQMMLCalculator(EMT(), ml_cu(), ok, scheme="sorted")
    with pytest.raises(CalculatorSetupError, match="max_partitions must be a whole number"):
        AdaptiveQMMLCalculator(EMT(), ml_cu(), ok, max_partitions=0)
    with pytest.raises(CalculatorSetupError, match="calculator instance"):
        AdaptiveQMMLCalculator(EMT, ml_cu(), ok)
    with pytest.raises(CalculatorSetupError, match="must give energy and forces"):
        AdaptiveQMMLCalculator(ForceMixingCalculator(EMT(), ml_cu(), ok), ml_cu(), ok)
    with pytest.raises(CalculatorSetupError, match=r"regions must be a coupling\.Regions"):
        AdaptiveQMMLCalculator(EMT(), ml_cu(), {"core": [0]})
    with pytest.raises(CalculatorSetupError, match="comm must be an mpi4py communicator"):
        AdaptiveQMMLCalculator(EMT(), ml_cu(), ok, comm=2)
    with pytest.raises(CalculatorSetupError, match="unknown AdaptiveQMMLCalculator argument"):
        AdaptiveQMMLCalculator(EMT(), ml_cu(), ok, buffer=1.0)
    with pytest.raises(CalculatorSetupError, match="unknown switching function"):
        AdaptiveQMMLCalculator(EMT(), ml_cu(), ok, switching="smooth")
    with pytest.raises(CalculatorSetupError, match=r"max_crossing_mismatch must be a number > 0"):
        AdaptiveQMMLCalculator(EMT(), ml_cu(), ok, max_crossing_mismatch=0.0)


def test_mismatched_energy_zeros_raise_and_a_fitted_shift_cures_them():
    """EMT (zero: bulk Cu) against the LJ stand-in (zero: separated atoms) differ by ~2 eV per
    atom of a Cu2 group: the default guard refuses; a per-element shift fitted on the
    partition clusters removes the offset, and the shifted calculator's forces are still the
    gradient of its energy."""
    from coupling import ReferenceShiftedCalculator, fit_reference_energies

    atoms, labels = standard_system()
    with pytest.raises(CalculationFailed, match=r"do not share an energy zero.*fit_reference"):
        energy(atoms, adaptive(labels, max_crossing_mismatch=1.0))
    # the partition clusters (link hydrogens included) are what the fit should see
    clusters = adaptive(labels).partition_clusters(atoms)
    assert len(clusters) == 5 and [len(c) for c in clusters] == sorted(len(c) for c in clusters)
    shifts, rms = fit_reference_energies(EMT(), ml_cu(), clusters)
    assert set(shifts) == {"Cu", "H"} and rms < 1.0  # EMT is many-body: not a pure constant
    calc = adaptive(labels, qm=ReferenceShiftedCalculator(EMT(), shifts),
                    max_crossing_mismatch=1.0)  # fmt: skip
    _, f = energy_forces(atoms, calc)
    assert [len(c) for c in clusters] == calc.results["cluster_sizes"].tolist()
    steps = np.abs(np.diff(calc.results["qm_energies"] - calc.results["ml_cluster_energies"]))
    assert np.nanmax(steps) / 2 < 1.0  # per atom of a Cu2 group
    fd = np.zeros_like(f)
    for i in range(len(atoms)):
        for c in range(3):
            pos = [atoms.copy(), atoms.copy()]
            pos[0].positions[i, c] += 1e-4
            pos[1].positions[i, c] -= 1e-4
            fd[i, c] = -(energy(pos[0], calc) - energy(pos[1], calc)) / 2e-4
    np.testing.assert_allclose(f, fd, atol=1e-5)


def test_too_many_partitions_raise_with_the_count():
    atoms, labels = standard_system()
    calc = adaptive(labels, max_partitions=3)
    with pytest.raises(CalculationFailed, match="4 groups in the switching shell need 5"):
        energy(atoms, calc)


def test_bad_structure_is_reported_as_a_failed_calculation():
    atoms, labels = standard_system()
    atoms.positions[3] = atoms.positions[2] + 0.1  # overlap
    with pytest.raises(CalculationFailed, match="overlapping atoms"):
        energy(atoms, adaptive(labels))
