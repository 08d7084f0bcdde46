"""float32 inference of the shipped MACE models: same forces to well below the model error."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
import torch
from ase.calculators.calculator import CalculatorSetupError

from multiscale.mlip import load_default_model
from multiscale.mlip.default_models import MODELS_DIR
from multiscale.mlip.train import mace_calculator

LABELS = MODELS_DIR / "water-nacl_pbe_def2svp.extxyz"


def test_float32_forces_match_float64():
    frames = ase.io.read(LABELS, index=":4")
    calcs = {dt: load_default_model("water-nacl", dtype=dt) for dt in ("float64", "float32")}
    assert next(calcs["float32"].models[0].parameters()).dtype == torch.float32
    assert next(calcs["float64"].models[0].parameters()).dtype == torch.float64
    worst = 0.0
    for atoms in frames:
        f = {}
        for dt, calc in calcs.items():
            a = atoms.copy()
            a.calc = calc
            f[dt] = a.get_forces()
            # float64 arrays either way (ASE constraints refine forces in place to 1e-13)
            assert f[dt].dtype == np.float64 and a.get_stress().dtype == np.float64
        worst = max(worst, float(np.abs(f["float32"] - f["float64"]).max()))
    # float32 changes the forces (it is not silently float64) by far less than the model's
    # own error against PBE (54-59 meV/Å)
    assert 0.0 < worst < 1e-3


def test_bad_dtype_is_refused():
    msg = r"dtype must be one of \('float64', 'float32'\)"
    with pytest.raises(CalculatorSetupError, match=msg):
        load_default_model("water-nacl", dtype="float16")
    with pytest.raises(CalculatorSetupError, match="dtype must be one of"):
        mace_calculator(MODELS_DIR / "water-nacl-0.model", dtype=32)


def test_device_is_checked_before_loading(monkeypatch):
    """device="cpu" is the default; a GPU is asked for only when torch sees one, and a
    misspelt device is refused with the choices (GPU runs of issue #14's production)."""
    calc = load_default_model("water-nacl", dtype="float32", device="cpu")
    assert str(next(calc.models[0].parameters()).device) == "cpu"
    with pytest.raises(CalculatorSetupError, match=r"device must be 'cpu', 'cuda' or 'cuda:N'"):
        load_default_model("water-nacl", device="gpu")
    with pytest.raises(CalculatorSetupError, match="device must be"):
        mace_calculator(MODELS_DIR / "water-nacl-0.model", device="cuda:x")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CalculatorSetupError, match="asks for an NVIDIA GPU, but torch sees none"):
        load_default_model("water-nacl", device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(CalculatorSetupError, match=r"torch sees 1 GPU\(s\), indices 0..0"):
        load_default_model("water-nacl", device="cuda:1")
