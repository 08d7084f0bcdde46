"""The MLIP as an instrument: elastic constants, phonons, convex hulls, surface energies and
minimum-energy paths with hierarchical screening.

Every workflow takes any ASE calculator (EMT for tests, CHGNet or a shipped MACE model for
materials) and returns a result object with the numbers, ``ok``/``converged``/``stable`` flags,
``to_dict()`` (JSON-ready) and ``plot(path)`` (PNG). See docs/properties.md.
"""

from .config import load_props_config, run_properties, run_screening, validate_props_config
from .elastic import ElasticResult, elastic_constants, strain_cell, voigt_reuss_hill
from .hull import HullResult, compute_hull, convex_hull, fcc_candidates
from .neb import NEBResult, ScanResult, neb_path, relaxed_scan
from .phonons import PhononResult, phonons, supercell_convergence
from .screening import (
    HopCandidate,
    ScreeningResult,
    alloy_hop_candidates,
    cluster_model,
    screen_hops,
)
from .surfaces import (
    SurfaceResult,
    fcc_lattice_constant,
    plot_surface_energies,
    surface_energies,
    surface_energy,
)

__all__ = [
    "ElasticResult",
    "HopCandidate",
    "HullResult",
    "NEBResult",
    "PhononResult",
    "ScanResult",
    "ScreeningResult",
    "SurfaceResult",
    "alloy_hop_candidates",
    "cluster_model",
    "compute_hull",
    "convex_hull",
    "elastic_constants",
    "fcc_candidates",
    "fcc_lattice_constant",
    "load_props_config",
    "neb_path",
    "phonons",
    "plot_surface_energies",
    "relaxed_scan",
    "run_properties",
    "run_screening",
    "screen_hops",
    "strain_cell",
    "supercell_convergence",
    "surface_energies",
    "surface_energy",
    "validate_props_config",
    "voigt_reuss_hill",
]
