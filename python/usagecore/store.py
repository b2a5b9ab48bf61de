"""The DuckDB store: opening and migrating the file, and writing canonical
batches into it with the same merge rules the Rust dedup applies in-batch.

Everything that writes goes through `Store`, so a second store (ClickHouse)
only has to provide the same few methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from usagecore import pairing, price_snapshot, prices
from usagecore.migrations import MIGRATIONS, migrate

if TYPE_CHECKING:
    from concurrent.futures import Future

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
    "duration_ms",
    "success",
    "detail",
    "speed",
)


def _priced_events_sql(price_sql: str) -> str:
    """`new_events` as stored rows, priced; `price_sql` gives each event's
    `model_prices` row as a struct (prices.price_lookup_sql)."""
    return (
        "SELECT e.* EXCLUDE (p, cost) REPLACE ("
        "CASE WHEN e.cost_source = 'reported' THEN e.cost_usd ELSE e.cost END AS cost_usd, "
        "CASE WHEN e.cost_source = 'reported' THEN 'reported' "
        "WHEN e.cost IS NOT NULL THEN 'calculated' ELSE 'unknown' END AS cost_source) "
        f"FROM (SELECT e.*, {prices.COST_SQL} AS cost "
        f"FROM (SELECT e.*, {price_sql} AS p FROM new_events AS e) AS e) AS e"
    )


# Sources whose records are rewritten in place: the version written last is
# the event (rust/event.rs `Merge::Latest`); others merge by per-field max.
LATEST_WINS_SOURCES = ("opencode",)


def _event_merge_sql() -> str:
    """The merge of events already stored (`stored`) with their new sightings
    in `priced_events` (`excluded`): the rules of rust/dedup.rs."""
    latest = "excluded.source_system IN (" + ", ".join(f"'{s}'" for s in LATEST_WINS_SOURCES) + ")"
    earlier = (
        "(excluded.occurred_at < stored.occurred_at OR "
        "(excluded.occurred_at = stored.occurred_at AND excluded.raw_event_id < stored.raw_event_id))"
    )

    def merged(column: str) -> str:
        return f"CASE WHEN {latest} THEN excluded.{column} ELSE greatest(stored.{column}, excluded.{column}) END"

    sets = [f"{c} = {merged(c)}" for c in TOKEN_COLUMNS]
    # Summed as HUGEINT and capped, like Rust's saturating total: absurd counts must
    # not make the whole transaction fail on an overflow.
    sets.append("total_tokens = CAST(least(" + " + ".join(
        f"CAST({merged(c)} AS HUGEINT)"
        for c in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    ) + ", 9223372036854775807) AS BIGINT)")
    sets.append(f"occurred_at = CASE WHEN {latest} THEN excluded.occurred_at "
                "ELSE least(stored.occurred_at, excluded.occurred_at) END")
    sets.append(f"raw_event_id = CASE WHEN {latest} OR {earlier} THEN excluded.raw_event_id "
                "ELSE stored.raw_event_id END")
    sets += [
        f"{c} = CASE WHEN {latest} OR {earlier} THEN coalesce(excluded.{c}, stored.{c}) "
        f"ELSE coalesce(stored.{c}, excluded.{c}) END"
        for c in DESCRIPTIVE_COLUMNS
    ]
    sets.append(f"source_channel = CASE WHEN {latest} THEN excluded.source_channel ELSE stored.source_channel END")
    sets.append("is_sidechain = stored.is_sidechain AND excluded.is_sidechain")
    # Only agent-reported costs survive a merge; calculated ones are redone
    # from the merged tokens by prices.apply_costs.
    sets.append(
        f"cost_usd = CASE WHEN {latest} AND excluded.cost_source = 'reported' THEN excluded.cost_usd "
        f"WHEN {latest} THEN NULL "
        "WHEN stored.cost_source = 'reported' AND excluded.cost_source = 'reported' "
        "THEN greatest(stored.cost_usd, excluded.cost_usd) "
        "WHEN excluded.cost_source = 'reported' THEN excluded.cost_usd "
        "WHEN stored.cost_source = 'reported' THEN stored.cost_usd END"
    )
    sets.append(
        f"cost_source = CASE WHEN {latest} THEN (CASE WHEN excluded.cost_source = 'reported' "
        "THEN 'reported' ELSE 'unknown' END) "
        "WHEN 'reported' IN (stored.cost_source, excluded.cost_source) THEN 'reported' ELSE 'unknown' END"
    )
    return ("UPDATE usage_events AS stored SET " + ", ".join(sets)
            + " FROM priced_events AS excluded WHERE stored.event_id = excluded.event_id")


_EVENT_MERGE_SQL = _event_merge_sql()


def _unstored_sql(table: str, key: str, batch: str, window: str = "TRUE") -> str:
    """The rows of `batch` whose ids are not in `table` yet. Ids are unique
    without a primary key (since migration 10: DuckDB holds a key's index
    whole in memory): the batch's ids make the hash table, and one column of
    the stored rows streams past it, only those within `window` (see
    `_time_window`)."""
    return (f"(SELECT * FROM {batch} WHERE {key} NOT IN "
            f"(SELECT {key} FROM {table} WHERE {window} AND {key} IN (SELECT {key} FROM {batch})))")


# Every sighting of one event (an API call through OpenTelemetry, a hook and
# its transcript; a record read twice) carries a time within this much of the
# others': the agent's clock when it happened, or when it was received. So
# a batch need only be looked up among the stored rows of its own times
# widened by it, and the zone maps skip every other row group: without it,
# each batch of a long-running `serve` scanned every id ever stored (at 100
# requests a second over 300,000 stored events, 5 ms of CPU per request).
SAME_EVENT_WITHIN = "INTERVAL 1 DAY"


def _time_window(con: duckdb.DuckDBPyConnection, batch: str, column: str) -> str:
    """SQL true for the stored rows whose `column` (occurred_at) is within
    SAME_EVENT_WITHIN of the times of `batch`; TRUE when a row of the batch
    has none (it could match any stored row)."""
    lo, hi, untimed = con.execute(
        f"SELECT min(occurred_at) - {SAME_EVENT_WITHIN}, max(occurred_at) + {SAME_EVENT_WITHIN}, "
        f"count(*) FILTER (WHERE occurred_at IS NULL) FROM {batch}").fetchone()
    if untimed or lo is None:
        return "TRUE"
    # Literals, not parameters: the scan's zone maps are only used with constants.
    return f"{column} BETWEEN '{lo.isoformat()}'::TIMESTAMPTZ AND '{hi.isoformat()}'::TIMESTAMPTZ"


# A side chain may replay a main-chain message under another request id
# (docs/formats-claude-code.md §C.4 rule 3); across transactions and runs the store drops the replay.
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
    new_events: int  # net: inserted minus side-chain replays and responses paired away (pairing.py)
    merged_events: int
    sidechain_replays: int


# Rows per row group written by this store (DuckDB's default is 122,880). A
# large insert writes each full row group to the file as it goes, so smaller
# groups mean a first backfill holds less in memory and leaves less for the
# commit; they also compress as well and give queries more parallelism.
ROW_GROUP_SIZE = 16_384


class Store:
    """A migrated DuckDB file."""

    rows_per_group = ROW_GROUP_SIZE

    def __init__(self, path: Path | str, *, read_only: bool = False,
                 connection: duckdb.DuckDBPyConnection | None = None):
        """`connection`: a new in-memory DuckDB connection to attach the file
        to (made ahead of time: backfill.load_duckdb_early); else one is made."""
        self.path = Path(path)
        self.read_only = read_only
        new = False
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
        # Attached rather than opened: only ATTACH takes the row group size.
        self.con = connection if connection is not None else duckdb.connect()
        option = "READ_ONLY" if read_only else f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}"
        quoted = str(self.path).replace("'", "''")
        self.con.execute(f"ATTACH '{quoted}' AS store ({option})")
        self.con.execute("USE store")
        # Whether this process wrote anything; only then is status's summary redone on close.
        self.changed = False
        # Inside `bulk`: DuckDB has one thread while Rust reads, every core for the events.
        self._bulk = False
        # A COMMIT running behind (`transaction(commit_behind=True)`): its
        # connection and its outcome. Transactions meanwhile use the other one.
        self._committing: tuple[duckdb.DuckDBPyConnection, Future] | None = None
        self._second: duckdb.DuckDBPyConnection | None = None
        if not read_only:
            if new:
                # Its first write needs prices: they load while DuckDB makes the tables.
                price_snapshot.load_in_background()
            self.changed = bool(migrate(self.con))
            # The store's copy of the provider links, for SQL clients (providers.py).
            from usagecore import providers

            self.changed |= providers.persist(self.con)

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

    def close(self, *, summarize: bool = True) -> None:
        # A writer leaves the figures `usagecore status` shows beside the
        # file, so that status need not open the store (status.py).
        # `summarize=False`: a writer that closes often (serve) does that now
        # and then only; the figures are a scan of every event.
        self._wait_for_commit_behind()
        summary = None
        if self.changed and summarize:
            from usagecore import status

            try:
                summary = status.summarize(self.con)
            except duckdb.Error:
                summary = None  # an aborted transaction: the next writer writes them
        self.con.close()
        if summary is not None:
            from usagecore import status

            status.save_summary(self.path, summary)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def bulk(self, memory_mb: int = 100) -> Iterator[None]:
        """Many writes in a row while Rust reads on the other cores: one
        DuckDB thread, so the two do not fight over cores; DuckDB's buffers
        kept to `memory_mb`."""
        self.con.execute("SET threads = 1")
        # Each full row group goes to the file as soon as it is complete,
        # while Rust reads on, instead of five at a time or at the commit.
        self.con.execute("SET write_buffer_row_group_count = 1")
        self.con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
        # Rows need not keep the order they came in (queries sort what they
        # show): the events, written last on every core, go in twice as fast.
        self.con.execute("SET preserve_insertion_order = false")
        # Each commit checkpoints: what is not already in the file (the rows of
        # a last, partial row group) goes there at once, compressed, instead of
        # into the write-ahead log first and the file at the next checkpoint,
        # at the latest on close: written once instead of twice (a cold Codex
        # backfill: 14k events and raw records, 0.1 s less CPU).
        self.con.execute("SET checkpoint_threshold = '0b'")
        self._bulk = True
        try:
            yield
        finally:
            self._bulk = False
            self._wait_for_commit_behind()
            self.con.execute("RESET threads")
            self.con.execute("RESET write_buffer_row_group_count")
            self.con.execute("RESET memory_limit")
            self.con.execute("RESET preserve_insertion_order")
            self.con.execute("RESET checkpoint_threshold")

    @contextmanager
    def transaction(self, source_system: str = "", *, after: Writer | None = None,
                    commit_behind: bool = False) -> Iterator[Writer]:
        """One transaction. A backfill's events and cursors commit together,
        so a cursor never gets ahead of its events; raw records, which never
        change, commit ahead of them (backfill._read_and_store).

        `after`: the writer of this process's previous transaction, when
        nothing else wrote in between (the store lock is held): tables it found
        empty count as fresh here too, for rows of the same origin.

        `commit_behind`: the COMMIT (for a backfill: mostly compressing what
        it wrote) runs on a thread of its own, while the caller's next
        transaction goes on, on the other of two connections: the two use two
        cores. That next transaction waits for it before its own COMMIT, so it
        never commits what depends on a commit that failed.

        A large transaction is also the cheapest way to write: DuckDB puts it
        straight into the database file at commit instead of going through
        the write-ahead log and a checkpoint.
        """
        con = self._second_connection() if self._committing and self._committing[0] is self.con else self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield Writer(con, source_system, after=after, all_cores_for_events=self._bulk)
            self._wait_for_commit_behind()
        except BaseException:
            con.execute("ROLLBACK")
            self._wait_for_commit_behind(raise_error=False)
            raise
        if commit_behind:
            from concurrent.futures import ThreadPoolExecutor

            self._second_connection()  # made from the first, which may be about to be busy
            pool = ThreadPoolExecutor(1, thread_name_prefix="usagecore-commit")
            self._committing = (con, pool.submit(con.execute, "COMMIT"))
            pool.shutdown(wait=False)
        else:
            con.execute("COMMIT")
        self.changed = True

    def _second_connection(self) -> duckdb.DuckDBPyConnection:
        # A cursor of the first: closing that one closes it too.
        if self._second is None:
            self._second = self.con.cursor()
            self._second.execute("USE store")
        return self._second

    def _wait_for_commit_behind(self, *, raise_error: bool = True) -> None:
        committing, self._committing = self._committing, None
        if committing is not None and committing[1].exception() is not None and raise_error:
            raise committing[1].exception()

    def cursors(self, source_system: str, paths: list[str] | None = None
                ) -> dict[str, tuple[str, int, int, int, int, int, str | None]]:
        """Cursors of a source's files: all of them, or only those of `paths`
        (a hook reads one transcript and need not load every cursor). Each is
        (path, offset, size, mtime_ns, head_hash, tail_hash, decoder state)."""
        sql = ('SELECT path, "offset", size, mtime_ns, head_hash, tail_hash, state '
               "FROM file_cursors WHERE source_system = ?")
        params: list = [source_system]
        if paths is not None:
            if not paths:
                return {}
            sql += " AND path IN (SELECT unnest(?::VARCHAR[]))"
            params.append(paths)
        return {row[0]: row for row in self.con.execute(sql, params).fetchall()}


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, table: Any) -> Iterator[None]:
    """`table` visible to SQL as `name` meanwhile. After a failure it stays:
    the transaction is aborted then, and unregistering would fail and hide
    the real error."""
    con.register(name, table)
    yield
    con.unregister(name)


class Writer:
    """Writes into an open transaction, with the same merge rules the Rust
    dedup applies within one reader.

    Whatever one Rust reader hands over is already unique, so into a table
    that was empty when the transaction began it goes with a plain INSERT:
    no conflicts to look for, which is most of a first backfill's cost.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, source_system: str, *, after: Writer | None = None,
                 all_cores_for_events: bool = False):
        self.con = con
        self.source_system = source_system
        self.all_cores_for_events = all_cores_for_events
        # Tables empty when the transaction began, and which reader filled them since.
        if after is None:
            self._fresh = {t for t in ("usage_raw_events", "usage_events", "file_cursors") if self._count(t) == 0}
            self._origins: dict[str, object] = {}
        else:
            self._fresh, self._origins = set(after._fresh), dict(after._origins)

    def _plain_insert(self, table: str, origin: object | None) -> bool:
        """Whether rows may go in without looking for conflicts: the table was
        empty when the transaction began, and all rows put in since came from
        the same `origin` (one Rust reader, whose output is unique). Rows of no
        stated origin may meet whatever comes after them."""
        if table not in self._fresh:
            return False
        if table in self._origins and (origin is None or self._origins[table] is not origin):
            self._fresh.discard(table)
            return False
        self._origins.setdefault(table, origin)
        if origin is None:
            self._fresh.discard(table)
        return True

    def _count(self, table: str) -> int:
        return self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]

    def add_raws(self, raws: Any, *, origin: object | None = None, rows: tuple[int, int] | None = None) -> None:
        """Insert raw records (an Arrow table; `rows`: only `(offset, count)` of
        them); ones already stored are kept as they are.
        `origin`: the Rust reader they came from (see `_plain_insert`)."""
        plain = self._plain_insert("usage_raw_events", origin)
        with _registered(self.con, "new_raws", raws):
            batch = "new_raws"
            if rows is not None:
                # The parts of a table must be the same whatever the insertion order
                # setting (Store.bulk leaves it off), and sorting would hold the table.
                kept = self.con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
                self.con.execute("SET preserve_insertion_order = true")
                batch = f"(SELECT * FROM new_raws LIMIT {int(rows[1])} OFFSET {int(rows[0])})"
            if not plain:
                if origin is None:
                    # Records of several payloads (a drain) may repeat one another;
                    # one reader's are unique.
                    batch = f"(SELECT DISTINCT ON (raw_event_id) * FROM {batch})"
                batch = _unstored_sql("usage_raw_events", "raw_event_id", batch,
                                      _time_window(self.con, batch, "occurred_at"))
            self.con.execute(f"INSERT INTO usage_raw_events BY NAME SELECT * FROM {batch}")
            if rows is not None:
                self.con.execute(f"SET preserve_insertion_order = {bool(kept)}")

    def add_cursors(self, cursors: Any, source_system: str | None = None) -> None:
        """Record how far files were read: an Arrow table of `file_cursors`
        columns, or a list of them (one statement for all)."""
        tables = cursors if isinstance(cursors, list) else [cursors]
        names = [f"new_cursors_{i}" for i in range(len(tables))]
        # Into a table empty when the transaction began, the first cursors go
        # with a plain INSERT (half the time of looking for rows to replace):
        # the files of one call are distinct (found once each).
        verb = "INSERT" if "file_cursors" in self._fresh else "INSERT OR REPLACE"
        self._fresh.discard("file_cursors")
        with ExitStack() as registered:
            for name, table in zip(names, tables):
                registered.enter_context(_registered(self.con, name, table))
            self.con.execute(
                f"{verb} INTO file_cursors BY NAME "
                "SELECT *, ? AS source_system, current_timestamp AS updated_at FROM ("
                + " UNION ALL ".join(f"SELECT * FROM {name}" for name in names) + ")",
                [source_system or self.source_system],
            )

    def add_events(self, events: Any, *, account_id: str | None = None, origin: object | None = None
                   ) -> WriteResult:
        """Insert and price events (an Arrow table), merging those already stored
        and pairing Codex responses with their sighting through the other path
        (pairing.py). `account_id` fills the events that name none (the user's override)."""
        # Events go in at the end of a transaction, once Rust has finished
        # reading: DuckDB may use every core again (Store.bulk leaves it one).
        # Other writers keep their setting (`usagecore serve`'s drain: one
        # thread, the receiver has the other cores). A second thread only
        # helps from two row groups on: below that (a Codex history, an
        # OpenCode batch while Rust reads the next) it costs CPU for nothing.
        if not self.all_cores_for_events or events.num_rows < 2 * ROW_GROUP_SIZE:
            return self._add_events(events, account_id, origin)
        threads = self.con.execute("SELECT current_setting('threads')").fetchone()[0]
        self.con.execute("RESET threads")
        result = self._add_events(events, account_id, origin)
        # Not in a `finally`: after a failure the transaction is aborted, this
        # would fail too and hide the real error; Store.bulk resets it then.
        self.con.execute(f"SET threads = {int(threads)}")
        return result

    def _add_events(self, events: Any, account_id: str | None, origin: object | None) -> WriteResult:
        if origin is not None:
            return self._add_unique_events(events, account_id, origin)
        # Events of several payloads (a drain) may repeat one another (the same
        # `notify` spooled twice): they go in one sighting per id at a time,
        # each round merged into the last by the same rules as across batches.
        with _registered(self.con, "arrow_events_all", events):
            rounds = self.con.execute("SELECT max(n) FROM (SELECT count(*) AS n FROM arrow_events_all "
                                      "GROUP BY event_id)").fetchall()[0][0] or 1
            if rounds == 1:
                return self._add_unique_events(events, account_id, origin)
            self.con.execute("CREATE OR REPLACE TEMP TABLE ranked_events AS SELECT *, row_number() OVER "
                             "(PARTITION BY event_id ORDER BY occurred_at, raw_event_id) AS sighting "
                             "FROM arrow_events_all")
        total = WriteResult(0, 0, 0)
        for sighting in range(1, rounds + 1):
            self.con.execute("CREATE OR REPLACE TEMP TABLE sighted_events AS "
                             f"SELECT * EXCLUDE (sighting) FROM ranked_events WHERE sighting = {sighting}")
            written = self._add_unique_events("sighted_events", account_id, origin)
            total = WriteResult(*map(sum, zip(astuple(total), astuple(written))))
        self.con.execute("DROP TABLE ranked_events")
        self.con.execute("DROP TABLE sighted_events")
        return total

    def _add_unique_events(self, events: Any, account_id: str | None, origin: object | None) -> WriteResult:
        """`events`: an Arrow table, or the name of a table of them."""
        con = self.con
        named = isinstance(events, str)
        with nullcontext() if named else _registered(con, "arrow_events", events):
            source = events if named else "arrow_events"
            if account_id is not None:
                quoted = account_id.replace("'", "''")
                source = f"(SELECT * REPLACE (coalesce(account_id, '{quoted}') AS account_id) FROM {source})"
            con.execute(f"CREATE OR REPLACE TEMP VIEW new_events AS SELECT * FROM {source}")
            total, codex = pairing.count_batch(con)
            if codex is not None and codex.has_otlp:
                source = pairing.without_paired_away(source)
                con.execute(f"CREATE OR REPLACE TEMP VIEW new_events AS SELECT * FROM {source}")
                total = self._count("new_events")
            if not total:
                return WriteResult(0, 0, 0)
            pairs = con.execute("SELECT DISTINCT provider_id, model_raw FROM new_events").fetchall()
            prices.ensure_prices(con, pairs)
            price_sql, params = prices.price_lookup_sql(con, "timezone('UTC', e.occurred_at)", pairs)
            priced = _priced_events_sql(price_sql)
            if self._plain_insert("usage_events", origin):
                # Only rows of this origin are stored: no other path to pair with.
                con.execute("INSERT INTO usage_events BY NAME " + priced, params)
                return WriteResult(total, 0, 0)
            before = self._count("usage_events")
            con.execute("CREATE OR REPLACE TEMP TABLE priced_events AS " + priced, params)
            window = _time_window(con, "priced_events", "{alias}.occurred_at")
            merged = con.execute(_EVENT_MERGE_SQL + " AND " + window.format(alias="stored")).fetchall()[0][0]
            con.execute("INSERT INTO usage_events BY NAME SELECT * FROM "
                        + _unstored_sql("usage_events", "event_id", "priced_events",
                                        window.format(alias="usage_events")))
            con.execute("DROP TABLE priced_events")
            if merged:
                # A merge keeps the earlier time, or the new one: still within the window.
                prices.apply_costs(
                    con, f"e.cost_source = 'unknown' AND {window.format(alias='e')} "
                    "AND e.event_id IN (SELECT event_id FROM new_events)"
                )
            # Only events with a message id can replay one (a scan of the
            # whole table otherwise; OpenTelemetry events have none).
            has_message_ids = con.execute(
                "SELECT count(*) FROM new_events WHERE message_id IS NOT NULL").fetchall()[0][0]
            replays = con.execute(DROP_SIDECHAIN_REPLAYS_SQL).fetchall()[0][0] if has_message_ids else 0
            # A response already stored through the other path counts as merged.
            paired = pairing.pair_codex(con, codex) if codex is not None else 0
            return WriteResult(self._count("usage_events") - before, merged + paired, replays)
