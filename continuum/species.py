"""Input records of the Nernst–Planck problem: species and electrode kinetics (plain data, SI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ButlerVolmer", "Coefficient", "Species"]

#: A coefficient: a number, or a function of the SI coordinates ``x`` (shape (3, n), m)
#: returning n values, as DOLFINx's ``Function.interpolate`` calls it.
Coefficient = float | Callable[[np.ndarray], np.ndarray]


def _finite_number(name: str, value: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number ({unit}), got {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number ({unit}), got {value}")
    return float(value)


def _positive_number(name: str, value: float, unit: str) -> float:
    _finite_number(name, value, unit)
    if not value > 0:
        raise ValueError(f"{name} must be > 0 ({unit}), got {value}")
    return float(value)


@dataclass(frozen=True)
class Species:
    """One dissolved species of the Nernst–Planck problem.

    Parameters
    ----------
    name : str
        Name used everywhere else (boundary conditions, results), e.g. ``"Na+"``.
    charge : int
        Charge number z (units of e).
    diffusion : float or callable
        Diffusion coefficient D (m²/s): a number, or a function of the coordinates ``x``
        (shape (3, n), m) returning n values, e.g. from a :class:`TransportProfile`
        (:func:`continuum.profile_coefficient`).
    concentration : float
        Reference (bulk) concentration (mol/m³; 1 mol/L = 1000 mol/m³), > 0. It is the
        initial guess / initial state unless set otherwise, sets the Debye length and scales
        the unknown ln(c/c_ref).
    free_energy : callable, optional
        Excess (non-electrostatic) chemical potential / potential of mean force F_i(x)
        (J/mol), a function of ``x`` like ``diffusion``. The flux is
        J = −D c ∇(ln c + z F φ/RT + F_i/RT).
    diffusion_parallel : float or callable, optional
        Diffusion coefficient along the surface, D∥ (m²/s), like ``diffusion``. When given,
        ``diffusion`` is D⊥ (across the surface, along its normal n) and the diffusion
        tensor of 2D/3D problems is D⊥ n⊗n + D∥ (I − n⊗n) (the problem's
        ``surface_normal``); 1D problems use D⊥ alone.
    """

    name: str
    charge: int
    diffusion: Coefficient
    concentration: float
    free_energy: Callable[[np.ndarray], np.ndarray] | None = None
    diffusion_parallel: Coefficient | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError("Species name must be a non-empty string, e.g. 'Na+'")
        if isinstance(self.charge, bool) or not float(self.charge).is_integer():
            raise ValueError(
                f"charge of {self.name} must be a whole number of e, got {self.charge}"
            )
        object.__setattr__(self, "charge", int(self.charge))
        if not callable(self.diffusion):
            object.__setattr__(
                self,
                "diffusion",
                _positive_number(f"diffusion of {self.name}", self.diffusion, "m^2/s"),
            )
        if self.diffusion_parallel is not None and not callable(self.diffusion_parallel):
            object.__setattr__(
                self,
                "diffusion_parallel",
                _positive_number(
                    f"diffusion_parallel of {self.name}", self.diffusion_parallel, "m^2/s"
                ),
            )
        object.__setattr__(
            self,
            "concentration",
            _positive_number(f"concentration of {self.name}", self.concentration, "mol/m^3"),
        )
        if self.free_energy is not None and not callable(self.free_energy):
            raise TypeError(
                f"free_energy of {self.name} must be a function of x (J/mol) or None, "
                f"got {type(self.free_energy).__name__}"
            )


@dataclass(frozen=True)
class ButlerVolmer:
    """Butler–Volmer kinetics of a metal-dissolution (or any one-product) electrode reaction.

    M → M^{z+} + n e⁻ with anodic-positive current density

    i = i0 [exp(α_a F η / RT) − (c_s / c_ref) exp(−α_c F η / RT)],
    η = E − φ_s − E_eq,

    where E is the metal potential, φ_s the solution potential at the reaction plane (the
    outer Helmholtz plane when the diffuse layer is resolved with a Stern layer; Frumkin
    correction) and c_s the surface concentration of the product. The product leaves the
    metal with flux i/(nF) into the solution. When the mesh does not resolve the diffuse
    layer, :meth:`NernstPlanckProblem.add_electrode` takes its potential φ_d
    (``reaction_plane_potential``): η = E − φ_s − φ_d − E_eq and c_s → c_s exp(−z F φ_d/RT).

    Parameters
    ----------
    species : str
        Name of the dissolved product, e.g. ``"Fe2+"``.
    electrons : int
        Electrons transferred per product ion, n.
    exchange_current_density : float
        i0 (A/m²) at c_s = c_ref.
    equilibrium_potential : float
        E_eq (V) on the same scale as the electrode potential and the solution potential φ.
    alpha_anodic, alpha_cathodic : float, optional
        Transfer coefficients α_a, α_c (dimensionless, >= 0). They must satisfy
        α_a + α_c = n: only then is the zero-current potential Nernstian,
        E = E_eq + (RT/nF) ln(c_s/c_ref). Default: n/2 each.
    reference_concentration : float
        c_ref (mol/m³) of the product at which i0 and E_eq are defined.
    stern_capacitance : float, optional
        Stern-layer capacitance C_S (F/m²). Required when the potential is solved (Poisson):
        the metal then carries the charge C_S (E − φ_s) and η is the Stern-layer drop minus
        E_eq. Ignored when the potential is prescribed.
    allow_non_nernstian : bool
        Accept α_a + α_c ≠ n (a deliberately non-Nernstian, e.g. multi-step, kinetic model).

    Raises
    ------
    ValueError
        Non-finite or out-of-range numbers, or α_a + α_c ≠ n without
        ``allow_non_nernstian=True``.
    """

    species: str
    electrons: int
    exchange_current_density: float
    equilibrium_potential: float
    alpha_anodic: float | None = None
    alpha_cathodic: float | None = None
    reference_concentration: float = 1000.0
    stern_capacitance: float | None = None
    allow_non_nernstian: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.species, str) or not self.species:
            raise TypeError("ButlerVolmer species must be the product's name, e.g. 'Fe2+'")
        n = self.electrons
        if (
            isinstance(n, bool)
            or not isinstance(n, int | float | np.integer | np.floating)
            or not np.isfinite(n)
            or int(n) != n
            or n < 1
        ):
            raise ValueError(f"electrons must be a positive whole number, got {n}")
        object.__setattr__(self, "electrons", int(n))
        _positive_number("exchange_current_density", self.exchange_current_density, "A/m^2")
        _positive_number("reference_concentration", self.reference_concentration, "mol/m^3")
        _finite_number("equilibrium_potential", self.equilibrium_potential, "V")
        for name in ("alpha_anodic", "alpha_cathodic"):
            a = getattr(self, name)
            if a is None:
                object.__setattr__(self, name, self.electrons / 2)
                continue
            _finite_number(name, a, "dimensionless")
            if a < 0:
                raise ValueError(f"{name} must be >= 0 (dimensionless), got {a}")
            object.__setattr__(self, name, float(a))
        total = self.alpha_anodic + self.alpha_cathodic
        if abs(total - self.electrons) > 1e-9 * self.electrons and not self.allow_non_nernstian:
            raise ValueError(
                f"alpha_anodic + alpha_cathodic = {self.alpha_anodic:g} + "
                f"{self.alpha_cathodic:g} = {total:g} but must equal electrons = "
                f"{self.electrons} (only then is the zero-current potential Nernstian); e.g. "
                f"alpha_anodic={self.electrons / 2:g}, alpha_cathodic={self.electrons / 2:g}, "
                "or pass allow_non_nernstian=True for a deliberately non-Nernstian model"
            )
        if self.stern_capacitance is not None:
            _positive_number("stern_capacitance", self.stern_capacitance, "F/m^2")
