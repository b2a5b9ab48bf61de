#!/usr/bin/env python3
"""Codex and OpenCode: usagecore against ccusage and a plain-SQL baseline, on generated corpora.

    python bench/run_agents.py [--repeat 3] [--codex-size 300MB] [--opencode-messages 200000]
                               [--seed 1] [--skip-ccusage] [--agents codex,opencode]

Corpora come from generate_codex.py / generate_opencode.py (cached in bench/corpus/). The page
cache is warmed with one full read, then, per agent, the contenders run as subprocesses in turn,
--repeat rounds (interleaved, so a load spike hits all of them alike): usagecore's cold backfill
into a fresh store, `ccusage codex|opencode daily --json --offline` (HOME an empty folder), and the
baseline (Codex: DuckDB read_ndjson with window functions; OpenCode: one SQL query over the SQLite
database with Python's sqlite3). Then usagecore's re-run on the unchanged tree, --repeat times.
Wall time (process start included) is the median, CPU (user + system of the process tree) the
median and peak RSS the largest, all from os.wait4. Every contender's totals are compared with the
generator's truth.json. Prints a markdown table and writes bench/out/agents-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from run import PYTHON, USAGECORE, Run, compile_package, measure  # noqa: E402

CCUSAGE = BENCH_DIR / "node_modules" / ".bin" / "ccusage"
FIELDS = ("events", "input", "cache_read", "output", "reasoning")
TARGETS = {"cold_vs_ccusage": 1.0, "rerun_s": 0.1, "peak_rss_mb": 400}

BY_KEY_SQL = (
    "SELECT strftime(timezone('UTC', occurred_at), '%Y-%m-%d') || '|' || model_raw || '|' || provider_id, "
    "count(*), sum(input_tokens), sum(cache_read_tokens), sum(output_tokens), sum(reasoning_tokens) "
    "FROM usage_events WHERE event_type = 'message' GROUP BY 1")

# ---- the baselines (run as `python run_agents.py baseline-codex|baseline-opencode DIR`) -----------

# One copy per rollout name: the plain file over a compressed sibling, sessions/ over archived_sessions/.
CODEX_SQL = """
WITH raw AS (
    SELECT filename AS f, row_number() OVER () AS n, "timestamp" AS ts, type, payload
    FROM read_ndjson($files, columns = {timestamp: 'VARCHAR', type: 'VARCHAR', payload: 'JSON'},
                     filename = true, ignore_errors = true, format = 'newline_delimited')
),
meta AS (   -- the first session_meta of a file is its own (a fork may replay its parent's)
    SELECT f, arg_min(payload, n) AS p, arg_min(ts, n) AS meta_ts FROM raw WHERE type = 'session_meta' GROUP BY f
),
threads AS (
    SELECT f, p->>'id' AS thread, p->>'model_provider' AS provider,
           CASE WHEN (p->>'forked_from_id') IS NOT NULL OR (p->'source')::VARCHAR LIKE '%subagent%'
                     OR (p->'source')::VARCHAR LIKE '%thread_spawn%'
                THEN meta_ts::TIMESTAMP + INTERVAL 1 SECOND END AS replay_until
    FROM meta
),
lines AS (  -- usage lines, with the model of the latest turn_context before them
    SELECT * FROM (
        SELECT f, n, ts, type, payload,
               last_value(CASE WHEN type = 'turn_context' THEN payload->>'model' END IGNORE NULLS)
                   OVER (PARTITION BY f ORDER BY n ROWS UNBOUNDED PRECEDING) AS model
        FROM raw)
    WHERE type = 'token_usage_record'
       OR (type = 'event_msg' AND (payload->>'type') = 'token_count'
           AND (payload->'info'->'total_token_usage') IS NOT NULL)
),
usage AS (
    SELECT l.f, l.n, l.ts, l.type, l.model, t.thread, t.provider,
           coalesce(l.ts::TIMESTAMP <= t.replay_until, false) AS replayed,
           l.type = 'token_usage_record' AND coalesce((l.payload->>'thread_id'), t.thread) <> t.thread AS foreign_record,
           CASE WHEN l.type = 'token_usage_record' THEN l.payload->'usage'
                ELSE l.payload->'info'->'total_token_usage' END AS u,
           l.payload->'info'->'last_token_usage' AS last_u
    FROM lines AS l JOIN threads AS t USING (f)
),
nums AS (
    SELECT *, coalesce((u->>'input_tokens')::BIGINT, 0) AS i, coalesce((u->>'cached_input_tokens')::BIGINT, 0) AS c,
           coalesce((u->>'cache_write_input_tokens')::BIGINT, 0) AS w, coalesce((u->>'output_tokens')::BIGINT, 0) AS o,
           coalesce((u->>'reasoning_output_tokens')::BIGINT, 0) AS r
    FROM usage
),
counts AS (  -- token_count: the growth of the thread's total; a total that goes down is a reset
    SELECT *, lag(i) OVER w AS pi, lag(c) OVER w AS pc, lag(w) OVER w AS pw, lag(o) OVER w AS po, lag(r) OVER w AS pr,
           bool_or(type = 'token_usage_record' AND NOT replayed AND NOT foreign_record) OVER (PARTITION BY f) AS has_records
    FROM nums WINDOW w AS (PARTITION BY f, type ORDER BY n)
),
responses AS (
    SELECT substr(ts, 1, 10) AS day, model, provider,
           CASE WHEN type = 'token_usage_record' OR pi IS NULL THEN [i, c, w, o, r]
                WHEN i < pi OR c < pc OR w < pw OR o < po OR r < pr THEN
                     [coalesce((last_u->>'input_tokens')::BIGINT, 0), coalesce((last_u->>'cached_input_tokens')::BIGINT, 0),
                      coalesce((last_u->>'cache_write_input_tokens')::BIGINT, 0),
                      coalesce((last_u->>'output_tokens')::BIGINT, 0),
                      coalesce((last_u->>'reasoning_output_tokens')::BIGINT, 0)]
                ELSE [i - pi, c - pc, w - pw, o - po, r - pr] END AS d
    FROM counts
    WHERE NOT replayed AND NOT foreign_record
      AND (type = 'token_usage_record') = has_records
)
SELECT day || '|' || model || '|' || provider AS k, count(*) AS events, sum(d[1] - d[2] - d[3]) AS input,
       sum(d[2]) AS cache_read, sum(d[4]) AS output, sum(d[5]) AS reasoning
FROM responses WHERE d <> [0, 0, 0, 0, 0]
GROUP BY 1
"""

OPENCODE_SQL = """
SELECT strftime('%Y-%m-%d', json_extract(data, '$.time.created') / 1000, 'unixepoch')
           || '|' || json_extract(data, '$.modelID') || '|' || json_extract(data, '$.providerID') AS k,
       count(*), sum(coalesce(json_extract(data, '$.tokens.input'), 0)),
       sum(coalesce(json_extract(data, '$.tokens.cache.read'), 0)),
       sum(coalesce(json_extract(data, '$.tokens.output'), 0) + coalesce(json_extract(data, '$.tokens.reasoning'), 0)),
       sum(coalesce(json_extract(data, '$.tokens.reasoning'), 0))
FROM message
WHERE json_extract(data, '$.role') = 'assistant'
  AND (coalesce(json_extract(data, '$.tokens.input'), 0) + coalesce(json_extract(data, '$.tokens.output'), 0)
       + coalesce(json_extract(data, '$.tokens.reasoning'), 0) + coalesce(json_extract(data, '$.tokens.cache.read'), 0)
       + coalesce(json_extract(data, '$.tokens.cache.write'), 0) > 0 OR coalesce(json_extract(data, '$.cost'), 0) <> 0)
GROUP BY 1
"""


def codex_files(home: Path) -> list[str]:
    chosen: dict[str, Path] = {}
    paths = sorted([*home.glob("sessions/**/rollout-*.jsonl*"), *home.glob("archived_sessions/**/rollout-*.jsonl*")],
                   key=lambda p: (p.name.endswith(".zst"), "archived_sessions" in p.parts, str(p)))
    for path in paths:
        chosen.setdefault(path.name.removesuffix(".zst"), path)
    return sorted(str(p) for p in chosen.values())


def baseline(kind: str, folder: Path) -> dict:
    if kind == "codex":
        import duckdb

        rows = duckdb.sql(CODEX_SQL, params={"files": codex_files(folder)}).fetchall()
    else:
        import sqlite3

        con = sqlite3.connect(f"file:{folder / 'opencode.db'}?mode=ro", uri=True)
        rows = con.execute(OPENCODE_SQL).fetchall()
    return {k: dict(zip(FIELDS, map(int, v))) for k, *v in rows}


# ---- checks -------------------------------------------------------------------------------------

def truth_by_key(truth: dict) -> dict:
    return {k: {f: v[f] for f in FIELDS} for k, v in truth["by_day_model_provider"].items()}


def overall(by_key: dict) -> dict:
    return {f: sum(row.get(f, 0) for row in by_key.values()) for f in FIELDS}


def check_by_key(got: dict, truth: dict) -> dict:
    want = truth_by_key(truth)
    diff = {f: overall(got)[f] - overall(want)[f] for f in FIELDS}
    return {"exact": got == want, "overall_diff": diff}


def store_by_key(db: Path) -> dict:
    """The store's totals, read in a child process: this process stays small, because a
    child's peak RSS as wait4 reports it includes what it was forked from."""
    import subprocess

    out = subprocess.run([str(PYTHON), str(Path(__file__).resolve()), "store-totals", str(db)],
                         check=True, capture_output=True).stdout
    return json.loads(out)


def _store_totals(db: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {k: dict(zip(FIELDS, map(int, v))) for k, *v in con.execute(BY_KEY_SQL).fetchall()}
    finally:
        con.close()


def ccusage_overall(stdout: bytes, agent: str) -> dict:
    totals = json.loads(stdout)["totals"]
    out = {"input": totals["inputTokens"], "cache_read": totals["cacheReadTokens"], "output": totals["outputTokens"]}
    if "reasoningOutputTokens" in totals:
        out["reasoning"] = totals["reasoningOutputTokens"]
    out["cost_usd"] = totals.get("costUSD", totals.get("totalCost"))
    return out


def check_overall(got: dict, truth: dict) -> dict:
    want = truth["overall"]
    diff = {f: got[f] - want[f] for f in FIELDS if f in got}
    return {"exact": all(v == 0 for v in diff.values()), "overall_diff": diff}


# ---- the runs -----------------------------------------------------------------------------------

def ensure(script: str, folder: Path, args: list[str]) -> dict:
    if not (folder / "truth.json").exists():
        print(f"generating {folder} ...", flush=True)
        import subprocess

        subprocess.run([str(PYTHON), str(BENCH_DIR / script), "--out", str(folder), *args], check=True)
    return json.loads((folder / "truth.json").read_text())


def warm(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                while chunk := f.read(8 << 20):
                    total += len(chunk)
    return total


def bench_agent(agent: str, folder: Path, truth: dict, repeat: int, with_ccusage: bool, work: Path) -> list[Run]:
    home = work / "empty-home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1", "XDG_STATE_HOME": str(home / "state")}
    if agent == "codex":
        env["CODEX_HOME"] = str(folder)
        backfill = ["backfill", "codex"]
        ccusage = [str(CCUSAGE), "codex", "daily", "--json", "--offline", "--timezone", "UTC"]
    else:
        env["OPENCODE_DATA_DIR"] = str(folder)
        backfill = ["backfill", "opencode"]
        ccusage = [str(CCUSAGE), "opencode", "daily", "--json", "--offline", "--timezone", "UTC"]
    base = [str(PYTHON), str(Path(__file__).resolve()), f"baseline-{agent}", str(folder)]
    cold_runs, peer_runs, base_runs = [], [], []
    db = None
    for round_ in range(repeat):
        db = work / f"{agent}-{round_}.duckdb"
        cold_runs.append(measure(f"{agent}: usagecore cold backfill", [str(USAGECORE), "--db", str(db), *backfill],
                                 env))
        if with_ccusage:
            peer_runs.append(measure(f"{agent}: ccusage {agent} daily", ccusage, env))
        base_runs.append(measure(f"{agent}: " + ("DuckDB read_ndjson" if agent == "codex" else "SQL over opencode.db"),
                                 base, env))
    # As a user types it (the summary line on stderr says what happened);
    # with --json it loads the summary's module too: about 30 ms more.
    reruns = [measure(f"{agent}: usagecore re-run, nothing changed",
                      [str(USAGECORE), "--db", str(db), *backfill], env) for _ in range(repeat)]
    rerun = next((r for r in reruns if r.exit_code), reruns[0])
    if not rerun.exit_code:
        rerun.wall_samples = [r.wall_s for r in reruns]
        rerun.wall_s = round(sorted(rerun.wall_samples)[len(reruns) // 2], 3)
        rerun.cpu_s = round(sorted(r.cpu_s for r in reruns)[len(reruns) // 2], 3)
        rerun.peak_rss_mb = max(r.peak_rss_mb for r in reruns)
        skipped = sum(b"unchanged since the last backfill" in r.stderr for r in reruns)
        rerun.check = {"exact": skipped == len(reruns),
                       "note": f"{skipped} of {len(reruns)} skipped as unchanged"}
    results = []
    for runs in (cold_runs, peer_runs, base_runs):
        if not runs:
            continue
        first = runs[0]
        if any(r.exit_code for r in runs):
            results.append(next(r for r in runs if r.exit_code))
            continue
        first.wall_samples = [r.wall_s for r in runs]
        first.wall_s = round(sorted(first.wall_samples)[len(runs) // 2], 3)
        first.cpu_s = round(sorted(r.cpu_s for r in runs)[len(runs) // 2], 3)
        first.peak_rss_mb = max(r.peak_rss_mb for r in runs)
        results.append(first)
    cold = results[0]
    if not cold.exit_code:
        cold.check = check_by_key(store_by_key(Path(cold.command[2])), truth)
    for run in results[1:]:
        if run.exit_code:
            continue
        if run.command[0] == str(CCUSAGE):
            got = ccusage_overall(run.stdout, agent)
            run.totals = got
            run.check = check_overall(got, truth)
        else:
            run.check = check_by_key(json.loads(run.stdout), truth)
    results.insert(1, rerun)
    return results


def table(runs: list[Run], ccusage_wall: dict) -> str:
    lines = ["| contender | wall (median) | CPU | peak RSS | totals vs truth |", "|---|---:|---:|---:|---|"]
    for run in runs:
        if run.exit_code:
            lines.append(f"| {run.name} | failed | | | {run.note[:120]} |")
            continue
        check = run.check or {}
        diff = {k: v for k, v in check.get("overall_diff", {}).items() if v}
        verdict = "exact" if check.get("exact") else ("differs: " + ", ".join(f"{k} {v:+,}" for k, v in diff.items())
                                                     if diff else check.get("note", "differs per day/model"))
        lines.append(f"| {run.name} | {run.wall_s:.2f} s | {run.cpu_s:.2f} s | {run.peak_rss_mb:.0f} MB | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("baseline-codex", "baseline-opencode"):
        sys.stdout.write(json.dumps(baseline(argv[0].removeprefix("baseline-"), Path(argv[1]))))
        return 0
    if argv and argv[0] == "store-totals":
        sys.stdout.write(json.dumps(_store_totals(Path(argv[1]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--codex-size", default="300MB")
    parser.add_argument("--opencode-messages", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-ccusage", action="store_true")
    parser.add_argument("--agents", default="codex,opencode", help="which to run, comma-separated")
    args = parser.parse_args(argv)
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    if not agents or set(agents) - {"codex", "opencode"}:
        parser.error("--agents: codex, opencode or both")
    compile_package()
    with_ccusage = not args.skip_ccusage and CCUSAGE.exists()
    if not with_ccusage and not args.skip_ccusage:
        print("ccusage not installed (npm install --prefix bench): skipping it", file=sys.stderr)
    corpora = {
        "codex": BENCH_DIR / "corpus" / f"codex-{args.codex_size}-seed{args.seed}",
        "opencode": BENCH_DIR / "corpus" / f"opencode-{args.opencode_messages // 1000}k-seed{args.seed}",
    }
    corpora = {agent: folder for agent, folder in corpora.items() if agent in agents}
    generators = {
        "codex": ("generate_codex.py", ["--size", args.codex_size, "--seed", str(args.seed)]),
        "opencode": ("generate_opencode.py", ["--messages", str(args.opencode_messages), "--seed", str(args.seed)]),
    }
    truths = {agent: ensure(generators[agent][0], folder, generators[agent][1]) for agent, folder in corpora.items()}
    load = os.getloadavg()
    print(f"{platform.node()}: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"at start", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="usagecore-agents-") as work:
        for agent, folder in corpora.items():
            print(f"{agent}: warmed {warm(folder) / 1e6:,.0f} MB; {args.repeat} rounds ...", flush=True)
            results[agent] = bench_agent(agent, folder, truths[agent], args.repeat, with_ccusage, Path(work))
    load_end = os.getloadavg()
    out = [f"Load average at start {load[0]:.1f}, at end {load_end[0]:.1f} ({os.cpu_count()} cores); "
           f"{args.repeat} rounds, median wall, largest RSS.", ""]
    for agent, runs in results.items():
        truth = truths[agent]["overall"]
        out.append(f"#### {agent}: {corpora[agent].name} ({truth['events']:,} responses)")
        out.append("")
        out.append(table(runs, {}))
        cold, peer = runs[0], next((r for r in runs if r.command[0] == str(CCUSAGE)), None)
        if peer and not peer.exit_code and not cold.exit_code:
            out.append("")
            out.append(f"cold / ccusage wall: {cold.wall_s / peer.wall_s:.2f}x (target <= {TARGETS['cold_vs_ccusage']}x); "
                       f"re-run {runs[1].wall_s:.3f} s (target < {TARGETS['rerun_s']} s); "
                       f"peak RSS {max(cold.peak_rss_mb, runs[1].peak_rss_mb):.0f} MB (target < {TARGETS['peak_rss_mb']} MB)")
        out.append("")
    report = "\n".join(out)
    print(report)
    target = BENCH_DIR / "out" / f"agents-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps({"load": [load, load_end], "table": report,
                                  "runs": {a: [r.as_json() for r in rs] for a, rs in results.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
