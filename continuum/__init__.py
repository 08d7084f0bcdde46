"""Continuum Nernst–Planck / Poisson–Nernst–Planck solver on DOLFINx.

``TransportProfile`` (plain data, HDF5), the species/kinetics records, the constants and the
analytic reference formulas are importable without DOLFINx; the solver and mesh builders
import DOLFINx (through ``dolfinx_solver``) when first used. This package never imports
``coupling`` or ``multiscale``.
"""

from __future__ import annotations

import importlib

from . import analytic
from .coefficients import profile_coefficient
from .constants import debye_length, thermal_voltage
from .profile import TransportProfile
from .species import ButlerVolmer, Species
from .stern import charge_separation, stern_capacitance, stern_capacitance_from_profile
from .uncertainty import UncertaintyResult, propagate_uncertainty, sample_profiles

# public name -> submodule that needs DOLFINx (imported on first access)
_LAZY = {
    "NernstPlanckProblem": "problem",
    "ConvergenceError": "problem",
    "SolveResult": "problem",
    "TransientResult": "problem",
    "Domain": "geometry",
    "interval": "geometry",
    "rectangle": "geometry",
    "box": "geometry",
    "corrosion_pit": "geometry",
    "distance_to_boundary": "geometry",
    "graded_points": "geometry",
}

__all__ = [
    "ButlerVolmer",
    "Species",
    "TransportProfile",
    "UncertaintyResult",
    "analytic",
    "charge_separation",
    "debye_length",
    "profile_coefficient",
    "propagate_uncertainty",
    "sample_profiles",
    "stern_capacitance",
    "stern_capacitance_from_profile",
    "thermal_voltage",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
