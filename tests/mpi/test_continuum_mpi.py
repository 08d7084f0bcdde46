"""The Nernst–Planck solver gives the serial answer on all ranks and writes its files once.

Run as ``mpiexec -n 2 .venv/bin/python -m pytest tests/mpi -q``. The serial reference is
solved inside the test on ``MPI.COMM_SELF`` on every rank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


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
    kin = ButlerVolmer("Fe2+", 2, 1e-2, -0.44, 0.6, 0.4, 1000.0, stern_capacitance=0.2)
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
    for k in ("x", "H+", "Cl-", "phi"):
        assert np.allclose(b[k], a[k], rtol=1e-10, atol=1e-14 * np.max(np.abs(a[k]))), k
    for s in ("H+", "Cl-"):
        for wall in ("left", "right"):
            assert par.flux(s, wall) == pytest.approx(ser.flux(s, wall), rel=1e-10)
        assert par.amount(s) == pytest.approx(ser.amount(s), rel=1e-10)
    assert par.current("right") == pytest.approx(ser.current("right"), rel=1e-10)
    assert par.surface_charge("left") == pytest.approx(ser.surface_charge("left"), rel=1e-10)
    assert abs(par.current("right")) > 0  # a current really flows


def test_2d_pit_parallel_equals_serial(comm):
    import dolfinx_solver  # noqa: F401
    from mpi4py import MPI

    ser, par = _pit(MPI.COMM_SELF), _pit(comm)
    i_ser, i_par = ser.electrode_current("metal"), par.electrode_current("metal")
    assert i_par == pytest.approx(i_ser, rel=1e-10)
    assert par.current("bulk") == pytest.approx(i_par, rel=1e-8)  # charge balance
    assert par.flux("Fe2+", "bulk") == pytest.approx(ser.flux("Fe2+", "bulk"), rel=1e-10)
    for s in ("Fe2+", "Cl-", "Na+"):
        assert par.amount(s) == pytest.approx(ser.amount(s), rel=1e-10)
    assert par.surface_charge("metal") == pytest.approx(ser.surface_charge("metal"), rel=1e-10)


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
    assert times == pytest.approx(list(res.times[1:]), rel=1e-10)
    for bp in ("fields.bp", "final.bp"):
        files = sorted(f.name for f in Path(out, bp).iterdir())
        assert "md.idx" in files  # one ADIOS2 container shared by all ranks
        assert comm.allgather(files) == [files] * comm.size
    assert sorted(x.name for x in Path(out).iterdir()) == ["fields.bp", "final.bp", "history.csv"]
