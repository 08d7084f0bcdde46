"""Closed-form results of Nernst–Planck / Poisson–Nernst–Planck theory, in SI units.

These are the reference answers the solver is verified against (tests/test_continuum_*.py)
and quick estimates for users. They are independent of the finite-element code: plain NumPy /
SciPy on the textbook formulas (references in docs/continuum.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import integrate

from .constants import EPSILON_0, GAS_CONSTANT, debye_length, thermal_voltage

__all__ = [
    "butler_volmer_current",
    "cottrell_charge",
    "ghk_flux",
    "ghk_voltage",
    "gouy_chapman",
    "grahame_charge",
    "henderson_potential",
    "series_resistance_flux",
    "slotboom_flux",
]


def gouy_chapman(
    x: np.ndarray,
    surface_potential: float,
    concentration: float,
    *,
    valence: int = 1,
    permittivity: float = 78.46,
    temperature: float = 298.15,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gouy–Chapman diffuse layer of a symmetric z:z electrolyte at a flat electrode.

    φ(x) = (4 V_T / z) artanh[tanh(z φ0 / (4 V_T)) exp(−x/λ_D)],
    c_± = c exp(∓ z φ / V_T), with λ_D the Debye length of the electrolyte.

    Parameters
    ----------
    x : array_like
        Distance from the electrode (m), ≥ 0.
    surface_potential : float
        Potential φ0 at x = 0 relative to the bulk (V).
    concentration : float
        Bulk concentration of the salt (mol/m³).
    valence : int
        z of the z:z electrolyte (e).
    permittivity : float
        Relative permittivity (dimensionless).
    temperature : float
        Temperature (K).

    Returns
    -------
    phi, c_cation, c_anion : ndarray
        Potential (V) and concentrations (mol/m³) at ``x``.
    """
    x = np.asarray(x, dtype=float)
    vt = thermal_voltage(temperature)
    lam = debye_length(
        [concentration, concentration], [valence, -valence], permittivity, temperature
    )
    y = (4.0 / valence) * np.arctanh(
        np.tanh(valence * surface_potential / (4 * vt)) * np.exp(-x / lam)
    )
    return y * vt, concentration * np.exp(-valence * y), concentration * np.exp(valence * y)


def grahame_charge(
    surface_potential: float,
    concentration: float,
    *,
    valence: int = 1,
    permittivity: float = 78.46,
    temperature: float = 298.15,
) -> float:
    """Grahame equation: diffuse-layer charge σ = sqrt(8 ε0 εr RT c) sinh(z φ0 / (2 V_T)) (C/m²).

    σ is the charge on the electrode (minus the charge in the diffuse layer), per unit area.
    Units as in :func:`gouy_chapman`.
    """
    vt = thermal_voltage(temperature)
    eps = EPSILON_0 * permittivity
    return float(
        np.sqrt(8 * eps * GAS_CONSTANT * temperature * concentration)
        * np.sinh(valence * surface_potential / (2 * vt))
    )


def ghk_flux(
    diffusion: float,
    charge: int,
    c_left: float,
    c_right: float,
    voltage: float,
    thickness: float,
    temperature: float = 298.15,
) -> float:
    """Goldman–Hodgkin–Katz flux through a membrane in a constant field (mol m⁻² s⁻¹).

    J = (D/d) z v (c_L − c_R e^{−z v}) / (1 − e^{−z v}),  v = (φ_L − φ_R) / V_T,
    positive from left to right.

    Parameters
    ----------
    diffusion : float
        Diffusion coefficient in the membrane (m²/s).
    charge : int
        Charge number z (e).
    c_left, c_right : float
        Concentrations just inside the membrane at its two faces (mol/m³).
    voltage : float
        φ_left − φ_right (V).
    thickness : float
        Membrane thickness d (m).
    temperature : float
        Temperature (K).
    """
    zv = charge * voltage / thermal_voltage(temperature)
    if abs(zv) < 1e-8:  # the limit zv → 0 is Fick's law
        return diffusion * (c_left - c_right) / thickness
    return float(diffusion / thickness * zv * (c_left - c_right * np.exp(-zv)) / -np.expm1(-zv))


