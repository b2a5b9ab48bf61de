"""The OTLP/HTTP receiver on a real loopback port: every capture body is
accepted and stored, and the status table of the OTLP spec holds (405, 415,
400, 401, 413 also after decompression, 429/503 with Retry-After), with
partialSuccess in the request's encoding; after every bad request the server
keeps serving."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp_captures import ALL_RUNS, parts, requests
from test_otlp_store import rows, store_parts

from usagecore import _core, drain, spool
from usagecore.live.otlp import split

SMALL_LOGS = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
    {"timeUnixNano": "1700000000000000000", "body": {"stringValue": "x"}}]}]}]}).encode()


@pytest.fixture
def server(tmp_path):
    started = _core.OtlpServer(host="127.0.0.1", port=0, grpc_port=None, spool_dir=tmp_path / "spool",
                               tokens={}, max_body_bytes=1 << 20, max_decompressed_bytes=4 << 20)
    yield started
    started.stop()


def spooled(root: Path) -> list[tuple[str, int]]:
    """The requests waiting in a spool: (path, how many)."""
    return sorted(Counter(part[0] for file in spool.pending(root) for part in split(*spool.read(file))).items())


def post(port: int, path: str, body: bytes, headers: dict | None = None, method: str = "POST"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_raw(port: int, body: bytes) -> bytes:
    """POST whose body the server may refuse before reading it all: the
    answer is read even when sending breaks off."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = (f"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        try:
            sock.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sock.recv(65536)


def test_every_capture_is_acknowledged_then_stored(tmp_path, server, db_path):
    sent = 0
    for run in ALL_RUNS:
        for meta, body in requests(run):
            headers = {"Content-Type": meta["content-type"]}
            if meta.get("content-encoding"):
                headers["Content-Encoding"] = meta["content-encoding"]
            status, _, reply = post(server.http_port, meta["path"], body, headers)
            assert status == 200, (run, meta["body_file"], reply)
            sent += 1
    assert server.stats()["requests"] == sent
    server.stop()  # closes the open segments into new/ (else they go there within a quarter second)
    summary = drain.drain(db_path, root=tmp_path / "spool")
    assert summary.quarantined == 0 and spool.pending(tmp_path / "spool") == []
    # Exactly the rows the same bodies give when converted and stored directly.
    direct = tmp_path / "direct.duckdb"
    store_parts(direct, [[p for run in ALL_RUNS for p in parts(run)]])
    assert rows(db_path) == rows(direct)
    assert len(rows(db_path)["usage_events"]) > 50


def test_status_table(server, tmp_path):
    port = server.http_port
    assert post(port, "/v1/logs", SMALL_LOGS)[0] == 200
    status, headers, _ = post(port, "/v1/logs", b"", method="GET")
    assert status == 405 and headers["allow"] == "POST"
    assert post(port, "/v1/logs", SMALL_LOGS, {"Content-Type": "text/plain"})[0] == 415
    assert post(port, "/v1/logs", SMALL_LOGS, {"Content-Encoding": "br"})[0] == 415
    assert post(port, "/v1/nothing", SMALL_LOGS)[0] == 404
    status, _, body = post(port, "/v1/logs", b'{"resourceLogs": 5}')
    assert status == 400 and "resourceLogs" in json.loads(body)["message"]
    assert post(port, "/v1/logs", b"\x0a\xff\xff", {"Content-Type": "application/x-protobuf"})[0] == 400
    assert post(port, "/v1/logs", b"not gzip", {"Content-Encoding": "gzip"})[0] == 400
    # Too large as sent, and too large only once decompressed (a gzip bomb).
    assert post_raw(port, b" " * (2 << 20)).startswith(b"HTTP/1.1 413")
    bomb = gzip.compress(b" " * (64 << 20))
    assert len(bomb) < 100_000
    assert post(port, "/v1/logs", bomb, {"Content-Encoding": "gzip"})[0] == 413
    # Still serving, and nothing bad reached the spool.
    assert post(port, "/v1/logs", gzip.compress(SMALL_LOGS), {"Content-Encoding": "gzip"})[0] == 200
    assert server.stats()["requests"] == 2


