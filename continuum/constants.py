"""Physical constants (CODATA, from :mod:`scipy.constants`) and the derived scales of PNP.

Everything here is SI: the continuum package takes and returns SI quantities and works in
dimensionless variables only inside the solver.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import constants as _c

__all__ = [
    "EPSILON_0",
    "FARADAY",
    "GAS_CONSTANT",
    "debye_length",
    "ionic_strength",
    "thermal_voltage",
]

FARADAY: float = _c.physical_constants["Faraday constant"][0]  # C/mol
GAS_CONSTANT: float = _c.R  # J/(mol K)
EPSILON_0: float = _c.epsilon_0  # F/m


def thermal_voltage(temperature: float) -> float:
    """Thermal voltage RT/F (V) at ``temperature`` (K); 25.69 mV at 298.15 K."""
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be > 0 K, got {temperature}")
    return GAS_CONSTANT * temperature / FARADAY


def ionic_strength(concentrations: Sequence[float], charges: Sequence[int]) -> float:
    """Twice the ionic strength, Σ z_i² c_i (mol/m³), the quantity in the Debye length.

    Parameters
    ----------
    concentrations : sequence of float
        Bulk concentrations c_i (mol/m³).
    charges : sequence of int
        Charge numbers z_i (e).
    """
    c = np.asarray(concentrations, dtype=float)
    z = np.asarray(charges, dtype=float)
    if c.shape != z.shape:
        raise ValueError(f"one charge per concentration: got {c.shape} and {z.shape}")
    return float(np.sum(z**2 * c))


def debye_length(
    concentrations: Sequence[float],
    charges: Sequence[int],
    permittivity: float = 78.46,
    temperature: float = 298.15,
) -> float:
    """Debye length λ_D = sqrt(ε0 εr RT / (F² Σ z_i² c_i)) (m).

    Parameters
    ----------
    concentrations : sequence of float
        Bulk concentrations (mol/m³); 0.1 mol/L = 100 mol/m³.
    charges : sequence of int
        Charge numbers (e).
    permittivity : float
        Relative permittivity εr (dimensionless).
    temperature : float
        Temperature (K).
    """
    s = ionic_strength(concentrations, charges)
    if s <= 0:
        raise ValueError("the Debye length needs at least one charged species with c > 0")
    if permittivity <= 0:
        raise ValueError(f"permittivity must be > 0 (relative), got {permittivity}")
    return float(np.sqrt(EPSILON_0 * permittivity * GAS_CONSTANT * temperature / (FARADAY**2 * s)))
