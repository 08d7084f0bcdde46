"""Run every benchmark in this folder and collect their results in docs/benchmarks.md.

Each benchmark script writes a Markdown section to ``benchmarks/results/<name>.md``; this
script runs them one after the other (``--only NAME`` to pick some) and concatenates the
sections, in a fixed order, under a common header.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
ORDER = ["scf_reuse", "force_mixing", "mlip", "md", "extract", "continuum_solver"]


def collect() -> Path:
    """Write docs/benchmarks.md from the result sections present; return its path."""
    sections = []
    names = [n.replace("continuum_solver", "continuum") for n in ORDER] + sorted(
        p.stem
        for p in (HERE / "results").glob("*.md")
        if p.stem not in ORDER and p.stem != "continuum"
    )
    for name in names:
        path = HERE / "results" / f"{name}.md"
        if path.exists():
            sections.append(path.read_text().strip() + "\n")
    header = [
        "# Benchmarks",
        "",
        "Measured by the scripts in `benchmarks/` (`make bench` runs them all and rewrites this",
        "page). The machine: 2 CPU cores, shared; ratios are measured side by side in one run.",
        f"Page assembled {datetime.now(UTC):%Y-%m-%d}.",
        "",
    ]
    out = HERE.parent / "docs" / "benchmarks.md"
    out.write_text("\n".join(header) + "\n".join(sections))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="benchmark names to run (default: all)")
    parser.add_argument("--collect", action="store_true", help="only rebuild docs/benchmarks.md")
    args = parser.parse_args()
    if not args.collect:
        names = args.only or [n for n in ORDER if (HERE / f"{n}.py").exists()]
        for name in names:
            script = HERE / f"{name}.py"
            if not script.exists():
                print(f"no benchmark named {name!r} ({script} missing)", file=sys.stderr)
                return 2
            print(f"== {name}", flush=True)
            subprocess.run([sys.executable, str(script)], check=True)
    print(f"wrote {collect()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
