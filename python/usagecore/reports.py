"""Reports over the canonical tables, with provider linking applied.

Every report is SQL over the `usage_events_resolved` view (migration 3):
canonical figures count only events whose provider is configured or linked
(`billing_provider_id`); what was left out is reported beside them as
`unmapped`. Days, weeks and months are cut in the report's time zone.

JSON shape (stable): {"report", "tz", "filters", "rows", "totals",
"unmapped"}; `rows` are objects whose keys are `Report.columns` (plus
`breakdown`, a list of per-model rows, with --breakdown); blocks rows carry
`burn_rate` and `projection` for the active block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from usagecore.settings import Settings

SOURCE_ALIASES = {"claude": "claude_code", "claude-code": "claude_code"}
NAMES = ("daily", "weekly", "monthly", "session", "blocks", "models", "tools", "projects", "providers", "accounts")
BLOCK_HOURS = 5

MEASURES = """
    sum(input_tokens)::BIGINT        AS input_tokens,
    sum(output_tokens)::BIGINT       AS output_tokens,
    sum(reasoning_tokens)::BIGINT    AS reasoning_tokens,
    sum(cache_read_tokens)::BIGINT   AS cache_read_tokens,
    sum(cache_write_tokens)::BIGINT  AS cache_write_tokens,
    sum(total_tokens)::BIGINT        AS total_tokens,
    sum(cost_usd)                    AS cost_usd,
    sum(requests)::BIGINT            AS requests,
    count(*) FILTER (WHERE cost_usd IS NULL)::BIGINT AS unpriced_events"""
MEASURE_NAMES = ("input_tokens", "output_tokens", "reasoning_tokens", "cache_read_tokens", "cache_write_tokens",
                 "total_tokens", "cost_usd", "requests", "unpriced_events")
TOOL_MEASURES = """
    count(*)::BIGINT AS calls,
    count(*) FILTER (WHERE success = false)::BIGINT AS failures,
    sum(duration_ms)::BIGINT AS duration_ms,
    count(DISTINCT session_id)::BIGINT AS sessions"""
TOOL_MEASURE_NAMES = ("calls", "failures", "duration_ms", "sessions")
MODELS_LIST = "list(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL) AS models"

# name -> (leading columns, GROUP BY, ORDER BY). `local_ts` is the event's wall-clock time in the zone.
GROUPED = {
    "daily": ("strftime(local_ts, '%Y-%m-%d') AS date", "1", "1"),
    "weekly": ("strftime(date_trunc('week', local_ts), '%Y-%m-%d') AS week", "1", "1"),
    "monthly": ("strftime(local_ts, '%Y-%m') AS month", "1", "1"),
    "session": (
        "session_id, any_value(source_system) AS source, arg_min(project, occurred_at) AS project, "
        "strftime(min(local_ts), '%Y-%m-%d %H:%M') AS first_seen, "
        "strftime(max(local_ts), '%Y-%m-%d %H:%M') AS last_seen",
        "session_id", "max(local_ts), session_id"),
    "models": ("model, any_value(provider_id ORDER BY provider_id) AS provider_id", "model",
               "cost_usd DESC NULLS LAST, model"),
    "projects": ("project, count(DISTINCT session_id)::BIGINT AS sessions", "project",
                 "cost_usd DESC NULLS LAST, project"),
    "providers": ("billing_provider_id AS provider, list(DISTINCT telemetry_provider_id "
                  "ORDER BY telemetry_provider_id) AS telemetry_ids", "billing_provider_id",
                  "cost_usd DESC NULLS LAST, provider"),
    "accounts": ("billing_provider_id AS provider, coalesce(e.account_id, p.account_id) AS account",
                 "1, 2", "cost_usd DESC NULLS LAST, provider, account"),
}
# Rows of these reports list the models they used (JSON and wide tables).
WITH_MODELS = ("daily", "weekly", "monthly", "session", "projects", "providers", "accounts")


class ReportError(ValueError):
    """A report was asked for with arguments that cannot work (bad zone, ...)."""


@dataclass
class Filters:
    since: date | None = None
    until: date | None = None
    tz: str | None = None
    sources: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since and self.since.isoformat(), "until": self.until and self.until.isoformat(),
                "source": list(self.sources), "provider": list(self.providers), "account": list(self.accounts),
                "project": list(self.projects), "model": list(self.models)}

    def describe(self) -> str:
        parts = [f"{k} {', '.join(v) if isinstance(v, list) else v}" for k, v in self.as_dict().items() if v]
        return "; ".join(parts)


@dataclass
class Report:
    name: str
    tz: str
    columns: list[str]
    rows: list[dict]
    totals: dict
    filters: Filters
    unmapped: list[dict] = field(default_factory=list)
    breakdown: bool = False

    def as_dict(self) -> dict:
        return {"report": self.name, "tz": self.tz, "filters": self.filters.as_dict(), "rows": self.rows,
                "totals": self.totals, "unmapped": self.unmapped}


def local_zone(con: duckdb.DuckDBPyConnection) -> str:
    """The machine's IANA zone, as DuckDB's ICU sees it."""
    return con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]


def zone(con: duckdb.DuckDBPyConnection, tz: str | None) -> str:
    """The IANA zone's canonical spelling (`utc` -> `UTC`), or a ReportError."""
    tz = tz or local_zone(con)
    names = con.execute("SELECT name FROM pg_timezone_names() WHERE lower(name) = lower(?)", [tz]).fetchall()
    if not names:
        raise ReportError(f"--tz: unknown time zone {tz!r}: use an IANA name such as Europe/Berlin or UTC")
    return next((n for (n,) in names if n == tz), names[0][0])


