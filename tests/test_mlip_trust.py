"""MLIP trust and input checks: shipped-model hashes, trusted loads, torch's safe default,
model elements, and clear errors for bad input at every public entry point."""

from __future__ import annotations

import hashlib
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import CalculationFailed, CalculatorSetupError
from ase.calculators.lj import LennardJones
from ase.calculators.singlepoint import SinglePointCalculator

from multiscale.mlip import (
    DEFAULT_MODELS,
    CommitteeCalculator,
    carve_cluster,
    chgnet_calculator,
    default_models,
    label_configurations,
    load_default_model,
    mace_calculator,
    mace_committee_trainer,
    model_elements,
    run_active_learning,
    split_frames,
    train,
    train_mace,
)
from multiscale.mlip.default_models import MODELS_DIR, sha256_file, shipped_hashes

ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


class _Touch:
    """Unpickling this creates a file: stands for any code a crafted .model could run."""

    def __init__(self, target: pathlib.Path) -> None:
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (self.target,))


def _crafted_model(path: pathlib.Path, marker: pathlib.Path) -> pathlib.Path:
    import torch

    torch.save(_Touch(marker), path)
    assert zipfile.is_zipfile(path) and not marker.exists()
    return path


# --- shipped models: committed hashes ------------------------------------------------------


def test_every_shipped_model_matches_its_committed_hash(tmp_path):
    hashes = shipped_hashes()
    files = [f for members, _ in DEFAULT_MODELS.values() for f in members]
    assert sorted(hashes) == sorted(files)
    for f in files:
        assert hashes[f] == sha256_file(MODELS_DIR / f)
    # the rebuild command's writer reproduces the committed file byte for byte
    for f in files:
        shutil.copy(MODELS_DIR / f, tmp_path / f)
    default_models.write_shipped_hashes(tmp_path)
    assert (tmp_path / "SHA256SUMS").read_text() == (MODELS_DIR / "SHA256SUMS").read_text()


