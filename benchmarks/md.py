"""Interface ML-MD speed: previous vs new model configuration vs CHGNet, and what it costs.

One run measures, side by side on the demo-size Cu(111)/NaCl(aq) interface (155 atoms, the
``multiscale demo`` md stage: 4x4x3 Cu, 12 Å water, 2 M NaCl, seed 1) with one torch thread:

1. **float32 vs float64 forces** of the shipped models: ``water-nacl`` on all 252 PySCF
   PBE/def2-SVP label clusters (and both against the PBE labels), ``cu-water-nacl`` on interface
   MD frames (and both against its teacher SevenNet-0).
2. **Time step with hydrogen mass repartitioning** (:mod:`multiscale.md.hmr`): on a 32-water
   box with the shipped ``water-nacl`` model (float32), :func:`multiscale.md.estimate_timestep`
   with and without HMR and NVE runs of the same simulated time at several time steps:
   energy drift and fluctuation of E_tot.
3. **Neighbour lists**: the share of a MACE force call spent building the graph
   (``MACECalculator._atoms_to_batch``) and in the neighbour search itself.
4. **Throughput** through :class:`multiscale.md.MDRunner` (Langevin 300 K, trajectory every 10
   steps, integrity monitor "flag", checkpoints), configurations run in alternating segments so
   that the load of the shared machine hits all alike: CHGNet 0.3.0; the previous configuration
   (the CHGNet-distilled model of the same MACE architecture, kept in
   ``benchmarks/results/previous_model/``, float64, true masses, 0.5 fs); the new one (the
   shipped ``cu-water-nacl``, float32, HMR, larger dt).
   Steps/s, atom-steps/s and simulated ps per wall hour.
5. **Interface NVE check** of the previous and new configurations from the same state, same
   simulated time: the accuracy the larger time step costs on the system that is run.

Writes ``benchmarks/results/md.md``. Restartable: each finished part is stored in
``--workdir`` (JSON) and not redone by a rerun with the same options.
Usage: ``python benchmarks/md.py [--dt-new 1.0 1.5] [--hydrogen-mass 3.0] [--no-chgnet]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
#: The interface model before the active-learning rebuild (distilled from CHGNet 0.3.0, same
#: MACE architecture as the shipped students), kept for side-by-side comparisons.
PREVIOUS_MODEL = HERE / "results" / "previous_model" / "cu-water-nacl-chgnet-2026-11-29.model"

DEMO_INTERFACE = {
    "metal": "Cu", "facet": "fcc111", "size": (4, 4), "layers": 3, "water_thickness": 12.0,
    "salt": "NaCl", "concentration": 2.0, "gap": 2.5, "seed": 1,
}  # fmt: skip


def demo_interface():
    """The demo's md-stage interface (multiscale/pipeline/configs/demo.toml), unrelaxed."""
    from multiscale.md import build_interface

    return build_interface(**DEMO_INTERFACE)


def _stats(diff: np.ndarray) -> dict[str, float]:
    d = np.abs(np.asarray(diff))
    return {"mae": float(d.mean()), "max": float(d.max())}


