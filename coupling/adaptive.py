"""Energy-conserving adaptive QM/ML: sorted adaptive partitioning (SAP) of a switching shell.

Force mixing (:class:`coupling.ForceMixingCalculator`) mixes forces and has no energy. This
module mixes *energies* of a few QM/ML partitions instead, so that the forces are the exact
gradient of one potential energy and NVE molecular dynamics conserves it while molecules
cross the boundary (A. Heyden, H. Lin, D. G. Truhlar, J. Phys. Chem. B 111, 2231 (2007)).

Groups and weights
------------------
The system is split into groups, the molecules of :meth:`coupling.Regions.molecule_ids`
(whole molecules with ``molecules=True``; heavy atom + its hydrogens with ``False``).
The *centre* ``c`` is the mass-weighted centroid of the core atoms (minimum image around the
first core atom; for one core atom, that atom). A group ``g`` is represented by its heaviest
atom ``a(g)`` (the lowest index among equally heavy ones: the O of a water) and gets the
weight

.. math::

    w_g = s\\big((|\\mathbf r_{a(g)} - \\mathbf c| - r_\\mathrm{core}) / r_\\mathrm{switch}\\big)

with the switching function ``s`` of :mod:`coupling.switching` (``Regions.weights``). Groups
holding a core atom have ``w = 1``. A group with ``w = 1`` is always QM, with ``w = 0`` always
ML; the ``n`` groups with ``0 < w < 1`` form the switching shell. Because ``|r_a - c|`` is a
smooth function of the positions (no minimum over atoms), ``w_g`` is as smooth as ``s``, and
its gradient is analytic: ``∇_a w_g = s'(x) / r_switch · u`` and ``∇_i w_g = -(m_i/M) s'(x) /
r_switch · u`` for core atom ``i`` (``u`` the unit vector from ``c`` to ``r_a``).

Partitions and energy
---------------------
Sort the shell groups by weight, ``w_(1) ≥ w_(2) ≥ … ≥ w_(n)`` (ties broken by group index).
Partition ``k = 0 … n`` puts in QM the groups with ``w = 1`` plus the first ``k`` shell groups,
``P_k``. Its energy is the subtractive (ONIOM-like) QM/ML energy

.. math::

    E_k = E_\\mathrm{ML}(\\text{all}) + E_\\mathrm{QM}(P_k) - E_\\mathrm{ML}(P_k),

both cluster terms on the same carved, non-periodic cluster (:meth:`coupling.Regions.carve`:
minimum image, molecules whole, link hydrogens where a bond is cut). The potential energy is

.. math::

    E = \\sum_{k=0}^{n} \\sigma_k(\\mathbf R)\\, E_k, \\qquad
    \\sum_k \\sigma_k = 1,\\ \\sigma_k \\ge 0,

and the forces are its exact gradient,

.. math::

    \\mathbf F = -\\nabla E = \\mathbf F_\\mathrm{ML}(\\text{all}) + \\sum_k \\sigma_k
    (\\mathbf F^\\mathrm{QM}_{P_k} - \\mathbf F^\\mathrm{ML}_{P_k})
    - \\sum_k \\Delta E_k \\sum_g \\frac{\\partial \\sigma_k}{\\partial w_g} \\nabla w_g,

with ``ΔE_k = E_QM(P_k) − E_ML(P_k)`` (``Σ_k ∇σ_k = 0`` removes ``E_ML(all)`` from the last term).

Two choices of ``σ_k`` (``scheme``):

``"linear"``
    ``σ_k = w_(k) − w_(k+1)`` with ``w_(0) = 1``, ``w_(n+1) = 0``: the differences of consecutive
    sorted weights. ``E`` is continuous everywhere, but where two shell groups A, B swap sort
    order the gradient has a kink: the force jumps by
    ``(∇w_A − ∇w_B) (ΔE_{P+A} + ΔE_{P+B} − ΔE_P − ΔE_{P+A+B})`` (the non-additivity of the
    QM−ML difference over A and B). Forces are the exact gradient on either side.
``"smooth"`` (default)
    Heyden et al.'s smoothing of the sorted weights. With the sorted shell weights ``s_i``,

    .. math::

        \\chi_i = \\frac{1 - s_i}{s_i} + \\sum_{j<i} \\frac{1 - s_j}{s_j - s_i}
        + \\sum_{j>i} \\frac{s_j (1 - s_i)}{s_i - s_j}, \\qquad
        \\varphi_i = (1 + \\chi_i)^{-3},

    ``σ_0 = Π_{j≥1} (1 − φ_j)`` and ``σ_k = φ_k Π_{j>k} (1 − φ_j)``. The sum telescopes to 1 and
    every ``σ_k ∈ [0, 1]``. When two groups approach equal weight, ``χ`` of both diverges as
    ``1/|s_A − s_B|``, so ``φ_A, φ_B`` and the weight of every partition that holds one of them
    but not the other vanish as ``|s_A − s_B|^3``: the partitions that depend on the sort
    order drop out with two derivatives, and ``E`` stays C2 through a swap (up to the
    continuity of ``s``). A group at the outer edge (``s → 0``) has ``φ ~ s^3``; at the inner
    edge (``s → 1``) ``φ → 1``. This is the form used by the SAP implementation of the Janus
    adaptive QM/MM code; the proofs of the properties above are in ``docs/force_mixing.md``.

Buffer: a sharp buffer (atoms in the QM cluster by a distance cut-off) would make ``E_k``
jump when an atom crosses it, so ``regions.r_buffer`` must be 0; the ML model's description
of the boundary is corrected by the subtraction of ``E_ML(P_k)`` instead.

Parallel partitions
-------------------
The ``n + 1`` partitions are independent calculations. With an MPI communicator ``comm``
(mpi4py), partition ``k`` runs on rank ``k % comm.size`` and the full-system ML calculation
on rank ``(n + 1) % comm.size``; energies and forces are summed with one ``allreduce``, so
every rank returns the same energy and forces. Each rank keeps one deep copy of ``qm_calc``
per partition slot ``k`` it owns; since slot ``k`` always runs on the same rank with the same
instance, a calculator that extrapolates its density between calls
(:class:`coupling.PySCFCalculator`, ASPC) keeps doing so per partition: the cluster of slot
``k`` changes composition only when a group enters or leaves the first ``k`` places, and
:class:`coupling.DensityHistory` restarts then (different atoms, or a jump > 0.3 Å).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import (
    CalculationFailed,
    Calculator,
    CalculatorSetupError,
    all_changes,
)
from ase.geometry import find_mic

from .regions import Regions
from .switching import SwitchingFunction, get_switching

__all__ = ["SAP_SCHEMES", "AdaptiveQMMLCalculator", "sorted_partition_weights"]

#: The partition-weight schemes of :func:`sorted_partition_weights`.
SAP_SCHEMES = ("smooth", "linear")

_CALCULATOR_KWARGS = ("label", "directory", "atoms")


def sorted_partition_weights(
    weights: np.ndarray, scheme: str = "smooth"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights ``σ_k`` of the sorted partitions and their derivatives.

    Parameters
    ----------
    weights : numpy.ndarray
        QM weights ``w_g`` (dimensionless, each in (0, 1)) of the ``n`` shell groups, in any
        order.
    scheme : {"smooth", "linear"}
        See the module docstring.

    Returns
    -------
    order : numpy.ndarray
        ``(n,)`` group positions in ``weights`` sorted by decreasing weight (ties: lower
        position first); partition ``k`` holds ``order[:k]``.
    sigma : numpy.ndarray
        ``(n + 1,)`` partition weights, ``>= 0``, summing to 1.
    dsigma : numpy.ndarray
        ``(n + 1, n)`` derivatives ``∂σ_k/∂w_g`` with ``g`` in the order of ``weights``.

    Raises
    ------
    ValueError
        A weight outside (0, 1) or not finite, or an unknown ``scheme``.
    """
    if scheme not in SAP_SCHEMES:
        raise ValueError(f"scheme must be one of {SAP_SCHEMES}, got {scheme!r}")
    w = np.asarray(weights, dtype=float).ravel()
    if not np.all(np.isfinite(w)) or np.any(w <= 0.0) or np.any(w >= 1.0):
        raise ValueError(
            "weights of shell groups must be finite and strictly between 0 and 1 "
            f"(groups with w = 0 or 1 are not in the shell), got {w.tolist()}"
        )
    n = len(w)
    order = np.lexsort((np.arange(n), -w))
    s = w[order]
    dsig_sorted = np.zeros((n + 1, n))
    if scheme == "linear":
        ext = np.concatenate(([1.0], s, [0.0]))
        sigma = ext[:-1] - ext[1:]
        for k in range(n + 1):
            if k >= 1:
                dsig_sorted[k, k - 1] = 1.0
            if k < n:
                dsig_sorted[k, k] = -1.0
    else:
        phi, dphi = _smooth_phi(s)
        one_minus = 1.0 - phi
        phi_ext = np.concatenate(([1.0], phi))  # partition 0 (no shell group) has phi = 1
        sigma = np.empty(n + 1)
        for k in range(n + 1):
            tail = one_minus[k:]  # groups k+1..n are sorted positions k..n-1
            sigma[k] = phi_ext[k] * np.prod(tail)
            dsig_dphi = np.zeros(n)
            if k >= 1:
                dsig_dphi[k - 1] = np.prod(tail)
            for m in range(k, n):
                dsig_dphi[m] = -phi_ext[k] * np.prod(np.delete(tail, m - k))
            dsig_sorted[k] = dsig_dphi @ dphi
    dsigma = np.zeros((n + 1, n))
    dsigma[:, order] = dsig_sorted
    return order, sigma, dsigma


