"""The continuum stage of the pipeline on 2 ranks gives the serial numbers and writes its files
once (run with ``mpiexec -n 2 python -m pytest tests/mpi``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase.units import _k, _Nav
from mpi4py import MPI

from continuum import TransportProfile
from multiscale.pipeline import Pipeline


def _profile(path: Path) -> None:
    """A synthetic double-layer-like profile: counter-ion excess near the wall (SI units)."""
    z = np.linspace(0.0, 1.2e-9, 13)
    rt = _k * _Nav * 298.15
    f_na = -0.8 * rt * np.exp(-z / 3e-10)  # J/mol, attraction of Na+ to the wall
    c = np.array([1000.0 * np.exp(-f_na / rt), 1000.0 * np.exp(f_na / rt)])
    d = np.array([1.0e-9 + 0.3e-9 * z / z[-1], 1.5e-9 + 0.5e-9 * z / z[-1]])
    free = -rt * np.log(c / c.mean(axis=1, keepdims=True))
    TransportProfile(
        z=z, species=["Na+", "Cl-"], charges=np.array([1, -1]), concentration=c, diffusion=d,
        temperature=298.15, free_energy=free,
    ).write(path)  # fmt: skip


def test_continuum_stage_parallel_equals_serial(tmp_path_factory, comm):
    base = Path(comm.bcast(str(tmp_path_factory.mktemp("pipe")) if comm.rank == 0 else None))
    profile = base / "profile.h5"
    if comm.rank == 0:
        _profile(profile)
    comm.barrier()
    cfg = {
        "run": {"progress": False},
        "continuum": {"profile": str(profile), "potential_1d": "none", "cells_1d": 60,
                      "cells_across_pit": 6},
    }  # fmt: skip
    par = Pipeline(cfg, base / "parallel")
    par.run(comm=comm)
    # serial reference, computed inside this test on every rank with its own communicator
    ser = Pipeline(cfg, base / f"serial{comm.rank}")
    ser.run(comm=MPI.COMM_SELF)
    a, b = par.results["continuum"], ser.results["continuum"]
    for name in ("electrode_current_A_per_m", "product_outflux_mol_per_m_s",
                 "max_product_mol_per_m3"):  # fmt: skip
        # parallel vs serial Newton solves agree only to the solver's stopping tolerance
        # (update <= 1e-7 in ln c), not to round-off: see RTOL in test_continuum_mpi.py
        assert a["pit"][name] == pytest.approx(b["pit"][name], rel=1e-6), name
    for sp in ("Na+", "Cl-"):
        d_par = a["profile_1d"]["species"][sp]["max_rel_deviation_from_md"]
        d_ser = b["profile_1d"]["species"][sp]["max_rel_deviation_from_md"]
        assert d_par == pytest.approx(d_ser, rel=1e-6, abs=1e-12)
        # zero flux + the MD free energy: the solver gives back the MD profile
        assert d_par < 0.02
    assert a["pit"]["n_vertices"] == b["pit"]["n_vertices"]
    comm.barrier()
    if comm.rank == 0:
        log = (base / "parallel" / "pipeline.log").read_text()
        assert log.count("continuum: fresh run") == 1
        assert log.count("continuum: done") == 1
        summary = json.loads((base / "parallel" / "continuum" / "summary.json").read_text())
        assert summary["pit"]["electrode_current_A_per_m"] == a["pit"]["electrode_current_A_per_m"]
        report = (base / "parallel" / "report.md").read_text()
        assert report.count("## 4. Nernst–Planck") == 1
        assert f"Fed by the profile `{profile}` (continuum.profile)" in report
        # a profile written without its run's checks: the summary says it carries none
        assert summary["profile"] == {
            "path": str(profile), "source": str(profile), "not_converged": None,
        }  # fmt: skip
        for name in ("np_1d.png", "pit.png"):
            assert (base / "parallel" / "continuum" / name).stat().st_size > 0


def test_all_stages_on_two_ranks(tmp_path_factory, comm):
    """Serial stages run on rank 0 only (no stray collective calls of ASE's default world
    communicator), then the continuum stage on all ranks."""
    base = Path(comm.bcast(str(tmp_path_factory.mktemp("all")) if comm.rank == 0 else None))
    lj = {"model": "lj", "sigma": 1.0, "epsilon": 0.01, "rc": 3.0}
    cfg = {
        "run": {"progress": False, "seed": 3},
        "qmml": {"n_water": 40, "concentration_mol_per_L": 1.4, "steps": 2, "drag_steps": 2,
                 "qm": dict(lj, epsilon=0.02), "ml": lj},
        "md": {"size": [2, 2], "layers": 3, "water_thickness_A": 8.0,
               "concentration_mol_per_L": 0.0, "steps": 60, "traj_interval": 2,
               "calculator": lj, "integrity": "flag", "heat_ps": 0.01},
        "extract": {"species": {"O": {"selection": "O", "charge": 0}}, "lags": [1, 2],
                    "n_blocks": 3, "parallel": False, "discard": "frames"},
        "continuum": {"cells_1d": 30, "cells_across_pit": 3},
    }  # fmt: skip
    pipe = Pipeline(cfg, base / "run")
    res = pipe.run(comm=comm)
    assert pipe.recomputed == ["qmml", "md", "extract", "continuum"]
    # every rank holds rank 0's summaries
    gathered = comm.allgather(json.dumps(res, sort_keys=True))
    assert gathered[0] == gathered[-1]
    frames = res["md"]["steps"] // cfg["md"]["traj_interval"] + 1
    assert res["extract"]["n_frames"] == frames
    if comm.rank == 0:
        assert (base / "run" / "pipeline.log").read_text().count("md: fresh run") == 1
