"""The :class:`Pipeline`: stages in order, each cached by a hash of its inputs, resumable."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import STAGES, load_config

__all__ = ["Pipeline", "StageSkipped"]

log = logging.getLogger("multiscale.pipeline")

#: upstream stages whose outputs a stage reads
UPSTREAM = {"qmml": (), "md": (), "extract": ("md",), "continuum": ("extract",)}
SERIAL = ("qmml", "md", "extract")
MARKER = "done.json"
INPUTS = "inputs.json"


class StageSkipped(RuntimeError):
    """A stage could not run because an upstream stage has no outputs."""


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


class Pipeline:
    """The qmml → md → extract → continuum pipeline on one run directory.

    Parameters
    ----------
    config : mapping, str or Path
        Configuration (dict, or path of a TOML file); validated up front, see
        :func:`multiscale.pipeline.load_config` and docs/pipeline.md.
    run_dir : str or Path
        Run directory; stage ``s`` writes to ``run_dir/s/``. The configuration is copied to
        ``run_dir/config.json``, the log to ``run_dir/pipeline.log``.

    Attributes
    ----------
    config : dict
        The validated configuration (defaults filled in).
    results : dict
        ``{stage: summary}`` of every stage run or found up to date.
    recomputed : list of str
        Stages actually computed by the last :meth:`run` (the others were up to date).
    report : pathlib.Path or None
        ``run_dir/report.md`` after :meth:`run`.

    Notes
    -----
    A stage is recomputed only when the hash of its inputs (its config section, the run seed
    and the hashes of the stages it reads) differs from the one in its ``done.json``. A stage
    that was interrupted keeps its folder when its inputs are unchanged, so the md stage
    resumes from its last checkpoint; with changed inputs the folder is cleared first.
    """

    def __init__(self, config: Mapping[str, Any] | str | Path, run_dir: str | Path) -> None:
        self.config = load_config(config)
        self.run_dir = Path(run_dir)
        self.results: dict[str, dict] = {}
        self.recomputed: list[str] = []
        self.report: Path | None = None
        self._hashes: dict[str, str] = {}
        self.rank = 0  #: rank of this process in the communicator of the last run

    # ------------------------------------------------------------------ hashing / markers
    def stage_hash(self, stage: str) -> str:
        """Hash of everything the stage's outputs depend on."""
        parts = {
            "section": self.config[stage],
            "seed": self.config["run"]["seed"],
            "upstream": {u: self._hashes.get(u) for u in UPSTREAM[stage]},
        }
        if stage == "continuum" and self.config[stage]["profile"]:
            p = Path(self.config[stage]["profile"])
            parts["profile_file"] = (
                hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            )
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def stage_dir(self, stage: str) -> Path:
        """Output folder of ``stage``."""
        return self.run_dir / stage

    def _read_marker(self, stage: str) -> dict | None:
        p = self.stage_dir(stage) / MARKER
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            return None

    # ------------------------------------------------------------------ running
    def _setup_logging(self) -> logging.Handler:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.run_dir / "pipeline.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        return handler

    def _select(self, stages: Sequence[str] | None) -> list[str]:
        wanted = list(self.config["run"]["stages"]) if stages is None else list(stages)
        bad = [s for s in wanted if s not in STAGES]
        if bad:
            raise ValueError(f"unknown stage(s) {bad}; the stages are {list(STAGES)}")
        missing = [s for s in wanted if s not in self.config]
        if missing and stages is not None:
            raise ValueError(f"stage(s) {missing} have no [{missing[0]}] section in the config")
        return [s for s in STAGES if s in wanted and s in self.config]

    def _input_path(self, stage: str) -> Path | None:
        if stage == "continuum":
            if self.config["continuum"]["profile"]:
                return Path(self.config["continuum"]["profile"])
            p = self.stage_dir("extract") / "profile.h5"
            return p if p.is_file() else None
        return None

    def _compute(self, stage: str, out: Path, comm) -> dict:
        from . import stages as st

        cfg = self.config[stage]
        seed = self.config["run"]["seed"]
        progress = self.config["run"]["progress"]
        if stage == "qmml":
            return st.run_qmml(cfg, seed, out, progress)
        if stage == "md":
            return st.run_md(cfg, seed, out, progress)
        if stage == "extract":
            md = self.results.get("md") or self._need("md", stage)
            return st.run_extract(cfg, md, self.stage_dir("md"), out, progress)
        if stage == "continuum":
            return st.run_continuum(cfg, self._input_path(stage), out, comm)
        raise ValueError(stage)

    def _need(self, upstream: str, stage: str) -> dict:
        marker = self._read_marker(upstream)
        if marker is None:
            raise StageSkipped(f"stage {stage!r} needs the outputs of {upstream!r}: run it first")
        return marker["summary"]

    def run(self, stages: Sequence[str] | None = None, comm=None) -> dict[str, dict]:
        """Run the selected stages (default: ``run.stages`` of the config) in order.

        Parameters
        ----------
        stages : sequence of str, optional
            Subset of ``qmml``, ``md``, ``extract``, ``continuum`` (run in that order).
        comm : mpi4py communicator, optional
            Communicator of all ranks running the pipeline. Serial stages run on its rank 0
            while the others wait; the continuum stage runs on all ranks; files are written
            by rank 0. None: ``MPI.COMM_WORLD`` (so that ``mpiexec -n N multiscale run`` works;
            a plain serial run is a world of one rank).

        Returns
        -------
        dict
            ``{stage: summary}`` (also :attr:`results`).
        """
        selected = self._select(stages)
        if comm is None:
            try:
                from .continuum_adapter import world

                comm = world()
            except ImportError:  # no mpi4py: serial stages only
                if "continuum" in selected:
                    raise
        rank = comm.rank if comm is not None else 0
        self.rank = rank
        handler = self._setup_logging() if rank == 0 else None
        self.recomputed = []
        try:
            if rank == 0:
                (self.run_dir / "config.json").write_text(json.dumps(self.config, indent=2))
            for stage in STAGES:
                if stage not in self.config:
                    continue
                h = self.stage_hash(stage)
                self._hashes[stage] = h
                if stage not in selected:
                    marker = self._read_marker(stage) if rank == 0 else None
                    if comm is not None:
                        marker = comm.bcast(marker, root=0)
                    if marker is not None and marker.get("hash") == h:
                        self.results[stage] = marker["summary"]
                    continue
                self._run_stage(stage, h, comm)
            if rank == 0:
                from .report import write_report

                self.report = write_report(self)
            if comm is not None:
                self.report = comm.bcast(self.report, root=0)
        finally:
            if handler is not None:
                log.removeHandler(handler)
                handler.close()
        return self.results

    def _run_stage(self, stage: str, h: str, comm) -> None:
        rank = comm.rank if comm is not None else 0
        out = self.stage_dir(stage)
        status = None
        if rank == 0:
            marker = self._read_marker(stage)
            if marker is not None and marker.get("hash") == h:
                status = ("cached", marker["summary"])
            else:
                inputs = out / INPUTS
                same = inputs.is_file() and json.loads(inputs.read_text()).get("hash") == h
                if out.exists() and not same:
                    log.info("%s: inputs changed, clearing %s", stage, out)
                    shutil.rmtree(out)
                out.mkdir(parents=True, exist_ok=True)
                (out / MARKER).unlink(missing_ok=True)
                (out / INPUTS).write_text(json.dumps({"hash": h, "config": self.config[stage]}))
                status = ("resume" if same else "fresh", None)
        if comm is not None:
            status = comm.bcast(status, root=0)
        if status[0] == "cached":
            log.info("%s: up to date (hash %s), not recomputed", stage, h)
            self.results[stage] = status[1]
            return
        log.info("%s: %s run (hash %s)", stage, "resumed" if status[0] == "resume" else "fresh", h)
        t0 = time.perf_counter()
        summary, error = None, None
        if stage in SERIAL:
            if rank == 0:
                try:
                    summary = self._compute(stage, out, None)
                except Exception as err:  # re-raised on every rank below
                    error = err
                    log.error("%s failed: %s\n%s", stage, err, traceback.format_exc())
            if comm is not None:
                flag = comm.bcast(None if error is None else f"{type(error).__name__}: {error}")
                if flag is not None and error is None:
                    raise RuntimeError(f"stage {stage!r} failed on rank 0: {flag}")
                summary = comm.bcast(summary, root=0)
            if error is not None:
                raise error
        else:
            summary = self._compute(stage, out, comm)
        summary = _jsonable(summary)
        summary["stage_wall_s"] = time.perf_counter() - t0
        if comm is not None:
            summary = comm.bcast(summary, root=0)  # identical on all ranks (wall times differ)
        self.results[stage] = summary
        self.recomputed.append(stage)
        if rank == 0:
            (out / "summary.json").write_text(json.dumps(summary, indent=2))
            tmp = out / (MARKER + ".tmp")
            tmp.write_text(json.dumps({"hash": h, "summary": summary}, indent=2))
            tmp.replace(out / MARKER)
            log.info("%s: done in %.1f s", stage, summary["stage_wall_s"])
        if comm is not None:
            comm.barrier()
