"""Calculators named in a configuration: a registry, checked before anything runs.

A calculator spec is a table with a ``model`` key and keyword arguments. ``model`` is a name
from the registry (:func:`registered_calculators`):

* ``"default:NAME"``: a shipped MLIP, :func:`multiscale.mlip.load_default_model` (``NAME`` in
  :data:`multiscale.mlip.DEFAULT_MODELS`).
* ``"chgnet"``: the CHGNet universal potential (weights in its wheel; Z = 1..94).
* ``"sevennet"``: the SevenNet universal potential (:func:`multiscale.mlip.teachers.
  sevennet_calculator`; SevenNet-0 by default, weights in the sevenn wheel; Z = 1..94 but 84..88),
  the teacher of the shipped interface model.
* ``"pyscf"``: :class:`coupling.PySCFCalculator` (keywords: its ``default_parameters``) whose
  total charge is the sum of the formal charges of the free ions it gets, so that a QM cluster
  that gains or loses an ion keeps the right number of electrons.
* ``"lj"``: :class:`ase.calculators.lj.LennardJones`; ``"emt"``: :class:`ase.calculators.emt.EMT`
  (cheap stand-ins for tests and examples).
* any name a plugin registers as an entry point of the group ``multiscale.calculators``
  (:data:`ENTRY_POINT_GROUP`) in its package metadata, e.g. in its ``pyproject.toml``::

      [project.entry-points."multiscale.calculators"]
      mymodel = "mypackage.calc:MyCalculator"

An import path ``"package.module:Name"`` imports and calls code named in the configuration, so
it is refused unless the user opts in (``multiscale run --allow-import``, ``trust_imports =
true`` in ``[run]``, or ``allow_import=True`` in Python). Even then ``Name`` must be an ASE
calculator class or a callable that returns a calculator.

The keyword arguments of a spec are checked against what the target accepts (a misspelt
``r_c`` for ``rc`` is an error, not silently ignored), and :func:`resolve_calculator` checks
that the calculator covers the elements of the system it will see.

Any spec may carry ``fallback = {...}``: another spec used when the first is not installed or
does not cover the system's elements (chosen by :func:`resolve_calculator`, i.e. at validation)
or cannot be built (chosen by :func:`make_calculator`); both log a warning naming the reason.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ENTRY_POINT_GROUP",
    "TRUSTED_IMPORT_KEY",
    "RegisteredCalculator",
    "accepted_keywords",
    "describe_calculator",
    "make_calculator",
    "registered_calculators",
    "resolve_calculator",
]

log = logging.getLogger("multiscale.pipeline")

#: entry-point group in which installed packages register calculators by name
ENTRY_POINT_GROUP = "multiscale.calculators"

#: key that :func:`resolve_calculator` adds to an import-path spec it approved under the opt-in
TRUSTED_IMPORT_KEY = "trusted_import"

#: spec keys that are not keyword arguments of the calculator
RESERVED_KEYS = ("model", "fallback", TRUSTED_IMPORT_KEY)

OPT_IN = (
    "pass --allow-import to `multiscale run`, set trust_imports = true in [run], or call "
    "load_config(..., allow_import=True) in Python"
)

#: formal charges (e) of monatomic ions, which the QM cluster's total charge is summed from
FORMAL_CHARGES = {"Li": 1, "Na": 1, "K": 1, "Rb": 1, "Cs": 1, "Mg": 2, "Ca": 2, "Sr": 2,
                  "Ba": 2, "F": -1, "Cl": -1, "Br": -1, "I": -1}  # fmt: skip

#: elements of the shipped MACE models (their z tables; see multiscale/mlip/models/MODEL_CARD.md).
#: Used only while :mod:`multiscale.mlip` has no ``model_elements``.
_SHIPPED_MODEL_ELEMENTS = {
    "water-nacl": frozenset({"H", "O", "Na", "Cl"}),
    "cu-water-nacl": frozenset({"H", "O", "Na", "Cl", "Cu"}),
}


@dataclass(frozen=True)
class RegisteredCalculator:
    """A calculator that a configuration may name with ``model = NAME``.

    Attributes
    ----------
    name : str
        The registry name (the ``model`` value).
    load : callable
        ``load()`` imports what is needed and returns the factory (an ASE calculator class or a
        function returning a calculator) that is called with the spec's keyword arguments.
    description : str
        One line for messages and docs.
    signature : callable, optional
        ``signature()`` returns the object whose keywords are checked (default: ``load()``).
    elements : callable, optional
        ``elements()`` returns the element symbols the calculator covers, or None for any
        element (default).
    available : callable, optional
        ``available()`` returns None when the calculator can be built here, or the reason why
        not (e.g. a package that is not installed), without importing heavy packages.
    """

    name: str
    load: Callable[[], Callable[..., Any]]
    description: str = ""
    signature: Callable[[], Any] | None = None
    elements: Callable[[], frozenset[str] | None] | None = None
    available: Callable[[], str | None] | None = None


def _installed(package: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if importlib.util.find_spec(package) is None:
            return f"the {package} package is not installed"
        return None

    return check


def _charge_following_pyscf(**kwargs: Any):
    from coupling import PySCFCalculator

    class ChargeFollowingPySCF(PySCFCalculator):
        """PySCFCalculator whose charge is the sum of the formal charges of the ions
        (:data:`FORMAL_CHARGES`) in the cluster it gets."""

        def calculate(self, atoms=None, properties=("energy", "forces"), system_changes=None):
            from ase.calculators.calculator import all_changes

            q = 0
            if atoms is not None:
                q = sum(FORMAL_CHARGES.get(s, 0) for s in atoms.get_chemical_symbols())
            if q != self.parameters["charge"]:
                self.set(charge=q)
            super().calculate(atoms, properties, system_changes or all_changes)

    return ChargeFollowingPySCF(**kwargs)


def _pyscf_class():
    from coupling import PySCFCalculator

    return PySCFCalculator


def _chgnet():
    from multiscale.mlip import chgnet_calculator

    return chgnet_calculator


def _chgnet_elements() -> frozenset[str]:
    from ase.data import chemical_symbols

    return frozenset(chemical_symbols[1:95])


def _sevennet():
    from multiscale.mlip.teachers import sevennet_calculator

    return sevennet_calculator


def _sevennet_elements() -> frozenset[str]:
    from multiscale.mlip.teachers import SEVENNET_0_ELEMENTS

    return SEVENNET_0_ELEMENTS


def _lj():
    from ase.calculators.lj import LennardJones

    return LennardJones


def _emt():
    from ase.calculators.emt import EMT

    return EMT


def _emt_elements() -> frozenset[str]:
    from ase.calculators.emt import parameters

    return frozenset(parameters)


def default_model_elements(name: str) -> frozenset[str] | None:
    """Elements a shipped default model covers, read from metadata (no torch model is loaded).

    Parameters
    ----------
    name : str
        Key of :data:`multiscale.mlip.DEFAULT_MODELS` (e.g. ``"water-nacl"``).

    Returns
    -------
    frozenset of str or None
        Element symbols; None when the model's elements are not known (then not checked).
    """
    import multiscale.mlip as mlip

    if hasattr(mlip, "model_elements"):
        return frozenset(mlip.model_elements(name))
    return _SHIPPED_MODEL_ELEMENTS.get(name)


def _default_entry(name: str) -> RegisteredCalculator:
    def load():
        from multiscale.mlip import load_default_model

        return functools.partial(load_default_model, name)

    def available() -> str | None:
        from multiscale.mlip.default_models import DEFAULT_MODELS, MODELS_DIR

        missing = [f for f in DEFAULT_MODELS[name][0] if not (MODELS_DIR / f).is_file()]
        if missing:
            return f"its model files {missing} are not installed in {MODELS_DIR}"
        return _installed("mace")()

    return RegisteredCalculator(
        f"default:{name}",
        load,
        f"shipped MACE model {name!r} (multiscale.mlip.load_default_model)",
        elements=lambda: default_model_elements(name),
        available=available,
    )


_BUILTIN: dict[str, RegisteredCalculator] = {
    "chgnet": RegisteredCalculator(
        "chgnet",
        _chgnet,
        "CHGNet universal potential (multiscale.mlip.chgnet_calculator; Z = 1..94)",
        elements=_chgnet_elements,
        available=_installed("chgnet"),
    ),
    "sevennet": RegisteredCalculator(
        "sevennet",
        _sevennet,
        "SevenNet universal potential (multiscale.mlip.teachers.sevennet_calculator; "
        "SevenNet-0: Z = 1..94 but 84..88)",
        elements=_sevennet_elements,
        available=_installed("sevenn"),
    ),
    "pyscf": RegisteredCalculator(
        "pyscf",
        lambda: _charge_following_pyscf,
        "coupling.PySCFCalculator, total charge from the ions in the cluster",
        signature=_pyscf_class,
        available=_installed("pyscf"),
    ),
    "lj": RegisteredCalculator(
        "lj", _lj, "ase.calculators.lj.LennardJones (any element; a stand-in)"
    ),
    "emt": RegisteredCalculator(
        "emt",
        _emt,
        "ase.calculators.emt.EMT (Al Cu Ag Au Ni Pd Pt H C N O)",
        elements=_emt_elements,
    ),
}


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def registered_calculators() -> dict[str, RegisteredCalculator]:
    """Every calculator a configuration may name without opting in to imports.

    Returns
    -------
    dict
        ``{name: RegisteredCalculator}``: the built-in ones (``chgnet``, ``sevennet``,
        ``pyscf``, ``lj``, ``emt``), ``default:NAME`` for each shipped model, and the entry
        points of the group :data:`ENTRY_POINT_GROUP` of installed packages (a plugin cannot
        replace a built-in name).
    """
    from multiscale.mlip.default_models import DEFAULT_MODELS

    out = dict(_BUILTIN)
    out.update({f"default:{n}": _default_entry(n) for n in DEFAULT_MODELS})
    for ep in _entry_points():
        if ep.name in out:
            log.warning("calculator plug-in %r (%s) ignored: the name is built in", ep.name,
                        ep.value)  # fmt: skip
            continue
        out[ep.name] = RegisteredCalculator(
            ep.name, ep.load, f"plug-in {ep.value} (entry point in {ENTRY_POINT_GROUP})"
        )
    return out


def accepted_keywords(target: Any) -> frozenset[str] | None:
    """Keyword arguments that ``target`` (a calculator class or a factory) accepts.

    Parameters
    ----------
    target : class or callable
        For an ASE calculator class: the named parameters of its ``__init__`` plus the keys of
        its ``default_parameters`` (ASE calculators take their parameters through
        ``**kwargs``). For a function: its named parameters.

    Returns
    -------
    frozenset of str or None
        None when it cannot be told (a ``**kwargs`` without ``default_parameters``, or no
        signature), in which case any keyword is let through.
    """
    from ase.calculators.calculator import BaseCalculator

    func = target.__init__ if isinstance(target, type) else target
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    if isinstance(target, type):
        params = params[1:]  # self
    named = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        defaults = (
            getattr(target, "default_parameters", None)
            if isinstance(target, type) and issubclass(target, BaseCalculator)
            else None
        )
        if not defaults:
            return None
        named |= set(defaults)
    return frozenset(named)


def _as_spec(spec: Any, what: str) -> dict[str, Any]:
    if isinstance(spec, str):
        spec = {"model": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("model"), str):
        raise ValueError(
            f'{what}: expected a calculator table with a string "model" key, got {spec!r}'
        )
    return dict(spec)


def _import_target(model: str, what: str) -> Callable[..., Any]:
    from ase.calculators.calculator import BaseCalculator

    mod_name, _, attr = model.partition(":")
    try:
        target = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"{what}: calculator model {model!r}: cannot import it ({err})") from err
    if isinstance(target, type):
        if not issubclass(target, BaseCalculator):
            raise ValueError(
                f"{what}: {model!r} is a class but not an ASE calculator (a subclass of "
                "ase.calculators.calculator.Calculator); name a calculator class or a function "
                "that returns one"
            )
    elif not callable(target):
        raise ValueError(
            f"{what}: {model!r} is not callable; name an ASE calculator class or a function "
            "that returns one"
        )
    return target


def _lookup(
    spec: Mapping[str, Any], what: str, allow_import: bool
) -> tuple[RegisteredCalculator, bool]:
    """The registry entry of a spec (or one made for an allowed import path) and whether it
    is an import path."""
    model = spec["model"]
    registry = registered_calculators()
    if model in registry:
        return registry[model], False
    names = sorted(registry)
    if model.startswith("default:"):
        shipped = [n for n in names if n.startswith("default:")]
        raise ValueError(f"{what}: no shipped model {model!r}; the shipped models are {shipped}")
    if ":" not in model:
        close = difflib.get_close_matches(model, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(
            f"{what}: unknown calculator {model!r}; {hint}the registered calculators are "
            f"{names} (plug-ins register more under the entry-point group "
            f"{ENTRY_POINT_GROUP!r})"
        )
    trusted = spec.get(TRUSTED_IMPORT_KEY) is True
    if not (allow_import or trusted):
        raise ValueError(
            f"{what}: model {model!r} is an import path: it would import and run code named "
            f"in the configuration, which needs an explicit opt-in: {OPT_IN}. Or use a "
            f"registered calculator: {names}"
        )
    entry = RegisteredCalculator(
        model, functools.partial(_import_target, model, what), f"import path {model}"
    )
    return entry, True


def _check_keywords(entry: RegisteredCalculator, spec: Mapping[str, Any], what: str) -> None:
    kwargs = [k for k in spec if k not in RESERVED_KEYS]
    if not kwargs:
        return
    try:
        target = entry.signature() if entry.signature is not None else entry.load()
    except ImportError as err:
        raise ValueError(f"{what}: calculator {entry.name!r} cannot be imported ({err})") from err
    valid = accepted_keywords(target)
    if valid is None:
        return
    for key in kwargs:
        if key not in valid:
            close = difflib.get_close_matches(key, sorted(valid), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"{what}.{key}: unknown keyword for calculator {entry.name!r}; {hint}the valid "
                f"keywords are {sorted(valid)}"
            )


def resolve_calculator(
    spec: Mapping[str, Any] | str,
    what: str = "calculator",
    *,
    elements: Collection[str] | None = None,
    system: str = "the system",
    allow_import: bool = False,
) -> dict[str, Any]:
    """Check a calculator spec without building it, and choose its fallback if needed.

    Checks that the model is registered (or an import path allowed by the opt-in, whose target
    is imported and checked to be a calculator class or a callable), that every keyword
    argument is one the target accepts, that it is installed and that it covers ``elements``.
    When it is not installed or misses an element and the spec has a ``fallback``, the
    fallback is checked the same way and returned instead (a warning is logged). No model
    weights are loaded.

    Parameters
    ----------
    spec : mapping or str
        ``{"model": ..., **kwargs}``, optionally with ``"fallback"``; a string is a model name.
    what : str
        Config key of the spec, for messages (e.g. ``"md.calculator"``).
    elements : collection of str, optional
        Element symbols of the system the calculator will see (None: not checked).
    system : str
        Words naming that system, for messages (e.g. ``"the md interface"``).
    allow_import : bool
        Allow ``"package.module:Name"`` import paths (they run code named in the config).

    Returns
    -------
    dict
        The spec that will be used, with its fallback (if any) checked too; an approved import
        path carries ``trusted_import = True`` (:data:`TRUSTED_IMPORT_KEY`) so that
        :func:`make_calculator` builds it.

    Raises
    ------
    ValueError
        Unknown model or shipped model, import path without opt-in (nothing is imported), a
        target that is not a calculator, an unknown keyword (with the valid ones and a "did
        you mean"), a calculator that is not installed or misses elements of the system and
        has no usable fallback.
    """
    spec = _as_spec(spec, what)
    if TRUSTED_IMPORT_KEY in spec and not allow_import:
        raise ValueError(
            f"{what}.{TRUSTED_IMPORT_KEY}: this key is set by validation only; to allow an "
            f"import path, {OPT_IN}"
        )
    entry, is_import = _lookup(spec, what, allow_import)
    if is_import:
        entry.load()  # imports the target and checks that it is a calculator or callable
        spec[TRUSTED_IMPORT_KEY] = True
    _check_keywords(entry, spec, what)
    fallback = spec.get("fallback")
    if fallback is not None:
        spec["fallback"] = resolve_calculator(
            fallback, f"{what}.fallback", allow_import=allow_import
        )
    problem = entry.available() if entry.available is not None else None
    if problem is None and elements is not None and entry.elements is not None:
        covered = entry.elements()
        if covered is not None:
            missing = sorted(set(elements) - set(covered))
            if missing:
                problem = (
                    f"it does not cover {', '.join(missing)} (it covers "
                    f"{', '.join(sorted(covered))}), which {system} contains"
                )
    if problem is None:
        return spec
    if fallback is None:
        raise ValueError(
            f"{what}: calculator {spec['model']!r} cannot be used: {problem}; choose a "
            'calculator that can (e.g. {model = "chgnet"}, which covers Z = 1..94) or add '
            'fallback = {model = "chgnet"} to the table'
        )
    chosen = resolve_calculator(
        fallback, f"{what}.fallback", elements=elements, system=system,
        allow_import=allow_import,
    )  # fmt: skip
    log.warning("%s: %r cannot be used (%s); using its fallback %s", what, spec["model"],
                problem, describe_calculator(chosen))  # fmt: skip
    return chosen


def _build(spec: Mapping[str, Any], what: str, allow_import: bool):
    from ase.calculators.calculator import BaseCalculator

    entry, _ = _lookup(spec, what, allow_import)
    kwargs = {k: v for k, v in spec.items() if k not in RESERVED_KEYS}
    factory = entry.load()
    calc = factory(**kwargs)
    if not isinstance(calc, BaseCalculator):
        raise _NotACalculator(
            f"{what}: {spec['model']!r} returned {type(calc).__name__}, not an ASE calculator; "
            "name a calculator class or a function that returns one"
        )
    return calc


class _NotACalculator(ValueError):
    pass


def make_calculator(
    spec: Mapping[str, Any], what: str = "calculator", *, allow_import: bool = False
):
    """Build the ASE calculator described by ``spec`` (see the module docstring).

    Parameters
    ----------
    spec : mapping
        ``{"model": ..., **kwargs}``, optionally with ``"fallback"``: a spec tried when this
        one fails to build. Validated specs come from :func:`resolve_calculator`.
    what : str
        Config key of the spec, for messages (e.g. ``"md.calculator"``).
    allow_import : bool
        Build an import path ``"package.module:Name"`` even if it does not carry the
        ``trusted_import`` mark that validation under the opt-in adds.

    Returns
    -------
    (calculator, used_spec) : tuple
        The calculator and the spec that built it (the fallback's when it was used).

    Raises
    ------
    ValueError
        Unknown model, import path without opt-in (nothing is imported), or a target that
        returns something other than an ASE calculator; a build error when there is no
        fallback.
    """
    if not isinstance(spec, Mapping) or not isinstance(spec.get("model"), str):
        raise ValueError(f"{what}: expected a table with a string 'model' key, got {spec!r}")
    _lookup(spec, what, allow_import)  # configuration errors are not a reason to fall back
    try:
        return _build(spec, what, allow_import), dict(spec)
    except _NotACalculator:
        raise
    except Exception as err:
        fb = spec.get("fallback")
        if fb is None:
            if isinstance(err, ValueError | TypeError):
                msg = str(err) if str(err).startswith(what) else f"{what}: {err}"
                raise ValueError(msg) from err
            raise
        log.warning("%s: %r could not be built (%s); using the fallback %r", what,
                    spec["model"], err, fb)  # fmt: skip
        return make_calculator(fb, what + ".fallback", allow_import=allow_import)


def describe_calculator(spec: Mapping[str, Any]) -> str:
    """One line naming a calculator spec, for logs and the report."""
    args = ", ".join(f"{k}={v}" for k, v in spec.items() if k not in RESERVED_KEYS)
    return f"{spec['model']}" + (f" ({args})" if args else "")
