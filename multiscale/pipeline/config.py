"""The pipeline configuration: schema (type, unit, default of every key) and validation.

A configuration is a nested mapping with one table per stage (``qmml``, ``md``, ``umbrella``
(off unless ``enabled``), ``extract``, ``continuum``) plus ``[run]``; it is read from TOML
with :mod:`tomllib` by :func:`load_config` or given as a dict. Every key is checked before
anything runs; an error names the key, the expected type and unit, and the value found, e.g.
``md.timestep_fs: expected a positive number in fs, got 'abc'``.

Values are then checked by meaning (:func:`validate_config`): plausible ranges with units (a
``temperature_K = 25`` looks like °C), consistency between keys (``alpha_anodic +
alpha_cathodic = electrons``, extraction species that exist in the md system with the sign of
their ion charge), metals and salts the builders support, and calculators: registered names
only (an import path needs an opt-in), keyword arguments the calculator accepts, and elements
of the system that the calculator covers (else its ``fallback`` is chosen here, or an error).
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA",
    "STAGES",
    "STAGE_ORDER",
    "Key",
    "builtin_config",
    "load_config",
    "validate_config",
]

#: The stages, in the order they run.
STAGES = ("qmml", "md", "extract", "continuum")
#: Every stage, in the order they run: the four above and ``umbrella`` (between md and
#: extract), which runs only when ``[umbrella] enabled = true`` (it then runs with extract,
#: whose profile it completes; see :mod:`multiscale.pipeline.umbrella_stage`).
STAGE_ORDER = ("qmml", "md", "umbrella", "extract", "continuum")
#: each ion's concentration in rock salt (mol/L): NaCl, a = 5.640 Å, 4 formula units per
#: cubic cell, 4 / (6.02214e23 * (5.640e-9 dm)^3) = 37.0 mol/L: no layer of ions packs denser
ROCK_SALT_ION_MOL_PER_L = 37.0


@dataclass(frozen=True)
class Key:
    """One configuration key: its kind, unit, default and meaning.

    kind is one of "int+", "int0" (>= 0), "num+" (> 0), "num0" (>= 0), "num" (any finite),
    "str", "bool", "choice", "calc" (calculator spec), "ints", "ints0" (may be empty), "nums",
    "strs", "table",
    "species" (extraction species table), "path".
    """

    kind: str
    default: Any
    unit: str = ""
    doc: str = ""
    choices: tuple = ()


_CALC_DOC = (
    'calculator: {model = "default:NAME"} (shipped MLIP), {model = "chgnet"}, '
    '{model = "pyscf", xc = ..., basis = ...}, {model = "lj"}, {model = "emt"}, a plug-in '
    'name, or (with run.trust_imports) an import path {model = "module:Class"}; other keys are '
    "keyword arguments; optional fallback = {...}"
)

SCHEMA: dict[str, dict[str, Key]] = {
    "run": {
        "name": Key("str", "run", "", "name shown in the report"),
        "seed": Key("int0", 0, "", "seed of every random choice (structures, velocities, noise)"),
        "stages": Key(
            "strs",
            list(STAGES),
            "",
            "stages run by default (subset of qmml, md, extract, continuum; umbrella runs with "
            "extract when [umbrella] enabled = true, or may be listed itself)",
        ),
        "progress": Key("bool", True, "", "show tqdm progress bars"),
        "trust_imports": Key(
            "bool",
            False,
            "",
            'allow calculator import paths {model = "package.module:Name"} (imports and runs '
            "that code; only for configurations you trust)",
        ),
    },
    "qmml": {
        "n_water": Key("int+", 24, "molecules", "waters in the periodic box around the ion"),
        "salt": Key("str", "NaCl", "", "salt dissolved in the box (see multiscale.md.SALTS)"),
        "concentration_mol_per_L": Key(
            "num+", 2.3, "mol/L", "salt concentration (mol per litre of water)"
        ),
        "centre": Key("str", "Na", "", "element of the ion at the centre of the QM core"),
        "r_core_A": Key("num+", 2.9, "Å", "QM core radius around the ion (first solvation shell)"),
        "r_switch_A": Key("num+", 1.0, "Å", "width of the switching shell"),
        "r_buffer_A": Key("num0", 0.0, "Å", "buffer width (QM atoms whose forces are discarded)"),
        "preequilibrate_fs": Key(
            "num0", 0.0, "fs", "ML-only Langevin MD of the built box before QM/ML (0: none)"
        ),
        "preequilibrate_timestep_fs": Key(
            "num+", 1.0, "fs", "time step of the ML-only pre-equilibration"
        ),
        "switching": Key(
            "choice", "quintic", "", "switching function", ("cubic", "quintic", "septic", "cosine")
        ),
        "steps": Key("int+", 10, "steps", "Langevin steps of the force-mixing run"),
        "timestep_fs": Key("num+", 0.5, "fs", "time step"),
        "temperature_K": Key("num+", 300.0, "K", "Langevin target temperature"),
        "friction_per_fs": Key("num+", 0.01, "1/fs", "Langevin friction"),
        "drag_steps": Key(
            "int0", 4, "points", "coarse steps of the continuity drag check (0: no check)"
        ),
        "drag_distance_A": Key("num+", 1.6, "Å", "length of the continuity drag path"),
        "qm": Key("calc", {"model": "pyscf", "xc": "pbe", "basis": "sto-3g"}, "", _CALC_DOC),
        "ml": Key("calc", {"model": "default:water-nacl"}, "", _CALC_DOC),
    },
    "md": {
        "metal": Key("str", "Cu", "", "metal of the slab"),
        "facet": Key("choice", "fcc111", "", "slab facet", ("fcc111", "fcc100", "bcc110")),
        "size": Key("ints", [4, 4], "repeats", "surface repeats (nx, ny); ny even for fcc111"),
        "layers": Key("int+", 3, "layers", "metal layers (>= 3)"),
        "water_thickness_A": Key("num+", 12.0, "Å", "thickness of the water film"),
        "salt": Key("str", "NaCl", "", "salt in the film"),
        "concentration_mol_per_L": Key("num0", 2.0, "mol/L", "salt concentration"),
        "gap_A": Key("num+", 2.5, "Å", "distance from the top metal layer to the water"),
        "geometry": Key(
            "choice",
            "film",
            "",
            "film (water_thickness_A of water above the slab), sandwich (metal | electrolyte "
            "| metal, density from the volume; use for transport) or wall (metal | electrolyte "
            "| soft wall | vacuum)",
            ("film", "sandwich", "wall"),
        ),
        "electrolyte_thickness_A": Key(
            "num0",
            0.0,
            "Å",
            "sandwich/wall: metal surface to facing surface or wall (0: water_thickness_A + "
            "2 gap_A)",
        ),
        "wall_k_eV_per_A2": Key("num+", 10.0, "eV/Å²", "wall: harmonic wall force constant"),
        "steps": Key("int+", 2000, "steps", "MD steps"),
        "timestep_fs": Key("num+", 0.5, "fs", "time step"),
        "hydrogen_mass_u": Key(
            "num0", 0.0, "u", "hydrogen mass repartitioning: mass of bonded H (0: true masses)"
        ),
        "ensemble": Key("choice", "langevin", "", "thermostat", ("langevin", "bussi", "nve")),
        "temperature_K": Key("num+", 300.0, "K", "target temperature"),
        "friction_per_fs": Key("num+", 0.01, "1/fs", "Langevin friction"),
        "traj_interval": Key("int+", 10, "steps", "steps between trajectory frames"),
        "checkpoint_interval": Key("int+", 100, "steps", "steps between checkpoints"),
        "fix_metal": Key(
            "bool",
            False,
            "",
            "hold every slab atom at its relaxed position (a rigid electrode; md and umbrella "
            "windows): no atom can leave the metal, and no centre-of-mass constraint is added",
        ),
        "integrity": Key(
            "choice",
            "stop",
            "",
            "molecule-integrity monitor: stop at a violation, flag (record and go on) or off",
            ("stop", "flag", "off"),
        ),
        "reactive_species": Key(
            "strs",
            [],
            "",
            'elements (or "H2O") whose bond changes are expected chemistry (listed, not stopped)',
        ),
        "integrity_interval": Key(
            "int0", 0, "steps", "steps between integrity checks (0: every traj_interval)"
        ),
        "relax_steps": Key(
            "int0", 300, "steps", "most FIRE steps removing overlaps before heating (0: none)"
        ),
        "relax_fmax_eV_per_A": Key("num+", 0.5, "eV/Å", "FIRE stops below this force"),
        "heat_ps": Key(
            "num0", 2.0, "ps", "heating before production: target ramped up over this (0: none)"
        ),
        "heat_from_K": Key("num+", 50.0, "K", "temperature at the start of the heating ramp"),
        "calculator": Key("calc", {"model": "default:cu-water-nacl"}, "", _CALC_DOC),
    },
    "umbrella": {
        "enabled": Key(
            "bool",
            False,
            "",
            "run umbrella windows for ions that free MD leaves out (false: the section is ignored)",
        ),
        "species": Key(
            "strs",
            [],
            "",
            'ions to sample (element symbols, e.g. ["Na"]); []: the ions of extract.species '
            "that the extract stage leaves out (found with its own test on the md trajectory)",
        ),
        "centers_A": Key(
            "nums",
            [],
            "Å",
            "window centres, heights above the top metal layer ([]: z_min_A to z_max_A every "
            "spacing_A)",
        ),
        "z_min_A": Key("num+", 2.0, "Å", "lowest window centre (when centers_A = [])"),
        "z_max_A": Key("num+", 7.0, "Å", "highest window centre (when centers_A = [])"),
        "spacing_A": Key("num+", 0.5, "Å", "distance between window centres (centers_A = [])"),
        "k_eV_per_A2": Key(
            "num+", 1.0, "eV/Å²", "spring constant of the harmonic height restraint"
        ),
        "window_ps": Key("num+", 10.0, "ps", "MD per window (md time step, thermostat and HMR)"),
        "discard_ps": Key("num0", 2.0, "ps", "start of every window left out of the analysis"),
        "relax_steps": Key(
            "int0", 100, "steps", "FIRE steps under the restraint after placing the ion (0: none)"
        ),
        "n_blocks": Key(
            "int+", 8, "blocks", "time blocks per window for D error bars (even, >= 4)"
        ),
        "bin_width_A": Key("num+", 0.1, "Å", "histogram bin width of F(z) (MBAR)"),
        "min_bin_samples": Key(
            "int+", 10, "samples", "F(z) only in bins with at least this many decorrelated samples"
        ),
        "integrity": Key(
            "choice",
            "md",
            "",
            "the windows' molecule-integrity policy: md (as md.integrity), stop, flag (record "
            "and go on) or off; a window stopped by the monitor continues under a new policy",
            ("md", "stop", "flag", "off"),
        ),
        "start_ps": Key(
            "num0",
            0.0,
            "ps",
            "time of the md frame the windows start from (0: the md stage's last frame); a "
            "longer md run (md.steps) then keeps the windows",
        ),
        "other_ions": Key(
            "choice",
            "keep",
            "",
            "the salt's other ions during an ion's windows: keep (F(z) conditioned on where they "
            "sit) or remove (one ion at infinite dilution; for short-ranged models)",
            ("keep", "remove"),
        ),
    },
    "extract": {
        "species": Key(
            "species",
            {"Na+": {"selection": "Na", "charge": 1}, "Cl-": {"selection": "Cl", "charge": -1}},
            "",
            "species to extract: {NAME = {selection = SYMBOL, charge = INT (e)}}",
        ),
        "bin_width_A": Key("num+", 2.0, "Å", "bin width of every profile"),
        "z_margin_A": Key(
            "num0", 1.0, "Å", "the z range starts/ends this far inside the water film"
        ),
        "range_start": Key(
            "choice",
            "surface",
            "",
            "transport bins start at the surface (the lowest liquid atom seen, adsorbed layer "
            "included) or at the water film (gap_A + z_margin_A above the metal)",
            ("surface", "film"),
        ),
        "fold_sandwich": Key(
            "bool",
            True,
            "",
            "sandwich geometry: fold the liquid about the midplane (both interfaces averaged; "
            "the profile runs from the surface to the midplane, the bulk at its far end)",
        ),
        "fine_bin_width_A": Key(
            "num+", 0.1, "Å", "bin width of the fine density profile (structure, layering)"
        ),
        "max_ion_concentration_mol_per_L": Key(
            "num0",
            ROCK_SALT_ION_MOL_PER_L,
            "mol/L",
            "packing limit of an ion's c(z) from umbrella windows: an adsorbed layer fills up "
            "(c = c_bulk x/(1 - phi + phi x), x = exp(-dF/kT), phi = c_bulk/limit); default: "
            "each ion's concentration in rock salt (NaCl); 0: none (c = c_bulk x, infinite "
            "dilution)",
        ),
        "umbrella_d_scaling": Key(
            "choice",
            "water",
            "",
            "D of an ion from umbrella windows: water (its window's ion-to-water D ratio times "
            "the md's water D_par at extract.lags: a window's liquid and lags are not the "
            "profile's; Stokes-Einstein) or none (the windows' values)",
            ("water", "none"),
        ),
        "reference_profile": Key(
            "path",
            "",
            "",
            "TransportProfile HDF5 drawn under this run's profile in profile.png for comparison "
            '(e.g. a production run\'s extract/profile.h5), "builtin:production" for the '
            'shipped production profile, or "" for none',
        ),
        "lags": Key("ints", [2, 4, 8], "frames", "lag times of the D(z) estimators"),
        "perp_lags": Key(
            "ints0",
            [],
            "frames",
            "lag times of the D⊥(z)/F(z) propagator fit and of its Chapman–Kolmogorov test, "
            "when they must differ from lags ([]: lags); the shortest is the CK test's τ",
        ),
        "n_blocks": Key("int+", 4, "blocks", "independent blocks for error bars"),
        "parallel": Key("bool", True, "", "also compute D∥(z) (in-plane diffusion)"),
        "remove_liquid_drift": Key(
            "bool",
            False,
            "",
            "D∥(z) relative to the liquid's in-plane centre of mass: the liquid sliding as a "
            "whole over the metal (a mode of the periodic cell, absent from an infinite film) "
            "is taken out of every displacement",
        ),
        "discard": Key(
            "choice",
            "auto",
            "",
            'frames left out: "auto" (production start detected in md, at least '
            'discard_frames) or "frames" (exactly discard_frames)',
            ("auto", "frames"),
        ),
        "discard_frames": Key("int0", 0, "frames", "equilibration frames left out"),
        "water_model": Key("str", "SPC/E", "", "water charges for rho(z) and phi(z)"),
        "ion_charges": Key("table", {"Na": 1.0, "Cl": -1.0}, "e", "charges of the ions by element"),
        "permittivity_max_rel_err": Key(
            "num+",
            0.2,
            "",
            "eps(z) from MD goes into the profile only if every bin's relative error is below",
        ),
    },
    "continuum": {
        "profile": Key(
            "path",
            "",
            "",
            "TransportProfile HDF5 to use instead of the extract stage's, or "
            '"builtin:production" for the shipped production profile',
        ),
        "profile_1d": Key("bool", True, "", "solve the profile-fed 1D equilibrium problem"),
        "cells_1d": Key("int+", 200, "cells", "cells of the 1D mesh"),
        "potential_1d": Key(
            "choice", "profile", "", "potential in 1D: MD phi(z) or none", ("profile", "none")
        ),
        "uncertainty_samples": Key(
            "int0",
            0,
            "samples",
            "Monte Carlo samples propagating the profile's error bars to the 1D outputs (0: off)",
        ),
        "pit": Key("bool", True, "", "solve the 2D corrosion-pit problem"),
        "pit_width_um": Key("num+", 20.0, "µm", "full width of the pit"),
        "pit_depth_um": Key("num+", 40.0, "µm", "depth of the pit"),
        "domain_width_um": Key("num+", 60.0, "µm", "half-width of the domain from the pit axis"),
        "domain_height_um": Key("num+", 60.0, "µm", "height of the solution above the surface"),
        "cells_across_pit": Key("int+", 8, "cells", "cells across the half-width of the pit"),
        "metal": Key("str", "", "", 'metal of the pit walls ("": md.metal, else Cu)'),
        "product": Key(
            "str", "", "", 'dissolved metal ion ("": the usual ion of the metal, from a table)'
        ),
        "product_override": Key(
            "bool", False, "", "accept a product that is not an ion of the metal"
        ),
        "product_charge": Key("int+", 2, "e", "its charge number"),
        "product_diffusion_m2_per_s": Key(
            "num0",
            0.0,
            "m²/s",
            "its diffusion coefficient (0: tabulated D at 25 °C, scaled by the MD mobility)",
        ),
        "diffusion_source": Key(
            "choice",
            "md",
            "",
            "electrolyte D: the profile's bulk region (md) or the table",
            ("md", "table"),
        ),
        "frumkin": Key(
            "bool", True, "", "Frumkin correction with φ_d from the MD φ(z) when the profile has it"
        ),
        "product_bulk_mol_per_m3": Key("num+", 1e-3, "mol/m³", "its bulk concentration"),
        "electrons": Key("int+", 2, "", "electrons per dissolved ion"),
        "exchange_current_A_per_m2": Key("num+", 1.0, "A/m²", "Butler-Volmer i0"),
        "equilibrium_potential_V": Key("num", 0.0, "V", "Butler-Volmer E_eq"),
        "alpha_anodic": Key("num+", 1.0, "", "anodic transfer coefficient (α_a + α_c = electrons)"),
        "alpha_cathodic": Key(
            "num+", 1.0, "", "cathodic transfer coefficient (α_a + α_c = electrons)"
        ),
        "reference_concentration_mol_per_m3": Key("num+", 1000.0, "mol/m³", "BV c_ref"),
        "overpotential_V": Key("num", 0.1, "V", "metal potential E - E_eq in the pit"),
        "temperature_K": Key("num+", 298.15, "K", "temperature of the pit problem"),
    },
}

_EXPECT = {
    "int+": "a positive integer",
    "int0": "an integer >= 0",
    "num+": "a positive number",
    "num0": "a number >= 0",
    "num": "a finite number",
    "str": "a string",
    "bool": "true or false",
    "ints": "a list of positive integers",
    "ints0": "a list of positive integers (may be empty)",
    "strs": "a list of strings",
    "nums": "a list of finite numbers",
    "table": "a table of numbers",
    "path": "a file path (string)",
}


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _expect(name: str, key: Key, value: Any, what: str | None = None) -> ValueError:
    unit = f" in {key.unit}" if key.unit else ""
    what = what or _EXPECT.get(key.kind, key.kind)
    return ValueError(f"{name}: expected {what}{unit}, got {value!r}")


def _check(name: str, key: Key, v: Any) -> Any:
    k = key.kind
    if k in ("int+", "int0"):
        if isinstance(v, bool) or not isinstance(v, int) or v < (1 if k == "int+" else 0):
            raise _expect(name, key, v)
    elif k in ("num+", "num0", "num"):
        ok = _is_num(v) and (v > 0 if k == "num+" else v >= 0 if k == "num0" else True)
        if not ok:
            raise _expect(name, key, v)
        v = float(v)
    elif k in ("str", "path"):
        if not isinstance(v, str):
            raise _expect(name, key, v)
    elif k == "bool":
        if not isinstance(v, bool):
            raise _expect(name, key, v)
    elif k == "choice":
        if v not in key.choices:
            raise _expect(name, key, v, "one of " + ", ".join(map(repr, key.choices)))
    elif k in ("ints", "ints0"):
        if (
            not isinstance(v, list)
            or (not v and k == "ints")
            or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v)
        ):
            raise _expect(name, key, v)
    elif k == "strs":
        if not isinstance(v, list) or not all(isinstance(i, str) for i in v):
            raise _expect(name, key, v)
    elif k == "nums":
        if not isinstance(v, list) or not all(_is_num(i) for i in v):
            raise _expect(name, key, v)
        v = [float(i) for i in v]
    elif k == "table":
        if not isinstance(v, Mapping) or not all(_is_num(x) for x in v.values()):
            raise _expect(name, key, v)
        v = {str(a): float(b) for a, b in v.items()}
    elif k == "calc":
        if isinstance(v, str):
            v = {"model": v}
        if not isinstance(v, Mapping) or not isinstance(v.get("model"), str):
            raise _expect(name, key, v, 'a calculator table with a string "model" key')
        v = dict(v)
    elif k == "species":
        if not isinstance(v, Mapping) or not v:
            raise _expect(name, key, v, "a non-empty table {NAME = {selection, charge}}")
        out = {}
        for sp, entry in v.items():
            if (
                not isinstance(entry, Mapping)
                or not isinstance(entry.get("selection"), str)
                or isinstance(entry.get("charge"), bool)
                or not isinstance(entry.get("charge"), int)
                or set(entry) - {"selection", "charge"}
            ):
                raise ValueError(
                    f"{name}.{sp}: expected {{selection = ELEMENT (string), charge = INTEGER "
                    f"(e)}}, got {entry!r}"
                )
            out[str(sp)] = dict(entry)
        v = out
    return copy.deepcopy(v)


# ------------------------------------------------------------------ checks by meaning
#: plausible temperatures of a liquid aqueous electrolyte, K
T_RANGE_K = (200.0, 500.0)
#: largest plausible MD time step with hydrogen, fs
MAX_TIMESTEP_FS = 5.0
#: largest plausible salt concentration, mol/L (= 1e4 mol/m³)
MAX_CONCENTRATION_MOL_PER_L = 10.0
#: thinnest water film the interface builder accepts (about two molecular layers), Å
MIN_WATER_THICKNESS_A = 6.0
#: smallest metal-water gap the interface builder accepts, Å
MIN_GAP_A = 1.5
#: facet -> crystal structure the metal must have (see multiscale.md.build_interface)
FACET_LATTICE = {"fcc111": "fcc", "fcc100": "fcc", "bcc110": "bcc"}
_NOT_METALS = frozenset({"Ne", "Ar", "Kr", "Xe", "Rn"})


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _range(
    name: str, value: float, lo: float, hi: float, unit: str, todo: str, what: str = ""
) -> None:
    if not lo <= value <= hi:
        raise ValueError(
            f"{name} = {value:g} {unit} is outside the plausible range {lo:g}..{hi:g} {unit}"
            f"{what}; {todo}"
        )


def _check_temperature(name: str, value: float) -> None:
    lo, hi = T_RANGE_K
    if value < lo and value <= 100:
        todo = f"{value:g} looks like °C; give kelvin, e.g. {value + 273.15:g}"
    elif value < lo:
        todo = "give the temperature in kelvin, e.g. 298.15"
    else:
        todo = "liquid water at ambient pressure is far cooler; give kelvin, e.g. 298.15"
    _range(name, value, lo, hi, "K", todo, " for a liquid electrolyte")


def _check_timestep(name: str, value: float) -> None:
    if value > MAX_TIMESTEP_FS:
        raise ValueError(
            f"{name} = {value:g} fs is above the plausible range 0..{MAX_TIMESTEP_FS:g} fs: the "
            "O-H stretch period is ~9 fs, so MD with hydrogen needs 0.5-1 fs (real H mass) or "
            "at most a few fs with heavier hydrogen; lower the time step"
        )


def _get_salt(name: str, salt: str):
    from multiscale.md.builders import SALTS

    if salt not in SALTS:
        raise ValueError(
            f"{name} = {salt!r}: unknown salt; choose one of {sorted(SALTS)} (multiscale.md.SALTS)"
        )
    return SALTS[salt]


def _check_concentration(name: str, value: float, salt_key: str, salt: str) -> None:
    s = _get_salt(salt_key, salt)
    limit = min(s.solubility, MAX_CONCENTRATION_MOL_PER_L)
    if value > limit:
        hint = (
            " (a value this large looks like mol/m³: divide by 1000)"
            if value > MAX_CONCENTRATION_MOL_PER_L
            else ""
        )
        raise ValueError(
            f"{name} = {value:g} mol/L is outside the plausible range 0..{limit:g} mol/L for "
            f"{salt} (solubility ~{s.solubility:g} mol per L of water at 298 K){hint}; give a "
            "lower concentration in mol per litre"
        )


def _check_metal(cfg: dict[str, Any]) -> None:
    from ase.data import atomic_numbers, reference_states

    metal, facet = cfg["metal"], cfg["facet"]
    z = atomic_numbers.get(metal)
    if z is None or z == 0:
        raise ValueError(
            f"md.metal = {metal!r} is not a chemical element symbol; give one such as "
            '"Cu", "Pt", "Au" (fcc) or "Fe", "W" (bcc), capitalised'
        )
    lattice = (reference_states[z] or {}).get("symmetry")
    need = FACET_LATTICE[facet]
    if metal in _NOT_METALS or lattice not in FACET_LATTICE.values():
        raise ValueError(
            f"md.metal = {metal!r} is not a metal the interface builder supports (it builds "
            f"fcc and bcc metal slabs; {metal} is {lattice or 'not a crystal at 0 K'}); choose "
            'an fcc metal such as "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al" or a bcc one such as '
            '"Fe", "W", "Mo", "Cr"'
        )
    if lattice != need:
        other = [f for f, lat in FACET_LATTICE.items() if lat == lattice]
        raise ValueError(
            f"md.facet = {facet!r} needs an {need} metal, but md.metal = {metal!r} is {lattice}; "
            f"use md.facet = {' or '.join(map(repr, other))} or an {need} metal"
        )
    nx, ny = cfg["size"]
    if facet in ("fcc111", "bcc110") and ny % 2:
        raise ValueError(
            f"md.size = {cfg['size']}: an orthogonal {facet} cell needs an even ny (second "
            f"number); use [{nx}, {ny + 1}]"
        )


def _md_elements(md: Mapping[str, Any]) -> set[str]:
    elements = {md["metal"], "O", "H"}
    if md["concentration_mol_per_L"] > 0:
        s = _get_salt("md.salt", md["salt"])
        elements |= {s.cation, s.anion}
    return elements


def _check_qmml(cfg: dict[str, Any]) -> set[str]:
    from multiscale.md.builders import n_salt_for

    s = _get_salt("qmml.salt", cfg["salt"])
    if cfg["centre"] not in (s.cation, s.anion):
        raise ValueError(
            f"qmml.centre = {cfg['centre']!r} is not an ion of qmml.salt = {cfg['salt']!r}; set "
            f"it to {s.cation!r} or {s.anion!r}"
        )
    c = cfg["concentration_mol_per_L"]
    _check_concentration("qmml.concentration_mol_per_L", c, "qmml.salt", cfg["salt"])
    try:
        n_salt_for(c, cfg["n_water"], cfg["salt"])
    except ValueError as err:
        raise ValueError(f"qmml.concentration_mol_per_L and qmml.n_water: {err}") from err
    _check_temperature("qmml.temperature_K", cfg["temperature_K"])
    _check_timestep("qmml.timestep_fs", cfg["timestep_fs"])
    if cfg.get("preequilibrate_fs", 0.0) > 0:
        _check_timestep("qmml.preequilibrate_timestep_fs", cfg["preequilibrate_timestep_fs"])
    return {"O", "H", s.cation, s.anion}


def _check_md(cfg: dict[str, Any]) -> set[str]:
    from multiscale.md.builders import MIN_LAYERS

    _check_metal(cfg)
    if cfg["layers"] < MIN_LAYERS:
        raise ValueError(
            f"md.layers = {cfg['layers']} is below the minimum of {MIN_LAYERS} layers (a "
            f"thinner slab has no bulk-like interior); use md.layers >= {MIN_LAYERS}"
        )
    if cfg["water_thickness_A"] < MIN_WATER_THICKNESS_A:
        raise ValueError(
            f"md.water_thickness_A = {cfg['water_thickness_A']:g} Å is below the minimum of "
            f"{MIN_WATER_THICKNESS_A:g} Å (a water molecule is ~3 Å across: the film needs "
            f"room for a layer at each side); use md.water_thickness_A >= "
            f"{MIN_WATER_THICKNESS_A:g}"
        )
    if cfg["gap_A"] < MIN_GAP_A:
        raise ValueError(
            f"md.gap_A = {cfg['gap_A']:g} Å is below the minimum of {MIN_GAP_A:g} Å (water "
            f"would overlap the metal); use md.gap_A >= {MIN_GAP_A:g} (2.5 is typical)"
        )
    if cfg["geometry"] != "film":
        thick = cfg["electrolyte_thickness_A"] or cfg["water_thickness_A"] + 2 * cfg["gap_A"]
        if thick - 2 * cfg["gap_A"] < MIN_WATER_THICKNESS_A:
            raise ValueError(
                f"md.electrolyte_thickness_A = {thick:g} Å leaves {thick - 2 * cfg['gap_A']:g} Å "
                f"between the placement gaps (md.gap_A = {cfg['gap_A']:g} Å at each side) for "
                f'md.geometry = "{cfg["geometry"]}"; use md.electrolyte_thickness_A >= '
                f"{2 * cfg['gap_A'] + MIN_WATER_THICKNESS_A:g}"
            )
    _get_salt("md.salt", cfg["salt"])
    _check_concentration("md.concentration_mol_per_L", cfg["concentration_mol_per_L"],
                         "md.salt", cfg["salt"])  # fmt: skip
    _check_temperature("md.temperature_K", cfg["temperature_K"])
    _check_timestep("md.timestep_fs", cfg["timestep_fs"])
    mh = cfg["hydrogen_mass_u"]
    if mh != 0 and not 1.008 <= mh <= 4.5:
        raise ValueError(
            f"md.hydrogen_mass_u = {mh:g} u: give 0 (true masses) or a hydrogen mass between "
            "1.008 and 4.5 u (3 is usual for hydrogen mass repartitioning)"
        )
    if cfg["traj_interval"] > cfg["steps"]:
        raise ValueError(
            f"md.traj_interval = {cfg['traj_interval']} steps is larger than md.steps = "
            f"{cfg['steps']}: the trajectory would hold the first frame only; use "
            f"md.traj_interval <= md.steps"
        )
    return _md_elements(cfg)


#: the profiles a configuration can name as ``extract.reference_profile = "builtin:NAME"``
BUILTIN_PROFILES = {"production": "production_profile.h5"}


def resolve_profile(value: str, key: str = "extract.reference_profile") -> Path | None:
    """The TransportProfile file a config key names (None for ""): a path, or ``builtin:NAME``
    for a profile shipped in ``multiscale/pipeline/profiles/``.

    Parameters
    ----------
    value : str
        The key's value.
    key : str
        The key, for the messages (``extract.reference_profile``, ``continuum.profile``).

    Raises
    ------
    ValueError
        An unknown builtin name, a builtin profile that is not shipped (yet), or no such file.
    """
    if not value:
        return None
    if value.startswith("builtin:"):
        name = value.removeprefix("builtin:")
        if name not in BUILTIN_PROFILES:
            raise ValueError(
                f"{key} = {value!r}: unknown builtin profile; choose "
                f"one of {sorted('builtin:' + n for n in BUILTIN_PROFILES)} or give a file path"
            )
        path = Path(__file__).parent / "profiles" / BUILTIN_PROFILES[name]
        if not path.is_file():
            raise ValueError(
                f"{key} = {value!r}: this installation ships no {name} "
                f"profile ({path} is missing; `multiscale run {name}` computes one: give "
                'its extract/profile.h5 instead, or "" for none)'
            )
        return path
    path = Path(value)
    if not path.is_file():
        raise ValueError(
            f"{key} = {value!r}: no such file; give the path of a "
            'TransportProfile HDF5 file (a run\'s extract/profile.h5), or "" for none'
        )
    return path


def resolve_reference_profile(value: str) -> Path | None:
    """The file of ``extract.reference_profile`` (see :func:`resolve_profile`)."""
    return resolve_profile(value, "extract.reference_profile")


def _check_extract(cfg: dict[str, Any], md: dict[str, Any] | None) -> None:
    from multiscale.extract.electrostatics import WATER_MODELS

    resolve_reference_profile(cfg["reference_profile"])

    if cfg["water_model"] not in WATER_MODELS:
        raise ValueError(
            f"extract.water_model = {cfg['water_model']!r}: unknown water model; choose one of "
            f"{sorted(WATER_MODELS)}"
        )
    charges = cfg["ion_charges"]
    water = sorted(set(charges) & set(WATER_MODELS[cfg["water_model"]]))
    if water:
        raise ValueError(
            f"extract.ion_charges: {water[0]} has a charge from extract.water_model = "
            f"{cfg['water_model']!r} already; remove {water[0]} from extract.ion_charges"
        )
    elements = None
    if md is not None:
        elements = _md_elements(md)
        if md["concentration_mol_per_L"] > 0:
            s = _get_salt("md.salt", md["salt"])
            for ion, q in zip((s.cation, s.anion), s.charges, strict=True):
                if ion not in charges:
                    raise ValueError(
                        f"extract.ion_charges has no charge for {ion}, an ion of md.salt = "
                        f"{md['salt']!r}; add {ion} = {float(q):g}"
                    )
                if _sign(charges[ion]) != _sign(q):
                    raise ValueError(
                        f"extract.ion_charges.{ion} = {charges[ion]:g} e has the wrong sign: "
                        f"{ion} is an ion of charge {q:+d} e in md.salt = {md['salt']!r}; "
                        "fix the sign"
                    )
    for name, entry in cfg["species"].items():
        sel, q = entry["selection"], entry["charge"]
        key = f"extract.species.{name}"
        if elements is not None and sel not in elements:
            raise ValueError(
                f"{key}.selection = {sel!r} matches no atom of the md system (its elements are "
                f"{sorted(elements)}; md.concentration_mol_per_L = "
                f"{md['concentration_mol_per_L']:g}); select one of them or remove {name}"
            )
        expected = None
        if sel in charges:
            expected, why = _sign(charges[sel]), f"extract.ion_charges.{sel} = {charges[sel]:g}"
        elif sel in ("O", "H") or (md is not None and sel == md["metal"]):
            expected, why = 0, f"{sel} belongs to a neutral water or the metal"
        if expected is not None and _sign(q) != expected:
            raise ValueError(
                f"{key}.charge = {q} e does not match the sign of {sel} ({why}); give the "
                "charge number of the selected atoms, with its sign"
            )
    if md is not None:
        span = md["water_thickness_A"] - 2 * cfg["z_margin_A"]
        if span < cfg["bin_width_A"]:
            raise ValueError(
                f"extract.z_margin_A = {cfg['z_margin_A']:g} Å leaves {span:g} Å of the "
                f"{md['water_thickness_A']:g} Å water film, less than one bin "
                f"(extract.bin_width_A = {cfg['bin_width_A']:g} Å); lower z_margin_A or "
                "bin_width_A"
            )
        frames = md["steps"] // md["traj_interval"] + 1 - cfg["discard_frames"]
        for key in ("lags", "perp_lags"):
            need = 2 * max(cfg[key] or cfg["lags"])
            if cfg[key] and frames < need:
                raise ValueError(
                    f"extract.{key} = {cfg[key]} need at least {need} frames (twice the "
                    f"largest lag), but md.steps / md.traj_interval + 1 - "
                    f"extract.discard_frames gives {frames}; run more md.steps, lower "
                    f"extract.{key} or extract.discard_frames"
                )


def _check_continuum(cfg: dict[str, Any]) -> None:
    import re

    n = cfg["electrons"]
    total = cfg["alpha_anodic"] + cfg["alpha_cathodic"]
    if abs(total - n) > 1e-9:
        raise ValueError(
            f"continuum.alpha_anodic + continuum.alpha_cathodic = {cfg['alpha_anodic']:g} + "
            f"{cfg['alpha_cathodic']:g} = {total:g}, but it must equal continuum.electrons = "
            f"{n} (else the zero-current potential is not the Nernst potential); e.g. "
            f"alpha_anodic = alpha_cathodic = {n / 2:g}"
        )
    if cfg["product_charge"] != n:
        raise ValueError(
            f"continuum.product_charge = {cfg['product_charge']} differs from "
            f"continuum.electrons = {n}: a metal atom that dissolves as M^z+ gives z electrons "
            "to the metal, so both are the ion's charge number; set them equal"
        )
    if not cfg["product"]:
        from .electrochem import product_for_metal

        ion = product_for_metal(cfg["metal"] or "Cu")
        if ion.charge != n:
            raise ValueError(
                f"the usual product of continuum.metal = {cfg['metal'] or 'Cu'!r} is "
                f"{ion.name} (charge {ion.charge:+d}), but continuum.electrons = {n}; set "
                f"continuum.electrons = product_charge = {ion.charge} and alpha_anodic + "
                f"alpha_cathodic = {ion.charge}"
            )
    m = re.fullmatch(r"[A-Z][a-z]?(\d*)([+-])", cfg["product"])
    if m:
        z = int(m.group(1) or 1) * (1 if m.group(2) == "+" else -1)
        if z != cfg["product_charge"]:
            raise ValueError(
                f"continuum.product = {cfg['product']!r} has charge {z:+d}, but "
                f"continuum.product_charge = {cfg['product_charge']}; make them agree"
            )
    _check_temperature("continuum.temperature_K", cfg["temperature_K"])
    _range("continuum.overpotential_V", cfg["overpotential_V"], -2.0, 2.0, "V",
           "give the overpotential E - E_eq in volts (not mV)")  # fmt: skip
    _range("continuum.equilibrium_potential_V", cfg["equilibrium_potential_V"], -5.0, 5.0, "V",
           "give the equilibrium potential in volts (not mV)")  # fmt: skip
    _range("continuum.exchange_current_A_per_m2", cfg["exchange_current_A_per_m2"], 0.0, 1e4,
           "A/m²", "give i0 in A/m² (1 mA/cm² = 10 A/m²)")  # fmt: skip
    if cfg["product_diffusion_m2_per_s"] != 0:
        _range("continuum.product_diffusion_m2_per_s", cfg["product_diffusion_m2_per_s"],
               1e-12, 1e-7, "m²/s", "give D in m²/s (1e-5 cm²/s = 1e-9 m²/s), or 0 for the "
               "table")  # fmt: skip
    for key in ("product_bulk_mol_per_m3", "reference_concentration_mol_per_m3"):
        _range(f"continuum.{key}", cfg[key], 0.0, 1e3 * MAX_CONCENTRATION_MOL_PER_L, "mol/m³",
               "give the concentration in mol/m³ (1 mol/L = 1000 mol/m³)")  # fmt: skip
    if cfg["pit"]:
        if cfg["domain_width_um"] <= cfg["pit_width_um"] / 2:
            raise ValueError(
                f"continuum.domain_width_um = {cfg['domain_width_um']:g} µm must exceed half the "
                f"pit width (continuum.pit_width_um / 2 = {cfg['pit_width_um'] / 2:g} µm); "
                "widen the domain"
            )
        if cfg["cells_across_pit"] < 2:
            raise ValueError(
                f"continuum.cells_across_pit = {cfg['cells_across_pit']} cells is below the "
                "minimum of 2; use 2 or more"
            )
    resolve_profile(cfg["profile"], "continuum.profile")  # "": the extract stage's


def _check_continuum_metal(cfg: dict[str, Any], md: dict[str, Any] | None) -> None:
    """Fill continuum.metal from md.metal; refuse a product that is not an ion of the metal."""
    from .electrochem import product_element

    if md is not None and cfg["metal"] and cfg["metal"] != md["metal"] and not cfg[
            "product_override"]:  # fmt: skip
        raise ValueError(
            f"continuum.metal = {cfg['metal']!r} differs from md.metal = {md['metal']!r}: the "
            'pit would not be the simulated metal; remove continuum.metal (or set it to "") '
            "or set continuum.product_override = true"
        )
    if not cfg["metal"]:
        cfg["metal"] = md["metal"] if md is not None else "Cu"
    el = product_element(cfg["product"]) if cfg["product"] else None
    if el is not None and el != cfg["metal"] and not cfg["product_override"]:
        raise ValueError(
            f"continuum.product = {cfg['product']!r} is not an ion of the metal "
            f"{cfg['metal']!r} (continuum.metal, = md.metal unless set); remove "
            'continuum.product (or set it to "") to take the usual ion of the metal, or set '
            "continuum.product_override = true"
        )


#: lowest plausible umbrella window centre above the top metal layer's nuclei, Å (an ion's
#: closest contact with a metal surface is ~2 Å)
MIN_UMBRELLA_HEIGHT_A = 1.0


def _check_umbrella(
    cfg: dict[str, Any], md: dict[str, Any] | None, extract: dict[str, Any] | None
) -> None:
    """Checks by meaning of an enabled ``[umbrella]`` (a disabled one is ignored)."""
    from .umbrella_stage import FLAT_OVERLAP_MIN, flat_overlap, window_centers

    if not cfg["enabled"]:
        return
    if md is None:
        raise ValueError(
            "umbrella.enabled = true needs an [md] section: the windows start from the md "
            "stage's last frame, with its calculator and thermostat"
        )
    defaults = SCHEMA["umbrella"]
    ranged = [k for k in ("z_min_A", "z_max_A", "spacing_A") if cfg[k] != defaults[k].default]
    if cfg["centers_A"] and ranged:
        raise ValueError(
            f"umbrella.centers_A and umbrella.{ranged[0]} are both given: give either the "
            "window centres (centers_A) or a range (z_min_A, z_max_A, spacing_A), not both"
        )
    elements = _md_elements(md)
    s = _get_salt("md.salt", md["salt"])
    ions = [s.cation, s.anion] if md["concentration_mol_per_L"] > 0 else []
    for sym in cfg["species"]:
        if sym not in elements:
            raise ValueError(
                f"umbrella.species: {sym!r} is not in the md system (its elements are "
                f"{sorted(elements)}; md.salt = {md['salt']!r}, md.concentration_mol_per_L = "
                f"{md['concentration_mol_per_L']:g}); list ions of the md system, e.g. "
                f"{ions[:1] or [s.cation]}"
            )
        if sym not in ions:
            raise ValueError(
                f"umbrella.species: {sym!r} is not an ion of md.salt = {md['salt']!r} (water and "
                f"the metal are not sampled by umbrella windows); list ions, e.g. {ions[:1]}"
            )
    if len(set(cfg["species"])) != len(cfg["species"]):
        raise ValueError(f"umbrella.species lists an ion twice: {cfg['species']}")
    if not cfg["species"] and extract is None:
        raise ValueError(
            "umbrella.species = [] means 'the ions the extract stage leaves out', but there is "
            'no [extract] section; list the ions, e.g. species = ["Na"]'
        )
    if not cfg["species"] and not ions:
        raise ValueError(
            "umbrella.enabled = true, but the md system holds no ions (md.concentration_mol_per_L "
            "= 0): set a salt concentration or umbrella.enabled = false"
        )
    if extract is not None:
        selected = {e["selection"] for e in extract["species"].values()}
        for sym in cfg["species"]:
            if sym not in selected:
                q = s.charges[0] if sym == s.cation else s.charges[1]
                raise ValueError(
                    f"umbrella.species: {sym!r} is selected by no extract.species entry, so its "
                    "umbrella profile could not enter the transport profile; add "
                    f'"{sym}{"+" if q > 0 else "-"}" = {{selection = "{sym}", charge = {q}}} to '
                    f"extract.species, or remove {sym!r}"
                )
    if cfg["z_max_A"] <= cfg["z_min_A"] and not cfg["centers_A"]:
        raise ValueError(
            f"umbrella.z_max_A = {cfg['z_max_A']:g} Å must exceed umbrella.z_min_A = "
            f"{cfg['z_min_A']:g} Å"
        )
    centers = window_centers(cfg)
    if len(centers) < 2:
        raise ValueError(
            f"umbrella: {len(centers)} window (centres {centers} Å); F(z) needs at least 2: "
            "give more centers_A, or a smaller spacing_A / wider z_min_A..z_max_A"
        )
    if len(set(centers)) != len(centers):
        raise ValueError(f"umbrella.centers_A lists a centre twice: {cfg['centers_A']}")
    low = min(centers)
    if low < MIN_UMBRELLA_HEIGHT_A:
        raise ValueError(
            f"umbrella: the window centre {low:g} Å is below the surface an ion can reach "
            "(heights are measured from the top metal layer's nuclei; an ion comes no closer "
            f"than ~2 Å): use centres >= {MIN_UMBRELLA_HEIGHT_A:g} Å"
        )
    geometry = md.get("geometry", "film")
    if geometry == "film":
        top, what = md["gap_A"] + md["water_thickness_A"], "md.gap_A + md.water_thickness_A"
    else:
        thick = md["electrolyte_thickness_A"] or md["water_thickness_A"] + 2 * md["gap_A"]
        top, what = thick - md["gap_A"], "the electrolyte thickness - md.gap_A"
    high = max(centers)
    if high > top:
        raise ValueError(
            f"umbrella: a window centre at {high:g} Å lies beyond the liquid, which ends "
            f"{top:g} Å above the top metal layer ({what}, md.geometry = {geometry!r}); use "
            f"centres <= {top:g} Å"
        )
    if cfg["window_ps"] <= cfg["discard_ps"]:
        raise ValueError(
            f"umbrella.window_ps = {cfg['window_ps']:g} ps must exceed umbrella.discard_ps = "
            f"{cfg['discard_ps']:g} ps (the start of every window left out of the analysis); "
            "lengthen window_ps or lower discard_ps"
        )
    md_ps = md["steps"] * md["timestep_fs"] / 1000
    if cfg["start_ps"] > md_ps:
        raise ValueError(
            f"umbrella.start_ps = {cfg['start_ps']:g} ps lies beyond the md run ({md['steps']} "
            f"steps of {md['timestep_fs']:g} fs = {md_ps:g} ps): lower umbrella.start_ps (0: the "
            "md stage's last frame) or lengthen md.steps"
        )
    nb = cfg["n_blocks"]
    if nb < 4 or nb % 2:
        raise ValueError(
            f"umbrella.n_blocks = {nb}: expected an even number >= 4 (the convergence check "
            "compares the first half of the blocks with the second)"
        )
    frame_fs = md["timestep_fs"] * md["traj_interval"]
    frames = int((cfg["window_ps"] - cfg["discard_ps"]) * 1000 / frame_fs)
    if frames < 16 * nb:
        raise ValueError(
            f"umbrella.window_ps - umbrella.discard_ps = "
            f"{cfg['window_ps'] - cfg['discard_ps']:g} ps at one frame every {frame_fs:g} fs "
            f"(md.timestep_fs x md.traj_interval) gives {frames} frames per window, but "
            f"umbrella.n_blocks = {nb} needs at least {16 * nb}; lengthen window_ps or lower "
            "n_blocks"
        )
    ov = flat_overlap(centers, cfg["k_eV_per_A2"], md["temperature_K"])
    if ov.size and ov.min() < FLAT_OVERLAP_MIN:
        i = int(ov.argmin())
        width = (8.617333262e-5 * md["temperature_K"] / cfg["k_eV_per_A2"]) ** 0.5
        raise ValueError(
            f"umbrella: the windows at {centers[i]:g} and {centers[i + 1]:g} Å would overlap "
            f"only {ov[i]:.2g} even where F(z) is flat (the analysis needs >= "
            f"{FLAT_OVERLAP_MIN}): at umbrella.k_eV_per_A2 = {cfg['k_eV_per_A2']:g} eV/Å² a "
            f"window is sqrt(kT/k) = {width:.2g} Å wide; space the centres at most "
            f"~{4 * width:.2g} Å apart or lower k_eV_per_A2"
        )


def _check_meaning(out: dict[str, Any], allow_import: bool) -> None:
    """The checks by meaning and the calculators (see :func:`validate_config`)."""
    from .calculators import resolve_calculator

    systems: dict[str, set[str]] = {}
    if "qmml" in out:
        systems["qmml"] = _check_qmml(out["qmml"])
    if "md" in out:
        systems["md"] = _check_md(out["md"])
    if "extract" in out:
        _check_extract(out["extract"], out.get("md"))
    if "umbrella" in out:
        _check_umbrella(out["umbrella"], out.get("md"), out.get("extract"))
    if "continuum" in out:
        _check_continuum_metal(out["continuum"], out.get("md"))
        _check_continuum(out["continuum"])
    words = {"qmml": "the qmml electrolyte box", "md": "the md interface"}
    for section, key in (("qmml", "ml"), ("qmml", "qm"), ("md", "calculator")):
        if section in out:
            out[section][key] = resolve_calculator(
                out[section][key], f"{section}.{key}", elements=systems[section],
                system=f"{words[section]} ({', '.join(sorted(systems[section]))})",
                allow_import=allow_import,
            )  # fmt: skip


def _check_sections(
    config: Any,
    schema: Mapping[str, Mapping[str, Key]],
    *,
    always: tuple[str, ...] = ("run",),
    doc: str = "docs/pipeline.md",
    check: Callable[[str, Key, Any], Any] = _check,
    prepare: Callable[[str, Any], Any] | None = None,
) -> dict[str, Any]:
    """Check the tables of a configuration by type and fill in the defaults of their keys.

    Shared by :func:`validate_config` and :func:`multiscale.properties.validate_props_config`.

    Parameters
    ----------
    config : mapping
        ``{section: {key: value}}`` as read from TOML.
    schema : mapping
        ``{section: {key: Key}}``: the sections and keys allowed, in the order checked.
    always : tuple of str
        Sections filled with their defaults even when absent; the others are left out.
    doc : str
        Documentation page named in the message about an unknown section.
    check : callable
        ``check("section.key", key, value)`` returns the checked value or raises ValueError.
    prepare : callable, optional
        ``prepare(section, given)`` turns a section's raw value into its table before it is
        checked (e.g. a calculator given as a string).

    Returns
    -------
    dict
        ``{section: {key: value}}`` with every key of every present section.

    Raises
    ------
    TypeError
        ``config`` is not a mapping.
    ValueError
        Unknown section or key, or a value of the wrong type or range (names ``section.key``).
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping of tables, got {type(config).__name__}")
    unknown = sorted(set(config) - set(schema))
    if unknown:
        raise ValueError(
            f"unknown section(s) {unknown}: the sections are {sorted(schema)} (see {doc})"
        )
    out: dict[str, Any] = {}
    for section, keys in schema.items():
        if section not in config and section not in always:
            continue
        given = config.get(section, {})
        if prepare is not None:
            given = prepare(section, given)
        if not isinstance(given, Mapping):
            raise ValueError(f"{section}: expected a table, got {given!r}")
        bad = sorted(set(given) - set(keys))
        if bad:
            raise ValueError(
                f"{section}.{bad[0]}: unknown key; the keys of [{section}] are {sorted(keys)}"
            )
        out[section] = {
            name: check(f"{section}.{name}", key, given[name]) if name in given else
            copy.deepcopy(key.default)
            for name, key in keys.items()
        }  # fmt: skip
    return out


