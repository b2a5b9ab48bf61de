"""Load generator for `usagecore serve` on loopback (bounded in count and time).

Sends Claude-Code-shaped log batches (10 `api_request` records each, OTLP
protobuf) and metric batches from several keep-alive connections for a fixed
time, then stops the receiver with SIGTERM and checks that every
acknowledged record is in the store exactly once. Prints requests per
second, p50/p99 latency, the receiver's CPU seconds and peak RSS.

    python bench/otlp_load.py --seconds 20 --connections 8
    python bench/otlp_load.py --rate 500        # a fixed request rate (latency at a given load)
    python bench/otlp_load.py --otelcol bench/otelcol/build/otelcol-bench   # the Collector on the same load
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from google.protobuf import json_format

RECORDS_PER_BATCH = 10


def log_batch(n: int) -> bytes:
    records = []
    for i in range(RECORDS_PER_BATCH):
        seq = n * RECORDS_PER_BATCH + i
        attrs = {"event.name": "api_request", "session.id": "bench-session", "model": "claude-opus-4-8",
                 "request_id": f"req_bench_{seq}", "input_tokens": 1000 + seq % 7, "output_tokens": 17,
                 "cache_read_tokens": 1033, "cache_creation_tokens": 1022, "cost_usd": 0.0097}
        records.append({"timeUnixNano": str(1_790_000_000_000_000_000 + seq),
                        "body": {"stringValue": "claude_code.api_request"},
                        "attributes": [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else
                                        {"doubleValue": v} if isinstance(v, float) else {"stringValue": v}}
                                       for k, v in attrs.items()]})
    message = json_format.ParseDict({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": records}]}]},
        ExportLogsServiceRequest())
    return message.SerializeToString()


def metric_batch(n: int) -> bytes:
    points = [{"attributes": [{"key": "type", "value": {"stringValue": t}},
                              {"key": "session.id", "value": {"stringValue": f"bench-{n % 50}"}}],
               "startTimeUnixNano": str(1_790_000_000_000_000_000 + n),
               "timeUnixNano": str(1_790_000_000_000_000_001 + n), "asDouble": 10.0}
              for t in ("input", "output", "cacheRead", "cacheCreation")]
    message = json_format.ParseDict({"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeMetrics": [{"metrics": [{"name": "claude_code.token.usage", "unit": "tokens", "sum": {
            "aggregationTemporality": 1, "isMonotonic": True, "dataPoints": points}}]}]}]},
        ExportMetricsServiceRequest())
    return message.SerializeToString()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS bytes) of a process from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cpu, peak


def run_load(port: int, args) -> dict:
    """Send the load to `port`; latencies and acknowledged counts."""
    counter = iter(range(args.max_requests))
    lock = threading.Lock()
    latencies: list[float] = []
    acked = {"log_records": 0, "points": 0, "errors": 0}
    interval = args.connections / args.rate if args.rate else 0.0
    bodies = {n: (log_batch(n) if n % 2 == 0 else metric_batch(n)) for n in range(min(args.max_requests, 2000))}
    deadline = time.monotonic() + args.seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            logs = n % 2 == 0
            body = bodies.get(n) or (log_batch(n) if logs else metric_batch(n))
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/logs" if logs else "/v1/metrics", body=body,
                                   headers={"Content-Type": "application/x-protobuf"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                    acked["log_records" if logs else "points"] += RECORDS_PER_BATCH if logs else 4
                else:
                    acked["errors"] += 1
            if interval:
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(args.connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies), "errors": acked["errors"], "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
        "acknowledged_log_records": acked["log_records"], "acknowledged_points": acked["points"],
    }


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    while True:
        if process.poll() is not None:
            sys.exit(f"the receiver exited: {process.stderr.read() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def bench_usagecore(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="usagecore-otlp-bench-"))
    env = {**os.environ, "XDG_STATE_HOME": str(work / "state"),
           "USAGECORE_TELEMETRY_DB_PATH": str(work / "db.duckdb")}
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "usagecore", "serve", "--port", str(port), "--no-grpc"],
                             env=env, stderr=subprocess.PIPE, text=True)
    wait_for_port(port, serve)
    result = run_load(port, args)
    cpu, peak = proc_stats(serve.pid)
    serve.send_signal(signal.SIGTERM)
    serve.wait(timeout=600)
    import duckdb

    con = duckdb.connect(str(work / "db.duckdb"), read_only=True)
    stored_logs = con.execute("SELECT count(*) FROM otel_events").fetchone()[0]
    stored_points = con.execute("SELECT count(*) FROM otel_metric_points").fetchone()[0]
    result.update({
        "receiver_cpu_s": round(cpu, 2), "receiver_peak_rss_mb": round(peak / 2**20, 1),
        "stored_log_records": stored_logs, "stored_points": stored_points,
        "message_events": con.execute("SELECT count(*) FROM usage_events").fetchone()[0],
        "lost": result["acknowledged_log_records"] - stored_logs + result["acknowledged_points"] - stored_points,
    })
    return result


def bench_otelcol(args) -> dict:
    http_port, grpc_port = free_port(), free_port()
    config = Path(__file__).parent / "otelcol" / "config.yaml"
    env = {**os.environ, "OTELCOL_HTTP_PORT": str(http_port), "OTELCOL_GRPC_PORT": str(grpc_port)}
    collector = subprocess.Popen([args.otelcol, "--config", str(config)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_port(http_port, collector)
    result = run_load(http_port, args)
    cpu, peak = proc_stats(collector.pid)
    collector.send_signal(signal.SIGTERM)
    collector.wait(timeout=60)
    result.update({"receiver_cpu_s": round(cpu, 2), "receiver_peak_rss_mb": round(peak / 2**20, 1)})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.0, help="total requests per second (0: as fast as possible)")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--otelcol", help="also load this otelcol binary (bench/otelcol/build.sh builds one)")
    args = parser.parse_args()
    results = {"usagecore serve": bench_usagecore(args)}
    if args.otelcol:
        results["otelcol (nop exporter)"] = bench_otelcol(args)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
