"""Numbered, append-only schema migrations. Never edit a released migration:
add the next number. `schema_migrations` records what was applied."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

import duckdb

# The telemetry provider id of an event: the agent's own provider when the
# agent billed its own account (Claude Code talks to Anthropic, Codex to its
# built-in `openai` provider, OpenCode to OpenCode Zen), else the upstream id
# the source reported (OpenCode's `anthropic`, `github-copilot`, a Codex
# `model_provider` such as `ollama`), else the source itself.
TELEMETRY_PROVIDER_SQL = """CASE
    WHEN source_system = 'claude_code' AND coalesce(provider_id, 'anthropic') = 'anthropic' THEN 'claude_code'
    WHEN source_system = 'codex' AND coalesce(provider_id, 'openai') = 'openai' THEN 'codex'
    WHEN source_system = 'opencode' AND coalesce(provider_id, 'opencode') = 'opencode' THEN 'opencode'
    ELSE coalesce(provider_id, source_system) END"""

_MEASURES = """
    count(*)::BIGINT                 AS events,
    sum(input_tokens)::BIGINT        AS input_tokens,
    sum(output_tokens)::BIGINT       AS output_tokens,
    sum(reasoning_tokens)::BIGINT    AS reasoning_tokens,
    sum(cache_read_tokens)::BIGINT   AS cache_read_tokens,
    sum(cache_write_tokens)::BIGINT  AS cache_write_tokens,
    sum(total_tokens)::BIGINT        AS total_tokens,
    sum(cost_usd)                    AS cost_usd,
    count(*) FILTER (WHERE cost_usd IS NULL)::BIGINT AS unpriced_events"""

# Views for the common questions (README "SQL views"). Days are dates in the
# session's time zone (DuckDB: SET TimeZone = 'Europe/Berlin').
VIEWS_V3 = f"""
CREATE VIEW usage_events_resolved AS
WITH e AS (SELECT *, {TELEMETRY_PROVIDER_SQL} AS telemetry_provider_id FROM usage_events)
SELECT e.*, coalesce(c.provider_id, l.provider_id) AS billing_provider_id
FROM e
LEFT JOIN configured_providers AS c ON c.provider_id = e.telemetry_provider_id
LEFT JOIN (SELECT l.* FROM provider_links AS l SEMI JOIN configured_providers AS t
           ON t.provider_id = l.provider_id) AS l
  ON l.telemetry_provider_id = e.telemetry_provider_id;

CREATE VIEW billed_usage AS
SELECT * FROM usage_events_resolved
WHERE event_type = 'message' AND billing_provider_id IS NOT NULL;

CREATE VIEW daily_usage AS
SELECT occurred_at::DATE AS day, billing_provider_id, source_system, model, {_MEASURES}
FROM billed_usage GROUP BY ALL;

CREATE VIEW session_usage AS
SELECT session_id, source_system, billing_provider_id,
       arg_min(project, occurred_at) AS project,
       min(occurred_at) AS first_at, max(occurred_at) AS last_at,
       list(DISTINCT model ORDER BY model) AS models, {_MEASURES}
FROM billed_usage GROUP BY session_id, source_system, billing_provider_id;

CREATE VIEW model_usage AS
SELECT billing_provider_id, provider_id, model,
       min(occurred_at) AS first_at, max(occurred_at) AS last_at, {_MEASURES}
FROM billed_usage GROUP BY ALL;

CREATE VIEW tool_usage AS
SELECT billing_provider_id, source_system, tool_name,
       count(*)::BIGINT AS calls,
       count(*) FILTER (WHERE success = false)::BIGINT AS failures,
       sum(duration_ms)::BIGINT AS duration_ms,
       count(DISTINCT session_id)::BIGINT AS sessions
FROM usage_events_resolved
WHERE event_type = 'tool_call' AND billing_provider_id IS NOT NULL
GROUP BY ALL;

CREATE VIEW provider_usage AS
SELECT p.provider_id, p.name, p.kind, p.account_id, p.plan_usd_month,
       (SELECT list(l.telemetry_provider_id ORDER BY l.telemetry_provider_id) FROM provider_links AS l
        WHERE l.provider_id = p.provider_id) AS linked_telemetry_ids,
       coalesce(u.events, 0) AS events, coalesce(u.total_tokens, 0) AS total_tokens,
       u.cost_usd, coalesce(u.unpriced_events, 0) AS unpriced_events,
       u.first_at, u.last_at
FROM configured_providers AS p
LEFT JOIN (SELECT billing_provider_id, min(occurred_at) AS first_at, max(occurred_at) AS last_at, {_MEASURES}
           FROM billed_usage GROUP BY 1) AS u ON u.billing_provider_id = p.provider_id;

