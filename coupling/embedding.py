"""Electrostatic embedding of environment point charges in the PySCF QM Hamiltonian.

The QM cluster is solved in the field of point charges ``q_J`` at ``R_J`` (the environment
atoms), with PySCF's :mod:`pyscf.qmmm`:

.. math::

    E = E_\\mathrm{QM}[\\rho] + \\sum_J q_J \\int \\frac{-\\rho_e(r)}{|r - R_J|}\\,dr
        + \\sum_{A, J} \\frac{Z_A q_J}{|R_A - R_J|},

(the charge–charge energy of the environment is not included). The gradient with respect
to the charge positions (``grad_hcore_mm`` + ``grad_nuc_mm`` of PySCF's QM/MM gradient) gives
the forces on the charges; together with the forces on the QM atoms they sum to zero, because
``E`` is invariant under a common translation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, CalculatorSetupError, all_changes
from ase.data import chemical_symbols
from ase.units import Bohr, Hartree

from .pyscf_calculator import PySCFCalculator

__all__ = ["TIP3P_CHARGES", "EmbeddedPySCFCalculator", "PointChargeEmbedding"]

#: TIP3P water charges (e) and formal ion charges, a convenient default table.
TIP3P_CHARGES: dict[str, float] = {
    "O": -0.834,
    "H": 0.417,
    "Li": 1.0,
    "Na": 1.0,
    "K": 1.0,
    "Cl": -1.0,
    "Br": -1.0,
    "I": -1.0,
    "F": -1.0,
}


class EmbeddedPySCFCalculator(PySCFCalculator):
    """:class:`PySCFCalculator` whose cluster feels fixed point charges (electrostatic embedding).

    Same parameters as :class:`PySCFCalculator`. Set the charges with
    :meth:`set_point_charges` before each calculation (the force-mixing calculator does this).

    Notes
    -----
    ``results`` additionally holds ``point_charge_forces`` (eV/Å, one row per charge).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pc_positions = np.zeros((0, 3))
        self._pc_charges = np.zeros(0)
        super().__init__(*args, **kwargs)

    def set_point_charges(self, positions: np.ndarray, charges: np.ndarray) -> None:
        """Set the embedding charges.

        Parameters
        ----------
        positions : numpy.ndarray
            ``(n, 3)`` charge positions in Å, in the frame of the cluster's atoms.
        charges : numpy.ndarray
            ``(n,)`` charges in units of e.
        """
        try:
            positions = np.asarray(positions, dtype=float)
            charges = np.asarray(charges, dtype=float).reshape(-1)
        except (TypeError, ValueError) as err:
            raise TypeError(
                "point-charge positions must be an (n, 3) array of numbers (Å) and charges "
                f"n numbers (e): {err}"
            ) from None
        if positions.size == 0:
            positions = positions.reshape(0, 3)
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise ValueError(
                f"point-charge positions must have shape (n, 3) (Å), got {positions.shape}"
            )
        if len(positions) != len(charges):
            raise ValueError(f"{len(positions)} point-charge positions but {len(charges)} charges")
        if not (np.all(np.isfinite(positions)) and np.all(np.isfinite(charges))):
            raise ValueError("point-charge positions and charges must be finite")
        self._pc_positions = positions
        self._pc_charges = charges
        self.reset()

    def build_method(self, mol):
        """Return the mean-field object with the point charges added (pyscf.qmmm)."""
        mf = super().build_method(mol)
        if len(self._pc_charges):
            from pyscf import qmmm

            mf = qmmm.add_mm_charges(mf, self._pc_positions / Bohr, self._pc_charges, unit="Bohr")
        return mf

    def _check_atoms(self, atoms: Atoms) -> None:
        super()._check_atoms(atoms)
        if len(self._pc_charges):
            from ase.geometry import get_distances

            _, d = get_distances(atoms.positions, self._pc_positions)
            if d.min() < 0.5:
                raise CalculatorSetupError(
                    f"a point charge is {d.min():.3f} Å from a QM atom: the embedding charges "
                    "overlap the cluster (is an environment atom also in the cluster?)"
                )

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """As :meth:`PySCFCalculator.calculate`, plus the forces on the point charges."""
        properties = properties or ["energy"]
        super().calculate(atoms, properties, system_changes)
        if "forces" in properties:
            if len(self._pc_charges):
                grad = self.mf.nuc_grad_method()
                dm = self.mf.make_rdm1()
                if dm.ndim == 3:  # unrestricted: total density
                    dm = dm[0] + dm[1]
                g = grad.grad_hcore_mm(dm) + grad.grad_nuc_mm()
                self.results["point_charge_forces"] = -np.asarray(g) * (Hartree / Bohr)
            else:
                self.results["point_charge_forces"] = np.zeros((0, 3))


