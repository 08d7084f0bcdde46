"""QM/ML coupling: a PySCF DFT calculator and (later) force mixing with an MLIP environment.

This package depends on ase, numpy and pyscf only; it never imports ``multiscale`` or
``continuum``.
"""

from .extrapolation import DensityHistory, aspc_coefficients
from .pyscf_calculator import PySCFCalculator

__all__ = ["DensityHistory", "PySCFCalculator", "aspc_coefficients"]

# QM/ML force mixing (issue 3)
from .adaptive import SAP_SCHEMES, AdaptiveQMMLCalculator, sorted_partition_weights
from .continuity import ContinuityReport, ForceContinuityMonitor, check_force_continuity
from .embedding import TIP3P_CHARGES, EmbeddedPySCFCalculator, PointChargeEmbedding
from .force_mixing import ForceMixingCalculator
from .reference import ReferenceShiftedCalculator, fit_reference_energies
from .regions import QMCluster, Regions, RegionState
from .relax import RelaxResult, relax_mixed_forces
from .switching import SWITCHING_FUNCTIONS, SwitchingFunction, get_switching

__all__ += [
    "SAP_SCHEMES",
    "SWITCHING_FUNCTIONS",
    "TIP3P_CHARGES",
    "AdaptiveQMMLCalculator",
    "ContinuityReport",
    "EmbeddedPySCFCalculator",
    "ForceContinuityMonitor",
    "ForceMixingCalculator",
    "PointChargeEmbedding",
    "QMCluster",
    "ReferenceShiftedCalculator",
    "RegionState",
    "Regions",
    "RelaxResult",
    "SwitchingFunction",
    "check_force_continuity",
    "fit_reference_energies",
    "get_switching",
    "relax_mixed_forces",
    "sorted_partition_weights",
]
