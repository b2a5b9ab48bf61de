"""`usagecore status`: one snapshot of what usagecore has and does.

Per source and channel, events and last arrival; the store's path and size;
spool and quarantine; installed integrations; whether the receiver runs;
telemetry provider ids that are neither configured nor linked, with the
exact way to link each. Fast (no price data is loaded), and it never waits
long for a store another process is writing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from usagecore import config

STORE_WAIT_S = 0.5


def receiver() -> dict[str, Any]:
    """Whether `usagecore serve` runs: its `serve.json` names a live pid."""
    path = config.state_dir() / "serve.json"
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        return {"running": False, "state_file": str(path)}
    except (OSError, ValueError) as err:
        return {"running": False, "state_file": str(path), "error": f"unreadable: {err}"}
    pid = info.get("pid") if isinstance(info, dict) else None
    running = False
    if isinstance(pid, int) and pid > 0:
        try:
            os.kill(pid, 0)
            running = True
        except ProcessLookupError:
            running = False
        except PermissionError:  # alive, owned by someone else
            running = True
    return {**(info if isinstance(info, dict) else {}), "running": running, "state_file": str(path)}


# What status needs from the store, kept beside it in `<store>.status.json`
# by every process that wrote the store (Store.close), so that status does
# not have to load DuckDB (a third of a second): the file is trusted only
# while the store's size and mtime are what they were when it was written.
SOURCES_SQL = """
    SELECT e.source_system, e.source_channel, e.events, e.last_event_at, r.last_arrival
    FROM (SELECT source_system, source_channel, count(*) AS events, max(occurred_at) AS last_event_at
          FROM usage_events GROUP BY ALL) AS e
    LEFT JOIN (SELECT source_system, source_channel, max(received_at) AS last_arrival
               FROM usage_raw_events GROUP BY ALL) AS r USING (source_system, source_channel)
    ORDER BY 1, 2"""


def _telemetry_sql() -> str:
    from usagecore.migrations import TELEMETRY_PROVIDER_SQL

    return f"""
    SELECT {TELEMETRY_PROVIDER_SQL} AS telemetry_provider_id, list(DISTINCT source_system ORDER BY source_system),
           count(*), sum(cost_usd), count(*) FILTER (WHERE cost_usd IS NULL), sum(total_tokens)::BIGINT
    FROM usage_events WHERE event_type = 'message' GROUP BY 1 ORDER BY 1"""


def summary_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".status.json")


def _stamp(db_path: Path) -> list:
    wal = db_path.with_name(db_path.name + ".wal")
    st = db_path.stat()
    return [st.st_size, st.st_mtime_ns, wal.stat().st_size if wal.exists() else None]


def summarize(con: Any) -> dict[str, Any]:
    """The store's figures status shows (one scan of usage_events)."""
    sources = con.execute(SOURCES_SQL).fetchall()
    telemetry = con.execute(_telemetry_sql()).fetchall()
    return {
        "sources": [{"source": s, "channel": c, "events": n,
                     "last_event_at": last and last.isoformat(), "last_arrival": arrival and arrival.isoformat()}
                    for s, c, n, last, arrival in sources],
        "telemetry": [{"provider_id": pid, "sources": srcs, "events": n, "cost_usd": cost,
                       "unpriced_events": unpriced, "total_tokens": tokens or 0}
                      for pid, srcs, n, cost, unpriced, tokens in telemetry],
    }


def save_summary(db_path: Path, summary: dict[str, Any]) -> None:
    """Write the figures of a store that was just closed (best effort)."""
    path = summary_path(db_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({**summary, "stamp": _stamp(db_path)}))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _cached(db_path: Path) -> tuple[dict[str, Any] | None, bool]:
    """The kept figures and whether they are current."""
    try:
        cached = json.loads(summary_path(db_path).read_text())
        return cached, cached.get("stamp") == _stamp(db_path)
    except (OSError, ValueError, AttributeError):
        return None, False


def _store_figures(db_path: Path) -> dict[str, Any]:
    cached, current = _cached(db_path)
    if cached is not None and current:
        return cached
    import duckdb

    from usagecore import locks
    from usagecore.store import Store

    try:
        with locks.store_lock(db_path, exclusive=False, timeout=STORE_WAIT_S, quiet=True):
            with Store.for_reading(db_path) as store:
                figures = summarize(store.con)
            save_summary(db_path, figures)
            return figures
    except locks.Busy as err:
        # Being written right now: the figures as of the last writer, said to be so.
        if cached is not None:
            return {**cached, "busy": f"{err} (figures as of the last completed write)"}
        return {"busy": str(err)}
    except (duckdb.Error, OSError) as err:
        return {"error": f"cannot open store: {err}"}


