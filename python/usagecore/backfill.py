"""Backfill: import the history files agents keep on disk, incrementally.

Rust finds the files and reads each from its cursor on; this module decides
which files changed, cuts the work into batches (so a progress bar can move
and Rust and DuckDB work side by side) and groups batches into transactions
(so memory stays bounded however much history there is).
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usagecore import _core
from usagecore.unchanged import absolute, opencode_sources, unchanged_line

if TYPE_CHECKING:  # not at run time: a backfill with nothing to do never loads DuckDB
    from concurrent.futures import Executor, Future

    from usagecore.store import Store, WriteResult, Writer

CLAUDE = "claude_code"
CODEX = "codex"
OPENCODE = "opencode"
# Bytes read per Rust call: large enough to keep every core busy, small
# enough that the progress bar moves.
BATCH_BYTES = 64 << 20
FIRST_BATCH_BYTES = 32 << 20
# Bytes read per transaction, i.e. per Rust reader and DuckDB commit. Events
# wait in Rust until the commit, since later lines may still grow them.
COMMIT_BYTES = 1 << 30
# Raw records read per commit of their own (see _read_and_store): DuckDB holds
# an open transaction's inserts in memory.
RAW_COMMIT_BYTES = 256 << 20
# OpenCode messages (JSON bytes) read per Rust call and committed per
# transaction: a message is small, and its decoded event and raw record
# cost several times its bytes, so both are much smaller than for files.
# Arrow tables (raw records, events) read ahead of the store and waiting for
# it, beyond the two results always allowed: see _Ahead.
AHEAD_BYTES = 16 << 20
OPENCODE_BATCH_BYTES = 8 << 20
OPENCODE_COMMIT_BYTES = 32 << 20


@dataclass
class Summary:
    source: str
    files: int = 0
    files_read: int = 0
    bytes_read: int = 0
    lines: int = 0
    usage_lines: int = 0
    events: int = 0
    merged_events: int = 0
    duplicates: int = 0
    sidechain_replays: int = 0
    synthetic_lines: int = 0
    skipped_lines: int = 0
    reread_files: int = 0
    # Files not in the source's format (e.g. Codex's legacy rollouts without usage).
    skipped_files: int = 0
    # Files that could not be read at all: the next run tries them again.
    unreadable_files: int = 0
    # Nothing changed since the last complete run: the store was not opened.
    unchanged: bool = False
    seconds: float = 0.0
    problems: list[dict] = field(default_factory=list)

    @property
    def mb_per_s(self) -> float:
        return self.bytes_read / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        out = asdict(self)
        out["mb_per_s"] = round(self.mb_per_s, 1)
        out["seconds"] = round(self.seconds, 3)
        return out

    def line(self) -> str:
        if self.unchanged:
            return unchanged_line(self.source, self.files, self.seconds)
        return (
            f"{self.source}: {self.files} files ({self.files_read} read), {self.lines:,} lines, "
            f"{self.events:,} new events, {self.merged_events:,} updated, "
            f"{self.duplicates:,} duplicates, {self.skipped_lines:,} skipped lines, "
            + (f"{self.skipped_files:,} skipped files, " if self.skipped_files else "")
            + f"{self.bytes_read / 1e6:,.1f} MB in {self.seconds:.2f} s ({self.mb_per_s:,.0f} MB/s)"
        )


def _plan(tasks: list, sizes: list[int], batch_size: int = BATCH_BYTES, first_batch_bytes: int = FIRST_BATCH_BYTES
          ) -> list[list[tuple[list, int]]]:
    """Tasks grouped into transactions of about COMMIT_BYTES (as many as the
    total rounds to, all of the same size: 1.1 GiB is one, 1.6 GiB two halves),
    and each transaction into batches of `(tasks, bytes)` of about
    `batch_size` bytes. The very first batch is small: nothing overlaps its
    reading, so it should not take long (unless it is read while DuckDB
    loads, see `head_start`)."""
    total = sum(sizes)
    commit_limit = total / max(1, round(total / COMMIT_BYTES))
    commits: list[list[tuple[list, int]]] = [[]]
    batch, batch_bytes, commit_bytes, batch_limit = [], 0, 0, first_batch_bytes
    for task, size in zip(tasks, sizes):
        batch.append(task)
        batch_bytes += size
        commit_bytes += size
        if batch_bytes >= batch_limit or commit_bytes >= commit_limit:
            commits[-1].append((batch, batch_bytes))
            batch, batch_bytes, batch_limit = [], 0, batch_size
        if commit_bytes >= commit_limit:
            commits.append([])
            commit_bytes = 0
    if batch:
        commits[-1].append((batch, batch_bytes))
    return [commit for commit in commits if commit]


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector, left on, walks every object loaded again and
    again while DuckDB waits; nothing a backfill makes needs it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _tally_read(summary: Summary, stats: dict) -> None:
    summary.files_read += stats["files"]
    summary.bytes_read += stats["bytes"]
    summary.lines += stats["lines"]
    summary.usage_lines += stats["usage_lines"]
    summary.synthetic_lines += stats["synthetic_lines"]
    summary.skipped_lines += stats["skipped_lines"]
    summary.reread_files += stats["reread_files"]
    summary.skipped_files += stats["skipped_files"]
    summary.unreadable_files += stats.get("unreadable_files", 0)


def _tally_events(summary: Summary, finished: dict, written: WriteResult) -> None:
    summary.events += written.new_events
    summary.merged_events += written.merged_events
    summary.duplicates += finished["duplicate_records"] + written.merged_events
    summary.sidechain_replays += finished["sidechain_replays"] + written.sidechain_replays


def _background(name: str = "usagecore-reader") -> Executor:
    """One thread that runs the steps submitted to it, one after another."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)


