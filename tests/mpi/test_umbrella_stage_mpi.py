"""The pipeline's umbrella stage on 2 ranks (windows spread over the ranks) gives the serial
F(z), D⊥ and D∥ (run with ``mpiexec -n 2 python -m pytest tests/mpi``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.io import Trajectory
from mpi4py import MPI

from multiscale.pipeline import SCHEMA
from multiscale.pipeline import umbrella_stage as us


class _Slope(Calculator):
    """E = 0.05 eV/Å × (ion height above the mean of 4 spring-held surface atoms)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, sites: np.ndarray) -> None:
        super().__init__()
        self.sites = sites

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        p = self.atoms.positions
        d = p[:4] - self.sites
        d[:, 2] = p[:4, 2] - p[:4, 2].mean()
        f = np.zeros_like(p)
        f[4, 2] = -0.05
        f[:4, 2] += 0.05 / 4
        f[:4] -= 5.0 * d
        e = 0.05 * (p[4, 2] - p[:4, 2].mean()) + 2.5 * float((d**2).sum())
        self.results = {"energy": e, "free_energy": e, "forces": f}


def _run(base: Path, comm, monkeypatch) -> dict:
    atoms = Atoms(
        "Cu4Na",
        positions=[[0, 0, 0], [2.55, 0, 0], [0, 2.55, 0], [2.55, 2.55, 0], [1.3, 1.3, 3.3]],
        cell=[5.1, 5.1, 16.0],
        pbc=True,
        tags=[1, 1, 1, 1, 0],
    )
    md_dir = base / "md"
    if comm.rank == 0:
        md_dir.mkdir(parents=True)
        # master=True: ASE's default lets only world rank 0 write (and synchronises on world)
        with Trajectory(md_dir / "trajectory.traj", "w", master=True) as traj:
            traj.write(atoms)
    comm.barrier()
    sites = atoms.positions[:4].copy()
    monkeypatch.setattr(us, "make_calculator", lambda spec, what: (_Slope(sites), spec))
    md_cfg = {k: copy.deepcopy(v.default) for k, v in SCHEMA["md"].items()}
    md_cfg.update(timestep_fs=10.0, traj_interval=5, checkpoint_interval=1000,
                  integrity="off", concentration_mol_per_L=1.0)  # fmt: skip
    cfg = {k: copy.deepcopy(v.default) for k, v in SCHEMA["umbrella"].items()}
    cfg.update(enabled=True, species=["Na"], centers_A=[3.0, 3.3, 3.6], window_ps=4.0,
               discard_ps=0.1, relax_steps=0, n_blocks=4, min_bin_samples=5)  # fmt: skip
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
