"""ML molecular dynamics of electrolytes and metal–water interfaces.

Builders (:mod:`.builders`), a stable time step from the stiffest vibration
(:mod:`.timestep`), a restartable MD runner on top of ASE's integrators (:mod:`.runner`),
independent replicas over MPI ranks (:mod:`.replicas`) and radial distribution functions with
a time-correlation-aware two-sample test (:mod:`.rdf`). Works with any ASE calculator.
"""

from .builders import SALTS, build_electrolyte, build_interface, check_min_distance, n_salt_for
from .rdf import RDFComparison, RDFResult, block_permutation_test, compare_rdf, compute_rdf
from .replicas import ReplicaResult, replica_seeds, run_replicas
from .runner import MDBlowUpError, MDResult, MDRunner, MDSettings
from .timestep import TimestepEstimate, estimate_timestep, omega_to_wavenumber

__all__ = [
    "SALTS",
    "MDBlowUpError",
    "MDResult",
    "MDRunner",
    "MDSettings",
    "RDFComparison",
    "RDFResult",
    "ReplicaResult",
    "TimestepEstimate",
    "block_permutation_test",
    "build_electrolyte",
    "build_interface",
    "check_min_distance",
    "compare_rdf",
    "compute_rdf",
    "estimate_timestep",
    "n_salt_for",
    "omega_to_wavenumber",
    "replica_seeds",
    "run_replicas",
]