class _Ahead:
    """Runs `steps` (callables) one after another in the background, ahead of
    the caller: while the caller stores one result (and commits), or while
    DuckDB loads and the store is made (`head_start`), Rust (which lets go of
    the GIL) reads on. A caller that stops taking stops the steps once
    `depth` results wait and they hold `budget` bytes of Arrow tables: a
    source whose reads yield little (Codex: 2 MB of raw records per 64 MiB of
    rollouts) is read to its end while the store is being made, one whose
    reads yield much waits after `depth`. Nothing here holds on to a result
    once taken."""

    def __init__(self, pool: Executor, steps: list[Callable[[], dict]], depth: int = 2,
                 budget: int = AHEAD_BYTES):
        self.pool, self.steps, self.depth, self.budget = pool, iter(steps), depth, budget
        self.lock = threading.Lock()
        self.upcoming: deque[Future] = deque()  # in order: the last may still run
        self.running: Future | None = None  # the step started last
        # Arrow bytes of the finished results not taken yet, and of each of them.
        self.waiting_bytes = 0
        self.counted: dict[Future, int] = {}
        self._next()

    def _start(self) -> Future | None:
        """The next step started, if it may start now (the lock is held)."""
        # Whether the last step finished, not whether its callback ran: a
        # caller may take a result before its callback has run.
        if self.running is not None and not self.running.done():
            return None
        if len(self.upcoming) >= self.depth and self.waiting_bytes >= self.budget:
            return None
        step = next(self.steps, None)
        if step is None:
            return None
        try:
            future = self.pool.submit(step)
        except RuntimeError:  # the pool is shutting down: the caller gave up
            return None
        self.running = future
        self.upcoming.append(future)
        return future

    def _next(self) -> None:
        with self.lock:
            started = self._start()
        if started is not None:  # outside the lock: a finished future calls back at once
            started.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self.lock:
            if future in self.upcoming:  # not being taken already
                self.counted[future] = _arrow_bytes(future)
                self.waiting_bytes += self.counted[future]
        self._next()

    def take(self) -> dict:
        with self.lock:
            # Everything started was taken: the last step's callback has not
            # started the next one yet.
            started = None if self.upcoming else self._start()
            future = self.upcoming.popleft()
        if started is not None:
            started.add_done_callback(self._done)
        result = future.result()
        with self.lock:
            self.waiting_bytes -= self.counted.pop(future, 0)
        self._next()
        return result


