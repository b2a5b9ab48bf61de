"""The `usagecore` executable. Hooks call `usagecore ingest` on every tool
call, and that starts `usagecore collect --background`: both are dispatched
before click and the other commands are imported; everything else goes to the
click group in `cli`."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "ingest":
        from usagecore.ingest import main as ingest

        sys.exit(ingest(sys.argv[2:]))
    if sys.argv[1:] == ["collect", "--background"]:
        from usagecore.ingest import collect_in_background

        sys.exit(collect_in_background())
    from usagecore.cli import main as cli

    cli()