def _tampered_dir(tmp_path, monkeypatch, flip: bool = True):
    name = "water-nacl-0.model"
    shutil.copy(MODELS_DIR / name, tmp_path / name)
    shutil.copy(MODELS_DIR / "SHA256SUMS", tmp_path / "SHA256SUMS")
    if flip:
        data = bytearray((tmp_path / name).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (tmp_path / name).write_bytes(bytes(data))
    monkeypatch.setattr(default_models, "MODELS_DIR", tmp_path)
    return tmp_path / name


def test_tampered_shipped_model_is_refused_with_both_hashes(tmp_path, monkeypatch):
    path = _tampered_dir(tmp_path, monkeypatch)
    expected = shipped_hashes(MODELS_DIR)["water-nacl-0.model"]
    actual = sha256_file(path)
    with pytest.raises(CalculatorSetupError, match=f"water-nacl-0.model.*{expected}.*{actual}"):
        load_default_model("water-nacl")
    # trust=True does not override a failed hash check of a shipped file
    with pytest.raises(CalculatorSetupError, match="does not match its committed hash"):
        mace_calculator(path, trust=True)


def test_shipped_model_without_committed_hash_is_refused(tmp_path, monkeypatch):
    _tampered_dir(tmp_path, monkeypatch, flip=False)
    (tmp_path / "SHA256SUMS").write_text("")
    with pytest.raises(
        CalculatorSetupError, match=r"no committed SHA-256 hash.*build_default hashes"
    ):
        load_default_model("water-nacl")


# --- torch's safe default after mace is imported ----------------------------------------


@pytest.mark.skipif(ENV in os.environ and "mace" not in sys.modules, reason="set by the user")
def test_loading_a_shipped_model_leaves_torch_load_safe(tmp_path):
    import torch

    calc = load_default_model("water-nacl", num_threads=1)
    atoms = molecule("H2O")
    atoms.calc = calc
    assert np.all(np.isfinite(atoms.get_forces()))
    assert os.environ.get(ENV) is None
    marker = tmp_path / "pwned"
    crafted = _crafted_model(tmp_path / "evil.model", marker)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(crafted)
    assert not marker.exists()


def test_import_mace_keeps_a_value_the_user_set(monkeypatch):
    monkeypatch.setenv(ENV, "mace-overwrote-this")
    monkeypatch.setattr(train, "_USER_NO_WEIGHTS_ONLY", "1")
    train._import_mace()
    assert os.environ.get(ENV) == "1"
    monkeypatch.setattr(train, "_USER_NO_WEIGHTS_ONLY", None)
    train._import_mace()
    assert ENV not in os.environ


# --- user model files: explicit trust ---------------------------------------------------


def test_user_model_needs_trust(tmp_path):
    marker = tmp_path / "pwned"
    crafted = _crafted_model(tmp_path / "evil.model", marker)
    with pytest.raises(
        CalculatorSetupError, match=r"pickle that can run arbitrary code.*trust=True"
    ):
        mace_calculator(crafted)
    assert not marker.exists()
    # a genuine model copied out of the shipped folder is a user file: refused, then trusted
    copy = tmp_path / "mine.model"
    shutil.copy(MODELS_DIR / "water-nacl-0.model", copy)
    with pytest.raises(CalculatorSetupError, match="not a verified shipped model"):
        mace_calculator(copy)
    atoms = molecule("H2O")
    atoms.calc = mace_calculator(copy, num_threads=1, trust=True)
    assert atoms.get_forces().shape == (3, 3)


def _text(path):
    path.write_text("this is not a model\n")
    return path


def _hdf5(path):
    import h5py

    with h5py.File(path, "w") as fh:
        fh["z"] = np.arange(3.0)
    return path


def _zip(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "no pickle here")
    return path


def _torch_dict(path):
    import torch

    torch.save({"weights": torch.zeros(2)}, path)
    return path


@pytest.mark.parametrize("make", [_text, _hdf5, _zip, _torch_dict])
def test_trusted_non_model_file_is_refused(tmp_path, make):
    path = make(tmp_path / "thing.model")
    with pytest.raises(CalculatorSetupError, match=f"not a MACE model file: {path}"):
        mace_calculator(path, trust=True)


# --- model elements ---------------------------------------------------------------------


def test_model_elements_agree_with_the_model_files():
    import torch
    from ase.data import chemical_symbols

    for name, (files, _level) in DEFAULT_MODELS.items():
        for f in files:
            model = torch.load(MODELS_DIR / f, map_location="cpu", weights_only=False)
            z_table = {chemical_symbols[int(z)] for z in model.atomic_numbers}
            assert model_elements(name) == frozenset(z_table)
    assert "K" not in model_elements("water-nacl") and "Cu" in model_elements("cu-water-nacl")
    with pytest.raises(ValueError, match="unknown default model 'gold'"):
        model_elements("gold")


def test_model_elements_does_not_import_torch():
    code = (
        "import sys; from multiscale.mlip import model_elements; "
        "assert model_elements('water-nacl') == {'H', 'O', 'Na', 'Cl'}; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- bad input at the public entry points -------------------------------------------------


def _never(_atoms):
    raise AssertionError("make_calc must not be called for bad input")


@pytest.mark.parametrize(
    "configs, exc, match",
    [
        ([molecule("H2O"), Atoms()], ValueError, r"configs\[1\] has no atoms"),
        ([Atoms("H2", positions=[[0, 0, 0], [np.nan, 0, 0]])], ValueError, r"configs\[0\].*NaN"),
        ([Atoms("H2", positions=[[0, 0, 0], [0.2, 0, 0]])], ValueError, r"configs\[0\].*0.200 Å"),
        ([molecule("H2O"), "H2O"], TypeError, r"configs\[1\] is a str"),
        (molecule("H2O"), TypeError, r"list of ase.Atoms.*\[atoms\]"),
    ],
)
def test_label_configurations_refuses_bad_frames(tmp_path, configs, exc, match):
    out = tmp_path / "labels.extxyz"
    with pytest.raises(exc, match=match):
        label_configurations(configs, _never, out, progress=False)
    assert not out.exists()


def _labelled(atoms, energy=-1.0, forces=None):
    a = atoms.copy()
    f = np.zeros((len(a), 3)) if forces is None else forces
    a.calc = SinglePointCalculator(a, energy=energy, forces=f)
    return a


def _forces_only():
    a = molecule("H2O")
    a.calc = SinglePointCalculator(a, forces=np.zeros((3, 3)))
    return a


@pytest.mark.parametrize(
    "frames, exc, match",
    [
        ([], ValueError, "at least one training"),
        ([Atoms()], ValueError, r"train\[0\] has no atoms"),
        ([_forces_only()], ValueError, "frame 0 has no energy/forces"),
        ([_labelled(molecule("H2O"), energy=np.nan)], ValueError, "energy must be finite"),
        ([_labelled(molecule("H2O"), forces=np.full((3, 3), np.inf))], ValueError, "NaN or inf"),
        (molecule("H2O"), TypeError, "list of ase.Atoms"),
    ],
)
def test_train_mace_refuses_bad_sets(tmp_path, frames, exc, match):
    valid = [_labelled(molecule("H2O"))]
    with pytest.raises(exc, match=match):
        train_mace(frames, valid, tmp_path / "w")
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n=10, valid_fraction=0.0), ValueError, "valid_fraction must be a fraction"),
        (dict(n=10, test_fraction=1.0), ValueError, "test_fraction must be a fraction"),
        (dict(n=10, test_fraction=-0.1), ValueError, "test_fraction must be a fraction"),
        (dict(n=10, valid_fraction=float("nan")), ValueError, "valid_fraction"),
        (dict(n=3, valid_fraction=0.5, test_fraction=0.5), ValueError, "no training frame"),
        (dict(n=10.0), TypeError, "n must be an integer"),
    ],
)
def test_split_frames_refuses_bad_fractions(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        split_frames(**kwargs)


class _NaNCalc(LennardJones):
    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["forces"] = np.full_like(self.results["forces"], np.nan)


def test_committee_refuses_bad_members_and_nan_results():
    with pytest.raises(CalculatorSetupError, match="at least 2 members"):
        CommitteeCalculator([LennardJones()])
    with pytest.raises(CalculatorSetupError, match="member 1 is a str, not an ASE calculator"):
        CommitteeCalculator([LennardJones(), "water-nacl"])
    with pytest.raises(CalculatorSetupError, match="list of ASE calculators"):
        CommitteeCalculator(LennardJones())
    atoms = molecule("H2O")
    atoms.calc = CommitteeCalculator([LennardJones(), _NaNCalc()])
    with pytest.raises(CalculationFailed, match=r"member\(s\) \[1\] returned NaN"):
        atoms.get_forces()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(model="9.9.9"), "does not ship"),
        (dict(num_threads=0), "num_threads must be a positive integer"),
        (dict(num_threads=-2), "num_threads must be a positive integer"),
        (dict(num_threads=1.5), "num_threads must be a positive integer"),
    ],
)
def test_chgnet_calculator_refuses_bad_setup(kwargs, match):
    with pytest.raises(CalculatorSetupError, match=match):
        chgnet_calculator(**kwargs)


