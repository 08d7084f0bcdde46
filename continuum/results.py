"""Results and errors of :class:`~continuum.NernstPlanckProblem` solves (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SANE_MAX_CONCENTRATION", "ConvergenceError", "SolveResult", "TransientResult"]

#: Concentration (mol/m³) above which a result is flagged as unphysical: 100 mol/L, about
#: twice the molarity of pure water; no electrolyte gets there.
SANE_MAX_CONCENTRATION = 1e5


class ConvergenceError(RuntimeError):
    """The nonlinear solver did not converge.

    Attributes
    ----------
    reason : str
        PETSc SNES converged reason (e.g. ``"DIVERGED_LINE_SEARCH"``).
    iterations : int
        Newton iterations of the last attempt.
    """

    def __init__(self, message: str, reason: str = "", iterations: int = 0):
        super().__init__(message)
        self.reason = reason
        self.iterations = iterations


@dataclass
class SolveResult:
    """Outcome of :meth:`NernstPlanckProblem.solve` (steady state).

    Attributes
    ----------
    converged : bool
        Always True when returned (failures raise :class:`ConvergenceError`).
    iterations : int
        Newton iterations, all continuation steps included.
    reason : str
        SNES converged reason of the final solve.
    continuation : list of (float, int)
        (load factor, Newton iterations) of every continuation step; empty when the
        direct solve converged.
    wall_time : float
        Seconds.
    strategy : str
        What converged: ``"newton"`` (the default SNES settings), a fallback of
        :data:`FALLBACKS` (e.g. ``"l2 line search"``) or ``"continuation"``.
    warnings : list of str
        Why the converged state looks unphysical (empty when it does not): concentrations
        above :data:`SANE_MAX_CONCENTRATION`, electrode currents orders of magnitude beyond
        the diffusion limit. Check :attr:`sane` before trusting the numbers.
    """

    converged: bool
    iterations: int
    reason: str
    continuation: list[tuple[float, int]] = field(default_factory=list)
    wall_time: float = 0.0
    strategy: str = "newton"
    warnings: list[str] = field(default_factory=list)

    @property
    def sane(self) -> bool:
        """True when no physical-plausibility check failed (``warnings`` is empty)."""
        return not self.warnings


@dataclass
class TransientResult:
    """Outcome of :meth:`NernstPlanckProblem.run` (time integration).

    Attributes
    ----------
    converged : bool
        True when ``t_end`` was reached.
    times : ndarray
        Accepted times (s), starting at the initial time.
    steps : ndarray
        Accepted time steps (s).
    iterations : ndarray
        Newton iterations per accepted step.
    rejected : int
        Steps rejected (error estimate above tolerance or SNES failure) and retried.
    fluxes : dict
        ``{(species, boundary): ndarray}`` outward flux at each accepted time for the
        boundaries in ``record`` (SI, see :meth:`NernstPlanckProblem.flux`).
    currents : dict
        ``{boundary: ndarray}`` ionic current out of the solution (SI).
    wall_time : float
        Seconds.
    warnings : list of str
        Plausibility checks of the final state that failed (see :class:`SolveResult`).
    """

    converged: bool
    times: np.ndarray
    steps: np.ndarray
    iterations: np.ndarray
    rejected: int
    fluxes: dict[tuple[str, str], np.ndarray]
    currents: dict[str, np.ndarray]
    wall_time: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def sane(self) -> bool:
        """True when no physical-plausibility check failed (``warnings`` is empty)."""
        return not self.warnings