def test_chunked_body_is_accepted(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    connection.putrequest("POST", "/v1/logs")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for start in range(0, len(SMALL_LOGS), 7):
        chunk = SMALL_LOGS[start:start + 7]
        connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    connection.send(b"0\r\n\r\n")
    assert connection.getresponse().status == 200
    connection.close()


def test_partial_success_in_the_request_encoding(server):
    # A span whose id has the wrong length is rejected; the good one is kept.
    spans = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "ok"},
        {"traceId": "5b8e", "spanId": "eee19b7ec3c1b174", "name": "bad"}]}]}]}
    status, _, body = post(server.http_port, "/v1/traces", json.dumps(spans).encode())
    assert status == 200
    assert json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from google.protobuf import json_format

    message = json_format.ParseDict({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "7uGbfsPBsXQ=", "name": "ok"},
        {"traceId": "W44=", "spanId": "7uGbfsPBsXQ=", "name": "bad"}]}]}]}, ExportTraceServiceRequest())
    status, headers, body = post(server.http_port, "/v1/traces", message.SerializeToString(),
                                 {"Content-Type": "application/x-protobuf"})
    assert status == 200 and headers["content-type"] == "application/x-protobuf"
    reply = ExportTraceServiceResponse()
    reply.ParseFromString(body)
    assert reply.partial_success.rejected_spans == 1
    status, _, body = post(server.http_port, "/v1/logs", SMALL_LOGS, {"Content-Type": "application/x-protobuf"})
    assert status == 400
    ok = ExportLogsServiceResponse()
    assert post(server.http_port, "/v1/logs", b"", {"Content-Type": "application/x-protobuf"})[2] == \
        ok.SerializeToString()


def test_bearer_tokens_map_to_accounts(tmp_path, db_path):
    server = _core.OtlpServer(host="127.0.0.1", port=0, grpc_port=None, spool_dir=tmp_path / "spool",
                              tokens={"alice-secret": "alice", "bob-secret": None})
    try:
        port = server.http_port
        status, headers, _ = post(port, "/v1/logs", SMALL_LOGS)
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        assert post(port, "/v1/logs", SMALL_LOGS, {"Authorization": "Bearer wrong"})[0] == 401
        assert post(port, "/v1/logs", SMALL_LOGS, {"Authorization": "Basic YTpi"})[0] == 401
        meta, body = requests("claude-code/rich_http_json")[1]
        assert post(port, meta["path"], body, {"Authorization": "Bearer alice-secret"})[0] == 200
    finally:
        server.stop()
    drain.drain(db_path, root=tmp_path / "spool")
    from usagecore.store import Store

    with Store(db_path) as store:
        accounts = store.con.execute("SELECT DISTINCT account_id FROM otel_events").fetchall()
    assert accounts == [("alice",)]


def test_full_spool_answers_503_with_retry_after(tmp_path):
    server = _core.OtlpServer(host="127.0.0.1", port=0, grpc_port=None, spool_dir=tmp_path / "spool",
                              tokens={}, max_pending_files=2)
    try:
        statuses = []
        for _ in range(4):
            statuses.append(post(server.http_port, "/v1/logs", SMALL_LOGS))
            # Each segment goes into new/ once it is a quarter second old.
            time.sleep(0.5)
    finally:
        server.stop()
    assert [s for s, _, _ in statuses][:2] == [200, 200]
    status, headers, _ = statuses[-1]
    assert status == 503 and headers["retry-after"] == "1"


def test_stop_writes_out_what_was_accepted_and_frees_the_port(tmp_path):
    server = _core.OtlpServer(host="127.0.0.1", port=0, grpc_port=None, spool_dir=tmp_path / "spool", tokens={})
    port = server.http_port
    assert post(port, "/v1/logs", SMALL_LOGS)[0] == 200
    server.stop()
    server.stop()  # idempotent
    assert spooled(tmp_path / "spool") == [("/v1/logs", 1)]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_port_in_use_is_a_clear_error(tmp_path, server):
    with pytest.raises(OSError, match="in use"):
        _core.OtlpServer(host="127.0.0.1", port=server.http_port, grpc_port=None, spool_dir=tmp_path / "s2",
                         tokens={})


def test_a_spool_file_of_several_requests_is_split(tmp_path):
    from usagecore.live.otlp import split

    header = {"v": 1, "source": "otlp", "channel": "otlp", "parts": [
        {"path": "/v1/logs", "content_type": "application/json", "length": 3, "account_id": "a",
         "received_at_ns": 5},
        {"path": "/v1/metrics", "content_type": "application/x-protobuf", "length": 2, "account_id": None,
         "received_at_ns": 6}]}
    assert split(header, b"abcde") == [("/v1/logs", "application/json", b"abc", "a", 5),
                                       ("/v1/metrics", "application/x-protobuf", b"de", None, 6)]
    with pytest.raises(ValueError, match="part 2"):
        split(header, b"abcd")


def test_a_segment_torn_by_a_kill_keeps_its_complete_frames(tmp_path, db_path):
    """A receiver killed while appending leaves its segment in tmp/ with a torn
    last frame (never acknowledged): recovery stores every complete frame."""
    server = _core.OtlpServer(host="127.0.0.1", port=0, grpc_port=None, spool_dir=tmp_path / "spool", tokens={})
    try:
        for seq in range(3):
            assert post(server.http_port, "/v1/logs", SMALL_LOGS.replace(b"1700000000", b"170000000%d" % seq))[0] == 200
    finally:
        server.stop()
    (segment,) = spool.pending(tmp_path / "spool")
    data = segment.read_bytes()
    # As a dead writer leaves it: in tmp/, the last frame cut in the middle, its pid gone.
    dead = segment.name.replace(f"-{segment.name.split('-')[1]}-", "-999999999-")
    (tmp_path / "spool" / "tmp" / dead).write_bytes(data[:-10])
    segment.unlink()
    summary = drain.drain(db_path, root=tmp_path / "spool")
    assert (summary.payloads, summary.quarantined, spool.pending(tmp_path / "spool")) == (1, 0, [])
    (problem,) = summary.problems
    assert re.fullmatch(r"torn last frame \(\d+ bytes, never acknowledged\) left out", problem["message"])
    assert len(rows(db_path)["otel_events"]) == 2


