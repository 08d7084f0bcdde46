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
    [screening]              # the hop-screening funnel of multiscale.properties.screening
    host = "Cu"
    solute = "Ni"
    solute_fraction = 0.3
    adsorbate = "O"
    n_candidates = 8         # the first 8 hops (0: all)
    fast = {model = "emt"}   # level calculators: the same registry as [calculator]
    refine = {model = "emt"}
    check = "none"           # or {model = "pyscf", xc = "pbe", basis = "sto-3g"}

Every key is checked (type, unit, range) before anything runs, with the pipeline's messages
(:mod:`multiscale.pipeline.config`); the calculator is checked against every element the
workflows will see. :func:`run_properties` writes ``<workflow>.json`` and ``<workflow>.png``
(and ``hull.txt``; ``screening.txt`` and the funnel's work folder ``screening/``) and
``summary.json`` to the output folder.
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

__all__ = [
    "PROPS_SCHEMA",
    "load_props_config",
    "run_properties",
    "run_screening",
    "validate_props_config",
]

_CALC_DOC = (
    'calculator table: {model = "emt"}, {model = "chgnet"}, {model = "sevennet"}, '
    '{model = "default:NAME"}, '
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
    "screening": {
        "host": Key("str", "Cu", "", "host fcc metal of the random-alloy (111) slabs"),
        "solute": Key("str", "Ni", "", "substituted element"),
        "solute_fraction": Key("num0", 0.3, "", "fraction of slab atoms replaced, in [0, 1]"),
        "size": Key("ints", [3, 3, 3], "", "slab size nx, ny, layers (each >= 2)"),
        "adsorbate": Key("str", "O", "", "hopping adsorbate (chemical symbol)"),
        "height_A": Key("num+", 1.0, "Å", "initial adsorbate height above the top layer"),
        "n_slabs": Key("int+", 1, "", "independent random slabs"),
        "vacuum_A": Key("num+", 6.0, "Å", "vacuum on each side of the slab"),
        "a_A": Key("num0", 0.0, "Å", "fcc lattice constant of the slab (0: ASE's for the host)"),
        "n_candidates": Key("int0", 0, "", "screen only the first N hops (0: all)"),
        "seed": Key("int0", 0, "", "seed of the random alloy and of the spot-check draw"),
        "n_refine": Key("int+", 10, "", "best level-1 candidates refined by CI-NEB"),
        "n_check": Key("int+", 3, "", "best level-2 candidates checked at level 3"),
        "n_spot": Key("int0", 0, "", "random candidates below the level-1 cut, refined too"),
        "fmax_eV_A": Key("num+", 0.05, "eV/Å", "force threshold of relaxations and NEB"),
        "neb_images": Key("int+", 3, "", "moving NEB images at level 2"),
        "neb_steps": Key("int+", 300, "", "largest number of FIRE steps per NEB"),
        "fast": Key("calc", {"model": "emt"}, "", "level-1 " + _CALC_DOC),
        "refine": Key("calc", {"model": "emt"}, "", "level-2 " + _CALC_DOC),
        "check": Key(
            "calc?",
            None,
            "",
            'level-3 (cluster single points) calculator table, or "none" (the default) to '
            "skip level 3; a pyscf table without spin gets the cluster's spin parity",
        ),
    },
}
_EXTRA_KINDS = {"nums", "calc?"}
_WORKFLOWS = ("elastic", "phonons", "surfaces", "hull", "screening")


def _check_value(name: str, key: Key, v: Any) -> Any:
    if key.kind == "nums":
        if (
            not isinstance(v, list)
            or not v
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        ):
            raise ValueError(f"{name}: expected a non-empty list of numbers, got {v!r}")
        return [float(x) for x in v]
    if key.kind == "calc?":
        if v is None or v == "none":
            return None
        return _check(name, Key("calc", None, key.unit, key.doc), v)
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
    workflows = [s for s in _WORKFLOWS if s in out]
    if not workflows:
        raise ValueError(
            "no workflow: add at least one of the tables [elastic], [phonons], "
            "[surfaces], [hull], [screening] (an empty table runs it with the defaults)"
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
    if "screening" in out:
        _validate_screening(out["screening"], allow)
    out["calculator"] = resolve_calculator(
        out["calculator"].get("spec", {"model": "emt"}),
        "calculator",
        elements=elements,
        system=f"the property workflows ({', '.join(sorted(elements))})",
        allow_import=allow,
    )
    return out


def _validate_screening(sc: dict[str, Any], allow_import: bool) -> None:
    """Meaning checks of ``[screening]``; resolves its level calculators in place."""
    from ase.data import chemical_symbols, reference_states

    from multiscale.pipeline.calculators import resolve_calculator

    for k in ("host", "solute", "adsorbate"):
        if sc[k] not in chemical_symbols[1:]:
            raise ValueError(f"screening.{k}: {sc[k]!r} is not an element symbol")
    ref = reference_states[chemical_symbols.index(sc["host"])] or {}
    if sc["a_A"] == 0 and ref.get("symmetry") != "fcc":
        raise ValueError(
            f"screening.a_A: {sc['host']} is not fcc in ASE's reference states, so its fcc "
            "lattice constant (Å) cannot be guessed; give screening.a_A > 0"
        )
    if sc["host"] == sc["solute"]:
        raise ValueError(
            f"screening.solute: expected an element other than the host {sc['host']!r}"
        )
    if sc["solute_fraction"] > 1:
        raise ValueError(
            f"screening.solute_fraction: expected a fraction in [0, 1], got {sc['solute_fraction']}"
        )
    if len(sc["size"]) != 3 or min(sc["size"]) < 2:
        raise ValueError(
            f"screening.size: expected three integers >= 2 (nx, ny, layers), got {sc['size']}"
        )
    if sc["check"] is not None and sc["n_check"] > sc["n_refine"] + sc["n_spot"]:
        raise ValueError(
            f"screening.n_check: expected at most n_refine + n_spot = "
            f"{sc['n_refine'] + sc['n_spot']} (level 3 checks the best refined candidates), "
            f"got {sc['n_check']}"
        )
    elements = {sc["host"], sc["solute"], sc["adsorbate"]}
    system = f"the screening slabs ({', '.join(sorted(elements))})"
    for level in ("fast", "refine", "check"):
        if sc[level] is not None:
            sc[level] = resolve_calculator(
                sc[level],
                f"screening.{level}",
                elements=elements,
                system=system,
                allow_import=allow_import,
            )


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
    calc, used = None, cfg["calculator"]
    if any(w in cfg for w in ("elastic", "phonons", "surfaces", "hull")):
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
    for name in _WORKFLOWS:
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
        elif name == "screening":
            r = run_screening(c, out / "screening", allow_import=cfg["run"]["trust_imports"])
            (out / "screening.txt").write_text(r.table(top=c["n_refine"]) + "\n")
            r.plot(out / "screening.png")
            last = r.levels[-1]
            finish(
                name,
                r.to_dict(),
                {
                    "levels": [lev.kind for lev in r.levels],
                    "best": last.ranking[: c["n_check"]],
                    "best_barrier_eV": last.barriers[last.ranking[0]] if last.ranking else None,
                    "correlations": r.correlations,
                    "missed": r.level("refine").missed,
                    "failed": {lev.kind: lev.failed for lev in r.levels if lev.failed},
                },
                t0,
            )
            log(
                f"screening: {len(r.levels[0].records)} hops; best at level {last.kind}: "
                + ", ".join(f"{i} {last.barriers[i]:.3f} eV" for i in last.ranking[:3])
            )
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


def _level_factory(spec: dict[str, Any], what: str, allow_import: bool, cluster: bool = False):
    """A calculator factory for one screening level, built from a resolved spec.

    A new calculator per call (NEB images must not share one). A CHGNet model is loaded once
    and shared by the calculators; a pyscf spec without ``spin`` gets the parity of the
    cluster's electron count (the charge the registry's PySCF calculator will use).
    """
    from multiscale.pipeline.calculators import FORMAL_CHARGES, make_calculator

    shared: dict[str, Any] = {}

    def build(atoms=None):
        if spec["model"] == "chgnet" and "net" in shared:
            from chgnet.model.dynamics import CHGNetCalculator

            return CHGNetCalculator(
                model=shared["net"], use_device="cpu", on_isolated_atoms="ignore"
            )
        s = spec
        if cluster and spec["model"] == "pyscf" and "spin" not in spec and atoms is not None:
            q = sum(FORMAL_CHARGES.get(x, 0) for x in atoms.get_chemical_symbols())
            s = dict(spec, spin=int(sum(atoms.numbers) - q) % 2)
        calc, used = make_calculator(s, what, allow_import=allow_import)
        if used["model"] == "chgnet":
            shared["net"] = calc.model
        return calc

    if cluster:
        return build
    return lambda: build()


def run_screening(sc: Mapping[str, Any], workdir: str | Path, *, allow_import: bool = False):
    """Run the hop-screening funnel of a validated ``[screening]`` table.

    Parameters
    ----------
    sc : mapping
        ``validate_props_config(...)["screening"]`` (level calculators resolved).
    workdir : path
        Work folder of :func:`~multiscale.properties.screening.screen_hops` (reused on rerun).
    allow_import : bool
        Allow calculator import paths (as approved at validation).

    Returns
    -------
    ScreeningResult
    """
    from multiscale.pipeline.calculators import describe_calculator

    from .screening import alloy_hop_candidates, screen_hops

    cands = alloy_hop_candidates(
        sc["host"],
        sc["solute"],
        sc["solute_fraction"],
        size=tuple(sc["size"]),
        adsorbate=sc["adsorbate"],
        height=sc["height_A"],
        n_slabs=sc["n_slabs"],
        seed=sc["seed"],
        vacuum=sc["vacuum_A"],
        lattice_constant=sc["a_A"] or None,
    )
    if sc["n_candidates"]:
        cands = cands[: sc["n_candidates"]]
    check = sc["check"]
    names = (
        f"{describe_calculator(sc['fast'])} fixed-geometry",
        f"{describe_calculator(sc['refine'])} CI-NEB",
        f"{describe_calculator(check)} cluster" if check is not None else "-",
    )
    return screen_hops(
        cands,
        workdir,
        fast_calc=_level_factory(sc["fast"], "screening.fast", allow_import),
        refine_calc=_level_factory(sc["refine"], "screening.refine", allow_import),
        check_calc=(
            _level_factory(check, "screening.check", allow_import, cluster=True)
            if check is not None
            else None
        ),
        n_refine=sc["n_refine"],
        n_check=sc["n_check"],
        n_spot=sc["n_spot"],
        seed=sc["seed"],
        names=names,
        fmax=sc["fmax_eV_A"],
        neb_images=sc["neb_images"],
        neb_steps=sc["neb_steps"],
    )
