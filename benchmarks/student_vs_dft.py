"""Water/ion clusters carved from the interface MD, labelled by PySCF: teacher and students vs DFT.

Issue #13 item 2c: the water/ion part of the distilled interface model checked against the
project's own DFT. Clusters of whole molecules within ``--radius`` of a water O, a Na⁺ or a Cl⁻
are carved (metal atoms removed first) from the teacher-MD frames of a distillation workdir,
capped at ``--max-molecules`` molecules nearest to the centre, and labelled with PBE/def2-SVP
(``coupling.PySCFCalculator``, the cluster's net ionic charge, no dispersion). Then the force
MAE/RMSE against these labels is measured for the teachers, the students (``--students``) and
the previous shipped models.

Restartable: labels are appended one cluster at a time (:func:`label_configurations`).
Usage::

    OMP_NUM_THREADS=2 python benchmarks/student_vs_dft.py --workdir DISTILL_DIR label
    python benchmarks/student_vs_dft.py --workdir DISTILL_DIR score --students A.model B.model
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
OUT = HERE / "results" / "student_vs_dft"


def carve_solvent_clusters(frames, n_per_kind, radius, max_molecules, seed=0, metal="Cu"):
    """Clusters around water O / Na / Cl, metal removed, at most ``max_molecules`` molecules."""
    from multiscale.mlip.carve import carve_cluster, molecule_labels

    rng = np.random.default_rng(seed)
    out = []
    for kind, n in n_per_kind.items():
        for k in range(n):
            frame = frames[int(rng.integers(len(frames)))].copy()
            del frame[[a.index for a in frame if a.symbol == metal]]
            idx = [a.index for a in frame if a.symbol == kind]
            center = int(rng.choice(idx))
            cluster, sel = carve_cluster(frame, center, radius)
            # keep the max_molecules molecules nearest to the centre (by their nearest atom)
            mol = molecule_labels(cluster)
            c0 = int(np.flatnonzero(sel == center)[0])
            d = np.linalg.norm(cluster.positions - cluster.positions[c0], axis=1)
            order = sorted(set(mol), key=lambda g: d[mol == g].min())[:max_molecules]
            keep = np.flatnonzero(np.isin(mol, order))
            cl = cluster[keep]
            charge = int((cl.symbols == "Na").sum() - (cl.symbols == "Cl").sum())
            cl.info.update(center_kind=kind, charge=charge, family=f"{kind.lower()}_md{k}")
            out.append(cl)
    return out


def main() -> None:
    import ase.io

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["label", "score"])
    ap.add_argument("--workdir", type=Path, required=True, help="distillation workdir")
    ap.add_argument("--radius", type=float, default=3.4, help="carving radius, Å")
    ap.add_argument("--max-molecules", type=int, default=7)
    ap.add_argument("--n", type=int, nargs=3, default=[6, 5, 5], help="clusters at O, Na, Cl")
    ap.add_argument("--students", nargs="*", default=[], help="student .model files (trusted)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    labels_path = OUT / "clusters_pbe_def2svp.extxyz"
    if args.stage == "label":
        import pyscf

        from coupling.pyscf_calculator import PySCFCalculator
        from multiscale.mlip.labels import label_configurations

        frames = []
        for p in sorted(args.workdir.glob("teacher_*.extxyz")):
            frames += ase.io.read(p, index="10:")  # skip the first 100 fs
        n_o, n_na, n_cl = args.n
        configs = carve_solvent_clusters(
            frames, {"O": n_o, "Na": n_na, "Cl": n_cl}, args.radius, args.max_molecules
        )
        prov = {"xc": "pbe", "basis": "def2-svp", "pyscf_version": pyscf.__version__,
                "source": "carved from teacher (SevenNet-0) interface MD, Cu removed"}  # fmt: skip
        t0 = time.perf_counter()
        label_configurations(
            configs,
            lambda a: PySCFCalculator(
                xc="pbe", basis="def2-svp", charge=int(a.info["charge"]), device="cpu"
            ),
            labels_path,
            prov,
        )
        print(f"labelled {len(configs)} clusters in {time.perf_counter() - t0:.0f} s")
        return
    from multiscale.mlip.default_models import load_default_model
    from multiscale.mlip.teachers import force_errors, teacher_calculator
    from multiscale.mlip.train import mace_calculator
    from multiscale.pipeline.state import atomic_write_text

    clusters = ase.io.read(labels_path, index=":")
    models = {
        "teacher sevennet-0": lambda: teacher_calculator("sevennet-0"),
        "chgnet-0.3.0 (previous teacher)": lambda: teacher_calculator("chgnet-0.3.0"),
        "previous cu-water-nacl (CHGNet-distilled)": lambda: mace_calculator(
            HERE / "results" / "previous_model" / "cu-water-nacl-chgnet-2026-11-29.model",
            trust=True,  # the project's own earlier model
        ),
        "cu-water-nacl committee (shipped)": lambda: load_default_model(
            "cu-water-nacl", committee=True
        ),
        "water-nacl-0 (trained on PySCF)": lambda: load_default_model("water-nacl"),
    }
    for p in args.students:
        models[f"student {Path(p).stem}"] = lambda p=p: mace_calculator(p, trust=True)
    rows = {}
    for name, make in models.items():
        e = force_errors(make(), clusters)
        rows[name] = {"mae": e.mae, "rmse": e.rmse, "by_family": e.by_family}
        print(name, rows[name], flush=True)
    sizes = [len(c) for c in clusters]
    lines = [
        "# Water/ion clusters from the interface MD vs PySCF PBE/def2-SVP",
        "",
        f"{len(clusters)} clusters ({min(sizes)}-{max(sizes)} atoms) carved from the teacher MD "
        "of the distillation (Cu removed, whole molecules within "
        f"{args.radius} Å of a water O, Na⁺ or Cl⁻, at most {args.max_molecules} molecules), "
        "labelled by `python benchmarks/student_vs_dft.py --workdir W label`; "
        "table by `... score --students ...`.",
        "",
        "| model | force MAE (meV/Å) | RMSE |",
        "|---|---:|---:|",
        *(f"| {k} | {v['mae']:.0f} | {v['rmse']:.0f} |" for k, v in rows.items()),
    ]
    atomic_write_text(OUT / "table.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / "table.json", json.dumps(rows, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