# -- 1. float32 vs float64 -----------------------------------------------------------------
def part_precision(frames_iface, with_chgnet: bool) -> dict:
    import ase.io

    from multiscale.mlip import load_default_model
    from multiscale.mlip.default_models import MODELS_DIR

    out = {}
    labels = ase.io.read(MODELS_DIR / "water-nacl_pbe_def2svp.extxyz", ":")
    calcs = {dt: load_default_model("water-nacl", dtype=dt) for dt in ("float64", "float32")}
    forces = {dt: [] for dt in calcs}
    ref, de = [], []
    for atoms in labels:
        ref.append(atoms.get_forces())
        e = {}
        for dt, calc in calcs.items():
            a = atoms.copy()
            a.calc = calc
            forces[dt].append(a.get_forces())
            e[dt] = a.get_potential_energy() / len(a)
        de.append(e["float32"] - e["float64"])
    cat = {dt: np.concatenate(f) for dt, f in forces.items()}
    ref = np.concatenate(ref)
    out["water-nacl"] = {
        "frames": len(labels),
        "f32_vs_f64": _stats(cat["float32"] - cat["float64"]),
        "energy_per_atom_max": float(np.max(np.abs(de))),
        "f64_vs_ref_mae": float(np.abs(cat["float64"] - ref).mean()),
        "f32_vs_ref_mae": float(np.abs(cat["float32"] - ref).mean()),
        "reference": "PySCF PBE/def2-SVP labels",
    }
    calcs = {dt: load_default_model("cu-water-nacl", dtype=dt) for dt in ("float64", "float32")}
    teacher = None
    if with_chgnet:
        from multiscale.mlip.teachers import teacher_calculator

        teacher = teacher_calculator("sevennet-0", num_threads=1)
    forces = {dt: [] for dt in calcs}
    ref, de = [], []
    for atoms in frames_iface:
        e = {}
        for dt, calc in calcs.items():
            a = atoms.copy()
            a.calc = calc
            forces[dt].append(a.get_forces())
            e[dt] = a.get_potential_energy() / len(a)
        de.append(e["float32"] - e["float64"])
        if teacher is not None:
            a = atoms.copy()
            a.calc = teacher
            ref.append(a.get_forces())
    cat = {dt: np.concatenate(f) for dt, f in forces.items()}
    entry = {
        "frames": len(frames_iface),
        "f32_vs_f64": _stats(cat["float32"] - cat["float64"]),
        "energy_per_atom_max": float(np.max(np.abs(de))),
        "reference": "SevenNet-0 (the teacher)",
    }
    if ref:
        ref = np.concatenate(ref)
        entry["f64_vs_ref_mae"] = float(np.abs(cat["float64"] - ref).mean())
        entry["f32_vs_ref_mae"] = float(np.abs(cat["float32"] - ref).mean())
    out["cu-water-nacl"] = entry
    return out


# -- 2. time step with HMR on a water box --------------------------------------------------
def _nve(atoms, calc, dt_fs: float, time_fs: float) -> dict:
    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms.calc = calc
    dyn = VelocityVerlet(atoms, dt_fs * units.fs)
    n = round(time_fs / dt_fs)
    etot, temp = [], []
    t0 = time.perf_counter()
    for _ in dyn.irun(n):
        etot.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
        temp.append(atoms.get_temperature())
    wall = time.perf_counter() - t0
    etot = np.array(etot) / len(atoms)
    t = np.arange(len(etot)) * dt_fs / 1000.0  # ps
    slope, icpt = np.polyfit(t, etot, 1)
    resid = etot - (slope * t + icpt)
    return {
        "dt_fs": dt_fs,
        "steps": n,
        "drift_meV_per_atom_ps": float(1000 * slope),
        "rms_meV_per_atom": float(1000 * resid.std()),
        "span_meV_per_atom": float(1000 * (etot.max() - etot.min())),
        "T_mean_K": float(np.mean(temp)),
        "wall_s": wall,
    }


def _prepare(atoms, folder: Path, heat_ps: float) -> None:
    """FIRE with rigid molecules (<= 200 steps), heating 50 -> 300 K (restart-safe)."""
    from multiscale.md import MDSettings, prepare_md

    settings = MDSettings(timestep_fs=0.5, temperature_K=300.0, seed=3)
    prepare_md(atoms, folder, settings, relax_steps=200, heat_ps=heat_ps, integrity="flag",
               progress=False)  # fmt: skip


def _langevin(atoms, dt_fs: float, steps: int, seed: int) -> None:
    from ase import units
    from ase.md.langevin import Langevin

    dyn = Langevin(atoms, dt_fs * units.fs, temperature_K=300.0, friction=0.01 / units.fs,
                   fixcm=False, rng=np.random.default_rng(seed))  # fmt: skip
    dyn.run(steps)


