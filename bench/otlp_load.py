"""Load for `usagecore serve` and the OpenTelemetry Collector on loopback
(bounded in count and time).

Claude-Code-shaped OTLP/HTTP protobuf requests, alternating log batches (10
`api_request` records each) and metric batches (4 delta points), every one
unique, from keep-alive connections. wrk sends them (bench/otlp_wrk.lua,
Debian's `wrk`): a native generator leaves the cores to the receivers, where
a Python one spends more CPU per request than they do (`--generators N` still
uses N Python processes). One command runs the whole comparison and prints a
ready table:

1. peak: rounds of `usagecore serve` (receive, durable spool, drain into
   DuckDB, all in one process) and the Collector (OTLP receiver, nop
   exporter) under the same unthrottled load at each connection count
   (8, 32, 64 by default), interleaved so all see the same machine; each
   receiver's peak is its best median: a receiver that acknowledges only
   after an fdatasync needs more requests in flight to reach it than one
   that keeps nothing, and every count is in the table;
2. half load: both at half of usagecore's peak, for p50/p99 latency;
3. memory (`--rss-seconds`, e.g. 600): usagecore at half load (or
   `--rss-rate`) for that long, its resident memory sampled every 10 s.

After every usagecore run it stops the receiver with SIGTERM and checks that
every acknowledged request is in the store, none twice.

    python bench/otlp_load.py                         # 2 rounds of 10 s at 8, 32, 64 connections, half load
    python bench/otlp_load.py --rss-seconds 600 --rss-rate 100   # plus 10 minutes at 100 requests/s
    python bench/otlp_load.py --only usagecore --rate 500 --seconds 20 --connections 8   # one run
    python bench/otlp_load.py --generators 2          # the Python generator in two processes instead of wrk

The Collector comes from bench/otelcol/build.sh (the collector builder, v0.165.0).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

RECORDS_PER_BATCH = 10
POINTS_PER_BATCH = 4
BASE_NS = 1_790_000_000_000_000_000
OTELCOL = Path(__file__).parent / "otelcol" / "build" / "otelcol-bench"


# ---------------------------------------------------------------- requests
# Built once as templates; request n differs from the template only in
# fixed-width places (request ids, fixed64 times), patched in as bytes, so
# the generator spends its CPU on sending, not on building protobuf.


def _log_template() -> bytes:
    records = []
    for i in range(RECORDS_PER_BATCH):
        attrs = {"event.name": "api_request", "session.id": "bench-session", "model": "claude-opus-4-8",
                 "request_id": f"req_bench_{i:012d}", "input_tokens": 1000 + i % 7, "output_tokens": 17,
                 "cache_read_tokens": 1033, "cache_creation_tokens": 1022, "cost_usd": 0.0097}
        records.append({"timeUnixNano": str(BASE_NS + i), "body": {"stringValue": "claude_code.api_request"},
                        "attributes": [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else
                                        {"doubleValue": v} if isinstance(v, float) else {"stringValue": v}}
                                       for k, v in attrs.items()]})
    return json_format.ParseDict({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": records}]}]},
        ExportLogsServiceRequest()).SerializeToString()


def _metric_template() -> bytes:
    points = [{"attributes": [{"key": "type", "value": {"stringValue": t}},
                              {"key": "session.id", "value": {"stringValue": "bench-00"}}],
               "startTimeUnixNano": str(BASE_NS + 10_000_000 + j),
               "timeUnixNano": str(BASE_NS + 20_000_000 + j), "asDouble": 10.0}
              for j, t in enumerate(("input", "output", "cacheRead", "cacheCreation"))]
    return json_format.ParseDict({"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeMetrics": [{"metrics": [{"name": "claude_code.token.usage", "unit": "tokens", "sum": {
            "aggregationTemporality": 1, "isMonotonic": True, "dataPoints": points}}]}]}]},
        ExportMetricsServiceRequest()).SerializeToString()


def _fixed64(value: int) -> bytes:
    return struct.pack("<Q", value)


class Requests:
    """Request n, as the bytes sent on the wire: even n logs, odd n metrics."""

    def __init__(self, port: int):
        self.port = port
        self.logs, self.metrics = _log_template(), _metric_template()
        for i in range(RECORDS_PER_BATCH):
            assert self.logs.count(f"req_bench_{i:012d}".encode()) == 1
            assert self.logs.count(_fixed64(BASE_NS + i)) == 1
        for j in range(POINTS_PER_BATCH):
            assert self.metrics.count(_fixed64(BASE_NS + 10_000_000 + j)) == 1
            assert self.metrics.count(_fixed64(BASE_NS + 20_000_000 + j)) == 1

    def body(self, n: int) -> tuple[str, bytes]:
        if n % 2 == 0:
            body = self.logs
            for i in range(RECORDS_PER_BATCH):
                seq = n // 2 * RECORDS_PER_BATCH + i
                body = body.replace(f"req_bench_{i:012d}".encode(), f"req_bench_{seq:012d}".encode())
                body = body.replace(_fixed64(BASE_NS + i), _fixed64(BASE_NS + seq))
            return "/v1/logs", body
        body = self.metrics.replace(b"bench-00", f"bench-{n % 50:02d}".encode())
        for j in range(POINTS_PER_BATCH):
            seq = n // 2 * POINTS_PER_BATCH + j
            body = body.replace(_fixed64(BASE_NS + 10_000_000 + j), _fixed64(BASE_NS + 100_000_000 + seq))
            body = body.replace(_fixed64(BASE_NS + 20_000_000 + j), _fixed64(BASE_NS + 100_000_001 + seq))
        return "/v1/metrics", body

    def wire(self, n: int) -> tuple[bool, bytes]:
        path, body = self.body(n)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/x-protobuf\r\nContent-Length: {len(body)}\r\n\r\n")
        return path == "/v1/logs", head.encode() + body


def _read_response(sock: socket.socket, buffer: bytes) -> tuple[int, bytes]:
    """(status, bytes after the response) of one HTTP/1.1 response."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise ConnectionError("a response without Content-Length")
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a response")
        rest += chunk
    return status, rest[length:]