def _where(f: Filters, tz: str, *, providers: bool = True) -> tuple[str, list]:
    """SQL conditions on `usage_events_resolved` for the filters (dates are local days in `tz`)."""
    where: list[str] = []
    params: list = []

    def any_of(expr: str, values: tuple[str, ...]) -> None:
        if values:
            where.append("(" + " OR ".join(expr for _ in values) + ")")
            for v in values:
                params.extend([v] * expr.count("?"))

    if f.since:
        where.append("occurred_at >= timezone(?, ?::TIMESTAMP)")
        params += [tz, f.since.isoformat()]
    if f.until:
        where.append("occurred_at < timezone(?, ?::TIMESTAMP + INTERVAL 1 DAY)")
        params += [tz, f.until.isoformat()]
    any_of("source_system = ?", tuple(SOURCE_ALIASES.get(s, s) for s in f.sources))
    if providers:
        any_of("billing_provider_id = ?", f.providers)
    any_of("account_id = ?", f.accounts)
    any_of("contains(project, ?)", f.projects)
    any_of("(model = ? OR contains(model, ?))", f.models)
    return "".join(f" AND {w}" for w in where), params


def _check(f: Filters) -> None:
    if f.since and f.until and f.since > f.until:
        raise ReportError(f"--since {f.since} is after --until {f.until}: nothing can match")


def run_report(con: duckdb.DuckDBPyConnection, name: str, settings: Settings, filters: Filters | None = None,
               *, breakdown: bool = False, now: datetime | None = None) -> Report:
    """Run report `name`; the connection must have the provider overlay (providers.overlay)."""
    from usagecore import providers as provider_links

    f = filters or Filters()
    _check(f)
    tz = zone(con, f.tz)
    if name == "blocks":
        report = _blocks(con, tz, f, now or datetime.now(UTC))
    elif name == "tools":
        report = _tools(con, tz, f)
    else:
        report = _grouped(con, name, tz, f, breakdown)
    if name != "tools" and not f.providers:
        where, params = _where(f, tz, providers=False)
        report.unmapped = provider_links.unmapped(con, settings, where, params)
    return report


def _events_cte(tz: str, f: Filters, event_type: str = "message") -> tuple[str, list]:
    where, params = _where(f, tz)
    return (f"""WITH e AS (
            SELECT *, timezone(?, occurred_at) AS local_ts FROM usage_events_resolved
            WHERE event_type = '{event_type}' AND billing_provider_id IS NOT NULL{where})""", [tz, *params])


