"""Reports over the canonical tables: daily, monthly, per session, per model.

Every report is one SQL query over `usage_events`; grouping by day happens in
the user's time zone, so "today" means the user's today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

SOURCE_ALIASES = {"claude": "claude_code", "claude-code": "claude_code"}

MEASURES = """
    sum(input_tokens)::BIGINT        AS input_tokens,
    sum(output_tokens)::BIGINT       AS output_tokens,
    sum(reasoning_tokens)::BIGINT    AS reasoning_tokens,
    sum(cache_read_tokens)::BIGINT   AS cache_read_tokens,
    sum(cache_write_tokens)::BIGINT  AS cache_write_tokens,
    sum(total_tokens)::BIGINT        AS total_tokens,
    sum(cost_usd)                    AS cost_usd,
    sum(requests)::BIGINT            AS requests,
    count(*) FILTER (WHERE cost_usd IS NULL)::BIGINT AS unpriced_events
"""
MEASURE_NAMES = (
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_tokens",
    "cost_usd",
    "requests",
    "unpriced_events",
)

# name -> (leading columns, GROUP BY, ORDER BY)
REPORTS = {
    "daily": (
        "strftime(local_ts, '%Y-%m-%d') AS date, list(DISTINCT model ORDER BY model) AS models",
        "1",
        "1",
    ),
    "monthly": (
        "strftime(local_ts, '%Y-%m') AS month, list(DISTINCT model ORDER BY model) AS models",
        "1",
        "1",
    ),
    "session": (
        "session_id, any_value(project ORDER BY occurred_at) AS project, "
        "strftime(min(local_ts), '%Y-%m-%d %H:%M') AS first_seen, "
        "strftime(max(local_ts), '%Y-%m-%d %H:%M') AS last_seen, "
        "list(DISTINCT model ORDER BY model) AS models",
        "session_id",
        "max(local_ts), session_id",
    ),
    "models": ("model, any_value(provider_id) AS provider_id", "model", "cost_usd DESC NULLS LAST, model"),
}


class ReportError(ValueError):
    """A report was asked for with arguments that cannot work (bad zone, ...)."""


@dataclass
class Report:
    name: str
    tz: str
    columns: list[str]
    rows: list[dict]
    totals: dict

    def as_dict(self) -> dict:
        return {"report": self.name, "tz": self.tz, "rows": self.rows, "totals": self.totals}


def local_zone(con: duckdb.DuckDBPyConnection) -> str:
    """The machine's IANA zone, as DuckDB's ICU sees it."""
    return con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]


def _zone(con: duckdb.DuckDBPyConnection, tz: str) -> str:
    """The IANA zone's canonical spelling (`utc` -> `UTC`), or a ReportError."""
    names = con.execute("SELECT name FROM pg_timezone_names() WHERE lower(name) = lower(?)", [tz]).fetchall()
    if not names:
        raise ReportError(f"--tz: unknown time zone {tz!r}: use an IANA name such as Europe/Berlin or UTC")
    return next((n for (n,) in names if n == tz), names[0][0])


def run_report(
    con: duckdb.DuckDBPyConnection,
    name: str,
    *,
    since: date | None = None,
    until: date | None = None,
    tz: str | None = None,
    sources: tuple[str, ...] = (),
) -> Report:
    lead, group_by, order_by = REPORTS[name]
    tz = _zone(con, tz or local_zone(con))
    if since and until and since > until:
        raise ReportError(f"--since {since} is after --until {until}: nothing can match")
    where, params = ["event_type = 'message'"], [tz]
    if sources:
        wanted = [SOURCE_ALIASES.get(s, s) for s in sources]
        where.append(f"source_system IN ({', '.join('?' for _ in wanted)})")
        params += wanted
    local_where = []
    if since:
        local_where.append("local_ts >= ?::TIMESTAMP")
        params.append(since.isoformat())
    if until:
        local_where.append("local_ts < ?::TIMESTAMP + INTERVAL 1 DAY")
        params.append(until.isoformat())
    sql = f"""
        WITH e AS (
            SELECT *, timezone(?, occurred_at) AS local_ts FROM usage_events
            WHERE {' AND '.join(where)})
        SELECT {lead}, {MEASURES}
        FROM e {('WHERE ' + ' AND '.join(local_where)) if local_where else ''}
        GROUP BY {group_by} ORDER BY {order_by}"""
    cursor = con.execute(sql, params)
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    totals = {m: sum((r[m] or 0) for r in rows) for m in MEASURE_NAMES}
    if rows and all(r["cost_usd"] is None for r in rows):
        totals["cost_usd"] = None
    return Report(name, tz, columns, rows, totals)
