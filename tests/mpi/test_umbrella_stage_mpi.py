"""The pipeline's umbrella stage on 2 ranks (windows spread over the ranks) gives the serial
F(z), D⊥ and D∥ (run with ``mpiexec -n 2 python -m pytest tests/mpi``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ase.io import Trajectory
from mpi4py import MPI
from umbrella_toy import calculator_factory, md_and_umbrella_cfg, surface_ion

from multiscale.pipeline import umbrella_stage as us


def _run(base: Path, comm, monkeypatch) -> dict:
    atoms = surface_ion()
    md_dir = base / "md"
    if comm.rank == 0:
        md_dir.mkdir(parents=True)
        # master=True: ASE's default lets only world rank 0 write (and synchronises on world)
        with Trajectory(md_dir / "trajectory.traj", "w", master=True) as traj:
            traj.write(atoms)
    comm.barrier()
    monkeypatch.setattr(us, "make_calculator", calculator_factory(atoms))
    md_cfg, cfg = md_and_umbrella_cfg(centers_A=[3.0, 3.3, 3.6], window_ps=4.0, discard_ps=0.1,
                                      min_bin_samples=5)  # fmt: skip
    return us.run_umbrella(cfg, {}, md_dir, base, comm, False, md_cfg=md_cfg, seed=1)


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def test_umbrella_stage_two_ranks_equal_one(tmp_path_factory, comm, monkeypatch):
    base = Path(comm.bcast(str(tmp_path_factory.mktemp("umb")) if comm.rank == 0 else None))
    par = _run(base / "parallel", comm, monkeypatch)
    ser = _run(base / f"serial{comm.rank}", MPI.COMM_SELF, monkeypatch)
    assert par["species"]["Na"]["name"] == ser["species"]["Na"]["name"] == "Na+"
    a = json.loads((base / "parallel" / "umbrella_Na.json").read_text())
    b = json.loads((base / f"serial{comm.rank}" / "umbrella_Na.json").read_text())
    assert a["n_windows"] == b["n_windows"] == 3
    fa, fb = _arr(a["free_energy_kT"]), _arr(b["free_energy_kT"])
    assert np.isfinite(fa).sum() >= 4  # F is defined over a range
    # each window's trajectory is the same on either layout (seeded per window); what differs
    # is only where it ran, so F and D agree to the analysis' round-off
    np.testing.assert_array_equal(np.isfinite(fa), np.isfinite(fb))
    np.testing.assert_allclose(fa[np.isfinite(fa)], fb[np.isfinite(fb)], rtol=1e-9, atol=1e-9)
    for key in ("z_mean_A", "D_perp_m2_per_s", "D_par_m2_per_s"):
        x, y = _arr(a["windows"][key]), _arr(b["windows"][key])
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=0.0, err_msg=key)
    assert a["verdict"] == b["verdict"]
    # every window ran (and wrote its folder) in the shared parallel run
    for w in range(3):
        assert (
            base / "parallel" / "windows" / "Na" / f"replica_{w:03d}" / "trajectory.traj"
        ).is_file()
