"""Taking turns on the store: a waiter knocks, a holder that keeps the store
between batches sees the knock (locks.has_waiters)."""

from __future__ import annotations

import threading
import time

from usagecore import locks


def test_a_waiter_knocks_until_it_has_the_lock(tmp_path):
    path = tmp_path / "db.duckdb.lock"
    assert not locks.has_waiters(path)
    with locks.hold(path, what="holder"):
        got = threading.Event()

        def wait() -> None:
            with locks.hold(path, timeout=30, quiet=True):
                got.set()

        waiter = threading.Thread(target=wait)
        waiter.start()
        deadline = time.monotonic() + 10
        while not locks.has_waiters(path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert locks.has_waiters(path) and not got.is_set()
    waiter.join(10)
    assert got.is_set() and not locks.has_waiters(path)


def test_a_waiter_that_gives_up_stops_knocking(tmp_path):
    path = tmp_path / "db.duckdb.lock"
    with locks.hold(path):
        try:
            with locks.hold(path, timeout=0.2, quiet=True):
                raise AssertionError("got a lock that was held")
        except locks.Busy:
            pass
        assert not locks.has_waiters(path)
