"""A backfill whose files did not change since the last complete run ends before
opening the store (usagecore/unchanged.py), and is exact all the same: a file
that grew, a legacy file copied in with an old modification time, or a store
that lost its cursors each bring a normal run that finds what is new. Also:
OpenCode read in many small batches gives the same totals as in one.

Inputs: the Codex resume capture (one thread over two processes: the rollout
as the first process left it, then whole), the OpenCode capture databases, and
generated OpenCode data with its truth.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import CAPTURES, REPO, run_json

RESUME = CAPTURES / "codex" / "exec_resume_http_protobuf"
ROLLOUT = next((RESUME / "rollouts").rglob("rollout-*.jsonl"))
HOUR_NS = 3600 * 10**9


def _age(path: Path, ns_ago: int) -> None:
    """Give `path` a modification time well in the past (a fingerprint trusts
    no file changed within the last seconds)."""
    stamp = time.time_ns() - ns_ago
    os.utime(path, ns=(stamp, stamp))


def _codex_home(tmp_path: Path) -> Path:
    """A CODEX_HOME holding the captured rollout, written an hour ago."""
    home = tmp_path / "codex"
    target = home / "sessions" / ROLLOUT.name
    target.parent.mkdir(parents=True)
    shutil.copy(ROLLOUT, target)
    _age(target, HOUR_NS)
    return home


def _codex_events(db: Path) -> tuple[int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*), sum(input_tokens + cache_read_tokens) FROM usage_events "
                           "WHERE source_system = 'codex' AND event_type = 'message'").fetchone()
    finally:
        con.close()


def test_unchanged_rollouts_skip_the_store_and_a_grown_rollout_is_read(tmp_path):
    home = tmp_path / "codex"
    target = home / "sessions" / "2026" / "11" / "22" / ROLLOUT.name
    target.parent.mkdir(parents=True)
    lines = ROLLOUT.read_bytes().splitlines(keepends=True)
    first_process = b"".join(lines[:23])  # up to the first process's task_complete
    target.write_bytes(first_process)
    _age(target, 2 * HOUR_NS)
    env = {"CODEX_HOME": str(home)}
    db = tmp_path / "t.duckdb"

    assert run_json("--db", str(db), "backfill", "codex", env=env)["events"] == 2
    assert (tmp_path / "t.duckdb.backfill.state").exists()
    again = run_json("--db", str(db), "backfill", "codex", env=env)
    assert (again["files"], again["files_read"], again["events"], again["unchanged"]) == (1, 0, 0, True)

    # The thread resumed: the same file, grown, still with an old time.
    target.write_bytes(ROLLOUT.read_bytes())
    _age(target, HOUR_NS)
    grown = run_json("--db", str(db), "backfill", "codex", env=env)
    assert (grown["files_read"], grown["events"], grown["unchanged"]) == (1, 2, False)
    # Requests 1..4 of the mock: input (cached included) = 1000n + 11.
    assert _codex_events(db) == (4, sum(1000 * n + 11 for n in range(1, 5)))


@pytest.mark.parametrize("state", [b"", b"{not ours", bytes(range(256)) * 4])
def test_a_damaged_state_file_only_costs_a_normal_run(tmp_path, state):
    env = {"CODEX_HOME": str(_codex_home(tmp_path))}
    db = tmp_path / "t.duckdb"
    run_json("--db", str(db), "backfill", "codex", env=env)
    (tmp_path / "t.duckdb.backfill.state").write_bytes(state)
    again = run_json("--db", str(db), "backfill", "codex", env=env)
    assert (again["unchanged"], again["files_read"], again["events"]) == (False, 0, 0)
    assert run_json("--db", str(db), "backfill", "codex", env=env)["unchanged"] is True


def test_a_rollout_changed_while_a_new_store_was_read_is_read_again(tmp_path):
    """A new store's backfill starts reading before it fingerprints the files,
    and dates the fingerprint from before the reading: a file that changed in
    between (its old content read, its new time fingerprinted) is not trusted,
    however long the fingerprint took to come."""
    from usagecore import unchanged

    home = _codex_home(tmp_path)
    db = tmp_path / "t.duckdb"
    db.write_bytes(b"a store")
    rollout = next((home / "sessions").iterdir())
    reading_began = time.time_ns() - 3 * unchanged.RACY_NS
    _age(rollout, 2 * unchanged.RACY_NS)  # changed after the reading began, not just now
    snapshot = unchanged.take("codex", [home], taken_ns=reading_began)
    unchanged.record(db, snapshot, None, 1)
    assert unchanged.last_run(db, snapshot) is None
    # Changed before the reading began: trusted.
    _age(rollout, HOUR_NS)
    snapshot = unchanged.take("codex", [home], taken_ns=reading_began)
    unchanged.record(db, snapshot, None, 1)
    assert unchanged.last_run(db, snapshot) is not None


def test_a_store_that_lost_its_cursors_is_backfilled_again(tmp_path):
    home = _codex_home(tmp_path)
    env = {"CODEX_HOME": str(home)}
    db = tmp_path / "t.duckdb"
    assert run_json("--db", str(db), "backfill", "codex", env=env)["events"] == 4
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM usage_events")
    con.execute("DELETE FROM file_cursors")
    con.close()
    again = run_json("--db", str(db), "backfill", "codex", env=env)
    assert (again["events"], again["unchanged"]) == (4, False)
    assert _codex_events(db) == (4, sum(1000 * n + 11 for n in range(1, 5)))


def test_a_backfill_of_another_source_keeps_the_first_one_skippable(tmp_path):
    home = _codex_home(tmp_path)
    data = tmp_path / "opencode"
    _capture_database(data)
    _age(data / "opencode.db", HOUR_NS)
    env = {"CODEX_HOME": str(home)}
    db = tmp_path / "t.duckdb"
    run_json("--db", str(db), "backfill", "codex", env=env)
    assert run_json("--db", str(db), "backfill", "opencode", str(data))["events"] == 2
    for source, args in (("codex", ()), ("opencode", (str(data),))):
        again = run_json("--db", str(db), "backfill", source, *args, env=env)
        assert (again["events"], again["unchanged"]) == (0, True), source
    # Anything else writing the store makes the next runs look again.
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE scratch AS SELECT 1 AS x")
    con.close()
    assert run_json("--db", str(db), "backfill", "codex", env=env)["unchanged"] is False


def _capture_database(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "opencode.db"
    con = sqlite3.connect(path)
    con.executescript((CAPTURES / "opencode" / "run_json" / "opencode.sql").read_text())
    con.commit()
    con.close()
    return path


def _legacy_files(db_path: Path, storage: Path) -> list[Path]:
    """The database's assistant messages as legacy `storage/message/<session>/<id>.json` files."""
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT id, session_id, data FROM message WHERE data LIKE '%\"assistant\"%'").fetchall()
    con.close()
    written = []
    for message_id, session_id, data in rows:
        folder = storage / "message" / session_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{message_id}.json"
        path.write_text(json.dumps({**json.loads(data), "id": message_id, "sessionID": session_id}))
        written.append(path)
    return written


