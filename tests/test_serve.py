"""`usagecore serve` as a real process on real loopback ports: the
OpenTelemetry SDK's own exporters (http/protobuf and gRPC) send to it, other
commands keep working while it runs, SIGTERM stores everything acknowledged,
and SIGKILL in the middle of a load loses no acknowledged record and counts
none twice after a restart."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

from usagecore.store import Store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """A `usagecore serve` subprocess."""

    def __init__(self, db_path: Path, home: Path, *extra: str):
        self.port, self.grpc_port = free_port(), free_port()
        self.state = home / ".local" / "state" / "usagecore" / "serve.json"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "usagecore", "--db", str(db_path), "serve", "--port", str(self.port),
             "--grpc-port", str(self.grpc_port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not (self.state.exists() and self._pid_matches()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {self.process.communicate()[1]}")
            time.sleep(0.05)
        self.spool = Path(json.loads(self.state.read_text())["spool"])

    def _pid_matches(self) -> bool:
        try:
            return json.loads(self.state.read_text())["pid"] == self.process.pid
        except (ValueError, KeyError, OSError):
            return False

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


def query(db_path: Path, sql: str):
    with Store(db_path) as store:
        return store.con.execute(sql).fetchall()


def test_sdk_exporters_over_http_and_grpc(db_path, isolated_home):
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    serve = Serve(db_path, isolated_home)
    try:
        exporters = {
            "http": (HttpMetrics(endpoint=f"http://127.0.0.1:{serve.port}/v1/metrics"),
                     HttpSpans(endpoint=f"http://127.0.0.1:{serve.port}/v1/traces")),
            "grpc": (GrpcMetrics(endpoint=f"127.0.0.1:{serve.grpc_port}", insecure=True),
                     GrpcSpans(endpoint=f"127.0.0.1:{serve.grpc_port}", insecure=True)),
        }
        for n, (protocol, (metric_exporter, span_exporter)) in enumerate(exporters.items(), start=1):
            resource = Resource.create({"service.name": f"sdk-{protocol}"})
            reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
            meters = MeterProvider(resource=resource, metric_readers=[reader])
            meters.get_meter("t").create_counter("app.token.usage").add(1000 * n + 11, {"type": "input"})
            meters.force_flush()
            meters.shutdown()
            tracer_provider = TracerProvider(resource=resource)
            tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
            with tracer_provider.get_tracer("t").start_as_current_span("chat mock") as span:
                span.set_attributes({"gen_ai.usage.input_tokens": 1000 * n + 11, "gen_ai.usage.output_tokens": 17,
                                     "gen_ai.usage.cache_read.input_tokens": 1000 * n + 1,
                                     "gen_ai.request.model": "mock-model"})
            tracer_provider.shutdown()
        # Other commands keep working meanwhile, taking turns with the receiver.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            out = run_cli("--db", str(db_path), "sql", "SELECT count(DISTINCT service_name) AS n FROM "
                          "(SELECT service_name FROM otel_metric_points UNION ALL SELECT service_name FROM otel_spans)",
                          "--format", "csv").stdout
            if out.split()[-1] == "2":
                break
            time.sleep(0.2)
        assert out.split()[-1] == "2"
    finally:
        code, err = serve.stop()
    assert code == 0, err
    assert not serve.state.exists()
    # The Python SDK exports cumulative sums (again at shutdown): the deltas add up to the count.
    assert query(db_path, "SELECT service_name, sum(delta_value) FROM otel_metric_points GROUP BY 1 ORDER BY 1") == [
        ("sdk-grpc", 2011.0), ("sdk-http", 1011.0)]
    assert query(db_path, "SELECT source_system, input_tokens, cache_read_tokens, output_tokens FROM usage_events "
                          "WHERE event_type = 'message' ORDER BY input_tokens") == [
        ("otlp", 10, 1001, 17), ("otlp", 10, 2001, 17)]


def test_non_loopback_without_token_is_refused(db_path):
    result = run_cli("--db", str(db_path), "serve", "--host", "0.0.0.0", "--port", "0", check=False)
    assert result.returncode != 0 and "without a token" in result.stderr


def _log_body(seq: int) -> bytes:
    return json.dumps({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "load"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": str(1_700_000_000_000_000_000 + seq),
                                        "attributes": [{"key": "seq", "value": {"intValue": seq}}]}]}]}]}).encode()


def _send(port: int, seq: int) -> bool:
    """One export; True only when the receiver acknowledged it."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("POST", "/v1/logs", body=_log_body(seq), headers={"Content-Type": "application/json"})
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


