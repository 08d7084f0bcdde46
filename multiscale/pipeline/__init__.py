"""The end-to-end pipeline: QM/ML force mixing → ML-MD → extraction → Nernst–Planck.

``Pipeline(config, run_dir).run(stages=None, comm=None)`` runs the stages in order, each
cached by a hash of its inputs and resumable; ``multiscale run CONFIG.toml`` is the command-line
front end and ``multiscale demo`` runs the shipped configuration ``configs/demo.toml``.
See docs/pipeline.md for every configuration key.
"""

from .config import SCHEMA, STAGES, builtin_config, load_config, validate_config
from .run import Pipeline, StageSkipped
from .state import RunDirectoryLocked

__all__ = [
    "SCHEMA",
    "STAGES",
    "Pipeline",
    "RunDirectoryLocked",
    "StageSkipped",
    "builtin_config",
    "load_config",
    "validate_config",
]