def test_a_legacy_file_copied_in_with_an_old_time_is_found(tmp_path):
    source = _capture_database(tmp_path / "capture")
    storage = tmp_path / "data" / "storage"
    files = _legacy_files(source, storage)
    assert len(files) == 2
    late = files.pop()
    held_back = tmp_path / late.name
    late.rename(held_back)
    for path in files:
        _age(path, HOUR_NS)
    db = tmp_path / "t.duckdb"
    assert run_json("--db", str(db), "backfill", "opencode", str(storage))["events"] == 1
    assert run_json("--db", str(db), "backfill", "opencode", str(storage))["unchanged"] is True
    # Copied back with its old time (cp -p, rsync -t): older than anything read before.
    held_back.rename(late)
    _age(late, 3 * HOUR_NS)
    assert run_json("--db", str(db), "backfill", "opencode", str(storage))["events"] == 1


def test_opencode_in_many_small_batches_equals_its_truth(tmp_path, monkeypatch):
    from usagecore import backfill
    from usagecore.store import Store

    data = tmp_path / "opencode"
    subprocess.run([sys.executable, str(REPO / "bench" / "generate_opencode.py"), "--out", str(data),
                    "--messages", "2000", "--seed", "3"], check=True, capture_output=True)
    # A second database holding the same messages: every event comes twice, in later batches.
    shutil.copy(data / "opencode.db", data / "opencode-beta.db")
    truth = json.loads((data / "truth.json").read_text())
    monkeypatch.setattr(backfill, "OPENCODE_BATCH_BYTES", 20_000)
    monkeypatch.setattr(backfill, "OPENCODE_COMMIT_BYTES", 100_000)
    with Store(tmp_path / "t.duckdb") as store:
        summary = backfill.backfill_opencode(store, [data])
        assert summary.problems == []
        assert summary.events == truth["overall"]["events"]
        got = store.con.execute(
            "SELECT strftime(timezone('UTC', occurred_at), '%Y-%m-%d') || '|' || model_raw || '|' || provider_id, "
            "count(*), sum(input_tokens), sum(cache_read_tokens), sum(output_tokens), sum(reasoning_tokens) "
            "FROM usage_events GROUP BY 1").fetchall()
        assert {k: {"events": e, "input": i, "cache_read": c, "output": o, "reasoning": r}
                for k, e, i, c, o, r in got} == {
            k: {f: v[f] for f in ("events", "input", "cache_read", "output", "reasoning")}
            for k, v in truth["by_day_model_provider"].items()}
        again = backfill.backfill_opencode(store, [data])
        assert again.events == 0


