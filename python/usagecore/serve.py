"""`usagecore serve`: the OpenTelemetry receiver, and the store's writer
while it runs.

The receiver itself is Rust (rust/server: OTLP/HTTP and OTLP/gRPC on a tokio
runtime of its own thread); it acknowledges a request once it is durable in
the spool. This process drains the spool into the store every second, hook
payloads included, holding `drain.lock` for as long as it runs (so hooks start
no drains of their own) and the store from one batch to the next until
somebody else waits for it (`drain.StoreSession`: `report`, `sql`, `backfill`
and `collect` take turns with it instead of failing). SIGTERM or SIGINT: stop
accepting, finish the requests in flight, store everything that was
acknowledged, exit 0.

While it runs, `state_dir()/serve.json` says where (pid, host, ports).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from usagecore import drain, locks, spool
from usagecore.config import spool_dir, state_dir

# A drain batch has a fixed cost (the event merge and pricing SQL) that
# dominated at a hundred requests a second: draining once a second instead of
# four times halved serve's CPU at that rate. Under more load the drain runs
# batch after batch anyway.
DRAIN_INTERVAL_S = 1.0
DEFAULT_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 4318
DEFAULT_GRPC_PORT = 4317
# A client whose headers are in has this long to send its body, then gets 408
# (a slow client cannot hold a connection and its memory forever).
DEFAULT_BODY_TIMEOUT_S = 30.0


class ServeError(RuntimeError):
    """`serve` cannot start as asked."""


def state_path() -> Path:
    return state_dir() / "serve.json"


def running() -> dict | None:
    """The state of a receiver that is running now, else None."""
    try:
        state = json.loads(state_path().read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def parse_tokens(values: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    """`TOKEN` or `TOKEN=ACCOUNT`: bearer tokens and the account each one's data belongs to."""
    tokens: dict[str, str | None] = {}
    for value in values:
        token, sep, account = value.partition("=")
        if not token.strip():
            raise ServeError(f"empty token in {value!r}")
        tokens[token.strip()] = account.strip() or None if sep else None
    return tokens


def _fewer_malloc_arenas() -> None:
    """glibc gives each thread that allocates an arena of its own (up to 8 per
    core) and keeps what is freed in them: with the receiver's threads, the
    spool writers and DuckDB's, that was a third of serve's resident memory.
    Two arenas are plenty for a process whose threads mostly wait."""
    import ctypes

    m_arena_max = -8
    try:
        ctypes.CDLL("libc.so.6").mallopt(m_arena_max, 2)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator has its own policy


def _malloc_trim():
    """glibc's `malloc_trim`, which hands the free memory of every arena back
    to the system; None when the C library is not glibc."""
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


# How much lower than the receiver's the drain's CPU priority is (a nice
# increment): the receiver's threads answer agents that wait for the
# acknowledgement, the drain is background work with a spool in front of it.
DRAIN_NICENESS = 5


def _drain_in_background() -> None:
    """Lower the priority of this thread (the drain, and DuckDB's work, which
    runs in it) only; on Linux a thread's nice value is its own."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + DRAIN_NICENESS))
    except (OSError, AttributeError):
        pass  # not Linux: the drain keeps the process's priority


def _prepare_store(db_path: Path) -> None:
    """Create or migrate the store before listening: from the moment `serve`
    answers, `report` and `sql` find a store to read."""
    import duckdb

    from usagecore.store import Store

    try:
        with locks.store_lock(db_path, what="usagecore serve"), Store(db_path):
            pass
    except (duckdb.Error, OSError, locks.Busy) as err:
        raise ServeError(f"cannot open store {db_path}: {err}") from err


def serve(db_path: Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_HTTP_PORT,
          grpc_port: int | None = DEFAULT_GRPC_PORT, tokens: dict[str, str | None] | None = None,
          keep_content: bool = False, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
          ready: Callable[[dict], None] | None = None,
          stop: threading.Event | None = None) -> drain.DrainSummary:
    """Serve until SIGTERM/SIGINT (or `stop` is set); return what was stored."""
    from usagecore import _core

    tokens = tokens or {}
    if not tokens and not is_loopback(host):
        raise ServeError(f"refusing to listen on {host} without a token: anybody who can reach it could "
                         "write into your ledger; add --token (or bind 127.0.0.1)")
    root = spool_dir()
    stop = stop or threading.Event()
    try:
        drain_lock = locks.hold(drain.drain_lock_path(root), timeout=5.0, what="usagecore serve", quiet=True)
        drain_lock.__enter__()
    except locks.Busy as err:
        raise ServeError(f"another drain or `usagecore serve` is running ({err})") from err
    summary = drain.DrainSummary()
    session = drain.StoreSession(db_path)
    _fewer_malloc_arenas()
    try:
        _prepare_store(db_path)
        try:
            server = _core.OtlpServer(host=host, port=port, grpc_port=grpc_port, spool_dir=root, tokens=tokens,
                                       body_timeout_s=body_timeout_s)
        except OSError as err:
            raise ServeError(f"cannot listen on {host}:{port}/{grpc_port}: {err}") from err
        state = {"pid": os.getpid(), "host": host, "port": server.http_port, "grpc_port": server.grpc_port,
                 "db": str(db_path), "spool": str(root), "started_at": time.time()}
        state_path().parent.mkdir(parents=True, exist_ok=True)
        state_path().write_text(json.dumps(state))
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
                    } if threading.current_thread() is threading.main_thread() else {}
        _drain_in_background()
        trim = _malloc_trim()
        try:
            if ready:
                ready(state)
            while not stop.is_set():
                _drain_now(db_path, root, keep_content, summary, session)
                session.let_go()
                # What the batch and the store's indexes took is free now;
                # without this glibc kept most of it (100 MB at a 345,000-event
                # store) until the next batch.
                if trim is not None:
                    trim(0)
                stop.wait(DRAIN_INTERVAL_S)
        finally:
            # Everything acknowledged is in the spool once stop() returns.
            server.stop()
            try:
                _drain_now(db_path, root, keep_content, summary, session, final=True)
            finally:
                session.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            try:
                state_path().unlink()
            except FileNotFoundError:
                pass
    finally:
        drain_lock.__exit__(None, None, None)
    summary.left_in_spool = len(spool.pending(root))
    return summary


def _drain_now(db_path: Path, root: Path, keep_content: bool, summary: drain.DrainSummary,
               session: drain.StoreSession, final: bool = False) -> None:
    """Store what is waiting; a busy store or a failing one is retried next time
    (the payloads stay in the spool), except at the end, where it is said."""
    try:
        drain.drain_pending(db_path, summary, root=root, keep_content=keep_content, session=session)
    except (locks.Busy, drain.StoreFailed) as err:
        session.close()
        print(f"usagecore serve: {err}; the payloads stay in the spool"
              + ("" if final else ", retrying"), file=sys.stderr)
