"""Uncertainty propagation gives the serial numbers on 2 ranks, in both parallel modes.

Run as ``mpiexec -n 2 .venv/bin/python -m pytest tests/mpi/test_uncertainty_mpi.py -q``. The
serial reference is computed inside the test on ``MPI.COMM_SELF`` on every rank.
"""

from __future__ import annotations

import numpy as np
import pytest

# the collective mode solves on a partitioned mesh: equal to the serial answer only to the
# solver's stopping tolerance (see test_continuum_mpi.py); the spread mode runs the very same
# serial solves on other ranks: equal to round-off
RTOL = 1e-6


def _profile():
    from continuum import TransportProfile

    d = np.array([1.0, 0.4, 1.5, 0.8]) * 1e-9
    return TransportProfile(
        z=(np.arange(4) + 0.5) * 2.5e-9,
        species=["A"],
        charges=[0],
        concentration=np.full((1, 4), 100.0),
        diffusion=d[None, :],
        diffusion_err=0.2 * d[None, :],
    )


def _build(comm):
    from continuum import NernstPlanckProblem, interval

    dom = interval(comm, 10e-9, 40)

    def build(prof):
        p = NernstPlanckProblem.from_profile(dom, prof, potential=None, free_energy=False)
        p.set_concentration("A", "left", 200.0)
        p.set_concentration("A", "right", 100.0)
        return p, {"J": lambda q: q.flux("A", "right")}

    return build


def test_uncertainty_same_on_all_ranks(comm):
    from mpi4py import MPI

    from continuum import propagate_uncertainty

    prof = _profile()
    kw = {"n_samples": 8, "seed": 4}
    serial = propagate_uncertainty(prof, _build(MPI.COMM_SELF), **kw)
    collective = propagate_uncertainty(prof, _build(comm), **kw)
    spread = propagate_uncertainty(prof, _build(MPI.COMM_SELF), comm=comm, **kw)
    s, c, p = (r.outputs["J"] for r in (serial, collective, spread))
    assert np.allclose(collective.samples, serial.samples, rtol=RTOL, atol=0)
    assert np.allclose(spread.samples, serial.samples, rtol=1e-12, atol=0)
    assert c.linear_std == pytest.approx(s.linear_std, rel=100 * RTOL, abs=0)
    assert p.linear_std == pytest.approx(s.linear_std, rel=1e-9, abs=0)
    # every rank holds the whole result
    assert comm.allgather(p.std) == [p.std] * comm.size
