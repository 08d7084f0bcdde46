"""MLIP layer: small MACE models trained on the project's own PySCF labels, committees with
force uncertainty, shipped default models, restartable labelling, active learning and CHGNet.

Public names: :func:`train_mace`, :func:`mace_calculator`, :func:`mace_committee_trainer`,
:func:`load_default_model`, :class:`CommitteeCalculator`, :func:`chgnet_calculator`,
:func:`label_configurations`, :func:`run_active_learning`, :func:`carve_cluster`,
:func:`model_elements`.

A ``.model`` file is a pickle that can run code when loaded: shipped models are checked against
their committed SHA-256 hashes, and any other file loads only with ``mace_calculator(path,
trust=True)``.
"""

from multiscale.mlip.active_learning import run_active_learning
from multiscale.mlip.carve import carve_cluster
from multiscale.mlip.chgnet_adapter import chgnet_calculator
from multiscale.mlip.committee import CommitteeCalculator
from multiscale.mlip.default_models import DEFAULT_MODELS, load_default_model, model_elements
from multiscale.mlip.labels import label_configurations
from multiscale.mlip.train import mace_calculator, mace_committee_trainer, split_frames, train_mace

__all__ = [
    "DEFAULT_MODELS",
    "CommitteeCalculator",
    "carve_cluster",
    "chgnet_calculator",
    "label_configurations",
    "load_default_model",
    "mace_calculator",
    "mace_committee_trainer",
    "model_elements",
    "run_active_learning",
    "split_frames",
    "train_mace",
]
