"""Released replicas: the non-equilibrium half of the relaxation round trip.

:func:`release_from_window` takes an umbrella window written by
:func:`multiscale.md.run_umbrella_windows`, picks ``n_replicas`` frames of its trajectory
spaced evenly over the part after ``discard`` (space them by more than the window's
correlation time so that the starts are independent draws of the restrained equilibrium),
removes the restraint and runs each frame as an independent replica with the physical
calculator (:func:`multiscale.md.run_replicas`: restartable, spread over MPI ranks, 1 rank
= N ranks). The frames' momenta are kept (``initial_temperature_K`` is ignored) so that the
release starts from the window's equilibrium in phase space, not only in configuration.

``output_dir/release.json`` records the window, the frames and the sampling;
:func:`read_release` returns the ion's height h(t) above the surface for every replica, the
input of :class:`multiscale.extract.relaxation.RelaxationRoundTrip`.

Units: heights in Å, times in fs, k in eV/Å².
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from .replicas import ReplicaResult, run_replicas
from .runner import TRAJ_FORMATS, MDSettings
from .umbrella import UMBRELLA_SPEC, restraint_height, write_or_check_spec

__all__ = ["RELEASE_SPEC", "read_release", "release_from_window"]

#: file in the release folder describing the release
RELEASE_SPEC = "release.json"


def _window_frames(umbrella_dir: Path, window: int) -> tuple[dict, list[Atoms]]:
    from ase.io import read

    spec_path = umbrella_dir / UMBRELLA_SPEC
    if not spec_path.is_file():
        raise ValueError(f"{spec_path} not found: pass the output_dir of run_umbrella_windows")
    spec = json.loads(spec_path.read_text())
    n_windows = len(spec["centers"])
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise TypeError(f"window must be an integer index, got {window!r}")
    if not 0 <= window < n_windows:
        raise ValueError(f"window must be in 0..{n_windows - 1}, got {window}")
    fmt = spec.get("traj_format", "traj")
    path = umbrella_dir / f"replica_{window:03d}" / TRAJ_FORMATS[fmt]
    if not path.is_file():
        raise ValueError(f"{path} not found: run (or resume) the umbrella windows first")
    return spec, read(path, ":", format=fmt, parallel=False)


def release_from_window(
    umbrella_dir: str | Path,
    window: int,
    make_calculator: Callable[[], Calculator],
    n_replicas: int,
    steps: int,
    output_dir: str | Path,
    settings: MDSettings,
    comm: Any,
    *,
    discard: int = 0,
    progress: bool = False,
) -> list[ReplicaResult]:
    """Release ``n_replicas`` frames of umbrella window ``window`` without the restraint.

    Parameters
    ----------
    umbrella_dir : str or Path
        Output folder of :func:`multiscale.md.run_umbrella_windows`.
    window : int
        Index of the window to release from.
    make_calculator : callable
        ``make_calculator()`` returns a fresh physical (unbiased) calculator per replica.
    n_replicas : int
        Number of released replicas (>= 4).
    steps : int
        MD steps per replica after the release (a rerun with more steps resumes).
    output_dir : str or Path
        Release folder: ``release.json`` and ``replica_XXX/``.
    settings : MDSettings
        MD settings of the release (thermostat, time step, ``traj_interval``: the sampling
        of h(t)); ``settings.seed`` is the base seed of the replicas' thermostat noise;
        ``initial_temperature_K`` is replaced by None (the frames' momenta are used).
    comm : mpi4py communicator
        Ranks to spread the replicas over.
    discard : int
        Window frames skipped at the start (equilibration of the window).
    progress : bool
        Progress bars (rank 0).

    Returns
    -------
    list of ReplicaResult

    Raises
    ------
    ValueError
        Missing window, too few frames, or a ``release.json`` that describes another release.
    """
    if comm is None or not hasattr(comm, "allgather"):
        raise TypeError("comm must be an mpi4py communicator (e.g. MPI.COMM_WORLD)")
    if not callable(make_calculator):
        raise TypeError("make_calculator must be a callable returning a fresh calculator")
    for name, v, low in (("n_replicas", n_replicas, 4), ("discard", discard, 0)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    if not isinstance(settings, MDSettings):
        raise TypeError("settings must be an MDSettings")
    udir, out = Path(umbrella_dir), Path(output_dir)
    spec, frames = _window_frames(udir, window)  # every rank reads: validates before collectives
    usable = len(frames) - discard
    if usable < n_replicas:
        raise ValueError(
            f"window {window} has {len(frames)} frames, {usable} after discard={discard}: "
            f"too few for {n_replicas} independent starts; run the window longer"
        )
    picks = np.linspace(discard, len(frames) - 1, n_replicas).round().astype(int)
    starts = [frames[i] for i in picks]
    if any(not np.any(a.get_momenta()) for a in starts):  # ASE gives zeros when absent
        raise ValueError(
            f"window {window}'s frames carry no momenta: the release needs the window's "
            "phase-space state (MDRunner trajectories in the 'traj' format keep them)"
        )
    settings = replace(settings, initial_temperature_K=None)
    release = {
        "umbrella_dir": str(udir.resolve()),
        "window": int(window),
        "center": float(spec["centers"][window]),
        "k": float(spec["k"][window]),
        "index": int(spec["index"]),
        "surface_z": spec["surface_z"],
        "frames": picks.tolist(),
        "n_replicas": int(n_replicas),
        "temperature_K": settings.temperature_K,
        "timestep_fs": settings.timestep_fs,
        "traj_interval": settings.traj_interval,
        "frame_interval_fs": settings.timestep_fs * settings.traj_interval,
        "traj_format": settings.traj_format,
        "ensemble": settings.ensemble,
        "base_seed": settings.seed,
        "units": {"center": "Å", "k": "eV/Å²", "frame_interval_fs": "fs"},
    }
    write_or_check_spec(
        out / RELEASE_SPEC, release, [k for k in release if k != "umbrella_dir"],
        "another release", "resume with the same arguments, or use another output_dir", comm,
    )  # fmt: skip

    def make(k: int) -> Atoms:
        atoms = starts[k].copy()
        atoms.calc = make_calculator()
        return atoms

    return run_replicas(make, n_replicas, steps, out, settings, comm, progress=progress)


def read_release(directory: str | Path) -> tuple[dict, np.ndarray]:
    """The release spec and the ion's heights, shape (n_frames, n_replicas) (Å).

    Replicas are cut to the shortest trajectory (a release still running is read up to
    where all replicas are).
    """
    from ase.io import read

    d = Path(directory)
    path = d / RELEASE_SPEC
    if not path.is_file():
        raise ValueError(f"{path} not found: pass the output_dir of release_from_window")
    spec = json.loads(path.read_text())
    series = []
    for k in range(spec["n_replicas"]):
        traj = d / f"replica_{k:03d}" / TRAJ_FORMATS[spec.get("traj_format", "traj")]
        if not traj.is_file():
            raise ValueError(f"replica {k}: {traj} not found; run (or resume) the release")
        frames = read(traj, ":", format=spec.get("traj_format", "traj"), parallel=False)
        pos = np.array([a.positions for a in frames])
        series.append(restraint_height(pos, spec["index"], spec["surface_z"]))
    n = min(len(s) for s in series)
    return spec, np.column_stack([s[:n] for s in series])
