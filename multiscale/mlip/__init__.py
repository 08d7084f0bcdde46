"""MLIP layer: committees of ASE calculators with force uncertainty, and restartable labelling.

Status: partial (see docs/mlip.md). Implemented: :class:`CommitteeCalculator` and
:func:`label_configurations`. Not yet implemented: MACE training, active learning, the shipped
default model and the CHGNet adapter.
"""

from multiscale.mlip.committee import CommitteeCalculator
from multiscale.mlip.labels import label_configurations

__all__ = ["CommitteeCalculator", "label_configurations"]
