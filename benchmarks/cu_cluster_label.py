"""Cost of one PySCF DFT force label of a small Cu-containing cluster (the DFT route for metals).

One SCF plus nuclear gradient with :class:`coupling.PySCFCalculator` (PBE, density fitting by
default) on one cluster, timed separately, with the number of atomic orbitals, the number of
electrons treated explicitly, SCF cycles and the convergence flag. A row is appended to
``benchmarks/results/cu_cluster_label.md`` (``--out``), so several clusters or settings can be
collected in one table.

Clusters (``--cluster``), all fcc(111) fragments at the PBE lattice constant of Cu
(3.632 Å, nearest neighbours 2.568 Å):

``cu2``        Cu dimer;
``cu4``        Cu4 tetrahedron: a surface triangle plus the subsurface atom under its hollow;
``cu3-h2o``    surface triangle plus one water atop a Cu (O 2.30 Å above it; a doublet);
``cu4-h2o``    the tetrahedron plus one water atop a surface Cu (closed shell);
``interface``  carved from a Cu(111)/water interface (``multiscale.md.build_interface``, 3x4x3
               slab, seed 0): the whole waters within ``--radius`` Å of the water closest to
               the metal (``multiscale.mlip.carve_cluster`` on the water only) plus the
               ``--n-metal`` Cu atoms nearest to its O.

Core treatment (``--ecp``): ``none`` is all-electron with ``--basis`` on every element. Note
that the def2 ECPs start at Rb, so def2-SVP on Cu is all-electron (29 electrons per Cu).
``lanl2dz`` puts the LANL2DZ basis and its small-core ECP (10 core electrons, 19 explicit per
Cu) on Cu and ``--basis`` on the other elements, so water-only labels stay exactly those of
``--basis``. The table says which was used.

Run a real measurement on an otherwise idle machine; size it first with ``--dry-run`` (builds
the molecule, prints the AO count, runs nothing). Usage::

    OMP_NUM_THREADS=2 python benchmarks/cu_cluster_label.py --cluster cu4-h2o --ecp lanl2dz
    python benchmarks/cu_cluster_label.py --cluster interface --radius 3.5 --n-metal 6 --dry-run
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "cu_cluster_label.md"

A_CU_PBE = 3.632  # Å, PBE fcc lattice constant (Haas, Tran & Blaha, PRB 79, 085104 (2009))
D_NN = A_CU_PBE / np.sqrt(2.0)  # Å, nearest-neighbour distance
CU_O_ATOP = 2.30  # Å, water O above an atop Cu (PBE adsorption heights are ~2.2-2.5 Å)
ECP_CORE_ELECTRONS = {"lanl2dz": 10}  # per Cu
CLUSTERS = ("cu2", "cu4", "cu3-h2o", "cu4-h2o", "interface")

HEADER = """## Cost of one DFT force label of a Cu-containing cluster (benchmarks/cu_cluster_label.py)

One PySCF SCF + nuclear gradient per row (`coupling.PySCFCalculator`, conv_tol 1e-9 Eh, grid
level 3, grid response on, atomic initial guess). "explicit e⁻" counts the electrons in the
SCF (fewer than the total with an ECP). Times are wall seconds; "threads" is PySCF's OpenMP
thread count. A row marked *check* is a functional test of the script on a loaded machine,
not a cost measurement.

