"""OpenCode: exact totals from the real OpenCode captures (its SQLite database,
rebuilt from the captured dump), and the traps of FORMATS.md §E: reasoning in
output, providers kept apart, a reported $0 stays $0, a rewritten message
replaces its event (never summed), legacy JSON files and the database count a
message once (the database wins), a database being written while we read it,
and a corrupt one.

Oracle: tests/data/captures/totals.json (`expected.opencode_tokens` and
`cost_usd` per run: the mock's token formula and OpenCode's own prices).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import CAPTURES, run_cli, run_json

TOTALS = json.loads((CAPTURES / "totals.json").read_text())
RUNS = sorted(p.name for p in (CAPTURES / "opencode").iterdir())
COST_TOL = 1e-12

BY_DAY_MODEL_PROVIDER = (
    "SELECT strftime(timezone('UTC', occurred_at), '%Y-%m-%d') AS day, model, provider_id, "
    "count(*)::BIGINT AS events, sum(input_tokens)::BIGINT AS input, "
    "sum(cache_read_tokens)::BIGINT AS cache_read, sum(cache_write_tokens)::BIGINT AS cache_write, "
    "sum(output_tokens)::BIGINT AS output, sum(reasoning_tokens)::BIGINT AS reasoning, "
    "sum(total_tokens)::BIGINT AS total, sum(cost_usd) AS cost, string_agg(DISTINCT cost_source, ',') AS cost_source "
    "FROM usage_events WHERE source_system = 'opencode' GROUP BY ALL ORDER BY ALL"
)


def _rows(db: Path, query: str = BY_DAY_MODEL_PROVIDER) -> list[dict]:
    return json.loads(run_cli("--db", str(db), "sql", query, "--format", "json").stdout)


def _database(run: str, folder: Path) -> Path:
    """OpenCode's database as the run left it, rebuilt from the captured dump."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "opencode.db"
    con = sqlite3.connect(path)
    con.executescript((CAPTURES / "opencode" / run / "opencode.sql").read_text())
    con.commit()
    con.close()
    return path


def _expected(run: str) -> dict:
    exp = TOTALS[f"opencode/{run}"]["expected"]
    t = exp["opencode_tokens"]
    return {"day": "2026-11-22", "model": "mock-model", "provider_id": "mock", "events": len(exp["requests"]),
            "input": t["input"], "cache_read": t["cache_read"], "cache_write": t["cache_write"],
            "output": t["output"] + t["reasoning"], "reasoning": t["reasoning"], "total": t["total"],
            "cost": exp["cost_usd"], "cost_source": "reported"}


def _assert_rows(db: Path, expected: list[dict]) -> None:
    rows = _rows(db)
    assert [{**r, "cost": None} for r in rows] == [{**e, "cost": None} for e in expected]
    for row, exp in zip(rows, expected):
        assert row["cost"] == pytest.approx(exp["cost"], abs=COST_TOL)


@pytest.mark.parametrize("run", RUNS)
def test_capture_totals_per_day_model_provider(run, tmp_path):
    data = tmp_path / "data"
    _database(run, data)
    db = tmp_path / "t.duckdb"
    summary = run_json("--db", str(db), "backfill", "opencode", str(data))
    assert (summary["files"], summary["problems"]) == (1, [])
    _assert_rows(db, [_expected(run)])


def test_default_data_dir_and_a_second_run_reads_only_what_changed(tmp_path, isolated_home):
    data = isolated_home / ".local" / "share" / "opencode"
    path = _database("run_continue_json", data)
    first = run_json("backfill", "opencode")
    assert first["events"] == 4
    second = run_json("backfill", "opencode")
    assert second["events"] == 0
    # Only rows updated in the last run's last millisecond are looked at again.
    assert second["lines"] < first["lines"]
    # OpenCode rewrites a message (its tokens are the last step's): the event
    # takes the new values, it is not summed.
    con = sqlite3.connect(path)
    row_id, data_json = con.execute(
        "SELECT id, data FROM message WHERE data LIKE '%\"assistant\"%' ORDER BY time_created LIMIT 1").fetchone()
    message = json.loads(data_json)
    message["tokens"]["output"] = 1
    message["cost"] = 0
    con.execute("UPDATE message SET data = ?, time_updated = time_updated + 100000 WHERE id = ?",
                [json.dumps(message), row_id])
    con.commit()
    con.close()
    third = run_json("backfill", "opencode")
    assert third["events"] == 0 and third["merged_events"] >= 1
    rows = _rows(isolated_home / ".local" / "state" / "usagecore" / "telemetry.duckdb",
                 f"SELECT output_tokens, reasoning_tokens, cost_usd, cost_source FROM usage_events "
                 f"WHERE message_id = '{row_id}'")
    assert rows == [{"output_tokens": 1 + message["tokens"]["reasoning"],
                     "reasoning_tokens": message["tokens"]["reasoning"], "cost_usd": 0.0, "cost_source": "reported"}]


def _legacy_copy(db_path: Path, storage: Path, *, change_output: int | None = None) -> list[str]:
    """The database's assistant messages as legacy `storage/message/<session>/<id>.json` files."""
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT id, session_id, data FROM message").fetchall()
    con.close()
    ids = []
    for message_id, session_id, data in rows:
        message = {**json.loads(data), "id": message_id, "sessionID": session_id}
        if change_output is not None and message["role"] == "assistant":
            message["tokens"]["output"] = change_output
        folder = storage / "message" / session_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{message_id}.json").write_text(json.dumps(message))
        ids.append(message_id)
    return ids


