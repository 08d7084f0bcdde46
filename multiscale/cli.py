"""The ``multiscale`` command line: ``multiscale demo`` and ``multiscale run CONFIG.toml``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multiscale",
        description="QM/ML force mixing, ML-MD of interfaces, and Nernst-Planck continuum.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the built-in demonstration case")
    demo.add_argument(
        "--out", type=Path, default=Path("demo_output"), help="output folder (default: %(default)s)"
    )
    demo.add_argument("--steps", type=int, default=12, help="MD steps (default: %(default)s)")
    run = sub.add_parser("run", help="run a pipeline from a TOML configuration")
    run.add_argument("config", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``multiscale`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        run_demo(args.out, n_steps=args.steps)
        return 0
    if args.command == "run":
        raise SystemExit(
            "multiscale run: the configuration-driven pipeline (qmml, md, extract, continuum "
            "stages) is not built yet; see the issue tracker. `multiscale demo` runs what exists."
        )
    return 2