def part_timestep(dts_plain, dts_hmr, h_mass: float, time_fs: float, workdir: Path) -> dict:
    from ase.md.velocitydistribution import Stationary

    from multiscale.md import build_electrolyte, estimate_timestep
    from multiscale.md.hmr import repartition_hydrogen_masses
    from multiscale.mlip import load_default_model

    calc = load_default_model("water-nacl", dtype="float32")
    box = build_electrolyte(salt="NaCl", concentration=0.0, n_water=32, seed=0)
    box.calc = calc
    # relax (rigid molecules) and heat 50 -> 300 K over 0.2 ps, then 0.1 ps more at 300 K
    _prepare(box, workdir / "box", heat_ps=0.2)
    _langevin(box, 0.5, 200, seed=2)
    Stationary(box)
    start = box.copy()
    out = {"atoms": len(box), "h_mass": h_mass, "time_fs": time_fs, "runs": []}
    for hmr in (False, True):
        a = start.copy()
        a.calc = calc
        if hmr:
            repartition_hydrogen_masses(a, h_mass)  # each atom keeps its kinetic energy
            Stationary(a)
        est = estimate_timestep(a)
        out["estimate_hmr" if hmr else "estimate_plain"] = {
            "wavenumber_cm1": est.wavenumber_cm1, "dt_fs": est.dt_fs, "calls": est.force_calls,
        }  # fmt: skip
        for dt in dts_hmr if hmr else dts_plain:
            b = a.copy()
            res = _nve(b, calc, dt, time_fs)
            res["hmr"] = hmr
            out["runs"].append(res)
            print(f"  NVE water box hmr={hmr} dt={dt} fs: {res}", flush=True)
    return out


# -- 3. neighbour-list share -----------------------------------------------------------------
def part_neighbours(atoms, repeats: int = 8) -> dict:
    from mace.data.neighborhood import get_neighborhood

    from multiscale.mlip import load_default_model

    out = {}
    rng = np.random.default_rng(0)
    for dt in ("float64", "float32"):
        calc = load_default_model("cu-water-nacl", dtype=dt)
        a = atoms.copy()
        a.calc = calc
        a.get_forces()
        t_call, t_graph, t_nl = [], [], []
        for _ in range(repeats):
            a.positions += rng.normal(0, 1e-3, a.positions.shape)
            t0 = time.perf_counter()
            a.get_forces()
            t1 = time.perf_counter()
            calc._atoms_to_batch(a)
            t2 = time.perf_counter()
            get_neighborhood(a.positions, cutoff=float(calc.r_max), pbc=tuple(a.pbc),
                             cell=np.array(a.cell))  # fmt: skip
            t3 = time.perf_counter()
            t_call.append(t1 - t0)
            t_graph.append(t2 - t1)
            t_nl.append(t3 - t2)
        call, graph, nl = (float(np.median(x)) for x in (t_call, t_graph, t_nl))
        out[dt] = {"call_ms": 1e3 * call, "graph_ms": 1e3 * graph, "nl_ms": 1e3 * nl,
                   "graph_share": graph / call, "nl_share": nl / call}  # fmt: skip
    return out


