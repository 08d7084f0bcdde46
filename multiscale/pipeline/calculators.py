"""Calculators named in a configuration (a small plug-in mechanism).

A calculator spec is a table with a ``model`` key and keyword arguments:

* ``{model = "default:NAME"}``: a shipped MLIP, :func:`multiscale.mlip.load_default_model`.
* ``{model = "chgnet"}``: the CHGNet universal potential (weights in its wheel).
* ``{model = "pyscf", xc = "pbe", basis = "sto-3g", ...}``: :class:`coupling.PySCFCalculator`
  whose total charge is the sum of the formal charges of the free ions it gets, so
  that a QM cluster that gains or loses an ion keeps the right number of electrons.
* ``{model = "package.module:Class", ...}``: any importable ASE calculator class (or factory
  function) called with the other keys as keyword arguments, e.g.
  ``{model = "ase.calculators.lj:LennardJones", sigma = 2.5, epsilon = 0.01, rc = 6.0}``.

Any spec may carry ``fallback = {...}``: another spec used when the first cannot be built
(e.g. a shipped model that is not installed); the pipeline logs which one it used.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["describe_calculator", "make_calculator"]

log = logging.getLogger("multiscale.pipeline")


#: formal charges (e) of monatomic ions, which the QM cluster's total charge is summed from
FORMAL_CHARGES = {"Li": 1, "Na": 1, "K": 1, "Rb": 1, "Cs": 1, "Mg": 2, "Ca": 2, "Sr": 2,
                  "Ba": 2, "F": -1, "Cl": -1, "Br": -1, "I": -1}  # fmt: skip


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


def _build(spec: Mapping[str, Any]):
    kwargs = {k: v for k, v in spec.items() if k not in ("model", "fallback")}
    model = spec["model"]
    if model.startswith("default:"):
        try:
            from multiscale.mlip import load_default_model
        except ImportError as err:
            raise ValueError(
                f"calculator {model!r}: multiscale.mlip.load_default_model is not available in "
                'this installation; give a fallback (e.g. fallback = {model = "chgnet"})'
            ) from err
        return load_default_model(model.removeprefix("default:"), **kwargs)
    if model == "chgnet":
        from multiscale.mlip import chgnet_calculator

        return chgnet_calculator(**kwargs)
    if model == "pyscf":
        return _charge_following_pyscf(**kwargs)
    if ":" not in model:
        raise ValueError(
            f"calculator model {model!r}: expected 'default:NAME', 'chgnet', 'pyscf' or an "
            "import path 'package.module:Class'"
        )
    mod_name, _, attr = model.partition(":")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"calculator model {model!r}: cannot import it ({err})") from err
    return factory(**kwargs)


def make_calculator(spec: Mapping[str, Any], what: str = "calculator"):
    """Build the ASE calculator described by ``spec`` (see the module docstring).

    Parameters
    ----------
    spec : mapping
        ``{"model": ..., **kwargs}``, optionally with ``"fallback"``: a spec tried when this
        one fails to build.
    what : str
        Config key of the spec, for messages (e.g. ``"md.calculator"``).

    Returns
    -------
    (calculator, used_spec) : tuple
        The calculator and the spec that built it (the fallback's when it was used).
    """
    if not isinstance(spec, Mapping) or not isinstance(spec.get("model"), str):
        raise ValueError(f"{what}: expected a table with a string 'model' key, got {spec!r}")
    try:
        return _build(spec), dict(spec)
    except Exception as err:
        fb = spec.get("fallback")
        if fb is None:
            if isinstance(err, ValueError | TypeError):
                raise ValueError(f"{what}: {err}") from err
            raise
        log.warning("%s: %r could not be built (%s); using the fallback %r", what,
                    spec["model"], err, fb)  # fmt: skip
        return make_calculator(fb, what + ".fallback")


def describe_calculator(spec: Mapping[str, Any]) -> str:
    """One line naming a calculator spec, for logs and the report."""
    args = ", ".join(f"{k}={v}" for k, v in spec.items() if k not in ("model", "fallback"))
    return f"{spec['model']}" + (f" ({args})" if args else "")
