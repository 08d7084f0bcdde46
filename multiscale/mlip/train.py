"""Training small MACE models (mace-torch) on labelled extxyz frames, on the CPU, offline."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, CalculatorSetupError

#: Keys under which :func:`train_mace` stores the reference labels for mace-torch.
ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"


def _with_ref_labels(frames: Sequence[Atoms]) -> list[Atoms]:
    out = []
    for i, atoms in enumerate(frames):
        if atoms.calc is not None:
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
        elif ENERGY_KEY in atoms.info and FORCES_KEY in atoms.arrays:
            energy, forces = atoms.info[ENERGY_KEY], atoms.arrays[FORCES_KEY]
        else:
            raise ValueError(
                f"frame {i} has no energy/forces: attach a SinglePointCalculator (as "
                "label_configurations does) or set info['REF_energy'] and arrays['REF_forces']."
            )
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
    if n < 3:
        raise ValueError(f"need at least 3 frames to split, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(test_fraction * n))
    n_valid = max(1, round(valid_fraction * n))
    return {
        "test": sorted(int(i) for i in perm[:n_test]),
        "valid": sorted(int(i) for i in perm[n_test : n_test + n_valid]),
        "train": sorted(int(i) for i in perm[n_test + n_valid :]),
    }


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
) -> Path:
    """Train a small MACE model with ``mace.cli.run_train`` on the CPU in float64.

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

    Returns
    -------
    pathlib.Path
        The saved model (a ``torch.save``'d MACE module, float64), loadable by
        :func:`mace_calculator`.
    """
    import torch
    from mace import tools
    from mace.cli import run_train

    if len(train) < 1 or len(valid) < 1:
        raise ValueError(
            f"train_mace needs at least one training and one validation frame, got "
            f"{len(train)} and {len(valid)}."
        )
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    train_file, valid_file = work / f"{name}_train.xyz", work / f"{name}_valid.xyz"
    ase.io.write(train_file, _with_ref_labels(train), format="extxyz")
    ase.io.write(valid_file, _with_ref_labels(valid), format="extxyz")
    e0_arg = e0s if isinstance(e0s, str) else str({int(k): float(v) for k, v in e0s.items()})
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
        "--default_dtype=float64",
        "--eval_interval=1",
        "--keep_checkpoints",
        "--error_table=PerAtomMAE",
        "--save_cpu",
        "--num_workers=0",
        *(["--swa"] if swa else []),
        *extra_args,
    ]
    args = tools.build_default_arg_parser().parse_args(argv)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(num_threads)))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        run_train.run(args)
    finally:
        torch.set_num_threads(old_threads)
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


def mace_calculator(model_path: str | os.PathLike, num_threads: int | None = None) -> Calculator:
    """An ASE calculator (eV, eV/Å, float64, CPU) for a MACE model file.

    Parameters
    ----------
    model_path : path-like
        A model written by :func:`train_mace` (or any ``torch.save``'d MACE model).
    num_threads : int, optional
        Torch CPU threads to set (left unchanged when None).

    Returns
    -------
    ase.calculators.calculator.Calculator
        A ``mace.calculators.MACECalculator``.
    """
    path = Path(model_path)
    if not path.is_file():
        raise CalculatorSetupError(
            f"MACE model file {path} does not exist: train one with train_mace or use "
            "load_default_model()."
        )
    import torch
    from mace.calculators import MACECalculator

    if num_threads is not None:
        torch.set_num_threads(max(1, int(num_threads)))
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        return MACECalculator(model_paths=str(path), device="cpu", default_dtype="float64")


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

    if n_members < 2:
        raise ValueError(f"a committee needs n_members >= 2, got {n_members}")
    state = {"round": 0}

    def make_committee(labels: Sequence[Atoms]) -> CommitteeCalculator:
        labels = list(labels)
        n_valid = max(1, round(valid_fraction * len(labels)))
        perm = np.random.default_rng(0).permutation(len(labels))
        valid = [labels[i] for i in perm[:n_valid]]
        train = [labels[i] for i in perm[n_valid:]] or valid
        root = Path(work_dir) / f"round{state['round']}"
        state["round"] += 1
        members = [
            mace_calculator(
                train_mace(train, valid, root / f"m{s}", f"m{s}", seed=s, **train_kwargs)
            )
            for s in range(n_members)
        ]
        return CommitteeCalculator(members)

    return make_committee
