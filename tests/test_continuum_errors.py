"""Bad input is refused with a message that says what to do; failed solves raise
ConvergenceError naming the PETSc SNES reason."""

from __future__ import annotations

import dolfinx_solver  # noqa: F401
import numpy as np
import pytest
from mpi4py import MPI

from continuum import (
    ButlerVolmer,
    ConvergenceError,
    NernstPlanckProblem,
    Species,
    interval,
)

COMM = MPI.COMM_SELF


@pytest.fixture
def salt():
    return [Species("Na+", 1, 1.33e-9, 100.0), Species("Cl-", -1, 2.03e-9, 100.0)]


@pytest.fixture
def dom():
    return interval(COMM, 10e-9, 20)


def test_species_validation():
    with pytest.raises(ValueError, match=r"diffusion of A must be > 0"):
        Species("A", 1, -1e-9, 1.0)
    with pytest.raises(ValueError, match=r"concentration of A must be > 0"):
        Species("A", 1, 1e-9, 0.0)
    with pytest.raises(ValueError, match="whole number"):
        Species("A", 0.5, 1e-9, 1.0)
    with pytest.raises(TypeError, match="non-empty string"):
        Species("", 1, 1e-9, 1.0)
    with pytest.raises(TypeError, match="must be a number"):
        Species("A", 1, "fast", 1.0)
    with pytest.raises(ValueError, match="exchange_current_density must be > 0"):
        ButlerVolmer("A", 1, 0.0, 0.0)
    with pytest.raises(ValueError, match="electrons must be a positive whole number"):
        ButlerVolmer("A", 0, 1.0, 0.0)


