"""Taking turns on the store. DuckDB lets one process write a file and no
other process read it meanwhile; a second one gets a lock error. So every
process that opens the store first takes `<store>.lock` (flock): writers
exclusively, readers shared. Whoever comes second waits, briefly and with a
message, instead of failing.

Whoever waits for the store also holds a shared lock on `<store>.lock.waiting`
meanwhile (a knock): a holder that keeps the store between turns (`usagecore
serve`) looks for one with `has_waiters` and lets go.

Drains also take `drain.lock` in the spool folder, without waiting: one
drain at a time is enough, and a hook never waits for anything.

Standard library only, and little of it: the hook path imports `is_locked`
(so `hold` is a class, not a `contextlib` generator, and paths may be strings).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_TIMEOUT_S = float(os.environ.get("USAGECORE_LOCK_TIMEOUT", "10"))
# How long to wait silently before saying what we are waiting for.
QUIET_WAIT_S = 1.0
# A waiter tries again at least this often...
POLL_MAX_S = 0.1
# ...so a holder that lets go for this long between turns lets waiters in.
GIVE_WAY_S = 2.5 * POLL_MAX_S


class Busy(RuntimeError):
    """The store stayed taken for longer than we were willing to wait."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def _holder(path: Path) -> str:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return "another usagecore process"
    return text or "another usagecore process"


def try_lock(path: Path | str, exclusive: bool = True) -> int | None:
    """The file descriptor holding the lock, or None when somebody else has it."""
    # Readable by all: a reader that may not write (another user's store, a
    # read-only file system) still shares the lock through a read-only descriptor.
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        if exclusive:
            raise
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            # No lock file where none can be made: nobody can write this store
            # either, so there is no writer to wait for.
            fd = os.open(os.devnull, os.O_RDONLY)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release(fd: int) -> None:
    os.close(fd)  # closing the descriptor drops its flock


def is_locked(path: Path | str) -> bool:
    """Whether somebody holds `path` (exclusively) right now."""
    fd = try_lock(path, exclusive=False)
    if fd is None:
        return True
    release(fd)
    return False


def _open_waiting(path: Path | str) -> int | None:
    try:
        return os.open(str(path) + ".waiting", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


def _knock(path: Path | str) -> int | None:
    """Say that we wait for `path`: a shared lock on its `.waiting` file."""
    fd = _open_waiting(path)
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)  # a holder looking right now; the next try knocks
        return None
    return fd


def has_waiters(path: Path | str) -> bool:
    """Whether somebody waits for the lock on `path` (see `_knock`)."""
    fd = _open_waiting(path)
    if fd is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class hold:
    """`with hold(path):` holds the lock on `path` meanwhile, waiting up to
    `timeout` seconds for it.

    An exclusive holder writes who it is into the file, so that whoever waits
    can say what it is waiting for.
    """

    def __init__(self, path: Path, *, exclusive: bool = True, timeout: float | None = None,
                 what: str = "", quiet: bool = False):
        self.path, self.exclusive, self.what, self.quiet = path, exclusive, what, quiet
        self.timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
        self.fd: int | None = None

    def __enter__(self) -> None:
        started = time.monotonic()
        told = self.quiet
        delay = 0.005
        knocked: int | None = None
        try:
            while True:
                fd = try_lock(self.path, self.exclusive)
                if fd is not None:
                    break
                if knocked is None:
                    knocked = _knock(self.path)
                waited = time.monotonic() - started
                if waited >= self.timeout:
                    raise Busy(f"the store is still in use by {_holder(self.path)} after {self.timeout:.0f} s; "
                               "try again in a moment (or raise USAGECORE_LOCK_TIMEOUT)")
                if not told and waited >= QUIET_WAIT_S:
                    print(f"usagecore: waiting for {_holder(self.path)} to finish with the store...",
                          file=sys.stderr)
                    told = True
                time.sleep(delay)
                delay = min(delay * 2, POLL_MAX_S)
        finally:
            if knocked is not None:
                release(knocked)
        self.fd = fd
        try:
            if self.exclusive:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{self.what or 'usagecore'} (pid {os.getpid()})".encode(), 0)
        except BaseException:
            self._release()
            raise

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        if self.fd is not None:
            release(self.fd)
            self.fd = None


def store_lock(db_path: Path, *, exclusive: bool = True, timeout: float | None = None,
               what: str = "", quiet: bool = False):
    """Hold the store's lock (see `hold`)."""
    from pathlib import Path

    return hold(lock_path(Path(db_path)), exclusive=exclusive, timeout=timeout, what=what, quiet=quiet)
