"""Exact totals from real Claude Code transcripts, through the CLI in a subprocess.

Oracles:
* the six Claude Code capture runs: tests/data/captures/totals.json (`expected.by_model`, the mock's
  token formula and Claude Code's own costs; README section 3),
* the spotter transcripts: the per-file table in tests/data/fixtures/README.md (each message.id once,
  per-field maximum: our rule).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import CAPTURES, SPOTTER, run_cli

TOTALS = json.loads((CAPTURES / "totals.json").read_text())
CLAUDE_RUNS = sorted(p.name for p in (CAPTURES / "claude-code").iterdir() if (p / "transcripts").is_dir())
CAPTURE_DAY = "2026-11-22"  # captures README: "Captures were made on 2026-11-22"
CAPTURE_CWD = "/home/dev/work/app"
ASSISTANT_TEXT = "I'll run a command."
COST_TOL = 1e-9

SPOTTER_SESSION = "258c7280-ae70-4798-800f-63464d01a85d"
SPOTTER_DIR = SPOTTER / "projects" / "-home-USER-projects-spotter-worktrees-spotter-gqc"
SPOTTER_MAIN = SPOTTER_DIR / f"{SPOTTER_SESSION}.jsonl"
SPOTTER_SUBAGENTS = SPOTTER_DIR / SPOTTER_SESSION / "subagents"
SPOTTER_CWD = "/home/USER/projects/spotter-worktrees/spotter-gqc"
SHORT_TOOL_CWD = "/home/marco/projects/spotter"

# fixtures/README.md, "Token sums under one de-duplication rule":
# (responses, model, input, output, cache read, cache write)
SPOTTER_TABLE = {
    "short.jsonl": (1, "claude-opus-4-6", 3, 13, 11_515, 13_835),
    "tool_heavy.jsonl": (4, "claude-opus-4-6", 54, 212, 88_231, 17_696),
    "main": (152, "claude-opus-4-6", 180, 38_899, 14_771_617, 349_474),
    "a881341": (3, "claude-sonnet-4-5-20250929", 15, 3, 34_159, 42_176),
    "acompact-fffbd0": (1, "claude-opus-4-6", 3, 6, 166_758, 2_487),
}

TOKEN_SUMS = (
    "count(*)::BIGINT AS events, sum(requests)::BIGINT AS requests, "
    "sum(input_tokens)::BIGINT AS input, sum(output_tokens)::BIGINT AS output, "
    "sum(cache_read_tokens)::BIGINT AS cache_read, sum(cache_write_tokens)::BIGINT AS cache_write, "
    "sum(cache_write_1h_tokens)::BIGINT AS cache_write_1h, sum(total_tokens)::BIGINT AS total, "
    "sum(cost_usd) AS cost_usd, count(*) FILTER (WHERE cost_usd IS NULL)::BIGINT AS unpriced"
)


def _env(root: Path) -> dict:
    """Environment for module-scoped fixtures, which run before the per-test isolated HOME."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {"HOME": str(home), "XDG_STATE_HOME": str(home / ".local" / "state"),
            "XDG_CONFIG_HOME": str(home / ".config"), "CLAUDE_CONFIG_DIR": "",
            "USAGECORE_TELEMETRY_DB_PATH": "", "TZ": "UTC"}


def backfill(db: Path, *paths: Path, keep_content: bool = False, env: dict | None = None) -> dict:
    args = ["--db", str(db), "backfill", "claude", *map(str, paths), "--json"]
    if keep_content:
        args.append("--keep-content")
    result = run_cli(*args, env=env)
    return json.loads(result.stdout)


def sql(db: Path, query: str, env: dict | None = None) -> list[dict]:
    return json.loads(run_cli("--db", str(db), "sql", query, "--format", "json", env=env).stdout)


def report(db: Path, kind: str, *extra: str, env: dict | None = None) -> dict:
    return json.loads(run_cli("--db", str(db), "report", kind, "--json", *extra, env=env).stdout)


def normalized(model_raw: str) -> str:
    """The model family name: the raw id without its date stamp."""
    return re.sub(r"-\d{8}$", "", model_raw)


def usage_lines(root: Path) -> list[tuple[Path, dict]]:
    """Every top-level assistant line with usage under root, parsed plainly."""
    found = []
    for path in sorted(root.rglob("*.jsonl")) if root.is_dir() else [root]:
        for raw in path.read_text().splitlines():
            line = json.loads(raw)
            message = line.get("message") or {}
            if line.get("type") == "assistant" and message.get("usage"):
                found.append((path, line))
    return found


