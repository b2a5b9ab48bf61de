"""Backfill: import the history files agents keep on disk, incrementally.

Rust finds the files and reads each from its cursor on; this module decides
which files changed, cuts the work into batches (so a progress bar can move
and Rust and DuckDB work side by side) and groups batches into transactions
(so memory stays bounded however much history there is).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from usagecore import _core
from usagecore.store import Store, WriteResult

CLAUDE = "claude_code"
# Bytes read per Rust call: large enough to keep every core busy, small
# enough that the progress bar moves.
BATCH_BYTES = 128 << 20
FIRST_BATCH_BYTES = 32 << 20
# Bytes read per transaction, i.e. per Rust reader and DuckDB commit. Events
# wait in Rust until the commit, since later lines may still grow them.
COMMIT_BYTES = 1 << 30
# Below this much to read, importing the price source in the background
# would not overlap with anything.
PREFETCH_PRICES_BYTES = 32 << 20


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
        return (
            f"{self.source}: {self.files} files ({self.files_read} read), {self.lines:,} lines, "
            f"{self.events:,} new events, {self.merged_events:,} updated, "
            f"{self.duplicates:,} duplicates, {self.skipped_lines:,} skipped lines, "
            f"{self.bytes_read / 1e6:,.1f} MB in {self.seconds:.2f} s ({self.mb_per_s:,.0f} MB/s)"
        )


def _batches(tasks: list, sizes: list[int]) -> Iterable[tuple[list, int]]:
    """Tasks grouped into batches, each with its byte count. The first batch is
    small: nothing overlaps its reading, so it should not take long."""
    batch, batch_bytes, limit = [], 0, FIRST_BATCH_BYTES
    for task, size in zip(tasks, sizes):
        batch.append(task)
        batch_bytes += size
        if batch_bytes >= limit:
            yield batch, batch_bytes
            batch, batch_bytes, limit = [], 0, BATCH_BYTES
    if batch:
        yield batch, batch_bytes


def _commits(batches: list[tuple[list, int]]) -> list[list[tuple[list, int]]]:
    """Consecutive batches grouped into transactions of at most about
    COMMIT_BYTES, all about the same size (1.1 GiB is two halves, not 1 GiB
    and a sliver)."""
    total = sum(size for _, size in batches)
    limit = total / max(1, -(-total // COMMIT_BYTES))
    commits: list[list[tuple[list, int]]] = [[]]
    commit_bytes = 0
    for batch in batches:
        if commits[-1] and commit_bytes + batch[1] > limit:
            commits.append([])
            commit_bytes = 0
        commits[-1].append(batch)
        commit_bytes += batch[1]
    return commits


def _import_price_source() -> None:
    import genai_prices  # noqa: F401  (cached in sys.modules for pricing)


def _tally_read(summary: Summary, stats: dict) -> None:
    summary.files_read += stats["files"]
    summary.bytes_read += stats["bytes"]
    summary.lines += stats["lines"]
    summary.usage_lines += stats["usage_lines"]
    summary.synthetic_lines += stats["synthetic_lines"]
    summary.skipped_lines += stats["skipped_lines"]
    summary.reread_files += stats["reread_files"]


def _tally_events(summary: Summary, finished: dict, written: WriteResult) -> None:
    summary.events += written.new_events
    summary.merged_events += written.merged_events
    summary.duplicates += finished["duplicate_records"] + written.merged_events
    summary.sidechain_replays += finished["sidechain_replays"] + written.sidechain_replays


def _read_ahead(pool: ThreadPoolExecutor, steps: list[tuple[Any, list, int]]) -> Iterator[tuple[dict, int]]:
    """`reader.read(files)` of each `(reader, files, size)` step, in order, with
    its size. While the caller stores one result, Rust (which lets go of the
    GIL) is already reading the next."""
    upcoming = pool.submit(steps[0][0].read, steps[0][1]) if steps else None
    for i, (_, _, size) in enumerate(steps):
        result = upcoming.result()
        if i + 1 < len(steps):
            reader, files, _ = steps[i + 1]
            upcoming = pool.submit(reader.read, files)
        yield result, size


def _read_and_store(store: Store, batches: list, summary: Summary, problems: list, keep_content: bool,
                    progress: Callable[[int, int], None] | None) -> None:
    total, done = sum(batch_bytes for _, batch_bytes in batches), 0
    commits = _commits(batches)
    # One reader per transaction, so that the next transaction's first read
    # can overlap this one's events going in.
    readers = [_core.ClaudeReader(keep_content=keep_content) for _ in commits]
    steps = [(reader, files, size) for reader, commit in zip(readers, commits) for files, size in commit]
    with store.bulk(), ThreadPoolExecutor(max_workers=2, thread_name_prefix="usagecore") as background:
        if total >= PREFETCH_PRICES_BYTES:
            background.submit(_import_price_source)
        reads = _read_ahead(background, steps)
        for reader, commit in zip(readers, commits):
            with store.transaction(CLAUDE) as writer:
                for _ in commit:
                    result, size = next(reads)
                    writer.add_raws(result["raws"])
                    writer.add_cursors(result["cursors"])
                    _tally_read(summary, result["stats"])
                    problems.extend(result["problems"])
                    done += size
                    if progress is not None:
                        progress(done, total)
                finished = reader.finish()
                _tally_events(summary, finished, writer.add_events(finished["events"]))


def backfill_claude(
    store: Store,
    roots: list[Path],
    *,
    keep_content: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Import Claude Code transcripts under `roots`; return what happened.

    `progress(done, total)` is called in bytes after each batch is stored.
    """
    started = time.perf_counter()
    summary = Summary(source=CLAUDE)
    # Absolute paths: cursors and source_ref must not depend on the working directory.
    files, problems = _core.discover_jsonl([str(Path(r).expanduser().absolute()) for r in roots])
    summary.files = len(files)
    cursors = store.cursors(CLAUDE)
    tasks, sizes = [], []
    for path, size, mtime_ns in files:
        cursor = cursors.get(path)
        if cursor is not None and cursor[2] == size and cursor[3] == mtime_ns:
            continue  # unchanged since it was last read
        tasks.append((path, size, mtime_ns, cursor))
        sizes.append(size - cursor[1] if cursor and cursor[1] <= size else size)

    batches = list(_batches(tasks, sizes))
    if batches:
        _read_and_store(store, batches, summary, problems, keep_content, progress)
    summary.problems = [{"path": p, "offset": o, "message": m} for p, o, m in problems]
    summary.seconds = time.perf_counter() - started
    return summary
