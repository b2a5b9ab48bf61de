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
    f = filters or Filters()
    _check(f)
    tz = zone(con, f.tz)
    if name == "blocks":
        report = _blocks(con, tz, f, now or datetime.now(UTC))
    elif name == "tools":
        report = _tools(con, tz, f)
    elif name in PERIODS:
        report = _periods(con, name, tz, f, breakdown)
    else:
        report = _grouped(con, name, tz, f, breakdown)
    if name != "tools" and not f.providers:
        report.unmapped = unmapped(con, settings, f, tz)
    return report


def unmapped(con: duckdb.DuckDBPyConnection, settings: Settings, f: Filters, tz: str) -> list[dict[str, Any]]:
    """Usage the filters match but no configured provider counts: per
    telemetry provider id, events, spend and the exact way to link it."""
    from usagecore.settings import link_hint

    where, params = _where(f, tz, providers=False)
    rows = con.execute(
        f"""SELECT telemetry_provider_id, list(DISTINCT source_system ORDER BY source_system),
                   count(*), sum(cost_usd), count(*) FILTER (WHERE cost_usd IS NULL), sum(total_tokens)::BIGINT
            FROM usage_events_resolved
            WHERE event_type = 'message' AND billing_provider_id IS NULL{where}
            GROUP BY 1 ORDER BY 3 DESC, 1""", params).fetchall()
    return [{"provider_id": pid, "sources": sources, "events": events, "cost_usd": cost,
             "unpriced_events": unpriced, "total_tokens": tokens or 0, "hint": link_hint(pid, settings, sources)}
            for pid, sources, events, cost, unpriced, tokens in rows]


# --------------------------------------------------------- local time, fast
#
# Converting a million timestamps with ICU (`timezone(tz, occurred_at)`) is
# most of a report's time. A zone's UTC offset changes a few times a year, so
# the offset of every event is one CASE over the zone's transitions within
# the stored range (from Python's zoneinfo); local days are then integer
# arithmetic. Zones Python does not know fall back to ICU.

US_PER_DAY = 86_400_000_000
HOUR_US = 3_600_000_000


def _offset_us(zone_info: Any, us: int) -> int:
    moment = datetime.fromtimestamp(us / 1e6, UTC).astimezone(zone_info)
    return round(moment.utcoffset().total_seconds() * 1_000_000)


def _transitions(tz: str, first_us: int, last_us: int) -> list[tuple[int, int]] | None:
    """[(from_us, offset_us), ...] covering first_us..last_us, or None for a zone zoneinfo lacks."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone_info = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    step = US_PER_DAY // 4  # no zone changes its offset twice within six hours
    t = first_us - US_PER_DAY
    current = _offset_us(zone_info, t)
    out = [(t, current)]
    end = last_us + US_PER_DAY
    while t < end:
        nxt = t + step
        offset = _offset_us(zone_info, nxt)
        if offset != current:
            lo, hi = t // 1_000_000, nxt // 1_000_000  # the change happens on a whole second in (lo, hi]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_us(zone_info, mid * 1_000_000) == current:
                    lo = mid
                else:
                    hi = mid
            out.append((hi * 1_000_000, offset))
            current = offset
        t = nxt
    return out


def local_us_sql(con: duckdb.DuckDBPyConnection, tz: str) -> str:
    """SQL for `occurred_at` as microseconds since 1970-01-01 on the zone's wall clock."""
    first, last = con.execute("SELECT epoch_us(min(occurred_at)), epoch_us(max(occurred_at)) "
                              "FROM usage_events").fetchall()[0]
    spans = _transitions(tz, first, last) if first is not None else [(0, 0)]
    if spans is None:
        quoted = tz.replace("'", "''")
        return f"epoch_us(timezone('{quoted}', occurred_at))"
    if len(spans) == 1:
        return f"(epoch_us(occurred_at) + {spans[0][1]})"
    cases = " ".join(f"WHEN epoch_us(occurred_at) < {start} THEN {prev}"
                     for (_, prev), (start, _) in zip(spans, spans[1:]))
    return f"(epoch_us(occurred_at) + CASE {cases} ELSE {spans[-1][1]} END)"


def _wall(us_sql: str, fmt: str) -> str:
    return f"strftime(make_timestamp({us_sql}), '{fmt}')"


