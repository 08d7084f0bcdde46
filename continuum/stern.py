"""Stern layer from MD: the charge separation and the capacitance it implies (no DOLFINx).

At a charged metal the counter-charge of the electrolyte sits a distance d from the metal's
image plane; if the space between is a dielectric of relative permittivity ε_r(z) the two
charge sheets form a capacitor of capacitance per area

    1/C_S = ∫_0^d dz / (ε0 ε_r(z))      (= d / (ε0 ε_r) for constant ε_r).

:func:`charge_separation` measures d as the centroid of the net ionic charge of a
:class:`TransportProfile`; :func:`stern_capacitance_from_profile` turns it into C_S for
:meth:`NernstPlanckProblem.set_stern_layer` or ``ButlerVolmer(stern_capacitance=...)``.
"""

from __future__ import annotations

import numpy as np

from .constants import EPSILON_0, FARADAY
from .profile import TransportProfile

__all__ = ["charge_separation", "stern_capacitance", "stern_capacitance_from_profile"]


def _positive(name: str, value, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number ({unit}), got {type(value).__name__}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0 ({unit}), got {value}")
    return float(value)


def stern_capacitance(separation: float, permittivity: float) -> float:
    """C_S = ε0 ε_r / d (F/m²) of a charge separation d across a uniform dielectric.

    Parameters
    ----------
    separation : float
        d (m), > 0, e.g. 3e-10.
    permittivity : float
        Relative permittivity ε_r of the Stern layer (dimensionless), > 0.
    """
    d = _positive("separation", separation, "m")
    eps = _positive("permittivity", permittivity, "relative")
    return EPSILON_0 * eps / d


def _window(profile: TransportProfile, z_origin, z_max):
    z0 = float(profile.z[0]) if z_origin is None else float(z_origin)
    z1 = float(profile.z[-1]) if z_max is None else float(z_max)
    if not (np.isfinite(z0) and np.isfinite(z1) and z1 > z0):
        raise ValueError(f"need z_max > z_origin (m), got z_origin={z0}, z_max={z1}")
    inner = profile.z[(profile.z > z0) & (profile.z < z1)]
    return np.concatenate([[z0], inner, [z1]])


def charge_separation(
    profile: TransportProfile,
    *,
    z_origin: float | None = None,
    z_max: float | None = None,
) -> float:
    """Distance d (m) from ``z_origin`` to the centroid of the net ionic charge.

    ρ(z) = F Σ_i z_i c_i(z) is integrated over [z_origin, z_max] (trapezoid rule on the
    profile grid, linearly interpolated at the ends):
    d = ∫ (z − z_origin) ρ dz / ∫ ρ dz.

    Parameters
    ----------
    profile : TransportProfile
        MD profile (SI).
    z_origin : float, optional
        The metal's image plane (m); default the first grid point.
    z_max : float, optional
        End of the interfacial region (m), where the electrolyte is neutral again; default
        the last grid point.

    Raises
    ------
    ValueError
        When the region carries no net ionic charge (an uncharged interface has no charge
        separation: give the Stern capacitance directly).
    """
    if not isinstance(profile, TransportProfile):
        raise TypeError(f"profile must be a TransportProfile, got {type(profile).__name__}")
    z = _window(profile, z_origin, z_max)
    c = np.array([profile.interpolate("concentration", z, species=s) for s in profile.species])
    rho = FARADAY * np.asarray(profile.charges, float) @ c
    q = float(np.trapezoid(rho, z))
    scale = FARADAY * float(np.trapezoid(np.abs(profile.charges) @ np.abs(c), z))
    if not abs(q) > 1e-6 * max(scale, 1e-300):
        raise ValueError(
            "the interfacial region carries no net ionic charge (|Q| < 1e-6 of the ionic "
            "content), so there is no charge separation; give the Stern capacitance directly"
        )
    return float(np.trapezoid((z - z[0]) * rho, z)) / q


def stern_capacitance_from_profile(
    profile: TransportProfile,
    *,
    z_origin: float | None = None,
    z_max: float | None = None,
    permittivity: float | None = None,
) -> float:
    """Stern capacitance C_S (F/m²) from the measured charge separation of a profile.

    1/C_S = ∫_{z_origin}^{z_origin + d} dz / (ε0 ε_r(z)) with d from
    :func:`charge_separation` and ε_r(z) the profile's permittivity, or the constant
    ``permittivity``.

    Parameters
    ----------
    profile : TransportProfile
        MD profile (SI).
    z_origin, z_max : float, optional
        As in :func:`charge_separation` (m).
    permittivity : float, optional
        Relative permittivity of the layer; required when the profile has none.
    """
    d = charge_separation(profile, z_origin=z_origin, z_max=z_max)
    if not d > 0:
        raise ValueError(
            f"the net ionic charge's centroid lies at {d:g} m, not beyond z_origin: check "
            "z_origin (the metal's image plane) and z_max"
        )
    if permittivity is not None:
        return stern_capacitance(d, permittivity)
    if profile.permittivity is None:
        raise ValueError(
            "this profile has no permittivity data: pass permittivity= (relative, e.g. 6-10 "
            "for the first water layer)"
        )
    z0 = float(profile.z[0]) if z_origin is None else float(z_origin)
    zz = _window(profile, z0, z0 + d)
    zz = np.union1d(zz, np.linspace(z0, z0 + d, 201))
    inv = 1.0 / (EPSILON_0 * profile.interpolate("permittivity", zz))
    return 1.0 / float(np.trapezoid(inv, zz))