def test_mace_calculator_refuses_bad_threads():
    with pytest.raises(CalculatorSetupError, match="num_threads must be a positive integer"):
        mace_calculator(MODELS_DIR / "water-nacl-0.model", num_threads=0)


@pytest.mark.parametrize(
    "center, radius, exc, match",
    [
        (-1, 3.0, ValueError, "not an atom index"),
        (3, 3.0, ValueError, "not an atom index"),
        (1.5, 3.0, TypeError, "center must be an integer"),
        (0, -1.0, ValueError, "radius must be positive"),
        (0, float("nan"), ValueError, "radius must be positive and finite"),
        (0, "3", TypeError, "radius must be a number"),
    ],
)
def test_carve_cluster_refuses_bad_input(center, radius, exc, match):
    with pytest.raises(exc, match=match):
        carve_cluster(molecule("H2O"), center, radius)


def _no_committee(_labels):
    raise AssertionError("make_committee must not be called for bad input")


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(threshold=0.0), ValueError, "threshold must be a positive finite number"),
        (dict(threshold=-0.1), ValueError, "threshold must be a positive"),
        (dict(threshold=float("nan")), ValueError, "threshold must be a positive"),
        (dict(timestep=0.0), ValueError, "timestep must be a positive"),
        (dict(n_steps=-1), ValueError, "n_steps must be a non-negative integer"),
        (dict(temperature=-5.0), ValueError, "temperature must be a non-negative"),
        (dict(radius=float("inf")), ValueError, "radius must be a positive"),
        (dict(atoms=Atoms()), TypeError, "atoms must be a non-empty ase.Atoms"),
    ],
)
def test_run_active_learning_refuses_bad_input(tmp_path, kwargs, exc, match):
    args = dict(
        atoms=molecule("H2O"),
        make_committee=_no_committee,
        make_ref_calc=_never,
        workdir=tmp_path / "al",
        threshold=0.1,
        n_steps=2,
    )
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        run_active_learning(**args, progress=False)
    assert not (tmp_path / "al").exists()


