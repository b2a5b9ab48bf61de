#!/usr/bin/env python3
"""Benchmark runner: usagecore against a DuckDB baseline and ccusage on generated corpora.

    python bench/run.py --size 1GB [--densities 1,3] [--skip-ccusage] [--repeat 3] [--seed 1]

For each density (1: calibrated on real transcripts; 3: usage-dense, short replies and little
tool output) it generates the corpus if missing (cached in bench/corpus/), warms the page cache
with one full read so every contender sees the same warm cache, then runs each contender as a
subprocess --repeat times and records the median wall time (including process start), CPU time
and the largest peak RSS (both from wait4, which covers the child and every descendant it waited
for). Repeats matter on a small shared machine: single runs vary by up to 2x.

Measured on each corpus: usagecore's cold backfill (with and without --keep-content), its
steady state (`backfill && report daily` on the unchanged tree, then after 10 files grew by
100 KB each), `report daily` alone, the DuckDB baseline and `ccusage claude daily` on the same
tree before and after the growth. Every contender's totals are checked against truth.json (plus
what was appended). The appended bytes are cut off again at the end. Prints a table per corpus
and writes bench/out/results-<date>.json.
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
from generate import GENERATOR_VERSION, parse_size  # noqa: E402

USAGECORE = REPO_DIR / ".venv" / "bin" / "usagecore"
PYTHON = REPO_DIR / ".venv" / "bin" / "python"

TARGETS = {
    "cold_vs_duckdb": 0.5,       # usagecore cold backfill <= 0.5x the DuckDB baseline
    "steady_vs_ccusage": 0.3,    # backfill && report daily, unchanged tree, <= 0.3x ccusage claude daily
    "append_vs_ccusage": 0.5,    # the same after 10 files grew by 100 KB each, <= 0.5x ccusage
    "peak_rss_mb": 400,          # any usagecore command, --keep-content included
    "report_daily_s": 0.5,       # including process start
}
APPEND_FILES = 10
APPEND_BYTES = 100 * 1024


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


def compile_package() -> None:
    """Write usagecore's bytecode, as installing a wheel does: with
    PYTHONDONTWRITEBYTECODE set (as in some shells and CI), an editable
    install compiles every module it imports on each run (40–70 ms of a
    command's start here), which no installed usagecore does."""
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(REPO_DIR / "python" / "usagecore")],
                   check=True, stdout=subprocess.DEVNULL)


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


def ensure_corpus(size_text: str, seed: int, density: float, corpus: Path | None) -> Path:
    suffix = "" if density == 1 else f"-density{density:g}"
    corpus = corpus or BENCH_DIR / "corpus" / f"{size_text}-seed{seed}{suffix}"
    truth = corpus / "truth.json"
    if not truth.exists() or orjson.loads(truth.read_bytes())["generator"]["version"] != GENERATOR_VERSION:
        print(f"generating {size_text} corpus (seed {seed}, density {density:g}) in {corpus} ...", flush=True)
        subprocess.run([sys.executable, str(BENCH_DIR / "generate.py"), "--out", str(corpus),
                        "--size", size_text, "--seed", str(seed), "--density", str(density)], check=True)
    return corpus


# ---- growth: what a day of work adds to a few files ---------------------------------------------