def _totals(rows: list[dict], names: tuple[str, ...]) -> dict:
    totals = {m: sum((r.get(m) or 0) for r in rows) for m in names}
    if "cost_usd" in totals and rows and all(r["cost_usd"] is None for r in rows):
        totals["cost_usd"] = None
    return totals


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> tuple[list[str], list[dict]]:
    cursor = con.execute(sql, params)
    columns = [d[0] for d in cursor.description]
    return columns, [dict(zip(columns, row)) for row in cursor.fetchall()]


# The group of a row, as one value, for --breakdown (per report with rows that have periods or owners).
BREAKDOWN_KEYS = {
    "daily": ("strftime(local_ts, '%Y-%m-%d')", lambda r: r["date"]),
    "weekly": ("strftime(date_trunc('week', local_ts), '%Y-%m-%d')", lambda r: r["week"]),
    "monthly": ("strftime(local_ts, '%Y-%m')", lambda r: r["month"]),
    "session": ("session_id", lambda r: r["session_id"]),
    "projects": ("project", lambda r: r["project"]),
    "providers": ("billing_provider_id", lambda r: r["provider"]),
    "accounts": ("billing_provider_id || '/' || coalesce(e.account_id, p.account_id, '')",
                 lambda r: f"{r['provider']}/{r['account'] or ''}"),
}


def _grouped(con: duckdb.DuckDBPyConnection, name: str, tz: str, f: Filters, breakdown: bool) -> Report:
    lead, group_by, order_by = GROUPED[name]
    cte, params = _events_cte(tz, f)
    models = f", {MODELS_LIST}" if name in WITH_MODELS else ""
    join = " LEFT JOIN configured_providers AS p ON p.provider_id = e.billing_provider_id" \
        if name == "accounts" else ""
    sql = f"{cte} SELECT {lead}{models}, {MEASURES} FROM e{join} GROUP BY {group_by} ORDER BY {order_by}"
    columns, rows = _fetch(con, sql, params)
    if breakdown and rows and name in BREAKDOWN_KEYS:
        key_sql, row_key = BREAKDOWN_KEYS[name]
        sub_sql = (f"{cte} SELECT {key_sql} AS k, model, {MEASURES} FROM e{join} GROUP BY ALL "
                   "ORDER BY k, cost_usd DESC NULLS LAST, model")
        _, subs = _fetch(con, sub_sql, params)
        by_key: dict[Any, list[dict]] = {}
        for sub in subs:
            by_key.setdefault(sub.pop("k"), []).append(sub)
        for row in rows:
            row["breakdown"] = by_key.get(row_key(row), [])
    return Report(name, tz, columns, rows, _totals(rows, MEASURE_NAMES), f, breakdown=breakdown)


def _tools(con: duckdb.DuckDBPyConnection, tz: str, f: Filters) -> Report:
    cte, params = _events_cte(tz, f, "tool_call")
    sql = f"{cte} SELECT tool_name AS tool, {TOOL_MEASURES} FROM e GROUP BY 1 ORDER BY calls DESC, tool"
    columns, rows = _fetch(con, sql, params)
    totals = _totals(rows, TOOL_MEASURE_NAMES)
    totals["sessions"] = con.execute(f"{cte} SELECT count(DISTINCT session_id) FROM e", params).fetchall()[0][0]
    return Report("tools", tz, columns, rows, totals, f)


