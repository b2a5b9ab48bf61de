"""The store's writer takes several batches in one transaction: the drain
stores hook events and transcript events of many payloads together, and
the same call may come twice (a transcript read again, a hook replayed)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import duckdb
import pytest

from conftest import CAPTURES
from usagecore import _core, prices
from usagecore.store import Store

RICH = CAPTURES / "claude-code" / "rich_http_json" / "transcripts"
TOTALS = "SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens) FROM usage_events"


def _read(root) -> dict:
    files, _ = _core.discover_jsonl([str(root)])
    reader = _core.Reader("claude_code")
    read = reader.read([(path, size, mtime, None) for path, size, mtime in files])
    return {**read, **reader.finish()}


def test_the_same_events_twice_in_one_transaction_into_an_empty_store(tmp_path):
    root = tmp_path / "projects"
    shutil.copytree(RICH, root)
    first, second = _read(root), _read(root)  # two readers: the same calls, unaware of each other
    with Store(tmp_path / "s.duckdb") as store:
        with store.transaction("claude_code") as writer:
            for batch in (first, second):
                writer.add_raws(batch["raws"])
                writer.add_events(batch["events"])
        assert store.con.execute(TOTALS).fetchone() == (6, 21066, 252, 21198)
        assert store.con.execute("SELECT count(*) FROM usage_raw_events").fetchone()[0] == len(
            store.con.execute("SELECT DISTINCT raw_event_id FROM usage_raw_events").fetchall())


def test_a_failure_inside_add_events_surfaces_as_itself(tmp_path, monkeypatch):
    """Not as "transaction aborted" from restoring the thread count afterwards."""
    root = tmp_path / "projects"
    shutil.copytree(RICH, root)
    batch = _read(root)

    def failing_prices(con, pairs):
        con.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(prices, "ensure_prices", failing_prices)
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(duckdb.CatalogException) as failure:
            with store.bulk(), store.transaction("claude_code") as writer:
                writer.add_events(batch["events"])
        assert "no_such_table" in str(failure.value)
        assert store.con.execute("SELECT count(*) FROM usage_events").fetchone()[0] == 0


def test_ids_stay_unique_across_calls_and_transactions(tmp_path):
    """No primary key holds the ids since migration 10: the writer does. The
    same calls again, in the same transaction or a later one, merge."""
    root = tmp_path / "projects"
    shutil.copytree(RICH, root)
    batch = _read(root)
    with Store(tmp_path / "s.duckdb") as store:
        for _ in range(2):
            with store.transaction("claude_code") as writer:
                writer.add_raws(batch["raws"])
                writer.add_raws(batch["raws"])
                result = writer.add_events(batch["events"])
        assert (result.new_events, result.merged_events) == (0, 6)
        assert store.con.execute(TOTALS).fetchone() == (6, 21066, 252, 21198)
        for table, key, expected in (("usage_events", "event_id", 6),
                                     ("usage_raw_events", "raw_event_id", batch["raws"].num_rows)):
            assert store.con.execute(f"SELECT count(*), count(DISTINCT {key}) FROM {table}"
                                     ).fetchone() == (expected, expected)


def test_a_store_from_before_migration_10_keeps_its_rows(tmp_path):
    """Migration 10 rebuilds the canonical tables without their keys; what
    they held comes through, and writing the same calls again merges."""
    from usagecore.migrations import MIGRATIONS

    root = tmp_path / "projects"
    shutil.copytree(RICH, root)
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        with store.transaction("claude_code") as writer:
            writer.add_raws(_read(root)["raws"])
            writer.add_events(_read(root)["events"])
        before = store.con.execute("SELECT * FROM usage_events ORDER BY event_id").fetchall()
        raws = store.con.execute("SELECT count(*) FROM usage_raw_events").fetchone()[0]
        # Back to the tables as migration 9 left them: with their primary keys.
        for table, key in (("usage_raw_events", "raw_event_id"), ("usage_events", "event_id")):
            ddl = store.con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()[0]
            store.con.execute(ddl.replace(f"TABLE {table}(", f"TABLE {table}_old(")
                              .replace(f"{key} VARCHAR NOT NULL", f"{key} VARCHAR PRIMARY KEY"))
            store.con.execute(f"INSERT INTO {table}_old SELECT * FROM {table}")
            store.con.execute(f"DROP TABLE {table}")
            store.con.execute(f"ALTER TABLE {table}_old RENAME TO {table}")
        assert store.con.execute("SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
                                 "AND table_name IN ('usage_events', 'usage_raw_events')").fetchone()[0] == 2
        store.con.execute("DELETE FROM schema_migrations WHERE version = 10")
        assert MIGRATIONS[-1][0] == 10
    with Store(path) as store:
        keys = store.con.execute("SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
                                 "AND table_name IN ('usage_events', 'usage_raw_events')").fetchone()[0]
        assert keys == 0
        assert store.con.execute("SELECT * FROM usage_events ORDER BY event_id").fetchall() == before
        with store.transaction("claude_code") as writer:
            writer.add_raws(_read(root)["raws"])
            writer.add_events(_read(root)["events"])
        assert store.con.execute("SELECT * FROM usage_events ORDER BY event_id").fetchall() == before
        assert store.con.execute("SELECT count(*) FROM usage_raw_events").fetchone()[0] == raws


def test_a_call_seen_again_within_a_day_of_its_time_merges(tmp_path):
    """A batch is looked up only among the stored rows within a day of its
    own times (store.SAME_EVENT_WITHIN): sightings of one call 23 hours
    apart (the stored one earlier) are still one event."""
    root = tmp_path / "projects"
    shutil.copytree(RICH, root)
    batch = _read(root)
    with Store(tmp_path / "s.duckdb") as store:
        with store.transaction("claude_code") as writer:
            writer.add_raws(batch["raws"])
            writer.add_events(batch["events"])
        for table in ("usage_events", "usage_raw_events"):
            store.con.execute(f"UPDATE {table} SET occurred_at = occurred_at - INTERVAL 23 HOUR")
        with store.transaction("claude_code") as writer:
            writer.add_raws(batch["raws"])
            result = writer.add_events(batch["events"])
        assert (result.new_events, result.merged_events) == (0, 6)
        assert store.con.execute(TOTALS).fetchone() == (6, 21066, 252, 21198)
        assert store.con.execute("SELECT count(*) FROM usage_raw_events").fetchone()[0] == batch["raws"].num_rows


def test_the_lookup_window_is_the_batch_times_widened_by_a_day(tmp_path):
    from usagecore.store import _time_window

    con = duckdb.connect()
    hours = "to_hours(h) AS occurred_at, h"
    con.execute(f"CREATE TABLE stored AS SELECT TIMESTAMPTZ '2026-06-10 12:00:00+00' + {hours} "
                "FROM unnest([-49, -25, -23, 0, 5, 24, 26, 49]) AS t(h)")
    con.execute(f"CREATE TABLE batch AS SELECT TIMESTAMPTZ '2026-06-10 12:00:00+00' + {hours} "
                "FROM unnest([0, 1]) AS t(h)")
    window = _time_window(con, "batch", "occurred_at")
    # From a day before the batch's first time to a day after its last.
    assert con.execute(f"SELECT list(h ORDER BY h) FROM stored WHERE {window}").fetchone()[0] == [-23, 0, 5, 24]
    # A batch with a row of no time could match any stored row.
    con.execute("INSERT INTO batch VALUES (NULL, NULL)")
    assert _time_window(con, "batch", "occurred_at") == "TRUE"


def test_raw_records_committed_behind_the_events_transaction(tmp_path):
    """A backfill's last raw records commit on a thread of their own while
    the events go in on a second connection: afterwards both are stored, and
    closing lets go of the file (another process can open it)."""
    root = tmp_path / "projects"
    shutil.copytree(RICH, root)
    batch = _read(root)
    with Store(tmp_path / "s.duckdb") as store, store.bulk():
        with store.transaction("claude_code", commit_behind=True) as writer:
            writer.add_raws(batch["raws"])
        with store.transaction("claude_code", after=writer) as writer:
            writer.add_events(batch["events"])
            writer.add_cursors(batch["cursors"])
    # Another process may write the file now: neither connection holds it.
    other = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()",
                            str(tmp_path / "s.duckdb")], capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        assert con.execute(TOTALS).fetchone() == (6, 21066, 252, 21198)
        assert con.execute("SELECT count(*) FROM usage_raw_events").fetchone()[0] == batch["raws"].num_rows
        assert con.execute("SELECT count(*) FROM file_cursors").fetchone()[0] == batch["cursors"].num_rows


def test_commits_behind_one_after_another(tmp_path):
    """OpenCode's backfill commits every transaction behind: the connections
    take turns, and each commit is waited for before the next one."""
    root = tmp_path / "projects"
    shutil.copytree(RICH, root)
    batch = _read(root)
    with Store(tmp_path / "s.duckdb") as store, store.bulk():
        writer = None
        for add in (lambda w: w.add_raws(batch["raws"]), lambda w: w.add_events(batch["events"]),
                    lambda w: w.add_cursors(batch["cursors"])):
            with store.transaction("claude_code", after=writer, commit_behind=True) as writer:
                add(writer)
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        assert con.execute(TOTALS).fetchone() == (6, 21066, 252, 21198)
        assert con.execute("SELECT count(*) FROM usage_raw_events").fetchone()[0] == batch["raws"].num_rows
        assert con.execute("SELECT count(*) FROM file_cursors").fetchone()[0] == batch["cursors"].num_rows


def test_a_commit_behind_that_fails_rolls_back_what_follows_it(tmp_path):
    """Cursors must never commit ahead of the raw records they cover: when
    the raw records' commit fails (here: another connection committed a
    cursor of the same file first), the transaction after it fails with that
    error, and keeps nothing."""
    root = tmp_path / "projects"
    shutil.copytree(RICH, root)
    batch = _read(root)
    cursors = batch["cursors"]
    with Store(tmp_path / "s.duckdb") as store:
        rival = store.con.cursor()
        rival.execute("USE store")
        with store.transaction("claude_code", commit_behind=True) as writer:
            writer.add_raws(batch["raws"])
            writer.add_cursors(cursors)
            rival.register("rival_cursors", cursors)
            rival.execute("INSERT INTO file_cursors BY NAME SELECT *, 'claude_code' AS source_system, "
                          "current_timestamp AS updated_at FROM rival_cursors LIMIT 1")
        with pytest.raises(duckdb.TransactionException, match="duplicate key"):
            with store.transaction("claude_code", after=writer) as writer:
                writer.add_events(batch["events"])
        assert store.con.execute("SELECT count(*) FROM file_cursors").fetchone()[0] == 1  # the rival's
        for table in ("usage_raw_events", "usage_events"):
            assert store.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