def assert_cost(actual: float | None, expected: float) -> None:
    assert actual is not None
    assert abs(actual - expected) <= COST_TOL, (actual, expected)


# ------------------------------------------------------------------ captures

def test_six_claude_capture_runs():
    assert CLAUDE_RUNS == [
        "continue_http_json", "rich_http_json", "rich_http_json_cumulative",
        "rich_http_json_gzip_details_traces", "rich_http_protobuf", "v2.1.197_rich_http_json",
    ]
    assert all(f"claude-code/{run}" in TOTALS for run in CLAUDE_RUNS)


class Capture:
    def __init__(self, run: str, root: Path):
        self.run = run
        self.transcripts = CAPTURES / "claude-code" / run / "transcripts"
        self.expected = TOTALS[f"claude-code/{run}"]["expected"]
        self.env = _env(root)
        self.db = root / "store.duckdb"
        self.summary = backfill(self.db, self.transcripts, env=self.env)

    def sql(self, query: str) -> list[dict]:
        return sql(self.db, query, env=self.env)

    def report(self, kind: str, *extra: str) -> dict:
        return report(self.db, kind, *extra, env=self.env)


@pytest.fixture(scope="module", params=CLAUDE_RUNS)
def capture(request, tmp_path_factory) -> Capture:
    return Capture(request.param, tmp_path_factory.mktemp(request.param))


def test_capture_backfill_summary(capture):
    expected_requests = len(capture.expected["requests"])
    lines = usage_lines(capture.transcripts)
    assert capture.summary["source"] == "claude_code"
    assert capture.summary["files"] == len(list(capture.transcripts.rglob("*.jsonl")))
    assert capture.summary["files_read"] == capture.summary["files"]
    assert capture.summary["events"] == expected_requests
    assert capture.summary["usage_lines"] == len(lines)
    # A tool-use response is written as several lines carrying the same usage.
    assert capture.summary["duplicates"] == len(lines) - expected_requests
    assert capture.summary["skipped_lines"] == 0
    assert capture.summary["bytes_read"] == sum(p.stat().st_size for p in capture.transcripts.rglob("*.jsonl"))


def test_capture_totals_by_raw_model(capture):
    rows = capture.sql(f"SELECT model_raw, {TOKEN_SUMS} FROM usage_events GROUP BY model_raw ORDER BY model_raw")
    by_model = capture.expected["by_model"]
    assert sorted(r["model_raw"] for r in rows) == sorted(by_model)
    for row in rows:
        want = by_model[row["model_raw"]]
        n = len(want["requests"])
        got = {k: row[k] for k in ("events", "requests", "input", "output", "cache_read", "cache_write")}
        assert got == {
            "events": n,
            "requests": n,
            "input": want["input_tokens"],
            "output": want["output_tokens"],
            "cache_read": want["cache_read_input_tokens"],
            "cache_write": want["cache_creation_input_tokens"],
        }, row["model_raw"]
        # Every cache write of the mock is 5m (cache_creation_1h_input_tokens = 0).
        assert row["cache_write_1h"] == 0
        assert row["total"] == (want["input_tokens"] + want["output_tokens"]
                                + want["cache_read_input_tokens"] + want["cache_creation_input_tokens"])
        assert row["unpriced"] == 0
        assert_cost(row["cost_usd"], want["cost_usd"])


def test_capture_overall_totals(capture):
    [row] = capture.sql(f"SELECT {TOKEN_SUMS} FROM usage_events")
    e = capture.expected
    assert (row["requests"], row["input"], row["output"], row["cache_read"], row["cache_write"]) == (
        len(e["requests"]), e["input_tokens"], e["output_tokens"],
        e["cache_read_input_tokens"], e["cache_creation_input_tokens"])
    assert row["cache_write_1h"] == e["cache_creation_1h_input_tokens"]
    assert_cost(row["cost_usd"], e["cost_usd"])


def test_capture_model_is_normalized_and_model_raw_kept(capture):
    rows = capture.sql("SELECT DISTINCT model_raw, model, provider_id FROM usage_events ORDER BY model_raw")
    assert {r["model_raw"]: r["model"] for r in rows} == {m: normalized(m) for m in capture.expected["by_model"]}
    assert {r["provider_id"] for r in rows} == {"anthropic"}
    if capture.run.startswith("v2.1.197"):
        assert {r["model"] for r in rows} == {"claude-opus-4-8", "claude-haiku-4-5"}