def _arrow_bytes(future: Future) -> int:
    """The bytes of the Arrow tables a finished step returned (0 if it failed)."""
    if future.cancelled() or future.exception() is not None:
        return 0
    return sum(getattr(value, "nbytes", 0) for value in future.result().values())


def _take_raws(result: dict, summary: Summary, problems: list) -> Any:
    """A read's raw records, its figures and problems counted."""
    _tally_read(summary, result["stats"])
    problems.extend(result["problems"])
    return result.pop("raws")


def _put_raws(writer: Writer, raws: Any, origin: object, offset: int, count: int) -> int:
    """Insert `count` raw records of `raws` from `offset` on; return `count`."""
    if count:
        whole = (offset, count) == (0, raws.num_rows)
        writer.add_raws(raws, origin=origin, rows=None if whole else (offset, count))
    return count


def _raw_groups(batches: list[tuple[list, int]], commit_bytes: int) -> list[list[tuple[list, int]]]:
    """A transaction's batches in runs of about `commit_bytes`, all about the
    same size: a commit of fewer rows than a row group is only a short row
    group, which the next commit fills up and DuckDB writes again."""
    total = sum(size for _, size in batches)
    count = max(1, round(total / commit_bytes))
    groups: list[list[tuple[list, int]]] = [[]]
    done = 0
    for batch in batches:
        # A new group where this batch would end further past the boundary than before it.
        boundary = total * len(groups) / count
        if groups[-1] and done + batch[1] / 2 > boundary:
            groups.append([])
        groups[-1].append(batch)
        done += batch[1]
    return groups


def _store_events(writer: Writer, cursors: list, finished: dict, summary: Summary, origin: object) -> None:
    """A reader's events, and the cursors of the files they came from: they commit together."""
    # Popped, so the events are freed before the commit needs the memory.
    written = writer.add_events(finished.pop("events"), origin=origin)
    _tally_events(summary, finished, written)
    # Last: DuckDB holds writes to a table with a key (file_cursors) while it
    # checkpoints, and the raw records may still be committing (commit_behind).
    writer.add_cursors(cursors, summary.source)


@dataclass
class _Reading:
    """Files being read: the transactions' batches, one Rust reader per
    transaction, and the reads running ahead of the caller."""

    commits: list[list[tuple[list, int]]]
    readers: list
    results: _Ahead
    pool: Executor
    keep_content: bool


def _start_reading(source: str, commits: list[list[tuple[list, int]]], keep_content: bool) -> _Reading:
    # Per transaction, one reader: its reads, then its events. Each step runs
    # while the previous result is being stored, so the events are prepared
    # while the last raw records go in, and the next transaction's first read
    # runs while this one's events go in.
    steps: list[Callable[[], dict]] = []
    readers = []
    for commit in commits:
        reader = _core.Reader(source, keep_content=keep_content)
        readers.append(reader)
        steps += [partial(reader.read, files) for files, _ in commit] + [reader.finish]
    pool = _background()
    return _Reading(commits, readers, _Ahead(pool, steps), pool, keep_content)


