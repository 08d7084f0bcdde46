"""abort_on_error: an exception on one rank ends the whole MPI job instead of hanging it."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from multiscale.mpi_abort import abort_on_error

MPIEXEC = Path(sys.executable).with_name("mpiexec")

SCRIPT = textwrap.dedent(
    """
    from mpi4py import MPI
    from multiscale.mpi_abort import abort_on_error
    comm = MPI.COMM_WORLD
    with abort_on_error(comm):
        if comm.rank == 0:
            raise RuntimeError("failed on rank 0 only")
        comm.barrier()  # rank 1 waits here for a rank that never comes
    """
)


def test_serial_exception_propagates_unchanged():
    from mpi4py import MPI

    with pytest.raises(RuntimeError, match="plain error"):
        with abort_on_error(MPI.COMM_SELF):
            raise RuntimeError("plain error")
    with pytest.raises(RuntimeError, match="plain error"):
        with abort_on_error(None):
            raise RuntimeError("plain error")
    with pytest.raises(ValueError, match="exit_code must be an integer > 0"):
        with abort_on_error(None, exit_code=0):
            pass


@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to the interpreter")
def test_exception_on_one_rank_ends_the_job(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # without the guard this job would wait in the barrier until the timeout
    proc = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(script)],
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert proc.returncode != 0
    assert "rank 0 of 2: unhandled RuntimeError" in proc.stderr
    assert "failed on rank 0 only" in proc.stderr


@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec next to the interpreter")
def test_collective_errors_propagate(tmp_path):
    """An error raised on every rank together is raised normally, not turned into an abort."""
    script = tmp_path / "both.py"
    script.write_text(textwrap.dedent(
        """
        from mpi4py import MPI
        from multiscale.mpi_abort import abort_on_error
        comm = MPI.COMM_WORLD
        try:
            with abort_on_error(comm, collective=(FileExistsError,)):
                raise FileExistsError("on every rank")
        except FileExistsError:
            print(f"rank {comm.rank} caught it", flush=True)
        """
    ))  # fmt: skip
    proc = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(script)],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "rank 0 caught it" in proc.stdout and "rank 1 caught it" in proc.stdout