def _read_config(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """The mapping itself, or the tables read from the TOML file that ``source`` names.

    Shared by :func:`load_config` and :func:`multiscale.properties.load_props_config`.

    Raises
    ------
    TypeError
        ``source`` is neither a mapping nor a path.
    ValueError
        The file does not exist or is not valid TOML.
    """
    if isinstance(source, Mapping):
        return source
    if not isinstance(source, str | Path):
        raise TypeError(
            f"config must be a mapping of tables or a TOML file path, got {type(source).__name__}"
        )
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"configuration file {path} does not exist")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from err


def validate_config(config: Mapping[str, Any], *, allow_import: bool = False) -> dict[str, Any]:
    """Check a configuration mapping by type and meaning, and fill in the defaults.

    Nothing is run, built or downloaded, and no code named in the configuration is imported
    unless ``allow_import`` (or ``run.trust_imports``) says so. After the type of every key,
    the values are checked by meaning: plausible ranges with units (temperatures 200-500 K,
    time steps <= 5 fs, |overpotential| <= 2 V, ...), consistency between keys (α_a + α_c =
    electrons, md.traj_interval <= md.steps, extraction species present in the md system with
    the sign of their ion charge, ...), metals and salts the builders support, and each
    calculator (registered name, accepted keyword arguments, elements of its system covered;
    else its fallback is chosen here and a warning logged).

    Parameters
    ----------
    config : mapping
        ``{section: {key: value}}`` as read from TOML. Sections that are absent are not run
        (except ``run``, always present); a section given as an empty table runs with the
        defaults.
    allow_import : bool
        Allow calculator import paths ``"package.module:Name"`` (they import and run that
        code); the same as ``trust_imports = true`` in ``[run]``.

    Returns
    -------
    dict
        The complete configuration (every key of every present section). Calculator tables are
        the ones that will be used (a fallback replaces its primary when the primary is not
        installed or misses an element); ``run.trust_imports`` is true if imports were allowed.

    Raises
    ------
    ValueError
        Unknown section or key, a value of the wrong type or range, or values that contradict
        each other; the message names the key (``section.key``), the value, the expected type
        or plausible range with its unit, and what to do.
    TypeError
        ``config`` is not a mapping, or ``allow_import`` is not a bool.
    """
    if not isinstance(allow_import, bool):
        raise TypeError(f"allow_import must be True or False, got {allow_import!r}")
    out = _check_sections(config, SCHEMA)
    wrong = [s for s in out["run"]["stages"] if s not in STAGE_ORDER]
    if wrong:
        raise ValueError(f"run.stages: expected stages among {list(STAGE_ORDER)}, got {wrong}")
    if "md" in out and len(out["md"]["size"]) != 2:
        raise ValueError(
            f"md.size: expected two positive integers (nx, ny), got {out['md']['size']}"
        )
    allow = allow_import or out["run"]["trust_imports"]
    out["run"]["trust_imports"] = allow
    _check_meaning(out, allow)
    return out


def load_config(
    source: str | Path | Mapping[str, Any], *, allow_import: bool = False
) -> dict[str, Any]:
    """Read (TOML file) or take (mapping) a configuration and validate it.

    Parameters
    ----------
    source : str, Path or mapping
        Path of a TOML file, or the configuration as a dict.
    allow_import : bool
        Allow calculator import paths ``"package.module:Name"`` (see :func:`validate_config`).

    Returns
    -------
    dict
        The validated configuration with defaults filled in (see :func:`validate_config`).
    """
    return validate_config(_read_config(source), allow_import=allow_import)


def builtin_config(name: str) -> str:
    """Text of a shipped configuration (``"demo"`` or ``"demo_quick"``)."""
    files = resources.files("multiscale.pipeline") / "configs"
    target = files / f"{name}.toml"
    if not target.is_file():
        names = sorted(
            p.name.removesuffix(".toml") for p in files.iterdir() if p.name.endswith(".toml")
        )
        raise ValueError(f"no built-in configuration {name!r}; available: {names}")
    return target.read_text()
