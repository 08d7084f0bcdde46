"""Reproduce the shipped MLIP models: label data, train, and write them to ``models/``.

Usage (each stage is restartable; labels are appended one configuration at a time)::

    OMP_NUM_THREADS=1 python -m multiscale.mlip.build_default label-water --out DIR
    OMP_NUM_THREADS=1 python -m multiscale.mlip.build_default label-interface --out DIR
    OMP_NUM_THREADS=1 python -m multiscale.mlip.build_default train --out DIR [--name NAME]
    python -m multiscale.mlip.build_default hashes

``label-water`` labels :func:`multiscale.mlip.datasets.water_nacl_clusters` with the PySCF core
(PBE/def2-SVP); ``label-interface`` labels Cu(111)/NaCl(aq) frames with CHGNet 0.3.0;
``train`` fits the MACE committee members, copies them into ``multiscale/mlip/models/`` and
rewrites ``models/SHA256SUMS``; ``hashes`` rewrites ``SHA256SUMS`` from the ``*.model`` files
present (run it only for models you built yourself: it declares them trusted).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

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


def label_interface(
    out: Path, seed: int = 0, n_md: int = 360, every: int = 3, n_rattle: int = 40
) -> None:
    """CHGNet 0.3.0 frames of the Cu(111)/NaCl(aq) interface into ``out/cu_water_nacl.extxyz``.

    A Langevin MD (360 K, 1 fs, friction 0.02/fs) driven by CHGNet itself stores every
    ``every``-th step with CHGNet's energy and forces; then ``n_rattle`` stored frames are
    rattled (σ = 0.04-0.1 Å) and labelled. Restartable: the MD resumes from the last stored
    frame (positions and momenta), and rattles already labelled are skipped.
    """
    import ase
    import ase.io
    import chgnet
    from ase import units
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from multiscale.md.builders import build_interface
    from multiscale.mlip.chgnet_adapter import chgnet_calculator
    from multiscale.mlip.labels import _atomic_write, label_configurations

    provenance = {
        "level_of_theory": "CHGNet 0.3.0 (MPtrj: PBE/PBE+U plane waves), NOT the PySCF core",
        "chgnet_version": chgnet.__version__,
        "code_version": getattr(multiscale, "__version__", "unknown"),
    }
    calc = chgnet_calculator("0.3.0", num_threads=1)
    md_path = out / "cu_water_nacl_md.extxyz"
    frames = ase.io.read(md_path, index=":", format="extxyz") if md_path.exists() else []
    if frames:
        atoms = frames[-1].copy()
        atoms.set_momenta(frames[-1].arrays["md_momenta"])
        step0 = int(frames[-1].info["md_step"])
    else:
        atoms = build_interface(seed=seed, **INTERFACE_KW)
        MaxwellBoltzmannDistribution(atoms, temperature_K=360, rng=np.random.default_rng(seed))
        step0 = -every
    atoms.calc = calc
    dyn = Langevin(
        atoms,
        1.0 * units.fs,
        temperature_K=360,
        friction=0.02 / units.fs,
        rng=np.random.default_rng(seed + 1 + max(step0, 0)),
    )
    step = step0
    while step + every <= n_md:
        if step >= 0 or frames:
            dyn.run(every)
        step += every
        frame = atoms.copy()
        frame.arrays["md_momenta"] = atoms.get_momenta()
        frame.info.update(provenance)
        frame.info["md_step"] = step
        frame.info["config_type"] = "md360K"
        frame.calc = SinglePointCalculator(
            frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces()
        )
        frames.append(frame)
        _atomic_write(md_path, frames)
        print(f"md step {step}: {len(frames)} frames", flush=True)
    rng = np.random.default_rng(seed + 7)
    picks = rng.choice(len(frames), size=min(n_rattle, len(frames)), replace=False)
    rattled = []
    for i in picks:
        a = frames[int(i)].copy()
        a.calc = None
        del a.arrays["md_momenta"]
        a.positions += rng.normal(0.0, rng.uniform(0.04, 0.1), a.positions.shape)
        a.info = {"config_type": "rattle", "md_step": int(frames[int(i)].info["md_step"])}
        rattled.append(a)
    label_configurations(rattled, lambda _a: calc, out / "cu_water_nacl_rattle.extxyz", provenance)


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
    "cu-water-nacl": dict(
        r_max=4.5,
        hidden_irreps="16x0e",
        num_interactions=2,
        max_num_epochs=10,
        batch_size=4,
        lr=0.01,
        extra_args=("--pair_repulsion",),
    ),
}


def _force_errors(model: Path, frames) -> dict[str, float]:
    from multiscale.mlip.train import mace_calculator

    calc = mace_calculator(model, trust=True)  # trained by this process just now
    df, de = [], []
    for ref in frames:
        a = ref.copy()
        a.calc = calc
        df.append((a.get_forces() - ref.get_forces()).ravel())
        de.append((a.get_potential_energy() - ref.get_potential_energy()) / len(a))
    df, de = np.concatenate(df), np.asarray(de)
    return {
        "force_mae_meV_A": float(1000 * np.abs(df).mean()),
        "force_rmse_meV_A": float(1000 * np.sqrt((df**2).mean())),
        "energy_mae_meV_atom": float(1000 * np.abs(de).mean()),
        "n_test": len(frames),
    }


def train_shipped(out: Path, name: str, members: tuple[int, ...]) -> None:
    """Train committee members ``members`` (seeds) of model ``name`` and copy them to models/."""
    import json

    import ase.io

    from multiscale.mlip.train import split_frames, train_mace

    if name == "water-nacl":
        frames = ase.io.read(out / "water_nacl.extxyz", index=":", format="extxyz")
    else:
        frames = ase.io.read(out / "cu_water_nacl_md.extxyz", index=":", format="extxyz")
        frames += ase.io.read(out / "cu_water_nacl_rattle.extxyz", index=":", format="extxyz")
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
    parser.add_argument("stage", choices=["label-water", "label-interface", "train", "hashes"])
    parser.add_argument("--out", type=Path, default=Path("mlip_build"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--name", default="water-nacl", choices=sorted(TRAIN_SETTINGS))
    parser.add_argument("--members", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.stage == "hashes":
        for name, digest in write_shipped_hashes(MODELS_DIR).items():
            print(f"{digest}  {name}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage == "label-water":
        label_water(args.out, seed=args.seed, scale=args.scale)
    elif args.stage == "label-interface":
        label_interface(args.out, seed=args.seed)
    elif args.stage == "train":
        train_shipped(args.out, args.name, tuple(args.members))
    else:
        raise SystemExit(f"stage {args.stage} not implemented yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
