"""Schema migrations: a blank DuckDB file gets exactly the canonical schema,
migrating again changes nothing, and what was applied is recorded.

The expected schema is written out column by column below, from the contract
of the canonical tables; information_schema is what the store really has.
"""

from __future__ import annotations

import duckdb
import pytest

from conftest import run_cli
from usagecore.migrations import MIGRATIONS, migrate

TABLES = ["configured_providers", "file_cursors", "model_prices", "otel_events", "otel_metric_points",
          "otel_metric_series", "otel_spans", "paired_events", "provider_links", "schema_migrations", "usage_events",
          "usage_raw_events"]
VIEWS = ["billed_usage", "daily_usage", "model_usage", "provider_usage", "session_usage", "tool_usage",
         "unmapped_usage", "usage_events_resolved"]

TSTZ = "TIMESTAMP WITH TIME ZONE"
NOT_NULL, NULL = "NO", "YES"

# (column, type, nullable, default) in table order.
USAGE_EVENTS = [
    ("event_id", "VARCHAR", NOT_NULL, None),
    ("raw_event_id", "VARCHAR", NULL, None),
    ("occurred_at", TSTZ, NOT_NULL, None),
    ("event_type", "VARCHAR", NOT_NULL, None),
    ("source_system", "VARCHAR", NOT_NULL, None),
    ("source_channel", "VARCHAR", NOT_NULL, None),
    ("provider_id", "VARCHAR", NULL, None),
    ("account_id", "VARCHAR", NULL, None),
    ("model_raw", "VARCHAR", NULL, None),
    ("model", "VARCHAR", NULL, None),
    ("input_tokens", "BIGINT", NOT_NULL, "0"),
    ("output_tokens", "BIGINT", NOT_NULL, "0"),
    ("reasoning_tokens", "BIGINT", NOT_NULL, "0"),
    ("cache_read_tokens", "BIGINT", NOT_NULL, "0"),
    ("cache_write_tokens", "BIGINT", NOT_NULL, "0"),
    ("cache_write_1h_tokens", "BIGINT", NOT_NULL, "0"),
    ("total_tokens", "BIGINT", NOT_NULL, "0"),
    ("cost_usd", "DOUBLE", NULL, None),
    ("cost_source", "VARCHAR", NOT_NULL, "'unknown'"),
    ("requests", "INTEGER", NOT_NULL, "0"),
    ("session_id", "VARCHAR", NULL, None),
    ("turn_id", "VARCHAR", NULL, None),
    ("message_id", "VARCHAR", NULL, None),
    ("request_id", "VARCHAR", NULL, None),
    ("tool_call_id", "VARCHAR", NULL, None),
    ("tool_name", "VARCHAR", NULL, None),
    ("project", "VARCHAR", NULL, None),
    ("agent_id", "VARCHAR", NULL, None),
    ("user_id", "VARCHAR", NULL, None),
    ("is_sidechain", "BOOLEAN", NOT_NULL, "false"),
    ("client_version", "VARCHAR", NULL, None),
    ("git_branch", "VARCHAR", NULL, None),
    ("duration_ms", "BIGINT", NULL, None),
    ("success", "BOOLEAN", NULL, None),
    ("detail", "VARCHAR", NULL, None),
    ("speed", "VARCHAR", NULL, None),
]
USAGE_RAW_EVENTS = [
    ("raw_event_id", "VARCHAR", NOT_NULL, None),
    ("source_system", "VARCHAR", NOT_NULL, None),
    ("source_channel", "VARCHAR", NOT_NULL, None),
    ("received_at", TSTZ, NOT_NULL, None),
    ("occurred_at", TSTZ, NULL, None),
    ("account_id", "VARCHAR", NULL, None),
    ("source_ref", "VARCHAR", NULL, None),
    ("payload", "VARCHAR", NULL, None),
]
FILE_CURSORS = [
    ("path", "VARCHAR", NOT_NULL, None),
    ("source_system", "VARCHAR", NOT_NULL, None),
    ("offset", "UBIGINT", NOT_NULL, None),
    ("size", "UBIGINT", NOT_NULL, None),
    ("mtime_ns", "BIGINT", NOT_NULL, None),
    ("head_hash", "UBIGINT", NOT_NULL, None),
    ("tail_hash", "UBIGINT", NOT_NULL, None),
    ("updated_at", TSTZ, NOT_NULL, None),
    ("state", "VARCHAR", NULL, None),
]
SCHEMA_MIGRATIONS = [
    ("version", "INTEGER", NOT_NULL, None),
    ("name", "VARCHAR", NOT_NULL, None),
    ("applied_at", TSTZ, NOT_NULL, "current_timestamp"),
]
OTEL_METRIC_SERIES = [
    ("series_id", "VARCHAR", NOT_NULL, None),
    ("start_time_unix_nano", "BIGINT", NULL, None),
    ("time_unix_nano", "BIGINT", NOT_NULL, None),
    ("value", "DOUBLE", NULL, None),
    ("count", "BIGINT", NULL, None),
]
MODEL_PRICES = [
    ("provider_id", "VARCHAR", NULL, None),
    ("model_raw", "VARCHAR", NOT_NULL, None),
    ("speed", "VARCHAR", NOT_NULL, None),
    ("valid_from", "DATE", NULL, None),
    ("valid_to", "DATE", NULL, None),
    ("utc_time_from", "TIME", NULL, None),
    ("utc_time_to", "TIME", NULL, None),
    ("genai_provider_id", "VARCHAR", NULL, None),
    ("genai_model_id", "VARCHAR", NULL, None),
    *[(f"{kind}_mtok", "DOUBLE", NULL, None)
      for kind in ("input", "output", "cache_read", "cache_write", "cache_write_1h")],
    ("tier_threshold", "BIGINT", NULL, None),
    *[(f"tier_{kind}_mtok", "DOUBLE", NULL, None)
      for kind in ("input", "output", "cache_read", "cache_write", "cache_write_1h")],
    ("price_source", "VARCHAR", NULL, None),
    ("genai_prices_version", "VARCHAR", NOT_NULL, None),
    ("resolved_at", "TIMESTAMP", NOT_NULL, None),
]
CONFIGURED_PROVIDERS = [
    ("provider_id", "VARCHAR", NOT_NULL, None),
    ("name", "VARCHAR", NOT_NULL, None),
    ("kind", "VARCHAR", NULL, None),
    ("account_id", "VARCHAR", NULL, None),
    ("plan_usd_month", "DOUBLE", NULL, None),
]
PAIRED_EVENTS = [
    ("dropped_event_id", "VARCHAR", NOT_NULL, None),
    ("kept_event_id", "VARCHAR", NOT_NULL, None),
    ("paired_at", TSTZ, NOT_NULL, None),
]
PROVIDER_LINKS = [
    ("telemetry_provider_id", "VARCHAR", NOT_NULL, None),
    ("provider_id", "VARCHAR", NOT_NULL, None),
]
COLUMNS = {
    "otel_metric_series": OTEL_METRIC_SERIES,
    "usage_events": USAGE_EVENTS,
    "model_prices": MODEL_PRICES,
    "usage_raw_events": USAGE_RAW_EVENTS,
    "file_cursors": FILE_CURSORS,
    "schema_migrations": SCHEMA_MIGRATIONS,
    "configured_providers": CONFIGURED_PROVIDERS,
    "provider_links": PROVIDER_LINKS,
    "paired_events": PAIRED_EVENTS,
}
PRIMARY_KEYS = {
    "configured_providers": ["provider_id"],
    "provider_links": ["telemetry_provider_id"],
    # otel_events and otel_metric_points: none since migration 9 (live/otlp.py dedups them),
    # usage_events and usage_raw_events none since migration 10 (store.py dedups them).
    "otel_metric_series": ["series_id"],
    "otel_spans": ["span_key"],
    "paired_events": ["dropped_event_id"],
    "file_cursors": ["path"],
    "schema_migrations": ["version"],
}


