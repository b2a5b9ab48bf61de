#!/usr/bin/env python3
"""Report and status latency on a store of 1,000,000 events.

    python bench/reports.py [--events 1000000] [--runs 5] [--store bench/out/reports.duckdb]

The events are generated directly into DuckDB (no transcripts): a year of
usage from three agents over 20,000 sessions, 8 models and 5 upstream
providers (one of them unmapped), with one tool call for every nine
messages. Each figure is the wall time of the whole `usagecore` process,
start to exit, output to a pipe; the best and the median of --runs runs.
Targets: every report under 0.5 s, `status` under 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPORTS = ["daily", "weekly", "monthly", "session", "blocks", "models", "tools", "projects", "providers",
           "accounts"]
TARGETS = {"report": 0.5, "status": 0.3}

GENERATE = """
INSERT INTO usage_events (event_id, occurred_at, event_type, source_system, source_channel, provider_id,
    account_id, model_raw, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
    total_tokens, cost_usd, cost_source, requests, session_id, project, tool_name, success, duration_ms)
SELECT
    md5(i::VARCHAR),
    TIMESTAMPTZ '2025-12-01 00:00:00+00' + to_microseconds((hash(i) % 31536000000000)::BIGINT),
    CASE WHEN i % 10 = 9 THEN 'tool_call' ELSE 'message' END,
    src, 'jsonl',
    CASE src WHEN 'claude_code' THEN 'anthropic' WHEN 'codex' THEN 'openai'
             ELSE ['opencode', 'anthropic', 'github-copilot'][1 + (i // 7) % 3] END,
    CASE WHEN src = 'codex' THEN 'org-' || (i % 3) END,
    model, model,
    inp, out, cr, cw, inp + out + cr + cw,
    CASE WHEN i % 1000 = 7 THEN NULL ELSE (inp * 3 + out * 15 + cr * 0.3 + cw * 3.75) / 1e6 END,
    'calculated', 1,
    'session-' || (i % 20000), '/home/me/src/project-' || (i % 37),
    CASE WHEN i % 10 = 9 THEN ['Bash', 'Read', 'Edit', 'Grep', 'Write'][1 + (i // 10) % 5] END,
    CASE WHEN i % 10 = 9 THEN i % 13 <> 0 END,
    CASE WHEN i % 10 = 9 THEN i % 5000 END
FROM (
    SELECT i,
           CASE WHEN (i // 10) % 10 < 7 THEN 'claude_code' WHEN (i // 10) % 10 < 9 THEN 'codex'
                ELSE 'opencode' END AS src,
           ['claude-opus-4-8', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'gpt-5', 'gpt-5-codex',
            'gpt-5-mini', 'claude-opus-4-6', 'o3'][1 + i % 8] AS model,
           (hash(i * 3) % 5000)::BIGINT AS inp, (hash(i * 5) % 2000)::BIGINT AS out,
           (hash(i * 7) % 200000)::BIGINT AS cr, (hash(i * 11) % 20000)::BIGINT AS cw
    FROM range(?) AS t(i)
)
"""


def generate(store: Path, events: int) -> None:
    sys.path.insert(0, str(BENCH.parent / "python"))
    from usagecore.store import Store

    store.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal", ".status.json", ".lock"):
        Path(str(store) + suffix).unlink(missing_ok=True)
    with Store(store) as s:
        s.con.execute("SET enable_progress_bar = false")
        s.con.execute(GENERATE, [events])


def timed(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--store", type=Path, default=BENCH / "out" / "reports.duckdb")
    parser.add_argument("--reuse", action="store_true", help="Use the store as it is.")
    opts = parser.parse_args()
    if not opts.reuse or not opts.store.exists():
        started = time.perf_counter()
        generate(opts.store, opts.events)
        print(f"generated {opts.events:,} events in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    usagecore = Path(sys.executable).with_name("usagecore")
    home = opts.store.parent / "home"
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_STATE_HOME": str(home / "state"), "TZ": "UTC", "COLUMNS": "120"}
    empty = opts.store.with_name("empty.duckdb")
    if not empty.exists():
        generate(empty, 0)
    # What any command costs before it reads a row: process start, imports, opening a store.
    cases = [("usagecore --version", [str(usagecore), "--version"]),
             ("report daily on an empty store", [str(usagecore), "--db", str(empty), "report", "daily"])]
    cases += [(f"report {k}", [str(usagecore), "--db", str(opts.store), "report", k, "--tz", "Europe/Berlin"])
             for k in REPORTS]
    cases.append(("report daily --json --breakdown", [str(usagecore), "--db", str(opts.store), "report",
                                                      "daily", "--json", "--breakdown"]))
    cases.append(("status", [str(usagecore), "--db", str(opts.store), "status"]))
    failed = False
    print(f"| command | best s | median s | target s |\n|---|---|---|---|")
    for name, args in cases:
        timed(args, env)  # warm the page cache
        times = [timed(args, env) for _ in range(opts.runs)]
        target = TARGETS["status" if name == "status" else "report"] if "report" in name or name == "status" \
            else None
        if target is None or "empty" in name:
            print(f"| `{name}` | {min(times):.3f} | {statistics.median(times):.3f} | (floor) |")
            continue
        best, median = min(times), statistics.median(times)
        failed |= median > target
        print(f"| `{name}` | {best:.3f} | {median:.3f} | {target} {'' if median <= target else '(missed)'} |")
    Path(str(opts.store) + ".status.json").unlink(missing_ok=True)
    cold = timed(cases[-1][1], env)
    print(f"\n`status` without its summary file (opens the store once and writes it): {cold:.3f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
