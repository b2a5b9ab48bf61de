"""Live Codex and OpenCode: `usagecore ingest` (as Codex's notify program and
as our OpenCode plugin call it) then `usagecore collect`, on the real
captures; live and backfill of the same usage agree exactly, in either order.

Oracle: tests/data/captures/totals.json (the mock's token formula).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from conftest import CAPTURES, run_cli, run_json

TOTALS = json.loads((CAPTURES / "totals.json").read_text())
CODEX_RUN = CAPTURES / "codex" / "exec_resume_http_protobuf"
ROLLOUT = next((CODEX_RUN / "rollouts").rglob("rollout-*.jsonl"))
NOTIFY = sorted((CODEX_RUN / "notify").glob("*.json"))
OPENCODE_RUN = CAPTURES / "opencode" / "run_continue_json"
MESSAGES = ("SELECT count(*)::BIGINT AS n, sum(input_tokens)::BIGINT AS input, sum(cache_read_tokens)::BIGINT "
            "AS cache_read, sum(output_tokens)::BIGINT AS output, sum(reasoning_tokens)::BIGINT AS reasoning, "
            "round(sum(cost_usd), 10) AS cost FROM usage_events WHERE event_type = 'message' AND source_system = ?")


def _sql(query: str, *params: str) -> list[dict]:
    for param in params:
        query = query.replace("?", f"'{param}'", 1)
    return json.loads(run_cli("sql", query, "--format", "json").stdout)


def _codex_expected() -> dict:
    exp = TOTALS["codex/exec_resume_http_protobuf"]["expected"]
    t = exp["non_overlapping"]
    return {"n": 4, "input": t["input"], "cache_read": t["cache_read"], "output": t["output"],
            "reasoning": t["reasoning_within_output"], "cost": None}


def _codex_home(home: Path, lines: list[str] | None = None) -> Path:
    codex = home / ".codex"
    target = codex / "sessions" / "2026" / "11" / "22" / ROLLOUT.name
    target.parent.mkdir(parents=True)
    if lines is None:
        shutil.copy(ROLLOUT, target)
    else:
        target.write_text("".join(lines))
    return target


def _notify(path: Path) -> None:
    # Codex appends the payload as the last argument of the notify program.
    run_cli("ingest", "--source", "codex", path.read_text())


def test_codex_notify_then_backfill(isolated_home):
    _codex_home(isolated_home)
    for payload in NOTIFY:
        _notify(payload)
    run_cli("collect")
    assert _sql(MESSAGES, "codex") == [_codex_expected()]
    turns = _sql("SELECT session_id, turn_id, project FROM usage_events WHERE event_type = 'turn' ORDER BY turn_id")
    assert [t["turn_id"] for t in turns] == [json.loads(p.read_text())["turn-id"] for p in NOTIFY]
    summary = run_json("backfill", "codex")
    assert (summary["events"], summary["files_read"]) == (0, 0)
    assert _sql(MESSAGES, "codex") == [_codex_expected()]


def test_notify_payloads_delivered_twice_and_drained_together_count_once(isolated_home):
    """One drain batch that holds every payload twice (a notify program run
    twice for a turn): each turn and each response is one event."""
    from usagecore import spool

    _codex_home(isolated_home)
    for payload in NOTIFY + NOTIFY:
        spool.write("codex", "notify", payload.read_bytes())
    run_cli("collect")
    assert _sql(MESSAGES, "codex") == [_codex_expected()]
    turns = _sql("SELECT turn_id FROM usage_events WHERE event_type = 'turn' ORDER BY turn_id")
    assert [t["turn_id"] for t in turns] == [json.loads(p.read_text())["turn-id"] for p in NOTIFY]


def test_codex_backfill_then_notify_and_a_rollout_growing_between_turns(isolated_home):
    lines = ROLLOUT.read_text().splitlines(keepends=True)
    first_turn_end = next(i for i, line in enumerate(lines) if '"task_complete"' in line) + 1
    path = _codex_home(isolated_home, lines[:first_turn_end])
    assert run_json("backfill", "codex")["events"] == 2
    _notify(NOTIFY[0])
    run_cli("collect")
    assert _sql("SELECT count(*)::BIGINT AS n FROM usage_events WHERE event_type = 'message'") == [{"n": 2}]
    with path.open("a") as f:  # the resumed process appends the second turn
        f.write("".join(lines[first_turn_end:]))
    _notify(NOTIFY[1])
    run_cli("collect")
    assert _sql(MESSAGES, "codex") == [_codex_expected()]


def test_a_notify_payload_that_is_not_json_is_quarantined_and_the_rest_kept(isolated_home):
    _codex_home(isolated_home)
    result = run_cli("ingest", "--source", "codex", "{not json", check=False)
    assert result.returncode == 0
    _notify(NOTIFY[1])
    out = run_cli("collect", check=False)
    assert "quarantined" in out.stdout + out.stderr
    assert _sql(MESSAGES, "codex") == [_codex_expected()]


def _opencode_expected() -> dict:
    exp = TOTALS["opencode/run_continue_json"]["expected"]
    t = exp["opencode_tokens"]
    return {"n": 4, "input": t["input"], "cache_read": t["cache_read"], "output": t["output"] + t["reasoning"],
            "reasoning": t["reasoning"], "cost": round(exp["cost_usd"], 10)}


def _plugin_lines() -> str:
    """What the capture's event-logger plugin saw, in the shape our plugin sends:
    {"ts", "hook", "payload"} lines (hooks we do not send are ignored)."""
    return (OPENCODE_RUN / "plugin_events.jsonl").read_text()


def _opencode_db(home: Path) -> Path:
    data = home / ".local" / "share" / "opencode"
    data.mkdir(parents=True)
    con = sqlite3.connect(data / "opencode.db")
    con.executescript((OPENCODE_RUN / "opencode.sql").read_text())
    con.commit()
    con.close()
    return data


def test_opencode_plugin_then_backfill(isolated_home):
    run_cli("ingest", "--source", "opencode", _plugin_lines())
    run_cli("collect")
    # Each message arrived three times (zero tokens, usage, completed): once.
    assert _sql(MESSAGES, "opencode") == [_opencode_expected()]
    tools = _sql("SELECT tool_name, success FROM usage_events WHERE event_type = 'tool_call'")
    assert tools == [{"tool_name": "bash", "success": True}] * 2
    _opencode_db(isolated_home)
    summary = run_json("backfill", "opencode")
    assert summary["events"] == 0
    assert _sql(MESSAGES, "opencode") == [_opencode_expected()]


def test_opencode_backfill_then_plugin(isolated_home):
    _opencode_db(isolated_home)
    assert run_json("backfill", "opencode")["events"] == 4
    run_cli("ingest", "--source", "opencode", _plugin_lines())
    run_cli("collect")
    assert _sql(MESSAGES, "opencode") == [_opencode_expected()]
