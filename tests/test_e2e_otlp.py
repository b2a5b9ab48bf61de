"""End to end over OpenTelemetry with the real Claude Code and Codex CLIs,
driven offline by the shared agents harness (../shared/agents: mock models on
loopback inside a loopback-only network namespace, `NO_SINK=1` so that
`usagecore serve`, started by `AGENT_SETUP` inside the sandbox, receives the
agents' OTLP on `PORT_OTLP`). Claude Code also has our hooks installed, so
each API call reaches the store through OTLP, the Stop hook (which reads the
transcript) and a backfill afterwards, and Codex has our `notify` program
installed, so each response reaches it through OTLP, `notify` (which reads
the rollout) and a backfill: each must be counted exactly once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HARNESS, harness_skip

pytestmark = harness_skip("claude/run_claude.sh")

MESSAGES_SQL = ("SELECT count(*) AS n, sum(requests) AS requests, sum(input_tokens) AS input, "
                "sum(output_tokens) AS output, sum(reasoning_tokens) AS reasoning, "
                "sum(cache_read_tokens) AS cache_read, sum(cache_write_tokens) AS cache_write, "
                "round(sum(cost_usd), 10) AS cost, string_agg(DISTINCT cost_source) AS cost_source "
                "FROM usage_events WHERE event_type = 'message'")
# What Claude Code itself reported over OTLP, one log record per API request.
REPORTED_SQL = ("SELECT count(*) AS n, round(sum(CAST(json_extract_string(attributes, '$.cost_usd') AS DOUBLE)), 10) "
                "AS cost FROM otel_events WHERE event_name = 'claude_code.api_request'")
CHANNELS_SQL = ("SELECT source_system, source_channel, count(*) AS n FROM usage_raw_events "
                "GROUP BY ALL ORDER BY ALL")
# `usagecore serve` writes its state file once it listens; SIGTERM makes it
# store everything acknowledged and say "stopped" as its last line.
SERVE_LOG = "$HOME/serve.log"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_serve(port: int) -> str:
    """Shell for AGENT_SETUP: `usagecore serve` in the background, then wait until it answers."""
    return (f"(usagecore serve --port {port} --no-grpc >{SERVE_LOG} 2>&1 &) && "
            f"for i in $(seq 300); do (echo >/dev/tcp/127.0.0.1/{port}) 2>/dev/null && exit 0; sleep 0.1; done; "
            f"cat {SERVE_LOG}; exit 1")


def _stop_serve() -> str:
    """Shell for AGENT_AFTER: SIGTERM, then wait (bounded) for its last line."""
    state = "$HOME/.local/state/usagecore/serve.json"
    return (f"pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"pid\"])' {state}) && "
            "kill -TERM $pid && "
            f"for i in $(seq 300); do grep -q 'usagecore serve: stopped' {SERVE_LOG} && break; sleep 0.1; done; "
            f"grep -q 'usagecore serve: stopped' {SERVE_LOG} || {{ kill -KILL $pid; cat {SERVE_LOG}; exit 1; }}")


def _dump(sql: str, name: str) -> str:
    return f"usagecore sql \"{sql}\" --format json > $HOME/{name}.json"


def _expected(mock: str, n: int, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(HARNESS / "expected.py"), mock, str(n), *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _run(out: Path, agent: str, script: str, run: str, protocol: str, setup: str, after: list[str]) -> Path:
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "AGENTS_OUT_DIR": str(out), "NO_SINK": "1", "PORT_OTLP": str(_free_port()),
           "CONTINUE_PROMPT": "say hi again", "EXPORT_GRACE_S": "0",
           "AGENT_EXTRA_ENV": f"PATH={venv_bin}:/usr/local/bin:/usr/bin:/bin"}
    env["AGENT_SETUP"] = " && ".join(filter(None, [setup, _start_serve(int(env["PORT_OTLP"]))]))
    # Late exports: the agents flush at exit, but give a straggler a moment.
    env["AGENT_AFTER"] = " && ".join(["sleep 1", _stop_serve(), *after])
    result = subprocess.run([str(HARNESS / agent / script), run, protocol],
                            env=env, capture_output=True, text=True, timeout=300)
    rd = out / agent / run
    assert result.returncode == 0, result.stdout + result.stderr
    for log in ("setup.log", "after.log"):
        assert "exit=0" in (rd / log).read_text(), (rd / log).read_text()
    return rd / "home"


def _load(home: Path, name: str) -> list[dict]:
    return json.loads((home / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def install_agents() -> None:
    subprocess.run([str(HARNESS / "install.sh")], check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="module", params=["http/protobuf", "http/json"])
def claude_home(request, install_agents, tmp_path_factory) -> Path:
    after = ["usagecore collect", _dump(MESSAGES_SQL, "messages"), _dump(REPORTED_SQL, "reported"),
             _dump(CHANNELS_SQL, "channels"), "usagecore backfill --json > $HOME/backfill.json",
             _dump(MESSAGES_SQL, "messages_after_backfill")]
    return _run(tmp_path_factory.mktemp("agents"), "claude", "run_claude.sh", "e2e-otlp", request.param,
                "usagecore install claude-code --no-backfill", after)


def test_claude_every_api_call_counted_once(claude_home):
    # Simple scenario, two prompts: Bash then text each, four API requests.
    expected = _expected("anthropic", 4, "--prices", "claude-opus-5-5")
    (reported,) = _load(claude_home, "reported")
    (message,) = _load(claude_home, "messages")
    assert reported["n"] == 4
    assert (message["n"], message["requests"], message["input"], message["output"], message["cache_read"],
            message["cache_write"]) == (4, 4, expected["input_tokens"], expected["output_tokens"],
                                       expected["cache_read_input_tokens"], expected["cache_creation_input_tokens"])
    # The cost is the one Claude Code reported, which is also the mock's truth at its rates.
    assert message["cost_source"] == "reported"
    assert message["cost"] == pytest.approx(reported["cost"], abs=1e-9)
    assert message["cost"] == pytest.approx(expected["cost_usd"], abs=1e-9)


def test_claude_calls_arrived_through_otlp_and_the_hook(claude_home):
    channels = {row["source_channel"]: row["n"] for row in _load(claude_home, "channels")}
    # OTLP: an api_request per call, a tool_result and a user_prompt per
    # prompt; the transcript (read by the Stop hook): a usage record per call.
    assert (channels.pop("otlp"), channels.pop("jsonl")) == (8, 4)
    assert channels.pop("hook") > 0
    assert channels == {}


def test_claude_backfill_afterwards_adds_nothing(claude_home):
    summary = json.loads((claude_home / "backfill.json").read_text())
    assert summary["events"] == 0, summary
    assert _load(claude_home, "messages_after_backfill") == _load(claude_home, "messages")


# Each Codex message: which path's row it is, and whether an OTLP sighting went into it.
CODEX_ROWS_SQL = ("SELECT e.source_channel, e.request_id, count(p.dropped_event_id) AS paired "
                  "FROM usage_events AS e LEFT JOIN paired_events AS p ON p.kept_event_id = e.event_id "
                  "WHERE e.event_type = 'message' GROUP BY ALL ORDER BY e.request_id")


@pytest.fixture(scope="module", params=["binary", "json"])
def codex_home(request, install_agents, tmp_path_factory) -> Path:
    """Codex with our `notify` program installed too: each response reaches the
    store through OTLP and through its rollout (read at each turn's end by
    `notify`, and by a backfill afterwards)."""
    after = ["usagecore collect", _dump(MESSAGES_SQL, "messages"), _dump(CHANNELS_SQL, "channels"),
             _dump(CODEX_ROWS_SQL, "rows"), "usagecore backfill codex --json > $HOME/backfill.json",
             _dump(MESSAGES_SQL, "messages_after_backfill")]
    return _run(tmp_path_factory.mktemp("agents"), "codex", "run_codex.sh", "e2e-otlp", request.param,
                "usagecore install codex --no-backfill", after)


def test_codex_exec_and_resume_counted_once(codex_home):
    # exec and `exec resume --last`: a shell tool call then text each, four responses.
    expected = _expected("responses", 4)
    (message,) = _load(codex_home, "messages")
    # OpenAI's input includes the cached part; ours does not.
    assert (message["n"], message["requests"], message["input"] + message["cache_read"], message["cache_read"],
            message["output"], message["reasoning"], message["cache_write"]) == (
        4, 4, expected["input_tokens"], expected["cached_input_tokens"], expected["output_tokens"],
        expected["reasoning_output_tokens"], 0)


def test_codex_responses_arrived_through_otlp_and_notify(codex_home):
    channels = {(row["source_system"], row["source_channel"]): row["n"] for row in _load(codex_home, "channels")}
    # A raw record per response from each path; a turn event per `notify`.
    assert channels == {("codex", "otlp"): 4, ("codex", "rollout"): 4, ("codex", "notify"): 2}
    # The rollout's rows stay (they name the response), each with its OTLP sighting in it.
    rows = _load(codex_home, "rows")
    assert [(row["source_channel"], row["request_id"][:13], row["paired"]) for row in rows] == [
        ("rollout", f"resp_mock_00{n}", 1) for n in range(1, 5)]


def test_codex_backfill_afterwards_adds_nothing(codex_home):
    summary = json.loads((codex_home / "backfill.json").read_text())
    assert summary["events"] == 0, summary
    assert _load(codex_home, "messages_after_backfill") == _load(codex_home, "messages")