def _events_cte(con: duckdb.DuckDBPyConnection, tz: str, f: Filters, event_type: str = "message",
                local: bool = False) -> tuple[str, list]:
    where, params = _where(f, tz)
    local_sql = f", {local_us_sql(con, tz)} AS local_us" if local else ""
    return (f"""WITH e AS (
            SELECT *{local_sql} FROM usage_events_resolved
            WHERE event_type = '{event_type}' AND billing_provider_id IS NOT NULL{where})""", params)


class ModelSet:
    """The models of a group as a bit mask: `bit_or` over a CASE is about twice
    as fast as `list(DISTINCT model)` on a million rows. Falls back to the
    list when there are more models than bits."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.names = [m for (m,) in con.execute(
            "SELECT DISTINCT model FROM usage_events WHERE model IS NOT NULL ORDER BY 1").fetchall()]
        self.masked = len(self.names) <= 62

    def sql(self) -> str:
        if not self.masked:
            return "list(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL) AS models"
        quoted = " ".join(f"WHEN '{m.replace(chr(39), chr(39) * 2)}' THEN {1 << i}" for i, m in enumerate(self.names))
        return f"bit_or(CASE model {quoted} ELSE 0 END) AS models"

    def decode(self, rows: list[dict]) -> None:
        if self.masked:
            lists: dict[int, list[str]] = {}  # few distinct sets among thousands of rows
            for row in rows:
                mask = row["models"] or 0
                if mask not in lists:
                    lists[mask] = [m for i, m in enumerate(self.names) if mask >> i & 1]
                row["models"] = list(lists[mask])


def _totals(rows: list[dict], names: tuple[str, ...]) -> dict:
    totals = {m: sum((r.get(m) or 0) for r in rows) for m in names}
    if "cost_usd" in totals and rows and all(r["cost_usd"] is None for r in rows):
        totals["cost_usd"] = None
    return totals


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> tuple[list[str], list[dict]]:
    cursor = con.execute(sql, params)
    columns = [d[0] for d in cursor.description]
    return columns, [dict(zip(columns, row)) for row in cursor.fetchall()]


RESUM = ", ".join(f"sum({m})::BIGINT AS {m}" if m != "cost_usd" else "sum(cost_usd) AS cost_usd"
                  for m in MEASURE_NAMES)
# Periods: (column, SQL for the period's key from the local day number `d`)
PERIODS = {
    "daily": ("date", _wall(f"d * {US_PER_DAY}", "%Y-%m-%d")),
    # 1970-01-01 was a Thursday: (d + 3) % 7 is the days since Monday.
    "weekly": ("week", _wall(f"(d - (d + 3) % 7) * {US_PER_DAY}", "%Y-%m-%d")),
    "monthly": ("month", _wall(f"d * {US_PER_DAY}", "%Y-%m")),
}


def _periods(con: duckdb.DuckDBPyConnection, name: str, tz: str, f: Filters, breakdown: bool) -> Report:
    """Per day, then per period: the events are read once, by local day and model."""
    column, period_sql = PERIODS[name]
    cte, params = _events_cte(con, tz, f, local=True)
    by_day = f"""{cte}, d AS (
        SELECT local_us // {US_PER_DAY} AS d, model, {MEASURES} FROM e GROUP BY ALL),
        p AS (SELECT {period_sql} AS {column}, * EXCLUDE (d) FROM d)"""
    columns, rows = _fetch(con, f"""{by_day}
        SELECT {column}, {MODELS_LIST}, {RESUM} FROM p GROUP BY 1 ORDER BY 1""", params)
    if breakdown and rows:
        _, subs = _fetch(con, f"""{by_day}
            SELECT {column} AS k, model, {RESUM} FROM p GROUP BY ALL ORDER BY k, cost_usd DESC NULLS LAST, model""",
                         params)
        _attach(rows, subs, lambda r: r[column])
    return Report(name, tz, columns, rows, _totals(rows, MEASURE_NAMES), f, breakdown=breakdown)


def _attach(rows: list[dict], subs: list[dict], row_key) -> None:
    by_key: dict[Any, list[dict]] = {}
    for sub in subs:
        by_key.setdefault(sub.pop("k"), []).append(sub)
    for row in rows:
        row["breakdown"] = by_key.get(row_key(row), [])


# name -> (leading columns, GROUP BY, ORDER BY, breakdown key SQL, breakdown key of a row)
GROUPED = {
    "session": (
        "session_id, any_value(source_system) AS source, arg_min(project, occurred_at) AS project, "
        f"{_wall('min(local_us)', '%Y-%m-%d %H:%M')} AS first_seen, "
        f"{_wall('max(local_us)', '%Y-%m-%d %H:%M')} AS last_seen",
        "session_id", "max(local_us), session_id", "session_id", lambda r: r["session_id"]),
    "models": ("model, any_value(provider_id ORDER BY provider_id) AS provider_id", "model",
               "cost_usd DESC NULLS LAST, model", None, None),
    "projects": ("project, count(DISTINCT session_id)::BIGINT AS sessions", "project",
                 "cost_usd DESC NULLS LAST, project", "project", lambda r: r["project"]),
    "providers": ("billing_provider_id AS provider, list(DISTINCT telemetry_provider_id "
                  "ORDER BY telemetry_provider_id) AS telemetry_ids", "billing_provider_id",
                  "cost_usd DESC NULLS LAST, provider", "billing_provider_id", lambda r: r["provider"]),
    "accounts": ("billing_provider_id AS provider, coalesce(e.account_id, p.account_id) AS account",
                 "1, 2", "cost_usd DESC NULLS LAST, provider, account",
                 "billing_provider_id || '/' || coalesce(e.account_id, p.account_id, '')",
                 lambda r: f"{r['provider']}/{r['account'] or ''}"),
}
# Rows of these reports list the models they used.
WITH_MODELS = ("session", "projects", "providers", "accounts")


def _grouped(con: duckdb.DuckDBPyConnection, name: str, tz: str, f: Filters, breakdown: bool) -> Report:
    lead, group_by, order_by, key_sql, row_key = GROUPED[name]
    cte, params = _events_cte(con, tz, f, local=name == "session")
    model_set = ModelSet(con) if name in WITH_MODELS else None
    models = f", {model_set.sql()}" if model_set else ""
    join = " LEFT JOIN configured_providers AS p ON p.provider_id = e.billing_provider_id" \
        if name == "accounts" else ""
    sql = f"{cte} SELECT {lead}{models}, {MEASURES} FROM e{join} GROUP BY {group_by} ORDER BY {order_by}"
    columns, rows = _fetch(con, sql, params)
    if model_set:
        model_set.decode(rows)
    if breakdown and rows and key_sql:
        _, subs = _fetch(con, f"{cte} SELECT {key_sql} AS k, model, {MEASURES} FROM e{join} GROUP BY ALL "
                              "ORDER BY k, cost_usd DESC NULLS LAST, model", params)
        _attach(rows, subs, row_key)
    return Report(name, tz, columns, rows, _totals(rows, MEASURE_NAMES), f, breakdown=breakdown)


def _tools(con: duckdb.DuckDBPyConnection, tz: str, f: Filters) -> Report:
    cte, params = _events_cte(con, tz, f, "tool_call")
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

    SQL sums the events into `hour_end` buckets (an event's UTC time rounded
    up to the hour: it is within 5 h of a block start B exactly when its
    bucket is <= B + 5 h) and marks the gaps of more than 5 h between
    consecutive events, which can only fall between buckets; Python then
    walks the buckets, at most one per hour of activity.
    """
    cte, params = _events_cte(con, tz, f)
    model_set = ModelSet(con)
    span_us = BLOCK_HOURS * HOUR_US
    # Sums of NULLs are NULL: zeros here, and a block's cost is NULL when none of it is priced.
    measures = ", ".join(f"coalesce({m}, 0) AS {m}" for m in MEASURE_NAMES)
    sql = f"""{cte},
        b AS (SELECT billing_provider_id AS provider, (epoch_us(occurred_at) + {HOUR_US - 1}) // {HOUR_US} AS hour_end,
                     min(epoch_us(occurred_at)) AS first_us, max(epoch_us(occurred_at)) AS last_us,
                     {model_set.sql()}, count(cost_usd) AS priced, {MEASURES}
              FROM e GROUP BY 1, 2)
        SELECT provider, hour_end, first_us, last_us,
               coalesce(first_us - lag(last_us) OVER w > {span_us}, false) AS gap, models, priced, {measures}
        FROM b WINDOW w AS (PARTITION BY provider ORDER BY hour_end) ORDER BY provider, hour_end"""
    buckets = con.execute(sql, params).fetchall()
    if not buckets:
        columns = ["block_start", "block_end", "status", "provider", "models", *MEASURE_NAMES]
        return Report("blocks", tz, columns, [], _totals([], MEASURE_NAMES), f)
    provider, hour_end, first_us, last_us, gap, models, priced, *measures = zip(*buckets)

    # Where each block starts in the ordered buckets: the walk touches integers only,
    # the sums are then taken over each block's slice of the columns.
    starts: list[int] = []
    current, end_hour = None, 0
    for i, (p, h, g) in enumerate(zip(provider, hour_end, gap)):
        if p != current or g or h > end_hour:
            starts.append(i)
            current, end_hour = p, first_us[i] // HOUR_US + BLOCK_HOURS
    bounds = zip(starts, starts[1:] + [len(buckets)])

    local = _local_formatter(tz, min(first_us), max(last_us) + span_us)
    now_us = round((now - EPOCH).total_seconds() * 1_000_000)
    rows = []
    for a, b in bounds:
        block = {name: sum(column[a:b]) for name, column in zip(MEASURE_NAMES, measures)}
        if not sum(priced[a:b]):
            block["cost_usd"] = None
        if model_set.masked:
            mask = 0
            for m in models[a:b]:
                mask |= m or 0
            block_models = mask
        else:
            block_models = sorted({m for ms in models[a:b] for m in ms or ()})
        rows.append(_block_row(provider[a], first_us[a], last_us[b - 1], block_models, block, now_us, local))
    if model_set.masked:
        model_set.decode(rows)
    rows.sort(key=lambda r: (r["start_utc"], r["provider"]))
    columns = ["block_start", "block_end", "status", "provider", "models", *MEASURE_NAMES]
    return Report("blocks", tz, columns, rows, _totals(rows, MEASURE_NAMES), f)


def _block_row(provider: str, first_us: int, last_us: int, models: Any, measures: dict, now_us: int,
               local: Any) -> dict:
    span_us = BLOCK_HOURS * HOUR_US
    start_us = first_us - first_us % HOUR_US
    end_us = start_us + span_us
    active = now_us < end_us and now_us - last_us < span_us
    minutes = (last_us - first_us) / 60e6
    burn = None
    if minutes > 0:
        burn = {"tokens_per_minute": measures["total_tokens"] / minutes,
                "cost_per_hour": (measures["cost_usd"] or 0) / minutes * 60}
    projection = None
    if active and burn:
        remaining = max(0.0, (end_us - now_us) / 60e6)
        projection = {"total_tokens": round(measures["total_tokens"] + burn["tokens_per_minute"] * remaining),
                      "cost_usd": (measures["cost_usd"] or 0) + burn["cost_per_hour"] / 60 * remaining,
                      "remaining_minutes": round(remaining)}
    return {"block_start": local(start_us), "block_end": local(end_us), "last_event": local(last_us),
            "provider": provider, "status": "active" if active else "ended", "models": models, **measures,
            "start_utc": local(start_us, utc=True), "end_utc": local(end_us, utc=True),
            "burn_rate": burn, "projection": projection}


def _local_formatter(tz: str, first_us: int, last_us: int) -> Any:
    """`us -> 'YYYY-MM-DD HH:MM'` on the zone's wall clock. Thousands of blocks
    are formatted per report: offsets come from the zone's transitions over the
    range and dates from a cache, instead of a datetime conversion each."""
    from bisect import bisect_right

    spans = _transitions(tz, first_us, last_us) or [(first_us - US_PER_DAY, 0)]
    starts = [start for start, _ in spans]
    offsets = [offset for _, offset in spans]
    days: dict[int, str] = {}

    def local(us: int, utc: bool = False) -> str:
        wall = us if utc else us + offsets[max(0, bisect_right(starts, us) - 1)]
        day, minute = divmod(wall // 60_000_000, 1440)
        if day not in days:
            days[day] = _utc(day * US_PER_DAY).strftime("%Y-%m-%d")
        if utc:
            return f"{days[day]}T{minute // 60:02d}:{minute % 60:02d}:00Z"
        return f"{days[day]} {minute // 60:02d}:{minute % 60:02d}"

    return local


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)
