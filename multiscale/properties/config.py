"""``multiscale props CONFIG.toml``: the property workflows from a small TOML configuration.

Each section present runs one workflow (an empty table runs it with the defaults)::

    [run]
    name = "cu-emt"
    [calculator]             # the registry of multiscale.pipeline.calculators (trust rules apply)
    model = "emt"            # or "chgnet", "default:NAME", a plug-in, an import path (opt-in)
    [material]
    element = "Cu"           # an fcc element
    a_A = 0.0                # cubic lattice constant; 0: relaxed with the calculator
    [elastic]
    strains = [-0.01, -0.005, 0.005, 0.01]
    [phonons]
    supercell = [3, 3, 3]
    compare_supercell = [2, 2, 2]
    [surfaces]
    facets = ["111", "100", "110"]
    layers = [5, 6, 7, 8, 9, 10]
    [hull]
    elements = ["Cu", "Au"]

Every key is checked (type, unit, range) before anything runs, with the pipeline's messages
(:mod:`multiscale.pipeline.config`); the calculator is checked against every element the
workflows will see. :func:`run_properties` writes ``<workflow>.json`` and ``<workflow>.png``
(and ``hull.txt``) and ``summary.json`` to the output folder.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from multiscale.pipeline.config import Key, _check, _check_sections, _read_config

from ._common import write_json

__all__ = ["PROPS_SCHEMA", "load_props_config", "run_properties", "validate_props_config"]

_CALC_DOC = (
    'calculator table: {model = "emt"}, {model = "chgnet"}, {model = "default:NAME"}, '
    "a plug-in name, or (with run.trust_imports) an import path; other keys are its "
    "keyword arguments"
)

PROPS_SCHEMA: dict[str, dict[str, Key]] = {
    "run": {
        "name": Key("str", "props", "", "name of the run"),
        "trust_imports": Key("bool", False, "", "allow calculator import paths"),
    },
    "calculator": {"spec": Key("calc", {"model": "emt"}, "", _CALC_DOC)},
    "material": {
        "element": Key("str", "Cu", "", "fcc element of the elastic, phonon and surface runs"),
        "a_A": Key("num0", 0.0, "Å", "cubic lattice constant (0: relaxed with the calculator)"),
    },
    "elastic": {
        "strains": Key("nums", [-0.01, -0.005, 0.005, 0.01], "", "strain magnitudes"),
        "fmax_eV_A": Key("num+", 1e-3, "eV/Å", "ionic relaxation threshold (multi-atom cells)"),
    },
    "phonons": {
        "supercell": Key("ints", [3, 3, 3], "", "supercell of the force constants"),
        "compare_supercell": Key("ints", [2, 2, 2], "", "second supercell for convergence"),
        "displacement_A": Key("num+", 0.01, "Å", "finite displacement"),
        "mesh": Key("ints", [16, 16, 16], "", "q-mesh of DOS and thermodynamics"),
        "t_max_K": Key("num+", 1000.0, "K", "highest temperature"),
        "t_step_K": Key("num+", 10.0, "K", "temperature step"),
        "imaginary_tol_THz": Key("num+", 0.05, "THz", "frequencies below minus this are imaginary"),
    },
    "surfaces": {
        "facets": Key("strs", ["111", "100", "110"], "", "facets among 111, 100, 110"),
        "layers": Key("ints", [5, 6, 7, 8, 9, 10], "layers", "slab thicknesses, increasing"),
        "vacuum_A": Key("num+", 8.0, "Å", "vacuum on each side"),
        "relax_layers": Key("int0", 2, "layers", "outer layers relaxed on each side"),
        "fmax_eV_A": Key("num+", 0.005, "eV/Å", "relaxation threshold"),
        "tolerance_J_m2": Key("num+", 0.01, "J/m²", "convergence tolerance of γ"),
    },
    "hull": {
        "elements": Key("strs", ["Cu", "Au"], "", "two or three fcc-forming elements"),
        "a_A": Key("num0", 0.0, "Å", "lattice constant of the candidates (0: mean of ASE's)"),
        "relax": Key("bool", True, "", "relax cell and positions of each candidate"),
        "fmax_eV_A": Key("num+", 0.01, "eV/Å", "relaxation threshold"),
    },
}
_EXTRA_KINDS = {"nums"}


def _check_value(name: str, key: Key, v: Any) -> Any:
    if key.kind == "nums":
        if (
            not isinstance(v, list)
            or not v
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        ):
            raise ValueError(f"{name}: expected a non-empty list of numbers, got {v!r}")
        return [float(x) for x in v]
    return _check(name, key, v)


def _calculator_table(section: str, given: Any) -> Any:
    """``calculator = "emt"`` or ``[calculator] ...``: the spec as the table ``{"spec": ...}``."""
    if section != "calculator" or not given:
        return {} if section == "calculator" else given
    return {"spec": _check("calculator", PROPS_SCHEMA["calculator"]["spec"], given)}


def validate_props_config(
    config: Mapping[str, Any], *, allow_import: bool = False
) -> dict[str, Any]:
    """Check a property configuration (types, units, ranges, calculator) and fill defaults.

    Parameters
    ----------
    config : mapping
        ``{section: {key: value}}`` as read from TOML (see the module docstring).
    allow_import : bool
        Allow a calculator import path (runs code named in the configuration).

    Returns
    -------
    dict
        Every key of every present section; ``calculator`` is the resolved spec.

    Raises
    ------
    ValueError
        Unknown section or key, wrong type or range (the message names ``section.key``), no
        workflow section, or a calculator that is unknown or misses an element.
    TypeError
        ``config`` is not a mapping.
    """
    from multiscale.pipeline.calculators import resolve_calculator

    out = _check_sections(
        config,
        PROPS_SCHEMA,
        always=("run", "calculator", "material"),
        doc="docs/properties.md",
        check=_check_value,
        prepare=_calculator_table,
    )
    workflows = [s for s in ("elastic", "phonons", "surfaces", "hull") if s in out]
    if not workflows:
        raise ValueError(
            "no workflow: add at least one of the tables [elastic], [phonons], "
            "[surfaces], [hull] (an empty table runs it with the defaults)"
        )
    if "elastic" in out:
        s = np.asarray(out["elastic"]["strains"])
        if len(np.unique(s)) < 2 or np.any(s == 0) or np.any(np.abs(s) > 0.05):
            raise ValueError(
                f"elastic.strains: expected at least two distinct non-zero strains "
                f"with |strain| <= 0.05, got {list(s)}"
            )
    if "phonons" in out:
        for k in ("supercell", "compare_supercell", "mesh"):
            if len(out["phonons"][k]) != 3:
                raise ValueError(
                    f"phonons.{k}: expected three positive integers, got {out['phonons'][k]}"
                )
    if "surfaces" in out:
        su = out["surfaces"]
        bad = [f for f in su["facets"] if f not in ("111", "100", "110")]
        if bad or not su["facets"]:
            raise ValueError(
                f"surfaces.facets: expected facets among '111', '100', '110', got {su['facets']}"
            )
        if len(su["layers"]) < 4 or any(b <= a for a, b in itertools.pairwise(su["layers"])):
            raise ValueError(
                f"surfaces.layers: expected at least 4 increasing thicknesses, got {su['layers']}"
            )
    from ase.data import chemical_symbols

    elements = set()
    if any(w in out for w in ("elastic", "phonons", "surfaces")):
        el = out["material"]["element"]
        if el not in chemical_symbols[1:]:
            raise ValueError(f"material.element: {el!r} is not an element symbol")
        elements.add(el)
    if "hull" in out:
        els = out["hull"]["elements"]
        if (
            not 2 <= len(els) <= 3
            or len(set(els)) != len(els)
            or any(e not in chemical_symbols[1:] for e in els)
        ):
            raise ValueError(
                f"hull.elements: expected two or three different element symbols, got {els}"
            )
        elements |= set(els)
    allow = allow_import or out["run"]["trust_imports"]
    out["run"]["trust_imports"] = allow
    out["calculator"] = resolve_calculator(
        out["calculator"].get("spec", {"model": "emt"}),
        "calculator",
        elements=elements,
        system=f"the property workflows ({', '.join(sorted(elements))})",
        allow_import=allow,
    )
    return out


def load_props_config(
    source: str | Path | Mapping[str, Any], *, allow_import: bool = False
) -> dict[str, Any]:
    """Read a TOML file (or take a mapping) and validate it (:func:`validate_props_config`)."""
    return validate_props_config(_read_config(source), allow_import=allow_import)


def _done(out: Path, name: str, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The summary of a workflow already written to ``out`` with the same settings, or None."""
    import json

    path = out / f"{name}.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    from ._common import jsonable

    same = data.get("settings") == jsonable(
        {"calculator": cfg["calculator"], "material": cfg["material"], name: cfg[name]}
    )
    return data.get("summary") if same else None


