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
  seen through a hook or a transcript (store.py `_event_conflict_sql`). A
  Codex response, which OTLP reports without an id its rollout shares, is
  paired there with its rollout's row (pairing.py); a GenAI call reported both
  as a log record and as a span is paired here (`_GENAI_PAIRS_SQL`).

A spool file from the receiver is a segment of requests (header `framed`,
frames back to back; see rust/server/spool.rs), split into its requests in
Rust; files of earlier versions hold one request, or several (header `parts`,
bodies back to back).
"""

from __future__ import annotations

from pathlib import Path

from usagecore import _core, drain

Part = tuple[str, str, bytes, "str | None", int]


def split(header: dict, body: bytes) -> list[Part]:
    """The requests of one spool file: `(path, content_type, body, account_id, received_at_ns)`.

    A segment (`framed`) is split in Rust; it ends with a torn frame when its
    writer was killed while appending: that frame was never acknowledged, so
    it is left out (the drain, which passes segments to `_core.otlp_convert`
    whole, says so)."""
    if header.get("framed"):
        return _core.otlp_frames(body)[0]
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


# One row per point id: the first of duplicates within a batch.
_UNIQUE = "SELECT * FROM {table} QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {key}) = 1"

_POINTS_SQL = """
CREATE OR REPLACE TEMP TABLE otlp_new_points AS
WITH fresh AS (
    SELECT * FROM (""" + _UNIQUE.format(table="arrow_points", key="point_id") + """)
    -- A point's id includes its time: only stored points of the batch's time
    -- range can be the same, and the zone maps skip the rest of the table.
    WHERE point_id NOT IN (SELECT point_id FROM otel_metric_points WHERE time_unix_nano BETWEEN $1 AND $2)
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


# One GenAI call reported both as a log record and as a span (as the
# OpenTelemetry GenAI samples and instrumentations do) is one message. A log
# record that names its span (trace and span id) belongs to that span; one
# that names none belongs to the span of the same process (resource), model
# and token counts (GenAI input: ours plus the cached parts) within a minute,
# the closest one, each span taking one log record. The span's row stays
# (its attributes carry the cached part and the response id), gaps filled
# from the log's (e.g. the reported cost); the log's row goes. Only pairs
# with an event of this batch are looked for, in whichever order they came;
# Claude Code has ids of its own that tie its sightings, and a Codex response
# pairs with its rollout's row (pairing.py).
_GENAI_CANDIDATES_SQL = """
SELECT min(occurred_at) - INTERVAL 60 SECOND, max(occurred_at) + INTERVAL 60 SECOND FROM otlp_batch_events
WHERE event_type = 'message' AND source_system NOT IN ('claude_code', 'codex')
"""

_GENAI_PAIRS_SQL = """
CREATE OR REPLACE TEMP TABLE otlp_genai_pairs AS
SELECT * FROM (
    SELECT le.event_id AS log_event, se.event_id AS span_event,
           abs(epoch_us(le.occurred_at) - epoch_us(se.occurred_at)) AS apart
    FROM usage_events AS le
    JOIN otel_events AS o ON o.event_id = le.raw_event_id
    JOIN usage_events AS se
      ON se.event_type = 'message' AND se.source_channel = 'otlp' AND se.source_system = le.source_system
     AND se.event_id <> le.event_id
     AND se.occurred_at BETWEEN le.occurred_at - INTERVAL 60 SECOND AND le.occurred_at + INTERVAL 60 SECOND
    JOIN otel_spans AS s ON s.span_key = se.raw_event_id
    WHERE le.event_type = 'message' AND le.source_channel = 'otlp'
      AND le.occurred_at BETWEEN $1 AND $2 AND se.occurred_at BETWEEN $1 AND $2
      AND le.source_system NOT IN ('claude_code', 'codex')
      AND (le.event_id IN (SELECT event_id FROM otlp_batch_events)
           OR se.event_id IN (SELECT event_id FROM otlp_batch_events))
      AND CASE WHEN o.span_id IS NOT NULL THEN o.trace_id = s.trace_id AND o.span_id = s.span_id
               ELSE o.resource = s.resource AND le.model IS NOT DISTINCT FROM se.model
                    AND le.output_tokens = se.output_tokens
                    AND le.input_tokens + le.cache_read_tokens + le.cache_write_tokens
                        = se.input_tokens + se.cache_read_tokens + se.cache_write_tokens END
    QUALIFY row_number() OVER (PARTITION BY le.event_id ORDER BY apart, se.event_id) = 1
)
QUALIFY row_number() OVER (PARTITION BY span_event ORDER BY apart, log_event) = 1
"""

_GENAI_MERGE_SQL = """
UPDATE usage_events AS se SET
    cost_usd = CASE WHEN le.cost_source = 'reported' AND (se.cost_source <> 'reported' OR le.cost_usd > se.cost_usd)
                    THEN le.cost_usd ELSE se.cost_usd END,
    cost_source = CASE WHEN 'reported' IN (se.cost_source, le.cost_source) THEN 'reported' ELSE se.cost_source END,
    occurred_at = least(se.occurred_at, le.occurred_at),
""" + ",\n".join(f"    {c} = coalesce(se.{c}, le.{c})" for c in (
    "provider_id", "account_id", "model_raw", "model", "session_id", "turn_id", "message_id", "request_id",
    "agent_id", "user_id", "client_version")) + """
FROM otlp_genai_pairs AS p JOIN usage_events AS le ON le.event_id = p.log_event
WHERE se.event_id = p.span_event
"""


def _merge_genai_pairs(con, events) -> None:
    con.register("otlp_batch_events", events)
    try:
        [(since, until)] = con.execute(_GENAI_CANDIDATES_SQL).fetchall()
        if since is None:
            return
        con.execute(_GENAI_PAIRS_SQL, [since, until])
    finally:
        con.unregister("otlp_batch_events")
    if con.execute("SELECT count(*) FROM otlp_genai_pairs").fetchall()[0][0]:
        con.execute(_GENAI_MERGE_SQL)
        con.execute("DELETE FROM usage_events WHERE event_id IN (SELECT log_event FROM otlp_genai_pairs)")
    con.execute("DROP TABLE otlp_genai_pairs")


# A log event's id includes its record's times: a stored duplicate has the
# same ones, so only the stored events of the batch's time ranges are looked
# at (zone maps skip the rest; the table has no index, migration 9).
_OTEL_EVENTS_SQL = """
INSERT INTO otel_events BY NAME
SELECT * FROM (""" + _UNIQUE.format(table="arrow_otel_events", key="event_id") + """)
WHERE event_id NOT IN (
    SELECT event_id FROM otel_events
    WHERE time_unix_nano BETWEEN $1 AND $2 AND observed_time_unix_nano BETWEEN $3 AND $4)
"""


def _insert_otel_events(con, events) -> None:
    con.register("arrow_otel_events", events)
    try:
        [bounds] = con.execute("SELECT min(time_unix_nano), max(time_unix_nano), min(observed_time_unix_nano), "
                               "max(observed_time_unix_nano) FROM arrow_otel_events").fetchall()
        if bounds[0] is not None:
            con.execute(_OTEL_EVENTS_SQL, list(bounds))
    finally:
        con.unregister("arrow_otel_events")


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
        [(first, last)] = con.execute("SELECT min(time_unix_nano), max(time_unix_nano) FROM arrow_points").fetchall()
        con.execute(_POINTS_SQL, [first or 0, last or 0])
    finally:
        con.unregister("arrow_points")
    con.execute(_SERIES_SQL)
    con.execute("INSERT INTO otel_metric_points BY NAME SELECT * EXCLUDE (is_cumulative) FROM otlp_new_points")
    con.execute("DROP TABLE otlp_new_points")
    _insert_otel_events(con, converted["otel_events"])
    _insert_unique(con, converted["spans"], "arrow_spans", "otel_spans", "span_key")
    writer.add_raws(converted["raws"])
    writer.add_events(converted["events"])
    _merge_genai_pairs(con, converted["events"])


def handle(ctx: drain.Context, entries: list[drain.Entry]) -> list[tuple[Path, str]]:
    rejected: list[tuple[Path, str]] = []
    parts: list[Part] = []
    owners: list[Path] = []
    segments: list[bytes] = []
    segment_owners: list[Path] = []
    for path, header, body in entries:
        if header.get("framed"):
            # Split into its requests in Rust (rust/server/spool.rs `read_frames`).
            segments.append(body)
            segment_owners.append(path)
            continue
        try:
            mine = split(header, body)
        except (ValueError, KeyError, TypeError) as err:
            rejected.append((path, f"OTLP spool file: {err}"))
            continue
        parts += mine
        owners += [path] * len(mine)
    converted = _core.otlp_convert(parts, keep_content=ctx.keep_content, segments=segments)
    store(ctx.writer, converted)
    for index, torn in converted["torn"]:
        path = segment_owners[index]
        ctx.problems.append({"path": str(path), "offset": len(segments[index]) - torn,
                             "message": f"torn last frame ({torn} bytes, never acknowledged) left out"})
    reasons: dict[Path, list[str]] = {}
    for index, message in converted["failed"]:
        reasons.setdefault(owners[index], []).append(f"part {index}: {message}")
    for index, frame, message in converted["segment_failed"]:
        reasons.setdefault(segment_owners[index], []).append(f"part {frame}: {message}")
    rejected += [(path, "; ".join(messages)) for path, messages in reasons.items()]
    return rejected


drain.register("otlp", "otlp", handle)
