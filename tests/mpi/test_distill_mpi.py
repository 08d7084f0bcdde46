"""The distillation's labelling farm and stages over MPI ranks give the serial results.

Run as ``mpiexec -n 2 .venv/bin/python -m pytest tests/mpi/test_distill_mpi.py -q``. The teacher
is ASE's EMT (deterministic), so labels made on 2 ranks equal the serial ones to round-off.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.io import read

from multiscale.mlip import distill
from multiscale.mlip.distill import (
    Distillation,
    DistillSettings,
    _distribute,
    label_frames,
    teacher_md,
)


class CountingEMT(EMT):
    calls = 0  # per process, i.e. per rank

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        type(self).calls += 1
        super().calculate(atoms, properties, system_changes)


def _cluster(n: int, seed: int) -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)[:n]
    atoms.pbc = False
    atoms.cell = [0, 0, 0]
    atoms.rattle(0.05, seed=seed)
    return atoms


def _frames(n: int) -> list[Atoms]:
    out = []
    for k in range(n):
        a = _cluster(3 + k % 3, seed=k)
        a.info["label_id"] = f"f:{k}"
        out.append(a)
    return out


@pytest.fixture
def shared_dir(comm):
    path = tempfile.mkdtemp(prefix="distill_") if comm.rank == 0 else None
    path = Path(comm.bcast(path, root=0))
    yield path
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


def _same_labels(a: list[Atoms], b: list[Atoms], tol: float = 1e-12) -> None:
    assert [x.info["label_id"] for x in a] == [y.info["label_id"] for y in b]
    for x, y in zip(a, b, strict=True):
        assert x.get_potential_energy() == pytest.approx(y.get_potential_energy(), abs=tol)
        assert np.allclose(x.get_forces(), y.get_forces(), atol=tol, rtol=0)
        assert np.allclose(x.positions, y.positions, atol=tol, rtol=0)


def test_label_frames_on_ranks_equals_serial(comm, shared_dir, monkeypatch):
    size, rank = comm.size, comm.rank
    writes = []
    real_write = distill._atomic_write

    def counted_write(path, frames):
        writes.append(Path(path).name)
        real_write(path, frames)

    monkeypatch.setattr(distill, "_atomic_write", counted_write)
    CountingEMT.calls = 0
    frames = _frames(5)
    par = label_frames(frames[:3], CountingEMT, shared_dir / "par.extxyz", {"teacher": "emt"}, comm)
    # restart with two more frames: only those are labelled
    par = label_frames(frames, CountingEMT, shared_dir / "par.extxyz", {"teacher": "emt"}, comm)
    calls = comm.allgather(CountingEMT.calls)
    n_writes = comm.allgather(len(writes))
    # each rank labelled its share (frames r, r + size, ... of each call) and nothing twice
    expected = [len(range(r, 3, size)) + len(range(r, 2, size)) for r in range(size)]
    assert calls == expected and sum(calls) == 5
    assert n_writes[0] > 0 and all(n == 0 for n in n_writes[1:])  # only rank 0 writes
    serial = label_frames(frames, EMT, shared_dir / f"serial_{rank}.extxyz", {"teacher": "emt"})
    # labels read back from a file are rounded to its 8 decimals; fresh ones are not
    _same_labels(par, serial, tol=1e-7)
    comm.Barrier()
    _same_labels(
        read(shared_dir / "par.extxyz", index=":"),
        read(shared_dir / f"serial_{rank}.extxyz", index=":"),
    )
    # every rank returns the same labels
    gathered = comm.allgather([(a.info["label_id"], a.get_forces()) for a in par])
    for other in gathered[1:]:
        assert [k for k, _ in other] == [k for k, _ in gathered[0]]
        assert all(np.array_equal(f, g) for (_, f), (_, g) in zip(other, gathered[0], strict=True))


def test_distribute_returns_results_in_task_order(comm):
    tasks = list("abcde")
    out = _distribute(tasks, lambda t: (t, comm.rank), comm)
    assert out == [(t, i % comm.size) for i, t in enumerate(tasks)]
    assert all(o == out for o in comm.allgather(out))


def _settings(**kw) -> DistillSettings:
    base = dict(
        n_members=2, temperatures=(300.0,), teacher_steps=4, teacher_every=2,
        teacher_temperature=300.0, explore_steps=10, final_steps=20, n_rattle=0,
    )  # fmt: skip
    return DistillSettings(**{**base, **kw})


def test_settings_mismatch_raises_on_every_rank(comm, shared_dir):
    systems = {"cu": _cluster(4, seed=1)}
    Distillation(systems, shared_dir / "d", _settings(), comm=comm, progress=False)
    # rank 0 finds the mismatch; every rank must raise (none may wait for the others)
    with pytest.raises(ValueError, match="other settings"):
        Distillation(systems, shared_dir / "d", _settings(threshold=0.45), comm=comm)
    comm.Barrier()


def test_teacher_stage_on_ranks_equals_serial_teacher_md(comm, shared_dir):
    systems = {"a": _cluster(4, seed=1), "b": _cluster(5, seed=2)}
    s = _settings()
    dist = Distillation(systems, shared_dir / "d", s, comm=comm, progress=False, make_teacher=EMT)
    dist.teacher_stage()
    comm.Barrier()
    labels = dist.labels()
    assert [a.info["label_id"] for a in labels] == [
        f"teacher-{n}:{k}" for n in ("a", "b") for k in (0, 2, 4)
    ]
    for name in sorted(systems):
        teacher_md(
            systems[name], EMT(), shared_dir / f"serial_{comm.rank}_{name}.extxyz", s.teacher_steps,
            s.teacher_temperature, every=s.teacher_every, hydrogen_mass=s.hydrogen_mass, seed=0,
            tag=f"teacher-{name}", provenance=dist.provenance,
        )  # fmt: skip
        _same_labels(
            read(shared_dir / "d" / f"teacher_{name}.extxyz", index=":"),
            read(shared_dir / f"serial_{comm.rank}_{name}.extxyz", index=":"),
        )


def test_distributed_tasks_use_ase_io_serially(comm, shared_dir):
    """A task running on one rank may use ase.io (as mace-torch's training does) while the
    other rank runs another task: inside _distribute ASE's collective I/O is off, so each
    rank writes and reads back its own file. Without it rank 1's write is done by nobody
    (ASE writes on rank 0 only) and its read waits for rank 0's broadcast."""
    import ase.io

    def task(k: int) -> tuple[float, float]:
        path = Path(shared_dir) / f"task{k}.xyz"
        atoms = _cluster(3, k)
        ase.io.write(path, atoms)
        return float(ase.io.read(path).positions.sum()), float(atoms.positions.sum())

    out = _distribute([0, 1, 2, 3], task, comm)
    comm.Barrier()
    for got, expected in out:
        assert got == pytest.approx(expected, rel=0, abs=1e-7)  # extxyz keeps 8 decimals
    assert sorted(p.name for p in Path(shared_dir).glob("task*.xyz")) == [
        f"task{k}.xyz" for k in range(4)
    ]
