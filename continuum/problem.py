"""``NernstPlanckProblem``: (Poisson–)Nernst–Planck on DOLFINx with PETSc SNES.

Physics (SI; docs/continuum.md has the derivation and references). Species i with charge
z_i, diffusion coefficient D_i(x) and excess chemical potential F_i(x) move with the flux

    J_i = −D_i c_i ∇(ln c_i + z_i F φ / RT + F_i / RT),      ∂c_i/∂t + ∇·J_i = s_i,

and the potential φ is either prescribed (e.g. from MD) or solved from Poisson's equation

    −∇·(ε0 ε_r ∇φ) = F Σ z_i c_i + ρ_fixed.

Numerics. The unknowns are u_i = ln(c_i / c_i^ref) (positivity-preserving log
concentrations) and φ̂ = φ / V_T (V_T = RT/F). Lengths are scaled by L (default: the Debye
length λ_D), time by L²/D_ref, so the dimensionless Poisson equation reads
−(λ_D/L)² ∇̂·(ε̂ ∇̂φ̂) = Σ z_i c_i / c_0 with c_0 = Σ z_i² c_i^ref. The mesh itself stays in
metres; inside the forms ∇̂ = L∇ and dx̂ = dx / L^d. The nonlinear system is solved with
PETSc SNES (Newton with a backtracking line search, MUMPS LU by default). The default
initial guess of a steady solve satisfies the Dirichlet conditions (the Slotboom variable
c e^{F/RT} harmonically interpolated between them); when Newton fails, an l2 line search,
damped Newton (NLEQ-ERR) and continuation in the applied potentials are tried (and
logged) before a :class:`ConvergenceError` with the SNES reason is raised. Results carry
``warnings`` and ``sane`` that flag unphysical states (concentrations beyond ~1e5 mol/m³,
currents far beyond diffusion limits). Every number that goes into the UFL forms is a
``fem.Constant`` or a ``fem.Function``, so problems of the same structure share one
compiled form (JIT cache).
"""

from __future__ import annotations

import csv
import itertools
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dolfinx_solver  # noqa: F401  (must precede dolfinx: provides PETSc/MPI)
import numpy as np
import ufl
from dolfinx import fem, la
from dolfinx.fem.petsc import NonlinearProblem
from mpi4py import MPI
from petsc4py import PETSc

from .constants import EPSILON_0, FARADAY, GAS_CONSTANT, thermal_voltage
from .geometry import Domain
from .species import ButlerVolmer, Species

__all__ = [
    "ConvergenceError",
    "NernstPlanckProblem",
    "SolveResult",
    "TransientResult",
]

log = logging.getLogger("continuum")

_COUNTER = itertools.count()

#: Concentration (mol/m³) above which a result is flagged as unphysical: 100 mol/L, about
#: twice the molarity of pure water; no electrolyte gets there.
SANE_MAX_CONCENTRATION = 1e5

#: Temperatures (K) accepted without ``allow_any_temperature=True``.
TEMPERATURE_RANGE = (200.0, 500.0)

#: What :meth:`NernstPlanckProblem.solve` tries after plain Newton (backtracking) fails,
#: before continuation in the applied potentials: (name, SNES options).
FALLBACKS: tuple[tuple[str, dict[str, object]], ...] = (
    ("l2 line search", {"snes_linesearch_type": "l2"}),
    # Deuflhard's affine-invariant damped Newton: rescues the cases where l2 stalls
    ("damped Newton (NLEQ-ERR)", {"snes_linesearch_type": "nleqerr"}),
)

#: SNES defaults: Newton with backtracking line search, direct LU (MUMPS).
DEFAULT_PETSC_OPTIONS: dict[str, object] = {
    "snes_type": "newtonls",
    "snes_linesearch_type": "bt",
    "snes_rtol": 1e-10,
    "snes_atol": 1e-10,
    # a line search that fails because the residual sits at its round-off floor ends as
    # CONVERGED_SNORM_RELATIVE when the full Newton update is below stol·‖x‖ (PETSc newtonls)
    "snes_stol": 1e-7,
    "snes_max_it": 50,
    "ksp_type": "preonly",
    "pc_type": "lu",
    "pc_factor_mat_solver_type": "mumps",
}

_REASONS = {
    getattr(PETSc.SNES.ConvergedReason, k): k
    for k in dir(PETSc.SNES.ConvergedReason)
    if not k.startswith("_") and isinstance(getattr(PETSc.SNES.ConvergedReason, k), int)
}


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


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)


def _check_finite_number(name: str, value, unit: str) -> float:
    """``value`` as a float; TypeError/ValueError naming ``name`` unless a finite number."""
    if not _is_number(value):
        raise TypeError(f"{name} must be a number ({unit}), got {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number ({unit}), got {value}")
    return float(value)


def _max_over(comm, value: float) -> float:
    return float(comm.allreduce(value, op=MPI.MAX))


