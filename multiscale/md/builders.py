"""Starting structures for ML-MD: aqueous electrolyte boxes and metal–water interfaces.

Concentration convention (used everywhere in this module): a concentration ``c`` in mol/L is
moles of salt per litre of *water volume*, the volume the ``n_water`` molecules occupy as pure
water at the given density, not the box volume (which also holds the ions and, for an
interface, the metal slab). So ``n_salt = round(c · N_A · V_water)``. The box is then made
larger than ``V_water`` by the salt's apparent molar volume at infinite dilution, so that the
water keeps its density.

Molecules are inserted one by one at random positions with random orientations drawn from a
seeded :class:`numpy.random.Generator` (same seed, same structure), rejecting trials that
bring atoms closer than ``min_distance`` to atoms already placed. The result is a sensible
start for a short equilibration, not an equilibrated liquid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import bcc110, fcc100, fcc111, molecule
from ase.calculators.calculator import CalculationFailed, Calculator, all_changes
from ase.data import atomic_numbers, reference_states
from ase.neighborlist import neighbor_list
from ase.units import _Nav
from scipy.spatial.transform import Rotation

__all__ = [
    "GEOMETRIES",
    "SALTS",
    "SLABS",
    "Salt",
    "WallCalculator",
    "build_electrolyte",
    "build_interface",
    "build_sandwich",
    "build_wall_interface",
    "check_min_distance",
    "n_salt_for",
]

WATER_MOLAR_MASS = 18.015  # g/mol
LITRE_IN_A3 = 1e27  # Å^3 per L


@dataclass(frozen=True)
class Salt:
    """A fully dissociated salt ``cation_{nu_cation} anion_{nu_anion}``.

    Attributes
    ----------
    cation, anion : str
        Element symbols of the (monatomic) ions.
    nu_cation, nu_anion : int
        Ions per formula unit (charge neutrality: ``nu_cation·z_cation = nu_anion·|z_anion|``).
    charges : tuple of int
        Formal charges (e) of cation and anion; stored in ``atoms.arrays["initial_charges"]``.
    apparent_molar_volume : float
        Apparent molar volume at infinite dilution, cm³/mol (298 K), used to size the box.
    solubility : float
        Saturation concentration at 298 K in mol per litre of water (≈ mol/kg); higher
        concentrations are rejected as impossible.
    """

    cation: str
    anion: str
    nu_cation: int
    nu_anion: int
    charges: tuple[int, int]
    apparent_molar_volume: float
    solubility: float


# Apparent molar volumes: Millero, Chem. Rev. 71, 147 (1971); solubilities: CRC Handbook.
SALTS: dict[str, Salt] = {
    "NaCl": Salt("Na", "Cl", 1, 1, (1, -1), 16.6, 6.1),
    "KCl": Salt("K", "Cl", 1, 1, (1, -1), 26.8, 4.8),
    "LiCl": Salt("Li", "Cl", 1, 1, (1, -1), 17.0, 19.6),
    "CaCl2": Salt("Ca", "Cl", 1, 2, (2, -1), 17.8, 7.3),
}

# facet -> (ase.build function, crystal structure the element must have)
SLABS = {"fcc111": fcc111, "fcc100": fcc100, "bcc110": bcc110}
MIN_LAYERS = 3


def _get_salt(salt: str) -> Salt:
    if not isinstance(salt, str) or salt not in SALTS:
        raise ValueError(f"unknown salt {salt!r}; choose one of {sorted(SALTS)}")
    return SALTS[salt]


def _real(name: str, value, unit: str, low: float, strict: bool) -> float:
    """A finite real number ``> low`` (``strict``) or ``>= low``, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number ({unit}), got {value!r}")
    ok = np.isfinite(value) and (value > low if strict else value >= low)
    if not ok:
        raise ValueError(
            f"{name} must be a finite number {'>' if strict else '>='} {low:g} {unit}, "
            f"got {value!r}"
        )
    return float(value)