# ---------------------------------------------------------------- wrk
# The same requests sent by wrk (bench/otlp_wrk.lua): it spends less CPU per
# request than either receiver (20-40 µs), so the receivers get the cores.

WRK_SCRIPT = Path(__file__).parent / "otlp_wrk.lua"
WRK_TIME_MARK = 0xA5A5_A5A5_0000_0000  # stands for a fixed64 time wrk fills in


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b:03d}" for b in data) + '"'


def _cut(template: bytes, slots: list[tuple[bytes, str]]) -> tuple[list[bytes], list[str]]:
    """The template cut at every occurrence of each slot's marker: the parts
    between them, and the slots' names in the order they occur."""
    found = []
    for marker, name in slots:
        at = template.find(marker)
        assert at >= 0, marker
        while at >= 0:
            found.append((at, marker, name))
            at = template.find(marker, at + len(marker))
    parts, names, at = [], [], 0
    for position, marker, name in sorted(found):
        assert position >= at, "overlapping markers"
        parts.append(template[at:position])
        names.append(name)
        at = position + len(marker)
    parts.append(template[at:])
    return parts, names


def wrk_pieces(threads: int) -> str:
    """The Lua definitions otlp_wrk.lua reads: the templates cut where
    request ids, times and the session change. wrk stamps records and
    points with the time it sends them, as agents do (so stored data spans
    the run's real time, as a receiver's does)."""
    marker = lambda n: struct.pack("<Q", WRK_TIME_MARK + n)  # noqa: E731
    logs = _log_template()
    for i in range(RECORDS_PER_BATCH):
        logs = logs.replace(_fixed64(BASE_NS + i), marker(i))
    log_parts, log_slots = _cut(logs, [(f"req_bench_{i:012d}".encode(), f"id{i}") for i in range(RECORDS_PER_BATCH)]
                                + [(marker(i), f"time{i}") for i in range(RECORDS_PER_BATCH)])
    metrics = _metric_template()
    for j in range(POINTS_PER_BATCH):
        metrics = metrics.replace(_fixed64(BASE_NS + 10_000_000 + j), marker(2 * j))
        metrics = metrics.replace(_fixed64(BASE_NS + 20_000_000 + j), marker(2 * j + 1))
    metric_parts, metric_slots = _cut(metrics, [(b"bench-00", "session")] + [
        (marker(2 * j + end), f"{'end' if end else 'start'}{j}")
        for j in range(POINTS_PER_BATCH) for end in (0, 1)])
    lua = lambda items: "{" + ", ".join(items) + "}"  # noqa: E731
    return "\n".join([
        f"THREADS = {threads}", f"RECORDS = {RECORDS_PER_BATCH}", f"POINTS = {POINTS_PER_BATCH}",
        f"LOG_PARTS = {lua(_lua_string(x) for x in log_parts)}",
        f"LOG_SLOTS = {lua(repr(x) for x in log_slots)}",
        f"METRIC_PARTS = {lua(_lua_string(x) for x in metric_parts)}",
        f"METRIC_SLOTS = {lua(repr(x) for x in metric_slots)}", ""])