class PointChargeEmbedding:
    """Which environment atoms enter the QM Hamiltonian as point charges, and with what charge.

    Parameters
    ----------
    charges : dict or "ml"
        Per-element charge table (symbol -> charge in e), e.g. :data:`TIP3P_CHARGES`; or
        ``"ml"`` to take the per-atom ``charges`` result of the ML calculator (which must
        implement ``"charges"``).
    cutoff : float, optional
        Only environment atoms within this distance (Å, minimum image) of a cluster atom
        are embedded; whole molecules are kept (default None: every environment atom).
    """

    def __init__(self, charges: dict[str, float] | str = "tip3p", cutoff: float | None = None):
        if isinstance(charges, str):
            if charges.lower() == "tip3p":
                charges = dict(TIP3P_CHARGES)
            elif charges.lower() != "ml":
                raise ValueError(
                    f"charges must be a per-element dict, 'tip3p' or 'ml', got {charges!r}"
                )
        elif not isinstance(charges, dict):
            raise TypeError(f"charges must be a dict or 'ml', got {type(charges).__name__}")
        if isinstance(charges, dict):
            for symbol, q in charges.items():
                if symbol not in chemical_symbols[1:]:
                    raise ValueError(
                        f"charges: {symbol!r} is not an element symbol (use e.g. 'O', 'Na')"
                    )
                if isinstance(q, bool) or not isinstance(q, int | float | np.integer | np.floating):
                    raise TypeError(f"charges[{symbol!r}] must be a number (e), got {q!r}")
                if not np.isfinite(q):
                    raise ValueError(f"charges[{symbol!r}] must be finite (e), got {q}")
        if cutoff is not None:
            if isinstance(cutoff, bool) or not isinstance(
                cutoff, int | float | np.integer | np.floating
            ):
                raise TypeError(f"cutoff must be None or a distance in Å, got {cutoff!r}")
            if not np.isfinite(cutoff) or cutoff <= 0:
                raise ValueError(f"cutoff must be a positive distance in Å, got {cutoff}")
        self.charges = charges
        self.cutoff = cutoff

    def check_calculators(self, qm_calc: Calculator, ml_calc: Calculator) -> None:
        """Raise :class:`CalculatorSetupError` when the calculators cannot do the embedding."""
        if not hasattr(qm_calc, "set_point_charges"):
            raise CalculatorSetupError(
                "electrostatic embedding needs a QM calculator with set_point_charges(), "
                f"e.g. coupling.EmbeddedPySCFCalculator; got {type(qm_calc).__name__}"
            )
        if self.charges == "ml" and "charges" not in getattr(ml_calc, "implemented_properties", ()):
            raise CalculatorSetupError(
                f"charges='ml' but the ML calculator {type(ml_calc).__name__} does not "
                "implement 'charges'; give a per-element charge table instead"
            )

    def atom_charges(self, atoms: Atoms, ml_calc: Calculator | None = None) -> np.ndarray:
        """Return the charge (e) of every atom of ``atoms``."""
        if self.charges == "ml":
            q = ml_calc.results.get("charges") if ml_calc is not None else None
            if q is None or len(q) != len(atoms):
                raise ValueError("the ML calculator returned no per-atom 'charges'")
            return np.asarray(q, dtype=float)
        symbols = atoms.get_chemical_symbols()
        missing = sorted(set(symbols) - set(self.charges))
        if missing:
            raise ValueError(
                f"no embedding charge for element(s) {missing}; add them to the charge table"
            )
        return np.array([self.charges[s] for s in symbols], dtype=float)