@dataclass
class Growth:
    """Lines appended to transcripts, with their exact totals; `undo` cuts them off again."""
    sizes: dict[Path, int] = field(default_factory=dict)  # original sizes
    totals: dict = field(default_factory=lambda: {"events": 0, "input_tokens": 0, "output_tokens": 0,
                                                  "cache_read_tokens": 0, "cache_write_tokens": 0})

    def grow(self, corpus: Path, round_: int, files: int = APPEND_FILES, size: int = APPEND_BYTES) -> None:
        """Append about `size` bytes to each of `files` session files: responses (each a new API
        call) and the tool results between them, shaped like the generated lines."""
        sessions = sorted(p for p in (corpus / "projects").rglob("*.jsonl") if "subagents" not in p.parts)
        step = max(1, len(sessions) // files)
        for index, path in enumerate(sessions[round_ % step::step][:files]):
            self.sizes.setdefault(path, path.stat().st_size)
            data = path.read_bytes()
            try:
                first = orjson.loads(data.split(b"\n", 1)[0])
            except orjson.JSONDecodeError:
                first = {}
            session, cwd = first.get("sessionId", "s"), first.get("cwd", "/home/me")
            # A file cut off by a crash (a corpus trap) ends mid-line: the fragment stays a
            # line of its own, as truth counts it, instead of swallowing the first new line.
            lines, written, n = ([b"\n"], 1, 0) if not data.endswith(b"\n") else ([], 0, 0)
            while written < size:
                n += 1
                call = f"bench{round_:02d}{index:02d}{n:05d}"
                usage = {"input_tokens": n % 7 + 1, "cache_creation_input_tokens": 100 + n,
                         "cache_read_input_tokens": 20_000 + 13 * n, "output_tokens": 50 + n % 400,
                         "service_tier": "standard"}
                stamp = f"2026-05-01T12:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
                assistant = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd,
                             "sessionId": session, "version": "2.1.140", "gitBranch": "main",
                             "message": {"model": "claude-opus-4-8", "id": f"msg_{call}", "type": "message",
                                         "role": "assistant",
                                         "content": [{"type": "text", "text": "Appended reply. " * 20}],
                                         "stop_reason": "end_turn", "stop_sequence": None, "usage": usage},
                             "requestId": f"req_{call}", "type": "assistant", "uuid": f"a-{call}",
                             "timestamp": stamp}
                result = {"parentUuid": f"a-{call}", "isSidechain": False, "userType": "external", "cwd": cwd,
                          "sessionId": session, "version": "2.1.140", "gitBranch": "main", "type": "user",
                          "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call,
                                                                    "content": "output line\n" * 120}]},
                          "uuid": f"r-{call}", "timestamp": stamp}
                chunk = orjson.dumps(assistant) + b"\n" + orjson.dumps(result) + b"\n"
                lines.append(chunk)
                written += len(chunk)
                self.totals["events"] += 1
                self.totals["input_tokens"] += usage["input_tokens"]
                self.totals["output_tokens"] += usage["output_tokens"]
                self.totals["cache_read_tokens"] += usage["cache_read_input_tokens"]
                self.totals["cache_write_tokens"] += usage["cache_creation_input_tokens"]
            with open(path, "ab") as f:
                f.write(b"".join(lines))

    def expected(self, truth_overall: dict) -> dict:
        return {k: truth_overall[k] + self.totals[k] for k in truth_overall}

    def undo(self) -> None:
        for path, size in self.sizes.items():
            os.truncate(path, size)
        self.sizes.clear()


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

def _report_totals(report: dict) -> dict:
    totals = report["totals"]
    return {"events": totals.get("requests"), "input_tokens": totals.get("input_tokens"),
            "output_tokens": totals.get("output_tokens"), "cache_read_tokens": totals.get("cache_read_tokens"),
            "cache_write_tokens": totals.get("cache_write_tokens")}


def _check_steady(run: Run, expected_overall: dict) -> None:
    """`backfill --json && report daily --json`: nothing new or just the growth, exact totals."""
    if run.exit_code:
        return
    backfill, report = (orjson.loads(line) for line in run.stdout.splitlines() if line.strip())
    run.totals = _report_totals(report)
    run.check = peers.compare_overall(expected_overall, run.totals)
    run.note = (f"backfill read {backfill['files_read']} files, {backfill['bytes_read'] / 1e6:.2f} MB, "
                f"{backfill['events']} new events")


def run_usagecore(corpus: Path, truth: dict, db_dir: Path, repeat: int) -> tuple[list[Run], Path]:
    """Cold backfills (each into a new store), then `report daily` and the unchanged steady state
    on the last store, which is returned for the steady state after growth."""
    projects = corpus / "projects"

    def backfill(db: Path, *flags: str) -> list:
        return [USAGECORE, "--db", db, "backfill", "claude", projects, "--json", *flags]

    runs = []
    databases = [db_dir / f"cold-{i}.duckdb" for i in range(repeat)]
    db = databases[-1]
    cold = measure_repeated("usagecore backfill (cold)", [backfill(d) for d in databases])
    if cold.exit_code == 0:
        summary = orjson.loads(cold.stdout)
        cold.totals = {"events": summary.get("events"), "usage_lines": summary["usage_lines"]}
        cold.check = peers.compare_overall(truth["overall"], cold.totals)
        cold.note = (f"{summary['lines']:,} lines, {summary['usage_lines']:,} usage lines, "
                     f"{summary.get('skipped_lines', '?')} skipped (truth: {truth['counts']['malformed_lines']} "
                     f"malformed)")
    cold.target = f"<= {TARGETS['cold_vs_duckdb']}x DuckDB; RSS < {TARGETS['peak_rss_mb']} MB"
    runs.append(cold)

    keep = measure_repeated("usagecore backfill --keep-content (cold)",
                            [backfill(db_dir / f"keep-{i}.duckdb", "--keep-content") for i in range(repeat)])
    if keep.exit_code == 0:
        keep.totals = {"events": orjson.loads(keep.stdout).get("events")}
        keep.check = peers.compare_overall(truth["overall"], keep.totals)
    keep.target = f"RSS < {TARGETS['peak_rss_mb']} MB"
    runs.append(keep)
    for i in range(repeat):
        (db_dir / f"keep-{i}.duckdb").unlink(missing_ok=True)

    report = measure_repeated("usagecore report daily",
                              [[USAGECORE, "--db", db, "report", "daily", "--json"]] * repeat)
    if report.exit_code == 0:
        report.totals = _report_totals(orjson.loads(report.stdout))
        report.check = peers.compare_overall(truth["overall"], report.totals)
    report.target = f"< {TARGETS['report_daily_s']} s"
    runs.append(report)

    steady = measure_repeated("usagecore backfill && report daily (unchanged)",
                              [steady_command(db, projects)] * repeat)
    _check_steady(steady, truth["overall"])
    steady.target = f"<= {TARGETS['steady_vs_ccusage']}x ccusage (unchanged)"
    runs.append(steady)
    return runs, db


