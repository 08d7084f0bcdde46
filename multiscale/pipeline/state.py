"""Safe state in a run folder: atomic writes, a lock per run folder, and per-stage manifests.

Three rules the pipeline keeps with the helpers of this module:

* **Every state file is written atomically** (:func:`atomic_write_text`,
  :func:`atomic_write_json`): the text goes to a temporary file in the same folder, which is
  flushed, ``fsync``-ed and moved over the target with :func:`os.replace`. A reader sees the old
  file or the new one, never half of one; a power cut leaves at most a stray ``*.tmp`` file.
  :func:`read_json_state` turns a state file that is unreadable anyway (empty, garbage) into
  ``None`` with a logged warning instead of an exception.
* **A run folder is locked while a run holds it** (:class:`RunLock`): an exclusive
  :class:`filelock.FileLock` on ``run_dir/run.lock`` (``flock``; the kernel drops it when the
  holder dies) and, beside it, ``run_dir/run.lock.json`` naming the holder (PID, host, start
  time, command). A second run refuses at once with :class:`RunDirectoryLocked`; a lock left by
  a process that no longer runs is taken over with a warning.
* **Nothing the project did not write is deleted**: each stage folder keeps a manifest
  (``manifest.json``) of the entries the stage wrote; when the stage's inputs change, exactly
  those entries are moved aside to ``run_dir/<stage>.stale-<timestamp>/``
  (:func:`move_aside`), and anything else in the folder stays where it is.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "LOCK_FILE",
    "LOCK_INFO",
    "MANIFEST",
    "RunDirectoryLocked",
    "RunLock",
    "atomic_write_json",
    "atomic_write_text",
    "listing",
    "move_aside",
    "pid_alive",
    "read_json_state",
    "read_manifest",
    "write_manifest",
]

log = logging.getLogger("multiscale.pipeline")

#: name of the lock file in a run folder
LOCK_FILE = "run.lock"
#: name of the JSON file beside the lock that names its holder
LOCK_INFO = "run.lock.json"
#: name of a stage's manifest (entries of the stage folder the stage wrote)
MANIFEST = "manifest.json"


# ------------------------------------------------------------------------- atomic writes
def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, :func:`os.replace`).

    Parameters
    ----------
    path : str or Path
        Target file; its folder must exist.
    text : str
        The whole new content.
    encoding : str
        Text encoding.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (see :func:`atomic_write_text`).

    Parameters
    ----------
    path : str or Path
        Target file; its folder must exist.
    obj : JSON-serialisable object
        What to write (serialised before anything touches the disk, so an object that cannot
        be serialised leaves the old file as it was).
    indent : int or None
        Indentation of the JSON text.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def read_json_state(
    path: str | Path, what: str, consequence: str, logger: logging.Logger | None = None
) -> Any | None:
    """Read a JSON state file; ``None`` when it is missing or unreadable (never raises).

    Parameters
    ----------
    path : str or Path
        The state file.
    what : str
        What the file is, for the warning (e.g. ``"md completion marker"``).
    consequence : str
        What the caller does instead, for the warning (e.g. ``"the stage is run again"``).
    logger : logging.Logger, optional
        Where the warning goes (default: the ``multiscale.pipeline`` logger).

    Returns
    -------
    object or None
        The parsed JSON; None if the file does not exist (no warning) or cannot be read or
        parsed (an empty file after a power cut, garbage: a warning is logged).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        (logger or log).warning("%s %s is unreadable (%s); %s", what, path, err, consequence)
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        why = "empty" if not text.strip() else f"not valid JSON: {err}"
        (logger or log).warning("%s %s is %s; %s", what, path, why, consequence)
        return None


# ------------------------------------------------------------------------------ manifests
def listing(folder: str | Path) -> set[str]:
    """Names of the entries (files and folders) directly inside ``folder``; empty if absent."""
    try:
        return {p.name for p in Path(folder).iterdir()}
    except FileNotFoundError:
        return set()


def read_manifest(folder: str | Path) -> set[str]:
    """Entries of ``folder`` that its stage wrote, from ``folder/manifest.json``.

    An absent or unreadable manifest gives an empty set (with a warning if unreadable), so
    that nothing unknown is ever taken for the project's own output.
    """
    data = read_json_state(
        Path(folder) / MANIFEST,
        "manifest",
        "only the stage's known output names are treated as its own",
    )
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return set()
    # plain entry names only: nothing outside the folder can be named
    return {
        n
        for n in data["files"]
        if isinstance(n, str) and n not in ("", ".", "..") and "/" not in n and "\\" not in n
    }


def write_manifest(folder: str | Path, names: Iterable[str]) -> Path:
    """Write ``folder/manifest.json`` listing ``names`` (entries the stage wrote), atomically."""
    folder = Path(folder)
    files = sorted({*names, MANIFEST})
    return atomic_write_json(folder / MANIFEST, {"files": files, "written": _now()})


