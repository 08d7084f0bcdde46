"""Interfacial potential drop, its water-orientation part and the induced charge of a trajectory.

Runs :class:`multiscale.extract.electrostatics.InterfacePotential` on a metal/electrolyte
trajectory (frames with a dissociated water are left out and counted) for several image-plane
positions and water models and prints a Markdown table (V, C/m², one blocking standard error).

Run: ``.venv/bin/python benchmarks/interface_potential.py demo_output/md/trajectory.traj
[--metal Cu] [--closure metal]`` (about 2 s for 301 frames of the demo interface).
"""

from __future__ import annotations

import argparse
import time

from ase.io import read

from multiscale.extract.electrostatics import InterfacePotential


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trajectory")
    parser.add_argument("--metal", default="Cu")
    parser.add_argument("--closure", default="metal", choices=["metal", "vapour"])
    parser.add_argument("--ions", default="Na:1,Cl:-1", help="element:charge,... (e)")
    args = parser.parse_args()
    ions = {k: float(v) for k, v in (kv.split(":") for kv in args.ions.split(","))}
    t0 = time.perf_counter()
    frames = read(args.trajectory, index=":")
    print("| image plane (Å) | water model | Δφ total (V) | water part (V) | σ_M (C/m²) "
          "| frames used | blocking converged |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for d_im, model in ((0.8, "SPC/E"), (1.0, "SPC/E"), (1.0, "TIP4P/2005"), (1.5, "SPC/E")):
        r = (
            InterfacePotential(
                frames,
                ions,
                args.metal,
                water_model=model,
                image_plane=d_im,
                closure=args.closure,
                skip_broken_frames=True,
            )
            .run()
            .results
        )
        print(
            f"| {d_im} | {model} | {r.potential_drop:+.2f} ± {r.potential_drop_err:.2f} "
            f"| {r.potential_drop_water:+.2f} ± {r.potential_drop_water_err:.2f} "
            f"| {r.sigma_metal:+.3f} ± {r.sigma_metal_err:.3f} "
            f"| {r.n_frames_used} of {len(frames)} | {r.get('potential_drop_converged')} |"
        )
    print(f"\nmeasured run time: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
