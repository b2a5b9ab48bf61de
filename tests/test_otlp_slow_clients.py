"""Slow clients against the OTLP/HTTP receiver on a real loopback port: a
client that sends its headers and then trickles its body a byte at a time
(slow loris), or never finishes its headers, blocks nobody else; once the
body timeout (`usagecore serve --body-timeout`) is over it gets 408, and the
server keeps serving and stores exactly the requests that were complete."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path

from test_otlp_server import SMALL_LOGS, post
from test_serve import Serve, query

from usagecore import _core, spool
from usagecore.live.otlp import split

HEAD = (b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(SMALL_LOGS))


class SlowLoris:
    """A connection that sent its headers and then sends one body byte per
    `interval` seconds, never all of it, until the server answers."""

    def __init__(self, port: int, interval: float):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=interval)
        self.sock.sendall(HEAD + SMALL_LOGS[:1])
        self.answer = b""
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        for byte in SMALL_LOGS[1:-1]:
            try:
                self.answer = self.sock.recv(65536)
                return  # an answer, or the server closed the connection (b"")
            except TimeoutError:
                if self.closing.is_set():
                    return
            except OSError:
                return  # reset: no answer
            try:
                self.sock.sendall(bytes([byte]))
            except OSError:
                pass  # the server gave up on us; its answer may still be readable

    def status(self, timeout: float) -> bytes:
        """The status line the server answered with."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the server never answered the slow client"
        return self.answer.split(b"\r\n", 1)[0]

    def close(self) -> None:
        self.closing.set()
        with suppress(OSError):  # already closed by the server
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread's recv
        self.thread.join(10)
        self.sock.close()


def test_slow_clients_block_nobody(tmp_path):
    # A body timeout far longer than the test: the slow clients stay connected throughout.
    server = _core.OtlpServer(host="127.0.0.1", port=0, grpc_port=None, spool_dir=tmp_path / "spool",
                              tokens={}, body_timeout_s=120.0)
    try:
        with ExitStack() as slow:
            lorises = [SlowLoris(server.http_port, interval=2.0) for _ in range(32)]
            for loris in lorises:
                slow.callback(loris.close)
            # And one that never finishes its headers.
            trickler = slow.enter_context(socket.create_connection(("127.0.0.1", server.http_port)))
            trickler.sendall(HEAD[:20])
            statuses = [post(server.http_port, "/v1/logs", SMALL_LOGS)[0] for _ in range(20)]
            assert all(loris.thread.is_alive() and not loris.answer for loris in lorises)
        assert statuses == [200] * 20
        assert server.stats()["requests"] == 20
    finally:
        server.stop()
    assert sum(len(split(*spool.read(p))) for p in spool.pending(tmp_path / "spool")) == 20


def test_serve_answers_408_after_the_body_timeout(db_path: Path, isolated_home: Path):
    serve = Serve(db_path, isolated_home, "--no-grpc", "--body-timeout", "1")
    try:
        started = time.monotonic()
        loris = SlowLoris(serve.port, interval=0.3)
        assert post(serve.port, "/v1/logs", SMALL_LOGS)[0] == 200
        try:
            assert loris.status(timeout=30).startswith(b"HTTP/1.1 408")
        finally:
            loris.close()
        # Not before the timeout: the bytes it trickled kept it waiting, not alive.
        assert time.monotonic() - started >= 0.9
        assert post(serve.port, "/v1/logs", SMALL_LOGS.replace(b"1700000000000000000", b"1700000001000000000"))[0] == 200
    finally:
        code, err = serve.stop()
    assert code == 0, err
    # The two complete requests, nothing of the slow one.
    assert query(db_path, "SELECT time_unix_nano FROM otel_events ORDER BY 1") == [
        (1_700_000_000_000_000_000,), (1_700_000_001_000_000_000,)]
