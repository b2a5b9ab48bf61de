"""Our daily, monthly, session and blocks reports against ccusage 20.0.24 on
the real Claude Code captures (each capture its own CLAUDE_CONFIG_DIR, in the
layout Claude Code writes), and on a generated corpus (below, "the bench corpus").

On the captures, where both define a figure they agree: tokens of every kind per day, month,
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
import sys
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


class ClaudeConfig:
    """A Claude config folder (`root/claude`, its `projects/` filled by `fill`)
    that ccusage reads as CLAUDE_CONFIG_DIR and we backfill into a store of our own."""

    def __init__(self, root: Path, fill):
        self.config = root / "claude"
        fill(self.config)
        self.home = root / "home"
        self.home.mkdir()
        self.db = root / "store.duckdb"
        self.env = {"HOME": str(self.home), "XDG_STATE_HOME": str(self.home / "state"),
                    "XDG_CONFIG_HOME": str(self.home / "config"), "TZ": "UTC", "CLAUDE_CONFIG_DIR": ""}
        run_cli("--db", str(self.db), "backfill", "claude", str(self.config / "projects"), env=self.env)

    def ccusage(self, kind: str) -> dict:
        env = {**os.environ, "HOME": str(self.home), "CLAUDE_CONFIG_DIR": str(self.config), "NO_COLOR": "1"}
        out = subprocess.run([str(CCUSAGE), "claude", kind, "--json", "--offline", "--timezone", "UTC"],
                             capture_output=True, env=env, timeout=120, check=True)
        return json.loads(out.stdout)

    def ours(self, kind: str) -> dict:
        return json.loads(run_cli("--db", str(self.db), "report", kind, "--json", "--tz", "UTC", "--breakdown",
                                  env=self.env).stdout)


class Capture(ClaudeConfig):
    """A real captured run's transcripts."""

    def __init__(self, run: str, root: Path):
        super().__init__(root, lambda config: shutil.copytree(
            CAPTURES / "claude-code" / run / "transcripts", config / "projects"))
        self.expected = TOTALS[f"claude-code/{run}"]["expected"]


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


# ------------------------------------------------------------ the bench corpus
#
# On a generated corpus (bench/generate.py: every counting trap planted, exact
# truth) ccusage 20.0.24 and we differ in three rules, and ccusage's own
# reports do not agree with each other on them:
#
# - lines of a response without requestId (old builds write one line per
#   content block, each with the response's usage): ccusage's daily counts
#   each line; its monthly, session and blocks merge them, as we do;
# - side-chain replays (the same message.id again under another requestId):
#   daily drops them, as we do; monthly, session and blocks count them again;
# - a subagent's message copied into the parent's agent_progress line: daily
#   counts the copy when the subagent's own line was lost, as we do; monthly,
#   session and blocks never do.
#
# The tests rebuild each of ccusage's figures from the files with its rules
# and get them exactly, and show for each rule why ours is right.

GENERATE = REPO / "bench" / "generate.py"
OURS = {"merge_without_request_id": True, "subagent_copies": True, "drop_replays": True}
CCUSAGE_DAILY = {"merge_without_request_id": False, "subagent_copies": True, "drop_replays": True}
CCUSAGE_OTHERS = {"merge_without_request_id": True, "subagent_copies": False, "drop_replays": False}


