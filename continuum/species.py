"""Input records of the Nernst–Planck problem: species and electrode kinetics (plain data, SI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ButlerVolmer", "Coefficient", "Species"]

#: A coefficient: a number, or a function of the SI coordinates ``x`` (shape (3, n), m)
#: returning n values, as DOLFINx's ``Function.interpolate`` calls it.
Coefficient = float | Callable[[np.ndarray], np.ndarray]


def _positive_number(name: str, value: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number ({unit}), got {type(value).__name__}")
    if not (np.isfinite(value) and value > 0):
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
    """

    name: str
    charge: int
    diffusion: Coefficient
    concentration: float
    free_energy: Callable[[np.ndarray], np.ndarray] | None = None

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
    metal with flux i/(nF) into the solution.

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
    alpha_anodic, alpha_cathodic : float
        Transfer coefficients α_a, α_c (dimensionless; α_a + α_c = n for a single rate-
        determining step).
    reference_concentration : float
        c_ref (mol/m³) of the product at which i0 and E_eq are defined.
    stern_capacitance : float, optional
        Stern-layer capacitance C_S (F/m²). Required when the potential is solved (Poisson):
        the metal then carries the charge C_S (E − φ_s) and η is the Stern-layer drop minus
        E_eq. Ignored when the potential is prescribed.
    """

    species: str
    electrons: int
    exchange_current_density: float
    equilibrium_potential: float
    alpha_anodic: float = 0.5
    alpha_cathodic: float = 0.5
    reference_concentration: float = 1000.0
    stern_capacitance: float | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.electrons, bool)
            or int(self.electrons) != self.electrons
            or self.electrons < 1
        ):
            raise ValueError(f"electrons must be a positive whole number, got {self.electrons}")
        _positive_number("exchange_current_density", self.exchange_current_density, "A/m^2")
        _positive_number("reference_concentration", self.reference_concentration, "mol/m^3")
        for name in ("alpha_anodic", "alpha_cathodic"):
            a = getattr(self, name)
            if not (np.isfinite(a) and a >= 0):
                raise ValueError(f"{name} must be >= 0, got {a}")
        if not np.isfinite(self.equilibrium_potential):
            raise ValueError("equilibrium_potential must be finite (V)")
        if self.stern_capacitance is not None:
            _positive_number("stern_capacitance", self.stern_capacitance, "F/m^2")