CREATE VIEW unmapped_usage AS
SELECT telemetry_provider_id, source_system,
       min(occurred_at) AS first_at, max(occurred_at) AS last_at, {_MEASURES}
FROM usage_events_resolved
WHERE event_type = 'message' AND billing_provider_id IS NULL
GROUP BY ALL;
"""

# Tables of migration 6 that migration 9 rebuilds.
OTEL_METRIC_POINTS = """
        CREATE TABLE otel_metric_points (
            point_id             VARCHAR PRIMARY KEY,  -- stable: a retransmitted point is stored once
            series_id            VARCHAR NOT NULL,     -- resource + scope + metric + point attributes
            received_at          TIMESTAMPTZ NOT NULL,
            metric_name          VARCHAR NOT NULL,
            unit                 VARCHAR,
            kind                 VARCHAR NOT NULL,     -- sum | gauge | histogram | exponential_histogram | summary
            temporality          VARCHAR NOT NULL,     -- as received: delta | cumulative | unspecified
            is_monotonic         BOOLEAN,
            start_time_unix_nano BIGINT,
            time_unix_nano       BIGINT NOT NULL,
            start_time           TIMESTAMPTZ,
            time                 TIMESTAMPTZ,
            value                DOUBLE,               -- the number, or the sum of a histogram/summary
            count                BIGINT,               -- observations of a histogram/summary
            delta_value          DOUBLE,               -- what this point adds to its series (NULL for gauges)
            delta_count          BIGINT,
            attributes           VARCHAR,              -- JSON object
            resource             VARCHAR,              -- JSON object
            scope_name           VARCHAR,
            service_name         VARCHAR,
            source_system        VARCHAR,
            session_id           VARCHAR,
            model                VARCHAR,
            account_id           VARCHAR,
            user_id              VARCHAR
        );
"""
OTEL_EVENTS = """
        CREATE TABLE otel_events (
            event_id                VARCHAR PRIMARY KEY,
            received_at             TIMESTAMPTZ NOT NULL,
            occurred_at             TIMESTAMPTZ NOT NULL,
            time_unix_nano          BIGINT,
            observed_time_unix_nano BIGINT,
            event_name              VARCHAR,
            severity_number         INTEGER,
            severity_text           VARCHAR,
            body                    VARCHAR,           -- only the event's name, unless --keep-content
            attributes              VARCHAR,           -- JSON object, content left out unless --keep-content
            resource                VARCHAR,
            scope_name              VARCHAR,
            service_name            VARCHAR,
            source_system           VARCHAR,
            session_id              VARCHAR,
            prompt_id               VARCHAR,
            sequence                BIGINT,
            trace_id                VARCHAR,
            span_id                 VARCHAR,
            account_id              VARCHAR,
            user_id                 VARCHAR
        );