def run_wrk(port: int, seconds: float, connections: int, rate: float, on_tick=None) -> dict:
    """`run_load`'s figures, from wrk. wrk counts responses, not which kind
    each answered: `acknowledged_requests` is exact, the split by kind is
    what was sent (at most `connections` requests were in flight at the end)."""
    threads = min(2, connections)
    work = Path(tempfile.mkdtemp(prefix="otlp-wrk-"))
    (work / "pieces.lua").write_text(wrk_pieces(threads))
    env = {**os.environ, "OTLP_WRK_PIECES": str(work / "pieces.lua"), "OTLP_WRK_OUT": str(work / "out.json")}
    if rate:
        env["OTLP_WRK_INTERVAL_MS"] = str(1000.0 * threads / rate)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    wrk = subprocess.Popen(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s",
                            "--timeout", "10s", "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while wrk.poll() is None:
        time.sleep(0.5)
        if on_tick:
            on_tick(time.monotonic() - started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if wrk.returncode != 0 or not (work / "out.json").exists():
        sys.exit(f"wrk failed ({wrk.returncode}): {wrk.stderr.read()}")
    out = json.loads((work / "out.json").read_text())
    for path in work.iterdir():
        path.unlink()
    work.rmdir()
    wall = out["duration_us"] / 1e6
    ok = out["responses"] - out["status_errors"]
    return {
        "requests": ok, "errors": out["status_errors"] + out["socket_errors"], "seconds": round(wall, 2),
        "requests_per_s": round(ok / wall, 1),
        "p50_ms": round(out["p50_us"] / 1000, 2), "p99_ms": round(out["p99_us"] / 1000, 2),
        "acknowledged_requests": ok, "sent_log_requests": out["logs_sent"],
        "sent_metric_requests": out["sent"] - out["logs_sent"],
        "generator_cores": round((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall, 2),
    }


# ---------------------------------------------------------------- one run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_memory(pid: int) -> tuple[int, int]:
    """(current, peak) resident bytes of a process."""
    current = peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return current, peak


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) per thread name of a process: the Python
    thread (the drain, in serve), the receiver's runtime, the spool writer."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def _generate(port: int, seconds: float, connections: int, rate: float, max_requests: int,
              generator: int = 0, generators: int = 1, on_tick=None) -> dict:
    """One generator process's share of the load: `connections` keep-alive
    connections sending requests generator, generator + generators, ... (so
    that several generators never send the same request)."""
    requests = Requests(port)
    counter = iter(range(generator, max_requests, generators))
    lock = threading.Lock()
    latencies: list[float] = []
    acked = {"log_records": 0, "points": 0, "errors": 0}
    interval = connections / rate if rate else 0.0
    deadline = time.monotonic() + seconds

    def client() -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        next_at = time.monotonic()
        mine: list[float] = []
        counts = {"log_records": 0, "points": 0, "errors": 0}
        while time.monotonic() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            logs, wire = requests.wire(n)
            started = time.perf_counter()
            try:
                sock.sendall(wire)
                status, buffer = _read_response(sock, buffer)
                ok = status == 200
            except OSError:
                sock.close()
                sock, buffer, ok = socket.create_connection(("127.0.0.1", port)), b"", False
            elapsed = time.perf_counter() - started
            if ok:
                mine.append(elapsed)
                counts["log_records" if logs else "points"] += RECORDS_PER_BATCH if logs else POINTS_PER_BATCH
            else:
                counts["errors"] += 1
            if interval:
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
        sock.close()
        with lock:
            latencies.extend(mine)
            for key, value in counts.items():
                acked[key] += value

    cpu_before = time.process_time()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        if on_tick:
            on_tick(time.monotonic() - started)
    return {"latencies": latencies, "wall": time.monotonic() - started, **acked,
            "cpu_s": time.process_time() - cpu_before}


def run_load(port: int, seconds: float, connections: int, rate: float, max_requests: int,
             on_tick=None, generators: int = 1) -> dict:
    """Send the load to `port` for `seconds` (at most `max_requests`), from
    `generators` processes sharing the connections; latencies, acknowledged
    counts, and how busy the generators were (`generator_cores`: near 1 per
    process means the generator, one Python interpreter, was the limit).
    `on_tick` is called about every second."""
    if generators == 1:
        parts = [_generate(port, seconds, connections, rate, max_requests, on_tick=on_tick)]
    else:
        import multiprocessing

        share = [(port, seconds, connections // generators + (g < connections % generators),
                  rate / generators, max_requests, g, generators) for g in range(generators)]
        with multiprocessing.get_context("fork").Pool(generators) as pool:
            pending = pool.starmap_async(_generate, share)
            started = time.monotonic()
            while not pending.ready():
                pending.wait(0.5)
                if on_tick:
                    on_tick(time.monotonic() - started)
            parts = pending.get()
    latencies = sorted(x for part in parts for x in part["latencies"])
    wall = max(part["wall"] for part in parts)
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000, 2)  # noqa: E731
    return {
        "requests": len(latencies), "errors": sum(p["errors"] for p in parts), "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": pick(0.5) if latencies else None, "p99_ms": pick(0.99) if latencies else None,
        "acknowledged_log_records": sum(p["log_records"] for p in parts),
        "acknowledged_points": sum(p["points"] for p in parts),
        "generator_cores": round(sum(p["cpu_s"] for p in parts) / wall, 2),
    }


