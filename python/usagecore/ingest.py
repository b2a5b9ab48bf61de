"""`usagecore ingest`: what agent hooks call, on every tool call.

It must never disturb the agent: it always exits 0, prints nothing on stdout
(nor on stderr unless USAGECORE_TELEMETRY_VERBOSE is true), and returns in a
few milliseconds. So it only writes the payload into the spool, untouched,
and starts a drain in the background when none is running. Decoding,
pricing and the store happen in the drain (`usagecore.drain`).

Standard library only, and as little of it as possible: every import here is
paid on every hook. `os`, `sys`, `time` and `fcntl` are all it loads (no
`pathlib`, `json`, `re` or `contextlib`: together they would double the time a
hook takes); `tests/test_ingest_bad_input.py` checks the heavy ones stay out.
"""

from __future__ import annotations

import os
import sys

from usagecore import config

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

SOURCES = ("claude_code", "codex", "opencode")
# The channel each source's live payloads arrive by.
CHANNELS = {"claude_code": "hook", "codex": "notify", "opencode": "plugin"}
USAGE = "usage: usagecore ingest --source claude_code|codex|opencode [PAYLOAD]  (payload on stdin otherwise)"


def _say(message: str) -> None:
    if config.env_flag("USAGECORE_TELEMETRY_VERBOSE", False):
        print(f"usagecore ingest: {message}", file=sys.stderr)


def _parse(args: list[str]) -> tuple[str | None, str | None]:
    """(source, payload argument). Codex `notify` passes the payload as the
    last argument; the other agents write it on stdin."""
    source, rest = None, []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--source" and i + 1 < len(args):
            source, i = args[i + 1], i + 2
            continue
        if arg.startswith("--source="):
            source = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return source, (rest[-1] if rest else None)


def _read_stdin() -> bytes:
    if sys.stdin is None or sys.stdin.isatty():
        return b""
    return sys.stdin.buffer.read()


def start_drain(db_path: str | None = None, spool_root: str | None = None) -> None:
    """A detached `usagecore collect --background` (on the default store and
    spool unless given), unless a drain (or `serve`) already holds the drain
    lock; that one re-checks the spool before it stops."""
    from usagecore import locks

    env = dict(os.environ)
    if db_path is not None:
        env[config.DB_ENV] = db_path
    if spool_root is not None:
        env[config.SPOOL_ENV] = spool_root
    if locks.is_locked(os.path.join(spool_root or config.spool_root(), "drain.lock")):
        return
    state = config.state_root()
    os.makedirs(state, exist_ok=True)
    log = os.path.join(state, "drain.log")
    # Own session, and none of the agent's pipes: the agent must not wait for it.
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
    ]
    argv = [sys.executable, "-m", "usagecore", "collect", "--background"]
    os.posix_spawn(sys.executable, argv, env, file_actions=actions, setsid=True)


def collect_in_background(db_path: Path | None = None) -> int:
    """`usagecore collect --background`, what `start_drain` runs. Dispatched
    before click (a Stop hook's events are queryable that much sooner), and
    gone before DuckDB is imported when another drain is already at work.
    Its stderr is `drain.log`."""
    from usagecore import locks

    if locks.is_locked(os.path.join(config.spool_root(), "drain.lock")):
        return 0  # that drain looks at the spool again before it stops
    from usagecore import drain

    try:
        summary = drain.drain(db_path or config.default_db_path(), wait=False, lock_timeout=60.0)
    except (locks.Busy, drain.StoreFailed) as err:
        print(f"usagecore collect: {err}; the payloads stay in the spool", file=sys.stderr)
        return 1
    for problem in summary.problems[:10]:
        print(f"skipped: {problem['path']} at byte {problem['offset']}: {problem['message']}", file=sys.stderr)
    return 0


def main(args: list[str]) -> int:
    """Spool one payload; always 0."""
    try:
        if not config.env_flag("USAGECORE_TELEMETRY_ENABLED", True):
            return 0
        source, argument = _parse(args)
        if source not in SOURCES:
            _say(f"unknown or missing --source {source!r}; {USAGE}")
            return 0
        body = argument.encode() if argument is not None else _read_stdin()
        if not body.strip():
            _say("empty payload, nothing to record")
            return 0
        from usagecore import spool

        spool.deliver(source, CHANNELS[source], body,
                      account_id=os.environ.get("USAGECORE_TELEMETRY_ACCOUNT_ID") or None)
        if not config.env_flag("USAGECORE_TELEMETRY_SPOOL_ONLY", False):
            start_drain()
    except Exception as err:  # noqa: BLE001  (a hook must never fail the agent; say why if asked)
        _say(f"{type(err).__name__}: {err}")
    return 0