def test_capture_daily_report_utc(capture):
    e = capture.expected
    out = capture.report("daily", "--tz", "UTC")
    assert out["report"] == "daily"
    assert out["tz"] == "UTC"
    [row] = out["rows"]
    assert row["date"] == CAPTURE_DAY
    assert row["models"] == sorted({normalized(m) for m in e["by_model"]})
    want = {
        "input_tokens": e["input_tokens"],
        "output_tokens": e["output_tokens"],
        "reasoning_tokens": 0,
        "cache_read_tokens": e["cache_read_input_tokens"],
        "cache_write_tokens": e["cache_creation_input_tokens"],
        "total_tokens": e["input_tokens"] + e["output_tokens"]
        + e["cache_read_input_tokens"] + e["cache_creation_input_tokens"],
        "requests": len(e["requests"]),
        "unpriced_events": 0,
    }
    assert {k: row[k] for k in want} == want
    assert {k: out["totals"][k] for k in want} == want
    assert_cost(row["cost_usd"], e["cost_usd"])
    assert_cost(out["totals"]["cost_usd"], e["cost_usd"])


def test_capture_daily_by_raw_model_and_day(capture):
    rows = capture.sql(
        "SELECT strftime(timezone('UTC', occurred_at), '%Y-%m-%d') AS day, model_raw, "
        f"{TOKEN_SUMS} FROM usage_events GROUP BY ALL ORDER BY ALL")
    assert {(r["day"], r["model_raw"]) for r in rows} == {(CAPTURE_DAY, m) for m in capture.expected["by_model"]}
    for row in rows:
        want = capture.expected["by_model"][row["model_raw"]]
        assert (row["requests"], row["input"], row["output"], row["cache_read"], row["cache_write"]) == (
            len(want["requests"]), want["input_tokens"], want["output_tokens"],
            want["cache_read_input_tokens"], want["cache_creation_input_tokens"])
        assert_cost(row["cost_usd"], want["cost_usd"])


def test_capture_models_report(capture):
    out = capture.report("models", "--tz", "UTC")
    expected: dict[str, dict] = {}
    for raw, want in capture.expected["by_model"].items():
        acc = expected.setdefault(normalized(raw), {"input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
                                                    "cache_write_tokens": 0, "requests": 0, "cost_usd": 0.0})
        acc["input_tokens"] += want["input_tokens"]
        acc["output_tokens"] += want["output_tokens"]
        acc["cache_read_tokens"] += want["cache_read_input_tokens"]
        acc["cache_write_tokens"] += want["cache_creation_input_tokens"]
        acc["requests"] += len(want["requests"])
        acc["cost_usd"] += want["cost_usd"]
    # Rows come most expensive first.
    assert [r["model"] for r in out["rows"]] == sorted(expected, key=lambda m: -expected[m]["cost_usd"])
    for row in out["rows"]:
        want = expected[row["model"]]
        assert row["provider_id"] == "anthropic"
        for key in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "requests"):
            assert row[key] == want[key], (row["model"], key)
        assert_cost(row["cost_usd"], want["cost_usd"])


def test_capture_descriptive_columns(capture):
    session = next(p.stem for p in (capture.transcripts / "-home-dev-work-app").glob("*.jsonl"))
    version = "2.1.197" if capture.run.startswith("v2.1.197") else "2.1.330"
    rows = capture.sql(
        "SELECT DISTINCT event_type, source_system, source_channel, session_id, project, git_branch, "
        "client_version FROM usage_events")
    assert rows == [{"event_type": "message", "source_system": "claude_code", "source_channel": "jsonl",
                     "session_id": session, "project": CAPTURE_CWD, "git_branch": "main",
                     "client_version": version}]
    # One event per (message.id, requestId) pair in the files.
    pairs = {(line["message"]["id"], line.get("requestId")) for _, line in usage_lines(capture.transcripts)}
    got = capture.sql("SELECT message_id, request_id FROM usage_events")
    assert sorted((r["message_id"], r["request_id"]) for r in got) == sorted(pairs)


def test_capture_subagent_events_carry_agent_and_parent_session(capture):
    main_dir = capture.transcripts / "-home-dev-work-app"
    [main_file] = main_dir.glob("*.jsonl")
    parent_session = main_file.stem
    agent_files = sorted(main_dir.rglob("subagents/agent-*.jsonl"))
    rows = capture.sql(
        "SELECT e.message_id, e.session_id, e.agent_id, e.is_sidechain, e.model_raw, r.source_ref "
        "FROM usage_events e JOIN usage_raw_events r USING (raw_event_id) ORDER BY e.message_id")
    if capture.run == "continue_http_json":
        assert agent_files == []
        assert all(r["agent_id"] is None and not r["is_sidechain"] for r in rows)
        assert {r["session_id"] for r in rows} == {parent_session}  # two processes, one session
        return
    [agent_file] = agent_files
    agent_id = agent_file.stem.removeprefix("agent-")
    sub = [r for r in rows if r["source_ref"].startswith(str(agent_file) + ":")]
    main = [r for r in rows if r["source_ref"].startswith(str(main_file) + ":")]
    assert len(sub) + len(main) == len(rows)
    # Requests 4 and 5 are the subagent's (captures README, section 3), on the small model.
    subagent_model = next(m for m, w in capture.expected["by_model"].items() if w["requests"] == [4, 5])
    assert len(sub) == 2 and len(main) == 4
    for r in sub:
        assert (r["session_id"], r["agent_id"], r["is_sidechain"], r["model_raw"]) == (
            parent_session, agent_id, True, subagent_model)
    for r in main:
        assert (r["session_id"], r["agent_id"], r["is_sidechain"]) == (parent_session, None, False)
        assert r["model_raw"] != subagent_model


