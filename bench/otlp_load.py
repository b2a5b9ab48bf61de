"""Load generator for `usagecore serve` and the OpenTelemetry Collector on
loopback (bounded in count and time).

Claude-Code-shaped OTLP/HTTP protobuf requests, alternating log batches (10
`api_request` records each) and metric batches (4 delta points), from several
keep-alive connections. One command runs the whole comparison and prints a
ready table:

1. peak: rounds of `usagecore serve` (receive, durable spool, drain into
   DuckDB, all in one process) and the Collector (OTLP receiver, nop
   exporter) under the same unthrottled load, interleaved so both see the
   same machine;
2. half load: both at half of usagecore's median peak, for p50/p99 latency;
3. memory (`--rss-seconds`, e.g. 600): usagecore at half load for that
   long, its resident memory sampled every 10 s.

After every usagecore run it stops the receiver with SIGTERM and checks that
every acknowledged record is in the store exactly once.

    python bench/otlp_load.py                         # 2 rounds of 10 s, half load; no memory run
    python bench/otlp_load.py --rss-seconds 600       # plus 10 minutes of load for memory
    python bench/otlp_load.py --only usagecore --rate 500 --seconds 20   # one run at a fixed rate
    python bench/otlp_load.py --generators 2          # the connections shared by two generator processes

One Python generator adds latency of its own (its threads take turns on one
interpreter): the Collector answers in 0.33 ms at the median from one, in
0.08 ms from two; `generator_cores` says how busy they were.

The Collector comes from bench/otelcol/build.sh (the collector builder, v0.165.0).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

    result = run_load(port, seconds, connections, rate, max_requests, tick, generators)
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
    stored_logs = con.execute("SELECT count(*) FROM otel_events").fetchone()[0]
    stored_points = con.execute("SELECT count(*) FROM otel_metric_points").fetchone()[0]
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
        "lost": result["acknowledged_log_records"] - stored_logs + result["acknowledged_points"] - stored_points,
    })
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
    result = run_load(http_port, seconds, connections, rate, max_requests, generators=generators)
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
    stored = (f"{r['acknowledged_log_records']:,} / {r['stored_log_records']:,} records, "
              f"{r['acknowledged_points']:,} / {r['stored_points']:,} points, {r['lost']} lost, "
              f"{r['message_events']:,} messages"
              if "lost" in r else "nothing kept")
    stop = f"{r['stop_s']} s" if "stop_s" in r else "–"
    return (f"| {name} | {r['requests_per_s']:,.0f} | {r['p50_ms']} ms | {r['p99_ms']} ms | {r['errors']} | "
            f"{r['cpu_s']} | {r['generator_cores']} | {r['rss_mb']} MB | {r['peak_rss_mb']} MB | {stop} | {stored} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each peak and half-load run")
    parser.add_argument("--rounds", type=int, default=2, help="peak runs of each, interleaved")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--generators", type=int, default=1,
                        help="load generator processes sharing the connections (one Python process "
                             "tops out near one core: see generator_cores)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="with --only: total requests per second (0: as fast as possible)")
    parser.add_argument("--half-rate", type=float, default=0.0,
                        help="the half-load rate (default: half of usagecore's median peak)")
    parser.add_argument("--rss-seconds", type=float, default=0.0,
                        help="then usagecore under load for this long, memory sampled (e.g. 600)")
    parser.add_argument("--rss-rate", type=float, default=0.0,
                        help="the memory run's rate (default: the half-load rate)")
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--only", choices=["usagecore", "otelcol"], help="one run of one receiver")
    parser.add_argument("--json", type=Path, help="also write every result here")
    args = parser.parse_args()
    if args.only:
        bench = bench_usagecore if args.only == "usagecore" else bench_otelcol
        print(json.dumps(bench(args.seconds, args.connections, args.rate, args.max_requests,
                               generators=args.generators), indent=1))
        return
    if not OTELCOL.exists():
        sys.exit(f"no {OTELCOL}: run bench/otelcol/build.sh first (or pass --only usagecore)")
    started = datetime.now(UTC)
    load_before = _load()
    out: dict = {"started": started.isoformat(timespec="seconds"), "load_before": load_before,
                 "cpus": os.cpu_count(), "peak": [], "half": {}}
    for round_ in range(args.rounds):
        for name, bench in (("usagecore", bench_usagecore), ("otelcol", bench_otelcol)):
            result = bench(args.seconds, args.connections, 0.0, args.max_requests, generators=args.generators)
            out["peak"].append({"receiver": name, "round": round_ + 1, **result})
            print(f"peak {name} round {round_ + 1}: {result['requests_per_s']} requests/s", file=sys.stderr)
    peaks = {name: [r["requests_per_s"] for r in out["peak"] if r["receiver"] == name]
             for name in ("usagecore", "otelcol")}
    half = args.half_rate or round(statistics.median(peaks["usagecore"]) / 2)
    out["half_rate"] = half
    out["half"]["usagecore"] = bench_usagecore(args.seconds, args.connections, half, args.max_requests,
                                               generators=args.generators)
    out["half"]["otelcol"] = bench_otelcol(args.seconds, args.connections, half, args.max_requests,
                                           generators=args.generators)
    rss_rate = args.rss_rate or half
    if args.rss_seconds:
        print(f"memory run: usagecore at {rss_rate} requests/s for {args.rss_seconds:.0f} s", file=sys.stderr)
        out["memory"] = bench_usagecore(args.rss_seconds, args.connections, rss_rate, args.max_requests,
                                        sample_every=10.0, generators=args.generators)
    out["load_after"] = _load()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))

    print(f"\n### {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {load_before} before, "
          f"{out['load_after']} after\n")
    print(f"{args.connections} connections from {args.generators} generator process(es), "
          f"runs of {args.seconds:.0f} s, protobuf over OTLP/HTTP, "
          f"log batches of {RECORDS_PER_BATCH} records and metric batches of {POINTS_PER_BATCH} points "
          "alternating.\n")
    print("| run | requests/s | p50 | p99 | errors | CPU s | generator cores | RSS at end | peak RSS "
          "| stop (backlog) | acknowledged / stored |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in out["peak"]:
        name = ("`usagecore serve`" if r["receiver"] == "usagecore" else "otelcol 0.165.0 (nop)")
        print(_row(f"{name}, peak, round {r['round']}", r))
    print(_row(f"`usagecore serve` at {half} requests/s", out["half"]["usagecore"]))
    print(_row(f"otelcol at {half} requests/s", out["half"]["otelcol"]))
    if "memory" in out:
        print(_row(f"`usagecore serve` at {rss_rate:.0f} requests/s for {args.rss_seconds:.0f} s", out["memory"]))
    m = {name: statistics.median(v) for name, v in peaks.items()}
    print(f"\nTargets: throughput {m['usagecore']:,.0f} vs the Collector's {m['otelcol']:,.0f} requests/s "
          f"(medians; {'met' if m['usagecore'] >= m['otelcol'] else 'NOT met'}); "
          f"p99 at half load {out['half']['usagecore']['p99_ms']} ms "
          f"({'met' if out['half']['usagecore']['p99_ms'] < 20 else 'NOT met'}, target 20 ms)", end="")
    if "memory" in out:
        rss = out["memory"]["rss_mb"]
        print(f"; RSS after {args.rss_seconds:.0f} s {rss} MB ({'met' if rss < 150 else 'NOT met'}, target 150 MB)"
              f"; memory over time (s, MB): {out['memory']['rss_samples_mb']}", end="")
    print(".")
    lost = [r for r in [*out["peak"], out["half"]["usagecore"], out.get("memory", {})] if r.get("lost")]
    if lost:
        print(f"\nLOSS: {len(lost)} usagecore runs stored fewer records than were acknowledged.")


if __name__ == "__main__":
    main()
