"""The `usagecore` executable. Hooks call `usagecore ingest` on every tool
call, and that starts `usagecore collect --background`: both are dispatched
before click and the other commands are imported, and so is a backfill with
nothing new to read; everything else goes to the click group in `cli`."""

from __future__ import annotations

import gc
import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "ingest":
        from usagecore.ingest import main as ingest

        sys.exit(ingest(sys.argv[2:]))
    if sys.argv[1:] == ["collect", "--background"]:
        from usagecore.ingest import collect_in_background

        sys.exit(collect_in_background())
    if "backfill" in sys.argv[1:4]:
        from usagecore import unchanged

        if unchanged.answer(sys.argv[1:]):
            return
    from usagecore.cli import main as cli

    try:
        cli()
    finally:
        # At exit Python walks every object still alive (DuckDB's and click's
        # modules and all) in several garbage collections: 20-30 ms of a
        # command's time, to free memory the exit frees anyway. Frozen objects
        # are left out; finalizers and atexit handlers still run.
        gc.freeze()
