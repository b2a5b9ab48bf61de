"""The drain (`usagecore collect`): from the spool into the store.

Spool files are taken oldest first, a batch at a time. Each batch is grouped
by `(source, channel)` and handed to the handler registered for that pair,
all inside one store transaction; only after the commit are the files
removed. So a drain killed at any instant loses nothing (the files are still
there) and counts nothing twice (a re-run meets the same stable event ids,
and the transcript cursors committed with the events).

A handler is `handle(ctx, entries) -> list[(path, reason)]`: it decodes the
entries (`(path, header, body)`) in Rust, writes through `ctx.writer`, and
returns the entries it could not understand; those go to the quarantine with
their reason, and everything else is kept. A handler that fails outright
fails the batch; the drain then retries entry by entry, so one bad payload
cannot hold up the others.

One drain at a time holds `drain.lock` in the spool folder (`usagecore serve`
holds it for as long as it runs, draining continuously). The store lock is
held per batch, so a `report` waits at most one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from usagecore import locks, spool
from usagecore.config import spool_dir
from usagecore.store import Store, Writer

BATCH_FILES = 1000
# A batch stops growing past this many payload bytes (a segment of `usagecore
# serve` holds up to 8 MiB, a quarter second of requests): it bounds the
# drain's memory, which decoding and converting a batch multiplies. Larger
# batches fill more whole row groups (store.ROW_GROUP_SIZE), which DuckDB
# writes straight into the file instead of through the write-ahead log and a
# checkpoint: a backlog of OpenTelemetry requests took 12 % less CPU with
# 8 MiB, 28 % with 16, but the drain then peaked at 440 and 590 MB instead
# of 350 (serve at its peak: 380 MB instead of 280).
BATCH_BYTES = 4 << 20
# Modules that register handlers when imported.
HANDLER_MODULES = ("usagecore.live.claude_code", "usagecore.live.otlp", "usagecore.live.codex",
                   "usagecore.live.opencode")


@dataclass
class Context:
    """What a handler gets besides its entries."""

    store: Store
    writer: Writer
    keep_content: bool = False
    problems: list[dict] = field(default_factory=list)


Entry = tuple[Path, dict, bytes]
Handler = Callable[[Context, list[Entry]], list[tuple[Path, str]]]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def register(source: str, channel: str, handler: Handler) -> None:
    _HANDLERS[(source, channel)] = handler


def store_decoded(ctx: Context, entries: list[Entry], decode: Callable[[list], dict]) -> tuple[dict, list]:
    """What every live handler starts with: `decode` (a Rust decoder of
    `(spool name, received_at_ns, account_id, body)` tuples) turns the entries
    into raw records and events, which go into the transaction. Returns the
    decoded dict and the rejected entries as `(path, reason)`."""
    by_name = {path.name: path for path, _, _ in entries}
    decoded = decode([(path.name, int(header.get("received_at_ns") or 0), header.get("account_id"), body)
                      for path, header, body in entries])
    ctx.writer.add_raws(decoded["raws"])
    ctx.writer.add_events(decoded["events"])
    return decoded, [(by_name[name], reason) for name, reason in decoded["rejected"]]


def _handlers() -> dict[tuple[str, str], Handler]:
    """Every handler, each module imported once. All of them, always: one
    module imported elsewhere first must not hide the others."""
    import importlib

    for module in HANDLER_MODULES:
        importlib.import_module(module)
    return _HANDLERS


@dataclass
class DrainSummary:
    payloads: int = 0
    batches: int = 0
    quarantined: int = 0
    left_in_spool: int = 0
    seconds: float = 0.0
    problems: list[dict] = field(default_factory=list)

    def line(self) -> str:
        text = f"collect: {self.payloads} payloads stored in {self.batches} batches, {self.quarantined} quarantined"
        if self.left_in_spool:
            text += f", {self.left_in_spool} left in the spool"
        return text + f" ({self.seconds:.2f} s)"


class StoreFailed(RuntimeError):
    """The store, not a payload, failed: the batch stays in the spool."""


def _load(paths: list[Path], root: Path | None) -> tuple[list[Entry], int]:
    entries, quarantined, size = [], 0, 0
    for path in paths:
        if size >= BATCH_BYTES:
            break
        try:
            header, body = spool.read(path)
        except FileNotFoundError:
            continue  # taken by a drain that finished meanwhile
        except (spool.Unreadable, OSError) as err:
            spool.quarantine(path, str(err), root)
            quarantined += 1
            continue
        entries.append((path, header, body))
        size += len(body)
    return entries, quarantined


def _store_batch(store: Store, entries: list[Entry], keep_content: bool) -> tuple[list, list[dict]]:
    """One transaction for `entries`; returns (rejected, problems)."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        header = entry[1]
        groups.setdefault((str(header.get("source")), str(header.get("channel"))), []).append(entry)
    handlers = _handlers()
    rejected: list[tuple[Path, str]] = []
    with store.transaction() as writer:
        ctx = Context(store, writer, keep_content)
        for (source, channel), group in groups.items():
            handler = handlers.get((source, channel))
            if handler is None:
                rejected += [(path, f"no handler for source {source!r}, channel {channel!r}")
                             for path, _, _ in group]
                continue
            rejected += handler(ctx, group)
    return rejected, ctx.problems