# -- 4. throughput ---------------------------------------------------------------------------
class _Config:
    def __init__(self, name, make_calc, dt_fs, h_mass, atoms, workdir):
        from ase.md.velocitydistribution import Stationary

        from multiscale.md import MDRunner, MDSettings
        from multiscale.md.hmr import repartition_hydrogen_masses

        self.name, self.dt_fs, self.h_mass = name, dt_fs, h_mass
        self.atoms = atoms.copy()
        if h_mass is not None:  # each atom keeps its kinetic energy: T unchanged
            repartition_hydrogen_masses(self.atoms, h_mass)
            Stationary(self.atoms)
        self.atoms.calc = make_calc()
        self.stamps: list[list[float]] = []
        self.done = 0
        settings = MDSettings(timestep_fs=dt_fs, temperature_K=300.0, seed=1,
                              initial_temperature_K=None, traj_interval=10,
                              checkpoint_interval=100)  # fmt: skip
        self.runner = MDRunner(self.atoms, workdir, settings, progress=False,
                               callback=self._stamp, integrity="flag")  # fmt: skip

    def _stamp(self, step, atoms):
        self.stamps[-1].append(time.perf_counter())

    def segment(self, steps: int) -> None:
        self.stamps.append([time.perf_counter()])
        self.done += steps
        self.runner.run(self.done)

    def seconds_per_step(self, skip: int = 1) -> tuple[float, float]:
        """Median and spread (half the inter-quartile range) of the per-step wall times."""
        dts = np.concatenate([np.diff(s)[skip:] for s in self.stamps if len(s) > skip + 1])
        q1, med, q3 = np.percentile(dts, [25, 50, 75])
        return float(med), float((q3 - q1) / 2)


def part_throughput(atoms, workdir: Path, dt_new, h_mass, steps, rounds, chgnet_steps,
                    with_chgnet) -> tuple[dict, list]:  # fmt: skip
    from multiscale.mlip import load_default_model, mace_calculator

    configs = [
        _Config("previous: CHGNet-distilled model float64, true masses", lambda: mace_calculator(
            PREVIOUS_MODEL, trust=True, dtype="float64"), 0.5, None, atoms, workdir / "prev"),
    ]  # fmt: skip
    configs += [
        _Config(f"new: cu-water-nacl float32, HMR H={h_mass:g} u, {dt:g} fs",
                lambda: load_default_model("cu-water-nacl", dtype="float32"), dt, h_mass, atoms,
                workdir / f"new{dt:g}")
        for dt in dt_new
    ]  # fmt: skip
    if with_chgnet:
        from multiscale.mlip import chgnet_calculator

        def chgnet():
            return chgnet_calculator(num_threads=1)

        configs.append(
            _Config("CHGNet 0.3.0, true masses", chgnet, 0.5, None, atoms, workdir / "chgnet")
        )
    for r in range(rounds):
        for c in configs:
            n = chgnet_steps if c.name.startswith("CHGNet") else steps
            if c.name.startswith("CHGNet") and r > 0:
                continue  # one segment: it is slow
            c.segment(n)
            print(f"  round {r}: {c.name}: {c.seconds_per_step()[0] * 1e3:.1f} ms/step",
                  flush=True)  # fmt: skip
    out = {}
    for c in configs:
        sec, spread = c.seconds_per_step()
        out[c.name] = {
            "dt_fs": c.dt_fs, "s_per_step": sec, "spread_s": spread, "steps_per_s": 1 / sec,
            "atom_steps_per_s": len(atoms) / sec, "ps_per_hour": 3.6 * c.dt_fs / sec,
            "steps_timed": int(sum(max(len(s) - 2, 0) for s in c.stamps)),
        }  # fmt: skip
    # interface frames for part 1: the last frame of each segment of the previous config
    from ase.io import read

    frames = read(workdir / "prev" / "trajectory.traj", ":")
    return out, [f for f in frames[-4:]]


# -- 5. interface NVE ------------------------------------------------------------------------
def part_interface_nve(start, dt_new, h_mass, time_fs) -> dict:
    from ase.md.velocitydistribution import Stationary

    from multiscale.md.hmr import repartition_hydrogen_masses
    from multiscale.mlip import load_default_model

    out = {}
    runs = [("previous", "float64", 0.5, None)]
    runs += [(f"new {dt:g} fs", "float32", dt, h_mass) for dt in dt_new]
    for name, dtype, dt, hm in runs:
        a = start.copy()
        if hm is not None:
            repartition_hydrogen_masses(a, hm)
            Stationary(a)
        res = _nve(a, load_default_model("cu-water-nacl", dtype=dtype), dt, time_fs)
        out[name] = res
        print(f"  NVE interface {name}: {res}", flush=True)
    return out


