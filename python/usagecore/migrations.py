"""Numbered, append-only schema migrations. Never edit a released migration:
add the next number. `schema_migrations` records what was applied."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
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
        "OpenTelemetry: metric points (with per-series deltas), log events, usage spans",
        """
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
        CREATE TABLE otel_metric_series (
            series_id            VARCHAR PRIMARY KEY,  -- the last point seen of each cumulative series
            start_time_unix_nano BIGINT,
            time_unix_nano       BIGINT NOT NULL,
            value                DOUBLE,
            count                BIGINT
        );
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
]


def migrate(con) -> list[int]:
    """Apply pending migrations, each in its own transaction; return their numbers."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    INTEGER PRIMARY KEY,
               name       VARCHAR NOT NULL,
               applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)"""
    )
    applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    done = []
    for version, name, sql in MIGRATIONS:
        if version in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        done.append(version)
    return done
