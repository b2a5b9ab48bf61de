"""Every report, provider linking, status and export on a seeded store.

The store is seeded directly (rows inserted into `usage_events`), so every
expected figure below is computed by hand from SEED. Input tokens are powers
of two and costs equal input tokens in dollars: a sum names exactly which
events a row holds.

Time-zone edges in SEED (2026):
* Europe/Berlin: CET until 2026-03-29 01:00Z, then CEST. Event 1 (22:59:59Z on
  the 28th) is 23:59:59 on the 28th; event 2 (23:00Z) is 00:00 on the 29th;
  event 3 (21:59Z on the 29th) is 23:59 CEST on the 29th, event 4 (22:00Z) the 30th.
  The 29th is 23 hours long.
* America/Los_Angeles: PST until 2026-03-08 10:00Z, then PDT. Event 5 (07:59Z
  on the 8th) is 23:59 on the 7th, event 6 (08:00Z) 00:00 on the 8th, event 7
  (06:59Z on the 9th) 23:59 PDT on the 8th, event 8 (07:00Z) the 9th.
* Blocks (claude_code): 13 and 14 share a block from 22:00Z on the 10th
  across midnight; 15 (03:10Z) is more than 5 h after 22:00 and opens 03:00;
  16 at exactly 08:00:00 is still in it (not more than 5 h); 17 one
  millisecond later opens 08:00.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import run_cli

S1, S2, S3, S4, S5 = "sess-1", "sess-2", "sess-3", "sess-4", "sess-5"
OPUS, HAIKU, GPT = "claude-opus-4-8", "claude-haiku-4-5", "gpt-5"

# n, occurred_at (UTC), source, provider_id, model, input (= cost in USD, None: unpriced), session, project, account
SEED = [
    (1, "2026-03-28 22:59:59", "claude_code", "anthropic", OPUS, 1, S1, "/p/app", None),
    (2, "2026-03-28 23:00:00", "claude_code", "anthropic", OPUS, 2, S1, "/p/app", None),
    (3, "2026-03-29 21:59:00", "claude_code", "anthropic", HAIKU, 4, S1, "/p/app", None),
    (4, "2026-03-29 22:00:00", "claude_code", "anthropic", HAIKU, 8, S2, "/p/web", None),  # unpriced
    (5, "2026-03-08 07:59:00", "codex", "openai", GPT, 16, S3, "/p/api", "org-A"),
    (6, "2026-03-08 08:00:00", "codex", "openai", GPT, 32, S3, "/p/api", "org-A"),
    (7, "2026-03-09 06:59:00", "codex", "openai", GPT, 64, S3, "/p/api", "org-B"),
    (8, "2026-03-09 07:00:00", "codex", "openai", GPT, 128, S3, "/p/api", "org-B"),
    (9, "2026-03-10 22:30:00", "opencode", "anthropic", OPUS, 256, S4, "/p/oc", "acct-1"),
    (10, "2026-03-11 01:00:00", "opencode", "opencode", OPUS, 512, S4, "/p/oc", None),
    (11, "2026-03-11 03:10:00", "opencode", "github-copilot", GPT, 1024, S4, "/p/oc", None),
    (12, "2026-03-11 04:00:00", "codex", "ollama", "qwen3:32b", 2048, S3, "/p/api", None),
    (13, "2026-03-10 22:30:00", "claude_code", "anthropic", OPUS, 4096, S5, "/p/app", None),
    (14, "2026-03-11 01:00:00", "claude_code", "anthropic", OPUS, 8192, S5, "/p/app", None),
    (15, "2026-03-11 03:10:00", "claude_code", "anthropic", OPUS, 16384, S5, "/p/app", None),
    (16, "2026-03-11 08:00:00", "claude_code", "anthropic", OPUS, 32768, S5, "/p/app", None),
    (17, "2026-03-11 08:00:00.001", "claude_code", "anthropic", OPUS, 65536, S5, "/p/app", None),
    (18, "2026-02-28 23:30:00", "claude_code", "anthropic", OPUS, 131072, S5, "/p/app", None),
]
UNPRICED = {4}
UNMAPPED = {9: "anthropic", 11: "github-copilot", 12: "ollama"}
MAPPED = [e for e in SEED if e[0] not in UNMAPPED]


def mask(*ns: int) -> int:
    return sum(e[5] for e in SEED if e[0] in ns)


def cost_of(inp: int) -> float | None:
    """Cost of the events whose inputs sum to `inp`: unpriced ones add nothing; None when none is priced."""
    priced = [e[5] for e in SEED if e[5] & inp and e[0] not in UNPRICED]
    return float(sum(priced)) if priced else None


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    from usagecore.store import Store

    db = tmp_path_factory.mktemp("seeded") / "seeded.duckdb"
    with Store(db) as store:
        for n, ts, source, provider, model, inp, session, project, account in SEED:
            store.con.execute(
                "INSERT INTO usage_events (event_id, occurred_at, event_type, source_system, source_channel, "
                "provider_id, account_id, model_raw, model, input_tokens, output_tokens, total_tokens, cost_usd, "
                "cost_source, requests, session_id, project) VALUES "
                "(?, ?::TIMESTAMP AT TIME ZONE 'UTC', 'message', ?, 'jsonl', ?, ?, ?, ?, ?, 1, ?, ?, ?, 1, ?, ?)",
                [f"e{n}", ts, source, provider, account, model, model, inp, inp + 1,
                 None if n in UNPRICED else float(inp), "unknown" if n in UNPRICED else "reported",
                 session, project])
        for n, (tool, ok, ms) in enumerate([("Bash", True, 100), ("Bash", False, 50), ("Read", True, 7)]):
            store.con.execute(
                "INSERT INTO usage_events (event_id, occurred_at, event_type, source_system, source_channel, "
                "session_id, tool_name, success, duration_ms) VALUES "
                "(?, TIMESTAMPTZ '2026-03-28 12:00:00+00', 'tool_call', 'claude_code', 'hook', ?, ?, ?, ?)",
                [f"t{n}", S1 if n < 2 else S2, tool, ok, ms])
    return db


def rep(db: Path, kind: str, *args: str, env: dict | None = None) -> dict:
    return json.loads(run_cli("--db", str(db), "report", kind, "--json", *args, env=env).stdout)


def inputs(out: dict, key: str) -> dict:
    return {row[key]: row["input_tokens"] for row in out["rows"]}


# ------------------------------------------------------------------ periods

@pytest.mark.parametrize("tz, daily", [
    ("UTC", {"2026-02-28": mask(18), "2026-03-08": mask(5, 6), "2026-03-09": mask(7, 8),
             "2026-03-10": mask(13), "2026-03-11": mask(10, 14, 15, 16, 17), "2026-03-28": mask(1, 2),
             "2026-03-29": mask(3, 4)}),
    ("Europe/Berlin", {"2026-03-01": mask(18), "2026-03-08": mask(5, 6), "2026-03-09": mask(7, 8),
                       "2026-03-10": mask(13), "2026-03-11": mask(10, 14, 15, 16, 17), "2026-03-28": mask(1),
                       "2026-03-29": mask(2, 3), "2026-03-30": mask(4)}),
    ("America/Los_Angeles", {"2026-02-28": mask(18), "2026-03-07": mask(5), "2026-03-08": mask(6, 7),
                             "2026-03-09": mask(8), "2026-03-10": mask(13, 10, 14, 15),
                             "2026-03-11": mask(16, 17), "2026-03-28": mask(1, 2), "2026-03-29": mask(3, 4)}),
])
def test_daily_in_each_zone(seeded, tz, daily):
    out = rep(seeded, "daily", "--tz", tz)
    assert out["tz"] == tz
    assert inputs(out, "date") == daily
    for row in out["rows"]:
        assert row["cost_usd"] == cost_of(row["input_tokens"]), row["date"]
    assert out["totals"]["input_tokens"] == sum(e[5] for e in MAPPED)
    assert out["totals"]["unpriced_events"] == 1


def test_dst_days_as_since_until(seeded):
    # Berlin's 23-hour day and LA's 23-hour day, asked for alone.
    berlin = rep(seeded, "daily", "--tz", "Europe/Berlin", "--since", "2026-03-29", "--until", "2026-03-29")
    assert inputs(berlin, "date") == {"2026-03-29": mask(2, 3)}
    la = rep(seeded, "daily", "--tz", "America/Los_Angeles", "--since", "2026-03-08", "--until", "2026-03-08")
    assert inputs(la, "date") == {"2026-03-08": mask(6, 7)}


def test_weekly_starts_on_monday(seeded):
    out = rep(seeded, "weekly", "--tz", "UTC")
    # Mondays: 2026-02-23, 03-02 (the 8th is a Sunday), 03-09, 03-23.
    assert inputs(out, "week") == {"2026-02-23": mask(18), "2026-03-02": mask(5, 6),
                                   "2026-03-09": mask(7, 8, 13, 10, 14, 15, 16, 17),
                                   "2026-03-23": mask(1, 2, 3, 4)}


def test_monthly_moves_with_the_zone(seeded):
    assert inputs(rep(seeded, "monthly", "--tz", "UTC"), "month") == {
        "2026-02": mask(18), "2026-03": sum(e[5] for e in MAPPED) - mask(18)}
    assert inputs(rep(seeded, "monthly", "--tz", "Europe/Berlin"), "month") == {
        "2026-03": sum(e[5] for e in MAPPED)}


def test_empty_range_json_and_text(seeded):
    out = rep(seeded, "daily", "--since", "2027-01-01")
    assert out["rows"] == [] and out["totals"]["input_tokens"] == 0
    text = run_cli("--db", str(seeded), "report", "daily", "--since", "2027-01-01", "--tz", "UTC").stdout
    assert "No usage for this filter" in text and "since 2027-01-01" in text
    assert "Total" not in text and "$0.00" not in text


# ------------------------------------------------------------------ groups

def test_session_report(seeded):
    out = rep(seeded, "session", "--tz", "UTC")
    rows = {r["session_id"]: r for r in out["rows"]}
    assert set(rows) == {S1, S2, S3, S5, S4}
    assert rows[S1]["input_tokens"] == mask(1, 2, 3)
    assert (rows[S1]["first_seen"], rows[S1]["last_seen"]) == ("2026-03-28 22:59", "2026-03-29 21:59")
    assert rows[S4]["input_tokens"] == mask(10)  # 9 and 11 are unmapped
    assert rows[S3]["source"] == "codex" and rows[S3]["project"] == "/p/api"
    assert [r["session_id"] for r in out["rows"]][-1] == S2  # by last activity


def test_models_projects_providers_accounts(seeded):
    models = rep(seeded, "models", "--tz", "UTC")
    assert inputs(models, "model") == {OPUS: mask(1, 2, 10, 13, 14, 15, 16, 17, 18), HAIKU: mask(3, 4),
                                       GPT: mask(5, 6, 7, 8)}
    assert [r["model"] for r in models["rows"]] == [OPUS, GPT, HAIKU]  # by cost
    projects = rep(seeded, "projects", "--tz", "UTC")
    assert inputs(projects, "project") == {"/p/app": mask(1, 2, 3, 13, 14, 15, 16, 17, 18), "/p/web": mask(4),
                                           "/p/api": mask(5, 6, 7, 8), "/p/oc": mask(10)}
    assert {r["project"]: r["sessions"] for r in projects["rows"]}["/p/app"] == 2
    providers = rep(seeded, "providers", "--tz", "UTC")
    assert inputs(providers, "provider") == {"claude_code": mask(1, 2, 3, 4, 13, 14, 15, 16, 17, 18),
                                             "codex": mask(5, 6, 7, 8), "opencode": mask(10)}
    accounts = rep(seeded, "accounts", "--tz", "UTC")
    assert {(r["provider"], r["account"]): r["input_tokens"] for r in accounts["rows"]} == {
        ("claude_code", None): mask(1, 2, 3, 4, 13, 14, 15, 16, 17, 18), ("codex", "org-A"): mask(5, 6),
        ("codex", "org-B"): mask(7, 8), ("opencode", None): mask(10)}


def test_tools_report(seeded):
    out = rep(seeded, "tools", "--tz", "UTC")
    assert [(r["tool"], r["calls"], r["failures"], r["duration_ms"], r["sessions"]) for r in out["rows"]] == [
        ("Bash", 2, 1, 150, 1), ("Read", 1, 0, 7, 1)]
    assert out["totals"] == {"calls": 3, "failures": 1, "duration_ms": 157, "sessions": 2}


@pytest.mark.parametrize("args, want", [
    (("--source", "codex"), mask(5, 6, 7, 8)),
    (("--provider", "codex"), mask(5, 6, 7, 8)),
    (("--provider", "opencode", "--provider", "codex"), mask(5, 6, 7, 8, 10)),
    (("--account", "org-A"), mask(5, 6)),
    (("--project", "web"), mask(4)),
    (("--model", "haiku"), mask(3, 4)),
    (("--model", "gpt-5", "--since", "2026-03-09"), mask(7, 8)),
])
def test_filters(seeded, args, want):
    assert rep(seeded, "daily", "--tz", "UTC", *args)["totals"]["input_tokens"] == want


def test_breakdown_by_model(seeded):
    out = rep(seeded, "daily", "--tz", "UTC", "--breakdown", "--since", "2026-03-29")
    [row] = out["rows"]
    assert {b["model"]: b["input_tokens"] for b in row["breakdown"]} == {HAIKU: mask(3, 4)}
    out = rep(seeded, "providers", "--tz", "UTC", "--breakdown")
    claude = next(r for r in out["rows"] if r["provider"] == "claude_code")
    assert {b["model"]: b["input_tokens"] for b in claude["breakdown"]} == {
        OPUS: mask(1, 2, 13, 14, 15, 16, 17, 18), HAIKU: mask(3, 4)}


# ------------------------------------------------------------------ blocks

def test_blocks(seeded):
    out = rep(seeded, "blocks", "--tz", "UTC")
    got = [(r["provider"], r["start_utc"], r["end_utc"], r["input_tokens"], r["status"]) for r in out["rows"]]
    assert got == [
        ("claude_code", "2026-02-28T23:00:00Z", "2026-03-01T04:00:00Z", mask(18), "ended"),
        ("codex", "2026-03-08T07:00:00Z", "2026-03-08T12:00:00Z", mask(5, 6), "ended"),
        ("codex", "2026-03-09T06:00:00Z", "2026-03-09T11:00:00Z", mask(7, 8), "ended"),
        ("claude_code", "2026-03-10T22:00:00Z", "2026-03-11T03:00:00Z", mask(13, 14), "ended"),  # across midnight
        ("opencode", "2026-03-11T01:00:00Z", "2026-03-11T06:00:00Z", mask(10), "ended"),
        ("claude_code", "2026-03-11T03:00:00Z", "2026-03-11T08:00:00Z", mask(15, 16), "ended"),
        ("claude_code", "2026-03-11T08:00:00Z", "2026-03-11T13:00:00Z", mask(17), "ended"),
        ("claude_code", "2026-03-28T22:00:00Z", "2026-03-29T03:00:00Z", mask(1, 2), "ended"),
        ("claude_code", "2026-03-29T21:00:00Z", "2026-03-30T02:00:00Z", mask(3, 4), "ended"),
    ]
    midnight = out["rows"][3]
    assert (midnight["block_start"], midnight["block_end"]) == ("2026-03-10 22:00", "2026-03-11 03:00")
    # Burn rate over first to last event: 150 minutes.
    assert midnight["burn_rate"]["cost_per_hour"] == pytest.approx((4096 + 8192) / 150 * 60)
    assert midnight["projection"] is None
    berlin = rep(seeded, "blocks", "--tz", "Europe/Berlin")
    assert berlin["rows"][3]["block_start"] == "2026-03-10 23:00"


def test_active_block_burn_rate_and_projection(seeded):
    from datetime import UTC, date, datetime

    from usagecore import providers
    from usagecore.reports import Filters, run_report
    from usagecore.settings import load
    from usagecore.store import Store

    with Store.for_reading(seeded) as store:
        settings = load()
        providers.overlay(store.con, settings)
        now = datetime(2026, 3, 11, 10, 0, tzinfo=UTC)  # two hours into the 08:00 block, 2 h after its event
        report = run_report(store.con, "blocks", settings,
                            Filters(tz="UTC", providers=("claude_code",), until=date(2026, 3, 11)), now=now)
    active = [r for r in report.rows if r["status"] == "active"]
    assert [r["start_utc"] for r in active] == ["2026-03-11T08:00:00Z"]
    # One event: no duration, so no burn rate and no projection (as ccusage).
    assert active[0]["burn_rate"] is None and active[0]["projection"] is None
    with Store.for_reading(seeded) as store:
        providers.overlay(store.con, settings)
        now = datetime(2026, 3, 11, 5, 10, tzinfo=UTC)  # 03:00 block: events 03:10 and 08:00 are "later"
        report = run_report(store.con, "blocks", settings,
                            Filters(tz="UTC", providers=("claude_code",), until=date(2026, 3, 11)), now=now)
    block = next(r for r in report.rows if r["start_utc"] == "2026-03-11T03:00:00Z")
    assert block["status"] == "active"
    minutes = 290  # 03:10 to 08:00
    assert block["total_tokens"] == mask(15, 16) + 2  # input + 1 output token per event (see `seeded`)
    assert block["burn_rate"]["tokens_per_minute"] == pytest.approx(block["total_tokens"] / minutes)
    remaining = 170  # 05:10 to 08:00
    assert block["projection"]["remaining_minutes"] == remaining
    assert block["projection"]["cost_usd"] == pytest.approx(mask(15, 16) * (1 + remaining / minutes))


# ------------------------------------------------------------- linking

def _settings_file(home: Path) -> Path:
    return home / ".config" / "usagecore" / "settings.json"


def test_unmapped_is_flagged_with_counts_spend_and_hint(seeded, isolated_home):
    out = rep(seeded, "daily", "--tz", "UTC")
    got = {u["provider_id"]: (u["events"], u["cost_usd"], u["sources"]) for u in out["unmapped"]}
    assert got == {"anthropic": (1, 256.0, ["opencode"]), "github-copilot": (1, 1024.0, ["opencode"]),
                   "ollama": (1, 2048.0, ["codex"])}
    hints = {u["provider_id"]: u["hint"] for u in out["unmapped"]}
    assert hints["anthropic"]["command"] == "usagecore providers link anthropic claude_code"
    assert hints["github-copilot"]["command"] == "usagecore providers link github-copilot opencode"
    assert hints["ollama"]["settings_change"] == {"telemetry": {"provider_links": {"ollama": "codex"}}}
    assert hints["ollama"]["settings_file"] == str(_settings_file(isolated_home))
    text = run_cli("--db", str(seeded), "report", "daily", "--tz", "UTC").stdout
    assert "Not counted: 3 events ($3,328.00)" in text
    assert "usagecore providers link github-copilot opencode" in text
    status = json.loads(run_cli("--db", str(seeded), "status", "--json").stdout)
    assert {u["provider_id"]: (u["events"], u["cost_usd"]) for u in status["telemetry_unmapped_providers"]} == {
        k: v[:2] for k, v in got.items()}
    assert status["telemetry_provider_link_hint"]["anthropic"]["command"] == hints["anthropic"]["command"]


def test_nothing_is_created_from_telemetry(seeded, isolated_home):
    run_cli("--db", str(seeded), "report", "daily")
    run_cli("--db", str(seeded), "status")
    assert not _settings_file(isolated_home).exists()
    listed = json.loads(run_cli("providers", "list", "--json").stdout)
    assert [p["id"] for p in listed["providers"]] == ["claude_code", "codex", "opencode"]
    assert listed["provider_links"] == {}


def test_following_the_hint_links_retroactively_and_unlink_undoes_it(seeded, isolated_home):
    settings = _settings_file(isolated_home)
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"theme": "dark", "telemetry": {"other": 1}}))
    hint = {u["provider_id"]: u["hint"] for u in rep(seeded, "daily")["unmapped"]}["anthropic"]
    run_cli("--db", str(seeded), *hint["command"].split()[1:])
    written = json.loads(settings.read_text())
    assert written == {"theme": "dark", "telemetry": {"other": 1, "provider_links": {"anthropic": "claude_code"}}}
    assert json.loads(settings.with_name("settings.json.bak").read_text()) == {"theme": "dark",
                                                                                "telemetry": {"other": 1}}
    out = rep(seeded, "providers", "--tz", "UTC")
    assert inputs(out, "provider")["claude_code"] == mask(1, 2, 3, 4, 9, 13, 14, 15, 16, 17, 18)
    assert {u["provider_id"] for u in out["unmapped"]} == {"github-copilot", "ollama"}
    # The store's views see the link too, for any SQL client.
    rows = json.loads(run_cli("--db", str(seeded), "sql", "SELECT telemetry_provider_id FROM unmapped_usage "
                              "ORDER BY 1", "--format", "json").stdout)
    assert rows == [{"telemetry_provider_id": "github-copilot"}, {"telemetry_provider_id": "ollama"}]
    con = duckdb.connect(str(seeded), read_only=True)
    assert con.execute("SELECT * FROM provider_links").fetchall() == [("anthropic", "claude_code")]
    con.close()
    run_cli("--db", str(seeded), "providers", "unlink", "anthropic")
    assert json.loads(settings.read_text())["telemetry"] == {"other": 1, "provider_links": {}}
    assert inputs(rep(seeded, "providers", "--tz", "UTC"), "provider")["claude_code"] == mask(
        1, 2, 3, 4, 13, 14, 15, 16, 17, 18)
    result = run_cli("providers", "unlink", "anthropic", check=False)
    assert result.returncode == 1 and "not linked" in result.stderr


def test_configured_provider_counts_without_link(seeded, isolated_home):
    settings = _settings_file(isolated_home)
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"providers": [
        {"id": "claude_code", "kind": "subscription", "plan_usd_month": 200},
        {"id": "ollama", "name": "Local Ollama", "kind": "api_key"}]}))
    out = rep(seeded, "providers", "--tz", "UTC")
    assert inputs(out, "provider") == {"claude_code": mask(1, 2, 3, 4, 13, 14, 15, 16, 17, 18), "ollama": mask(12)}
    # codex and opencode are no longer configured: their usage is unmapped, under their own ids.
    assert {u["provider_id"] for u in out["unmapped"]} == {"anthropic", "github-copilot", "codex", "opencode"}


@pytest.mark.parametrize("content, words", [
    ("{not json", ["line 1 column 2", "valid JSON"]),
    ('{"providers": {"id": "x"}}', ["providers", "a list of provider objects"]),
    ('{"providers": [{"id": "x", "kind": "prepaid"}]}', ["providers[0].kind", '"api_key" or "subscription"',
                                                         '"prepaid"']),
    ('{"providers": [{"id": ""}]}', ["providers[0].id", "a non-empty string"]),
    ('{"providers": [{"id": "a"}, {"id": "a"}]}', ["providers[1].id", "not used by another provider"]),
    ('{"providers": [{"id": "a", "plan_usd_month": "20"}]}', ["providers[0].plan_usd_month", "a number"]),
    ('{"telemetry": {"provider_links": {"anthropic": "nobody"}}}',
     ["telemetry.provider_links.anthropic", "claude_code, codex, opencode", '"nobody"']),
    ('{"telemetry": {"provider_links": {"codex": "claude_code"}}}', ["telemetry.provider_links.codex"]),
    ("[1]", ["a JSON object"]),
])
def test_invalid_settings(seeded, isolated_home, content, words):
    settings = _settings_file(isolated_home)
    settings.parent.mkdir(parents=True)
    settings.write_text(content)
    result = run_cli("--db", str(seeded), "report", "daily", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(settings) in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    # Commands that do not need the settings keep working.
    status = json.loads(run_cli("--db", str(seeded), "status", "--json").stdout)
    assert str(settings) in status["settings"]["error"]
    assert run_cli("--db", str(seeded), "sql", "SELECT count(*) FROM usage_events").returncode == 0
    assert run_cli("prices", "claude-opus-4-8").returncode == 0
    link = run_cli("providers", "link", "x", "claude_code", check=False)
    assert link.returncode == 1 and str(settings) in link.stderr
    assert settings.read_text() == content  # a bad file is never rewritten


def test_link_to_unknown_provider_is_refused(isolated_home):
    result = run_cli("providers", "link", "anthropic", "nobody", check=False)
    assert result.returncode == 1
    assert "one of the configured providers: claude_code, codex, opencode" in result.stderr
    assert not _settings_file(isolated_home).exists()


def test_usagecore_config_env_overrides(seeded, tmp_path):
    path = tmp_path / "elsewhere.json"
    run_cli("providers", "link", "ollama", "codex", env={"USAGECORE_CONFIG": str(path)})
    assert json.loads(path.read_text()) == {"telemetry": {"provider_links": {"ollama": "codex"}}}
    out = rep(seeded, "providers", "--tz", "UTC", env={"USAGECORE_CONFIG": str(path)})
    assert inputs(out, "provider")["codex"] == mask(5, 6, 7, 8, 12)


# ------------------------------------------------------------ text tables

def _text(db: Path, *args: str, columns: int | None = None, **env) -> str:
    extra = {"COLUMNS": str(columns)} if columns else {}
    return run_cli("--db", str(db), "report", *args, env={**extra, **env}).stdout


@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly", "session", "blocks", "models", "tools",
                                  "projects", "providers", "accounts"])
@pytest.mark.parametrize("columns", [80, 120])
def test_tables_fit_the_terminal(seeded, kind, columns):
    text = _text(seeded, kind, "--tz", "Europe/Berlin", *(["--breakdown"] if kind == "daily" else []),
                 columns=columns)
    lines = text.splitlines()
    assert all(len(line) <= columns for line in lines), text
    assert "time zone" in lines[0]
    if kind != "tools":
        header = lines[1]
        assert "Cost (USD)" in header and "Total tokens" in header


def test_daily_at_80_columns_names_what_it_left_out_and_wide_shows_all(seeded):
    narrow = _text(seeded, "daily", "--tz", "UTC", columns=80)
    assert "Not shown to fit 80 columns:" in narrow and "--wide" in narrow
    wide = _text(seeded, "daily", "--tz", "UTC", "--wide", columns=80)
    assert "Not shown" not in wide
    header = wide.splitlines()[1]
    for label in ("Date", "Models", "Input", "Output", "Cache read", "Cache write", "Total tokens", "Cost (USD)",
                  "Requests"):
        assert label in header
    wider = _text(seeded, "session", "--tz", "UTC", columns=120)
    assert len(max(wider.splitlines()[:-3], key=len)) <= 120


def test_unpriced_events_are_marked_in_row_and_total(seeded):
    text = _text(seeded, "daily", "--tz", "UTC")
    row = next(line for line in text.splitlines() if line.startswith("2026-03-29"))
    assert row.rstrip().split()[-2].endswith("*")  # cost cell, before Requests
    total = next(line for line in text.splitlines() if line.startswith("Total"))
    assert "*" in total
    assert "* 1 event could not be priced" in text
    clean = next(line for line in text.splitlines() if line.startswith("2026-03-28"))
    assert "*" not in clean


def test_text_names_the_time_zone(seeded):
    assert _text(seeded, "daily", "--tz", "America/Los_Angeles").splitlines()[0].startswith(
        "Daily usage · time zone America/Los_Angeles")
    assert "time zone Europe/Berlin" in _text(seeded, "monthly", TZ="Europe/Berlin").splitlines()[0]


def _on_a_terminal(args: list[str], env: dict) -> str:
    """Run usagecore with stdout on a pseudo-terminal; returns what it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "usagecore", *args], stdout=follower, stderr=subprocess.PIPE,
                            env={**os.environ, **env})
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_only_unless_told_not_to(seeded):
    args = ["--db", str(seeded), "report", "daily", "--tz", "UTC"]
    coloured = _on_a_terminal(args, {"COLUMNS": "120"})
    assert "\x1b[1m" in coloured and "╭" in coloured
    assert "\x1b[" not in _on_a_terminal(args, {"COLUMNS": "120", "NO_COLOR": "1"})
    assert "\x1b[" not in _on_a_terminal([*args, "--no-color"], {"COLUMNS": "120"})
    assert "\x1b[" not in _text(seeded, "daily", "--tz", "UTC")