def ghk_voltage(
    permeabilities: Sequence[float],
    charges: Sequence[int],
    c_left: Sequence[float],
    c_right: Sequence[float],
    temperature: float = 298.15,
) -> float:
    """GHK voltage equation: reversal potential φ_L − φ_R (V) for monovalent ions.

    V = V_T ln[(Σ_cat P c_R + Σ_an P c_L) / (Σ_cat P c_L + Σ_an P c_R)].

    Parameters
    ----------
    permeabilities : sequence of float
        Permeabilities P_i = D_i/d (m/s); only their ratios matter.
    charges : sequence of int
        +1 or −1 each.
    c_left, c_right : sequence of float
        Concentrations on the two sides (mol/m³).
    temperature : float
        Temperature (K).
    """
    p, z = np.asarray(permeabilities, float), np.asarray(charges)
    cl, cr = np.asarray(c_left, float), np.asarray(c_right, float)
    if not np.all(np.abs(z) == 1):
        raise ValueError("the GHK voltage equation holds for monovalent ions only (z = ±1)")
    cat, an = z > 0, z < 0
    num = np.sum(p[cat] * cr[cat]) + np.sum(p[an] * cl[an])
    den = np.sum(p[cat] * cl[cat]) + np.sum(p[an] * cr[an])
    return float(thermal_voltage(temperature) * np.log(num / den))


def henderson_potential(
    charges: Sequence[int],
    diffusion: Sequence[float],
    c_left: Sequence[float],
    c_right: Sequence[float],
    temperature: float = 298.15,
) -> float:
    """Henderson liquid-junction potential φ_R − φ_L (V), linear mixing of the two solutions.

    Δφ = −V_T (Σ z_i D_i Δc_i / Σ z_i² D_i Δc_i) ln(Σ z_i² D_i c_i^R / Σ z_i² D_i c_i^L),
    Δc = c^R − c^L. For a single binary electrolyte it equals Planck's result,
    Δφ = −V_T (t₊ − t₋) ln(c^R/c^L) (1:1), whatever the concentration profile.

    Parameters
    ----------
    charges : sequence of int
        Charge numbers (e).
    diffusion : sequence of float
        Diffusion coefficients (m²/s) (mobilities u_i = D_i / RT).
    c_left, c_right : sequence of float
        Concentrations on the two sides (mol/m³).
    temperature : float
        Temperature (K).
    """
    z, d = np.asarray(charges, float), np.asarray(diffusion, float)
    cl, cr = np.asarray(c_left, float), np.asarray(c_right, float)
    dc = cr - cl
    a = np.sum(z * d * dc)
    b = np.sum(z**2 * d * dc)
    gl, gr = np.sum(z**2 * d * cl), np.sum(z**2 * d * cr)
    vt = thermal_voltage(temperature)
    if abs(b) < 1e-300:
        return 0.0
    return float(-vt * a / b * np.log(gr / gl))


