"""Position-dependent coefficients from a :class:`TransportProfile` (MD) on a mesh.

A profile gives D_i(z), φ(z), F_i(z), ε_r(z) along the surface normal of an MD box.
On a continuum mesh these become functions of position: of the coordinate itself in 1D,
or of the distance to an electrode surface in 2D/3D (:func:`continuum.distance_to_boundary`).
Beyond the profile's grid the bulk values (the end points) are held.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .profile import TransportProfile

__all__ = ["normal_from_distance", "profile_coefficient"]

# profile arrays that can become coefficients, and the unit of the values returned
_UNITS = {
    "diffusion": "m^2/s",
    "diffusion_parallel": "m^2/s",
    "free_energy": "J/mol",
    "potential": "V",
    "permittivity": "1",
    "permittivity_parallel": "1",
    "concentration": "mol/m^3",
}


def profile_coefficient(
    profile: TransportProfile,
    name: str,
    species: str | None = None,
    *,
    distance: Callable[[np.ndarray], np.ndarray] | None = None,
    z_origin: float | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """A profile quantity as a function of mesh coordinates, for the solver's coefficients.

    Parameters
    ----------
    profile : TransportProfile
        The MD profile (SI).
    name : str
        ``"diffusion"``, ``"free_energy"``, ``"potential"``, ``"permittivity"``,
        ``"permittivity_parallel"``, ``"concentration"`` or ``"diffusion_parallel"``.
    species : str, optional
        Species name, for per-species quantities.
    distance : callable, optional
        ``distance(x)`` (m) of the points ``x`` (shape (3, n), m) from the electrode surface,
        e.g. ``distance_to_boundary(domain, "metal")``. Default: the first coordinate
        ``x[0]`` (a 1D mesh along z).
    z_origin : float, optional
        Profile coordinate z (m) that lies at distance 0 (default: the profile's first grid
        point, ``profile.z[0]``).

    Returns
    -------
    callable
        ``f(x)`` → values (SI units of the quantity) at the points ``x``.
    """
    if not isinstance(profile, TransportProfile):
        raise TypeError(f"profile must be a TransportProfile, got {type(profile).__name__}")
    if name not in _UNITS:
        raise ValueError(f"cannot make a coefficient of {name!r}; choose one of {sorted(_UNITS)}")
    if getattr(profile, name) is None:
        raise ValueError(f"this profile has no {name!r} data")
    if getattr(profile, name).ndim == 2 and species is None:
        raise ValueError(f"{name!r} is per species: pass species= one of {profile.species}")
    if species is not None:
        profile.index(species)  # KeyError with the known names
    z0 = float(profile.z[0]) if z_origin is None else float(z_origin)

    def coefficient(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        d = x[0] if distance is None else np.asarray(distance(x), dtype=float)
        return profile.interpolate(name, z0 + d, species=species)

    coefficient.__doc__ = f"{name} ({_UNITS[name]}) from a TransportProfile"
    return coefficient


def normal_from_distance(
    distance: Callable[[np.ndarray], np.ndarray], step: float
) -> Callable[[np.ndarray], np.ndarray]:
    """The unit surface normal n = ∇d / ‖∇d‖ of a distance function, by central differences.

    For the tensor diffusion D⊥ n⊗n + D∥ (I − n⊗n) of a curved interface (a pit wall) whose
    coefficients are functions of ``distance`` (see :func:`profile_coefficient`).

    Parameters
    ----------
    distance : callable
        ``distance(x)`` (m) of the points ``x`` (shape (3, n), m), e.g.
        :func:`continuum.distance_to_boundary`.
    step : float
        Finite-difference step (m), small against the mesh size (e.g. 1e-3 of a cell).

    Returns
    -------
    callable
        ``n(x)`` → array (3, n) of unit vectors pointing away from the surface; where the
        gradient vanishes (a ridge of the distance) the first axis is returned.
    """
    if not callable(distance):
        raise TypeError("distance must be a function of x (m)")
    if isinstance(step, bool) or not isinstance(step, int | float) or not step > 0:
        raise ValueError(f"step must be a number > 0 (m), got {step!r}")
    h = float(step)

    def normal(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        g = np.zeros((3, x.shape[1]))
        for a in range(3):
            e = np.zeros((3, 1))
            e[a] = h
            g[a] = (np.asarray(distance(x + e)) - np.asarray(distance(x - e))) / (2 * h)
        norm = np.linalg.norm(g, axis=0)
        flat = ~(norm > 1e-6)
        g[:, flat] = np.array([[1.0], [0.0], [0.0]])
        norm[flat] = 1.0
        return g / norm

    return normal
