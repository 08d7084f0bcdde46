"""CHGNet (universal, MPtrj-trained) as an ASE calculator, loaded offline from its wheel.

CHGNet's level of theory is PBE/PBE+U with plane waves and PAW (Materials Project), not the
PySCF core's PBE/def2-SVP cluster level: forces at a QM/ML boundary will not match.
"""

from __future__ import annotations

from numbers import Integral

from ase.calculators.calculator import Calculator, CalculatorSetupError

#: Models whose weights ship inside the chgnet wheel (nothing is downloaded).
SHIPPED_CHGNET_MODELS = ("0.3.0", "0.2.0")


def chgnet_calculator(model: str = "0.3.0", num_threads: int = 2) -> Calculator:
    """Return an ASE calculator (energy in eV, forces in eV/Å) for a CHGNet model on the CPU.

    Parameters
    ----------
    model : str
        CHGNet model version; one of :data:`SHIPPED_CHGNET_MODELS`.
    num_threads : int
        Torch CPU threads, ≥ 1 (values above 2 are capped at 2 for the shared machine).

    Returns
    -------
    ase.calculators.calculator.Calculator
        A ``chgnet.model.dynamics.CHGNetCalculator``.
    """
    if isinstance(num_threads, bool) or not isinstance(num_threads, Integral) or num_threads < 1:
        raise CalculatorSetupError(
            f"num_threads must be a positive integer (torch CPU threads), got {num_threads!r}."
        )
    if model not in SHIPPED_CHGNET_MODELS:
        raise CalculatorSetupError(
            f"CHGNet model {model!r} does not ship in the wheel; use one of "
            f"{SHIPPED_CHGNET_MODELS} (nothing may be downloaded at run time)."
        )
    import torch
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    torch.set_num_threads(min(int(num_threads), 2))
    net = CHGNet.load(model_name=model, use_device="cpu", verbose=False)
    return CHGNetCalculator(model=net, use_device="cpu", on_isolated_atoms="ignore")
