"""A run's checks travel with its profile: the profile a run ships (``builtin:production``)
carries what its run's report flagged, and a run that plots against it or is fed by it says so.

:func:`stamp_profile` copies a run's ``extract/profile.h5`` with its checks (``checks.json``,
written with ``report.md``) added to the provenance (``run``: name, seed, configuration, the
list under "Not converged / not trustworthy"); :func:`run_caveats` reads that list back.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

__all__ = ["CHECKS_FILE", "run_caveats", "stamp_profile"]

#: the report's checks as data, next to ``report.md`` in a run folder
CHECKS_FILE = "checks.json"


def stamp_profile(run_dir: str | Path, dest: str | Path, record: str = "") -> Path:
    """Write ``run_dir``'s transport profile to ``dest`` with its run's checks in the
    provenance.

    Parameters
    ----------
    run_dir : str or Path
        A finished pipeline run folder (``extract/profile.h5``, ``checks.json``,
        ``config.json``).
    dest : str or Path
        The file to write (e.g. ``multiscale/pipeline/profiles/production_profile.h5``).
    record : str
        Where the run's full record lies (a repository path), kept in the provenance.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ValueError
        A run folder without its profile, checks or configuration.
    """
    from continuum import TransportProfile

    run = Path(run_dir)
    need = [run / "extract" / "profile.h5", run / CHECKS_FILE, run / "config.json"]
    missing = [str(p) for p in need if not p.is_file()]
    if missing:
        raise ValueError(
            f"{run} is not a finished run with a report: {', '.join(missing)} missing; run "
            "`multiscale run CONFIG --out RUN` to the end (the report writes checks.json)"
        )
    profile = TransportProfile.read(need[0])
    checks = json.loads(need[1].read_text())
    config = json.loads(need[2].read_text())
    prov = dict(profile.provenance)
    prov["run"] = {
        "name": config.get("run", {}).get("name"),
        "seed": config.get("run", {}).get("seed"),
        "config": config,
        "record": record,
        "not_converged": list(checks.get("not_converged", [])),
    }
    out = dataclasses.replace(profile, provenance=prov)
    return out.write(dest)


def run_caveats(profile: Any) -> list[str] | None:
    """What the profile's run flagged as not converged or not trustworthy (a list, possibly
    empty), or None for a profile written without its run's checks."""
    run = (getattr(profile, "provenance", None) or {}).get("run")
    if not isinstance(run, dict) or "not_converged" not in run:
        return None
    return [str(x) for x in run["not_converged"]]
