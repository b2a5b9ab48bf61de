"""Live ingest from Claude Code hooks: the real hook payloads and transcripts
of the captured runs through `usagecore ingest` and `usagecore collect`;
many hooks at once; drains killed at random instants; live reads and
backfills interleaved over a growing transcript."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CAPTURES, run_cli
from usagecore import drain, spool
from usagecore.backfill import backfill_claude
from usagecore.store import Store

TOTALS = json.loads((CAPTURES / "totals.json").read_text())
CAPTURED_HOME = "/home/dev/.claude/projects"
RUNS = sorted(p.name for p in (CAPTURES / "claude-code").iterdir() if (p / "hooks").is_dir())
MESSAGE_TOTALS = (
    "SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), "
    "sum(cache_write_tokens), round(sum(cost_usd), 10) FROM usage_events WHERE event_type = 'message'"
)


def _hooks(run: str) -> list[Path]:
    return sorted((CAPTURES / "claude-code" / run / "hooks").glob("[0-9][0-9]_*.json"))


def _projects(run: str, tmp_path: Path) -> Path:
    """The run's transcripts, where its hook payloads will say they are."""
    projects = tmp_path / "projects"
    shutil.copytree(CAPTURES / "claude-code" / run / "transcripts", projects)
    return projects


def _payload(hook: Path, projects: Path) -> bytes:
    return hook.read_text().replace(CAPTURED_HOME, str(projects)).encode()


def _ingest(body: bytes, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "usagecore", "ingest", "--source", "claude_code"],
                          input=body, capture_output=True, env={**os.environ, **env}, timeout=30)


def _expected(run: str) -> tuple:
    e = TOTALS[f"claude-code/{run}"]["expected"]
    return (len(e["requests"]), e["input_tokens"], e["output_tokens"], e["cache_read_input_tokens"],
            e["cache_creation_input_tokens"], round(e["cost_usd"], 10))


def _query(db: Path, sql: str):
    with Store(db) as store:
        return store.con.execute(sql).fetchall()


def _db() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "usagecore" / "telemetry.duckdb"


@pytest.mark.parametrize("run", RUNS)
def test_captured_hooks_store_what_claude_reported(run, tmp_path):
    projects = _projects(run, tmp_path)
    hooks = _hooks(run)
    for hook in hooks:
        result = _ingest(_payload(hook, projects), USAGECORE_TELEMETRY_SPOOL_ONLY="true")
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert len(spool.pending()) == len(hooks)
    run_cli("collect")
    assert spool.pending() == []

    db = _db()
    assert _query(db, MESSAGE_TOTALS)[0] == _expected(run)
    # Every tool call, prompt and session boundary of the run, once each.
    names = [h.name.split("_", 1)[1].removesuffix(".json") for h in hooks]
    kinds = dict(_query(db, "SELECT event_type, count(*) FROM usage_events "
                            "WHERE event_type <> 'message' GROUP BY ALL"))
    tool_ids = {json.loads(h.read_text())["tool_use_id"] for h in hooks if "_PostToolUse" in h.name}
    assert kinds == {"tool_call": len(tool_ids), "prompt": names.count("UserPromptSubmit"),
                     "session_start": names.count("SessionStart"), "session_end": names.count("SessionEnd")}
    stored_ids = {r[0] for r in _query(db, "SELECT tool_call_id FROM usage_events WHERE event_type = 'tool_call'")}
    assert stored_ids == tool_ids
    # One raw record per payload, none holding prompts, tool input or output.
    raws = _query(db, "SELECT payload FROM usage_raw_events WHERE source_channel = 'hook'")
    assert len(raws) == len(hooks)
    assert not any('"prompt"' in p or "tool_response" in p or "tool_input" in p for (p,) in raws)

    # A backfill of the same transcripts afterwards adds nothing.
    summary = json.loads(run_cli("backfill", "claude", str(projects), "--json").stdout)
    assert (summary["events"], summary["merged_events"]) == (0, 0)
    assert _query(db, MESSAGE_TOTALS)[0] == _expected(run)


def test_collect_twice_and_hook_order_do_not_matter(tmp_path):
    """Hooks delivered in reverse, drained in two goes: the same store."""
    run = "rich_http_json"
    projects = _projects(run, tmp_path)
    hooks = _hooks(run)[::-1]
    half = len(hooks) // 2
    for hook in hooks[:half]:
        _ingest(_payload(hook, projects), USAGECORE_TELEMETRY_SPOOL_ONLY="true")
    run_cli("collect")
    for hook in hooks[half:]:
        _ingest(_payload(hook, projects), USAGECORE_TELEMETRY_SPOOL_ONLY="true")
    run_cli("collect")
    assert _query(_db(), MESSAGE_TOTALS)[0] == _expected(run)