"""

def _without_primary_key(table: str, ddl: str, suffix: str) -> str:
    """SQL rebuilding `table` (its CREATE TABLE as it is: `ddl`) with its
    primary key a plain NOT NULL column: DuckDB cannot drop a constraint."""
    return (
        ddl.replace(f"CREATE TABLE {table} (", f"CREATE TABLE {table}_{suffix} (").replace("PRIMARY KEY", "NOT NULL")
        + f"""
        INSERT INTO {table}_{suffix} SELECT * FROM {table};
        DROP TABLE {table};
        ALTER TABLE {table}_{suffix} RENAME TO {table};
        """
    )


def _table_ddl(con, table: str) -> str:
    """The CREATE TABLE statement of `table` as the store has it now."""
    ddl = con.execute(
        "SELECT sql FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = current_schema() AND table_name = ?", [table]).fetchone()[0]
    return ddl.replace(f"CREATE TABLE {table}(", f"CREATE TABLE {table} (", 1)


# (version, name, SQL), the SQL possibly made from the store as it is (a function of the connection).
MIGRATIONS: list[tuple[int, str, str | Callable[[Any], str]]] = [
    (
        1,
        "canonical tables",
        """
        CREATE TABLE usage_raw_events (
            raw_event_id   VARCHAR PRIMARY KEY,
            source_system  VARCHAR NOT NULL,
            source_channel VARCHAR NOT NULL,
            received_at    TIMESTAMPTZ NOT NULL,
            occurred_at    TIMESTAMPTZ,
            account_id     VARCHAR,
            source_ref     VARCHAR,
            payload        VARCHAR USING COMPRESSION zstd  -- compact JSON text; zstd: large, rarely read, cheap to write
        );
        CREATE TABLE usage_events (
            event_id              VARCHAR PRIMARY KEY,
            raw_event_id          VARCHAR,
            occurred_at           TIMESTAMPTZ NOT NULL,
            event_type            VARCHAR NOT NULL,
            source_system         VARCHAR NOT NULL,
            source_channel        VARCHAR NOT NULL,
            provider_id           VARCHAR,
            account_id            VARCHAR,
            model_raw             VARCHAR,
            model                 VARCHAR,
            input_tokens          BIGINT NOT NULL DEFAULT 0,
            output_tokens         BIGINT NOT NULL DEFAULT 0,
            reasoning_tokens      BIGINT NOT NULL DEFAULT 0,
            cache_read_tokens     BIGINT NOT NULL DEFAULT 0,
            cache_write_tokens    BIGINT NOT NULL DEFAULT 0,
            cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
            total_tokens          BIGINT NOT NULL DEFAULT 0,
            cost_usd              DOUBLE,
            cost_source           VARCHAR NOT NULL DEFAULT 'unknown',
            requests              INTEGER NOT NULL DEFAULT 0,
            session_id            VARCHAR,
            turn_id               VARCHAR,
            message_id            VARCHAR,
            request_id            VARCHAR,
            tool_call_id          VARCHAR,
            tool_name             VARCHAR,
            project               VARCHAR,
            agent_id              VARCHAR,
            user_id               VARCHAR,
            is_sidechain          BOOLEAN NOT NULL DEFAULT false,
            client_version        VARCHAR,
            git_branch            VARCHAR
        );
        CREATE TABLE file_cursors (
            path          VARCHAR PRIMARY KEY,
            source_system VARCHAR NOT NULL,
            "offset"      UBIGINT NOT NULL,
            size          UBIGINT NOT NULL,
            mtime_ns      BIGINT NOT NULL,
            head_hash     UBIGINT NOT NULL,
            tail_hash     UBIGINT NOT NULL,
            updated_at    TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        2,
        "live events: tool call duration and outcome, boundary detail",
        """
        ALTER TABLE usage_events ADD COLUMN duration_ms BIGINT;
        ALTER TABLE usage_events ADD COLUMN success BOOLEAN;
        ALTER TABLE usage_events ADD COLUMN detail VARCHAR;
        """,
    ),
    (
        3,
        "model_prices",
        # Unit prices resolved from genai-prices, one row per model, speed and stretch
        # of time with the same prices (prices.py owns it). It only caches what
        # genai-prices says, so a table an older version made on the fly is replaced.
        """
        DROP TABLE IF EXISTS model_prices;
        CREATE TABLE model_prices (
            -- Logical key: (provider_id, model_raw, speed, valid_from, utc_time_from).
            -- No PRIMARY KEY because those may be NULL; prices.ensure_prices() is the
            -- only writer and replaces all rows of a (provider_id, model_raw) at once.
            provider_id          VARCHAR,            -- as in usage_events; NULL when unknown
            model_raw            VARCHAR NOT NULL,   -- as in usage_events, unnormalized
            speed                VARCHAR NOT NULL,   -- 'standard' or 'fast' (usage_events.speed)
            valid_from           DATE,               -- first UTC request date; NULL: since always
            valid_to             DATE,               -- first UTC date no longer valid; NULL: still valid
            utc_time_from        TIME,               -- daily window, UTC; NULL: from 00:00
            utc_time_to          TIME,               -- exclusive; NULL: to the end of the day
            genai_provider_id    VARCHAR,            -- what genai-prices matched; NULL when unknown
            genai_model_id       VARCHAR,
            -- Effective USD per million tokens. All NULL: no known price.
            input_mtok           DOUBLE,
            output_mtok          DOUBLE,
            cache_read_mtok      DOUBLE,
            cache_write_mtok     DOUBLE,             -- 5-minute cache writes
            cache_write_1h_mtok  DOUBLE,             -- 1-hour writes; = cache_write_mtok if no own price
            -- Long-context tier: when input + cache_read + cache_write > tier_threshold, every
            -- token of the request is billed at the tier_* prices. All NULL: untiered.
            tier_threshold       BIGINT,
            tier_input_mtok      DOUBLE,
            tier_output_mtok     DOUBLE,
            tier_cache_read_mtok DOUBLE,
            tier_cache_write_mtok DOUBLE,
            tier_cache_write_1h_mtok DOUBLE,
            price_source         VARCHAR,            -- where fast-mode prices came from (prices.py)
            genai_prices_version VARCHAR NOT NULL,
            resolved_at          TIMESTAMP NOT NULL  -- UTC
        );
        """,
    ),
    (
        4,
        "usage_events.speed",
        # How a response was served: 'fast' (fast mode, billed at other rates),
        # 'standard', or NULL when the source does not say.
        "ALTER TABLE usage_events ADD COLUMN speed VARCHAR;",
    ),
    (
        5,
        "provider links and usage views",
        """
        -- Mirrors of settings.json (usagecore writes them whenever it opens the
        -- store for writing; its own commands read the settings directly).
        CREATE TABLE configured_providers (
            provider_id    VARCHAR PRIMARY KEY,
            name           VARCHAR NOT NULL,
            kind           VARCHAR,
            account_id     VARCHAR,
            plan_usd_month DOUBLE
        );
        INSERT INTO configured_providers VALUES
            ('claude_code', 'Claude Code', 'subscription', NULL, NULL),
            ('codex', 'Codex', 'subscription', NULL, NULL),
            ('opencode', 'OpenCode', 'api_key', NULL, NULL);
        CREATE TABLE provider_links (
            telemetry_provider_id VARCHAR PRIMARY KEY,
            provider_id           VARCHAR NOT NULL
        );
        """ + VIEWS_V3,
    ),
    (
        6,
        "OpenTelemetry: metric points (with per-series deltas), log events, usage spans",
        f"""
{OTEL_METRIC_POINTS}
        CREATE TABLE otel_metric_series (
            series_id            VARCHAR PRIMARY KEY,  -- the last point seen of each cumulative series
            start_time_unix_nano BIGINT,
            time_unix_nano       BIGINT NOT NULL,
            value                DOUBLE,
            count                BIGINT
        );
{OTEL_EVENTS}
        CREATE TABLE otel_spans (
            span_key             VARCHAR PRIMARY KEY,  -- trace id + span id
            received_at          TIMESTAMPTZ NOT NULL,
            trace_id             VARCHAR NOT NULL,
            span_id              VARCHAR NOT NULL,
            parent_span_id       VARCHAR,
            name                 VARCHAR,
            kind                 INTEGER,
            start_time_unix_nano BIGINT,
            end_time_unix_nano   BIGINT,
            start_time           TIMESTAMPTZ,
            end_time             TIMESTAMPTZ,
            status_code          INTEGER,
            attributes           VARCHAR,
            resource             VARCHAR,
            scope_name           VARCHAR,
            service_name         VARCHAR,
            source_system        VARCHAR,
            session_id           VARCHAR,
            account_id           VARCHAR,
            user_id              VARCHAR
        );
        """,
    ),
    (
        7,
        "decoder state in file cursors",
        # What a stateful reader (Codex: session, model, cumulative total)
        # knew at the cursor, as JSON, so a later run resumes the file there.
        "ALTER TABLE file_cursors ADD COLUMN state VARCHAR;",
    ),
    (
        8,
        "paired_events",
        # One API call seen through two paths under two ids (a Codex response
        # through OTLP and through its rollout: pairing.py): the row that went,
        # and the row it went into. A later sighting of the dropped id is not
        # stored again, and a kept row takes no second partner.
        """
        CREATE TABLE paired_events (
            dropped_event_id VARCHAR PRIMARY KEY,
            kept_event_id    VARCHAR NOT NULL,
            paired_at        TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        9,
        "OpenTelemetry log events and metric points without primary-key indexes",
        # DuckDB keeps a primary key's index whole in memory (it cannot be
        # evicted): for these two append-only tables that was most of what
        # `usagecore serve` grew by as the store grew. Their ids include the
        # record's times, so live/otlp.py looks for a stored duplicate among
        # the rows of the same times (zone maps skip the rest) instead.
        _without_primary_key("otel_events", OTEL_EVENTS, "v9")
        + _without_primary_key("otel_metric_points", OTEL_METRIC_POINTS, "v9"),
    ),
    (
        10,
        "usage events and raw records without primary-key indexes",
        # The same for the canonical tables: their indexes were what serve
        # still grew by, and building them a third of a first backfill's
        # store time. store.py keeps ids unique: it looks for the stored
        # rows of a batch's ids (a scan of one column) and merges or skips those.
        lambda con: _without_primary_key("usage_raw_events", _table_ddl(con, "usage_raw_events"), "v10")
        + _without_primary_key("usage_events", _table_ddl(con, "usage_events"), "v10"),
    ),
]


def migrate(con) -> list[int]:
    """Apply pending migrations, all in one transaction (a new store is one
    commit, not one per migration); return their numbers."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    INTEGER PRIMARY KEY,
               name       VARCHAR NOT NULL,
               applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)"""
    )
    con.execute("BEGIN TRANSACTION")
    try:
        applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        done = []
        for version, name, sql in MIGRATIONS:
            if version in applied:
                continue
            con.execute(sql(con) if callable(sql) else sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            done.append(version)
        con.execute("COMMIT")
    except BaseException:
        # An interrupted query (Ctrl-C) has ended the transaction already.
        with suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return done
