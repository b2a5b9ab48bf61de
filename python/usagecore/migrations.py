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
        "decoder state in file cursors",
        # What a stateful reader (Codex: session, model, cumulative total)
        # knew at the cursor, as JSON, so a later run resumes the file there.
        "ALTER TABLE file_cursors ADD COLUMN state VARCHAR;",
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
