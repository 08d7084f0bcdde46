"""How the umbrella F(z) error falls with window length, and what 0.3 kT costs (issue #14).

Reads finished umbrella windows (e.g. those of ``benchmarks/ion_round_trip.py``: Na⁺ at
Cu(111)|water) and answers two questions from the data themselves:

1. **Are the MBAR error bars honest?** MBAR's analytic errors assume that the statistical
   inefficiency of h (the restrained height) captures all the correlation. A slow coordinate
   that h does not show (the ion's hydration shell, seen as a negative lobe of the height
   autocorrelation in the round trip) would make them too small. Check: split every window
   into ``--blocks`` consecutive time blocks, compute F(z) from block b of all windows
   (b = 1..B), align each at the reference bin and take the spread of the B profiles over
   √B. Where the block error exceeds the MBAR error, the MBAR error is optimistic.
2. **How long must the windows be?** F(z) from the first 1/4, 1/2 and all of the
   production part of every window: the largest error over a fixed z range against the
   sampled time. A fit err = a·T^(−p) (p = ½ for independent samples) gives the window length
   that brings the largest error to ``--target`` kT, and the total MD (windows x length)
   that costs. Errors accumulate from the reference bin outward (each window's free energy
   is tied to its neighbours'), so the answer depends on the span of z, stated with it.

Writes ``benchmarks/results/umbrella_convergence.{md,json}``. Cheap (MBAR on the stored
heights: about a minute); no MD.

Usage::

    python benchmarks/umbrella_convergence.py /work/rt/umbrella /work/rt/umbrella_extra \\
        --discard-ps 2 --ms-per-step 86 --dt 1.5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "umbrella_convergence"


def _profile(ana_cls, heights, base, n_blocks: int, min_bin_samples: int):
    """F(z) (kT) and its MBAR error from the given heights, with the base analysis' settings."""
    ana = ana_cls(
        heights, base.centers, base.k, base.temperature_K, base.timestep,
        bin_width=base.bin_width, n_blocks=n_blocks, discard=0,
        min_bin_samples=min_bin_samples,
    ).run()  # fmt: skip
    r = ana.results
    return np.asarray(r.z), np.asarray(r.free_energy), np.asarray(r.free_energy_err)


def _on_grid(z_ref, z, values):
    """``values`` on the bins ``z_ref`` (NaN where ``z`` has no such bin)."""
    out = np.full(z_ref.shape, np.nan)
    idx = np.searchsorted(np.round(z, 6), np.round(z_ref, 6))
    ok = (idx < z.size) & (np.round(z[np.minimum(idx, z.size - 1)], 6) == np.round(z_ref, 6))
    out[ok] = values[idx[ok]]
    return out


