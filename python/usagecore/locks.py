"""Taking turns on the store. DuckDB lets one process write a file and no
other process read it meanwhile; a second one gets a lock error. So every
process that opens the store first takes `<store>.lock` (flock): writers
exclusively, readers shared. Whoever comes second waits, briefly and with a
message, instead of failing.

Drains also take `drain.lock` in the spool folder, without waiting: one
drain at a time is enough, and a hook never waits for anything.

Standard library only: the hook path imports `try_lock`.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TIMEOUT_S = float(os.environ.get("USAGECORE_LOCK_TIMEOUT", "10"))
# How long to wait silently before saying what we are waiting for.
QUIET_WAIT_S = 1.0


class Busy(RuntimeError):
    """The store stayed taken for longer than we were willing to wait."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "another usagecore process"
    return text or "another usagecore process"


def try_lock(path: Path, exclusive: bool = True) -> int | None:
    """The file descriptor holding the lock, or None when somebody else has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release(fd: int) -> None:
    os.close(fd)  # closing the descriptor drops its flock


def is_locked(path: Path) -> bool:
    """Whether somebody holds `path` (exclusively) right now."""
    fd = try_lock(path, exclusive=False)
    if fd is None:
        return True
    release(fd)
    return False


@contextmanager
def hold(path: Path, *, exclusive: bool = True, timeout: float | None = None,
         what: str = "", quiet: bool = False) -> Iterator[None]:
    """Hold the lock on `path` meanwhile, waiting up to `timeout` seconds for it.

    An exclusive holder writes who it is into the file, so that whoever waits
    can say what it is waiting for.
    """
    timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
    started = time.monotonic()
    told = quiet
    delay = 0.005
    while True:
        fd = try_lock(path, exclusive)
        if fd is not None:
            break
        waited = time.monotonic() - started
        if waited >= timeout:
            raise Busy(f"the store is still in use by {_holder(path)} after {timeout:.0f} s; "
                       "try again in a moment (or raise USAGECORE_LOCK_TIMEOUT)")
        if not told and waited >= QUIET_WAIT_S:
            print(f"usagecore: waiting for {_holder(path)} to finish with the store...", file=sys.stderr)
            told = True
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    try:
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{what or 'usagecore'} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        release(fd)


def store_lock(db_path: Path, *, exclusive: bool = True, timeout: float | None = None,
               what: str = "", quiet: bool = False):
    """Hold the store's lock (see `hold`)."""
    return hold(lock_path(Path(db_path)), exclusive=exclusive, timeout=timeout, what=what, quiet=quiet)