def drain_batch(store: Store, entries: list[Entry], root: Path | None = None,
                keep_content: bool = False) -> tuple[int, list[dict]]:
    """Store `entries`, then remove or quarantine their files; returns
    (quarantined, problems). Raises StoreFailed when the store itself fails."""
    try:
        rejected, problems = _store_batch(store, entries, keep_content)
    except duckdb.Error as err:
        if len(entries) == 1:
            raise StoreFailed(str(err)) from err
        rejected, problems = None, []
    except (ValueError, TypeError, KeyError, OSError) as err:
        if len(entries) == 1:
            rejected, problems = [(entries[0][0], f"{type(err).__name__}: {err}")], []
            spool.quarantine(entries[0][0], rejected[0][1], root)
            return 1, problems
        rejected, problems = None, []
    if rejected is None:
        # Somebody in the batch broke it: one transaction each finds out who.
        quarantined = 0
        for entry in entries:
            count, more = drain_batch(store, [entry], root, keep_content)
            quarantined += count
            problems += more
        return quarantined, problems
    bad = {path for path, _ in rejected}
    spool.remove([path for path, _, _ in entries if path not in bad])
    for path, reason in rejected:
        spool.quarantine(path, reason, root)
    return len(rejected), problems


def _open_store(db_path: Path) -> Store:
    try:
        return Store(db_path)
    except (duckdb.Error, OSError) as err:
        raise StoreFailed(f"cannot open store {db_path}: {err} (if it is corrupt, move it aside and "
                          "run `usagecore backfill` to rebuild it)") from err


class StoreSession:
    """The store held from one batch to the next (`usagecore serve`), so that
    a batch pays neither for opening the store nor for closing it while
    payloads keep coming. It is let go as soon as somebody waits for it
    (`locks.has_waiters`) and whenever the spool is empty (`let_go`): DuckDB
    keeps a primary key's index whole in memory, as long as the store is
    open, and that grew with the store (tens of MB per 100,000 events).
    The figures `status` reads (a scan of every event) are written on a
    close at most every `REFRESH_S`, and at the end."""

    REFRESH_S = 30.0
    # A drain batch is small: one DuckDB thread, so that DuckDB does not take
    # the receiver's cores. (No low `memory_limit`: the primary-key indexes
    # of a large store count against it, and inserts then fail.)
    SETTINGS = (("threads", "1"),)

    def __init__(self, db_path: Path, what: str = "usagecore serve"):
        self.db_path, self.what = db_path, what
        self._store: Store | None = None
        self._lock: locks.hold | None = None
        self._summarized = time.monotonic()
        # A store closed without the figures had changes they do not show.
        self._unsummarized = False

    def store(self, lock_timeout: float) -> Store:
        if self._store is None:
            lock = locks.store_lock(self.db_path, timeout=lock_timeout, what=self.what)
            lock.__enter__()
            try:
                self._store = _open_store(self.db_path)
                for name, value in self.SETTINGS:
                    self._store.con.execute(f"SET {name} = '{value}'")
            except BaseException:
                lock.__exit__(None, None, None)
                raise
            self._lock = lock
        return self._store

    def _refresh_due(self) -> bool:
        return time.monotonic() - self._summarized >= self.REFRESH_S

    def give_way(self) -> bool:
        """Let go of the store if somebody waits for it or it is time to
        refresh the figures; whether it was let go."""
        if self._store is None:
            return False
        if not locks.has_waiters(locks.lock_path(self.db_path)) and not self._refresh_due():
            return False
        self.close()
        return True

    def let_go(self) -> None:
        """Close the store until the next batch (the spool is empty)."""
        self.close(summarize=self._refresh_due())

    def close(self, summarize: bool = True) -> None:
        store, lock = self._store, self._lock
        self._store = self._lock = None
        try:
            if store is not None:
                self._unsummarized |= store.changed
                if summarize and self._unsummarized:
                    store.changed = True
                    self._unsummarized = False
                    self._summarized = time.monotonic()
                store.close(summarize=summarize)
        finally:
            if lock is not None:
                lock.__exit__(None, None, None)