def steady_command(db: Path, projects: Path) -> list:
    """What a user repeats: import what is new, then look at the days."""
    return ["sh", "-c", f'"{USAGECORE}" --db "{db}" backfill claude "{projects}" --json && '
                        f'"{USAGECORE}" --db "{db}" report daily --json']


def run_duckdb(corpus: Path, truth: dict, repeat: int) -> Run:
    threads = os.cpu_count()
    run = measure_repeated(f"DuckDB read_ndjson ({threads} threads, defaults)",
                           [[PYTHON, BENCH_DIR / "peers.py", "duckdb", corpus, "--threads", str(threads)]] * repeat)
    if run.exit_code == 0:
        result = orjson.loads(run.stdout)
        run.totals = result["overall"]
        run.check = peers.compare_overall(truth["overall"], run.totals)
        if run.check["match"] and result["by_day_model"] != truth["by_day_model"]:
            run.check = {"match": False, "text": "overall matches, by_day_model differs"}
    run.note = "python + duckdb import included"
    return run


def ccusage_available() -> bool:
    return shutil.which("node") is not None and peers.CCUSAGE_BIN.exists()


def run_ccusage(name: str, corpus: Path, expected_overall: dict, home: Path, repeat: int) -> Run:
    command, env = peers.ccusage_command(corpus, home)
    run = measure_repeated(name, [command] * repeat, env)
    _check_ccusage(run, expected_overall)
    return run


def _check_ccusage(run: Run, expected_overall: dict) -> None:
    if run.exit_code == 0:
        result = peers.ccusage_totals(run.stdout)
        run.totals = result["overall"]
        run.check = peers.compare_overall(expected_overall, run.totals)
        run.note = ("reports no request count; its rules differ from truth's (it also counts assistant "
                    "messages copied into agent_progress lines and does not merge lines without requestId; "
                    "see README)")


def run_growth(corpus: Path, truth: dict, db: Path, home: Path, repeat: int,
               with_ccusage: bool) -> list[Run]:
    """Per repeat: 10 more files grow by 100 KB, then usagecore's steady state and ccusage run on
    the grown tree. The growth is cut off again at the end."""
    growth = Growth()
    ours, theirs = [], []
    try:
        for round_ in range(repeat):
            growth.grow(corpus, round_)
            expected = growth.expected(truth["overall"])
            run = measure("usagecore backfill && report daily (after growth)", steady_command(db, corpus / "projects"))
            _check_steady(run, expected)
            ours.append(run)
            if with_ccusage:
                command, env = peers.ccusage_command(corpus, home)
                other = measure("ccusage 20.0.24 claude daily (after growth)", command, env)
                _check_ccusage(other, expected)
                theirs.append(other)
    finally:
        growth.undo()
    runs = []
    for samples, target in ((ours, f"<= {TARGETS['append_vs_ccusage']}x ccusage (after growth)"), (theirs, "")):
        if not samples:
            continue
        first = next((r for r in samples if r.exit_code), samples[-1])
        if not first.exit_code:
            first.wall_samples = [r.wall_s for r in samples]
            first.wall_s = round(statistics.median(first.wall_samples), 3)
            first.peak_rss_mb = max(r.peak_rss_mb for r in samples)
            first.cpu_s = round(statistics.median(r.cpu_s for r in samples), 3)
        first.target = target
        runs.append(first)
    return runs


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


