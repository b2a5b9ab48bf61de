#!/usr/bin/env python3
"""The peers usagecore is measured against, and how their totals are compared with truth.json.

    python bench/peers.py duckdb CORPUS [--threads N]   # DuckDB read_ndjson baseline, JSON on stdout
    python bench/peers.py check CORPUS                  # run the baseline in-process and diff with truth

The DuckDB baseline is what a competent engineer would write in an afternoon: one read_ndjson
over every transcript with explicit column types (so nothing is inferred from samples and only the
needed fields are materialised) and DuckDB's defaults otherwise, then one SQL query applying the
same dedup rules as the ground truth. run.py starts it as a subprocess so wall time and peak RSS
include interpreter start-up. (A larger `maximum_object_size` than the default 16 MB is not
needed, since no line comes near it, and it makes DuckDB size its read buffers larger and run
about a third slower.)

ccusage is the tool people actually use for this; run.py runs its native build from bench/node_modules.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson

# Only the fields the rules need; every other key of a line is skipped by the reader.
DUCKDB_COLUMNS = {
    "type": "VARCHAR",
    "isSidechain": "BOOLEAN",
    "requestId": "VARCHAR",
    "timestamp": "VARCHAR",
    "sessionId": "VARCHAR",
    "message": "STRUCT(id VARCHAR, model VARCHAR, usage STRUCT(input_tokens BIGINT, output_tokens BIGINT, "
               "cache_creation_input_tokens BIGINT, cache_read_input_tokens BIGINT))",
    # agent_progress lines: the subagent's assistant line they embed.
    "data": "STRUCT(type VARCHAR, message STRUCT(type VARCHAR, requestId VARCHAR, timestamp VARCHAR, "
            "message STRUCT(id VARCHAR, model VARCHAR, usage STRUCT(input_tokens BIGINT, output_tokens BIGINT, "
            "cache_creation_input_tokens BIGINT, cache_read_input_tokens BIGINT))))",
}

# 1. assistant lines with a message id and usage, minus locally generated '<synthetic>' ones,
#    and the subagent assistant lines agent_progress lines embed (copies, side chain);
# 2. one response per (message.id, requestId) - NULL requestIds group together - with the
#    per-field max, which undoes pre-2.1.97 placeholder output_tokens;
# 3. a sidechain response is a replay, and dropped, when its message.id has a non-sidechain one.
# Timestamps end in 'Z', so the first ten characters are the UTC day.
DEDUP_SQL = """
WITH lines AS (
    SELECT type = 'assistant' AS top_level, * EXCLUDE (requestId, timestamp, message)
                                              REPLACE (coalesce(isSidechain, false) AS isSidechain),
           CASE WHEN type = 'assistant' THEN message ELSE data.message.message END AS message,
           CASE WHEN type = 'assistant' THEN requestId ELSE data.message.requestId END AS request_id,
           CASE WHEN type = 'assistant' THEN timestamp ELSE data.message.timestamp END AS ts
    FROM read_ndjson($files, columns = $columns, ignore_errors = true, format = 'newline_delimited')
    WHERE type = 'assistant'
       OR (type = 'progress' AND data.type = 'agent_progress' AND data.message.type = 'assistant')
),
assistant_lines AS (
    SELECT message.id AS message_id,
           request_id,
           isSidechain OR NOT top_level AS is_sidechain,
           substr(ts, 1, 10) AS day,
           message.model AS model,
           message.usage.input_tokens AS input,
           message.usage.output_tokens AS output,
           message.usage.cache_read_input_tokens AS cache_read,
           message.usage.cache_creation_input_tokens AS cache_write
    FROM lines
    WHERE message.id IS NOT NULL
      AND message.usage IS NOT NULL
      AND message.model IS DISTINCT FROM '<synthetic>'
),
responses AS (
    SELECT message_id, request_id,
           bool_or(is_sidechain) AS is_sidechain,
           min(day) AS day,
           any_value(model) AS model,
           max(coalesce(input, 0)) AS input,
           max(coalesce(output, 0)) AS output,
           max(coalesce(cache_read, 0)) AS cache_read,
           max(coalesce(cache_write, 0)) AS cache_write
    FROM assistant_lines
    GROUP BY message_id, request_id
),
events AS (
    SELECT *, bool_or(NOT is_sidechain) OVER (PARTITION BY message_id) AS has_main_twin
    FROM responses
)
SELECT day, model, count(*) AS requests, sum(input) AS input, sum(output) AS output,
       sum(cache_read) AS cache_read, sum(cache_write) AS cache_write
