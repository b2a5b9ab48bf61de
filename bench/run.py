#!/usr/bin/env python3
"""Benchmark runner: usagecore against a DuckDB baseline and ccusage on one generated corpus.

    python bench/run.py --size 1GB [--corpus DIR] [--skip-ccusage] [--seed 1]

Generates the corpus if it is missing (cached in bench/corpus/<size>-seed<seed>), warms the page
cache with one full read so every contender sees the same warm cache, then runs each contender
as a subprocess --repeat times (default 3) and records the median wall time (including process
start), CPU time and the largest peak RSS (both from wait4, which covers the child and every
descendant it waited for). Repeats matter on a small shared machine: single runs vary by up to 2x. Each contender's totals are checked against
the corpus's truth.json. Prints a table and writes bench/out/results-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import peers  # noqa: E402  (bench/ is not a package)
from generate import parse_size  # noqa: E402

USAGECORE = REPO_DIR / ".venv" / "bin" / "usagecore"
PYTHON = REPO_DIR / ".venv" / "bin" / "python"

TARGETS = {
    "cold_vs_duckdb": 0.5,       # usagecore cold backfill <= 0.5x the DuckDB baseline (aim 0.35x)
    "cold_vs_duckdb_aim": 0.35,
    "cold_vs_ccusage": 0.3,      # <= 0.3x ccusage
    "incremental_s": 0.25,       # re-run over an unchanged corpus
    "peak_rss_mb": 400,          # any usagecore command
    "report_daily_s": 0.5,       # including process start
}


@dataclass
class Run:
    name: str
    command: list[str]
    wall_s: float | None = None          # median over the repeats
    wall_samples: list[float] = field(default_factory=list)
    peak_rss_mb: float | None = None
    cpu_s: float | None = None           # user + system, summed over the process tree (median)
    exit_code: int | None = None
    totals: dict | None = None
    check: dict | None = None
    note: str = ""
    target: str = ""
    stdout: bytes = field(default=b"", repr=False)
    stderr: bytes = field(default=b"", repr=False)

    def as_json(self) -> dict:
        return {"name": self.name, "command": self.command, "wall_s": self.wall_s,
                "wall_samples": self.wall_samples,
                "peak_rss_mb": self.peak_rss_mb, "cpu_s": self.cpu_s, "exit_code": self.exit_code, "totals": self.totals,
                "check": self.check, "note": self.note, "target": self.target,
                "stderr_tail": self.stderr.decode(errors="replace")[-2000:] if self.exit_code else ""}


def measure(name: str, command: list[str], env: dict | None = None) -> Run:
    """Run command to completion; wall time and peak RSS of the process tree."""
    run = Run(name, [str(c) for c in command])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(run.command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        run.wall_s = round(time.perf_counter() - started, 3)
        process.returncode = run.exit_code = os.waitstatus_to_exitcode(status)
        run.peak_rss_mb = round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB
        run.cpu_s = round(usage.ru_utime + usage.ru_stime, 3)
        out.seek(0)
        err.seek(0)
        run.stdout, run.stderr = out.read(), err.read()
    run.wall_samples = [run.wall_s]
    if run.exit_code:
        run.note = f"exit {run.exit_code}: " + run.stderr.decode(errors="replace").strip()[-300:]
    return run


def measure_repeated(name: str, commands: list[list], env: dict | None = None) -> Run:
    """Run each command once (the repeats of one measurement); median wall, largest RSS.

    Stops at the first failure. The returned Run carries the first run's output for checking.
    """
    runs = []
    for command in commands:
        runs.append(measure(name, command, env))
        if runs[-1].exit_code:
            return runs[-1]
    first = runs[0]
    first.wall_samples = [r.wall_s for r in runs]
    first.wall_s = round(statistics.median(first.wall_samples), 3)
    first.peak_rss_mb = max(r.peak_rss_mb for r in runs)
    first.cpu_s = round(statistics.median(r.cpu_s for r in runs), 3)
    return first


def ensure_corpus(size_text: str, seed: int, corpus: Path | None) -> Path:
    corpus = corpus or BENCH_DIR / "corpus" / f"{size_text}-seed{seed}"
    if not (corpus / "truth.json").exists():
        print(f"generating {size_text} corpus (seed {seed}) in {corpus} ...", flush=True)
        subprocess.run([sys.executable, str(BENCH_DIR / "generate.py"), "--out", str(corpus),
                        "--size", size_text, "--seed", str(seed)], check=True)
    return corpus


def warm_page_cache(corpus: Path) -> dict:
    """Read every transcript once (like `cat` > /dev/null) so no contender pays for cold disk."""
    started, total = time.perf_counter(), 0
    buffer = bytearray(8 * 1024 * 1024)
    for path in sorted((corpus / "projects").rglob("*.jsonl")):
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buffer):
                total += n
    return {"bytes": total, "seconds": round(time.perf_counter() - started, 3)}


def busy_cpu_fraction(seconds: float = 1.0) -> float:
    """Share of all CPU time spent busy over a short window: other work skews every figure."""
    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total_before, idle_before = sample()
        time.sleep(seconds)
        total_after, idle_after = sample()
    except OSError:
        return float("nan")
    total = total_after - total_before
    return round(1 - (idle_after - idle_before) / total, 3) if total else 0.0


def machine_info() -> dict:
    cpu = "unknown"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = match.group(1) if match else cpu
    except OSError:
        pass
    memory_gib = None
    try:
        match = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        memory_gib = round(int(match.group(1)) / 1024**2, 1) if match else None
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gib": memory_gib,
            "kernel": platform.release(), "python": platform.python_version()}


def describe_check(check: dict | None) -> str:
    if check is None:
        return "-"
    if check.get("match"):
        return "yes"
    if "text" in check:
        return check["text"]
    parts = []
    for name, d in check["fields"].items():
        if d["diff"]:
            relative = f" ({d['diff'] / d['truth']:+.3%})" if d["truth"] else ""
            parts.append(f"{name.replace('_tokens', '')} {d['diff']:+,}{relative}")
    return "NO: " + ", ".join(parts)


# ---- contenders ---------------------------------------------------------------------------------

def run_usagecore(corpus: Path, truth: dict, db_dir: Path, repeat: int) -> list[Run]:
    if not USAGECORE.exists():
        return [Run(name, [], note="not installed") for name in
                ("usagecore backfill (cold)", "usagecore backfill (incremental)", "usagecore report daily")]

    def backfill(db: Path) -> list:
        return [USAGECORE, "--db", db, "backfill", "claude", corpus / "projects", "--json"]

    # Every cold repeat gets its own fresh database; the last one is reused below.
    databases = [db_dir / f"cold-{i}.duckdb" for i in range(repeat)]
    db = databases[-1]
    runs = []

    cold = measure_repeated("usagecore backfill (cold)", [backfill(d) for d in databases])
    if cold.exit_code == 0:
        summary = orjson.loads(cold.stdout)
        cold.totals = {"events": summary.get("events")}
        cold.check = peers.compare_overall(truth["overall"], cold.totals)
        cold.note = f"{summary.get('skipped_lines', '?')} skipped lines (truth: {truth['counts']['malformed_lines']} malformed)"
    cold.target = f"<= {TARGETS['cold_vs_duckdb']}x DuckDB (aim {TARGETS['cold_vs_duckdb_aim']}x), <= {TARGETS['cold_vs_ccusage']}x ccusage"
    runs.append(cold)

    again = measure_repeated("usagecore backfill (incremental)", [backfill(db)] * repeat)
    if again.exit_code == 0:
        summary = orjson.loads(again.stdout)
        again.totals = {"events": summary.get("events"), "files_read": summary.get("files_read")}
        again.check = {"match": summary.get("events") == 0, "text": f"{summary.get('events')} new events (expect 0)"}
    again.target = f"< {TARGETS['incremental_s']} s"
    runs.append(again)

    report = measure_repeated("usagecore report daily",
                              [[USAGECORE, "--db", db, "report", "daily", "--json"]] * repeat)
    if report.exit_code == 0:
        totals = orjson.loads(report.stdout)["totals"]
        report.totals = {"events": totals.get("requests"), "input_tokens": totals.get("input_tokens"),
                         "output_tokens": totals.get("output_tokens"),
                         "cache_read_tokens": totals.get("cache_read_tokens"),
                         "cache_write_tokens": totals.get("cache_write_tokens")}
        report.check = peers.compare_overall(truth["overall"], report.totals)
    report.target = f"< {TARGETS['report_daily_s']} s"
    runs.append(report)
    for run in runs:
        if run.peak_rss_mb is not None:
            run.target += f"; RSS < {TARGETS['peak_rss_mb']} MB"
    return runs


def run_duckdb(corpus: Path, truth: dict, repeat: int) -> Run:
    threads = os.cpu_count()
    run = measure_repeated(f"DuckDB read_ndjson ({threads} threads)",
                           [[PYTHON, BENCH_DIR / "peers.py", "duckdb", corpus, "--threads", str(threads)]] * repeat)
    if run.exit_code == 0:
        result = orjson.loads(run.stdout)
        run.totals = result["overall"]
        run.check = peers.compare_overall(truth["overall"], run.totals)
        if run.check["match"] and result["by_day_model"] != truth["by_day_model"]:
            run.check = {"match": False, "text": "overall matches, by_day_model differs"}
    run.note = "python + duckdb import included"
    return run


def run_ccusage(corpus: Path, truth: dict, home: Path, repeat: int) -> Run:
    if shutil.which("node") is None or not peers.CCUSAGE_BIN.exists():
        return Run("ccusage 20.0.24", [], note="not installed (npm install --prefix bench ccusage@20.0.24)")
    command, env = peers.ccusage_command(corpus, home)
    run = measure_repeated("ccusage 20.0.24 claude daily", [command] * repeat, env)
    if run.exit_code == 0:
        result = peers.ccusage_totals(run.stdout)
        run.totals = result["overall"]
        run.check = peers.compare_overall(truth["overall"], run.totals)
        run.note = ("reports no request count; its rules differ from truth's (it also counts assistant "
                    "messages copied into agent_progress lines and does not merge lines without requestId; "
                    "see README)")
    return run


# ---- output -------------------------------------------------------------------------------------

def print_table(runs: list[Run], ratios: dict) -> None:
    header = ("contender", "wall s (median)", "CPU s", "peak RSS MB", "totals = truth?", "target")
    rows = [(r.name, f"{r.wall_s:.2f}" if r.wall_s is not None else "-",
             f"{r.cpu_s:.2f}" if r.cpu_s is not None else "-",
             f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb is not None else "-",
             describe_check(r.check) if r.exit_code == 0 else (r.note or "-"), r.target) for r in runs]
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = "  ".join("{:<%d}" % w for w in widths)
    print()
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    for run in runs:
        if run.note and run.exit_code == 0:
            print(f"  {run.name}: {run.note}")
    print()
    for name, value in ratios.items():
        print(f"{name}: {value if value is not None else 'n/a'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1GB", help="corpus size, e.g. 50MB, 1GB (binary units)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, help="use this corpus directory (generated there if missing)")
    parser.add_argument("--skip-ccusage", action="store_true")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per measurement; the table shows the median wall time")
    args = parser.parse_args(argv)
    parse_size(args.size)  # fail early on a bad size

    corpus = ensure_corpus(args.size, args.seed, args.corpus)
    truth = orjson.loads((corpus / "truth.json").read_bytes())
    print(f"corpus {corpus}: {truth['counts']['bytes'] / 1024**2:.0f} MiB, {truth['counts']['files']} files, "
          f"{truth['counts']['lines']} lines, {truth['overall']['events']} events", flush=True)
    warm = warm_page_cache(corpus)
    print(f"page cache warmed: read {warm['bytes'] / 1024**2:.0f} MiB in {warm['seconds']} s", flush=True)
    busy_before = busy_cpu_fraction()
    if busy_before > 0.1:
        print(f"WARNING: the machine is {busy_before:.0%} busy before the benchmark; figures will be skewed",
              flush=True)

    with tempfile.TemporaryDirectory(prefix="usagecore-bench-") as scratch:
        scratch_dir = Path(scratch)
        (scratch_dir / "home").mkdir()
        runs = run_usagecore(corpus, truth, scratch_dir, args.repeat)
        print("usagecore done", flush=True)
        duckdb_run = run_duckdb(corpus, truth, args.repeat)
        runs.append(duckdb_run)
        print("DuckDB baseline done", flush=True)
        ccusage_run = None
        if not args.skip_ccusage:
            ccusage_run = run_ccusage(corpus, truth, scratch_dir / "home", args.repeat)
            runs.append(ccusage_run)

    cold = runs[0]

    def ratio(other: Run | None) -> float | None:
        if cold.wall_s is None or other is None or not other.wall_s or other.exit_code:
            return None
        return round(cold.wall_s / other.wall_s, 3)

    ratios = {f"usagecore cold / DuckDB (target <= {TARGETS['cold_vs_duckdb']}, aim {TARGETS['cold_vs_duckdb_aim']})": ratio(duckdb_run),
              f"usagecore cold / ccusage (target <= {TARGETS['cold_vs_ccusage']})": ratio(ccusage_run)}
    print_table(runs, ratios)
    busy_after = busy_cpu_fraction()
    if busy_after > 0.1:
        print(f"WARNING: the machine was {busy_after:.0%} busy right after the benchmark")

    today = dt.date.today().isoformat()
    results = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "corpus": {"path": str(corpus), "size": args.size, "seed": args.seed, "counts": truth["counts"],
                   "truth_overall": truth["overall"]},
        "page_cache_warmup": warm,
        "repeat": args.repeat,
        "busy_cpu_fraction": {"before": busy_before, "after": busy_after},
        "targets": TARGETS,
        "ratios": {"cold_vs_duckdb": ratio(duckdb_run), "cold_vs_ccusage": ratio(ccusage_run)},
        "runs": [r.as_json() for r in runs],
    }
    out_dir = BENCH_DIR / "out"
    out_dir.mkdir(exist_ok=True)
    out_path = out_dir / f"results-{today}.json"
    out_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nwrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
