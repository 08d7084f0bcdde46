"""Extraction throughput: multiscale.extract vs MDAnalysis on a 1000-atom, 1000-frame trajectory.

The trajectory is Brownian dynamics (Itô scheme with the dD/dz drift, reflecting walls) of
500 Na+ and 500 Cl- in a 25×25×40 Å slab: D(z) steps by a factor 2 within ~4 Å of each
wall, Na+ is adsorbed at the left wall and Cl- at the right one (1.5 kT wells), so the
charge density and the potential are not trivial. Frames are 100 fs apart.

Timed side by side in one process, each best of ``--repeat`` runs, all inputs in memory:

* MDAnalysis: ``LinearDensity`` (number and charge density along z, per species) and
  ``EinsteinMSD`` (per species) on a ``MemoryReader`` universe (unwrapped coordinates,
  as EinsteinMSD requires).
* multiscale.extract, the comparable quantities: ``DensityProfile`` (both species, with
  blocking errors), ``ChargeDensityProfile`` (ρ, φ, E with errors) and
  ``MeanSquaredDisplacement`` (per species, unwrapping the wrapped ASE frames itself).
* multiscale.extract, everything: the above plus D⊥(z), F(z) (Hummer propagator, three lags,
  8 blocks) and D∥(z) (survival-conditioned MSD) per species.

The numbers are compared too (same bins, same MSD). Results go to
``benchmarks/results/extract.md``.

A second part (``--part dielectric``, ~75 s here) times ε∥(z), ε⊥⁻¹(z)
(:class:`multiscale.extract.dielectric.DielectricProfile`) against MAICoS
``DielectricPlanar`` on the same synthetic water slab and compares the numbers; results go
to ``benchmarks/results/extract_dielectric.md``.

Run: ``.venv/bin/python benchmarks/extract.py [--repeat 3] [--part PART]`` with PART one of
all, throughput, dielectric, umbrella.
(``--part umbrella``: only the umbrella-sampling cost per window, results in
``benchmarks/results/extract_umbrella.md``).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from ase import Atoms

RESULTS = Path(__file__).parent / "results" / "extract.md"
LXY, LZ, DB = 25.0, 40.0, 2e-4  # Å, Å, Å²/fs
N_EACH, N_FRAMES, FRAME_DT = 500, 1000, 100.0


def d_of_z(z):
    w = np.minimum(z, LZ - z)  # distance to the nearest wall
    return DB * (0.75 + 0.25 * np.tanh((w - 4.0) / 1.0))


def dd_of_z(z):
    w = np.minimum(z, LZ - z)
    return np.where(z < LZ / 2, 1.0, -1.0) * DB * 0.25 / np.cosh((w - 4.0) / 1.0) ** 2


def well(w):
    return -1.5 * np.exp(-((w - 2.5) ** 2) / (2 * 0.8**2))


def dwell(w):
    return 1.5 * (w - 2.5) / 0.8**2 * np.exp(-((w - 2.5) ** 2) / (2 * 0.8**2))


def trajectory(seed: int = 1):
    """Wrapped ASE frames and the unwrapped positions (frames, 1000, 3) in Å."""
    rng = np.random.default_rng(seed)
    n = 2 * N_EACH
    sign = np.r_[np.ones(N_EACH), -np.ones(N_EACH)]  # Na: left wall, Cl: right wall
    grid = np.linspace(0, LZ, 40001)
    pos = rng.random((n, 3)) * [LXY, LXY, LZ]
    for s, sl in ((1, slice(0, N_EACH)), (-1, slice(N_EACH, n))):
        f = well(grid if s > 0 else LZ - grid)
        cdf = np.cumsum(np.exp(-f))
        pos[sl, 2] = np.interp(rng.random(N_EACH), cdf / cdf[-1], grid)
    dt, every = 10.0, 10
    out = np.empty((N_FRAMES, n, 3))
    for k in range(N_FRAMES):
        out[k] = pos
        for _ in range(every):
            z = pos[:, 2]
            d = d_of_z(z)
            wdist = np.where(sign > 0, z, LZ - z)
            dfdz = sign * dwell(wdist)
            s = np.sqrt(2 * d * dt)
            pos = pos + s[:, None] * rng.standard_normal((n, 3))
            pos[:, 2] += (dd_of_z(z) - d * dfdz) * dt
            zz = np.abs(pos[:, 2])
            pos[:, 2] = np.where(zz > LZ, 2 * LZ - zz, zz)
    symbols = ["Na"] * N_EACH + ["Cl"] * N_EACH
    frames = []
    for p in out:
        a = Atoms(symbols, positions=p, cell=[LXY, LXY, LZ], pbc=[True, True, False])
        a.wrap()
        frames.append(a)
    return frames, out


def best_of(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


DIELECTRIC_RESULTS = Path(__file__).parent / "results" / "extract_dielectric.md"


def water_slab(n_frames: int = 400, seed: int = 2):
    """Randomly oriented rigid SPC/E-geometry waters (216) on a jittered lattice in a slab."""
    rng = np.random.default_rng(seed)
    r_oh, theta = 0.9572, np.deg2rad(104.52)
    c, s = r_oh * np.cos(theta / 2), r_oh * np.sin(theta / 2)
    g = 1.5 + 3.0 * np.arange(6)
    sites = np.array([(x, y, z) for z in 15.0 + g for y in g for x in g])
    frames = []
    for _ in range(n_frames):
        a = rng.normal(size=(len(sites), 3))
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        p = rng.normal(size=(len(sites), 3))
        p -= np.sum(p * a, axis=1, keepdims=True) * a
        p /= np.linalg.norm(p, axis=1, keepdims=True)
        o = sites + rng.uniform(-0.2, 0.2, sites.shape)
        pos = np.stack([o, o + c * a + s * p, o + c * a - s * p], axis=1).reshape(-1, 3)
        frames.append(Atoms("OH2" * len(sites), positions=pos, cell=[18, 18, 50], pbc=True))
    return frames


def dielectric(repeat: int) -> list[str]:
    """ε∥(z), ε⊥⁻¹(z): multiscale.extract DielectricProfile vs MAICoS DielectricPlanar."""
    import logging
    import warnings

    from maicos import DielectricPlanar

    from multiscale.extract.dielectric import DielectricProfile, mdanalysis_universe

    logging.getLogger("maicos").setLevel(logging.ERROR)
    frames = water_slab()
    t_ours, ours = best_of(
        lambda: DielectricProfile(frames, {}, 300.0, bin_width=1.0).run().results, repeat
    )
    t_uni, u = best_of(lambda: mdanalysis_universe(frames, {}), 1)
    rows = []
    for vcut in (0.1, 0.001):

        def run_maicos(vcut=vcut):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return DielectricPlanar(
                    u.atoms, temperature=300.0, bin_width=1.0, vcutwidth=vcut, unwrap=False
                ).run()

        t_m, m = best_of(run_maicos, repeat)
        dpar = np.max(np.abs(ours.eps_par - 1 - m.results.eps_par)) / np.max(
            np.abs(m.results.eps_par)
        )
        dperp = np.max(np.abs(ours.eps_perp_inv - 1 - m.results.eps_perp)) / np.max(
            np.abs(m.results.eps_perp)
        )
        rows.append((vcut, t_m, dpar, dperp))
    n = len(frames)
    k = int(np.argmax(ours.eps_par))
    lines = [
        "## ε∥(z), ε⊥⁻¹(z) against MAICoS (benchmarks/extract.py --part dielectric)",
        "",
        f"216 randomly oriented rigid waters (SPC/E charges) in an 18×18×50 Å cell, {n} frames,",
        f"1 Å bins, 300 K, slab boundary (no tin-foil term); best of {repeat} runs on",
        f"{platform.processor() or platform.machine()}, 2 cores shared with other work.",
        "MAICoS gets an in-memory MDAnalysis Universe built from the same ASE frames",
        f"(mdanalysis_universe, {t_uni:.2f} s, not counted).",
        "",
        "| code | wall time (s) | frames/s | largest deviation of ε∥−1 / ε⊥⁻¹−1 "
        "(relative to the profile maximum) |",
        "|---|---|---|---|",
        f"| multiscale.extract DielectricProfile (molecules found per frame, block errors) "
        f"| {t_ours:.2f} | {n / t_ours:.0f} | reference |",
    ]
    for vcut, t_m, dpar, dperp in rows:
        lines.append(
            f"| MAICoS 0.12 DielectricPlanar, vcutwidth = {vcut} Å | {t_m:.2f} | {n / t_m:.0f} "
            f"| {dpar:.1e} / {dperp:.1e} |"
        )
    lines += [
        "",
        "ε⊥⁻¹ uses the same estimator in both (differences: MDAnalysis's float32 positions).",
        "ε∥: exact molecular dipoles here, MAICoS's virtual cuts there; the deviation falls",
        "with vcutwidth. Example value: ε∥ = "
        f"{ours.eps_par[k]:.1f} ± {ours.eps_par_err[k]:.1f} at z = {ours.z[k]:.1f} Å "
        "(an ideal gas of dipoles, so large; no water-water interaction in this test).",
        "",
    ]
    return lines


def main() -> None:
    from multiscale.extract import (
        ChargeDensityProfile,
        DensityProfile,
        MeanSquaredDisplacement,
        ParallelDiffusionProfile,
        PerpendicularDiffusionProfile,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--part", choices=["all", "throughput", "dielectric", "umbrella"], default="all",
        help="throughput (vs MDAnalysis), dielectric (vs MAICoS), umbrella (cost per window)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.part in ("all", "umbrella"):
        t0 = time.perf_counter()
        lines = umbrella_cost_per_window()
        lines.insert(-1, f"Measured run time of this part: {time.perf_counter() - t0:.0f} s.")
        UMBRELLA_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        UMBRELLA_RESULTS.write_text("\n".join(lines))
        print("\n".join(lines), flush=True)
        if args.part == "umbrella":
            return
    if args.part in ("all", "dielectric"):
        t0 = time.perf_counter()
        lines = dielectric(args.repeat)
        lines.insert(-1, f"Measured run time of this part: {time.perf_counter() - t0:.0f} s.")
        DIELECTRIC_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        DIELECTRIC_RESULTS.write_text("\n".join(lines))
        print("\n".join(lines), flush=True)
        if args.part == "dielectric":
            return
    print("generating the Brownian-dynamics trajectory ...", flush=True)
    frames, unwrapped = trajectory()

    def comparable():
        dens = DensityProfile(frames, {"Na": "Na", "Cl": "Cl"}, bin_width=0.5).run()
        elec = ChargeDensityProfile(frames, {"Na": 1, "Cl": -1}, bin_width=0.5).run()
        msd = {s: MeanSquaredDisplacement(frames, s, FRAME_DT).run() for s in ("Na", "Cl")}
        return dens, elec, msd

    def full():
        dens, elec, msd = comparable()
        perp = {
            s: PerpendicularDiffusionProfile(
                frames, s, FRAME_DT, bin_width=0.5, lags=(8, 16, 32)
            ).run()
            for s in ("Na", "Cl")
        }
        par = {
            s: ParallelDiffusionProfile(frames, s, FRAME_DT, bin_width=1.0, lags=range(1, 6)).run()
            for s in ("Na", "Cl")
        }
        return dens, elec, msd, perp, par

    # MDAnalysis first on unwrapped coordinates for EinsteinMSD; LinearDensity wraps them
    # in place, so MSD and density get separate universes
    print("MDAnalysis LinearDensity + EinsteinMSD ...", flush=True)
    import MDAnalysis as mda
    from MDAnalysis.analysis.lineardensity import LinearDensity
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.coordinates.memory import MemoryReader

    def universe():
        n = unwrapped.shape[1]
        u = mda.Universe.empty(n, trajectory=True)
        u.add_TopologyAttr("names", ["Na"] * N_EACH + ["Cl"] * N_EACH)
        u.add_TopologyAttr("masses", np.ones(n))
        u.add_TopologyAttr("charges", np.r_[np.ones(N_EACH), -np.ones(N_EACH)])
        u.load_new(
            unwrapped.copy(),
            format=MemoryReader,
            dt=FRAME_DT / 1000,
            dimensions=np.array([LXY, LXY, LZ, 90, 90, 90]),
        )
        return u

    u_msd, u_ld = universe(), universe()

    def mdanalysis():
        out = {}
        for s in ("Na", "Cl"):
            out[f"ld_{s}"] = LinearDensity(u_ld.select_atoms(f"name {s}"), binsize=0.5).run()
            out[f"msd_{s}"] = EinsteinMSD(u_msd, select=f"name {s}", fft=True).run()
        return out

    t_mda, mda_out = best_of(mdanalysis, args.repeat)
    print(f"  {t_mda:.2f} s", flush=True)
    print("multiscale.extract, comparable quantities ...", flush=True)
    t_ours, (dens, elec, msd) = best_of(comparable, args.repeat)
    print(f"  {t_ours:.2f} s", flush=True)
    print("multiscale.extract, everything (+ D_perp, F, D_parallel) ...", flush=True)
    t_full, (_, _, _, perp, par) = best_of(full, max(1, args.repeat - 1))
    print(f"  {t_full:.2f} s", flush=True)

    # --- same numbers?
    from ase.units import _Nav

    k = _Nav * 1e-24  # MDAnalysis divides by N_A and converts Å³ → cm³
    dev_n = max(
        np.max(
            np.abs(dens.results.number_density[s] - mda_out[f"ld_{s}"].results.z.mass_density * k)
        )
        / np.max(dens.results.number_density[s])
        for s in ("Na", "Cl")
    )
    # the residual is MDAnalysis's float32 coordinates at bin edges: same input, same bins
    frames32 = []
    for f in frames:
        g = f.copy()
        g.positions = g.positions.astype(np.float32).astype(float)
        frames32.append(g)
    dens32 = DensityProfile(frames32, {"Na": "Na", "Cl": "Cl"}, bin_width=0.5).run()
    dev_n32 = max(
        np.max(
            np.abs(dens32.results.number_density[s] - mda_out[f"ld_{s}"].results.z.mass_density * k)
        )
        / np.max(dens32.results.number_density[s])
        for s in ("Na", "Cl")
    )
    rho_mda = sum(mda_out[f"ld_{s}"].results.z.charge_density for s in ("Na", "Cl")) * k
    dev_rho = np.max(np.abs(elec.results.charge_density - rho_mda)) / np.max(np.abs(rho_mda))
    dev_msd = max(
        np.max(
            np.abs(msd[s].results.msd - mda_out[f"msd_{s}"].results.timeseries)[1:]
            / mda_out[f"msd_{s}"].results.timeseries[1:]
        )
        for s in ("Na", "Cl")
    )
    # --- how well D(z) is recovered (known D(z) of the generator)
    acc = []
    for s in ("Na", "Cl"):
        r = perp[s].results
        ok = np.isfinite(r.D_interfaces)
        rel = np.abs(r.D_interfaces[ok] / d_of_z(r.z_interfaces[ok]) - 1)
        pull = (r.D_interfaces[ok] - d_of_z(r.z_interfaces[ok])) / r.D_interfaces_err[ok]
        chi2 = np.mean(pull**2)
        rp = par[s].results
        ref_par = d_of_z(rp.z)
        relp = np.abs(rp.D / ref_par - 1)
        acc.append((s, np.median(rel), np.max(rel), chi2, np.median(relp), np.nanmax(relp)))
    phi = elec.results.potential
    fps = N_FRAMES / np.array([t_mda, t_ours, t_full])
    lines = [
        "## Extraction throughput (benchmarks/extract.py)",
        "",
        "1000 atoms (500 Na+, 500 Cl-), 1000 frames, Brownian dynamics in a 25×25×40 Å slab",
        "with a known D(z) (factor-2 step near both walls) and adsorption wells; all frames in",
        f"memory; best of {args.repeat} runs, measured side by side in one process on",
        f"{platform.processor() or platform.machine()}, 2 cores shared with other work.",
        "",
        "| analysis | wall time (s) | frames/s | relative to MDAnalysis |",
        "|---|---|---|---|",
        f"| MDAnalysis LinearDensity + EinsteinMSD (per species) | {t_mda:.2f} | {fps[0]:.0f} "
        "| 1.00 |",
        "| multiscale.extract DensityProfile + ChargeDensityProfile (ρ, φ, E, blocking "
        f"errors) + MeanSquaredDisplacement | {t_ours:.2f} | {fps[1]:.0f} | "
        f"{t_mda / t_ours:.2f}× faster |",
        "| multiscale.extract, all of the above + D⊥(z), F(z) (Hummer, 3 lags, 8 blocks) + "
        f"D∥(z) (LHB, 8 blocks) | {t_full:.2f} | {fps[2]:.0f} | {t_mda / t_full:.2f}× |",
        "",
        "Same numbers: largest deviation from MDAnalysis, relative to the profile maximum,",
        f"{dev_n:.1e} (number density), {dev_rho:.1e} (charge density); MSD, relative per lag,",
        f"{dev_msd:.1e} (MDAnalysis works in float32; given float32-rounded positions too, our",
        f"number densities agree to {dev_n32:.0e}). Potential drop across the slab "
        f"φ(L) − φ(0) = {phi[-1] - phi[0]:.1f} V",
        "(ideal ions without mutual electrostatics, in vacuum permittivity: large by design).",
        "",
        "Recovered D(z) against the generator's D(z) (relative deviation, median / max):",
        "",
        "| species | D⊥ (Hummer) median | D⊥ max | D⊥ χ²/N vs its error bars | D∥ (LHB) median "
        "| D∥ max |",
        "|---|---|---|---|---|---|",
    ]
    for s, m, mx, c2, mp, mxp in acc:
        lines.append(f"| {s} | {m:.3f} | {mx:.3f} | {c2:.2f} | {mp:.3f} | {mxp:.3f} |")
    lines += [
        "",
        "D∥ is compared with D(z) at the bin centre, not the bin average, so its maximum",
        "deviation includes the curvature of D(z) across 1 Å bins at the step. Target: at",
        "least as fast as MDAnalysis for the comparable quantities, with the same numbers.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


UMBRELLA_RESULTS = Path(__file__).parent / "results" / "extract_umbrella.md"


def umbrella_cost_per_window(
    n_windows: int = 17, walkers: int = 48, frames: int = 2400, md_steps: int = 200
) -> list[str]:
    """Cost per window of the umbrella pipeline (issue #14 item 2), as Markdown lines.

    * MD: ``run_umbrella_windows`` on a toy window (LJ argon, 9 atoms, one atom restrained,
      ``md_steps`` steps, one rank) against a bare ``MDRunner`` run of the same system: the
      per-step cost of the restraint wrapper and the per-window bookkeeping. A production
      window costs its steps times the force call of the production model on top.
    * Analysis: ``UmbrellaAnalysis`` on synthetic restrained Brownian-dynamics windows
      (``walkers`` walkers x ``frames`` frames each, 5 fs apart; the generator of
      tests/test_umbrella.py: adsorption well + barrier, D(z) = D_b (1 - 0.5 exp(-z/1.5 Å))),
      timed for half and all of ``n_windows`` windows (MBAR grows with the total number
      of samples, the D estimators linearly with the windows).
    """
    import tempfile

    from ase.calculators.lj import LennardJones
    from mpi4py import MPI

    from multiscale.extract import UmbrellaAnalysis
    from multiscale.md import MDRunner, MDSettings, run_umbrella_windows

    kt, k, db = 300.0 * 8.617333e-5, 2.5, 2e-4  # eV, eV/Å², Å²/fs

    def f(z):  # kT
        return -2.0 * np.exp(-((z - 2.5) ** 2) / 0.5) + 1.5 * np.exp(-((z - 4.0) ** 2) / 0.32)

    def df(z):
        return 8.0 * (z - 2.5) * np.exp(-((z - 2.5) ** 2) / 0.5) - 1.5 * (z - 4.0) / 0.16 * np.exp(
            -((z - 4.0) ** 2) / 0.32
        )

    def windows(centers, seed=3):
        rng = np.random.default_rng(seed)
        c = np.repeat(centers, walkers)
        z = c + rng.standard_normal(c.size) * np.sqrt(kt / k)  # equilibrated by the discard
        xy = np.zeros((c.size, 2))
        hz, hxy = np.empty((frames, c.size)), np.empty((frames, c.size, 2))
        for t in range(frames + 100):
            if t >= 100:
                hz[t - 100], hxy[t - 100] = z, xy
            for _ in range(5):
                d = db * (1 - 0.5 * np.exp(-z / 1.5))
                drift = db * 0.5 / 1.5 * np.exp(-z / 1.5) - d * (df(z) + k / kt * (z - c))
                noise = rng.standard_normal((c.size, 3))
                xy = xy + np.sqrt(2 * 1.2 * d)[:, None] * noise[:, :2]
                z = z + drift + np.sqrt(2 * d) * noise[:, 2]
        cut = [slice(i * walkers, (i + 1) * walkers) for i in range(len(centers))]
        return [hz[:, s] for s in cut], [hxy[:, s] for s in cut]

    def argon(i):
        a = 3.8
        pos = [(x * a, y * a, 0.0) for x in range(2) for y in range(2)]
        pos += [(x * a + a / 2, y * a + a / 2, a * 0.75) for x in range(2) for y in range(2)]
        pos += [(a / 2, 0.0, 5.6)]
        atoms = Atoms("Ar9", positions=pos, cell=[2 * a, 2 * a, 20.0], pbc=[True, True, False])
        atoms.calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=7.0, smooth=True)
        return atoms

    settings = MDSettings(timestep_fs=5.0, temperature_K=40.0, initial_temperature_K=40.0,
                          traj_interval=1, checkpoint_interval=100)  # fmt: skip
    t_bare, t_umb = np.inf, np.inf
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(2):  # best of two, alternating (the first pays for imports)
            t0 = time.process_time()
            MDRunner(argon(0), Path(tmp) / f"bare{rep}", settings, progress=False).run(md_steps)
            t_bare = min(t_bare, time.process_time() - t0)
            t0 = time.process_time()
            run_umbrella_windows(argon, 8, [5.4, 5.8], 1.5, md_steps, Path(tmp) / f"u{rep}",
                                 settings, MPI.COMM_SELF, surface_z=[0, 1, 2, 3])  # fmt: skip
            t_umb = min(t_umb, (time.process_time() - t0) / 2)
        t0 = time.process_time()
        UmbrellaAnalysis.from_directory(Path(tmp) / "u1", n_blocks=4, min_bin_samples=1)
        t_read = (time.process_time() - t0) / 2
    from multiscale.md import HarmonicZRestraint

    atoms = argon(0)
    restraint = HarmonicZRestraint(atoms.calc, 8, 5.5, 1.5, surface_z=[0, 1, 2, 3])
    t0 = time.process_time()
    for _ in range(2000):
        restraint.bias(atoms)
    t_bias = (time.process_time() - t0) / 2000
    rows = []
    centers = 1.5 + 0.25 * np.arange(n_windows)
    t0 = time.process_time()
    heights, xys = windows(centers)
    t_gen = time.process_time() - t0
    for n in sorted({max(2, n_windows // 2), n_windows}):
        t0 = time.process_time()
        r = UmbrellaAnalysis(heights[:n], centers[:n], k, 300.0, 5.0, xy=xys[:n]).run().results
        t_ana = time.process_time() - t0
        rows.append((n, t_ana, int(r.n_samples.sum()), r.converged))
    host = platform.processor() or platform.machine()
    lines = [
        "## Umbrella sampling: cost per window (benchmarks/extract.py --part umbrella)",
        "",
        f"Measured on {host}, one rank, as CPU time of the process (the 2 cores are shared",
        "with other work, so wall time is noise here); MD best of two.",
        "",
        "| stage | CPU time per window |",
        "|---|---|",
        f"| MD, toy window (9 LJ atoms, {md_steps} steps, a frame and thermo line per step): "
        f"run_umbrella_windows | {t_umb:.2f} s ({1e3 * t_umb / md_steps:.2f} ms/step) |",
        f"| the same steps with a bare MDRunner (no restraint, no replica layer) | "
        f"{t_bare:.2f} s ({1e3 * t_bare / md_steps:.2f} ms/step) |",
        f"| the bias itself (HarmonicZRestraint.bias, per force call) | {1e6 * t_bias:.0f} µs |",
        f"| reading a window back (from_directory, {md_steps + 1} frames) | {t_read:.3f} s |",
    ]
    for n, t_ana, n_samp, conv in rows:
        lines.append(
            f"| analysis of {n} windows ({walkers} walkers × {frames} frames each, "
            f"{n_samp} decorrelated samples in MBAR; converged: {conv}) | "
            f"{t_ana / n:.2f} s ({t_ana:.1f} s in all) |"
        )
    lines += [
        "",
        f"(Generating the synthetic windows took {t_gen:.1f} s, not counted.) The two MD rows",
        "differ by the toy calculator's neighbour-list updates, not by the bias, which costs",
        "the microseconds above per force call. A production window costs its steps times",
        "the force call of the production model (MACE/CHGNet: milliseconds to a second per",
        "step), so the MD dominates and the analysis (MBAR + autocorrelations + MSD) stays",
        "at seconds per window. Windows are independent: N ranks run N windows at once.",
        "",
    ]
    return lines


if __name__ == "__main__":
    main()
