"""Exports of the canonical usage events a report counts (configured or
linked providers, same filters), for spreadsheets and other tools.

Parquet goes into `DIR/day=YYYY-MM-DD/` folders (days in the export's time
zone). A re-run replaces the folders of the days it writes, each by one
rename, and leaves other days alone: exporting twice never duplicates.
CSV goes to one file, replaced atomically.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import duckdb

from usagecore.reports import Filters, _where, zone

COLUMNS = """strftime(timezone(?, occurred_at), '%Y-%m-%d') AS day, event_id, occurred_at, source_system,
    source_channel, billing_provider_id, telemetry_provider_id, provider_id AS upstream_provider_id, account_id,
    model, model_raw, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens,
    cache_write_1h_tokens, total_tokens, cost_usd, cost_source, requests, session_id, project, agent_id,
    is_sidechain, client_version, git_branch"""


def _query(con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[str, list]:
    tz = zone(con, f.tz)
    where, params = _where(f, tz)
    sql = (f"SELECT {COLUMNS} FROM usage_events_resolved "
           f"WHERE event_type = 'message' AND billing_provider_id IS NOT NULL{where} ORDER BY occurred_at, event_id")
    return sql, [tz, *params]


def _inline(sql: str, params: list) -> str:
    """COPY takes no parameters: the query with its (string) parameters as literals."""
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        raise ValueError("parameter count mismatch")
    out = [parts[0]]
    for value, rest in zip(params, parts[1:]):
        out.append("'" + str(value).replace("'", "''") + "'" + rest)
    return "".join(out)


def to_csv(con: duckdb.DuckDBPyConnection, path: Path, f: Filters) -> int:
    sql, params = _query(con, f)
    rows = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    quoted = str(tmp).replace("'", "''")
    try:
        con.execute(f"COPY ({_inline(sql, params)}) TO '{quoted}' (FORMAT csv, HEADER)")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def to_parquet(con: duckdb.DuckDBPyConnection, folder: Path, f: Filters) -> tuple[int, list[str]]:
    """Write the events; returns (rows, days written)."""
    sql, params = _query(con, f)
    rows = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0]
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".export-{uuid.uuid4().hex[:8]}"
    quoted = str(staging).replace("'", "''")
    try:
        if rows:
            con.execute(f"COPY ({_inline(sql, params)}) TO '{quoted}' "
                        "(FORMAT parquet, PARTITION_BY (day), FILENAME_PATTERN 'events_{i}')")
        days = sorted(p.name for p in staging.iterdir()) if staging.exists() else []
        for day in days:
            target = folder / day
            old = folder / f".old-{day}-{uuid.uuid4().hex[:8]}"
            if target.exists():
                target.rename(old)
            (staging / day).rename(target)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows, [d.removeprefix("day=") for d in days]