def bench_corpus(corpus: Path, repeat: int, with_ccusage: bool) -> dict:
    """Every measurement on one corpus; returns its part of the results."""
    truth = orjson.loads((corpus / "truth.json").read_bytes())
    counts = truth["counts"]
    gib = counts["bytes"] / 1024**3
    print(f"\ncorpus {corpus}: {counts['bytes'] / 1024**2:.0f} MiB, {counts['files']} files, "
          f"{counts['lines']} lines, {truth['overall']['events']} responses ({truth['overall']['events'] / gib:,.0f} "
          f"per GiB)", flush=True)
    warm = warm_page_cache(corpus)
    print(f"page cache warmed: read {warm['bytes'] / 1024**2:.0f} MiB in {warm['seconds']} s", flush=True)
    busy_before = busy_cpu_fraction()
    if busy_before > 0.1:
        print(f"WARNING: the machine is {busy_before:.0%} busy before the benchmark; figures will be skewed",
              flush=True)
    with tempfile.TemporaryDirectory(prefix="usagecore-bench-") as scratch:
        scratch_dir = Path(scratch)
        home = scratch_dir / "home"
        home.mkdir()
        runs, db = run_usagecore(corpus, truth, scratch_dir, repeat)
        print("usagecore done", flush=True)
        duckdb_run = run_duckdb(corpus, truth, repeat)
        runs.append(duckdb_run)
        print("DuckDB baseline done", flush=True)
        ccusage_run = None
        if with_ccusage:
            ccusage_run = run_ccusage("ccusage 20.0.24 claude daily", corpus, truth["overall"], home, repeat)
            runs.append(ccusage_run)
        grown = run_growth(corpus, truth, db, home, repeat, with_ccusage)
        runs += grown
        print("growth done", flush=True)
    busy_after = busy_cpu_fraction()

    by_name = {r.name: r for r in runs}

    def ratio(ours: str, other: Run | None) -> float | None:
        mine = by_name.get(ours)
        if mine is None or mine.wall_s is None or other is None or not other.wall_s or other.exit_code:
            return None
        return round(mine.wall_s / other.wall_s, 3)

    ccusage_grown = next((r for r in grown if r.name.startswith("ccusage")), None)
    ratios = {
        "cold / DuckDB": ratio("usagecore backfill (cold)", duckdb_run),
        "cold / ccusage": ratio("usagecore backfill (cold)", ccusage_run),
        "steady unchanged / ccusage": ratio("usagecore backfill && report daily (unchanged)", ccusage_run),
        "steady after growth / ccusage": ratio("usagecore backfill && report daily (after growth)", ccusage_grown),
    }
    print_table(runs, ratios)
    if busy_after > 0.1:
        print(f"WARNING: the machine was {busy_after:.0%} busy right after the benchmark")
    cold = by_name["usagecore backfill (cold)"]
    usage_lines = (cold.totals or {}).get("usage_lines")
    return {
        "corpus": {"path": str(corpus), "generator": truth["generator"], "counts": counts,
                   "truth_overall": truth["overall"],
                   "responses_per_gib": round(truth["overall"]["events"] / gib),
                   "usage_lines_per_gib": round(usage_lines / gib) if usage_lines else None},
        "page_cache_warmup": warm,
        "busy_cpu_fraction": {"before": busy_before, "after": busy_after},
        "ratios": ratios,
        "runs": [r.as_json() for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1GB", help="corpus size, e.g. 50MB, 1GB (binary units)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--densities", default="1,3",
                        help="generator densities, comma-separated (1: calibrated, 3: usage-dense)")
    parser.add_argument("--corpus", type=Path, help="use this corpus directory (one density only)")
    parser.add_argument("--skip-ccusage", action="store_true")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per measurement; the table shows the median wall time")
    args = parser.parse_args(argv)
    parse_size(args.size)  # fail early on a bad size
    densities = [float(d) for d in args.densities.split(",")]
    if args.corpus and len(densities) != 1:
        parser.error("--corpus takes one density")
    compile_package()
    with_ccusage = not args.skip_ccusage and ccusage_available()
    if not args.skip_ccusage and not with_ccusage:
        print("ccusage not installed (npm install --prefix bench ccusage@20.0.24): left out", flush=True)

    corpora = {}
    for density in densities:
        corpus = ensure_corpus(args.size, args.seed, density, args.corpus)
        corpora[f"density {density:g}"] = bench_corpus(corpus, args.repeat, with_ccusage)

    results = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "size": args.size,
        "seed": args.seed,
        "repeat": args.repeat,
        "targets": TARGETS,
        "corpora": corpora,
    }
    out_dir = BENCH_DIR / "out"
    out_dir.mkdir(exist_ok=True)
    out_path = out_dir / f"results-{dt.date.today().isoformat()}.json"
    out_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nwrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
