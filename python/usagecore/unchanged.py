"""Skip a backfill whose files did not change since the last complete one.

A backfill that finds nothing new still costs a third of a second: loading
DuckDB and opening the store. So after each complete run, the fingerprint of
the files it read (Rust: every file's path, size and modification time, the
same things the cursors look at) is kept beside the store in
`<store>.backfill.state`, with the store file's own stamp. The next run
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

Such a run is answered before click and the commands load (`answer`,
called by `usagecore.entry`): they would be most of its time. So this
module imports little: no dataclasses, typing or threading, and neither
pathlib nor json (with the `re` they load, a quarter of such a run): paths
are strings, and the state file is written with `marshal`.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

from usagecore import _core

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

# Modification times this close to the fingerprint are not trusted: file
# systems keep them in ticks (a few ms on Linux, 2 s on FAT).
RACY_NS = 2_000_000_000
VERSION = 2


# What a backfill of each source reads when given no paths (a function of
# `config`), and what to call it.
DEFAULT_ROOTS = {
    "claude_code": ("claude_project_roots", "transcripts"),
    "codex": ("codex_rollout_roots", "rollouts"),
    "opencode": ("opencode_data_roots", "OpenCode databases"),
}


class Snapshot:
    """The files of one backfill (source and roots), as found before it ran."""

    def __init__(self, key: str, fingerprint: str, newest_mtime_ns: int, taken_ns: int):
        self.key, self.fingerprint = key, fingerprint
        self.newest_mtime_ns, self.taken_ns = newest_mtime_ns, taken_ns


def default_roots(source: str) -> list[str]:
    from usagecore import config

    return getattr(config, DEFAULT_ROOTS[source][0])()


def absolute(roots: list[str | Path]) -> list[str]:
    """Absolute paths, spelled as pathlib's `absolute()` spells them (empty
    and `.` parts dropped, `..` kept): cursors and source_ref must not
    depend on the working directory, nor change with this module."""
    out = []
    for root in roots:
        path = os.path.expanduser(os.fspath(root))
        if not os.path.isabs(path):
            path = os.path.join(os.getcwd(), path)
        out.append("/" + "/".join(part for part in path.split("/") if part not in ("", ".")))
    return out


def opencode_sources(roots: list[str | Path]) -> tuple[list[str], list[str]]:
    """OpenCode databases (`opencode.db`, `opencode-<channel>.db`) and legacy
    `storage/` folders under `roots` (a data folder, or those given directly)."""
    databases: list[str] = []
    storages: list[str] = []
    for root in absolute(roots):
        if os.path.isfile(root):
            databases.append(root)
        elif os.path.basename(root) == "storage" and os.path.isdir(os.path.join(root, "message")):
            storages.append(root)
        elif os.path.isdir(root):
            try:
                names = os.listdir(root)
            except OSError:
                names = []
            found = (os.path.join(root, name) for name in names if name.startswith("opencode") and name.endswith(".db"))
            databases += sorted(path for path in found if os.path.isfile(path))
            if os.path.isdir(os.path.join(root, "storage", "message")):
                storages.append(os.path.join(root, "storage"))
    return list(dict.fromkeys(databases)), list(dict.fromkeys(storages))


def read_paths(source: str, roots: list[str | Path]) -> list[str]:
    """What a backfill of `source` over `roots` reads: for the JSONL sources
    the roots themselves; for OpenCode its databases with their write-ahead
    logs (not the shared-memory file, which readers write) and the legacy
    trees' message folders."""
    if source != "opencode":
        return absolute(roots)
    databases, storages = opencode_sources(roots)
    return databases + [db + "-wal" for db in databases] + [os.path.join(s, "message") for s in storages]


def unchanged_line(source: str, files: int, seconds: float) -> str:
    """The summary line of a backfill that found nothing changed."""
    return f"{source}: {files} files, unchanged since the last backfill ({seconds:.2f} s)"


