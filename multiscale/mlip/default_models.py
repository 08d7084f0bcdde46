"""The MACE models shipped in ``multiscale/mlip/models/`` (no download at run time)."""

from __future__ import annotations

from pathlib import Path

from ase.calculators.calculator import Calculator, CalculatorSetupError

MODELS_DIR = Path(__file__).resolve().parent / "models"

#: Shipped models: name -> (member files, level of theory). See models/MODEL_CARD.md.
DEFAULT_MODELS: dict[str, tuple[tuple[str, ...], str]] = {
    "water-nacl": (
        ("water-nacl-0.model", "water-nacl-1.model", "water-nacl-2.model"),
        "PySCF PBE/def2-SVP on water and Na+/Cl-/NaCl-water clusters",
    ),
    "cu-water-nacl": (
        ("cu-water-nacl-0.model",),
        "CHGNet 0.3.0 (distilled; NOT the PySCF core's level) on Cu(111)/NaCl(aq)",
    ),
}


def load_default_model(
    name: str = "water-nacl", committee: bool = False, num_threads: int | None = None
) -> Calculator:
    """An ASE calculator for a shipped MACE model (CPU, float64).

    Parameters
    ----------
    name : str
        ``"water-nacl"`` (PySCF PBE/def2-SVP labels) or ``"cu-water-nacl"`` (distilled from
        CHGNet 0.3.0; its level of theory is CHGNet's, not the PySCF core's).
    committee : bool
        Return a :class:`~multiscale.mlip.CommitteeCalculator` of all shipped members (trained
        with different seeds) instead of the first member alone.
    num_threads : int, optional
        Torch CPU threads to set.

    Returns
    -------
    ase.calculators.calculator.Calculator
        A MACE calculator, or a committee of them.
    """
    from multiscale.mlip.committee import CommitteeCalculator
    from multiscale.mlip.train import mace_calculator

    if name not in DEFAULT_MODELS:
        raise CalculatorSetupError(
            f"unknown default model {name!r}; choose one of {sorted(DEFAULT_MODELS)}."
        )
    files, _level = DEFAULT_MODELS[name]
    paths = [MODELS_DIR / f for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CalculatorSetupError(
            f"shipped model files missing: {missing}; rebuild them with "
            "`python -m multiscale.mlip.build_default` (see models/MODEL_CARD.md)."
        )
    if not committee:
        return mace_calculator(paths[0], num_threads=num_threads)
    if len(paths) < 2:
        raise CalculatorSetupError(f"model {name!r} ships a single member; use committee=False.")
    return CommitteeCalculator([mace_calculator(p, num_threads=num_threads) for p in paths])