def slotboom_flux(
    diffusion: Callable[[np.ndarray], np.ndarray],
    psi: Callable[[np.ndarray], np.ndarray],
    a: float,
    b: float,
    c_left: float,
    c_right: float,
    breakpoints: Sequence[float] | None = None,
) -> float:
    """Steady 1D Nernst–Planck flux for a given driving potential (mol m⁻² s⁻¹, left → right).

    With J = −D (c′ + c ψ′) and ψ = z φ/V_T + F_i/RT (electrostatic plus potential of mean
    force, in units of kT), J e^{ψ} / D = −(c e^{ψ})′, so

    J = (c_L e^{ψ(a)} − c_R e^{ψ(b)}) / ∫_a^b e^{ψ(z)} / D(z) dz.

    ψ = 0 is the series-resistance (Fick) result, constant D with linear ψ is GHK.

    Parameters
    ----------
    diffusion : callable
        D(z) (m²/s) for z in metres.
    psi : callable
        ψ(z), dimensionless (kT units).
    a, b : float
        Ends of the interval (m).
    c_left, c_right : float
        Concentrations at ``a`` and ``b`` (mol/m³).
    breakpoints : sequence of float, optional
        Points where D or ψ have kinks or steps (for the quadrature).
    """
    shift = max(psi(np.array([a]))[0], psi(np.array([b]))[0])  # keeps e^ψ finite

    def integrand(z: float) -> float:
        zz = np.array([z])
        return float(np.exp(psi(zz)[0] - shift) / diffusion(zz)[0])

    pts = None if breakpoints is None else [p for p in breakpoints if a < p < b]
    res, _ = integrate.quad(integrand, a, b, points=pts, limit=500, epsabs=0, epsrel=1e-12)
    num = c_left * np.exp(psi(np.array([a]))[0] - shift) - c_right * np.exp(
        psi(np.array([b]))[0] - shift
    )
    return float(num / res)


def series_resistance_flux(
    z: Sequence[float], diffusion: Sequence[float], c_left: float, c_right: float
) -> float:
    """Steady Fick flux through a layered medium with piecewise-linear D(z) (mol m⁻² s⁻¹).

    J = (c_L − c_R) / R with the diffusion resistance R = ∫ dz / D(z) integrated exactly
    over each linear segment: Δz ln(D_b/D_a)/(D_b − D_a) (Δz/D for constant D), i.e. the
    layers add like resistors in series.

    Parameters
    ----------
    z : sequence of float
        Increasing grid (m) on which D is given (linear in between).
    diffusion : sequence of float
        D at the grid points (m²/s).
    c_left, c_right : float
        Concentrations at the two ends (mol/m³).
    """
    z, d = np.asarray(z, float), np.asarray(diffusion, float)
    dz = np.diff(z)
    da, db = d[:-1], d[1:]
    same = np.isclose(da, db, rtol=1e-12, atol=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        seg = np.where(same, dz / da, dz * np.log(db / da) / (db - da))
    return float((c_left - c_right) / np.sum(seg))


def cottrell_charge(
    diffusion: float, concentration_step: float, time: np.ndarray | float
) -> np.ndarray | float:
    """Amount that has entered a semi-infinite medium after a concentration step (mol/m²).

    N(t) = 2 Δc sqrt(D t / π), the time integral of the Cottrell flux Δc sqrt(D/(π t)).

    Parameters
    ----------
    diffusion : float
        D (m²/s).
    concentration_step : float
        Surface concentration minus initial concentration (mol/m³).
    time : float or ndarray
        Time since the step (s).
    """
    return 2 * concentration_step * np.sqrt(diffusion * np.asarray(time) / np.pi)


def butler_volmer_current(
    overpotential: np.ndarray | float,
    exchange_current_density: float,
    alpha_anodic: float = 0.5,
    alpha_cathodic: float = 0.5,
    temperature: float = 298.15,
    concentration_ratio: np.ndarray | float = 1.0,
) -> np.ndarray | float:
    """Butler–Volmer current density (A/m², anodic positive).

    i = i0 [exp(α_a η / V_T) − (c_s/c*) exp(−α_c η / V_T)].

    Parameters
    ----------
    overpotential : float or ndarray
        η (V).
    exchange_current_density : float
        i0 (A/m²).
    alpha_anodic, alpha_cathodic : float
        Transfer coefficients (dimensionless).
    temperature : float
        Temperature (K).
    concentration_ratio : float or ndarray
        Surface over reference concentration of the oxidised species, c_s/c*.
    """
    eta = np.asarray(overpotential, float) / thermal_voltage(temperature)
    return exchange_current_density * (
        np.exp(alpha_anodic * eta) - concentration_ratio * np.exp(-alpha_cathodic * eta)
    )
