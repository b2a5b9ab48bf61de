"""The DuckDB store: opening and migrating the file, and writing canonical
batches into it with the same merge rules the Rust dedup applies in-batch.

Everything that writes goes through `Store`, so a second store (ClickHouse)
only has to provide the same few methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from usagecore import prices
from usagecore.migrations import MIGRATIONS, migrate

TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
)
# Descriptive columns come from the earliest record of an event (ties: lowest
# raw id), with gaps filled from the other: the same rule as rust/dedup.rs.
DESCRIPTIVE_COLUMNS = (
    "provider_id",
    "account_id",
    "model_raw",
    "model",
    "session_id",
    "turn_id",
    "message_id",
    "request_id",
    "tool_call_id",
    "tool_name",
    "project",
    "agent_id",
    "user_id",
    "client_version",
    "git_branch",
)


def _event_upsert_sql() -> str:
    earlier = (
        "(excluded.occurred_at < occurred_at OR "
        "(excluded.occurred_at = occurred_at AND excluded.raw_event_id < raw_event_id))"
    )
    sets = [f"{c} = greatest({c}, excluded.{c})" for c in TOKEN_COLUMNS]
    sets.append("total_tokens = " + " + ".join(
        f"greatest({c}, excluded.{c})"
        for c in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    ))
    sets.append("occurred_at = least(occurred_at, excluded.occurred_at)")
    sets.append(f"raw_event_id = CASE WHEN {earlier} THEN excluded.raw_event_id ELSE raw_event_id END")
    sets += [
        f"{c} = CASE WHEN {earlier} THEN coalesce(excluded.{c}, {c}) ELSE coalesce({c}, excluded.{c}) END"
        for c in DESCRIPTIVE_COLUMNS
    ]
    sets.append("is_sidechain = is_sidechain AND excluded.is_sidechain")
    # Only agent-reported costs survive a merge; calculated ones are redone
    # from the merged tokens by prices.apply_costs.
    sets.append(
        "cost_usd = CASE WHEN cost_source = 'reported' AND excluded.cost_source = 'reported' "
        "THEN greatest(cost_usd, excluded.cost_usd) "
        "WHEN excluded.cost_source = 'reported' THEN excluded.cost_usd "
        "WHEN cost_source = 'reported' THEN cost_usd END"
    )
    sets.append(
        "cost_source = CASE WHEN 'reported' IN (cost_source, excluded.cost_source) "
        "THEN 'reported' ELSE 'unknown' END"
    )
    # New rows are priced as they go in; merged rows are repriced afterwards.
    priced = (
        f"CASE WHEN e.cost_source = 'reported' THEN e.cost_usd ELSE {prices.COST_SQL} END AS cost_usd, "
        f"CASE WHEN e.cost_source = 'reported' THEN 'reported' "
        f"WHEN {prices.COST_SQL} IS NOT NULL THEN 'calculated' ELSE 'unknown' END AS cost_source"
    )
    join = prices.price_join_condition("timezone('UTC', e.occurred_at)")
    return (
        f"INSERT INTO usage_events BY NAME SELECT e.* REPLACE ({priced}) FROM new_events AS e "
        f"LEFT JOIN model_prices AS p ON {join} AND p.input_mtok IS NOT NULL "
        "ON CONFLICT (event_id) DO UPDATE SET " + ", ".join(sets)
    )

# A side chain may replay a main-chain message under another request id
# (FORMATS.md §C.4 rule 3); across batches the store drops the replay.
DROP_SIDECHAIN_REPLAYS_SQL = """
DELETE FROM usage_events
WHERE is_sidechain
  AND message_id IN (SELECT message_id FROM new_events WHERE message_id IS NOT NULL)
  AND EXISTS (
      SELECT 1 FROM usage_events AS main
      WHERE main.message_id = usage_events.message_id
        AND NOT main.is_sidechain
        AND main.event_id <> usage_events.event_id)
"""


def _has_pending_migrations(con: duckdb.DuckDBPyConnection) -> bool:
    known = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()[0][0]
    applied = con.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0] if known else None
    return applied is None or applied < MIGRATIONS[-1][0]


@dataclass
class WriteResult:
    new_events: int  # net: inserted minus side-chain replays dropped
    merged_events: int
    sidechain_replays: int


class Store:
    """A migrated DuckDB file."""

    def __init__(self, path: Path | str, *, read_only: bool = False):
        self.path = Path(path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(self.path), read_only=read_only)
        if not read_only:
            migrate(self.con)

    @classmethod
    def for_reading(cls, path: Path | str) -> Store:
        """Read-only, so that readers can share the file; a file with pending
        migrations is migrated first."""
        store = cls(path, read_only=True)
        if _has_pending_migrations(store.con):
            store.close()
            cls(path).close()
            store = cls(path, read_only=True)
        return store

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Many writes in a row, while Rust reads on the other cores: one
        DuckDB thread (less memory, no fight for cores), and one checkpoint at
        the end instead of one per 16 MB of WAL (each rewrites the indexes)."""
        self.con.execute("SET checkpoint_threshold = '1GB'")
        self.con.execute("SET threads = 1")
        try:
            yield
        finally:
            self.con.execute("RESET threads")
            self.con.execute("RESET checkpoint_threshold")
            self.con.execute("CHECKPOINT")

    def cursors(self, source_system: str) -> dict[str, tuple[str, int, int, int, int, int]]:
        rows = self.con.execute(
            'SELECT path, "offset", size, mtime_ns, head_hash, tail_hash '
            "FROM file_cursors WHERE source_system = ?",
            [source_system],
        ).fetchall()
        return {row[0]: row for row in rows}

    def write(
        self,
        events: Any,
        raws: Any,
        cursors: Any,
        source_system: str,
    ) -> WriteResult:
        """Write and price one batch, and advance its files' cursors, in one
        transaction, so a cursor never gets ahead of the data it stands for.

        `events`, `raws` and `cursors` are Arrow tables.
        """
        con = self.con
        con.register("new_events", events)
        con.register("new_raws", raws)
        con.register("new_cursors", cursors)

        def count(table: str) -> int:
            return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]

        con.execute("BEGIN TRANSACTION")
        try:
            events_before, total = count("usage_events"), count("new_events")
            con.execute("INSERT INTO usage_raw_events BY NAME SELECT * FROM new_raws ON CONFLICT DO NOTHING")
            replays = merged = 0
            if total:
                pairs = con.execute("SELECT DISTINCT provider_id, model_raw FROM new_events").fetchall()
                prices.ensure_prices(con, pairs)
                con.execute(_event_upsert_sql())
                merged = total - (count("usage_events") - events_before)
                if merged:
                    prices.apply_costs(
                        con, "e.cost_source = 'unknown' AND e.event_id IN (SELECT event_id FROM new_events)"
                    )
                replays = con.execute(DROP_SIDECHAIN_REPLAYS_SQL).fetchall()[0][0]
            con.execute(
                "INSERT OR REPLACE INTO file_cursors BY NAME "
                "SELECT *, ? AS source_system, current_timestamp AS updated_at FROM new_cursors",
                [source_system],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("new_events")
            con.unregister("new_raws")
            con.unregister("new_cursors")
        return WriteResult(count("usage_events") - events_before, merged, replays)
