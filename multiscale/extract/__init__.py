"""Extraction of transport profiles from (ML-)MD trajectories of interfaces.

Concentration profiles c_i(z), local diffusion coefficients D∥(z) and D⊥(z), free energy
F(z), charge density, potential and field, with error bars, handed to the continuum
solver as one :class:`continuum.TransportProfile`. Analyses follow MDAnalysis's
``AnalysisBase`` pattern over ASE trajectories (surface normal along z). Units are
ASE's (Å, fs, e, V) here; :func:`build_transport_profile` converts to SI.
"""

from .base import AnalysisBase, Results, as_frames, resolve_selection, unwrap_positions
from .blocking import BlockingResult, block_average
from .chapman_kolmogorov import (
    ChapmanKolmogorovResult,
    chapman_kolmogorov,
    chapman_kolmogorov_test,
    smoluchowski_rate_matrix,
)
from .density import DensityProfile
from .diffusion import (
    DiffusionFit,
    MeanSquaredDisplacement,
    ParallelDiffusionProfile,
    PerpendicularDiffusionProfile,
    UnvisitedBinsError,
    einstein_diffusion,
    yeh_hummer_correction,
)
from .electrostatics import (
    WATER_MODELS,
    ChargeDensityProfile,
    atomic_charges,
    solve_poisson_1d,
)
from .plotting import plot_transport_profile
from .profile_builder import build_transport_profile, extract_transport_profile
from .relaxation import RelaxationRoundTrip, smoluchowski_mean_height
from .umbrella import UmbrellaAnalysis

__all__ = [
    "WATER_MODELS",
    "AnalysisBase",
    "BlockingResult",
    "ChapmanKolmogorovResult",
    "ChargeDensityProfile",
    "DensityProfile",
    "DiffusionFit",
    "MeanSquaredDisplacement",
    "ParallelDiffusionProfile",
    "PerpendicularDiffusionProfile",
    "RelaxationRoundTrip",
    "Results",
    "UmbrellaAnalysis",
    "UnvisitedBinsError",
    "as_frames",
    "atomic_charges",
    "block_average",
    "build_transport_profile",
    "chapman_kolmogorov",
    "chapman_kolmogorov_test",
    "einstein_diffusion",
    "extract_transport_profile",
    "plot_transport_profile",
    "resolve_selection",
    "smoluchowski_mean_height",
    "smoluchowski_rate_matrix",
    "solve_poisson_1d",
    "unwrap_positions",
    "yeh_hummer_correction",
]
