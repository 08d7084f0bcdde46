"""Continuum Nernst–Planck / Poisson–Nernst–Planck solver on DOLFINx.

``TransportProfile`` (plain data, HDF5) is importable without DOLFINx; the solver classes
import DOLFINx (through ``dolfinx_solver``) when first used. This package never imports
``coupling`` or ``multiscale``.
"""

from .profile import TransportProfile

__all__ = ["TransportProfile"]