def _blank(path) -> None:
    """A real DuckDB file with nothing in it."""
    duckdb.connect(str(path)).close()
    assert path.exists()


def _tables(con, kind: str = "BASE TABLE") -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = ? ORDER BY table_name", [kind]).fetchall()]


def _columns(con, table: str) -> list[tuple]:
    return con.execute(
        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position", [table]).fetchall()


def _primary_keys(con) -> dict[str, list[str]]:
    rows = con.execute(
        "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
        "WHERE constraint_type = 'PRIMARY KEY' ORDER BY table_name").fetchall()
    return {table: list(cols) for table, cols in rows}


def _migrations(con) -> list[tuple]:
    # applied_at as text: reading TIMESTAMPTZ into Python needs pytz, which is not a dependency.
    return con.execute(
        "SELECT version, name, applied_at::VARCHAR FROM schema_migrations ORDER BY version").fetchall()


ALL_VERSIONS = [version for version, _, _ in MIGRATIONS]


@pytest.fixture
def blank_db(tmp_path):
    path = tmp_path / "blank.duckdb"
    _blank(path)
    return path


def test_migrate_blank_file_creates_exact_schema(blank_db):
    con = duckdb.connect(str(blank_db))
    applied = migrate(con)
    assert applied == ALL_VERSIONS
    assert _tables(con) == TABLES
    for table, expected in COLUMNS.items():
        assert _columns(con, table) == expected, table
    assert _primary_keys(con) == PRIMARY_KEYS
    # Besides the tables, exactly the documented views (README "SQL views").
    assert _tables(con, "VIEW") == VIEWS
    kinds = con.execute("SELECT DISTINCT table_type FROM information_schema.tables "
                        "WHERE table_schema = 'main' ORDER BY 1").fetchall()
    assert kinds == [("BASE TABLE",), ("VIEW",)]
    con.close()


def test_schema_survives_reopen(blank_db):
    con = duckdb.connect(str(blank_db))
    migrate(con)
    con.close()
    con = duckdb.connect(str(blank_db), read_only=True)
    assert _tables(con) == TABLES
    assert _columns(con, "usage_events") == USAGE_EVENTS
    con.close()


def test_versions_recorded(blank_db):
    con = duckdb.connect(str(blank_db))
    migrate(con)
    rows = _migrations(con)
    assert [(v, n) for v, n, _ in rows] == [(v, n) for v, n, _ in MIGRATIONS]
    assert rows[0][:2] == (1, "canonical tables")
    assert all(applied_at for _, _, applied_at in rows)
    con.close()


def test_migrating_twice_is_a_no_op(blank_db):
    con = duckdb.connect(str(blank_db))
    assert migrate(con) == ALL_VERSIONS
    before = _migrations(con)
    con.execute(
        "INSERT INTO file_cursors VALUES ('/x.jsonl', 'claude_code', 1, 2, 3, 4, 5, current_timestamp, NULL)")
    con.close()

    con = duckdb.connect(str(blank_db))
    assert migrate(con) == []
    assert migrate(con) == []
    assert _migrations(con) == before  # same rows, same applied_at
    assert _tables(con) == TABLES
    for table, expected in COLUMNS.items():
        assert _columns(con, table) == expected, table
    # Data written between the runs is untouched.
    assert con.execute('SELECT path, "offset", size FROM file_cursors').fetchall() == [("/x.jsonl", 1, 2)]
    con.close()


def test_defaults_apply(blank_db):
    con = duckdb.connect(str(blank_db))
    migrate(con)
    con.execute("INSERT INTO usage_events (event_id, occurred_at, event_type, source_system, source_channel) "
                "VALUES ('e1', TIMESTAMPTZ '2026-01-01 00:00:00+00', 'message', 'claude_code', 'jsonl')")
    row = con.execute(
        "SELECT input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, "
        "cache_write_1h_tokens, total_tokens, cost_usd, cost_source, requests, is_sidechain "
        "FROM usage_events").fetchone()
    assert row == (0, 0, 0, 0, 0, 0, 0, None, "unknown", 0, False)
    # A second row of one id is kept out by store.Writer, not by a key (migration 10).
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO usage_events (event_id, event_type, source_system, source_channel) "
                    "VALUES ('e2', 'message', 'claude_code', 'jsonl')")
    con.close()