def test_segments_prepared_by_a_running_receiver_stay_theirs_however_old(tmp_path, db_path):
    """A running receiver keeps zero-filled segments prepared in tmp/ for as
    long as it runs: a drain must not take them from it, however old; what a
    dead receiver left (or a process that only reuses its pid) is recovered."""
    server = _core.OtlpServer(host="127.0.0.1", port=0, grpc_port=None, spool_dir=tmp_path / "spool", tokens={})
    try:
        tmp = tmp_path / "spool" / "tmp"
        deadline = time.monotonic() + 10
        # Those whose zeros are all there (256 KiB at least; another may be on its way).
        while not (prepared := [p for p in tmp.iterdir() if p.stat().st_size > 256 << 10]):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert all(set(p.read_bytes().split(b"\n", 1)[1]) == {0} for p in prepared)
        for path in prepared:
            os.utime(path, (time.time() - 86400,) * 2)
        # Ours, but named before this process started: its pid was reused.
        reused = tmp / f"{1_000_000_000 * 10**9:019d}-{os.getpid()}-00000000.otlp.otlp"
        reused.write_bytes(prepared[0].read_bytes())
        assert spool.recover(tmp_path / "spool") == 1
        left = set(tmp.iterdir())
        assert set(prepared) <= left and reused not in left
        assert post(server.http_port, "/v1/logs", SMALL_LOGS)[0] == 200
    finally:
        server.stop()
    assert list(tmp.iterdir()) == []
    summary = drain.drain(db_path, root=tmp_path / "spool")
    assert (summary.payloads, summary.problems, len(rows(db_path)["otel_events"])) == (2, [], 1)


def test_a_file_nobody_can_be_told_to_own_is_recovered_once_old(tmp_path):
    spool_root = tmp_path / "spool"
    for folder in ("tmp", "new"):
        (spool_root / folder).mkdir(parents=True)
    old, young = spool_root / "tmp" / "left-by-someone.bin", spool_root / "tmp" / "left-by-another.bin"
    old.write_bytes(b"x")
    young.write_bytes(b"y")
    os.utime(old, (time.time() - 3600,) * 2)
    assert spool.recover(spool_root) == 1
    assert [p.name for p in (spool_root / "tmp").iterdir()] == [young.name]


def test_grpc_auth_gzip_and_partial_success(tmp_path):
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    server = _core.OtlpServer(host="127.0.0.1", port=0, grpc_port=0, spool_dir=tmp_path / "spool",
                              tokens={"t0ken": "team-a"})
    try:
        request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[
            Span(trace_id=bytes(range(16)), span_id=bytes(range(8)), name="ok"),
            Span(trace_id=b"\x01", span_id=bytes(range(8)), name="bad")])])])
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Export(request, timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            reply = stub.Export(request, metadata=[("authorization", "Bearer t0ken")],
                                compression=grpc.Compression.Gzip, timeout=10)
        assert reply.partial_success.rejected_spans == 1
    finally:
        server.stop()
    ((path, content_type, _, account_id, _),) = [part for file in spool.pending(tmp_path / "spool")
                                                 for part in split(*spool.read(file))]
    assert (path, content_type, account_id) == ("/v1/traces", "application/x-protobuf", "team-a")


def test_concurrent_requests_share_spool_files_and_all_are_stored(tmp_path, db_path):
    """Group commit: requests that arrive while a file is being synced go
    into the next file together; the drain splits them again."""
    from concurrent.futures import ThreadPoolExecutor

    server = _core.OtlpServer(host="127.0.0.1", port=0, grpc_port=None, spool_dir=tmp_path / "spool", tokens={})

    def send(seq: int) -> int:
        body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": str(1_700_000_000_000_000_000 + seq),
             "attributes": [{"key": "seq", "value": {"intValue": seq}}]}]}]}]}).encode()
        return post(server.http_port, "/v1/logs", body)[0]

    try:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(send, range(400)))
    finally:
        server.stop()
    assert statuses == [200] * 400
    files = spool.pending(tmp_path / "spool")
    assert len(files) < 400 and spooled(tmp_path / "spool") == [("/v1/logs", 400)]
    drain.drain(db_path, root=tmp_path / "spool")
    from usagecore.store import Store

    with Store(db_path) as store:
        seqs = store.con.execute("SELECT json_extract(attributes, '$.seq')::INT FROM otel_events ORDER BY 1").fetchall()
    assert [s for (s,) in seqs] == list(range(400))
