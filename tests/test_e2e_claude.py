"""End to end with the real Claude Code CLI, driven offline by the shared
agents harness (../shared/agents: a mock model on loopback inside a
loopback-only network namespace). `usagecore install claude-code` runs in
the sandboxed home, where the harness has already registered its own hooks;
`claude -p` runs the rich scenario (tools and a subagent) and a continued
second prompt; then the store must hold exactly what the mock handed out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HARNESS, harness_skip


pytestmark = harness_skip("claude/run_claude.sh")

TOTALS_SQL = ("SELECT event_type, count(*) AS n, sum(input_tokens) AS input, sum(output_tokens) AS output, "
              "sum(cache_read_tokens) AS cache_read, sum(cache_write_tokens) AS cache_write, "
              "round(sum(cost_usd), 10) AS cost FROM usage_events GROUP BY ALL ORDER BY 1")
# Rich scenario, two prompts: the main model answers 1-3 and 6 of each
# prompt's six requests, the haiku subagent 4 and 5.
SUBAGENT = "4,5,10,11"


def _expected(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(HARNESS / "expected.py"), "anthropic", "12", *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def harness_run(tmp_path_factory) -> Path:
    subprocess.run([str(HARNESS / "install.sh")], check=True, capture_output=True, timeout=600)
    out = tmp_path_factory.mktemp("agents")
    venv_bin = Path(sys.executable).parent
    after = " && ".join([
        "usagecore collect",
        f"usagecore sql \"{TOTALS_SQL}\" --format json > $HOME/after_collect.json",
        "usagecore backfill --json > $HOME/backfill.json",
        f"usagecore sql \"{TOTALS_SQL}\" --format json > $HOME/after_backfill.json",
        "usagecore doctor > $HOME/doctor.txt",
    ])
    env = {**os.environ, "AGENTS_OUT_DIR": str(out), "MOCK_SCENARIO": "rich", "CONTINUE_PROMPT": "say hi again",
           "AGENT_EXTRA_ENV": f"PATH={venv_bin}:/usr/local/bin:/usr/bin:/bin",
           "AGENT_SETUP": "usagecore install claude-code", "AGENT_AFTER": after}
    result = subprocess.run([str(HARNESS / "claude" / "run_claude.sh"), "e2e", "http/json"],
                            env=env, capture_output=True, text=True, timeout=600)
    run = out / "claude" / "e2e"
    assert result.returncode == 0, result.stdout + result.stderr
    for log in ("setup.log", "after.log"):
        assert "exit=0" in (run / log).read_text(), (run / log).read_text()
    return run


def test_store_holds_exactly_what_the_mock_handed_out(harness_run):
    rows = {row["event_type"]: row for row in json.loads((harness_run / "home" / "after_collect.json").read_text())}
    total = _expected()
    cost = (_expected("--skip", SUBAGENT, "--prices", "claude-opus-5-5")["cost_usd"]
            + _expected("--only", SUBAGENT, "--prices", "claude-haiku-5-5")["cost_usd"])
    message = rows["message"]
    assert (message["n"], message["input"], message["output"], message["cache_read"], message["cache_write"]) == (
        12, total["input_tokens"], total["output_tokens"], total["cache_read_input_tokens"],
        total["cache_creation_input_tokens"])
    assert message["cost"] == pytest.approx(cost, abs=1e-9)
    # Per prompt: Bash, Write, the Agent tool, the subagent's Bash.
    counts = {kind: row["n"] for kind, row in rows.items() if kind != "message"}
    assert counts == {"tool_call": 8, "prompt": 2, "session_start": 2, "session_end": 2}


def test_backfill_afterwards_adds_nothing(harness_run):
    home = harness_run / "home"
    summary = json.loads((home / "backfill.json").read_text())
    assert (summary["events"], summary["merged_events"]) == (0, 0)
    assert (home / "after_backfill.json").read_text() == (home / "after_collect.json").read_text()


def test_the_harness_own_hooks_kept_working(harness_run):
    captured = sorted(p.name.split("_", 1)[1] for p in (harness_run / "home" / ".capture" / "hooks").glob("*.json"))
    assert captured.count("Stop.json") == 2
    assert captured.count("PostToolUse.json") == 8
    assert captured.count("UserPromptSubmit.json") == 2


def test_doctor_is_happy_inside_the_sandbox(harness_run):
    report = (harness_run / "home" / "doctor.txt").read_text()
    assert "FAIL" not in report, report
    assert "claude-code: hook script: runs" in report
