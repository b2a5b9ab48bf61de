"""Codex `notify` payloads: each `agent-turn-complete` is a `turn` event and
names a thread; what is new in that thread's rollout is read through the same
cursors as a backfill (so live and backfill never count anything twice)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from usagecore import _core, drain
from usagecore.backfill import CODEX, read_transcripts
from usagecore.config import codex_home


def rollouts_of(thread: str, home: Path | None = None) -> list[str]:
    """The rollout files of a thread, live or archived, plain or compressed.

    The thread id is a UUIDv7, so it says when the thread started: the date
    folders around that day are looked at first, every folder only if the
    rollout is not there (a clock or time zone far off)."""
    home = home or codex_home()
    pattern = f"rollout-*-{thread}.jsonl*"
    folders: list[Path] = []
    try:
        started = dt.datetime.fromtimestamp(int(thread.replace("-", "")[:12], 16) / 1000)
    except (ValueError, OverflowError, OSError):
        started = None
    if started is not None:
        for shift in (0, -1, 1):
            day = started + dt.timedelta(days=shift)
            folders.append(home / "sessions" / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}")
    folders.append(home / "archived_sessions")
    found = sorted({str(p) for folder in folders if folder.is_dir() for p in folder.glob(pattern)})
    if not found:
        found = sorted({str(p) for p in (home / "sessions").glob(f"*/*/*/{pattern}")}
                       | {str(p) for p in (home / "archived_sessions").glob(f"*/*/*/{pattern}")})
    # A compressed copy beside its plain file is the same rollout.
    return [p for p in found if not (p.endswith(".zst") and p[:-4] in found)]


def handle(ctx: drain.Context, entries: list[drain.Entry]) -> list[tuple[Path, str]]:
    decoded, rejected = drain.store_decoded(ctx, entries, _core.decode_codex_notify)
    for thread, account_id in decoded["threads"]:
        paths = rollouts_of(thread)
        if not paths:
            ctx.problems.append({"path": thread, "offset": 0,
                                 "message": f"no rollout of Codex thread {thread} under {codex_home()}"})
            continue
        summary = read_transcripts(ctx.store, ctx.writer, paths, account_id=account_id,
                                   keep_content=ctx.keep_content, source=CODEX)
        ctx.problems += summary.problems
    return rejected


drain.register("codex", "notify", handle)
