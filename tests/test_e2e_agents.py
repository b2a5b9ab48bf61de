"""End to end with the real Codex CLI and OpenCode, driven offline by the
shared agents harness (../shared/agents: a mock model on loopback inside a
loopback-only network namespace). `usagecore install codex|opencode` runs in
the sandboxed home, where the harness has already set up its own notify
program / plugin; the agent runs a prompt and a continued one; then the store
must hold exactly what the mock handed out (`expected.py`), a backfill
afterwards adds nothing, and the harness's own notify / plugin still got
their events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HARNESS, harness_skip

pytestmark = harness_skip("codex/run_codex.sh")

TOTALS_SQL = ("SELECT event_type, count(*) AS n, sum(input_tokens) AS input, sum(output_tokens) AS output, "
              "sum(reasoning_tokens) AS reasoning, sum(cache_read_tokens) AS cache_read, "
              "sum(cache_write_tokens) AS cache_write, round(sum(cost_usd), 10) AS cost "
              "FROM usage_events GROUP BY ALL ORDER BY 1")


def _expected(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(HARNESS / "expected.py"), *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _run(tmp_path_factory, agent: str, runner: str, args: list[str], install: str) -> Path:
    subprocess.run([str(HARNESS / "install.sh")], check=True, capture_output=True, timeout=600)
    out = tmp_path_factory.mktemp(agent)
    venv_bin = Path(sys.executable).parent
    after = " && ".join([
        "usagecore collect",
        f"usagecore sql \"{TOTALS_SQL}\" --format json > $HOME/after_collect.json",
        "usagecore backfill --json > $HOME/backfill.json",
        f"usagecore sql \"{TOTALS_SQL}\" --format json > $HOME/after_backfill.json",
    ])
    env = {**os.environ, "AGENTS_OUT_DIR": str(out), "CONTINUE_PROMPT": "say hi again",
           "AGENT_EXTRA_ENV": f"PATH={venv_bin}:/usr/local/bin:/usr/bin:/bin",
           "AGENT_SETUP": install, "AGENT_AFTER": after}
    result = subprocess.run([str(HARNESS / agent / runner), "e2e", *args],
                            env=env, capture_output=True, text=True, timeout=600)
    run = out / agent / "e2e"
    assert result.returncode == 0, result.stdout + result.stderr
    for log in ("setup.log", "after.log"):
        assert "exit=0" in (run / log).read_text(), (run / log).read_text()
    return run


def _rows(run: Path, name: str) -> dict:
    return {row["event_type"]: row for row in json.loads((run / "home" / name).read_text())}


@pytest.fixture(scope="module")
def codex_run(tmp_path_factory) -> Path:
    return _run(tmp_path_factory, "codex", "run_codex.sh", ["json", "--json"], "usagecore install codex")


@pytest.fixture(scope="module")
def opencode_run(tmp_path_factory) -> Path:
    return _run(tmp_path_factory, "opencode", "run_opencode.sh", ["--format", "json"], "usagecore install opencode")


def test_codex_store_holds_exactly_what_the_mock_handed_out(codex_run):
    truth = _expected("responses", "4")
    message = _rows(codex_run, "after_collect.json")["message"]
    tokens = truth["non_overlapping"]
    assert (message["n"], message["input"], message["cache_read"], message["output"], message["reasoning"]) == (
        4, tokens["input"], tokens["cache_read"], tokens["output"], tokens["reasoning_within_output"])
    assert message["cost"] is None  # gpt-5-mock has no known price: unknown, never $0
    assert _rows(codex_run, "after_collect.json")["turn"]["n"] == 2


def test_codex_backfill_afterwards_adds_nothing_and_the_own_notify_kept_working(codex_run):
    home = codex_run / "home"
    assert json.loads((home / "backfill.json").read_text())["events"] == 0
    assert (home / "after_backfill.json").read_text() == (home / "after_collect.json").read_text()
    captured = list((home / ".capture").rglob("*notify*.json"))
    assert len(captured) == 2, sorted(p.name for p in (home / ".capture").rglob("*"))


def test_opencode_store_holds_exactly_what_the_mock_handed_out(opencode_run):
    truth = _expected("chat", "5", "--skip", "1", "--prices", "3,15,0.3,3.75")
    message = _rows(opencode_run, "after_collect.json")["message"]
    t = truth["opencode_tokens"]
    assert (message["n"], message["input"], message["cache_read"], message["output"], message["reasoning"]) == (
        4, t["input"], t["cache_read"], t["output"] + t["reasoning"], t["reasoning"])
    assert message["cost"] == pytest.approx(truth["cost_usd"], abs=1e-9)


def test_opencode_backfill_afterwards_adds_nothing_and_the_own_plugin_kept_working(opencode_run):
    home = opencode_run / "home"
    assert json.loads((home / "backfill.json").read_text())["events"] == 0
    assert (home / "after_backfill.json").read_text() == (home / "after_collect.json").read_text()
    assert (home / ".capture" / "plugin_events.jsonl").stat().st_size > 0
