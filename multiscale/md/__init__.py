"""ML molecular dynamics of electrolytes and metal–water interfaces.

Builders (:mod:`.builders`), a stable time step from the stiffest vibration
(:mod:`.timestep`), a restartable MD runner on top of ASE's integrators (:mod:`.runner`),
independent replicas over MPI ranks (:mod:`.replicas`), radial distribution functions with
a time-correlation-aware two-sample test (:mod:`.rdf`), a molecule-integrity monitor
(:mod:`.integrity`), umbrella-sampling windows for ions as MPI replicas (:mod:`.umbrella`), replicas
released from a window without its restraint (:mod:`.release`)
and equilibration detected from the data, with the relaxation and heating
that precede production (:mod:`.equilibration`). Works with any ASE calculator.
"""

from .builders import SALTS, build_electrolyte, build_interface, check_min_distance, n_salt_for
from .equilibration import (
    EquilibrationPoint,
    EquilibrationReport,
    PreparationResult,
    analyse_equilibration,
    detect_equilibration,
    prepare_md,
    statistical_inefficiency,
)
from .integrity import IntegrityCheck, IntegrityEvent, IntegrityMonitor, MDIntegrityError
from .rdf import RDFComparison, RDFResult, block_permutation_test, compare_rdf, compute_rdf
from .release import RELEASE_SPEC, read_release, release_from_window
from .replicas import ReplicaResult, replica_seeds, run_replicas
from .runner import MDBlowUpError, MDResult, MDRunner, MDSettings
from .timestep import TimestepEstimate, estimate_timestep, omega_to_wavenumber
from .umbrella import (
    HarmonicZRestraint,
    UmbrellaRun,
    place_at_height,
    restraint_height,
    run_umbrella_windows,
)

__all__ = [
    "RELEASE_SPEC",
    "SALTS",
    "EquilibrationPoint",
    "EquilibrationReport",
    "HarmonicZRestraint",
    "IntegrityCheck",
    "IntegrityEvent",
    "IntegrityMonitor",
    "MDBlowUpError",
    "MDIntegrityError",
    "MDResult",
    "MDRunner",
    "MDSettings",
    "PreparationResult",
    "RDFComparison",
    "RDFResult",
    "ReplicaResult",
    "TimestepEstimate",
    "UmbrellaRun",
    "analyse_equilibration",
    "block_permutation_test",
    "build_electrolyte",
    "build_interface",
    "check_min_distance",
    "compare_rdf",
    "compute_rdf",
    "detect_equilibration",
    "estimate_timestep",
    "n_salt_for",
    "omega_to_wavenumber",
    "place_at_height",
    "prepare_md",
    "read_release",
    "release_from_window",
    "replica_seeds",
    "restraint_height",
    "run_replicas",
    "run_umbrella_windows",
    "statistical_inefficiency",
]
