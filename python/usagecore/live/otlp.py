"""OTLP requests from the spool (written by the receiver of `usagecore serve`,
rust/server/spool.rs) into the store.

Rust decodes and converts (`_core.otlp_convert`): metric points, log events,
the spans that carry usage or tool calls, and the canonical events and raw
records they imply. Here they go in with their merge rules:

* metric points: a point already stored (same stable id) is not stored again;
  each point gets `delta_value`/`delta_count`, what it adds to its series.
  Delta series add their values. Cumulative series (and summaries) subtract
  the previous point of the same series, kept in `otel_metric_series` across
  drains; a point whose start time changed or whose value fell is a reset and
  counts whole; a point older than the last one seen adds nothing (the later
  running total already holds it). Gauges have no delta.
* log events and spans: stored once by their stable ids.
* canonical events: through `Writer.add_events`, merged with the same call
  seen through a hook or a transcript (store.py `_event_conflict_sql`).

A spool file from the receiver is a segment of requests (header `framed`,
frames back to back; see rust/server/spool.rs); files of earlier versions hold
one request, or several (header `parts`, bodies back to back).
"""

from __future__ import annotations

import json
from pathlib import Path

from usagecore import _core, drain

Part = tuple[str, str, bytes, "str | None", int]


def split(header: dict, body: bytes) -> list[Part]:
    """The requests of one spool file: `(path, content_type, body, account_id, received_at_ns)`.

    A segment (`framed`) ends with a torn frame when its writer was killed
    while appending: that frame was never acknowledged, so it is left out
    (`torn_tail` says how many bytes)."""
    if header.get("framed"):
        return frames(body)[0]
    parts = header.get("parts")
    if parts is None:
        return [(str(header.get("path") or ""), str(header.get("content_type") or ""), body,
                 header.get("account_id"), int(header.get("received_at_ns") or 0))]
    out, offset = [], 0
    for part in parts:
        length = int(part["length"])
        if offset + length > len(body):
            raise ValueError(f"spool file ends inside part {len(out) + 1} of {len(parts)}")
        out.append((str(part.get("path") or ""), str(part.get("content_type") or ""), body[offset:offset + length],
                    part.get("account_id"), int(part.get("received_at_ns") or 0)))
        offset += length
    return out


def frames(body: bytes) -> tuple[list[Part], int]:
    """The frames of a segment (rust/server/spool.rs) and the length of a torn
    last frame (0 when there is none)."""
    out, offset = [], 0
    view = memoryview(body)
    while offset < len(body):
        end = body.find(b"\n", offset)
        try:
            frame = json.loads(body[offset:end]) if end >= 0 else None
            length = int(frame["length"]) if isinstance(frame, dict) else -1
        except (ValueError, KeyError, TypeError):
            length = -1
        if length < 0 or end + 1 + length > len(body):
            return out, len(body) - offset
        start = end + 1
        out.append((str(frame.get("path") or ""), str(frame.get("content_type") or ""),
                    bytes(view[start:start + length]), frame.get("account_id"),
                    int(frame.get("received_at_ns") or 0)))
        offset = start + length
    return out, 0


# One row per point id: the first of duplicates within a batch.
_UNIQUE = "SELECT * FROM {table} QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {key}) = 1"