def test_capture_session_report(capture):
    out = capture.report("session", "--tz", "UTC")
    [row] = out["rows"]
    [main_file] = (capture.transcripts / "-home-dev-work-app").glob("*.jsonl")
    assert row["session_id"] == main_file.stem
    assert row["project"] == CAPTURE_CWD
    assert row["first_seen"].startswith(CAPTURE_DAY) and row["last_seen"].startswith(CAPTURE_DAY)
    assert row["requests"] == len(capture.expected["requests"])
    assert_cost(row["cost_usd"], capture.expected["cost_usd"])


def test_capture_raw_payloads_hold_no_message_text(capture):
    # The capture really contains the text, so the check below can fail.
    assert any(ASSISTANT_TEXT in json.dumps(line) for _, line in usage_lines(capture.transcripts))
    rows = capture.sql(
        "SELECT count(*)::BIGINT AS n, "
        f"count(*) FILTER (WHERE contains(payload::VARCHAR, '{ASSISTANT_TEXT.replace(chr(39), chr(39) * 2)}'))"
        "::BIGINT AS with_text, "
        "count(*) FILTER (WHERE json_extract(payload, '$.message.content') IS NOT NULL)::BIGINT AS with_content, "
        "count(*) FILTER (WHERE json_extract(payload, '$.message.usage') IS NULL)::BIGINT AS without_usage "
        "FROM usage_raw_events")
    assert rows[0]["n"] > 0
    assert rows[0]["with_text"] == 0
    assert rows[0]["with_content"] == 0
    assert rows[0]["without_usage"] == 0  # usage itself is kept


def test_keep_content_stores_message_text(tmp_path):
    transcripts = CAPTURES / "claude-code" / "rich_http_json" / "transcripts"
    db = tmp_path / "keep.duckdb"
    summary = backfill(db, transcripts, keep_content=True)
    assert summary["events"] == 6
    quoted = ASSISTANT_TEXT.replace("'", "''")
    rows = sql(db, "SELECT DISTINCT json_extract_string(payload, '$.message.id') AS id FROM usage_raw_events "
                   f"WHERE contains(payload::VARCHAR, '{quoted}')")
    with_text = {line["message"]["id"] for _, line in usage_lines(transcripts) if ASSISTANT_TEXT in json.dumps(line)}
    assert with_text  # the capture has the text on several responses
    assert {r["id"] for r in rows} == with_text
    [row] = sql(db, "SELECT count(*) FILTER (WHERE json_extract(payload, '$.message.content') IS NULL)::BIGINT "
                    "AS n FROM usage_raw_events")
    assert row["n"] == 0
    # Totals do not depend on the option.
    [tot] = sql(db, f"SELECT {TOKEN_SUMS} FROM usage_events")
    assert (tot["input"], tot["output"], tot["cache_read"], tot["cache_write"]) == (21_066, 252, 21_198, 21_132)


def test_project_is_cwd_not_folder_name(tmp_path):
    """The folder name is a lossy encoding of the cwd; the lines' cwd is the project."""
    src = CAPTURES / "claude-code" / "rich_http_json" / "transcripts" / "-home-dev-work-app"
    dst = tmp_path / "projects" / "-some-other-folder"
    shutil.copytree(src, dst)
    db = tmp_path / "t.duckdb"
    assert backfill(db, tmp_path / "projects")["events"] == 6
    assert sql(db, "SELECT DISTINCT project FROM usage_events") == [{"project": CAPTURE_CWD}]


# ------------------------------------------------------------------- spotter

@pytest.fixture(scope="module")
def spotter_db(tmp_path_factory) -> tuple[Path, dict, dict]:
    root = tmp_path_factory.mktemp("spotter")
    env = _env(root)
    db = root / "spotter.duckdb"
    summary = backfill(db, SPOTTER / "projects", env=env)
    return db, summary, env


