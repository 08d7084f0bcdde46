"""QM/ML force mixing with smooth switching: one ASE calculator for a QM core in an ML environment.

For every configuration the regions are recomputed (:class:`coupling.Regions`), the ML
calculator is run on the full system and the QM calculator on the carved, capped,
non-periodic cluster (core + switching shell + buffer). The forces are mixed atom by atom,

.. math::

    \\mathbf F_i = w_i\\,\\mathbf F_i^\\mathrm{QM} + (1 - w_i)\\,\\mathbf F_i^\\mathrm{ML},

and the net force is corrected so that it equals the ML net force. The excess
:math:`\\Delta = \\sum_k \\mathbf F_k - \\sum_k \\mathbf F_k^\\mathrm{ML}` is removed with shares
:math:`c_i / \\sum_j c_j`,

.. math::

    \\mathbf F_i \\leftarrow \\mathbf F_i - \\frac{c_i}{\\sum_j c_j}\\,\\Delta,

with ``momentum="ml"`` (default) :math:`c_i = (1 - w_i)\\,m_i`: the environment and the shell
take the correction in proportion to their mass (equal accelerations), the full-QM core
(:math:`w = 1`) keeps its QM forces untouched (when every atom has ``w = 1``, all atoms share it
by mass); ``momentum="mass"``: :math:`c_i = m_i` over all atoms (the acceleration of every atom
changes by the same vector); ``momentum="weighted"`` (alias ``"conserve"``, the default before
2026-11): :math:`c_i = w_i`, which puts the cluster's spurious net force onto the few QM atoms and
degrades the core forces (``benchmarks/results/force_mixing.md``); ``momentum="none"``: the raw
mixed forces. For an isolated system or a periodic ML model the ML net force is zero, so the
corrected mixed forces conserve momentum.

Force mixing has no energy: the mixed forces are not the gradient of any function, so there
is no conserved quantity and MD must be thermostatted (e.g. :class:`ase.md.langevin.Langevin`).
This calculator therefore implements only ``forces``; asking for the energy raises
:class:`ase.calculators.calculator.PropertyNotImplementedError`, with a message that points to
:func:`coupling.relax_mixed_forces` (ASE's optimizers ask for the energy; that function runs
FIRE on the forces alone).

References: N. Bernstein, J. R. Kermode, G. Csányi, Rep. Prog. Phys. 72, 026501 (2009).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import (
    CalculationFailed,
    Calculator,
    CalculatorSetupError,
    PropertyNotImplementedError,
    all_changes,
)
from ase.geometry import get_distances

from .embedding import PointChargeEmbedding
from .regions import Regions
from .switching import SwitchingFunction, get_switching

__all__ = ["ForceMixingCalculator"]

_MOMENTUM = ("ml", "mass", "weighted", "conserve", "none")

#: Keyword arguments passed on to :class:`ase.calculators.calculator.Calculator`.
_CALCULATOR_KWARGS = ("label", "directory", "atoms")


def _check_forces_calculator(calc: Any, role: str) -> None:
    if isinstance(calc, type):
        raise CalculatorSetupError(
            f"{role} must be a calculator instance, got the class {calc.__name__}; "
            f"create one, e.g. {calc.__name__}(...)"
        )
    if not isinstance(calc, Calculator) and not hasattr(calc, "get_forces"):
        raise CalculatorSetupError(f"{role} must be an ASE calculator, got {type(calc).__name__}")
    props = getattr(calc, "implemented_properties", None)
    if props is not None and "forces" not in props:
        raise CalculatorSetupError(
            f"{role} ({type(calc).__name__}) cannot give forces (implemented_properties = "
            f"{list(props)}); force mixing needs forces on every atom"
        )


def _checked_forces(forces: Any, n: int, role: str, what: str) -> np.ndarray:
    """The forces as an ``(n, 3)`` float array; :class:`CalculationFailed` if they are not."""
    f = np.asarray(forces, dtype=float)
    if f.shape != (n, 3):
        raise CalculationFailed(
            f"force mixing: {role} returned forces of shape {f.shape} for the {n}-atom {what}"
        )
    if not np.all(np.isfinite(f)):
        raise CalculationFailed(
            f"force mixing: {role} returned non-finite forces (NaN or inf) for the {what}; "
            "check that calculator and the structure"
        )
    return f.copy()


class ForceMixingCalculator(Calculator):
    """Mixed QM/ML forces with a smooth switching shell, recomputed every call (adaptive).

    Parameters
    ----------
    qm_calc : ase.calculators.calculator.Calculator
        Calculator for the non-periodic QM cluster, e.g. :class:`coupling.PySCFCalculator`
        (its ``charge``/``spin`` must be those of the cluster). Forces in eV/Å.
    ml_calc : ase.calculators.calculator.Calculator
        Calculator for the full (possibly periodic) system, e.g. an MLIP. Forces in eV/Å.
    regions : Regions
        Region definition (radii in Å); updated at every call.
    switching : str or SwitchingFunction
        Switching function of the shell (default ``"quintic"``, C2); replaces the one of
        ``regions``.
    momentum : {"ml", "mass", "weighted", "conserve", "none"}
        Who takes the net-force correction (see the module docstring): ``"ml"`` (default)
        the atoms with ``w < 1`` by ``(1 - w) m``, so core forces stay the QM ones; ``"mass"``
        all atoms by mass; ``"weighted"`` (``"conserve"`` is an alias) the QM-weighted atoms
        by ``w``; ``"none"``: raw mixed forces.
    embedding : PointChargeEmbedding, optional
        Electrostatic embedding of the environment (atoms outside the cluster) as point
        charges in the QM Hamiltonian; needs a QM calculator with ``set_point_charges`` such
        as :class:`coupling.EmbeddedPySCFCalculator`.
    **kwargs
        ``label``, ``directory`` or ``atoms``, passed to
        :class:`ase.calculators.calculator.Calculator`; anything else is refused.

    Notes
    -----
    ``results`` holds ``forces`` (eV/Å) and the diagnostics ``weights``, ``labels`` (see
    :mod:`coupling.regions`), ``qm_forces`` (eV/Å; QM forces scattered to the system, zero
    outside the cluster, links redistributed, forces on embedding charges included for those
    atoms), ``ml_forces`` (eV/Å), ``cluster_indices``, ``cluster_size`` (atoms, links
    included), ``link_atoms`` (``(inside, outside)`` pairs), ``net_force_correction`` (eV/Å,
    the vector removed), ``n_point_charges`` and ``timings`` (seconds: ``regions``, ``ml``,
    ``qm``, ``mixing``, ``total``). The last :class:`coupling.regions.QMCluster` is kept as
    :attr:`cluster`.

    There is no energy (see the module docstring): to relax a structure with the mixed
    forces use :func:`coupling.relax_mixed_forces`, for MD a thermostat such as
    :class:`ase.md.langevin.Langevin`.
    """

    implemented_properties = ["forces"]

    def __init__(
        self,
        qm_calc: Calculator,
        ml_calc: Calculator,
        regions: Regions,
        switching: str | SwitchingFunction = "quintic",
        momentum: str = "ml",
        embedding: PointChargeEmbedding | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - set(_CALCULATOR_KWARGS))
        if unknown:
            raise CalculatorSetupError(
                f"unknown ForceMixingCalculator argument(s) {unknown}; it takes qm_calc, "
                f"ml_calc, regions, switching, momentum, embedding and {list(_CALCULATOR_KWARGS)}"
            )
        super().__init__(**kwargs)
        _check_forces_calculator(qm_calc, "qm_calc")
        _check_forces_calculator(ml_calc, "ml_calc")
        if not isinstance(regions, Regions):
            raise CalculatorSetupError(
                f"regions must be a coupling.Regions, got {type(regions).__name__}"
            )
        if momentum not in _MOMENTUM:
            raise CalculatorSetupError(f"momentum must be one of {_MOMENTUM}, got {momentum!r}")
        if embedding is not None:
            if not isinstance(embedding, PointChargeEmbedding):
                raise CalculatorSetupError(
                    "embedding must be None or a coupling.PointChargeEmbedding, got "
                    f"{type(embedding).__name__}"
                )
            embedding.check_calculators(qm_calc, ml_calc)
        try:
            self.switching = get_switching(switching)
        except (ValueError, TypeError) as err:
            raise CalculatorSetupError(str(err)) from err
        self.qm_calc = qm_calc
        self.ml_calc = ml_calc
        self.regions = regions
        regions.switching = self.switching
        self.momentum = momentum
        self.embedding = embedding
        self.cluster = None  #: the last carved :class:`coupling.regions.QMCluster`

    def reset(self) -> None:
        """Clear all results, those of the QM and ML calculators too, and the region memory.

        After a reset the next call recomputes everything, even at the same positions: the
        sub-calculators would otherwise return their cached results, and the hysteresis
        memory of :attr:`regions` would keep the previous cluster.
        """
        super().reset()
        for calc in (getattr(self, "qm_calc", None), getattr(self, "ml_calc", None)):
            if calc is not None and hasattr(calc, "reset"):
                calc.reset()
        if getattr(self, "regions", None) is not None:
            self.regions.reset()
        self.cluster = None

    def get_property(self, name: str, atoms: Atoms | None = None, allow_calculation: bool = True):
        """As :meth:`ase.calculators.calculator.Calculator.get_property`; forces only.

        Raises
        ------
        ase.calculators.calculator.PropertyNotImplementedError
            For any property but ``forces`` (there is no mixed energy), with a message that
            says how to relax (:func:`coupling.relax_mixed_forces`) or run MD instead.
        """
        if name not in self.implemented_properties:
            raise PropertyNotImplementedError(
                f"ForceMixingCalculator has no {name!r}: mixed forces are not the gradient of "
                "any energy. ASE optimizers (BFGS, FIRE, ...) ask for the energy; relax with "
                "coupling.relax_mixed_forces(atoms, fmax=0.05) instead (FIRE on the forces "
                "alone), and run MD with a thermostat such as Langevin"
            )
        return super().get_property(name, atoms, allow_calculation)

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """Compute the mixed forces of ``atoms`` and fill :attr:`results`."""
        super().calculate(atoms, properties or ["forces"], system_changes)
        atoms = self.atoms
        n = len(atoms)
        t_start = time.perf_counter()
        try:
            state = self.regions.update(atoms, self.switching)
        except ValueError as err:
            raise CalculationFailed(f"force mixing: {err}") from err
        t_regions = time.perf_counter() - t_start

        t0 = time.perf_counter()
        ml_atoms = atoms.copy()
        ml_atoms.calc = self.ml_calc
        ml_forces = _checked_forces(ml_atoms.get_forces(), n, "ml_calc", "full system")
        t_ml = time.perf_counter() - t0

        t0 = time.perf_counter()
        qm_forces = np.zeros((n, 3))
        cluster = None
        n_charges = 0
        if len(state.cluster):
            try:
                cluster = self.regions.carve(atoms, state.cluster)
            except ValueError as err:
                raise CalculationFailed(f"force mixing: {err}") from err
            env = self._embed(atoms, cluster) if self.embedding is not None else None
            qm_atoms = cluster.atoms
            qm_atoms.calc = self.qm_calc
            f_cluster = _checked_forces(qm_atoms.get_forces(), len(qm_atoms), "qm_calc", "cluster")
            qm_forces = cluster.scatter_forces(f_cluster, n)
            if env is not None and len(env):
                n_charges = len(env)
                qm_forces[env] += self.qm_calc.results["point_charge_forces"]
        self.cluster = cluster
        t_qm = time.perf_counter() - t0

        t0 = time.perf_counter()
        w = state.weights[:, None]
        forces = w * qm_forces + (1.0 - w) * ml_forces
        correction = np.zeros(3)
        shares = self._correction_shares(atoms, state.weights)
        if shares is not None:
            correction = forces.sum(axis=0) - ml_forces.sum(axis=0)
            forces -= shares[:, None] * correction
        t_mix = time.perf_counter() - t0

        self.results = {
            "forces": forces,
            "weights": state.weights.copy(),
            "labels": state.labels.copy(),
            "qm_forces": qm_forces,
            "ml_forces": ml_forces,
            "cluster_indices": state.cluster.copy(),
            "cluster_size": 0 if cluster is None else len(cluster.atoms),
            "link_atoms": np.zeros((0, 2), int) if cluster is None else cluster.link_pairs,
            "net_force_correction": correction,
            "n_point_charges": n_charges,
            "timings": {
                "regions": t_regions,
                "ml": t_ml,
                "qm": t_qm,
                "mixing": t_mix,
                "total": time.perf_counter() - t_start,
            },
        }

    def _correction_shares(self, atoms: Atoms, weights: np.ndarray) -> np.ndarray | None:
        """Fractions (summing to 1) of the net-force correction per atom; None: no correction."""
        if self.momentum == "none" or weights.sum() == 0:
            return None
        if self.momentum in ("weighted", "conserve"):
            c = weights.astype(float)
        else:
            c = atoms.get_masses().astype(float)
            if self.momentum == "ml" and np.sum((1.0 - weights) * c) > 0:
                c = (1.0 - weights) * c
        return c / c.sum()

    def _embed(self, atoms: Atoms, cluster) -> np.ndarray:
        """Set the environment point charges on the QM calculator; return their indices."""
        n = len(atoms)
        inside = np.zeros(n, dtype=bool)
        inside[cluster.indices] = True
        inside[cluster.link_pairs[:, 1]] = True  # a capped partner is not also a charge
        env = np.flatnonzero(~inside)
        anchor = int(self.regions.state.core[0])
        if atoms.pbc.any():
            vec, _ = get_distances(
                atoms.positions[anchor], atoms.positions[env], cell=atoms.cell, pbc=atoms.pbc
            )
            pos = atoms.positions[anchor] + vec[0]
        else:
            pos = atoms.positions[env].copy()
        if len(env) and atoms.pbc.any():
            # keep molecules whole around their atom nearest to the anchor
            mol = self.regions.state.molecule_ids[env]
            dist = np.linalg.norm(pos - atoms.positions[anchor], axis=1)
            for m in np.unique(mol):
                sel = np.flatnonzero(mol == m)
                if len(sel) > 1:
                    a = sel[np.argmin(dist[sel])]
                    rel, _ = get_distances(
                        atoms.positions[env[a]],
                        atoms.positions[env[sel]],
                        cell=atoms.cell,
                        pbc=atoms.pbc,
                    )
                    pos[sel] = pos[a] + rel[0]
        if self.embedding.cutoff is not None and len(env):
            _, d = get_distances(pos, cluster.atoms.positions)
            mol = self.regions.state.molecule_ids[env]
            near_mol = np.unique(mol[d.min(axis=1) <= self.embedding.cutoff])
            keep = np.isin(mol, near_mol)
            env, pos = env[keep], pos[keep]
        q = self.embedding.atom_charges(atoms, self.ml_calc)[env]
        self.qm_calc.set_point_charges(pos, q)
        return env
