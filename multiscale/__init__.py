"""Multiscale workflows: MLIPs, ML molecular dynamics, extraction of transport profiles,
and the pipeline that joins QM/ML coupling (``coupling``) to the continuum solver
(``continuum``). Heavy stacks (PySCF, torch, DOLFINx) are imported lazily.
"""

__version__ = "0.1.0"