def _blocks(con: duckdb.DuckDBPyConnection, tz: str, f: Filters, now: datetime) -> Report:
    """5-hour billing windows, per provider, as Claude subscriptions count them
    (ccusage's rules): the first event opens a block at its UTC hour; an event
    more than 5 h after the block's start, or more than 5 h after the event
    before it, opens the next one. A block is active while `now` is before its
    end and less than 5 h after its last event.

    SQL cuts the events into runs (gaps > 5 h) and, within a run, into
    `hour_end` buckets (an event's UTC time rounded up to the hour: it is
    within 5 h of a block start B exactly when its bucket is <= B + 5 h);
    Python then walks the buckets, a few per hour of activity.
    """
    cte, params = _events_cte(tz, f)
    span = f"INTERVAL {BLOCK_HOURS} HOUR"
    sql = f"""{cte},
        g AS (SELECT *, CASE WHEN occurred_at - lag(occurred_at) OVER w > {span} THEN 1 ELSE 0 END AS gap
              FROM e WINDOW w AS (PARTITION BY billing_provider_id ORDER BY occurred_at)),
        r AS (SELECT *, sum(gap) OVER (PARTITION BY billing_provider_id ORDER BY occurred_at
                                       ROWS UNBOUNDED PRECEDING) AS run,
                     CASE WHEN date_trunc('hour', occurred_at) = occurred_at THEN occurred_at
                          ELSE date_trunc('hour', occurred_at) + INTERVAL 1 HOUR END AS hour_end
              FROM g)
        SELECT billing_provider_id AS provider, run, hour_end, min(occurred_at) AS first_at,
               max(occurred_at) AS last_at, list(DISTINCT model) FILTER (WHERE model IS NOT NULL) AS models,
               {MEASURES}
        FROM r GROUP BY ALL ORDER BY provider, run, hour_end"""
    _, buckets = _fetch(con, sql, params)
    rows: list[dict] = []
    block: dict | None = None
    for b in buckets:
        first_at = b["first_at"].astimezone(UTC)
        if (block is None or b["provider"] != block["provider"] or b["run"] != block["_run"]
                or b["hour_end"].astimezone(UTC) > block["_start"] + timedelta(hours=BLOCK_HOURS)):
            start = first_at.replace(minute=0, second=0, microsecond=0)
            block = {"provider": b["provider"], "_run": b["run"], "_start": start, "_first": first_at,
                     "models": set(), **{m: None if m == "cost_usd" else 0 for m in MEASURE_NAMES}}
            rows.append(block)
        block["_last"] = b["last_at"].astimezone(UTC)
        block["models"].update(b["models"] or ())
        for m in MEASURE_NAMES:
            if b[m] is not None:
                block[m] = (block[m] or 0) + b[m]
    span_td = timedelta(hours=BLOCK_HOURS)
    out = []
    for block in rows:
        start, first, last = block.pop("_start"), block.pop("_first"), block.pop("_last")
        block.pop("_run")
        end = start + span_td
        active = now < end and now - last < span_td
        minutes = (last - first).total_seconds() / 60
        burn = None
        if minutes > 0:
            burn = {"tokens_per_minute": block["total_tokens"] / minutes,
                    "cost_per_hour": (block["cost_usd"] or 0) / minutes * 60}
        projection = None
        if active and burn:
            remaining = max(0.0, (end - now).total_seconds() / 60)
            projection = {"total_tokens": round(block["total_tokens"] + burn["tokens_per_minute"] * remaining),
                          "cost_usd": (block["cost_usd"] or 0) + burn["cost_per_hour"] / 60 * remaining,
                          "remaining_minutes": round(remaining)}
        local = {k: v.astimezone(_zoneinfo(tz)).strftime("%Y-%m-%d %H:%M") for k, v in
                 (("start", start), ("end", end), ("last", last))}
        out.append({"block_start": local["start"], "block_end": local["end"], "last_event": local["last"],
                    "provider": block.pop("provider"), "status": "active" if active else "ended",
                    "models": sorted(block.pop("models")),
                    **{m: block[m] for m in MEASURE_NAMES},
                    "start_utc": start.isoformat().replace("+00:00", "Z"),
                    "end_utc": end.isoformat().replace("+00:00", "Z"),
                    "burn_rate": burn, "projection": projection})
    out.sort(key=lambda r: (r["start_utc"], r["provider"]))
    columns = ["block_start", "block_end", "status", "provider", "models", *MEASURE_NAMES]
    return Report("blocks", tz, columns, out, _totals(out, MEASURE_NAMES), f)


def _zoneinfo(tz: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)
