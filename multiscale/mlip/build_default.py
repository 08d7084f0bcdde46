"""Reproduce the shipped MLIP models: label data, train, and write them to ``models/``.

Usage (each stage is restartable; labels are appended one configuration at a time)::

    OMP_NUM_THREADS=1 python -m multiscale.mlip.build_default label-water --out DIR
    OMP_NUM_THREADS=1 python -m multiscale.mlip.build_default train --out DIR
    OMP_NUM_THREADS=1 mpiexec -n 2 python -m multiscale.mlip.build_default distill --out DIR
    python -m multiscale.mlip.build_default install-distilled --out DIR [--iteration K]
    python -m multiscale.mlip.build_default hashes

``label-water`` labels :func:`multiscale.mlip.datasets.water_nacl_clusters` with the PySCF core
(PBE/def2-SVP); ``train`` fits the ``water-nacl`` committee members, copies them into
``multiscale/mlip/models/`` and rewrites ``models/SHA256SUMS``; ``distill`` runs the
active-learning distillation of ``cu-water-nacl`` from SevenNet-0
(:class:`multiscale.mlip.distill.Distillation`, default settings) and ``install-distilled``
copies a round's students into ``models/``; ``hashes`` rewrites ``SHA256SUMS`` from the
``*.model`` files present (run it only for models you built yourself: it declares them
trusted).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import multiscale
from multiscale.mlip.default_models import MODELS_DIR, write_shipped_hashes

PYSCF_XC = "pbe"
PYSCF_BASIS = "def2-svp"


def label_water(out: Path, seed: int = 0, scale: float = 1.0) -> None:
    """Label the water/NaCl clusters with PySCF PBE/def2-SVP into ``out/water_nacl.extxyz``."""
    import pyscf

    from coupling.pyscf_calculator import PySCFCalculator
    from multiscale.mlip.datasets import water_nacl_clusters
    from multiscale.mlip.labels import label_configurations

    configs = water_nacl_clusters(seed=seed, scale=scale)
    provenance = {
        "xc": PYSCF_XC,
        "basis": PYSCF_BASIS,
        "pyscf_version": pyscf.__version__,
        "code_version": getattr(multiscale, "__version__", "unknown"),
        "level_of_theory": f"PySCF {PYSCF_XC.upper()}/{PYSCF_BASIS} cluster (no dispersion)",
    }

    def make_calc(atoms):
        return PySCFCalculator(
            xc=PYSCF_XC, basis=PYSCF_BASIS, charge=int(atoms.info["charge"]), guess="none"
        )

    label_configurations(configs, make_calc, out / "water_nacl.extxyz", provenance, progress=True)


INTERFACE_KW = dict(
    metal="Cu", facet="fcc111", size=(4, 4), layers=4, water_thickness=12.0, concentration=2.0
)


def install_distilled(
    workdir: Path, iteration: int | None = None, driver: int = 0
) -> dict[str, str]:
    """Copy the students of a distillation round into ``models/`` as ``cu-water-nacl-{k}``.

    ``workdir`` is a :class:`multiscale.mlip.distill.Distillation` workdir; ``iteration`` the
    round (default: the last round with trained members); ``driver`` the member (``m{driver}``)
    installed as ``cu-water-nacl-0``, the committee member that drives MD (the others follow
    in their order). Rewrites ``SHA256SUMS`` (the files were trained by this project's own
    run: declaring them trusted is the point).
    """
    rounds = sorted(p for p in workdir.glob("iter_*") if list(p.glob("m*/student.model")))
    if not rounds:
        raise SystemExit(f"no trained students in {workdir}/iter_*/m*/student.model")
    root = workdir / f"iter_{iteration:02d}" if iteration is not None else rounds[-1]
    members = sorted(root.glob("m*/student.model"))
    chosen = root / f"m{driver}" / "student.model"
    if chosen not in members:
        raise SystemExit(
            f"no member m{driver} in {root}: choose one of {[p.parent.name for p in members]}"
        )
    members = [chosen] + [p for p in members if p != chosen]
    for old in MODELS_DIR.glob("cu-water-nacl-*.model"):
        old.unlink()  # the project's own shipped files, replaced by the new committee
    for k, path in enumerate(members):
        shutil.copy(path, MODELS_DIR / f"cu-water-nacl-{k}.model")
    return write_shipped_hashes(MODELS_DIR)


#: Training settings of the shipped models (see models/MODEL_CARD.md).
TRAIN_SETTINGS = {
    "water-nacl": dict(
        r_max=4.5,
        hidden_irreps="16x0e",
        num_interactions=2,
        max_num_epochs=60,
        batch_size=8,
        lr=0.01,
    ),
}


def _force_errors(model: Path, frames) -> dict[str, float]:
    from multiscale.mlip.teachers import force_errors
    from multiscale.mlip.train import mace_calculator

    calc = mace_calculator(model, trust=True)  # trained by this process just now
    e = force_errors(calc, frames, box=False)
    return {
        "force_mae_meV_A": e.mae,
        "force_rmse_meV_A": e.rmse,
        "energy_mae_meV_atom": e.energy_mae,
        "n_test": len(frames),
    }


def train_shipped(out: Path, name: str, members: tuple[int, ...]) -> None:
    """Train committee members ``members`` (seeds) of model ``name`` and copy them to models/."""
    import json

    import ase.io

    from multiscale.mlip.train import split_frames, train_mace

    frames = ase.io.read(out / "water_nacl.extxyz", index=":", format="extxyz")
    split = split_frames(len(frames), 0.1, 0.1, seed=0)
    (out / f"{name}_split.json").write_text(json.dumps(split))
    ase.io.write(out / f"{name}_test.extxyz", [frames[i] for i in split["test"]])
    MODELS_DIR.mkdir(exist_ok=True)
    for seed in members:
        model = train_mace(
            [frames[i] for i in split["train"]],
            [frames[i] for i in split["valid"]],
            out / f"{name}-{seed}",
            name=f"{name}-{seed}",
            seed=seed,
            **TRAIN_SETTINGS[name],
        )
        errors = _force_errors(model, [frames[i] for i in split["test"]])
        errors["n_train"], errors["n_valid"] = len(split["train"]), len(split["valid"])
        (out / f"{name}-{seed}_test_errors.json").write_text(json.dumps(errors, indent=1))
        print(name, seed, errors, flush=True)
        shutil.copy(model, MODELS_DIR / f"{name}-{seed}.model")
        hashes = write_shipped_hashes(MODELS_DIR)
        print(f"{MODELS_DIR / 'SHA256SUMS'}: {name}-{seed}.model", hashes[f"{name}-{seed}.model"])


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m multiscale.mlip.build_default")
    parser.add_argument(
        "stage", choices=["label-water", "distill", "install-distilled", "train", "hashes"]
    )
    parser.add_argument("--out", type=Path, default=Path("mlip_build"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--name", default="water-nacl", choices=sorted(TRAIN_SETTINGS))
    parser.add_argument("--members", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iteration", type=int, default=None, help="install-distilled round")
    parser.add_argument(
        "--driver", type=int, default=0, help="install-distilled: member that drives MD"
    )
    args = parser.parse_args(argv)
    if args.stage == "hashes":
        for name, digest in write_shipped_hashes(MODELS_DIR).items():
            print(f"{digest}  {name}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage == "label-water":
        label_water(args.out, seed=args.seed, scale=args.scale)
    elif args.stage == "distill":
        from multiscale.mlip.distill import main as distill_main

        return distill_main([str(args.out)])
    elif args.stage == "install-distilled":
        for name, digest in install_distilled(args.out, args.iteration, args.driver).items():
            print(f"{digest}  {name}")
    elif args.stage == "train":
        train_shipped(args.out, args.name, tuple(args.members))
    else:
        raise SystemExit(f"stage {args.stage} not implemented yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