# ------------------------------------------------------------------- CSV

def test_report_csv_reads_back(seeded):
    out = run_cli("--db", str(seeded), "report", "daily", "--tz", "UTC", "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["date"]: int(r["input_tokens"]) for r in rows} == inputs(rep(seeded, "daily", "--tz", "UTC"), "date")
    broken = list(csv.DictReader(io.StringIO(run_cli("--db", str(seeded), "report", "daily", "--tz", "UTC",
                                                     "--csv", "--breakdown").stdout)))
    assert {(r["date"], r["model"]): int(r["input_tokens"]) for r in broken if r["date"] == "2026-03-28"} == {
        ("2026-03-28", OPUS): mask(1, 2)}


# ----------------------------------------------------------------- export

def test_export_parquet_by_day_rerun_does_not_duplicate(seeded, tmp_path):
    folder = tmp_path / "pq"
    run_cli("--db", str(seeded), "export", "parquet", str(folder), "--tz", "Europe/Berlin")
    days = sorted(p.name for p in folder.iterdir())
    assert days == [f"day={d}" for d in sorted(inputs(rep(seeded, "daily", "--tz", "Europe/Berlin"), "date"))]
    read = "SELECT day, event_id, input_tokens, billing_provider_id FROM read_parquet(?, hive_partitioning=true)"
    glob = str(folder / "**" / "*.parquet")
    first = duckdb.sql(read.replace("?", f"'{glob}'") + " ORDER BY event_id").fetchall()
    assert sorted(e for _, e, _, _ in first) == sorted(f"e{e[0]}" for e in MAPPED)
    assert {e: (str(d), b) for d, e, _, b in first}["e2"] == ("2026-03-29", "claude_code")
    run_cli("--db", str(seeded), "export", "parquet", str(folder), "--tz", "Europe/Berlin")
    run_cli("--db", str(seeded), "export", "parquet", str(folder), "--tz", "Europe/Berlin", "--since", "2026-03-29")
    again = duckdb.sql(read.replace("?", f"'{glob}'") + " ORDER BY event_id").fetchall()
    assert again == first


def test_export_csv_with_filters(seeded, tmp_path):
    path = tmp_path / "out" / "codex.csv"
    run_cli("--db", str(seeded), "export", "csv", str(path), "--provider", "codex", "--tz", "UTC")
    rows = list(csv.DictReader(path.open()))
    assert [(r["event_id"], r["day"], int(r["input_tokens"]), r["account_id"]) for r in rows] == [
        ("e5", "2026-03-08", 16, "org-A"), ("e6", "2026-03-08", 32, "org-A"),
        ("e7", "2026-03-09", 64, "org-B"), ("e8", "2026-03-09", 128, "org-B")]


# ----------------------------------------------------------------- status

def test_status(seeded, isolated_home, tmp_path):
    snap = json.loads(run_cli("--db", str(seeded), "status", "--json").stdout)
    assert snap["store"]["path"] == str(seeded) and snap["store"]["size_bytes"] > 0
    assert {(s["source"], s["channel"]): s["events"] for s in snap["sources"]} == {
        ("claude_code", "hook"): 3, ("claude_code", "jsonl"): 10, ("codex", "jsonl"): 5, ("opencode", "jsonl"): 3}
    assert snap["spool"]["pending"] == 0 and snap["receiver"]["running"] is False
    assert "claude-code" in snap["integrations"]
    # A receiver that wrote its pid is running while that pid lives.
    serve = isolated_home / ".local" / "state" / "usagecore" / "serve.json"
    serve.parent.mkdir(parents=True, exist_ok=True)
    serve.write_text(json.dumps({"pid": os.getpid(), "port": 4318}))
    snap = json.loads(run_cli("--db", str(seeded), "status", "--json").stdout)
    assert snap["receiver"]["running"] is True and snap["receiver"]["port"] == 4318
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    serve.write_text(json.dumps({"pid": dead.pid}))
    assert json.loads(run_cli("--db", str(seeded), "status", "--json").stdout)["receiver"]["running"] is False
    text = run_cli("--db", str(seeded), "status").stdout
    assert "unmapped provider ollama: 1 events, $2,048.00" in text
    assert "usagecore providers link ollama codex" in text


def test_status_without_a_store(tmp_path):
    snap = json.loads(run_cli("--db", str(tmp_path / "none.duckdb"), "status", "--json").stdout)
    assert snap["store"]["exists"] is False and snap["sources"] == []
    assert not (tmp_path / "none.duckdb").exists()


def test_status_cache_is_not_trusted_after_the_store_changed(seeded, tmp_path):
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(seeded, db)
    before = json.loads(run_cli("--db", str(db), "status", "--json").stdout)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM usage_events WHERE source_system = 'codex'")
    con.close()
    after = json.loads(run_cli("--db", str(db), "status", "--json").stdout)
    assert ("codex", "jsonl") in {(s["source"], s["channel"]) for s in before["sources"]}
    assert ("codex", "jsonl") not in {(s["source"], s["channel"]) for s in after["sources"]}


def test_session_text_shows_the_latest_rows_and_counts_all():
    from usagecore.render import RECENT_ROWS, report_text
    from usagecore.reports import MEASURE_NAMES, Filters, Report

    rows = [{"session_id": f"s{i:04d}", "input_tokens": 1, **{m: 1 for m in MEASURE_NAMES if m != "input_tokens"}}
            for i in range(RECENT_ROWS + 20)]
    report = Report("session", "UTC", ["session_id", *MEASURE_NAMES], rows,
                    {m: len(rows) for m in MEASURE_NAMES}, Filters())
    text = report_text(report, width=None, color=False)
    assert "s0019" not in text and "s0020" in text and f"s{RECENT_ROWS + 19:04d}" in text
    assert "20 earlier sessions are not shown but counted in the total (--all shows them)." in text
    assert f"{RECENT_ROWS + 20:,}" in next(line for line in text.splitlines() if line.startswith("Total"))
    assert "s0000" in report_text(report, width=None, color=False, all_rows=True)


def test_sql_refuses_an_empty_query(seeded):
    empty = run_cli("--db", str(seeded), "sql", "  ", check=False)
    assert empty.returncode == 2 and "no SQL statement given" in empty.stderr and "Traceback" not in empty.stderr
