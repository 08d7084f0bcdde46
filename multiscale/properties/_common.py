"""Shared helpers of the property workflows: input checks, relaxation, JSON-ready values."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

#: 1 eV/Å² in J/m²
EV_PER_A2_TO_J_PER_M2 = 16.021766339999999


def check_atoms(atoms: Any, name: str = "atoms", *, periodic: bool = True) -> Atoms:
    """Return a copy of ``atoms`` after checking that it is a usable ASE ``Atoms``."""
    if not isinstance(atoms, Atoms):
        raise TypeError(f"{name} must be an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError(f"{name} has no atoms; give a crystal structure (e.g. ase.build.bulk)")
    if periodic and not all(atoms.pbc):
        raise ValueError(
            f"{name} must be periodic in all three directions (pbc = {list(atoms.pbc)}); "
            "give a bulk crystal with a cell, e.g. ase.build.bulk('Cu')"
        )
    return atoms.copy()


def pick_calculator(atoms: Atoms, calc: Any, name: str = "calc") -> BaseCalculator:
    """Return ``calc`` (or the calculator attached to ``atoms``), checked to be an ASE one."""
    calc = calc if calc is not None else atoms.calc
    if calc is None:
        raise ValueError(
            f"{name}: no calculator; pass calc=... (any ASE calculator, e.g. "
            "ase.calculators.emt.EMT()) or attach one to the atoms"
        )
    if not isinstance(calc, BaseCalculator):
        raise TypeError(f"{name} must be an ASE calculator, got {type(calc).__name__}")
    return calc


def positive(value: Any, name: str, unit: str = "") -> float:
    """``value`` as a float after checking it is a positive finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(
            f"{name} must be a positive number{' in ' + unit if unit else ''}, got {value!r}"
        )
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def relax(
    atoms: Atoms, calc: BaseCalculator, *, fmax: float = 1e-3, cell: bool = False, steps: int = 500
) -> tuple[Atoms, bool]:
    """Relax positions (and the cell if ``cell``) with ASE FIRE; return (atoms, converged).

    ``fmax`` in eV/Å (for the cell: the same number in eV/Å per unit strain, scaled by the
    volume as in :class:`ase.filters.FrechetCellFilter`).
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    atoms = atoms.copy()
    atoms.calc = calc
    target = FrechetCellFilter(atoms) if cell else atoms
    opt = FIRE(target, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    return atoms, converged


def jsonable(obj: Any) -> Any:
    """Numbers, arrays and nested containers as plain JSON values (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(data: Any, path: str | Path) -> Path:
    """Write ``data`` as JSON atomically (temporary file, fsync, rename: the pipeline's
    :func:`multiscale.pipeline.state.atomic_write_text`)."""
    from multiscale.pipeline.state import atomic_write_text

    return atomic_write_text(path, json.dumps(jsonable(data), indent=2))


def new_figure(*args, **kwargs):
    """A matplotlib figure on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
