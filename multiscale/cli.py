"""The ``multiscale`` command line: ``multiscale demo``, ``multiscale run CONFIG.toml`` and
``multiscale props CONFIG.toml``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multiscale",
        description="QM/ML force mixing, ML-MD of interfaces, and Nernst-Planck continuum.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="run the built-in demonstration (NaCl(aq) at Cu(111), all four stages)"
    )
    demo.add_argument(
        "--out", type=Path, default=Path("demo_output"), help="run directory (default: %(default)s)"
    )
    demo.add_argument(
        "--quick", action="store_true", help="a seconds-long version (tiny steps; for tests)"
    )
    run = sub.add_parser("run", help="run a pipeline from a TOML configuration")
    run.add_argument(
        "config",
        type=Path,
        help="TOML configuration (see docs/pipeline.md), or the name of a built-in one "
        "(demo, demo_quick, production)",
    )
    run.add_argument(
        "--out", type=Path, default=None, help="run directory (default: runs/<config name>)"
    )
    run.add_argument(
        "--stages",
        nargs="+",
        default=None,
        choices=["qmml", "md", "umbrella", "extract", "continuum"],
        help="stages to run (default: run.stages of the configuration)",
    )
    run.add_argument(
        "--allow-import",
        action="store_true",
        help='allow calculators given as an import path {model = "module:Class"} (runs code '
        "named in the configuration: only for configurations you trust)",
    )
    props = sub.add_parser(
        "props",
        help="material properties with a calculator (elastic constants, phonons, surface "
        "energies, convex hull, hop-screening funnel) from a TOML configuration "
        "(see docs/properties.md)",
    )
    props.add_argument("config", type=Path, help="TOML configuration (see docs/properties.md)")
    props.add_argument(
        "--out", type=Path, default=None, help="output folder (default: props/<config name>)"
    )
    props.add_argument(
        "--allow-import",
        action="store_true",
        help="allow a calculator given as an import path (only for configurations you trust)",
    )
    return parser


def _props(args: argparse.Namespace) -> int:
    from .properties import load_props_config, run_properties

    out = args.out or Path("props") / args.config.stem
    try:
        cfg = load_props_config(args.config, allow_import=args.allow_import)
    except ValueError as err:  # configuration errors: one readable line, no traceback
        print(f"multiscale props: {err}", file=sys.stderr)
        return 2
    run_properties(cfg, out, allow_import=args.allow_import)
    print(f"multiscale props: wrote {out / 'summary.json'}")
    return 0


def _config_source(path: Path):
    """A TOML file, or (a bare name that is not a file) a built-in configuration's contents."""
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    import tomllib

    from .pipeline import builtin_config

    return tomllib.loads(builtin_config(str(path)))  # ValueError lists the built-in names


def _world():
    """``MPI.COMM_WORLD``, or None without mpi4py."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``multiscale`` command; returns the exit status.

    0: done; 2: a configuration error or a run folder in use by another run (one readable line
    on stderr, no traceback).
    """
    args = _parser().parse_args(argv)
    if args.command == "props":
        return _props(args)
    from .mpi_abort import abort_on_error
    from .pipeline import Pipeline, RunDirectoryLocked

    if args.command == "demo":
        from .demo import run_demo

        try:
            run_demo(args.out, quick=args.quick)
        except RunDirectoryLocked as err:
            print(f"multiscale demo: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        source = _config_source(args.config)
        pipe = Pipeline(
            source, args.out or Path("runs") / args.config.stem, allow_import=args.allow_import
        )
    except ValueError as err:  # configuration errors: one readable line, no traceback
        print(f"multiscale run: {err}", file=sys.stderr)
        return 2
    try:
        # an error that escapes on one rank only must end the job, not leave the others
        # waiting in a collective call
        with abort_on_error(_world(), collective=(RunDirectoryLocked,)):
            pipe.run(stages=args.stages)
    except RunDirectoryLocked as err:
        if pipe.rank == 0:
            print(f"multiscale run: {err}", file=sys.stderr)
        return 2
    if pipe.rank == 0:
        print(f"multiscale run: wrote {pipe.report}")
    return 0