def _pending(root: Path | None, before: str | None, limit: int) -> list[Path]:
    """Spool files oldest first; only those that arrived before `before` (a
    file name prefix, see `drain`), if given."""
    return [path for path in spool.pending(root, limit=limit) if before is None or path.name < before]


def _drain_pass(db_path: Path, root: Path | None, keep_content: bool, summary: DrainSummary,
                lock_timeout: float, before: str | None, session: StoreSession | None = None) -> bool:
    """Store one batch; False when there was nothing (before `before`) to store."""
    paths = _pending(root, before, BATCH_FILES)
    if not paths:
        return False
    entries, quarantined = _load(paths, root)
    summary.quarantined += quarantined
    if not entries:
        return True
    if session is not None:
        quarantined, problems = drain_batch(session.store(lock_timeout), entries, root, keep_content)
    else:
        with locks.store_lock(db_path, timeout=lock_timeout, what="usagecore collect"), _open_store(db_path) as store:
            quarantined, problems = drain_batch(store, entries, root, keep_content)
    summary.payloads += len(entries) - quarantined
    summary.quarantined += quarantined
    summary.problems += problems
    summary.batches += 1
    return True


def drain_lock_path(root: Path | None = None) -> Path:
    return (root or spool_dir()) / "drain.lock"


def drain_pending(db_path: Path, summary: DrainSummary, *, root: Path | None = None, keep_content: bool = False,
                  lock_timeout: float | None = None, before: str | None = None,
                  session: StoreSession | None = None, pause: Callable[[], bool] | None = None) -> None:
    """Store everything pending (that arrived before `before`), batch by batch.
    For a caller that holds the drain lock (`drain` below, or `usagecore serve`
    for as long as it runs, with the store held in `session`). `pause`, if
    given, is called before each batch and says whether to go on (`usagecore
    serve` waits there while its receiver needs the CPU, and stops when it
    is told to)."""
    timeout = locks.DEFAULT_TIMEOUT_S if lock_timeout is None else lock_timeout
    spool.recover(root)
    while pause is None or pause():
        if not _drain_pass(db_path, root, keep_content, summary, timeout, before, session):
            break
        # The store is free between batches; without a pause the next batch
        # took it back first every time, for as long as hooks kept coming, and
        # a report or backfill waiting its turn gave up. Let waiters in.
        gave_way = session.give_way() if session is not None else True
        if gave_way and spool.pending(root, limit=1):
            time.sleep(locks.GIVE_WAY_S)


def drain(db_path: Path, *, root: Path | None = None, wait: bool = True, keep_content: bool = False,
          lock_timeout: float | None = None) -> DrainSummary:
    """Store everything in the spool.

    `wait` (a user's `usagecore collect`): if another drain is running, wait
    for it to finish, then store everything spooled before the call; what
    arrives meanwhile goes to a background drain, so that the call returns
    while hooks keep coming. Otherwise (a background drain) leave the work to
    the drain already running, or store until the spool is empty.
    """
    started = time.perf_counter()
    root = root or spool_dir()
    summary = DrainSummary()
    timeout = locks.DEFAULT_TIMEOUT_S if lock_timeout is None else lock_timeout
    # Spool file names start with their arrival time in nanoseconds.
    before = f"{time.time_ns():019d}" if wait else None
    while True:
        try:
            with locks.hold(drain_lock_path(root), timeout=max(timeout, 60.0) if wait else 0.0,
                            what="usagecore collect", quiet=True):
                drain_pending(db_path, summary, root=root, keep_content=keep_content, lock_timeout=timeout,
                              before=before)
        except locks.Busy:
            if wait:
                raise
            break
        # A payload spooled just before the lock was let go found it taken
        # and started no drain of its own: look once more.
        if not _pending(root, before, 1):
            break
    if before is not None and spool.pending(root, limit=1):
        from usagecore.ingest import start_drain

        start_drain(str(db_path), str(root))
    summary.left_in_spool = len(spool.pending(root))
    summary.seconds = time.perf_counter() - started
    return summary
