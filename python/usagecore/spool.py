"""The spool: payloads waiting to be stored, one file each, durable before
anybody is told they were received.

Layout (like a maildir, so a reader never sees a partial file):

    spool/tmp/          being written; never read
    spool/new/          complete payloads, renamed here atomically
    spool/quarantine/   payloads the drain could not understand, each with NAME.reason

A spool file is one line of JSON (the header), a newline, then the payload
bytes exactly as received (they may be binary, e.g. OTLP protobuf). Header
keys: `v` (1), `source` (claude_code | codex | opencode | otlp), `channel`
(hook | notify | plugin | otlp), `received_at_ns`, `account_id` (or null),
and whatever the channel adds (`content_type`, `path`, `user_id`, ...).

Names are `{received_ns:019d}-{pid}-{8 hex}.{source}.{channel}`: sorted names
are arrival order, and two writers in the same nanosecond still differ by pid
and random suffix (the file is also created with O_EXCL).

Imported by the hook path, which pays for every module it loads: `write`
needs only `os` and `time` (no `json`, which brings `re`; no `pathlib`).
"""

from __future__ import annotations

import os
import time

from usagecore.config import spool_dir, spool_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

HEADER_VERSION = 1


def _dirs(root: Path | None) -> tuple[Path, Path, Path, Path]:
    root = root or spool_dir()
    return root, root / "tmp", root / "new", root / "quarantine"