def _unmapped(telemetry: list[dict], settings: Any) -> list[dict]:
    from usagecore.settings import link_hint

    left_out = [t for t in telemetry if settings.resolve(t["provider_id"]) is None]
    left_out.sort(key=lambda t: (-t["events"], t["provider_id"]))
    return [{**t, "hint": link_hint(t["provider_id"], settings, t["sources"])} for t in left_out]


def snapshot(db_path: Path) -> dict[str, Any]:
    from usagecore import integrations, spool
    from usagecore.settings import SettingsError, load, settings_path

    try:
        settings = load()
        settings_info: dict[str, Any] = {"path": str(settings.path), "file": settings.from_file,
                                         "providers": [p.as_dict() for p in settings.providers],
                                         "provider_links": settings.provider_links}
    except SettingsError as err:
        settings = None
        settings_info = {"path": str(settings_path()), "error": str(err)}
    store: dict[str, Any] = {"path": str(db_path), "exists": db_path.exists()}
    figures: dict[str, Any] = {"sources": [], "telemetry": []}
    if db_path.exists():
        wal = db_path.with_name(db_path.name + ".wal")
        store["size_bytes"] = db_path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        figures = _store_figures(db_path)
        store.update({k: v for k, v in figures.items() if k in ("busy", "error")})
    unmapped = _unmapped(figures.get("telemetry", []), settings) if settings is not None else []
    return {
        "store": store,
        "sources": figures.get("sources", []),
        "spool": spool.counts(),
        "integrations": integrations.installed(),
        "receiver": receiver(),
        "settings": settings_info,
        "telemetry_unmapped_providers": [
            {k: u[k] for k in ("provider_id", "sources", "events", "cost_usd", "unpriced_events", "total_tokens")}
            for u in unmapped],
        "telemetry_provider_link_hint": {u["provider_id"]: u["hint"] for u in unmapped},
    }


def text(snap: dict[str, Any]) -> str:
    """The snapshot for people."""
    lines = []
    store = snap["store"]
    if not store["exists"]:
        lines.append(f"store: {store['path']} (none yet: run `usagecore backfill`)")
    else:
        lines.append(f"store: {store['path']} ({store['size_bytes'] / 1e6:,.1f} MB)")
        for key in ("busy", "error"):
            if key in store:
                lines.append(f"  {store[key]}")
    for s in snap["sources"]:
        lines.append(f"  {s['source']}/{s['channel']}: {s['events']:,} events, "
                     f"last arrival {s['last_arrival'] or '-'}, last event {s['last_event_at'] or '-'}")
    sp = snap["spool"]
    lines.append(f"spool: {sp['pending']} waiting, {sp['quarantined']} quarantined ({sp['dir']})")
    for q in sp.get("quarantine", [])[:5]:
        lines.append(f"  quarantined {Path(q['file']).name}: {q['reason']}")
    installed = snap["integrations"]
    lines.append("integrations: " + (", ".join(f"{k} {'installed' if v else 'not installed'}"
                                               for k, v in installed.items()) or "none known"))
    rec = snap["receiver"]
    lines.append("receiver: " + (f"running (pid {rec.get('pid')})" if rec["running"] else "not running"))
    st = snap["settings"]
    if "error" in st:
        lines.append(f"settings: {st['error']}")
    else:
        lines.append(f"settings: {st['path']}{'' if st['file'] else ' (no file: defaults)'}; providers "
                     + ", ".join(p["id"] for p in st["providers"])
                     + "".join(f"; {k} -> {v}" for k, v in st["provider_links"].items()))
    for u in snap["telemetry_unmapped_providers"]:
        cost = u["cost_usd"]
        lines.append(f"unmapped provider {u['provider_id']}: {u['events']:,} events"
                     + (f", ${cost:,.2f}" if cost is not None else "") + " not counted in reports")
        lines.append("  " + snap["telemetry_provider_link_hint"][u["provider_id"]]["text"])
    return "\n".join(lines) + "\n"