def run_properties(
    config: str | Path | Mapping[str, Any],
    out: str | Path,
    *,
    allow_import: bool = False,
    log=print,
) -> dict[str, Any]:
    """Run the workflows of a property configuration; write JSON and PNG files to ``out``.

    Parameters
    ----------
    config : path or mapping
        TOML file or mapping (validated first; nothing runs on an invalid configuration).
    out : path
        Output folder (created if missing).
    allow_import : bool
        Allow a calculator import path.
    log : callable
        Receives one progress line per workflow.

    Returns
    -------
    dict
        The summary written to ``out/summary.json`` (per workflow: key numbers, ok flags,
        run time in s).
    """
    from ase.build import bulk

    from multiscale.pipeline.calculators import describe_calculator, make_calculator

    from ._common import relax
    from .elastic import elastic_constants
    from .hull import compute_hull, fcc_candidates
    from .phonons import phonons
    from .surfaces import plot_surface_energies, surface_energies

    cfg = load_props_config(config, allow_import=allow_import)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    calc, used = make_calculator(
        cfg["calculator"], "calculator", allow_import=cfg["run"]["trust_imports"]
    )
    summary: dict[str, Any] = {
        "name": cfg["run"]["name"],
        "calculator": describe_calculator(used),
        "config": cfg,
    }

    def finish(name: str, data: dict[str, Any], short: dict[str, Any], t0: float) -> None:
        short["time_s"] = time.perf_counter() - t0
        settings = {"calculator": cfg["calculator"], "material": cfg["material"]}
        if name in cfg:
            settings[name] = cfg[name]
        write_json(data | {"settings": settings, "summary": short}, out / f"{name}.json")
        summary[name] = short

    crystal = None
    if any(w in cfg for w in ("elastic", "phonons", "surfaces")):
        el, a = cfg["material"]["element"], cfg["material"]["a_A"]
        t0 = time.perf_counter()
        done = _done(out, "material", cfg)
        if a == 0 and done is not None:
            a = done["a_A"]
        if a > 0:
            crystal = bulk(el, "fcc", a=a)
        else:
            crystal, ok = relax(bulk(el, "fcc"), calc, fmax=1e-4, cell=True, steps=1000)
            if not ok:
                raise RuntimeError(f"material: the {el} cell did not relax in 1000 FIRE steps")
            a = float(np.sqrt(2) * crystal.cell.lengths()[0])
        finish("material", {}, {"element": el, "a_A": a}, t0)
        log(f"material: {el} fcc, a = {a:.4f} Å")
    a_material = summary.get("material", {}).get("a_A")
    for name in ("elastic", "phonons", "surfaces", "hull"):
        if name not in cfg:
            continue
        done = _done(out, name, cfg)
        if done is not None:
            summary[name] = done
            log(f"{name}: done before with the same settings ({out / (name + '.json')}), not rerun")
            continue
        t0 = time.perf_counter()
        c = cfg[name]
        if name == "elastic":
            r = elastic_constants(crystal, calc, strains=c["strains"], fmax=c["fmax_eV_A"])
            r.plot(out / "elastic.png")
            finish(
                name,
                r.to_dict(),
                {
                    "C11": r.C11,
                    "C12": r.C12,
                    "C44": r.C44,
                    "K_H": r.bulk_modulus,
                    "G_H": r.shear_modulus,
                    "born_stable": r.born_stable,
                    "residual_GPa": r.residual_GPa,
                    "ok": r.ok,
                },
                t0,
            )
            log(
                f"elastic: C11 = {r.C11:.1f}, C12 = {r.C12:.1f}, C44 = {r.C44:.1f} GPa, "
                f"Born stable: {r.born_stable}, fit residual {r.residual_GPa:.3g} GPa"
            )
        elif name == "phonons":
            temps = np.arange(0.0, c["t_max_K"] + 0.5 * c["t_step_K"], c["t_step_K"])
            r = phonons(
                crystal,
                calc,
                supercell=c["supercell"],
                compare_supercell=c["compare_supercell"],
                displacement=c["displacement_A"],
                mesh=c["mesh"],
                temperatures=temps,
                imaginary_tol_THz=c["imaginary_tol_THz"],
            )
            r.plot(out / "phonons.png")
            finish(
                name,
                r.to_dict(),
                {
                    "stable": r.stable,
                    "min_frequency_THz": r.min_frequency,
                    "max_frequency_THz": float(r.band_frequencies.max()),
                    "supercell_max_diff_THz": r.convergence["max_abs_diff_THz"],
                    "converged": r.converged,
                    "ok": r.ok,
                },
                t0,
            )
            log(
                f"phonons: {'stable' if r.stable else 'UNSTABLE'}, max "
                f"{r.band_frequencies.max():.2f} THz, supercell change "
                f"{r.convergence['max_abs_diff_THz']:.3f} THz"
            )
        elif name == "surfaces":
            rs = surface_energies(
                cfg["material"]["element"],
                calc,
                c["facets"],
                layers=c["layers"],
                a=a_material,
                vacuum=c["vacuum_A"],
                relax_layers=c["relax_layers"],
                fmax=c["fmax_eV_A"],
                tolerance=c["tolerance_J_m2"],
            )
            plot_surface_energies(rs, out / "surfaces.png")
            finish(
                name,
                {f: r.to_dict() for f, r in rs.items()},
                {
                    f: {
                        "gamma_J_m2": r.gamma,
                        "change_J_m2": r.change,
                        "change_fm_J_m2": r.change_fm,
                        "route_difference_J_m2": r.route_difference,
                        "converged": r.converged,
                    }
                    for f, r in rs.items()
                },
                t0,
            )
            log("surfaces: " + ", ".join(f"({f}) {r.gamma:.3f} J/m²" for f, r in rs.items()))
        else:
            from ase.data import chemical_symbols, reference_states

            a = c["a_A"] or float(
                np.mean(
                    [
                        reference_states[chemical_symbols.index(e)].get("a", 4.0)
                        for e in c["elements"]
                    ]
                )
            )
            r = compute_hull(
                fcc_candidates(c["elements"], a),
                calc,
                relax_structures=c["relax"],
                fmax=c["fmax_eV_A"],
            )
            (out / "hull.txt").write_text(r.table() + "\n")
            r.plot(out / "hull.png")
            finish(name, r.to_dict(), {"stable": r.stable_names}, t0)
            log(f"hull: stable {', '.join(r.stable_names)}")
    write_json(summary, out / "summary.json")
    return summary