def main() -> None:
    from multiscale.extract import UmbrellaAnalysis

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="umbrella window folders")
    ap.add_argument("--discard-ps", type=float, default=2.0, help="ps dropped per window")
    ap.add_argument("--blocks", type=int, default=4, help="time blocks for the block error")
    ap.add_argument("--min-bin-samples", type=int, default=10)
    ap.add_argument("--z-range", type=float, nargs=2, default=None,
                    help="Å: where the largest error is taken (default: bins with F in every "
                         "profile)")  # fmt: skip
    ap.add_argument("--target", type=float, default=0.3, help="kT")
    ap.add_argument("--dt", type=float, default=1.5, help="MD time step of the windows, fs")
    ap.add_argument(
        "--ms-per-step",
        type=float,
        default=None,
        help="measured MD cost per step on one core (for the cost projection)",
    )
    ap.add_argument("--label", default="Na+ at Cu(111)|water, shipped cu-water-nacl")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    t0 = time.perf_counter()
    probe = UmbrellaAnalysis.from_directory(args.folders, discard=0, n_blocks=4)
    frame_fs = probe.timestep
    discard = round(args.discard_ps * 1000 / frame_fs)
    base = UmbrellaAnalysis.from_directory(args.folders, discard=discard, n_blocks=4)
    heights = base._h  # per window, discard removed, sorted by centre
    n = min(a.shape[0] for a in heights)
    heights = [a[:n] for a in heights]
    T_full_ps = n * frame_fs / 1000
    kw = {"n_blocks": 4, "min_bin_samples": args.min_bin_samples}

    z, f_full, e_full = _profile(UmbrellaAnalysis, heights, base, **kw)
    ref = int(np.nanargmin(e_full))  # the bin the MBAR errors are relative to (error 0)

    # 1. block errors against MBAR errors, on the full production part
    L = n // args.blocks
    blocks = []
    for b in range(args.blocks):
        part = [a[b * L : (b + 1) * L] for a in heights]
        zb, fb, _ = _profile(UmbrellaAnalysis, part, base, n_blocks=4,
                             min_bin_samples=max(2, args.min_bin_samples // 4))  # fmt: skip
        fb = _on_grid(z, zb, fb)
        blocks.append(fb - fb[ref])
    blocks = np.array(blocks)
    have = np.isfinite(blocks).all(axis=0) & np.isfinite(f_full)
    e_block = np.full(z.shape, np.nan)
    e_block[have] = blocks[:, have].std(axis=0, ddof=1) / np.sqrt(args.blocks)

    # 2. errors against sampled time
    fractions = [0.25, 0.5, 1.0]
    series = []
    for frac in fractions:
        m = round(n * frac)
        zt, ft, et = _profile(UmbrellaAnalysis, [a[:m] for a in heights], base, **kw)
        series.append((frac * T_full_ps, _on_grid(z, zt, ft), _on_grid(z, zt, et)))
    common = have & np.all([np.isfinite(s[2]) for s in series], axis=0)
    if args.z_range is not None:
        common &= (z >= args.z_range[0]) & (z <= args.z_range[1])
    if common.sum() < 3:
        raise SystemExit("fewer than 3 bins have F in every profile: widen --z-range")
    z_lo, z_hi = float(z[common].min()), float(z[common].max())
    # the variance of F grows with the distance from the reference bin (a random walk over
    # the windows): kT²/Å at this sampling density, for projections to other spans
    far = common & (np.abs(z - z[ref]) > 0.5)
    var_per_A = float(np.median(e_full[far] ** 2 / np.abs(z[far] - z[ref])))
    ps_per_A = len(heights) * n * frame_fs / 1000 / (base.centers.max() - base.centers.min())

    t = np.array([s[0] for s in series])
    emax = np.array([np.nanmax(s[2][common]) for s in series])
    p, log_a = np.polyfit(np.log(t), np.log(emax), 1)
    p = -p
    # the window length for the target, with the fitted exponent and with p = 1/2
    t_target_fit = float((np.exp(log_a) / args.target) ** (1 / p)) if p > 0 else float("inf")
    t_target_half = float(T_full_ps * (emax[-1] / args.target) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):  # the reference bin: 0/0
        ratio = e_block[common] / e_full[common]
    ratio = ratio[np.isfinite(ratio)]
    t_target_block = float(T_full_ps * (np.nanmax(e_block[common]) / args.target) ** 2)
    n_win = len(heights)
    total_ps = n_win * (max(t_target_half, t_target_block) + args.discard_ps)
    summary = {
        "label": args.label,
        "folders": [str(f) for f in args.folders],
        "n_windows": n_win,
        "frame_fs": frame_fs,
        "production_ps_per_window": T_full_ps,
        "discard_ps": args.discard_ps,
        "reference_bin_A": float(z[ref]),
        "z_range_A": [z_lo, z_hi],
        "target_kT": args.target,
        "max_err_vs_time": [
            {"ps": float(ti), "max_mbar_err_kT": float(ei)} for ti, ei in zip(t, emax, strict=True)
        ],
        "fitted_exponent": float(p),
        "block_error": {
            "blocks": args.blocks,
            "block_ps": L * frame_fs / 1000,
            "max_block_err_kT": float(np.nanmax(e_block[common])),
            "block_over_mbar_median": float(np.median(ratio)),
            "block_over_mbar_max": float(np.max(ratio)),
        },
        "window_ps_for_target": {
            "mbar_err_sqrt_scaling": t_target_half,
            "mbar_err_fitted_exponent": t_target_fit,
            "block_err_sqrt_scaling": t_target_block,
        },
        "total_md_ps_for_target": total_ps,
        "variance_growth": {
            "mbar_kT2_per_A": var_per_A,
            "sampling_ps_per_A": ps_per_A,
            "note": "err(z)^2 ~ c * |z - z_ref| * (ps_per_A_here / ps_per_A): sampling per Å "
            "of z needed for a target err over a span S: c * S * ps_per_A / target^2",
        },
        "wall_s": time.perf_counter() - t0,
    }
    if args.ms_per_step:
        steps = total_ps * 1000 / args.dt
        summary["ms_per_step"] = args.ms_per_step
        summary["core_hours_for_target"] = steps * args.ms_per_step / 1000 / 3600
    summary["profiles"] = {
        "z_A": z.tolist(),
        "F_kT": f_full.tolist(),
        "mbar_err_kT": e_full.tolist(),
        "block_err_kT": e_block.tolist(),
        "err_vs_time_kT": {f"{s[0]:.2f}": s[2].tolist() for s in series},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, allow_nan=True))
    _plot(z, e_full, e_block, series, common, args, args.out / "errors.png")
    (args.out.parent / f"{args.out.name}.md").write_text(_markdown(summary))
    print(json.dumps({k: v for k, v in summary.items() if k != "profiles"}, indent=1))


def _markdown(s: dict) -> str:
    """The results page (numbers only; the reading is in docs/extract.md)."""
    b, w, g = s["block_error"], s["window_ps_for_target"], s["variance_growth"]
    rows = "\n".join(
        f"| {e['ps']:.1f} | {e['max_mbar_err_kT']:.2f} |" for e in s["max_err_vs_time"]
    )
    cost = (
        f"{s['core_hours_for_target']:.0f} core-hours at {s['ms_per_step']:g} ms/step"
        if "core_hours_for_target" in s
        else "(no --ms-per-step given)"
    )
    return f"""# Umbrella F(z): error against window length ({s["label"]})

Command: `python benchmarks/umbrella_convergence.py {" ".join(s["folders"])} --discard-ps
{s["discard_ps"]:g}` ({s["wall_s"]:.0f} s; MBAR on the stored heights, no MD).
{s["n_windows"]} windows, {s["production_ps_per_window"]:.1f} ps of production each after
{s["discard_ps"]:g} ps discarded; errors relative to the bin at {s["reference_bin_A"]:.2f} Å,
largest over {s["z_range_A"][0]:.2f}–{s["z_range_A"][1]:.2f} Å.

| ps per window | largest MBAR error (kT) |
|---:|---:|
{rows}

Fitted err ∝ T^(−{s["fitted_exponent"]:.2f}) (½ for independent samples).

Block check ({b["blocks"]} blocks of {b["block_ps"]:.1f} ps, F of each block's data, spread/√B):
block error / MBAR error median {b["block_over_mbar_median"]:.2f}, largest
{b["block_over_mbar_max"]:.2f}; largest block error {b["max_block_err_kT"]:.2f} kT.

Window length for a largest error of {s["target_kT"]} kT over this span:
{w["mbar_err_sqrt_scaling"]:.0f} ps (MBAR errors, T^-½),
{w["mbar_err_fitted_exponent"]:.0f} ps (fitted exponent),
{w["block_err_sqrt_scaling"]:.0f} ps (block errors, T^-½). All windows at the largest of these:
{s["total_md_ps_for_target"]:.0f} ps of MD, {cost}.

Variance growth: err² ≈ {g["mbar_kT2_per_A"]:.3f} kT²/Å × |z − z_ref| at
{g["sampling_ps_per_A"]:.0f} ps of window MD per Å of z (MBAR errors; multiply by
(block/MBAR)² for the block estimate). A span S (Å) from the reference at a target error ε needs
about {g["mbar_kT2_per_A"]:.3f} × S × {g["sampling_ps_per_A"]:.0f} / ε² ps of MD per Å.
"""


def _plot(z, e_full, e_block, series, common, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for ti, _, ei in series[:-1]:
        ax.plot(z, ei, lw=1, label=f"MBAR error, first {ti:.1f} ps per window")
    ax.plot(z, e_full, "k", lw=2, label=f"MBAR error, {series[-1][0]:.1f} ps per window")
    ax.plot(z, e_block, "r--", lw=2, label=f"block error ({args.blocks} blocks)")
    ax.axhline(args.target, color="gray", ls=":", label=f"target {args.target} kT")
    ax.axvspan(z[common].min(), z[common].max(), color="0.9", zorder=0)
    ax.set_xlabel("height above the top metal layer (Å)")
    ax.set_ylabel("error of F relative to the reference bin (kT)")
    ax.set_title(args.label, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
