"""Fast mode: responses Claude Code marks `usage.speed: "fast"` are priced at fast-mode rates,
through the CLI in a subprocess.

Expected costs are computed here from Anthropic's published fast-mode prices, USD per
million tokens, with the usual prompt-caching multiples of the input price (cache read
0.1x, 5-minute write 1.25x, 1-hour write 2x) applying on top
(https://platform.claude.com/docs/en/build-with-claude/fast-mode#pricing):

* claude-opus-4-6: 6x the standard rates, $30 input / $150 output (genai-prices 0.2.3 has
  no fast-mode prices for it: the multiplier usagecore keeps is what prices it);
* claude-opus-4-8: $10 input / $50 output (from genai-prices' own fast-mode prices);
* standard Opus: $5 input / $25 output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli

SESSION = "fa5fa5fa-1111-4111-8111-fa5fa5fa5fa5"
USAGE = {"input": 1_000, "output": 2_000, "cache_read": 10_000, "cache_write_5m": 3_000, "cache_write_1h": 400}


def line(n: int, model: str, speed: str | None, day: str) -> str:
    usage = {
        "input_tokens": USAGE["input"],
        "cache_creation_input_tokens": USAGE["cache_write_5m"] + USAGE["cache_write_1h"],
        "cache_read_input_tokens": USAGE["cache_read"],
        "cache_creation": {"ephemeral_5m_input_tokens": USAGE["cache_write_5m"],
                           "ephemeral_1h_input_tokens": USAGE["cache_write_1h"]},
        "output_tokens": USAGE["output"],
        "service_tier": "standard",
    }
    if speed is not None:
        usage["speed"] = speed
    return json.dumps({
        "type": "assistant", "uuid": f"u{n}", "timestamp": f"{day}T10:00:{n:02d}.000Z", "sessionId": SESSION,
        "cwd": "/home/me/app", "version": "2.1.120", "requestId": f"req_fast_{n}",
        "message": {"id": f"msg_fast_{n}", "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": "hi"}], "usage": usage},
    }, separators=(",", ":")) + "\n"


def expected_cost(input_price: float) -> float:
    """USD for USAGE at an input price (per million); the rest follow Anthropic's multiples."""
    output_price = input_price * 5
    per_million = (USAGE["input"] * input_price + USAGE["output"] * output_price
                   + USAGE["cache_read"] * input_price * 0.1
                   + USAGE["cache_write_5m"] * input_price * 1.25 + USAGE["cache_write_1h"] * input_price * 2)
    return per_million / 1e6


CASES = {
    # n: (model, speed, day, expected cost or None for unpriced)
    1: ("claude-opus-4-6", "fast", "2026-04-20", expected_cost(30)),
    2: ("claude-opus-4-6", "standard", "2026-04-20", expected_cost(5)),
    3: ("claude-opus-4-6", None, "2026-04-20", expected_cost(5)),
    4: ("claude-opus-4-8", "fast", "2026-11-22", expected_cost(10)),
    5: ("claude-opus-4-8", "standard", "2026-11-22", expected_cost(5)),
    # Haiku has no fast mode: a response claiming it is left unpriced, not priced as standard.
    6: ("claude-haiku-4-5-20251001", "fast", "2026-11-22", None),
}


@pytest.fixture(scope="module")
def priced(tmp_path_factory) -> dict[int, dict]:
    root = tmp_path_factory.mktemp("fast")
    project = root / "projects" / "-home-me-app"
    project.mkdir(parents=True)
    (project / f"{SESSION}.jsonl").write_text(
        "".join(line(n, model, speed, day) for n, (model, speed, day, _) in CASES.items()))
    db = root / "t.duckdb"
    env = {"HOME": str(root), "XDG_STATE_HOME": str(root / "state"), "TZ": "UTC"}
    run_cli("--db", str(db), "backfill", "claude", str(root / "projects"), env=env)
    rows = json.loads(run_cli("--db", str(db), "sql",
                              "SELECT request_id, speed, cost_usd, cost_source FROM usage_events",
                              "--format", "json", env=env).stdout)
    return {int(r["request_id"].rsplit("_", 1)[1]): r for r in rows}


@pytest.mark.parametrize("n", sorted(CASES))
def test_fast_mode_cost(priced, n):
    model, speed, _, cost = CASES[n]
    row = priced[n]
    assert row["speed"] == speed
    if cost is None:
        assert (row["cost_usd"], row["cost_source"]) == (None, "unknown")
    else:
        assert row["cost_source"] == "calculated"
        assert row["cost_usd"] == pytest.approx(cost, rel=1e-12), model


def test_fast_mode_is_six_times_standard_for_opus_4_6(priced):
    assert priced[1]["cost_usd"] == pytest.approx(6 * priced[2]["cost_usd"], rel=1e-12)


def test_prices_command_shows_fast_mode(tmp_path: Path):
    out = run_cli("prices", "claude-opus-4-6", "--fast", "--at", "2026-04-20").stdout
    assert "fast mode (anthropic fast-mode multiplier)" in out
    assert any(line.split()[:1] == ["input"] and line.split()[1] == "30" for line in out.splitlines())
    out = run_cli("prices", "claude-opus-4-8", "--fast").stdout
    assert "in fast mode" in out and "multiplier" not in out
    result = run_cli("prices", "claude-haiku-4-5", "--fast", check=False)
    assert result.returncode == 1 and "in fast mode" in result.stderr