def _check_row(row: dict, key: str) -> None:
    responses, model, inp, out, cache_read, cache_write = SPOTTER_TABLE[key]
    assert row["model_raw"] == model, key
    got = (row["events"], row["requests"], row["input"], row["output"], row["cache_read"], row["cache_write"])
    assert got == (responses, responses, inp, out, cache_read, cache_write), key
    assert row["total"] == inp + out + cache_read + cache_write, key


def _cache_write_1h(path: Path) -> int:
    """Per message.id maximum of ephemeral_1h_input_tokens, summed, straight from the file."""
    best: dict[str, int] = {}
    for _, line in usage_lines(path):
        cache = line["message"]["usage"].get("cache_creation") or {}
        mid = line["message"]["id"]
        best[mid] = max(best.get(mid, 0), cache.get("ephemeral_1h_input_tokens", 0))
    return sum(best.values())


def test_spotter_tree_per_file(spotter_db):
    db, summary, env = spotter_db
    assert summary["files"] == 3
    assert summary["skipped_lines"] == 0
    assert summary["events"] == 152 + 3 + 1
    rows = sql(db, f"SELECT coalesce(agent_id, 'main') AS part, model_raw, {TOKEN_SUMS} "
                   "FROM usage_events GROUP BY ALL ORDER BY part", env=env)
    assert [r["part"] for r in rows] == ["a881341", "acompact-fffbd0", "main"]
    for row in rows:
        _check_row(row, row["part"])
    files = {"main": SPOTTER_MAIN, "a881341": SPOTTER_SUBAGENTS / "agent-a881341.jsonl",
             "acompact-fffbd0": SPOTTER_SUBAGENTS / "agent-acompact-fffbd0.jsonl"}
    for row in rows:
        assert row["cache_write_1h"] == _cache_write_1h(files[row["part"]]), row["part"]


def test_spotter_tree_totals(spotter_db):
    db, _, env = spotter_db
    [row] = sql(db, f"SELECT {TOKEN_SUMS} FROM usage_events", env=env)
    parts = [SPOTTER_TABLE[k] for k in ("main", "a881341", "acompact-fffbd0")]
    assert (row["requests"], row["input"], row["output"], row["cache_read"], row["cache_write"]) == tuple(
        sum(p[i] for p in parts) for i in (0, 2, 3, 4, 5))


def test_spotter_subagents_carry_parent_session(spotter_db):
    db, _, env = spotter_db
    rows = sql(db, "SELECT DISTINCT agent_id, session_id, is_sidechain, project FROM usage_events "
                   "ORDER BY agent_id NULLS FIRST", env=env)
    assert rows == [
        {"agent_id": None, "session_id": SPOTTER_SESSION, "is_sidechain": False, "project": SPOTTER_CWD},
        {"agent_id": "a881341", "session_id": SPOTTER_SESSION, "is_sidechain": True, "project": SPOTTER_CWD},
        {"agent_id": "acompact-fffbd0", "session_id": SPOTTER_SESSION, "is_sidechain": True,
         "project": SPOTTER_CWD},
    ]


def test_spotter_session_report(spotter_db):
    db, _, env = spotter_db
    out = report(db, "session", "--tz", "UTC", env=env)
    [row] = out["rows"]
    assert row["session_id"] == SPOTTER_SESSION
    assert row["project"] == SPOTTER_CWD
    assert row["models"] == ["claude-opus-4-6", "claude-sonnet-4-5"]
    assert row["requests"] == 156
    assert row["input_tokens"] == 180 + 15 + 3
    assert row["output_tokens"] == 38_899 + 3 + 6


@pytest.mark.parametrize("name", ["short.jsonl", "tool_heavy.jsonl"])
def test_spotter_single_file(tmp_path, name):
    path = SPOTTER / name
    db = tmp_path / "one.duckdb"
    summary = backfill(db, path)
    assert summary["files"] == 1
    assert summary["skipped_lines"] == 0
    assert summary["lines"] == len(path.read_text().splitlines())
    [row] = sql(db, f"SELECT model_raw, {TOKEN_SUMS} FROM usage_events GROUP BY model_raw")
    _check_row(row, name)
    assert row["cache_write_1h"] == _cache_write_1h(path)
    [meta] = sql(db, "SELECT DISTINCT project, session_id, agent_id, is_sidechain FROM usage_events")
    assert meta["project"] == SHORT_TOOL_CWD
    assert meta["session_id"] == usage_lines(path)[0][1]["sessionId"]
    assert meta["agent_id"] is None and meta["is_sidechain"] is False
