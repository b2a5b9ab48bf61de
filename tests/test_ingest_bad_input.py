"""Bad input on the hook path. `usagecore ingest --source claude_code` runs as a
real subprocess, as Claude Code runs it, and must never exit non-zero nor print
on stdout (stderr only when USAGECORE_TELEMETRY_VERBOSE=true), whatever it is
given: no payload, garbage, 10 MB, an event nobody knows, a transcript that is
not there, a spool it cannot write, a corrupt store, or telemetry turned off.
And bad payloads never cost the good ones: `collect` stores every good one,
sets each bad one aside with a reason, and `doctor` says so.

Also what the hook path imports: nothing heavy (no DuckDB, click, pricing, the
native module or the CLI), checked with `python -X importtime`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import CAPTURES, run_cli

RICH = CAPTURES / "claude-code" / "rich_http_json"
RICH_TOTALS = json.loads((CAPTURES / "totals.json").read_text())["claude-code/rich_http_json"]["expected"]
CAPTURED_PROJECTS = "/home/dev/.claude/projects"
POST_TOOL_USE = (RICH / "hooks" / "04_PostToolUse.json").read_bytes()
STOP = json.loads((RICH / "hooks" / "17_Stop.json").read_text())
SILENT = {"USAGECORE_TELEMETRY_SPOOL_ONLY": "true", "USAGECORE_TELEMETRY_VERBOSE": "false"}


def ingest(stdin: bytes, env: dict | None = None, *args: str) -> subprocess.CompletedProcess:
    """`usagecore ingest --source claude_code` as a hook runs it: payload on stdin."""
    return subprocess.run([sys.executable, "-m", "usagecore", "ingest", "--source", "claude_code", *args],
                          input=stdin, capture_output=True, env={**os.environ, **SILENT, **(env or {})},
                          timeout=60)


def assert_silent_success(result: subprocess.CompletedProcess) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b""), result.stderr.decode()


def state() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "usagecore"


def spool() -> Path:
    return state() / "spool"


def store() -> Path:
    return state() / "telemetry.duckdb"


def spooled(root: Path | None = None) -> list[bytes]:
    """The payloads waiting in the spool, oldest first (without their header line)."""
    new = (root or spool()) / "new"
    if not new.is_dir():
        return []
    return [p.read_bytes().partition(b"\n")[2] for p in sorted(new.iterdir())]


def sql(query: str) -> list[dict]:
    return json.loads(run_cli("sql", query, "--format", "json").stdout)


def event_counts() -> dict[str, int]:
    return {r["event_type"]: r["n"] for r in sql("SELECT event_type, count(*) AS n FROM usage_events GROUP BY 1")}


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    """Until `condition()` holds: for the drains an ingest starts in the background."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.1)


def drain_log() -> str:
    try:
        return (state() / "drain.log").read_text()
    except FileNotFoundError:
        return ""


def stop_payload(transcript: str) -> bytes:
    return json.dumps({**STOP, "transcript_path": transcript}).encode()


# --------------------------------------------------------------- each bad input

@pytest.mark.parametrize("stdin", [b"", b"\n", b"   \n\t\n"], ids=["empty", "newline", "whitespace"])
def test_empty_stdin(stdin):
    assert_silent_success(ingest(stdin))
    assert spooled() == []
    # Asked to be verbose, it says why nothing was recorded, on stderr only.
    verbose = ingest(stdin, {"USAGECORE_TELEMETRY_VERBOSE": "true"})
    assert (verbose.returncode, verbose.stdout) == (0, b"")
    assert b"empty payload" in verbose.stderr


def test_stdin_closed():
    result = subprocess.run([sys.executable, "-m", "usagecore", "ingest", "--source", "claude_code"],
                            stdin=subprocess.DEVNULL, capture_output=True, env={**os.environ, **SILENT}, timeout=60)
    assert_silent_success(result)
    assert spooled() == []


@pytest.mark.parametrize("payload", [b"not json {", bytes(range(256)) * 4, b'{"hook_event_name": "Stop"',
                                     b"[1, 2, 3]", b'{"session_id": "no event name"}'],
                         ids=["text", "binary", "cut_short", "array", "no_event_name"])
