"""Our daily, monthly, session and blocks reports against ccusage 20.0.24 on
the real Claude Code captures (each capture its own CLAUDE_CONFIG_DIR, in the
layout Claude Code writes).

Where both define a figure they agree: tokens of every kind per day, month,
session and 5-hour block, block start and end, and the cost of every model
ccusage has a price for. The one difference: ccusage 20.0.24's offline
price table has no `claude-opus-5-5` / `claude-haiku-5-5` (it reports them
with `missingPricing` and costs them $0); we price them, and the price we
charge is the one Claude Code itself reported for those very requests
(captures/totals.json, `expected.by_model[...].cost_usd`), so ours is right.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CAPTURES, REPO, run_cli

CCUSAGE = REPO / "bench" / "node_modules" / ".bin" / "ccusage"
TOTALS = json.loads((CAPTURES / "totals.json").read_text())
RUNS = sorted(p.name for p in (CAPTURES / "claude-code").iterdir() if (p / "transcripts").is_dir())
TOKENS = {"inputTokens": "input_tokens", "outputTokens": "output_tokens", "cacheReadTokens": "cache_read_tokens",
          "cacheCreationTokens": "cache_write_tokens"}
COST_TOL = 1e-9

pytestmark = pytest.mark.skipif(not CCUSAGE.exists(), reason="ccusage not installed (npm install --prefix bench)")


class Capture:
    def __init__(self, run: str, root: Path):
        self.run = run
        self.config = root / "claude"
        shutil.copytree(CAPTURES / "claude-code" / run / "transcripts", self.config / "projects")
        self.home = root / "home"
        self.home.mkdir()
        self.db = root / "store.duckdb"
        self.env = {"HOME": str(self.home), "XDG_STATE_HOME": str(self.home / "state"),
                    "XDG_CONFIG_HOME": str(self.home / "config"), "TZ": "UTC", "CLAUDE_CONFIG_DIR": ""}
        run_cli("--db", str(self.db), "backfill", "claude", str(self.config / "projects"), env=self.env)
        self.expected = TOTALS[f"claude-code/{run}"]["expected"]

    def ccusage(self, kind: str) -> dict:
        env = {**os.environ, "HOME": str(self.home), "CLAUDE_CONFIG_DIR": str(self.config), "NO_COLOR": "1"}
        out = subprocess.run([str(CCUSAGE), "claude", kind, "--json", "--offline", "--timezone", "UTC"],
                             capture_output=True, env=env, timeout=120, check=True)
        return json.loads(out.stdout)

    def ours(self, kind: str) -> dict:
        return json.loads(run_cli("--db", str(self.db), "report", kind, "--json", "--tz", "UTC", "--breakdown",
                                  env=self.env).stdout)


@pytest.fixture(scope="module", params=RUNS)
def capture(request, tmp_path_factory) -> Capture:
    return Capture(request.param, tmp_path_factory.mktemp(request.param))


def _tokens(theirs: dict, ours: dict) -> None:
    for their_key, our_key in TOKENS.items():
        assert theirs[their_key] == ours[our_key], their_key


def _costs(their_models: list[dict], our_models: list[dict], expected: dict) -> None:
    """Per model: equal cost where ccusage has a price; where it has none, ours is Claude Code's own."""
    ours = {m["model"]: m for m in our_models}
    for model in their_models:
        name = model["modelName"]
        # ccusage keeps the dated id; ours is normalized (claude-haiku-4-5-20251001 -> claude-haiku-4-5).
        mine = ours.get(name) or next(v for k, v in ours.items() if name.startswith(k))
        _tokens(model, mine)
        if model.get("missingPricing"):
            assert model["cost"] == 0
            assert abs(mine["cost_usd"] - expected["by_model"][name]["cost_usd"]) <= COST_TOL, name
        else:
            assert abs(mine["cost_usd"] - model["cost"]) <= COST_TOL, name


@pytest.mark.parametrize("kind, key", [("daily", "date"), ("monthly", "month")])
def test_periods_agree(capture, kind, key):
    theirs, ours = capture.ccusage(kind), capture.ours(kind)
    rows = {r[key]: r for r in ours["rows"]}
    assert sorted(rows) == sorted(r[key] for r in theirs[kind])
    for their in theirs[kind]:
        mine = rows[their[key]]
        _tokens(their, mine)
        assert their["totalTokens"] == mine["total_tokens"]
        _costs(their["modelBreakdowns"], mine["breakdown"], capture.expected)


def test_sessions_agree(capture):
    theirs, ours = capture.ccusage("session"), capture.ours("session")
    rows = {r["session_id"]: r for r in ours["rows"]}
    assert sorted(rows) == sorted(s["sessionId"] for s in theirs["sessions"])
    for their in theirs["sessions"]:
        mine = rows[their["sessionId"]]
        _tokens(their, mine)
        assert (their["firstActivity"][:16].replace("T", " "), their["lastActivity"][:16].replace("T", " ")) == (
            mine["first_seen"], mine["last_seen"])
        _costs(their["modelBreakdowns"], mine["breakdown"], capture.expected)


def test_blocks_agree(capture):
    theirs = [b for b in capture.ccusage("blocks")["blocks"] if not b["isGap"]]
    ours = capture.ours("blocks")["rows"]
    assert [(b["startTime"].replace(".000Z", "Z"), b["endTime"].replace(".000Z", "Z")) for b in theirs] == [
        (b["start_utc"], b["end_utc"]) for b in ours]
    for their, mine in zip(theirs, ours):
        counts = their["tokenCounts"]
        assert (counts["inputTokens"], counts["outputTokens"], counts["cacheReadInputTokens"],
                counts["cacheCreationInputTokens"]) == (mine["input_tokens"], mine["output_tokens"],
                                                        mine["cache_read_tokens"], mine["cache_write_tokens"])
        assert their["totalTokens"] == mine["total_tokens"]
        priced = sum(m["cost_usd"] for m in capture.expected["by_model"].values())
        assert abs(mine["cost_usd"] - priced) <= COST_TOL
        # ccusage's block cost leaves the models it cannot price out.
        unpriced_by_them = sum(v["cost_usd"] for k, v in capture.expected["by_model"].items()
                               if k.startswith("claude-") and "-5-5" in k)
        assert abs(their["costUSD"] - (priced - unpriced_by_them)) <= 1e-6