# The 20 trials (about a second each).
@pytest.mark.parametrize("trial", range(int(os.environ.get("USAGECORE_FAULT_TRIALS", "20"))))
def test_sigkill_mid_load_then_restart_loses_nothing_acknowledged(db_path, isolated_home, trial):
    serve = Serve(db_path, isolated_home, "--no-grpc")
    acknowledged: set[int] = set()
    seq, kill_at, total = 0, 40 + 7 * trial, 200
    while seq < total:
        if seq == kill_at:
            serve.kill()  # mid-load: whatever was acknowledged is in the spool
            serve = Serve(db_path, isolated_home, "--no-grpc")
        # Like an exporter: retry until acknowledged (a retry may repeat a stored export).
        for _ in range(50):
            if _send(serve.port, seq):
                acknowledged.add(seq)
                break
            time.sleep(0.05)
        seq += 1
    code, err = serve.stop()
    assert code == 0, err
    stored = query(db_path, "SELECT json_extract(attributes, '$.seq')::INT AS s, count(*) FROM otel_events "
                            "GROUP BY s ORDER BY s")
    assert acknowledged == set(range(total))
    assert stored == [(s, 1) for s in range(total)]
    # What the killed receiver left (its segment, and the zero-filled ones it
    # had prepared) was recovered and drained, without a torn frame: it was
    # killed between requests.
    assert "torn" not in err, err
    assert [p.name for folder in ("tmp", "new", "quarantine") for p in (serve.spool / folder).iterdir()] == []


def test_same_export_twice_is_stored_once(db_path, isolated_home):
    serve = Serve(db_path, isolated_home, "--no-grpc")
    try:
        assert _send(serve.port, 7) and _send(serve.port, 7)
    finally:
        code, err = serve.stop()
    assert code == 0, err
    assert query(db_path, "SELECT count(*) FROM otel_events") == [(1,)]


def test_reports_take_turns_with_serve_under_load(db_path, isolated_home):
    """serve keeps the store open from batch to batch; whoever waits for it
    knocks (locks.has_waiters) and gets it at the next batch, under a
    continuous load, without a lock error. (On a machine with no core to
    spare the drain stores behind the receiver, at most DEFER_MAX_S behind:
    the first rows may take that long to show.)"""
    import threading

    from usagecore.serve import DEFER_MAX_S

    serve = Serve(db_path, isolated_home, "--no-grpc")
    sent: list[int] = []
    done = threading.Event()

    def load() -> None:
        seq = 0
        while not done.is_set():
            if _send(serve.port, seq):
                sent.append(seq)
            seq += 1

    sender = threading.Thread(target=load)
    sender.start()
    try:
        counts = []
        deadline = time.monotonic() + DEFER_MAX_S + 15
        while len(counts) < 3 or (counts[-1] == 0 and time.monotonic() < deadline):
            time.sleep(0.5)
            result = run_cli("--db", str(db_path), "sql", "SELECT count(*) AS n FROM otel_events", "--format", "csv",
                             check=False)
            assert result.returncode == 0 and "still in use" not in result.stderr, result.stderr
            counts.append(int(result.stdout.split()[-1]))
        assert counts == sorted(counts) and counts[-1] > 0
    finally:
        done.set()
        sender.join()
        code, err = serve.stop()
    assert code == 0, err
    assert query(db_path, "SELECT count(*) FROM otel_events") == [(len(sent),)]


def test_drain_told_to_stop_leaves_the_rest_in_the_spool(db_path, monkeypatch):
    """serve's drain asks before each batch whether to go on (it waits there
    while the receiver needs the CPU, and stops there on SIGTERM, to stop
    receiving first): what it did not store stays in the spool, and the next
    drain stores all of it once."""
    from usagecore import drain, spool

    monkeypatch.setattr(drain, "BATCH_FILES", 1)
    for seq in range(3):
        spool.write("otlp", "otlp", _log_body(seq), path="/v1/logs", content_type="application/json",
                    account_id=None)
    asked = []

    def pause() -> bool:
        asked.append(len(spool.pending()))
        return len(asked) == 1

    summary = drain.DrainSummary()
    drain.drain_pending(db_path, summary, pause=pause)
    assert asked == [3, 2] and summary.payloads == 1 and len(spool.pending()) == 2
    drain.drain_pending(db_path, summary)
    assert spool.pending() == [] and summary.payloads == 3
    assert query(db_path, "SELECT json_extract(attributes, '$.seq')::INT AS s, count(*) FROM otel_events "
                          "GROUP BY s ORDER BY s") == [(0, 1), (1, 1), (2, 1)]