def _read_and_store(store: Store, source: str, reading: _Reading, summary: Summary,
                    problems: list, progress: Callable[[int, int], None] | None) -> None:
    commits, readers, results = reading.commits, reading.readers, reading.results
    keep_content = reading.keep_content
    total, done = sum(size for commit in commits for _, size in commit), 0
    # Whole lines make raw records several times larger: half the buffers.
    with _no_cycle_collection(), store.bulk(50 if keep_content else 100), reading.pool:
        writer = None
        for commit, reader in zip(commits, readers):
            cursors: list = []
            taken = 0

            def take_raws() -> Any:
                nonlocal taken, done
                result = results.take()
                cursors.append(result["cursors"])
                done += commit[taken][1]
                taken += 1
                if progress is not None:
                    progress(done, total)
                return _take_raws(result, summary, problems)

            # Raw records commit on their own, every RAW_COMMIT_BYTES read (half
            # that for whole lines): DuckDB holds that much of them at a time,
            # not a whole transaction's. They never change, so going in ahead of
            # their events and cursors is harmless: after a crash in between,
            # the next run reads the files again and keeps the raw records
            # already stored.
            #
            # Each such commit but the last ends on a row group boundary: DuckDB
            # writes a large insert's full row groups straight into the file and
            # the rest at the commit, as a short row group, which the next
            # commit fills up: DuckDB compresses and writes it again. So a commit
            # takes the first records of the next batch to fill its last row
            # group, and the next commit starts with the rest of that batch.
            carried = None
            groups = _raw_groups(commit, RAW_COMMIT_BYTES // 2 if keep_content else RAW_COMMIT_BYTES)
            group_end = 0
            for number, group in enumerate(groups, 1):
                group_end += len(group)
                # The last raw records commit while the events go in (on two cores).
                with store.transaction(source, after=writer, commit_behind=number == len(groups)) as writer:
                    written = 0
                    if carried is not None:
                        raws, offset = carried
                        carried = None
                        written += _put_raws(writer, raws, reader, offset, raws.num_rows - offset)
                    while taken < group_end:
                        raws = take_raws()
                        written += _put_raws(writer, raws, reader, 0, raws.num_rows)
                    while number < len(groups) and written % store.rows_per_group and taken < len(commit):
                        raws = take_raws()
                        count = min(-written % store.rows_per_group, raws.num_rows)
                        written += _put_raws(writer, raws, reader, 0, count)
                        if count < raws.num_rows:
                            carried = (raws, count)
            with store.transaction(source, after=writer) as writer:
                _store_events(writer, cursors, results.take(), summary, reader)


def backfill_claude(
    store: Store,
    roots: list[Path],
    *,
    keep_content: bool = False,
    progress: Callable[[int, int], None] | None = None,
    head: HeadStart | None = None,
) -> Summary:
    """Import Claude Code transcripts under `roots`; return what happened.

    `progress(done, total)` is called in bytes after each batch is stored.
    `head`: reading already begun by `head_start`.
    """
    return _backfill_files(store, CLAUDE, head or _found(CLAUDE, roots), keep_content, progress)


def backfill_codex(
    store: Store,
    roots: list[Path],
    *,
    keep_content: bool = False,
    progress: Callable[[int, int], None] | None = None,
    head: HeadStart | None = None,
) -> Summary:
    """Import Codex rollouts under `roots` (`sessions/`, `archived_sessions/`,
    or rollout files); return what happened. `head`: see backfill_claude."""
    return _backfill_files(store, CODEX, head or _found(CODEX, roots), keep_content, progress)


def load_duckdb_early() -> Future:
    """Import DuckDB and make the in-memory instance a store is attached to
    (`Store(connection=...)`), on a thread of its own, for a command that is
    about to create a store: making the instance (about 20 ms) lets go of the
    GIL, so it runs while this thread finds and fingerprints the files and
    imports the store's modules. The result is a connection, or the error."""
    def connect() -> Any:
        import duckdb

        return duckdb.connect()

    background = _background("usagecore-duckdb")
    task = background.submit(connect)
    background.shutdown(wait=False)
    return task


@dataclass
class HeadStart:
    """What a backfill found, and for a store that does not exist yet, its
    reading already begun: with no store there are no cursors, so every file
    is read from its start, and Rust reads the first batches while Python
    loads DuckDB and creates the store. Should the store have cursors after
    all (another process made it meanwhile), the reading is left unused."""

    source: str
    started: float
    files: list[tuple[str, int, int]]
    problems: list
    reading: _Reading | None = None


def _found(source: str, roots: list[Path]) -> HeadStart:
    started = time.perf_counter()
    given = absolute(roots)
    files, problems = _core.discover_jsonl(given)
    if source == CODEX:
        files = codex_rollouts(files, given)
    return HeadStart(source, started, files, problems)


def _batch_bytes(keep_content: bool) -> int:
    # Whole lines make raw records several times larger: half the batch.
    return BATCH_BYTES // 2 if keep_content else BATCH_BYTES


def head_start(source: str, roots: list[Path], *, keep_content: bool = False) -> HeadStart | _OpenCodeHead:
    """Begin the backfill of a store that does not exist yet: find the files
    and read the first batches in the background (see HeadStart). The result
    goes to `backfill_<source>(..., head=...)`."""
    if source == OPENCODE:
        return _opencode_head_start(roots)
    head = _found(source, roots)
    tasks = [(path, size, mtime_ns, None) for path, size, mtime_ns in head.files]
    batch = _batch_bytes(keep_content)
    commits = _plan(tasks, [size for _, size, _ in head.files], batch, first_batch_bytes=batch)
    if commits:
        head.reading = _start_reading(source, commits, keep_content)
    return head


def codex_rollouts(files: list[tuple[str, int, int]], roots: list[str]) -> list[tuple[str, int, int]]:
    """The rollouts among `files`: in folders only `rollout-*` files (a Codex
    home also holds `history.jsonl`, the prompt history), each counted once
    although archiving moves a rollout from `sessions/` to `archived_sessions/`
    and newer builds compress it (the plain file wins)."""
    given = set(roots)
    chosen: dict[str, tuple[str, int, int]] = {}
    for file in sorted(files, key=lambda f: (f[0].endswith(".zst"), "/archived_sessions/" in f[0], f[0])):
        name = Path(file[0]).name
        if not name.startswith("rollout-") and file[0] not in given:
            continue
        chosen.setdefault(name.removesuffix(".zst"), file)
    return sorted(chosen.values())


def _backfill_files(
    store: Store,
    source: str,
    head: HeadStart,
    keep_content: bool,
    progress: Callable[[int, int], None] | None,
) -> Summary:
    summary = Summary(source=source)
    summary.files = len(head.files)
    problems = head.problems
    cursors = store.cursors(source)
    reading = head.reading
    if reading is not None and cursors:
        reading.pool.shutdown(wait=False, cancel_futures=True)  # read for a store that now has cursors
        reading = None
    if reading is None:
        tasks, sizes = [], []
        for path, size, mtime_ns in head.files:
            cursor = cursors.get(path)
            if cursor is not None and cursor[2] == size and cursor[3] == mtime_ns:
                continue  # unchanged since it was last read
            tasks.append((path, size, mtime_ns, cursor))
            sizes.append(size - cursor[1] if cursor and cursor[1] <= size else size)
        commits = _plan(tasks, sizes, _batch_bytes(keep_content))
        reading = _start_reading(source, commits, keep_content) if commits else None
    if reading is not None:
        _read_and_store(store, source, reading, summary, problems, progress)
    summary.problems = [{"path": p, "offset": o, "message": m} for p, o, m in problems]
    summary.seconds = time.perf_counter() - head.started
    return summary


def backfill_opencode(
    store: Store,
    roots: list[Path],
    *,
    keep_content: bool = False,
    progress: Callable[[int, int], None] | None = None,
    head: _OpenCodeHead | None = None,
) -> Summary:
    """Import OpenCode's messages from its databases and legacy JSON files
    under `roots`, each from its cursor on; return what happened.

    Read and stored in batches of about OPENCODE_BATCH_BYTES of messages
    (memory stays bounded), committed every OPENCODE_COMMIT_BYTES; the cursors commit last, so
    after a crash the next run reads the batches again, and they merge into
    what is stored (an OpenCode message is last-write-wins). The databases
    are opened read-only and never written. `keep_content` has nothing to
    add: OpenCode keeps message text in parts, which are not read. `head`:
    reading already begun by `head_start`.
    """
    del keep_content
    head = head or _OpenCodeHead(time.perf_counter(), *opencode_sources(roots))
    summary = Summary(source=OPENCODE)
    databases, storages = head.databases, head.storages
    summary.files = len(databases) + len(storages)
    if summary.files:
        cursors = store.cursors(OPENCODE)
        reader, upcoming = head.reader, head.upcoming
        if reader is not None and cursors:
            head.pool.shutdown(wait=False, cancel_futures=True)  # read for a store that now has cursors
            reader = None
        if reader is None:
            reader = _core.OpenCodeReader(
                [(p, int(cursors[p][1]) if p in cursors else 0) for p in databases],
                [(p, cursors[p][6] if p in cursors else None) for p in storages],
            )
            upcoming = None
        total = sum(_size(p) for p in databases + storages)
        _read_and_store_opencode(store, reader, summary, progress, total, upcoming, head.pool)
    summary.seconds = time.perf_counter() - head.started
    return summary


@dataclass
class _OpenCodeHead:
    """OpenCode's HeadStart: its sources, and for a store that does not exist
    yet, a reader from the start with its first batch being read."""

    started: float
    databases: list[str]
    storages: list[str]
    reader: object | None = None
    upcoming: Future | None = None
    pool: Executor | None = None


def _opencode_head_start(roots: list[Path]) -> _OpenCodeHead:
    head = _OpenCodeHead(time.perf_counter(), *opencode_sources(roots))
    if head.databases or head.storages:
        head.reader = _core.OpenCodeReader([(p, 0) for p in head.databases], [(p, None) for p in head.storages])
        head.pool = _background()
        head.upcoming = head.pool.submit(head.reader.read, OPENCODE_BATCH_BYTES)
    return head


def _size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _read_and_store_opencode(store: Store, reader: object, summary: Summary,
                             progress: Callable[[int, int], None] | None, total: int,
                             upcoming: Future | None = None, background: Executor | None = None) -> None:
    """Each batch is stored while Rust reads the next one. `upcoming`: the
    first batch, already being read in `background`."""

    problems: list = []
    if upcoming is None:
        background = _background()
        upcoming = background.submit(reader.read, OPENCODE_BATCH_BYTES)
    with _no_cycle_collection(), store.bulk(), background:
        writer, done, finished = None, 0, False
        while not finished:
            # Each commit runs while the next batches go in (the last one's: the end of `bulk`).
            with store.transaction(OPENCODE, after=writer, commit_behind=True) as writer:
                size = 0
                while size < OPENCODE_COMMIT_BYTES:
                    result = upcoming.result()
                    if result is None:
                        writer.add_cursors(reader.cursors())
                        finished = True
                        break
                    upcoming = background.submit(reader.read, OPENCODE_BATCH_BYTES)
                    # A batch that repeats an earlier one's event must merge with it.
                    origin = None if result["repeats"] else reader
                    writer.add_raws(result.pop("raws"), origin=origin)
                    written = writer.add_events(result.pop("events"), origin=origin)
                    stats = result["stats"]
                    _tally_read(summary, {"reread_files": 0, "synthetic_lines": 0, "skipped_files": 0, **stats})
                    _tally_events(summary, {"duplicate_records": stats["duplicate_records"], "sidechain_replays": 0},
                                  written)
                    problems.extend(result["problems"])
                    size += stats["bytes"]
                    done += stats["bytes"]
                    if progress is not None:
                        progress(min(done, total), total)
    if progress is not None:
        progress(total, total)
    summary.problems = [{"path": p, "offset": o, "message": m} for p, o, m in problems]


def read_transcripts(store: Store, writer: Writer, paths: list[str], *, account_id: str | None = None,
                     keep_content: bool = False, source: str = CLAUDE) -> Summary:
    """Read what is new in the `source` history files `paths` (Claude
    transcripts or Codex rollouts; files, or folders of them) into `writer`'s
    open transaction, through the same cursors as a backfill, so live reads
    and backfills never count anything twice. Only the cursors of these files
    are loaded."""
    summary = Summary(source=source)
    problems: list = []
    existing = []
    for path in paths:
        if Path(path).exists():
            existing.append(path)
        else:
            problems.append((path, 0, "transcript not found"))
    files, found_problems = _core.discover_jsonl(existing)
    problems += found_problems
    summary.files = len(files)
    cursors = store.cursors(source, [path for path, _, _ in files])
    tasks = []
    for path, size, mtime_ns in files:
        cursor = cursors.get(path)
        if cursor is None or cursor[2] != size or cursor[3] != mtime_ns:
            tasks.append((path, size, mtime_ns, cursor))
    if tasks:
        reader = _core.Reader(source, keep_content=keep_content)
        result = reader.read(tasks)
        writer.add_raws(_take_raws(result, summary, problems), origin=reader)
        writer.add_cursors(result["cursors"], source)
        finished = reader.finish()
        written = writer.add_events(finished.pop("events"), account_id=account_id, origin=reader)
        _tally_events(summary, finished, written)
    summary.problems = [{"path": p, "offset": o, "message": m} for p, o, m in problems]
    return summary
