"""The Nernst–Planck solver gives the serial answer on all ranks and writes its files once.

Run as ``mpiexec -n 2 .venv/bin/python -m pytest tests/mpi -q``. The serial reference is
solved inside the test on ``MPI.COMM_SELF`` on every rank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# Parallel == serial to what tolerance? Both runs solve the same discrete equations, but
# assembly, MUMPS pivoting and the MPI reductions add in a different order, so every Newton
# iterate differs by round-off amplified by the Jacobian's condition number (measured:
# κ ≈ 3e7 for the junction, 1.4e7 for the pit, so κ·ε ≈ 1e-8 per linear solve). Newton stops
# once the dimensionless residual is below snes_atol = 1e-10 or the update in ln c and φ/V_T
# is below 1e-9...1e-7 (continuum.problem._convergence_test): a converged state is only
# determined to about that stopping tolerance, and two partitions may stop on states that
# differ by up to it (another machine saw fluxes differ by 1.3e-10 relative, every run).
# Fluxes, currents and wall charges are residual entries of that state, amounts integrate
# it: the same accuracy. RTOL is ten times the loosest stopping tolerance (1e-7). A
# partition bug is far larger: test_tolerance_catches_partition_bugs shows that a missing
# allreduce changes a flux or amount by O(1) and stale ghost values change an amount by
# 1.6e-3, i.e. > 1000 RTOL.
# abs=0 everywhere: pytest.approx's default abs=1e-12 would swamp the 2D pit's amounts
# (1e-13 mol/m) and fluxes (3e-10 mol/m/s) and make those comparisons vacuous.
RTOL = 1e-6


def _junction(comm):
    """1D PNP junction under an applied voltage (current flows, double layers at both ends)."""
    from continuum import NernstPlanckProblem, Species, interval

    dom = interval(comm, 200e-9, 160, refine="both", grading=2.0)
    sp = [Species("H+", 1, 9.31e-9, 100.0), Species("Cl-", -1, 2.03e-9, 100.0)]
    p = NernstPlanckProblem(dom, sp, degree=2)
    for s in ("H+", "Cl-"):
        p.set_concentration(s, "left", 100.0)
        p.set_concentration(s, "right", 10.0)
    p.set_potential("left", 0.05)
    p.set_potential("right", 0.0)
    p.solve()
    return p


def _pit(comm):
    from continuum import ButlerVolmer, NernstPlanckProblem, Species, corrosion_pit

    dom = corrosion_pit(
        comm, pit_width=200e-9, pit_depth=200e-9, width=500e-9, height=500e-9,
        cells_across_pit=6,
    )  # fmt: skip
    bulk = {"Fe2+": 0.1, "Cl-": 1.2, "Na+": 1.0}
    sp = [
        Species("Fe2+", 2, 7.2e-10, 0.1),
        Species("Cl-", -1, 2.03e-9, 1.2),
        Species("Na+", 1, 1.33e-9, 1.0),
    ]
    p = NernstPlanckProblem(dom, sp)
    kin = ButlerVolmer("Fe2+", 2, 1e-2, -0.44, 1.2, 0.8, 1000.0, stern_capacitance=0.2)
    p.add_electrode("metal", kin, -0.3)
    for s, c in bulk.items():
        p.set_concentration(s, "bulk", c)
    p.set_potential("bulk", 0.0)
    p.solve()
    return p


def test_1d_pnp_parallel_equals_serial(comm):
    import dolfinx_solver  # noqa: F401
    from mpi4py import MPI

    ser, par = _junction(MPI.COMM_SELF), _junction(comm)
    a, b = ser.sample_1d(), par.sample_1d()
    assert b["x"].size == a["x"].size
    # mesh coordinates come from the same arithmetic on every partition: round-off only
    assert np.allclose(b["x"], a["x"], rtol=1e-12, atol=0), "x"
    for k in ("H+", "Cl-", "phi"):  # φ crosses zero: atol relative to its range
        assert np.allclose(b[k], a[k], rtol=RTOL, atol=RTOL * np.max(np.abs(a[k]))), k
    for s in ("H+", "Cl-"):
        for wall in ("left", "right"):
            assert par.flux(s, wall) == pytest.approx(ser.flux(s, wall), rel=RTOL, abs=0)
        assert par.amount(s) == pytest.approx(ser.amount(s), rel=RTOL, abs=0)
    assert par.current("right") == pytest.approx(ser.current("right"), rel=RTOL, abs=0)
    assert par.surface_charge("left") == pytest.approx(ser.surface_charge("left"), rel=RTOL, abs=0)
    assert abs(par.current("right")) > 0  # a current really flows


def test_2d_pit_parallel_equals_serial(comm):
    import dolfinx_solver  # noqa: F401
    from mpi4py import MPI

    ser, par = _pit(MPI.COMM_SELF), _pit(comm)
    i_ser, i_par = ser.electrode_current("metal"), par.electrode_current("metal")
    assert i_par == pytest.approx(i_ser, rel=RTOL, abs=0)
    # charge balance holds to the residual left by the Newton stopping test (see RTOL)
    assert par.current("bulk") == pytest.approx(i_par, rel=RTOL, abs=0)
    assert par.flux("Fe2+", "bulk") == pytest.approx(ser.flux("Fe2+", "bulk"), rel=RTOL, abs=0)
    for s in ("Fe2+", "Cl-", "Na+"):
        assert par.amount(s) == pytest.approx(ser.amount(s), rel=RTOL, abs=0)
    sigma = ser.surface_charge("metal")
    assert par.surface_charge("metal") == pytest.approx(sigma, rel=RTOL, abs=0)


def test_tolerance_catches_partition_bugs(comm):
    """RTOL is loose enough for round-off, tight enough for partition bugs: the same
    quantities computed with a deliberate bug (no MPI allreduce; ghost values not updated
    after the solve) miss the serial answer by far more than RTOL."""
    import dolfinx_solver  # noqa: F401
    from dolfinx import fem
    from mpi4py import MPI

    if comm.size == 1:
        pytest.skip("needs mpiexec -n 2 (no partition on one rank)")
    ser, par = _junction(MPI.COMM_SELF), _junction(comm)
    i = par._species_index("H+")
    ref_amount, ref_flux = ser.amount("H+"), ser.flux("H+", "left")
    # bug 1: the rank-local part of the amount, without the allreduce
    par.amount("H+")  # compiles the form
    local = fem.assemble_scalar(par._scalar_forms[("amount", i)])
    local *= par.reference_concentrations[i]
    errors = comm.allgather(abs(local / ref_amount - 1))
    assert min(errors) > 1e3 * RTOL, errors
    # bug 1': the residual flux summed over this rank's boundary dofs only
    res = par._residual()
    own = -float(np.sum(res[par._maps[i][par._indicator("left")]]))
    scale = par.flux("H+", "left") / par._boundary_integral_hat(i, "left", (i, "left"), -1.0)
    errors = comm.allgather(abs(own * scale / ref_flux - 1))
    assert max(errors) > 1e3 * RTOL, errors  # the rank without the wall sees no flux
    # bug 2: ghost values left at the initial state (missing scatter_forward)
    n_own = par._V.dofmap.index_map.size_local * par._V.dofmap.index_map_bs
    keep = par.w.x.array.copy()
    par.w.x.array[n_own:] = 0.0
    stale = par.amount("H+")
    par.w.x.array[:] = keep
    assert abs(stale / ref_amount - 1) > 1e3 * RTOL
    assert par.amount("H+") == pytest.approx(ref_amount, rel=RTOL, abs=0)  # restored: passes


def test_output_written_once(comm, tmp_path_factory):
    import dolfinx_solver  # noqa: F401

    from continuum import NernstPlanckProblem, Species, interval

    out = comm.bcast(str(tmp_path_factory.mktemp("np")) if comm.rank == 0 else None, root=0)
    dom = interval(comm, 1e-6, 40)
    p = NernstPlanckProblem(dom, [Species("O", 0, 1e-9, 1.0)], potential=None)
    p.set_concentration("O", "left", 2.0)
    res = p.run(2e-4, dt=1e-6, record=["left"], output=out, progress=False)
    p.write(f"{out}/final.bp")
    comm.barrier()
    rows = Path(out, "history.csv").read_text().splitlines()
    # one header and one row per accepted step: rank 0 wrote it, once
    assert len(rows) == 1 + len(res.steps)
    assert len(set(rows)) == len(rows)
    times = [float(r.split(",")[0]) for r in rows[1:]]
    # the CSV holds 12 significant digits ("%.12g"): 5e-13 relative; the times themselves
    # are the same floats on all ranks (the step control uses allreduced errors)
    assert times == pytest.approx(list(res.times[1:]), rel=1e-10)
    for bp in ("fields.bp", "final.bp"):
        files = sorted(f.name for f in Path(out, bp).iterdir())
        assert "md.idx" in files  # one ADIOS2 container shared by all ranks
        assert comm.allgather(files) == [files] * comm.size
    assert sorted(x.name for x in Path(out).iterdir()) == ["fields.bp", "final.bp", "history.csv"]
