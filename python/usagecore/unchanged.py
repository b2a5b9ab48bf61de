"""Skip a backfill whose files did not change since the last complete one.

A backfill that finds nothing new still costs a third of a second: loading
DuckDB and opening the store. So after each complete run, the fingerprint of
the files it read (Rust: every file's path, size and modification time, the
same things the cursors look at) is kept beside the store in
`<store>.backfill.json`, with the store file's own stamp. The next run
fingerprints the files first; when both the files and the store are as they
were, every cursor would say "nothing new", and the run ends there without
loading DuckDB.

When it is not trusted, and a normal run follows:
* any file added, removed or changed (size or modification time);
* the store written by anything else since (its inode, size or mtime, or
  its WAL's, differ): a backfill of another source only adds, so it carries
  the other sources' entries over to the new stamp; nothing else does;
* a file changed within RACY_NS of the fingerprint (it could change again
  within the same timestamp tick, unseen);
* the run that wrote it left something to try again (a file it could not
  read, a database it could not open).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from usagecore import _core

# Modification times this close to the fingerprint are not trusted: file
# systems keep them in ticks (a few ms on Linux, 2 s on FAT).
RACY_NS = 2_000_000_000
VERSION = 1


@dataclass
class Snapshot:
    """The files of one backfill (source and roots), as found before it ran."""

    key: str
    fingerprint: str
    newest_mtime_ns: int
    taken_ns: int


def state_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".backfill.json")


def store_stamp(db_path: Path) -> list | None:
    """What changes whenever the store file is written, or replaced."""
    try:
        st = db_path.stat()
    except OSError:
        return None
    wal = db_path.with_name(db_path.name + ".wal")
    try:
        wst = wal.stat()
        wal_stamp = [wst.st_size, wst.st_mtime_ns]
    except OSError:
        wal_stamp = None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, wal_stamp]


def take(source: str, roots: list[str], read_paths: list[str], *, taken_ns: int | None = None) -> Snapshot:
    """Fingerprint `read_paths`, the files and folders a backfill of `source`
    over `roots` reads; `taken_ns`: when the backfill began, if earlier."""
    taken_ns = taken_ns or time.time_ns()
    fingerprint, newest, _files = _core.fingerprint(read_paths)
    return Snapshot(key="\x1f".join([source, *roots]), fingerprint=fingerprint, newest_mtime_ns=newest,
                    taken_ns=taken_ns)


def _load(db_path: Path) -> dict:
    try:
        state = json.loads(state_path(db_path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or state.get("v") != VERSION or not isinstance(state.get("runs"), dict):
        return {}
    return state["runs"]


def last_run(db_path: Path, snapshot: Snapshot) -> dict | None:
    """The summary of the last complete run over the same files, when the
    files and the store are as that run left them; else None."""
    run = _load(db_path).get(snapshot.key)
    if not isinstance(run, dict) or run.get("fingerprint") != snapshot.fingerprint:
        return None
    if run.get("store") is None or run.get("store") != store_stamp(db_path):
        return None
    return run


def record(db_path: Path, snapshot: Snapshot | None, store_before: list | None, files: int) -> None:
    """After a run that committed, with the store closed and its lock still
    held: carry the entries still valid before the run over to the store's
    new stamp, and add this run's (unless it cannot be trusted: `snapshot`
    None, or a file changed too recently). Best effort: without the file,
    runs simply do not skip."""
    runs = _load(db_path)
    after = store_stamp(db_path)
    kept = {key: {**run, "store": after} for key, run in runs.items()
            if isinstance(run, dict) and store_before is not None and run.get("store") == store_before}
    if snapshot is not None:
        kept.pop(snapshot.key, None)
        if snapshot.newest_mtime_ns < snapshot.taken_ns - RACY_NS:
            kept[snapshot.key] = {"fingerprint": snapshot.fingerprint, "store": after, "files": files}
    path = state_path(db_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"v": VERSION, "runs": kept}))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
