"""Claude Code command hooks: tool calls, prompts and session boundaries
become events; `Stop`, `StopFailure` and `SubagentStop` read what is new in
the transcripts they name, through the same cursors as a backfill."""

from __future__ import annotations

from pathlib import Path

from usagecore import _core, drain
from usagecore.backfill import read_transcripts


def _transcript_and_subagents(path: str) -> list[str]:
    """The transcript, and the subagent transcripts beside it: a subagent whose
    `SubagentStop` never fired is still read when its session stops."""
    subagents = Path(path).with_suffix("") / "subagents"
    return [path, str(subagents)] if subagents.is_dir() else [path]


def handle(ctx: drain.Context, entries: list[drain.Entry]) -> list[tuple[Path, str]]:
    decoded, rejected = drain.store_decoded(ctx, entries, _core.decode_claude_hooks)
    by_account: dict[str | None, list[str]] = {}
    for path, account_id in decoded["transcripts"]:
        by_account.setdefault(account_id, []).extend(_transcript_and_subagents(path))
    for account_id, paths in by_account.items():
        summary = read_transcripts(ctx.store, ctx.writer, paths, account_id=account_id,
                                   keep_content=ctx.keep_content)
        ctx.problems += summary.problems
    return rejected


drain.register("claude_code", "hook", handle)
