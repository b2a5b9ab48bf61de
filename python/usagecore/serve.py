"""`usagecore serve`: the OpenTelemetry receiver, and the store's writer
while it runs.

The receiver itself is Rust (rust/server: OTLP/HTTP and OTLP/gRPC on a tokio
runtime of its own thread); it acknowledges a request once it is durable in
the spool. This process drains the spool into the store every second, hook
payloads included (behind the receiver while it is under load: `Deferral`),
holding `drain.lock` for as long as it runs (so hooks start no drains of
their own) and the store from one batch to the next until
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


# The drain stores behind the receiver: an acknowledgement needs only the
# spool. While the receiver is under load and the machine has no core to
# spare, the drain waits between batches and leaves the CPU to the receiver,
# but never longer than this behind the oldest request waiting in the spool:
# a burst is received at the receiver's own pace and stored right after it;
# under sustained load, storing keeps up at the cost of receiving.
DEFER_MAX_S = 30.0
# Under load: the receiver's threads used this much of a core since the last
# look (about 700 requests a second). It is low on purpose: on a machine other
# processes keep busy, the receiver gets less CPU than it wants, and a higher
# bar (0.3) let the drain back in, which starved the receiver further, which
# kept the drain in (2,500 instead of 9,000-11,000 requests a second). No core
# to spare: less than a whole one was idle (the drain is one thread: with less
# than a core idle, running it takes the CPU of others).
RECEIVER_BUSY_CORES = 0.05
SPARE_CORES = 1.0
DEFER_POLL_S = 0.1


def _cpu_idle_and_total() -> tuple[int, int]:
    """Idle and total CPU time of the machine so far (/proc/stat, in ticks)."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = [int(f) for f in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return fields[3] + fields[4], sum(fields)


class Deferral:
    """`pause()` before each drain batch: wait while the receiver needs the
    CPU (see DEFER_MAX_S). The receiver's CPU is the process's minus this
    thread's (the drain runs here, DuckDB with one thread in it)."""

    def __init__(self, root: Path, stop: threading.Event, session: drain.StoreSession):
        self.root, self.stop, self.session = root, stop, session
        self.cores = os.cpu_count() or 1
        self._sample = self._now()

    @staticmethod
    def _now() -> tuple[float, float, float, int, int]:
        return (time.monotonic(), time.process_time(), time.thread_time(), *_cpu_idle_and_total())

    def receiver_needs_cpu(self) -> bool:
        before, now = self._sample, self._now()
        self._sample = now
        wall = now[0] - before[0]
        if wall <= 0 or now[4] <= before[4]:
            return False
        drain_cores = (now[2] - before[2]) / wall
        receiver_cores = (now[1] - before[1]) / wall - drain_cores
        spare_cores = self.cores * (now[3] - before[3]) / (now[4] - before[4])
        return receiver_cores >= RECEIVER_BUSY_CORES and spare_cores < SPARE_CORES

    def _behind_s(self) -> float:
        oldest = spool.pending(self.root, limit=1)
        try:
            return (time.time_ns() - int(oldest[0].name.split("-", 1)[0])) / 1e9 if oldest else 0.0
        except ValueError:
            return DEFER_MAX_S  # a name we did not write: store it now

    def pause(self) -> bool:
        """Wait while the receiver needs the CPU; whether to store the next
        batch now (not once `serve` is told to stop: it stops receiving
        first, then stores the rest)."""
        if not self.receiver_needs_cpu():
            return not self.stop.is_set()
        quiet = 0
        # Once deferring, a single quiet look (another process took the CPU
        # for a moment) does not end it: two in a row do.
        while quiet < 2 and not self.stop.is_set() and self._behind_s() < DEFER_MAX_S:
            # Whoever waits for the store gets it meanwhile.
            self.session.give_way()
            self.stop.wait(DEFER_POLL_S)
            quiet = 0 if self.receiver_needs_cpu() else quiet + 1
        return not self.stop.is_set()


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
        deferral = Deferral(root, stop, session)
        try:
            if ready:
                ready(state)
            while not stop.is_set():
                _drain_now(db_path, root, keep_content, summary, session, pause=deferral.pause)
                session.let_go()
                # What the batch and DuckDB's cache took is free now;
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
               session: drain.StoreSession, final: bool = False, pause: Callable[[], bool] | None = None) -> None:
    """Store what is waiting; a busy store or a failing one is retried next time
    (the payloads stay in the spool), except at the end, where it is said."""
    try:
        drain.drain_pending(db_path, summary, root=root, keep_content=keep_content, session=session, pause=pause)
    except (locks.Busy, drain.StoreFailed) as err:
        session.close()
        print(f"usagecore serve: {err}; the payloads stay in the spool"
              + ("" if final else ", retrying"), file=sys.stderr)