def test_not_a_hook_payload_is_kept_as_received(payload):
    # The hook path does not parse: what it cannot judge in microseconds it keeps,
    # so that nothing is lost; the drain decides (see the mixed test below).
    assert_silent_success(ingest(payload))
    assert spooled() == [payload]


def test_ten_megabyte_payload(tmp_path):
    big = json.loads(POST_TOOL_USE)
    big["tool_response"] = {"stdout": "x" * (10 * 1024 * 1024), "stderr": "", "interrupted": False}
    payload = json.dumps(big).encode()
    assert len(payload) > 10 * 1024 * 1024
    assert_silent_success(ingest(payload))
    assert spooled() == [payload]

    run_cli("collect")
    assert event_counts() == {"tool_call": 1}
    [raw] = sql("SELECT length(payload) AS size, payload FROM usage_raw_events")
    assert raw["size"] < 2000  # the tool's output is not stored
    assert json.loads(raw["payload"])["tool_use_id"] == big["tool_use_id"]
    assert spooled() == []


def test_unknown_hook_event():
    payload = json.dumps({"session_id": STOP["session_id"], "hook_event_name": "SomethingClaudeAddsIn2027",
                          "cwd": "/home/dev/work/app", "brand_new_field": {"nested": [1, 2]}}).encode()
    assert_silent_success(ingest(payload))
    assert spooled() == [payload]
    collect = run_cli("collect")
    assert "0 quarantined" in collect.stderr
    # Kept as a raw record, not turned into usage.
    assert event_counts() == {}
    [raw] = sql("SELECT source_system, source_channel, payload FROM usage_raw_events")
    assert (raw["source_system"], raw["source_channel"]) == ("claude_code", "hook")
    assert json.loads(raw["payload"])["hook_event_name"] == "SomethingClaudeAddsIn2027"


def test_transcript_that_does_not_exist(tmp_path):
    missing = tmp_path / "gone" / "session.jsonl"
    assert_silent_success(ingest(stop_payload(str(missing))))
    assert_silent_success(ingest(POST_TOOL_USE))
    collect = run_cli("collect")
    assert str(missing) in collect.stderr and "not found" in collect.stderr
    assert event_counts() == {"tool_call": 1}  # the other payload is stored
    assert len(sql("SELECT * FROM usage_raw_events")) == 2  # and the Stop is kept
    assert spooled() == []


def test_transcript_that_cannot_be_read(tmp_path):
    # chmod 000 means nothing to root (the tests run as root): a directory where
    # the transcript file should be cannot be read as one either.
    not_a_file = tmp_path / "session.jsonl"
    not_a_file.mkdir()
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(bytes(range(256)) * 64 + b"\n")
    for transcript in (not_a_file, garbage):
        assert_silent_success(ingest(stop_payload(str(transcript))))
    assert_silent_success(ingest(POST_TOOL_USE))
    collect = run_cli("collect")
    assert str(garbage) in collect.stderr  # its bad line is named
    assert "Traceback" not in collect.stderr
    assert event_counts() == {"tool_call": 1}
    assert len(sql("SELECT * FROM usage_raw_events")) == 3
    assert spooled() == []


@pytest.mark.parametrize("spool_only", ["true", "false"])
def test_unwritable_spool_directory(tmp_path, spool_only):
    regular_file = tmp_path / "a-file"
    regular_file.write_text("not a directory\n")
    env = {"USAGECORE_TELEMETRY_SPOOL_DIR": str(regular_file / "spool"),
           "USAGECORE_TELEMETRY_SPOOL_ONLY": spool_only}
    assert_silent_success(ingest(POST_TOOL_USE, env))

    verbose = ingest(POST_TOOL_USE, {**env, "USAGECORE_TELEMETRY_VERBOSE": "true"})
    assert (verbose.returncode, verbose.stdout) == (0, b"")
    message = verbose.stderr.decode()
    assert message.startswith("usagecore ingest: ")
    assert str(regular_file) in message and "Not a directory" in message
    assert "Traceback" not in message
    assert regular_file.read_text() == "not a directory\n"