def _tool_call(i: int, projects: Path) -> bytes:
    return json.dumps({"hook_event_name": "PostToolUse", "session_id": "s-load", "cwd": "/w",
                       "transcript_path": str(projects / "x.jsonl"), "tool_name": "Bash",
                       "tool_use_id": f"toolu_load_{i:03d}", "duration_ms": i,
                       "tool_input": {"command": "echo"}, "tool_response": "x"}).encode()


def test_fifty_hooks_at_once_while_a_drain_and_a_report_run(tmp_path):
    run = "rich_http_json"
    projects = _projects(run, tmp_path)
    run_cli("backfill", "claude", str(projects))  # so that `report` has a store to read
    env = {**os.environ}
    hooks = [subprocess.Popen([sys.executable, "-m", "usagecore", "ingest", "--source", "claude_code"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for _ in range(50)]
    others = [subprocess.Popen([sys.executable, "-m", "usagecore", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
              for args in (["collect"], ["report", "daily"], ["report", "session"])]
    for i, hook in enumerate(hooks):
        out, err = hook.communicate(_tool_call(i, projects), timeout=60)
        assert (hook.returncode, out, err) == (0, b"", b"")
    for other in others:
        out, err = other.communicate(timeout=120)
        assert other.returncode == 0, err.decode()
        assert b"lock" not in err.lower()
    run_cli("collect")
    rows = _query(_db(), "SELECT count(*), count(DISTINCT tool_call_id), sum(duration_ms) "
                         "FROM usage_events WHERE session_id = 's-load'")
    assert rows[0] == (50, 50, sum(range(50)))
    assert _query(_db(), MESSAGE_TOTALS)[0] == _expected(run)


def test_collect_returns_while_hooks_keep_coming(tmp_path):
    """A user's `collect` stores what was spooled before it started and returns,
    however fast hooks keep arriving; a background drain takes the rest."""
    projects = _projects("rich_http_json", tmp_path)
    for i in range(100):
        spool.write("claude_code", "hook", _tool_call(i, projects))
    stop = tmp_path / "stop"
    storm = subprocess.Popen([sys.executable, "-c", f"""
import json, os, time
from usagecore import spool
i = 100
while not os.path.exists({str(stop)!r}) and i < 20000:  # hooks that outlast any drain
    spool.write("claude_code", "hook", json.dumps({{
        "hook_event_name": "PostToolUse", "session_id": "s-load", "cwd": "/w", "tool_name": "Bash",
        "transcript_path": {str(projects / "x.jsonl")!r}, "tool_use_id": f"toolu_load_{{i:03d}}",
        "duration_ms": i, "tool_input": {{"command": "echo"}}, "tool_response": "x"}}).encode())
    i += 1
print(i)
"""], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        run_cli("collect")  # chasing every new payload, it would not return before the storm ends
        assert storm.poll() is None, "the storm ended before collect returned: this shows nothing"
        # Through the CLI: the background drain may hold the store, and `sql` waits its turn.
        stored = json.loads(run_cli("sql", "SELECT count(*) AS n FROM usage_events WHERE session_id = 's-load'",
                                    "--format", "json").stdout)
        assert stored[0]["n"] >= 100
    finally:
        stop.touch()
    sent = int(storm.communicate(timeout=60)[0])
    run_cli("collect")  # waits for the background drain, then takes what is left
    rows = _query(_db(), "SELECT count(*), count(DISTINCT tool_call_id) FROM usage_events WHERE session_id = 's-load'")
    assert rows[0] == (sent, sent)


def _spool_fault_workload(projects: Path) -> None:
    for hook in _hooks("rich_http_json"):
        spool.write("claude_code", "hook", _payload(hook, projects))
    for i in range(200):
        spool.write("claude_code", "hook", _tool_call(i, projects))


def test_drain_killed_at_random_instants_loses_and_doubles_nothing(tmp_path):
    rng = random.Random(20261130)
    expected = _expected("rich_http_json")
    # How long a whole drain takes here, so that kills land all over it.
    projects = _projects("rich_http_json", tmp_path / "timing")
    _spool_fault_workload(projects)
    started = time.monotonic()
    run_cli("collect")
    span = time.monotonic() - started
    state = Path(os.environ["XDG_STATE_HOME"])
    for trial in range(20):
        shutil.rmtree(state, ignore_errors=True)
        projects = _projects("rich_http_json", tmp_path / f"trial{trial}")
        _spool_fault_workload(projects)
        victim = subprocess.Popen([sys.executable, "-m", "usagecore", "collect"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, span))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        run_cli("collect")
        assert spool.pending() == []
        assert _query(_db(), MESSAGE_TOTALS)[0] == expected, f"trial {trial}"
        assert _query(_db(), "SELECT count(*), count(DISTINCT tool_call_id) FROM usage_events "
                             "WHERE session_id = 's-load'")[0] == (200, 200), f"trial {trial}"


# ------------------------------------------------- live and backfill, interleaved

RICH = CAPTURES / "claude-code" / "rich_http_json" / "transcripts" / "-home-dev-work-app"
SESSION = "ee4b9626-b6df-4826-9bd9-61111b22aa22"
ALL_COLUMNS = "SELECT * EXCLUDE (raw_event_id) FROM usage_events ORDER BY event_id"


def _final_store(tmp_path: Path) -> list[tuple]:
    folder = tmp_path / "reference" / "-home-dev-work-app"
    shutil.copytree(RICH, folder)
    with Store(tmp_path / "reference.duckdb") as store:
        backfill_claude(store, [folder.parent])
        return store.con.execute(ALL_COLUMNS).fetchall()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.floats(0, 1), min_size=1, max_size=5),
       steps=st.lists(st.sampled_from(["hook", "backfill", "both"]), min_size=6, max_size=6))
def test_any_interleaving_of_live_and_backfill_equals_one_backfill(tmp_path_factory, cuts, steps):
    tmp_path = tmp_path_factory.mktemp("interleave")
    reference = _final_store(tmp_path)
    folder = tmp_path / "live" / "-home-dev-work-app"
    folder.mkdir(parents=True)
    shutil.copytree(RICH / SESSION, folder / SESSION)  # the subagent, written early
    data = (RICH / f"{SESSION}.jsonl").read_bytes()
    transcript = folder / f"{SESSION}.jsonl"
    transcript.write_bytes(b"")
    db, root = tmp_path / "live.duckdb", tmp_path / "spool"
    stop = json.dumps({"hook_event_name": "Stop", "session_id": SESSION,
                       "transcript_path": str(transcript)}).encode()
    # Grow the transcript at arbitrary byte offsets (mid-line too), reading as it grows.
    offsets = sorted({int(c * len(data)) for c in cuts} | {len(data)})
    written = 0
    for offset, step in zip(offsets + [len(data)] * len(steps), steps):
        with transcript.open("ab") as f:
            f.write(data[written:offset])
        written = offset
        if step in ("hook", "both"):
            spool.write("claude_code", "hook", stop, root=root)
            drain.drain(db, root=root)
        if step in ("backfill", "both"):
            with Store(db) as store:
                backfill_claude(store, [folder.parent])
    spool.write("claude_code", "hook", stop, root=root)
    drain.drain(db, root=root)
    with Store(db) as store:
        live = store.con.execute(ALL_COLUMNS).fetchall()
    messages = [row for row in live if row[2] == "message"]
    assert messages == reference


def test_payloads_left_in_tmp_by_a_crash_are_stored_or_quarantined(tmp_path):
    """A machine crash may lose the rename into new/ (the folder is not fsynced):
    the drain picks such files up once they are clearly abandoned."""
    projects = _projects("rich_http_json", tmp_path)

    def before_the_crash(path: Path) -> Path:
        """Back into tmp/, named a day earlier: the pid in its name (ours) now
        belongs to a process that started after the file was made, as after a
        reboot."""
        stamp, rest = path.name.split("-", 1)
        left = path.parent.parent / "tmp" / f"{int(stamp) - 86400 * 10**9:019d}-{rest}"
        os.rename(path, left)
        return left

    for hook in _hooks("rich_http_json"):
        before_the_crash(spool.write("claude_code", "hook", _payload(hook, projects)))
    cut = before_the_crash(spool.write("claude_code", "hook", _tool_call(1, projects)))
    cut.write_bytes(cut.name.encode()[:10])  # cut short mid-write
    run_cli("collect")
    assert _query(_db(), MESSAGE_TOTALS)[0] == _expected("rich_http_json")
    assert spool.counts()["quarantined"] == 1