_POINTS_SQL = """
CREATE OR REPLACE TEMP TABLE otlp_new_points AS
WITH fresh AS (
    SELECT * FROM (""" + _UNIQUE.format(table="arrow_points", key="point_id") + """)
    WHERE point_id NOT IN (SELECT point_id FROM otel_metric_points)
),
ordered AS (
    SELECT f.*,
           (f.temporality = 'cumulative' OR f.kind = 'summary') AS cumulative,
           row_number() OVER w AS rank_in_batch,
           lag(f.value) OVER w AS batch_prev_value,
           lag(f.count) OVER w AS batch_prev_count,
           lag(f.start_time_unix_nano) OVER w AS batch_prev_start
    FROM fresh AS f
    WINDOW w AS (PARTITION BY f.series_id ORDER BY f.time_unix_nano, f.point_id)
),
previous AS (
    SELECT o.*,
           CASE WHEN o.rank_in_batch = 1 THEN s.value ELSE o.batch_prev_value END AS prev_value,
           CASE WHEN o.rank_in_batch = 1 THEN s.count ELSE o.batch_prev_count END AS prev_count,
           CASE WHEN o.rank_in_batch = 1 THEN s.start_time_unix_nano ELSE o.batch_prev_start END AS prev_start,
           CASE WHEN o.rank_in_batch = 1 THEN s.time_unix_nano END AS stored_time
    FROM ordered AS o LEFT JOIN otel_metric_series AS s ON s.series_id = o.series_id
)
SELECT * EXCLUDE (cumulative, rank_in_batch, batch_prev_value, batch_prev_count, batch_prev_start,
                  prev_value, prev_count, prev_start, stored_time),
    CASE
        WHEN kind = 'gauge' THEN NULL
        WHEN NOT cumulative THEN value
        WHEN prev_value IS NULL OR prev_start IS DISTINCT FROM start_time_unix_nano THEN value
        WHEN stored_time IS NOT NULL AND time_unix_nano <= stored_time THEN 0
        WHEN value < prev_value THEN value
        ELSE value - prev_value
    END AS delta_value,
    CASE
        WHEN kind = 'gauge' OR count IS NULL THEN NULL
        WHEN NOT cumulative THEN count
        WHEN prev_value IS NULL OR prev_start IS DISTINCT FROM start_time_unix_nano THEN count
        WHEN stored_time IS NOT NULL AND time_unix_nano <= stored_time THEN 0
        WHEN value < prev_value OR count < prev_count THEN count
        ELSE count - coalesce(prev_count, 0)
    END AS delta_count,
    cumulative AS is_cumulative
FROM previous
"""

_SERIES_SQL = """
INSERT OR REPLACE INTO otel_metric_series
SELECT n.series_id, n.start_time_unix_nano, n.time_unix_nano, n.value, n.count
FROM otlp_new_points AS n LEFT JOIN otel_metric_series AS s ON s.series_id = n.series_id
WHERE n.is_cumulative AND (s.time_unix_nano IS NULL OR n.time_unix_nano > s.time_unix_nano)
QUALIFY row_number() OVER (PARTITION BY n.series_id ORDER BY n.time_unix_nano DESC, n.point_id DESC) = 1
"""


def _insert_unique(con, arrow_table, name: str, table: str, key: str) -> None:
    con.register(name, arrow_table)
    try:
        con.execute(f"INSERT INTO {table} BY NAME " + _UNIQUE.format(table=name, key=key)
                    + " ON CONFLICT DO NOTHING")
    finally:
        con.unregister(name)


def store(writer, converted: dict) -> None:
    """Write what `_core.otlp_convert` returned, inside the writer's transaction."""
    con = writer.con
    con.register("arrow_points", converted["points"])
    try:
        con.execute(_POINTS_SQL)
    finally:
        con.unregister("arrow_points")
    con.execute(_SERIES_SQL)
    con.execute("INSERT INTO otel_metric_points BY NAME SELECT * EXCLUDE (is_cumulative) FROM otlp_new_points")
    con.execute("DROP TABLE otlp_new_points")
    _insert_unique(con, converted["otel_events"], "arrow_otel_events", "otel_events", "event_id")
    _insert_unique(con, converted["spans"], "arrow_spans", "otel_spans", "span_key")
    writer.add_raws(converted["raws"])
    writer.add_events(converted["events"])


def handle(ctx: drain.Context, entries: list[drain.Entry]) -> list[tuple[Path, str]]:
    rejected: list[tuple[Path, str]] = []
    parts: list[Part] = []
    owners: list[Path] = []
    for path, header, body in entries:
        try:
            if header.get("framed"):
                mine, torn = frames(body)
                if torn:
                    ctx.problems.append({"path": str(path), "offset": len(body) - torn,
                                         "message": f"torn last frame ({torn} bytes, never acknowledged) left out"})
            else:
                mine = split(header, body)
        except (ValueError, KeyError, TypeError) as err:
            rejected.append((path, f"OTLP spool file: {err}"))
            continue
        parts += mine
        owners += [path] * len(mine)
    converted = _core.otlp_convert(parts, keep_content=ctx.keep_content)
    store(ctx.writer, converted)
    reasons: dict[Path, list[str]] = {}
    for index, message in converted["failed"]:
        reasons.setdefault(owners[index], []).append(f"part {index}: {message}")
    rejected += [(path, "; ".join(messages)) for path, messages in reasons.items()]
    return rejected


drain.register("otlp", "otlp", handle)
