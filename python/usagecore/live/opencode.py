"""Payloads of usagecore's OpenCode plugin: assistant messages (upserted by
message id, the latest version wins, as in a backfill of OpenCode's
database), tool calls and session boundaries."""

from __future__ import annotations

from pathlib import Path

from usagecore import _core, drain


def handle(ctx: drain.Context, entries: list[drain.Entry]) -> list[tuple[Path, str]]:
    by_name = {path.name: path for path, _, _ in entries}
    decoded = _core.decode_opencode_plugin(
        [(path.name, int(header.get("received_at_ns") or 0), header.get("account_id"), body)
         for path, header, body in entries])
    ctx.writer.add_raws(decoded["raws"])
    ctx.writer.add_events(decoded["events"])
    return [(by_name[name], reason) for name, reason in decoded["rejected"]]


drain.register("opencode", "plugin", handle)