def state_path(db_path: str | Path) -> str:
    return os.fspath(db_path) + ".backfill.state"


def store_stamp(db_path: str | Path) -> list | None:
    """What changes whenever the store file is written, or replaced."""
    try:
        st = os.stat(db_path)
    except OSError:
        return None
    try:
        wst = os.stat(os.fspath(db_path) + ".wal")
        wal_stamp = [wst.st_size, wst.st_mtime_ns]
    except OSError:
        wal_stamp = None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, wal_stamp]


def take(source: str, roots: list[str | Path], *, taken_ns: int | None = None) -> Snapshot:
    """Fingerprint the files and folders a backfill of `source` over `roots`
    reads (`read_paths`); `taken_ns`: when the backfill began, if earlier."""
    taken_ns = taken_ns or time.time_ns()
    fingerprint, newest, _files = _core.fingerprint(read_paths(source, roots))
    return Snapshot(key="\x1f".join([source, *absolute(roots)]), fingerprint=fingerprint, newest_mtime_ns=newest,
                    taken_ns=taken_ns)


def _load(db_path: str | Path) -> dict:
    try:
        with open(state_path(db_path), "rb") as file:
            state = marshal.load(file)
    except (OSError, EOFError, ValueError, TypeError):  # missing, cut off, or not ours
        return {}
    if not isinstance(state, dict) or state.get("v") != VERSION or not isinstance(state.get("runs"), dict):
        return {}
    return state["runs"]


def last_run(db_path: str | Path, snapshot: Snapshot) -> dict | None:
    """The summary of the last complete run over the same files, when the
    files and the store are as that run left them; else None."""
    run = _load(db_path).get(snapshot.key)
    if not isinstance(run, dict) or run.get("fingerprint") != snapshot.fingerprint:
        return None
    if run.get("store") is None or run.get("store") != store_stamp(db_path):
        return None
    return run


def record(db_path: str | Path, snapshot: Snapshot | None, store_before: list | None, files: int) -> None:
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
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as file:
            marshal.dump({"v": VERSION, "runs": kept}, file)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def answer(args: list[str]) -> bool:
    """Answer `usagecore [--db DB] backfill [SOURCE] [--json]` (`--json`
    only with a source) when nothing changed since the last run: print what
    the command would, and return True. Any other command line, and any
    change (or no store, or a source with no files, which the command
    explains), is left to the command: False, nothing printed."""
    db = None
    if args[:1] == ["--db"] and len(args) > 2:
        db, args = args[1], args[2:]
    elif args[:1] and args[0].startswith("--db="):
        db, args = args[0].removeprefix("--db="), args[1:]
    as_json = "--json" in args
    rest = [arg for arg in args[1:] if arg != "--json"]
    named = {"claude": "claude_code", "codex": "codex", "opencode": "opencode"}
    if (args[:1] != ["backfill"] or len(rest) > 1 or len(args) - len(rest) > 2
            or (rest and rest[0] not in named) or (as_json and not rest)):
        return False
    from usagecore import config

    db_path = db if db is not None else config.default_db_file()
    if not os.path.isfile(db_path):
        return False
    found = []
    for source in [named[rest[0]]] if rest else list(DEFAULT_ROOTS):
        started = time.perf_counter()
        roots = default_roots(source)
        # Without a source, the command leaves out the agents not installed here.
        if not rest and source != "claude_code" and not any(os.path.exists(r) for r in roots):
            continue
        last = last_run(db_path, take(source, roots))
        if last is None or not last.get("files"):
            return False
        found.append((source, last["files"], time.perf_counter() - started))
    if as_json:
        import json

        from usagecore.backfill import Summary

        source, files, seconds = found[0]
        summary = Summary(source=source, files=files, unchanged=True, seconds=seconds)
        print(json.dumps(summary.as_dict(), ensure_ascii=False, separators=(",", ":")))
    else:
        print("\n".join(unchanged_line(*each) for each in found), file=sys.stderr)
    return True
