"""Training small MACE models (mace-torch) on labelled extxyz frames, on the CPU, offline."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import numbers
import os
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import (
    Calculator,
    CalculatorSetupError,
    PropertyNotImplementedError,
)

from multiscale.mlip.labels import _check_configurations

#: Keys under which :func:`train_mace` stores the reference labels for mace-torch.
ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"

#: Inference precisions :func:`mace_calculator` accepts (training is always float64).
MACE_DTYPES = ("float64", "float32")

#: mace-torch sets this on import, which turns every later ``torch.load`` in the process into
#: an unrestricted unpickler. :func:`_import_mace` removes it again.
_NO_WEIGHTS_ONLY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
#: The user's own value of that variable, read before mace is first imported (None: unset, or
#: mace was already imported by someone else, in which case the safe default is restored).
_USER_NO_WEIGHTS_ONLY = None if "mace" in sys.modules else os.environ.get(_NO_WEIGHTS_ONLY)


def _import_mace(*submodules: str) -> ModuleType:
    """Import mace-torch (and ``submodules``) and restore torch's safe ``torch.load`` default.

    mace-torch sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` in ``os.environ`` when
    ``mace`` or ``mace.calculators`` is imported; this puts back the value the user had before
    (removes it unless the user set it). Every mace import in the project goes through here.

    Parameters
    ----------
    *submodules : str
        Further modules to import, e.g. ``"mace.cli.run_train"``.

    Returns
    -------
    types.ModuleType
        The ``mace`` package.
    """
    try:
        for name in ("mace", "mace.calculators", "mace.tools", *submodules):
            importlib.import_module(name)
    finally:
        if _USER_NO_WEIGHTS_ONLY is None:
            os.environ.pop(_NO_WEIGHTS_ONLY, None)
        else:
            os.environ[_NO_WEIGHTS_ONLY] = _USER_NO_WEIGHTS_ONLY
    return sys.modules["mace"]


def _with_ref_labels(frames: Sequence[Atoms]) -> list[Atoms]:
    out = []
    for i, atoms in enumerate(frames):
        energy = forces = None
        if atoms.calc is not None:
            with contextlib.suppress(PropertyNotImplementedError):
                energy = atoms.get_potential_energy()
                forces = atoms.get_forces()
        elif ENERGY_KEY in atoms.info and FORCES_KEY in atoms.arrays:
            energy, forces = atoms.info[ENERGY_KEY], atoms.arrays[FORCES_KEY]
        if energy is None or forces is None:
            raise ValueError(
                f"frame {i} has no energy/forces: attach a SinglePointCalculator (as "
                "label_configurations does) or set info['REF_energy'] and arrays['REF_forces']."
            )
        forces = np.asarray(forces, dtype=float)
        if not np.isfinite(energy) or forces.shape != (len(atoms), 3):
            raise ValueError(
                f"frame {i}: energy must be finite and forces of shape ({len(atoms)}, 3), got "
                f"energy {energy} and forces of shape {forces.shape}."
            )
        if not np.all(np.isfinite(forces)):
            raise ValueError(f"frame {i}: its forces contain NaN or inf; relabel the frame.")
        a = Atoms(
            atoms.get_chemical_symbols(),
            positions=atoms.positions,
            cell=atoms.cell,
            pbc=atoms.pbc,
        )
        a.info[ENERGY_KEY] = float(energy)
        a.arrays[FORCES_KEY] = np.asarray(forces, dtype=float)
        for key in ("config_type", "family", "config_id"):
            if key in atoms.info:
                a.info[key] = atoms.info[key]
        out.append(a)
    return out


def split_frames(
    n: int, valid_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> dict[str, list[int]]:
    """A reproducible random train/validation/test split of ``n`` frame indices.

    Parameters
    ----------
    n : int
        Number of frames.
    valid_fraction, test_fraction : float
        Fractions held out for validation (early stopping) and test (never seen in training).
    seed : int
        Random seed.

    Returns
    -------
    dict
        ``{"train": [...], "valid": [...], "test": [...]}``, sorted index lists.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an integer number of frames, got {n!r}.")
    if n < 3:
        raise ValueError(f"need at least 3 frames to split, got n={n}.")
    for name, frac in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not (isinstance(frac, numbers.Real) and 0.0 < frac < 1.0):
            raise ValueError(f"{name} must be a fraction strictly between 0 and 1, got {frac!r}.")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(test_fraction * n))
    n_valid = max(1, round(valid_fraction * n))
    if n_test + n_valid >= n:
        raise ValueError(
            f"valid_fraction={valid_fraction} and test_fraction={test_fraction} of {n} frames "
            f"hold out {n_test + n_valid}, leaving no training frame: lower them or add frames."
        )
    return {
        "test": sorted(int(i) for i in perm[:n_test]),
        "valid": sorted(int(i) for i in perm[n_test : n_test + n_valid]),
        "train": sorted(int(i) for i in perm[n_test + n_valid :]),
    }


def train_valid_split(
    frames: Sequence[Atoms], valid_fraction: float, seed: int = 0
) -> tuple[list[Atoms], list[Atoms]]:
    """A seeded random split of labels into training and validation frames (no test set).

    ``max(1, round(valid_fraction * n))`` frames go to validation; see :func:`split_frames`
    for a split with a held-out test set.
    """
    frames = list(frames)
    perm = np.random.default_rng(seed).permutation(len(frames))
    n_valid = max(1, round(valid_fraction * len(frames)))
    return [frames[i] for i in perm[n_valid:]], [frames[i] for i in perm[:n_valid]]


def train_mace(
    train: Sequence[Atoms],
    valid: Sequence[Atoms],
    work_dir: str | os.PathLike,
    name: str = "mace",
    seed: int = 0,
    r_max: float = 4.5,
    hidden_irreps: str = "16x0e",
    max_L: int = 0,
    num_interactions: int = 2,
    correlation: int = 2,
    num_radial_basis: int = 6,
    max_ell: int = 2,
    e0s: str | dict[int, float] = "average",
    max_num_epochs: int = 100,
    batch_size: int = 8,
    lr: float = 0.01,
    energy_weight: float = 1.0,
    forces_weight: float = 100.0,
    swa: bool = False,
    num_threads: int = 1,
    extra_args: Sequence[str] = (),
    default_dtype: str = "float64",
    foundation: str | os.PathLike | None = None,
) -> Path:
    """Train a small MACE model with ``mace.cli.run_train`` on the CPU.

    Parameters
    ----------
    train, valid : sequence of ase.Atoms
        Labelled frames (energy in eV, forces in eV/Å, from an attached calculator such as the
        ``SinglePointCalculator`` of :func:`label_configurations`). ``valid`` drives the
        learning-rate schedule and the choice of the saved epoch; keep a test set apart.
    work_dir : path-like
        Directory for the data files, logs, checkpoints and the model.
    name : str
        Model name; the model is written to ``work_dir/<name>.model``.
    seed : int
        Seed of mace-torch's training (initial weights, batch order).
    r_max : float
        Cutoff radius, Å.
    hidden_irreps : str
        Hidden features in e3nn notation (``"16x0e"`` is a tiny invariant model).
    max_L, num_interactions, correlation, num_radial_basis, max_ell : int
        MACE architecture settings (see ``mace_run_train --help``).
    e0s : str or dict
        Per-element reference energies (eV): ``"average"`` (least-squares fit of the training
        energies to the composition; mace-torch's option) or ``{Z: E0}``.
    max_num_epochs, batch_size : int
        Training length and mini-batch size.
    lr, energy_weight, forces_weight : float
        Learning rate and loss weights.
    swa : bool
        Enable mace-torch's stage two (stochastic weight averaging with a higher energy weight).
    num_threads : int
        Torch CPU threads.
    extra_args : sequence of str
        Further ``mace_run_train`` command-line arguments.
    default_dtype : {"float64", "float32"}
        Training precision. float32 trains about twice as fast on the CPU; the saved model is
        converted to the inference dtype by :func:`mace_calculator` either way.
    foundation : path-like, optional
        Warm start: a model written by an earlier :func:`train_mace` call of this process or
        project (it is unpickled, so only a file you made yourself). Its weights, architecture,
        cutoff and E0s are taken over (mace-torch's ``--foundation_model`` fine-tuning,
        single head); the architecture arguments here are then ignored.

    Returns
    -------
    pathlib.Path
        The saved model (a ``torch.save``'d MACE module, in ``default_dtype``). It was written
        by this process, so load it with ``mace_calculator(path, trust=True)``.
    """
    for what, frames in (("train", train), ("valid", valid)):
        if isinstance(frames, Atoms) or not isinstance(frames, Sequence):
            raise TypeError(f"{what} must be a list of ase.Atoms, got {type(frames).__name__}.")
        if len(frames) < 1:
            raise ValueError(
                f"train_mace needs at least one training and one validation frame, got "
                f"{len(train)} and {len(valid)}."
            )
    if default_dtype not in MACE_DTYPES:
        raise ValueError(f"default_dtype must be one of {MACE_DTYPES}, got {default_dtype!r}.")
    _check_configurations(train, "train")
    _check_configurations(valid, "valid")
    train_labelled, valid_labelled = _with_ref_labels(train), _with_ref_labels(valid)
    import torch

    _import_mace("mace.cli.run_train")
    from mace import tools
    from mace.cli import run_train

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    train_file, valid_file = work / f"{name}_train.xyz", work / f"{name}_valid.xyz"
    ase.io.write(train_file, train_labelled, format="extxyz")
    ase.io.write(valid_file, valid_labelled, format="extxyz")
    e0_arg = e0s if isinstance(e0s, str) else str({int(k): float(v) for k, v in e0s.items()})
    warm: list[str] = []
    if foundation is not None:
        if not Path(foundation).is_file():
            raise ValueError(f"foundation model {foundation} does not exist.")
        e0_arg = "foundation"
        warm = [f"--foundation_model={Path(foundation).resolve()}", "--multiheads_finetuning=False"]
    argv = [
        f"--name={name}",
        f"--seed={seed}",
        f"--work_dir={work}",
        f"--model_dir={work}",
        f"--log_dir={work / 'logs'}",
        f"--checkpoints_dir={work / 'checkpoints'}",
        f"--results_dir={work / 'results'}",
        f"--train_file={train_file}",
        f"--valid_file={valid_file}",
        f"--energy_key={ENERGY_KEY}",
        f"--forces_key={FORCES_KEY}",
        f"--E0s={e0_arg}",
        "--model=MACE",
        f"--r_max={r_max}",
        f"--hidden_irreps={hidden_irreps}",
        f"--max_L={max_L}",
        f"--num_interactions={num_interactions}",
        f"--correlation={correlation}",
        f"--num_radial_basis={num_radial_basis}",
        f"--max_ell={max_ell}",
        f"--max_num_epochs={max_num_epochs}",
        f"--batch_size={batch_size}",
        f"--valid_batch_size={max(batch_size, 16)}",
        f"--lr={lr}",
        f"--energy_weight={energy_weight}",
        f"--forces_weight={forces_weight}",
        "--device=cpu",
        f"--default_dtype={default_dtype}",
        "--eval_interval=1",
        "--keep_checkpoints",
        "--error_table=PerAtomMAE",
        "--save_cpu",
        "--num_workers=0",
        *(["--swa"] if swa else []),
        *warm,
        *extra_args,
    ]
    args = tools.build_default_arg_parser().parse_args(argv)
    old_threads, old_dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(max(1, int(num_threads)))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    if foundation is not None:
        # mace-torch unpickles the foundation file with torch.load's default; it is our own
        # file (see the docstring), so allow it for this call only
        os.environ[_NO_WEIGHTS_ONLY] = "1"
    try:
        run_train.run(args)
    finally:
        if foundation is not None:
            if _USER_NO_WEIGHTS_ONLY is None:
                os.environ.pop(_NO_WEIGHTS_ONLY, None)
            else:
                os.environ[_NO_WEIGHTS_ONLY] = _USER_NO_WEIGHTS_ONLY
        torch.set_num_threads(old_threads)
        torch.set_default_dtype(old_dtype)  # mace-torch sets the global default dtype
        # mace-torch's logger setup adds root handlers on every call; restore the caller's
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                with contextlib.suppress(Exception):
                    h.close()
        root.setLevel(level)
    model = work / f"{name}.model"
    if not model.exists():
        raise RuntimeError(f"mace-torch finished without writing {model}; see {work / 'logs'}")
    compiled = work / f"{name}_compiled.model"
    if compiled.exists():
        compiled.unlink()
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    return model


def _shipped_status(path: Path, data: bytes) -> bool:
    """True when ``path`` is a shipped model whose bytes match its committed hash.

    Raises CalculatorSetupError for a shipped model that differs from (or lacks) its hash;
    returns False for any other file.
    """
    import hashlib

    from multiscale.mlip import default_models

    folder = Path(default_models.MODELS_DIR).resolve()
    if path.resolve().parent != folder:
        return False
    hashes = default_models.shipped_hashes(folder)
    listed = {f for files, _ in default_models.DEFAULT_MODELS.values() for f in files}
    if path.name not in hashes:
        if path.name in listed:
            raise CalculatorSetupError(
                f"shipped model {path} has no committed SHA-256 hash in "
                f"{folder / default_models.HASHES_FILE}: if you rebuilt it yourself, run "
                "`python -m multiscale.mlip.build_default hashes` (see models/MODEL_CARD.md)."
            )
        return False
    actual = hashlib.sha256(data).hexdigest()
    if actual != hashes[path.name]:
        raise CalculatorSetupError(
            f"shipped model {path} does not match its committed hash: expected SHA-256 "
            f"{hashes[path.name]}, file has {actual}. The file was modified or corrupted; "
            "restore it from the repository, or, if you rebuilt it yourself, run "
            "`python -m multiscale.mlip.build_default hashes`."
        )
    return True


def _float64_results(base: type) -> type:
    """A subclass of the MACE calculator ``base`` whose array results are float64.

    With a float32 model mace-torch returns float32 forces and stress; ASE code that refines
    them in place to tight tolerances (e.g. :class:`ase.constraints.FixBondLengths`, which
    iterates to 1e-13) cannot converge in float32, so they are handed out as float64.
    """

    class MACECalculatorFloat32(base):
        def calculate(self, *args, **kwargs):
            super().calculate(*args, **kwargs)
            for key, value in self.results.items():
                if isinstance(value, np.ndarray) and value.dtype == np.float32:
                    self.results[key] = value.astype(np.float64)

    return MACECalculatorFloat32


def _check_device(device: object) -> None:
    """Refuse a device torch cannot use, before any model is loaded."""
    ok = isinstance(device, str) and (
        device in ("cpu", "cuda")
        or (device.startswith("cuda:") and device.removeprefix("cuda:").isdigit())
    )
    if not ok:
        raise CalculatorSetupError(
            f"device must be 'cpu', 'cuda' or 'cuda:N' (N = GPU index), got {device!r}."
        )
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise CalculatorSetupError(
                f"device={device!r} asks for an NVIDIA GPU, but torch sees none "
                "(torch.cuda.is_available() is False): use device='cpu', or install the CUDA "
                "build of torch on a machine with a GPU."
            )
        index = int(device.removeprefix("cuda:")) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise CalculatorSetupError(
                f"device={device!r}: torch sees {torch.cuda.device_count()} GPU(s), "
                f"indices 0..{torch.cuda.device_count() - 1}."
            )


def mace_calculator(
    model_path: str | os.PathLike,
    num_threads: int | None = None,
    trust: bool = False,
    dtype: str = "float64",
    device: str = "cpu",
) -> Calculator:
    """An ASE calculator (eV, eV/Å) for a MACE model file, in float64 or float32.

    A ``.model`` file is a Python pickle (``torch.save``): loading it can run arbitrary code.
    Shipped models (``multiscale/mlip/models/``) are loaded after their SHA-256 matches the
    hash committed in ``models/SHA256SUMS``; any other file only with ``trust=True``.

    Parameters
    ----------
    model_path : path-like
        A model written by :func:`train_mace` (or any ``torch.save``'d MACE model).
    num_threads : int, optional
        Torch CPU threads to set, ≥ 1 (left unchanged when None).
    trust : bool
        Load a file that is not a verified shipped model. Pass True only for files you made
        yourself or got from a source you trust as much as code you run.
    dtype : {"float64", "float32"}
        Floating-point precision of inference (the model's weights are converted). float32 is
        faster on the CPU; for the shipped models its force error against float64 is measured
        in ``benchmarks/md.py`` (docs/benchmarks.md) and is far below the models' own error.
        Training stays in float64.
    device : str
        Where inference runs: ``"cpu"`` (default) or ``"cuda"`` / ``"cuda:N"`` (an NVIDIA GPU
        that torch sees). Results come back as float64 numpy arrays either way.

    Returns
    -------
    ase.calculators.calculator.Calculator
        A ``mace.calculators.MACECalculator``.

    Raises
    ------
    ase.calculators.calculator.CalculatorSetupError
        The file is missing, a shipped model fails its hash check, a user file is given
        without ``trust=True``, or the file is not a MACE model; ``dtype`` is not
        "float64" or "float32"; ``device`` is not "cpu" or "cuda[:N]", or asks for a GPU that
        torch does not see.
    """
    _check_device(device)
    if not isinstance(dtype, str) or dtype not in MACE_DTYPES:
        raise CalculatorSetupError(
            f"dtype must be one of {MACE_DTYPES} (inference precision), got {dtype!r}."
        )
    if num_threads is not None and (
        isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral)
        or num_threads < 1
    ):  # fmt: skip
        raise CalculatorSetupError(
            f"num_threads must be a positive integer (torch CPU threads), got {num_threads!r}."
        )
    path = Path(model_path)
    if not path.is_file():
        raise CalculatorSetupError(
            f"MACE model file {path} does not exist: train one with train_mace or use "
            "load_default_model()."
        )
    data = path.read_bytes()  # hash and load the same bytes
    if not _shipped_status(path, data) and not trust:
        raise CalculatorSetupError(
            f"refusing to load {path}: it is not a verified shipped model, and a .model file "
            "is a pickle that can run arbitrary code when loaded. If you made it yourself "
            "(train_mace) or trust its source as much as code you run, pass trust=True to "
            "mace_calculator."
        )
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CalculatorSetupError(
            f"not a MACE model file: {path} (a torch-saved model is a zip archive; this file "
            "is not). Give the .model file written by train_mace."
        )
    import torch

    _import_mace()
    from mace.calculators import MACECalculator

    try:
        # explicit weights_only=False: the file is trusted (verified hash or trust=True)
        model = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as err:
        raise CalculatorSetupError(f"not a MACE model file: {path} ({err})") from err
    if not (
        isinstance(model, torch.nn.Module)
        and hasattr(model, "atomic_numbers")
        and hasattr(model, "r_max")
    ):
        raise CalculatorSetupError(
            f"not a MACE model file: {path} holds a {type(model).__name__}, not a MACE "
            "torch module. Give the .model file written by train_mace."
        )
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    # convert here, so that mace-torch has no dtype mismatch to warn about
    model = model.float() if dtype == "float32" else model.double()
    cls = MACECalculator if dtype == "float64" else _float64_results(MACECalculator)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        try:
            return cls(models=[model], device=device, default_dtype=dtype)
        except Exception as err:
            raise CalculatorSetupError(f"not a usable MACE model: {path} ({err})") from err


def mace_committee_trainer(
    work_dir: str | os.PathLike,
    n_members: int = 3,
    valid_fraction: float = 0.1,
    **train_kwargs,
):
    """A ``make_committee(labels)`` callable for :func:`run_active_learning` built on MACE.

    Each call splits the labels (seed 0), trains ``n_members`` models with seeds
    ``0 .. n_members - 1`` by :func:`train_mace` in ``work_dir/round<k>/`` and returns their
    :class:`~multiscale.mlip.CommitteeCalculator`.

    Parameters
    ----------
    work_dir : path-like
        Directory for the training rounds.
    n_members : int
        Committee size (≥ 2).
    valid_fraction : float
        Fraction of the labels used for validation.
    **train_kwargs
        Passed to :func:`train_mace` (architecture, epochs, ...).

    Returns
    -------
    callable
        ``make_committee(labels: list[ase.Atoms]) -> CommitteeCalculator``.
    """
    from multiscale.mlip.committee import CommitteeCalculator

    if isinstance(n_members, bool) or not isinstance(n_members, numbers.Integral):
        raise TypeError(f"n_members must be an integer committee size, got {n_members!r}.")
    if n_members < 2:
        raise ValueError(f"a committee needs n_members >= 2, got {n_members}")
    if not (isinstance(valid_fraction, numbers.Real) and 0.0 < valid_fraction < 1.0):
        raise ValueError(
            f"valid_fraction must be a fraction strictly between 0 and 1, got {valid_fraction!r}."
        )
    state = {"round": 0}

    def make_committee(labels: Sequence[Atoms]) -> CommitteeCalculator:
        labels = list(labels)
        if len(labels) < 2:
            raise ValueError(
                f"mace_committee_trainer needs at least 2 labelled frames to train on, got "
                f"{len(labels)}: seed the active-learning labels file (workdir/labels.extxyz) "
                "with label_configurations first."
            )
        train, valid = train_valid_split(labels, valid_fraction)
        train = train or valid
        root = Path(work_dir) / f"round{state['round']}"
        state["round"] += 1
        # models this process has just trained are trusted by construction
        members = [
            mace_calculator(
                train_mace(train, valid, root / f"m{s}", f"m{s}", seed=s, **train_kwargs),
                trust=True,
            )
            for s in range(n_members)
        ]
        return CommitteeCalculator(members)

    return make_committee
