"""The pipeline configuration: schema (type, unit, default of every key) and validation.

A configuration is a nested mapping with one table per stage (``qmml``, ``md``, ``extract``,
``continuum``) plus ``[run]``; it is read from TOML with :mod:`tomllib` by :func:`load_config`
or given as a dict. Every key is checked before anything runs; an error names the key, the
expected type and unit, and the value found, e.g.
``md.timestep_fs: expected a positive number in fs, got 'abc'``.
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA", "STAGES", "Key", "builtin_config", "load_config", "validate_config"]

#: The stages, in the order they run.
STAGES = ("qmml", "md", "extract", "continuum")


@dataclass(frozen=True)
class Key:
    """One configuration key: its kind, unit, default and meaning.

    kind is one of "int+", "int0" (>= 0), "num+" (> 0), "num0" (>= 0), "num" (any finite),
    "str", "bool", "choice", "calc" (calculator spec), "ints", "nums", "strs", "table",
    "species" (extraction species table), "path".
    """

    kind: str
    default: Any
    unit: str = ""
    doc: str = ""
    choices: tuple = ()


_CALC_DOC = (
    'calculator: {model = "default:NAME"} (shipped MLIP), {model = "chgnet"}, '
    '{model = "pyscf", xc = ..., basis = ...} or an import path {model = "module:Class", '
    "...keyword arguments}"
)

SCHEMA: dict[str, dict[str, Key]] = {
    "run": {
        "name": Key("str", "run", "", "name shown in the report"),
        "seed": Key("int0", 0, "", "seed of every random choice (structures, velocities, noise)"),
        "stages": Key(
            "strs",
            list(STAGES),
            "",
            "stages run by default (subset of qmml, md, extract, continuum)",
        ),
        "progress": Key("bool", True, "", "show tqdm progress bars"),
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
        "steps": Key("int+", 2000, "steps", "MD steps"),
        "timestep_fs": Key("num+", 0.5, "fs", "time step"),
        "ensemble": Key("choice", "langevin", "", "thermostat", ("langevin", "bussi", "nve")),
        "temperature_K": Key("num+", 300.0, "K", "target temperature"),
        "friction_per_fs": Key("num+", 0.01, "1/fs", "Langevin friction"),
        "traj_interval": Key("int+", 10, "steps", "steps between trajectory frames"),
        "checkpoint_interval": Key("int+", 100, "steps", "steps between checkpoints"),
        "calculator": Key("calc", {"model": "default:cu-water-nacl"}, "", _CALC_DOC),
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
        "lags": Key("ints", [2, 4, 8], "frames", "lag times of the D(z) estimators"),
        "n_blocks": Key("int+", 4, "blocks", "independent blocks for error bars"),
        "parallel": Key("bool", True, "", "also compute D∥(z) (in-plane diffusion)"),
        "discard_frames": Key("int0", 0, "frames", "equilibration frames left out"),
        "water_model": Key("str", "SPC/E", "", "water charges for rho(z) and phi(z)"),
        "ion_charges": Key("table", {"Na": 1.0, "Cl": -1.0}, "e", "charges of the ions by element"),
    },
    "continuum": {
        "profile": Key(
            "path", "", "", "TransportProfile HDF5 to use instead of the extract stage's"
        ),
        "profile_1d": Key("bool", True, "", "solve the profile-fed 1D equilibrium problem"),
        "cells_1d": Key("int+", 200, "cells", "cells of the 1D mesh"),
        "potential_1d": Key(
            "choice", "profile", "", "potential in 1D: MD phi(z) or none", ("profile", "none")
        ),
        "pit": Key("bool", True, "", "solve the 2D corrosion-pit problem"),
        "pit_width_um": Key("num+", 20.0, "µm", "full width of the pit"),
        "pit_depth_um": Key("num+", 40.0, "µm", "depth of the pit"),
        "domain_width_um": Key("num+", 60.0, "µm", "half-width of the domain from the pit axis"),
        "domain_height_um": Key("num+", 60.0, "µm", "height of the solution above the surface"),
        "cells_across_pit": Key("int+", 8, "cells", "cells across the half-width of the pit"),
        "product": Key("str", "Cu2+", "", "dissolved metal ion"),
        "product_charge": Key("int+", 2, "e", "its charge number"),
        "product_diffusion_m2_per_s": Key("num+", 7.1e-10, "m²/s", "its diffusion coefficient"),
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
    "strs": "a list of strings",
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
    elif k == "ints":
        if (
            not isinstance(v, list)
            or not v
            or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v)
        ):
            raise _expect(name, key, v)
    elif k == "strs":
        if not isinstance(v, list) or not all(isinstance(i, str) for i in v):
            raise _expect(name, key, v)
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


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a configuration mapping and fill in the defaults.

    Parameters
    ----------
    config : mapping
        ``{section: {key: value}}`` as read from TOML. Sections that are absent are not run
        (except ``run``, always present); a section given as an empty table runs with the
        defaults.

    Returns
    -------
    dict
        The complete configuration (every key of every present section).

    Raises
    ------
    ValueError
        Unknown section or key, or a value of the wrong type or range; the message names the
        key (``section.key``), the expected type and unit, and the value.
    TypeError
        ``config`` is not a mapping.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping of tables, got {type(config).__name__}")
    unknown = sorted(set(config) - set(SCHEMA))
    if unknown:
        raise ValueError(
            f"unknown section(s) {unknown}: the sections are {sorted(SCHEMA)} "
            "(see docs/pipeline.md)"
        )
    out: dict[str, Any] = {}
    for section, keys in SCHEMA.items():
        if section not in config and section != "run":
            continue
        given = config.get(section, {})
        if not isinstance(given, Mapping):
            raise ValueError(f"{section}: expected a table, got {given!r}")
        bad = sorted(set(given) - set(keys))
        if bad:
            raise ValueError(
                f"{section}.{bad[0]}: unknown key; the keys of [{section}] are {sorted(keys)}"
            )
        out[section] = {
            name: _check(f"{section}.{name}", key, given[name]) if name in given else
            copy.deepcopy(key.default)
            for name, key in keys.items()
        }  # fmt: skip
    wrong = [s for s in out["run"]["stages"] if s not in STAGES]
    if wrong:
        raise ValueError(f"run.stages: expected stages among {list(STAGES)}, got {wrong}")
    if "md" in out and len(out["md"]["size"]) != 2:
        raise ValueError(
            f"md.size: expected two positive integers (nx, ny), got {out['md']['size']}"
        )
    return out


def load_config(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read (TOML file) or take (mapping) a configuration and validate it.

    Parameters
    ----------
    source : str, Path or mapping
        Path of a TOML file, or the configuration as a dict.

    Returns
    -------
    dict
        The validated configuration with defaults filled in (see :func:`validate_config`).
    """
    if isinstance(source, Mapping):
        return validate_config(source)
    if not isinstance(source, str | Path):
        raise TypeError(
            f"config must be a mapping of tables or a TOML file path, got {type(source).__name__}"
        )
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"configuration file {path} does not exist")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from err
    return validate_config(data)


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