def load(port: int, seconds: float, connections: int, rate: float, max_requests: int,
         on_tick=None, generators: int = 1) -> dict:
    """The load from wrk (the default), or from `generators` Python processes."""
    if generators == 0:
        return run_wrk(port, seconds, connections, rate, on_tick)
    return run_load(port, seconds, connections, rate, max_requests, on_tick, generators)


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the receiver did not start: {process.stderr.read() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def bench_usagecore(seconds: float, connections: int, rate: float, max_requests: int,
                    sample_every: float = 0.0, generators: int = 1) -> dict:
    work = Path(tempfile.mkdtemp(prefix="usagecore-otlp-bench-"))
    env = {**os.environ, "XDG_STATE_HOME": str(work / "state"),
           "USAGECORE_TELEMETRY_DB_PATH": str(work / "db.duckdb")}
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "usagecore", "serve", "--port", str(port), "--no-grpc"],
                             env=env, stderr=subprocess.PIPE, text=True)
    wait_for_port(port, serve)
    samples: list[tuple[int, float]] = []

    def tick(elapsed: float) -> None:
        if sample_every and elapsed >= len(samples) * sample_every:
            samples.append((round(elapsed), round(proc_memory(serve.pid)[0] / 2**20, 1)))

    result = load(port, seconds, connections, rate, max_requests, tick, generators)
    rss, peak = proc_memory(serve.pid)
    cpu = proc_cpu(serve.pid)
    per_thread = threads_cpu(serve.pid)
    stopping = time.monotonic()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    serve.send_signal(signal.SIGTERM)
    _, err = serve.communicate(timeout=600)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # serve is the only child: its CPU in all, the backlog stored after the load included.
    cpu_total = (children_after.ru_utime + children_after.ru_stime
                 - children_before.ru_utime - children_before.ru_stime)
    # What the drain had left to store when the load stopped.
    stop_s = time.monotonic() - stopping
    if serve.returncode != 0:
        sys.exit(f"usagecore serve exited {serve.returncode}: {err}")
    import duckdb

    con = duckdb.connect(str(work / "db.duckdb"), read_only=True)
    stored_logs, distinct_logs = con.execute("SELECT count(*), count(DISTINCT event_id) FROM otel_events").fetchone()
    stored_points, distinct_points = con.execute(
        "SELECT count(*), count(DISTINCT point_id) FROM otel_metric_points").fetchone()
    messages = con.execute("SELECT count(*) FROM usage_events WHERE event_type = 'message'").fetchone()[0]
    con.close()
    acknowledged = max(1, result["requests"])
    result.update({
        "cpu_us_per_request": round(cpu / acknowledged * 1e6, 1),
        "cpu_us_per_request_with_backlog": round(cpu_total / acknowledged * 1e6, 1),
        # The largest child so far (serve, in every run of this process).
        "peak_rss_with_backlog_mb": round(children_after.ru_maxrss / 2**10, 1),
        "threads_us_per_request": {name: round(s / acknowledged * 1e6, 1) for name, s in sorted(per_thread.items())},
        "cpu_s": round(cpu, 2), "rss_mb": round(rss / 2**20, 1), "peak_rss_mb": round(peak / 2**20, 1),
        "stop_s": round(stop_s, 2), "stored_log_records": stored_logs, "stored_points": stored_points, "message_events": messages,
        "duplicates": stored_logs - distinct_logs + stored_points - distinct_points,
    })
    if "acknowledged_log_records" in result:
        result["lost"] = (result["acknowledged_log_records"] - stored_logs
                          + result["acknowledged_points"] - stored_points)
    else:  # wrk: every acknowledged request stored, none beyond what was sent
        stored_requests = stored_logs // RECORDS_PER_BATCH + stored_points // POINTS_PER_BATCH
        result["lost"] = max(0, result["acknowledged_requests"] - stored_requests)
        result["beyond_sent"] = (stored_logs > result["sent_log_requests"] * RECORDS_PER_BATCH
                                 or stored_points > result["sent_metric_requests"] * POINTS_PER_BATCH)
    if samples:
        result["rss_samples_mb"] = samples
    for path in sorted(work.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    work.rmdir()
    return result


def bench_otelcol(seconds: float, connections: int, rate: float, max_requests: int, generators: int = 1) -> dict:
    http_port, grpc_port = free_port(), free_port()
    config = Path(__file__).parent / "otelcol" / "config.yaml"
    env = {**os.environ, "OTELCOL_HTTP_PORT": str(http_port), "OTELCOL_GRPC_PORT": str(grpc_port)}
    collector = subprocess.Popen([str(OTELCOL), "--config", str(config)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_port(http_port, collector)
    result = load(http_port, seconds, connections, rate, max_requests, generators=generators)
    rss, peak = proc_memory(collector.pid)
    cpu = proc_cpu(collector.pid)
    collector.send_signal(signal.SIGTERM)
    collector.wait(timeout=60)
    result.update({"cpu_us_per_request": round(cpu / max(1, result["requests"]) * 1e6, 1),
                   "cpu_s": round(cpu, 2), "rss_mb": round(rss / 2**20, 1), "peak_rss_mb": round(peak / 2**20, 1)})
    return result


# ---------------------------------------------------------------- the comparison


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def _row(name: str, r: dict) -> str:
    if "lost" not in r:
        stored = "nothing kept"
    elif "acknowledged_log_records" in r:
        stored = (f"{r['acknowledged_log_records']:,} / {r['stored_log_records']:,} records, "
                  f"{r['acknowledged_points']:,} / {r['stored_points']:,} points, {r['lost']} lost, "
                  f"{r['duplicates']} twice, {r['message_events']:,} messages")
    else:
        stored = (f"{r['acknowledged_requests']:,} requests / {r['stored_log_records']:,} records + "
                  f"{r['stored_points']:,} points, {r['lost']} lost, {r['duplicates']} twice, "
                  f"{r['message_events']:,} messages")
    stop = f"{r['stop_s']} s" if "stop_s" in r else "–"
    return (f"| {name} | {r['requests_per_s']:,.0f} | {r['p50_ms']} ms | {r['p99_ms']} ms | {r['errors']} | "
            f"{r['cpu_us_per_request']} µs | {r['generator_cores']} | {r['rss_mb']} MB | {r['peak_rss_mb']} MB "
            f"| {stop} | {stored} |")


NAMES = {"usagecore": "`usagecore serve`", "otelcol": "otelcol 0.165.0 (nop)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each peak and half-load run")
    parser.add_argument("--rounds", type=int, default=2, help="peak runs of each, interleaved")
    parser.add_argument("--connections", default="8,32,64",
                        help="connection counts for the peak runs (comma-separated): each receiver's "
                             "peak is its best median over them")
    parser.add_argument("--generators", type=int, default=0,
                        help="0: wrk sends the load (the default); N: N Python generator processes "
                             "share the connections (one tops out near one core: see generator_cores)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="with --only: total requests per second (0: as fast as possible)")
    parser.add_argument("--half-rate", type=float, default=0.0,
                        help="the half-load rate (default: half of usagecore's peak)")
    parser.add_argument("--rss-seconds", type=float, default=0.0,
                        help="then usagecore under load for this long, memory sampled (e.g. 600)")
    parser.add_argument("--rss-rate", type=float, default=0.0,
                        help="the memory run's rate (default: the half-load rate)")
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--only", choices=["usagecore", "otelcol"], help="one run of one receiver")
    parser.add_argument("--json", type=Path, help="also write every result here")
    args = parser.parse_args()
    counts = [int(c) for c in args.connections.split(",")]
    benches = {"usagecore": bench_usagecore, "otelcol": bench_otelcol}
    if args.only:
        print(json.dumps(benches[args.only](args.seconds, counts[0], args.rate, args.max_requests,
                                            generators=args.generators), indent=1))
        return
    if not OTELCOL.exists():
        sys.exit(f"no {OTELCOL}: run bench/otelcol/build.sh first (or pass --only usagecore)")
    if args.generators == 0 and not shutil.which("wrk"):
        sys.exit("no wrk: install it (Debian: apt-get install wrk) or pass --generators 2")
    started = datetime.now(UTC)
    load_before = _load()
    out: dict = {"started": started.isoformat(timespec="seconds"), "load_before": load_before,
                 "cpus": os.cpu_count(), "peak": [], "half": {}}
    # Interleaved: a round runs every receiver at every connection count, so a
    # load spike on the machine hits all of them alike.
    for round_ in range(args.rounds):
        for connections in counts:
            for name, bench in benches.items():
                result = bench(args.seconds, connections, 0.0, args.max_requests, generators=args.generators)
                out["peak"].append({"receiver": name, "round": round_ + 1, "connections": connections, **result})
                print(f"peak {name} round {round_ + 1}, {connections} connections: "
                      f"{result['requests_per_s']} requests/s", file=sys.stderr)
    medians = {(name, c): statistics.median(r["requests_per_s"] for r in out["peak"]
                                            if r["receiver"] == name and r["connections"] == c)
               for name in benches for c in counts}
    best = {name: max(counts, key=lambda c: medians[name, c]) for name in benches}
    peak = {name: medians[name, best[name]] for name in benches}
    half = args.half_rate or round(peak["usagecore"] / 2)
    out.update(half_rate=half, peak_medians={f"{n} {c}": v for (n, c), v in medians.items()})
    for name, bench in benches.items():
        out["half"][name] = bench(args.seconds, best["usagecore"], half, args.max_requests,
                                  generators=args.generators)
    rss_rate = args.rss_rate or half
    if args.rss_seconds:
        print(f"memory run: usagecore at {rss_rate} requests/s for {args.rss_seconds:.0f} s", file=sys.stderr)
        out["memory"] = bench_usagecore(args.rss_seconds, counts[0], rss_rate, args.max_requests,
                                        sample_every=10.0, generators=args.generators)
    out["load_after"] = _load()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))

    generator = "wrk 4.1 (2 threads)" if args.generators == 0 else f"{args.generators} Python generator process(es)"
    print(f"\n### {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {load_before} before, "
          f"{out['load_after']} after\n")
    print(f"Load from {generator}, runs of {args.seconds:.0f} s, protobuf over OTLP/HTTP, "
          f"log batches of {RECORDS_PER_BATCH} records and metric batches of {POINTS_PER_BATCH} points "
          "alternating.\n")
    print("| run | requests/s | p50 | p99 | errors | CPU per request | generator cores | RSS at end | peak RSS "
          "| stop (backlog) | acknowledged / stored |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in out["peak"]:
        print(_row(f"{NAMES[r['receiver']]}, {r['connections']} connections, round {r['round']}", r))
    for name in benches:
        print(_row(f"{NAMES[name]} at {half} requests/s, {best['usagecore']} connections", out["half"][name]))
    if "memory" in out:
        print(_row(f"`usagecore serve` at {rss_rate:.0f} requests/s for {args.rss_seconds:.0f} s, "
                   f"{counts[0]} connections", out["memory"]))
    print("\nMedian requests/s by connections: " + "; ".join(
        f"{c}: {medians['usagecore', c]:,.0f} vs {medians['otelcol', c]:,.0f}" for c in counts) + ".")
    print(f"\nTargets: peak throughput {peak['usagecore']:,.0f} ({best['usagecore']} connections) vs the "
          f"Collector's {peak['otelcol']:,.0f} ({best['otelcol']} connections) requests/s "
          f"({'met' if peak['usagecore'] >= peak['otelcol'] else 'NOT met'}); "
          f"p99 at half load {out['half']['usagecore']['p99_ms']} ms "
          f"({'met' if out['half']['usagecore']['p99_ms'] < 20 else 'NOT met'}, target 20 ms)", end="")
    if "memory" in out:
        rss = out["memory"]["rss_mb"]
        print(f"; RSS after {args.rss_seconds:.0f} s {rss} MB ({'met' if rss < 150 else 'NOT met'}, target 150 MB)"
              f"; memory over time (s, MB): {out['memory']['rss_samples_mb']}", end="")
    print(".")
    faulty = [r for r in [*out["peak"], out["half"]["usagecore"], out.get("memory", {})]
              if r.get("lost") or r.get("duplicates") or r.get("beyond_sent")]
    if faulty:
        print(f"\nLOSS: {len(faulty)} usagecore runs stored fewer records than were acknowledged, "
              "or some twice.")


if __name__ == "__main__":
    main()
