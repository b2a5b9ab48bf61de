"""`usagecore doctor`: is every path from the agents to the store working?

Each check says what it found and, when something is broken, what to do.
The hook test runs the real hook script the agent runs, with a throwaway
spool, and waits for the payload to arrive there: it proves the script, the
`usagecore` it calls and the spool write, without touching the user's data.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from usagecore import integrations, locks, spool

STALE_SPOOL_S = 300


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        text = f"[{mark}] {self.name}: {self.detail}"
        return text + (f"\n       -> {self.fix}" if self.fix else "")


def _hook_runs(module) -> Check:
    script, _ = module.hook_script()
    name = f"{module.NAME}: hook script"
    if not script.is_file():
        return Check(name, False, f"{script} is missing", f"run `usagecore install {module.NAME}`")
    if script.suffix == ".sh" and not os.access(script, os.X_OK):
        return Check(name, False, f"{script} is not executable", f"chmod +x {script}")
    tag = f"usagecore-doctor-{os.getpid()}-{time.time_ns()}"
    argv, payload = module.test_command(tag)
    with tempfile.TemporaryDirectory(prefix="usagecore-doctor-") as tmp:
        env = {**os.environ, "USAGECORE_TELEMETRY_SPOOL_DIR": tmp, "USAGECORE_TELEMETRY_SPOOL_ONLY": "true",
               "USAGECORE_TELEMETRY_ENABLED": "true"}
        started = time.perf_counter()
        try:
            result = subprocess.run(argv, input=payload, env=env, capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as err:
            return Check(name, False, f"{script} did not run: {err}", f"run `usagecore install {module.NAME}` again")
        # A plugin hands over in a detached process: give it a moment.
        arrived = []
        while not arrived and time.perf_counter() - started < 5:
            arrived = [p for p in spool.pending(Path(tmp)) if tag.encode() in p.read_bytes()]
            if not arrived:
                time.sleep(0.02)
        seconds = time.perf_counter() - started
    if result.returncode != 0 or result.stdout:
        return Check(name, False, f"exit {result.returncode}, {len(result.stdout)} bytes on stdout",
                     f"run `usagecore install {module.NAME}` again")
    if not arrived:
        return Check(name, False, "ran, but the test payload did not reach the spool",
                     "check that the usagecore named in the script (or $USAGECORE_BIN) still exists; "
                     f"run `usagecore install {module.NAME}` again")
    return Check(name, True, f"runs and delivers a payload in {seconds * 1000:.0f} ms")


def _last_arrivals(db_path: Path) -> tuple[Check, dict[str, str]]:
    """The store check, and per source when its data last arrived."""
    import duckdb

    from usagecore.store import Store

    if not db_path.exists():
        return Check("store", True, f"{db_path} (not created yet: the first drain or backfill creates it)"), {}
    try:
        with locks.store_lock(db_path, exclusive=False, quiet=True), Store.for_reading(db_path) as store:
            rows = store.con.execute(
                "SELECT source_system, strftime(max(received_at), '%Y-%m-%d %H:%M:%S %Z') "
                "FROM usage_raw_events GROUP BY ALL").fetchall()
            events = store.con.execute("SELECT count(*) FROM usage_events").fetchone()[0]
    except (duckdb.Error, OSError, locks.Busy) as err:
        return Check("store", False, f"{db_path} cannot be read: {err}",
                     "if it is corrupt, move it aside and run `usagecore backfill` to rebuild it"), {}
    size = db_path.stat().st_size / 1e6
    return Check("store", True, f"{db_path} ({size:,.1f} MB, {events:,} events)"), dict(rows)


def _spool_check(drain_running: bool) -> list[Check]:
    counts = spool.counts()
    checks = []
    oldest = counts["oldest_pending_ns"]
    age = (time.time_ns() - oldest) / 1e9 if oldest else 0.0
    if counts["pending"] and age > STALE_SPOOL_S and not drain_running:
        checks.append(Check("spool", False, f"{counts['pending']} payloads waiting, the oldest for {age:.0f} s",
                            "run `usagecore collect` (it says why if it cannot store them)"))
    else:
        checks.append(Check("spool", True, f"{counts['dir']}: {counts['pending']} waiting"))
    if counts["quarantined"]:
        reasons = "; ".join(f"{Path(q['file']).name}: {q['reason']}" for q in counts["quarantine"][:3])
        checks.append(Check("quarantine", False, f"{counts['quarantined']} payloads set aside ({reasons})",
                            "these could not be understood; see the .reason files beside them"))
    return checks


def _receiver_check(name: str) -> Check:
    """An OTLP export needs `usagecore serve` running (it writes serve.json while it runs)."""
    import json

    from usagecore.config import state_dir

    try:
        state = json.loads((state_dir() / "serve.json").read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return Check(f"{name}: receiver", False, "usagecore serve is not running",
                     "start `usagecore serve` (the agent's exports are lost meanwhile)")
    return Check(f"{name}: receiver", True, f"usagecore serve runs (pid {state['pid']})")


def run(db_path: Path, names: list[str] | None = None) -> list[Check]:
    checks: list[Check] = []
    store_check, arrivals = _last_arrivals(db_path)
    for name in names or list(integrations.MODULES):
        if name not in integrations.MODULES:
            checks.append(Check(name, False, "no such integration", "one of: " + ", ".join(integrations.MODULES)))
            continue
        module = integrations.get(name)
        if not module.installed():
            if names:  # asked about explicitly
                checks.append(Check(name, False, "not installed", f"run `usagecore install {name}`"))
            else:
                checks.append(Check(name, True, "not installed"))
            continue
        last = arrivals.get(module.SOURCE, "no data yet")
        checks.append(Check(name, True, f"installed; last data arrived: {last}"))
        checks.append(_hook_runs(module) if hasattr(module, "hook_script") else _receiver_check(name))
    checks.append(store_check)
    drain_running = locks.is_locked(spool.spool_dir() / "drain.lock")
    checks += _spool_check(drain_running)
    return checks