def _run_entry(module: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    """`usagecore ARGS` through `module`'s main (`entry`: the executable's way,
    `cli`: the command itself); stdout ends with which of click, pathlib and
    json were loaded, when main returns instead of exiting as click's
    commands do."""
    code = (f"import sys; from usagecore.{module} import main; sys.argv = ['usagecore', *sys.argv[1:]]; "
            "main(); print('loaded:', *[m for m in ('click', 'pathlib', 'json') if m in sys.modules])")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_an_unchanged_backfill_is_answered_before_click_loads(tmp_path):
    """What `usagecore backfill codex` prints when nothing changed comes before
    click and the commands load, and is what the command prints; a change, an
    option or a path it does not handle, or no store, go to the command."""
    home = _codex_home(tmp_path)
    env = {"CODEX_HOME": str(home)}
    db = tmp_path / "t.duckdb"
    new_store = _run_entry("entry", "--db", str(db), "backfill", "codex", env=env)
    assert (new_store.returncode, new_store.stdout) == (0, "") and "4 new events" in new_store.stderr

    def seconds_apart(text: str) -> str:
        return re.sub(r"\(\d+\.\d\d s\)", "(… s)", text)

    command = _run_entry("cli", "--db", str(db), "backfill", "codex", env=env)
    assert "unchanged since the last backfill" in command.stderr
    for args in (("--db", str(db), "backfill", "codex"), (f"--db={db}", "backfill", "codex")):
        early = _run_entry("entry", *args, env=env)
        assert (early.returncode, early.stdout) == (0, "loaded:\n")
        assert seconds_apart(early.stderr) == seconds_apart(command.stderr)
    command = _run_entry("cli", "--db", str(db), "backfill", "codex", "--json", env=env)
    summary = json.loads(command.stdout)
    assert summary["unchanged"] is True
    for args in (("backfill", "codex", "--json"), ("backfill", "--json", "codex")):
        early = _run_entry("entry", "--db", str(db), *args, env=env)
        printed, loaded = early.stdout.splitlines()
        assert (early.returncode, loaded) == (0, "loaded: pathlib json")  # the summary's module
        assert json.loads(printed) == {**summary, "seconds": json.loads(printed)["seconds"]}
    for args in (("backfill", "codex", str(home)), ("backfill", "claude"), ("backfill", "--json"),
                 ("backfill", "codex", "--keep-content")):
        by_command = _run_entry("entry", "--db", str(db), *args, env=env)
        assert by_command.returncode == 0 and "click" not in by_command.stdout, args
    # A rollout that grew is read by the command.
    rollout = next(home.rglob("rollout-*.jsonl"))
    rollout.write_bytes(rollout.read_bytes() + rollout.read_bytes().splitlines(keepends=True)[0])
    _age(rollout, HOUR_NS)
    grown = _run_entry("entry", "--db", str(db), "backfill", "codex", env=env)
    assert (grown.returncode, grown.stdout) == (0, "")
    assert "codex: 1 files (1 read)" in grown.stderr and "unchanged" not in grown.stderr
