"""A committee of ASE calculators as one calculator with a per-atom force uncertainty."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import (
    BaseCalculator,
    CalculationFailed,
    Calculator,
    CalculatorSetupError,
    all_changes,
)


class CommitteeCalculator(Calculator):
    """Mean energy and forces of N member calculators, with their per-atom force spread.

    Parameters
    ----------
    members : sequence of ase.calculators.calculator.Calculator
        At least two independently trained models (any ASE calculator providing energy and
        forces in eV and eV/Å).

    Notes
    -----
    ``results`` holds ``energy`` (eV, member mean), ``forces`` (eV/Å, member mean, the exact
    gradient of the mean energy when each member is conservative), ``energies`` (eV, one per
    member), ``member_forces`` (eV/Å, shape (N, n_atoms, 3)), ``force_std`` (eV/Å, per atom:
    sqrt of the member-averaged squared deviation of the force vector from the mean) and
    ``max_force_std`` (eV/Å, its maximum, the active-learning trigger).
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, members: Sequence[Calculator], **kwargs) -> None:
        if isinstance(members, (str, bytes, BaseCalculator)) or not hasattr(members, "__iter__"):
            raise CalculatorSetupError(
                f"members must be a list of ASE calculators, got {type(members).__name__}."
            )
        members = list(members)
        for k, m in enumerate(members):
            if not isinstance(m, BaseCalculator):
                raise CalculatorSetupError(
                    f"committee member {k} is a {type(m).__name__}, not an ASE calculator: "
                    "pass calculator instances (e.g. from mace_calculator)."
                )
        if len(members) < 2:
            raise CalculatorSetupError(
                f"A committee needs at least 2 members, got {len(members)}: pass a list of "
                "independently trained calculators."
            )
        if len({id(m) for m in members}) != len(members):
            raise CalculatorSetupError(
                "The same calculator object appears twice in the committee: pass distinct "
                "calculator instances (they may load the same model file)."
            )
        super().__init__(**kwargs)
        self.members = members

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy", "forces"),
        system_changes: Sequence[str] = all_changes,
    ) -> None:
        """Evaluate every member on a copy of ``atoms`` and combine their results."""
        super().calculate(atoms, properties, system_changes)
        energies, forces = [], []
        for member in self.members:
            work = self.atoms.copy()
            work.calc = member
            energies.append(work.get_potential_energy())
            forces.append(work.get_forces())
        energies = np.asarray(energies, dtype=float)
        forces = np.asarray(forces, dtype=float)
        bad = [k for k in range(len(self.members))
               if not (np.isfinite(energies[k]) and np.all(np.isfinite(forces[k])))]  # fmt: skip
        if bad:
            raise CalculationFailed(
                f"committee member(s) {bad} returned NaN or infinite energy/forces for this "
                "configuration (atoms too close, or far outside the training data)."
            )
        mean_f = forces.mean(axis=0)
        std = np.sqrt(((forces - mean_f) ** 2).sum(axis=2).mean(axis=0))
        self.results = {
            "energy": float(energies.mean()),
            "free_energy": float(energies.mean()),
            "forces": mean_f,
            "energies": energies,
            "member_forces": forces,
            "force_std": std,
            "max_force_std": float(std.max()),
        }