def _smooth_phi(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``φ_i`` of sorted weights ``s`` (decreasing) and ``∂φ_i/∂s_m`` (``(n, n)``)."""
    n = len(s)
    phi = np.zeros(n)
    dphi = np.zeros((n, n))
    for i in range(n):
        diff = s[i] - s  # > 0 for j > i, < 0 for j < i
        others = np.arange(n) != i
        if np.any(diff[others] == 0.0):
            continue  # an exact tie: φ_i = 0 with vanishing derivatives (φ ~ |Δs|^3)
        chi = (1.0 - s[i]) / s[i]
        dchi = np.zeros(n)
        dchi[i] = -1.0 / s[i] ** 2
        for j in range(n):
            if j < i:  # s_j > s_i
                d = s[j] - s[i]
                chi += (1.0 - s[j]) / d
                dchi[i] += (1.0 - s[j]) / d**2
                dchi[j] = (s[i] - 1.0) / d**2
            elif j > i:  # s_j < s_i
                d = s[i] - s[j]
                chi += s[j] * (1.0 - s[i]) / d
                dchi[i] += s[j] * (s[j] - 1.0) / d**2
                dchi[j] = s[i] * (1.0 - s[i]) / d**2
        phi[i] = (1.0 + chi) ** -3
        dphi[i] = -3.0 * (1.0 + chi) ** -4 * dchi
    return phi, dphi


def _check_calculator(
    calc: Any,
    role: str,
    need: tuple[str, ...] = ("energy", "forces"),
    why: str = "the adaptive calculator mixes energies",
) -> None:
    """Refuse a calculator class, a non-calculator, or one without the ``need`` properties."""
    if isinstance(calc, type):
        raise CalculatorSetupError(
            f"{role} must be a calculator instance, got the class {calc.__name__}; "
            f"create one, e.g. {calc.__name__}(...)"
        )
    if not isinstance(calc, Calculator):
        raise CalculatorSetupError(f"{role} must be an ASE calculator, got {type(calc).__name__}")
    props = getattr(calc, "implemented_properties", None)
    if props is not None and not set(need) <= set(props):
        raise CalculatorSetupError(
            f"{role} ({type(calc).__name__}) must give {' and '.join(need)} "
            f"(implemented_properties = {list(props)}); {why}"
        )


def _energy_forces(
    calc: Calculator, atoms: Atoms, role: str, what: str
) -> tuple[float, np.ndarray]:
    work = atoms.copy()
    work.calc = calc
    energy = float(work.get_potential_energy())
    forces = np.array(work.get_forces(), dtype=float)
    if (
        forces.shape != (len(atoms), 3)
        or not np.isfinite(energy)
        or not np.all(np.isfinite(forces))
    ):
        raise CalculationFailed(
            f"adaptive QM/ML: {role} returned a non-finite energy or forces of shape "
            f"{forces.shape} for the {len(atoms)}-atom {what}"
        )
    return energy, forces


class AdaptiveQMMLCalculator(Calculator):
    """Energy-conserving adaptive QM/ML by sorted adaptive partitioning (SAP).

    See the module docstring (:mod:`coupling.adaptive`) for the equations.

    Parameters
    ----------
    qm_calc : ase.calculators.calculator.Calculator
        Template QM calculator for the non-periodic partition clusters (energy in eV, forces
        in eV/Å), e.g. :class:`coupling.PySCFCalculator`; its ``charge``/``spin`` must fit
        every partition's cluster. It is never run itself: every partition slot ``k`` gets
        its own deep copy (created before its first use), so per-partition state such as
        PySCF's density extrapolation follows that partition.
    ml_calc : ase.calculators.calculator.Calculator
        ML calculator (eV, eV/Å) for the full system (possibly periodic) and for every
        partition's cluster.
    regions : Regions
        Core atoms, ``r_core`` and ``r_switch`` (Å), molecule definition and carving. Its
        ``r_buffer`` must be 0 (a sharp buffer makes the energy discontinuous).
    switching : str or SwitchingFunction
        Switching function of the shell (default ``"quintic"``, C2); replaces that of
        ``regions``. Use at least C1 (not ``"linear"``/``"step"``) for continuous forces.
    scheme : {"smooth", "linear"}
        Partition weights ``σ_k`` (default ``"smooth"``; see the module docstring).
    max_partitions : int
        Largest allowed number of partitions ``n + 1`` (default 16). More shell groups raise
        :class:`ase.calculators.calculator.CalculationFailed` naming the count (there is no
        silent fallback: dropping a partition would break energy conservation).
    comm : mpi4py communicator, optional
        Spreads the partitions over its ranks (round-robin). All ranks must call with the
        same positions; all get the same results. ``None`` (default): serial.
    max_crossing_mismatch : float or None
        Largest accepted ``|ΔE_{k+1} − ΔE_k|`` per atom of the molecule that partition
        ``k + 1`` adds (eV/atom; default 1.0; None: no check). That difference pushes the
        molecule across the shell; beyond about 1 eV/atom it is not a difference of
        interaction energies but of the QM and ML energy zeros (e.g. an all-electron total
        energy against a model's per-element references), and the dynamics would heat
        without bound while conserving energy. Exceeding it raises
        :class:`~ase.calculators.calculator.CalculationFailed`; align the zeros with
        :func:`coupling.fit_reference_energies` and
        :class:`coupling.ReferenceShiftedCalculator`.
    **kwargs
        ``label``, ``directory`` or ``atoms``.

    Notes
    -----
    ``results`` holds ``energy`` and ``free_energy`` (eV), ``forces`` (eV/Å) and the
    diagnostics ``n_partitions``, ``sigma`` (``σ_k``), ``partition_energies`` (``E_k``, eV),
    ``qm_energies`` and ``ml_cluster_energies`` (eV, ``E_QM(P_k)`` and ``E_ML(P_k)``; NaN for a
    partition skipped because its ``σ_k`` and all its derivatives were exactly 0),
    ``ml_energy`` (eV, ``E_ML(all)``), ``cluster_sizes`` (atoms incl. links),
    ``shell_groups`` (molecule labels, sorted by decreasing weight), ``shell_weights`` (their
    weights), ``group_weights`` (weight of every atom's group), ``partition_ranks`` and
    ``timings`` (seconds). Stress is not implemented (the partition clusters are not
    periodic).
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(
        self,
        qm_calc: Calculator,
        ml_calc: Calculator,
        regions: Regions,
        switching: str | SwitchingFunction = "quintic",
        scheme: str = "smooth",
        max_partitions: int = 16,
        comm: Any = None,
        max_crossing_mismatch: float | None = 1.0,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - set(_CALCULATOR_KWARGS))
        if unknown:
            raise CalculatorSetupError(
                f"unknown AdaptiveQMMLCalculator argument(s) {unknown}; it takes qm_calc, "
                "ml_calc, regions, switching, scheme, max_partitions, comm, "
                "max_crossing_mismatch and "
                f"{list(_CALCULATOR_KWARGS)}"
            )
        super().__init__(**kwargs)
        _check_calculator(qm_calc, "qm_calc")
        _check_calculator(ml_calc, "ml_calc")
        if not isinstance(regions, Regions):
            raise CalculatorSetupError(
                f"regions must be a coupling.Regions, got {type(regions).__name__}"
            )
        if regions.r_buffer != 0.0:
            raise CalculatorSetupError(
                f"regions.r_buffer must be 0 for the adaptive calculator, got {regions.r_buffer}"
                " Å: atoms entering a sharp buffer would make the energy jump; widen r_switch "
                "instead (the subtraction of E_ML(P_k) corrects the cluster boundary)"
            )
        if scheme not in SAP_SCHEMES:
            raise CalculatorSetupError(f"scheme must be one of {SAP_SCHEMES}, got {scheme!r}")
        if (
            isinstance(max_partitions, bool)
            or not isinstance(max_partitions, int | np.integer)
            or max_partitions < 1
        ):
            raise CalculatorSetupError(
                f"max_partitions must be a whole number >= 1, got {max_partitions!r}"
            )
        if max_crossing_mismatch is not None and not (
            isinstance(max_crossing_mismatch, int | float | np.floating)
            and not isinstance(max_crossing_mismatch, bool)
            and np.isfinite(max_crossing_mismatch)
            and max_crossing_mismatch > 0
        ):
            raise CalculatorSetupError(
                "max_crossing_mismatch must be a number > 0 (eV/atom) or None, got "
                f"{max_crossing_mismatch!r}"
            )
        if comm is not None and not all(
            hasattr(comm, a) for a in ("rank", "size", "allreduce", "allgather")
        ):
            raise CalculatorSetupError(
                f"comm must be an mpi4py communicator (or None), got {type(comm).__name__}"
            )
        try:
            self.switching = get_switching(switching)
        except (ValueError, TypeError) as err:
            raise CalculatorSetupError(str(err)) from err
        self.qm_calc = qm_calc
        self.ml_calc = ml_calc
        self.regions = regions
        regions.switching = self.switching
        self.scheme = scheme
        self.max_partitions = int(max_partitions)
        self.max_crossing_mismatch = (
            None if max_crossing_mismatch is None else float(max_crossing_mismatch)
        )
        self.comm = comm
        self._qm_slots: dict[int, Calculator] = {}

    # ------------------------------------------------------------------ helpers
    @property
    def rank(self) -> int:
        """This process's rank in ``comm`` (0 when serial)."""
        return 0 if self.comm is None else int(self.comm.rank)

    @property
    def size(self) -> int:
        """Number of ranks the partitions are spread over (1 when serial)."""
        return 1 if self.comm is None else int(self.comm.size)

    def qm_slot(self, k: int) -> Calculator:
        """The QM calculator of partition slot ``k`` (a deep copy of ``qm_calc``)."""
        if k not in self._qm_slots:
            self._qm_slots[k] = copy.deepcopy(self.qm_calc)
        return self._qm_slots[k]

    def reset(self) -> None:
        """Clear results, those of every QM slot and of the ML calculator, and region memory."""
        super().reset()
        for calc in [*getattr(self, "_qm_slots", {}).values(), getattr(self, "ml_calc", None)]:
            if calc is not None and hasattr(calc, "reset"):
                calc.reset()
        if getattr(self, "regions", None) is not None:
            self.regions.reset()

    def group_weights(self, atoms: Atoms) -> dict[str, Any]:
        """Groups, their weights and weight gradients for ``atoms`` (see module docstring).

        Parameters
        ----------
        atoms : ase.Atoms
            The full system (Å).

        Returns
        -------
        dict
            ``molecule_ids`` (per atom), ``core`` (indices), ``groups`` (labels),
            ``representative`` (atom index per group), ``distance`` (Å per group),
            ``weight`` (per group), ``dweight`` (``dw/dd`` in 1/Å per group), ``unit``
            (``(n_groups, 3)`` unit vectors from the centre), ``core_mass_fraction``.
        """
        try:
            state = self.regions.update(atoms, self.switching)
        except ValueError as err:
            raise CalculationFailed(f"adaptive QM/ML: {err}") from err
        mol = state.molecule_ids
        core = state.core
        masses = atoms.get_masses()
        pbc = atoms.pbc if atoms.pbc.any() else None
        cell = atoms.cell if pbc is not None else None
        rel = atoms.positions[core] - atoms.positions[core[0]]
        if pbc is not None:
            rel, _ = find_mic(rel, cell, pbc)
        frac = masses[core] / masses[core].sum()
        centre = atoms.positions[core[0]] + frac @ rel
        groups = np.unique(mol)
        rep = np.empty(len(groups), dtype=int)
        for n, g in enumerate(groups):
            members = np.flatnonzero(mol == g)
            rep[n] = members[np.argmax(masses[members])]  # argmax: lowest index on ties
        vec = atoms.positions[rep] - centre
        if pbc is not None:
            vec, dist = find_mic(vec, cell, pbc)
        else:
            dist = np.linalg.norm(vec, axis=1)
        unit = np.zeros_like(vec)
        nonzero = dist > 0
        unit[nonzero] = vec[nonzero] / dist[nonzero, None]
        x = (dist - self.regions.r_core) / self.regions.r_switch
        weight = self.regions.weights(dist, self.switching)
        dweight = self.switching.deriv(x) / self.regions.r_switch
        is_core_group = np.isin(groups, mol[core])
        weight[is_core_group] = 1.0
        dweight[is_core_group] = 0.0
        return {
            "molecule_ids": mol,
            "core": core,
            "groups": groups,
            "representative": rep,
            "distance": dist,
            "weight": weight,
            "dweight": dweight,
            "unit": unit,
            "core_mass_fraction": frac,
        }

    # ------------------------------------------------------------------ calculation
    def _partitions(self, atoms: Atoms) -> dict[str, Any]:
        """Group weights of ``atoms``, the shell sorted by weight and the partition weights:
        ``gw`` (:meth:`group_weights`), ``shell`` (positions in ``gw["groups"]``),
        ``shell_sorted``, ``sigma``, ``dsigma`` and ``base`` (atoms of the w = 1 groups)."""
        gw = self.group_weights(atoms)
        w = gw["weight"]
        shell = np.flatnonzero((w > 0.0) & (w < 1.0))
        if len(shell):
            order, sigma, dsigma = sorted_partition_weights(w[shell], self.scheme)
        else:
            order, sigma, dsigma = np.zeros(0, int), np.ones(1), np.zeros((1, 0))
        base = np.flatnonzero(np.isin(gw["molecule_ids"], gw["groups"][w >= 1.0]))
        return {"gw": gw, "shell": shell, "shell_sorted": shell[order], "sigma": sigma,
                "dsigma": dsigma, "base": base}  # fmt: skip

    def _carve_partition(self, atoms: Atoms, part: dict[str, Any], k: int):
        """The cluster of partition ``k``: the w = 1 groups and the first ``k`` shell groups."""
        gw = part["gw"]
        members = np.isin(gw["molecule_ids"], gw["groups"][part["shell_sorted"][:k]])
        idx = np.union1d(part["base"], np.flatnonzero(members))
        return self.regions.carve(atoms, idx, anchor=int(gw["core"][0]))

    def partition_clusters(self, atoms: Atoms) -> list[Atoms]:
        """The QM clusters of the partitions of ``atoms`` (core plus 0, 1, 2, ... shell groups
        in sorted order, carved with link atoms), e.g. to fit the reference shifts of
        :func:`coupling.fit_reference_energies` on the clusters a run will meet."""
        part = self._partitions(atoms)
        return [self._carve_partition(atoms, part, k).atoms for k in range(len(part["shell"]) + 1)]

    def _check_mismatch(
        self, delta_e: np.ndarray, skipped: np.ndarray, mol: np.ndarray, added: np.ndarray
    ) -> None:
        """Raise when a crossing molecule's QM-ML difference shows mismatched energy zeros."""
        if self.max_crossing_mismatch is None:
            return
        for k in range(len(added)):  # partition k + 1 adds molecule added[k]
            if skipped[k] or skipped[k + 1]:
                continue
            n = int(np.sum(mol == added[k]))
            per_atom = abs(delta_e[k + 1] - delta_e[k]) / n
            if per_atom > self.max_crossing_mismatch:
                raise CalculationFailed(
                    f"adaptive QM/ML: the QM and ML energies of shell molecule {added[k]} "
                    f"({n} atoms) differ by {per_atom:.3g} eV/atom more than those of the rest "
                    f"(|ΔE_{k + 1} − ΔE_{k}|), above max_crossing_mismatch="
                    f"{self.max_crossing_mismatch:g}: the two calculators do not share an "
                    "energy zero (e.g. a QM total energy against a model's per-element "
                    "references), and that difference would push the molecule across the "
                    "shell. Wrap qm_calc in coupling.ReferenceShiftedCalculator with shifts "
                    "from coupling.fit_reference_energies"
                )

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """Compute energy and forces of ``atoms`` and fill :attr:`results`."""
        super().calculate(atoms, properties or ["energy"], system_changes)
        atoms = self.atoms
        n_atoms = len(atoms)
        t_start = time.perf_counter()
        part = self._partitions(atoms)
        gw, shell, shell_sorted = part["gw"], part["shell"], part["shell_sorted"]
        sigma, dsigma = part["sigma"], part["dsigma"]
        mol, core, groups, w = gw["molecule_ids"], gw["core"], gw["groups"], gw["weight"]
        n_part = len(shell) + 1
        if n_part > self.max_partitions:
            raise CalculationFailed(
                f"adaptive QM/ML: {len(shell)} groups in the switching shell need {n_part} "
                f"partitions, more than max_partitions={self.max_partitions}; narrow r_switch "
                "or raise max_partitions (each partition is one QM calculation)"
            )
        t_weights = time.perf_counter() - t_start

        # ---- this rank's share: partitions k with k % size == rank, full ML as task n_part
        t0 = time.perf_counter()
        delta_e = np.zeros(n_part)
        e_qm = np.zeros(n_part)
        e_ml = np.zeros(n_part)
        sizes = np.zeros(n_part)
        skipped = np.zeros(n_part)
        f_mix = np.zeros((n_atoms, 3))
        e_ml_all = 0.0
        f_ml_all = np.zeros((n_atoms, 3))
        error = ""
        try:
            for k in range(n_part):
                if k % self.size != self.rank:
                    continue
                if sigma[k] == 0.0 and not np.any(dsigma[k]):
                    skipped[k] = 1.0
                    continue
                try:
                    cluster = self._carve_partition(atoms, part, k)
                except ValueError as err:
                    raise CalculationFailed(f"adaptive QM/ML: partition {k}: {err}") from err
                eq, fq = _energy_forces(self.qm_slot(k), cluster.atoms, "qm_calc", "cluster")
                em, fm = _energy_forces(self.ml_calc, cluster.atoms, "ml_calc", "cluster")
                e_qm[k], e_ml[k] = eq, em
                delta_e[k] = eq - em
                sizes[k] = len(cluster.atoms)
                f_mix += sigma[k] * cluster.scatter_forces(fq - fm, n_atoms)
            if n_part % self.size == self.rank:
                e_ml_all, f_ml_all = _energy_forces(self.ml_calc, atoms, "ml_calc", "full system")
        except Exception as err:  # reported on every rank below
            if self.comm is None:
                raise
            error = f"rank {self.rank}: {type(err).__name__}: {err}"
        t_local = time.perf_counter() - t0

        t0 = time.perf_counter()
        if self.comm is not None:
            errors = [e for e in self.comm.allgather(error) if e]
            if errors:
                raise CalculationFailed("adaptive QM/ML failed on " + "; ".join(errors))
            packed = np.concatenate(
                ([e_ml_all], delta_e, e_qm, e_ml, sizes, skipped, (f_mix + f_ml_all).ravel())
            )
            packed = self.comm.allreduce(packed)
            e_ml_all = float(packed[0])
            delta_e, e_qm, e_ml, sizes, skipped = packed[1 : 1 + 5 * n_part].reshape(5, n_part)
            f_total = packed[1 + 5 * n_part :].reshape(n_atoms, 3)
        else:
            f_total = f_mix + f_ml_all
        t_reduce = time.perf_counter() - t0

        self._check_mismatch(delta_e, skipped.astype(bool), mol, groups[shell_sorted])
        # ---- E and the -E_k ∇σ_k terms (every rank, same numbers)
        energy = e_ml_all + float(sigma @ delta_e)
        if len(shell):
            coeff = delta_e @ dsigma  # dE/dw_g for the shell groups (eV)
            dw = gw["dweight"][shell] * coeff  # dE/dd_g (eV/Å)
            grad = dw[:, None] * gw["unit"][shell]  # dE/dr of the representative atoms
            np.add.at(f_total, gw["representative"][shell], -grad)
            f_total[core] += np.outer(gw["core_mass_fraction"], grad.sum(axis=0))

        group_of_atom = np.searchsorted(groups, mol)
        skipped = skipped.astype(bool)
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": f_total,
            "n_partitions": n_part,
            "sigma": sigma,
            "partition_energies": np.where(skipped, np.nan, e_ml_all + delta_e),
            "qm_energies": np.where(skipped, np.nan, e_qm),
            "ml_cluster_energies": np.where(skipped, np.nan, e_ml),
            "ml_energy": e_ml_all,
            "cluster_sizes": sizes.astype(int),
            "shell_groups": groups[shell_sorted],
            "shell_weights": w[shell_sorted],
            "group_weights": w[group_of_atom],
            "partition_ranks": np.arange(n_part) % self.size,
            "timings": {
                "weights": t_weights,
                "partitions": t_local,
                "reduce": t_reduce,
                "total": time.perf_counter() - t_start,
            },
        }
