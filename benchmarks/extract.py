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

Run: ``.venv/bin/python benchmarks/extract.py [--repeat 3]``
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