def test_failed_migration_rolls_back(tmp_path):
    """A migration that fails half-way leaves no partial schema and records nothing."""
    path = tmp_path / "conflict.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE usage_events (x INTEGER)")
    with pytest.raises(duckdb.CatalogException):
        migrate(con)
    assert _tables(con) == ["schema_migrations", "usage_events"]
    assert _columns(con, "usage_events") == [("x", "INTEGER", "YES", None)]
    assert _migrations(con) == []
    con.close()


def test_cli_migrates_blank_file(blank_db):
    """Any command on an existing blank file brings it to the current schema."""
    out = run_cli("--db", str(blank_db), "sql", "SELECT count(*) AS n FROM usage_events", "--format", "json")
    assert out.stdout.strip() == '[{"n":0}]'
    con = duckdb.connect(str(blank_db), read_only=True)
    assert _tables(con) == TABLES
    for table, expected in COLUMNS.items():
        assert _columns(con, table) == expected, table
    assert [(v, n) for v, n, _ in _migrations(con)] == [(v, n) for v, n, _ in MIGRATIONS]
    con.close()
    # And a second command migrates nothing more.
    run_cli("--db", str(blank_db), "sql", "SELECT 1")
    con = duckdb.connect(str(blank_db), read_only=True)
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    con.close()


@pytest.mark.parametrize("command", [("sql", "SELECT 1"), ("report", "daily"), ("export", "csv", "x.csv")])
def test_readers_on_a_new_path_say_there_is_no_store(tmp_path, command):
    """`sql`, `report` and `export` behave alike: no store, no file created, one clear message."""
    path = tmp_path / "new" / "t.duckdb"
    result = run_cli("--db", str(path), *command, check=False)
    assert result.returncode == 1
    assert "no store at" in result.stderr and "usagecore backfill" in result.stderr
    assert "Traceback" not in result.stderr
    assert not path.exists()


def test_report_on_existing_blank_file_has_no_traceback(blank_db):
    result = run_cli("--db", str(blank_db), "report", "daily", "--json", "--tz", "UTC", check=False)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0
    assert '"rows":[]' in result.stdout