def test_corrupt_store_loses_nothing():
    store().parent.mkdir(parents=True, exist_ok=True)
    garbage = os.urandom(64 * 1024)
    store().write_bytes(garbage)
    payloads = [(RICH / "hooks" / name).read_bytes()
                for name in ("01_SessionStart.json", "02_UserPromptSubmit.json", "04_PostToolUse.json")]
    # The real hook path: each ingest also starts a drain in the background, which fails.
    for payload in payloads:
        assert_silent_success(ingest(payload, {"USAGECORE_TELEMETRY_SPOOL_ONLY": "false"}))
    wait_for(lambda: "cannot open store" in drain_log(), "the background drain to fail")
    assert "Traceback" not in drain_log()
    assert spooled() == payloads

    collect = run_cli("collect", check=False)
    assert collect.returncode != 0
    assert "Traceback" not in collect.stderr
    assert f"cannot open store {store()}" in collect.stderr
    assert "not a valid DuckDB database" in collect.stderr
    assert "the payloads stay in the spool" in collect.stderr
    assert spooled() == payloads  # nothing lost
    assert store().read_bytes() == garbage  # and the broken file is left for the user to look at

    # Once the user moves it aside, everything arrives.
    store().rename(store().with_name("telemetry.duckdb.broken"))
    run_cli("collect")
    assert event_counts() == {"session_start": 1, "prompt": 1, "tool_call": 1}
    assert spooled() == []


def test_telemetry_disabled(tmp_path):
    for value in ("false", "0", "off"):
        assert_silent_success(ingest(POST_TOOL_USE, {"USAGECORE_TELEMETRY_ENABLED": value,
                                                     "USAGECORE_TELEMETRY_SPOOL_ONLY": "false"}))
    assert not state().exists()  # not even a folder


def test_unknown_source_and_stray_arguments():
    result = subprocess.run([sys.executable, "-m", "usagecore", "ingest", "--source", "cursor"],
                            input=POST_TOOL_USE, capture_output=True, env={**os.environ, **SILENT}, timeout=60)
    assert_silent_success(result)
    result = subprocess.run([sys.executable, "-m", "usagecore", "ingest"],
                            input=POST_TOOL_USE, capture_output=True, env={**os.environ, **SILENT}, timeout=60)
    assert_silent_success(result)
    assert spooled() == []


@pytest.mark.parametrize("account", ['work "laptop"', "C:\\Users\\me", "équipe-ü ✓", "tab\there", "plain-id_42"])
def test_odd_account_ids_survive_the_spool_header(account):
    # The hook path writes the header line without the json module: what it
    # writes must read back as exactly what was given.
    assert_silent_success(ingest(POST_TOOL_USE, {"USAGECORE_TELEMETRY_ACCOUNT_ID": account}))
    [path] = (spool() / "new").iterdir()
    header = json.loads(path.read_bytes().partition(b"\n")[0])
    assert header["account_id"] == account
    run_cli("collect")
    assert sql("SELECT account_id FROM usage_events") == [{"account_id": account}]


# ------------------------------------------------- good and bad payloads mixed

BAD = {  # payload -> what its reason must name
    b"this is not JSON\n": "not JSON",
    b'{"hook_event_name": "PostToolUse", "session_id": ': "not JSON",
    b"\x00\x01\x02\xff\xfe binary": "not JSON",
    b'["PostToolUse"]': "not a JSON object",
    b'{"session_id": "ee4b9626-b6df-4826-9bd9-61111b22aa22", "cwd": "/x"}': "no hook_event_name",
}