class NernstPlanckProblem:
    """Steady and transient (Poisson–)Nernst–Planck problem on a :class:`Domain`.

    Parameters
    ----------
    domain : Domain
        Mesh (m) with named boundaries.
    species : sequence of Species
        The mobile species (names, charges, D in m²/s, bulk concentrations in mol/m³).
    temperature : float
        Temperature (K), within 200–500 K unless ``allow_any_temperature`` is set.
    potential : "poisson", callable, float or None
        ``"poisson"``: solve for φ (V) with Poisson's equation. A callable of ``x``
        (shape (3, n), m) or a number: the prescribed potential φ(x) (V), e.g. from MD.
        None: no electric field (φ = 0).
    permittivity : float or callable
        Relative permittivity ε_r (dimensionless), constant or a function of ``x``.
    degree : int
        Lagrange degree of the unknowns (1, 2 or 3).
    length_scale : float, optional
        L (m) for the nondimensionalisation. Default: the Debye length of the reference
        concentrations when Poisson is solved, otherwise the largest side of the domain.
    fixed_charge : float, callable or UFL expression, optional
        Immobile charge density ρ_fixed (C/m³) in Poisson's equation; a UFL expression is
        written in the SI coordinates ``ufl.SpatialCoordinate(domain.mesh)``.
    petsc_options : dict, optional
        SNES/KSP options that override :data:`DEFAULT_PETSC_OPTIONS` (no prefix).
    allow_any_temperature : bool
        Accept a temperature outside :data:`TEMPERATURE_RANGE` (200–500 K), which is
        otherwise refused as a likely unit mistake (°C given for K).

    Raises
    ------
    TypeError, ValueError
        Wrong types, non-finite numbers or out-of-range values, naming the argument.

    Notes
    -----
    Boundaries without a condition are impermeable (zero flux) and uncharged (zero normal
    displacement). After :meth:`solve` or :meth:`run` the attributes ``converged``,
    ``iterations`` and ``reason`` describe the last nonlinear solve.
    """

    def __init__(
        self,
        domain: Domain,
        species: Sequence[Species],
        *,
        temperature: float = 298.15,
        potential: str | float | Callable[[np.ndarray], np.ndarray] | None = "poisson",
        permittivity: float | Callable[[np.ndarray], np.ndarray] = 78.46,
        degree: int = 1,
        length_scale: float | None = None,
        fixed_charge: float | Callable[[np.ndarray], np.ndarray] | None = None,
        petsc_options: dict | None = None,
        allow_any_temperature: bool = False,
    ) -> None:
        if not isinstance(domain, Domain):
            raise TypeError(f"domain must be a continuum.Domain, got {type(domain).__name__}")
        species = list(species)
        if not species or not all(isinstance(s, Species) for s in species):
            raise TypeError("species must be a non-empty sequence of continuum.Species")
        names = [s.name for s in species]
        if len(set(names)) != len(names):
            raise ValueError(f"species names must be unique, got {names}")
        if degree not in (1, 2, 3):
            raise ValueError(f"degree must be 1, 2 or 3, got {degree}")
        if isinstance(potential, str) and potential != "poisson":
            raise ValueError(
                "potential must be 'poisson', a number or function of x (V), or None; "
                f"got {potential!r}"
            )
        if not (_is_number(permittivity) or callable(permittivity)):
            raise TypeError("permittivity must be a number or a function of x (relative)")
        if _is_number(permittivity) and not (np.isfinite(permittivity) and permittivity > 0):
            raise ValueError(f"permittivity must be > 0 and finite (relative), got {permittivity}")
        temperature = _check_finite_number("temperature", temperature, "K")
        t_lo, t_hi = TEMPERATURE_RANGE
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0 K, got {temperature}")
        if not (t_lo <= temperature <= t_hi) and not allow_any_temperature:
            raise ValueError(
                f"temperature = {temperature:g} K is outside {t_lo:g}-{t_hi:g} K: it is in "
                f"kelvin (25 °C = 298.15 K); pass allow_any_temperature=True if you mean it"
            )
        if _is_number(potential):
            _check_finite_number("potential", potential, "V")
        self.domain = domain
        self.comm = domain.comm
        self.species = species
        self.names = names
        self.temperature = float(temperature)
        self.thermal_voltage = thermal_voltage(self.temperature)
        self.degree = int(degree)
        self.solves_poisson = potential == "poisson"
        charges = np.array([s.charge for s in species], dtype=float)
        cref = np.array([s.concentration for s in species])
        if self.solves_poisson and not np.any(charges != 0):
            raise ValueError("potential='poisson' needs at least one charged species")
        self.charges = charges
        self.reference_concentrations = cref
        s_ion = float(np.sum(charges**2 * cref))
        self._c0 = s_ion if s_ion > 0 else float(cref.max())

        msh = domain.mesh
        tdim = domain.dim
        # unknowns: ln(c_i/c_ref) for each species, then φ/V_T when Poisson is solved
        self.n_fields = len(species) + (1 if self.solves_poisson else 0)
        if self.n_fields == 1:  # a single species without Poisson: a scalar space
            self._V = fem.functionspace(msh, ("Lagrange", self.degree))
            self._Q = self._V
            imap = self._V.dofmap.index_map
            self._maps = [np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)]
        else:
            self._V = fem.functionspace(msh, ("Lagrange", self.degree, (self.n_fields,)))
            collapsed = [self._V.sub(i).collapse() for i in range(self.n_fields)]
            self._Q = collapsed[0][0]  # scalar Lagrange space numbered like V's blocks
            self._maps = [np.asarray(m).reshape(-1) for _, m in collapsed]
            if any(not np.array_equal(m, self._maps[0] + i) for i, m in enumerate(self._maps)):
                raise RuntimeError("unexpected DOLFINx block layout of the unknowns")
        self._DG = fem.functionspace(msh, ("DG", self.degree))

        # permittivity (reference value = its maximum) and the Debye length
        if _is_number(permittivity):
            self._eps_ref = float(permittivity)
            self._eps_fn = None
        else:
            eps = self._dg_function(permittivity, "permittivity")
            self._check_positive(eps, "permittivity")
            self._eps_ref = _max_over(self.comm, float(np.max(eps.x.array, initial=0.0)))
            eps.x.array[:] /= self._eps_ref
            self._eps_fn = eps
        self.debye_length = (
            float(
                np.sqrt(
                    EPSILON_0
                    * self._eps_ref
                    * GAS_CONSTANT
                    * self.temperature
                    / (FARADAY**2 * s_ion)
                )
            )
            if s_ion > 0
            else None
        )
        lo, hi = domain.bounding_box()
        extent = float(np.max(hi - lo))
        if length_scale is None:
            length_scale = self.debye_length if self.solves_poisson else extent
        if not (_is_number(length_scale) and np.isfinite(length_scale) and length_scale > 0):
            raise ValueError(f"length_scale must be a finite number > 0 (m), got {length_scale}")
        self.length_scale = float(length_scale)

        # diffusion coefficients: DG functions (steps at mesh nodes are kept) or numbers
        self._D_fn: list[fem.Function | None] = []
        dmax = []
        for s in species:
            if callable(s.diffusion):
                f = self._dg_function(s.diffusion, f"diffusion of {s.name}")
                self._check_positive(f, f"diffusion of {s.name}")
                self._D_fn.append(f)
                dmax.append(_max_over(self.comm, float(np.max(f.x.array, initial=0.0))))
            else:
                self._D_fn.append(None)
                dmax.append(s.diffusion)
        self.diffusion_scale = float(max(dmax))
        for f in self._D_fn:
            if f is not None:
                f.x.array[:] /= self.diffusion_scale
        self.time_scale = self.length_scale**2 / self.diffusion_scale

        # excess chemical potential F_i/RT and prescribed potential φ/V_T (Lagrange)
        rt = GAS_CONSTANT * self.temperature
        self._mu_fn: list[fem.Function | None] = []
        for s in species:
            if s.free_energy is None:
                self._mu_fn.append(None)
            else:
                f = self._q_function(s.free_energy, f"free_energy of {s.name}")
                f.x.array[:] /= rt
                self._mu_fn.append(f)
        self._phi_fn = None
        if potential is not None and not self.solves_poisson:
            if not (_is_number(potential) or callable(potential)):
                raise TypeError("a prescribed potential must be a number or a function of x (V)")
            self._phi_fn = self._q_function(potential, "potential")
            self._phi_fn.x.array[:] /= self.thermal_voltage
        self._rho_fn = None
        if fixed_charge is not None:
            if not self.solves_poisson:
                raise ValueError("fixed_charge enters Poisson's equation: use potential='poisson'")
            if isinstance(fixed_charge, ufl.core.expr.Expr):
                self._rho_fn = self._const(1.0 / (FARADAY * self._c0)) * fixed_charge
            else:
                self._rho_fn = self._q_function(fixed_charge, "fixed_charge")
                self._rho_fn.x.array[:] /= FARADAY * self._c0

        self.w = fem.Function(self._V, name="state")
        self._w_old = fem.Function(self._V, name="previous")
        self._sources: list[list] = [[] for _ in species]
        self._conc_bc: dict[tuple[int, str], object] = {}
        self._flux_bc: dict[tuple[int, str], object] = {}
        self._pot_bc: dict[str, object] = {}
        self._charge_bc: dict[str, object] = {}
        self._electrodes: dict[str, tuple[ButlerVolmer, float]] = {}
        self._petsc_options = dict(DEFAULT_PETSC_OPTIONS)
        if petsc_options:
            self._petsc_options.update(petsc_options)
        self._built = False
        self._fresh = True  # no solve/run yet: solve() may replace the default guess
        self._user_initial: set[int] = set()  # species given set_initial
        self._load = 1.0
        self.time = 0.0
        self.converged = False
        self.iterations = 0
        self.reason = ""
        self._indicator_cache: dict[str, np.ndarray] = {}
        self._scalar_forms: dict[tuple, fem.Form] = {}
        self._vtx = None
        self._out: list[fem.Function] | None = None
        self._tdim = tdim

    @classmethod
    def from_profile(
        cls,
        domain: Domain,
        profile,
        *,
        distance: Callable[[np.ndarray], np.ndarray] | None = None,
        z_origin: float | None = None,
        potential: str | None = "poisson",
        free_energy: bool = True,
        permittivity: float | str | None = None,
        species: Sequence[str] | None = None,
        **kwargs,
    ) -> NernstPlanckProblem:
        """A problem whose coefficients come from an MD :class:`TransportProfile`.

        D_i(z), and optionally F_i(z), φ(z) and ε_r(z), are taken from the profile as
        functions of ``distance`` (see :func:`continuum.profile_coefficient`); the bulk
        (reference) concentrations are the profile's values at its far end, and so is the
        temperature.

        Parameters
        ----------
        domain : Domain
            The mesh (m).
        profile : TransportProfile
            The MD profile (SI).
        distance : callable, optional
            Distance (m) from the electrode surface as a function of ``x``; default x[0].
        z_origin : float, optional
            Profile z (m) at distance 0; default ``profile.z[0]``.
        potential : {"poisson", "profile", None}
            Solve φ, prescribe the MD potential φ(z), or no field.
        free_energy : bool
            Add the profile's potential of mean force. The PMF F_i(z) of MD is the total
            one (it contains the electrostatics), so it is used as is when ``potential`` is
            None, and as the excess part F_i − z_i F φ_MD(z) when a potential is prescribed
            or solved (the profile must then carry φ).
        permittivity : float or "profile", optional
            ε_r: a number, or the profile's ε_r(z). Default: the profile's if present,
            else 78.46.
        species : sequence of str, optional
            Subset of the profile's species (default: all).
        **kwargs
            Passed to the constructor (``degree``, ``length_scale``, ``petsc_options``, ...).
        """
        from .coefficients import profile_coefficient
        from .profile import TransportProfile

        if not isinstance(profile, TransportProfile):
            raise TypeError(f"profile must be a TransportProfile, got {type(profile).__name__}")
        if potential not in ("poisson", "profile", None):
            raise ValueError(f"potential must be 'poisson', 'profile' or None, got {potential!r}")
        names = list(profile.species) if species is None else list(species)
        opts = {"distance": distance, "z_origin": z_origin}
        use_phi = potential is not None
        if (
            free_energy
            and profile.free_energy is not None
            and use_phi
            and profile.potential is None
        ):
            raise ValueError(
                "the profile's free energy is a total PMF; to combine it with a potential the "
                "profile needs potential (phi) data to subtract, or pass free_energy=False"
            )
        sp = []
        for name in names:
            k = profile.index(name)
            z = int(profile.charges[k])
            cb = float(profile.concentration[k, -1])
            if not cb > 0:
                raise ValueError(
                    f"{name} has zero concentration at the far end of the profile: it needs "
                    "a positive bulk concentration (mol/m^3)"
                )
            fe = None
            if free_energy and profile.free_energy is not None:
                pmf = profile_coefficient(profile, "free_energy", name, **opts)
                if use_phi and z != 0:
                    phi_md = profile_coefficient(profile, "potential", **opts)

                    def fe(x, pmf=pmf, phi_md=phi_md, z=z):
                        return pmf(x) - z * FARADAY * phi_md(x)
                else:
                    fe = pmf
            sp.append(
                Species(name, z, profile_coefficient(profile, "diffusion", name, **opts), cb, fe)
            )
        if permittivity is None:
            permittivity = "profile" if profile.permittivity is not None else 78.46
        if permittivity == "profile":
            permittivity = profile_coefficient(profile, "permittivity", **opts)
        pot: object = "poisson" if potential == "poisson" else None
        if potential == "profile":
            if profile.potential is None:
                raise ValueError("potential='profile' needs a profile with potential data")
            pot = profile_coefficient(profile, "potential", **opts)
        kwargs.setdefault("temperature", profile.temperature)
        return cls(domain, sp, potential=pot, permittivity=permittivity, **kwargs)

    # ------------------------------------------------------------------ helpers
    def _species_index(self, name: str) -> int:
        if not isinstance(name, str):
            raise TypeError(f"species must be given by name (str), got {type(name).__name__}")
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown species {name!r}; this problem has {self.names}") from None

    def _dg_function(self, value, what: str) -> fem.Function:
        """Interpolate ``value`` into DG_k, evaluating just inside each cell.

        Discontinuous coefficients (a step of D or ε_r at a mesh node) are then kept on both
        sides. DOLFINx interpolation would evaluate at the shared node for both cells, so the
        points are moved towards the cell centroid by 1e-9 of the cell size (done by hand).
        """
        f = fem.Function(self._DG, name=what)
        if _is_number(value):
            f.x.array[:] = float(value)
            return f
        if not callable(value):
            raise TypeError(f"{what} must be a number or a function of x")
        dofmap = self._DG.dofmap.list
        xd = self._DG.tabulate_dof_coordinates()
        centroid = xd[dofmap].mean(axis=1, keepdims=True)
        pts = (xd[dofmap] + 1e-9 * (centroid - xd[dofmap])).reshape(-1, 3)
        vals = np.asarray(value(pts.T), dtype=float).reshape(-1)
        if vals.size != pts.shape[0]:
            raise ValueError(f"{what}: the function of x must return one value per point")
        f.x.array[dofmap.reshape(-1)] = vals
        f.x.scatter_forward()
        self._check_finite(f, what)
        return f

    def _q_function(self, value, what: str) -> fem.Function:
        f = fem.Function(self._Q, name=what)
        if _is_number(value):
            f.x.array[:] = float(value)
        elif callable(value):
            f.interpolate(lambda x: np.asarray(value(x), dtype=float).reshape(-1))
        else:
            raise TypeError(
                f"{what} must be a number or a function of x, got {type(value).__name__}"
            )
        self._check_finite(f, what)
        return f

    def _check_finite(self, f: fem.Function, what: str) -> None:
        bad = int(not np.all(np.isfinite(f.x.array)))
        if self.comm.allreduce(bad, op=MPI.MAX):
            raise ValueError(f"{what} has NaN or infinite values")

    def _check_positive(self, f: fem.Function, what: str) -> None:
        bad = int(np.any(f.x.array <= 0))
        if self.comm.allreduce(bad, op=MPI.MAX):
            raise ValueError(f"{what} must be > 0 everywhere")

    def _require_unbuilt(self) -> None:
        if self._built:
            raise ValueError(
                "boundary conditions and sources must be set before the first solve(); "
                "create a new NernstPlanckProblem to change them (values of existing "
                "conditions can be changed with update_potential / update_electrode)"
            )

    def _check_boundary(self, boundary: str) -> str:
        self.domain.tag(boundary)  # ValueError listing the names
        return boundary

    # ------------------------------------------------------------------ set-up API
    def set_concentration(self, species: str, boundary: str, value: float | Callable) -> None:
        """Dirichlet condition c = ``value`` (mol/m³, > 0; number or function of x)."""
        self._require_unbuilt()
        i = self._species_index(species)
        self._check_boundary(boundary)
        if (i, boundary) in self._flux_bc:
            raise ValueError(f"{species} already has a flux condition on {boundary!r}")
        if not (_is_number(value) or callable(value)):
            raise TypeError(
                f"concentration of {species} on {boundary!r} must be a number or a function "
                f"of x (mol/m^3), got {type(value).__name__}"
            )
        if _is_number(value):
            _check_finite_number(f"concentration of {species} on {boundary!r}", value, "mol/m^3")
        if _is_number(value) and not value > 0:
            raise ValueError(
                f"concentration of {species} on {boundary!r} must be > 0 mol/m^3 (log "
                f"unknowns); use a small positive value such as 1e-6 instead of {value}"
            )
        self._conc_bc[(i, boundary)] = value

    def set_flux(self, species: str, boundary: str, value: float | Callable) -> None:
        """Prescribed outward normal flux J·n = ``value`` (mol m⁻² s⁻¹; negative = inflow)."""
        self._require_unbuilt()
        i = self._species_index(species)
        self._check_boundary(boundary)
        if (i, boundary) in self._conc_bc:
            raise ValueError(f"{species} already has a concentration condition on {boundary!r}")
        if not (_is_number(value) or callable(value)):
            raise TypeError("flux must be a number or a function of x (mol m^-2 s^-1)")
        if _is_number(value):
            _check_finite_number(f"flux of {species} on {boundary!r}", value, "mol m^-2 s^-1")
        self._flux_bc[(i, boundary)] = value

    def set_potential(self, boundary: str, value: float | Callable) -> None:
        """Dirichlet condition φ = ``value`` (V) on ``boundary`` (Poisson only)."""
        self._require_unbuilt()
        if not self.solves_poisson:
            raise ValueError("the potential is prescribed: set_potential needs potential='poisson'")
        self._check_boundary(boundary)
        if boundary in self._charge_bc or boundary in self._electrodes:
            raise ValueError(f"{boundary!r} already has a charge or electrode condition")
        if not (_is_number(value) or callable(value)):
            raise TypeError("potential must be a number or a function of x (V)")
        if _is_number(value):
            _check_finite_number(f"potential on {boundary!r}", value, "V")
        self._pot_bc[boundary] = value

    def set_surface_charge(self, boundary: str, value: float | Callable) -> None:
        """Surface charge density σ (C/m²) of a wall: ε0 ε_r ∂φ/∂n = σ (Poisson only)."""
        self._require_unbuilt()
        if not self.solves_poisson:
            raise ValueError("surface charge enters Poisson's equation: use potential='poisson'")
        self._check_boundary(boundary)
        if boundary in self._pot_bc or boundary in self._electrodes:
            raise ValueError(f"{boundary!r} already has a potential or electrode condition")
        if not (_is_number(value) or callable(value)):
            raise TypeError("surface charge must be a number or a function of x (C/m^2)")
        if _is_number(value):
            _check_finite_number(f"surface charge on {boundary!r}", value, "C/m^2")
        self._charge_bc[boundary] = value

    def add_electrode(self, boundary: str, kinetics: ButlerVolmer, potential: float) -> None:
        """Butler–Volmer electrode on ``boundary`` held at metal ``potential`` E (V).

        The product species (``kinetics.species``) enters the solution with the flux
        i/(nF); the other species see a blocking wall. With Poisson, the metal charge is
        C_S (E − φ_s) (Stern layer, ``kinetics.stern_capacitance`` required).
        """
        self._require_unbuilt()
        if not isinstance(kinetics, ButlerVolmer):
            raise TypeError("kinetics must be a continuum.ButlerVolmer")
        self._check_boundary(boundary)
        i = self._species_index(kinetics.species)
        if (i, boundary) in self._conc_bc or (i, boundary) in self._flux_bc:
            raise ValueError(f"{kinetics.species} already has a condition on {boundary!r}")
        if boundary in self._pot_bc or boundary in self._charge_bc:
            raise ValueError(f"{boundary!r} already has a potential or charge condition")
        if self.solves_poisson and kinetics.stern_capacitance is None:
            raise ValueError(
                "with potential='poisson' the electrode needs a Stern layer: give "
                "ButlerVolmer(stern_capacitance=...) in F/m^2 (e.g. 0.1-0.3)"
            )
        potential = _check_finite_number(f"electrode potential on {boundary!r}", potential, "V")
        self._electrodes[boundary] = (kinetics, potential)

    def add_source(self, species: str, value: float | Callable | ufl.core.expr.Expr) -> None:
        """Volume source s_i (mol m⁻³ s⁻¹): a number, a function of x, or a UFL expression
        in the SI coordinates :attr:`x`."""
        self._require_unbuilt()
        i = self._species_index(species)
        self._sources[i].append(value)

    def set_initial(self, species: str, value: float | Callable) -> None:
        """Initial (or initial-guess) concentration (mol/m³, > 0; number or function of x)."""
        i = self._species_index(species)
        f = self._q_function(value, f"initial concentration of {species}")
        self._check_positive(f, f"initial concentration of {species}")
        self.w.x.array[self._maps[i]] = np.log(f.x.array / self.reference_concentrations[i])
        self.w.x.scatter_forward()
        self._user_initial.add(i)

    def set_initial_potential(self, value: float | Callable) -> None:
        """Initial guess of the potential (V) when Poisson is solved."""
        if not self.solves_poisson:
            raise ValueError("the potential is prescribed; nothing to initialise")
        f = self._q_function(value, "initial potential")
        self.w.x.array[self._maps[-1]] = f.x.array / self.thermal_voltage
        self.w.x.scatter_forward()

    @property
    def x(self) -> ufl.SpatialCoordinate:
        """SI coordinates (m) as a UFL expression, for sources in manufactured solutions."""
        return ufl.SpatialCoordinate(self.domain.mesh)

    # ------------------------------------------------------------------ forms
    def _phi_hat(self):
        if self.solves_poisson:
            return self._components(self.w)[-1]
        if self._phi_fn is not None:
            return self._phi_fn
        return None

    def _source_expr(self, i: int, value):
        scale = self._const(
            self.length_scale**2 / (self.diffusion_scale * self.reference_concentrations[i])
        )
        if isinstance(value, ufl.core.expr.Expr):
            return scale * value
        return scale * self._q_function(value, f"source of {self.names[i]}")

    def _const(self, value) -> fem.Constant:
        return fem.Constant(self.domain.mesh, PETSc.ScalarType(value))

    def _build(self) -> None:
        if self._built:
            return
        msh = self.domain.mesh
        d = self._tdim
        L = self.length_scale
        n_sp = len(self.species)
        if self.solves_poisson and not (self._pot_bc or self._electrodes):
            raise ValueError(
                "the potential is fixed only up to a constant: give set_potential(...) on at "
                "least one boundary, or an electrode with a Stern layer"
            )
        k = self.degree
        dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": 2 * k + 1})
        ds = ufl.Measure(
            "ds",
            domain=msh,
            subdomain_data=self.domain.facet_tags,
            metadata={"quadrature_degree": 2 * k + 1},
        )
        Lc = self._const(L)
        vol = self._const(L ** (-d))  # dx̂ = dx / L^d
        surf = self._const(L ** (1 - d))  # dŝ = ds / L^(d-1)
        self._idt = self._const(0.0)  # 1/Δt̂ (0: steady state)

        def grad(f):
            return Lc * ufl.grad(f)

        w = self._components(self.w)
        w_old = self._components(self._w_old)
        v = self._components(ufl.TestFunction(self._V))
        zc = self._const(self.charges)
        cratio = self._const(self.reference_concentrations / self._c0)
        dconst = self._const(
            [
                0.0 if f is not None else s.diffusion / self.diffusion_scale
                for s, f in zip(self.species, self._D_fn, strict=True)
            ]
        )
        phi = self._phi_hat()
        forms = []
        self._flux_forms: dict[tuple[int, str], ufl.Form] = {}
        self._bc_funcs: list[tuple[fem.Function, np.ndarray]] = []  # (g, target) for load
        self._conc_g: list[tuple[int, str, fem.Function]] = []  # Dirichlet ln(c/c_ref)
        bcs = []
        for i, s in enumerate(self.species):
            u = w[i]
            c, c_old = ufl.exp(u), ufl.exp(w_old[i])
            D = self._D_fn[i] if self._D_fn[i] is not None else dconst[i]
            mu = u
            if phi is not None and s.charge != 0:
                mu = mu + zc[i] * phi
            if self._mu_fn[i] is not None:
                mu = mu + self._mu_fn[i]
            Fi = (
                (self._idt * (c - c_old) * v[i] + D * c * ufl.inner(grad(mu), grad(v[i])))
                * vol
                * dx
            )
            for src in self._sources[i]:
                Fi -= self._source_expr(i, src) * v[i] * vol * dx
            for (j, name), value in self._flux_bc.items():
                if j == i:
                    q = self._q_function(value, f"flux of {s.name} on {name}")
                    q.x.array[:] *= L / (self.diffusion_scale * self.reference_concentrations[i])
                    term = q * surf * ds(self.domain.tag(name))
                    self._flux_forms[(i, name)] = term
                    Fi += q * v[i] * surf * ds(self.domain.tag(name))
            forms.append(Fi)
            for (j, name), value in self._conc_bc.items():
                if j == i:
                    g = self._q_function(value, f"concentration of {s.name} on {name}")
                    self._check_positive(g, f"concentration of {s.name} on {name!r}")
                    g.x.array[:] = np.log(g.x.array / self.reference_concentrations[i])
                    bcs.append(self._dirichlet(i, g, name))
                    self._conc_g.append((i, name, g))
        # electrodes: Butler–Volmer flux of the product, Stern layer in Poisson
        self._electrode_data = {}
        extra = [0 * v[0] * vol * dx for _ in range(self.n_fields)]
        for name, (kin, E) in self._electrodes.items():
            p = self._species_index(kin.species)
            vt = self.thermal_voltage
            # [E/V_T, E_eq/V_T, α_a, α_c, c_ref,p/c*, ĵ0, Ĉ_S]
            j0 = (
                kin.exchange_current_density
                / (kin.electrons * FARADAY)
                * L
                / (self.diffusion_scale * self.reference_concentrations[p])
            )
            cs_hat = (
                0.0
                if kin.stern_capacitance is None
                else kin.stern_capacitance * vt / (FARADAY * self._c0 * L)
            )
            par = self._const(
                [
                    E / vt,
                    kin.equilibrium_potential / vt,
                    kin.alpha_anodic,
                    kin.alpha_cathodic,
                    self.reference_concentrations[p] / kin.reference_concentration,
                    j0,
                    cs_hat,
                ]
            )
            phis = phi if phi is not None else 0.0
            eta = par[0] - phis - par[1]
            jhat = par[5] * (
                ufl.exp(par[2] * eta) - par[4] * ufl.exp(w[p]) * ufl.exp(-par[3] * eta)
            )
            tag = self.domain.tag(name)
            extra[p] += -jhat * v[p] * surf * ds(tag)  # outward flux = −production
            self._flux_forms[(p, name)] = -jhat * surf * ds(tag)
            if self.solves_poisson:
                extra[-1] += -par[6] * (par[0] - phis) * v[-1] * surf * ds(tag)
                self._flux_forms[("charge", name)] = par[6] * (par[0] - phis) * surf * ds(tag)
            self._electrode_data[name] = (kin, E, par, jhat * surf * ds(tag), p)
        for i in range(n_sp):
            forms[i] = forms[i] + extra[i]
        if self.solves_poisson:
            lam2 = self._const((self.debye_length / L) ** 2)
            q = v[n_sp]
            eps = self._eps_fn if self._eps_fn is not None else 1.0
            rho = sum(zc[i] * cratio[i] * ufl.exp(w[i]) for i in range(n_sp))
            if self._rho_fn is not None:
                rho = rho + self._rho_fn
            P = (lam2 * eps * ufl.inner(grad(phi), grad(q)) - rho * q) * vol * dx + extra[-1]
            for name, value in self._charge_bc.items():
                sig = self._q_function(value, f"surface charge on {name}")
                sig.x.array[:] /= FARADAY * self._c0 * L
                P -= sig * q * surf * ds(self.domain.tag(name))
                self._flux_forms[("charge", name)] = sig * surf * ds(self.domain.tag(name))
            forms.append(P)
            for name, value in self._pot_bc.items():
                g = self._q_function(value, f"potential on {name}")
                g.x.array[:] /= self.thermal_voltage
                bcs.append(self._dirichlet(n_sp, g, name))
                self._bc_funcs.append((g, g.x.array.copy()))
        self._F_ufl = sum(forms[1:], forms[0])
        self._bcs = bcs
        prefix = f"nernstplanck{next(_COUNTER)}_"
        self._problem = NonlinearProblem(
            self._F_ufl,
            self.w,
            bcs=bcs,
            petsc_options_prefix=prefix,
            petsc_options=self._petsc_options,
        )
        # through a weak reference: a bound method kept inside the PETSc SNES would be a
        # reference cycle that Python's collector cannot see, so no problem (and none of its
        # PETSc objects and MPI communicators) would ever be freed; MPICH runs out of
        # communicators after ~150 problems in one process
        self_ref = weakref.ref(self)

        def convergence_test(snes, it, norms):
            owner = self_ref()
            if owner is None:
                return PETSc.SNES.ConvergedReason.DIVERGED_FUNCTION_DOMAIN
            return owner._convergence_test(snes, it, norms)

        self._problem.solver.setConvergenceTest(convergence_test)
        self._built = True
        self._set_load(self._load)

    def _components(self, f) -> list:
        """Components of a (vector-valued) unknown or test function, one per field."""
        if self.n_fields == 1:
            return [f]
        return [f[i] for i in range(self.n_fields)]

    def _dirichlet(self, i: int, g: fem.Function, boundary: str) -> fem.DirichletBC:
        facets = self.domain.facets(boundary)
        fdim = self._tdim - 1
        if self.n_fields == 1:
            return fem.dirichletbc(g, fem.locate_dofs_topological(self._V, fdim, facets))
        dofs = fem.locate_dofs_topological((self._V.sub(i), self._Q), fdim, facets)
        return fem.dirichletbc(g, dofs, self._V.sub(i))

    # ------------------------------------------------------------------ load
    def _has_load(self) -> bool:
        return bool(self._bc_funcs) or bool(self._electrodes)

    def _set_load(self, s: float) -> None:
        """Scale the applied potentials: Dirichlet φ = s φ_D, E = E_eq + s (E − E_eq)."""
        self._load = s
        for g, target in self._bc_funcs:
            g.x.array[:] = s * target
        for kin, E, par, _, _ in self._electrode_data.values():
            par.value[0] = (
                kin.equilibrium_potential + s * (E - kin.equilibrium_potential)
            ) / self.thermal_voltage

    def update_potential(self, boundary: str, value: float) -> None:
        """Change the Dirichlet potential (V, a number) of ``boundary`` between solves."""
        if boundary not in self._pot_bc:
            raise ValueError(f"{boundary!r} has no potential condition; set_potential first")
        value = _check_finite_number(f"potential on {boundary!r}", value, "V")
        self._pot_bc[boundary] = value
        if self._built:
            idx = list(self._pot_bc).index(boundary)
            g, _ = self._bc_funcs[idx]
            self._bc_funcs[idx] = (g, np.full_like(g.x.array, value / self.thermal_voltage))
            self._set_load(self._load)

    def update_electrode(self, boundary: str, potential: float) -> None:
        """Change the metal potential E (V) of the electrode on ``boundary`` between solves."""
        if boundary not in self._electrodes:
            raise ValueError(f"{boundary!r} has no electrode; add_electrode first")
        potential = _check_finite_number(f"electrode potential on {boundary!r}", potential, "V")
        kin, _ = self._electrodes[boundary]
        self._electrodes[boundary] = (kin, float(potential))
        if self._built:
            k, _, par, form, p = self._electrode_data[boundary]
            self._electrode_data[boundary] = (k, float(potential), par, form, p)
            self._set_load(self._load)

    # ------------------------------------------------------------------ solving
    def _convergence_test(self, snes, it: int, norms) -> int:
        """Newton convergence on the size of the update, in natural units.

        The update is in ln c and φ/V_T (relative concentration and kT/e), so its RMS is a
        scale-free measure of the remaining error. PETSc's relative-residual test alone is
        not: near a strongly charged wall the exponentials make the residual span many
        decades, and the first residual can be so large that ``rtol`` is met while the
        far field is still wrong. Converged when the residual is below ``snes_atol``, or the
        RMS update is below 1e-9, or the residual fell by ``snes_rtol`` *and* the RMS update
        is below 1e-7 (quadratic convergence then leaves ~1e-14), or the residual stalls at
        its round-off floor (strongly charged walls: terms of size e^|u| cancel) with an
        RMS update below 1e-6.
        """
        _, ynorm, fnorm = norms
        reason = PETSc.SNES.ConvergedReason
        rtol, atol, _, max_it = snes.getTolerances()
        if not np.isfinite(fnorm):
            return reason.DIVERGED_FNORM_NAN
        if it == 0:
            self._fnorm0, self._fnorm_prev, self._last_rms = fnorm, fnorm, np.inf
        if fnorm <= atol:
            return reason.CONVERGED_FNORM_ABS
        if it > 0:
            self._last_rms = ynorm / np.sqrt(max(snes.getSolution().getSize(), 1))
            stalled = fnorm >= 0.5 * self._fnorm_prev  # at the round-off floor
            self._fnorm_prev = fnorm
            if self._last_rms <= 1e-9:
                return reason.CONVERGED_SNORM_RELATIVE
            if self._last_rms <= 1e-7 and fnorm <= rtol * self._fnorm0:
                return reason.CONVERGED_FNORM_RELATIVE
            if self._last_rms <= 1e-6 and stalled:
                return reason.CONVERGED_SNORM_RELATIVE
        if it >= max_it:
            return reason.DIVERGED_MAX_IT
        return reason.ITERATING

    def _newton(self) -> tuple[bool, int, str]:
        snes = self._problem.solver
        self._problem.solve()
        reason = snes.getConvergedReason()
        its = snes.getIterationNumber()
        self.w.x.scatter_forward()
        name = _REASONS.get(reason, str(reason))
        if name == "DIVERGED_LINE_SEARCH" and self._last_rms <= 1e-6:
            # the residual sits at its round-off floor (strongly charged walls: terms of
            # size e^|u| cancel) and the last accepted update was already below 1e-6 in
            # ln c and kT/e: the state is converged to that accuracy
            reason, name = 1, "CONVERGED_ROUNDOFF"
        ok = reason > 0 and bool(np.all(np.isfinite(self.w.x.array)))
        ok = bool(self.comm.allreduce(int(ok), op=MPI.MIN))
        return ok, its, name

    def _set_linesearch(self, overrides: dict[str, object]) -> None:
        """Set the SNES line search to the user's/default options updated by ``overrides``
        (an empty dict restores them)."""
        ls = self._problem.solver.getLineSearch()
        prefix = ls.getOptionsPrefix() or ""
        opts = PETSc.Options()
        base: dict[str, object] = {"snes_linesearch_type": "bt", "snes_linesearch_damping": 1.0}
        base.update({k: v for k, v in self._petsc_options.items() if "linesearch" in k})
        base.update(overrides)
        for k, v in base.items():
            opts[prefix + k] = v
        ls.setFromOptions()
        for k in base:
            del opts[prefix + k]
        # a failed factorisation (e.g. MUMPS out of workspace on a near-singular Jacobian)
        # is sticky: start the next attempt with a fresh linear solver
        self._problem.solver.getKSP().reset()

    def _nodal_exponent(self, i: int) -> np.ndarray:
        """ψ_i = F_i/RT + z_i φ/V_T at the nodes (the current φ when Poisson is solved)."""
        psi = np.zeros(self.w.x.array[self._maps[i]].shape)
        if self._mu_fn[i] is not None:
            psi += self._mu_fn[i].x.array
        if self.charges[i] != 0:
            if self.solves_poisson:
                psi += self.charges[i] * self.w.x.array[self._maps[-1]]
            elif self._phi_fn is not None:
                psi += self.charges[i] * self._phi_fn.x.array
        return psi

    def _default_initial_guess(self) -> list[str]:
        """Make the untouched initial state of each species with Dirichlet conditions satisfy
        them: the Slotboom variable η = c e^ψ (ψ = F_i/RT + z_i φ/V_T) solves
        ∇·(D e^{−ψ} ∇η) = 0 between the Dirichlet values (zero flux elsewhere), which in 1D
        is the exact steady state of a lone species (η linear in ∫e^ψ/D dz) and elsewhere a
        guess that meets the Dirichlet conditions and lies between their values. Species
        given :meth:`set_initial` keep theirs. Returns the names of the species set."""
        from dolfinx.fem.petsc import LinearProblem

        conds: dict[int, list[tuple[str, fem.Function]]] = {}
        for i, name, g in self._conc_g:
            if i not in self._user_initial:
                conds.setdefault(i, []).append((name, g))
        done = []
        msh = self.domain.mesh
        fdim = self._tdim - 1
        dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": 2 * self.degree + 1})
        for i, items in conds.items():
            psi = self._nodal_exponent(i)
            hi = _max_over(self.comm, float(np.max(psi, initial=-np.inf)))
            lo = -_max_over(self.comm, float(np.max(-psi, initial=-np.inf)))
            if hi - lo > 600:  # e^{±ψ} would overflow: keep the present state
                log.info("initial guess of %s: ψ spans %.0f kT, kept as is", self.names[i], hi - lo)
                continue
            shifted = fem.Function(self._Q)
            shifted.x.array[:] = psi - hi  # <= 0: the weight e^{−ψ} stays >= 1
            D = self._D_fn[i] if self._D_fn[i] is not None else self._const(1.0)
            eta, v = ufl.TrialFunction(self._Q), ufl.TestFunction(self._Q)
            a = D * ufl.exp(-shifted) * ufl.inner(ufl.grad(eta), ufl.grad(v)) * dx
            rhs = self._const(0.0) * v * dx
            bcs, values = [], []
            for name, g in items:
                h = fem.Function(self._Q)
                h.x.array[:] = np.exp(g.x.array + shifted.x.array)
                dofs = fem.locate_dofs_topological(self._Q, fdim, self.domain.facets(name))
                bcs.append(fem.dirichletbc(h, dofs))
                values.append(h.x.array[dofs])
            local = np.concatenate(values)
            vmax = _max_over(self.comm, float(np.max(local, initial=-np.inf)))
            vmin = -_max_over(self.comm, float(np.max(-local, initial=-np.inf)))
            solver = LinearProblem(
                a,
                rhs,
                bcs=bcs,
                petsc_options_prefix=f"nernstplanck_guess{next(_COUNTER)}_",
                petsc_options={
                    "ksp_type": "preonly",
                    "pc_type": "lu",
                    "pc_factor_mat_solver_type": "mumps",
                },
            )
            sol = solver.solve()
            sol.x.scatter_forward()
            # the continuous problem obeys the maximum principle; clip the overshoot of
            # higher-degree elements so that the logarithm exists
            vals = np.clip(sol.x.array, vmin, vmax)
            u = np.log(vals) - shifted.x.array
            ok = int(vmin > 0 and bool(np.all(np.isfinite(u))))
            if self.comm.allreduce(ok, op=MPI.MIN):
                self.w.x.array[self._maps[i]] = u
                done.append(self.names[i])
            for obj in (solver.solver, solver.A, solver.b):
                obj.destroy()
        self.w.x.scatter_forward()
        return done

    def _sanity_warnings(self) -> list[str]:
        """Physical-plausibility checks of the current state (collective); logged."""
        out = []
        n_own = self._Q.dofmap.index_map.size_local
        for i, name in enumerate(self.names):
            u = self.w.x.array[self._maps[i][:n_own]]
            finite = self.comm.allreduce(int(np.all(np.isfinite(u))), op=MPI.MIN)
            if not finite:
                out.append(f"c({name}) has NaN or infinite values")
                continue
            umax = _max_over(self.comm, float(np.max(u, initial=-np.inf)))
            umin = -_max_over(self.comm, float(np.max(-u, initial=-np.inf)))
            cmax = self.reference_concentrations[i] * np.exp(umax)
            cmin = self.reference_concentrations[i] * np.exp(umin)
            if cmax > SANE_MAX_CONCENTRATION:
                out.append(
                    f"c({name}) reaches {cmax:.3g} mol/m^3, above {SANE_MAX_CONCENTRATION:g} "
                    "mol/m^3 (100 mol/L): unphysical; check the electrode kinetics (transfer "
                    "coefficients, potentials), the temperature (K) and the boundary values"
                )
            if not cmin > 0:
                out.append(f"c({name}) underflows to 0 mol/m^3 (ln c below -745)")
        if self._electrodes:
            lo, hi = self.domain.bounding_box()
            extent = float(np.max(hi - lo))
            for boundary, (kin, _) in self._electrodes.items():
                density = self.electrode_current(boundary) / self.domain.measure(boundary)
                limit = kin.electrons * FARADAY * self.diffusion_scale
                limit *= SANE_MAX_CONCENTRATION / extent
                if not abs(density) <= 100 * limit:
                    out.append(
                        f"electrode current density on {boundary!r} is {density:.3g} A/m^2, "
                        f"over 100x the diffusion limit n F D c_max / L = {limit:.3g} A/m^2 "
                        f"(D = {self.diffusion_scale:.3g} m^2/s, c_max = "
                        f"{SANE_MAX_CONCENTRATION:g} mol/m^3, L = {extent:.3g} m): unphysical"
                    )
        for msg in out:
            log.warning("NernstPlanckProblem: %s", msg)
        return out

    def solve(
        self, *, continuation: bool = True, fallback: bool = True, min_step: float = 1e-3
    ) -> SolveResult:
        """Solve the steady state; return a :class:`SolveResult` (also set as attributes).

        The current state is the initial guess; on the first solve the species that were not
        given :meth:`set_initial` start from a state that satisfies their Dirichlet
        conditions (the Slotboom interpolation, see ``_default_initial_guess``). If Newton
        fails, the fallbacks of :data:`FALLBACKS` (an l2 line search, damped Newton) are
        tried from the same start, then, if there are applied potentials (Dirichlet φ,
        electrode potentials), continuation: they are ramped from the rest state
        (φ_D = 0, E = E_eq) to their values, halving the step on failure. Every fallback is
        logged (logger ``"continuum"``) and the one that converged is
        :attr:`SolveResult.strategy`.

        Parameters
        ----------
        continuation : bool
            Try continuation when the direct solve and the fallbacks fail.
        fallback : bool
            Try the other Newton variants of :data:`FALLBACKS` when the direct solve fails.
        min_step : float
            Smallest continuation step (fraction of the full load) before giving up.

        Raises
        ------
        ConvergenceError
            With the SNES reason of the direct solve and of every fallback, when all fail.
        """
        t0 = time.perf_counter()
        self._build()
        self._idt.value = 0.0
        if self._fresh:
            self._fresh = False
            guessed = self._default_initial_guess()
            if guessed:
                log.debug("initial guess: Slotboom interpolation for %s", guessed)
        start = self.w.x.array.copy()
        self._set_load(1.0)
        ok, its, reason = self._newton()
        total, steps, strategy = its, [], "newton"
        tried = [f"Newton ({reason} after {its} iterations)"]
        if not ok and fallback:
            for name, options in FALLBACKS:
                log.warning(
                    "NernstPlanckProblem: %s; retrying from the same start with %s",
                    tried[-1],
                    name,
                )
                self.w.x.array[:] = start
                self._set_linesearch(options)
                try:
                    ok, its, reason = self._newton()
                finally:
                    self._set_linesearch({})
                total += its
                tried.append(f"{name} ({reason} after {its} iterations)")
                if ok:
                    strategy = name
                    log.warning("NernstPlanckProblem: %s converged", name)
                    break
        if not ok:
            if not (continuation and self._has_load()):
                self.w.x.array[:] = start
                raise ConvergenceError(
                    f"Newton did not converge: {'; '.join(tried)}; refine the mesh near "
                    "walls, give a better initial guess (set_initial) or relax the applied "
                    "potentials",
                    reason,
                    its,
                )
            log.warning(
                "NernstPlanckProblem: %s; trying continuation in the applied potentials",
                "; ".join(tried),
            )
            strategy = "continuation"
            self.w.x.array[:] = start
            s, step = 0.0, 0.25
            self._set_load(0.0)
            ok, its, reason = self._newton()
            total += its
            steps.append((0.0, its))
            if not ok:
                self.w.x.array[:] = start
                raise ConvergenceError(
                    f"Newton did not converge even without applied potentials ({reason}); "
                    f"before that: {'; '.join(tried)}; check the boundary conditions and the "
                    "initial guess",
                    reason,
                    its,
                )
            while s < 1.0:
                trial = min(1.0, s + step)
                keep = self.w.x.array.copy()
                self._set_load(trial)
                ok, its, reason = self._newton()
                total += its
                if ok:
                    s = trial
                    steps.append((s, its))
                    if its <= 6:
                        step *= 2.0
                else:
                    self.w.x.array[:] = keep
                    step *= 0.5
                    if step < min_step:
                        self._set_load(s)
                        raise ConvergenceError(
                            f"continuation stalled at {s:.4g} of the applied potential "
                            f"({reason}); refine the mesh or lower the potentials",
                            reason,
                            its,
                        )
            log.info("NernstPlanckProblem: continuation converged in %d steps", len(steps))
        self.converged, self.iterations, self.reason = True, total, reason
        self._w_old.x.array[:] = self.w.x.array
        warnings = self._sanity_warnings()
        return SolveResult(True, total, reason, steps, time.perf_counter() - t0, strategy, warnings)

    def run(
        self,
        t_end: float,
        *,
        dt: float | None = None,
        tol: float = 1e-3,
        dt_min: float | None = None,
        dt_max: float | None = None,
        record: Sequence[str] = (),
        output: str | Path | None = None,
        write_every: int = 1,
        progress: bool = True,
    ) -> TransientResult:
        """Integrate in time from the current state to ``t_end`` (s), implicit Euler with
        adaptive steps.

        The local error of a step is estimated from the difference between the implicit
        Euler solution and the linear extrapolation of the last two states,
        e ≈ Δt_n/(Δt_n + Δt_{n−1}) ‖u_{n+1} − u_pred‖_∞, in units of ln c and kT/e; steps
        with e > ``tol`` are rejected and Δt is adapted by 0.9 (tol/e)^{1/2} within [0.2, 2].
        A step whose Newton solve fails is retried with half the step.

        Parameters
        ----------
        t_end : float
            Final time (s).
        dt : float, optional
            First step (s); default t_end/1000.
        tol : float
            Local error tolerance (relative concentration change / kT/e).
        dt_min, dt_max : float, optional
            Step limits (s); defaults t_end·1e-12 and t_end/10.
        record : sequence of str
            Boundaries whose fluxes and current are recorded at each accepted step.
        output : path, optional
            Directory: ``fields.bp`` (VTX, c in mol/m³ and φ in V at accepted steps) and
            ``history.csv`` (time, step, iterations, recorded fluxes; flushed every step,
            so nothing is lost when the run is killed).
        write_every : int
            Write fields every this many accepted steps (the last one is always written).
        progress : bool
            Show a progress bar (rank 0).

        Raises
        ------
        ConvergenceError
            When the step falls below ``dt_min``.
        """
        if not (_is_number(t_end) and t_end > self.time):
            raise ValueError(
                f"t_end must be a number > the current time {self.time} s, got {t_end}"
            )
        if not tol > 0:
            raise ValueError(f"tol must be > 0, got {tol}")
        for b in record:
            self._check_boundary(b)
        t0 = time.perf_counter()
        self._build()
        self._fresh = False  # the state is the initial condition: never replaced
        span = t_end - self.time
        dt = span / 1000 if dt is None else float(dt)
        dt_min = span * 1e-12 if dt_min is None else float(dt_min)
        dt_max = span / 10 if dt_max is None else float(dt_max)
        if not (0 < dt_min <= dt_max):
            raise ValueError("need 0 < dt_min <= dt_max (s)")
        dt = min(max(dt, dt_min), dt_max)
        self._set_load(1.0)
        rank0 = self.comm.rank == 0
        out_dir = None
        writer = None
        csv_file = None
        if output is not None:
            out_dir = Path(output)
            if rank0:
                out_dir.mkdir(parents=True, exist_ok=True)
            self.comm.barrier()
            writer = self._open_vtx(out_dir / "fields.bp")
            writer.write(self.time)
            if rank0:
                csv_file = open(out_dir / "history.csv", "w", newline="")
                header = ["time_s", "dt_s", "newton_iterations"]
                header += [f"flux[{s}@{b}]" for b in record for s in self.names]
                header += [f"current[{b}]" for b in record]
                csv.writer(csv_file).writerow(header)
                csv_file.flush()
        bar = None
        if progress and rank0:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=span,
                unit="s",
                desc="NernstPlanck",
                bar_format="{l_bar}{bar}| t={n:.3g}/{total:.3g} s [{elapsed}<{remaining}]",
            )
        times, steps, iters = [self.time], [], []
        fluxes: dict[tuple[str, str], list[float]] = {
            (s, b): [] for b in record for s in self.names
        }
        currents: dict[str, list[float]] = {b: [] for b in record}
        prev = None  # (state, dt) of the previous accepted step
        rejected = 0
        n_acc = 0
        try:
            while self.time < t_end * (1 - 1e-12):
                dt = min(dt, t_end - self.time)
                u_n = self.w.x.array.copy()
                self._w_old.x.array[:] = u_n
                self._idt.value = self.time_scale / dt
                ok, its, reason = self._newton()
                if not ok:
                    self.w.x.array[:] = u_n
                    rejected += 1
                    dt *= 0.5
                    if dt < dt_min:
                        raise ConvergenceError(
                            f"time step fell below dt_min={dt_min:g} s at t={self.time:g} s "
                            f"({reason})",
                            reason,
                            its,
                        )
                    continue
                factor = 2.0
                if prev is not None:
                    u_prev, dt_prev = prev
                    pred = u_n + dt * (u_n - u_prev) / dt_prev
                    diff = np.max(np.abs(self.w.x.array - pred), initial=0.0)
                    err = self.comm.allreduce(diff, op=MPI.MAX) * dt / (dt + dt_prev)
                    factor = min(2.0, max(0.2, 0.9 * np.sqrt(tol / max(err, 1e-300))))
                    if err > tol and dt > dt_min:
                        self.w.x.array[:] = u_n
                        rejected += 1
                        dt = max(dt * factor, dt_min)
                        continue
                self.time += dt
                n_acc += 1
                prev = (u_n, dt)
                times.append(self.time)
                steps.append(dt)
                iters.append(its)
                row = [self.time, dt, its]
                for b in record:
                    for s in self.names:
                        fluxes[(s, b)].append(self.flux(s, b))
                        row.append(fluxes[(s, b)][-1])
                for b in record:
                    currents[b].append(self.current(b))
                    row.append(currents[b][-1])
                if csv_file is not None:
                    csv.writer(csv_file).writerow([f"{r:.12g}" for r in row])
                    csv_file.flush()
                if writer is not None and (
                    n_acc % write_every == 0 or self.time >= t_end * (1 - 1e-12)
                ):
                    self._update_output()
                    writer.write(self.time)
                if bar is not None:
                    bar.update(dt)
                dt = min(max(dt * factor, dt_min), dt_max)
        finally:
            if bar is not None:
                bar.close()
            if csv_file is not None:
                csv_file.close()
            if writer is not None:
                writer.close()
        self._w_old.x.array[:] = self.w.x.array
        self.converged, self.iterations, self.reason = True, int(np.sum(iters)), "t_end reached"
        return TransientResult(
            True,
            np.array(times),
            np.array(steps),
            np.array(iters, dtype=int),
            rejected,
            {k: np.array(v) for k, v in fluxes.items()},
            {k: np.array(v) for k, v in currents.items()},
            time.perf_counter() - t0,
            self._sanity_warnings(),
        )

    # ------------------------------------------------------------------ results
    def concentration(self, species: str) -> fem.Function:
        """c_i (mol/m³) as a Lagrange function (a new copy)."""
        i = self._species_index(species)
        f = fem.Function(self._Q, name=species)
        f.x.array[:] = self.reference_concentrations[i] * np.exp(self.w.x.array[self._maps[i]])
        return f

    def potential(self) -> fem.Function:
        """φ (V) as a Lagrange function (a new copy); zero if there is no field."""
        f = fem.Function(self._Q, name="phi")
        if self.solves_poisson:
            f.x.array[:] = self.thermal_voltage * self.w.x.array[self._maps[-1]]
        elif self._phi_fn is not None:
            f.x.array[:] = self.thermal_voltage * self._phi_fn.x.array
        return f

    def _indicator(self, boundary: str) -> np.ndarray:
        """Owned Q dofs on ``boundary`` (dofs of remote facets included)."""
        if boundary not in self._indicator_cache:
            dofs = fem.locate_dofs_topological(
                self._Q, self._tdim - 1, self.domain.facets(boundary)
            )
            n_own = self._Q.dofmap.index_map.size_local
            self._indicator_cache[boundary] = np.asarray(dofs[dofs < n_own], dtype=np.int32)
        return self._indicator_cache[boundary]

    def _residual(self) -> np.ndarray:
        b = fem.assemble_vector(self._problem.F)
        b.scatter_reverse(la.InsertMode.add)
        return b.array

    def _scalar(self, key, form_ufl) -> float:
        if key not in self._scalar_forms:
            self._scalar_forms[key] = fem.form(form_ufl)
        return float(self.comm.allreduce(fem.assemble_scalar(self._scalar_forms[key]), op=MPI.SUM))

    def _boundary_integral_hat(self, field_index: int, boundary: str, key, sign: float) -> float:
        """∫_Γ (outward flux or wall charge) dŝ, dimensionless, the same on all ranks.

        Where the field has a Dirichlet condition on Γ the flux is the one that balances the
        discrete equations (consistent boundary flux): with R the residual of the field and
        v_Γ the nodal indicator of Γ, Green's formula gives ∫_Γ J·n = −R(v_Γ) for a
        Nernst–Planck equation and ∫_Γ λ̂² ε̂ ∂φ̂/∂n = R(v_Γ) for Poisson's (all natural
        terms of other boundaries are part of R and cancel). Elsewhere the flux is the natural
        term of Γ itself (prescribed flux, Butler–Volmer, surface charge; zero if none).
        Nodes shared by two Dirichlet boundaries count for both.
        """
        self._check_boundary(boundary)
        if not self._built:
            raise ValueError("solve() or run() first")
        if field_index < len(self.species):
            dirichlet = (field_index, boundary) in self._conc_bc
        else:
            dirichlet = boundary in self._pot_bc
        if not dirichlet:
            if key in self._flux_forms:
                return self._scalar(key, self._flux_forms[key])
            return 0.0
        b = self._residual()
        dofs = self._indicator(boundary)
        local = sign * float(np.sum(b[self._maps[field_index][dofs]]))
        return float(self.comm.allreduce(local, op=MPI.SUM))

    def flux(self, species: str, boundary: str) -> float:
        """Outward flux of ``species`` through ``boundary``, ∫_Γ J·n ds (SI; same on all ranks).

        Units: mol s⁻¹ in 3D, mol m⁻¹ s⁻¹ (per metre of depth) in 2D, mol m⁻² s⁻¹ in 1D.
        Where the species has a Dirichlet condition on ``boundary`` the flux is computed from
        the residual (the flux that balances the discrete equations), which conserves mass
        exactly and converges faster than differentiating the solution; elsewhere it is the
        prescribed (natural) flux: set_flux, Butler–Volmer, or zero.
        """
        i = self._species_index(species)
        val = self._boundary_integral_hat(i, boundary, (i, boundary), -1.0)
        d = self._tdim
        scale = self.reference_concentrations[i] * self.diffusion_scale / self.length_scale
        return val * scale * self.length_scale ** (d - 1)

    def amount(self, species: str) -> float:
        """Total amount of ``species`` in the domain, ∫ c dx (SI; same on all ranks).

        mol in 3D, mol/m in 2D, mol/m² in 1D; integrated with the solver's own quadrature, so
        that its change over a time step equals the net boundary inflow to round-off.
        """
        i = self._species_index(species)
        self._build()
        key = ("amount", i)
        if key not in self._scalar_forms:
            k = self.degree
            dx = ufl.Measure(
                "dx", domain=self.domain.mesh, metadata={"quadrature_degree": 2 * k + 1}
            )
            self._scalar_forms[key] = fem.form(ufl.exp(self._components(self.w)[i]) * dx)
        local = fem.assemble_scalar(self._scalar_forms[key])
        return float(self.comm.allreduce(local, op=MPI.SUM)) * self.reference_concentrations[i]

    def flux_density(self, species: str, boundary: str) -> float:
        """Mean outward flux density of ``species`` on ``boundary`` (mol m⁻² s⁻¹)."""
        return self.flux(species, boundary) / self.domain.measure(boundary)

    def current(self, boundary: str) -> float:
        """Ionic current out of the solution through ``boundary``, F Σ z_i ∫ J_i·n ds (SI).

        A in 3D, A/m in 2D, A/m² in 1D. At an electrode it is minus the anodic current.
        """
        return FARADAY * sum(
            z * self.flux(s, boundary)
            for s, z in zip(self.names, self.charges, strict=True)
            if z != 0
        )

    def electrode_current(self, boundary: str) -> float:
        """Anodic Butler–Volmer current of the electrode on ``boundary`` (SI units of
        :meth:`current`)."""
        if boundary not in self._electrodes:
            raise ValueError(
                f"{boundary!r} has no electrode; electrodes: {sorted(self._electrodes)}"
            )
        self._build()
        kin, _, _, form, p = self._electrode_data[boundary]
        jhat = self._scalar(("bv", boundary), form)
        d = self._tdim
        scale = self.reference_concentrations[p] * self.diffusion_scale / self.length_scale
        return jhat * scale * self.length_scale ** (d - 1) * kin.electrons * FARADAY

    def surface_charge(self, boundary: str) -> float:
        """Charge on the wall ``boundary``, ∮ ε0 ε_r ∂φ/∂n ds (SI; C, C/m in 2D, C/m² in 1D).

        Minus the charge of the adjacent diffuse layer (Gauss's law), from the residual of
        Poisson's equation.
        """
        if not self.solves_poisson:
            raise ValueError("surface_charge needs potential='poisson'")
        val = self._boundary_integral_hat(self.n_fields - 1, boundary, ("charge", boundary), 1.0)
        return val * FARADAY * self._c0 * self.length_scale**self._tdim

    # ------------------------------------------------------------------ output
    def _update_output(self) -> list[fem.Function]:
        if self._out is None:
            self._out = [fem.Function(self._Q, name=n) for n in [*self.names, "phi"]]
        for i, f in enumerate(self._out[:-1]):
            f.x.array[:] = self.reference_concentrations[i] * np.exp(self.w.x.array[self._maps[i]])
        self._out[-1].x.array[:] = self.potential().x.array
        return self._out

    def _open_vtx(self, path: Path):
        from dolfinx.io import VTXWriter

        return VTXWriter(self.comm, str(path), self._update_output(), engine="BP4")

    def write(self, path: str | Path) -> Path:
        """Write c_i (mol/m³) and φ (V) to a VTX file (``.bp``, ParaView), collectively."""
        path = Path(path)
        if path.suffix != ".bp":
            raise ValueError(f"VTX output needs a .bp file name, got {path.name}")
        if self.comm.rank == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.comm.barrier()
        writer = self._open_vtx(path)
        writer.write(self.time)
        writer.close()
        return path

    def sample_1d(self) -> dict[str, np.ndarray]:
        """Nodal values of a 1D solution, gathered on every rank and sorted by x.

        Returns a dict with ``"x"`` (m), one entry per species (mol/m³) and ``"phi"`` (V).
        """
        if self._tdim != 1:
            raise ValueError("sample_1d is for 1D meshes; use write() for 2D/3D")
        n_own = self._Q.dofmap.index_map.size_local
        x = self._Q.tabulate_dof_coordinates()[:n_own, 0]
        cols = [x] + [f.x.array[:n_own] for f in self._update_output()]
        local = np.column_stack(cols)
        data = np.concatenate([a for a in self.comm.allgather(local) if a.size])
        data = data[np.argsort(data[:, 0], kind="stable")]
        out = {"x": data[:, 0]}
        for k, n in enumerate([*self.names, "phi"], start=1):
            out[n] = data[:, k]
        return out

    def plot_1d(self, path: str | Path | None = None, *, log: bool = True):
        """Plot concentrations and potential of a 1D solution (collective; drawn on rank 0).

        Parameters
        ----------
        path : path, optional
            Image file to write (rank 0).
        log : bool
            Logarithmic concentration axis.

        Returns
        -------
        matplotlib.figure.Figure or None
            The figure on rank 0, None elsewhere.
        """
        data = self.sample_1d()
        if self.comm.rank != 0:
            return None
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(6, 6))
        x_nm = data["x"] * 1e9
        for n in self.names:
            ax1.plot(x_nm, data[n] / 1000, label=n)
        if log:
            ax1.set_yscale("log")
        ax1.set_ylabel("c (mol/L)")
        ax1.legend()
        ax2.plot(x_nm, data["phi"] * 1000, color="k")
        ax2.set_ylabel("φ (mV)")
        ax2.set_xlabel("x (nm)")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig
