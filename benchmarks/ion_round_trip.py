"""Na⁺ at Cu(111)|water: umbrella windows, a release from one window, the continuum round trip.

One campaign for two questions:

* issue #14 (ions by umbrella sampling): F(z) by MBAR, D⊥(z) and D∥(z) per window for Na⁺
  from the adsorbed layer to the middle of the film, with the overlap and first-half /
  second-half checks of :class:`multiscale.extract.UmbrellaAnalysis`;
* issue #17 (a round trip that can fail): replicas released from the window at
  ``--release`` Å (:func:`multiscale.md.release_from_window`) relax without the restraint;
  :class:`multiscale.extract.RelaxationRoundTrip` compares their mean height with the
  Smoluchowski prediction of the continuum solver from the windows' F and D⊥.

System: Cu(111) ``--size`` x 4 layers with ``--water`` Å of water and one NaCl pair (the
builder's seed ``--seed``), prepared as the pipeline does (rigid-water FIRE, heating ramp),
with the shipped ``cu-water-nacl`` student (float32, hydrogen mass 3 u, Bussi thermostat,
integrity policy "stop"). Each window places the Na⁺ at its centre
(:func:`multiscale.md.place_at_height`), relaxes 100 FIRE steps under the restraint and runs
``--window-ps``; the analysis discards ``--discard-ps`` of each.

Restartable at every stage (MDRunner checkpoints; rerun the same command). Windows and
replicas spread over MPI ranks: ``mpiexec -n 2 python benchmarks/ion_round_trip.py ...``.
Writes ``OUT/umbrella_analysis.json``, ``OUT/round_trip.json``, ``OUT/round_trip.png`` (with
``--release-dir NAME`` other than ``release``: ``round_trip_NAME.*``) and a
section in ``benchmarks/results/ion_round_trip.md``.

Usage::

    OMP_NUM_THREADS=1 mpiexec -n 2 python benchmarks/ion_round_trip.py --out runs/na_rt \\
        --window-ps 10 --release-ps 2 --replicas 32
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def main() -> None:
    from mpi4py import MPI

    from multiscale.mpi_abort import abort_on_error

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=None, help="default: shipped cu-water-nacl")
    ap.add_argument("--size", type=int, nargs=2, default=[4, 4])
    ap.add_argument("--water", type=float, default=13.0, help="water thickness, Å")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--temperature", type=float, default=300.0, help="K")
    ap.add_argument("--dt", type=float, default=1.0, help="fs")
    ap.add_argument("--centers", type=float, nargs="+",
                    default=[2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0],
                    help="window centres, Å above the top Cu layer")  # fmt: skip
    ap.add_argument("--extra-centers", type=float, nargs="*", default=[],
                    help="more window centres (Å), run in OUT/umbrella_extra and analysed "
                    "with the first (e.g. between them where their overlap was poor)")  # fmt: skip
    ap.add_argument("--k", type=float, default=2.0, help="spring, eV/Å²")
    ap.add_argument("--window-ps", type=float, default=10.0)
    ap.add_argument("--discard-ps", type=float, default=2.0)
    ap.add_argument("--blocks", type=int, default=8, help="time blocks for D error bars")
    ap.add_argument("--min-bin-samples", type=int, default=10, help="decorrelated, per F bin")
    ap.add_argument("--release", type=float, default=4.5, help="release window centre, Å")
    ap.add_argument("--replicas", type=int, default=32)
    ap.add_argument("--release-ps", type=float, default=2.0)
    ap.add_argument(
        "--release-dir",
        default="release",
        help="folder of the released replicas in OUT (another name: another release from the "
        "same windows; its results get the name as a suffix)",
    )
    ap.add_argument("--samples", type=int, default=16, help="prediction draws")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    # PETSc's initialisation is collective over COMM_WORLD: the continuum solver (DOLFINx)
    # must be imported on every rank here, not first on rank 0 in the analysis below, or
    # rank 0 waits for ever for rank 1 (which has already finished)
    import continuum.geometry  # noqa: F401

    # rank 0 alone analyses the replicas: an error there must end the job, not leave rank 1
    # waiting in MPI_Finalize
    with abort_on_error(comm):
        _run(args, comm)


def _run(args, comm) -> None:
    import dataclasses

    from ase import Atoms
    from ase.optimize import FIRE

    from multiscale.extract import RelaxationRoundTrip, UmbrellaAnalysis
    from multiscale.md import (
        HarmonicZRestraint,
        MDSettings,
        build_interface,
        place_at_height,
        prepare_md,
        release_from_window,
        run_umbrella_windows,
    )
    from multiscale.md.hmr import repartition_hydrogen_masses
    from multiscale.mlip.default_models import load_default_model
    from multiscale.mlip.train import mace_calculator
    from multiscale.pipeline.state import atomic_write_text

    t0 = time.perf_counter()
    model = str(args.model) if args.model else "shipped cu-water-nacl"

    def calc():
        if args.model is None:
            return load_default_model("cu-water-nacl", dtype="float32")
        return mace_calculator(args.model, trust=True, dtype="float32")  # the user's own file

    settings = MDSettings(
        timestep_fs=args.dt, ensemble="bussi", temperature_K=args.temperature, seed=args.seed,
        traj_interval=max(1, round(10 / args.dt)), checkpoint_interval=1000,
        initial_temperature_K=args.temperature,
    )  # fmt: skip
    out = args.out
    atoms = build_interface(size=tuple(args.size), layers=4, water_thickness=args.water,
                            salt=None, seed=args.seed)  # fmt: skip
    # one NaCl pair: the builder's pure-water film with two waters replaced by the ions
    n_metal = int(np.sum(atoms.get_tags() == 1))
    o_idx = [i for i in range(n_metal, len(atoms)) if atoms[i].symbol == "O"]
    z = atoms.positions[o_idx, 2]
    na_o, cl_o = o_idx[int(np.argsort(z)[len(z) // 3])], o_idx[int(np.argsort(z)[2 * len(z) // 3])]
    drop = [na_o, na_o + 1, na_o + 2, cl_o, cl_o + 1, cl_o + 2]  # builder order: O, H, H
    keep = [i for i in range(len(atoms)) if i not in drop]
    ions = Atoms("NaCl", positions=atoms.positions[[na_o, cl_o]])
    atoms = atoms[keep] + ions
    na = len(atoms) - 2
    top = [
        i
        for i in range(n_metal)
        if atoms.positions[i, 2] > atoms.positions[:n_metal, 2].max() - 0.5
    ]
    repartition_hydrogen_masses(atoms, 3.0)
    atoms.calc = calc()
    prep = prepare_md(atoms, out / "prepare", settings, heat_ps=1.0, progress=False)
    base = atoms.copy()

    def maker(centers):
        def make(i: int):
            a = base.copy()
            place_at_height(a, na, centers[i], top)
            a.calc = HarmonicZRestraint(calc(), na, centers[i], args.k, surface_z=top)
            FIRE(a, logfile=None).run(fmax=0.5, steps=100)
            a.calc = calc()
            return a

        return make

    steps = round(args.window_ps * 1000 / args.dt)
    folders = [out / "umbrella"]
    run_umbrella_windows(maker(args.centers), na, args.centers, args.k, steps, folders[0],
                         settings, comm, surface_z=top, progress=comm.rank == 0)  # fmt: skip
    if args.extra_centers:
        folders.append(out / "umbrella_extra")
        # other thermostat seeds than the first windows' (replica i uses seed + i)
        extra = dataclasses.replace(settings, seed=settings.seed + 1000)
        run_umbrella_windows(maker(args.extra_centers), na, args.extra_centers, args.k, steps,
                             folders[1], extra, comm, surface_z=top,
                             progress=comm.rank == 0)  # fmt: skip
    discard = round(args.discard_ps * 1000 / (args.dt * settings.traj_interval))
    ana = UmbrellaAnalysis.from_directory(
        folders,
        discard=discard,
        n_blocks=args.blocks,
        min_bin_samples=args.min_bin_samples,
    ).run()
    r = ana.results
    tag = "" if args.release_dir == "release" else f"_{args.release_dir}"
    if comm.rank == 0:
        atomic_write_text(out / f"umbrella_analysis{tag}.json", json.dumps(
            {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()
             if k in ("centers", "z_mean", "D_perp", "D_perp_err", "D_par", "D_par_err", "tau",
                      "z", "free_energy", "free_energy_err", "neighbour_overlap", "converged",
                      "warnings", "statistical_inefficiency")}, indent=1, default=str))  # fmt: skip
    iw = int(np.argmin(np.abs(np.asarray(args.centers) - args.release)))  # a first window
    release_from_window(out / "umbrella", iw, calc, args.replicas,
                        round(args.release_ps * 1000 / args.dt), out / args.release_dir,
                        settings, comm, discard=discard, progress=comm.rank == 0)  # fmt: skip
    if comm.rank != 0:
        return
    rt = RelaxationRoundTrip.from_directory(
        out / args.release_dir, ana, n_samples=args.samples
    ).run()
    text = rt.summary()
    print(text)
    res = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in rt.results.items()}
    res.update(model=str(model), n_atoms=len(atoms), preparation=prep.as_dict(),
               wall_s_this_call=time.perf_counter() - t0, ranks=comm.size)  # fmt: skip
    atomic_write_text(out / f"round_trip{tag}.json", json.dumps(res, indent=1, default=str))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ok = np.isfinite(r.free_energy)
    ax[0].errorbar(r.z[ok], r.free_energy[ok], r.free_energy_err[ok], fmt=".-")
    ax[0].set(xlabel="height above top Cu layer (Å)", ylabel="F(z) of Na⁺ (kT)")
    x = rt.results
    ax[1].errorbar(x.times, x.md_mean, x.md_err, fmt="o", label="released MD")
    ax[1].fill_between(x.times, x.pred_mean - x.pred_err, x.pred_mean + x.pred_err, alpha=0.4,
                       label="continuum (Smoluchowski)")  # fmt: skip
    ax[1].set(xlabel="time after release (fs)", ylabel="⟨h⟩ (Å)")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out / f"round_trip{tag}.png", dpi=120)
    md = HERE / "results" / "ion_round_trip.md"
    md.parent.mkdir(exist_ok=True)
    with open(md, "a") as fh:
        fh.write(f"\n## {time.strftime('%Y-%m-%d %H:%M')}  {out}\n\n```\n{text}\n```\n")


if __name__ == "__main__":
    main()