def test_good_and_bad_payloads_mixed(tmp_path):
    projects = tmp_path / "projects"
    shutil.copytree(RICH / "transcripts", projects)
    good = [path.read_bytes().replace(CAPTURED_PROJECTS.encode(), str(projects).encode())
            for path in sorted((RICH / "hooks").glob("*.json"))]
    bad = list(BAD)
    # Every hook of the captured run, in order, with a bad payload after every fourth.
    mixed = []
    for i, payload in enumerate(good):
        mixed.append(payload)
        if i % 4 == 3 and bad:
            mixed.append(bad.pop(0))
    mixed += bad
    for payload in mixed:
        assert_silent_success(ingest(payload))
    assert spooled() == mixed

    collect = run_cli("collect")
    assert f"{len(good)} payloads stored" in collect.stderr and f"{len(BAD)} quarantined" in collect.stderr
    assert spooled() == []

    # Every good payload is stored, each as what it is.
    assert len(sql("SELECT * FROM usage_raw_events WHERE source_channel = 'hook'")) == len(good)
    hook_names = [json.loads(p)["hook_event_name"] for p in good]
    counts = event_counts()
    assert counts == {"session_start": 1, "prompt": 1, "session_end": 1,
                      "tool_call": hook_names.count("PostToolUse"), "message": counts["message"]}
    [totals] = sql("SELECT sum(input_tokens)::BIGINT AS i, sum(output_tokens)::BIGINT AS o, "
                   "round(sum(cost_usd), 8) AS cost FROM usage_events WHERE event_type = 'message'")
    assert (totals["i"], totals["o"]) == (RICH_TOTALS["input_tokens"], RICH_TOTALS["output_tokens"])
    assert totals["cost"] == pytest.approx(RICH_TOTALS["cost_usd"], abs=1e-9)

    # Every bad one is set aside, as received, with a reason that says what is wrong.
    quarantine = spool() / "quarantine"
    held = sorted(p for p in quarantine.iterdir() if not p.name.endswith(".reason"))
    assert len(held) == len(BAD)
    for path in held:
        header, _, body = path.read_bytes().partition(b"\n")
        assert json.loads(header)["source"] == "claude_code"
        reason = (quarantine / (path.name + ".reason")).read_text()
        assert BAD[body] in reason, (body, reason)

    doctor = run_cli("doctor", check=False)
    assert doctor.returncode != 0
    assert f"quarantine: {len(BAD)} payloads set aside" in doctor.stdout
    assert ".reason" in doctor.stdout

    # A second collect has nothing to do and changes nothing.
    assert "0 payloads stored" in run_cli("collect").stderr
    assert len(sql("SELECT * FROM usage_raw_events WHERE source_channel = 'hook'")) == len(good)


# ------------------------------------------------------------ a storm of hooks

def test_a_storm_of_hooks_does_not_lock_readers_out():
    """Found by bench/ingest.py: while hooks kept coming, the drain took the
    store back for its next batch the instant it let go of it, and a backfill
    waiting its turn gave up after 10 s. Whoever waits must get the store."""
    from usagecore import spool as spool_module

    stop = threading.Event()

    def storm() -> None:  # a payload every 20 ms, for as long as the test runs
        while not stop.is_set():
            spool_module.write("claude_code", "hook", POST_TOOL_USE, root=spool())
            time.sleep(0.02)

    run_cli("collect", env={"USAGECORE_TELEMETRY_SPOOL_DIR": str(spool())})  # creates the store
    writer = threading.Thread(target=storm)
    writer.start()
    drain = subprocess.Popen([sys.executable, "-m", "usagecore", "collect"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env={**os.environ, "USAGECORE_TELEMETRY_SPOOL_DIR": str(spool())})
    try:
        time.sleep(1.0)  # the drain is at work, batch after batch
        for _ in range(3):
            reader = run_cli("sql", "SELECT 1 AS one", "--format", "json", check=False,
                             env={"USAGECORE_LOCK_TIMEOUT": "5"})
            assert reader.returncode == 0, reader.stderr
    finally:
        stop.set()
        writer.join()
    assert drain.wait(timeout=120) == 0, drain.stderr.read()
    run_cli("collect")
    assert spooled() == []


# ----------------------------------------------------------- what the hook loads

HEAVY = ("duckdb", "click", "genai_prices", "usagecore._core", "usagecore.cli", "pyarrow")


def _imported(stderr: str) -> set[str]:
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize("spool_only", ["true", "false"])
def test_hook_path_imports_nothing_heavy(spool_only):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "usagecore", "ingest", "--source", "claude_code"],
        input=POST_TOOL_USE, capture_output=True, timeout=60,
        env={**os.environ, **SILENT, "USAGECORE_TELEMETRY_SPOOL_ONLY": spool_only})
    assert (result.returncode, result.stdout) == (0, b"")
    imported = _imported(result.stderr.decode())
    assert "usagecore.ingest" in imported and "usagecore.spool" in imported  # the trace is real
    for heavy in HEAVY:
        assert not any(name == heavy or name.startswith(heavy + ".") for name in imported), heavy
    if spool_only == "true":
        assert spooled() == [POST_TOOL_USE]
    else:  # the drain it started (in a process of its own) stored it
        wait_for(lambda: spooled() == [], "the background drain")
        assert event_counts() == {"tool_call": 1}