FROM events
WHERE NOT is_sidechain OR NOT has_main_twin
GROUP BY day, model
ORDER BY day, model
"""

TOTAL_KEYS = ("events", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def duckdb_totals(corpus: Path, threads: int | None = None) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads or os.cpu_count()}")
    con.execute("SET preserve_insertion_order = false")
    files = str(corpus / "projects" / "**" / "*.jsonl")
    rows = con.execute(DEDUP_SQL, {"files": files, "columns": DUCKDB_COLUMNS}).fetchall()
    by_day_model = [{"day": day, "model_raw": model, "requests": requests, "input": int(inp),
                     "output": int(out), "cache_read": int(cache_read), "cache_write": int(cache_write)}
                    for day, model, requests, inp, out, cache_read, cache_write in rows]
    overall = {"events": sum(r["requests"] for r in by_day_model),
               "input_tokens": sum(r["input"] for r in by_day_model),
               "output_tokens": sum(r["output"] for r in by_day_model),
               "cache_read_tokens": sum(r["cache_read"] for r in by_day_model),
               "cache_write_tokens": sum(r["cache_write"] for r in by_day_model)}
    return {"overall": overall, "by_day_model": by_day_model}


# ---- ccusage ------------------------------------------------------------------------------------

BENCH_DIR = Path(__file__).resolve().parent
CCUSAGE_BIN = BENCH_DIR / "node_modules" / ".bin" / "ccusage"


def ccusage_command(corpus: Path, home: Path) -> tuple[list[str], dict]:
    """Command and environment for `ccusage claude daily --json --offline` on the corpus.

    --timezone UTC makes its days comparable with truth (it defaults to the local zone).
    HOME points at an empty directory so it cannot also pick up a real ~/.claude.
    """
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(corpus), "HOME": str(home), "NO_COLOR": "1"}
    return [str(CCUSAGE_BIN), "claude", "daily", "--json", "--offline", "--timezone", "UTC"], env


def ccusage_totals(stdout: bytes) -> dict:
    """ccusage's JSON has no request count; tokens only."""
    report = orjson.loads(stdout)
    totals = report["totals"]
    return {"overall": {"input_tokens": totals["inputTokens"], "output_tokens": totals["outputTokens"],
                        "cache_read_tokens": totals["cacheReadTokens"],
                        "cache_write_tokens": totals["cacheCreationTokens"]},
            "days": len(report.get("daily", [])),
            "total_cost_usd": totals.get("totalCost")}


# ---- comparison ---------------------------------------------------------------------------------

def compare_overall(truth_overall: dict, overall: dict) -> dict:
    """Per-field difference (reported - truth) for the fields the contender reports."""
    diffs = {}
    for key in TOTAL_KEYS:
        if key in overall and overall[key] is not None:
            diffs[key] = {"reported": overall[key], "truth": truth_overall[key],
                          "diff": overall[key] - truth_overall[key],
                          "ratio": round(overall[key] / truth_overall[key], 6) if truth_overall[key] else None}
    return {"match": bool(diffs) and all(d["diff"] == 0 for d in diffs.values()), "fields": diffs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=["duckdb", "check"])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    args = parser.parse_args(argv)
    result = duckdb_totals(args.corpus, args.threads)
    if args.peer == "duckdb":
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
        return 0
    truth = orjson.loads((args.corpus / "truth.json").read_bytes())
    verdict = compare_overall(truth["overall"], result["overall"])
    same_rows = result["by_day_model"] == truth["by_day_model"]
    print(orjson.dumps({"overall_match": verdict["match"], "by_day_model_match": same_rows,
                        "fields": verdict["fields"]}, option=orjson.OPT_INDENT_2).decode())
    return 0 if verdict["match"] and same_rows else 1


if __name__ == "__main__":
    sys.exit(main())
