"""The built-in demonstration run by ``multiscale demo`` / ``make demo``.

It runs the pipeline (:mod:`multiscale.pipeline`) on the shipped configuration
``multiscale/pipeline/configs/demo.toml`` (``demo_quick.toml`` with ``--quick``): aqueous NaCl
at a Cu(111) surface, from QM/ML force mixing around a Na+ ion through ML-MD of the interface
and the extraction of c(z), D(z), φ(z) to Nernst–Planck solves in 1D and in a corrosion pit.
The configuration is copied to the run directory as ``config.toml``; the results are summarised
in ``report.md`` there.
"""

from __future__ import annotations

import time
from pathlib import Path


def water_trimer():
    """A cyclic water trimer (Å), non-periodic (a small test system for the DFT engine)."""
    from ase import Atoms

    return Atoms(
        "OHHOHHOHH",
        positions=[
            [0.000, 1.650, 0.000],
            [0.000, 0.680, 0.000],
            [0.560, 1.950, 0.730],
            [1.430, -0.830, 0.000],
            [0.590, -1.310, 0.000],
            [2.010, -1.020, 0.740],
            [-1.430, -0.830, 0.000],
            [-1.450, 0.140, 0.000],
            [-2.020, -1.080, 0.730],
        ],
    )


def run_demo(out: str | Path = "demo_output", quick: bool = False, comm=None):
    """Run the demonstration pipeline into ``out``.

    Parameters
    ----------
    out : str or Path
        Run directory (created if needed); rerunning reuses the stages already done.
    quick : bool
        Run ``demo_quick.toml`` (tiny step counts, seconds to a minute) instead of
        ``demo.toml`` (minutes).
    comm : mpi4py communicator, optional
        See :meth:`multiscale.pipeline.Pipeline.run`.

    Returns
    -------
    multiscale.pipeline.Pipeline
        The finished pipeline (``.results``, ``.report``).

    Raises
    ------
    multiscale.pipeline.RunDirectoryLocked
        Another run is using ``out``.
    """
    import tomllib

    from .pipeline import Pipeline, builtin_config

    out = Path(out)
    text = builtin_config("demo_quick" if quick else "demo")
    # a shipped configuration is trusted (its calculators may be import paths); its text is
    # written to out/config.toml once the run holds the folder's lock
    pipe = Pipeline(tomllib.loads(text), out, allow_import=True, config_text=text)
    t0 = time.perf_counter()
    pipe.run(comm=comm)
    if pipe.rank == 0:
        print(f"demo: {time.perf_counter() - t0:.0f} s; report: {pipe.report}")
        for stage, res in pipe.results.items():
            print(f"  {stage}: {res.get('stage_wall_s', float('nan')):.1f} s")
    return pipe
