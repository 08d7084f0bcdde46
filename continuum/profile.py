"""``TransportProfile``: the hand-off from molecular dynamics to the continuum solver.

Plain data in SI units, written by :mod:`multiscale.extract` and read by
:class:`continuum.NernstPlanckProblem`. Stored in HDF5 (h5py) so that it can be inspected
with any HDF5 tool; every dataset carries a ``units`` attribute.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["TransportProfile"]

FORMAT_VERSION = 1

# (attribute, units, per-species?) for every array the profile may carry
_ARRAYS: tuple[tuple[str, str, bool], ...] = (
    ("concentration", "mol/m^3", True),
    ("concentration_err", "mol/m^3", True),
    ("diffusion", "m^2/s", True),
    ("diffusion_err", "m^2/s", True),
    ("diffusion_parallel", "m^2/s", True),
    ("diffusion_parallel_err", "m^2/s", True),
    ("free_energy", "J/mol", True),
    ("free_energy_err", "J/mol", True),
    ("potential", "V", False),
    ("potential_err", "V", False),
    ("field", "V/m", False),
    ("field_err", "V/m", False),
    ("permittivity", "1 (relative)", False),
    ("permittivity_parallel", "1 (relative)", False),
)
_REQUIRED_DATASETS = ("z", "species", "charges", "concentration", "diffusion")
_REQUIRED_ATTRS = ("format_version", "temperature_K", "provenance")


@dataclass
class TransportProfile:
    """Position-dependent transport data along the surface normal z, in SI units.

    Parameters
    ----------
    z : array_like, shape (n,)
        Strictly increasing grid along the surface normal (m).
    species : list of str
        Species names, e.g. ``["Na+", "Cl-"]``.
    charges : array_like of int, shape (n_species,)
        Charge numbers (units of the elementary charge e).
    concentration : array_like, shape (n_species, n)
        Concentrations c_i(z) (mol/m^3; 1 mol/L = 1000 mol/m^3).
    diffusion : array_like, shape (n_species, n)
        Diffusion coefficients along z, D_i(z) (m^2/s); the one that enters a 1D
        Nernst–Planck equation across the interface.
    temperature : float
        Temperature (K).
    potential : array_like, shape (n,), optional
        Electrostatic potential φ(z) (V).
    field : array_like, shape (n,), optional
        Electric field E_z(z) = −dφ/dz (V/m).
    free_energy : array_like, shape (n_species, n), optional
        Potential of mean force F_i(z) (J/mol), e.g. −RT ln(c_i/c_i^bulk).
    diffusion_parallel : array_like, shape (n_species, n), optional
        In-plane diffusion coefficients D∥,i(z) (m^2/s).
    permittivity : array_like, shape (n,), optional
        Relative permittivity ε_r(z) (dimensionless); with ``permittivity_parallel`` it is
        the component across the surface, ε⊥(z).
    *_err : array_like, optional
        One standard error of the quantity of the same name, same shape and units.
    provenance : dict
        Where the data came from (code versions, trajectories, level of theory, ...);
        JSON-serialisable.
    permittivity_parallel : array_like, shape (n,), optional
        In-plane relative permittivity ε∥(z) (dimensionless); ``permittivity`` is then
        ε⊥(z). The continuum solver builds the tensor ε⊥ n⊗n + ε∥ (I − n⊗n) from the two
        on 2D/3D meshes.
    """

    z: np.ndarray
    species: list[str]
    charges: np.ndarray
    concentration: np.ndarray
    diffusion: np.ndarray
    temperature: float = 298.15
    potential: np.ndarray | None = None
    field: np.ndarray | None = None
    free_energy: np.ndarray | None = None
    diffusion_parallel: np.ndarray | None = None
    permittivity: np.ndarray | None = None
    concentration_err: np.ndarray | None = None
    diffusion_err: np.ndarray | None = None
    diffusion_parallel_err: np.ndarray | None = None
    free_energy_err: np.ndarray | None = None
    potential_err: np.ndarray | None = None
    field_err: np.ndarray | None = None
    provenance: dict = dataclasses.field(default_factory=dict)
    # last, so that positional construction of older code keeps working
    permittivity_parallel: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.z = np.asarray(self.z, dtype=float)
        if self.z.ndim != 1 or self.z.size < 2:
            raise ValueError(f"z must be a 1D grid of at least 2 points, got shape {self.z.shape}")
        if not np.all(np.isfinite(self.z)) or np.any(np.diff(self.z) <= 0):
            raise ValueError("z must be finite and strictly increasing (m)")
        if isinstance(self.species, str):
            raise TypeError("species must be a list of names, e.g. ['Na+', 'Cl-']")
        self.species = [str(s) for s in self.species]
        if len(set(self.species)) != len(self.species):
            raise ValueError(f"species names must be unique, got {self.species}")
        charges = np.asarray(self.charges)
        if charges.shape != (len(self.species),):
            raise ValueError(
                f"charges must have one entry per species ({len(self.species)}), "
                f"got shape {charges.shape}"
            )
        if not np.all(np.equal(np.round(charges), charges)):
            raise ValueError(f"charges must be whole numbers of e, got {charges.tolist()}")
        self.charges = charges.astype(int)
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be > 0 K, got {self.temperature}")
        n_species, n = len(self.species), self.z.size
        for name, _units, per_species in _ARRAYS:
            value = getattr(self, name)
            if value is None:
                if name in ("concentration", "diffusion"):
                    raise ValueError(f"{name} is required")
                continue
            arr = np.asarray(value, dtype=float)
            shape = (n_species, n) if per_species else (n,)
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or infinite values")
            setattr(self, name, arr)
        if np.any(self.concentration < 0):
            raise ValueError("concentration must be >= 0 (mol/m^3)")
        if np.any(self.diffusion <= 0):
            raise ValueError("diffusion must be > 0 everywhere (m^2/s)")
        if self.permittivity_parallel is not None and self.permittivity is None:
            raise ValueError(
                "permittivity_parallel (in-plane epsilon) needs permittivity (epsilon across "
                "the surface) too: give both, or neither"
            )
        for name in ("permittivity", "permittivity_parallel"):
            value = getattr(self, name)
            if value is not None and np.any(value <= 0):
                raise ValueError(f"{name} must be > 0 (relative permittivity)")
        json.dumps(self.provenance)  # fail early on non-serialisable provenance

    # ------------------------------------------------------------------ access
    def index(self, species: str) -> int:
        """Return the row of ``species`` in the per-species arrays."""
        try:
            return self.species.index(species)
        except ValueError:
            raise KeyError(f"unknown species {species!r}; known: {self.species}") from None

    def interpolate(self, name: str, z: np.ndarray, species: str | None = None) -> np.ndarray:
        """Linearly interpolate a profile onto positions ``z`` (m).

        Values beyond the ends of the grid are held constant (the bulk value), which is
        what a continuum domain larger than the MD box needs.

        Parameters
        ----------
        name : str
            Attribute name, e.g. ``"diffusion"`` or ``"potential"``.
        z : array_like
            Positions (m).
        species : str, optional
            Species name, required for per-species arrays.
        """
        data = getattr(self, name, None)
        if data is None:
            raise ValueError(f"this profile has no {name!r} data")
        if data.ndim == 2:
            if species is None:
                raise ValueError(f"{name!r} is per species: pass species= one of {self.species}")
            data = data[self.index(species)]
        return np.interp(np.asarray(z, dtype=float), self.z, data)

    # ------------------------------------------------------------------ HDF5
    def write(self, path: str | Path) -> Path:
        """Write the profile to an HDF5 file (overwritten); return its path.

        Call it from one MPI rank only (the data are small and not distributed).
        """
        import h5py

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with h5py.File(tmp, "w") as fh:
            fh.attrs["format"] = "multiscale TransportProfile"
            fh.attrs["format_version"] = FORMAT_VERSION
            fh.attrs["temperature_K"] = float(self.temperature)
            fh.attrs["provenance"] = json.dumps(self.provenance)
            fh.create_dataset("z", data=self.z).attrs["units"] = "m"
            fh.create_dataset("species", data=np.array(self.species, dtype="S"))
            fh.create_dataset("charges", data=self.charges).attrs["units"] = "e"
            for name, units, _ in _ARRAYS:
                value = getattr(self, name)
                if value is not None:
                    fh.create_dataset(name, data=value).attrs["units"] = units
        tmp.replace(path)  # atomic: a crash never leaves a half-written profile
        return path

    @classmethod
    def read(cls, path: str | Path) -> TransportProfile:
        """Read a profile written by :meth:`write`.

        Parameters
        ----------
        path : str or Path
            The HDF5 file.

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        ValueError
            The file is not HDF5, not a TransportProfile, lacks a required dataset or
            attribute, or holds invalid data (NaN, non-increasing z, D <= 0, ...); the
            message names the path.
        """
        import h5py

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no TransportProfile file at {path}")
        expected = "a TransportProfile HDF5 file written by TransportProfile.write"
        if not path.is_file() or not h5py.is_hdf5(path):
            raise ValueError(f"{path} is not an HDF5 file; expected {expected}")
        try:
            with h5py.File(path, "r") as fh:
                if fh.attrs.get("format") != "multiscale TransportProfile":
                    raise ValueError(f"{path} is not a TransportProfile HDF5 file")
                missing = [k for k in _REQUIRED_ATTRS if k not in fh.attrs]
                missing += [k for k in _REQUIRED_DATASETS if k not in fh]
                if missing:
                    raise ValueError(
                        f"{path} lacks {', '.join(missing)}: a TransportProfile needs the "
                        f"datasets {', '.join(_REQUIRED_DATASETS)} and the attributes "
                        f"{', '.join(_REQUIRED_ATTRS)}; rewrite it with TransportProfile.write"
                    )
                version = int(fh.attrs["format_version"])
                if version > FORMAT_VERSION:
                    raise ValueError(
                        f"{path} has format version {version}; this code reads up to "
                        f"{FORMAT_VERSION}: update the package"
                    )
                kwargs = {
                    "z": fh["z"][()],
                    "species": [
                        s.decode() if isinstance(s, bytes) else str(s) for s in fh["species"][()]
                    ],
                    "charges": fh["charges"][()],
                    "temperature": float(fh.attrs["temperature_K"]),
                    "provenance": json.loads(fh.attrs["provenance"]),
                }
                for name, _units, _ in _ARRAYS:
                    if name in fh:
                        kwargs[name] = fh[name][()]
        except (OSError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path} could not be read as {expected}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: the provenance attribute is not valid JSON ({exc})") from exc
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: {exc}") from exc
