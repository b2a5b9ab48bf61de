"""Payloads of usagecore's OpenCode plugin: assistant messages (upserted by
message id, the latest version wins, as in a backfill of OpenCode's
database), tool calls and session boundaries."""

from __future__ import annotations

from pathlib import Path

from usagecore import _core, drain


def handle(ctx: drain.Context, entries: list[drain.Entry]) -> list[tuple[Path, str]]:
    _, rejected = drain.store_decoded(ctx, entries, _core.decode_opencode_plugin)
    return rejected


drain.register("opencode", "plugin", handle)