def _int(name: str, value, low: int) -> int:
    """An integer ``>= low`` (bool and float refused), as an int."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    return int(value)


def _water_volume_A3(n_water: int, density: float) -> float:
    """Volume (Å^3) of ``n_water`` molecules of pure water at ``density`` (g/cm^3)."""
    return n_water * WATER_MOLAR_MASS / (density * _Nav) * 1e24


def n_salt_for(concentration: float, n_water: int, salt: str = "NaCl", density: float = 0.997):
    """Number of formula units of ``salt`` giving ``concentration`` with ``n_water`` waters.

    Parameters
    ----------
    concentration : float
        Salt concentration, mol per litre of water volume (see module docstring).
    n_water : int
        Number of water molecules.
    salt : str
        Key of :data:`SALTS`.
    density : float
        Density of pure water, g/cm^3, defining the water volume.

    Returns
    -------
    int
        ``round(c · N_A · V_water)``.

    Raises
    ------
    ValueError
        Negative, non-finite or supersaturated concentration; a positive concentration too
        low to give one formula unit for this many waters.
    """
    s = _get_salt(salt)
    concentration = _real("concentration", concentration, "mol/L", 0.0, strict=False)
    n_water = _int("n_water", n_water, 1)
    density = _real("density", density, "g/cm^3", 0.0, strict=True)
    if concentration > s.solubility:
        raise ValueError(
            f"{concentration} mol/L of {salt} is impossible: above its solubility "
            f"(~{s.solubility} mol per L of water at 298 K); choose a lower concentration"
        )
    v_water_L = _water_volume_A3(n_water, density) / LITRE_IN_A3
    n = round(concentration * _Nav * v_water_L)
    if concentration > 0 and n == 0:
        need = int(np.ceil(0.5 / (concentration * _Nav * v_water_L / n_water)))
        raise ValueError(
            f"{concentration} mol/L with {n_water} waters gives less than half a formula unit of "
            f"{salt}; use at least n_water={need} (or a higher concentration)"
        )
    return n


def check_min_distance(atoms: Atoms, min_distance: float = 0.6) -> None:
    """Raise if any two atoms (periodic images included) are closer than ``min_distance``.

    Parameters
    ----------
    atoms : ase.Atoms
        Structure to check (minimum image / all images within the cutoff under PBC).
    min_distance : float
        Smallest allowed interatomic distance, Å.

    Raises
    ------
    ValueError
        Naming the closest offending pair, its distance, and what to do.
    """
    min_distance = _real("min_distance", min_distance, "Å", 0.0, strict=False)
    bad = ~np.isfinite(atoms.positions).all(axis=1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"atom {k} ({atoms[k].symbol}) has a non-finite position "
            f"{atoms.positions[k].tolist()} ({int(bad.sum())} of {len(atoms)} atoms): fix the "
            "structure"
        )
    if len(atoms) < 2 or min_distance == 0:
        return
    i, j, d = neighbor_list("ijd", atoms, min_distance)
    if len(d):
        k = int(np.argmin(d))
        raise ValueError(
            f"atoms {i[k]} ({atoms[i[k]].symbol}) and {j[k]} ({atoms[j[k]].symbol}) overlap: "
            f"{d[k]:.3f} Å apart (< {min_distance} Å); fix the structure (remove duplicates, "
            "check the cell) before running MD"
        )


def _fill(
    atoms: Atoms,
    origin: np.ndarray,
    lengths: np.ndarray,
    n_water: int,
    ions: list[str],
    rng: np.random.Generator,
    min_distance: float,
    centre_distance: float = 2.5,
    max_tries: int = 2000,
) -> Atoms:
    """Add ``n_water`` randomly oriented waters and ``ions`` to ``atoms`` inside a region.

    Random sequential insertion: a molecule's centre (O or ion) is drawn uniformly in the
    region and kept if it is ``centre_distance`` Å from the other centres and a random
    orientation keeps all its atoms ``min_distance`` Å from the atoms already there. Written
    by hand: packmol is not a Python dependency and ase.build has no liquid builder.
    """
    water = molecule("H2O")
    water.positions -= water.positions[0]  # O at the origin
    kinds = ["H2O"] * n_water + list(ions)
    kinds = [kinds[k] for k in rng.permutation(len(kinds))]
    out = atoms.copy()
    centres = Atoms(cell=atoms.cell, pbc=atoms.pbc)
    for kind in kinds:
        for _ in range(max_tries):
            centre = origin + rng.uniform(0.0, 1.0, 3) * lengths
            if len(centres) and not _clear(centres, Atoms("X", [centre]), centre_distance):
                continue
            if kind == "H2O":
                rot = Rotation.random(rng=rng)
                mol = Atoms("OH2", positions=centre + rot.apply(water.positions))
            else:
                mol = Atoms(kind, positions=[centre])
            if len(out) == 0 or _clear(out, mol, min_distance):
                break
        else:
            raise ValueError(
                f"could not place a {kind} {min_distance} Å from its neighbours after "
                f"{max_tries} tries; lower the density or min_distance"
            )
        out += mol
        centres += Atoms("X", [centre])
    return out


def _clear(atoms: Atoms, mol: Atoms, min_distance: float) -> bool:
    """True if no atom of ``mol`` is within ``min_distance`` of ``atoms`` (minimum image)."""
    d = mol.positions[:, None, :] - atoms.positions[None, :, :]
    cell = atoms.cell.array
    inv = np.linalg.inv(cell)
    frac = d @ inv
    frac -= np.round(frac) * atoms.pbc  # minimum image (valid for the orthorhombic cells built)
    d = frac @ cell
    return bool(np.min(np.einsum("ijk,ijk->ij", d, d)) >= min_distance**2)


def _ions(salt: Salt, n_salt: int) -> list[str]:
    return [salt.cation] * (salt.nu_cation * n_salt) + [salt.anion] * (salt.nu_anion * n_salt)


def _set_charges(atoms: Atoms, salt: Salt) -> None:
    q = np.zeros(len(atoms))
    q[atoms.numbers == atomic_numbers[salt.cation]] = salt.charges[0]
    q[atoms.numbers == atomic_numbers[salt.anion]] = salt.charges[1]
    atoms.set_initial_charges(q)


def _add_liquid(
    slab: Atoms,
    origin: np.ndarray,
    lengths: np.ndarray,
    volume: float,
    salt: str | None,
    concentration: float,
    density: float,
    seed: int,
    min_distance: float,
) -> tuple[Atoms, int, int]:
    """Water (+ salt) placed in a box above a slab; return (atoms, n_water, n_salt).

    The number of waters fills ``volume`` (Å^3) at ``density`` (g/cm^3), less the apparent
    volume of the ions, so the water keeps its density; molecules are placed in the box
    ``origin`` + [0, ``lengths``] (Å) and the ions get their formal charges.
    """
    n_water = round(volume * density * 1e-24 * _Nav / WATER_MOLAR_MASS)
    ions: list[str] = []
    n_salt = 0
    if salt is not None:
        s = _get_salt(salt)
        n_salt = n_salt_for(concentration, n_water, salt, density)
        # keep the water at its density: remove the volume the ions take
        n_water -= round(n_salt * s.apparent_molar_volume * density / WATER_MOLAR_MASS)
        n_salt = n_salt_for(concentration, n_water, salt, density)
        ions = _ions(s, n_salt)
    rng = np.random.default_rng(seed)
    atoms = _fill(slab, origin, lengths, n_water, ions, rng, min_distance)
    if salt is not None:
        _set_charges(atoms, SALTS[salt])
    return atoms, n_water, n_salt


def build_electrolyte(
    salt: str = "NaCl",
    concentration: float = 1.0,
    n_water: int = 64,
    density: float = 0.997,
    seed: int = 0,
    min_distance: float = 1.5,
) -> Atoms:
    """A cubic periodic box of water with dissolved salt.

    Parameters
    ----------
    salt : str
        One of :data:`SALTS` ("NaCl", "KCl", "LiCl", "CaCl2").
    concentration : float
        Salt concentration in mol per litre of water volume (not box volume), ≥ 0.
    n_water : int
        Number of water molecules.
    density : float
        Density of the water, g/cm^3 (0.997 at 298 K).
    seed : int
        Seed of the random placement; the same seed gives the same structure.
    min_distance : float
        Smallest distance, Å, between atoms of different molecules at placement.

    Returns
    -------
    ase.Atoms
        Periodic cubic cell; formal ion charges in ``initial_charges``; ``info`` records
        salt, concentration (mol/L of water), n_salt, water and box volumes (Å^3).

    Raises
    ------
    ValueError
        Unknown salt, impossible concentration, too few waters for one formula unit.
    """
    s = _get_salt(salt)
    _int("seed", seed, 0)
    min_distance = _real("min_distance", min_distance, "Å", 0.0, strict=True)
    n_salt = n_salt_for(concentration, n_water, salt, density)
    v_water = _water_volume_A3(n_water, density)
    v_box = v_water + n_salt * s.apparent_molar_volume * 1e24 / _Nav
    length = v_box ** (1 / 3)
    box = Atoms(cell=[length] * 3, pbc=True)
    rng = np.random.default_rng(seed)
    atoms = _fill(
        box, np.zeros(3), np.full(3, length), n_water, _ions(s, n_salt), rng, min_distance
    )
    _set_charges(atoms, s)
    atoms.info.update(
        salt=salt, concentration_mol_per_L_water=concentration, n_salt=n_salt, n_water=n_water,
        water_volume_A3=v_water, box_volume_A3=v_box, seed=seed,
    )  # fmt: skip
    check_min_distance(atoms, 0.5 * min_distance)
    return atoms


def _check_slab_args(metal, facet, size, layers) -> tuple[tuple[int, int], int]:
    """Validate metal, facet, surface size and layer count; return (size, layers)."""
    if not isinstance(facet, str) or facet not in SLABS:
        raise ValueError(f"unknown facet {facet!r}; choose one of {sorted(SLABS)}")
    if not isinstance(metal, str) or metal not in atomic_numbers:
        raise ValueError(f"metal must be an element symbol such as 'Cu' or 'Pt', got {metal!r}")
    structure = (reference_states[atomic_numbers[metal]] or {}).get("symmetry")
    if structure != facet[:3]:
        raise ValueError(
            f"metal={metal!r} is not {facet[:3]} (its reference structure is {structure}), so "
            f"facet={facet!r} has no lattice constant for it: choose a facet of its structure "
            f"(fcc111/fcc100 for fcc, bcc110 for bcc) or another metal"
        )
    if (
        isinstance(size, str)
        or not hasattr(size, "__len__")
        or len(size) != 2
        or not all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in size)
        or min(size) < 1
    ):
        raise ValueError(f"size must be two positive integers (nx, ny), got {size!r}")
    size = (int(size[0]), int(size[1]))
    if facet in ("fcc111", "bcc110") and size[1] % 2:
        raise ValueError(
            f"size={size}: ny must be even for an orthogonal {facet} cell; use e.g. "
            f"({size[0]}, {size[1] + 1})"
        )
    layers = _int("layers", layers, 1)
    if layers < MIN_LAYERS:
        raise ValueError(
            f"slab too thin: {layers} layers; use layers >= {MIN_LAYERS} so the slab has a "
            "bulk-like interior"
        )
    return size, layers


def _make_slab(metal: str, facet: str, size: tuple[int, int], layers: int) -> Atoms:
    """An orthogonal slab (tag 1), bottom layer at z = 0, periodic in x and y."""
    try:
        slab = SLABS[facet](
            metal, size=(*size, layers), vacuum=None, orthogonal=True, periodic=True
        )
    except (ValueError, KeyError, NotImplementedError) as err:
        raise ValueError(f"cannot build a {facet} slab of {metal} with size {size}: {err}") from err
    slab.positions[:, 2] -= slab.positions[:, 2].min()
    slab.pbc = True
    slab.set_tags(1)
    return slab


def build_interface(
    metal: str = "Cu",
    facet: str = "fcc111",
    size: tuple[int, int] = (4, 4),
    layers: int = 4,
    water_thickness: float = 15.0,
    salt: str | None = "NaCl",
    concentration: float = 1.0,
    gap: float = 2.5,
    vacuum: float = 0.0,
    density: float = 0.997,
    seed: int = 0,
    min_distance: float = 1.5,
) -> Atoms:
    """A metal slab with a water (+ salt) film, periodic in x and y.

    The slab (built by :mod:`ase.build`, orthogonal cell) lies at the bottom of the cell; water
    fills ``water_thickness`` Å above it, starting ``gap`` Å above the top metal layer, and
    the cell closes ``gap + vacuum`` Å above the water, so with ``vacuum=0`` the film is
    sandwiched between the slab and its periodic image. The cell is periodic in all three
    directions (set ``vacuum`` > 0 for a free water surface).

    Parameters
    ----------
    metal : str
        Element symbol of the metal (e.g. "Cu", "Pt", "Au" for fcc; "Fe", "W" for bcc).
    facet : str
        "fcc111", "fcc100" or "bcc110".
    size : tuple of int
        Surface repeats (nx, ny); ny must be even for fcc111/bcc110 orthogonal cells.
    layers : int
        Metal layers, at least 3 (a thinner slab has no bulk-like middle).
    water_thickness : float
        Thickness of the water region, Å (at least 6 Å).
    salt : str or None
        Salt to dissolve (key of :data:`SALTS`) or None for pure water.
    concentration : float
        Salt concentration, mol per litre of water volume (the water region), ≥ 0.
    gap : float
        Distance from the top metal layer to the water region, Å.
    vacuum : float
        Extra empty space above the water film, Å.
    density : float
        Water density, g/cm^3, fixing the number of waters in the region.
    seed : int
        Seed of the random placement.
    min_distance : float
        Smallest distance, Å, between atoms of different molecules at placement.

    Returns
    -------
    ase.Atoms
        Slab atoms first (tagged 1), then water and ions (tag 0).

    Raises
    ------
    ValueError
        Unknown facet, too few layers, too thin water film, impossible concentration.
    """
    size, layers = _check_slab_args(metal, facet, size, layers)
    water_thickness = _real("water_thickness", water_thickness, "Å", 0.0, strict=True)
    if water_thickness < 6.0:
        raise ValueError(f"water_thickness={water_thickness} Å is too thin; use at least 6 Å")
    gap = _real("gap", gap, "Å", 0.0, strict=True)
    vacuum = _real("vacuum", vacuum, "Å", 0.0, strict=False)
    if gap < 1.5:
        raise ValueError(f"need gap >= 1.5 Å and vacuum >= 0 Å, got gap={gap}, vacuum={vacuum}")
    density = _real("density", density, "g/cm^3", 0.0, strict=True)
    _int("seed", seed, 0)
    min_distance = _real("min_distance", min_distance, "Å", 0.0, strict=True)
    if salt is not None:
        _get_salt(salt)
    slab = _make_slab(metal, facet, size, layers)
    z_top = slab.positions[:, 2].max()
    cell = slab.cell.array.copy()
    cell[2] = [0, 0, z_top + 2 * gap + water_thickness + vacuum]
    slab.set_cell(cell)
    slab.pbc = True
    slab.set_tags(1)
    lengths = np.array([cell[0, 0], cell[1, 1], water_thickness])
    origin = np.array([0.0, 0.0, z_top + gap])
    atoms, n_water, n_salt = _add_liquid(
        slab, origin, lengths, float(np.prod(lengths)), salt, concentration, density, seed,
        min_distance,
    )  # fmt: skip
    atoms.info.update(
        metal=metal, facet=facet, layers=layers, salt=salt, n_salt=n_salt, n_water=n_water,
        concentration_mol_per_L_water=concentration if salt else 0.0,
        water_volume_A3=_water_volume_A3(n_water, density), seed=seed,
    )  # fmt: skip
    check_min_distance(atoms, 0.5 * min_distance)
    return atoms


# ------------------------------------------------------------ geometries with a bulk region
GEOMETRIES = ("film", "sandwich", "wall")


def _confined(
    geometry: str,
    metal: str,
    facet: str,
    size: tuple[int, int],
    layers: int,
    electrolyte_thickness: float,
    salt: str | None,
    concentration: float,
    gap: float,
    excluded: float,
    density: float,
    seed: int,
    min_distance: float,
    vacuum: float,
) -> Atoms:
    """Metal | electrolyte | (metal image or wall): see :func:`build_sandwich`."""
    size, layers = _check_slab_args(metal, facet, size, layers)
    thickness = _real("electrolyte_thickness", electrolyte_thickness, "Å", 0.0, strict=True)
    gap = _real("gap", gap, "Å", 0.0, strict=True)
    excluded = _real("excluded", excluded, "Å", 0.0, strict=False)
    density = _real("density", density, "g/cm^3", 0.0, strict=True)
    vacuum = _real("vacuum", vacuum, "Å", 0.0, strict=False)
    _int("seed", seed, 0)
    min_distance = _real("min_distance", min_distance, "Å", 0.0, strict=True)
    if gap < 1.5:
        raise ValueError(f"gap={gap} Å: water would overlap the metal; use gap >= 1.5 Å")
    if thickness - 2 * gap < 6.0:
        raise ValueError(
            f"electrolyte_thickness={thickness} Å leaves {thickness - 2 * gap:g} Å between the "
            f"placement gaps (gap={gap} Å at each side); use electrolyte_thickness >= "
            f"{2 * gap + 6.0:g} Å"
        )
    if excluded >= thickness / 2:
        raise ValueError(
            f"excluded={excluded} Å leaves no volume for the electrolyte in "
            f"electrolyte_thickness={thickness} Å; use excluded < {thickness / 2:g} Å"
        )
    if salt is not None:
        _get_salt(salt)
    slab = _make_slab(metal, facet, size, layers)
    z_top = float(slab.positions[:, 2].max())
    cell = slab.cell.array.copy()
    cell[2] = [0, 0, z_top + thickness + vacuum]
    slab.set_cell(cell)
    area = float(abs(np.linalg.det(cell[:2, :2])))
    # waters filling the available volume (thickness less an excluded layer at each side)
    v_avail = area * (thickness - 2 * excluded)
    origin = np.array([0.0, 0.0, z_top + gap])
    lengths = np.array([cell[0, 0], cell[1, 1], thickness - 2 * gap])
    atoms, n_water, n_salt = _add_liquid(
        slab, origin, lengths, v_avail, salt, concentration, density, seed, min_distance
    )
    liquid_mass = float(atoms.get_masses()[atoms.get_tags() == 0].sum())
    atoms.info.update(
        geometry=geometry, metal=metal, facet=facet, layers=layers, salt=salt, n_salt=n_salt,
        n_water=n_water, concentration_mol_per_L_water=concentration if salt else 0.0,
        water_volume_A3=_water_volume_A3(n_water, density), seed=seed,
        surface_z_A=z_top, electrolyte_thickness_A=thickness, excluded_A=excluded,
        available_volume_A3=v_avail,
        liquid_density_g_per_cm3=liquid_mass / _Nav / (v_avail * 1e-24),
    )  # fmt: skip
    check_min_distance(atoms, 0.5 * min_distance)
    return atoms


def build_sandwich(
    metal: str = "Cu",
    facet: str = "fcc111",
    size: tuple[int, int] = (4, 4),
    layers: int = 4,
    electrolyte_thickness: float = 20.0,
    salt: str | None = "NaCl",
    concentration: float = 1.0,
    gap: float = 2.0,
    excluded: float = 1.5,
    density: float = 0.997,
    seed: int = 0,
    min_distance: float = 1.5,
) -> Atoms:
    """Metal | electrolyte | metal: a periodic sandwich with no vacuum.

    One slab sits at the bottom of the cell; the cell closes ``electrolyte_thickness`` Å above
    its top layer, so the electrolyte fills the whole space between the slab's top surface
    (at ``info["surface_z_A"]``) and the bottom surface of its periodic image (at
    ``info["upper_surface_z_A"]``): two metal surfaces face each other across the electrolyte,
    and for a thick enough film its middle is bulk (check with
    :func:`multiscale.extract.bulk.detect_bulk`). This is the geometry for transport
    profiles: both ends are metal, so nothing in the 1D continuum sees a vapour interface.

    Parameters
    ----------
    metal, facet, size, layers
        As in :func:`build_interface`.
    electrolyte_thickness : float
        Distance between the two facing metal surfaces (top layer to the image's bottom
        layer), Å; at least ``2·gap + 6``.
    salt : str or None
        Salt (key of :data:`SALTS`) or None for pure water.
    concentration : float
        Salt concentration, mol per litre of water volume (module docstring), ≥ 0.
    gap : float
        Molecules are placed at least this far from each metal surface, Å (≥ 1.5).
    excluded : float
        Thickness of the layer at each surface that the liquid does not fill, Å: the water
        count is ``density`` times the available volume ``area·(thickness − 2·excluded)``.
    density : float
        Water density in the available volume, g/cm^3.
    seed : int
        Seed of the random placement.
    min_distance : float
        Smallest distance, Å, between atoms of different molecules at placement.

    Returns
    -------
    ase.Atoms
        Slab atoms first (tag 1), then water and ions (tag 0); ``info`` records the geometry,
        surfaces (Å), counts, the available volume (Å^3) and the liquid's density in it.

    Raises
    ------
    ValueError
        Bad metal/facet/size/layers, too thin an electrolyte, impossible concentration.
    """
    atoms = _confined(
        "sandwich", metal, facet, size, layers, electrolyte_thickness, salt, concentration,
        gap, excluded, density, seed, min_distance, vacuum=0.0,
    )  # fmt: skip
    atoms.info["upper_surface_z_A"] = atoms.info["surface_z_A"] + float(electrolyte_thickness)
    return atoms


def build_wall_interface(
    metal: str = "Cu",
    facet: str = "fcc111",
    size: tuple[int, int] = (4, 4),
    layers: int = 4,
    electrolyte_thickness: float = 20.0,
    salt: str | None = "NaCl",
    concentration: float = 1.0,
    gap: float = 2.0,
    excluded: float = 1.5,
    vacuum: float = 8.0,
    density: float = 0.997,
    seed: int = 0,
    min_distance: float = 1.5,
) -> Atoms:
    """Metal | electrolyte | soft repulsive wall, with empty space above the wall.

    As :func:`build_sandwich`, but the electrolyte is closed ``electrolyte_thickness`` Å above
    the top metal layer by a wall (``info["wall_z_A"]``) and the cell has ``vacuum`` Å of
    empty space above it. The wall is not part of the structure: wrap the calculator with
    :class:`WallCalculator` (``z_wall=atoms.info["wall_z_A"]``) before MD, or the liquid
    evaporates into the vacuum.

    Parameters
    ----------
    metal, facet, size, layers, electrolyte_thickness, salt, concentration
        As in :func:`build_sandwich` (the wall stands in for the upper metal surface).
    gap, excluded, density, seed, min_distance
        As in :func:`build_sandwich`.
    vacuum : float
        Empty space between the wall and the periodic image of the slab's bottom, Å.

    Returns
    -------
    ase.Atoms
        Slab atoms first (tag 1), then water and ions (tag 0).

    Raises
    ------
    ValueError
        As :func:`build_sandwich`.
    """
    atoms = _confined(
        "wall", metal, facet, size, layers, electrolyte_thickness, salt, concentration,
        gap, excluded, density, seed, min_distance, vacuum=vacuum,
    )  # fmt: skip
    atoms.info["wall_z_A"] = atoms.info["surface_z_A"] + float(electrolyte_thickness)
    return atoms


class WallCalculator(Calculator):
    """An ASE calculator that adds a soft repulsive wall along z to another calculator.

    The wall acts on the liquid atoms (tag 0, or ``indices``) above ``z_wall`` and pushes
    them down:

    - ``kind="harmonic"``: ``E = ½ k (z − z_wall)²`` for ``z > z_wall``, 0 below;
    - ``kind="lj93"``: the repulsive part of a 9-3 Lennard-Jones wall, cut and shifted at its
      minimum: with ``d = z_wall + d_min − z`` and ``d_min = (2/5)^{1/6} σ``,
      ``E = ε[(2/15)(σ/d)⁹ − (σ/d)³ + √10/3]`` for ``d < d_min`` (``z > z_wall``), 0 below.

    Both are zero with zero force at ``z_wall`` (continuous forces). Forces are ``−dE/dz``
    (tested by finite differences). Stress is not provided (a wall has none to give).

    Parameters
    ----------
    calc : ase.calculators.calculator.Calculator
        The calculator of the system (energy in eV, forces in eV/Å).
    z_wall : float
        Height where the wall starts to act, Å (cell coordinates).
    kind : {"harmonic", "lj93"}
        Wall potential.
    k : float
        Harmonic force constant, eV/Å².
    epsilon : float
        9-3 wall strength, eV.
    sigma : float
        9-3 wall length, Å.
    indices : sequence of int, optional
        Atoms the wall acts on; default every atom with tag 0.

    Raises
    ------
    ValueError
        Unknown kind, non-positive k/epsilon/sigma, non-finite z_wall.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(
        self,
        calc: Calculator,
        z_wall: float,
        kind: str = "harmonic",
        k: float = 10.0,
        epsilon: float = 0.05,
        sigma: float = 2.5,
        indices=None,
    ) -> None:
        super().__init__()
        if kind not in ("harmonic", "lj93"):
            raise ValueError(f"kind must be 'harmonic' or 'lj93', got {kind!r}")
        if not hasattr(calc, "get_forces"):
            raise TypeError(f"calc must be an ASE calculator, got {type(calc).__name__}")
        self.calc = calc
        self.z_wall = _real("z_wall", z_wall, "Å", -np.inf, strict=True)
        self.kind = kind
        self.k = _real("k", k, "eV/Å²", 0.0, strict=True)
        self.epsilon = _real("epsilon", epsilon, "eV", 0.0, strict=True)
        self.sigma = _real("sigma", sigma, "Å", 0.0, strict=True)
        self.indices = None if indices is None else np.asarray(indices, dtype=int)

    def wall_energy_forces(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-atom wall energy (eV) and z force (eV/Å) at heights ``z`` (Å)."""
        z = np.asarray(z, dtype=float)
        e, f = np.zeros_like(z), np.zeros_like(z)
        on = z > self.z_wall
        if self.kind == "harmonic":
            dz = z[on] - self.z_wall
            e[on] = 0.5 * self.k * dz**2
            f[on] = -self.k * dz
            return e, f
        d_min = (2 / 5) ** (1 / 6) * self.sigma
        d = self.z_wall + d_min - z[on]
        if np.any(d <= 0):
            raise CalculationFailed(
                f"an atom passed the 9-3 wall's singular plane at z = {self.z_wall + d_min:.3f}"
                " Å; use a smaller time step or the harmonic wall"
            )
        x = self.sigma / d
        e[on] = self.epsilon * ((2 / 15) * x**9 - x**3 + np.sqrt(10) / 3)
        # dE/dd = ε[−(18/15) x⁹ + 3 x³]/d and dd/dz = −1, so F = −dE/dz = dE/dd
        f[on] = self.epsilon * (-(18 / 15) * x**9 + 3 * x**3) / d
        return e, f

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Energy (eV) and forces (eV/Å) of the wrapped calculator plus the wall's."""
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        base = atoms.copy()
        base.calc = self.calc
        energy = float(base.get_potential_energy())
        forces = np.array(base.get_forces())
        idx = np.flatnonzero(atoms.get_tags() == 0) if self.indices is None else self.indices
        e, f = self.wall_energy_forces(atoms.positions[idx, 2])
        forces[idx, 2] += f
        energy += float(e.sum())
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
