"""Last-resort handling of an exception that escapes on one MPI rank.

An exception raised on one rank only (a bug, a failed solve in rank 0's post-processing)
leaves the other ranks waiting in their next collective call or in ``MPI_Finalize`` for
ever: under ``mpiexec`` the job hangs instead of failing. mpi4py's answer is to run scripts
as ``python -m mpi4py script.py``; :func:`abort_on_error` does the same for a block of code
inside a program: on more than one rank it prints the traceback with the rank's number and
calls ``comm.Abort``, which ends every rank of the job with a non-zero exit status. Errors
that every rank raises together (input validated before any collective call) should still be
raised normally; this is for the ones that cannot be.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["abort_on_error"]


@contextmanager
def abort_on_error(
    comm: Any, exit_code: int = 1, collective: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Abort the whole MPI job when an exception escapes the block on any rank.

    Parameters
    ----------
    comm : mpi4py communicator or None
        The job's communicator (``MPI.COMM_WORLD``). With None or a single rank the
        exception propagates unchanged (a serial run keeps its ordinary traceback).
    exit_code : int
        Error code passed to ``comm.Abort`` (unit-free, > 0).
    collective : tuple of exception types
        Errors that the code raises on every rank together (e.g. a run folder in use, found
        by rank 0 and broadcast): these propagate normally.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> with abort_on_error(MPI.COMM_WORLD):
    ...     pass
    """
    if not isinstance(exit_code, int) or isinstance(exit_code, bool) or exit_code <= 0:
        raise ValueError(f"exit_code must be an integer > 0, got {exit_code!r}")
    try:
        yield
    except BaseException as err:
        size = getattr(comm, "size", 1) if comm is not None else 1
        if size <= 1 or isinstance(err, (SystemExit, KeyboardInterrupt, *collective)):
            raise
        rank = comm.rank
        text = "".join(traceback.format_exception(err))
        sys.stderr.write(
            f"rank {rank} of {size}: unhandled {type(err).__name__}; aborting all ranks "
            f"(comm.Abort({exit_code})) so that none waits for ever\n{text}"
        )
        sys.stderr.flush()
        comm.Abort(exit_code)