def test_problem_arguments(dom, salt):
    with pytest.raises(TypeError, match=r"continuum\.Domain"):
        NernstPlanckProblem("mesh", salt)
    with pytest.raises(TypeError, match=r"sequence of continuum\.Species"):
        NernstPlanckProblem(dom, [("Na+", 1)])
    with pytest.raises(ValueError, match="unique"):
        NernstPlanckProblem(dom, [salt[0], salt[0]])
    with pytest.raises(ValueError, match="degree must be 1, 2 or 3"):
        NernstPlanckProblem(dom, salt, degree=4)
    with pytest.raises(ValueError, match="potential must be 'poisson'"):
        NernstPlanckProblem(dom, salt, potential="md")
    with pytest.raises(ValueError, match="permittivity must be > 0"):
        NernstPlanckProblem(dom, salt, permittivity=-1.0)
    with pytest.raises(ValueError, match="needs at least one charged species"):
        NernstPlanckProblem(dom, [Species("O2", 0, 2e-9, 0.25)])
    with pytest.raises(ValueError, match=r"diffusion of Na\+ must be > 0 everywhere"):
        bad = Species("Na+", 1, lambda x: 1e-9 - 2e-9 * (x[0] > 5e-9), 100.0)
        NernstPlanckProblem(dom, [bad, salt[1]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        NernstPlanckProblem(dom, salt, potential=lambda x: np.full(x.shape[1], np.nan))


def test_boundary_conditions(dom, salt):
    p = NernstPlanckProblem(dom, salt)
    with pytest.raises(ValueError, match=r"unknown species 'K\+'"):
        p.set_concentration("K+", "left", 1.0)
    with pytest.raises(ValueError, match=r"unknown boundary 'top'; this domain has"):
        p.set_potential("top", 0.0)
    with pytest.raises(ValueError, match="must be > 0 mol/m\\^3"):
        p.set_concentration("Na+", "left", 0.0)
    with pytest.raises(ValueError, match="needs a Stern layer"):
        p.add_electrode("left", ButlerVolmer("Na+", 1, 1.0, 0.0), 0.1)
    with pytest.raises(ValueError, match="solve\\(\\) or run\\(\\) first"):
        p.flux("Na+", "left")
    p.set_flux("Na+", "right", 0.0)
    with pytest.raises(ValueError, match="already has a flux condition"):
        p.set_concentration("Na+", "right", 1.0)
    with pytest.raises(ValueError, match="fixed only up to a constant"):
        p.solve()
    q = NernstPlanckProblem(dom, salt, potential=None)
    with pytest.raises(ValueError, match="set_potential needs potential='poisson'"):
        q.set_potential("left", 0.0)
    with pytest.raises(ValueError, match="use potential='poisson'"):
        q.set_surface_charge("left", 0.01)


def test_conditions_frozen_after_solve_and_vtx_name(dom, salt, tmp_path):
    p = NernstPlanckProblem(dom, salt, potential=None)
    for s in ("Na+", "Cl-"):
        p.set_concentration(s, "left", 100.0)
    p.solve()
    with pytest.raises(ValueError, match="before the first solve"):
        p.set_concentration("Na+", "right", 10.0)
    with pytest.raises(ValueError, match=r"needs a \.bp file name"):
        p.write(tmp_path / "out.xdmf")
    with pytest.raises(ValueError, match="t_end must be a number > the current time"):
        p.run(0.0)


@pytest.mark.parametrize("continuation", [False, True])
def test_impossible_solve_raises_convergence_error(dom, salt, continuation):
    """One Newton iteration cannot resolve a 10 kT/e double layer: the SNES reason is named."""
    p = NernstPlanckProblem(dom, salt, petsc_options={"snes_max_it": 1})
    p.set_potential("left", 0.257)
    p.set_potential("right", 0.0)
    for s in ("Na+", "Cl-"):
        p.set_concentration(s, "right", 100.0)
    with pytest.raises(ConvergenceError, match=r"\(DIVERGED_[A-Z_]+") as info:
        p.solve(continuation=continuation)
    assert info.value.reason.startswith("DIVERGED_")
    assert info.value.reason in str(info.value)
    # the same problem with the default Newton settings converges
    p2 = NernstPlanckProblem(dom, salt)
    p2.set_potential("left", 0.257)
    p2.set_potential("right", 0.0)
    for s in ("Na+", "Cl-"):
        p2.set_concentration(s, "right", 100.0)
    assert p2.solve().converged


def test_continuation_rescues_a_failing_direct_solve():
    """12 kT/e with at most 6 Newton iterations per solve: the direct solve fails, the
    automatic continuation in the applied potential succeeds and gives the same discrete
    solution as an unrestricted Newton solve, and Gouy–Chapman to 1e-4."""
    from continuum import analytic, debye_length, thermal_voltage

    vt, c0 = thermal_voltage(298.15), 100.0
    phi0 = 12 * vt
    lam = debye_length([c0, c0], [1, -1])

    def problem(**options):
        dom = interval(COMM, 20 * lam, 800, refine="start", grading=3.0)
        p = NernstPlanckProblem(
            dom, [Species("Na+", 1, 1.33e-9, c0), Species("Cl-", -1, 2.03e-9, c0)], **options
        )
        p.set_potential("left", phi0)
        p.set_potential("right", 0.0)
        for s in ("Na+", "Cl-"):
            p.set_concentration(s, "right", c0)
        return p

    limited = problem(petsc_options={"snes_max_it": 6})
    with pytest.raises(ConvergenceError, match="DIVERGED_MAX_IT"):
        limited.solve(continuation=False)
    res = limited.solve()
    assert len(res.continuation) > 2 and res.continuation[-1][0] == 1.0
    assert all(its <= 6 for _, its in res.continuation)
    reference = problem()
    assert reference.solve().iterations > 6
    a, b = limited.sample_1d(), reference.sample_1d()
    assert np.allclose(a["phi"], b["phi"], rtol=1e-6, atol=1e-9 * phi0)
    assert np.allclose(a["Cl-"], b["Cl-"], rtol=1e-5)
    phi_gc = analytic.gouy_chapman(a["x"], phi0, c0)[0]
    assert np.max(np.abs(a["phi"] - phi_gc)) < 1e-4 * phi0
