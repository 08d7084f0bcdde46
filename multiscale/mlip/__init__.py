"""MLIP layer: committees of ASE calculators with force uncertainty, and restartable labelling.

Status: partial (see docs/mlip.md). Implemented: :class:`CommitteeCalculator`,
:func:`chgnet_calculator` and :func:`label_configurations`. Not yet implemented: MACE training,
active learning and the shipped default model.
"""

from multiscale.mlip.chgnet_adapter import chgnet_calculator
from multiscale.mlip.committee import CommitteeCalculator
from multiscale.mlip.labels import label_configurations

__all__ = ["CommitteeCalculator", "chgnet_calculator", "label_configurations"]