# -- report -----------------------------------------------------------------------------------
def report(res: dict, args, wall_s: float) -> str:
    thr = res["throughput"]
    prev = next(v for k, v in thr.items() if k.startswith("previous"))
    news = [v for k, v in thr.items() if k.startswith("new")]
    chg = next((v for k, v in thr.items() if k.startswith("CHGNet")), None)
    p = res["precision"]
    ts = res["timestep"]
    nb = res["neighbours"]
    nve = res["interface_nve"]
    lines = [
        "## MD throughput and the speed of the interface MD (benchmarks/md.py)",
        "",
        f"Command: `python benchmarks/md.py --dt-new {' '.join(f'{d:g}' for d in args.dt_new)} "
        f"--hydrogen-mass "
        f"{args.hydrogen_mass:g}{' --no-chgnet' if args.no_chgnet else ''}` "
        f"(measured run time {wall_s / 60:.1f} min). Machine: {platform.machine()}, 2 cores "
        "shared with other work, **one torch thread** (`torch.set_num_threads(1)`); ratios are "
        "measured side by side in one run (configurations alternate in segments; medians of "
        "per-step times).",
        "",
        f"System: the demo's md-stage interface, Cu(111) 4x4x3 + 12 Å water, 2 M NaCl, "
        f"{res['atoms']} atoms ({res['formula']}). Langevin 300 K through `MDRunner` "
        '(trajectory every 10 steps, integrity monitor "flag", checkpoints).',
        "",
        "| configuration | dt (fs) | ms/step | MD steps/s | atom-steps/s | ps per wall hour | "
        "vs previous |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, v in thr.items():
        lines.append(
            f"| {name} | {v['dt_fs']:g} | {1e3 * v['s_per_step']:.1f} ± "
            f"{1e3 * v['spread_s']:.1f} | {v['steps_per_s']:.3g} | {v['atom_steps_per_s']:.3g} "
            f"| {v['ps_per_hour']:.3g} | {v['ps_per_hour'] / prev['ps_per_hour']:.2f}x |"
        )
    lines += [
        "",
        f"(± half the inter-quartile range of the per-step times; {prev['steps_timed']} timed "
        "steps per MACE configuration"
        + (f", {chg['steps_timed']} for CHGNet)." if chg else ").")
        + "".join(
            f" **dt {v['dt_fs']:g} fs: {v['ps_per_hour'] / prev['ps_per_hour']:.2f}x the "
            "simulated time per wall hour of the previous configuration**"
            + (
                " (target 4x reached)"
                if v["ps_per_hour"] >= 4 * prev["ps_per_hour"]
                else " (target 4x not reached)"
            )
            + f": {prev['s_per_step'] / v['s_per_step']:.2f}x per step (float32) times "
            f"{v['dt_fs'] / prev['dt_fs']:.1f}x the time step (HMR)."
            for v in news
        ),
        "",
        "**float32 against float64** (same weights, converted at load):",
        "",
        "| model | frames | max abs ΔF (eV/Å) | mean abs ΔF (eV/Å) | max ΔE (eV/atom) | "
        "force MAE vs reference, float64 / float32 (eV/Å) |",
        "|---|---|---|---|---|---|",
    ]
    for model, v in p.items():
        ref = (
            f"{v['f64_vs_ref_mae']:.4f} / {v['f32_vs_ref_mae']:.4f} ({v['reference']})"
            if "f64_vs_ref_mae" in v
            else "not run"
        )
        lines.append(
            f"| {model} | {v['frames']} | {v['f32_vs_f64']['max']:.2e} | "
            f"{v['f32_vs_f64']['mae']:.2e} | {v['energy_per_atom_max']:.2e} | {ref} |"
        )
    ep, eh = ts["estimate_plain"], ts["estimate_hmr"]
    lines += [
        "",
        f"**Time step with HMR** (32-water box, shipped `water-nacl` model in float32, "
        f"{ts['atoms']} atoms, equilibrated 150 fs at 300 K; H {ts['h_mass']:g} u, O "
        f"{15.999 - 2 * (ts['h_mass'] - 1.008):.2f} u). `estimate_timestep` (safety 0.2): "
        f"true masses ω_max = {ep['wavenumber_cm1']:.0f} cm⁻¹ → {ep['dt_fs']:.2f} fs; HMR "
        f"ω_max = {eh['wavenumber_cm1']:.0f} cm⁻¹ → {eh['dt_fs']:.2f} fs. NVE from the same "
        f"state, {ts['time_fs']:g} fs each:",
        "",
        "| masses | dt (fs) | steps | E_tot drift (meV/atom/ps) | E_tot rms about the drift "
        "(meV/atom) | mean T (K) |",
        "|---|---|---|---|---|---|",
        *[
            f"| {'HMR' if r['hmr'] else 'true'} | {r['dt_fs']:g} | {r['steps']} | "
            f"{r['drift_meV_per_atom_ps']:+.2f} | {r['rms_meV_per_atom']:.3f} | "
            f"{r['T_mean_K']:.0f} |"
            for r in ts["runs"]
        ],
        "",
        f"**Interface NVE** ({res['atoms']} atoms, `cu-water-nacl`, from the last frame of the "
        f"previous configuration's Langevin run, {args.nve_fs:g} fs each):",
        "",
        "| configuration | dt (fs) | steps | E_tot drift (meV/atom/ps) | E_tot rms about the "
        "drift (meV/atom) | mean T (K) |",
        "|---|---|---|---|---|---|",
        *[
            f"| {name} | {r['dt_fs']:g} | {r['steps']} | {r['drift_meV_per_atom_ps']:+.2f} | "
            f"{r['rms_meV_per_atom']:.3f} | {r['T_mean_K']:.0f} |"
            for name, r in nve.items()
        ],
        "",
        "**Accuracy of the new configurations.** The forces are the same (float32 changes them "
        f"by at most {max(v['f32_vs_f64']['max'] for v in p.values()):.1e} eV/Å; the MAE "
        "against the reference is unchanged to 4 digits). The larger "
        "time step costs integration accuracy, measured on the interface in NVE: "
        + "; ".join(
            f"{name}: E_tot rms {r['rms_meV_per_atom'] / nve['previous']['rms_meV_per_atom']:.1f}x "
            f"the previous configuration's ({r['rms_meV_per_atom']:.3f} meV/atom), drift "
            f"{r['drift_meV_per_atom_ps']:+.2f} meV/atom/ps"
            for name, r in nve.items()
            if name != "previous"
        )
        + ". Static averages do not depend on the masses (tests/test_md_hmr.py); dynamics do "
        "(see docs/md.md, Hydrogen mass repartitioning).",
        "",
        f"**Neighbour lists.** MACE's ASE calculator rebuilds its graph at every call "
        f"(`_atoms_to_batch`: mace `AtomicData.from_config` with a fresh neighbour search). On "
        f"this interface: float64 call {nb['float64']['call_ms']:.0f} ms, graph "
        f"{nb['float64']['graph_ms']:.1f} ms ({100 * nb['float64']['graph_share']:.0f} %), "
        f"neighbour search {nb['float64']['nl_ms']:.1f} ms "
        f"({100 * nb['float64']['nl_share']:.0f} %); float32 call "
        f"{nb['float32']['call_ms']:.0f} ms, graph {nb['float32']['graph_ms']:.1f} ms "
        f"({100 * nb['float32']['graph_share']:.0f} %), neighbour search "
        f"{nb['float32']['nl_ms']:.1f} ms ({100 * nb['float32']['nl_share']:.0f} %). "
        "A skin-based list reuse saves at most the neighbour-search share (the graph tensors "
        "must still be rebuilt from the new positions), below the 15 % that would pay for it: "
        "not implemented.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dt-new", type=float, nargs="+", default=[1.0, 1.5],
                        help="time steps of the new configuration (float32, HMR), fs")  # fmt: skip
    parser.add_argument("--hydrogen-mass", type=float, default=3.0, help="HMR hydrogen mass, u")
    parser.add_argument("--steps", type=int, default=30, help="steps per timed segment")
    parser.add_argument("--rounds", type=int, default=3, help="alternating segments per config")
    parser.add_argument("--chgnet-steps", type=int, default=6, help="CHGNet steps (one segment)")
    parser.add_argument("--nve-fs", type=float, default=150.0, help="interface NVE length, fs")
    parser.add_argument("--box-nve-fs", type=float, default=250.0, help="water-box NVE, fs")
    parser.add_argument("--no-chgnet", action="store_true", help="skip CHGNet (slow)")
    parser.add_argument(
        "--workdir", type=Path,
        default=Path(tempfile.gettempdir()) / "multiscale-benchmark-md",
        help="finished parts are kept here (JSON) and not redone",
    )  # fmt: skip
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t_start = time.perf_counter()
    dts = "-".join(f"{d:g}" for d in args.dt_new)
    key = f"dt{dts}_h{args.hydrogen_mass:g}_s{args.steps}_r{args.rounds}"
    work = args.workdir / key
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "results.json"
    res = json.loads(state_file.read_text()) if state_file.exists() else {}

    def save():
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1))
        os.replace(tmp, state_file)

    atoms = demo_interface()
    res["atoms"], res["formula"] = len(atoms), atoms.get_chemical_formula()
    prepared = work / "prepared.traj"
    if not prepared.exists():
        print("== preparing the interface (FIRE, rigid molecules; 0.2 ps heating)", flush=True)
        from ase.io import write

        from multiscale.mlip import load_default_model

        atoms.calc = load_default_model("cu-water-nacl", dtype="float32")
        _prepare(atoms, work / "prep", heat_ps=0.2)
        _langevin(atoms, 0.5, 200, seed=4)  # 0.1 ps more at 300 K
        atoms.calc = None
        write(prepared, atoms)
    from ase.io import read

    atoms = read(prepared)
    atoms.set_constraint()
    frames_file = work / "frames.traj"
    if "throughput" not in res:
        print("== throughput", flush=True)
        import shutil

        shutil.rmtree(work / "md", ignore_errors=True)
        res["throughput"], frames = part_throughput(
            atoms, work / "md", args.dt_new, args.hydrogen_mass, args.steps, args.rounds,
            args.chgnet_steps, not args.no_chgnet,
        )  # fmt: skip
        from ase.io import write

        write(frames_file, frames)
        save()
    from ase.io import read

    frames = read(frames_file, ":")
    if "precision" not in res:
        print("== float32 vs float64", flush=True)
        res["precision"] = part_precision(frames, not args.no_chgnet)
        save()
    if "neighbours" not in res:
        print("== neighbour lists", flush=True)
        res["neighbours"] = part_neighbours(frames[-1])
        save()
    if "interface_nve" not in res:
        print("== interface NVE", flush=True)
        res["interface_nve"] = part_interface_nve(
            frames[-1], args.dt_new, args.hydrogen_mass, args.nve_fs
        )
        save()
    if "timestep" not in res:
        print("== HMR time step (water box)", flush=True)
        dts_plain, dts_hmr = (0.5, 1.0, 1.5), (1.0, 1.5, 2.0)
        res["timestep"] = part_timestep(
            dts_plain, dts_hmr, args.hydrogen_mass, args.box_nve_fs, work
        )
        save()
    res.setdefault("wall_s", 0.0)
    res["wall_s"] += time.perf_counter() - t_start
    save()
    text = report(res, args, res["wall_s"])
    out = HERE / "results" / "md.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
