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

Layout. This module holds the problem's set-up (coefficients, unknowns) and assembles
the residual; the pieces live in their own modules: :mod:`continuum.fields` (coefficient
functions), :mod:`continuum.boundary`
(conditions, sources, initial state), :mod:`continuum.nernst_planck`,
:mod:`continuum.poisson` and :mod:`continuum.electrode` (the physics terms),
:mod:`continuum.driver` (Newton, fallbacks, continuation), :mod:`continuum.timestepping`
(implicit Euler), :mod:`continuum.postprocess` (fluxes, currents, output) and
:mod:`continuum.results` (result records, :class:`ConvergenceError`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import dolfinx_solver  # noqa: F401  (must precede dolfinx: provides PETSc/MPI)
import numpy as np
import ufl
from dolfinx import fem

from .boundary import BoundaryConditions
from .constants import EPSILON_0, FARADAY, GAS_CONSTANT, thermal_voltage
from .driver import DEFAULT_PETSC_OPTIONS, FALLBACKS, SolverDriver
from .electrode import Electrodes
from .fields import CoefficientFields
from .geometry import Domain
from .nernst_planck import (
    diffusion_tensor,
    electrochemical_potential,
    nernst_planck_residual,
)
from .poisson import permittivity_tensor, poisson_residual, space_charge
from .postprocess import PostProcessing
from .results import SANE_MAX_CONCENTRATION, ConvergenceError, SolveResult, TransientResult
from .species import ButlerVolmer, Species
from .timestepping import TimeStepping
from .validation import check_finite_number as _check_finite_number
from .validation import is_number as _is_number
from .validation import max_over as _max_over

__all__ = [
    "DEFAULT_PETSC_OPTIONS",
    "FALLBACKS",
    "SANE_MAX_CONCENTRATION",
    "TEMPERATURE_RANGE",
    "ConvergenceError",
    "NernstPlanckProblem",
    "SolveResult",
    "TransientResult",
]

log = logging.getLogger("continuum")

#: Temperatures (K) accepted without ``allow_any_temperature=True``.
TEMPERATURE_RANGE = (200.0, 500.0)


class NernstPlanckProblem(
    CoefficientFields, BoundaryConditions, Electrodes, SolverDriver, TimeStepping, PostProcessing
):
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
        Relative permittivity ε_r (dimensionless), constant or a function of ``x``; with
        ``permittivity_parallel`` it is ε⊥, the component across the surface (along n).
    permittivity_parallel : float or callable, optional
        In-plane relative permittivity ε∥ (dimensionless, > 0), constant or a function of
        ``x``, e.g. ε∥(z) from MD. In 2D/3D Poisson's equation then uses the tensor
        ε = ε⊥ n⊗n + ε∥ (I − n⊗n) with n the ``surface_normal``; 1D problems use ε⊥ alone.
        The reference permittivity ε_ref of the Debye length is the maximum of ε⊥ and ε∥
        over the mesh (the solution does not depend on this choice, only the scaling does).
        Default None: isotropic.
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
    surface_normal : sequence of float or callable, optional
        Unit normal n of the interface (dimensionless), for species with a
        ``diffusion_parallel`` (tensor D = D⊥ n⊗n + D∥ (I − n⊗n)) and for a
        ``permittivity_parallel`` (tensor ε = ε⊥ n⊗n + ε∥ (I − n⊗n)) in 2D/3D: a constant
        vector, or a function of ``x`` (shape (3, n), m) returning (3, n) vectors (normalised
        here), e.g. :func:`continuum.coefficients.normal_from_distance`. Default: the first
        axis, x[0], matching the default distance of :func:`continuum.profile_coefficient`.

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
        permittivity_parallel: float | Callable[[np.ndarray], np.ndarray] | None = None,
        degree: int = 1,
        length_scale: float | None = None,
        fixed_charge: float | Callable[[np.ndarray], np.ndarray] | None = None,
        petsc_options: dict | None = None,
        allow_any_temperature: bool = False,
        surface_normal: Sequence[float] | Callable[[np.ndarray], np.ndarray] | None = None,
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
        if permittivity_parallel is not None:
            if not (_is_number(permittivity_parallel) or callable(permittivity_parallel)):
                raise TypeError(
                    "permittivity_parallel must be a number or a function of x (relative), or "
                    "None for an isotropic permittivity; got "
                    f"{type(permittivity_parallel).__name__}"
                )
            if _is_number(permittivity_parallel) and not (
                np.isfinite(permittivity_parallel) and permittivity_parallel > 0
            ):
                raise ValueError(
                    "permittivity_parallel must be > 0 and finite (relative), got "
                    f"{permittivity_parallel}"
                )
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

        # permittivity ε⊥ (or the isotropic ε_r) and, in 2D/3D, ε∥; the reference value
        # ε_ref of the Debye length is the maximum over both, so that the scaled ε̂ ≤ 1
        self._eps_fn: fem.Function | None = None  # ε⊥/ε_ref as a DG function
        self._eps_value = 1.0  # ε⊥/ε_ref when ε⊥ is a number
        self._eps_par: fem.Function | float | None = None  # ε∥/ε_ref (2D/3D only)
        emax = []
        if _is_number(permittivity):
            emax.append(float(permittivity))
        else:
            eps = self._dg_function(permittivity, "permittivity")
            self._check_positive(eps, "permittivity")
            emax.append(_max_over(self.comm, float(np.max(eps.x.array, initial=0.0))))
            self._eps_fn = eps
        if permittivity_parallel is not None and tdim > 1:
            if _is_number(permittivity_parallel):
                self._eps_par = float(permittivity_parallel)
                emax.append(self._eps_par)
            else:
                f = self._dg_function(permittivity_parallel, "permittivity_parallel")
                self._check_positive(f, "permittivity_parallel")
                emax.append(_max_over(self.comm, float(np.max(f.x.array, initial=0.0))))
                self._eps_par = f
        self._eps_ref = float(max(emax))
        if self._eps_fn is not None:
            self._eps_fn.x.array[:] /= self._eps_ref
        else:
            self._eps_value = float(permittivity) / self._eps_ref
        if isinstance(self._eps_par, fem.Function):
            self._eps_par.x.array[:] /= self._eps_ref
        elif self._eps_par is not None:
            self._eps_par /= self._eps_ref
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
        # D∥ of anisotropic species (2D/3D only): DG functions or numbers
        self._Dpar: list[fem.Function | float | None] = []
        for s in species:
            dpar = s.diffusion_parallel if tdim > 1 else None
            if dpar is None:
                self._Dpar.append(None)
            elif callable(dpar):
                f = self._dg_function(dpar, f"diffusion_parallel of {s.name}")
                self._check_positive(f, f"diffusion_parallel of {s.name}")
                self._Dpar.append(f)
                dmax.append(_max_over(self.comm, float(np.max(f.x.array, initial=0.0))))
            else:
                self._Dpar.append(float(dpar))
                dmax.append(float(dpar))
        self.diffusion_scale = float(max(dmax))
        for f in [*self._D_fn, *self._Dpar]:
            if isinstance(f, fem.Function):
                f.x.array[:] /= self.diffusion_scale
        self._Dpar = [f / self.diffusion_scale if isinstance(f, float) else f for f in self._Dpar]
        self._normal = None
        if any(f is not None for f in self._Dpar) or self._eps_par is not None:
            self._normal = self._normal_field(surface_normal)
        elif surface_normal is not None and tdim > 1:
            self._normal_field(surface_normal)  # validated even when unused
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
        self._reaction_plane: dict[str, float] = {}  # φ_d (V) of each electrode
        self._stern_bc: dict[str, tuple[float, float]] = {}  # (C_S F/m², E V)
        self._stern_data: dict[str, fem.Constant] = {}  # [Ĉ_S, Ê] once built
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
        anisotropic: bool = True,
        permittivity_parallel: float | str | None = None,
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
            else 78.46. With an ε∥ (below) this is ε⊥.
        species : sequence of str, optional
            Subset of the profile's species (default: all).
        anisotropic : bool
            On 2D/3D meshes, use the profile's D∥(z) (``diffusion_parallel``) with its D⊥(z)
            (``diffusion``) as the tensor D⊥ n⊗n + D∥ (I − n⊗n); n is the gradient of
            ``distance`` (:func:`continuum.coefficients.normal_from_distance`) unless
            ``surface_normal`` is passed. Ignored in 1D and when the profile has no D∥.
            Likewise the profile's ε∥(z) by default (see ``permittivity_parallel``).
        permittivity_parallel : float or "profile", optional
            ε∥ (relative): a number, or the profile's ε∥(z) (``permittivity_parallel``);
            Poisson's equation then uses ε⊥ n⊗n + ε∥ (I − n⊗n) in 2D/3D. Default: the
            profile's when ε⊥ is the profile's too, ``anisotropic`` is True, the mesh is
            2D/3D and the profile has ε∥; otherwise none (isotropic).
        **kwargs
            Passed to the constructor (``degree``, ``length_scale``, ``petsc_options``, ...).
        """
        from .coefficients import normal_from_distance, profile_coefficient
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
        use_dpar = bool(anisotropic and domain.dim > 1 and profile.diffusion_parallel is not None)
        if isinstance(permittivity_parallel, str) and permittivity_parallel != "profile":
            raise ValueError(
                "permittivity_parallel must be a number (relative), 'profile' or None, got "
                f"{permittivity_parallel!r}"
            )
        eps_from_profile = permittivity == "profile" or (
            permittivity is None and profile.permittivity is not None
        )
        if (
            permittivity_parallel is None
            and anisotropic
            and domain.dim > 1
            and eps_from_profile
            and profile.permittivity_parallel is not None
        ):
            permittivity_parallel = "profile"
        if permittivity_parallel == "profile":
            if profile.permittivity_parallel is None:
                raise ValueError(
                    "permittivity_parallel='profile' needs a profile with permittivity_parallel "
                    "(in-plane epsilon) data; pass a number or None instead"
                )
            permittivity_parallel = profile_coefficient(profile, "permittivity_parallel", **opts)

        use_eps_par = permittivity_parallel is not None and domain.dim > 1
        if (use_dpar or use_eps_par) and distance is not None and "surface_normal" not in kwargs:
            lo, hi = domain.bounding_box()
            kwargs["surface_normal"] = normal_from_distance(distance, 1e-6 * float(np.max(hi - lo)))
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
            dpar = None
            if use_dpar:
                dpar = profile_coefficient(profile, "diffusion_parallel", name, **opts)
            sp.append(
                Species(
                    name,
                    z,
                    profile_coefficient(profile, "diffusion", name, **opts),
                    cb,
                    fe,
                    diffusion_parallel=dpar,
                )
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
        return cls(
            domain,
            sp,
            potential=pot,
            permittivity=permittivity,
            permittivity_parallel=permittivity_parallel,
            **kwargs,
        )

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

    def _build(self) -> None:
        if self._built:
            return
        msh = self.domain.mesh
        d = self._tdim
        L = self.length_scale
        n_sp = len(self.species)
        if self.solves_poisson and not (self._pot_bc or self._electrodes or self._stern_bc):
            raise ValueError(
                "the potential is fixed only up to a constant: give set_potential(...) or "
                "set_stern_layer(...) on at least one boundary, or an electrode with a Stern "
                "layer"
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
            D = self._D_fn[i] if self._D_fn[i] is not None else dconst[i]
            if self._Dpar[i] is not None:
                dpar = self._Dpar[i]
                if isinstance(dpar, float):
                    dpar = self._const(dpar)
                D = diffusion_tensor(D, dpar, self._normal)
            mu = electrochemical_potential(
                w[i], zc[i] if s.charge != 0 else None, phi, self._mu_fn[i]
            )
            Fi = nernst_planck_residual(w[i], w_old[i], v[i], mu, D, self._idt, grad, vol, dx)
            for src in self._sources[i]:
                Fi -= self._source_expr(i, src) * v[i] * vol * dx
            Fi += self._flux_condition_terms(i, v[i], surf, ds)
            forms.append(Fi)
            bcs += self._concentration_dirichlet(i)
        # electrodes: Butler–Volmer flux of the product, Stern layer in Poisson
        extra = [0 * v[0] * vol * dx for _ in range(self.n_fields)]
        self._electrode_terms(w, v, phi, surf, ds, extra)
        for i in range(n_sp):
            forms[i] = forms[i] + extra[i]
        if self.solves_poisson:
            lam2 = self._const((self.debye_length / L) ** 2)
            q = v[n_sp]
            if self._eps_fn is not None:
                eps = self._eps_fn
            elif self._eps_par is not None:
                eps = self._const(self._eps_value)
            else:
                eps = 1.0
            if self._eps_par is not None:
                epar = self._eps_par
                if isinstance(epar, float):
                    epar = self._const(epar)
                eps = permittivity_tensor(eps, epar, self._normal)
            rho = space_charge(w[:n_sp], zc, cratio, self._rho_fn)
            P = poisson_residual(phi, q, lam2, eps, rho, grad, vol, dx) + extra[-1]
            P -= self._surface_charge_terms(q, surf, ds)
            P -= self._stern_terms(phi, q, surf, ds)
            forms.append(P)
            bcs += self._potential_dirichlet()
        self._F_ufl = sum(forms[1:], forms[0])
        self._bcs = bcs
        self._make_solver()
        self._built = True
        self._set_load(self._load)

    def _components(self, f) -> list:
        """Components of a (vector-valued) unknown or test function, one per field."""
        if self.n_fields == 1:
            return [f]
        return [f[i] for i in range(self.n_fields)]