class Generated(ClaudeConfig):
    def __init__(self, root: Path):
        super().__init__(root, lambda config: subprocess.run(
            [sys.executable, str(GENERATE), "--out", str(config), "--size", "8MB", "--seed", "1"],
            check=True, capture_output=True, timeout=300))
        self.lines = []  # (path, line as parsed, or None when it does not parse)
        for path in sorted((self.config / "projects").rglob("*.jsonl")):
            for raw in path.read_bytes().split(b"\n"):
                if raw:
                    try:
                        self.lines.append((path, json.loads(raw)))
                    except ValueError:
                        self.lines.append((path, None))

    def usage_lines(self, *, subagent_copies: bool = True):
        """(path, line, sidechain, is_copy) of every assistant line with usage."""
        for path, line in self.lines:
            if line is None:
                continue
            sidechain, copy = bool(line.get("isSidechain")), False
            if line.get("type") == "progress" and (line.get("data") or {}).get("type") == "agent_progress":
                if not subagent_copies:
                    continue
                line = {**line["data"]["message"], "sessionId": line.get("sessionId"),
                        "agentId": line["data"].get("agentId")}
                sidechain, copy = True, True
            message = line.get("message") or {}
            if line.get("type") == "assistant" and message.get("usage") and message.get("model") != "<synthetic>":
                yield path, line, sidechain, copy

    def responses(self, *, merge_without_request_id: bool, subagent_copies: bool, drop_replays: bool) -> list[dict]:
        """The corpus's responses, by a plain reader of the given rules."""
        by_key: dict[tuple, dict] = {}
        for _, line, sidechain, _ in self.usage_lines(subagent_copies=subagent_copies):
            message = line["message"]
            request = line.get("requestId") or (None if merge_without_request_id else line["uuid"])
            usage = message["usage"]
            tokens = {"input_tokens": usage.get("input_tokens", 0), "output_tokens": usage.get("output_tokens", 0),
                      "cache_read_tokens": usage.get("cache_read_input_tokens", 0),
                      "cache_write_tokens": usage.get("cache_creation_input_tokens", 0)}
            entry = by_key.setdefault((message["id"], request), {
                "message_id": message["id"], "request_id": line.get("requestId"), "sidechain": sidechain,
                "at": line["timestamp"], "session": line.get("sessionId"), "lines": [], **tokens})
            entry["lines"].append(usage)
            entry["at"] = min(entry["at"], line["timestamp"])
            for key, value in tokens.items():
                entry[key] = max(entry[key], value)
        main = {e["message_id"] for e in by_key.values() if not e["sidechain"]}
        return [e for e in by_key.values() if not (drop_replays and e["sidechain"] and e["message_id"] in main)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Generated:
    return Generated(tmp_path_factory.mktemp("generated"))


def _sums(responses: list[dict], key) -> dict:
    out: dict = {}
    for r in responses:
        row = out.setdefault(key(r), dict.fromkeys(TOKENS.values(), 0))
        for name in TOKENS.values():
            row[name] += r[name]
    return out


@pytest.mark.parametrize("kind, key, cut, rules", [("daily", "date", 10, CCUSAGE_DAILY),
                                                    ("monthly", "month", 7, CCUSAGE_OTHERS)])
def test_generated_corpus_periods(generated, kind, key, cut, rules):
    theirs = {r[key]: {v: r[k] for k, v in TOKENS.items()} for r in generated.ccusage(kind)[kind]}
    ours = {r[key]: {v: r[v] for v in TOKENS.values()} for r in generated.ours(kind)["rows"]}
    assert theirs == _sums(generated.responses(**rules), lambda r: r["at"][:cut])
    assert ours == _sums(generated.responses(**OURS), lambda r: r["at"][:cut])
    assert theirs != ours  # the corpus has every trap


def test_generated_corpus_sessions(generated):
    theirs = {s["sessionId"]: {v: s[k] for k, v in TOKENS.items()} for s in generated.ccusage("session")["sessions"]}
    ours = {r["session_id"]: {v: r[v] for v in TOKENS.values()} for r in generated.ours("session")["rows"]}
    assert theirs == _sums(generated.responses(**CCUSAGE_OTHERS), lambda r: r["session"])
    assert ours == _sums(generated.responses(**OURS), lambda r: r["session"])


def test_generated_corpus_blocks(generated):
    theirs = [b for b in generated.ccusage("blocks")["blocks"] if not b["isGap"]]
    ours = generated.ours("blocks")["rows"]
    assert [b["startTime"].replace(".000Z", "Z") for b in theirs] == [b["start_utc"] for b in ours]
    counts = {"input_tokens": "inputTokens", "output_tokens": "outputTokens",
              "cache_read_tokens": "cacheReadInputTokens", "cache_write_tokens": "cacheCreationInputTokens"}
    for name, their_key in counts.items():
        assert sum(b["tokenCounts"][their_key] for b in theirs) == sum(
            r[name] for r in generated.responses(**CCUSAGE_OTHERS))
        assert sum(b[name] for b in ours) == sum(r[name] for r in generated.responses(**OURS))


def test_why_lines_without_request_id_merge(generated):
    """They share a message.id (the API's id of one response) and carry the same
    usage, but for output tokens where early builds wrote a placeholder on all
    lines but sometimes the last: one response, its output the largest."""
    merged = [r for r in generated.responses(**OURS) if r["request_id"] is None and len(r["lines"]) > 1]
    assert merged
    for response in merged:
        without_output = [{k: v for k, v in usage.items() if k != "output_tokens"} for usage in response["lines"]]
        assert all(u == without_output[0] for u in without_output), response["message_id"]
        assert response["output_tokens"] == max(u["output_tokens"] for u in response["lines"])


def test_why_side_chain_replays_are_dropped(generated):
    """A replay repeats a main-chain response: same message.id, same usage; counting
    it bills one API response twice."""
    responses = generated.responses(**{**OURS, "drop_replays": False})
    main = {r["message_id"]: r for r in responses if not r["sidechain"]}
    replays = [r for r in responses if r["sidechain"] and r["message_id"] in main]
    assert replays
    for replay in replays:
        original = main[replay["message_id"]]
        assert replay["request_id"] != original["request_id"]
        assert all(replay[name] <= original[name] for name in TOKENS.values())


def test_why_a_lost_subagent_line_is_counted_from_its_copy(generated):
    """Every agent_progress copy merges with a line of the subagent's file, except
    where that file was cut by a crash: the copy is then the only record of a
    response the subagent did make."""
    own = {(line["message"]["id"], line.get("requestId")): line
           for path, line, _, copy in generated.usage_lines() if not copy}
    broken_files = {path.name for path, line in generated.lines if line is None}
    lost = 0
    for _, copy, _, is_copy in generated.usage_lines():
        if not is_copy:
            continue
        key = (copy["message"]["id"], copy.get("requestId"))
        if key in own:
            assert own[key]["message"]["usage"] == copy["message"]["usage"]
        else:
            lost += 1
            assert f"agent-{copy['agentId']}.jsonl" in broken_files
    assert lost