def test_run_active_learning_refuses_a_non_committee(tmp_path):
    with pytest.raises(TypeError, match=r"no 'max_force_std'.*CommitteeCalculator"):
        run_active_learning(
            molecule("H2O"), lambda _l: LennardJones(), _never, tmp_path, 0.1, 1, progress=False
        )


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n_members=1), ValueError, "n_members >= 2"),
        (dict(valid_fraction=0.0), ValueError, "valid_fraction must be a fraction"),
        (dict(valid_fraction=1.5), ValueError, "valid_fraction must be a fraction"),
    ],
)
def test_mace_committee_trainer_refuses_bad_settings(tmp_path, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        mace_committee_trainer(tmp_path, **kwargs)


def test_mace_committee_trainer_needs_labels(tmp_path):
    make = mace_committee_trainer(tmp_path)
    with pytest.raises(ValueError, match="at least 2 labelled frames"):
        make([])


def test_text_file_is_refused_before_torch_is_imported(tmp_path):
    path = _text(tmp_path / "notes.model")
    code = (
        "import sys; from multiscale.mlip import mace_calculator\n"
        "try:\n"
        f"    mace_calculator({str(path)!r}, trust=True)\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, err)\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        f"CalculatorSetupError not a MACE model file: {path} (a torch-saved model is a zip "
        "archive; this file is not). Give the .model file written by train_mace.",
        "False",
    ]


def test_install_distilled_puts_the_chosen_driver_first(tmp_path, monkeypatch):
    """``--driver k`` installs member m{k} as cu-water-nacl-0 (the MD driver), the others in
    order, and hashes exactly the installed bytes; an unknown member is refused."""
    from multiscale.mlip import build_default

    round_dir = tmp_path / "work" / "iter_03"
    for k in range(3):
        (round_dir / f"m{k}").mkdir(parents=True)
        (round_dir / f"m{k}" / "student.model").write_bytes(f"member {k}".encode())
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(build_default, "MODELS_DIR", models)
    hashes = build_default.install_distilled(tmp_path / "work", 3, driver=2)
    contents = [(models / f"cu-water-nacl-{k}.model").read_bytes() for k in range(3)]
    assert contents == [b"member 2", b"member 0", b"member 1"]
    assert hashes["cu-water-nacl-0.model"] == hashlib.sha256(b"member 2").hexdigest()
    with pytest.raises(SystemExit, match=r"no member m5 .* choose one of"):
        build_default.install_distilled(tmp_path / "work", 3, driver=5)