def move_aside(folder: str | Path, names: Iterable[str]) -> Path | None:
    """Move the entries ``names`` of ``folder`` to a new ``<folder>.stale-<timestamp>/``.

    Parameters
    ----------
    folder : str or Path
        A stage folder.
    names : iterable of str
        Entries directly inside ``folder`` (as in its manifest); those that do not exist are
        skipped. Nothing else in ``folder`` is touched.

    Returns
    -------
    pathlib.Path or None
        The folder they were moved to; None when none of them existed (no folder is made).
    """
    folder = Path(folder)
    present = sorted(n for n in set(names) if (folder / n).exists() or (folder / n).is_symlink())
    if not present:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder.parent / f"{folder.name}.stale-{stamp}"
    k = 1
    while True:
        try:
            target.mkdir()
            break
        except FileExistsError:
            target = folder.parent / f"{folder.name}.stale-{stamp}-{k}"
            k += 1
    for name in present:
        os.replace(folder / name, target / name)
    _fsync_dir(folder)
    return target


# ----------------------------------------------------------------------------------- lock
def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID runs on this host."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists but belongs to someone else
        return True
    except OSError:
        return False
    return True


def _describe(holder: dict | None) -> str:
    if not isinstance(holder, dict):
        return "another process (it has not written its details yet)"
    cmd = holder.get("command") or "?"
    return (
        f"PID {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
        f"{holder.get('started', '?')}, command: {cmd}"
    )


class RunDirectoryLocked(RuntimeError):
    """The run folder is held by another run.

    Attributes
    ----------
    run_dir : pathlib.Path
        The run folder.
    holder : dict or None
        ``pid``, ``host``, ``started``, ``command`` of the holder as written in
        ``run_dir/run.lock.json`` (None if it has not written them yet).
    """

    def __init__(self, message: str, run_dir: Path, holder: dict | None = None) -> None:
        super().__init__(message)
        self.run_dir = run_dir
        self.holder = holder


class RunLock:
    """An exclusive lock on a run folder, held by one process at a time.

    Parameters
    ----------
    run_dir : str or Path
        The run folder (created if needed). The lock is ``run_dir/run.lock``; the holder's
        PID, host, start time and command are written to ``run_dir/run.lock.json``.

    Attributes
    ----------
    stale_holder : dict or None
        After :meth:`acquire`: the details of an earlier holder whose lock was left behind
        (its process died without releasing it) and has been taken over; None otherwise. The
        caller decides where to log it (the pipeline writes it to its log).

    Notes
    -----
    The lock is a :class:`filelock.FileLock` (``flock`` on POSIX filesystems; the kernel
    releases it when the holder dies, however it dies; filelock falls back to a marker file
    where a filesystem lacks ``flock``). It is not re-entrant across instances: a second
    :class:`RunLock` on the same folder fails even in the same process.
    """

    def __init__(self, run_dir: str | Path) -> None:
        from filelock import FileLock

        self.run_dir = Path(run_dir)
        self.lock_path = self.run_dir / LOCK_FILE
        self.info_path = self.run_dir / LOCK_INFO
        self._lock = FileLock(str(self.lock_path), timeout=0, thread_local=False)
        self.stale_holder: dict | None = None
        self.info: dict | None = None

    @property
    def is_locked(self) -> bool:
        """Whether this instance holds the lock."""
        return self._lock.is_locked

    def acquire(self) -> RunLock:
        """Take the lock at once or raise :class:`RunDirectoryLocked` naming the holder.

        Returns
        -------
        RunLock
            self (so that ``with RunLock(d).acquire():`` also works).

        Raises
        ------
        RunDirectoryLocked
            Another run holds the folder.
        """
        from filelock import Timeout

        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            holder = read_json_state(self.info_path, "lock information", "the holder is unknown")
            raise RunDirectoryLocked(
                f"run folder {self.run_dir} is in use by another run: {_describe(holder)}. "
                "Wait for that run to finish (or stop it), or choose another run folder "
                "(--out).",
                self.run_dir,
                holder if isinstance(holder, dict) else None,
            ) from None
        try:
            old = read_json_state(
                self.info_path, "lock information", "it is replaced by this run's"
            )
            if isinstance(old, dict) and old.get("pid") is not None:
                self.stale_holder = dict(old)
                same_host = old.get("host") == socket.gethostname()
                self.stale_holder["alive"] = bool(same_host and pid_alive(old.get("pid")))
            self.info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": _now(),
                "command": shlex.join(getattr(sys, "orig_argv", None) or sys.argv),
            }
            atomic_write_json(self.info_path, self.info)
        except BaseException:
            self._lock.release()
            raise
        return self

    def stale_message(self) -> str | None:
        """A one-line description of the stale lock taken over by :meth:`acquire`, or None."""
        if self.stale_holder is None:
            return None
        why = (
            "that process no longer runs"
            if not self.stale_holder.get("alive")
            else "that PID runs but no longer holds the lock (PID reused)"
        )
        return (
            f"recovered a stale lock on {self.run_dir} left by {_describe(self.stale_holder)}: "
            f"{why}"
        )

    def release(self) -> None:
        """Release the lock (and remove ``run.lock.json`` if it still names this process)."""
        if not self._lock.is_locked:
            return
        try:
            cur = read_json_state(self.info_path, "lock information", "it is left in place")
            if isinstance(cur, dict) and self.info is not None and cur == self.info:
                self.info_path.unlink(missing_ok=True)
        finally:
            self._lock.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