| date (UTC) | cluster | formula | core treatment | basis | AOs | aux fns | explicit e⁻ | 2S | device | threads | SCF cycles | converged | SCF s | gradient s | total s | max force eV/Å | note |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
"""  # noqa: E501


# ------------------------------------------------------------------ clusters
def _tetrahedron() -> np.ndarray:
    """Surface triangle (z = 0) and the subsurface atom under its hollow, Å."""
    d = D_NN
    tri = np.array([[0.0, 0.0, 0.0], [d, 0.0, 0.0], [d / 2, d * np.sqrt(3) / 2, 0.0]])
    sub = [tri[:, 0].mean(), tri[:, 1].mean(), -d * np.sqrt(2.0 / 3.0)]
    return np.vstack([tri, sub])


def _water_atop(cu: np.ndarray) -> np.ndarray:
    """O 2.30 Å above ``cu``; the molecule nearly flat (PBE's atop water on Cu(111)), Å."""
    o = np.asarray(cu, dtype=float) + np.array([0.0, 0.0, CU_O_ATOP])
    half = np.radians(104.5 / 2)
    h1 = o + 0.97 * np.array([np.cos(half), np.sin(half), 0.1])
    h2 = o + 0.97 * np.array([np.cos(half), -np.sin(half), 0.1])
    return np.vstack([o, h1, h2])


def carve_interface(radius: float, n_metal: int, seed: int = 0) -> Atoms:
    """Whole waters within ``radius`` Å of the water nearest the metal, plus ``n_metal`` Cu.

    :func:`multiscale.mlip.carve_cluster` keeps molecules whole, and a metal is one connected
    component, so it is applied to the water only; the metal atoms are taken one by one, the
    ``n_metal`` nearest (minimum image) to the central O.
    """
    from multiscale.md.builders import build_interface
    from multiscale.mlip.carve import carve_cluster

    atoms = build_interface(
        metal="Cu", facet="fcc111", size=(3, 4), layers=3, water_thickness=8.0, salt=None,
        seed=seed,
    )  # fmt: skip
    is_cu = atoms.numbers == 29
    cu = np.flatnonzero(is_cu)
    water = np.flatnonzero(~is_cu)
    o_idx = water[atoms.numbers[water] == 8]
    d_o = [atoms.get_distances(i, cu, mic=True).min() for i in o_idx]
    center = int(o_idx[int(np.argmin(d_o))])
    sub = atoms[water]
    waters, _ = carve_cluster(sub, int(np.flatnonzero(water == center)[0]), radius)
    vec = atoms.get_distances(center, cu, mic=True, vector=True)
    nearest = np.argsort(np.linalg.norm(vec, axis=1))[:n_metal]
    metal = Atoms(["Cu"] * len(nearest), positions=atoms.positions[center] + vec[nearest])
    return metal + waters


def build_cluster(name: str, radius: float = 3.5, n_metal: int = 4) -> Atoms:
    """The cluster ``name`` (one of :data:`CLUSTERS`), non-periodic, positions in Å."""
    tet = _tetrahedron()
    if name == "cu2":
        return Atoms("Cu2", positions=[[0, 0, 0], [D_NN, 0, 0]])
    if name == "cu4":
        return Atoms("Cu4", positions=tet)
    if name == "cu3-h2o":
        return Atoms("Cu3OH2", positions=np.vstack([tet[:3], _water_atop(tet[0])]))
    if name == "cu4-h2o":
        return Atoms("Cu4OH2", positions=np.vstack([tet, _water_atop(tet[0])]))
    if name == "interface":
        return carve_interface(radius, n_metal)
    raise ValueError(f"--cluster must be one of {CLUSTERS}, got {name!r}")


# ------------------------------------------------------------------ label
def basis_and_ecp(atoms: Atoms, basis: str, ecp: str) -> tuple[dict, dict | None, str]:
    """Per-element basis, ECP dict (or None) and a description of the core treatment."""
    elements = sorted(set(atoms.get_chemical_symbols()))
    per_element = {el: basis for el in elements}
    if ecp == "none":
        return per_element, None, f"all-electron ({basis} on Cu)"
    per_element["Cu"] = ecp
    core = ECP_CORE_ELECTRONS[ecp]
    return per_element, {"Cu": ecp}, f"ECP {ecp.upper()} on Cu ({core} core e⁻ per Cu)"


def label_once(atoms: Atoms, args: argparse.Namespace) -> dict:
    """One energy + forces call; the row of the results table as a dict."""
    from pyscf import lib

    from coupling import PySCFCalculator

    per_element, ecp, core = basis_and_ecp(atoms, args.basis, args.ecp)
    n_total = int(atoms.numbers.sum())
    spin = n_total % 2 if args.spin is None else args.spin
    calc = PySCFCalculator(
        xc=args.xc, basis=per_element, ecp=ecp, spin=spin, density_fit=args.density_fit,
        guess="none", max_cycle=args.max_cycle, device=args.device,
        max_memory=args.max_memory, verbose=args.verbose,
    )  # fmt: skip
    mol = calc.build_mole(atoms)
    row = {
        "cluster": args.cluster,
        "formula": atoms.get_chemical_formula(),
        "core": core,
        "basis": ", ".join(f"{k}: {v}" for k, v in sorted(per_element.items())),
        "nao": mol.nao_nr(),
        "naux": "-",
        "nelectron": mol.nelectron,
        "spin": spin,
        "device": calc.device_used,
        "threads": lib.num_threads(),
    }
    print(
        f"{row['formula']} ({len(atoms)} atoms), {core}, {row['nao']} AOs, "
        f"{row['nelectron']} explicit electrons, 2S = {spin}, device {row['device']}, "
        f"{row['threads']} threads",
        flush=True,
    )
    if args.dry_run:
        return row
    atoms = atoms.copy()
    atoms.calc = calc
    t0 = time.perf_counter()
    forces = atoms.get_forces()
    wall = time.perf_counter() - t0
    res = calc.results
    with_df = getattr(calc.mf, "with_df", None)
    if with_df is not None and getattr(with_df, "auxmol", None) is not None:
        row["naux"] = with_df.auxmol.nao_nr()
    row.update(
        scf_cycles=res["scf_cycles"],
        converged=res["converged"],
        scf_s=res["timings"]["scf"],
        grad_s=res["timings"]["gradient"],
        total_s=wall,
        max_force=float(np.linalg.norm(forces, axis=1).max()),
        solver=res["scf_solver"],
    )
    return row


def write_row(row: dict, out: Path, note: str) -> None:
    cells = [
        time.strftime("%Y-%m-%d %H:%M", time.gmtime()), row["cluster"], row["formula"],
        row["core"], row["basis"], row["nao"], row["naux"], row["nelectron"], row["spin"],
        row["device"], row["threads"], row["scf_cycles"],
        "yes" if row["converged"] else "no", f"{row['scf_s']:.1f}", f"{row['grad_s']:.1f}",
        f"{row['total_s']:.1f}", f"{row['max_force']:.3f}", note or "",
    ]  # fmt: skip
    line = "| " + " | ".join(str(c) for c in cells) + " |\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = out.read_text() if out.exists() else HEADER
    out.write_text(text + line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cluster", choices=CLUSTERS, default="cu4-h2o")
    ap.add_argument("--basis", default="def2-svp", help="basis of the non-ECP elements")
    ap.add_argument(
        "--ecp", choices=("lanl2dz", "none"), default="lanl2dz",
        help="core treatment of Cu: LANL2DZ basis + ECP, or 'none' (all-electron --basis)",
    )  # fmt: skip
    ap.add_argument("--xc", default="pbe")
    ap.add_argument("--spin", type=int, default=None, help="2S (default: lowest, 0 or 1)")
    ap.add_argument(
        "--no-density-fit", dest="density_fit", action="store_false",
        help="exact Coulomb integrals instead of density fitting",
    )  # fmt: skip
    ap.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    ap.add_argument("--max-cycle", type=int, default=100, help="SCF iterations per attempt")
    ap.add_argument("--max-memory", type=float, default=4000, help="PySCF memory, MB")
    ap.add_argument("--radius", type=float, default=3.5, help="interface: water radius, Å")
    ap.add_argument("--n-metal", type=int, default=4, help="interface: Cu atoms kept")
    ap.add_argument("--verbose", type=int, default=0, help="PySCF verbosity (4: SCF log)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="markdown table to append to")
    ap.add_argument("--note", default="", help="free text for the table's note column")
    ap.add_argument("--dry-run", action="store_true", help="build and size only, no SCF")
    args = ap.parse_args(argv)
    if args.n_metal < 1:
        ap.error("--n-metal must be at least 1")
    if not args.radius > 0:
        ap.error("--radius must be positive (Å)")

    atoms = build_cluster(args.cluster, args.radius, args.n_metal)
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, python {sys.version.split()[0]}",
        flush=True,
    )
    row = label_once(atoms, args)
    if args.dry_run:
        return 0
    print(
        f"SCF {row['scf_s']:.1f} s ({row['scf_cycles']} cycles, {row['solver']}, converged "
        f"{row['converged']}), gradient {row['grad_s']:.1f} s, total {row['total_s']:.1f} s, "
        f"max force {row['max_force']:.3f} eV/Å",
        flush=True,
    )
    write_row(row, args.out, args.note)
    print(f"appended to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
