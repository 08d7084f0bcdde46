"""QM/ML coupling: a PySCF DFT calculator and (later) force mixing with an MLIP environment.

This package depends on ase, numpy and pyscf only; it never imports ``multiscale`` or
``continuum``.
"""

from .extrapolation import DensityHistory, aspc_coefficients
from .pyscf_calculator import PySCFCalculator

__all__ = ["DensityHistory", "PySCFCalculator", "aspc_coefficients"]
