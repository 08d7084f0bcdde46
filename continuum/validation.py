"""Small input checks shared by the solver modules (no DOLFINx)."""

from __future__ import annotations

import numpy as np
from mpi4py import MPI


def is_number(value) -> bool:
    """True for a real number (int, float, NumPy scalar), False for bool and anything else."""
    return isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)


def check_finite_number(name: str, value, unit: str) -> float:
    """``value`` as a float; TypeError/ValueError naming ``name`` unless a finite number."""
    if not is_number(value):
        raise TypeError(f"{name} must be a number ({unit}), got {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number ({unit}), got {value}")
    return float(value)


def max_over(comm, value: float) -> float:
    """Maximum of ``value`` over the ranks of ``comm`` (collective)."""
    return float(comm.allreduce(value, op=MPI.MAX))
