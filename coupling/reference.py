"""A common energy zero for the QM and ML calculators of an adaptive QM/ML run.

Adaptive partitioning (:class:`coupling.AdaptiveQMMLCalculator`) mixes the energies
``ΔE_k = E_QM(P_k) − E_ML(P_k)`` of partitions that differ by one molecule; the difference
``ΔE_{k+1} − ΔE_k`` times the gradient of the partition weights is a force on the molecule
that crosses the switching shell. ``E_QM`` is a total electronic energy (all electrons,
basis-set dependent: about −2040 eV per water in HF/STO-3G), ``E_ML`` whatever zero the model
was trained with (per-element reference energies of its training level). When the two zeros
differ, ``ΔE_{k+1} − ΔE_k`` holds that difference (tens of eV per water) and the crossing
molecule feels a force of tens of eV/Å: the energy stays conserved while the system heats to
thousands of kelvin. Only the interaction and deformation energies are meant to differ.

:func:`fit_reference_energies` finds per-element shifts ``s_Z`` that make
``E_QM + Σ_i s_{Z_i}`` agree with ``E_ML`` over a set of clusters (least squares; the
minimum-norm solution when the compositions do not separate the elements, e.g. water whose
O:H ratio is always 1:2: only the combinations that occur are fixed, which is all the
partition energies need); :class:`ReferenceShiftedCalculator` adds them to a calculator's
energy (forces and stress unchanged, as a sum of constants per atom has no gradient).

A least-squares fit is written here (ten lines of numpy) because ASE has no calculator that
adds per-element constants, and MACE's atomic energies ``E0`` belong to the model, not to an
arbitrary QM method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import (
    Calculator,
    CalculatorSetupError,
    all_changes,
)

from .adaptive import _check_calculator

__all__ = ["ReferenceShiftedCalculator", "fit_reference_energies"]


class ReferenceShiftedCalculator(Calculator):
    """A calculator whose energy is shifted by a constant per atom of each element.

    ``E = E_calc + Σ_i shift[symbol_i]``; forces (and stress, where ``calc`` gives it) are
    those of ``calc``.

    Parameters
    ----------
    calc : ase.calculators.calculator.Calculator
        The wrapped calculator (eV, eV/Å).
    shifts : mapping of str to float
        Energy added per atom of each element (eV), e.g. from
        :func:`fit_reference_energies`. An element without an entry raises
        :class:`~ase.calculators.calculator.CalculatorSetupError` when met.

    Examples
    --------
    >>> from ase.build import molecule
    >>> from ase.calculators.emt import EMT
    >>> calc = ReferenceShiftedCalculator(EMT(), {"H": 1.0})
    >>> atoms = molecule("H2")
    >>> atoms.calc = calc
    >>> round(atoms.get_potential_energy() - EMT().get_potential_energy(atoms), 6)
    2.0
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, calc: Calculator, shifts: Mapping[str, float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_calculator(calc, "calc", ("energy",), "the shift is added to its energy")
        if not isinstance(shifts, Mapping) or not shifts:
            raise CalculatorSetupError(
                "shifts must be a non-empty mapping {element symbol: eV per atom}, got "
                f"{shifts!r}"
            )
        clean = {}
        for sym, value in shifts.items():
            try:
                v = float(value)
            except (TypeError, ValueError) as err:
                raise CalculatorSetupError(
                    f"shifts[{sym!r}] must be a number (eV per atom), got {value!r}"
                ) from err
            if not np.isfinite(v):
                raise CalculatorSetupError(f"shifts[{sym!r}] must be finite, got {value!r}")
            clean[str(sym)] = v
        self.calc = calc
        self.shifts = clean

    def shift_of(self, atoms: Atoms) -> float:
        """The energy added to ``atoms`` (eV)."""
        missing = sorted(set(atoms.get_chemical_symbols()) - set(self.shifts))
        if missing:
            raise CalculatorSetupError(
                f"no reference shift for element(s) {missing}: fit the shifts on clusters "
                "that contain every element of the system"
            )
        return float(sum(self.shifts[s] for s in atoms.get_chemical_symbols()))

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """Energy of ``calc`` plus the shift; the other properties of ``calc`` unchanged."""
        properties = properties or ["energy"]
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        work.calc = self.calc
        shift = self.shift_of(work)
        energy = work.get_potential_energy() + shift
        self.results = {"energy": energy, "free_energy": energy, "reference_shift": shift}
        if "forces" in properties:
            self.results["forces"] = work.get_forces()
        if "stress" in properties:
            self.results["stress"] = work.get_stress()


def fit_reference_energies(
    qm_calc: Calculator, ml_calc: Calculator, structures: Sequence[Atoms]
) -> tuple[dict[str, float], float]:
    """Per-element shifts that put the QM energies on the ML energies' zero.

    Least squares of ``E_ML(s) − E_QM(s) = Σ_Z n_Z(s) s_Z`` over the structures (the
    minimum-norm solution when the compositions do not determine every element).

    Parameters
    ----------
    qm_calc, ml_calc : ase.calculators.calculator.Calculator
        The two calculators (eV). Each structure is computed on a copy with the calculator
        attached, so ``qm_calc`` must fit every structure (charge, spin).
    structures : sequence of ase.Atoms
        At least two clusters of different compositions, ideally the partition clusters
        that the run will meet (the core with 0, 1, 2, ... shell molecules).

    Returns
    -------
    shifts : dict
        ``{element symbol: eV per atom}`` to pass to :class:`ReferenceShiftedCalculator`
        wrapping ``qm_calc``.
    rms : float
        Root-mean-square residual of the fit (eV per atom): what remains of the difference
        after the shift (interaction and deformation energies, not a reference).

    Raises
    ------
    ValueError
        Fewer than two structures, or structures that are not ``ase.Atoms``.
    """
    if isinstance(structures, Atoms) or not isinstance(structures, Sequence):
        raise ValueError("structures must be a list of ase.Atoms (at least two clusters)")
    if len(structures) < 2 or not all(isinstance(s, Atoms) for s in structures):
        raise ValueError(
            f"structures must hold at least two ase.Atoms, got {len(structures)} items"
        )
    for calc, role in ((qm_calc, "qm_calc"), (ml_calc, "ml_calc")):
        _check_calculator(calc, role, ("energy",), "the fit compares energies")
    elements = sorted({sym for s in structures for sym in s.get_chemical_symbols()})
    counts = np.array(
        [[s.get_chemical_symbols().count(z) for z in elements] for s in structures], float
    )
    diff = np.empty(len(structures))
    for i, s in enumerate(structures):
        energies = []
        for calc in (qm_calc, ml_calc):
            work = s.copy()
            work.calc = calc
            energies.append(work.get_potential_energy())
        diff[i] = energies[1] - energies[0]
    coef, *_ = np.linalg.lstsq(counts, diff, rcond=None)
    resid = diff - counts @ coef
    rms = float(np.sqrt(np.mean((resid / counts.sum(axis=1)) ** 2)))
    return {z: float(c) for z, c in zip(elements, coef, strict=True)}, rms
