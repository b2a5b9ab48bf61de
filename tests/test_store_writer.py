"""The store's writer takes several batches in one transaction: the drain
stores hook events and transcript events of many payloads together, and
the same call may come twice (a transcript read again, a hook replayed)."""

from __future__ import annotations

import shutil

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
