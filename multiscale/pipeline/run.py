"""The :class:`Pipeline`: stages in order, each cached by a hash of its inputs, resumable.

A run folder is safe to reuse (see :mod:`.state`): a run holds a lock on it for its whole
duration, every state file is written atomically, and files the project did not write are never
moved or deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import STAGE_ORDER, STAGES, load_config
from .state import (
    MANIFEST,
    RunDirectoryLocked,
    RunLock,
    atomic_write_json,
    atomic_write_text,
    listing,
    move_aside,
    read_json_state,
    read_manifest,
    write_manifest,
)

__all__ = ["Pipeline", "RunDirectoryLocked", "StageSkipped"]

log = logging.getLogger("multiscale.pipeline")

#: upstream stages whose outputs a stage reads (extract also reads umbrella when it is enabled)
UPSTREAM = {
    "qmml": (),
    "md": (),
    "umbrella": ("md",),
    "extract": ("md",),
    "continuum": ("extract",),
}
SERIAL = ("qmml", "md", "extract")
MARKER = "done.json"
INPUTS = "inputs.json"
SUMMARY = "summary.json"
#: state files the pipeline writes in every stage folder
STATE_FILES = (MARKER, INPUTS, SUMMARY, MANIFEST)
#: names each stage writes (also its temporary files), so that a stage killed before it could
#: record its manifest is still cleaned up by name; anything a finished stage wrote is also
#: found by comparing the folder's listing before and after the stage
KNOWN_OUTPUTS = {
    "qmml": ("trajectory.traj", "continuity_monitor.csv", "md_log.csv", "drag.npz",
             "continuity_drag.png", "qmml_md.png"),
    "md": ("trajectory.traj", "trajectory.extxyz", "tmp_trajectory.traj",
           "tmp_trajectory.extxyz", "thermo.dat", "thermo.dat.tmp", "checkpoint.npz",
           "checkpoint.npz.tmp", "last_good.traj", "thermo.png", "integrity.csv",
           "integrity_events.csv", "prepare"),
    "extract": ("profile.h5", "profile.png"),
    "continuum": ("np_1d.png", "pit.bp", "pit.png"),
    "umbrella": ("windows",),
}  # fmt: skip
#: name patterns of outputs a stage writes per item (the umbrella stage: one file per ion)
KNOWN_PATTERNS = {"umbrella": ("umbrella_*.json", "umbrella_*.png")}
#: extract keys that decide which ions free MD leaves out: the umbrella stage's inputs when
#: umbrella.species = [] (it samples those ions)
EXTRACT_SELECTION_KEYS = ("species", "bin_width_A", "z_margin_A", "range_start",
                          "fine_bin_width_A", "lags", "n_blocks", "parallel", "discard",
                          "discard_frames", "water_model", "ion_charges")  # fmt: skip
#: keys added to a section after runs of it existed, with the value that reproduces what those
#: runs did: while a key holds it, it stays out of the stage's hash, so that a run folder made
#: before the key existed is not recomputed (a new md key must not throw away hours of MD)
HASH_NEUTRAL_DEFAULTS: dict[str, dict[str, Any]] = {
    "md": {"fix_metal": False},
    "extract": {"perp_lags": [], "remove_liquid_drift": False},
}
#: config keys that may change while a stage resumes its own earlier outputs (md: a larger
#: ``steps`` continues the run from its checkpoint)
RESUMABLE_KEYS = {
    "md": ("steps",),
    # longer windows continue from their checkpoints; the analysis keys only re-analyse them
    "umbrella": (
        "window_ps",
        "discard_ps",
        "n_blocks",
        "bin_width_A",
        "min_bin_samples",
        "integrity",
    ),
}


def _known(folder: Path, stage: str) -> set[str]:
    """Entries of ``folder`` that ``stage`` writes, by name or name pattern."""
    names = set(KNOWN_OUTPUTS.get(stage, ()))
    for pattern in KNOWN_PATTERNS.get(stage, ()):
        names |= {p.name for p in folder.glob(pattern)}
    return names


def _model_fingerprints(section: Any) -> dict[str, str | None]:
    """SHA-256 of the model files a config section's calculators load.

    ``default:NAME`` specs (anywhere in the section, fallbacks included) give the shipped
    files' committed hashes (``models/SHA256SUMS``); other calculators are named by the
    registry and have no model file.
    """
    from multiscale.mlip.default_models import DEFAULT_MODELS, shipped_hashes

    found: dict[str, str | None] = {}

    def walk(v: Any) -> None:
        if isinstance(v, Mapping):
            for key, item in v.items():
                if key == "model" and isinstance(item, str):
                    if item.startswith("default:") and item[8:] in DEFAULT_MODELS:
                        committed = shipped_hashes()
                        for f in DEFAULT_MODELS[item[8:]][0]:
                            found[f] = committed.get(f)
                walk(item)
        elif isinstance(v, list | tuple):
            for item in v:
                walk(item)

    walk(section)
    return found


class StageSkipped(RuntimeError):
    """A stage could not run because an upstream stage has no outputs."""


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _checkpoint_step(path: Path) -> int | None:
    """Step of an md checkpoint; None if there is none; -1 if it cannot be read."""
    if not path.is_file():
        return None
    import numpy as np

    try:
        with np.load(path) as data:
            return int(data["step"])
    except (OSError, ValueError, KeyError, EOFError):
        return -1


class Pipeline:
    """The qmml → md → (umbrella →) extract → continuum pipeline on one run directory.

    Parameters
    ----------
    config : mapping, str or Path
        Configuration (dict, or path of a TOML file); validated up front, see
        :func:`multiscale.pipeline.load_config` and docs/pipeline.md.
    run_dir : str or Path
        Run directory; stage ``s`` writes to ``run_dir/s/``. The configuration is copied to
        ``run_dir/config.json``, the log to ``run_dir/pipeline.log``.
    allow_import : bool
        Allow calculator specs that import an arbitrary ``module:Name`` (passed to
        :func:`~multiscale.pipeline.load_config`); only for configurations you trust.
    config_text : str, optional
        The configuration's original text (e.g. TOML); written to ``run_dir/config.toml``
        once the run holds the folder's lock.

    Attributes
    ----------
    config : dict
        The validated configuration (defaults filled in).
    results : dict
        ``{stage: summary}`` of every stage run or found up to date.
    recomputed : list of str
        Stages actually computed by the last :meth:`run` (the others were up to date).
    moved_aside : dict
        ``{stage: folder}``: where the last :meth:`run` moved a stage's earlier outputs.
    report : pathlib.Path or None
        ``run_dir/report.md`` after :meth:`run`.

    Notes
    -----
    A stage is recomputed only when the hash of its inputs (its config section, the run seed
    and the hashes of the stages it reads) differs from the one in its ``done.json``. A stage
    that was interrupted keeps its folder when its inputs are unchanged, so the md stage
    resumes from its last checkpoint; a larger ``md.steps`` also continues the md run from its
    checkpoint (its downstream stages are recomputed). The umbrella stage (only with
    ``[umbrella] enabled = true``; it runs with extract, which reads it) resumes its windows
    from their checkpoints likewise, also after a larger ``umbrella.window_ps``. With other
    changed inputs the outputs
    the stage wrote (its ``manifest.json``) are moved to ``run_dir/<stage>.stale-<time>/``;
    files in the stage folder that the project did not write stay where they are.

    :meth:`run` holds a lock on ``run_dir`` (see :class:`~multiscale.pipeline.state.RunLock`):
    a second run on the same folder raises :class:`RunDirectoryLocked` at once.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | str | Path,
        run_dir: str | Path,
        *,
        allow_import: bool = False,
        config_text: str | None = None,
    ) -> None:
        if not isinstance(allow_import, bool):
            raise TypeError(f"allow_import must be True or False, got {allow_import!r}")
        if config_text is not None and not isinstance(config_text, str):
            raise TypeError(f"config_text must be a str or None, got {type(config_text).__name__}")
        if not isinstance(run_dir, str | Path) or not str(run_dir):
            raise TypeError(f"run_dir must be a non-empty str or Path, got {run_dir!r}")
        self.config = load_config(config, allow_import=allow_import)
        self.run_dir = Path(run_dir)
        self.config_text = config_text
        self.results: dict[str, dict] = {}
        self.recomputed: list[str] = []
        self.moved_aside: dict[str, Path] = {}
        self.report: Path | None = None
        self._hashes: dict[str, str] = {}
        self._before: set[str] = set()  # stage folder listing before the stage ran
        self._own: set[str] = set()  # entries of the stage folder the pipeline wrote
        self.rank = 0  #: rank of this process in the communicator of the last run

    # ------------------------------------------------------------------ hashing / markers
    def umbrella_enabled(self) -> bool:
        """Whether the config has ``[umbrella]`` with ``enabled = true`` (else the stage is off
        and nothing depends on it)."""
        return bool(self.config.get("umbrella", {}).get("enabled"))

    def _upstream(self, stage: str) -> tuple[str, ...]:
        if stage == "extract" and self.umbrella_enabled():
            return (*UPSTREAM[stage], "umbrella")
        return UPSTREAM[stage]

    def _hash_parts(self, stage: str) -> dict[str, Any]:
        neutral = HASH_NEUTRAL_DEFAULTS.get(stage, {})
        section = {
            k: v
            for k, v in self.config[stage].items()
            if not (k in neutral and v == neutral[k] and type(v) is type(neutral[k]))
        }
        parts = {
            "section": section,
            "seed": self.config["run"]["seed"],
            "upstream": {u: self._hashes.get(u) for u in self._upstream(stage)},
        }
        if stage == "umbrella" and not self.config[stage]["species"]:
            ex = self.config.get("extract") or {}
            parts["extract_selection"] = {k: ex.get(k) for k in EXTRACT_SELECTION_KEYS}
        models = _model_fingerprints(self.config[stage])
        if models:
            # a rebuilt model changes the results under an unchanged config
            parts["model_files"] = models
        if stage == "extract" and self.config[stage]["reference_profile"]:
            from .config import resolve_reference_profile

            p = resolve_reference_profile(self.config[stage]["reference_profile"])
            parts["reference_file"] = hashlib.sha256(p.read_bytes()).hexdigest()
        if stage == "continuum" and self.config[stage]["profile"]:
            p = self._input_path(stage)
            parts["profile_file"] = (
                hashlib.sha256(p.read_bytes()).hexdigest() if p is not None else None
            )
        return parts

    @staticmethod
    def _digest(parts: Mapping[str, Any]) -> str:
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def stage_hash(self, stage: str) -> str:
        """Hash of everything the stage's outputs depend on."""
        return self._digest(self._hash_parts(stage))

    def resume_key(self, stage: str) -> str:
        """Hash of the inputs a stage's earlier, unfinished or shorter, outputs must share to be
        continued rather than moved aside: :meth:`stage_hash` without ``md.steps`` (and the
        umbrella stage's :data:`RESUMABLE_KEYS` and extract selection: the windows of an ion
        depend on neither, so they are resumed, not rerun; with ``umbrella.start_ps`` > 0 not
        on the md stage's ``steps`` either)."""
        parts = self._hash_parts(stage)
        if stage == "umbrella" and self.config[stage]["start_ps"] > 0 and "md" in self.config:
            # windows that start from an md frame at a fixed time depend on the md run up to
            # that frame only: a longer md run (md.steps) keeps them (config checks the frame)
            parts["upstream"] = {**parts["upstream"], "md": self.resume_key("md")}
        drop = RESUMABLE_KEYS.get(stage, ())
        parts["section"] = {k: v for k, v in parts["section"].items() if k not in drop}
        parts.pop("extract_selection", None)
        return self._digest(parts)

    def stage_dir(self, stage: str) -> Path:
        """Output folder of ``stage``."""
        return self.run_dir / stage

    def _read_marker(self, stage: str) -> dict | None:
        p = self.stage_dir(stage) / MARKER
        marker = read_json_state(p, f"{stage}: completion marker", "the stage counts as not done")
        if marker is None:
            return None
        if not isinstance(marker, dict) or "hash" not in marker or "summary" not in marker:
            log.warning("%s: completion marker %s is incomplete; the stage counts as not done",
                        stage, p)  # fmt: skip
            return None
        return marker

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
        bad = [s for s in wanted if s not in STAGE_ORDER]
        if bad:
            raise ValueError(f"unknown stage(s) {bad}; the stages are {list(STAGE_ORDER)}")
        missing = [s for s in wanted if s not in self.config]
        if missing and stages is not None:
            raise ValueError(f"stage(s) {missing} have no [{missing[0]}] section in the config")
        if "umbrella" in wanted and "umbrella" in self.config and not self.umbrella_enabled():
            if stages is not None:
                raise ValueError(
                    "stage 'umbrella' is not enabled: set enabled = true in [umbrella]"
                )
            wanted.remove("umbrella")
        selected = [s for s in STAGES if s in wanted and s in self.config]
        if self.umbrella_enabled() and ("umbrella" in wanted or "extract" in selected):
            selected.append("umbrella")  # the ions free MD leaves out, for the extract stage
        return [s for s in STAGE_ORDER if s in selected]

    def _active(self, stage: str) -> bool:
        """Whether ``stage`` is part of this configuration (its section present, and for the
        umbrella stage enabled)."""
        return stage in self.config and (stage != "umbrella" or self.umbrella_enabled())

    def _input_path(self, stage: str) -> Path | None:
        if stage == "continuum":
            if self.config["continuum"]["profile"]:
                from .config import resolve_profile

                return resolve_profile(self.config["continuum"]["profile"], "continuum.profile")
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
        if stage == "umbrella":
            from .umbrella_stage import run_umbrella

            md = self.results.get("md") or self._need("md", stage)
            return run_umbrella(
                cfg, md, self.stage_dir("md"), out, comm, progress, md_cfg=self.config["md"],
                seed=seed, extract_cfg=self.config.get("extract"),
            )  # fmt: skip
        if stage == "extract":
            md = self.results.get("md") or self._need("md", stage)
            umbrella = None
            if self.umbrella_enabled():
                umbrella = self.results.get("umbrella") or self._need("umbrella", stage)
            return st.run_extract(
                cfg, md, self.stage_dir("md"), out, progress, umbrella=umbrella,
                umbrella_dir=self.stage_dir("umbrella"),
            )  # fmt: skip
        if stage == "continuum":
            return st.run_continuum(cfg, self._input_path(stage), out, comm)
        raise ValueError(stage)

    def _need(self, upstream: str, stage: str) -> dict:
        marker = self._read_marker(upstream)
        if marker is None:
            raise StageSkipped(f"stage {stage!r} needs the outputs of {upstream!r}: run it first")
        return marker["summary"]

    def _lock(self, comm) -> RunLock | None:
        """Rank 0 takes the run folder's lock; the outcome reaches every rank before any other
        collective call, so that all ranks raise together when the folder is in use."""
        rank = comm.rank if comm is not None else 0
        lock, failure, error = None, None, None
        if rank == 0:
            try:
                lock = RunLock(self.run_dir).acquire()
            except RunDirectoryLocked as err:
                error, failure = err, ("locked", str(err), err.holder)
            except Exception as err:  # e.g. the folder cannot be created: tell the others
                error, failure = err, ("error", f"{type(err).__name__}: {err}", None)
        if comm is not None:
            failure = comm.bcast(failure, root=0)
        if error is not None:
            raise error
        if failure is not None:
            kind, message, holder = failure
            if kind == "locked":
                raise RunDirectoryLocked(message, self.run_dir, holder)
            raise RuntimeError(f"rank 0 could not lock the run folder {self.run_dir}: {message}")
        return lock

    def run(self, stages: Sequence[str] | None = None, comm=None) -> dict[str, dict]:
        """Run the selected stages (default: ``run.stages`` of the config) in order.

        Parameters
        ----------
        stages : sequence of str, optional
            Subset of ``qmml``, ``md``, ``umbrella``, ``extract``, ``continuum`` (run in that
            order); with ``[umbrella] enabled = true`` the umbrella stage runs with extract.
        comm : mpi4py communicator, optional
            Communicator of all ranks running the pipeline. Serial stages run on its rank 0
            while the others wait; the umbrella (its windows) and continuum stages run on all
            ranks; files are written by rank 0. None: ``MPI.COMM_WORLD`` (so that
            ``mpiexec -n N multiscale run`` works; a plain serial run is a world of one rank).

        Returns
        -------
        dict
            ``{stage: summary}`` (also :attr:`results`).

        Raises
        ------
        RunDirectoryLocked
            Another run holds ``run_dir`` (on every rank; nothing was written).
        StageSkipped
            A selected stage needs outputs of a stage that has not run.
        """
        selected = self._select(stages)
        if comm is None:
            try:
                from .continuum_adapter import world

                comm = world()
            except ImportError:  # no mpi4py: serial stages only
                if "continuum" in selected or "umbrella" in selected:
                    raise
        rank = comm.rank if comm is not None else 0
        self.rank = rank
        lock = self._lock(comm)
        handler = None
        try:
            handler = self._setup_logging() if rank == 0 else None
            self.recomputed = []
            self.moved_aside = {}
            if lock is not None:
                stale = lock.stale_message()
                if stale:
                    log.warning(stale)
            if rank == 0:
                atomic_write_json(self.run_dir / "config.json", self.config)
                if self.config_text is not None:
                    atomic_write_text(self.run_dir / "config.toml", self.config_text)
            for stage in STAGE_ORDER:
                if not self._active(stage):
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
            if lock is not None:
                lock.release()
        return self.results

    def _prepare(self, stage: str, h: str) -> tuple[str, Any]:
        """Rank 0: decide whether ``stage`` is cached, resumed or run fresh; set its folder up.

        Returns ``("cached", summary)``, ``("resume", None)`` or ``("fresh", None)``.
        """
        out = self.stage_dir(stage)
        marker = self._read_marker(stage)
        if marker is not None and marker.get("hash") == h:
            return "cached", marker["summary"]
        key = self.resume_key(stage)
        old = None
        if out.is_dir():
            old = read_json_state(
                out / INPUTS, f"{stage}: inputs record", "its outputs are not resumed"
            )
        same = isinstance(old, dict) and (
            old.get("resume_key") == key if "resume_key" in old else old.get("hash") == h
        )
        why = "inputs changed"
        if not isinstance(old, dict):
            why = "no readable record of the inputs of its earlier outputs"
        if same and stage == "umbrella":
            from .umbrella_stage import checkpoints_beyond, window_steps

            steps = window_steps(self.config["umbrella"], self.config["md"])
            if checkpoints_beyond(out, steps):
                same, why = False, "umbrella.window_ps is shorter than the windows already run"
                log.info("umbrella: %s: the earlier outputs are moved aside", why)
        if same and stage == "md":
            ck = _checkpoint_step(out / "checkpoint.npz")
            steps = self.config["md"]["steps"]
            if ck == -1:
                same, why = False, "its checkpoint cannot be read"
                log.warning("md: %s is unreadable; starting fresh", out / "checkpoint.npz")
            elif ck is not None and ck > steps:
                same = False
                why = f"md.steps={steps} is below the checkpoint's step {ck}"
                log.info("md: %s: the earlier outputs are moved aside and the run starts "
                         "fresh", why)  # fmt: skip
        own = read_manifest(out) | _known(out, stage) | set(STATE_FILES)
        if not same and out.is_dir():
            kept = sorted(listing(out) - own)
            moved = move_aside(out, own)
            if moved is not None:
                self.moved_aside[stage] = moved
                log.info("%s: %s; moved its earlier outputs to %s", stage, why, moved)
            if kept:
                log.info("%s: left in place (not written by the pipeline): %s", stage,
                         ", ".join(kept))  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).unlink(missing_ok=True)
        self._before = listing(out)
        self._own = (read_manifest(out) if same else set()) | (_known(out, stage) & self._before)
        write_manifest(out, self._own | {INPUTS})
        atomic_write_json(
            out / INPUTS, {"hash": h, "resume_key": key, "config": self.config[stage]}
        )
        return ("resume" if same else "fresh"), None

    def _run_stage(self, stage: str, h: str, comm) -> None:
        rank = comm.rank if comm is not None else 0
        out = self.stage_dir(stage)
        status = self._prepare(stage, h) if rank == 0 else None
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
        if stage in self.moved_aside:
            summary["moved_aside"] = str(self.moved_aside[stage])
        if comm is not None:
            summary = comm.bcast(summary, root=0)  # identical on all ranks (wall times differ)
        self.results[stage] = summary
        self.recomputed.append(stage)
        if rank == 0:
            # the manifest first, the completion marker last
            written = (listing(out) - self._before) | (_known(out, stage) & listing(out))
            write_manifest(out, self._own | written | {INPUTS, SUMMARY, MARKER})
            atomic_write_json(out / SUMMARY, summary)
            atomic_write_json(out / MARKER, {"hash": h, "summary": summary})
            log.info("%s: done in %.1f s", stage, summary["stage_wall_s"])
        if comm is not None:
            comm.barrier()