def test_legacy_json_storage_alone_gives_the_same_totals(tmp_path):
    source = _database("run_continue_json", tmp_path / "capture")
    data = tmp_path / "data"
    _legacy_copy(source, data / "storage")
    db = tmp_path / "t.duckdb"
    summary = run_json("--db", str(db), "backfill", "opencode", str(data))
    assert summary["events"] == 4
    expected = _expected("run_continue_json")
    _assert_rows(db, [expected])
    assert _rows(db, "SELECT DISTINCT source_channel FROM usage_events") == [{"source_channel": "storage"}]


def test_a_message_in_the_database_and_the_legacy_files_counts_once_and_the_database_wins(tmp_path):
    data = tmp_path / "data"
    path = _database("run_continue_json", data)
    _legacy_copy(path, data / "storage", change_output=999_999)
    db = tmp_path / "t.duckdb"
    run_json("--db", str(db), "backfill", "opencode", str(data))
    _assert_rows(db, [_expected("run_continue_json")])
    # Also when the legacy files were imported first, by an earlier run.
    db2 = tmp_path / "t2.duckdb"
    run_json("--db", str(db2), "backfill", "opencode", str(data / "storage"))
    run_json("--db", str(db2), "backfill", "opencode", str(path))
    _assert_rows(db2, [_expected("run_continue_json")])


def test_one_model_under_two_providers_stays_two_rows(tmp_path):
    data = tmp_path / "data"
    path = _database("run_continue_json", data)
    con = sqlite3.connect(path)
    con.execute("UPDATE message SET data = replace(data, '\"providerID\":\"mock\"', '\"providerID\":\"other\"') "
                "WHERE id = (SELECT id FROM message WHERE data LIKE '%\"assistant\"%' ORDER BY id LIMIT 1)")
    con.commit()
    con.close()
    db = tmp_path / "t.duckdb"
    run_json("--db", str(db), "backfill", "opencode", str(data))
    rows = _rows(db, "SELECT provider_id, count(*)::BIGINT AS n FROM usage_events GROUP BY 1 ORDER BY 1")
    assert rows == [{"provider_id": "mock", "n": 3}, {"provider_id": "other", "n": 1}]


def test_a_database_written_while_we_read_gives_its_committed_state(tmp_path):
    data = tmp_path / "data"
    path = _database("run_json", data)
    rows_before = sqlite3.connect(path).execute("SELECT count(*) FROM message").fetchone()[0]
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    # OpenCode is in the middle of writing the continued run's messages.
    continued = sqlite3.connect(":memory:")
    continued.executescript((CAPTURES / "opencode" / "run_continue_json" / "opencode.sql").read_text())
    new_rows = continued.execute("SELECT * FROM message").fetchall()
    writer.execute("BEGIN IMMEDIATE")
    writer.executemany("INSERT OR REPLACE INTO message VALUES (?, ?, ?, ?, ?)", new_rows)
    db = tmp_path / "t.duckdb"
    during = run_json("--db", str(db), "backfill", "opencode", str(data))
    assert during["problems"] == []
    _assert_rows(db, [_expected("run_json")])
    writer.execute("COMMIT")
    writer.close()
    run_json("--db", str(db), "backfill", "opencode", str(data))
    # The continued run's messages have their own ids and sessions; the first
    # run's two are still there: 2 + 4 events.
    assert _rows(db, "SELECT count(*)::BIGINT AS n FROM usage_events") == [{"n": 6}]
    # We never wrote: the database is as OpenCode left it.
    assert sqlite3.connect(path).execute("SELECT count(*) FROM message").fetchone()[0] == len(new_rows) + rows_before


def test_a_corrupt_database_is_a_problem_and_the_rest_is_kept(tmp_path):
    data = tmp_path / "data"
    _database("run_json", data)
    (data / "opencode-beta.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    db = tmp_path / "t.duckdb"
    result = run_cli("--db", str(db), "backfill", "opencode", str(data), "--json")
    summary = json.loads(result.stdout)
    assert [p["path"] for p in summary["problems"]] == [str(data / "opencode-beta.db")]
    assert "cannot read OpenCode database" in summary["problems"][0]["message"]
    _assert_rows(db, [_expected("run_json")])


def test_a_head_start_counts_the_same_and_is_left_unused_for_a_store_made_meanwhile(tmp_path):
    """As for Codex (backfill.head_start): the first batch read before the store is
    open counts the same, and is dropped when the store turns out to have cursors."""
    from usagecore import backfill
    from usagecore.store import Store

    data = tmp_path / "data"
    _database(RUNS[0], data)
    with Store(tmp_path / "ahead.duckdb") as store:
        ahead = backfill.backfill_opencode(store, [data], head=backfill.head_start("opencode", [data]))
    with Store(tmp_path / "t.duckdb") as store:
        plain = backfill.backfill_opencode(store, [data])
        late = backfill.backfill_opencode(store, [data], head=backfill.head_start("opencode", [data]))
    assert ahead.events == plain.events == _expected(RUNS[0])["events"] > 0
    assert late.events == 0 and late.lines < plain.lines  # read from the cursors on, not whole
    _assert_rows(tmp_path / "ahead.duckdb", [_expected(RUNS[0])])