def _json(value: object) -> str:
    """`json.dumps(value)`, without importing json for what headers hold:
    numbers, null, booleans and plain printable ASCII strings."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is str and value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    import json

    return json.dumps(value)


def deliver(source: str, channel: str, body: bytes, *, root: str | None = None,
            received_at_ns: int | None = None, **header: object) -> str:
    """Spool `body` durably; return the file's path in `new/` (`write`, for the hook path)."""
    root = root or spool_root()
    tmp, new = os.path.join(root, "tmp"), os.path.join(root, "new")
    received_at_ns = received_at_ns or time.time_ns()
    name = f"{received_at_ns:019d}-{os.getpid()}-{os.urandom(4).hex()}.{source}.{channel}"
    head = {"v": HEADER_VERSION, "source": source, "channel": channel,
            "received_at_ns": received_at_ns, "account_id": None, **header}
    line = "{" + ",".join(f"{_json(key)}:{_json(value)}" for key, value in head.items()) + "}\n"
    data = line.encode() + body
    for folder in (tmp, new):
        os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(tmp, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        # Durable before it is visible: after the rename the payload survives
        # a machine crash, not only our process dying.
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(os.path.join(tmp, name), os.path.join(new, name))
    return os.path.join(new, name)


def write(source: str, channel: str, body: bytes, *, root: Path | None = None,
          received_at_ns: int | None = None, **header: object) -> Path:
    """Spool `body` durably; return the file's path in `new/`."""
    from pathlib import Path

    return Path(deliver(source, channel, body, root=str(root) if root else None,
                        received_at_ns=received_at_ns, **header))


def pending(root: Path | None = None, limit: int | None = None) -> list[Path]:
    """Complete spool files, oldest first."""
    _, _, new, _ = _dirs(root)
    try:
        names = sorted(entry.name for entry in os.scandir(new) if not entry.name.startswith("."))
    except FileNotFoundError:
        return []
    return [new / name for name in (names[:limit] if limit else names)]


# A file still in tmp/ after this long was left by a writer that died, or by a
# machine crash that lost the rename (the folder is not fsynced after it),
# unless its writer is known to be alive (`_writer`).
STALE_TMP_S = 60
# Every spool file this process makes is named after this.
_LOADED_NS = time.time_ns()


def _writer(name: str) -> str:
    """Whether the process that created spool file `name` (`{ns}-{pid}-...`)
    is "gone", known "alive" (this process, or one with that pid that started
    before the file was created: `usagecore serve` keeps segments prepared
    ahead in tmp/ for as long as it runs), or "unknown" (no /proc to tell a
    reused pid)."""
    try:
        stamp_ns, pid = (int(part) for part in name.split("-")[:2])
        if pid == os.getpid():
            # Ours (`usagecore serve` draining beside its receiver), unless
            # made before this module was: then the pid was another's.
            return "alive" if stamp_ns >= _LOADED_NS - 2 * 10**9 else "gone"
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except (ValueError, OSError):
        return "unknown"
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # Field 22, in clock ticks after boot; the name in field 2 may hold spaces.
            started_ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/stat", "rb") as machine:
            boot_s = next(int(line.split()[1]) for line in machine if line.startswith(b"btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return "unknown"
    started_ns = (boot_s * 10**9) + started_ticks * 10**9 // os.sysconf("SC_CLK_TCK")
    # `btime` has whole seconds: a margin, or a file made in a process's first
    # second would look older than it.
    return "alive" if started_ns <= stamp_ns + 2 * 10**9 else "gone"


def recover(root: Path | None = None, older_than_s: float = STALE_TMP_S) -> int:
    """Move files left in tmp/ into new/ — those whose writer process is gone
    at once (`usagecore serve` acknowledges requests from a segment it is still
    appending to in tmp/), those whose writer cannot be told after
    `older_than_s` — so the drain stores them (or, if they were cut short,
    quarantines them with the reason). Returns how many."""
    import time

    _, tmp, new, _ = _dirs(root)
    moved = 0
    try:
        entries = list(os.scandir(tmp))
    except FileNotFoundError:
        return 0
    cutoff = time.time() - older_than_s
    for entry in entries:
        try:
            writer = _writer(entry.name)
            if entry.is_file() and (writer == "gone" or writer == "unknown" and entry.stat().st_mtime < cutoff):
                os.rename(entry.path, new / entry.name)
                moved += 1
        except FileNotFoundError:
            continue  # its writer finished meanwhile, or another drain took it
    return moved


class Unreadable(ValueError):
    """A spool file without a valid header."""


def read(path: Path) -> tuple[dict, bytes]:
    """The header and the payload of a spool file."""
    import json

    data = path.read_bytes()
    line, sep, body = data.partition(b"\n")
    try:
        header = json.loads(line)
    except ValueError as err:
        raise Unreadable(f"spool header is not JSON: {err}") from err
    if not sep or not isinstance(header, dict) or header.get("v") != HEADER_VERSION:
        raise Unreadable("spool header missing or of an unknown version")
    return header, body


def quarantine(path: Path, reason: str, root: Path | None = None) -> Path:
    """Move a payload aside with the reason it could not be stored."""
    _, _, _, folder = _dirs(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (path.name + ".reason")).write_text(reason.rstrip() + "\n")
    os.replace(path, folder / path.name)
    return folder / path.name


def remove(paths: list[Path]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # already removed by an earlier drain that was killed before finishing


def counts(root: Path | None = None) -> dict:
    """What is waiting and what was set aside: `pending`, `oldest_pending_ns`,
    `quarantined` and, per quarantined file, its reason (newest first, at most 20)."""
    _, _, _, folder = _dirs(root)
    waiting = pending(root)
    reasons = []
    try:
        held = sorted((p for p in folder.iterdir() if not p.name.endswith(".reason")), reverse=True)
    except FileNotFoundError:
        held = []
    for path in held[:20]:
        reason_file = folder / (path.name + ".reason")
        try:
            reason = reason_file.read_text().strip()
        except OSError:
            reason = "(no reason recorded)"
        reasons.append({"file": str(path), "reason": reason})
    oldest = int(waiting[0].name.split("-", 1)[0]) if waiting else None
    return {"dir": str(_dirs(root)[0]), "pending": len(waiting), "oldest_pending_ns": oldest,
            "quarantined": len(held), "quarantine": reasons}
